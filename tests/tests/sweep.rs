//! `aviary sweep`: a grid over policy and scenario keys on the same seeds.

use e2e::{aviary, json, temp_file};

/// A cell is exactly a batch of the same policy on the same seeds.
#[test]
fn a_sweep_cell_equals_an_independent_batch() {
    let v = json(&[
        "sweep",
        "checkout-error-spike",
        "healthy-release",
        "--vary",
        "analysis.failure_limit=1,2",
        "--vary",
        "steps[0].pause=5m",
        "--seeds",
        "30",
    ]);
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    assert_eq!(
        cells[1]["vary"],
        serde_json::json!({"analysis.failure_limit": "2", "steps[0].pause": "5m"})
    );
    let default = scenarios::catalog::policy("default").unwrap().text;
    let edited =
        default
            .replace("failure_limit = 1", "failure_limit = 2")
            .replacen("pause = \"10m\"", "pause = \"5m\"", 1);
    let path = temp_file("a_sweep_cell_equals_an_independent_batch", "p.toml", &edited);
    let batch = json(&[
        "batch",
        "checkout-error-spike",
        "healthy-release",
        "--policy",
        path.to_str().unwrap(),
        "--seeds",
        "30",
    ]);
    assert_eq!(cells[1]["groups"], batch["groups"]);
    // And the suite-level scores pool those groups' runs.
    let healthy = &batch["groups"][1];
    assert_eq!(cells[1]["false_alarm_rate"], healthy["false_alarm_rate"]);
    assert_eq!(cells[1]["detection_rate"], batch["groups"][0]["detection_rate"]);
}

/// A scenario key applies to every scenario of the suite.
#[test]
fn scenario_keys_vary_every_scenario() {
    let v = json(&[
        "sweep",
        "healthy-release",
        "--vary",
        "scenario.traffic.rps=50,400",
        "--seeds",
        "10",
    ]);
    let cells = v["cells"].as_array().unwrap();
    let requests = |c: &serde_json::Value| c["runs"].as_u64().unwrap();
    assert_eq!(requests(&cells[0]), 10);
    let rps400 = json(&["batch", "healthy-release", "--seeds", "10"]);
    assert_eq!(cells[1]["groups"], rps400["groups"]);
    assert_ne!(cells[0]["groups"], rps400["groups"]);
}

/// Bad axes are errors naming the --vary argument, before anything runs.
#[test]
fn bad_axes_name_the_vary_argument() {
    for (arg, needle) in [
        (
            "analysis.checkz[0].max_increase=0.01",
            "the file has no key \"analysis.checkz\"",
        ),
        ("analysis.checks[7].max_increase=0.01", "out of range"),
        (
            "analysis.checks[0].max_increase=abc,0.01",
            "with analysis.checks[0].max_increase=abc the file does not validate",
        ),
        ("analysis.failure_limitt=2", "unknown key"),
        (
            "steps[0].pause=5 min",
            "with steps[0].pause=5 min the file does not validate",
        ),
        ("steps[0].pause", "write KEY=V1,V2"),
    ] {
        let o = aviary(&["sweep", "healthy-release", "--vary", arg, "--seeds", "5"]);
        assert_eq!(o.code, 2, "{arg}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{arg}");
        assert!(o.stderr.contains(&format!("--vary {arg}")), "{arg}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{arg}: {needle:?} not in {}", o.stderr);
    }
}

/// With a suite's objective: the Pareto front, the winner, and its paired
/// difference against the base policy.
#[test]
fn the_objective_picks_a_winner_on_the_front() {
    let suite = r#"name = "team"
seeds = 40
scenarios = ["simpy-peer", "healthy-release"]
policies = ["default"]
[objective]
minimise = "blast_radius.failed_requests"
subject_to = { false_alarm_rate = "<= 0.2" }
"#;
    let path = temp_file("the_objective_picks_a_winner_on_the_front", "suite.toml", suite);
    let v = json(&[
        "sweep",
        path.to_str().unwrap(),
        "--vary",
        "analysis.checks[0].max_increase=0.002,0.01,0.03",
    ]);
    let cells = v["cells"].as_array().unwrap();
    let failed = |i: usize| cells[i]["blast_radius"]["failed_requests"]["mean"].as_f64().unwrap();
    // A tighter error gate catches simpy-peer's +0.9 points sooner.
    assert!(
        failed(0) < failed(1) && failed(1) <= failed(2),
        "{} {} {}",
        failed(0),
        failed(1),
        failed(2)
    );
    let winner = v["winner"].as_u64().unwrap() as usize;
    assert!(cells[winner]["false_alarm_rate"].as_f64().unwrap() <= 0.2);
    assert_eq!(cells[winner]["pareto"], true);
    let front: Vec<u64> = v["pareto"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert!(front.contains(&(winner as u64)));
    assert_eq!(v["winner_vs_base"]["a"], "default");
    assert!(
        v["verdicts"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("winner: cell {winner} ("))
    );
}

/// `--out DIR`: the JSON, the CSV, the pictures and an offline page that
/// escapes every user-supplied string.
#[test]
fn the_report_is_written_and_escapes_hostile_names() {
    let base = scenarios::catalog::scenario("healthy-release").unwrap().text;
    let hostile = base
        .replace(
            "name = \"healthy-release\"",
            "name = \"<script>alert('x')</script> & \\\"quoted\\\"\"",
        )
        .replace("policy = ", "# policy = ");
    let scenario = temp_file("the_report_is_written", "hostile.toml", &hostile);
    let policy_text = scenarios::catalog::policy("default")
        .unwrap()
        .text
        .replace("name = \"default\"", "name = \"<b>bold</b> & co\"");
    let policy = temp_file("the_report_is_written", "policy.toml", &policy_text);
    let dir = std::env::temp_dir().join(format!("aviary-e2e-{}-report-out", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = json(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--vary",
        "analysis.failure_limit=1,2",
        "--vary",
        "steps[0].pause=5m,10m",
        "--seeds",
        "8",
        "--out",
        dir.to_str().unwrap(),
    ]);
    for f in [
        "sweep.json",
        "sweep.csv",
        "pareto.png",
        "pareto.svg",
        "heatmap-failed-requests.png",
        "heatmap-failed-requests.svg",
        "index.html",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(written, out, "the JSON file is what stdout printed");
    // The pictures' series: one point per cell on the Pareto scatter, and a
    // heatmap square per cell showing that cell's figure from the JSON.
    let cells = out["cells"].as_array().unwrap();
    let pareto = std::fs::read_to_string(dir.join("pareto.svg")).unwrap();
    assert_eq!(pareto.matches("<circle").count(), cells.len(), "a point per cell");
    for i in 0..cells.len() {
        assert!(pareto.contains(&format!("\ncell {i}\n")), "cell {i} labelled");
    }
    let heat = std::fs::read_to_string(dir.join("heatmap-failed-requests.svg")).unwrap();
    assert!(heat.contains("@font-face"), "the font is inside the SVG");
    for c in cells {
        let mean = c["blast_radius"]["failed_requests"]["mean"].as_f64().unwrap();
        assert!(heat.contains(&format!("\n{mean:.0}\n")), "heatmap shows {mean:.0}");
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<b>bold"),
        "raw markup leaked"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; co"), "escaped policy name");
    assert!(
        html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;quoted&quot;")
            || html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"quoted\""),
        "escaped scenario name"
    );
    assert!(
        html.contains("<table>") && html.contains("analysis.failure_limit"),
        "the cells table"
    );
    assert!(html.contains("data:image/png;base64,"), "pictures embedded");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing fetched"
    );
    // The groups name the scenario; the page escapes it where it shows it.
    assert!(
        out["cells"][0]["groups"][0]["scenario"]
            .as_str()
            .unwrap()
            .contains("<script>")
    );
}
