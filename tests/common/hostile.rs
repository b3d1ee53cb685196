//! Helpers shared by the hostile-input tests (`tests/hostile_*.rs`): a
//! stack with extra aggregator flags, the liveness check run after every
//! case, the assertion on a refused HTTP request, raw HTTP exchanges for
//! requests `http_request` cannot make, and OTLP exports built by hand.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::stack::Stack;
use super::{http_query, http_request};

/// A log record in protobuf, its body `text`.
pub fn otlp_record(text: &str) -> Vec<u8> {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use prost::Message;
    opentelemetry_proto::tonic::logs::v1::LogRecord {
        time_unix_nano: 1_763_000_000_000_000_000,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(text.into())),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A record prost refuses, which the view reads down to: a good record
/// followed by a length-delimited field 1 without its length.
pub fn otlp_broken_record() -> Vec<u8> {
    let mut record = otlp_record("broken");
    record.push(0x0a);
    record
}

/// An `ExportLogsServiceRequest` of one resource and scope holding
/// `records` as they are (protobuf).
pub fn otlp_export(records: &[Vec<u8>]) -> Vec<u8> {
    let mut scope = Vec::new();
    for record in records {
        prost::encoding::bytes::encode(2, record, &mut scope);
    }
    let mut resource_logs = Vec::new();
    prost::encoding::bytes::encode(2, &scope, &mut resource_logs);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &resource_logs, &mut body);
    body
}

/// A stack whose aggregator gets extra flags.
pub fn stack_with(leaves: usize, aggregator_flags: &[&str]) -> Stack {
    Stack::start_with(leaves, aggregator_flags)
}

/// Whether process `pid` is running (it exists and is not a zombie).
pub fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// After a hostile case: every leaf is running, the aggregator answers, and
/// `SELECT count(*) FROM table` is `rows`, answered by every leaf.
pub fn assert_alive(stack: &Stack, case: &str, table: &str, rows: u64) {
    for leaf in &stack.leaves {
        assert!(
            process_running(leaf.pid()),
            "after {case}: leaf {} is gone; its stderr:\n{}",
            leaf.pid(),
            leaf.stderr()
        );
    }
    let (status, _, body) = http_request(stack.aggregator.http, "GET", "/healthz", &[], b"");
    assert_eq!(
        status,
        200,
        "after {case}: /healthz {}",
        String::from_utf8_lossy(&body)
    );
    let (status, answer) = http_query(
        stack.aggregator.http,
        &format!("SELECT count(*) AS n FROM {table}"),
        &[],
    );
    assert_eq!(status, 200, "after {case}: {answer}");
    assert_eq!(answer["rows"][0][0], json!(rows), "after {case}: {answer}");
    assert_eq!(
        answer["completeness"]["leaves_answered"],
        json!(stack.leaves.len()),
        "after {case}: {answer}"
    );
}

/// Asserts an HTTP answer: status, and `error` (or the whole body) holding
/// every one of `needles`.
pub fn assert_refused(case: &str, answer: (u16, Value), status: u16, needles: &[&str]) {
    let (got, body) = answer;
    assert_eq!(got, status, "{case}: {body}");
    let message = match &body["error"] {
        Value::String(message) => message.clone(),
        Value::Object(inner) => inner
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => body.to_string(),
    };
    for needle in needles {
        assert!(
            message.contains(needle),
            "{case}: {needle:?} is not in {message:?}"
        );
    }
}

/// Sends raw bytes, tolerating a server that closes while they are still
/// being written; the status line's code and the rest of the answer, or
/// `None` when the connection closed without one.
pub fn raw_exchange(address: SocketAddr, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.lines().next()?.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// The JSON body of a raw HTTP answer.
pub fn raw_json(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// NDJSON ingest through the aggregator.
pub fn ingest_ndjson(stack: &Stack, table: &str, body: &[u8]) -> (u16, Value) {
    stack.post(
        &format!("/api/v1/ingest/{table}"),
        &[("content-type", "application/x-ndjson")],
        body,
    )
}

/// A path under /tmp no other test uses.
pub fn unique_tmp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "shoal-hostile-{}-{nanos}-{name}",
        std::process::id()
    ))
}

/// Whether `text` holds anything of /etc/passwd (its `root:` line).
pub fn leaks_passwd(text: &str) -> bool {
    text.contains("root:") || text.contains("/bin/") || text.contains("nologin")
}
