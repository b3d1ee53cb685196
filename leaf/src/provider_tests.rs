//! A scan with the string indexes (and the open blocks' string matching,
//! the take-first path for few rows, the dictionary cut) answers exactly as
//! one without them and as DataFusion over the same rows in memory: over
//! two sealed blocks (200 and 5,000 hosts) and an open one, for equality,
//! short `IN` lists (which DataFusion writes as `OR`s) and long ones, two
//! string columns at once, values no row holds, nulls, and time and
//! integer bounds that keep some of the chosen rows and drop others, with
//! and without `time` among the columns read.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::display::FormatOptions;
use arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::LeafTableProvider;
use crate::table::{BLOCK_ROWS, Table};

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("host", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
    ]))
}

/// `rows` rows from `first`, one second apart: one of `hosts` hosts (every
/// 7th row none), one of three regions (every 5th none).
fn rows(first: i64, rows: i64, hosts: i64) -> RecordBatch {
    let ids = first..first + rows;
    let host = ids
        .clone()
        .map(|i| (i % 7 != 0).then(|| format!("web-{:04}", i % hosts)));
    let region = ids
        .clone()
        .map(|i| (i % 5 != 0).then(|| ["eu", "us", "ap"][(i % 3) as usize]));
    let time = TimestampMicrosecondArray::from_iter_values(ids.clone().map(|i| i * 1_000_000))
        .with_timezone("UTC");
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(time),
            Arc::new(host.collect::<StringArray>()),
            Arc::new(region.collect::<StringArray>()),
            Arc::new(Int64Array::from_iter_values(ids)),
        ],
    )
    .unwrap()
}

async fn answer(context: &SessionContext, query: &str, table: &str) -> String {
    let sql = query.replace("{t}", table);
    let batches = context.sql(&sql).await.unwrap().collect().await.unwrap();
    let options = FormatOptions::default().with_null("NULL");
    pretty_format_batches_with_options(&batches, &options)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn indexed_scans_answer_as_plain_ones_and_as_memory() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create("t", dir.path().to_path_buf()).unwrap();
    let block = BLOCK_ROWS as i64;
    let batches = [
        rows(0, block, 200),
        rows(block, block, 5_000),
        rows(2 * block, 3_000, 200),
    ];
    for batch in &batches {
        table.ingest(std::slice::from_ref(batch), 1, None).unwrap();
    }
    let snapshot = table.snapshot();
    assert_eq!(snapshot.sealed.len(), 2, "two sealed blocks");
    let open: usize = snapshot.open.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(open, 3_000, "and an open one");

    let context = SessionContext::new();
    let indexed = LeafTableProvider::new(table.snapshot());
    let plain = LeafTableProvider::new(table.snapshot()).without_indexes();
    let memory = MemTable::try_new(schema(), vec![batches.to_vec()]).unwrap();
    context
        .register_table("indexed", Arc::new(indexed))
        .unwrap();
    context.register_table("plain", Arc::new(plain)).unwrap();
    context.register_table("memory", Arc::new(memory)).unwrap();

    let micros = |row: i64| row * 1_000_000;
    let last = 2 * block + 3_000;
    let long_list: Vec<String> = (40..60).map(|h| format!("'web-{h:04}'")).collect();
    let queries = [
        "SELECT n, host, time FROM {t} WHERE host = 'web-0042' ORDER BY n".to_string(),
        "SELECT n, host FROM {t} WHERE host IN ('web-0042', 'web-0199', 'nobody') ORDER BY n"
            .to_string(),
        "SELECT count(*) FROM {t} WHERE host = 'nobody'".to_string(),
        "SELECT count(*) FROM {t} WHERE host = 'web-0042' AND host = 'web-0043'".to_string(),
        "SELECT n FROM {t} WHERE host IS NULL AND region = 'eu' ORDER BY n".to_string(),
        // Only in the block of 5,000 hosts: a dozen rows of a big dictionary.
        "SELECT n, host, region FROM {t} WHERE host = 'web-4242' ORDER BY n".to_string(),
        format!(
            "SELECT count(*) AS c, min(n) AS lo, max(n) AS hi FROM {{t}} WHERE host = 'web-4242' AND time >= to_timestamp_micros({})",
            micros(block + block / 2)
        ),
        // Time bounds through every block, `time` not among the columns.
        format!(
            "SELECT n, region FROM {{t}} WHERE host = 'web-0042' AND time >= to_timestamp_micros({}) AND time < to_timestamp_micros({}) ORDER BY n",
            micros(block / 2),
            micros(last - 1_000)
        ),
        format!(
            "SELECT n FROM {{t}} WHERE host IN ({}) AND region = 'eu' ORDER BY n",
            long_list.join(", ")
        ),
        format!(
            "SELECT n, host FROM {{t}} WHERE host IN ('web-0001', 'web-0002') AND n > {} AND n <= {} ORDER BY n",
            block / 3,
            last - 10
        ),
        "SELECT n FROM {t} WHERE host <> 'web-0042' AND n < 500 ORDER BY n".to_string(),
        // An index selection with an integer bound that cuts through it.
        format!(
            "SELECT n, region FROM {{t}} WHERE host = 'web-0042' AND n > {} AND n < {} ORDER BY n",
            block / 2,
            block + block / 2
        ),
        // A selection of a third of the rows (not few), with time bounds.
        format!(
            "SELECT count(*) AS c, sum(n) AS s FROM {{t}} WHERE region = 'eu' AND time >= to_timestamp_micros({}) AND time < to_timestamp_micros({})",
            micros(block / 3),
            micros(last - 100)
        ),
        // No column read at all.
        format!(
            "SELECT count(*) AS c FROM {{t}} WHERE time >= to_timestamp_micros({}) AND time < to_timestamp_micros({})",
            micros(block / 3),
            micros(last - 100)
        ),
    ];
    for query in &queries {
        let truth = answer(&context, query, "memory").await;
        assert_eq!(answer(&context, query, "indexed").await, truth, "{query}");
        assert_eq!(answer(&context, query, "plain").await, truth, "{query}");
    }
    // The answers are not empty where rows match.
    for at in [0, 5, 7, 8] {
        let truth = answer(&context, &queries[at], "memory").await;
        assert!(truth.lines().count() > 5, "{}: {truth}", queries[at]);
    }
}

/// A column stored as text on this leaf but typed otherwise in the scan's
/// schema (another leaf stored it first as booleans): a string set on a
/// cast of it to text compares the cast's text, not the stored one, so
/// the scan must not prune with it.
#[tokio::test]
async fn text_stored_under_another_type_is_not_pruned_by_its_strings() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create("t", dir.path().to_path_buf()).unwrap();
    let stored = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("flag", DataType::Utf8, true),
    ]));
    let flags = ["yes", "TRUE", "true", "no", "1"];
    let batch = RecordBatch::try_new(
        stored,
        vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..5).map(|i| i * 1_000_000))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(flags.to_vec())),
        ],
    )
    .unwrap();
    table.ingest(std::slice::from_ref(&batch), 1, None).unwrap();
    table.seal(None).unwrap();
    table.ingest(&[batch], 1, None).unwrap();
    let scanned = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("flag", DataType::Boolean, true),
    ]));
    let context = SessionContext::new();
    let provider = LeafTableProvider::with_schema(table.snapshot(), scanned);
    context.register_table("t", Arc::new(provider)).unwrap();
    let query = "SELECT count(*) AS c FROM {t} WHERE CAST(flag AS VARCHAR) = 'true'";
    let answer = answer(&context, query, "t").await;
    // 'yes', 'TRUE', 'true' and '1' are all true, in the sealed block and
    // the open one.
    assert!(answer.contains("| 8 "), "{answer}");
}
