//! `aviary judge` on data a user brings: the JSON contract, Kayenta's own
//! vector, and the error path.

use e2e::{aviary, json, temp_file};

/// Kayenta's unit-test vector: x = 10,20,30,40 against y = 1,2,3,4 at 95 %
/// gives the interval [6, 39] and the Hodges-Lehmann estimate 22.5.
#[test]
fn mann_whitney_reproduces_kayentas_vector() {
    let x = temp_file("mw", "x.txt", "10\n20\n30\n40\n");
    let y = temp_file("mw", "y.txt", "1\n2\n3\n4\n");
    let v = json(&[
        "judge",
        "mann-whitney",
        "--control",
        y.to_str().unwrap(),
        "--experiment",
        x.to_str().unwrap(),
        "--confidence",
        "0.95",
        "--format",
        "json",
    ]);
    assert_eq!(v["classification"], "high");
    assert_eq!(v["ci_low"], 6.0);
    assert_eq!(v["ci_high"], 39.0);
    assert_eq!(v["estimate"], 22.5);
    assert_eq!(v["critical"], false);
    assert!(v.get("effect_size").is_some());
}

#[test]
fn mann_whitney_without_data_says_nodata_with_nulls() {
    let x = temp_file("mwnan", "x.txt", "NaN\nNaN\n");
    let y = temp_file("mwnan", "y.txt", "1\n2\n");
    let v = json(&[
        "judge",
        "mann-whitney",
        "--control",
        y.to_str().unwrap(),
        "--experiment",
        x.to_str().unwrap(),
    ]);
    assert_eq!(v["classification"], "nodata");
    assert!(v["ci_low"].is_null() && v["estimate"].is_null());
}

/// Charts restart after each alarm: the gaps between alarms are run lengths.
#[test]
fn control_charts_report_one_based_alarm_positions() {
    let input = temp_file("charts", "z.txt", "0\n0.5\n3\n3\n3\n0\n5\n");
    let p = input.to_str().unwrap();
    let cusum = json(&[
        "judge", "cusum", "--input", p, "--mean", "0", "--sd", "1", "--k", "0.5", "--h", "4",
    ]);
    // S = 0, 0, 2.5, 5 (alarm at 4, restart), 2.5, 0, 4.5 (alarm at 7).
    assert_eq!(cusum["alarms"], serde_json::json!([4, 7]));
    let shewhart = json(&[
        "judge", "shewhart", "--input", p, "--mean", "0", "--sd", "1", "--limit", "3",
    ]);
    assert_eq!(shewhart["alarms"], serde_json::json!([7]));
    let ewma = json(&[
        "judge", "ewma", "--input", p, "--mean", "0", "--sd", "1", "--lambda", "0.2", "--limit", "2.962", "--side",
        "upper",
    ]);
    // λ = 0.2, limit 2.962 · √(0.2/1.8) = 0.987: E = 0, 0.1, 0.68, 1.144
    // (alarm at 4, restart), 0.6, 0.48, 1.384 (alarm at 7).
    assert_eq!(ewma["alarms"], serde_json::json!([4, 7]));
}

#[test]
fn sequential_rows_carry_the_running_p_value() {
    let input = temp_file("seq", "c.csv", "control,canary\n50,50\n48,60\n51,70\n49,80\n40,90\n");
    let v = json(&[
        "judge",
        "sequential",
        "--input",
        input.to_str().unwrap(),
        "--canary-share",
        "0.5",
    ]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let p: Vec<f64> = rows.iter().map(|r| r["p_value"].as_f64().unwrap()).collect();
    assert!(
        p.windows(2).all(|w| w[1] <= w[0]),
        "a running minimum never rises: {p:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["log_bayes_factor"].is_number() && r["reject"].is_boolean())
    );
    assert_eq!(rows[4]["reject"], true, "a canary taking 2× its share is rejected");
}

#[test]
fn bad_judge_input_names_file_and_line_and_exits_2() {
    let input = temp_file("badjudge", "z.txt", "1\nabc\n2\n");
    let o = aviary(&[
        "judge",
        "cusum",
        "--input",
        input.to_str().unwrap(),
        "--mean",
        "0",
        "--sd",
        "1",
        "--k",
        "0.5",
        "--h",
        "4",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.is_empty());
    assert!(o.stderr.contains("z.txt:2: expected a number"), "{}", o.stderr);
    let o = aviary(&[
        "judge",
        "cusum",
        "--input",
        input.to_str().unwrap(),
        "--mean",
        "0",
        "--sd",
        "0",
        "--k",
        "0.5",
        "--h",
        "4",
    ]);
    assert_eq!(o.code, 2);
    let csv = temp_file("badjudge", "c.csv", "control,canary\n1,2\nx,3\n");
    let o = aviary(&["judge", "sequential", "--input", csv.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("c.csv:3: expected two whole numbers"), "{}", o.stderr);
}

/// Judges work on any metric monitoring exposes: a CUSUM on the per-scrape
/// p99 (Welch-standardised) catches the +40 % p99 regression and stays
/// quiet on the healthy release.
#[test]
fn a_control_chart_on_latency_catches_the_p99_regression() {
    let policy = temp_file(
        "cusumlat",
        "p.toml",
        r#"name = "cusum-latency"
strategy = "canary"
steps = [ { weight = 1, pause = "10m" }, { weight = 5, pause = "10m" }, { weight = 25, pause = "10m" }, { weight = 50, pause = "10m" }, { weight = 100 } ]
[analysis]
interval = "1m"
failure_limit = 1
min_requests = 50
checks = [ { metric = "latency_p99_ms", judge = "cusum", k = 0.5, h = 4 } ]
on_failure = "rollback"
"#,
    );
    let v = json(&[
        "batch",
        "p99-latency-regression",
        "healthy-release",
        "--policy",
        policy.to_str().unwrap(),
        "--seeds",
        "100",
    ]);
    let groups = v["groups"].as_array().unwrap();
    assert!(
        groups[0]["detection_rate"].as_f64().unwrap() >= 0.9,
        "{}",
        groups[0]["detection_rate"]
    );
    assert!(
        groups[1]["false_alarm_rate"].as_f64().unwrap() <= 0.15,
        "{}",
        groups[1]["false_alarm_rate"]
    );
}

/// Runs `aviary ARGS…`, expects exit status 2, nothing on stdout and every
/// one of `needles` on stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let o = aviary(args);
    assert_eq!(o.code, 2, "aviary {args:?}:\n{}{}", o.stdout, o.stderr);
    assert!(o.stdout.is_empty(), "aviary {args:?} printed {}", o.stdout);
    for needle in needles {
        assert!(
            o.stderr.contains(needle),
            "aviary {args:?}: {needle:?} not in\n{}",
            o.stderr
        );
    }
}

/// Cumulative counts past u64::MAX used to panic on overflow (overflow
/// checks are on in release); now the line where the running total
/// overflows is named, exit 2. A single count too large for a u64 is named
/// as such rather than as "not a whole number".
#[test]
fn sequential_count_overflow_is_a_clear_error() {
    let max = u64::MAX.to_string();
    let csv = temp_file("seqoverflow", "c.csv", &format!("control,canary\n1,2\n0,{max}\n3,4\n"));
    refused(
        &["judge", "sequential", "--input", csv.to_str().unwrap()],
        &["c.csv:3: the cumulative event counts overflow", &max],
    );
    let control = temp_file(
        "seqoverflow",
        "control.csv",
        &format!("control,canary\n{max},0\n\n1,0\n"),
    );
    refused(
        &["judge", "sequential", "--input", control.to_str().unwrap()],
        &["control.csv:4: the cumulative event counts overflow"],
    );
    let exact = temp_file(
        "seqoverflow",
        "exact.csv",
        &format!("control,canary\n{max},0\n0,{max}\n"),
    );
    let v = json(&["judge", "sequential", "--input", exact.to_str().unwrap()]);
    assert_eq!(v["rows"].as_array().unwrap().len(), 2, "u64::MAX itself still fits");
    let huge = temp_file("seqoverflow", "huge.csv", "control,canary\n1,18446744073709551616\n");
    refused(
        &["judge", "sequential", "--input", huge.to_str().unwrap()],
        &["huge.csv:2: count 18446744073709551616 exceeds the largest supported count"],
    );
}
