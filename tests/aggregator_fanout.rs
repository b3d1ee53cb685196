//! An aggregator over real leaf processes: answers and completeness when
//! leaves die or hang, minimum completeness, a two-tier tree, bad SQL.

mod common;

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow_flight::Ticket;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo};
use common::*;
use futures::TryStreamExt;
use prost::Message;
use serde_json::Value;

/// The sum of the `n` column (the second) of an HTTP answer's rows.
fn counted(answer: &Value) -> usize {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap() as usize)
        .sum()
}

/// Rows leaf i holds: different per leaf, so the rows ratio tells leaves apart.
fn leaf_rows(leaf: usize) -> usize {
    1_000 * (leaf + 1)
}

/// Fields drop in order: leaves first, then their directories.
struct Cluster {
    leaves: Vec<LeafProcess>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(count: usize) -> Self {
        let mut dirs = Vec::new();
        let mut leaves = Vec::new();
        for leaf in 0..count {
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
        Self {
            _dirs: dirs,
            leaves,
        }
    }

    fn addresses(&self, range: std::ops::Range<usize>) -> Vec<String> {
        self.leaves[range]
            .iter()
            .map(|l| l.address.to_string())
            .collect()
    }
}

fn total_rows(count: usize) -> usize {
    (0..count).map(leaf_rows).sum()
}

fn completeness(answer: &Value) -> (u64, u64, f64, f64) {
    let c = &answer["completeness"];
    (
        c["leaves_queried"].as_u64().unwrap(),
        c["leaves_answered"].as_u64().unwrap(),
        c["ratio"].as_f64().unwrap(),
        c["rows_ratio"].as_f64().unwrap(),
    )
}

/// What a Flight SQL client sees: rows, FlightInfo app_metadata, DoGet
/// headers, app_metadata of the last message, and trailers.
struct FlightAnswer {
    rows: usize,
    info_metadata: Value,
    header_queried: String,
    last_message_metadata: Value,
    trailer_answered: String,
    trailer_rows_ratio: f64,
}

async fn flight_sql_query(endpoint: &str, sql: &str) -> Result<FlightAnswer, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightServiceClient::new(channel);
    let command = CommandStatementQuery {
        query: sql.to_string(),
        transaction_id: None,
    };
    let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
    let info: FlightInfo = client.get_flight_info(descriptor).await?.into_inner();
    let info_metadata: Value = serde_json::from_slice(&info.app_metadata).unwrap();
    let ticket: Ticket = info.endpoint[0].ticket.clone().unwrap();
    let response = client.do_get(ticket).await?;
    let header_queried = response
        .metadata()
        .get("x-shoal-leaves-queried")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        messages.push(message);
    }
    let trailers = stream.trailers().await?.expect("trailers");
    let last_message_metadata: Value =
        serde_json::from_slice(&messages.last().unwrap().app_metadata).unwrap();
    let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
        futures::stream::iter(messages.into_iter().map(Ok)),
    )
    .try_collect()
    .await
    .unwrap();
    Ok(FlightAnswer {
        rows: batches.iter().map(|b| b.num_rows()).sum(),
        info_metadata,
        header_queried,
        last_message_metadata,
        trailer_answered: trailers
            .get("x-shoal-leaves-answered")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string(),
        trailer_rows_ratio: trailers
            .get("x-shoal-rows-ratio")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap(),
    })
}

/// Waits until the aggregator's catalog shows `rows` rows of `events`.
fn wait_for_rows(aggregator: &AggregatorProcess, rows: usize) {
    for _ in 0..100 {
        let (_, answer) = http_query(aggregator.http, "SELECT count(*) AS n FROM events", &[]);
        if answer["rows"][0][0].as_u64() == Some(rows as u64) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the aggregator never saw {rows} rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leaf_is_left_out_and_the_answer_says_so() {
    let mut cluster = Cluster::start(4).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..4), &[]);
    wait_for_rows(&aggregator, total_rows(4));

    let sql = "SELECT service, count(*) AS n, avg(latency_ms) AS avg_ms FROM events GROUP BY service ORDER BY service";
    let (status, answer) = http_query(aggregator.http, sql, &[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(completeness(&answer), (4, 4, 1.0, 1.0));
    assert_eq!(counted(&answer), total_rows(4));
    assert_eq!(
        answer["columns"],
        serde_json::json!(["service", "n", "avg_ms"])
    );

    cluster.leaves[1].kill();
    let expected_rows_ratio = (total_rows(4) - leaf_rows(1)) as f64 / total_rows(4) as f64;
    let (status, answer) = http_query(aggregator.http, sql, &[]);
    assert_eq!(status, 200, "{answer}");
    let (queried, answered, ratio, rows_ratio) = completeness(&answer);
    assert_eq!((queried, answered, ratio), (4, 3, 0.75));
    assert!(
        (rows_ratio - expected_rows_ratio).abs() < 1e-9,
        "{rows_ratio} vs {expected_rows_ratio}"
    );
    assert_eq!(counted(&answer), total_rows(4) - leaf_rows(1));

    let flight = flight_sql_query(&aggregator.flight_endpoint(), sql)
        .await
        .unwrap();
    assert_eq!(flight.rows, 3);
    assert_eq!(flight.info_metadata["leaves_answered"], 3);
    assert_eq!(flight.info_metadata["ratio"], 0.75);
    assert_eq!(flight.header_queried, "4");
    assert_eq!(flight.last_message_metadata["leaves_queried"], 4);
    assert_eq!(flight.trailer_answered, "3");
    assert!((flight.trailer_rows_ratio - expected_rows_ratio).abs() < 1e-5);

    // A minimum above what is available fails and says what was reached.
    let (status, answer) = http_query(aggregator.http, sql, &[("x-shoal-min-completeness", "0.9")]);
    assert_eq!(status, 503);
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("0.750") && message.contains("0.900") && message.contains("3 of 4"),
        "{message}"
    );
    let (status, answer) = http_query(
        aggregator.http,
        &format!("SET shoal.min_completeness = 0.8; {sql}"),
        &[],
    );
    assert_eq!(status, 503, "{answer}");
    let refused = flight_sql_query(
        &aggregator.flight_endpoint(),
        &format!("SET shoal.min_completeness = 0.8; {sql}"),
    )
    .await
    .err()
    .expect("below the minimum over Flight SQL");
    assert!(
        refused.message().contains("below the minimum"),
        "{}",
        refused.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leaf_is_cut_off_at_the_deadline() {
    let cluster = Cluster::start(4).await;
    // The default deadline is far off; the query's own 3 s cut the stopped
    // leaf off (3 s leaves the healthy ones time on a busy machine).
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..4), &["--deadline", "120s"]);
    wait_for_rows(&aggregator, total_rows(4));

    stop_process(cluster.leaves[2].pid());
    let started = Instant::now();
    let (status, answer) = http_query(
        aggregator.http,
        "SELECT count(*) AS n FROM events",
        &[("x-shoal-deadline", "3s")],
    );
    let elapsed = started.elapsed();
    let from_set = Instant::now();
    let (status_set, answer_set) = http_query(
        aggregator.http,
        "SET shoal.deadline = '3s'; SELECT count(*) AS n FROM events",
        &[],
    );
    let elapsed_set = from_set.elapsed();
    signal(cluster.leaves[2].pid(), libc::SIGCONT);

    assert_eq!(status, 200, "{answer}");
    assert_eq!(status_set, 200, "{answer_set}");
    for answer in [&answer, &answer_set] {
        let (queried, answered, ratio, rows_ratio) = completeness(answer);
        assert_eq!((queried, answered, ratio), (4, 3, 0.75));
        let expected = (total_rows(4) - leaf_rows(2)) as f64 / total_rows(4) as f64;
        assert!((rows_ratio - expected).abs() < 1e-9);
        assert_eq!(
            answer["rows"][0][0].as_u64().unwrap() as usize,
            total_rows(4) - leaf_rows(2)
        );
    }
    // Not a timing benchmark: the aggregator's deadline is 120 s, so an
    // answer in well under that shows the 3 s deadline cut the leaf off.
    assert!(elapsed < Duration::from_secs(60) && elapsed_set < Duration::from_secs(60));
    eprintln!(
        "3 s deadline with a stopped leaf answered in {elapsed:?} (header) and {elapsed_set:?} (SET)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_tier_tree_answers_like_a_flat_fan_out() {
    let mut cluster = Cluster::start(4).await;
    let flat = AggregatorProcess::start(&cluster.addresses(0..4), &[]);
    let left = AggregatorProcess::start(&cluster.addresses(0..2), &[]);
    let right = AggregatorProcess::start(&cluster.addresses(2..4), &[]);
    let root = AggregatorProcess::start(&[left.flight.to_string(), right.flight.to_string()], &[]);
    wait_for_rows(&flat, total_rows(4));
    wait_for_rows(&root, total_rows(4));

    let queries = [
        "SELECT service, count(*) AS n, avg(latency_ms) AS a, min(latency_ms) AS lo, max(leaf) AS l FROM events GROUP BY service ORDER BY service",
        "SELECT count(*) AS n, approx_percentile_cont(latency_ms, 0.5) AS p50 FROM events WHERE service = 'svc-1'",
        "SELECT leaf, latency_ms FROM events WHERE latency_ms >= 98 ORDER BY leaf DESC, latency_ms DESC LIMIT 5",
        "SELECT time, leaf FROM events WHERE time < to_timestamp_millis(1763000000003) ORDER BY time, leaf",
    ];
    for sql in queries {
        let (status, expected) = http_query(flat.http, sql, &[]);
        assert_eq!(status, 200, "{expected}");
        let (status, tree) = http_query(root.http, sql, &[]);
        assert_eq!(status, 200, "{tree}");
        assert_eq!(tree["rows"], expected["rows"], "{sql}");
        assert_eq!(completeness(&tree), (4, 4, 1.0, 1.0), "{sql}");
    }

    cluster.leaves[3].kill();
    let sql = "SELECT count(*) AS n FROM events";
    let (_, flat_answer) = http_query(flat.http, sql, &[]);
    let (_, tree_answer) = http_query(root.http, sql, &[]);
    assert_eq!(tree_answer["rows"], flat_answer["rows"]);
    assert_eq!(completeness(&tree_answer), completeness(&flat_answer));
    assert_eq!(completeness(&tree_answer).1, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sql_gets_its_position_and_an_unknown_table_its_name() {
    let cluster = Cluster::start(1).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..1), &[]);
    wait_for_rows(&aggregator, total_rows(1));

    let (status, answer) = http_query(
        aggregator.http,
        "SELECT count(*) FROM events WHERE status = = 1",
        &[],
    );
    assert_eq!(status, 400);
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("Line: 1, Column: 44"), "{message}");
    let (status, answer) = http_query(aggregator.http, "SELECT count(*) FROM events WHERE", &[]);
    assert_eq!(status, 400);
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("end of the SQL, Line: 1, Column: 34"),
        "{message}"
    );

    let (status, answer) = http_query(aggregator.http, "SELECT * FROM no_such_table", &[]);
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("no_such_table"),
        "{answer}"
    );

    let (status, _, body) = http_request(
        aggregator.http,
        "POST",
        "/api/v1/query",
        &[("content-type", "application/json")],
        b"not json",
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("must be JSON"));

    let refused = flight_sql_query(&aggregator.flight_endpoint(), "SELEC 1")
        .await
        .err()
        .expect("bad SQL");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("Column"),
        "{}",
        refused.message()
    );

    let (status, _, body) = http_request(aggregator.http, "GET", "/api/v1/tables", &[], b"");
    assert_eq!(status, 200);
    let tables: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tables["tables"][0]["name"], "events");
    assert_eq!(tables["tables"][0]["rows"], 1000);
    let (status, _, body) = http_request(aggregator.http, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&body);
    assert!(
        metrics.contains("shoal_leaves_up 1")
            && metrics.contains("shoal_queries_total{outcome=\"complete\"}"),
        "{metrics}"
    );
    let (status, _, _) = http_request(aggregator.http, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200);
}

#[test]
fn approx_distinct_takes_dictionary_strings_from_every_leaf() {
    let stack = common::stack::Stack::start(2);
    // Many requests, so both leaves hold hosts (routing picks per request).
    for request in 0..20 {
        let body: String = (0..100)
            .map(|i| {
                format!(
                    "{{\"host\": \"web-{}\", \"n\": {i}}}\n",
                    (request * 100 + i) % 500
                )
            })
            .collect();
        let (status, answer) = stack.post("/api/v1/ingest/hosts", &[], body.as_bytes());
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = http_query(
        stack.aggregator.http,
        "SELECT approx_distinct(host), count(DISTINCT host), count(*) FROM hosts",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    let estimate = answer["rows"][0][0].as_u64().expect("estimate");
    assert!((490..=510).contains(&estimate), "{answer}");
    assert_eq!(answer["rows"][0][1], Value::from(500));
    assert_eq!(answer["rows"][0][2], Value::from(2000));
    let (status, answer) = http_query(
        stack.aggregator.http,
        "SELECT approx_distinct(host, n) FROM hosts",
        &[],
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("approx_distinct takes one argument, not 2")),
        "{answer}"
    );
}

#[test]
fn date_trunc_groups_utc_times_across_leaves() {
    let stack = common::stack::Stack::start(2);
    // 3 hours, 30 rows each at minutes 0, 2, ..., 58, in 9 requests.
    for hour in 0..3 {
        for part in 0..3 {
            let body: String = (0..10)
                .map(|i| {
                    let minute = (part * 10 + i) * 2;
                    format!(
                        "{{\"time\": \"2026-11-19T{:02}:{minute:02}:30Z\", \"n\": 1}}\n",
                        10 + hour
                    )
                })
                .collect();
            let (status, answer) = stack.post("/api/v1/ingest/clock", &[], body.as_bytes());
            assert_eq!(status, 200, "{answer}");
        }
    }
    let (status, answer) = http_query(
        stack.aggregator.http,
        "SELECT date_trunc('hour', time) AS h, count(*) AS n, min(date_trunc('minute', time)) AS m
         FROM clock GROUP BY h ORDER BY h",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"],
        serde_json::json!([
            ["2026-11-19T10:00:00Z", 30, "2026-11-19T10:00:00Z"],
            ["2026-11-19T11:00:00Z", 30, "2026-11-19T11:00:00Z"],
            ["2026-11-19T12:00:00Z", 30, "2026-11-19T12:00:00Z"]
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_bounds_are_applied_by_the_leaves_exactly() {
    let cluster = Cluster::start(4).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..4), &[]);
    wait_for_rows(&aggregator, total_rows(4));
    // Leaf i holds rows at FANOUT_START_MS + 0, 1, ... ms: [500, 2500) cuts each.
    let sql = format!(
        "SELECT count(*) AS n FROM events WHERE time >= to_timestamp_millis({}) AND time < to_timestamp_millis({})",
        FANOUT_START_MS + 500,
        FANOUT_START_MS + 2_500
    );
    let (status, answer) = http_query(aggregator.http, &sql, &[]);
    assert_eq!(status, 200, "{answer}");
    let expected: usize = (0..4)
        .map(|leaf| leaf_rows(leaf).clamp(500, 2_500) - 500)
        .sum();
    assert_eq!(answer["rows"][0][0].as_u64(), Some(expected as u64));

    // The time bound is the leaves' to apply (no filter for it above the
    // fan-out); the other one stays in the plan.
    let (_, plan) = http_query(
        aggregator.http,
        &format!("EXPLAIN {sql} AND latency_ms > 1"),
        &[],
    );
    let logical = plan["rows"][0][1].as_str().unwrap();
    assert!(
        logical.contains("full_filters=[events.time >=")
            && logical.contains("Filter: events.latency_ms > Float64(1)"),
        "{logical}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_pairs_from_every_leaf_are_merged_by_dense_groups() {
    let cluster = Cluster::start(4).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..4), &[]);
    wait_for_rows(&aggregator, total_rows(4));
    let sql = "SELECT service, count(DISTINCT leaf) AS leaves FROM events \
               GROUP BY service ORDER BY service";
    let (status, answer) = http_query(aggregator.http, sql, &[]);
    assert_eq!(status, 200, "{answer}");
    // Every leaf holds every service (svc-<i % 3>).
    assert_eq!(
        answer["rows"],
        serde_json::json!([["svc-0", 4], ["svc-1", 4], ["svc-2", 4]])
    );
    // The aggregator merges the leaves' (service, leaf) pairs, and counts
    // them, through dense groups.
    let (_, plan) = http_query(aggregator.http, &format!("EXPLAIN {sql}"), &[]);
    let physical = plan["rows"][1][1].as_str().unwrap();
    assert!(
        physical.contains("DenseAggregateExec: mode=FinalPartitioned")
            && physical.contains("FanOutExec"),
        "{physical}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_subqueries_are_answered_above_the_leaves() {
    let cluster = Cluster::start(2).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..2), &[]);
    wait_for_rows(&aggregator, total_rows(2));
    // Latency is i % 100 on every leaf, so the mean is 49.5 and half of
    // each leaf's rows (whole hundreds) lie above it.
    let (status, answer) = http_query(
        aggregator.http,
        "SELECT count(*) FROM events WHERE latency_ms > (SELECT avg(latency_ms) FROM events)",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"][0][0].as_u64(),
        Some(total_rows(2) as u64 / 2)
    );
    let (status, answer) = http_query(
        aggregator.http,
        "SELECT count(*) - (SELECT count(*) FROM events WHERE latency_ms < 10) FROM events",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"][0][0].as_u64(),
        Some(total_rows(2) as u64 * 9 / 10)
    );
}

/// `percentile_cont` of `values`: rank `fraction × (n − 1)` of the sorted
/// values, interpolated between its two nearest ranks.
fn exact_quantile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = fraction * (values.len() - 1) as f64;
    let (below, weight) = (rank.floor() as usize, rank - rank.floor());
    let high = values[(below + 1).min(values.len() - 1)];
    values[below] + (high - values[below]) * weight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_percentiles_merged_from_every_leaf_are_within_one_percent() {
    let cluster = Cluster::start(4).await;
    let aggregator = AggregatorProcess::start(&cluster.addresses(0..4), &[]);
    wait_for_rows(&aggregator, total_rows(4));

    // The exact values, from the rows themselves.
    let (status, rows) = http_query(
        aggregator.http,
        "SELECT service, latency_ms FROM events WHERE latency_ms IS NOT NULL",
        &[],
    );
    assert_eq!(status, 200, "{rows}");
    let mut by_service: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for row in rows["rows"].as_array().unwrap() {
        by_service
            .entry(row[0].as_str().unwrap().to_string())
            .or_default()
            .push(row[1].as_f64().unwrap());
    }
    assert!(by_service.len() > 1);

    let (status, answer) = http_query(
        aggregator.http,
        "SELECT service, approx_percentile_cont(latency_ms, 0.99) AS p99, \
                approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50, \
                approx_percentile_cont(0.1) WITHIN GROUP (ORDER BY latency_ms DESC) AS p90 \
         FROM events GROUP BY service ORDER BY service",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(completeness(&answer), (4, 4, 1.0, 1.0));
    let answered = answer["rows"].as_array().unwrap();
    assert_eq!(answered.len(), by_service.len(), "{answer}");
    for (row, (service, values)) in answered.iter().zip(by_service.iter_mut()) {
        assert_eq!(row[0], service.as_str());
        // The DESC one read from the top, across processes too.
        for (column, fraction) in [(1, 0.99), (2, 0.5), (3, 0.9)] {
            let want = exact_quantile(values, fraction);
            let got = row[column].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 0.01 * want.abs() + 1e-9,
                "{service} q{fraction}: {got} vs exact {want}"
            );
        }
    }
}
