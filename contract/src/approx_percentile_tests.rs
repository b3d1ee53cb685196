use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::functions::register_functions;
use crate::quantile_sketch::RELATIVE_ERROR;

/// 20,000 rows over 4 groups, in 4 batches; `latency` is 1..=5000 in each
/// group, with every 7th row null.
fn context(partitions: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("service", DataType::Utf8, false),
        Field::new("latency", DataType::Int64, true),
        Field::new("ratio", DataType::Float64, true),
    ]));
    let batches: Vec<RecordBatch> = (0..4)
        .map(|part| {
            let rows = part * 5_000..(part + 1) * 5_000;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|row| format!("svc-{}", row % 4)),
                    )),
                    Arc::new(Int64Array::from_iter(
                        rows.clone()
                            .map(|row| (row % 7 != 3).then_some(row / 4 + 1)),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        rows.map(|row| row as f64 / 20_000.0),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    let partitioned = batches
        .chunks(4 / partitions)
        .map(<[RecordBatch]>::to_vec)
        .collect();
    let table = MemTable::try_new(schema, partitioned).unwrap();
    let context =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register_functions(&context);
    context.register_table("t", Arc::new(table)).unwrap();
    context
}

async fn rows(context: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    context.sql(sql).await.unwrap().collect().await.unwrap()
}

/// The one value a query answers, as a float.
async fn value(context: &SessionContext, sql: &str) -> f64 {
    let batches = rows(context, sql).await;
    let column = batches[0].column(0).as_any().downcast_ref::<Float64Array>();
    column
        .unwrap_or_else(|| panic!("{sql}: not a float"))
        .value(0)
}

/// The exact `percentile_cont` value among
/// the non-null latencies of `service`.
fn exact(service: usize, fraction: f64) -> f64 {
    let mut values: Vec<i64> = (0..20_000)
        .filter(|row| row % 4 == service && row % 7 != 3)
        .map(|row| row as i64 / 4 + 1)
        .collect();
    values.sort();
    // `percentile_cont`: interpolated between the two nearest ranks.
    let rank = fraction * (values.len() - 1) as f64;
    let (below, weight) = (rank.floor() as usize, rank - rank.floor());
    let low = values[below] as f64;
    let high = values[(below + 1).min(values.len() - 1)] as f64;
    low + (high - low) * weight
}

#[tokio::test]
async fn grouped_answers_are_within_the_error_of_the_exact_ones_whatever_the_partitions() {
    for partitions in [1, 2, 4] {
        let context = context(partitions);
        let batches = rows(
            &context,
            "SELECT service, approx_percentile_cont(latency, 0.99) AS p99, \
                    approx_percentile_cont(latency, 0.5) AS p50 \
             FROM t GROUP BY service ORDER BY service",
        )
        .await;
        let batch = &batches[0];
        assert_eq!(batch.num_rows(), 4);
        // Integers in, integers coerced to floats, floats out.
        assert_eq!(batch.column(1).data_type(), &DataType::Float64);
        for (column, fraction) in [(1, 0.99), (2, 0.5)] {
            let values = batch
                .column(column)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            for service in 0..4 {
                let want = exact(service, fraction);
                let got = values.value(service);
                assert!(
                    (got - want).abs() <= RELATIVE_ERROR * want,
                    "{partitions} partitions, svc-{service} q{fraction}: {got} vs {want}"
                );
            }
        }
    }
}

#[tokio::test]
async fn within_group_filters_descending_and_no_groups() {
    let context = context(2);
    let plain = value(&context, "SELECT approx_percentile_cont(ratio, 0.9) FROM t").await;
    let within = value(
        &context,
        "SELECT approx_percentile_cont(0.9) WITHIN GROUP (ORDER BY ratio) FROM t",
    )
    .await;
    let descending = value(
        &context,
        "SELECT approx_percentile_cont(0.1) WITHIN GROUP (ORDER BY ratio DESC) FROM t",
    )
    .await;
    assert_eq!(plain, within);
    assert_eq!(plain, descending);
    assert!((plain - 0.9).abs() <= RELATIVE_ERROR * 0.9, "{plain}");
    // The WITHIN GROUP ordering is no reason to sort the input.
    let plan = rows(
        &context,
        "EXPLAIN SELECT approx_percentile_cont(0.9) WITHIN GROUP (ORDER BY ratio) FROM t",
    )
    .await;
    let plan = pretty_format_batches(&plan).unwrap().to_string();
    assert!(!plan.contains("SortExec"), "{plan}");

    // A FILTER clause, and a group with no value at all: NULL.
    let filtered = rows(
        &context,
        "SELECT service, approx_percentile_cont(latency, 0.5) FILTER (WHERE latency > 2500) AS median, \
                approx_percentile_cont(latency, 0.5) FILTER (WHERE latency > 1000000) AS none \
         FROM t GROUP BY service ORDER BY service",
    )
    .await;
    let batch = &filtered[0];
    let medians = batch
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let none = batch
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    for service in 0..4 {
        let median = medians.value(service);
        assert!(
            (3_700.0..3_800.0).contains(&median),
            "svc-{service}: {median}"
        );
        assert!(none.is_null(service));
    }
}

#[tokio::test]
async fn bad_arguments_are_plan_errors_naming_the_function() {
    let context = context(1);
    for (sql, needle) in [
        (
            "SELECT approx_percentile_cont(latency, 1.5) FROM t",
            "between 0 and 1",
        ),
        (
            "SELECT approx_percentile_cont(latency, ratio) FROM t",
            "must be a literal",
        ),
        (
            "SELECT approx_percentile_cont(latency, 0.5, 0) FROM t",
            "positive integer",
        ),
        (
            "SELECT approx_percentile_cont(service, 0.5) FROM t",
            "approx_percentile_cont",
        ),
    ] {
        let error = match context.sql(sql).await {
            Err(error) => error.to_string(),
            Ok(frame) => frame.collect().await.unwrap_err().to_string(),
        };
        assert!(error.contains(needle), "{sql}: {error}");
    }
    // A centroid count is accepted and has no effect.
    let with = value(
        &context,
        "SELECT approx_percentile_cont(latency, 0.5, 50) FROM t",
    )
    .await;
    let without = value(
        &context,
        "SELECT approx_percentile_cont(latency, 0.5) FROM t",
    )
    .await;
    assert_eq!(with, without);
}

fn groups() -> super::SketchGroups {
    super::SketchGroups {
        fraction: 0.5,
        return_type: DataType::Float64,
        sketches: Vec::new(),
        heap_bytes: 0,
    }
}

fn floats(array: &arrow::array::ArrayRef) -> Vec<Option<f64>> {
    array
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

#[test]
fn states_taken_in_parts_and_rows_made_states_merge_to_the_same_answers() {
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
    let values: arrow::array::ArrayRef = Arc::new(Float64Array::from(vec![
        Some(1.0),
        Some(2.0),
        None,
        Some(4.0),
        Some(8.0),
    ]));
    let mut accumulator = groups();
    accumulator
        .update_batch(std::slice::from_ref(&values), &[0, 1, 2, 0, 1], None, 3)
        .unwrap();
    assert!(accumulator.size() > 0);
    // The first two groups' states, then the rest: group 2 saw only a null.
    let first = accumulator.state(EmitTo::First(2)).unwrap();
    assert_eq!(
        floats(&accumulator.evaluate(EmitTo::All).unwrap()),
        vec![None]
    );
    let mut merged = groups();
    merged.merge_batch(&first, &[0, 1], 2).unwrap();
    let medians = floats(&merged.evaluate(EmitTo::All).unwrap());
    for (median, want) in medians.iter().zip([2.5, 5.0]) {
        let median = median.unwrap();
        assert!(
            (median - want).abs() <= RELATIVE_ERROR * want,
            "{median} vs {want}"
        );
    }
    // Each row as a state of its own: the null skipped, the filtered row too.
    let filter = arrow::array::BooleanArray::from(vec![true, true, true, false, true]);
    let states = accumulator
        .convert_to_state(std::slice::from_ref(&values), Some(&filter))
        .unwrap();
    assert_eq!(states[0].len(), 5);
    let mut from_rows = groups();
    from_rows.merge_batch(&states, &[0; 5], 1).unwrap();
    let median = floats(&from_rows.evaluate(EmitTo::All).unwrap())[0].unwrap();
    assert!((median - 2.0).abs() <= RELATIVE_ERROR * 2.0, "{median}");
    // A group index past the groups is DataFusion's bug, reported as one.
    let error = groups()
        .update_batch(&[values], &[0, 1, 2, 3, 9], None, 4)
        .unwrap_err();
    assert!(error.to_string().contains("group index"), "{error}");
}
