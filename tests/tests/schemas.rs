//! Every JSON output validates against its JSON Schema in `docs/schema/`
//! (checked with the `jsonschema` crate, draft 2020-12), and every schema
//! there is checked here against real output, so neither drifts alone.

use e2e::{aviary, ok, temp_file};
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/../docs/schema/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{path} is not a schema: {e}"))
}

fn check(name: &str, what: &str, instance: &Value) {
    let errors: Vec<String> = schema(name)
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} against docs/schema/{name}.json:\n{}",
        errors.join("\n")
    );
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn examples(path: &str) -> String {
    format!("{}/../examples/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_json_output_matches_its_schema() {
    let mut used = Vec::new();
    let mut check = |name: &'static str, what: &str, v: &Value| {
        used.push(name);
        check(name, what, v);
    };
    for scenario in [
        "checkout-error-spike",
        "healthy-release",
        "orders-rename-200m",
        "too-fast-promotion-leak",
    ] {
        let v = parse(&ok(&["run", scenario, "--format", "json"]));
        check("run", &format!("run {scenario}"), &v);
        assert_eq!(v["aviary_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["schema_version"], 1);
    }
    let lines = ok(&[
        "batch",
        "checkout-error-spike",
        "orders-rename-200m",
        "--seeds",
        "3",
        "--format",
        "jsonl",
    ]);
    for line in lines.lines() {
        check("run", "a batch --format jsonl line", &parse(line));
    }
    let batch = ok(&[
        "batch",
        "checkout-error-spike",
        "healthy-release",
        "orders-rename-200m",
        "--seeds",
        "4",
        "--format",
        "json",
    ]);
    check("batch", "batch", &parse(&batch));
    let pair = [
        "checkout-error-spike",
        "healthy-release",
        "--seeds",
        "4",
        "--format",
        "json",
    ];
    let compare = ok(&[
        &["compare", "--policy", "default", "--policy", "sequential"][..],
        &pair[..],
    ]
    .concat());
    check("compare", "compare", &parse(&compare));
    let loose = temp_file(
        "schemas",
        "loose.toml",
        &ok(&["policies", "show", "default", "--format", "toml"]).replace("max_increase = 0.01", "max_increase = 0.2"),
    );
    let check_args = [
        &[
            "check",
            "--policy",
            loose.to_str().unwrap(),
            "--baseline-policy",
            "default",
        ][..],
        &pair[..],
    ]
    .concat();
    let report = aviary(&check_args);
    assert!(report.code <= 1, "{}", report.stderr);
    check("check", "check", &parse(&report.stdout));
    let sweep = ok(&[
        &["sweep", "--policy", "default", "--vary", "analysis.failure_limit=0,1"][..],
        &pair[..],
    ]
    .concat());
    check("sweep", "sweep", &parse(&sweep));
    let replay = ok(&[
        "replay-metrics",
        &examples("interop/checkout-rollout.yaml"),
        "--metrics",
        &examples("interop/checkout-metrics.csv"),
        "--format",
        "json",
    ]);
    check("replay-metrics", "replay-metrics", &parse(&replay));
    let session = temp_file("schemas", "a.jsonl", "");
    let debrief = ok(&[
        "gameday",
        "checkout-error-spike",
        "--script",
        &examples("gameday/team-a.toml"),
        "--session",
        session.to_str().unwrap(),
        "--format",
        "json",
    ]);
    check("debrief", "gameday --script", &parse(&debrief));
    let session = session.to_str().unwrap();
    let ranking = ok(&["debrief", session, session, "--format", "json"]);
    check("debrief-ranking", "debrief of two sessions", &parse(&ranking));
    for kind in ["scenarios", "policies"] {
        check("list", kind, &parse(&ok(&[kind, "list", "--format", "json"])));
    }
    let x = temp_file("schemas", "x.txt", "1\n2\n3\n4\n5\n6\n");
    let y = temp_file("schemas", "y.txt", "2\n3\n4\n5\n6\n7\n");
    let judge = ok(&[
        "judge",
        "mann-whitney",
        "--control",
        x.to_str().unwrap(),
        "--experiment",
        y.to_str().unwrap(),
        "--format",
        "json",
    ]);
    check("judge", "judge mann-whitney", &parse(&judge));
    let bad = temp_file(
        "schemas",
        "bad.toml",
        "name = \"p\"\nstrategy = \"canary\"\nrps = = 1\n",
    );
    let diagnostics = aviary(&["validate", bad.to_str().unwrap(), "--message-format", "json"]);
    assert_eq!(diagnostics.code, 2);
    for line in diagnostics.stderr.lines() {
        check("diagnostic", "a --message-format json line", &parse(line));
    }
    // Every schema file is checked against something.
    let dir = format!("{}/../docs/schema", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.trim_end_matches(".json");
        assert!(used.contains(&stem), "docs/schema/{name} is checked by no output");
    }
}

/// A schema that accepts anything would pass the test above: each
/// document schema rejects an unknown key and a missing version.
#[test]
fn the_schemas_reject_what_they_do_not_document() {
    let run = parse(&ok(&["run", "healthy-release", "--format", "json"]));
    let mut extra = run.clone();
    extra["surprise"] = 1.into();
    assert!(!schema("run").is_valid(&extra), "an undocumented key fails");
    let mut old = run.clone();
    old["schema_version"] = 0.into();
    assert!(!schema("run").is_valid(&old), "another schema version fails");
    let mut wrong = run;
    wrong["outcome"] = "exploded".into();
    assert!(!schema("run").is_valid(&wrong), "an unknown outcome fails");
}
