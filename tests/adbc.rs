//! ADBC, the way Python users connect: the `adbc_driver_flightsql` client in
//! `tests/python/adbc_client.py` bulk-loads a table, lists tables, runs a
//! prepared statement with parameters, against real processes.
//!
//! Needs a Python with pyarrow and adbc-driver-flightsql, named by
//! `SHOAL_PYTHON` (`.ci/run` makes one and requires it); without it
//! elsewhere the test says so and is skipped.

mod common;

use common::stack::Stack;
use common::*;

#[test]
fn adbc_connects_lists_prepares_and_ingests() {
    let Some(python) = client_tool("SHOAL_PYTHON") else {
        return;
    };
    let stack = Stack::start(2);
    let endpoint = format!("grpc://{}", stack.aggregator.flight);
    let printed = run_python(&python, "adbc_client.py", &[&endpoint]);
    assert!(printed.contains("adbc ok"), "{printed}");
}
