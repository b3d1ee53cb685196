//! A rolling upgrade across a block format bump. `tests/fixtures/format-v2`
//! holds the blocks a leaf of format version 2 (32-bit string dictionary
//! keys) wrote, made by `make_fixture.py` with that version's binary. A
//! leaf of this version (format 4: 8- or 16-bit keys) opens that directory as
//! its own after an upgrade: the old blocks answer exactly, bitmap indexes
//! included, beside blocks it writes itself, after a restart too, and they
//! move to another leaf when it is drained.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Row `i` of the fixture's generator (`make_fixture.py`).
fn row(i: u64) -> Value {
    let status = [200, 200, 200, 404, 500][(i % 5) as usize];
    let mut row = json!({
        "time": 1_764_000_000_000u64 + i * 1_000,
        "id": i,
        "service": format!("svc-{}", i % 7),
        "host": if i.is_multiple_of(11) { Value::Null } else { json!(format!("host-{:03}", i % 300)) },
        "status": status,
        "latency_ms": (i % 97) as f64 * 1.25,
        "ok": !i.is_multiple_of(3),
        "tags": if !i.is_multiple_of(5) { json!(["a", format!("b{}", i % 4)]) } else { json!([]) },
    });
    if i.is_multiple_of(13) {
        row.as_object_mut().unwrap().remove("status");
    }
    row
}

/// What the summary query must answer over rows `0..rows`.
fn expected(rows: u64) -> Value {
    let all: Vec<Value> = (0..rows).map(row).collect();
    let hosts: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|r| r["host"].as_str()).collect();
    let host_007 = all.iter().filter(|r| r["host"] == "host-007").count();
    let by_service: BTreeMap<String, (u64, u64)> = all.iter().fold(BTreeMap::new(), |mut m, r| {
        let entry = m
            .entry(r["service"].as_str().unwrap().to_string())
            .or_default();
        entry.0 += 1;
        entry.1 += r["status"].as_u64().unwrap_or(0);
        m
    });
    json!({
        "summary": [
            rows,
            all.iter().filter(|r| r["host"].is_string()).count(),
            all.iter().filter(|r| r.get("status").is_some()).count(),
            all.iter().map(|r| r["id"].as_u64().unwrap()).sum::<u64>(),
            hosts.len(),
            all.iter().map(|r| r["latency_ms"].as_f64().unwrap()).sum::<f64>(),
            all.iter().filter(|r| r["tags"].as_array().unwrap().iter().any(|t| t == "b1")).count(),
        ],
        "host_007": host_007,
        "by_service": by_service.into_iter().map(|(s, (n, st))| json!([s, n, st])).collect::<Vec<_>>(),
    })
}

fn answers(http: SocketAddr) -> Value {
    let query = |sql: &str| {
        let (status, answer) = http_query(http, sql, &[]);
        assert_eq!(status, 200, "{sql}: {answer}");
        let completeness = &answer["completeness"];
        assert_eq!(
            completeness["leaves_queried"], completeness["leaves_answered"],
            "{answer}"
        );
        answer["rows"].clone()
    };
    let summary = query(
        "SELECT count(*), count(host), count(status), sum(id), count(DISTINCT host), \
         sum(latency_ms), count(*) FILTER (WHERE array_has(tags, 'b1')) FROM events",
    );
    let host_007 = query("SELECT count(*) FROM events WHERE host = 'host-007'");
    let by_service = query(
        "SELECT service, count(*), sum(status) FROM events GROUP BY service ORDER BY service",
    );
    json!({
        "summary": summary[0],
        "host_007": host_007[0][0],
        "by_service": by_service,
    })
}

fn start_leaf(listen: &str, dir: &Path, name: &str, seed: &str, secret: &Path) -> LeafProcess {
    start_gossip_leaf(listen, dir, name, seed, secret, &["--seal-age", "200ms"])
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn children_up(http: SocketAddr) -> usize {
    let (_, _, body) = http_request(http, "GET", "/api/v1/fleet", &[], b"");
    let fleet: Value = serde_json::from_slice(&body).expect("fleet JSON");
    fleet["children"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["up"] == true).count())
}

/// The block format this binary writes.
fn current_format() -> String {
    shoal_contract::member::BLOCK_FORMAT_VERSION.to_string()
}

fn format_versions(dir: &Path) -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(dir.join("tables/events"))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "arrow").then(|| {
                let file = std::fs::File::open(&path).unwrap();
                let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
                reader.schema().metadata()["shoal.format_version"].clone()
            })
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

#[test]
fn blocks_of_the_previous_format_stay_readable_through_an_upgrade_and_a_drain() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v2/events");
    let old = shm_tempdir();
    let table = old.path().join("tables/events");
    std::fs::create_dir_all(&table).unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, table.join(path.file_name().unwrap())).unwrap();
    }
    assert_eq!(format_versions(old.path()), ["2"]);

    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("secret");
    std::fs::write(&secret, "a-cluster-secret-for-the-upgrade-test").unwrap();
    let seed = free_gossip_address();
    let aggregator = AggregatorProcess::start_with(&[
        "--gossip",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    let http = aggregator.http;
    let new = shm_tempdir();
    let mut upgraded = start_leaf("127.0.0.1:0", old.path(), "leaf-0", &seed, &secret);
    let second_address = free_address();
    let mut second = start_leaf(&second_address, new.path(), "leaf-1", &seed, &secret);
    wait_until("two leaves up", || children_up(http) == 2);

    // The previous version's blocks, read by this one.
    assert_eq!(answers(http), expected(3_000));

    // Beside blocks this version writes.
    let body: Vec<String> = (3_000..6_000).map(|i| row(i).to_string()).collect();
    for chunk in body.chunks(500) {
        let (status, _, answer) = http_request(
            http,
            "POST",
            "/api/v1/ingest/events",
            &[("content-type", "application/x-ndjson")],
            chunk.join("\n").as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    wait_until("the new rows sealed in this version's format", || {
        [old.path(), new.path()].iter().any(|dir| {
            dir.join("tables/events").exists() && format_versions(dir).contains(&current_format())
        })
    });
    assert_eq!(answers(http), expected(6_000));

    // After a restart (blocks known from the manifest, mapped on first use).
    let address = upgraded.address.to_string();
    upgraded.kill();
    upgraded = start_leaf(&address, old.path(), "leaf-0", &seed, &secret);
    wait_until("leaf-0 back", || children_up(http) == 2);
    assert_eq!(answers(http), expected(6_000));

    // Drained, the old blocks and the new move to the other leaf.
    shoal_fleet(&[
        "drain",
        "leaf-0",
        "--seeds",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    wait_until("leaf-0 stopped", || upgraded.exit_status().is_some());
    wait_until("one leaf counted", || children_up(http) == 1);
    assert_eq!(answers(http), expected(6_000));
    let moved = format_versions(new.path());
    assert!(moved.contains(&"2".to_string()), "{moved:?}");
    second.kill();
    second = start_leaf(&second_address, new.path(), "leaf-1", &seed, &secret);
    wait_until("leaf-1 back", || children_up(http) == 1);
    assert_eq!(answers(http), expected(6_000));
    drop(second);
}

#[test]
fn an_answer_holds_more_distinct_strings_than_a_block_key_can_name() {
    // Blocks store 16-bit keys; answers must not be bound by them.
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &["--seal-age", "200ms"]);
    let aggregator = AggregatorProcess::start(&[leaf.address.to_string()], &[]);
    let distinct = 70_000u64;
    let lines: Vec<String> = (0..distinct)
        .map(|i| format!("{{\"s\": \"user-{i:07}\", \"n\": {i}}}"))
        .collect();
    for chunk in lines.chunks(10_000) {
        let (status, _, answer) = http_request(
            aggregator.http,
            "POST",
            "/api/v1/ingest/events",
            &[("content-type", "application/x-ndjson")],
            chunk.join("\n").as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    wait_until("every row sealed", || {
        format_versions(dir.path()) == [current_format()]
    });
    let (status, answer) = http_query(
        aggregator.http,
        "SELECT count(*), min(s), max(s) FROM (SELECT s, count(*) AS c FROM events GROUP BY s)",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"][0],
        json!([
            distinct,
            "user-0000000",
            format!("user-{:07}", distinct - 1)
        ])
    );
}
