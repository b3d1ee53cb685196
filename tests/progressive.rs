//! Progressive answers (`"progressive": true` on `POST /api/v1/query`)
//! from an aggregator over real leaf processes: a first answer from the
//! leaves that answered while one is stopped, the final one at the
//! deadline; the final line equal to the plain answer; errors as before.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LEAVES: usize = 3;

/// Rows leaf `leaf` holds: different per leaf, so counts tell leaves apart.
fn leaf_rows(leaf: usize) -> usize {
    1_000 * (leaf + 1)
}

/// Leaves with their rows and an aggregator over them whose own deadline
/// is far off (the queries give theirs). Fields drop in order: processes
/// first, then the leaves' directories.
struct Fleet {
    aggregator: AggregatorProcess,
    leaves: Vec<LeafProcess>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    async fn start() -> Self {
        let mut dirs = Vec::new();
        let mut leaves = Vec::new();
        for leaf in 0..LEAVES {
            let dir = shm_tempdir();
            let process = LeafProcess::start(dir.path(), &[]);
            ingest(
                &mut process.client().await,
                "events",
                &[fanout_rows(leaf, leaf_rows(leaf))],
            )
            .await
            .unwrap();
            dirs.push(dir);
            leaves.push(process);
        }
        let addresses: Vec<String> = leaves.iter().map(|l| l.address.to_string()).collect();
        let aggregator = AggregatorProcess::start(&addresses, &["--deadline", "120s"]);
        let total: usize = (0..LEAVES).map(leaf_rows).sum();
        for _ in 0..100 {
            let (_, answer) = http_query(aggregator.http, "SELECT count(*) FROM events", &[]);
            if answer["rows"][0][0].as_u64() == Some(total as u64) {
                return Self {
                    aggregator,
                    leaves,
                    _dirs: dirs,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the aggregator never saw {total} rows");
    }
}

/// What a progressive request got: status, headers, and each complete
/// line with when it was read (from just before the request was sent).
struct Streamed {
    status: u16,
    headers: Vec<(String, String)>,
    lines: Vec<(Duration, Value)>,
    /// The whole body, for an answer that is not NDJSON (an error).
    body: Vec<u8>,
}

impl Streamed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `POST /api/v1/query` with `"progressive": true`, reading the answer
/// as it arrives (HTTP/1.1, chunked or not).
fn progressive_query(address: SocketAddr, sql: &str, headers: &[(&str, &str)]) -> Streamed {
    let body = json!({ "sql": sql, "progressive": true }).to_string();
    let mut request = format!(
        "POST /api/v1/query HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("read timeout");
    let started = Instant::now();
    stream.write_all(request.as_bytes()).expect("write");

    let mut raw = Vec::new();
    let mut head: Option<Head> = None;
    let mut lines = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = stream.read(&mut buffer).expect("read");
        if read == 0 {
            break;
        }
        let now = started.elapsed();
        raw.extend_from_slice(&buffer[..read]);
        if head.is_none() {
            head = parse_head(&raw);
        }
        let Some((_, headers, body_start)) = &head else {
            continue;
        };
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let body = match chunked {
            true => complete_chunks(&raw[*body_start..]),
            false => raw[*body_start..].to_vec(),
        };
        let complete: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
        // The last piece is what follows the last newline: not a line yet.
        for line in &complete[lines.len()..complete.len() - 1] {
            match serde_json::from_slice::<Value>(line) {
                Ok(value) => lines.push((now, value)),
                Err(_) => break,
            }
        }
    }
    let (status, headers, body_start) = head.expect("an HTTP answer");
    let body = raw[body_start..].to_vec();
    Streamed {
        status,
        headers,
        lines,
        body,
    }
}

/// An answer's status, headers (lower-case names) and where its body
/// starts.
type Head = (u16, Vec<(String, String)>, usize);

/// The answer's head, once it is complete.
fn parse_head(raw: &[u8]) -> Option<Head> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, split + 4))
}

/// The data of the chunks complete so far.
fn complete_chunks(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return data;
        };
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size_text = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap();
        if size == 0 || body.len() < line_end + 2 + size + 2 {
            return data;
        }
        data.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

fn completeness(answer: &Value) -> (u64, u64, f64) {
    let c = &answer["completeness"];
    (
        c["leaves_queried"].as_u64().unwrap(),
        c["leaves_answered"].as_u64().unwrap(),
        c["rows_ratio"].as_f64().unwrap(),
    )
}

/// Checks the lines' common shape: numbered from 0, only the last final.
fn check_sequence(streamed: &Streamed) {
    assert!(!streamed.lines.is_empty(), "no line");
    for (index, (_, line)) in streamed.lines.iter().enumerate() {
        assert_eq!(line["sequence"], json!(index), "{line}");
        let is_last = index + 1 == streamed.lines.len();
        assert_eq!(line["final"], json!(is_last), "{line}");
    }
}

/// `answer` without what differs between two runs of one query.
fn comparable(answer: &Value) -> Value {
    let mut answer = answer.clone();
    let object = answer.as_object_mut().unwrap();
    for varying in ["elapsed_ms", "query_id", "final", "sequence"] {
        object.remove(varying);
    }
    answer
}

/// `(leaf, n)` rows of an answer grouped by leaf, checked to be whole
/// leaves: each leaf's count is all its rows.
fn leaves_in(answer: &Value) -> Vec<usize> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let leaf: usize = row[0]
                .as_str()
                .unwrap()
                .strip_prefix("leaf-")
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(row[1].as_u64(), Some(leaf_rows(leaf) as u64), "{answer}");
            leaf
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leaf_gets_a_first_answer_before_the_deadline_and_the_final_one_at_it() {
    let fleet = Fleet::start().await;
    let stopped = LEAVES - 1;
    let sql = "SELECT leaf, count(*) AS n FROM events GROUP BY leaf ORDER BY leaf";
    // 3 s leaves the healthy leaves time on a busy machine.
    let deadline = Duration::from_secs(3);

    stop_process(fleet.leaves[stopped].pid());
    let streamed = progressive_query(fleet.aggregator.http, sql, &[("x-shoal-deadline", "3s")]);
    // Top rows: the answered leaves' sorted answers, merged.
    let top = progressive_query(
        fleet.aggregator.http,
        "SELECT leaf, latency_ms FROM events ORDER BY latency_ms DESC, leaf LIMIT 4",
        &[("x-shoal-deadline", "3s")],
    );
    // Below its minimum no intermediate answer is sent, and the final one
    // fails as without "progressive": the error is the HTTP answer.
    let refused = progressive_query(
        fleet.aggregator.http,
        sql,
        &[
            ("x-shoal-deadline", "3s"),
            ("x-shoal-min-completeness", "0.9"),
        ],
    );
    signal(fleet.leaves[stopped].pid(), libc::SIGCONT);

    assert_eq!(streamed.status, 200, "{:?}", streamed.body);
    assert_eq!(
        streamed.header("content-type"),
        Some("application/x-ndjson")
    );
    check_sequence(&streamed);
    assert!(
        streamed.lines.len() >= 2,
        "an intermediate answer and the final one: {:?}",
        streamed.lines
    );
    let (first_at, first) = &streamed.lines[0];
    let (final_at, last) = streamed.lines.last().unwrap();
    eprintln!(
        "first answer after {first_at:?}, final after {final_at:?}, {} lines",
        streamed.lines.len()
    );
    // Arrival order around the deadline, not a speed: the first answer
    // needs only the healthy leaves; the final one waits for the stopped
    // leaf until the deadline (counted by the server from a moment after
    // the request was sent).
    assert!(
        *first_at < deadline,
        "first answer after {first_at:?}: {first}"
    );
    assert!(*final_at >= deadline, "final answer after {final_at:?}");

    // The first answer: the leaves that had answered, each whole.
    let (queried, answered, rows_ratio) = completeness(first);
    assert_eq!(queried, LEAVES as u64, "{first}");
    assert!((1..LEAVES as u64).contains(&answered), "{first}");
    let first_leaves = leaves_in(first);
    assert_eq!(first_leaves.len() as u64, answered, "{first}");
    assert!(!first_leaves.contains(&stopped), "{first}");
    let total: usize = (0..LEAVES).map(leaf_rows).sum();
    let first_rows: usize = first_leaves.iter().map(|&l| leaf_rows(l)).sum();
    assert!(
        (rows_ratio - first_rows as f64 / total as f64).abs() < 1e-9,
        "{first}"
    );

    // The final answer: every leaf but the stopped one.
    let (queried, answered, rows_ratio) = completeness(last);
    assert_eq!((queried, answered), (LEAVES as u64, LEAVES as u64 - 1));
    assert_eq!(leaves_in(last), (0..stopped).collect::<Vec<_>>());
    let answered_rows = total - leaf_rows(stopped);
    assert!((rows_ratio - answered_rows as f64 / total as f64).abs() < 1e-9);
    // Answers only improve.
    for pair in streamed.lines.windows(2) {
        assert!(completeness(&pair[0].1).1 <= completeness(&pair[1].1).1);
    }

    assert_eq!(top.status, 200, "{:?}", top.body);
    check_sequence(&top);
    assert!(top.lines.len() >= 2, "{:?}", top.lines);
    for (_, answer) in &top.lines {
        let rows = answer["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 4, "{answer}");
        let leaf = &rows[0][0];
        assert_ne!(leaf, &json!(format!("leaf-{stopped}")), "{answer}");
        for row in rows {
            assert_eq!((&row[0], row[1].as_f64()), (leaf, Some(99.0)), "{answer}");
        }
    }
    let (_, top_final) = top.lines.last().unwrap();
    assert_eq!(top_final["rows"][0][0], json!("leaf-0"), "{top_final}");

    assert_eq!(refused.status, 503, "{:?}", refused.lines);
    let error: Value = serde_json::from_slice(&refused.body).expect("JSON error");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("below the minimum"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_leaf_up_the_last_line_is_the_plain_answer() {
    let fleet = Fleet::start().await;
    let queries = [
        (
            "SELECT service, count(*) AS n, avg(latency_ms) AS mean FROM events GROUP BY service ORDER BY service",
            LEAVES,
        ),
        (
            "SELECT date_trunc('second', time) AS bucket, count(*) AS n FROM events GROUP BY bucket ORDER BY bucket",
            LEAVES,
        ),
        (
            "SELECT leaf, latency_ms FROM events ORDER BY latency_ms DESC, leaf LIMIT 5",
            LEAVES,
        ),
        // No leaf to wait for: the final line only.
        ("SELECT 1 AS one", 0),
    ];
    for (sql, leaves) in queries {
        let (status, plain) = http_query(fleet.aggregator.http, sql, &[]);
        assert_eq!(status, 200, "{plain}");
        let streamed = progressive_query(fleet.aggregator.http, sql, &[]);
        assert_eq!(streamed.status, 200, "{:?}", streamed.body);
        check_sequence(&streamed);
        let (_, last) = streamed.lines.last().unwrap();
        assert_eq!(comparable(last), comparable(&plain), "{sql}");
        assert_eq!(completeness(last).1, leaves as u64, "{last}");
        for (_, earlier) in &streamed.lines[..streamed.lines.len() - 1] {
            assert!(completeness(earlier).1 < leaves as u64, "{earlier}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_the_first_line_answer_as_without_progressive() {
    let fleet = Fleet::start().await;
    for (sql, status) in [
        ("SELEC count(*) FROM events", 400),
        ("SELECT no_such_column FROM events", 400),
        ("SELECT count(*) FROM no_such_table", 400),
    ] {
        let (plain_status, plain) = http_query(fleet.aggregator.http, sql, &[]);
        let streamed = progressive_query(fleet.aggregator.http, sql, &[]);
        assert_eq!((plain_status, streamed.status), (status, status), "{sql}");
        let error: Value = serde_json::from_slice(&streamed.body).expect("JSON error");
        assert_eq!(error["error"], plain["error"], "{sql}");
    }
}
