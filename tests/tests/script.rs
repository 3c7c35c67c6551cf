//! `aviary run --script`: a run's JSON lines replay it; TOML scripts; the
//! errors a bad script gets.

use e2e::{aviary_short, json, ok, temp_file};

/// The whole `--format jsonl` output of a run is a script that replays it.
#[test]
fn a_runs_jsonl_output_replays_it() {
    let log = ok(&["run", "checkout-error-spike", "--seed", "7", "--format", "jsonl"]);
    let commands: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "command")
        .collect();
    assert_eq!(commands[0]["command"], "start");
    assert_eq!(commands[0]["by"], "policy");
    let decision = commands
        .iter()
        .find(|c| c["command"] == "rollback")
        .expect("a rollback");
    assert_eq!(decision["metric"], "error_rate");
    let path = temp_file("replay", "run.jsonl", &log);
    let path = path.to_str().unwrap();
    let replay = |format: &str| {
        ok(&[
            "run",
            "checkout-error-spike",
            "--seed",
            "7",
            "--script",
            path,
            "--format",
            format,
        ])
    };
    let mut original = json(&["run", "checkout-error-spike", "--seed", "7", "--format", "json"]);
    let mut replayed: serde_json::Value = serde_json::from_str(&replay("json")).unwrap();
    // A script runs no analysis, so the engine handles fewer events.
    original["events"] = serde_json::Value::Null;
    replayed["events"] = serde_json::Value::Null;
    assert_eq!(original, replayed);
    let replay_log = replay("jsonl");
    assert!(replay_log.contains(r#""command":"rollback","by":"script","metric":"error_rate""#));
}

/// A TOML script decides instead of the policy: a rollback the analysis
/// would never have made, at 20 minutes, on a healthy release.
#[test]
fn a_toml_script_takes_every_decision() {
    let script = temp_file(
        "toml-script",
        "drill.toml",
        r#"
[[command]]
at = "10m"
command = "start"

[[command]]
at = "20m"
command = "set_weight"
weight = 10

[[command]]
at = "30m"
command = "rollback"
"#,
    );
    let v = json(&[
        "run",
        "healthy-release",
        "--script",
        script.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(v["outcome"], "rolled_back");
    assert_eq!(v["detected_at_s"], 1800.0);
    assert_eq!(v["decision"]["action"], "rollback");
    assert_eq!(v["decision"]["metric"], serde_json::Value::Null);
    assert_eq!(v["false_alarm"], true);
    let weights: Vec<u64> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["weight"].as_u64().unwrap())
        .collect();
    assert!(weights.contains(&10), "the scripted weight was routed: {weights:?}");
}

/// Script errors name the file, line and key, exit 2, and print nothing.
#[test]
fn bad_scripts_get_file_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "s.toml",
            "[[command]]\nat = \"1m\"\ncommand = \"rolback\"\n",
            "s.toml:3: key 'command[1].command': unknown command \"rolback\" (known: start, next_step,",
        ),
        (
            "s.toml",
            "[[command]]\nat = \"1m\"\ncommand = \"set_weight\"\n",
            "s.toml:1: key 'command[1].weight': missing: 'set_weight' needs 'weight'",
        ),
        (
            "s.toml",
            "[[command]]\nat = \"1m\"\ncommand = \"rollback\"\nweight = 5\n",
            "s.toml:4: key 'command[1].weight': unknown key",
        ),
        (
            "s.jsonl",
            "{\"t_s\": 60, \"type\": \"command\", \"command\": \"page\", \"then\": \"rollback\"}\n",
            "s.jsonl:1: key 'after_s': missing: 'page' needs 'after'",
        ),
        (
            "s.jsonl",
            "{\"type\": \"horizon\"}\n{\"t_s\": -1, \"type\": \"command\", \"command\": \"hold\"}\n",
            "s.jsonl:2: key 't_s': -1 is out of range",
        ),
        (
            "s.jsonl",
            "{\"t_s\": 5, \"type\": \"command\", \"command\": \"hold\", \"weight\": 3}\n",
            "s.jsonl:1: key 'weight': does not apply to command 'hold'",
        ),
        (
            "s.jsonl",
            "{\"t_s\": 5, \"type\": \"command\", \"command\": \"hold\"\n",
            "s.jsonl:1: not a JSON object",
        ),
    ];
    for (name, text, expected) in cases {
        let path = temp_file("bad-script", name, text);
        let o = aviary_short(&["run", "healthy-release", "--script", path.to_str().unwrap()]);
        assert_eq!(o.code, 2, "{text}: {}", o.stderr);
        assert!(o.stdout.is_empty());
        let want = expected.replacen(name, path.to_str().unwrap(), 1);
        assert!(o.stderr.contains(&want), "{text}\nwanted: {want}\ngot: {}", o.stderr);
    }
}

/// The command names scripts accept, the names the command log writes and
/// `Command::NAMES` (the "known" list of the error) are one list: every
/// listed name parses into a command that prints as that name.
#[test]
fn every_command_name_round_trips() {
    for name in sim_core::control::Command::NAMES {
        let args = match name {
            "set_weight" => "weight = 5\n",
            "page" => "then = \"rollback\"\nafter = \"1m\"\n",
            "begin_phase" | "finish_phase" => "phase = 1\n",
            _ => "",
        };
        let text = format!("[[command]]\nat = \"1m\"\ncommand = \"{name}\"\n{args}");
        let commands = scenarios::script::parse("s.toml", &text)
            .unwrap_or_else(|d| panic!("{name}: {d:?}"))
            .commands;
        assert_eq!(commands.len(), 1);
        assert_eq!(commands[0].command.name(), name);
    }
}

/// `aviary validate` reads a script as a script (it used to read every file
/// without a `strategy` line as a scenario).
#[test]
fn validate_reads_scripts() {
    let toml = temp_file(
        "validate-script",
        "s.toml",
        "[[command]]\nat = \"1m\"\ncommand = \"rollback\"\n",
    );
    let jsonl = temp_file(
        "validate-script",
        "s.jsonl",
        "{\"t_s\": 60, \"type\": \"command\", \"command\": \"hold\"}\n{\"t_s\": 90, \"type\": \"command\", \"command\": \"resume\"}\n",
    );
    let v = ok(&["validate", toml.to_str().unwrap(), jsonl.to_str().unwrap()]);
    assert_eq!(
        v,
        format!(
            "ok: {} (script, 1 command)\nok: {} (script, 2 commands)\n",
            toml.display(),
            jsonl.display()
        )
    );
    let bad = temp_file(
        "validate-script",
        "bad.toml",
        "[[command]]\nat = \"1m\"\ncommand = \"rolback\"\n",
    );
    let o = aviary_short(&["validate", bad.to_str().unwrap()]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""));
    assert!(
        o.stderr.contains(&format!(
            "{}:3: key 'command[1].command': unknown command",
            bad.display()
        )),
        "{}",
        o.stderr
    );
}
