//! Shoal across "hosts" for real: three leaves, each in a network
//! namespace of its own joined to the aggregator's by a veth pair on a
//! bridge, finding each other by gossip. One host is cut off (its link
//! down): queries still answer by the deadline, counting it queried and
//! not answered; its link back up, it is counted again with no restart.
//!
//! Needs root (it makes and removes the namespaces, the veth pairs and the
//! bridge) and `ip` (iproute2); without root it says so and does not run,
//! unless `SHOAL_REQUIRE_NETNS` is set (as `.ci/run` does when it runs as
//! root), when it fails.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The namespaces, veth pairs and bridge of one test, removed on drop.
struct Hosts {
    bridge: String,
    namespaces: Vec<String>,
    /// The root-side end of each host's veth pair.
    links: Vec<String>,
    /// The aggregator's address on the bridge, and each host's.
    gateway: String,
    addresses: Vec<String>,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Hosts {
    fn make(count: usize) -> Self {
        let tag = std::process::id() % 10_000;
        let subnet = 10 + std::process::id() % 240;
        let mut hosts = Self {
            bridge: format!("shb{tag}"),
            namespaces: Vec::new(),
            links: Vec::new(),
            gateway: format!("10.213.{subnet}.1"),
            addresses: Vec::new(),
        };
        ip(&["link", "add", &hosts.bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", hosts.gateway),
            "dev",
            &hosts.bridge,
        ]);
        ip(&["link", "set", &hosts.bridge, "up"]);
        for i in 0..count {
            let namespace = format!("shoal-{tag}-{i}");
            let outside = format!("sh{tag}h{i}a");
            let inside = format!("sh{tag}h{i}b");
            let address = format!("10.213.{subnet}.{}", 10 + i);
            ip(&["netns", "add", &namespace]);
            hosts.namespaces.push(namespace.clone());
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ]);
            hosts.links.push(outside.clone());
            ip(&["link", "set", &inside, "netns", &namespace]);
            ip(&["link", "set", &outside, "master", &hosts.bridge]);
            ip(&["link", "set", &outside, "up"]);
            let within = |args: &[&str]| {
                let mut all = vec!["netns", "exec", namespace.as_str(), "ip"];
                all.extend_from_slice(args);
                ip(&all);
            };
            within(&["addr", "add", &format!("{address}/24"), "dev", &inside]);
            within(&["link", "set", &inside, "up"]);
            within(&["link", "set", "lo", "up"]);
            hosts.addresses.push(address);
        }
        hosts
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn timed_count(aggregator: &AggregatorProcess) -> (Duration, u64, Value) {
    let began = Instant::now();
    let (status, answer) = http_query(aggregator.http, "SELECT count(*) AS n FROM events", &[]);
    let elapsed = began.elapsed();
    assert_eq!(status, 200, "{answer}");
    (
        elapsed,
        answer["rows"][0][0].as_u64().expect("count"),
        answer["completeness"].clone(),
    )
}

fn answered(completeness: &Value) -> (u64, u64) {
    (
        completeness["leaves_answered"].as_u64().unwrap(),
        completeness["leaves_queried"].as_u64().unwrap(),
    )
}

#[test]
fn a_host_cut_off_counts_as_missing_and_comes_back_without_a_restart() {
    if !is_root() {
        assert!(
            std::env::var_os("SHOAL_REQUIRE_NETNS").is_none(),
            "this test needs root for network namespaces, and SHOAL_REQUIRE_NETNS says it must run"
        );
        eprintln!("not root: the network-namespace test did not run");
        return;
    }
    let hosts = Hosts::make(3);
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("cluster-secret");
    std::fs::write(&secret, "a-cluster-secret-for-the-netns-test").unwrap();
    let secret = secret.to_str().unwrap();
    let seed = format!("{}:7946", hosts.gateway);
    let deadline_ms = 1_000;
    let aggregator = AggregatorProcess::start_with(&[
        "--gossip",
        &seed,
        "--cluster-secret-file",
        secret,
        "--deadline",
        &format!("{deadline_ms}ms"),
    ]);
    let dirs: Vec<_> = (0..3).map(|_| shm_tempdir()).collect();
    let leaves: Vec<LeafProcess> = (0..3)
        .map(|i| {
            let address = &hosts.addresses[i];
            LeafProcess::try_start_wrapped(
                &["ip", "netns", "exec", &hosts.namespaces[i]],
                &format!("{address}:50061"),
                dirs[i].path(),
                &[
                    "--gossip",
                    &format!("{address}:7946"),
                    "--seeds",
                    &seed,
                    "--name",
                    &format!("host-{i}"),
                    "--cluster-secret-file",
                    secret,
                ],
            )
            .unwrap_or_else(|error| panic!("leaf on host {i} did not start: {error}"))
        })
        .collect();
    let pids: Vec<u32> = leaves.iter().map(|l| l.pid()).collect();

    let wait_for = |what: &str, done: &dyn Fn(&Value) -> bool| -> (Duration, u64, Value) {
        let began = Instant::now();
        let mut last = Value::Null;
        while began.elapsed() < Duration::from_secs(60) {
            let (elapsed, n, completeness) = timed_count(&aggregator);
            if done(&completeness) {
                return (elapsed, n, completeness);
            }
            last = completeness;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("never {what}: {last}");
    };
    // Wait for the three hosts (the table does not exist before the first row).
    let began = Instant::now();
    loop {
        let (status, _, fleet) = http_request(aggregator.http, "GET", "/api/v1/fleet", &[], b"");
        assert_eq!(status, 200);
        let fleet: Value = serde_json::from_slice(&fleet).unwrap();
        let up = fleet["children"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["up"] == true)
            .count();
        if up == 3 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "hosts never joined: {fleet:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ingest_ids(aggregator.http, "events", 3_000, 100);
    let (_, n, completeness) = timed_count(&aggregator);
    assert_eq!(n, 3_000);
    assert_eq!(answered(&completeness), (3, 3));

    // Host 1 cut off: answers come by the deadline, with it missing.
    ip(&["link", "set", &hosts.links[1], "down"]);
    let mut times = Vec::new();
    for _ in 0..5 {
        let (elapsed, n, completeness) = timed_count(&aggregator);
        assert_eq!(answered(&completeness), (2, 3), "{completeness}");
        assert!(n < 3_000);
        times.push(elapsed.as_millis());
    }
    eprintln!("host cut off: 2/3 answers in {times:?} ms (deadline {deadline_ms} ms)");

    // Its link back: counted again, the same process, every row.
    ip(&["link", "set", &hosts.links[1], "up"]);
    let back = Instant::now();
    let (_, n, _) = wait_for("3/3 again", &|c| answered(c) == (3, 3));
    eprintln!("link back: 3/3 again after {:?}", back.elapsed());
    assert_eq!(n, 3_000);
    for (leaf, pid) in leaves.iter().zip(&pids) {
        assert_eq!(leaf.pid(), *pid);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "leaf {pid} exited"
        );
    }
    drop(leaves);
    drop(hosts);
}
