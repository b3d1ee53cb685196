//! Hostile ingest through the aggregator's HTTP front end: rows built to
//! break the NDJSON path (empty or oversized keys, deep nesting, times out
//! of range, invalid UTF-8, too many columns), bodies refused whole (not
//! JSON, bad or bomb compression, a length of 100 GB, a body that never
//! arrives), table names that are paths, and malformed `_bulk` and OTLP
//! requests (among them a record prost refuses beside a good one).
//!
//! A bad row is rejected alone, by line, and the rows around it are kept;
//! a bad body is refused with the exact status and a message naming what
//! was wrong. After each case every process is checked: the leaves are
//! still running, and `SELECT count(*)` through the aggregator answers with
//! exactly the rows stored so far, from every leaf.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::hostile::*;
use common::*;
use serde_json::{Value, json};

/// A body of a good row, the hostile `line`, and a good row: the middle
/// row (line 2) must be rejected alone.
fn sandwich(line: &[u8]) -> Vec<u8> {
    let mut body = b"{\"n\": 1, \"s\": \"before\"}\n".to_vec();
    body.extend_from_slice(line);
    body.extend_from_slice(b"\n{\"n\": 3, \"s\": \"after\"}\n");
    body
}

/// Asserts that an ingest answer took lines 1 and 3 and rejected line 2
/// with a reason holding `reason`.
fn assert_middle_row_rejected(case: &str, answer: (u16, Value), reason: &str) {
    let (status, body) = answer;
    assert_eq!(status, 200, "{case}: {body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{case}: {body}"
    );
    assert_eq!(body["errors"][0]["line"], json!(2), "{case}: {body}");
    let got = body["errors"][0]["reason"].as_str().unwrap_or_default();
    assert!(got.contains(reason), "{case}: {reason:?} is not in {got:?}");
}

// ---------------------------------------------------------------------------
// Ingest: rows, bodies and table names built to break it
// ---------------------------------------------------------------------------

#[test]
fn ingest_rejects_hostile_rows_and_bodies_and_keeps_the_rest() {
    // Bodies that never arrive are given up on after a second.
    let stack = stack_with(2, &["--body-timeout", "1s"]);
    let http = stack.aggregator.http;
    let (status, answer) = ingest_ndjson(&stack, "rows", b"{\"n\": 0, \"s\": \"seed\"}\n");
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    let mut stored = 1;
    assert_alive(&stack, "seeding", "rows", stored);

    // -- One bad row among good ones: that row only is rejected, by line.
    let long_name = format!("{{\"{}\": 1}}", "k".repeat(300));
    let deep = format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000));
    let wide: Vec<String> = (0..1_001).map(|i| format!("\"c{i}\": {i}")).collect();
    let wide = format!("{{{}}}", wide.join(","));
    let cases: [(&str, Vec<u8>, &str); 8] = [
        (
            "an empty key",
            b"{\"\": 1}".to_vec(),
            "a field has an empty name",
        ),
        (
            "a nested empty key",
            b"{\"a\": {\"\": 1}}".to_vec(),
            "a field inside \"a\" has an empty name",
        ),
        (
            "a time of 1e22",
            b"{\"time\": 1e22}".to_vec(),
            "outside the times Shoal stores",
        ),
        (
            "a time of -1e22",
            b"{\"time\": -1e22}".to_vec(),
            "outside the times Shoal stores",
        ),
        (
            "a field name of 300 bytes",
            long_name.into_bytes(),
            "field name of 300 bytes is over the 256-byte limit",
        ),
        ("nesting 1,000 deep", deep.into_bytes(), "recursion limit"),
        (
            "invalid UTF-8",
            b"{\"s\": \"\xff\xfe\"}".to_vec(),
            "invalid UTF-8 at byte",
        ),
        ("1,001 columns", wide.into_bytes(), "more than 1000 columns"),
    ];
    for (case, line, reason) in cases {
        assert_middle_row_rejected(
            case,
            ingest_ndjson(&stack, "rows", &sandwich(&line)),
            reason,
        );
        stored += 2;
        assert_alive(&stack, case, "rows", stored);
    }

    // -- Bodies refused whole.
    let case = "a body that is not JSON at all";
    assert_refused(
        case,
        ingest_ndjson(&stack, "rows", b"<html>hello</html>\nplain text\n"),
        422,
        &["the body is not JSON", "line 1"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "a broken JSON array";
    assert_refused(
        case,
        stack.post(
            "/api/v1/ingest/rows",
            &[("content-type", "application/json")],
            b"[{\"n\": 1}, {\"n\": 2",
        ),
        422,
        &["the body starts like a JSON array but is not one"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "an unknown Content-Encoding";
    assert_refused(
        case,
        stack.post(
            "/api/v1/ingest/rows",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-encoding", "br"),
            ],
            b"{\"n\": 1}\n",
        ),
        400,
        &["Content-Encoding \"br\" is not supported"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "a gzip body that is not gzip";
    assert_refused(
        case,
        stack.post(
            "/api/v1/ingest/rows",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-encoding", "gzip"),
            ],
            b"{\"n\": 1}\n",
        ),
        400,
        &["the gzip body could not be decompressed"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "a gzip bomb (100 MiB of zeros, over the 64 MiB limit)";
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
    assert_refused(
        case,
        stack.post(
            "/api/v1/ingest/rows",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-encoding", "gzip"),
            ],
            &bomb,
        ),
        413,
        &["the decompressed body is over the 67108864-byte limit"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "a declared length of 100 GB";
    let request = format!(
        "POST /api/v1/ingest/rows HTTP/1.1\r\nhost: {http}\r\ncontent-type: application/x-ndjson\r\ncontent-length: 100000000000\r\nconnection: close\r\n\r\n{{\"n\": 1}}\n"
    );
    let answer = raw_exchange(http, request.as_bytes()).expect("an answer");
    assert_refused(
        case,
        (answer.0, raw_json(&answer.1)),
        413,
        &["the body is over the 67108864-byte limit"],
    );
    assert_alive(&stack, case, "rows", stored);

    // -- Table names that are paths.
    for (case, path, needle) in [
        ("table ..", "/api/v1/ingest/..", "starts with a dot"),
        (
            "table a%2F..%2F..%2Fetc",
            "/api/v1/ingest/a%2F..%2F..%2Fetc",
            "only letters, digits",
        ),
        (
            "table %2Fetc%2Fpasswd",
            "/api/v1/ingest/%2Fetc%2Fpasswd",
            "only letters, digits",
        ),
        (
            "a table name of 200 bytes",
            &format!("/api/v1/ingest/{}", "t".repeat(200)),
            "longer than 128 bytes",
        ),
    ] {
        assert_refused(
            case,
            stack.post(
                path,
                &[("content-type", "application/x-ndjson")],
                b"{\"n\": 1}\n",
            ),
            400,
            &[needle],
        );
        assert_alive(&stack, case, "rows", stored);
    }

    // -- A body declared but never sent (it holds room in the buffer).
    let case = "a body that never arrives";
    let mut stream = std::net::TcpStream::connect(http).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(
            format!(
                "POST /api/v1/ingest/rows HTTP/1.1\r\nhost: {http}\r\ncontent-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n{{\"n\": 1}}\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).to_string();
    let status: Option<u16> = response
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    assert_eq!(status, Some(408), "{case}: {response}");
    assert!(
        raw_json(&response)["error"]
            .as_str()
            .is_some_and(|e| e.contains("--body-timeout")),
        "{case}: {response}"
    );
    drop(stream);
    // The room it held is free again: a normal ingest succeeds.
    let (status, answer) = ingest_ndjson(&stack, "rows", b"{\"n\": 5, \"s\": \"later\"}\n");
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    stored += 1;
    assert_alive(&stack, case, "rows", stored);

    // -- The Elasticsearch bulk API and OTLP.
    let case = "_bulk with a malformed action line";
    let bulk = concat!(
        "{\"index\":{\"_index\":\"rows\"}}\n",
        "{\"n\": 7}\n",
        "{\"index\": \n",
        "{\"n\": 8}\n",
    );
    assert_refused(
        case,
        stack.post(
            "/_bulk",
            &[("content-type", "application/x-ndjson")],
            bulk.as_bytes(),
        ),
        400,
        &["bad action line"],
    );
    // Nothing of a refused bulk request is stored.
    assert_alive(&stack, case, "rows", stored);

    let case = "_bulk whose action line is not an object";
    assert_refused(
        case,
        stack.post(
            "/_bulk",
            &[("content-type", "application/x-ndjson")],
            b"[\"index\"]\n{\"n\": 9}\n",
        ),
        400,
        &["an action line must be an object"],
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "OTLP logs with garbage protobuf";
    let (status, _, body) = http_request(
        http,
        "POST",
        "/v1/logs",
        &[("content-type", "application/x-protobuf")],
        b"\x0f\xff\xff\xff\xff\xff\x00garbage",
    );
    assert_eq!(status, 400, "{case}: {}", String::from_utf8_lossy(&body));
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("the body is not an ExportLogsServiceRequest in protobuf"),
        "{case}: {text}"
    );
    assert_alive(&stack, case, "rows", stored);

    // A record prost refuses after a good one, in an export read in place
    // down to its records: refused whole, nothing of it stored.
    let case = "OTLP record prost refuses";
    let body = otlp_export(&[otlp_record("kept?"), otlp_broken_record()]);
    let headers = [
        ("content-type", "application/x-protobuf"),
        ("x-shoal-table", "rows"),
    ];
    let (status, _, answer) = http_request(http, "POST", "/v1/logs", &headers, &body);
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status, 400, "{case}: {text}");
    assert!(
        text.contains("the body is not an ExportLogsServiceRequest in protobuf"),
        "{case}: {text}"
    );
    assert_alive(&stack, case, "rows", stored);

    let case = "OTLP logs with garbage JSON";
    let (status, _, body) = http_request(
        http,
        "POST",
        "/v1/logs",
        &[("content-type", "application/json")],
        b"{\"resourceLogs\": 7}",
    );
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(status, 400, "{case}: {answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("the body is not an ExportLogsServiceRequest in OTLP JSON")),
        "{case}: {answer}"
    );
    assert_alive(&stack, case, "rows", stored);
}
