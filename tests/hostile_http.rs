//! Hostile requests to the aggregator's HTTP query front door: content
//! types and origins a browser on another site would use, bodies that are
//! not a query, statements that would write or change the server, out of
//! range deadlines, SQL built to exhaust a stack, oversized headers, errors
//! the query itself causes, queries past their memory limit, and functions
//! and types that would make more than the machine holds.
//!
//! Each case asserts the exact answer (HTTP status and a message naming
//! what was wrong), and after each one every process is checked: the
//! leaves are still running, and `SELECT count(*)` through the aggregator
//! answers with the expected count from every leaf.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::hostile::*;
use common::stack::Stack;
use common::*;
use serde_json::{Value, json};

/// `POST /api/v1/query` with any content type: status and JSON answer.
fn query_as(address: SocketAddr, content_type: Option<&str>, body: &[u8]) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = content_type
        .map(|t| vec![("content-type", t)])
        .unwrap_or_default();
    let (status, _, body) = http_request(address, "POST", "/api/v1/query", &headers, body);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------
// The HTTP front door: content types, origins, read-only SQL, deadlines,
// deep expressions and errors of the query
// ---------------------------------------------------------------------------

#[test]
fn http_front_door_refuses_hostile_requests_and_stays_up() {
    let stack = Stack::start(2);
    let http = stack.aggregator.http;
    let seed: String = (0..10)
        .map(|i| format!("{{\"n\": {i}, \"s\": \"seed\"}}\n"))
        .collect();
    let (status, answer) = ingest_ndjson(&stack, "hostile", seed.as_bytes());
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(10)));
    assert_alive(&stack, "seeding", "hostile", 10);
    let select = json!({"sql": "SELECT count(*) FROM hostile"}).to_string();

    // -- Content types a browser sends cross-origin without a preflight.
    for (case, content_type) in [
        ("query as text/plain", Some("text/plain")),
        ("query as a form", Some("application/x-www-form-urlencoded")),
        (
            "query as multipart",
            Some("multipart/form-data; boundary=x"),
        ),
        ("query without a content type", None),
    ] {
        assert_refused(
            case,
            query_as(http, content_type, select.as_bytes()),
            415,
            &[
                &format!("Content-Type {}", content_type.unwrap_or("none")),
                "application/json",
            ],
        );
        assert_alive(&stack, case, "hostile", 10);
    }
    let case = "ingest as text/plain";
    assert_refused(
        case,
        stack.post(
            "/api/v1/ingest/hostile",
            &[("content-type", "text/plain")],
            b"{\"n\": 99}\n",
        ),
        415,
        &["Content-Type text/plain"],
    );
    assert_alive(&stack, case, "hostile", 10);

    // -- Another origin (a web page using the browser as its proxy).
    let case = "query from another origin";
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/query",
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
        select.as_bytes(),
    );
    assert_refused(
        case,
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
        403,
        &[
            "cross-origin requests from http://evil.example",
            "--cors-origin",
        ],
    );
    assert_alive(&stack, case, "hostile", 10);

    let case = "query from origin null (a sandboxed frame)";
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/query",
        &[("content-type", "application/json"), ("origin", "null")],
        select.as_bytes(),
    );
    assert_refused(
        case,
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
        403,
        &["cross-origin requests from null"],
    );
    assert_alive(&stack, case, "hostile", 10);

    let case = "preflight from another origin";
    let (status, headers, body) = http_request(
        http,
        "OPTIONS",
        "/api/v1/query",
        &[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        b"",
    );
    assert_refused(
        case,
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
        403,
        &["http://evil.example"],
    );
    assert!(
        !headers
            .iter()
            .any(|(name, _)| name == "access-control-allow-origin"),
        "{case}: {headers:?}"
    );
    assert_alive(&stack, case, "hostile", 10);

    let case = "ingest from another origin";
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/ingest/hostile",
        &[
            ("content-type", "application/x-ndjson"),
            ("origin", "https://evil.example"),
        ],
        b"{\"n\": 99}\n",
    );
    assert_refused(
        case,
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
        403,
        &["cross-origin requests from https://evil.example"],
    );
    // The row was not stored: the count is still 10.
    assert_alive(&stack, case, "hostile", 10);

    // The same origin (the dashboard) passes.
    let own_origin = format!("http://{http}");
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/query",
        &[
            ("content-type", "application/json"),
            ("origin", own_origin.as_str()),
        ],
        select.as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // -- Bodies that are not a query request.
    for (case, body, needle) in [
        (
            "query body that is not JSON",
            &b"SELECT 1"[..],
            "the body must be JSON",
        ),
        (
            "query body whose sql is a number",
            &b"{\"sql\": 5}"[..],
            "the body must be JSON",
        ),
        (
            "query body with no statement",
            &b"{\"sql\": \"  \"}"[..],
            "holds no SQL statement",
        ),
    ] {
        assert_refused(
            case,
            query_as(http, Some("application/json"), body),
            400,
            &[needle],
        );
        assert_alive(&stack, case, "hostile", 10);
    }

    // -- Statements that would write, or change the server.
    let copied_to = unique_tmp_path("copy.csv");
    let copy = format!(
        "COPY (SELECT 'x' AS a) TO '{}' STORED AS CSV",
        copied_to.display()
    );
    let create_external =
        "CREATE EXTERNAL TABLE passwd (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'"
            .to_string();
    for (case, sql, named) in [
        ("COPY to a file", copy.as_str(), "COPY is not allowed"),
        (
            "CREATE TABLE AS",
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE",
        ),
        (
            "INSERT INTO",
            "INSERT INTO hostile (n) VALUES (42)",
            "INSERT INTO",
        ),
        ("DELETE FROM", "DELETE FROM hostile", "DELETE FROM"),
        (
            "CREATE EXTERNAL TABLE of /etc/passwd",
            create_external.as_str(),
            "CREATE EXTERNAL TABLE is not allowed",
        ),
        (
            "CREATE VIEW",
            "CREATE VIEW v AS SELECT * FROM hostile",
            "CREATE VIEW",
        ),
        (
            "EXPLAIN ANALYZE INSERT",
            "EXPLAIN ANALYZE INSERT INTO hostile (n) VALUES (1)",
            "EXPLAIN ANALYZE",
        ),
        (
            "an unsafe SET",
            "SET datafusion.execution.target_partitions = 1000000",
            "SET datafusion.execution.target_partitions is not allowed",
        ),
        (
            "an unsafe SET before a query",
            "SET datafusion.execution.batch_size = 1; SELECT count(*) FROM hostile",
            "SET datafusion.execution.batch_size is not allowed",
        ),
        (
            "a second query after the first",
            "SELECT 1; SELECT count(*) FROM hostile",
            "only SET statements may come before the query",
        ),
        (
            "a file path as a table",
            "SELECT * FROM '/etc/passwd'",
            "not found",
        ),
    ] {
        let (status, answer) = http_query(http, sql, &[]);
        assert_refused(case, (status, answer.clone()), 400, &[named]);
        assert!(
            !leaks_passwd(&answer.to_string()),
            "{case}: the answer shows /etc/passwd: {answer}"
        );
        assert_alive(&stack, case, "hostile", 10);
    }
    assert!(
        !copied_to.exists(),
        "COPY wrote {} although it was refused",
        copied_to.display()
    );

    // What a request may do still works.
    let (status, answer) = http_query(
        http,
        "SET shoal.deadline = '2s'; SELECT count(*) FROM hostile",
        &[],
    );
    assert_eq!(
        (status, &answer["rows"][0][0]),
        (200, &json!(10)),
        "{answer}"
    );
    let (status, answer) = http_query(http, "EXPLAIN SELECT count(*) FROM hostile", &[]);
    assert_eq!(status, 200, "{answer}");

    // -- Deadlines and minimum completeness that are out of range.
    for (case, header, value, needles) in [
        (
            "a deadline of 300000000000 years",
            "x-shoal-deadline",
            "300000000000y",
            &["invalid deadline \"300000000000y\""][..],
        ),
        (
            "a zero deadline",
            "x-shoal-deadline",
            "0s",
            &["invalid deadline \"0s\"", "longer than zero"][..],
        ),
        (
            "a garbage deadline",
            "x-shoal-deadline",
            "soon-ish",
            &["invalid deadline \"soon-ish\"", "e.g. 2s"][..],
        ),
        (
            "a deadline over an hour",
            "x-shoal-deadline",
            "2h",
            &["invalid deadline \"2h\"", "at most 1h"][..],
        ),
        (
            "a minimum completeness of 2",
            "x-shoal-min-completeness",
            "2",
            &["invalid minimum completeness", "between 0 and 1"][..],
        ),
        (
            "a minimum completeness of NaN",
            "x-shoal-min-completeness",
            "NaN",
            &["invalid minimum completeness", "between 0 and 1"][..],
        ),
        (
            "a minimum completeness that is not a number",
            "x-shoal-min-completeness",
            "most",
            &["invalid minimum completeness \"most\""][..],
        ),
    ] {
        assert_refused(
            case,
            http_query(http, "SELECT count(*) FROM hostile", &[(header, value)]),
            400,
            needles,
        );
        assert_alive(&stack, case, "hostile", 10);
    }
    let case = "SET shoal.deadline of a million hours";
    assert_refused(
        case,
        http_query(
            http,
            "SET shoal.deadline = '1000000h'; SELECT count(*) FROM hostile",
            &[],
        ),
        400,
        &["invalid deadline \"1000000h\"", "at most 1h"],
    );
    assert_alive(&stack, case, "hostile", 10);

    // -- SQL built to exhaust the parser's or the planner's stack.
    let case = "5,000 nested parentheses";
    let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    assert_refused(
        case,
        http_query(http, &nested, &[]),
        400,
        &["RecursionLimitExceeded"],
    );
    assert_alive(&stack, case, "hostile", 10);

    // Regression: `SELECT 1+1+...+1` with a few thousand terms used to
    // overflow the stack of a Tokio worker and abort the aggregator
    // (sqlparser reads the chain in a loop, so its recursion limit does not
    // apply, and DataFusion then clones the deep expression recursively).
    // SQL with more than 4,096 binary operators is now refused up front.
    let case = "an expression of 100,000 terms";
    let long = format!("SELECT 1{} FROM hostile", "+1".repeat(100_000));
    assert_refused(
        case,
        http_query(http, &long, &[]),
        400,
        &["the SQL holds", "operators, over the limit of 4096"],
    );
    assert_alive(&stack, case, "hostile", 10);

    // -- A header too large for the server to read.
    let case = "a 1 MiB header";
    let request = format!(
        "POST /api/v1/query HTTP/1.1\r\nhost: {http}\r\ncontent-type: application/json\r\nx-shoal-deadline: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{select}",
        "9".repeat(1 << 20),
        select.len()
    );
    let answer = raw_exchange(http, request.as_bytes());
    assert_eq!(
        answer.as_ref().map(|(status, _)| *status),
        Some(431),
        "{case}: {answer:?}"
    );
    assert_alive(&stack, case, "hostile", 10);

    // -- Errors the query itself causes. Regression: these used to answer
    // 500 "internal error", which tells clients to retry; they are the
    // request's fault, so 400, naming the error.
    for (case, sql, needle) in [
        (
            "a division by zero",
            "SELECT n / 0 FROM hostile",
            "Divide by zero",
        ),
        (
            "a string cast to an integer",
            "SELECT CAST('99999999999999999999999' AS INT) FROM hostile",
            "Cannot cast string '99999999999999999999999'",
        ),
    ] {
        assert_refused(case, http_query(http, sql, &[]), 400, &[needle]);
        assert_alive(&stack, case, "hostile", 10);
    }
}

// ---------------------------------------------------------------------------
// Query memory
// ---------------------------------------------------------------------------

/// `rows` rows whose `user` is unique across leaves and chunks.
fn unique_users(leaf: usize, chunk: usize, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("user", DataType::Utf8, false),
    ]));
    let start = 1_763_000_000_000i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values((0..rows as i64).map(|i| start + i))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values((0..rows).map(|i| {
            format!("user-{leaf}-{chunk}-{i:08}-padding-to-make-it-long")
        }))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_memory_limit_fails_alone() {
    const PER_LEAF: usize = 100_000;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| shm_tempdir()).collect();
    let leaves: Vec<LeafProcess> = dirs
        .iter()
        .map(|d| LeafProcess::start(d.path(), &[]))
        .collect();
    for (index, leaf) in leaves.iter().enumerate() {
        let mut client = leaf.client().await;
        for chunk in 0..4 {
            let batch = unique_users(index, chunk, PER_LEAF / 4);
            ingest(&mut client, "big", &[batch]).await.expect("ingest");
        }
    }
    let addresses: Vec<String> = leaves.iter().map(|l| l.address.to_string()).collect();
    let aggregator = AggregatorProcess::start(&addresses, &["--query-memory-limit", "1MiB"]);
    let stack = Stack {
        aggregator,
        leaves,
        dirs,
    };
    let total = (2 * PER_LEAF) as u64;
    stack.eventually("SELECT count(*) FROM big", json!(total));
    assert_alive(&stack, "loading", "big", total);

    for (case, sql) in [
        (
            "SELECT DISTINCT over 200,000 unique strings",
            "SELECT DISTINCT \"user\" FROM big",
        ),
        (
            "GROUP BY 200,000 unique strings",
            "SELECT \"user\", count(*) AS n FROM big GROUP BY \"user\" ORDER BY n DESC LIMIT 5",
        ),
        (
            "count(DISTINCT) over 200,000 unique strings",
            "SELECT count(DISTINCT \"user\") FROM big",
        ),
    ] {
        let (status, answer) = http_query(stack.aggregator.http, sql, &[]);
        assert_refused(
            case,
            (status, answer),
            400,
            &["the query needs more memory than its limit (--query-memory-limit)"],
        );
        // A small query right after is answered.
        assert_alive(&stack, case, "big", total);
    }
}

// ---------------------------------------------------------------------------
// Functions and types that would make more than the machine holds
// ---------------------------------------------------------------------------

/// Regression: each of these took every byte of memory (the process was
/// killed) or aborted on a failed allocation, on the aggregator when the
/// arguments are constants and on the leaves when they are columns. Each
/// now answers 400 naming the function or the type, and nothing dies.
/// Errors of the query itself that only the leaves meet (a division by
/// zero on every leaf) answer 400 too, not 503 "retry".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_and_types_past_memory_are_refused_and_nothing_dies() {
    const PER_LEAF: usize = 1_000;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| shm_tempdir()).collect();
    let leaves: Vec<LeafProcess> = dirs
        .iter()
        .map(|d| LeafProcess::start(d.path(), &[]))
        .collect();
    for (index, leaf) in leaves.iter().enumerate() {
        let mut client = leaf.client().await;
        let batch = unique_users(index, 0, PER_LEAF);
        ingest(&mut client, "users", &[batch])
            .await
            .expect("ingest");
    }
    let addresses: Vec<String> = leaves.iter().map(|l| l.address.to_string()).collect();
    let aggregator = AggregatorProcess::start(&addresses, &[]);
    let stack = Stack {
        aggregator,
        leaves,
        dirs,
    };
    let total = (2 * PER_LEAF) as u64;
    stack.eventually("SELECT count(*) FROM users", json!(total));
    let call_limit = &["the limit of 256 MiB a call"][..];
    let constant_limit = &["over the limit of 16384"][..];
    for (sql, needles) in [
        // Constants: the aggregator's optimizer evaluates these.
        (
            "SELECT repeat('x', 2147483647)",
            &["repeat of constants would make a constant of about 2147483647 bytes"][..],
        ),
        (
            "SELECT length(lpad('x', 2000000000))",
            &["lpad of constants would make a constant of about"][..],
        ),
        (
            "SELECT cardinality(range(1, 9000000000000))",
            &["range of constants would make a constant of about"][..],
        ),
        (
            "SELECT cardinality(array_repeat(1, 9000000000))",
            &["array_repeat of constants would make a constant of about"][..],
        ),
        (
            "SELECT arrow_cast(NULL, 'FixedSizeList(100000000, FixedSizeList(100000000, Int64))')",
            &[
                "arrow_cast: one value of type FixedSizeList(100000000",
                "over the limit of 65536",
            ][..],
        ),
        (
            "SELECT 1 FROM users WHERE CAST(NULL AS INT[100000000]) IS NULL",
            &["one value of type FixedSizeList(100000000 x Int32) takes 400000000 bytes"][..],
        ),
        (
            "SELECT cardinality(generate_series(TIMESTAMP '2001-02-04', TIMESTAMP '2001-02-05', INTERVAL '1 month -28 days'))",
            &["mixes signs"][..],
        ),
        // A constant is copied to every row of a batch: `concat` with a
        // folded 10 MB one would make 10 MB x 65,536 rows on each leaf.
        (
            "SELECT count(*) FROM users WHERE length(concat(\"user\", repeat('x', 10000000))) > 0",
            &["a constant of", "over the limit of 16384"][..],
        ),
        // `||` of two fixed-size binaries is as wide as both: no cast
        // names the type.
        (
            "SELECT count(*) FROM users WHERE (arrow_cast(arrow_cast(\"user\", 'Binary'), 'FixedSizeBinary(40000)') \
             || arrow_cast(arrow_cast(\"user\", 'Binary'), 'FixedSizeBinary(40000)')) IS NULL",
            &["one value of type FixedSizeBinary(80000)"][..],
        ),
        // Columns: every leaf refuses, so the query fails as a bad one.
        (
            "SELECT max(length(repeat(\"user\", 10000000))) FROM users",
            &["repeat would make about 391 MiB for one row"][..],
        ),
        (
            "SELECT count(*) FROM users WHERE cardinality(generate_series(0, length(\"user\") * 100000000)) > 0",
            &["generate_series would make about"][..],
        ),
        (
            "SELECT count(*) FROM users WHERE length(\"user\") / (length(\"user\") - length(\"user\")) > 0",
            &["Divide by zero"][..],
        ),
    ] {
        let answer = http_query(stack.aggregator.http, sql, &[]);
        let mut all = needles.to_vec();
        if all[0].contains("of constants") {
            all.extend(constant_limit);
        } else if all[0].contains("would make") || all[0].contains("made more") {
            all.extend(call_limit);
        }
        assert_refused(sql, answer, 400, &all);
        assert_alive(&stack, sql, "users", total);
    }
    // Within the limits, the same functions answer.
    let (status, answer) = http_query(
        stack.aggregator.http,
        "SELECT sum(length(repeat(\"user\", 3))) AS n, max(cardinality(range(0, length(\"user\")))) AS r, \
         sum(length(replace(\"user\", 'zzz', repeat(\"user\", 500)))) AS s FROM users",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    let each = "user-0-0-00000000-padding-to-make-it-long".len() as u64;
    // The `replace` could make 287 KB a row, 287 MB a call: it runs on
    // slices, and replaces nothing.
    assert_eq!(
        answer["rows"][0],
        json!([3 * each * total, each, each * total]),
        "{answer}"
    );
}
