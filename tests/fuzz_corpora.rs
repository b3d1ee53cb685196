//! The fuzz targets in the ordinary test build, so CI runs every one.
//!
//! Each file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! (crashes the fuzzer found, kept after their fix) goes through the
//! target's function: the same code libFuzzer drives, included from
//! `fuzz/src/lib.rs`. Then a short seeded mutation run of every target:
//! bit flips, byte changes, cuts, repeats and splices of those inputs. It
//! has no coverage feedback, but it is deterministic (the same seed gives
//! the same inputs) and needs no instrumented build. The coverage-guided
//! libFuzzer runs are `fuzz/run` (CI runs it for 20 s a target).

// The fixture's schema is the seed writer's (`tests/fuzz_seeds.rs`).
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzzing;

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutated inputs made from each corpus input.
const MUTATIONS_PER_INPUT: usize = 150;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect()
}

fn run(name: &str, target: fuzzing::Target, data: &[u8], what: &dyn Fn() -> String) {
    let outcome = std::panic::catch_unwind(|| target(data));
    assert!(outcome.is_ok(), "{name} failed on {}", what());
}

/// One test, so that its scratch directories (the fragment target's store,
/// the files the block and segment targets write) go when it is done.
#[test]
fn every_target_takes_its_corpus_and_a_seeded_mutation_run() {
    every_planned_fragment_seed_runs_to_its_answer();
    every_corpus_input_and_regression_passes_its_target();
    a_seeded_mutation_run_of_every_target_finds_no_failure();
    fuzzing::remove_scratch_dirs();
}

/// The fragment seeds are plans DataFusion made for real queries: the
/// leaves' policy must take every one.
#[test]
fn the_leaf_policy_takes_every_planned_fragment_seed() {
    let seeds = inputs("fragment");
    let planned: Vec<_> = seeds
        .iter()
        .filter(|(path, _)| path.to_string_lossy().contains("/corpus/fragment/query-"))
        .collect();
    assert!(planned.len() >= 5, "{} planned seeds", planned.len());
    for (path, plan) in planned {
        let checked = shoal_leaf::fragment_policy::check_fragment(plan);
        assert!(checked.is_ok(), "{}: {checked:?}", path.display());
    }
}

/// A leaf runs every planned fragment seed to its answer (with time to
/// spare on a loaded machine), else fuzzing starts from inputs that stop
/// at the door.
fn every_planned_fragment_seed_runs_to_its_answer() {
    let seeds = inputs("fragment");
    let planned = seeds
        .iter()
        .filter(|(path, _)| path.to_string_lossy().contains("/corpus/fragment/query-"));
    for (path, plan) in planned {
        let rows = fuzzing::run_fragment(plan, 60_000);
        assert!(
            rows.as_ref().is_ok_and(|&rows| rows > 0),
            "{}: {rows:?}",
            path.display()
        );
    }
}

fn every_corpus_input_and_regression_passes_its_target() {
    for (name, target) in fuzzing::TARGETS {
        let inputs = inputs(name);
        assert!(!inputs.is_empty(), "no corpus for {name}");
        for (path, data) in &inputs {
            run(name, *target, data, &|| path.display().to_string());
        }
    }
}

/// One mutation of `data`, another input of the target at hand for splices.
fn mutate(rng: &mut StdRng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=out.len());
        match rng.random_range(0..6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = [0, 0xff, 0x7f, 0x80, b'"', b'{', b'\n'][rng.random_range(0..7)];
            }
            2 => out.truncate(at),
            3 => {
                let end = (at + rng.random_range(1..64)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            4 => {
                let bytes: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                out.splice(at..at, bytes);
            }
            _ => {
                let from = rng.random_range(0..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn a_seeded_mutation_run_of_every_target_finds_no_failure() {
    for (index, (name, target)) in fuzzing::TARGETS.iter().enumerate() {
        let inputs = inputs(name);
        let mut rng = StdRng::seed_from_u64(0x5_40a1 + index as u64);
        for (position, (path, data)) in inputs.iter().enumerate() {
            let other = &inputs[(position + 1) % inputs.len()].1;
            for round in 0..MUTATIONS_PER_INPUT {
                let mutated = mutate(&mut rng, data, other);
                run(name, *target, &mutated, &|| {
                    format!(
                        "mutation {round} of {} ({} bytes: {:?})",
                        path.display(),
                        mutated.len(),
                        &mutated[..mutated.len().min(64)]
                    )
                });
            }
        }
    }
}
