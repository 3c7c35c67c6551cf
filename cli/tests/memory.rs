//! Peak memory of a batch does not grow with its number of runs.
//!
//! Its own test binary with one test: the peak resident set of this
//! process's reaped children (`getrusage(RUSAGE_CHILDREN)`, the largest
//! one) then counts only the two batches run here.

use std::process::Command;

/// The largest peak resident set, in KiB, of the children reaped so far.
fn children_peak_kib() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    usage.ru_maxrss
}

/// A short rollout whose bad release the default policy catches at its
/// second analysis: a run costs little, so 100 000 of them take a few
/// seconds on two cores, and every figure of the summary has values.
const TINY: &str = r#"
name = "tiny"
description = "A short, quiet rollout with a bad release."
duration = "6m"
rollout_at = "30s"

[traffic]
rps = 400
users = 1000

[fleet]
instances = 2
startup = "30s"

[stable]
error_rate = 0.001
latency_ms = { p50 = 40, p99 = 200 }

[candidate]

[[faults]]
kind = "error_rate"
add = 0.05
onset = "0s"
"#;

/// A summarised batch (the JSON aggregate, every figure) of 10^5 runs
/// peaks within 2x of one of 10^3 runs: each group keeps running sums and
/// duration sketches past `sim_core::batch::EXACT_RUNS`, not the runs.
/// (Before, every run's result was kept, about 1.4 KB each, and the
/// bootstrap's plan of 2 000 x runs indices: about 940 MB for these 10^5.)
#[test]
fn a_batch_of_100_000_runs_peaks_within_twice_a_batch_of_1_000() {
    let dir = std::env::temp_dir().join(format!("aviary-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let batch = |seeds: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args([
                "batch",
                scenario.to_str().unwrap(),
                "--seeds",
                seeds,
                "--format",
                "json",
                "--quiet",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["runs"].to_string(), seeds);
        assert!(json["groups"][0]["detection_time_s"]["median"].is_number());
    };
    batch("1000");
    let small = children_peak_kib();
    batch("100000");
    // The larger of the two peaks: the second batch's if it peaked higher.
    let large = children_peak_kib();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("peak resident set: 10^3 runs {small} KiB, 10^5 runs at most {large} KiB");
    assert!(
        large <= 2 * small,
        "10^5 runs peaked at {large} KiB, more than twice the 10^3 runs' {small} KiB"
    );
}
