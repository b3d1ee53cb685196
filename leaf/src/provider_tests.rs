//! A scan with the string indexes (and the open blocks' string matching)
//! answers exactly as one without: over a sealed block and an open one,
//! for equality, `IN`, values no row holds, nulls, and with time and
//! integer bounds that keep some of the chosen rows and drop others.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

use super::LeafTableProvider;
use crate::table::{BLOCK_ROWS, Table};

/// `rows` rows from `first`: a host of 200 (every 7th row none), one
/// second apart.
fn rows(first: i64, rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("host", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
    ]));
    let ids = first..first + rows;
    let host = ids
        .clone()
        .map(|i| (i % 7 != 0).then(|| format!("web-{:04}", i % 200)));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(ids.clone().map(|i| i * 1_000_000))
                    .with_timezone("UTC"),
            ),
            Arc::new(host.collect::<StringArray>()),
            Arc::new(Int64Array::from_iter_values(ids)),
        ],
    )
    .unwrap()
}

async fn answer(table: &Table, indexes: bool, filter: &str) -> String {
    let provider = LeafTableProvider::new(table.snapshot());
    let provider = match indexes {
        true => provider,
        false => provider.without_indexes(),
    };
    let context = SessionContext::new();
    context.register_table("t", Arc::new(provider)).unwrap();
    let sql = format!("SELECT n, host, time FROM t WHERE {filter} ORDER BY n");
    let batches = context.sql(&sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn indexed_scans_answer_as_plain_ones_sealed_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create("t", dir.path().to_path_buf()).unwrap();
    let sealed = BLOCK_ROWS as i64;
    table.ingest(&[rows(0, sealed)], 1, None).unwrap();
    table.seal(None).unwrap();
    table.ingest(&[rows(sealed, 3_000)], 1, None).unwrap();
    let snapshot = table.snapshot();
    assert_eq!(snapshot.sealed.len(), 1, "one sealed block");
    let open: usize = snapshot.open.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(open, 3_000, "and an open one");

    let last = sealed + 3_000;
    let filters = [
        "host = 'web-0042'".to_string(),
        "host IN ('web-0042', 'web-0199', 'nobody')".to_string(),
        "host = 'nobody'".to_string(),
        "host = 'web-0042' AND host = 'web-0043'".to_string(),
        "host IS NULL".to_string(),
        // Time bounds that cut through the sealed block and the open one.
        format!(
            "host = 'web-0042' AND time >= to_timestamp_micros({}) AND time < to_timestamp_micros({})",
            (sealed / 2) * 1_000_000,
            (last - 1_000) * 1_000_000
        ),
        format!(
            "host IN ('web-0001', 'web-0002') AND n > {} AND n <= {}",
            sealed / 3,
            last - 10
        ),
        "host <> 'web-0042' AND n < 500".to_string(),
    ];
    for filter in &filters {
        let indexed = answer(&table, true, filter).await;
        let plain = answer(&table, false, filter).await;
        assert_eq!(indexed, plain, "{filter}");
    }
    // And the answers are not empty where rows match.
    assert!(answer(&table, true, &filters[0]).await.contains("web-0042"));
    assert!(answer(&table, true, &filters[5]).await.lines().count() > 100);
}
