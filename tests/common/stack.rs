//! A small fleet for ingest tests: leaves on their own tmpfs directories and
//! one aggregator over them, with the HTTP calls those tests make.

use serde_json::Value;

use super::{AggregatorProcess, LeafProcess, http_query, http_request, shm_tempdir};

/// Fields drop in order: processes first, then their directories.
pub struct Stack {
    pub aggregator: AggregatorProcess,
    pub leaves: Vec<LeafProcess>,
    pub dirs: Vec<tempfile::TempDir>,
}

impl Stack {
    /// Starts `leaves` leaves and an aggregator over them.
    pub fn start(leaves: usize) -> Self {
        Self::start_with(leaves, &[])
    }

    /// [`Stack::start`], the aggregator with extra flags.
    pub fn start_with(leaves: usize, aggregator_flags: &[&str]) -> Self {
        let dirs: Vec<tempfile::TempDir> = (0..leaves).map(|_| shm_tempdir()).collect();
        let processes: Vec<LeafProcess> = dirs
            .iter()
            .map(|d| LeafProcess::start(d.path(), &[]))
            .collect();
        let addresses: Vec<String> = processes.iter().map(|l| l.address.to_string()).collect();
        let aggregator = AggregatorProcess::start(&addresses, aggregator_flags);
        Self {
            dirs,
            leaves: processes,
            aggregator,
        }
    }

    /// `POST path` to the aggregator's HTTP port: status and JSON answer
    /// (`null` when the answer is not JSON). Without a `content-type` in
    /// `headers`, the body goes as `application/x-ndjson`, as shippers send it.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !all
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            all.push(("content-type", "application/x-ndjson"));
        }
        let (status, _, body) = http_request(self.aggregator.http, "POST", path, &all, body);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Polls until the query's first cell equals `expected` (the catalog is
    /// refreshed every second); the last answer.
    pub fn eventually(&self, sql: &str, expected: Value) -> Value {
        let mut last = Value::Null;
        for _ in 0..60 {
            let (status, answer) = http_query(self.aggregator.http, sql, &[]);
            if status == 200 && answer["rows"][0][0] == expected {
                return answer;
            }
            last = answer;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{sql}: expected {expected}, last answer {last}");
    }
}
