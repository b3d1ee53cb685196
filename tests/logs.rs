//! What a process writes on stderr when it is not a terminal: plain text
//! without colour codes, or with `--log-format json` one JSON object per line.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// Starts `shoal [global] leaf ... [flags]` with `SHOAL_LOG=info` and stderr
/// piped, waits until it is ready, stops it, and returns what it wrote on
/// stderr.
fn leaf_stderr(global: &[&str], flags: &[&str]) -> String {
    let dir = shm_tempdir();
    let mut child = Command::new(shoal_binary())
        .args(global)
        .args(["leaf", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(flags)
        .env("SHOAL_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shoal leaf");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("shoal leaf ready on "));
    let _ = child.kill();
    let _ = child.wait();
    let mut printed = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut printed)
        .expect("read stderr");
    assert!(ready, "the leaf never got ready: {printed}");
    printed
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let printed = leaf_stderr(&[], &[]);
    assert!(printed.contains("leaf ready"), "{printed}");
    assert!(printed.contains("INFO"), "{printed}");
    assert!(!printed.contains('\x1b'), "escape codes in {printed:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    // A global flag: before the subcommand or after it.
    for printed in [
        leaf_stderr(&["--log-format", "json"], &[]),
        leaf_stderr(&[], &["--log-format", "json"]),
    ] {
        assert!(!printed.contains('\x1b'), "escape codes in {printed:?}");
        let lines: Vec<Value> = printed
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect();
        let ready = lines
            .iter()
            .find(|line| line["message"] == "leaf ready")
            .unwrap_or_else(|| panic!("no ready line in {printed}"));
        assert_eq!(ready["level"], "INFO", "{ready}");
        assert!(ready["timestamp"].is_string(), "{ready}");
        assert_eq!(ready["rows"], 0, "{ready}");
    }
}

#[test]
fn an_unknown_log_format_is_refused_by_name() {
    let output = Command::new(shoal_binary())
        // Everything else is valid (and the file could not be written), so
        // the only complaint is the format.
        .args([
            "--log-format",
            "xml",
            "token",
            "create",
            "--name",
            "n",
            "--role",
            "read",
        ])
        .args(["--auth-file", "/dev/null/tokens"])
        .output()
        .expect("run shoal");
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        printed.contains("invalid value 'xml' for '--log-format"),
        "{printed}"
    );
    assert!(
        printed.contains("text") && printed.contains("json"),
        "{printed}"
    );
}
