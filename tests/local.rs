//! `shoal local --demo`, as the README starts it: ready with demo rows, and
//! after a restart the leaves reattach them instead of loading again.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;

fn start_local(data_dir: &std::path::Path) -> (std::process::Child, SocketAddr, Vec<String>) {
    let mut child = Command::new(shoal_binary())
        .args(["local", "--leaves", "2", "--demo", "--demo-rows", "100000"])
        .args([
            "--flight",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("SHOAL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn shoal local");
    let mut printed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(Ok(line)) = lines.next() {
        printed.push(line.clone());
        if let Some(rest) = line.split_once("HTTP and dashboard on http://") {
            let http: SocketAddr = rest.1.trim().parse().expect("http address");
            std::thread::spawn(move || for _ in lines {});
            return (child, http, printed);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("shoal local exited before it was ready: {printed:?}");
}

/// The `THP_enabled` line of `/proc/PID/status` (Linux 5.0 and later).
fn huge_pages_enabled(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line["THP_enabled:".len()..].trim().to_string())
}

#[test]
fn shoal_local_serves_demo_rows_and_reattaches_them() {
    let dir = shm_tempdir();
    let (mut first, http, printed) = start_local(dir.path());
    // Transparent huge pages are off in the process, leaves and all
    // (src/huge_pages.rs). Checked where the kernel says (Linux 5.0 on)
    // and this test's own process has them on, so that a 0 is Shoal's.
    let huge_pages = huge_pages_enabled(first.id());
    let own = huge_pages_enabled(std::process::id());
    if own.as_deref() != Some("1") {
        eprintln!("THP_enabled of this test is {own:?}: huge pages not checked");
    } else if huge_pages.as_deref() != Some("0") {
        let _ = first.kill();
        let _ = first.wait();
        panic!("THP_enabled of shoal local: {huge_pages:?}");
    }
    if !printed
        .iter()
        .any(|l| l.contains("loaded 100000 demo rows"))
    {
        let _ = first.kill();
        let _ = first.wait();
        panic!("no demo rows loaded: {printed:?}");
    }
    let (status, answer) = http_query(
        http,
        "SELECT count(*) AS n, count(DISTINCT service) AS s FROM requests",
        &[],
    );
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"][0][0], 100_000);
    assert!(answer["rows"][0][1].as_u64().unwrap() > 5);
    assert_eq!(answer["completeness"]["leaves_answered"], 2);

    let (mut second, http, printed) = start_local(dir.path());
    let (status, answer) = http_query(http, "SELECT count(*) FROM requests", &[]);
    let (page_status, _, page) = http_request(http, "GET", "/", &[("accept", "text/html")], b"");
    let _ = second.kill();
    let _ = second.wait();
    assert!(
        !printed.iter().any(|l| l.contains("loaded")),
        "reloaded: {printed:?}"
    );
    assert_eq!(
        (status, answer["rows"][0][0].as_u64()),
        (200, Some(100_000))
    );
    assert_eq!(page_status, 200);
    assert!(String::from_utf8_lossy(&page).contains("<title>Shoal</title>"));
}
