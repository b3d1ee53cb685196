//! The browser tests' side of a scenario (`tests/browser/*.mjs`): finding
//! node, Chromium and playwright-core (or saying which is missing), running
//! a scenario with a time limit, and reading what it printed: a panel's
//! hooks, its drawn series and heatmap cells, and the buckets its answer
//! marks as missing data.
//!
//! A scenario prints one JSON line; its `panel` objects are made by
//! `panelReport` in `tests/browser/lib.mjs`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A scenario that takes longer is killed (with its Chromium) and fails.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// Where node, Chromium and the scenarios are.
pub struct Browser {
    node: String,
    chromium: String,
    scenarios: PathBuf,
}

/// The tools, or `None` (with the reason printed) when one is missing;
/// with `SHOAL_REQUIRE_BROWSER` set a missing tool fails the test.
pub fn browser() -> Option<Browser> {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let node = std::env::var("SHOAL_NODE").unwrap_or_else(|_| "node".to_string());
    let chromium =
        std::env::var("SHOAL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let node_runs = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    let missing = if !node_runs {
        Some(format!("node ({node}) does not run"))
    } else if !Path::new(&chromium).is_file() {
        Some(format!(
            "Chromium is not at {chromium} (set SHOAL_CHROMIUM)"
        ))
    } else if !scenarios.join("node_modules/playwright-core").is_dir() {
        Some("playwright-core is not installed (npm ci --prefix tests/browser)".to_string())
    } else {
        None
    };
    match missing {
        None => Some(Browser {
            node,
            chromium,
            scenarios,
        }),
        Some(reason) if std::env::var_os("SHOAL_REQUIRE_BROWSER").is_some() => {
            panic!("{reason}, and SHOAL_REQUIRE_BROWSER says this test must run")
        }
        Some(reason) => {
            eprintln!("{reason}: this browser test did not run");
            None
        }
    }
}

impl Browser {
    /// Runs `node tests/browser/{script} --url http://{http} {args}` and
    /// returns the JSON line it printed; fails with what it printed when
    /// it fails, prints `{"error"}` or runs past [`SCENARIO_TIMEOUT`].
    pub fn run(&self, script: &str, http: SocketAddr, args: &[(&str, String)]) -> Value {
        let mut command = Command::new(&self.node);
        command
            .arg(self.scenarios.join(script))
            .arg("--url")
            .arg(format!("http://{http}"));
        for (name, value) in args {
            command.arg(format!("--{name}")).arg(value);
        }
        let mut child = command
            .env("SHOAL_CHROMIUM", &self.chromium)
            // Its own process group, so that a hung scenario is killed
            // together with the Chromium it started.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node");
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
        let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for node") {
                break Some(status);
            }
            if started.elapsed() > SCENARIO_TIMEOUT {
                // SAFETY: kill(2) on the process group this test started.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let printed = stdout.join().unwrap_or_default();
        let errors = stderr.join().unwrap_or_default();
        let Some(status) = status else {
            panic!("{script} ran past {SCENARIO_TIMEOUT:?}: {printed}\n{errors}");
        };
        let line = printed.lines().rev().find(|l| !l.trim().is_empty());
        let result: Value = line
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{script} printed no JSON ({status}): {printed}\n{errors}"));
        assert!(
            status.success() && result.get("error").is_none(),
            "{script} failed ({status}): {}\n{errors}",
            result["error"]
        );
        result
    }
}

/// Epoch milliseconds of an arrow-json timestamp ("2026-11-29T10:00:00",
/// optionally with a fraction and a `Z`; UTC), read as ingest reads log
/// times.
pub fn epoch_ms(text: &str) -> i64 {
    let utc = format!("{}Z", text.strip_suffix('Z').unwrap_or(text));
    shoal_aggregator::ingest::time_text::utc_nanos(&utc)
        .unwrap_or_else(|| panic!("not a timestamp: {text}"))
        .div_euclid(1_000_000)
}

pub fn attribute<'a>(panel: &'a Value, name: &str) -> &'a str {
    panel["attributes"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} on the panel: {}", panel["attributes"]))
}

pub fn attribute_number(panel: &Value, name: &str) -> f64 {
    attribute(panel, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number: {}", panel["attributes"]))
}

/// The panel's final answer is whole: complete, every leaf answered.
pub fn assert_complete(panel: &Value, leaves: usize) {
    let context = &panel["attributes"];
    assert_eq!(attribute(panel, "data-state"), "complete", "{context}");
    assert_eq!(attribute(panel, "data-final"), "true", "{context}");
    assert_eq!(
        attribute_number(panel, "data-leaves-answered"),
        leaves as f64,
        "{context}"
    );
    assert_eq!(
        attribute_number(panel, "data-leaves-queried"),
        leaves as f64,
        "{context}"
    );
    assert_eq!(attribute_number(panel, "data-rows-ratio"), 1.0, "{context}");
}

/// `(group, bucket start ms) -> value` of a `bucket, group, value` answer.
pub fn series_values(answer: &Value) -> BTreeMap<(String, i64), f64> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let bucket = epoch_ms(row[0].as_str().unwrap());
            (
                (row[1].as_str().unwrap().to_string(), bucket),
                row[2].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The drawn series of a time series panel: label -> values on `xs`.
pub fn drawn_series(panel: &Value) -> (Vec<i64>, BTreeMap<String, Vec<Option<f64>>>) {
    let data = &panel["data"];
    let xs: Vec<i64> = data["xs"]
        .as_array()
        .unwrap_or_else(|| panic!("no xs drawn: {data}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let series = data["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["compare"] != true)
        .map(|s| {
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::as_f64)
                .collect();
            (s["label"].as_str().unwrap().to_string(), values)
        })
        .collect();
    (xs, series)
}

/// The buckets an answer's `time_completeness` marks as missing data
/// inside `[from_ms, to_ms)`, as the app decides which to shade.
pub fn shaded_buckets(answer: &Value, from_ms: i64, to_ms: i64) -> BTreeSet<i64> {
    let completeness = &answer["time_completeness"];
    let start = completeness["start_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("no time_completeness: {answer}"));
    let step = completeness["step_ms"].as_i64().unwrap();
    completeness["missing"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, share)| share.as_f64().unwrap() > 0.001)
        .map(|(i, _)| start + i as i64 * step)
        .filter(|bucket| bucket + step > from_ms && *bucket < to_ms)
        .collect()
}

pub fn heatmap_total(panel: &Value) -> i64 {
    panel["data"]["counts"]
        .as_array()
        .unwrap_or_else(|| panic!("no heatmap cells: {}", panel["data"]))
        .iter()
        .flat_map(|column| column.as_array().unwrap())
        .map(|count| count.as_i64().unwrap())
        .sum()
}
