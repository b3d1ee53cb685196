//! Each wrapped function: a call within the limit answers what
//! DataFusion's own answers, and one past it fails naming the function,
//! over literals and over a table's rows (one call a batch).

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::functions::register_functions;

/// Two sessions over the same 3,000 rows (`s` text, `n` 0..3000): one
/// with Shoal's functions, one with DataFusion's alone.
fn contexts() -> (SessionContext, SessionContext) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("s", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter(
                (0..3_000).map(|i| (i % 10 != 0).then(|| format!("v{i}"))),
            )),
            Arc::new(Int64Array::from_iter_values(0..3_000)),
        ],
    )
    .unwrap();
    let make = |shoal: bool| {
        let context = SessionContext::new();
        if shoal {
            register_functions(&context);
        }
        let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
        context.register_table("t", Arc::new(table)).unwrap();
        context
    };
    (make(true), make(false))
}

async fn answer(context: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let frame = context.sql(sql).await.map_err(|e| e.to_string())?;
    frame.collect().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn calls_within_the_limit_answer_as_datafusion_does() {
    let (shoal, plain) = contexts();
    for sql in [
        "SELECT sum(length(repeat(s, 100))) FROM t",
        "SELECT length(repeat('ab', 1000))",
        "SELECT sum(length(lpad(s, 50, 'xy'))) FROM t",
        "SELECT sum(length(rpad(s, 50))) FROM t",
        "SELECT sum(length(replace(s, '1', '111'))) FROM t",
        "SELECT sum(length(replace(s, '', '-'))) FROM t",
        "SELECT sum(length(regexp_replace(s, '([0-9])', '$1$1', 'g'))) FROM t",
        // A constant argument counts at every row.
        "SELECT sum(length(concat(s, repeat('x', 10000), s))) FROM t",
        "SELECT sum(length(concat_ws(repeat('-', 1000), s, n, s))) FROM t",
        // Could make 372 MB and 648 MB, make 15 KB and 130 MB: on slices.
        "SELECT sum(length(replace(s, 'zzz', repeat(s, 15000)))) FROM t",
        "SELECT sum(length(regexp_replace(concat(s, s, s), '[a-z]', repeat('y', 16000), 'g'))) FROM t",
        "SELECT sum(cardinality(array_repeat(n, 100))) FROM t",
        "SELECT sum(cardinality(array_resize(make_array(n), 100, 0))) FROM t",
        "SELECT sum(cardinality(range(0, n))) FROM t",
        "SELECT sum(cardinality(generate_series(n, 0, -3))) FROM t",
        "SELECT cardinality(range(TIMESTAMP '2024-01-01', TIMESTAMP '2024-02-01', INTERVAL '1 hour'))",
        "SELECT cardinality(range(DATE '2000-01-01', DATE '2024-01-01', INTERVAL '1 month'))",
        "SELECT arrow_cast(NULL, 'FixedSizeList(4, Int64)') IS NULL",
        "SELECT count(*) FROM t WHERE CAST(NULL AS INT[16]) IS NULL",
    ] {
        let ours = answer(&shoal, sql).await.unwrap();
        let theirs = answer(&plain, sql).await.unwrap();
        assert_eq!(ours, theirs, "{sql}");
        assert_eq!(
            ours.iter().map(RecordBatch::num_rows).sum::<usize>(),
            1,
            "{sql}"
        );
    }
}

#[tokio::test]
async fn calls_past_the_limit_fail_naming_the_function() {
    let (shoal, _) = contexts();
    for (sql, function) in [
        ("SELECT repeat('x', 2147483647)", "repeat"),
        ("SELECT sum(length(repeat(s, 1000000))) FROM t", "repeat"),
        // Each row within the limit, but 770 slices of it.
        ("SELECT sum(length(repeat(s, n * 10000))) FROM t", "repeat"),
        // DataFusion's own simplification drops the NULL into a new call
        // of its unwrapped `concat`: the wrapper keeps the call.
        (
            "SELECT sum(length(concat(repeat(s, 15000), NULL, repeat(s, 15000)))) FROM t",
            "concat",
        ),
        ("SELECT lpad('x', 2000000000)", "lpad"),
        ("SELECT sum(length(rpad(s, 100000))) FROM t", "rpad"),
        (
            "SELECT length(replace(repeat('a', 10000), 'a', repeat('b', 10000)))",
            "replace",
        ),
        (
            "SELECT length(regexp_replace(repeat('a', 10000), '', repeat('b', 10000), 'g'))",
            "regexp_replace",
        ),
        (
            "SELECT cardinality(array_repeat(1, 9000000000))",
            "array_repeat",
        ),
        (
            "SELECT cardinality(array_repeat(array_repeat(1, 10000), 100000))",
            "array_repeat",
        ),
        (
            "SELECT cardinality(array_resize(make_array(1), 900000000))",
            "array_resize",
        ),
        (
            "SELECT sum(cardinality(range(0, n * 100000))) FROM t",
            "range",
        ),
        (
            "SELECT cardinality(generate_series(1, 9000000000000))",
            "generate_series",
        ),
        (
            "SELECT cardinality(range(TIMESTAMP '1970-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second'))",
            "range",
        ),
        // A null fill as wide as the list's item type, not 8 bytes.
        (
            "SELECT cardinality(array_resize(arrow_cast(make_array(), 'List(FixedSizeBinary(65536))'), 30000000))",
            "array_resize",
        ),
        // One row's element is a million items long: an average over the
        // rows (2.7 KB) would have let 240 GB through.
        (
            "SELECT sum(cardinality(array_repeat(\
             CASE WHEN n = 1000 THEN range(0, n * 1000) ELSE make_array(0) END, \
             CASE WHEN n = 1000 THEN 30000 ELSE 0 END))) FROM t",
            "array_repeat",
        ),
    ] {
        let error = answer(&shoal, sql).await.unwrap_err();
        // Over columns, the limit of a call; over constants, the limit of
        // the constant the call would make.
        let over_call = [" would make about ", " made more than "]
            .iter()
            .any(|verb| error.contains(&format!("{function}{verb}")))
            && error.contains("the limit of 256 MiB a call");
        let over_constant = error.contains(&format!(
            "{function} of constants would make a constant of about"
        )) && error.contains("over the limit of 16384");
        assert!(over_call || over_constant, "{sql}: {error}");
        let constants = !sql.contains("FROM t");
        assert_eq!(over_constant, constants, "{sql}: {error}");
    }
}

#[tokio::test]
async fn types_too_wide_to_allocate_are_refused() {
    let (shoal, _) = contexts();
    for (sql, needle) in [
        (
            "SELECT arrow_cast(NULL, 'FixedSizeList(100000000, FixedSizeList(100000000, Int64))')",
            "arrow_cast: one value of type",
        ),
        (
            "SELECT 1 WHERE arrow_try_cast(NULL, 'FixedSizeBinary(100000000)') IS NULL",
            "arrow_try_cast: one value of type",
        ),
        (
            "SELECT count(*) FROM t WHERE cast_to_type(n, CAST(NULL AS BIGINT[100000])) IS NULL",
            "one value of type FixedSizeList(100000 x Int64)",
        ),
    ] {
        let error = answer(&shoal, sql).await.unwrap_err();
        assert!(error.contains(needle), "{sql}: {error}");
    }
}

/// Regression: months are added before days, so a step of `1 month -28
/// days` from 4 February comes back to 4 February and DataFusion's loop
/// never ended (estimated at one step).
#[tokio::test]
async fn steps_that_mix_signs_are_refused() {
    let (shoal, _) = contexts();
    for sql in [
        "SELECT cardinality(generate_series(TIMESTAMP '2001-02-04', TIMESTAMP '2001-02-05', INTERVAL '1 month -28 days'))",
        "SELECT cardinality(range(DATE '2001-02-04', DATE '2001-01-01', INTERVAL '-1 month 28 days'))",
    ] {
        let error = answer(&shoal, sql).await.unwrap_err();
        assert!(error.contains("mixes signs"), "{sql}: {error}");
    }
}
