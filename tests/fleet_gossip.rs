//! A fleet that finds itself by gossip: an aggregator with no `--leaves`
//! finds leaves as they become ready, keeps counting one that was
//! SIGKILLed (queried, not answered) until an admin removes it, never
//! admits a member signed with another secret, and takes a restarted leaf
//! back with every acknowledged row.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn fleet(aggregator: &AggregatorProcess) -> Value {
    let (status, _, body) = http_request(aggregator.http, "GET", "/api/v1/fleet", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("fleet JSON")
}

/// Waits (up to 30 s) until `fleet` satisfies `done`; returns it.
fn wait_for_fleet(
    aggregator: &AggregatorProcess,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = fleet(aggregator);
        if done(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the fleet never showed {what}: {last:#}");
}

fn children_up(fleet: &Value) -> Vec<(String, bool)> {
    fleet["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["up"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn member<'a>(fleet: &'a Value, name: &str) -> Option<&'a Value> {
    fleet["members"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
}

/// Starts a leaf on a fixed port (a restarted leaf comes back on it).
fn start_leaf(data_dir: &Path, name: &str, gossip: &str, seed: &str, secret: &Path) -> LeafProcess {
    let listen = free_address();
    LeafProcess::try_start_on(
        &listen,
        data_dir,
        &[
            "--gossip",
            gossip,
            "--seeds",
            seed,
            "--name",
            name,
            "--cluster-secret-file",
            secret.to_str().unwrap(),
        ],
    )
    .unwrap_or_else(|error| panic!("leaf {name} did not start: {error}"))
}

fn count(aggregator: &AggregatorProcess) -> (u64, Value) {
    let (status, answer) = http_query(aggregator.http, "SELECT count(*) AS n FROM events", &[]);
    assert_eq!(status, 200, "{answer}");
    (
        answer["rows"][0][0].as_u64().expect("count"),
        answer["completeness"].clone(),
    )
}

#[test]
fn gossip_finds_leaves_and_a_dead_one_counts_until_removed() {
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("cluster-secret");
    std::fs::write(&secret, "a-cluster-secret-for-the-fleet-test").unwrap();
    let other_secret = secrets.path().join("other-secret");
    std::fs::write(&other_secret, "another-fleet-with-another-secret").unwrap();

    let seed = free_gossip_address();
    // Fixed ports: restarted, it comes back where the test expects it.
    let aggregator = AggregatorProcess::start_on(
        &free_address(),
        &free_address(),
        &[
            "--gossip",
            &seed,
            "--cluster-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    let fleet_now = fleet(&aggregator);
    assert_eq!(fleet_now["gossip"], true);
    assert_eq!(children_up(&fleet_now), []);

    let dirs: Vec<_> = (0..3).map(|_| shm_tempdir()).collect();
    let gossip: Vec<String> = (0..3).map(|_| free_gossip_address()).collect();
    let mut leaves: Vec<LeafProcess> = (0..3)
        .map(|i| {
            start_leaf(
                dirs[i].path(),
                &format!("leaf-{i}"),
                &gossip[i],
                &seed,
                &secret,
            )
        })
        .collect();
    // A leaf of another fleet gossiping at the same seed is never a member.
    let intruder_dir = shm_tempdir();
    let _intruder = start_leaf(
        intruder_dir.path(),
        "intruder",
        &free_gossip_address(),
        &seed,
        &other_secret,
    );

    let all_up = wait_for_fleet(&aggregator, "three leaves up and heard", |f| {
        let up = children_up(f);
        let heard =
            (0..3).all(|i| member(f, &format!("leaf-{i}")).is_some_and(|m| m["live"] == true));
        up.len() == 3 && up.iter().all(|(_, up)| *up) && heard
    });
    for (i, leaf) in leaves.iter().enumerate() {
        let published = member(&all_up, &format!("leaf-{i}")).expect("leaf member");
        assert_eq!(published["role"], "leaf");
        assert_eq!(published["state"], "ready");
        assert_eq!(published["live"], true);
        assert_eq!(published["service"], leaf.address.to_string());
    }
    assert!(member(&all_up, "intruder").is_none(), "{all_up:#}");
    let me = all_up["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "aggregator")
        .expect("the aggregator publishes itself");
    assert_eq!(me["http"], aggregator.http.to_string());

    // Rows spread over the three leaves; every one counted.
    let rows = 3_000u64;
    let body: String = (0..rows)
        .map(|i| format!("{{\"id\": {i}, \"service\": \"svc-{}\"}}\n", i % 7))
        .collect();
    for chunk in body.lines().collect::<Vec<_>>().chunks(100) {
        let chunk = chunk.join("\n");
        let (status, _, answer) = http_request(
            aggregator.http,
            "POST",
            "/api/v1/ingest/events",
            &[("content-type", "application/x-ndjson")],
            chunk.as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    let (n, completeness) = count(&aggregator);
    assert_eq!(n, rows);
    assert_eq!(completeness["leaves_queried"], 3);
    assert_eq!(completeness["leaves_answered"], 3);
    let held_by_1 = {
        let fleet_now = fleet(&aggregator);
        let child = fleet_now["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "leaf-1")
            .unwrap()
            .clone();
        child["rows"].as_u64().unwrap()
    };
    assert!(held_by_1 > 0, "leaf-1 took no rows");

    // Each leaf publishes its tables (every second).
    wait_for_fleet(&aggregator, "every leaf publishing its table", |f| {
        (0..3).all(|i| {
            member(f, &format!("leaf-{i}"))
                .is_some_and(|m| m["tables"] == serde_json::json!(["events"]))
        })
    });
    // `shoal fleet status` sees the same members from gossip alone.
    let status = shoal_fleet(&[
        "status",
        "--json",
        "--seeds",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    let status: Value = serde_json::from_str(&status).expect("status JSON");
    for i in 0..3 {
        let leaf = member(&status, &format!("leaf-{i}")).expect("leaf in shoal fleet status");
        assert_eq!(leaf["state"], "ready");
        assert_eq!(leaf["live"], true);
        assert_eq!(leaf["tables"], serde_json::json!(["events"]), "{leaf}");
    }
    assert!(member(&status, "intruder").is_none());

    // SIGKILL: gossip marks it dead, and it stays in the count.
    leaves[1].kill();
    wait_for_fleet(&aggregator, "leaf-1 dead", |f| {
        member(f, "leaf-1").is_some_and(|m| m["live"] == false)
    });
    for _ in 0..3 {
        let (n, completeness) = count(&aggregator);
        assert_eq!(completeness["leaves_queried"], 3, "{completeness}");
        assert_eq!(completeness["leaves_answered"], 2, "{completeness}");
        assert_eq!(n, rows - held_by_1);
        assert!(completeness["rows_ratio"].as_f64().unwrap() < 1.0);
        std::thread::sleep(Duration::from_millis(300));
    }

    // An aggregator started after the leaf died counts it too, from the
    // record gossip keeps of it.
    let late = AggregatorProcess::start_with(&[
        "--gossip",
        &free_gossip_address(),
        "--seeds",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    let (n, completeness) = count(&late);
    assert_eq!(completeness["leaves_queried"], 3, "{completeness}");
    assert_eq!(completeness["leaves_answered"], 2, "{completeness}");
    assert_eq!(n, rows - held_by_1);

    // Only an admin's call takes it out, and only once it is dead.
    let remove = |name: &str| {
        let (status, _, body) = http_request(
            aggregator.http,
            "DELETE",
            &format!("/api/v1/fleet/members/{name}"),
            &[],
            b"",
        );
        (status, String::from_utf8_lossy(&body).to_string())
    };
    let (status, body) = remove("leaf-0");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("still answers"), "{body}");
    let (status, body) = remove("no-such-leaf");
    assert_eq!(status, 404, "{body}");
    // `shoal fleet remove` finds the aggregators by gossip and asks each.
    let removed = shoal_fleet(&[
        "remove",
        "leaf-1",
        "--seeds",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert!(removed.contains("removed \"leaf-1\""), "{removed}");
    // Both aggregators stop counting it: the removal travels by gossip.
    for each in [&aggregator, &late] {
        wait_for_fleet(each, "leaf-1 removed", |f| children_up(f).len() == 2);
        let (n, completeness) = count(each);
        assert_eq!(completeness["leaves_queried"], 2, "{completeness}");
        assert_eq!(completeness["leaves_answered"], 2, "{completeness}");
        assert_eq!(n, rows - held_by_1);
    }

    // The removal outlives the aggregator that took it: restarted (SIGHUP,
    // a newer generation with an empty record of its own), it and the
    // other one still leave the dead leaf out.
    let before = fleet(&late);
    let generation = |f: &Value| {
        f["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "aggregator" && m["http"] == aggregator.http.to_string())
            .unwrap()["generation"]
            .as_u64()
            .unwrap()
    };
    let old_generation = generation(&before);
    signal(aggregator.pid(), libc::SIGHUP);
    wait_for_fleet(&late, "the first aggregator restarted", |f| {
        generation(f) > old_generation
    });
    for each in [&aggregator, &late] {
        let after = wait_for_fleet(each, "the restarted aggregator ready", |f| {
            children_up(f).len() == 2
        });
        assert!(
            member(&after, "leaf-1").is_some_and(|m| m["live"] == false),
            "{after:#}"
        );
        let (_, completeness) = count(each);
        assert_eq!(completeness["leaves_queried"], 2, "{completeness}");
    }

    // Back on its data under the same name: a member again, rows and all.
    leaves[1] = start_leaf(dirs[1].path(), "leaf-1", &gossip[1], &seed, &secret);
    wait_for_fleet(&aggregator, "leaf-1 back", |f| {
        let up = children_up(f);
        up.len() == 3 && up.iter().all(|(_, up)| *up)
    });
    for each in [&aggregator, &late] {
        wait_for_fleet(each, "leaf-1 counted again", |f| children_up(f).len() == 3);
        let (n, completeness) = count(each);
        assert_eq!(n, rows);
        assert_eq!(completeness["leaves_queried"], 3);
        assert_eq!(completeness["leaves_answered"], 3);
    }
    let final_fleet = fleet(&aggregator);
    assert!(member(&final_fleet, "intruder").is_none());
    assert_eq!(children_up(&final_fleet).len(), 3);
}

#[test]
fn roll_restarts_every_member_in_place_and_keeps_every_row() {
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("cluster-secret");
    std::fs::write(&secret, "a-cluster-secret-for-the-roll-test").unwrap();
    let secret_flag = secret.to_str().unwrap();
    let seed = free_gossip_address();
    // Fixed ports: a restarted aggregator comes back where clients expect it.
    let flight = free_address();
    let http = free_address();
    let aggregator = AggregatorProcess::start_on(
        &flight,
        &http,
        &[
            "--gossip",
            &seed,
            "--name",
            "aggregator-a",
            "--cluster-secret-file",
            secret_flag,
        ],
    );
    let dirs: Vec<_> = (0..2).map(|_| shm_tempdir()).collect();
    let leaves: Vec<LeafProcess> = (0..2)
        .map(|i| {
            start_leaf(
                dirs[i].path(),
                &format!("leaf-{i}"),
                &free_gossip_address(),
                &seed,
                &secret,
            )
        })
        .collect();
    wait_for_fleet(&aggregator, "two leaves up", |f| {
        let up = children_up(f);
        up.len() == 2 && up.iter().all(|(_, up)| *up)
    });
    let rows = 2_000u64;
    ingest_ids(aggregator.http, "events", rows, 250);
    let fleet_args = [
        "--seeds",
        seed.as_str(),
        "--cluster-secret-file",
        secret_flag,
    ];

    // With two leaves, one down is half the fleet: a roll asked to keep 90%
    // stops before it restarts anything, and says why.
    let output = std::process::Command::new(shoal_binary())
        .args(["fleet", "roll", "--batch", "1", "--min-completeness", "0.9"])
        .args(fleet_args)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("stopped before restarting leaf-0")
            && said.contains("1/2 leaves would answer"),
        "{said}"
    );

    let before: Vec<Value> = (0..2)
        .map(|i| {
            member(&fleet(&aggregator), &format!("leaf-{i}"))
                .unwrap()
                .clone()
        })
        .collect();
    let mut args = vec!["roll", "--batch", "1", "--min-completeness", "0.5"];
    args.extend_from_slice(&fleet_args);
    let rolled = shoal_fleet(&args);
    assert!(rolled.contains("restarted leaf-0"), "{rolled}");
    assert!(rolled.contains("restarted leaf-1"), "{rolled}");
    assert!(rolled.contains("rolled 3 members"), "{rolled}");
    // The same processes (exec keeps the pid), in a newer generation each.
    let after = wait_for_fleet(&aggregator, "both leaves up after the roll", |f| {
        let up = children_up(f);
        up.len() == 2 && up.iter().all(|(_, up)| *up)
    });
    for (i, leaf) in leaves.iter().enumerate() {
        assert!(process_is_running(leaf.pid()), "leaf-{i} exited");
        let now = member(&after, &format!("leaf-{i}")).unwrap();
        assert!(
            now["generation"].as_u64() > before[i]["generation"].as_u64(),
            "{now} vs {}",
            before[i]
        );
        assert_eq!(now["live"], true);
    }
    let (n, completeness) = count(&aggregator);
    assert_eq!(n, rows);
    assert_eq!(completeness["leaves_answered"], 2);

    // SIGHUP restarts a leaf the same way.
    let generation = member(&fleet(&aggregator), "leaf-0").unwrap()["generation"].clone();
    signal(leaves[0].pid(), libc::SIGHUP);
    wait_for_fleet(&aggregator, "leaf-0 back after SIGHUP", |f| {
        member(f, "leaf-0").is_some_and(|m| {
            m["generation"].as_u64() > generation.as_u64()
                && m["live"] == true
                && m["state"] == "ready"
        })
    });
    // Once both leaves answer again, every row is there.
    let back = std::time::Instant::now();
    let answered_by_both = (0..100).find_map(|_| {
        let (n, completeness) = count(&aggregator);
        if completeness["leaves_answered"] == 2 {
            return Some(n);
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
    eprintln!(
        "both leaves answered {:?} after gossip said leaf-0 was ready",
        back.elapsed()
    );
    assert_eq!(answered_by_both, Some(rows));
}

fn process_is_running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
