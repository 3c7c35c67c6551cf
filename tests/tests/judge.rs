//! `aviary judge` on data a user brings: the JSON contract, Kayenta's own
//! vector, and the error path.

use e2e::{aviary, aviary_short, json, temp_file};

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
    let o = aviary_short(&[
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
    let o = aviary_short(&[
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
    let o = aviary_short(&["judge", "sequential", "--input", csv.to_str().unwrap()]);
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
    let o = aviary_short(args);
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

/// Numeric flags of one judge, each with a valid value.
type Flags<'a> = Vec<(&'a str, &'a str)>;

/// `NaN` and `inf` parse as numbers, and a threshold of NaN used to switch a
/// check off without a word (every `x >= NaN` is false). Every numeric flag
/// of every judge now refuses them, naming the flag, with status 2.
#[test]
fn non_finite_numeric_flags_are_refused_naming_the_flag() {
    let series = temp_file("nonfinite", "z.txt", "0\n1\n");
    let counts = temp_file("nonfinite", "c.csv", "control,canary\n1,2\n");
    let (series, counts) = (series.to_str().unwrap(), counts.to_str().unwrap());
    let chart = [("mean", "0"), ("sd", "1")];
    let mw = vec!["judge", "mann-whitney", "--control", series, "--experiment", series];
    // (the command with its files, its numeric flags with a valid value each)
    let cases: [(Vec<&str>, Flags); 5] = [
        (
            mw,
            vec![
                ("confidence", "0.95"),
                ("tolerance", "0.25"),
                ("allowed-increase", "1"),
                ("allowed-decrease", "1"),
                ("critical-increase", "1"),
                ("critical-decrease", "1"),
            ],
        ),
        (
            vec!["judge", "cusum", "--input", series],
            [&chart[..], &[("k", "0.5"), ("h", "4")]].concat(),
        ),
        (
            vec!["judge", "ewma", "--input", series],
            [&chart[..], &[("lambda", "0.2"), ("limit", "3")]].concat(),
        ),
        (
            vec!["judge", "shewhart", "--input", series],
            [&chart[..], &[("limit", "3")]].concat(),
        ),
        (
            vec!["judge", "sequential", "--input", counts],
            vec![("canary-share", "0.5"), ("concentration", "100"), ("alpha", "0.05")],
        ),
    ];
    for (files, flags) in &cases {
        let command = |bad: Option<(&str, &str)>| -> Vec<String> {
            let mut args: Vec<String> = files.iter().map(|a| (*a).to_owned()).collect();
            for &(flag, good) in flags {
                let value = bad.filter(|b| b.0 == flag).map_or(good, |b| b.1);
                args.push(format!("--{flag}={value}"));
            }
            args
        };
        let good = command(None);
        let good: Vec<&str> = good.iter().map(String::as_str).collect();
        let o = aviary(&good);
        assert_eq!(o.code, 0, "{good:?}: {}", o.stderr);
        for &(flag, _) in flags {
            for bad in ["NaN", "nan", "inf", "-inf", "infinity"] {
                let args = command(Some((flag, bad)));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                refused(
                    &args,
                    &[&format!("--{flag}"), &format!("'{bad}'"), "expected a finite number"],
                );
            }
        }
    }
}

/// The NaN threshold of the regression above, on Kayenta's vector: with
/// --allowed-increase NaN the clear increase used to come out as "pass".
#[test]
fn a_nan_threshold_no_longer_passes_a_clear_increase() {
    let x = temp_file("nanthreshold", "x.txt", "10\n20\n30\n40\n");
    let y = temp_file("nanthreshold", "y.txt", "1\n2\n3\n4\n");
    let base = [
        "judge",
        "mann-whitney",
        "--control",
        y.to_str().unwrap(),
        "--experiment",
        x.to_str().unwrap(),
        "--confidence",
        "0.95",
    ];
    assert_eq!(json(&base)["classification"], "high");
    let with_nan: Vec<&str> = base.iter().copied().chain(["--allowed-increase", "NaN"]).collect();
    refused(&with_nan, &["--allowed-increase", "NaN"]);
}

/// Out-of-range flags name the flag and the range in words (the upper
/// bound of an unbounded flag used to print as f64::MAX's 309 digits).
#[test]
fn out_of_range_flags_say_the_range() {
    let series = temp_file("range", "z.txt", "0\n1\n");
    let series = series.to_str().unwrap();
    let chart = |judge: &'static str, extra: &[&'static str]| -> Vec<String> {
        ["judge", judge, "--input", series, "--mean", "0", "--sd", "1"]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let check = |args: Vec<String>, needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, &[needle]);
    };
    // A negative value is read as a number, not as an unknown flag.
    check(
        chart("cusum", &["--k", "-1", "--h", "4"]),
        "--k must be at least 0, got -1",
    );
    check(
        chart("cusum", &["--k", "0.5", "--h", "0"]),
        "--h must be above 0, got 0",
    );
    check(
        chart("ewma", &["--lambda", "1.5", "--limit", "3"]),
        "--lambda must be above 0 and at most 1, got 1.5",
    );
    check(chart("shewhart", &["--limit=-3"]), "--limit must be above 0, got -3");
    let mut sd_zero = chart("shewhart", &["--limit", "3"]);
    sd_zero[7] = "0".to_owned();
    check(sd_zero, "--sd must be above 0, got 0");
}

/// An infinite sample value (written `inf`, or a literal too large for an
/// f64) is refused with the file, the line and the value as written; every
/// such line is reported in one pass. NaN stays allowed for Mann-Whitney,
/// where --nan-strategy decides what it means.
#[test]
fn infinite_sample_values_name_file_line_and_value() {
    let control = temp_file("infsample", "control.txt", "1\n# warm-up\n\n2\ninf\n3\n");
    let experiment = temp_file("infsample", "experiment.txt", "NaN\n4\n-1e400\n5\n");
    refused(
        &[
            "judge",
            "mann-whitney",
            "--control",
            control.to_str().unwrap(),
            "--experiment",
            experiment.to_str().unwrap(),
        ],
        &[
            "control.txt:5: value \"inf\" is infinite",
            "experiment.txt:3: value \"-1e400\" is infinite",
            "2 problems in 2 files",
        ],
    );
    refused(
        &[
            "judge",
            "cusum",
            "--input",
            control.to_str().unwrap(),
            "--mean",
            "0",
            "--sd",
            "1",
            "--k",
            "0.5",
            "--h",
            "4",
        ],
        &["control.txt:5: value \"inf\" is infinite"],
    );
}

/// A control chart has no NaN strategy: each NaN is an error naming its
/// line. The message used to give the value's position among the numbers
/// ("value 2"), which is not the line once comments or blank lines come
/// first.
#[test]
fn nan_in_a_chart_series_names_the_line() {
    let input = temp_file("nanchart", "z.txt", "# p99 per scrape\n0\n\nNaN\n1\nnan\n");
    refused(
        &[
            "judge",
            "shewhart",
            "--input",
            input.to_str().unwrap(),
            "--mean",
            "0",
            "--sd",
            "1",
            "--limit",
            "3",
        ],
        &[
            "z.txt:4: a control chart needs a number on every line, found NaN",
            "z.txt:6: a control chart needs a number on every line, found NaN",
            "2 problems in 1 file",
        ],
    );
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
