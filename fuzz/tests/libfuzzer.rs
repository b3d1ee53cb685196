//! The fuzz target binaries, run under libFuzzer.
//!
//! In the ordinary test build (no coverage instrumentation) each target
//! binary runs every committed corpus input and every kept crash
//! (`regressions/`) once: libFuzzer's own driver, the code `cargo fuzz`
//! runs, not a copy of it.
//!
//! With `SHOAL_FUZZ_SECONDS=N` (set by `fuzz/run`, which builds Shoal's
//! crates with sanitizer-coverage instrumentation) each target is fuzzed for
//! N seconds, coverage-guided, starting from its corpus; new inputs go to a
//! scratch directory, not the committed corpus. `SHOAL_FUZZ_TARGETS=a,b`
//! picks targets. A crash fails the test and names the input libFuzzer
//! saved.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every target, as `fuzz_targets/` and `corpus/` name them.
const TARGETS: &[(&str, &str)] = &[
    ("ndjson", env!("CARGO_BIN_EXE_ndjson")),
    ("bulk", env!("CARGO_BIN_EXE_bulk")),
    ("otlp", env!("CARGO_BIN_EXE_otlp")),
    ("flight_tickets", env!("CARGO_BIN_EXE_flight_tickets")),
    ("fragment", env!("CARGO_BIN_EXE_fragment")),
    ("wal_replay", env!("CARGO_BIN_EXE_wal_replay")),
    ("block_open", env!("CARGO_BIN_EXE_block_open")),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The committed inputs of `target`: corpus, then regressions.
fn committed_inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) {
            files.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && !is_hidden(p)),
            );
        }
    }
    files.sort();
    files
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// Runs `binary` with `args`, then removes the scratch directories the
/// targets make (`shoal-fuzz-<target>-<pid>`, see `fuzz/src/lib.rs`).
fn run(binary: &str, args: &[String]) -> Output {
    let child = Command::new(binary)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
    let suffix = format!("-{}", child.id());
    let output = child.wait_with_output().unwrap();
    for base in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("shoal-fuzz-") && name.ends_with(&suffix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    output
}

fn selected() -> Vec<(&'static str, &'static str)> {
    let wanted = std::env::var("SHOAL_FUZZ_TARGETS").unwrap_or_default();
    let wanted: Vec<&str> = wanted.split(',').filter(|t| !t.is_empty()).collect();
    for name in &wanted {
        assert!(
            TARGETS.iter().any(|(t, _)| t == name),
            "SHOAL_FUZZ_TARGETS names {name:?}, which is not a target"
        );
    }
    TARGETS
        .iter()
        .copied()
        .filter(|(name, _)| wanted.is_empty() || wanted.contains(name))
        .collect()
}

/// The number libFuzzer printed last after `key` (e.g. `stat::number_of_executed_units:`).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.rfind(key)? + key.len();
    let digits: String = text[at..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn every_target_binary_runs_its_committed_inputs_under_libfuzzer() {
    if std::env::var_os("SHOAL_FUZZ_SECONDS").is_some() {
        return; // the fuzzing run below covers them
    }
    for (name, binary) in selected() {
        let inputs = committed_inputs(name);
        assert!(!inputs.is_empty(), "no corpus for {name}");
        let mut args = vec!["-timeout=10".to_string()];
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        let output = run(binary, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{name} failed on its committed inputs ({}):\n{stderr}",
            output.status
        );
        let executed = stderr.matches("Executed ").count();
        assert_eq!(
            executed,
            inputs.len(),
            "{name}: libFuzzer ran {executed} of {} inputs:\n{stderr}",
            inputs.len()
        );
    }
}

#[test]
fn every_target_survives_a_coverage_guided_run() {
    let Some(seconds) = std::env::var("SHOAL_FUZZ_SECONDS").ok() else {
        return; // only under fuzz/run, which instruments the build
    };
    let seconds: u64 = seconds
        .parse()
        .unwrap_or_else(|_| panic!("SHOAL_FUZZ_SECONDS={seconds:?} is not a number"));
    for (name, binary) in selected() {
        let scratch = tempfile_dir(name);
        let new_inputs = scratch.join("new");
        let artifacts = scratch.join("crashes");
        std::fs::create_dir_all(&new_inputs).unwrap();
        std::fs::create_dir_all(&artifacts).unwrap();
        let mut args = vec![
            format!("-max_total_time={seconds}"),
            "-timeout=10".to_string(),
            "-rss_limit_mb=4096".to_string(),
            "-print_final_stats=1".to_string(),
            format!("-artifact_prefix={}/", artifacts.display()),
            new_inputs.display().to_string(),
        ];
        for kind in ["corpus", "regressions"] {
            let dir = fuzz_dir().join(kind).join(name);
            if dir.is_dir() {
                args.push(dir.display().to_string());
            }
        }
        let output = run(binary, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // "INFO: Loaded 1 modules   (N inline 8-bit counters): ..."
        let counters = stderr
            .lines()
            .find(|line| line.contains("inline 8-bit counters"))
            .and_then(|line| number_after(line, "("))
            .unwrap_or(0);
        assert!(
            counters > 0,
            "{name} is not built with coverage instrumentation (run it through fuzz/run):\n{stderr}"
        );
        let crashes: Vec<_> = std::fs::read_dir(&artifacts)
            .unwrap()
            .flatten()
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(
            output.status.success() && crashes.is_empty(),
            "{name} crashed ({}); inputs kept: {crashes:?}\n{stderr}",
            output.status
        );
        let runs = number_after(&stderr, "stat::number_of_executed_units:").unwrap_or(0);
        let coverage = number_after(&stderr, "cov: ").unwrap_or(0);
        let found = std::fs::read_dir(&new_inputs).map_or(0, |d| d.count());
        eprintln!(
            "fuzz {name}: {runs} runs in {seconds} s, 0 crashes, {counters} coverage counters, cov {coverage}, {found} new inputs"
        );
        let _ = std::fs::remove_dir_all(&scratch);
    }
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shoal-libfuzzer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
