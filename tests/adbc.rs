//! ADBC, the way Python users connect: the `adbc_driver_flightsql` client in
//! `tests/python/adbc_client.py` bulk-loads a table, lists tables, runs a
//! prepared statement with parameters, against real processes.
//!
//! Needs a Python with pyarrow and adbc-driver-flightsql, named by
//! `SHOAL_PYTHON` (`.ci/run` makes one and requires it); without it
//! elsewhere the test says so and is skipped.

mod common;

use std::process::Command;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adbc_connects_lists_prepares_and_ingests() {
    let Some(python) = client_tool("SHOAL_PYTHON") else {
        return;
    };
    let dirs = [shm_tempdir(), shm_tempdir()];
    let leaves: Vec<LeafProcess> = dirs
        .iter()
        .map(|d| LeafProcess::start(d.path(), &[]))
        .collect();
    let addresses: Vec<String> = leaves.iter().map(|l| l.address.to_string()).collect();
    let aggregator = AggregatorProcess::start(&addresses, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/adbc_client.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("grpc://{}", aggregator.flight))
        .output()
        .expect("run python");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("adbc ok"), "{printed}");
}
