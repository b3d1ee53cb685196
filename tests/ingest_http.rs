//! HTTP ingest against real processes: what Vector and Fluent Bit send (from
//! their documentation), compressed bodies, the Elasticsearch bulk API, and
//! bad input, each with its clear answer while the server stays up.

mod common;

use std::io::Write;

use common::*;
use serde_json::{Value, json};

use common::stack::Stack;

#[test]
fn vector_and_fluent_bit_formats_are_stored_and_queryable() {
    let stack = Stack::start(2);
    // Vector's http sink, `ndjson` framing (encoding.codec = "json").
    let vector_ndjson = concat!(
        r#"{"message":"GET /index.html 200","timestamp":"2026-11-19T10:00:00.123Z","host":"web-1","source_type":"file","file":"/var/log/nginx/access.log"}"#,
        "\n",
        r#"{"message":"GET /missing 404","timestamp":"2026-11-19T10:00:01.000Z","host":"web-2","source_type":"file","file":"/var/log/nginx/access.log"}"#,
        "\n"
    );
    let (status, answer) = stack.post(
        "/api/v1/ingest/vector_logs",
        &[("content-type", "application/x-ndjson")],
        vector_ndjson.as_bytes(),
    );
    assert_eq!(
        (status, &answer),
        (200, &json!({"accepted": 2, "rejected": 0, "errors": []}))
    );
    // Vector's `json` framing: one JSON array, no final newline.
    let vector_json =
        r#"[{"message":"POST /login 500","timestamp":"2026-11-19T10:00:02Z","host":"web-1"}]"#;
    let (status, answer) = stack.post(
        "/api/v1/ingest/vector_logs",
        &[("content-type", "application/json")],
        vector_json.as_bytes(),
    );
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));

    // Fluent Bit's http output, `json_lines` (date as float seconds, the
    // kubernetes filter's nested metadata) and `json` (an array).
    let fluent_lines = concat!(
        r#"{"date":1763546400.5,"log":"started","stream":"stdout","kubernetes":{"pod_name":"api-7f9","namespace_name":"prod","labels":{"app":"api"}}}"#,
        "\n",
        r#"{"date":1763546401.25,"log":"ready","stream":"stdout","kubernetes":{"pod_name":"api-7f9","namespace_name":"prod","labels":{"app":"api"}}}"#
    );
    let (status, answer) = stack.post("/api/v1/ingest/k8s", &[], fluent_lines.as_bytes());
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(2)),
        "{answer}"
    );
    let fluent_json = r#"[{"date":1763546402.0,"log":"stopping","stream":"stderr","kubernetes":{"pod_name":"api-8a1","namespace_name":"prod"}}]"#;
    let (status, answer) = stack.post(
        "/api/v1/ingest/k8s?time_field=date",
        &[],
        fluent_json.as_bytes(),
    );
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));

    stack.eventually("SELECT count(*) FROM vector_logs", json!(3));
    let answer = stack.eventually("SELECT host, count(*) AS n, min(time) AS first FROM vector_logs GROUP BY host ORDER BY host",
        json!("web-1"),
    );
    assert_eq!(
        answer["rows"][0],
        json!(["web-1", 2, "2026-11-19T10:00:00.123Z"])
    );
    let answer = stack.eventually(r#"SELECT "kubernetes.pod_name" AS pod, count(*) AS n, max(time) AS last FROM k8s GROUP BY pod ORDER BY pod"#,
        json!("api-7f9"),
    );
    assert_eq!(
        answer["rows"],
        json!([
            ["api-7f9", 2, "2025-11-19T10:00:01.250Z"],
            ["api-8a1", 1, "2025-11-19T10:00:02Z"]
        ])
    );
}

#[test]
fn compressed_bodies_and_the_elasticsearch_bulk_api() {
    let stack = Stack::start(1);
    let rows: String = (0..1000)
        .map(|i| format!("{{\"n\": {i}, \"kind\": \"gz\"}}\n"))
        .collect();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(rows.as_bytes()).unwrap();
    let (status, answer) = stack.post(
        "/api/v1/ingest/packed",
        &[("content-encoding", "gzip")],
        &gzip.finish().unwrap(),
    );
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(1000)),
        "{answer}"
    );
    let zstd = zstd::encode_all(rows.replace("gz", "zstd").as_bytes(), 3).unwrap();
    let (status, answer) = stack.post(
        "/api/v1/ingest/packed",
        &[("content-encoding", "zstd")],
        &zstd,
    );
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(1000)),
        "{answer}"
    );
    stack.eventually(
        "SELECT count(*) FROM packed WHERE kind = 'zstd'",
        json!(1000),
    );

    // The probe Elasticsearch clients make, then a bulk request as rsyslog's
    // omelasticsearch, Vector and Fluent Bit send it.
    let (status, _, body) = http_request(stack.aggregator.http, "GET", "/", &[], b"");
    let probe: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, probe["version"]["number"].as_str()),
        (200, Some("8.11.0"))
    );
    let bulk = concat!(
        r#"{"index":{"_index":"syslog"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-19T10:00:00Z","host":"db-1","severity":"info","msg":"checkpoint"}"#,
        "\n",
        r#"{"create":{"_index":"syslog","_id":"x1"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-19T10:00:05Z","host":"db-2","severity":7,"msg":"vacuum"}"#,
        "\n",
        r#"{"index":{}}"#,
        "\n",
        r#"{"host":"db-3","severity":"warn","msg":"slow query"}"#,
        "\n",
        r#"{"delete":{"_index":"syslog","_id":"x1"}}"#,
        "\n",
    );
    let (status, answer) = stack.post(
        "/syslog/_bulk",
        &[("content-type", "application/x-ndjson")],
        bulk.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], json!(true));
    let statuses: Vec<u64> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.as_object().unwrap().values().next().unwrap()["status"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // "severity" is a string column, and 7 (a number) is coerced to "7";
    // delete is refused per item.
    assert_eq!(statuses, vec![201, 201, 201, 400]);
    assert_eq!(answer["items"][1]["create"]["_id"], json!("x1"));
    stack.eventually("SELECT count(*) FROM syslog WHERE severity = '7'", json!(1));
    stack.eventually("SELECT count(*) FROM syslog", json!(3));
}

#[test]
fn bulk_items_say_which_to_retry_when_no_leaf_takes_rows() {
    let mut stack = Stack::start(1);
    let (status, answer) = stack.post("/api/v1/ingest/orders", &[], b"{\"n\": 1}\n");
    assert_eq!(status, 200, "{answer}");
    stack.leaves[0].kill();
    // A document whose value can never fit its column is refused for good
    // (400); the good ones are to be sent again (429), as shippers do.
    let bulk = concat!(
        r#"{"index":{"_index":"orders"}}"#,
        "\n",
        r#"{"n": 2}"#,
        "\n",
        r#"{"index":{"_index":"orders"}}"#,
        "\n",
        r#"{"n": "two"}"#,
        "\n",
        r#"{"index":{"_index":"orders"}}"#,
        "\n",
        r#"{"n": 3}"#,
        "\n",
    );
    let (status, answer) = stack.post("/_bulk", &[], bulk.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let items = answer["items"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|item| item["index"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![429, 400, 429], "{answer}");
    assert_eq!(
        items[0]["index"]["error"]["type"],
        json!("es_rejected_execution_exception")
    );
    let reason = items[1]["index"]["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("\"n\""), "{reason}");
}

#[test]
fn bad_input_gets_a_clear_answer_and_the_server_stays_up() {
    let stack = Stack::start(1);
    let good = "{\"n\": 1, \"s\": \"a\"}\n";
    let (status, _) = stack.post("/api/v1/ingest/bad", &[], good.as_bytes());
    assert_eq!(status, 200);

    // A line that is not JSON among good ones: the others are stored.
    let mixed = format!("{good}{{oops\n{good}[1,2]\n");
    let (status, answer) = stack.post("/api/v1/ingest/bad", &[], mixed.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(answer["errors"][0]["line"], json!(2));
    assert!(
        answer["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert!(
        answer["errors"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object")
    );

    // Not JSON at all: 422, which shippers drop instead of retrying.
    let (status, answer) = stack.post(
        "/api/v1/ingest/bad",
        &[],
        b"<html>hello</html>\nplain text\n",
    );
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().contains("line 1"),
        "{answer}"
    );

    // A value whose type conflicts with its column rejects its row only.
    let (status, answer) = stack.post("/api/v1/ingest/bad", &[], b"{\"n\": \"one\"}\n{\"n\": 2}\n");
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    assert!(
        answer["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("\"n\" is integer, the value is a string"),
        "{answer}"
    );

    // Invalid UTF-8, nesting 1,000 deep, a 10 MiB line, 10,000 keys.
    let mut body = b"{\"s\": \"\xff\xfe\"}\n".to_vec();
    body.extend(format!("{}1{}\n", "{\"a\":".repeat(1000), "}".repeat(1000)).into_bytes());
    body.extend(format!("{{\"s\": \"{}\"}}\n", "x".repeat(10 << 20)).into_bytes());
    let wide: Vec<String> = (0..10_000).map(|i| format!("\"k{i}\": {i}")).collect();
    body.extend(format!("{{{}}}\n", wide.join(",")).into_bytes());
    body.extend_from_slice(good.as_bytes());
    let (status, answer) = stack.post("/api/v1/ingest/bad", &[], &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(4))
    );
    let reasons: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("UTF-8"), "{reasons:?}");
    assert!(reasons[1].contains("recursion limit"), "{reasons:?}");
    assert!(
        reasons[2].contains("over the 1048576-byte limit"),
        "{reasons:?}"
    );
    assert!(reasons[3].contains("more than 1000 columns"), "{reasons:?}");

    // A 100 MiB body, and a gzip bomb (1 GiB of zeros in about 1 MiB).
    let huge = vec![b' '; 100 << 20];
    let (status, answer) = stack.post("/api/v1/ingest/bad", &[], &huge);
    assert_eq!(status, 413, "{answer}");
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..1024 {
        bomb.write_all(&zeros).unwrap();
    }
    let (status, answer) = stack.post(
        "/api/v1/ingest/bad",
        &[("content-encoding", "gzip")],
        &bomb.finish().unwrap(),
    );
    assert_eq!(status, 413);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("decompressed body"),
        "{answer}"
    );
    let (status, answer) = stack.post("/api/v1/ingest/bad%2F..", &[], good.as_bytes());
    assert_eq!(status, 400, "{answer}");

    let (status, _, _) = http_request(stack.aggregator.http, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "the server is still up");
    stack.eventually("SELECT count(*) FROM bad", json!(5));
}

#[test]
fn an_acknowledged_table_is_in_the_catalog_at_once() {
    let stack = Stack::start(2);
    let (status, answer) = stack.post(
        "/api/v1/ingest/fresh",
        &[],
        b"{\"k\": 1}\n{\"k\": 2}\n{\"k\": 3, \"note\": \"x\"}",
    );
    assert_eq!((status, answer["accepted"].clone()), (200, json!(3)));
    // No waiting for the next status call: the leaf's acknowledgement
    // carried the table.
    let (status, _, body) = http_request(stack.aggregator.http, "GET", "/api/v1/tables", &[], b"");
    assert_eq!(status, 200);
    let tables: Value = serde_json::from_slice(&body).unwrap();
    let fresh = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fresh")
        .unwrap_or_else(|| panic!("no table \"fresh\" in {tables}"));
    assert_eq!(fresh["rows"], json!(3));
    let columns: Vec<&str> = fresh["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, vec!["time", "k", "note"]);
}

#[test]
fn a_large_request_is_stored_by_several_leaves_at_once_each_row_once() {
    let mut stack = Stack::start(3);
    let up = || {
        let (_, _, body) = http_request(stack.aggregator.http, "GET", "/api/v1/fleet", &[], b"");
        serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)["leaves_up"].clone()
    };
    for _ in 0..100 {
        if up() == json!(3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(up(), json!(3), "every leaf is up before the request");
    let ids = |range: std::ops::Range<u64>| {
        let lines: Vec<String> = range.map(|i| format!("{{\"id\": {i}}}")).collect();
        lines.join("\n")
    };
    // 30,000 rows: three pieces of 10,000, one to each leaf, at once (two
    // of 15,000 if a status call timed out on a busy machine meanwhile).
    let (code, answer) = stack.post("/api/v1/ingest/wide", &[], ids(0..30_000).as_bytes());
    assert_eq!((code, answer["accepted"].clone()), (200, json!(30_000)));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held: Vec<u64> = stack
        .leaves
        .iter()
        .map(|leaf| {
            runtime.block_on(async {
                let status = status(&mut leaf.client().await).await;
                let wide = status.tables.iter().find(|t| t.name == "wide");
                wide.map_or(0, |t| t.rows)
            })
        })
        .collect();
    assert_eq!(held.iter().sum::<u64>(), 30_000, "{held:?}");
    assert!(
        held.iter().filter(|rows| **rows > 0).count() >= 2,
        "the pieces went to several leaves: {held:?}"
    );
    assert!(held.iter().all(|rows| rows % 5_000 == 0), "{held:?}");
    stack.eventually("SELECT count(DISTINCT id) FROM wide", json!(30_000));
    stack.eventually("SELECT count(*) FROM wide", json!(30_000));

    // A leaf gone (whether or not the aggregator knows it yet): a piece
    // sent to it goes to another leaf, and every row is held once.
    stack.leaves[0].kill();
    let (code, answer) = stack.post("/api/v1/ingest/wide", &[], ids(30_000..60_000).as_bytes());
    assert_eq!((code, answer["accepted"].clone()), (200, json!(30_000)));
    let new_rows = "SELECT count(*), count(DISTINCT id) FROM wide WHERE id >= 30000";
    let answer = stack.eventually(new_rows, json!(30_000));
    assert_eq!(answer["rows"][0][1], json!(30_000), "{answer}");
}
