//! `benches/record.py` and `benches/compare.py`, the benchmarks that
//! remember: compare fails (exit 1) and names the benchmark when one got
//! 30% slower, passes within the threshold, and record turns a
//! criterion-shaped directory into a run holding the commit and the
//! median estimates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(name)
}

fn python(args: &[&std::ffi::OsStr]) -> Output {
    Command::new("python3")
        .args(args)
        .output()
        .expect("run python3 (needed by benches/*.py)")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run as record.py writes it: results are (name, value, unit, lower_is_better).
fn write_run(dir: &Path, file: &str, results: &[(&str, f64, &str, bool)]) -> PathBuf {
    let run = json!({
        "format": 1,
        "commit": {"hash": "0123456789abcdef0123456789abcdef01234567", "short": "0123456", "dirty": false},
        "date": "2026-01-01T00:00:00Z",
        "machine": {"nproc": 2, "memory_bytes": 1_u64 << 30, "cpu_model": "test"},
        "results": results
            .iter()
            .map(|(name, value, unit, lower)| {
                json!({"name": name, "value": value, "unit": unit, "lower_is_better": lower})
            })
            .collect::<Vec<_>>(),
    });
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(&run).expect("json")).expect("write run");
    path
}

fn compare(old: &Path, new: &Path) -> (Option<i32>, String) {
    let out = python(&[
        script("compare.py").as_os_str(),
        old.as_os_str(),
        new.as_os_str(),
        "--threshold".as_ref(),
        "10".as_ref(),
    ]);
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    (out.status.code(), text(&out.stdout))
}

fn line_of<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

#[test]
fn compare_fails_on_a_30_percent_slowdown_and_passes_within_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = write_run(
        dir.path(),
        "old.json",
        &[
            ("scan/with_bitmap", 1_000_000.0, "ns", true),
            ("seal_block", 5_000_000.0, "ns", true),
            ("ingest/rows_per_s", 1000.0, "rows/s", false),
            ("gone", 10.0, "ns", true),
        ],
    );

    // scan 30% slower: a regression, named; seal 4% slower and the
    // throughput up 5%: within the threshold.
    let slower = write_run(
        dir.path(),
        "slower.json",
        &[
            ("scan/with_bitmap", 1_300_000.0, "ns", true),
            ("seal_block", 5_200_000.0, "ns", true),
            ("ingest/rows_per_s", 1050.0, "rows/s", false),
            ("added", 1.0, "ns", true),
        ],
    );
    let (code, stdout) = compare(&old, &slower);
    assert_eq!(code, Some(1), "{stdout}");
    let scan = line_of(&stdout, "scan/with_bitmap");
    assert!(
        scan.contains("+30.0%") && scan.contains("REGRESSION"),
        "{stdout}"
    );
    assert!(
        !line_of(&stdout, "seal_block").contains("REGRESSION"),
        "{stdout}"
    );
    assert!(line_of(&stdout, "gone").contains("only in old"), "{stdout}");
    assert!(
        line_of(&stdout, "added").contains("only in new"),
        "{stdout}"
    );
    let summary = stdout.lines().last().expect("summary line");
    assert!(
        summary.contains("1 regression") && summary.contains("scan/with_bitmap"),
        "{stdout}"
    );

    // Within 10% everywhere, and results in one run only do not fail.
    let close = write_run(
        dir.path(),
        "close.json",
        &[
            ("scan/with_bitmap", 1_090_000.0, "ns", true),
            ("seal_block", 4_000_000.0, "ns", true),
            ("ingest/rows_per_s", 950.0, "rows/s", false),
            ("added", 1.0, "ns", true),
        ],
    );
    let (code, stdout) = compare(&old, &close);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    assert!(
        line_of(&stdout, "seal_block").contains("better"),
        "{stdout}"
    );

    // Higher is better: 30% fewer rows/s is a regression, 30% more is not.
    let fewer = write_run(
        dir.path(),
        "fewer.json",
        &[("ingest/rows_per_s", 700.0, "rows/s", false)],
    );
    let (code, stdout) = compare(&old, &fewer);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        line_of(&stdout, "ingest/rows_per_s").contains("REGRESSION"),
        "{stdout}"
    );
    let more = write_run(
        dir.path(),
        "more.json",
        &[("ingest/rows_per_s", 1300.0, "rows/s", false)],
    );
    let (code, stdout) = compare(&old, &more);
    assert_eq!(code, Some(0), "{stdout}");
}

fn write_estimates(bench_dir: &Path, kind: &str, median: f64, full_id: Option<&str>) -> PathBuf {
    let dir = bench_dir.join(kind);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let estimates = json!({
        "mean": {"point_estimate": median * 2.0},
        "median": {"point_estimate": median},
    });
    let path = dir.join("estimates.json");
    std::fs::write(&path, estimates.to_string()).expect("write estimates");
    if let Some(id) = full_id {
        std::fs::write(
            dir.join("benchmark.json"),
            json!({"full_id": id}).to_string(),
        )
        .expect("write benchmark.json");
    }
    path
}

fn record(criterion: &Path, out: &Path, extra: &[&std::ffi::OsStr]) -> Value {
    let mut args = vec![
        script("record.py").into_os_string(),
        "--criterion-dir".into(),
        criterion.as_os_str().to_owned(),
        "--out".into(),
        out.as_os_str().to_owned(),
    ];
    args.extend(extra.iter().map(|a| a.to_os_string()));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let done = python(&args);
    assert!(
        done.status.success(),
        "record.py: {}{}",
        text(&done.stdout),
        text(&done.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).expect("read run")).expect("run is JSON")
}

fn results(run: &Value) -> Vec<(String, f64, String, bool)> {
    run["results"]
        .as_array()
        .expect("results list")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["value"].as_f64().expect("value"),
                r["unit"].as_str().expect("unit").to_string(),
                r["lower_is_better"].as_bool().expect("lower_is_better"),
            )
        })
        .collect()
}

#[test]
fn record_reads_a_criterion_directory_with_the_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let criterion = dir.path().join("criterion");
    // A plain benchmark (no benchmark.json: named by its directory) and a
    // grouped one, with the base and change estimates criterion keeps too.
    write_estimates(&criterion.join("seal_block"), "new", 6_940_000.0, None);
    let grouped = criterion.join("scan_group").join("with_bitmap");
    write_estimates(&grouped, "new", 1_140_000.0, Some("scan_group/with_bitmap"));
    write_estimates(
        &grouped,
        "base",
        9_999_999.0,
        Some("scan_group/with_bitmap"),
    );
    write_estimates(&grouped, "change", 0.5, None);
    std::fs::create_dir_all(criterion.join("report")).expect("mkdir report");
    std::fs::write(criterion.join("report").join("index.html"), "<html>").expect("report");
    // Left over from an older run: written two hours ago.
    let stale = write_estimates(&criterion.join("stale_bench"), "new", 42.0, None);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .expect("open stale")
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .expect("age stale estimates");
    let lines = dir.path().join("script_output.txt");
    std::fs::write(
        &lines,
        "loading...\n{\"name\": \"ingest/http_rows_per_s\", \"value\": 385881, \"unit\": \"rows/s\", \"lower_is_better\": false}\n{\"not\": \"a result\"}\n",
    )
    .expect("write lines");

    let head = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .expect("git rev-parse");
    assert!(head.status.success(), "{}", text(&head.stderr));
    let head = text(&head.stdout).trim().to_string();
    assert_eq!(head.len(), 40, "{head}");

    let run = record(
        &criterion,
        &dir.path().join("all.json"),
        &["--json-lines".as_ref(), lines.as_os_str()],
    );
    assert_eq!(run["commit"]["hash"].as_str(), Some(head.as_str()), "{run}");
    assert_eq!(run["commit"]["short"].as_str(), Some(&head[..7]), "{run}");
    assert!(run["commit"]["dirty"].is_boolean(), "{run}");
    assert!(
        run["date"].as_str().is_some_and(|d| d.ends_with('Z')),
        "{run}"
    );
    assert!(
        run["machine"]["nproc"].as_u64().is_some_and(|n| n >= 1),
        "{run}"
    );
    assert_eq!(
        results(&run),
        vec![
            (
                "ingest/http_rows_per_s".to_string(),
                385881.0,
                "rows/s".to_string(),
                false
            ),
            (
                "scan_group/with_bitmap".to_string(),
                1_140_000.0,
                "ns".to_string(),
                true
            ),
            (
                "seal_block".to_string(),
                6_940_000.0,
                "ns".to_string(),
                true
            ),
            ("stale_bench".to_string(), 42.0, "ns".to_string(), true),
        ],
        "{run}"
    );

    // Only what the latest run wrote: the stale estimates are left out.
    let run = record(
        &criterion,
        &dir.path().join("latest.json"),
        &["--since-minutes".as_ref(), "60".as_ref()],
    );
    let names: Vec<String> = results(&run).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["scan_group/with_bitmap", "seal_block"], "{run}");
}
