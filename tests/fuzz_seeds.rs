//! The fuzz targets' seed corpora (`fuzz/corpus/<target>/`): real inputs
//! of every kind the targets read, made with Shoal's own writers, so that
//! fuzzing starts from inputs that get deep and mutates from there. Ignored;
//! run by hand to remake them:
//!
//!   cargo test --release --test fuzz_seeds -- --ignored

// Only the fixture of the shared file is used here.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzzing;

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow_flight::sql::{Any, CommandGetTables, CommandStatementQuery, TicketStatementQuery};
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use fuzzing::fixture;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use shoal_leaf::fragment::{FragmentCodec, PlaceholderResolver, TableScanExec, TableScanSpec};
use shoal_leaf::fragment_policy::check_fragment;
use shoal_proto::{FragmentRequest, ScanRequest, TicketRequest};

fn fuzz_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
#[ignore = "writes fuzz/corpus/*; run by hand to remake the seeds"]
fn write_seed_corpora() {
    let corpus = fuzz_dir().join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(name), bytes).expect("seed");
    };
    for (name, body) in NDJSON {
        write("ndjson", name, body.as_bytes());
    }
    for (name, body) in BULK {
        write("bulk", name, body.as_bytes());
    }
    let logs = otlp_request();
    write("otlp", "protobuf", &logs.encode_to_vec());
    write("otlp", "json", &serde_json::to_vec(&logs).expect("json"));
    for (name, bytes) in tickets() {
        write("flight_tickets", &name, &bytes);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for (position, plan) in runtime.block_on(fragments()).into_iter().enumerate() {
        write("fragment", &format!("query-{position}"), &plan);
    }
    let dir = fuzzing::scratch_dir("seeds");
    let _ = std::fs::remove_dir_all(&dir);
    // Small files: libFuzzer mutates small inputs faster.
    let store = fixture::store(&dir, 40, 12);
    drop(store);
    let table_dir = dir.join("tables").join(fixture::TABLE);
    for entry in std::fs::read_dir(&table_dir)
        .expect("table directory")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let bytes = std::fs::read(entry.path()).expect("read");
        if name.starts_with("wal-") {
            write("wal_replay", "segment", &bytes);
            write("wal_replay", "torn", &bytes[..bytes.len() * 2 / 3]);
        } else if name.ends_with(".arrow") {
            let index = std::fs::read(entry.path().with_extension("idx")).unwrap_or_default();
            let mut seed = (index.len() as u32).to_le_bytes().to_vec();
            seed.extend_from_slice(&index);
            seed.extend_from_slice(&bytes);
            write("block_open", "block-with-index", &seed);
            let mut bare = 0u32.to_le_bytes().to_vec();
            bare.extend_from_slice(&bytes);
            write("block_open", "block", &bare);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("seeds written under {}", corpus.display());
}

const NDJSON: &[(&str, &str)] = &[
    (
        "lines",
        "{\"time\":\"2026-11-29T10:00:00Z\",\"service\":\"api\",\"status\":200,\"latency_ms\":12.5}\n{\"time\":1764410400123,\"service\":\"web\",\"status\":500,\"tags\":[\"a\",\"b\"]}\n",
    ),
    (
        "nested",
        "{\"time\":\"2026-11-29 10:00:00.5\",\"http\":{\"method\":\"GET\",\"path\":\"/x\"},\"ok\":true}\n",
    ),
    (
        "array",
        "[{\"time\":1764410400,\"n\":1},{\"n\":2.5},{\"time\":\"bad\"}]",
    ),
    ("mixed", "{\"a\":1}\nnot json\n{\"a\":\"s\"}\n{\"\":1}\n"),
];

const BULK: &[(&str, &str)] = &[
    (
        "index",
        "{\"index\":{\"_index\":\"logs\"}}\n{\"@timestamp\":\"2026-11-29T10:00:00Z\",\"message\":\"hi\",\"level\":\"info\"}\n{\"create\":{}}\n{\"message\":\"second\",\"n\":3}\n",
    ),
    (
        "delete",
        "{\"delete\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"index\":{\"_index\":\"other\",\"_id\":\"2\"}}\n{\"x\":[1,2]}\n",
    ),
];

fn otlp_request() -> ExportLogsServiceRequest {
    let text = |s: &str| AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    };
    let attribute = |key: &str, value: AnyValue| KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    };
    let record = |body: &str, severity: &str| LogRecord {
        time_unix_nano: 1_764_410_400_000_000_000,
        observed_time_unix_nano: 1_764_410_400_100_000_000,
        severity_text: severity.to_string(),
        severity_number: 9,
        body: Some(text(body)),
        attributes: vec![
            attribute(
                "http.status",
                AnyValue {
                    value: Some(any_value::Value::IntValue(500)),
                },
            ),
            attribute(
                "ok",
                AnyValue {
                    value: Some(any_value::Value::BoolValue(false)),
                },
            ),
        ],
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", text("api"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record("hello", "INFO"), record("boom", "ERROR")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn tickets() -> Vec<(String, Vec<u8>)> {
    let query = CommandStatementQuery {
        query: "SELECT service, count(*) FROM requests GROUP BY service".to_string(),
        transaction_id: None,
    };
    let tables = CommandGetTables {
        catalog: None,
        db_schema_filter_pattern: None,
        table_name_filter_pattern: Some("req%".to_string()),
        table_types: vec![],
        include_schema: true,
    };
    let statement = TicketStatementQuery {
        statement_handle: b"0123456789abcdef0123456789abcdef".to_vec().into(),
    };
    let scan = TicketRequest::Scan(ScanRequest {
        table: "requests".to_string(),
        columns: vec!["service".to_string()],
        filter: "status >= 500".to_string(),
        ..Default::default()
    });
    let fragment = TicketRequest::Fragment(FragmentRequest {
        plan: vec![1, 2, 3],
        deadline_millis: 1000,
        query_id: "q".to_string(),
        as_of_micros: 0,
    });
    let handle = shoal_aggregator::flight_sql::encode_handle(1, "SELECT $1", None)
        .expect("handle")
        .to_vec();
    vec![
        (
            "statement".into(),
            Any::pack(&query).expect("pack").encode_to_vec(),
        ),
        (
            "tables".into(),
            Any::pack(&tables).expect("pack").encode_to_vec(),
        ),
        (
            "ticket".into(),
            Any::pack(&statement).expect("pack").encode_to_vec(),
        ),
        ("scan".into(), scan.encode_ticket()),
        ("fragment".into(), fragment.encode_ticket()),
        ("handle".into(), handle),
    ]
}

/// The fixture table as a planner sees it: scans are Shoal's placeholder.
#[derive(Debug)]
struct PlaceholderTable(SchemaRef);

#[async_trait::async_trait]
impl TableProvider for PlaceholderTable {
    fn schema(&self) -> SchemaRef {
        self.0.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Base
    }
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let spec = TableScanSpec {
            table: fixture::TABLE.to_string(),
            schema: self.0.clone(),
            projection: projection.cloned(),
            filters: filters.to_vec(),
            limit,
        };
        Ok(Arc::new(TableScanExec::try_new(spec, 2)?))
    }
}

/// For each query, the largest part of its plan that a leaf accepts.
async fn fragments() -> Vec<Vec<u8>> {
    let context = SessionContext::new();
    context
        .register_table(
            fixture::TABLE,
            Arc::new(PlaceholderTable(fixture::schema())),
        )
        .expect("register");
    let queries = [
        "SELECT service, count(*), avg(latency_ms) FROM requests WHERE status >= 500 GROUP BY service",
        "SELECT * FROM requests WHERE service = 'api' ORDER BY time DESC LIMIT 10",
        "SELECT date_trunc('minute', time) AS m, max(latency_ms) FROM requests GROUP BY m",
        "SELECT count(DISTINCT service) FROM requests WHERE latency_ms > 10 AND service IN ('api', 'web')",
        "SELECT service, status FROM requests WHERE status <> 200 LIMIT 5",
    ];
    let codec = FragmentCodec {
        resolver: PlaceholderResolver { partitions: 1 },
    };
    let mut plans = Vec::new();
    for sql in queries {
        let plan = context
            .sql(sql)
            .await
            .and_then(|frame| futures::executor::block_on(frame.create_physical_plan()))
            .expect("plan");
        let mut pending = vec![plan];
        while let Some(node) = pending.pop() {
            let bytes = physical_plan_to_bytes_with_extension_codec(node.clone(), &codec)
                .expect("encode")
                .to_vec();
            if check_fragment(&bytes).is_ok() {
                plans.push(bytes);
                continue;
            }
            pending.extend(node.children().into_iter().cloned());
        }
    }
    plans
}
