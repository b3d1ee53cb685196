//! `shoal sql`, the terminal client, end to end: the real binary against
//! real leaves and an aggregator on loopback ports. One-shot queries in
//! every format, errors with their SQL position, partial answers with and
//! without a minimum, piped scripts, tokens, TLS, and the prompt driven
//! through a pseudo-terminal (history across sessions, multi-line
//! statements, `\d`, completion).

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::certs::make_certificates;
use common::secured::SecuredStack;
use common::stack::Stack;
use common::*;
use serde_json::{Value, json};

/// Six rows: `api` three times, `web` twice, `db` once.
const ROWS: &str = "\
{\"service\": \"api\", \"status\": 200, \"latency_ms\": 1.5}
{\"service\": \"api\", \"status\": 500, \"latency_ms\": 9.0}
{\"service\": \"api\", \"status\": 200, \"latency_ms\": 2.5}
{\"service\": \"web\", \"status\": 200, \"latency_ms\": 4.0}
{\"service\": \"web\", \"status\": 404, \"latency_ms\": 3.0}
{\"service\": \"db\", \"status\": 200, \"latency_ms\": 0.5}
";

const BY_SERVICE: &str =
    "SELECT service, count(*) AS n FROM requests GROUP BY service ORDER BY service";

/// A stack of `leaves` leaves holding [`ROWS`] in table `requests`.
fn stack_with_rows(leaves: usize) -> Stack {
    let stack = Stack::start(leaves);
    let (status, answer) = stack.post("/api/v1/ingest/requests", &[], ROWS.as_bytes());
    assert_eq!((status, &answer["accepted"]), (200, &json!(6)), "{answer}");
    stack.eventually("SELECT count(*) FROM requests", json!(6));
    stack
}

/// Runs `shoal sql ARGS` with `stdin` as its standard input.
fn shoal_sql(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(shoal_binary())
        .arg("sql")
        .args(args)
        .env_remove("SHOAL_TOKEN")
        .envs(env.iter().copied())
        .env("SHOAL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shoal sql");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("shoal sql output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Asserts `line` reads `ROWS rows in T ms · ANSWERED/QUERIED leaves answered · rows P`.
fn assert_summary(line: &str, rows: &str, leaves: &str, rows_share: &str) {
    let (head, tail) = line
        .split_once(" ms · ")
        .unwrap_or_else(|| panic!("no summary line: {line:?}"));
    let (count, millis) = head
        .split_once(" in ")
        .unwrap_or_else(|| panic!("no summary line: {line:?}"));
    assert_eq!(count, rows, "{line}");
    assert!(millis.parse::<u64>().is_ok(), "{line}");
    assert_eq!(
        tail,
        format!("{leaves} leaves answered · rows {rows_share}"),
        "{line}"
    );
}

#[test]
fn a_query_prints_its_table_and_completeness() {
    let stack = stack_with_rows(2);
    let flight = stack.aggregator.flight_endpoint();
    let output = shoal_sql(&["--flight", &flight, BY_SERVICE], "", &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..lines.len() - 1],
        [
            "+---------+---+",
            "| service | n |",
            "+---------+---+",
            "| api     | 3 |",
            "| db      | 1 |",
            "| web     | 2 |",
            "+---------+---+",
        ],
        "{stdout}"
    );
    assert_summary(lines[lines.len() - 1], "3 rows", "2/2", "100.0%");
    assert_eq!(text(&output.stderr), "");

    // grpc:// (ADBC's spelling) reaches the same server.
    let grpc = format!("grpc://{}", stack.aggregator.flight);
    let output = shoal_sql(&["--flight", &grpc, "SELECT 41 + 1 AS answer"], "", &[]);
    assert!(text(&output.stdout).contains("| 42     |"), "{output:?}");
}

#[test]
fn csv_json_and_ndjson_keep_stdout_machine_readable() {
    let stack = stack_with_rows(2);
    let flight = stack.aggregator.flight_endpoint();

    let output = shoal_sql(
        &["--flight", &flight, "--format", "csv", BY_SERVICE],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout), "service,n\napi,3\ndb,1\nweb,2\n");
    assert_summary(text(&output.stderr).trim_end(), "3 rows", "2/2", "100.0%");

    let output = shoal_sql(
        &["--flight", &flight, "--format", "json", BY_SERVICE],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let rows: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(
        rows,
        json!([
            {"service": "api", "n": 3},
            {"service": "db", "n": 1},
            {"service": "web", "n": 2}
        ])
    );
    assert_summary(text(&output.stderr).trim_end(), "3 rows", "2/2", "100.0%");

    let output = shoal_sql(
        &["--flight", &flight, "--format", "ndjson", BY_SERVICE],
        "",
        &[],
    );
    let stdout = text(&output.stdout);
    let rows: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(rows[2], json!({"service": "web", "n": 2}), "{stdout}");
    assert_eq!(rows.len(), 3);

    // No rows: CSV keeps its header, JSON is an empty array.
    let empty = "SELECT service FROM requests WHERE status = 999";
    let output = shoal_sql(&["--flight", &flight, "--format", "csv", empty], "", &[]);
    assert_eq!(text(&output.stdout), "service\n");
    assert!(text(&output.stderr).starts_with("0 rows in "), "{output:?}");
    let output = shoal_sql(&["--flight", &flight, "--format", "json", empty], "", &[]);
    assert_eq!(text(&output.stdout).trim(), "[]");
}

#[test]
fn an_sql_error_exits_non_zero_naming_its_position() {
    let stack = stack_with_rows(1);
    let flight = stack.aggregator.flight_endpoint();
    let output = shoal_sql(
        &[
            "--flight",
            &flight,
            "SELECT service,\n  count(* FROM requests",
        ],
        "",
        &[],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr.starts_with("shoal: "), "{stderr}");
    assert!(stderr.contains("Line: 2, Column: "), "{stderr}");
    assert_eq!(text(&output.stdout), "");

    let output = shoal_sql(&["--flight", &flight, "SELECT * FROM nowhere"], "", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("nowhere"), "{output:?}");

    // Flags are checked before anything is sent.
    let output = shoal_sql(
        &["--flight", &flight, "--min-completeness", "2", "SELECT 1"],
        "",
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("invalid --min-completeness \"2\": must be between 0 and 1"),
        "{output:?}"
    );

    // Nothing listening: the address is named.
    let nowhere = format!("http://{}", free_address());
    let output = shoal_sql(&["--flight", &nowhere, "SELECT 1"], "", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(&format!("cannot connect to {nowhere}")),
        "{output:?}"
    );
}

#[test]
fn a_partial_answer_says_so_and_fails_below_the_minimum() {
    // One real leaf, and one address where nothing listens.
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &[]);
    let aggregator = AggregatorProcess::start(&[leaf.address.to_string(), free_address()], &[]);
    let (status, _, answer) = http_request(
        aggregator.http,
        "POST",
        "/api/v1/ingest/requests",
        &[("content-type", "application/x-ndjson")],
        ROWS.as_bytes(),
    );
    assert_eq!(status, 200, "{}", text(&answer));
    let flight = aggregator.flight_endpoint();
    let query = "SELECT count(*) AS n FROM requests";
    let mut output = shoal_sql(&["--flight", &flight, query], "", &[]);
    for _ in 0..50 {
        if text(&output.stdout).contains("| 6 |") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        output = shoal_sql(&["--flight", &flight, query], "", &[]);
    }
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("| 6 |"), "{stdout}");
    let summary = stdout.lines().last().expect("summary");
    assert!(
        summary.starts_with("1 row in ") && summary.contains(" · 1/2 leaves answered · rows "),
        "{summary}"
    );

    let output = shoal_sql(
        &["--flight", &flight, "--min-completeness", "1", query],
        "",
        &[],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr.contains("is below the minimum 1.000") && stderr.contains("1 of 2 leaves answered"),
        "{stderr}"
    );
    assert_eq!(text(&output.stdout), "");

    // A minimum the answer meets, and a deadline, change nothing else.
    let output = shoal_sql(
        &[
            "--flight",
            &flight,
            "--min-completeness",
            "0.5",
            "--deadline",
            "5s",
            query,
        ],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).contains("1/2 leaves answered"));
}

#[test]
fn piped_statements_run_one_after_another() {
    let stack = stack_with_rows(2);
    let flight = stack.aggregator.flight_endpoint();
    let script = "\
-- a comment line
SELECT 1 AS one; SELECT 'two;' AS two;
SET shoal.deadline = '5s';
SELECT count(*)
  AS n FROM requests;
\\d requests
SELECT 3 AS last";
    let output = shoal_sql(&["--flight", &flight, "--format", "csv"], script, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout),
        "one\n1\ntwo\ntwo;\nn\n6\n\
         column,type,arrow_type\n\
         time,timestamp,\"Timestamp(µs, \"\"UTC\"\")\"\n\
         latency_ms,float,Float64\n\
         service,string,Utf8\n\
         status,integer,Int64\n\
         last\n3\n",
    );

    // The first error stops the script and the exit status says so.
    let output = shoal_sql(
        &["--flight", &flight],
        "SELECT 1 AS one;\nSELEC 2;\nSELECT 3 AS three;\n",
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("| one |") && !stdout.contains("three"),
        "{stdout}"
    );
    assert!(text(&output.stderr).contains("SELEC"), "{output:?}");
}

#[test]
fn tokens_come_from_the_flag_or_the_environment() {
    let stack = SecuredStack::start(1, &[], &[]);
    let (status, _, _) = http_request(
        stack.aggregator.http,
        "POST",
        "/api/v1/ingest/requests",
        &[
            ("content-type", "application/x-ndjson"),
            ("authorization", &format!("Bearer {}", stack.tokens.writer)),
        ],
        ROWS.as_bytes(),
    );
    assert_eq!(status, 200);
    stack.eventually("SELECT count(*) FROM requests", json!(6));
    let flight = stack.aggregator.flight_endpoint();
    let query = "SELECT count(*) AS n FROM requests";

    let output = shoal_sql(&["--flight", &flight, query], "", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(!text(&output.stderr).is_empty());

    let output = shoal_sql(
        &["--flight", &flight, "--token", &stack.tokens.reader, query],
        "",
        &[],
    );
    assert!(text(&output.stdout).contains("| 6 |"), "{output:?}");

    let output = shoal_sql(
        &["--flight", &flight, query],
        "",
        &[("SHOAL_TOKEN", &stack.tokens.reader)],
    );
    assert!(text(&output.stdout).contains("| 6 |"), "{output:?}");

    // A token limited to other tables is refused, with the table named.
    let output = shoal_sql(
        &[
            "--flight",
            &flight,
            "--token",
            &stack.tokens.other_reader,
            query,
        ],
        "",
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("requests"), "{output:?}");
}

#[test]
fn https_servers_are_reached_with_a_given_ca() {
    let certificates = tempfile::tempdir().unwrap();
    make_certificates(certificates.path());
    let file = |name: &str| certificates.path().join(name).to_str().unwrap().to_string();
    let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &[]);
    let aggregator = AggregatorProcess::start(
        &[leaf.address.to_string()],
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    let https = format!("https://127.0.0.1:{}", aggregator.flight.port());

    let output = shoal_sql(
        &[
            "--flight",
            &https,
            "--tls-ca",
            &ca,
            "SELECT 41 + 1 AS answer",
        ],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).contains("| 42     |"), "{output:?}");

    // The system's roots do not know the test CA.
    let output = shoal_sql(&["--flight", &https, "SELECT 1"], "", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("cannot connect to"),
        "{output:?}"
    );
}

/// `shoal sql` on a pseudo-terminal: what it printed, and keys to type.
struct Terminal {
    child: Child,
    master: File,
    printed: Arc<Mutex<Vec<u8>>>,
    /// How much of `printed` earlier expectations consumed.
    consumed: usize,
}

impl Terminal {
    /// Starts `shoal sql ARGS` with a new pseudo-terminal as its
    /// controlling terminal and standard streams.
    fn start(args: &[&str], history: &Path) -> Self {
        // SAFETY: plain libc calls on a descriptor this function owns; the
        // name buffer is large enough and NUL-terminated by ptsname_r.
        let (master, slave_path) = unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(master), 0, "grantpt");
            assert_eq!(libc::unlockpt(master), 0, "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(master, name.as_mut_ptr(), name.len()),
                0,
                "ptsname_r"
            );
            let size = libc::winsize {
                ws_row: 50,
                ws_col: 200,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            assert_eq!(libc::ioctl(master, libc::TIOCSWINSZ, &size), 0);
            let path = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_str()
                .expect("pty name")
                .to_string();
            (File::from_raw_fd(master), path)
        };
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .expect("open pty");
        let mut command = Command::new(shoal_binary());
        command
            .arg("sql")
            .args(args)
            .env("SHOAL_HISTORY", history)
            .env("TERM", "xterm")
            .env("SHOAL_LOG", "warn")
            .env_remove("SHOAL_TOKEN")
            .stdin(slave.try_clone().expect("pty"))
            .stdout(slave.try_clone().expect("pty"))
            .stderr(slave);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn shoal sql on a pty");
        // The parent's copies of the slave close here, so reads of the
        // master end when the child exits.
        drop(command);
        let printed = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("pty");
        let sink = printed.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        });
        Self {
            child,
            master,
            printed,
            consumed: 0,
        }
    }

    /// Types `keys`.
    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
        self.master.flush().expect("type");
    }

    /// Waits (up to 30 s) until the terminal shows `needle` after what
    /// earlier calls saw; returns what was printed up to it.
    fn expect(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            {
                let printed = self.printed.lock().unwrap();
                let unseen = &printed[self.consumed..];
                if let Some(at) = unseen
                    .windows(needle.len())
                    .position(|window| window == needle.as_bytes())
                {
                    let seen = text(&unseen[..at + needle.len()]);
                    self.consumed += at + needle.len();
                    return seen;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!(
                    "{needle:?} never printed; after the last match: {:?}",
                    text(&self.printed.lock().unwrap()[self.consumed..])
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to 10 s) for the client to exit; its exit code.
    fn wait(&mut self) -> Option<i32> {
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("shoal sql did not exit");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_prompt_keeps_history_spans_lines_and_describes_tables() {
    let stack = stack_with_rows(2);
    let flight = stack.aggregator.flight_endpoint();
    let home = tempfile::tempdir().unwrap();
    let history = home.path().join("history");

    // First session: one query, then Ctrl-D.
    let mut first = Terminal::start(&["--flight", &flight], &history);
    first.expect("shoal> ");
    first.send("SELECT 41 + 1 AS answer;\r");
    let printed = first.expect("no leaf queried");
    assert!(printed.contains("| 42     |"), "{printed}");
    assert!(printed.contains("1 row in "), "{printed}");
    first.expect("shoal> ");
    first.send("\x04");
    assert_eq!(first.wait(), Some(0));
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(saved.contains("SELECT 41 + 1 AS answer;"), "{saved}");

    // Second session: the up arrow brings it back.
    let mut second = Terminal::start(&["--flight", &flight], &history);
    second.expect("shoal> ");
    second.send("\x1b[A");
    second.expect("SELECT 41 + 1 AS answer;");
    second.send("\r");
    let printed = second.expect("no leaf queried");
    assert!(printed.contains("| 42     |"), "{printed}");

    // A statement over three lines runs at its ';'.
    second.expect("shoal> ");
    second.send("SELECT service,\r");
    second.expect("   ...> ");
    second.send("  count(*) AS n FROM requests\r");
    second.expect("   ...> ");
    second.send("GROUP BY service ORDER BY n DESC;\r");
    let printed = second.expect("leaves answered");
    for row in ["| api     | 3 |", "| web     | 2 |", "| db      | 1 |"] {
        assert!(printed.contains(row), "{row} not in {printed}");
    }
    assert!(printed.contains("3 rows in "), "{printed}");
    assert!(printed.contains(" · 2/2 leaves answered"), "{printed}");

    // \d lists the tables, \d TABLE the columns and their types.
    second.expect("shoal> ");
    second.send("\\d\r");
    let printed = second.expect("shoal> ");
    assert!(printed.contains("| table    | columns |"), "{printed}");
    assert!(printed.contains("| requests | 4       |"), "{printed}");
    second.send("\\d requests\r");
    let printed = second.expect("shoal> ");
    for row in [
        "| service    | string    |",
        "| status     | integer   |",
        "| latency_ms | float     |",
        "| time       | timestamp |",
    ] {
        assert!(printed.contains(row), "{row} not in {printed}");
    }

    // An error is printed and the prompt goes on; Tab completes names.
    second.send("SELEC 1;\r");
    let printed = second.expect("shoal> ");
    assert!(printed.contains("error: "), "{printed}");
    second.send("SELECT max(stat\t) AS top FROM req\t;\r");
    let printed = second.expect("leaves answered");
    assert!(printed.contains("| 500 |"), "{printed}");
    second.expect("shoal> ");
    second.send("\\q\r");
    assert_eq!(second.wait(), Some(0));

    // Both sessions' statements are in the file, the multi-line one whole.
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(
        saved.contains("SELECT service,\\n  count(*) AS n FROM requests\\nGROUP BY service"),
        "{saved}"
    );
}
