//! The command line end to end: the public JSON contract, determinism,
//! error handling and the text a person reads (snapshots).

use e2e::{aviary, aviary_short, json, ok, temp_file};

/// The keys of `aviary run --format json` that users and tools rely on.
#[test]
fn run_json_has_the_contract_keys() {
    let v = json(&["run", "checkout-error-spike", "--seed", "7", "--format", "json"]);
    for key in [
        "scenario",
        "policy",
        "seed",
        "outcome",
        "fault_onset_s",
        "detected_at_s",
        "detection_time_s",
        "mitigated_at_s",
        "rollout_duration_s",
        "blast_radius",
        "requests",
        "failed_requests_total",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    for key in ["failed_requests", "slow_requests", "users_affected"] {
        assert!(v["blast_radius"].get(key).is_some(), "missing blast_radius.{key}");
    }
    for key in ["total", "candidate"] {
        assert!(v["requests"].get(key).is_some(), "missing requests.{key}");
    }
    assert_eq!(v["scenario"], "checkout-error-spike");
    assert_eq!(v["policy"], "default");
    assert_eq!(v["seed"], 7);
    assert_eq!(v["outcome"], "rolled_back");
    // The candidate's first instance is ready 30 s after the 10-minute
    // warm-up; the onset is its first harmed request, within the first
    // second at 4 canary requests a second.
    let onset = v["fault_onset_s"].as_f64().unwrap();
    assert!((630.0..631.0).contains(&onset), "{onset}");
    let detected = v["detected_at_s"].as_f64().unwrap();
    let t = v["detection_time_s"].as_f64().unwrap();
    assert!((t - (detected - onset)).abs() < 1e-3, "{t}");
    assert_eq!(v["harmed"], true);
    assert_eq!(v["detected"], true);
    assert_eq!(v["blind_steps"], 0);
}

#[test]
fn healthy_release_is_promoted_with_null_fault_fields() {
    let v = json(&["run", "healthy-release", "--seed", "2", "--format", "json"]);
    assert_eq!(v["fault_onset_s"], serde_json::Value::Null);
    assert_eq!(v["detection_time_s"], serde_json::Value::Null);
    assert_eq!(v["blast_radius"]["failed_requests"], 0);
    if v["outcome"] == "promoted" {
        assert_eq!(v["rollout_duration_s"], 2520.0);
    }
}

#[test]
fn jsonl_streams_events_then_the_run_object() {
    let text = ok(&["run", "checkout-error-spike", "--seed", "7", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 5);
    for l in &lines[..lines.len() - 1] {
        assert!(l["t_s"].is_number() && l["type"].is_string(), "{l}");
    }
    let times: Vec<f64> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l["t_s"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "events in time order");
    let run = lines.last().unwrap();
    assert_eq!(run["type"], "run");
    let plain = json(&["run", "checkout-error-spike", "--seed", "7", "--format", "json"]);
    assert_eq!(run["blast_radius"], plain["blast_radius"]);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    for t in [
        "rollout_started",
        "weight_set",
        "fault_onset",
        "analysis",
        "analysis_failed",
        "decision",
        "rollback_completed",
    ] {
        assert!(types.contains(&t), "no {t} event");
    }
}

/// Same inputs and seed give the same bytes, whatever the thread count.
#[test]
fn batch_is_identical_for_one_and_two_threads() {
    for format in ["json", "csv"] {
        let a = ok(&["batch", "--seeds", "20", "--threads", "1", "--format", format]);
        let b = ok(&["batch", "--seeds", "20", "--threads", "2", "--format", format]);
        assert_eq!(a, b, "{format} differs between 1 and 2 threads");
        let c = ok(&["batch", "--seeds", "20", "--threads", "2", "--format", format]);
        assert_eq!(b, c, "{format} differs between two identical runs");
    }
    let other = ok(&["batch", "--seeds", "20", "--seed", "2", "--format", "csv"]);
    assert_ne!(
        other,
        ok(&["batch", "--seeds", "20", "--format", "csv"]),
        "the master seed matters"
    );
}

#[test]
fn batch_json_has_the_contract_keys() {
    let v = json(&[
        "batch",
        "healthy-release",
        "checkout-error-spike",
        "--policy",
        "default",
        "--policy",
        "fast-promotion",
        "--seeds",
        "20",
        "--format",
        "json",
    ]);
    assert_eq!(v["runs"], 80);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "one group per scenario × policy");
    for g in groups {
        for key in [
            "scenario",
            "policy",
            "runs",
            "detection_rate",
            "false_alarm_rate",
            "escape_rate",
            "detection_time_s",
            "blast_radius",
            "rollout_duration_s",
        ] {
            assert!(g.get(key).is_some(), "missing {key}");
        }
        assert!(g["detection_time_s"].get("median").is_some() && g["detection_time_s"].get("p90").is_some());
        for k in ["failed_requests", "users_affected"] {
            assert!(g["blast_radius"][k]["mean"].is_number());
            assert_eq!(g["blast_radius"][k]["ci95"].as_array().unwrap().len(), 2);
        }
        assert!(g["rollout_duration_s"].get("median").is_some());
    }
    assert_eq!(groups[0]["scenario"], "healthy-release");
    assert!(groups[0]["false_alarm_rate"].is_number() && groups[0]["detection_rate"].is_null());
    // Every group reports all three rates and the counts behind them; a
    // group without harmed runs has no detection or escape rate.
    assert!(groups[2]["detection_rate"].is_number() && groups[2]["false_alarm_rate"].is_number());
    for g in groups {
        for k in [
            "runs",
            "fault_runs",
            "false_alarms",
            "detected",
            "escaped",
            "blind_promotion_rate",
        ] {
            assert!(g.get(k).is_some(), "missing {k}");
        }
        assert!(g["false_alarm_rate_ci95"].as_array().is_some_and(|a| a.len() == 2));
    }
}

#[test]
fn batch_csv_has_one_row_per_run_with_the_seed() {
    let text = ok(&[
        "batch",
        "checkout-error-spike",
        "--seeds",
        "25",
        "--seed",
        "9",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 26);
    assert!(lines[0].starts_with("scenario,policy,seed,run,outcome"));
    assert!(lines[1].starts_with("checkout-error-spike,default,9,0,"));
    assert!(lines[25].starts_with("checkout-error-spike,default,9,24,"));
}

/// The CSV header is the field names of `reports::run::CsvRow`, so renaming a
/// field would silently rename a column; this pins the documented header.
#[test]
fn batch_csv_header_is_the_documented_contract() {
    let text = ok(&["batch", "healthy-release", "--seeds", "1", "--format", "csv"]);
    assert_eq!(
        text.lines().next().unwrap(),
        "scenario,policy,seed,run,outcome,healthy,fault_onset_s,detected_at_s,detection_time_s,\
         false_alarm,decision_action,decision_metric,mitigated_at_s,time_to_mitigate_s,\
         rollout_duration_s,failed_requests,slow_requests,users_affected,requests_total,\
         requests_candidate,requests_exposed,failed_requests_total,slow_requests_total,strategy,\
         lost_conversions,inconsistent_sessions,error_budget_consumed,extra_instance_hours,\
         oom_kills,action_took_s,harmed,detected,escaped,blind_steps,users_slowed"
    );
}

/// A batch row is reproducible on its own with `aviary run --seed S --run I`.
#[test]
fn any_batch_run_can_be_replayed_alone() {
    let text = ok(&[
        "batch",
        "checkout-error-spike",
        "--seeds",
        "5",
        "--seed",
        "3",
        "--format",
        "csv",
    ]);
    let row4 = text.lines().nth(5).unwrap();
    let v = json(&[
        "run",
        "checkout-error-spike",
        "--seed",
        "3",
        "--run",
        "4",
        "--format",
        "json",
    ]);
    let fields: Vec<&str> = row4.split(',').collect();
    assert_eq!(fields[4], v["outcome"].as_str().unwrap());
    assert_eq!(fields[15], v["blast_radius"]["failed_requests"].to_string());
}

#[test]
fn files_work_like_builtins() {
    let scenario = temp_file(
        "files",
        "mine.toml",
        &ok(&["scenarios", "show", "checkout-error-spike", "--format", "toml"]),
    );
    let policy = temp_file(
        "files",
        "p.toml",
        &ok(&["policies", "show", "default", "--format", "toml"]),
    );
    let from_file = json(&[
        "run",
        scenario.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--seed",
        "7",
        "--format",
        "json",
    ]);
    let builtin = json(&["run", "checkout-error-spike", "--seed", "7", "--format", "json"]);
    assert_eq!(from_file, builtin);
    let v = ok(&["validate", scenario.to_str().unwrap(), policy.to_str().unwrap()]);
    assert!(
        v.contains("(scenario checkout-error-spike)") && v.contains("(policy default)"),
        "{v}"
    );
}

/// A scenario's `policy = "p.toml"` was looked up in the current folder, and
/// only when the scenario ran: the scenario worked from its own folder and
/// failed from any other, and `validate` said nothing. It is now resolved
/// against the scenario file's folder (as `traffic.csv` is) and checked at
/// validation.
#[test]
fn a_scenarios_policy_file_is_found_beside_it_and_checked_at_validation() {
    let text = ok(&["scenarios", "show", "checkout-error-spike", "--format", "toml"]);
    let with_policy = |policy: &str| text.replacen("duration = ", &format!("policy = {policy:?}\nduration = "), 1);
    let scenario = temp_file("own-policy", "s.toml", &with_policy("p.toml"));
    let policy_text = ok(&["policies", "show", "fast-promotion", "--format", "toml"]);
    temp_file("own-policy", "p.toml", &policy_text);
    assert_ne!(std::env::current_dir().unwrap(), scenario.parent().unwrap());
    let s = scenario.to_str().unwrap();
    let v = json(&["run", s, "--seed", "7", "--format", "json"]);
    assert_eq!(v["policy"], "fast-promotion");
    let v = ok(&["validate", s]);
    assert!(v.contains("(scenario checkout-error-spike)"), "{v}");
    // A preset name is still a preset.
    let preset = temp_file("own-policy", "preset.toml", &with_policy("rolling"));
    let v = json(&["run", preset.to_str().unwrap(), "--seed", "7", "--format", "json"]);
    assert_eq!(v["policy"], "rolling");
    // An unknown name or a missing file: file, line and key, at validation.
    let line = text.lines().position(|l| l.starts_with("duration = ")).unwrap() + 1;
    for (name, policy, message) in [
        (
            "unknown.toml",
            "rollingg",
            "no such policy preset or file \"rollingg\" (presets: default,",
        ),
        ("missing.toml", "gone.toml", "no such policy file "),
    ] {
        let path = temp_file("own-policy", name, &with_policy(policy));
        let p = path.to_str().unwrap();
        for args in [vec!["validate", p], vec!["run", p]] {
            let o = aviary_short(&args);
            assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{args:?}");
            assert!(
                o.stderr.contains(&format!("{p}:{line}: key 'policy': {message}")),
                "{args:?}: {}",
                o.stderr
            );
        }
    }
    // A policy file with problems: validating the scenario reports them.
    temp_file(
        "own-policy",
        "bad-p.toml",
        &policy_text.replacen("strategy = \"canary\"", "strategy = \"canry\"", 1),
    );
    let path = temp_file("own-policy", "bad-policy.toml", &with_policy("bad-p.toml"));
    let o = aviary_short(&["validate", path.to_str().unwrap()]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""));
    assert!(
        o.stderr.contains("bad-p.toml:") && o.stderr.contains("key 'strategy': unknown strategy"),
        "{}",
        o.stderr
    );
}

/// Bad input: a clear message naming file, line and key; exit 2; no output.
#[test]
fn bad_files_exit_2_with_every_problem_and_nothing_on_stdout() {
    let text = ok(&["scenarios", "show", "healthy-release", "--format", "toml"])
        .replace("rps = 400", "rps = -5")
        .replace("instances = 10", "instances = 10\nreplicas = 3");
    let path = temp_file("bad", "bad.toml", &text);
    let p = path.to_str().unwrap();
    for args in [vec!["run", p], vec!["batch", p, "--seeds", "3"], vec!["validate", p]] {
        let o = aviary_short(&args);
        assert_eq!(o.code, 2, "{args:?}");
        assert_eq!(o.stdout, "", "nothing half-written");
        assert!(
            o.stderr
                .contains(&format!("{p}:10: key 'traffic.rps': -5 is out of range")),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr.contains(&format!("{p}:15: key 'fleet.replicas': unknown key")),
            "{}",
            o.stderr
        );
        assert!(o.stderr.contains("2 problems in 1 file"), "{}", o.stderr);
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["run", "no-such-scenario"],
        vec!["run", "healthy-release", "--policy", "no-such-policy"],
        vec!["batch", "--seeds", "0"],
        vec!["batch", "--threads", "0"],
        vec!["run", "healthy-release", "--format", "yaml"],
        vec!["frobnicate"],
        vec!["scenarios", "show", "nope"],
        vec!["validate", "/nonexistent/file.toml"],
    ] {
        let o = aviary(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert_eq!(o.stdout, "", "{args:?}");
        assert!(!o.stderr.is_empty());
    }
    let o = aviary(&["run", "no-such-scenario"]);
    assert!(o.stderr.contains("no such built-in scenario or file") && o.stderr.contains("checkout-error-spike"));
}

#[test]
fn catalog_lists_as_json() {
    let s = json(&["scenarios", "list", "--format", "json"]);
    let names: Vec<&str> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for n in [
        "healthy-release",
        "checkout-error-spike",
        "p99-latency-regression",
        "sre-canary-20pct-errors",
        "simpy-peer",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert!(
        s.as_array()
            .unwrap()
            .iter()
            .all(|x| !x["description"].as_str().unwrap().is_empty())
    );
    let p = json(&["policies", "list", "--format", "json"]);
    let first = &p.as_array().unwrap()[0];
    assert_eq!(first["name"], "default");
    assert_eq!(first["strategy"], "canary");
    let shown = ok(&["scenarios", "show", "checkout-error-spike"]);
    assert!(shown.contains("fails 5 % of requests"));
}

#[test]
fn snapshot_run_table() {
    insta::assert_snapshot!(ok(&["run", "checkout-error-spike", "--seed", "7", "--format", "table"]));
}

#[test]
fn snapshot_run_table_of_a_promotion() {
    insta::assert_snapshot!(ok(&[
        "run",
        "simpy-peer",
        "--policy",
        "simpy-peer",
        "--seed",
        "1",
        "--format",
        "table"
    ]));
}

#[test]
fn snapshot_batch_table() {
    insta::assert_snapshot!(ok(&["batch", "--seeds", "100", "--seed", "1", "--format", "table"]));
}

/// `args` with `--threads 1` and with `--threads 2`: the same bytes, so
/// a snapshot holds whatever the machine's core count.
fn same_on_any_thread_count(args: &[&str]) -> String {
    let outputs: Vec<String> = ["1", "2"]
        .into_iter()
        .map(|t| {
            let mut a = args.to_vec();
            a.extend(["--threads", t, "--quiet"]);
            let o = aviary(&a);
            assert!(o.code == 0 || o.code == 1, "aviary {a:?}: {}", o.stderr);
            o.stdout
        })
        .collect();
    assert_eq!(outputs[0], outputs[1], "{args:?} differs between 1 and 2 threads");
    outputs[0].clone()
}

#[test]
fn snapshot_batch_json_of_the_catalog() {
    insta::assert_snapshot!(same_on_any_thread_count(&[
        "batch", "--seeds", "10", "--format", "json"
    ]));
}

#[test]
fn snapshot_compare_markdown_of_the_catalog() {
    insta::assert_snapshot!(same_on_any_thread_count(&[
        "compare",
        "--policy",
        "default",
        "--policy",
        "sequential",
        "--seeds",
        "10",
        "--format",
        "markdown"
    ]));
}

/// The check report of a loosened error gate against the default on the
/// catalog, on the same seeds (no stored baseline, so no path in it).
#[test]
fn snapshot_check_report_of_the_catalog() {
    let args = [
        "check",
        "--policy",
        "../examples/ci/loosened.toml",
        "--baseline-policy",
        "default",
        "--seeds",
        "10",
    ];
    let mut markdown = args.to_vec();
    markdown.extend(["--format", "markdown"]);
    insta::assert_snapshot!("check_markdown_of_the_catalog", same_on_any_thread_count(&markdown));
    let snap = temp_file("check-snapshot", "snapshot.txt", "");
    let mut plain = args.to_vec();
    plain.extend(["--format", "json", "--snapshot", snap.to_str().unwrap()]);
    let o = aviary(&plain);
    assert_eq!(o.code, 1, "{}", o.stderr);
    insta::assert_snapshot!("check_snapshot_of_the_catalog", std::fs::read_to_string(&snap).unwrap());
}

/// A replayed `timestamp,rps` series drives the traffic: the run serves
/// about the integral of the series (Poisson, so within a few sd).
#[test]
fn a_csv_series_of_request_rates_is_replayed() {
    let csv = "timestamp,rps\n0,100\n1800,300\n3600,300\n";
    temp_file("csv", "rates.csv", csv);
    let text = ok(&["scenarios", "show", "healthy-release", "--format", "toml"])
        .replace("duration = \"2h\"", "duration = \"1h\"")
        .replace("rps = 400", "shape = \"series\"\ncsv = \"rates.csv\"");
    let path = temp_file("csv", "replay.toml", &text);
    let v = json(&["run", path.to_str().unwrap(), "--format", "json"]);
    // ∫ = 1800 s × mean(100, 300) + 1800 s × 300 = 360 000 + 540 000.
    let total = v["requests"]["total"].as_f64().unwrap();
    assert!((total - 900_000.0).abs() < 5.0 * 900_000f64.sqrt(), "{total}");
}

#[test]
fn a_bad_csv_is_reported_with_its_own_line() {
    temp_file("badcsv", "rates.csv", "timestamp,rps\n0,100\nsoon,200\n60,-5\n");
    let text = ok(&["scenarios", "show", "healthy-release", "--format", "toml"])
        .replace("rps = 400", "shape = \"series\"\ncsv = \"rates.csv\"");
    let path = temp_file("badcsv", "replay.toml", &text);
    let o = aviary_short(&["validate", path.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("rates.csv:3: bad timestamp \"soon\""), "{}", o.stderr);
    assert!(o.stderr.contains("rates.csv:4: bad rate \"-5\""), "{}", o.stderr);
    assert!(o.stderr.contains("key 'traffic.csv'"), "{}", o.stderr);
}

/// `run --plot` writes a PNG, or SVG for a `.svg` name, through a temporary
/// file of its own beside the target. It used to write `NAME.partial.png`
/// (overwriting a user's file of that name), leave it behind on an error,
/// answer an unwritable path with the backend's Debug dump, and write PNG
/// bytes whatever the extension.
#[test]
fn run_plots_a_png_or_svg_timeline_and_nothing_else() {
    let dir = temp_file("plot", "keep.txt", "").parent().unwrap().to_owned();
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let plot = |target: &str| {
        aviary(&[
            "run",
            "checkout-error-spike",
            "--seed",
            "7",
            "--format",
            "json",
            "--plot",
            target,
        ])
    };
    let png = dir.join("t.png");
    let partial = dir.join("t.partial.png");
    std::fs::write(&partial, "the user's own file").unwrap();
    std::fs::write(&png, "an old plot").unwrap();
    let o = plot(png.to_str().unwrap());
    assert_eq!(o.code, 0, "{}", o.stderr);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    assert!(bytes.len() > 10_000);
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), "the user's own file");
    let svg = dir.join("t.svg");
    let o = plot(svg.to_str().unwrap());
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
        "{}",
        &text[..80]
    );
    assert!(text.contains("checkout-error-spike"));
    assert_eq!(
        files(),
        ["keep.txt", "t.partial.png", "t.png", "t.svg"],
        "no stray file"
    );
    // Errors: a human message, exit 2, nothing on stdout, no stray file.
    let folder = dir.join("a-folder.png");
    std::fs::create_dir(&folder).unwrap();
    let missing = dir.join("no-such-folder").join("t.png");
    for (target, message) in [
        (
            missing.to_str().unwrap().to_owned(),
            format!("the folder {} does not exist", missing.parent().unwrap().display()),
        ),
        (folder.to_str().unwrap().to_owned(), "it is a folder".to_owned()),
        (
            dir.join("t.jpg").to_str().unwrap().to_owned(),
            "the file name must end in .png or .svg".to_owned(),
        ),
    ] {
        let o = plot(&target);
        assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{target}");
        assert_eq!(o.stderr, format!("error: cannot plot to {target}: {message}\n"));
    }
    assert_eq!(
        files(),
        ["a-folder.png", "keep.txt", "t.partial.png", "t.png", "t.svg"],
        "no stray file after an error"
    );
}
