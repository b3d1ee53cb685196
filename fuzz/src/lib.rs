//! The fuzz targets' bodies, one function per target, and what they share.
//!
//! `fuzz_targets/*.rs` hand libFuzzer's inputs to these functions; the
//! workspace test `tests/fuzz_corpora.rs` includes this file and runs every
//! committed corpus input (and every crash found, kept under
//! `regressions/`) through the same functions in the ordinary test build.
//!
//! Every target asserts more than "no panic": a row that went in is either
//! in the batch that came out or named in an error (never silently dropped),
//! and a decoder that accepts its input gives back something consistent.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::array::AsArray;
use arrow::datatypes::Int32Type;
use arrow_flight::sql::{Any, Command};
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use shoal_aggregator::flight_sql::decode_handle;
use shoal_aggregator::ingest::bulk::parse_bulk;
use shoal_aggregator::ingest::decode_lines::{
    Decoded, Line, LineRules, NotObject, Resume, decode_lines,
};
use shoal_aggregator::ingest::json_fast::read_line;
use shoal_aggregator::ingest::json_line::read_fields;
use shoal_aggregator::ingest::json_rows::{JsonRow, RowError, parse_body};
use shoal_aggregator::ingest::ndjson::decode_body;
use shoal_aggregator::ingest::otlp_columns::{ConvertError, OtlpPlan, convert_table};
use shoal_aggregator::ingest::otlp_read::{ReadError, prepare, reread};
use shoal_aggregator::ingest::otlp_rows::rows_from_request;
use shoal_aggregator::ingest::otlp_view::RequestView;
use shoal_aggregator::ingest::to_arrow::rows_to_batch;
use shoal_leaf::Store;
use shoal_leaf::block::{BlockId, SealedBlock};
use shoal_leaf::scan::execute_fragment;
use shoal_leaf::wal::replay;
use shoal_proto::{FragmentRequest, TicketRequest};

/// A target's body: one input, checked.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz_targets/` and `corpus/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("ndjson", ndjson),
    ("bulk", bulk),
    ("otlp", otlp),
    ("flight_tickets", flight_tickets),
    ("fragment", fragment),
    ("wal_replay", wal_replay),
    ("block_open", block_open),
];

/// libFuzzer's panic hook aborts on every panic, even one the code under
/// test catches. Where Shoal contains a panic by design (arrow-ipc behind a
/// checksum, a client's handle), the targets put back the default hook: a
/// panic that escapes still aborts (libfuzzer-sys catches it and aborts).
fn allow_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}

/// NDJSON (and JSON array) ingest bodies: parsing, flattening, time parsing
/// and the conversion to Arrow.
pub fn ndjson(data: &[u8]) {
    if let Ok(parsed) = parse_body(data, Some("time")) {
        convert_and_account(&parsed.rows);
    }
    if let Ok(decoded) = decode_body(data, Some("time"), None, &Resume::default()) {
        account_decoded(&decoded);
    }
    quick_and_serde_readings_agree(data);
    shapes_read_as_the_general_way(data);
}

/// Lines read by the shape of a line before them (`json_shape`) are the
/// rows, errors and batch the general reading makes of them.
fn shapes_read_as_the_general_way(data: &[u8]) {
    let lines: Vec<Line> = data
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    for time_field in [None, Some("ts")] {
        let read = |shapes| {
            let rules = LineRules {
                time_field,
                shapes,
                ..LineRules::default()
            };
            decode_lines(&lines, rules, None, &Resume::default())
        };
        match (read(true), read(false)) {
            (Ok(quick), Ok(general)) => {
                assert_eq!(quick.lines, general.lines, "rows");
                assert_eq!(quick.errors, general.errors, "errors");
                assert_eq!(quick.batch, general.batch, "batch");
            }
            (quick, general) => assert_eq!(quick.err(), general.err()),
        }
    }
}

/// Every line the quick JSON reading takes, serde reads as the same fields
/// (compared by their debug text, which tells -0.0 from 0.0).
fn quick_and_serde_readings_agree(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let mut quick = Vec::new();
        if read_line(text, &mut quick) {
            let mut slow = Vec::new();
            let read = read_fields(text, &mut slow).map(|()| format!("{slow:?}"));
            assert_eq!(read.ok(), Some(format!("{quick:?}")), "line {text:?}");
        }
    }
}

/// Elasticsearch `_bulk` bodies: action and document lines, then each
/// table's rows converted to Arrow.
pub fn bulk(data: &[u8]) {
    if let Ok(body) = parse_bulk(data, Some("logs")) {
        let documents: usize = body.tables.values().map(Vec::len).sum();
        assert!(documents <= body.items.len(), "a document has its item");
        for documents in body.tables.values() {
            let lines: Vec<Line> = documents
                .iter()
                .map(|(position, range)| (*position, &data[range.clone()]))
                .collect();
            let rules = LineRules {
                time_field: None,
                not_object: NotObject::Document,
                ..LineRules::default()
            };
            if let Ok(decoded) = decode_lines(&lines, rules, None, &Resume::default()) {
                account_decoded(&decoded);
                assert_eq!(
                    decoded.lines.len() + decoded.errors.len(),
                    documents.len(),
                    "every document is stored or rejected once"
                );
            }
        }
    }
}

/// OTLP logs: an `ExportLogsServiceRequest` in protobuf (as gRPC and
/// `POST /v1/logs` send it) or in OTLP's JSON (stored as prost encodes
/// it). The server's path (`otlp_read`: read in place, by way of prost
/// when the view gives up) stores only what prost reads, and what it
/// stores is what the map form (`otlp_rows`, the reference) gives.
pub fn otlp(data: &[u8]) {
    let json = data.first() == Some(&b'{');
    let decoded = match json {
        true => serde_json::from_slice::<ExportLogsServiceRequest>(data).ok(),
        false => ExportLogsServiceRequest::decode(data).ok(),
    };
    let sent = match (json, &decoded) {
        (false, _) => data.to_vec(),
        (true, Some(request)) => request.encode_to_vec(),
        (true, None) => return,
    };
    let stored = stored_by_server(sent);
    let Some(request) = decoded else {
        assert!(
            matches!(stored, Err(ReadError::NotRequest(_))),
            "the server stores what prost refuses"
        );
        return;
    };
    let Ok((plan, converted)) = stored else {
        panic!("the server refuses what prost reads: {stored:?}");
    };
    let rows = rows_from_request(request, None);
    let kept: usize = rows.tables.values().map(Vec::len).sum();
    assert!(kept <= rows.records, "no more rows than records");
    for table_rows in rows.tables.values() {
        convert_and_account(table_rows);
    }
    assert_eq!(plan.records, rows.records, "the same records");
    for (table, direct) in converted {
        let Ok(direct) = direct else {
            continue;
        };
        account_decoded(&direct);
        let by_maps = rows
            .tables
            .get(&table)
            .map(|rows| rows_to_batch(None, rows));
        if let Some(Ok(by_maps)) = by_maps {
            // Rows without a time take their arrival time, a little later
            // in the second conversion: times are compared apart.
            if let (Some(direct), Some(by_maps)) = (&direct.batch, &by_maps.batch) {
                same_times(direct, by_maps);
            }
            assert_eq!(
                direct.batch.map(|batch| without_time(&batch)),
                by_maps.batch.map(|batch| without_time(&batch)),
                "the map form's rows"
            );
            // The map form rejects a record's own bad values (its time)
            // before conversion, among the request's errors.
            let lines = |errors: &[RowError]| -> BTreeSet<usize> {
                errors.iter().map(|e| e.line).collect()
            };
            let direct_lines = lines(&direct.errors);
            let mut map_lines = lines(&by_maps.errors);
            assert!(map_lines.is_subset(&direct_lines), "the map form's errors");
            map_lines.extend(lines(&rows.errors));
            assert!(direct_lines.is_subset(&map_lines), "the map form's errors");
        }
    }
}

/// The server's conversion of `body` (an export in protobuf), each table's
/// as `otlp_export` converts it: read in place, and again by way of prost
/// when the view gives up on a record (which only an export not checked
/// before, of one table, may do, before anything of it is converted).
#[allow(clippy::type_complexity)]
fn stored_by_server(
    body: Vec<u8>,
) -> Result<(Arc<OtlpPlan>, Vec<(String, Result<Decoded, ConvertError>)>), ReadError> {
    let mut prepared = prepare(body.into(), None)?;
    loop {
        let records =
            RequestView::read_records(&prepared.body).expect("a prepared body reads in place");
        let mut converted = Vec::new();
        let mut gave_up = false;
        for table in &prepared.plan.tables {
            let direct = convert_table(&records, &prepared.plan, table, None, &Resume::default());
            if matches!(direct, Err(ConvertError::Unread)) {
                assert!(
                    !prepared.checked && prepared.plan.tables.len() == 1,
                    "only an unchecked export of one table gives up"
                );
                gave_up = true;
                break;
            }
            converted.push((table.clone(), direct));
        }
        if !gave_up {
            return Ok((prepared.plan, converted));
        }
        prepared = reread(&prepared.body, None)?;
    }
}

/// The `time` columns of two conversions agree, but for arrival times
/// (rows without a time of their own), which are both within minutes of now.
fn same_times(left: &arrow::record_batch::RecordBatch, right: &arrow::record_batch::RecordBatch) {
    use arrow::datatypes::TimestampMicrosecondType;
    let (Some(left), Some(right)) = (left.column_by_name("time"), right.column_by_name("time"))
    else {
        return;
    };
    let (left, right) = (
        left.as_primitive::<TimestampMicrosecondType>(),
        right.as_primitive::<TimestampMicrosecondType>(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as i64);
    let recent = |micros: i64| (micros - now).abs() < 600_000_000;
    for (a, b) in left.iter().zip(right.iter()) {
        if a != b {
            assert!(
                a.zip(b).is_some_and(|(a, b)| recent(a) && recent(b)),
                "the map form's time: {a:?} against {b:?}"
            );
        }
    }
}

/// `batch` without its `time` column.
fn without_time(batch: &arrow::record_batch::RecordBatch) -> arrow::record_batch::RecordBatch {
    let mut batch = batch.clone();
    if let Ok(index) = batch.schema().index_of("time") {
        batch.remove_column(index);
    }
    batch
}

/// What a Flight client controls byte for byte: `DoGet` tickets (Flight SQL
/// commands wrapped in `Any`, Shoal scan and fragment tickets) and prepared
/// statement handles.
pub fn flight_tickets(data: &[u8]) {
    allow_contained_panics();
    let _ = TicketRequest::decode_ticket(data);
    if let Ok(any) = Any::decode(data) {
        let _ = TicketRequest::decode_any(&any.type_url, &any.value);
        let _ = Command::try_from(any);
    }
    if let Ok(handle) = decode_handle(data) {
        assert!(
            data.len() >= handle.sql.len(),
            "the SQL came out of the handle"
        );
    }
}

struct FragmentFixture {
    runtime: tokio::runtime::Runtime,
    store: Arc<Store>,
}

/// Plan fragments as a leaf receives them: the policy check, decoding with
/// Shoal's codec against a real store, and running what passes until its
/// (short) deadline.
pub fn fragment(data: &[u8]) {
    allow_contained_panics();
    // The leaf's panic guard turns a panic into an error that says so; the
    // fuzzer must still see it as a failure.
    if let Err(message) = run_fragment(data, 200) {
        assert!(!message.contains("internal error"), "{message}");
    }
}

/// Runs `data` as a fragment on the fixture store, stopped after
/// `deadline_millis`: the rows it answered, or the error that stopped it.
pub fn run_fragment(data: &[u8], deadline_millis: u64) -> Result<usize, String> {
    static FIXTURE: OnceLock<FragmentFixture> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| {
        let dir = scratch_dir("fragment");
        let _ = std::fs::remove_dir_all(&dir);
        FragmentFixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime"),
            store: Arc::new(fixture::store(&dir, 3000, 500)),
        }
    });
    let request = FragmentRequest {
        plan: data.to_vec(),
        deadline_millis,
        query_id: "fuzz".to_string(),
        as_of_micros: 0,
    };
    fixture.runtime.block_on(async {
        let running = execute_fragment(fixture.store.clone(), &request, 64 << 20)
            .await
            .map_err(|error| error.to_string())?;
        let mut stream = running.stream;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch.map_err(|error| error.to_string())?.num_rows();
        }
        Ok(rows)
    })
}

/// Replaying a write-ahead segment, whatever a crash (or a bit flip) left in
/// the file: every whole record back, the torn tail measured, and a second
/// replay of the cut file finding the same records and nothing torn.
pub fn wal_replay(data: &[u8]) {
    allow_contained_panics();
    let path = scratch_dir("wal").join("wal-000000000001.log");
    std::fs::write(&path, data).expect("write segment");
    let Ok(first) = replay(&path) else {
        return;
    };
    assert!(first.valid_len <= data.len() as u64);
    assert_eq!(first.valid_len + first.torn_bytes, data.len() as u64);
    std::fs::write(&path, &data[..first.valid_len as usize]).expect("cut segment");
    let second = replay(&path).expect("a cut segment replays");
    assert_eq!(second.torn_bytes, 0);
    assert_eq!(second.batches.len(), first.batches.len());
}

/// Opening a sealed block file and its bitmap index as a restarted leaf
/// does, then decoding the batch and asking the index about its strings.
///
/// Input: `index_len:u32le index_bytes block_bytes` (no index when
/// `index_len` is 0).
pub fn block_open(data: &[u8]) {
    allow_contained_panics();
    let Some((length, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let index_len = (u32::from_le_bytes(*length) as usize).min(rest.len());
    let (index, block) = rest.split_at(index_len);
    let dir = scratch_dir("block");
    let id = BlockId {
        segment: 1,
        part: 0,
    };
    let index_path = dir.join(id.index_file_name());
    match index_len {
        0 => {
            let _ = std::fs::remove_file(&index_path);
        }
        _ => std::fs::write(&index_path, index).expect("write index"),
    }
    let path = dir.join(id.file_name());
    std::fs::write(&path, block).expect("write block");
    let Ok(block) = SealedBlock::open(&path, id) else {
        return;
    };
    let Ok(batch) = block.batch() else {
        return;
    };
    assert_eq!(batch.num_rows() as u64, block.meta.rows);
    let _ = block.is_zero_copy();
    if let Some(index) = block.index() {
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let Some(dictionary) = column.as_dictionary_opt::<Int32Type>() else {
                continue;
            };
            let values = ["api", "", "x"];
            if let Some(rows) = index.rows_matching(field.name(), dictionary, &values) {
                assert!(
                    rows.max()
                        .is_none_or(|row| (row as usize) < batch.num_rows()),
                    "the index names rows of this block only"
                );
            }
        }
    }
}

/// Converts `rows` as the ingest path does, and checks that each row is
/// either stored or rejected with its line.
pub fn convert_and_account(rows: &[JsonRow]) {
    let Ok(converted) = rows_to_batch(None, rows) else {
        // arrow-json refused the whole batch: the caller answers 400 for
        // every row, so none is silently lost.
        return;
    };
    let stored = converted.batch.as_ref().map_or(0, |b| b.num_rows());
    let rejected: BTreeSet<usize> = converted.errors.iter().map(|e| e.line).collect();
    assert_eq!(
        stored + converted.errors.len(),
        rows.len(),
        "every row is stored or rejected once"
    );
    let lines: BTreeSet<usize> = rows.iter().map(|r| r.line).collect();
    assert!(rejected.is_subset(&lines), "errors name lines of the input");
}

/// Checks that a decoded body's rows and errors name distinct lines.
pub fn account_decoded(decoded: &Decoded) {
    let stored = decoded.batch.as_ref().map_or(0, |b| b.num_rows());
    assert_eq!(stored, decoded.lines.len(), "a line for each row");
    let mut lines: BTreeSet<usize> = decoded.lines.iter().copied().collect();
    for error in &decoded.errors {
        assert!(
            lines.insert(error.line),
            "a line is stored or rejected once"
        );
    }
}

fn scratch_base() -> PathBuf {
    match std::path::Path::new("/dev/shm").is_dir() {
        true => PathBuf::from("/dev/shm"),
        false => std::env::temp_dir(),
    }
}

/// A directory of this process's own under /dev/shm (or the temp dir).
pub fn scratch_dir(target: &str) -> PathBuf {
    let dir = scratch_base().join(format!("shoal-fuzz-{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Removes this process's scratch directories (those of targets still in
/// use come back on their next input).
pub fn remove_scratch_dirs() {
    let suffix = format!("-{}", std::process::id());
    let Ok(entries) = std::fs::read_dir(scratch_base()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("shoal-fuzz-") && name.ends_with(&suffix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The table the fragment target's store holds and the seeds are planned on.
pub mod fixture {
    use std::sync::Arc;

    use arrow::array::TimestampMicrosecondArray;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
    use shoal_leaf::{Store, StoreConfig};

    /// The fixture table's name.
    pub const TABLE: &str = "requests";

    /// The table's schema as an aggregator sends it: strings as queries
    /// read them, dictionary-encoded (a leaf refuses a scan asking for a
    /// type no column is read as).
    pub fn schema() -> SchemaRef {
        with_strings(DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::Utf8),
        ))
    }

    /// The table's schema with strings typed `strings`.
    fn with_strings(strings: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("service", strings, true),
            Field::new("status", DataType::Int64, true),
            Field::new("latency_ms", DataType::Float64, true),
        ]))
    }

    /// `rows` rows of requests from `start_micros` on.
    pub fn batch(start_micros: i64, rows: usize) -> RecordBatch {
        let services = ["api", "web", "auth", "search"];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..rows as i64).map(|i| start_micros + i * 1000),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| services[i % services.len()]),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..rows as i64).map(|i| [200, 200, 404, 500][i as usize % 4]),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|i| (i % 97) as f64 * 1.5),
            )),
        ];
        RecordBatch::try_new(with_strings(DataType::Utf8), columns).expect("fixture batch")
    }

    /// A store in `dir` holding a sealed block of `sealed` rows and `open`
    /// rows in its open block.
    pub fn store(dir: &std::path::Path, sealed: usize, open: usize) -> Store {
        let config = StoreConfig {
            data_dir: dir.to_path_buf(),
            backup_dir: None,
            memory_limit: None,
            retention: None,
            seal_age: std::time::Duration::from_secs(3600),
        };
        let (store, _) = Store::open(config).expect("fixture store");
        let start = 1_700_000_000_000_000;
        store
            .ingest(TABLE, &[batch(start, sealed)], 0)
            .expect("ingest");
        store.seal_all().expect("seal");
        store
            .ingest(TABLE, &[batch(start + 10_000_000_000, open)], 0)
            .expect("ingest");
        store
    }
}
