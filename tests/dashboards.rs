//! Saved dashboards (`/api/v1/dashboards`) against real processes: saved,
//! listed, read, overwritten and deleted; bad names and specs refused with
//! the reason; kept in the leaves, so they survive a restart of every
//! process and every aggregator over the same leaves serves them; a token
//! with `read` suffices; and leaves keep the system table past retention
//! and the memory limit.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::secured::{SecuredStack, bearer};
use common::*;
use serde_json::{Value, json};

/// A call to an aggregator's HTTP port: the status and the JSON answer
/// (`null` when not JSON). A body goes as `application/json` unless
/// `headers` name a content type.
fn call(
    http: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut all = headers.to_vec();
    if !body.is_empty()
        && !all
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        all.push(("content-type", "application/json"));
    }
    let (status, _, body) = http_request(http, method, path, &all, body);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn put(http: SocketAddr, name: &str, spec: &Value) -> (u16, Value) {
    let path = format!("/api/v1/dashboards/{name}");
    call(http, "PUT", &path, &[], spec.to_string().as_bytes())
}

fn get(http: SocketAddr, name: &str) -> (u16, Value) {
    call(http, "GET", &format!("/api/v1/dashboards/{name}"), &[], b"")
}

fn list(http: SocketAddr) -> Value {
    let (status, answer) = call(http, "GET", "/api/v1/dashboards", &[], b"");
    assert_eq!(status, 200, "{answer}");
    answer
}

/// `(name, panels)` of the list, in its order.
fn listed(answer: &Value) -> Vec<(String, u64)> {
    answer["dashboards"]
        .as_array()
        .unwrap_or_else(|| panic!("no list: {answer}"))
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["panels"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn checkout(panels: usize) -> Value {
    let all = [
        json!({"title": "Requests", "explore": "table=requests&view=timeseries&agg=count&group=service"}),
        json!({"title": "p99", "explore": "table=requests&view=timeseries&agg=p99(latency_ms)"}),
        json!({"title": "Errors", "explore": "table=requests&view=table&where=status >= 500"}),
    ];
    json!({
        "title": "Checkout",
        "range": "1h",
        "refresh": "30s",
        "panels": all[..panels],
    })
}

fn errors_dashboard() -> Value {
    json!({
        "title": "Errors",
        "range": {"from_ms": 1_700_000_000_000i64, "to_ms": 1_700_003_600_000i64},
        "refresh": "off",
        "panels": [{"explore": "table=requests&view=bar&agg=count&group=status"}],
    })
}

/// Leaves on fixed addresses (to restart them where the aggregator looks).
struct Leaves {
    processes: Vec<LeafProcess>,
    addresses: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

impl Leaves {
    fn start(count: usize) -> Self {
        let dirs: Vec<tempfile::TempDir> = (0..count).map(|_| shm_tempdir()).collect();
        let addresses: Vec<String> = (0..count).map(|_| free_address()).collect();
        let processes = dirs
            .iter()
            .zip(&addresses)
            .map(|(dir, address)| LeafProcess::try_start_on(address, dir.path(), &[]).unwrap())
            .collect();
        Self {
            processes,
            addresses,
            dirs,
        }
    }

    /// SIGKILLs every leaf and starts it again on its directory and address.
    fn kill_and_restart(&mut self) {
        for leaf in &mut self.processes {
            leaf.kill();
        }
        for (index, dir) in self.dirs.iter().enumerate() {
            self.processes[index] =
                LeafProcess::try_start_on(&self.addresses[index], dir.path(), &[]).unwrap();
        }
    }
}

#[test]
fn dashboards_are_saved_listed_overwritten_deleted_and_survive_a_restart_of_every_process() {
    let mut leaves = Leaves::start(2);
    let mut aggregator = AggregatorProcess::start(&leaves.addresses, &[]);
    let http = aggregator.http;

    // Nothing saved yet, the system table does not exist: an empty list,
    // complete, and 404 for a name.
    let empty = list(http);
    assert_eq!(empty["dashboards"], json!([]), "{empty}");
    assert_eq!(empty["completeness"]["leaves_answered"], 2, "{empty}");
    let (status, answer) = get(http, "checkout");
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("\"checkout\""),
        "{answer}"
    );

    // Two dashboards, one with three panels.
    let (status, saved) = put(http, "checkout", &checkout(3));
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["name"], "checkout");
    let first_saved_ms = saved["updated_ms"].as_i64().unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now_ms - first_saved_ms).abs() < 60_000, "{saved}");
    let (status, saved) = put(http, "errors", &errors_dashboard());
    assert_eq!(status, 200, "{saved}");

    let answer = list(http);
    assert_eq!(
        listed(&answer),
        vec![("checkout".to_string(), 3), ("errors".to_string(), 1)],
        "{answer}"
    );
    assert_eq!(answer["dashboards"][0]["title"], "Checkout");
    assert_eq!(answer["dashboards"][0]["updated_ms"], first_saved_ms);
    assert_eq!(answer["completeness"]["leaves_answered"], 2, "{answer}");
    let (status, answer) = get(http, "checkout");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["spec"], checkout(3));
    assert_eq!(answer["updated_ms"], first_saved_ms);
    assert_eq!(answer["completeness"]["leaves_queried"], 2, "{answer}");

    // Overwritten: the new spec, a later time.
    let (status, saved) = put(http, "checkout", &checkout(2));
    assert_eq!(status, 200, "{saved}");
    assert!(saved["updated_ms"].as_i64().unwrap() >= first_saved_ms);
    let (_, answer) = get(http, "checkout");
    assert_eq!(answer["spec"], checkout(2));
    assert_eq!(
        listed(&list(http)),
        vec![("checkout".to_string(), 2), ("errors".to_string(), 1)]
    );

    // Deleted: gone from the list, 404, and a second delete is 404 too.
    let (status, answer) = call(http, "DELETE", "/api/v1/dashboards/errors", &[], b"");
    assert_eq!(
        (status, &answer["deleted"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(get(http, "errors").0, 404);
    assert_eq!(listed(&list(http)), vec![("checkout".to_string(), 2)]);
    let (status, _) = call(http, "DELETE", "/api/v1/dashboards/errors", &[], b"");
    assert_eq!(status, 404);
    // Saved again after a delete, it is back.
    let (status, _) = put(http, "errors", &errors_dashboard());
    assert_eq!(status, 200);
    assert_eq!(get(http, "errors").1["spec"], errors_dashboard());
    let (status, _) = call(http, "DELETE", "/api/v1/dashboards/errors", &[], b"");
    assert_eq!(status, 200);

    // Refused, with the reason.
    let many_panels = json!({"panels": vec![json!({"explore": "table=t"}); 25]});
    let too_big = json!({"title": "x".repeat(300 * 1024), "panels": []});
    let long_name = "n".repeat(65);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad%20name",
            checkout(1).to_string(),
            "only letters, digits",
        ),
        (
            long_name.as_str(),
            checkout(1).to_string(),
            "over the 64-byte limit",
        ),
        ("..", checkout(1).to_string(), "only dots"),
        ("big", too_big.to_string(), "256 KiB"),
        ("broken", "{\"panels\": [".to_string(), "not valid JSON"),
        (
            "many",
            many_panels.to_string(),
            "25 panels, over the limit of 24",
        ),
        (
            "no-explore",
            json!({"panels": [{"title": "x"}]}).to_string(),
            "panel 1 has no \"explore\"",
        ),
        (
            "refresh",
            json!({"refresh": "2s", "panels": []}).to_string(),
            "\"refresh\" must be one of",
        ),
    ];
    for (name, body, needle) in &cases {
        let path = format!("/api/v1/dashboards/{name}");
        let (status, answer) = call(http, "PUT", &path, &[], body.as_bytes());
        assert_eq!(status, 400, "{name}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{name}: {error}");
    }
    // A form or text body is not taken (what a page on another origin
    // could send without a preflight).
    let (status, answer) = call(
        http,
        "PUT",
        "/api/v1/dashboards/text",
        &[("content-type", "text/plain")],
        checkout(1).to_string().as_bytes(),
    );
    assert_eq!(status, 415, "{answer}");
    // None of the refused ones was stored.
    assert_eq!(listed(&list(http)), vec![("checkout".to_string(), 2)]);

    // Every process restarts: leaves SIGKILLed, the aggregator too.
    drop(aggregator);
    leaves.kill_and_restart();
    aggregator = AggregatorProcess::start(&leaves.addresses, &[]);
    let http = aggregator.http;
    let (status, answer) = get(http, "checkout");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["spec"], checkout(2));
    assert_eq!(answer["completeness"]["leaves_answered"], 2, "{answer}");
    assert_eq!(listed(&list(http)), vec![("checkout".to_string(), 2)]);
    assert_eq!(get(http, "errors").0, 404, "the delete survives too");
}

#[test]
fn every_aggregator_over_the_same_leaves_serves_the_same_dashboards() {
    let mut leaves = Leaves::start(2);
    let first = AggregatorProcess::start(&leaves.addresses, &[]);
    let second = AggregatorProcess::start(&leaves.addresses, &[]);
    // Both answer an empty list before anything is saved.
    assert_eq!(list(second.http)["dashboards"], json!([]));

    let (status, _) = put(first.http, "checkout", &checkout(3));
    assert_eq!(status, 200);
    // The second aggregator has not polled the new table yet, or has: the
    // answer is the same.
    let (status, answer) = get(second.http, "checkout");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["spec"], checkout(3));

    // Overwritten through the second, read through the first: the latest
    // save wins on both.
    let (status, _) = put(second.http, "checkout", &checkout(1));
    assert_eq!(status, 200);
    for http in [first.http, second.http] {
        assert_eq!(get(http, "checkout").1["spec"], checkout(1));
        assert_eq!(listed(&list(http)), vec![("checkout".to_string(), 1)]);
    }
    // Deleted through the first, gone on the second.
    let (status, _) = call(
        first.http,
        "DELETE",
        "/api/v1/dashboards/checkout",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(get(second.http, "checkout").0, 404);

    // A leaf down: the list still answers, saying it is partial.
    let (status, _) = put(first.http, "errors", &errors_dashboard());
    assert_eq!(status, 200);
    leaves.processes[1].kill();
    let answer = list(second.http);
    assert_eq!(answer["completeness"]["leaves_queried"], 2, "{answer}");
    assert_eq!(answer["completeness"]["leaves_answered"], 1, "{answer}");
    let (status, answer) = get(second.http, "errors");
    assert!(status == 200 || status == 404, "{status}: {answer}");
    assert_eq!(answer["completeness"]["leaves_answered"], 1, "{answer}");
}

#[test]
fn dashboards_need_a_token_with_read_and_the_system_table_stays_out_of_the_table_list() {
    let stack = SecuredStack::start(1, &[], &[]);
    let http = stack.aggregator.http;
    let spec = checkout(3).to_string();

    // No token: 401 for every dashboard call.
    for (method, path, body) in [
        ("GET", "/api/v1/dashboards", &b""[..]),
        ("GET", "/api/v1/dashboards/checkout", &b""[..]),
        ("PUT", "/api/v1/dashboards/checkout", spec.as_bytes()),
        ("DELETE", "/api/v1/dashboards/checkout", &b""[..]),
    ] {
        let (status, answer) = call(http, method, path, &[], body);
        assert_eq!(status, 401, "{method} {path}: {answer}");
    }
    // The pages are open.
    for page in ["/explore", "/dashboards", "/dashboards/checkout"] {
        let (status, _, body) = http_request(http, "GET", page, &[], b"");
        assert_eq!(status, 200, "{page}");
        assert!(
            String::from_utf8_lossy(&body).contains("<html"),
            "{page} is not the page shell"
        );
    }

    // A token with `read` (on `req*` tables only) may save, list, read and
    // delete: dashboards are not table data.
    let reader = bearer(&stack.tokens.reader);
    let auth = [("authorization", reader.as_str())];
    let path = "/api/v1/dashboards/checkout";

    // The pages' paths are open to reading only: a POST under them (which
    // `/{index}/_bulk` could take) needs `ingest` like any other write.
    let bulk = b"{\"index\": {}}\n{\"a\": 1}\n";
    for page in ["/dashboards/_bulk", "/assets/_bulk"] {
        let ndjson = ("content-type", "application/x-ndjson");
        let (status, answer) = call(http, "POST", page, &[auth[0], ndjson], bulk);
        assert_eq!(status, 403, "POST {page} with a read token: {answer}");
        let (status, answer) = call(http, "POST", page, &[ndjson], bulk);
        assert_eq!(status, 401, "POST {page} without a token: {answer}");
    }
    let (status, answer) = call(http, "PUT", path, &auth, spec.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = call(http, "GET", path, &auth, b"");
    assert_eq!((status, &answer["spec"]), (200, &checkout(3)), "{answer}");
    let (status, answer) = call(http, "GET", "/api/v1/dashboards", &auth, b"");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(listed(&answer), vec![("checkout".to_string(), 3)]);

    // Saving from a page on another origin is refused.
    let (status, answer) = call(
        http,
        "PUT",
        path,
        &[
            ("authorization", reader.as_str()),
            ("origin", "https://evil.example"),
        ],
        spec.as_bytes(),
    );
    assert_eq!(status, 403, "{answer}");

    // SQL reads the system table with the token's usual rights: the admin
    // may, the reader of `req*` may not.
    let admin = bearer(&stack.tokens.admin);
    let sql = "SELECT count(*) FROM _shoal_dashboards WHERE NOT deleted";
    let (status, answer) = http_query(http, sql, &[("authorization", admin.as_str())]);
    assert_eq!(
        (status, &answer["rows"][0][0]),
        (200, &json!(1)),
        "{answer}"
    );
    let (status, answer) = http_query(http, sql, &[("authorization", reader.as_str())]);
    assert_eq!(status, 403, "{answer}");
    // The explorer's table list leaves it out.
    let (status, answer) = call(
        http,
        "GET",
        "/api/v1/tables",
        &[("authorization", admin.as_str())],
        b"",
    );
    assert_eq!(status, 200, "{answer}");
    let names: Vec<&str> = answer["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(!names.contains(&"_shoal_dashboards"), "{names:?}");

    let (status, answer) = call(http, "DELETE", path, &auth, b"");
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_read_token_fills_at_most_the_system_tables_share_of_a_leaf_and_the_data_stays() {
    // A leaf of 4 MiB: its system tables may hold 1 MiB.
    let stack = SecuredStack::start(1, &["--memory-limit", "4MiB"], &[]);
    let http = stack.aggregator.http;
    let writer = bearer(&stack.tokens.writer);
    let rows: String = (0..1_000)
        .map(|i| format!("{{\"n\": {i}, \"pad\": \"{}\"}}\n", "p".repeat(100)))
        .collect();
    let (status, _, answer) = http_request(
        http,
        "POST",
        "/api/v1/ingest/requests",
        &[
            ("authorization", writer.as_str()),
            ("content-type", "application/x-ndjson"),
        ],
        rows.as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    // Not even an admin ingests into a system table: rows of another shape
    // would break every dashboard read.
    let admin = bearer(&stack.tokens.admin);
    let (status, _, answer) = http_request(
        http,
        "POST",
        "/api/v1/ingest/_shoal_dashboards",
        &[
            ("authorization", admin.as_str()),
            ("content-type", "application/x-ndjson"),
        ],
        b"{\"name\": \"forged\"}\n",
    );
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("is a system table"), "{answer}");
    // Nor through OTLP; an export prost refuses is refused for its bytes
    // (400) before its table is found forbidden.
    let good = common::hostile::otlp_export(&[common::hostile::otlp_record("forged")]);
    let broken = common::hostile::otlp_export(&[common::hostile::otlp_broken_record()]);
    for (body, expected, says) in [
        (good, 403, "is a system table"),
        (broken, 400, "not an ExportLogsServiceRequest"),
    ] {
        let headers = [
            ("authorization", admin.as_str()),
            ("content-type", "application/x-protobuf"),
            ("x-shoal-table", "_shoal_dashboards"),
        ];
        let (status, _, answer) = http_request(http, "POST", "/v1/logs", &headers, &body);
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, expected, "{answer}");
        assert!(answer.contains(says), "{answer}");
    }

    // Dashboards of 100 KiB (200 KiB a row: the title is in the spec too),
    // saved with a read token until refused: nothing drops a system table's
    // rows, so they cannot grow without end.
    let reader = bearer(&stack.tokens.reader);
    let auth = [("authorization", reader.as_str())];
    let mut saved = 0;
    let (status, refusal) = loop {
        let spec = json!({"title": "t".repeat(100 * 1024), "panels": []}).to_string();
        let path = format!("/api/v1/dashboards/big-{saved}");
        let (status, answer) = call(http, "PUT", &path, &auth, spec.as_bytes());
        if status != 200 {
            break (status, answer);
        }
        saved += 1;
        assert!(
            saved <= 20,
            "{saved} dashboards of 200 KiB passed a 1 MiB share"
        );
    };
    assert_eq!(status, 503, "{refusal}");
    let error = refusal["error"].as_str().unwrap_or_default();
    assert!(error.contains("system tables"), "{error}");
    assert!(saved >= 3, "refused after {saved} saves: {error}");

    // What was saved stays readable, and every row of data stays.
    let (status, answer) = call(http, "GET", "/api/v1/dashboards/big-0", &auth, b"");
    assert_eq!(status, 200, "{answer}");
    let admin = bearer(&stack.tokens.admin);
    let sql = "SELECT count(*) FROM requests";
    let (status, answer) = http_query(http, sql, &[("authorization", admin.as_str())]);
    assert_eq!(
        (status, &answer["rows"][0][0]),
        (200, &json!(1_000)),
        "{answer}"
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `rows` rows one millisecond apart from `start_ms`.
fn rows(start_ms: i64, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("payload", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values((0..rows as i64).map(|i| start_ms + i))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("payload-{i:08}-{}", "x".repeat(40))),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

async fn table_rows(leaf: &LeafProcess, table: &str) -> Option<u64> {
    let mut client = leaf.client().await;
    status(&mut client)
        .await
        .tables
        .iter()
        .find(|t| t.name == table)
        .map(|t| t.rows)
}

#[tokio::test]
async fn leaves_keep_system_tables_past_retention_and_the_memory_limit() {
    let dir = shm_tempdir();
    let leaf = leaf_with_upkeep(dir.path());
    let mut client = leaf.client().await;
    let two_days_ago = now_ms() - 48 * 3_600_000;
    // The system table's rows are the oldest of all: retention would drop
    // them first, and so would the memory limit.
    ingest(
        &mut client,
        "_shoal_dashboards",
        &[rows(two_days_ago, 1_000)],
    )
    .await
    .unwrap();
    ingest(&mut client, "old", &[rows(two_days_ago + 1_000, 1_000)])
        .await
        .unwrap();
    for i in 0..12 {
        ingest(
            &mut client,
            "recent",
            &[rows(now_ms() - 600_000 + i * 65_536, 65_536)],
        )
        .await
        .unwrap();
    }
    // Upkeep runs once a second: wait until it has dropped what it drops.
    let mut upkept = false;
    for _ in 0..200 {
        let status = status(&mut client).await;
        let old = table_rows(&leaf, "old").await;
        if old == Some(0) && status.memory_used_bytes <= status.memory_limit_bytes {
            upkept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(upkept, "retention and the memory limit never ran");
    let recent = table_rows(&leaf, "recent").await.unwrap();
    assert!(recent < 12 * 65_536, "the memory limit dropped nothing");
    assert_eq!(
        table_rows(&leaf, "_shoal_dashboards").await,
        Some(1_000),
        "a system table lost rows"
    );
}

fn leaf_with_upkeep(dir: &Path) -> LeafProcess {
    LeafProcess::start(
        dir,
        &[
            "--seal-age",
            "100ms",
            "--retention",
            "1h",
            "--memory-limit",
            "8MiB",
        ],
    )
}
