//! `aviary check` on the built-in catalog as a suite: a policy passes its
//! own baseline with differences of exactly zero, passes on other master
//! seeds (unpaired), and fails, naming the right scores, when it got worse.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use e2e::{aviary, temp_file};

/// Runs per scenario of the paired checks: 21 scenarios × 40 runs (the
/// shipped suite runs 200; these properties hold there too, and every
/// check here is deterministic for its fixed seeds).
const SEEDS: u64 = 40;

fn example(name: &str) -> String {
    format!("{}/../examples/ci/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The catalog as a suite, at `SEEDS` runs (the shipped example runs 200).
fn suite() -> String {
    let text = std::fs::read_to_string(example("suite.toml"))
        .expect("examples/ci/suite.toml")
        .replace("seeds = 200", &format!("seeds = {SEEDS}"));
    temp_file("check", "suite.toml", &text).display().to_string()
}

/// The default policy's accepted baseline, written once for every test.
fn baseline() -> &'static (String, PathBuf) {
    static BASELINE: OnceLock<(String, PathBuf)> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let suite = suite();
        let path = Path::new(&suite).with_file_name("aviary-baseline.json");
        let o = aviary(&["check", &suite, "--update", "--baseline", path.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        (suite, path)
    })
}

fn check(policy: &str, extra: &[&str]) -> (e2e::Output, serde_json::Value) {
    let (suite, path) = baseline();
    let mut args = vec![
        "check",
        suite,
        "--policy",
        policy,
        "--baseline",
        path.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = aviary(&args);
    let json = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", o.stdout, o.stderr));
    (o, json)
}

fn regressed(json: &serde_json::Value) -> Vec<(String, String)> {
    json["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_owned(),
                r["score"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The change column of a snapshot: every result's B − A as printed
/// (cells are separated by two spaces or more and hold no two spaces).
fn changes(snapshot: &str) -> Vec<String> {
    let lines: Vec<&str> = snapshot.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("scenario")).expect("a table");
    lines[header + 2..]
        .iter()
        .take_while(|l| !l.starts_with("result:"))
        .map(|l| {
            let cells: Vec<&str> = l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            cells[4].to_owned()
        })
        .collect()
}

#[test]
fn the_default_and_a_reworded_copy_pass_its_baseline_with_zero_differences() {
    for policy in ["default", &example("reworded.toml")] {
        let snap = Path::new(&baseline().0).with_file_name(format!("snapshot-{}.txt", policy.len()));
        let (o, json) = check(policy, &["--snapshot", snap.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{policy}: {}", o.stderr);
        assert_eq!(json["passed"], true);
        assert!(json["regressions"].as_array().unwrap().is_empty());
        assert!(json["improvements"].as_array().unwrap().is_empty());
        let text = std::fs::read_to_string(&snap).unwrap();
        let changes = changes(&text);
        assert_eq!(changes.len(), 21 * 12, "{text}");
        assert!(
            changes.iter().all(|c| ["0", "0 pts", "–"].contains(&c.as_str())),
            "{policy}: {changes:?}"
        );
        // Compared run by run on the baseline's own seeds: no note says why
        // it could not be paired.
        assert!(text.contains("against baseline"), "{text}");
        assert_eq!(json["notes"], serde_json::json!([]), "{}", json["notes"]);
    }
}

#[test]
fn a_loosened_error_gate_fails_and_the_junit_names_the_error_scenarios() {
    let junit = Path::new(&baseline().0).with_file_name("loosened.xml");
    let (o, json) = check(&example("loosened.toml"), &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(json["passed"], false);
    let r = regressed(&json);
    assert!(
        r.contains(&("checkout-error-spike".into(), "detection_time_s".into())),
        "{r:?}"
    );
    assert!(r.iter().any(|(_, s)| s == "escape_rate"), "{r:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"checkout-error-spike\""), "{xml}");
    let case = xml
        .find("name=\"detection_time_s\" classname=\"aviary.check.checkout-error-spike\"")
        .expect("the case");
    let failure = &xml[case..xml[case..].find("</testcase>").unwrap() + case];
    assert!(failure.contains("<failure"), "{failure}");
    assert!(
        failure.contains("aviary run checkout-error-spike --policy"),
        "{failure}"
    );
    assert!(failure.contains("--seed 1 --run "), "{failure}");
    // A regression's record carries the contract's keys.
    let first = &json["regressions"][0];
    for key in [
        "scenario",
        "score",
        "baseline",
        "current",
        "delta",
        "ci95",
        "tolerance",
        "reproduce",
    ] {
        assert!(!first[key].is_null(), "{key} in {first}");
    }
}

#[test]
fn one_more_ten_minute_pause_fails_on_time_to_ship_not_on_blast_radius() {
    let (o, json) = check(&example("extra-pause.toml"), &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = regressed(&json);
    assert!(
        r.contains(&("healthy-release".into(), "time_to_ship_s".into())),
        "{r:?}"
    );
    let blast: Vec<_> = r
        .iter()
        .filter(|(_, s)| s.starts_with("blast_radius.") || s == "error_budget_consumed")
        .collect();
    assert!(blast.is_empty(), "{blast:?}");
}

/// The unchanged default on 20 other master seeds: unpaired, so the
/// decision interval is simultaneous at 99.9 % over the check's
/// comparisons (sim_core::check): an unchanged policy fails one check with
/// probability below 0.1 %, any of these 20 below 2 %; the seeds are fixed,
/// so the outcome is too.
#[test]
fn the_default_passes_on_twenty_other_master_seeds() {
    for seed in 2..22 {
        let s = seed.to_string();
        let (o, json) = check("default", &["--seed", &s, "--seeds", "10"]);
        assert_eq!(o.code, 0, "seed {seed}: {}\n{}", o.stdout, o.stderr);
        assert_eq!(json["passed"], true);
        assert!(json["notes"].to_string().contains("unpaired"), "{}", json["notes"]);
    }
}

#[test]
fn the_baseline_is_written_the_same_whatever_the_thread_count() {
    let text = "name = \"small\"\nseeds = 40\nscenarios = [\"checkout-error-spike\", \"healthy-release\", \"orders-rename-200m\"]\npolicies = [\"default\"]\n";
    let suite = temp_file("check-threads", "suite.toml", text);
    let written: Vec<Vec<u8>> = ["1", "2"]
        .into_iter()
        .map(|threads| {
            let path = suite.with_file_name(format!("baseline-{threads}.json"));
            let o = aviary(&[
                "check",
                suite.to_str().unwrap(),
                "--update",
                "--threads",
                threads,
                "--baseline",
                path.to_str().unwrap(),
            ]);
            assert_eq!(o.code, 0, "{}", o.stderr);
            std::fs::read(path).unwrap()
        })
        .collect();
    assert!(written[0] == written[1], "the baselines differ");
    let text = String::from_utf8(written[0].clone()).unwrap();
    assert!(
        !text.contains(env!("CARGO_MANIFEST_DIR")),
        "an absolute path in the baseline"
    );
    assert!(!text.contains("/tmp"), "a path in the baseline");
}

#[test]
fn a_broken_or_missing_baseline_is_bad_input() {
    let (suite, path) = baseline();
    let text = std::fs::read_to_string(path).unwrap();
    let broken = text.replacen(&format!("\"seeds\": {SEEDS}"), "\"seeds\": \"many\"", 1);
    let bad = temp_file("check-bad", "broken.json", &broken);
    let o = aviary(&["check", suite, "--baseline", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let line = broken.lines().position(|l| l.contains("\"seeds\"")).unwrap() + 1;
    assert!(o.stderr.contains(&format!("broken.json:{line}")), "{}", o.stderr);
    assert!(o.stderr.contains("seeds"), "{}", o.stderr);
    assert!(o.stdout.is_empty());
    let o = aviary(&["check", suite, "--baseline", "/nonexistent/aviary-baseline.json"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--update"), "{}", o.stderr);
}

#[test]
fn a_bad_tolerance_names_the_suite_line_and_key() {
    let text = "name = \"t\"\nscenarios = [\"healthy-release\"]\npolicies = [\"default\"]\n[check]\ntolerance = { detection_rate = \"+0.02\", slow_requests = \"ten\" }\n";
    let path = temp_file("check-tol", "suite.toml", text);
    let o = aviary(&["check", path.to_str().unwrap(), "--update"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("suite.toml:5"), "{}", o.stderr);
    assert!(o.stderr.contains("check.tolerance.detection_rate"), "{}", o.stderr);
    assert!(o.stderr.contains("check.tolerance.slow_requests"), "{}", o.stderr);
}

#[test]
fn fail_on_gates_a_batch_without_a_baseline() {
    let o = aviary(&[
        "batch",
        "simpy-peer",
        "--seeds",
        "10",
        "--fail-on",
        "escape",
        "--format",
        "json",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.starts_with('{'), "the report is still printed");
    assert!(o.stderr.contains("--fail-on escape"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("aviary run simpy-peer --policy default --seed 1 --run "),
        "{}",
        o.stderr
    );
    let o = aviary(&[
        "batch",
        "healthy-release",
        "--seeds",
        "10",
        "--fail-on",
        "escape,truncated",
        "--format",
        "json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}
