//! Real log shippers, unchanged, with nothing but Shoal's URL and a token
//! (as HTTP Basic password) in their configuration: syslog-ng's `http()`
//! destination posting JSON lines to `POST /api/v1/ingest/{table}`, and
//! rsyslog's omelasticsearch posting `_bulk`. Each receives syslog lines over
//! TCP, forwards them to a real aggregator that requires tokens, and the
//! rows are read back with SQL.
//!
//! The shippers are named by `SHOAL_SYSLOG_NG` (the syslog-ng binary) and
//! `SHOAL_RSYSLOGD` + `SHOAL_RSYSLOG_MODULES` (rsyslogd and its module
//! folder); `.ci/run` installs them, sets these and requires them
//! (`SHOAL_REQUIRE_CLIENTS`). Without them elsewhere a test says so and is
//! skipped.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::secured::{SecuredStack, bearer};
use common::*;
use serde_json::json;

/// Syslog lines sent to each shipper.
const LINES: usize = 200;

/// A shipper process, killed when the test ends.
struct Shipper {
    child: Child,
    log: std::path::PathBuf,
}

impl Shipper {
    fn spawn(command: &mut Command, log: std::path::PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("shipper log");
        let child = command
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn shipper");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connects to the shipper's syslog port once it listens.
    fn connect(&mut self, address: &str) -> TcpStream {
        let started = Instant::now();
        loop {
            if let Ok(stream) = TcpStream::connect(address) {
                return stream;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the shipper exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the shipper never listened on {address}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RFC 3164 lines from three hosts; every tenth is a warning.
fn send_syslog(mut stream: TcpStream) {
    for number in 0..LINES {
        let priority = if number % 10 == 0 { 12 } else { 14 };
        let line = format!(
            "<{priority}>Nov 22 10:00:{:02} web-{} checkout[4242]: request {number} done\n",
            number % 60,
            number % 3
        );
        stream.write_all(line.as_bytes()).expect("send syslog");
    }
    stream.flush().expect("flush");
}

/// The rows a shipper stored, checked field by field.
fn check_rows(stack: &SecuredStack, table: &str, shipper: &Shipper) {
    let reader = bearer(&stack.tokens.admin);
    let sql = format!(
        "SELECT count(*), count(DISTINCT message), count(DISTINCT host), min(program),
                sum(CASE WHEN severity = 'warning' THEN 1 ELSE 0 END),
                count(*) FILTER (WHERE message LIKE '%request 7 done'),
                CAST(min(time) AS VARCHAR) LIKE '%-11-22T10:00:00%'
         FROM {table}"
    );
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, answer) =
            http_query(stack.aggregator.http, &sql, &[("authorization", &reader)]);
        if status == 200 && answer["rows"][0][0] == json!(LINES) {
            assert_eq!(
                answer["rows"][0],
                json!([LINES, LINES, 3, "checkout", LINES / 10, 1, true]),
                "{table}"
            );
            return;
        }
        last = answer;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{table}: the rows did not arrive; last answer {last}; shipper log: {}",
        shipper.log()
    );
}

#[test]
fn syslog_ng_http_destination_posts_json_lines() {
    let Some(syslog_ng) = client_tool("SHOAL_SYSLOG_NG") else {
        return;
    };
    let stack = SecuredStack::start(2, &[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = free_address();
    let (host, port) = listen.rsplit_once(':').expect("address");
    let config = format!(
        r#"@version: 3.38
options {{ stats-freq(0); keep-hostname(yes); }};
source s_in {{ network(ip("{host}") port({port}) transport("tcp")); }};
destination d_shoal {{
  http(url("http://{http}/api/v1/ingest/syslog_ng")
    method("POST")
    user("shipper") password("{token}")
    headers("Content-Type: application/x-ndjson")
    body("$(format-json host=$HOST program=$PROGRAM pid=int64($PID) message=$MSG severity=$LEVEL facility=$FACILITY @timestamp=$ISODATE)")
    batch-lines(50) batch-timeout(100));
}};
log {{ source(s_in); destination(d_shoal); }};
"#,
        http = stack.aggregator.http,
        token = stack.tokens.shipper,
    );
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("syslog-ng.conf"), config).expect("config");
    let mut shipper = Shipper::spawn(
        Command::new(syslog_ng)
            .arg("-F")
            .arg("-e")
            .arg("-f")
            .arg(path("syslog-ng.conf"))
            .arg("-R")
            .arg(path("persist"))
            .arg("-p")
            .arg(path("pid"))
            .arg("-c")
            .arg(path("ctl")),
        path("out.log"),
    );
    send_syslog(shipper.connect(&listen));
    check_rows(&stack, "syslog_ng", &shipper);
    let (_, answer) = http_query(
        stack.aggregator.http,
        "SELECT min(pid), max(pid), min(facility) FROM syslog_ng",
        &[("authorization", &bearer(&stack.tokens.admin))],
    );
    assert_eq!(answer["rows"][0], json!([4242, 4242, "user"]));
}

#[test]
fn rsyslog_omelasticsearch_posts_bulk() {
    let (Some(rsyslogd), Some(modules)) = (
        client_tool("SHOAL_RSYSLOGD"),
        client_tool("SHOAL_RSYSLOG_MODULES"),
    ) else {
        return;
    };
    let stack = SecuredStack::start(2, &[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = free_address();
    let (host, port) = listen.rsplit_once(':').expect("address");
    let http = stack.aggregator.http;
    let config = format!(
        r#"global(workDirectory="{work}")
module(load="imtcp")
module(load="omelasticsearch")
input(type="imtcp" address="{host}" port="{port}")
template(name="shoal_doc" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="program" name="programname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
action(type="omelasticsearch" server="{server}" serverport="{server_port}" searchIndex="rsyslog_logs"
       uid="shipper" pwd="{token}"
       template="shoal_doc" bulkmode="on" errorFile="{work}/es-errors.json")
"#,
        work = dir.path().display(),
        server = http.ip(),
        server_port = http.port(),
        token = stack.tokens.shipper,
    );
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("rsyslog.conf"), config).expect("config");
    let mut shipper = Shipper::spawn(
        Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(path("rsyslog.conf"))
            .arg("-i")
            .arg(path("pid"))
            .arg("-M")
            .arg(Path::new(&modules)),
        path("out.log"),
    );
    send_syslog(shipper.connect(&listen));
    check_rows(&stack, "rsyslog_logs", &shipper);
    let errors = std::fs::read_to_string(path("es-errors.json")).unwrap_or_default();
    assert!(
        errors.is_empty(),
        "omelasticsearch reported errors: {errors}"
    );
}
