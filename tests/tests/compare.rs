//! `aviary compare` and suite files: paired differences with intervals
//! that mean what they say.

use e2e::{aviary, aviary_short, json, temp_file};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::compare::paired_difference;
use sim_core::stats::bootstrap_plan;

/// Coverage of the paired interval on a case whose difference is known.
///
/// Each of n = 200 pairs draws one uniform U and sets A = [U < 0.10] and
/// B = [U < 0.13]: correlated indicators, like two policies' false alarms
/// on the same world, with a true difference of exactly 0.03. Over 400
/// independent repetitions the 95 % interval must cover 0.03 in 95 % of
/// them. The coverage count is Binomial(400, p); with p = 0.95 its
/// standard deviation is 4.4, so the band [360, 396] (−4.5 to +3.6 sd) is
/// left by chance with probability below 1e-4, while an interval that
/// covered 90 % or 99 % would leave it.
#[test]
fn the_paired_interval_covers_a_known_difference_at_its_rate() {
    let (n, reps, truth) = (200, 400, 0.03);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut covered = 0;
    let mut significant = 0;
    for _ in 0..reps {
        let u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let a: Vec<(f64, f64)> = u.iter().map(|&u| (f64::from(u8::from(u < 0.10)), 1.0)).collect();
        let b: Vec<(f64, f64)> = u.iter().map(|&u| (f64::from(u8::from(u < 0.13)), 1.0)).collect();
        let plan = bootstrap_plan(n, 2000, &mut rng);
        let d = paired_difference(&a, &b, &plan);
        let [lo, hi] = d.ci95.expect("defined");
        covered += usize::from(lo <= truth && truth <= hi);
        significant += usize::from(d.significant);
    }
    assert!((360..=396).contains(&covered), "covered {covered} of {reps}");
    // Every discordant pair is one way, so an interval never reaches below
    // 0 unless no pair is discordant (probability 0.97^200 = 0.2 %); most
    // repetitions find the difference.
    assert!(significant > reps / 2, "significant in {significant} of {reps}");
}

/// A policy against itself: every difference is exactly 0.
#[test]
fn a_policy_compared_with_itself_shows_no_difference() {
    let v = json(&[
        "compare",
        "checkout-error-spike",
        "healthy-release",
        "--policy",
        "default",
        "--policy",
        "default",
        "--seeds",
        "40",
    ]);
    let diffs = v["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 2 * 12);
    for d in diffs {
        assert_eq!(d["significant"], false, "{d}");
        if !d["delta"].is_null() {
            assert_eq!(d["delta"], 0.0, "{d}");
            assert_eq!(d["ci95"], serde_json::json!([0.0, 0.0]), "{d}");
        }
    }
    assert_eq!(
        v["verdicts"],
        serde_json::json!(["no difference detected at 40 seeds between default and default on any score"])
    );
}

/// A real difference: the sequential test catches the +0.9-point regression
/// of `simpy-peer` that the playbook's +1-point threshold mostly misses
/// (the README's judges table: 100 % against 29 %, on 500 seeds).
#[test]
fn a_real_difference_is_found_with_its_direction() {
    let v = json(&[
        "compare",
        "simpy-peer",
        "--policy",
        "default",
        "--policy",
        "sequential",
        "--seeds",
        "60",
    ]);
    let find = |score: &str| {
        v["differences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["score"] == score)
            .cloned()
            .unwrap()
    };
    let rate = find("detection_rate");
    assert_eq!(rate["significant"], true, "{rate}");
    assert!(rate["delta"].as_f64().unwrap() > 0.4, "{rate}");
    let lo = rate["ci95"][0].as_f64().unwrap();
    assert!(lo > 0.0 && lo <= rate["delta"].as_f64().unwrap());
    let verdicts: Vec<&str> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        verdicts
            .iter()
            .any(|s| s.starts_with("sequential's detection rate on simpy-peer is higher by")),
        "{verdicts:?}"
    );
    assert!(
        verdicts
            .iter()
            .any(|s| s.starts_with("sequential detects simpy-peer ") && s.contains(" sooner ["))
    );
}

const SUITE: &str = r#"name = "payments"
seeds = 30
seed = 5
scenarios = ["checkout-error-spike", "healthy-release"]
policies = ["default", "five-percent-canary"]
[objective]
minimise = "blast_radius.failed_requests"
subject_to = { false_alarm_rate = "<= 0.01", time_to_ship_s = "<= 1h" }
"#;

/// A suite names the scenarios, the two policies, the seeds and the seed.
#[test]
fn compare_reads_a_suite() {
    let path = temp_file("compare_reads_a_suite", "suite.toml", SUITE);
    let path = path.to_str().unwrap();
    let v = json(&["compare", path]);
    assert_eq!(
        (v["a"].as_str(), v["b"].as_str()),
        (Some("default"), Some("five-percent-canary"))
    );
    assert_eq!((v["seeds"].as_u64(), v["seed"].as_u64()), (Some(30), Some(5)));
    assert_eq!(v["differences"][0]["runs"], 30);
    // Flags override the suite.
    let v = json(&[
        "compare", path, "--seeds", "12", "--policy", "default", "--policy", "cusum",
    ]);
    assert_eq!((v["b"].as_str(), v["seeds"].as_u64()), (Some("cusum"), Some(12)));
    let validated = e2e::ok(&["validate", path]);
    assert!(
        validated.contains("(suite payments, 2 scenarios × 2 policies, 30 seeds)"),
        "{validated}"
    );
}

/// Suite errors name the file, the line and the key, before anything runs.
#[test]
fn suite_errors_name_line_and_key() {
    let bad = SUITE
        .replace("seeds = 30", "seeds = 30\nseedz = 2")
        .replace("\"checkout-error-spike\"", "\"checkout-error-spik\"")
        .replace("minimise = \"blast_radius.failed_requests\"", "minimise = \"failed\"")
        .replace("\"<= 0.01\"", "\"below 0.01\"")
        .replace("\"<= 1h\"", "\"<= soon\"");
    let path = temp_file("suite_errors_name_line_and_key", "suite.toml", &bad);
    let path = path.to_str().unwrap();
    let o = aviary_short(&["compare", path]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stdout.is_empty());
    for needle in [
        format!("{path}:3: key 'seedz': unknown key"),
        format!("{path}:5: key 'scenarios': \"checkout-error-spik\": no such built-in scenario"),
        format!("{path}:8: key 'objective.minimise': unknown score \"failed\""),
        format!("{path}:9: key 'objective.subject_to.false_alarm_rate': \"below 0.01\": write a comparison"),
        format!("{path}:9: key 'objective.subject_to.time_to_ship_s': \"<= soon\": the bound is neither"),
    ] {
        assert!(o.stderr.contains(&needle), "missing {needle:?} in:\n{}", o.stderr);
    }
}

/// compare needs exactly two policies.
#[test]
fn compare_needs_two_policies() {
    let o = aviary(&["compare", "healthy-release", "--policy", "default"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("compare needs two policies"), "{}", o.stderr);
}

/// `batch --out` and `compare --out` write their JSON (the same as stdout),
/// CSV, pictures and an offline page.
#[test]
fn batch_and_compare_write_their_reports() {
    let base = std::env::temp_dir().join(format!("aviary-e2e-{}-out", std::process::id()));
    let (b, c) = (base.join("batch"), base.join("compare"));
    let _ = std::fs::remove_dir_all(&base);
    let batch = json(&[
        "batch",
        "checkout-error-spike",
        "--policy",
        "default",
        "--policy",
        "cusum",
        "--seeds",
        "20",
        "--out",
        b.to_str().unwrap(),
    ]);
    for f in [
        "batch.json",
        "runs.csv",
        "detection-time.png",
        "detection-time.svg",
        "blast-radius.png",
        "blast-radius.svg",
        "index.html",
    ] {
        assert!(b.join(f).is_file(), "batch: {f}");
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("batch.json")).unwrap()).unwrap();
    assert_eq!(written, batch);
    let csv = std::fs::read_to_string(b.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 40, "a header and a row per run");
    let html = std::fs::read_to_string(b.join("index.html")).unwrap();
    assert!(html.contains("<td>checkout-error-spike</td>") && html.contains("<td>cusum</td>"));
    // The pictures hold one series per policy, each over the runs it should
    // (counted independently from the CSV), with the font inside the SVG.
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (policy, detection, harmed) = (col("policy"), col("detection_time_s"), col("harmed"));
    let detected = |r: &Vec<&str>| !r[detection].is_empty();
    let was_harmed = |r: &Vec<&str>| r[harmed] == "true";
    type Counted<'a> = &'a dyn Fn(&Vec<&str>) -> bool;
    let series: [(&str, Counted); 2] = [("detection-time.svg", &detected), ("blast-radius.svg", &was_harmed)];
    for (file, counted) in series {
        let svg = std::fs::read_to_string(b.join(file)).unwrap();
        assert!(
            svg.contains("@font-face") && svg.contains("data:font/ttf;base64,"),
            "{file}: font embedded"
        );
        for p in ["default", "cusum"] {
            let n = rows.iter().filter(|r| r[policy] == p && counted(r)).count();
            let label = format!("\n{p} ({n} runs)\n");
            assert!(svg.contains(&label), "{file}: series {label}");
        }
        assert!(b.join(file.replace(".svg", ".png")).is_file());
    }
    let cmp = json(&[
        "compare",
        "checkout-error-spike",
        "--policy",
        "default",
        "--policy",
        "cusum",
        "--seeds",
        "20",
        "--out",
        c.to_str().unwrap(),
    ]);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.join("compare.json")).unwrap()).unwrap();
    assert_eq!(written, cmp);
    assert!(c.join("compare.csv").is_file());
    let html = std::fs::read_to_string(c.join("index.html")).unwrap();
    assert!(html.contains("cusum against default") && html.contains("<table>"));
}

/// `run --out`: the run object, its event stream, the timeline as PNG and
/// SVG (the same bytes for the same seed) and the page.
#[test]
fn run_writes_its_report() {
    let base = std::env::temp_dir().join(format!("aviary-e2e-{}-run-out", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (a, b) = (base.join("a"), base.join("b"));
    let run = json(&[
        "run",
        "checkout-error-spike",
        "--seed",
        "7",
        "--out",
        a.to_str().unwrap(),
    ]);
    e2e::ok(&[
        "run",
        "checkout-error-spike",
        "--seed",
        "7",
        "--out",
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("run.json")).unwrap()).unwrap();
    assert_eq!(written, run);
    for f in ["run.jsonl", "timeline.png", "timeline.svg", "index.html"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(
            !x.is_empty() && x == y,
            "{f}: written, and the same bytes for the same seed"
        );
    }
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert!(html.contains("analysis FAILED on error_rate") && html.contains("data:image/png;base64,"));
}
