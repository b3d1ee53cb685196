use std::sync::Arc;

use arrow::array::{
    Array, AsArray, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::dense_aggregates;
use crate::functions::register_functions;

const HOUR_MICROS: i64 = 3_600_000_000;

/// 6 batches of 5,000 rows over 30 hours. Each pair of batches shares one
/// dictionary (as a block's batches do) and the pairs' dictionaries differ
/// in order and content; some services, statuses and times are null;
/// `shard` is a `UInt32` past `i32::MAX`.
fn context(partitions: usize) -> SessionContext {
    let zone: Arc<str> = Arc::from("UTC");
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some(zone.clone())),
            true,
        ),
        Field::new(
            "service",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("status", DataType::Int64, true),
        Field::new("latency", DataType::Float64, true),
        Field::new("shard", DataType::UInt32, false),
    ]));
    let dictionaries: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from(vec!["api", "web", "db"])),
        Arc::new(StringArray::from(vec![
            Some("db"),
            None,
            Some("cron"),
            Some("api"),
        ])),
        Arc::new(StringArray::from(vec!["queue", "api"])),
    ];
    let batches: Vec<RecordBatch> = (0..6_i64)
        .map(|part| {
            let values = dictionaries[part as usize / 2].clone();
            let rows = part * 5_000..(part + 1) * 5_000;
            let keys = rows
                .clone()
                .map(|row| (row % 11 != 0).then_some((row % values.len() as i64) as i32));
            let service = DictionaryArray::<Int32Type>::try_new(keys.collect(), values).unwrap();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(
                        TimestampMicrosecondArray::from_iter(
                            rows.clone().map(|row| {
                                (row % 97 != 0).then_some(row * HOUR_MICROS / 1_000 + 17)
                            }),
                        )
                        .with_timezone(zone.clone()),
                    ),
                    Arc::new(service),
                    Arc::new(Int64Array::from_iter(rows.clone().map(|row| {
                        (row % 13 != 0).then_some([200, 200, 404, 500, 503][row as usize % 5])
                    }))),
                    Arc::new(Float64Array::from_iter(
                        rows.clone()
                            .map(|row| (row % 7 != 0).then_some((row % 1_000) as f64 / 3.0)),
                    )),
                    Arc::new(UInt32Array::from_iter_values(
                        rows.map(|row| 4_000_000_000 + (row % 7) as u32),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    let config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(1_000);
    let context = SessionContext::new_with_config(config);
    register_functions(&context);
    // Three batches per partition: each partition sees two dictionaries.
    let parts = batches.chunks(3).map(<[RecordBatch]>::to_vec).collect();
    let table = MemTable::try_new(schema, parts).unwrap();
    context.register_table("logs", Arc::new(table)).unwrap();
    context
}

async fn physical_plan(
    context: &SessionContext,
    sql: &str,
) -> Arc<dyn datafusion::physical_plan::ExecutionPlan> {
    let frame = context.sql(sql).await.unwrap();
    frame.create_physical_plan().await.unwrap()
}

/// The query's rows, sorted, as DataFusion answers it and with dense
/// partial aggregates.
async fn both_ways(context: &SessionContext, sql: &str) -> (Vec<String>, Vec<String>) {
    let plan = physical_plan(context, sql).await;
    // A plan of its own: operators such as `RepartitionExec` run once.
    let dense = dense_aggregates(physical_plan(context, sql).await).unwrap();
    let shown = displayable(dense.as_ref()).indent(false).to_string();
    assert!(shown.contains("DenseAggregateExec"), "{sql}\n{shown}");
    let mut answers = Vec::new();
    for plan in [plan, dense] {
        let batches = collect(plan, context.task_ctx()).await.unwrap();
        let text = pretty_format_batches(&batches).unwrap().to_string();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        answers.push(lines);
    }
    let dense = answers.pop().unwrap();
    (answers.pop().unwrap(), dense)
}

#[tokio::test]
async fn dense_groups_answer_as_datafusion_does() {
    let queries = [
        "SELECT date_bin(INTERVAL '3 hours', time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket, \
         service, count(*) AS n, sum(latency) AS s, avg(latency) AS a, min(latency), \
         max(latency), count(latency) FILTER (WHERE status >= 500) AS errors \
         FROM logs GROUP BY bucket, service",
        "SELECT service, status, approx_percentile_cont(latency, 0.9) AS p90, count(*) \
         FROM logs GROUP BY service, status",
        "SELECT status, service, count(*), avg(latency) FROM logs WHERE status >= 400 \
         GROUP BY status, service",
        "SELECT date_trunc('hour', time) AS hour, status, \
         CAST(least(greatest(latency / 50.0, 0), 6) AS BIGINT) AS bin, count(*) \
         FROM logs GROUP BY hour, status, bin",
        "SELECT service, count(*) FROM logs WHERE service IS NULL OR status IS NULL \
         GROUP BY service",
        // No null keys left: the dictionary's fast path.
        "SELECT service, status, count(*), sum(latency) FROM logs \
         WHERE status IS NOT NULL AND service IS NOT NULL GROUP BY service, status",
        "SELECT shard, service, count(*), max(latency) FROM logs GROUP BY shard, service",
        // DataFusion plans DISTINCT as a grouping of its own, dense too.
        "SELECT service, count(DISTINCT status) AS statuses FROM logs GROUP BY service",
        // Grouping sets: the partial aggregate is DataFusion's, the final
        // one (grouping by the set's id too) dense.
        "SELECT service, status, count(*) FROM logs GROUP BY ROLLUP (service, status)",
    ];
    for partitions in [1, 3] {
        let context = context(partitions);
        for sql in queries {
            let (expected, dense) = both_ways(&context, sql).await;
            assert!(expected.len() > 4, "{sql}: {expected:?}");
            assert_eq!(expected, dense, "{sql}");
        }
    }
}

#[tokio::test]
async fn float_keys_one_integer_and_ungrouped_aggregates_are_left_alone() {
    let context = context(2);
    for sql in [
        "SELECT count(*) FROM logs",
        "SELECT latency, count(*) FROM logs GROUP BY latency",
        "SELECT status, count(*) FROM logs GROUP BY status",
    ] {
        let plan = physical_plan(&context, sql).await;
        let dense = dense_aggregates(plan).unwrap();
        let shown = displayable(dense.as_ref()).indent(false).to_string();
        assert!(!shown.contains("DenseAggregateExec"), "{sql}\n{shown}");
    }
}

#[test]
fn a_pair_table_past_its_dense_size_keeps_its_groups() {
    use crate::group_ids::{DENSE_SLOTS, GroupIds};
    let mut groups = GroupIds::new(2);
    let wide = (DENSE_SLOTS / 1_000) as u32 + 10;
    // 2,000 first-column values times a wide second column: past the
    // dense limit partway.
    let mut seen = Vec::new();
    for chunk in 0..2_000u32 {
        let first = vec![chunk + 1; 4];
        let second = vec![1, wide, 3, wide];
        let mut current = vec![0usize; 4];
        groups.fold(0, &mut current, &first);
        groups.fold(1, &mut current, &second);
        assert_eq!(current[1], current[3]);
        seen.push(current);
    }
    assert_eq!(groups.len(), 2_000 * 3);
    let columns = groups.column_ids();
    for (chunk, current) in seen.iter().enumerate() {
        for (slot, &group) in current.iter().enumerate() {
            assert_eq!(columns[0][group], chunk as u32 + 1);
            assert_eq!(columns[1][group], [1, wide, 3, wide][slot]);
        }
    }
}

#[tokio::test]
async fn a_full_memory_pool_emits_the_groups_so_far() {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use std::collections::HashMap;

    use crate::query_memory::with_memory_limit;

    let context = context(1);
    let sql = "SELECT service, CAST(latency * 3 AS BIGINT) AS k, count(*) AS n, \
               sum(status) AS s FROM logs GROUP BY service, k";
    let plan = physical_plan(&context, sql).await;
    let dense = dense_aggregates(plan).unwrap();
    let mut partial = None;
    let mut last = None;
    dense
        .apply(|node| {
            if node.name() == "DenseAggregateExec" {
                let shown = displayable(node.as_ref()).one_line().to_string();
                match shown.contains("mode=Partial") {
                    true => partial = Some(node.clone()),
                    false => last = Some(node.clone()),
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
    let partial = partial.expect("a dense partial aggregate");
    let last = last.expect("a dense final aggregate");
    // Each (service, k) pair's count, summed over every batch emitted.
    let counts = |batches: &[RecordBatch]| {
        let mut counts: HashMap<(Option<String>, Option<i64>), (i64, i64)> = HashMap::new();
        let mut rows = 0;
        for batch in batches {
            rows += batch.num_rows();
            let service = arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
            let service = service.as_string::<i32>();
            let k = batch
                .column(1)
                .as_primitive::<arrow::datatypes::Int64Type>();
            let n = batch
                .column(2)
                .as_primitive::<arrow::datatypes::Int64Type>();
            let sum = batch
                .column(3)
                .as_primitive::<arrow::datatypes::Int64Type>();
            for row in 0..batch.num_rows() {
                let key = (
                    service
                        .is_valid(row)
                        .then(|| service.value(row).to_string()),
                    k.is_valid(row).then(|| k.value(row)),
                );
                let entry = counts.entry(key).or_default();
                entry.0 += n.value(row);
                entry.1 += if sum.is_valid(row) { sum.value(row) } else { 0 };
            }
        }
        (counts, rows)
    };
    let whole = collect(partial.clone(), context.task_ctx()).await.unwrap();
    let (expected, groups) = counts(&whole);
    assert!(groups > 2_000, "{groups} groups");
    let tight = with_memory_limit(&context.task_ctx(), 64 * 1024).unwrap();
    let cut = collect(partial, tight).await.unwrap();
    let (counted, rows) = counts(&cut);
    assert_eq!(counted, expected);
    // A final aggregate cannot hand on part of its groups: it fails.
    let tight = with_memory_limit(&context.task_ctx(), 64 * 1024).unwrap();
    let error = collect(last, tight).await.unwrap_err();
    assert!(error.to_string().contains("Resources exhausted"), "{error}");
    assert!(
        rows > groups,
        "{rows} rows for {groups} groups: nothing emitted early"
    );
}

/// A column one leaf's rows lack reads as a dictionary without values
/// (every key null); the differential suite found grouping by it panicked.
#[tokio::test]
async fn a_dictionary_without_values_groups_as_null() {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "region",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("status", DataType::Int64, true),
    ]));
    let batch = |region: Arc<dyn Array>| {
        let statuses = Int64Array::from_iter_values((0..region.len() as i64).map(|i| i % 3));
        RecordBatch::try_new(schema.clone(), vec![region, Arc::new(statuses)]).unwrap()
    };
    let absent = arrow::array::new_null_array(schema.field(0).data_type(), 100);
    let present: DictionaryArray<Int32Type> = vec!["eu", "us", "eu"].into_iter().collect();
    let table = MemTable::try_new(
        schema.clone(),
        vec![
            vec![batch(absent.clone()), batch(Arc::new(present))],
            vec![batch(absent)],
        ],
    )
    .unwrap();
    let context = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    context.register_table("logs", Arc::new(table)).unwrap();
    let (expected, dense) = both_ways(
        &context,
        "SELECT region, status, count(*) FROM logs GROUP BY region, status",
    )
    .await;
    assert!(expected.iter().any(|l| l.contains("| 66 ")), "{expected:?}");
    assert_eq!(expected, dense);
}
