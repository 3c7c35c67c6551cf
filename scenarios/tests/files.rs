//! File validation: every problem is reported at once, each naming the
//! file, the line and the key.

use scenarios::{catalog, parse_policy, parse_scenario};

const SCENARIO: &str = r#"name = "s"
description = "d"
duration = "2h"
rollout_at = "10m"

[traffic]
rps = 400
users = 50000

[fleet]
instances = 10
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

const POLICY: &str = r#"name = "p"
strategy = "canary"
steps = [ { weight = 1, pause = "10m" }, { weight = 100 } ]
[analysis]
interval = "1m"
failure_limit = 1
min_requests = 50
checks = [
  { metric = "error_rate", max_increase = 0.01 },
  { metric = "latency_p99_ms", max_ratio = 1.4 },
]
on_failure = "rollback"
"#;

/// Parses `text` (a scenario unless it has `strategy`) and compares the
/// rendered diagnostics with `expected`, in order.
fn check(text: &str, expected: &[&str]) {
    let got: Vec<String> = if text.contains("strategy") {
        parse_policy("f.toml", text).err().unwrap_or_default()
    } else {
        parse_scenario("f.toml", text).err().unwrap_or_default()
    }
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(got, expected, "\n--- input ---\n{text}");
}

fn edit(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "{from:?} not in base");
    base.replacen(from, to, 1)
}

#[test]
fn the_issue_examples_are_valid() {
    check(SCENARIO, &[]);
    check(POLICY, &[]);
    let s = parse_scenario("f.toml", SCENARIO).unwrap();
    assert_eq!(s.candidate, s.stable, "unset candidate keys inherit from stable");
    assert_eq!(s.monitoring.scrape_interval.ms(), 15_000);
}

#[test]
fn unknown_keys_name_line_and_key() {
    check(
        &edit(SCENARIO, "users = 50000", "users = 50000\nusres = 1"),
        &[
            "f.toml:9: key 'traffic.usres': unknown key (known keys here: csv, diurnal, points, rps, session_requests, shape, spikes, users)",
        ],
    );
    check(
        &edit(SCENARIO, "[candidate]", "[candidate]\nerror_rat = 0.1"),
        &[
            "f.toml:19: key 'candidate.error_rat': unknown key (known keys here: conversion_rate, error_rate, latency_ms, memory_mb)",
        ],
    );
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let text = edit(
        &edit(
            &edit(SCENARIO, "rps = 400", "rps = \"fast\""),
            "instances = 10",
            "instances = 0",
        ),
        "onset = \"0s\"",
        "onset = \"soon\"",
    );
    check(
        &text,
        &[
            "f.toml:7: key 'traffic.rps': expected a number, found string \"fast\"",
            "f.toml:11: key 'fleet.instances': 0 is out of range 1..=10000",
            "f.toml:23: key 'faults[1].onset': bad duration \"soon\" (write e.g. \"30s\", \"10m\", \"1h30m\", \"250ms\")",
        ],
    );
}

#[test]
fn missing_keys_point_at_their_table() {
    check(
        &edit(SCENARIO, "rps = 400\n", ""),
        &["f.toml:6: key 'traffic.rps': missing; expected a number in 0..=10000000"],
    );
    check(
        &edit(SCENARIO, "duration = \"2h\"\n", ""),
        &["f.toml:1: key 'duration': missing; expected a duration string such as \"30s\" or \"10m\""],
    );
}

/// A missing safety threshold is an error, not a silent default.
#[test]
fn a_check_without_a_threshold_is_an_error() {
    check(
        &edit(
            POLICY,
            "{ metric = \"latency_p99_ms\", max_ratio = 1.4 }",
            "{ metric = \"latency_p99_ms\" }",
        ),
        &[
            "f.toml:10: key 'analysis.checks[2].max': missing safety threshold: set one of max, max_increase, max_ratio, min, max_decrease, min_ratio",
        ],
    );
    check(
        &edit(POLICY, "failure_limit = 1\n", ""),
        &["f.toml:4: key 'analysis.failure_limit': missing; expected a whole number in 0..=1000000"],
    );
    let no_analysis = POLICY.split("[analysis]").next().unwrap();
    check(
        no_analysis,
        &["f.toml:1: key 'analysis': missing; expected a [analysis] table"],
    );
}

#[test]
fn policy_values_are_checked() {
    check(
        &edit(POLICY, "\"error_rate\"", "\"error_ratio\""),
        &[
            "f.toml:9: key 'analysis.checks[1].metric': unknown metric \"error_ratio\" (known: error_rate, latency_p50_ms, latency_p95_ms, latency_p99_ms, conversion_rate, throughput_ratio, cpu_utilisation, memory_utilisation, restarts, backfill_lag_rows, duplicate_writes, constraint_violations, mismatched_rows)",
        ],
    );
    check(
        &edit(POLICY, "weight = 100", "weight = 140"),
        &["f.toml:3: key 'steps[2].weight': 140 is out of range 0..=100"],
    );
    check(
        &edit(POLICY, "\"rollback\"", "\"panic\""),
        &[
            "f.toml:12: key 'analysis.on_failure': unknown action \"panic\" (known: rollback, hold, page, kill_switch, hotfix)",
        ],
    );
    check(
        &edit(POLICY, "\"canary\"", "\"yolo\""),
        &["f.toml:2: key 'strategy': unknown strategy \"yolo\" (known: canary, big_bang, rolling, blue_green, flag)"],
    );
}

#[test]
fn faults_are_checked() {
    check(
        &edit(SCENARIO, "kind = \"error_rate\"", "kind = \"gremlins\""),
        &[
            "f.toml:21: key 'faults[1].kind': unknown fault kind \"gremlins\" (known: error_rate, latency, memory_leak, throughput, kpi, dependency_load, session_format)",
        ],
    );
    check(
        &edit(SCENARIO, "add = 0.05", "fraction = 2"),
        &[
            "f.toml:20: key 'faults[1].add': an error_rate fault needs `add` (absolute increase) or `multiply`",
            "f.toml:22: key 'faults[1].fraction': 2 is out of range 0..=1",
        ],
    );
    check(
        &edit(
            SCENARIO,
            "kind = \"error_rate\"\nadd = 0.05",
            "kind = \"latency\"\nfactor = 1.2\np99_factor = 1.4",
        ),
        &["f.toml:23: key 'faults[1].p99_factor': conflicts with `factor`, which already sets it"],
    );
}

#[test]
fn syntax_errors_are_reported_with_a_line() {
    let got = parse_scenario("f.toml", "name = \"s\"\nduration = \n").unwrap_err();
    assert_eq!(got[0].line, 2, "{got:?}");
    assert!(got[0].message.starts_with("invalid TOML"));
}

#[test]
fn latency_quantiles_must_be_ordered() {
    check(
        &edit(SCENARIO, "p99 = 200", "p99 = 20"),
        &["f.toml:16: key 'stable.latency_ms': p99 (20) is below p50 (40)"],
    );
}

#[test]
fn every_builtin_parses() {
    for b in catalog::SCENARIOS {
        let s = parse_scenario(&b.label(), b.text).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(s.name, b.name, "file name and name key agree");
        assert!(!s.description.is_empty());
    }
    for b in catalog::POLICIES {
        let p = parse_policy(&b.label(), b.text).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(p.name, b.name);
    }
}

/// The files under `scenarios/catalog/` are the ones embedded in the binary.
#[test]
fn builtins_are_the_files_on_disk() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    for (sub, list) in [("scenarios", catalog::SCENARIOS), ("policies", catalog::POLICIES)] {
        let mut on_disk: Vec<String> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".toml")
                    .to_owned()
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = list.iter().map(|b| b.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "every catalog file is embedded");
    }
}

#[test]
fn judges_are_checked() {
    check(
        &edit(
            POLICY,
            "{ metric = \"error_rate\", max_increase = 0.01 }",
            "{ metric = \"error_rate\", judge = \"cusum\", k = 0.5 }",
        ),
        &["f.toml:9: key 'analysis.checks[1].h': missing; expected a number in 0.000000001..=1000"],
    );
    check(
        &edit(
            POLICY,
            "{ metric = \"latency_p99_ms\", max_ratio = 1.4 }",
            "{ metric = \"cpu_utilisation\", judge = \"sequential\", alpha = 0.05 }",
        ),
        &[
            "f.toml:10: key 'analysis.checks[2].judge': the sequential judge reads event counts: use it on error_rate or conversion_rate, or a latency metric, not cpu_utilisation",
        ],
    );
    check(
        &edit(
            POLICY,
            "{ metric = \"error_rate\", max_increase = 0.01 }",
            "{ metric = \"error_rate\", judge = \"vibes\" }",
        ),
        &[
            "f.toml:9: key 'analysis.checks[1].judge': unknown judge \"vibes\" (known: threshold, z_test, sequential, cusum, ewma, sprt, mann_whitney, inconclusive)",
        ],
    );
    check(
        &edit(
            POLICY,
            "{ metric = \"error_rate\", max_increase = 0.01 }",
            "{ metric = \"error_rate\", judge = \"sequential\", alpha = 0.05 }",
        ),
        &[],
    );
}

#[test]
fn score_weights_must_cover_the_groups() {
    let p = POLICY.replace(
        "checks = [\n  { metric = \"error_rate\", max_increase = 0.01 },",
        "score = { pass = 95, marginal = 75, weights = { errors = 60 } }\nchecks = [\n  { metric = \"error_rate\", judge = \"mann_whitney\", confidence = 0.98, group = \"errors\" },\n  { metric = \"latency_p95_ms\", judge = \"mann_whitney\", confidence = 0.98 },",
    );
    check(
        &p,
        &["f.toml:8: key 'analysis.score.weights': no weight for the group \"latency_p95_ms\" of a mann_whitney check"],
    );
}

/// Every name a "known: …" list offers is one the reader accepts (the lists
/// come from the model enums, the reader matches on strings).
#[test]
fn every_known_name_is_accepted() {
    use sim_core::model::{Action, FaultEffect, MigrationFault, Routing, SchemaChange, Shape, Strategy};
    let diagnostics = |text: &str| -> Vec<String> {
        let d = if text.contains("strategy") {
            parse_policy("f.toml", text).err()
        } else {
            parse_scenario("f.toml", text).err()
        };
        d.unwrap_or_default().iter().map(ToString::to_string).collect()
    };
    let accepts = |text: String, what: &str| {
        let d = diagnostics(&text);
        assert!(
            !d.iter().any(|m| m.contains(&format!("unknown {what}"))),
            "{d:?}\n--- input ---\n{text}"
        );
    };
    let migration = "[migration]\ntable = \"t\"\nchange = \"rename\"\nrows = 1\nwrite_share = 0.1\nread_share = 0.1\n";
    for name in sim_core::model::Rule::NAMES {
        let to = format!("{{ metric = \"error_rate\", judge = \"{name}\" }}");
        accepts(
            edit(POLICY, "{ metric = \"error_rate\", max_increase = 0.01 }", &to),
            "judge",
        );
    }
    for name in Strategy::NAMES {
        accepts(edit(POLICY, "\"canary\"", &format!("\"{name}\"")), "strategy");
    }
    for name in Routing::ALL.map(Routing::name) {
        accepts(
            edit(
                POLICY,
                "strategy = \"canary\"",
                &format!("strategy = \"canary\"\nrouting = \"{name}\""),
            ),
            "routing",
        );
    }
    for name in Action::ALL.map(Action::name) {
        accepts(edit(POLICY, "\"rollback\"", &format!("\"{name}\"")), "action");
    }
    for name in Shape::NAMES {
        accepts(
            edit(SCENARIO, "users = 50000", &format!("users = 50000\nshape = \"{name}\"")),
            "shape",
        );
    }
    for name in FaultEffect::KINDS {
        accepts(edit(SCENARIO, "\"error_rate\"", &format!("\"{name}\"")), "fault kind");
    }
    for name in SchemaChange::ALL.map(SchemaChange::name) {
        accepts(format!("{SCENARIO}{}", migration.replace("rename", name)), "change");
    }
    for name in MigrationFault::KINDS {
        let faults = format!("faults = [ {{ kind = \"{name}\", fraction = 0.1 }} ]\n");
        accepts(format!("{SCENARIO}{migration}{faults}"), "migration fault");
    }
}

/// Each "known: …" list in full, for the names not pinned above.
#[test]
fn unknown_names_list_the_known_ones() {
    check(
        &edit(
            POLICY,
            "strategy = \"canary\"",
            "strategy = \"canary\"\nrouting = \"random\"",
        ),
        &["f.toml:3: key 'routing': unknown routing \"random\" (known: weighted, replicas, sticky)"],
    );
    check(
        &edit(SCENARIO, "users = 50000", "users = 50000\nshape = \"sawtooth\""),
        &["f.toml:9: key 'traffic.shape': unknown shape \"sawtooth\" (known: constant, diurnal, series)"],
    );
    let migration = "[migration]\ntable = \"t\"\nchange = \"drop\"\nrows = 1\nwrite_share = 0.1\nread_share = 0.1\nfaults = [ { kind = \"gremlins\" } ]\n";
    check(
        &format!("{SCENARIO}{migration}"),
        &[
            "f.toml:26: key 'migration.change': unknown change \"drop\" (known: rename, add_required, enum_change)",
            "f.toml:30: key 'migration.faults[1].kind': unknown migration fault \"gremlins\" (known: duplicate_writes, constraint_violations, dropped_field, lag_under_load, old_reads_new_wrong)",
        ],
    );
}

/// Replaces the first check of `POLICY` (line 9) with `check`.
fn first_check(check: &str) -> String {
    edit(POLICY, "{ metric = \"error_rate\", max_increase = 0.01 }", check)
}

/// A key that does not apply to the check's judge is an error. Until this
/// was fixed, `{ judge = "cusum", k = 0.5, h = 4.0, max = 0.0 }` validated
/// and the bound `max` was silently dropped.
#[test]
fn a_key_of_another_judge_is_an_error() {
    check(
        &first_check("{ metric = \"error_rate\", judge = \"cusum\", k = 0.5, h = 4.0, max = 0.0 }"),
        &["f.toml:9: key 'analysis.checks[1].max': does not apply to judge 'cusum' (its keys: k, h)"],
    );
    // Without `judge`, the check is a threshold check.
    check(
        &first_check("{ metric = \"error_rate\", max_increase = 0.01, alpha = 0.05 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].alpha': does not apply to judge 'threshold' (its keys: max, max_increase, max_ratio, min, max_decrease, min_ratio)",
        ],
    );
    // Every foreign key is reported, in file order; the judge's own are still read.
    check(
        &first_check("{ metric = \"error_rate\", judge = \"z_test\", min_ratio = 0.5, alpha = 0.05, h = 4 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].min_ratio': does not apply to judge 'z_test' (its keys: alpha)",
            "f.toml:9: key 'analysis.checks[1].h': does not apply to judge 'z_test' (its keys: alpha)",
        ],
    );
    check(
        &first_check("{ metric = \"error_rate\", judge = \"sprt\", delta = 1, alpha = 0.05, beta = 0.2, max = 0.1 }"),
        &["f.toml:9: key 'analysis.checks[1].max': does not apply to judge 'sprt' (its keys: delta, alpha, beta)"],
    );
    // A threshold check with only foreign keys still lacks its safety threshold.
    check(
        &first_check("{ metric = \"error_rate\", k = 0.5 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].k': does not apply to judge 'threshold' (its keys: max, max_increase, max_ratio, min, max_decrease, min_ratio)",
            "f.toml:9: key 'analysis.checks[1].max': missing safety threshold: set one of max, max_increase, max_ratio, min, max_decrease, min_ratio",
        ],
    );
    // A key no judge takes is still an unknown key.
    check(
        &first_check("{ metric = \"error_rate\", judge = \"cusum\", k = 0.5, hh = 4 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].h': missing; expected a number in 0.000000001..=1000",
            "f.toml:9: key 'analysis.checks[1].hh': unknown key (known keys here: h, judge, k, metric, on_failure)",
        ],
    );
    // With an unknown judge, which keys apply is unknown: one error.
    check(
        &first_check("{ metric = \"error_rate\", judge = \"vibes\", max = 0.1, k = 1 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].judge': unknown judge \"vibes\" (known: threshold, z_test, sequential, cusum, ewma, sprt, mann_whitney, inconclusive)",
        ],
    );
}

/// `group` and `critical` feed the Kayenta score over Mann-Whitney checks
/// and nothing else: with another judge, or without `analysis.score`, they
/// would be silently ignored.
#[test]
fn group_and_critical_need_mann_whitney_and_a_score() {
    check(
        &first_check("{ metric = \"error_rate\", max_increase = 0.01, critical = true }"),
        &[
            "f.toml:9: key 'analysis.checks[1].critical': does not apply to judge 'threshold' (its keys: max, max_increase, max_ratio, min, max_decrease, min_ratio)",
        ],
    );
    check(
        &first_check("{ metric = \"error_rate\", judge = \"cusum\", k = 0.5, h = 4, group = \"errors\" }"),
        &["f.toml:9: key 'analysis.checks[1].group': does not apply to judge 'cusum' (its keys: k, h)"],
    );
    check(
        &first_check(
            "{ metric = \"error_rate\", judge = \"mann_whitney\", confidence = 0.98, group = \"errors\", critical = true }",
        ),
        &[
            "f.toml:9: key 'analysis.checks[1].group': only the score reads it: set analysis.score = { pass = …, marginal = … }",
            "f.toml:9: key 'analysis.checks[1].critical': only the score reads it: set analysis.score = { pass = …, marginal = … }",
        ],
    );
    let scored = edit(POLICY, "checks = [", "score = { pass = 95, marginal = 75 }\nchecks = [");
    check(
        &edit(
            &scored,
            "{ metric = \"error_rate\", max_increase = 0.01 }",
            "{ metric = \"error_rate\", judge = \"mann_whitney\", confidence = 0.98, group = \"errors\", critical = true }",
        ),
        &[],
    );
}

/// Each judge's keys (the table in docs/formats.md): all of them together
/// are accepted, and every key of another judge is refused, naming them.
#[test]
fn every_judge_takes_its_keys_and_no_other() {
    let judges: [(&str, &[&str]); 7] = [
        (
            "threshold",
            &["max", "max_increase", "max_ratio", "min", "max_decrease", "min_ratio"],
        ),
        ("z_test", &["alpha"]),
        ("sequential", &["alpha", "concentration"]),
        ("cusum", &["k", "h"]),
        ("ewma", &["lambda", "limit"]),
        ("sprt", &["delta", "alpha", "beta"]),
        (
            "mann_whitney",
            &[
                "confidence",
                "tolerance",
                "group",
                "critical",
                "direction",
                "effect_size",
                "allowed_increase",
                "allowed_decrease",
                "critical_increase",
                "critical_decrease",
                "nan_strategy",
                "outliers",
                "outlier_factor",
                "must_have_data",
            ],
        ),
    ];
    let value = |key: &str| match key {
        "max" => "1",
        "max_increase" => "0.01",
        "max_ratio" => "1.4",
        "min" => "0",
        "max_decrease" => "0.1",
        "min_ratio" => "0.5",
        "alpha" => "0.05",
        "concentration" => "100",
        "k" => "0.5",
        "h" => "4",
        "lambda" => "0.2",
        "limit" => "3",
        "delta" => "1",
        "beta" => "0.2",
        "confidence" => "0.98",
        "tolerance" => "0.25",
        "group" => "\"errors\"",
        "critical" => "true",
        "direction" => "\"either\"",
        "effect_size" => "\"cles\"",
        "allowed_increase" | "critical_increase" => "1.2",
        "allowed_decrease" | "critical_decrease" => "0.8",
        "nan_strategy" => "\"replace\"",
        "outliers" => "\"remove\"",
        "outlier_factor" => "3",
        "must_have_data" => "true",
        other => panic!("no value for {other}"),
    };
    let scored = edit(POLICY, "checks = [", "score = { pass = 95, marginal = 75 }\nchecks = [");
    let with = |judge: &str, keys: &[&str]| {
        let set: Vec<String> = keys.iter().map(|k| format!(", {k} = {}", value(k))).collect();
        let to = format!("{{ metric = \"error_rate\", judge = \"{judge}\"{} }}", set.concat());
        edit(&scored, "{ metric = \"error_rate\", max_increase = 0.01 }", &to)
    };
    for (judge, own) in judges {
        check(&with(judge, own), &[]);
        for (_, keys) in judges {
            for key in keys.iter().filter(|k| !own.contains(k)) {
                let mut keys = own.to_vec();
                keys.push(key);
                check(
                    &with(judge, &keys),
                    &[&format!(
                        "f.toml:10: key 'analysis.checks[1].{key}': does not apply to judge '{judge}' (its keys: {})",
                        own.join(", ")
                    )],
                );
            }
        }
    }
}

/// A migration gate holds the plan on bounds; a statistical judge there
/// would never run (the gate would silently never pass), so it is refused.
#[test]
fn a_gate_takes_bounds_only() {
    let safe = scenarios::catalog::policy("expand-contract-safe").expect("preset").text;
    let text = edit(
        safe,
        "{ metric = \"backfill_lag_rows\", max = 0 }",
        "{ metric = \"backfill_lag_rows\", judge = \"cusum\", k = 0.5, h = 4.0 }",
    );
    let got: Vec<String> = parse_policy("f.toml", &text)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "f.toml:35: key 'migration.phases[3].gates[1].judge': a migration gate takes bounds only (judge = \"threshold\"), not 'cusum'"
        ]
    );
}

/// A plan that named `backfill` twice validated, then panicked at the end of
/// the run ("time went backwards"): the world keeps one start and one end per
/// phase, and the second backfill's start came after the first one's end.
#[test]
fn a_migration_plan_naming_a_phase_twice_is_an_error_not_a_panic_at_the_end_of_the_run() {
    let safe = scenarios::catalog::policy("expand-contract-safe").expect("preset").text;
    let text = edit(
        safe,
        "{ phase = \"contract\", duration = \"5m\" },",
        "{ phase = \"contract\", duration = \"5m\" },\n  { phase = \"backfill\" },",
    );
    check(
        &text,
        &[
            "f.toml:42: key 'migration.phases[6].phase': phase \"backfill\" is already phases[3]; a plan runs each phase once",
        ],
    );
}

/// Problems were listed in the order the reader met them: a `rollout_at`
/// past the end (line 4) came after a bad `traffic.rps` (line 7), because
/// the horizon is checked once every table is read.
#[test]
fn diagnostics_are_in_line_order() {
    check(
        &edit(
            &edit(SCENARIO, "rollout_at = \"10m\"", "rollout_at = \"3h\""),
            "rps = 400",
            "rps = -1",
        ),
        &[
            "f.toml:4: key 'rollout_at': 3h is not before the end of the run (2h)",
            "f.toml:7: key 'traffic.rps': -1 is out of range 0..=10000000",
        ],
    );
}

/// `steps = []` was reported on line 1 (the top table) instead of the line
/// that sets it.
#[test]
fn the_step_count_error_points_at_the_steps_line() {
    check(
        &edit(
            POLICY,
            "steps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]",
            "steps = []",
        ),
        &[&format!(
            "f.toml:3: key 'steps': expected 1 to {} steps, found 0",
            sim_core::limits::STEPS_MAX
        )],
    );
}

/// Only the root problem is reported: an error that follows from another
/// one names keys the user never got wrong. Each of these used to add a
/// second, misleading error.
#[test]
fn follow_on_errors_are_not_reported() {
    // A bad [stable] made every candidate key "unknown (known keys here: )".
    check(
        &edit(
            &edit(SCENARIO, "error_rate = 0.001", "error_rate = 2"),
            "[candidate]",
            "[candidate]\nlatency_ms = { p99 = 300 }",
        ),
        &["f.toml:15: key 'stable.error_rate': 2 is out of range 0..=1"],
    );
    // The candidate's keys are still checked without a valid [stable].
    check(
        &edit(
            &edit(SCENARIO, "error_rate = 0.001", "error_rate = 2"),
            "[candidate]",
            "[candidate]\nlatency_ms = { p99 = -1 }",
        ),
        &[
            "f.toml:15: key 'stable.error_rate': 2 is out of range 0..=1",
            "f.toml:19: key 'candidate.latency_ms.p99': -1 is out of range 0.001..=3600000",
        ],
    );
    // A bad segment list made a fault's segment "unknown (none are defined)".
    let segmented = edit(SCENARIO, "onset = \"0s\"", "onset = \"0s\"\nsegment = \"ios\"");
    check(
        &edit(
            &segmented,
            "[traffic]",
            "segments = [ { name = \"ios\", share = 2 } ]\n[traffic]",
        ),
        &["f.toml:6: key 'segments[1].share': 2 is out of range 0..=1"],
    );
    check(
        &edit(&segmented, "[traffic]", "segments = \"ios\"\n[traffic]"),
        &["f.toml:6: key 'segments': expected an array of tables, found string \"ios\""],
    );
    // …and a bad flag list, a fault's flag.
    check(
        &edit(
            &edit(SCENARIO, "onset = \"0s\"", "onset = \"0s\"\nflag = \"f\""),
            "[traffic]",
            "flags = [\"f\", 1]\n[traffic]",
        ),
        &["f.toml:6: key 'flags': expected an array of strings, found an array"],
    );
    // An unknown or missing fault kind: which keys apply is unknown.
    check(
        &edit(SCENARIO, "kind = \"error_rate\"\n", ""),
        &["f.toml:20: key 'faults[1].kind': missing; expected a string"],
    );
    // An unknown strategy: whether `routing` applies is unknown.
    check(
        &edit(
            POLICY,
            "strategy = \"canary\"",
            "strategy = \"canry\"\nrouting = \"sticky\"",
        ),
        &["f.toml:2: key 'strategy': unknown strategy \"canry\" (known: canary, big_bang, rolling, blue_green, flag)"],
    );
    // A bad candidate p50 made the inherited p99 look "below p50".
    check(
        &edit(
            SCENARIO,
            "[candidate]",
            "[candidate]\nlatency_ms = { p50 = \"slow\", p99 = 30 }",
        ),
        &["f.toml:19: key 'candidate.latency_ms.p50': expected a number, found string \"slow\""],
    );
}

/// `pause = "5 min"` was told it "needs a unit", which it has.
#[test]
fn a_duration_with_a_space_is_told_to_drop_it() {
    check(
        &edit(POLICY, "pause = \"10m\"", "pause = \"5 min\""),
        &["f.toml:3: key 'steps[1].pause': bad duration \"5 min\": no spaces allowed; write \"5m\""],
    );
}

/// The kind of a file was guessed from any line starting with `strategy`:
/// a scenario whose description has such a line was read as a policy, a
/// policy with a quoted `"strategy"` key as a scenario, and a policy that
/// lost its `strategy` line got a scenario's errors. The kind is now
/// decided from the parsed top-level keys.
#[test]
fn the_file_kind_comes_from_the_top_level_keys_not_from_a_line() {
    use scenarios::{FileKind, Loaded, parse_any};
    let described = edit(
        SCENARIO,
        "description = \"d\"",
        "description = \"\"\"\nA canary whose\nstrategy is beside the point.\"\"\"",
    );
    assert_eq!(FileKind::of(&described), FileKind::Scenario);
    assert!(matches!(parse_any("f.toml", &described), Ok(Loaded::Scenario(_))));
    let quoted = edit(POLICY, "strategy = ", "\"strategy\" = ");
    assert_eq!(FileKind::of(&quoted), FileKind::Policy);
    assert!(matches!(parse_any("f.toml", &quoted), Ok(Loaded::Policy(_))));
    let strategyless = edit(POLICY, "strategy = \"canary\"\n", "");
    assert_eq!(FileKind::of(&strategyless), FileKind::Policy);
    let got: Vec<String> = parse_any("f.toml", &strategyless)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(got, ["f.toml:1: key 'strategy': missing; expected a string"]);
    let script = "[[command]]\nat = \"1m\"\ncommand = \"rollback\"\n";
    assert_eq!(FileKind::of(script), FileKind::Script);
    assert!(matches!(parse_any("s.toml", script), Ok(Loaded::Script(c)) if c.commands.len() == 1));
    let jsonl = "{\"t_s\": 60, \"type\": \"command\", \"command\": \"hold\"}\n";
    assert_eq!(FileKind::of(jsonl), FileKind::Script);
    // A key of another kind is read as what it is: an unknown key, named.
    let mixed = edit(SCENARIO, "name = \"s\"", "name = \"s\"\nstrategy = \"canary\"");
    assert_eq!(FileKind::of(&mixed), FileKind::Scenario);
    let got = parse_any("f.toml", &mixed).err().unwrap_or_default();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].line, got[0].key.as_str()), (2, "strategy"));
}

/// `FileKind::of` decides by the readers' top-level keys: each list is
/// exactly what its reader knows (the "known keys here" of an unknown key).
#[test]
fn the_top_level_key_lists_are_the_readers_own() {
    let known = |d: Vec<scenarios::Diagnostic>| -> Vec<String> {
        let d = d.into_iter().find(|d| d.key == "zzz").expect("zzz is unknown");
        let list = d.message.split("known keys here: ").nth(1).expect("a list");
        list.trim_end_matches(')').split(", ").map(str::to_owned).collect()
    };
    let sorted = |keys: &[&str]| {
        let mut v: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        v.sort();
        v
    };
    let scenario = parse_scenario("f.toml", &format!("zzz = 1\n{SCENARIO}")).unwrap_err();
    assert_eq!(known(scenario), sorted(&scenarios::scenario::TOP_KEYS));
    let policy = parse_policy("f.toml", &format!("zzz = 1\n{POLICY}")).unwrap_err();
    assert_eq!(known(policy), sorted(&scenarios::policy::TOP_KEYS));
    let script = scenarios::script::parse("s.toml", "zzz = 1\n[[command]]\nat = \"1m\"\ncommand = \"hold\"\n");
    assert_eq!(known(script.unwrap_err()), sorted(&scenarios::script::TOP_KEYS));
}

/// A built-in scenario cannot read files: its `policy` names a preset.
#[test]
fn a_builtin_scenarios_policy_is_a_preset() {
    let with = |policy: &str| edit(SCENARIO, "duration = ", &format!("policy = {policy:?}\nduration = "));
    check(&with("rolling"), &[]);
    let presets: Vec<&str> = catalog::POLICIES.iter().map(|b| b.name).collect();
    check(
        &with("p.toml"),
        &[&format!(
            "f.toml:3: key 'policy': no such policy preset \"p.toml\"; a built-in scenario names a preset ({})",
            presets.join(", ")
        )],
    );
}

/// Values that were accepted and meant nothing: segments covering more
/// than all of the traffic, a rollout whose every step sends it nothing, a
/// score whose every weight is 0 (a weighted mean of 0 / 0).
#[test]
fn meaningless_values_are_errors() {
    check(
        &edit(
            SCENARIO,
            "[traffic]",
            "segments = [ { name = \"ios\", share = 0.6 }, { name = \"web\", share = 0.5 } ]\n[traffic]",
        ),
        &["f.toml:6: key 'segments': the shares add up to 1.1; segments are parts of the traffic, at most 1 in all"],
    );
    // Shares that add up to 1 in floating point only nearly are fine.
    check(
        &edit(
            SCENARIO,
            "[traffic]",
            "segments = [ { name = \"a\", share = 0.1 }, { name = \"b\", share = 0.2 }, { name = \"c\", share = 0.7 } ]\n[traffic]",
        ),
        &[],
    );
    check(
        &edit(
            POLICY,
            "steps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]",
            "steps = [ { weight = 0, pause = \"10m\" }, { weight = 0 } ]",
        ),
        &["f.toml:3: key 'steps': every step has weight 0: the rollout would never move any traffic"],
    );
    let scored = edit(
        POLICY,
        "checks = [\n  { metric = \"error_rate\", max_increase = 0.01 },",
        "score = { pass = 95, marginal = 75, weights = { errors = 0, latency = 0 } }\nchecks = [\n  { metric = \"error_rate\", judge = \"mann_whitney\", confidence = 0.98, group = \"errors\" },\n  { metric = \"latency_p95_ms\", judge = \"mann_whitney\", confidence = 0.98, group = \"latency\" },",
    );
    check(
        &scored,
        &["f.toml:8: key 'analysis.score.weights': every weight is 0: the score, a weighted mean, would be 0 / 0"],
    );
    check(&scored.replace("errors = 0,", "errors = 1,"), &[]);
}

/// `latency_ms = { p95 = … }` was an unknown key. Any two of p50, p95 and
/// p99 now fit the log-normal; all three must agree within 1 %.
#[test]
fn latency_takes_any_two_of_p50_p95_and_p99() {
    use sim_core::latency::{LogNormal, Z95};
    let latency = |l: &str| {
        edit(
            SCENARIO,
            "latency_ms = { p50 = 40, p99 = 200 }",
            &format!("latency_ms = {l}"),
        )
    };
    let stable = |l: &str| {
        let s = parse_scenario("f.toml", &latency(l)).unwrap_or_else(|d| panic!("{l}: {d:?}"));
        (s.stable.latency_ms_p50, s.stable.latency_ms_p99)
    };
    let p95 = LogNormal::from_p50_p99(40.0, 200.0).at_z(Z95);
    for l in [
        format!("{{ p50 = 40, p95 = {p95} }}"),
        format!("{{ p95 = {p95}, p99 = 200 }}"),
        format!("{{ p50 = 40, p95 = {p95}, p99 = 200 }}"),
    ] {
        let (p50, p99) = stable(&l);
        assert!(
            (p50 - 40.0).abs() < 1e-9 && (p99 - 200.0).abs() < 1e-9,
            "{l}: {p50}, {p99}"
        );
    }
    // Within 1 %: accepted; the model keeps p50 and p99 as written.
    assert_eq!(
        stable(&format!("{{ p50 = 40, p95 = {}, p99 = 200 }}", p95 * 1.009)),
        (40.0, 200.0)
    );
    check(
        &latency("{ p50 = 40, p95 = 150, p99 = 200 }"),
        &[&format!(
            "f.toml:16: key 'stable.latency_ms': p95 (150) does not fit the log-normal through p50 (40) and p99 (200), whose p95 is {p95:.1}; give two of the three, or three that agree within 1 %"
        )],
    );
    check(
        &latency("{ p95 = 100 }"),
        &["f.toml:16: key 'stable.latency_ms': needs two of p50, p95 and p99 (a log-normal is fitted to them)"],
    );
    check(
        &latency("{ p50 = 40, p95 = 30 }"),
        &["f.toml:16: key 'stable.latency_ms': p95 (30) is below p50 (40)"],
    );
    check(
        &latency("{ p95 = 300, p99 = 200 }"),
        &["f.toml:16: key 'stable.latency_ms': p99 (200) is below p95 (300)"],
    );
    // A candidate's lone p95 keeps stable's median and refits through it.
    let text = edit(
        SCENARIO,
        "[candidate]",
        &format!("[candidate]\nlatency_ms = {{ p95 = {} }}", p95 * 2.0),
    );
    let s = parse_scenario("f.toml", &text).unwrap();
    assert_eq!(s.candidate.latency_ms_p50, 40.0);
    let fitted = LogNormal::from_p50_p99(s.candidate.latency_ms_p50, s.candidate.latency_ms_p99).at_z(Z95);
    assert!((fitted / (p95 * 2.0) - 1.0).abs() < 1e-9, "{fitted}");
    check(
        &edit(SCENARIO, "[candidate]", "[candidate]\nlatency_ms = { p95 = 30 }"),
        &["f.toml:19: key 'candidate.latency_ms': with the inherited p50 (40), p95 (30) is below it"],
    );
}

fn with_monitoring(lines: &str) -> String {
    format!("{SCENARIO}[monitoring]\n{lines}")
}

#[test]
fn latency_models_are_read() {
    use sim_core::latency::prometheus::DEFAULT_BUCKETS_MS;
    use sim_core::model::LatencyModel;
    let model = |lines: &str| {
        parse_scenario("f.toml", &with_monitoring(lines))
            .unwrap()
            .monitoring
            .latency
    };
    assert_eq!(model("latency = \"exact\"\n"), LatencyModel::Exact);
    assert_eq!(model("latency = \"log_histogram\"\n"), LatencyModel::LogHistogram);
    assert_eq!(
        model("latency = \"prometheus\"\n"),
        LatencyModel::Prometheus {
            buckets_ms: DEFAULT_BUCKETS_MS.to_vec()
        },
        "the client libraries' default buckets"
    );
    assert_eq!(
        model("latency = \"prometheus\"\nbuckets = [0.05, 0.1, 0.2, 0.4, 1]\n"),
        LatencyModel::Prometheus {
            buckets_ms: vec![50.0, 100.0, 200.0, 400.0, 1000.0]
        },
        "seconds in the file, milliseconds in the model"
    );
    let unset = parse_scenario("f.toml", SCENARIO).unwrap().monitoring.latency;
    assert_eq!(unset, LatencyModel::default_model());
}

#[test]
fn bad_latency_settings_name_line_and_key() {
    let check_m = |lines: &str, expected: &[&str]| check(&with_monitoring(lines), expected);
    check_m(
        "latency = \"p2\"\n",
        &[
            "f.toml:25: key 'monitoring.latency': unknown latency model \"p2\" (known: exact, prometheus, log_histogram)",
        ],
    );
    check_m(
        "latency = 3\n",
        &["f.toml:25: key 'monitoring.latency': expected a string, found integer 3"],
    );
    check_m(
        "latency = \"exact\"\nbuckets = [0.1, 1]\n",
        &[
            "f.toml:26: key 'monitoring.buckets': applies only to latency = \"prometheus\", and latency here is \"exact\"",
        ],
    );
    check_m(
        "latency = \"p2\"\nbuckets = [0.1]\n",
        &[
            "f.toml:25: key 'monitoring.latency': unknown latency model \"p2\" (known: exact, prometheus, log_histogram)",
        ],
    );
    check_m(
        "buckets = [0.1, 1]\n",
        &[
            "f.toml:25: key 'monitoring.buckets': applies only to latency = \"prometheus\", and latency here is \"log_histogram\" (the default)",
        ],
    );
    check_m(
        "latency = \"prometheus\"\nbuckets = []\n",
        &["f.toml:26: key 'monitoring.buckets': needs at least one finite bucket bound (the +Inf bucket is implicit)"],
    );
    check_m(
        "latency = \"prometheus\"\nbuckets = \"0.1\"\n",
        &["f.toml:26: key 'monitoring.buckets': expected an array of numbers, found string \"0.1\""],
    );
    check_m(
        "latency = \"prometheus\"\nbuckets = [0.1, \"1\"]\n",
        &["f.toml:26: key 'monitoring.buckets': expected an array of numbers, found an array"],
    );
    // Every bad element at once, each on its own line.
    check_m(
        "latency = \"prometheus\"\nbuckets = [\n  0.1,\n  0.05,\n  -1,\n  nan,\n  0.5,\n  0.5,\n  inf,\n]\n",
        &[
            "f.toml:28: key 'monitoring.buckets[2]': 0.05 is not above the bound before it (0.1): bounds increase",
            "f.toml:29: key 'monitoring.buckets[3]': -1 is not a number of seconds in (0, 3600]",
            "f.toml:30: key 'monitoring.buckets[4]': NaN is not a number of seconds in (0, 3600]",
            "f.toml:32: key 'monitoring.buckets[6]': 0.5 is not above the bound before it (0.5): bounds increase",
            "f.toml:33: key 'monitoring.buckets[7]': the +Inf bucket is implicit: list only the finite bounds",
        ],
    );
    let many: Vec<String> = (1..=65).map(|i| format!("{i}")).collect();
    check_m(
        &format!("latency = \"prometheus\"\nbuckets = [{}]\n", many.join(", ")),
        &["f.toml:26: key 'monitoring.buckets': 65 buckets; at most 64"],
    );
}

/// The example files the README runs load, with the models they name.
#[test]
fn the_monitoring_examples_load() {
    use sim_core::model::LatencyModel;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/monitoring");
    let mut models = Vec::new();
    for scenario in ["healthy-release", "p99-latency-regression"] {
        for model in ["exact", "prometheus", "log_histogram"] {
            let path = dir.join(format!("{scenario}-{model}.toml"));
            let loaded = scenarios::load_scenario(path.to_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(loaded.monitoring.latency.name(), model);
            models.push(loaded.monitoring.latency.clone());
        }
    }
    assert!(matches!(models[1], LatencyModel::Prometheus { .. }));
    let policy = scenarios::load_policy(dir.join("p99-gate.toml").to_str().unwrap()).expect("policy");
    assert_eq!(policy.name, "p99-gate");
}

/// The mutation corpus (issue 9) found a file that is not UTF-8 reported
/// with no line at all ("stream did not contain valid UTF-8"): a stray
/// byte or a file cut inside a character now names the line and column.
#[test]
fn a_file_that_is_not_utf8_names_the_line_of_the_bad_byte() {
    let dir = std::env::temp_dir().join(format!("aviary-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let stray = dir.join("stray.toml");
    std::fs::write(&stray, b"name = \"s\"\nduration = \"2\xffh\"\n").expect("write");
    let label = stray.display().to_string();
    let got: Vec<String> = scenarios::read_file(&stray)
        .expect_err("not UTF-8")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [format!(
            "{label}:2: not UTF-8: byte 0xff at column 14 (save the file as UTF-8)"
        )]
    );
    let cut = dir.join("cut.toml");
    std::fs::write(&cut, "name = \"s\"\n# \u{d7}".as_bytes().split_last().expect("bytes").1).expect("write");
    let label = cut.display().to_string();
    let got: Vec<String> = scenarios::read_file(&cut)
        .expect_err("not UTF-8")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [format!(
            "{label}:2: not UTF-8: the file ends inside a character at column 3 (a truncated file?)"
        )]
    );
}

/// The corpus (issue 9) set durations past the end of the run and found
/// three settings silently ignored: a fault whose onset comes after the
/// run has ended never starts, and a spike or an incident that begins
/// after it (or lasts 0s) changes nothing. Each is now an error at its key.
#[test]
fn a_fault_spike_or_incident_that_could_never_happen_is_an_error() {
    check(
        &edit(SCENARIO, "onset = \"0s\"", "onset = \"1h50m\""),
        &[
            "f.toml:23: key 'faults[1].onset': 1h50m after the candidate's first traffic (at 10m at the earliest) \
           is not before the end of the run (2h): the fault would never start",
        ],
    );
    check(&edit(SCENARIO, "onset = \"0s\"", "onset = \"1h49m\""), &[]);
    check(
        &edit(
            SCENARIO,
            "users = 50000",
            "users = 50000\nspikes = [ { at = \"2h\", duration = \"5m\", factor = 2 }, \
             { at = \"1h\", duration = \"0s\", factor = 2 } ]",
        ),
        &[
            "f.toml:9: key 'traffic.spikes[1].at': 2h is not before the end of the run (2h)",
            "f.toml:9: key 'traffic.spikes[2].duration': 0s: a window that lasts no time changes nothing",
        ],
    );
    check(
        &format!("{SCENARIO}\n[[incidents]]\nat = \"3h\"\nduration = \"0s\"\nerror_rate_add = 0.1\n"),
        &[
            "f.toml:26: key 'incidents[1].at': 3h is not before the end of the run (2h)",
            "f.toml:27: key 'incidents[1].duration': 0s: a window that lasts no time changes nothing",
        ],
    );
}

/// The corpus (issue 9) set check bounds to −1, 0 and 9.2e18 and every one
/// validated: `max = -1` fails every measurement, `max_ratio = 0` too, and
/// `max = 5` on a rate (5 % meant as 5) can never fail, so the check only
/// looks like one. Each is now an error at its key.
#[test]
fn a_bound_that_can_never_fail_or_always_fails_is_an_error() {
    let with = |check: &str| edit(POLICY, "{ metric = \"error_rate\", max_increase = 0.01 }", check);
    check(
        &with("{ metric = \"error_rate\", max = 5 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].max': error_rate is a fraction in 0..=1, so max = 5 can never fail; \
           for 5 % write 0.05",
        ],
    );
    check(
        &with("{ metric = \"latency_p95_ms\", max = -1 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].max': latency_p95_ms is never negative: max = -1 fails every \
           measurement",
        ],
    );
    check(
        &with("{ metric = \"conversion_rate\", max_decrease = 2 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].max_decrease': conversion_rate is a fraction in 0..=1, so a change \
           of it lies in -1..=1 and max_decrease = 2 can never fail; for 5 points write 0.05",
        ],
    );
    check(
        &with("{ metric = \"error_rate\", max_ratio = 0 }"),
        &["f.toml:9: key 'analysis.checks[1].max_ratio': a ratio bound of 0 fails every measurement above 0"],
    );
    check(
        &with("{ metric = \"throughput_ratio\", min_ratio = 0, min = -0.5 }"),
        &[
            "f.toml:9: key 'analysis.checks[1].min': throughput_ratio is never negative: min = -0.5 can never fail",
            "f.toml:9: key 'analysis.checks[1].min_ratio': a ratio bound of 0 can never fail",
        ],
    );
    // A negative change of a rate, or a big one on latency, is a choice.
    check(&with("{ metric = \"error_rate\", max_increase = -0.001 }"), &[]);
    check(
        &with("{ metric = \"latency_p99_ms\", max_increase = 5000, max = 1e6 }"),
        &[],
    );
}

/// The corpus (issue 9) found a diurnal period of 1 ms accepted (traffic is
/// drawn per scrape interval, so such a cycle averages out and the shape is
/// silently ignored) and a period of 0s reported at the `shape` line rather
/// than at the period's own.
#[test]
fn a_diurnal_period_is_checked_at_its_own_line_against_the_scrape_interval() {
    let diurnal = |period: &str| {
        edit(
            SCENARIO,
            "users = 50000",
            &format!("users = 50000\nshape = \"diurnal\"\ndiurnal = {{ amplitude = 0.5, period = \"{period}\" }}"),
        )
    };
    check(
        &diurnal("0s"),
        &["f.toml:10: key 'traffic.diurnal.period': must be longer than 0s"],
    );
    check(
        &diurnal("29s"),
        &[
            "f.toml:10: key 'traffic.diurnal.period': 29s is shorter than two scrape intervals (15s each): traffic \
           is drawn per scrape interval, so the cycle would average out",
        ],
    );
    check(&diurnal("30s"), &[]);
}

/// The corpus (issue 9) set a latency fault's `p99_factor` to 0 and it
/// validated: latency × 0 is 0 ms, which the engine could only clamp to
/// the median. A factor is now 0.01..=1000, as an incident's is.
#[test]
fn a_latency_factor_of_zero_is_an_error() {
    let latency = |effect: &str| {
        edit(
            SCENARIO,
            "kind = \"error_rate\"\nadd = 0.05",
            &format!("kind = \"latency\"\n{effect}"),
        )
    };
    check(
        &latency("p99_factor = 0"),
        &["f.toml:22: key 'faults[1].p99_factor': 0 is out of range 0.01..=1000"],
    );
    check(
        &latency("factor = 0"),
        &["f.toml:22: key 'faults[1].factor': 0 is out of range 0.01..=1000"],
    );
    check(&latency("p50_factor = 0.5"), &[]);
}

/// The corpus (issue 9) found a NUL byte reported by whatever the TOML
/// parser was reading when it met it ("invalid multi-line basic string,
/// expected `\`, characters"); it is now named, with its line and column.
#[test]
fn a_nul_byte_is_named_at_its_line_and_column() {
    check(
        &edit(SCENARIO, "rps = 400", "rps = 4\u{0}00"),
        &["f.toml:7: a NUL byte at column 8: TOML is text (a binary or damaged file?)"],
    );
    check(
        "\u{0}\u{0}\u{0}",
        &["f.toml:1: a NUL byte at column 1: TOML is text (a binary or damaged file?)"],
    );
}

/// The corpus (issue 9) set `duration` to 0s and 1ms: with a `rollout_at`
/// the error named rollout_at, and without one the file validated and ran
/// a run with nothing in it. A run shorter than one scrape interval is now
/// an error at `duration`.
#[test]
fn a_run_shorter_than_one_scrape_interval_is_an_error_at_duration() {
    let without_rollout_at = edit(SCENARIO, "rollout_at = \"10m\"\n", "");
    check(
        &edit(&without_rollout_at, "duration = \"2h\"", "duration = \"0s\""),
        &["f.toml:3: key 'duration': 0s is shorter than one scrape interval (15s): monitoring would never see the run"],
    );
    check(
        &edit(SCENARIO, "duration = \"2h\"", "duration = \"1ms\""),
        &[
            "f.toml:3: key 'duration': 1ms is shorter than one scrape interval (15s): monitoring would never see the \
           run",
        ],
    );
    check(
        &edit(&without_rollout_at, "duration = \"2h\"", "duration = \"15s\""),
        &[],
    );
}

/// The corpus (issue 9) deleted the `dual_write` line of a plan and it
/// validated; the run then migrated the schema and never rolled the app out
/// (0 requests to the candidate), its strategy and steps silently unused.
#[test]
fn a_migration_plan_without_a_dual_write_is_an_error() {
    let hasty = scenarios::catalog::policy("expand-contract-hasty")
        .expect("preset")
        .text;
    let text = edit(hasty, "  { phase = \"dual_write\" },\n", "");
    let line = text.lines().position(|l| l.starts_with("phases = [")).expect("phases") + 1;
    check(
        &text,
        &[&format!(
            "f.toml:{line}: key 'migration.phases': no dual_write phase: the app rollout (the strategy and steps) \
             runs in it, so without one the app would never be rolled out"
        )],
    );
}

#[test]
fn analysis_timing_keys_are_checked() {
    let with = |lines: &str| edit(POLICY, "min_requests = 50\n", &format!("min_requests = 50\n{lines}\n"));
    check(
        &with("window = \"sometimes\""),
        &[
            "f.toml:8: key 'analysis.window': bad duration \"sometimes\" (write e.g. \"30s\", \"10m\", \"1h30m\", \"250ms\") (or \"interval\", \"cumulative\")",
        ],
    );
    check(
        &with("window = 5"),
        &[
            "f.toml:8: key 'analysis.window': expected \"interval\", \"cumulative\" or a duration such as \"30m\", found integer 5",
        ],
    );
    check(
        &with("from_step = 2"),
        &["f.toml:8: key 'analysis.from_step': step 2 does not exist: the policy has 2 steps, numbered from 0"],
    );
    let big_bang = edit(
        &edit(
            &with("from_step = 1"),
            "strategy = \"canary\"",
            "strategy = \"big_bang\"",
        ),
        "steps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]\n",
        "",
    );
    check(
        &big_bang,
        &["f.toml:7: key 'analysis.from_step': only for strategy = \"canary\""],
    );
    check(
        &with("delay = \"-1m\""),
        &["f.toml:8: key 'analysis.delay': bad duration \"-1m\": a duration cannot be negative"],
    );
    check(
        &with("hold_on_failure = \"yes\""),
        &["f.toml:8: key 'analysis.hold_on_failure': expected true or false, found string \"yes\""],
    );
    for ok in [
        "window = \"cumulative\"\ndelay = \"2m\"\nfrom_step = 1\nhold_on_failure = true\nbaseline_offset = \"5m\"",
        "window = \"15m\"",
    ] {
        check(&with(ok), &[]);
    }
}
