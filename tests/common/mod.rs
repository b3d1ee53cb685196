//! Test harness: real `shoal` processes on loopback ports.
//!
//! Each process is started with `--listen 127.0.0.1:0` and announces its
//! address on stdout once ready, so tests never race for ports.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::ipc::writer::StreamWriter;
use arrow_flight::Ticket;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use futures::TryStreamExt;
use shoal_proto::{
    IngestRequest, IngestResponse, LeafClient, LeafStatus, ScanRequest, StatusRequest, TableStatus,
};
use tonic::transport::Channel;

pub mod browser;
pub mod browser_fleet;
pub mod certs;
pub mod hostile;
pub mod secured;
pub mod stack;

/// Path of the `shoal` binary under test.
pub fn shoal_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shoal"))
}

/// A directory on tmpfs when the machine has one, as a leaf's data directory.
pub fn shm_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("shoal-test-")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// A running `shoal leaf` process.
pub struct LeafProcess {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub started_at: Instant,
    pub ready_after: Duration,
}

impl LeafProcess {
    /// Starts a leaf on `data_dir` with extra flags and waits until it is ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::try_start(data_dir, extra)
            .unwrap_or_else(|error| panic!("leaf did not start: {error}"))
    }

    /// Starts a leaf; `Err` holds what it printed if it exited instead.
    pub fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::try_start_on("127.0.0.1:0", data_dir, extra)
    }

    /// Starts a leaf on a given address (to restart it where an aggregator
    /// expects it).
    pub fn try_start_on(listen: &str, data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::try_start_wrapped(&[], listen, data_dir, extra)
    }

    /// Starts a leaf through `wrapper` (a command that runs the rest of its
    /// arguments, such as `nsenter -t PID -m --`); the wrapper must exec the
    /// leaf, so that the process started is the leaf.
    pub fn try_start_wrapped(
        wrapper: &[&str],
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
    ) -> Result<Self, String> {
        let started_at = Instant::now();
        let mut command = match wrapper.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(shoal_binary());
                command
            }
            None => Command::new(shoal_binary()),
        };
        let mut child = command
            .arg("leaf")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shoal leaf");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(address) = line.strip_prefix("shoal leaf ready on ") {
                        let ready_after = started_at.elapsed();
                        // Keep draining stdout so the child never blocks on it.
                        std::thread::spawn(move || for _ in lines {});
                        return Ok(Self {
                            child,
                            stderr,
                            address: address.trim().parse().expect("address"),
                            data_dir: data_dir.to_path_buf(),
                            started_at,
                            ready_after,
                        });
                    }
                }
                _ => {
                    let status = child.wait().expect("wait");
                    // The pipe ends with the process: read it to the end.
                    let _ = reader.join();
                    let printed = stderr.lock().unwrap().clone();
                    return Err(format!("exit {:?}: {printed}", status.code()));
                }
            }
        }
    }

    /// The gRPC endpoint, `http://ADDR`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A client of the leaf's control service.
    pub async fn client(&self) -> LeafClient<Channel> {
        LeafClient::connect(self.endpoint())
            .await
            .expect("connect")
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until stderr holds `needle`, which a thread copies
    /// from the pipe: a line printed before "ready" may still be on its way.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        for _ in 0..400 {
            let printed = self.stderr();
            if printed.contains(needle) {
                return printed;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{needle:?} never on stderr: {}", self.stderr());
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process ended, once it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for LeafProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback UDP address (for `--gossip`) with a port free right now.
pub fn free_gossip_address() -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.local_addr().expect("address").to_string()
}

/// Starts a leaf on `listen` that joins the gossip at `seed` as `name`,
/// with the cluster secret in `secret` and `extra` flags.
pub fn start_gossip_leaf(
    listen: &str,
    data_dir: &Path,
    name: &str,
    seed: &str,
    secret: &Path,
    extra: &[&str],
) -> LeafProcess {
    let gossip = free_gossip_address();
    let secret = secret.to_str().expect("secret path");
    let mut args = vec![
        "--gossip",
        gossip.as_str(),
        "--seeds",
        seed,
        "--name",
        name,
        "--cluster-secret-file",
        secret,
    ];
    args.extend_from_slice(extra);
    LeafProcess::try_start_on(listen, data_dir, &args)
        .unwrap_or_else(|error| panic!("leaf {name} did not start: {error}"))
}

/// Runs `shoal fleet ARGS`; what it printed, once it succeeded.
pub fn shoal_fleet(args: &[&str]) -> String {
    let output = Command::new(shoal_binary())
        .arg("fleet")
        .args(args)
        .output()
        .expect("run shoal fleet");
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "shoal fleet {args:?}: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// A loopback address with a port free right now.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// Encodes batches as one Arrow IPC stream.
pub fn ipc_bytes(batches: &[RecordBatch]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batches[0].schema()).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    bytes
}

/// Sends `batches` to table `table`.
pub async fn ingest(
    client: &mut LeafClient<Channel>,
    table: &str,
    batches: &[RecordBatch],
) -> Result<IngestResponse, tonic::Status> {
    client
        .ingest(IngestRequest {
            table: table.to_string(),
            arrow_ipc: ipc_bytes(batches).into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// The leaf's status.
pub async fn status(client: &mut LeafClient<Channel>) -> LeafStatus {
    client
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

/// Waits until `done` holds for `table` in the leaf's status (polled every
/// 25 ms for up to 10 s); panics saying `what` never happened.
pub async fn wait_for_table(
    leaf: &LeafProcess,
    table: &str,
    what: &str,
    done: impl Fn(&TableStatus) -> bool,
) {
    let mut client = leaf.client().await;
    for _ in 0..400 {
        let status = status(&mut client).await;
        if status.tables.iter().any(|t| t.name == table && done(t)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("table {table}: {what} never happened");
}

/// Runs a scan through Arrow Flight `DoGet`.
pub async fn scan(endpoint: &str, request: ScanRequest) -> Result<Vec<RecordBatch>, String> {
    let channel = Channel::from_shared(endpoint.to_string())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = FlightServiceClient::new(channel).max_decoding_message_size(256 << 20);
    let ticket = Ticket {
        ticket: shoal_proto::TicketRequest::Scan(request)
            .encode_ticket()
            .into(),
    };
    let response = client
        .do_get(ticket)
        .await
        .map_err(|e| e.message().to_string())?;
    let stream = FlightRecordBatchStream::new_from_flight_data(
        response
            .into_inner()
            .map_err(arrow_flight::error::FlightError::from),
    );
    stream.try_collect().await.map_err(|e| e.to_string())
}

/// A scan of whole table `table` with the given columns and filter.
pub fn scan_request(table: &str, columns: &[&str], filter: &str) -> ScanRequest {
    ScanRequest {
        table: table.to_string(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        filter: filter.to_string(),
        ..Default::default()
    }
}

/// Total rows of `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A running `shoal aggregator` process.
pub struct AggregatorProcess {
    child: Child,
    pub flight: SocketAddr,
    pub http: SocketAddr,
}

impl AggregatorProcess {
    /// Starts an aggregator over `leaves` (`host:port`) with extra flags.
    pub fn start(leaves: &[String], extra: &[&str]) -> Self {
        let leaves = leaves.join(",");
        let mut args = vec!["--leaves", leaves.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(&args)
    }

    /// Starts an aggregator on loopback ports with only `args` (no
    /// `--leaves` unless given).
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", "127.0.0.1:0", args)
    }

    /// Starts an aggregator on the given Flight and HTTP addresses.
    pub fn start_on(flight: &str, http: &str, args: &[&str]) -> Self {
        let child = Command::new(shoal_binary())
            .args(["aggregator", "--flight", flight, "--http", http])
            .args(args)
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn shoal aggregator");
        // Owned by `process` from here on, so a failed start still reaps it.
        let unbound: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let mut process = Self {
            child,
            flight: unbound,
            http: unbound,
        };
        let stdout = process.child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("aggregator exited before it was ready")
                .expect("read");
            if let Some(rest) = line.strip_prefix("shoal aggregator ready: flight ") {
                let (flight, http) = rest.split_once(" http ").expect("ready line");
                std::thread::spawn(move || for _ in lines {});
                process.flight = flight.trim().parse().expect("flight address");
                process.http = http.trim().parse().expect("http address");
                return process;
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://ADDR` of the Flight SQL endpoint.
    pub fn flight_endpoint(&self) -> String {
        format!("http://{}", self.flight)
    }
}

impl Drop for AggregatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal to a process.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid this test started.
    let result = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal})");
}

/// Sends SIGSTOP and waits until every thread of `pid` is stopped. kill(2)
/// returns before that: the kernel wakes one thread to start the group stop,
/// and until it runs, the others (a runtime worker answering a request, say)
/// go on; on a busy machine that is long enough to answer a query.
#[allow(dead_code)]
pub fn stop_process(pid: u32) {
    signal(pid, libc::SIGSTOP);
    for _ in 0..1000 {
        if all_threads_stopped(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("process {pid} did not stop within 5 s of SIGSTOP");
}

/// Whether every thread in `/proc/{pid}/task` is in state `T` (stopped).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                // The state follows the command name, which is in parentheses.
                let after_name = stat.rsplit_once(')')?.1;
                after_name
                    .split_whitespace()
                    .next()
                    .map(|state| state == "T")
            })
            .unwrap_or(false)
    })
}

/// A minimal HTTP/1.1 client for the tests (no extra dependency): returns
/// the status code, the headers (lower-cased names) and the body.
pub fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    // A server that hangs fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("read timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    // A server may answer (413, say) and close before the body is sent.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut body = response[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// Ingests `rows` rows `{"id": i}` into `table` through `POST
/// /api/v1/ingest/TABLE`, `per_request` rows at a time, each acknowledged.
#[allow(dead_code)]
pub fn ingest_ids(http: SocketAddr, table: &str, rows: u64, per_request: usize) {
    let lines: Vec<String> = (0..rows).map(|i| format!("{{\"id\": {i}}}")).collect();
    for chunk in lines.chunks(per_request) {
        let (status, _, answer) = http_request(
            http,
            "POST",
            &format!("/api/v1/ingest/{table}"),
            &[("content-type", "application/x-ndjson")],
            chunk.join("\n").as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
}

/// `POST /api/v1/query`: the status and the JSON answer.
pub fn http_query(
    address: SocketAddr,
    sql: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "sql": sql }).to_string();
    let mut all_headers = vec![("content-type", "application/json")];
    all_headers.extend_from_slice(headers);
    let (status, _, body) = http_request(
        address,
        "POST",
        "/api/v1/query",
        &all_headers,
        body.as_bytes(),
    );
    (status, serde_json::from_slice(&body).expect("JSON answer"))
}

/// The outside client a test needs (a Python, a shipper binary), named by
/// the environment `variable`. Missing, the test says so and is skipped,
/// unless `SHOAL_REQUIRE_CLIENTS` is set (as `.ci/run` does): then it fails,
/// so CI can never skip one silently.
pub fn client_tool(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) => Some(value),
        Err(_) if std::env::var_os("SHOAL_REQUIRE_CLIENTS").is_some() => {
            panic!("{variable} is not set, and SHOAL_REQUIRE_CLIENTS says this test must run")
        }
        Err(_) => {
            eprintln!("{variable} is not set: this test did not run");
            None
        }
    }
}

/// Runs `tests/python/<script>` with `python` and `args`; what it printed
/// (stdout, then stderr), once it exited successfully.
pub fn run_python(python: &str, script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = Command::new(python)
        .arg(path)
        .args(args)
        .output()
        .expect("run python");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{script}: {printed}");
    printed
}

/// When the rows of [`fanout_rows`] start (ms since the epoch).
pub const FANOUT_START_MS: i64 = 1_763_000_000_000;

/// `rows` rows for leaf `leaf` (the fan-out and progressive tests): one a
/// millisecond from [`FANOUT_START_MS`], service svc-<i % 3>, latency i % 100.
pub fn fanout_rows(leaf: usize, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("service", DataType::Utf8, false),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("leaf", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(
                (0..rows as i64).map(|i| FANOUT_START_MS + i),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("svc-{}", i % 3)),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| (i % 100) as f64),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| format!("leaf-{leaf}")),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}
