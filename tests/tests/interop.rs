//! Bring your own policy: Argo Rollouts, Flagger and Kayenta configs in,
//! Argo Rollouts and Flagger YAML out. Each semantic test names the tool's
//! source file it follows (argoproj/argo-rollouts, fluxcd/flagger,
//! spinnaker/kayenta), including where the docs and the code differ.
//! Every test here is deterministic: no random draw decides a pass.

use std::path::PathBuf;

use e2e::{aviary, aviary_short, temp_file};
use scenarios::Diagnostic;
use scenarios::catalog;
use scenarios::import::{self, Imported, Input, Options, Tool};
use sim_core::batch::{Pair, run_batch};
use sim_core::model::{Metric, Policy, Routing, Rule, Strategy};
use sim_core::time::SimDuration;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/external-configs")
        .join(path)
}

fn import_files(tool: Tool, files: &[&str]) -> Result<Imported, Vec<Diagnostic>> {
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input {
            label: (*f).to_owned(),
            text: std::fs::read_to_string(data(f)).expect("shared config"),
        })
        .collect();
    import::import(tool, &inputs, &Options::default())
}

fn import_text_with(tool: Tool, text: &str, opts: &Options) -> (Policy, Vec<Diagnostic>) {
    let input = Input {
        label: "test.yaml".to_owned(),
        text: text.to_owned(),
    };
    let imported = import::import(tool, std::slice::from_ref(&input), opts)
        .unwrap_or_else(|e| panic!("import failed: {e:?}\n{text}"));
    let p = scenarios::parse_policy("imported", &imported.toml).expect("the imported policy parses");
    (p, imported.warnings)
}

fn import_text(tool: Tool, text: &str) -> (Policy, Vec<Diagnostic>) {
    import_text_with(tool, text, &Options::default())
}

fn warned(w: &[Diagnostic], needle: &str) -> bool {
    w.iter().any(|d| d.message.contains(needle))
}

/// The shared configs, with the files a Rollout needs for its templates.
const SHARED: [(Tool, &[&str]); 19] = [
    (Tool::Argo, &["argo-rollouts/analysis-templates.yaml"]),
    (Tool::Argo, &["argo-rollouts/analysisrun-rollout-aborted.yaml"]),
    (
        Tool::Argo,
        &["argo-rollouts/analysistemplate-web-background-inconclusive.yaml"],
    ),
    (
        Tool::Argo,
        &["argo-rollouts/appmesh-canary-rollout-prometheus-analysis.yaml"],
    ),
    (Tool::Argo, &["argo-rollouts/experiment-dry-run-analysis.yaml"]),
    (
        Tool::Argo,
        &[
            "argo-rollouts/rollout-analysis-step.yaml",
            "argo-rollouts/analysis-templates.yaml",
        ],
    ),
    (
        Tool::Argo,
        &[
            "argo-rollouts/rollout-background-analysis.yaml",
            "argo-rollouts/analysis-templates.yaml",
        ],
    ),
    (Tool::Argo, &["argo-rollouts/rollout-bluegreen.yaml"]),
    (Tool::Argo, &["argo-rollouts/rollout-canary.yaml"]),
    (Tool::Flagger, &["flagger/istio-abtest.yaml"]),
    (Tool::Flagger, &["flagger/istio-canary.yaml"]),
    (Tool::Flagger, &["flagger/kuma-canary.yaml"]),
    (Tool::Flagger, &["flagger/linkerd-canary-steps.yaml"]),
    (Tool::Flagger, &["flagger/linkerd-canary.yaml"]),
    (Tool::Kayenta, &["kayenta/judge-test-config.json"]),
    (Tool::Kayenta, &["kayenta/newrelic-canary-config.json"]),
    (Tool::Kayenta, &["kayenta/prometheus-integration-test-cpu.json"]),
    (Tool::Kayenta, &["kayenta/prometheus-muted-metric.json"]),
    (Tool::Kayenta, &["kayenta/signalfx-integration-test-canary-config.json"]),
];

#[test]
fn every_shared_config_imports_validates_and_runs_on_the_catalog() {
    let scenarios: Vec<_> = catalog::SCENARIOS
        .iter()
        .map(|b| scenarios::parse_scenario(&b.label(), b.text).expect("built-in scenario"))
        .collect();
    let mut policies = Vec::new();
    for (tool, files) in SHARED {
        let imported = import_files(tool, files).unwrap_or_else(|e| panic!("{files:?}: {e:?}"));
        assert!(
            imported.toml.contains("# "),
            "{files:?}: every mapped field has a comment"
        );
        policies.push(scenarios::parse_policy(files[0], &imported.toml).expect("the imported policy validates"));
    }
    let pairs: Vec<Pair<'_>> = policies
        .iter()
        .flat_map(|p| scenarios.iter().map(move |s| Pair { scenario: s, policy: p }))
        .collect();
    let results = run_batch(&pairs, 1, 1, &|| {});
    assert_eq!(results.len(), SHARED.len() * scenarios.len());
    assert!(results.iter().all(|r| r.len() == 1));
}

/// CanaryConfigController.java validateMetricConfigNames.
#[test]
fn kayenta_rejects_a_duplicated_metric_name_with_its_own_reason() {
    let e = import_files(Tool::Kayenta, &["kayenta/INVALID-duplicated-metric-name.json"])
        .err()
        .expect("rejected");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("Metric config name must be unique. 'mem' is duplicated."),
        "{e:?}"
    );
    assert!(e[0].line > 0 && e[0].key == "metrics[1].name", "{e:?}");
}

fn same_policy(a: &Policy, b: &Policy) -> bool {
    Policy {
        name: String::new(),
        description: String::new(),
        ..a.clone()
    } == Policy {
        name: String::new(),
        description: String::new(),
        ..b.clone()
    }
}

/// export, then import: the policy the target format holds.
fn through(tool: Tool, p: &Policy) -> Option<Policy> {
    let exported = match tool {
        Tool::Argo => import::export::argo(p, "p", false),
        Tool::Flagger => import::export::flagger(p, "p", false),
        Tool::Kayenta => return None,
    }
    .ok()?;
    let (back, _) = import_text(tool, &exported.yaml);
    Some(back)
}

#[test]
fn import_export_import_is_a_fixed_point_for_every_preset_and_shared_config() {
    let mut exported = [0, 0];
    let mut sources: Vec<(String, Policy)> = catalog::POLICIES
        .iter()
        .map(|b| {
            (
                b.name.to_owned(),
                scenarios::parse_policy(&b.label(), b.text).expect("preset"),
            )
        })
        .collect();
    for (tool, files) in SHARED {
        let imported = import_files(tool, files).expect("imports");
        sources.push((
            files[0].to_owned(),
            scenarios::parse_policy(files[0], &imported.toml).expect("valid"),
        ));
    }
    for (name, p) in &sources {
        for (i, tool) in [Tool::Argo, Tool::Flagger].into_iter().enumerate() {
            let Some(once) = through(tool, p) else { continue };
            exported[i] += 1;
            let twice = through(tool, &once).unwrap_or_else(|| panic!("{name}: the import of an export exports"));
            assert!(
                same_policy(&once, &twice),
                "{name} through {tool:?} is not a fixed point:\n{once:#?}\n{twice:#?}"
            );
        }
    }
    // Canary presets with threshold checks on error rate and latency export
    // to both; judges and scores do not (an error without --lossy).
    assert!(exported[0] >= 12 && exported[1] >= 12, "exported: {exported:?}");
    // Argo Rollouts keeps a canary preset's steps and checks as they are.
    let default = &sources[sources.iter().position(|(n, _)| n == "default").expect("default")].1;
    let back = through(Tool::Argo, default).expect("default exports to Argo");
    assert_eq!(back.steps, default.steps);
    assert_eq!(back.analysis.checks, default.analysis.checks);
    assert_eq!(back.analysis.failure_limit, default.analysis.failure_limit);
}

const ROLLOUT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: r }
spec:
  strategy:
    canary:
      trafficRouting: { nginx: { stableIngress: s } }
      analysis:
        templates: [ { templateName: t } ]
        args: [ { name: svc, value: checkout } ]
      steps:
      - setWeight: 10
      - pause: { duration: STEP }
      - setWeight: 50
      - pause: {}
"#;

fn template(metric: &str) -> String {
    format!(
        "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{ name: t }}\nspec:\n  args: [ {{ name: svc }} ]\n  metrics:\n{metric}"
    )
}

const ERRORS: &str = r#"sum(rate(http_requests_total{service="{{args.svc}}",code=~"5.*"}[1m])) / sum(rate(http_requests_total{service="{{args.svc}}"}[1m]))"#;

fn argo(step: &str, metric: &str) -> (Policy, Vec<Diagnostic>) {
    import_text(
        Tool::Argo,
        &format!("{}{}", ROLLOUT.replace("STEP", step), template(metric)),
    )
}

fn error_metric(extra: &str) -> String {
    format!("  - name: errors\n    interval: 1m\n{extra}    provider:\n      prometheus:\n        query: '{ERRORS}'\n")
}

/// types.go RolloutPause.DurationSeconds: an integer, or a string without a
/// unit, is seconds; a Go duration otherwise.
#[test]
fn argo_pause_durations_without_a_unit_are_seconds() {
    let cond = "    successCondition: result[0] <= 0.01\n";
    for (text, secs) in [("30", 30), ("'30'", 30), ("1m30s", 90), ("2h", 7200)] {
        let (p, _) = argo(text, &error_metric(cond));
        assert_eq!(p.steps[0].pause, SimDuration::from_secs(secs), "pause duration {text}");
    }
}

/// `pause: {}` waits for a human: aviary's modelled human resumes after
/// --resume-after (docs/interop.md), and says so.
#[test]
fn argo_an_indefinite_pause_is_a_modelled_human() {
    let cond = "    successCondition: result[0] <= 0.01\n";
    let text = format!("{}{}", ROLLOUT.replace("STEP", "5m"), template(&error_metric(cond)));
    let opts = Options {
        resume_after: SimDuration::from_secs(1800),
        ..Options::default()
    };
    let (p, w) = import_text_with(Tool::Argo, &text, &opts);
    assert_eq!(p.steps[1].pause, SimDuration::from_secs(1800));
    assert_eq!(
        p.steps.last().map(|s| s.weight),
        Some(100),
        "Argo promotes after the last step"
    );
    assert!(warned(&w, "indefinite pause"), "{w:?}");
}

/// evaluate.go EvaluateResult: a success condition alone fails what it does
/// not accept; a failure condition alone passes what it does not reject;
/// both empty is Successful (the code; the docs say Inconclusive); with
/// both, a value neither accepts is Inconclusive.
#[test]
fn argo_conditions_follow_evaluate_go() {
    let bound = |p: &Policy| match p.analysis.checks.first().map(|c| &c.rule) {
        Some(Rule::Bounds(b)) => (b.min, b.max),
        other => panic!("expected bounds, got {other:?}"),
    };
    let (p, _) = argo("1m", &error_metric("    successCondition: result[0] <= 0.01\n"));
    assert_eq!(bound(&p), (None, Some(0.01)));
    let (p, _) = argo("1m", &error_metric("    failureCondition: result[0] > 0.05\n"));
    assert_eq!(bound(&p), (None, Some(0.05)));
    let (p, w) = argo("1m", &error_metric(""));
    assert!(
        p.analysis.checks.is_empty(),
        "both conditions empty: always Successful, nothing can fail"
    );
    assert!(warned(&w, "every measurement is Successful"), "{w:?}");
    let (p, w) = argo(
        "1m",
        &error_metric("    successCondition: result[0] <= 0.01\n    failureCondition: result[0] > 0.05\n"),
    );
    assert_eq!(bound(&p), (None, Some(0.05)), "the bound is where Argo says Failed");
    assert!(warned(&w, "Inconclusive"), "{w:?}");
    // A success-rate query read through its complement.
    let success = r#"sum(rate(http_requests_total{code!~"5.*"}[1m])) / sum(rate(http_requests_total[1m]))"#;
    let metric = format!(
        "  - name: ok\n    interval: 1m\n    successCondition: len(result) == 0 || result[0] >= 0.99\n    provider:\n      prometheus:\n        query: '{success}'\n"
    );
    let (p, _) = argo("1m", &metric);
    assert_eq!(p.analysis.checks[0].metric, Metric::ErrorRate);
    assert_eq!(bound(&p), (None, Some(0.01)));
}

/// analysis.go assessMetricFailureInconclusiveOrError: failureLimit and
/// inconclusiveLimit default to 0, and a metric fails when its failed
/// measurements exceed the limit (aviary's failure_limit means the same).
#[test]
fn argo_limits_default_to_zero_and_fail_past_the_limit() {
    let (p, _) = argo("1m", &error_metric("    successCondition: result[0] <= 0.01\n"));
    assert_eq!(p.analysis.failure_limit, 0);
    assert_eq!(p.analysis.inconclusive_limit, Some(0));
    assert!(!p.analysis.consecutive);
    let (p, w) = argo(
        "1m",
        &error_metric("    successCondition: result[0] <= 0.01\n    failureLimit: 3\n    consecutiveErrorLimit: 2\n"),
    );
    assert_eq!(p.analysis.failure_limit, 3);
    assert!(warned(&w, "consecutiveErrorLimit 2"), "{w:?}");
}

/// `{{args.NAME}}` takes the Rollout's value; a name with no value is an
/// error naming it.
#[test]
fn argo_args_templating_and_a_missing_value() {
    let cond = "    successCondition: result[0] <= 0.01\n";
    let missing = ROLLOUT
        .replace("STEP", "1m")
        .replace("args: [ { name: svc, value: checkout } ]", "args: []");
    let input = Input {
        label: "r.yaml".to_owned(),
        text: format!("{missing}{}", template(&error_metric(cond))),
    };
    let e = import::import(Tool::Argo, &[input], &Options::default())
        .err()
        .expect("an argument without a value");
    assert!(e.iter().any(|d| d.message.contains("\"svc\" has no value")), "{e:?}");
}

/// analysisutil.ResolveArgs resolves the args in the whole marshalled
/// metric, so a count, an interval or a condition may be an argument (as
/// in argo-rollouts' test/e2e/functional/rollout-secret-withArgs.yaml).
#[test]
fn argo_args_resolve_in_counts_intervals_and_conditions() {
    let text = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: { name: t }
spec:
  args:
  - { name: runs, value: "3" }
  - { name: every, value: 30s }
  - { name: limit, value: "0.02" }
  metrics:
  - name: errors
    count: "{{args.runs}}"
    interval: "{{args.every}}"
    successCondition: "result[0] <= {{args.limit}}"
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code=~"5.*"}[30s])) / sum(rate(http_requests_total[30s]))
"#;
    let (p, _) = import_text(Tool::Argo, text);
    assert_eq!(p.analysis.interval, SimDuration::from_secs(30));
    match &p.analysis.checks[0].rule {
        Rule::Bounds(b) => assert_eq!(b.max, Some(0.02)),
        other => panic!("{other:?}"),
    }
}

/// helpers.go GetDryRunMetrics: regexp.MatchString, unanchored.
#[test]
fn argo_dry_run_patterns_are_unanchored() {
    let text = format!(
        "{}{}",
        ROLLOUT.replace("STEP", "1m").replace(
            "args: [ { name: svc, value: checkout } ]",
            "args: [ { name: svc, value: checkout } ]\n        dryRun: [ { metricName: rror } ]"
        ),
        template(&error_metric("    successCondition: result[0] <= 0.01\n"))
    );
    let (p, w) = import_text(Tool::Argo, &text);
    assert!(
        p.analysis.checks.is_empty(),
        "'rror' matches 'errors' anywhere: dry-run, never acted on"
    );
    assert!(warned(&w, "dry-run"), "{w:?}");
}

/// utils/replicaset/canary.go: without trafficRouting the weight is
/// achieved by replica counts; an inline analysis step blocks until its
/// `count` measurements, `interval` apart and the first at once, are done.
#[test]
fn argo_replica_weights_and_inline_analysis_steps() {
    let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: r }
spec:
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis: { templates: [ { templateName: t } ] }
"#;
    let metric = "  - name: p99\n    interval: 1m\n    count: 5\n    successCondition: result[0] < 0.5\n    provider:\n      prometheus:\n        query: 'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))'\n";
    let (p, _) = import_text(
        Tool::Argo,
        &format!("{text}{}", template(metric).replace("  args: [ { name: svc } ]\n", "")),
    );
    assert_eq!(
        p.strategy,
        Strategy::Canary {
            routing: Routing::Replicas
        }
    );
    assert_eq!(
        p.steps[0].pause,
        SimDuration::from_secs(240),
        "5 measurements 1m apart, the first at once"
    );
    assert_eq!(p.analysis.scope, sim_core::model::AnalysisScope::Step);
    let c = &p.analysis.checks[0];
    assert_eq!(c.metric, Metric::LatencyP99);
    assert!(
        matches!(c.rule, Rule::Bounds(b) if b.max == Some(500.0)),
        "0.5 s is 500 ms: {c:?}"
    );
}

fn canary(analysis: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{ name: c }}\nspec:\n  targetRef: {{ kind: Deployment, name: c }}\n  analysis:\n{analysis}"
    )
}

fn weights(p: &Policy) -> Vec<u32> {
    p.steps.iter().map(|s| s.weight).collect()
}

/// scheduler.go runCanary: step while below maxWeight, so 20 with a
/// maximum of 50 overshoots to 60; stepWeights ends at its last entry
/// (maxWeight ignored); canary.go: interval default 60 s, at least 10 s;
/// threshold default 1, reached (not exceeded) by cumulative failed ticks.
#[test]
fn flagger_schedule_follows_the_scheduler() {
    let (p, _) = import_text(
        Tool::Flagger,
        &canary("    stepWeight: 20\n    maxWeight: 50\n    metrics: []\n"),
    );
    assert_eq!(weights(&p), [20, 40, 60, 100]);
    assert_eq!(p.analysis.interval, SimDuration::from_secs(60), "default interval");
    assert_eq!(p.steps[0].pause, SimDuration::from_secs(60));
    assert_eq!(
        p.analysis.failure_limit, 0,
        "threshold 1 (the default): the first failed check rolls back"
    );
    assert_eq!(p.analysis.count_failures, sim_core::model::FailureCount::PerInterval);
    assert!(!p.analysis.consecutive);
    assert_eq!(
        p.rollback_delay,
        SimDuration::from_secs(60),
        "at the start of the next tick"
    );
    let (p, w) = import_text(
        Tool::Flagger,
        &canary(
            "    interval: 5s\n    threshold: 5\n    stepWeights: [1, 10, 80]\n    maxWeight: 20\n    metrics: []\n",
        ),
    );
    assert_eq!(weights(&p), [1, 10, 80, 100]);
    assert!(warned(&w, "stepWeights ignores maxWeight"), "{w:?}");
    assert_eq!(p.analysis.interval, SimDuration::from_secs(10), "below 10 s is 10 s");
    assert_eq!(p.analysis.failure_limit, 4, "threshold 5: failures reach 5");
}

/// scheduler_metrics.go: request-success-rate is a percentage minimum on
/// the canary, request-duration a p99 maximum in milliseconds, no values is
/// a failed check; a MetricTemplate's latency in seconds stays seconds.
#[test]
fn flagger_metrics_units_and_no_data() {
    let (p, _) = import_text(
        Tool::Flagger,
        &canary(
            "    stepWeight: 10\n    metrics:\n    - name: request-success-rate\n      thresholdRange: { min: 99 }\n    - name: request-duration\n      thresholdRange: { max: 500 }\n",
        ),
    );
    let b = |i: usize| match p.analysis.checks[i].rule {
        Rule::Bounds(b) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!((p.analysis.checks[0].metric, b(0).max), (Metric::ErrorRate, Some(0.01)));
    assert_eq!(
        (p.analysis.checks[1].metric, b(1).max),
        (Metric::LatencyP99, Some(500.0))
    );
    assert_eq!(p.analysis.no_data, sim_core::model::NoData::Fail);
    let text = format!(
        "{}---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{ name: lat }}\nspec:\n  provider: {{ type: prometheus, address: http://p }}\n  query: histogram_quantile(0.99, sum(rate(request_duration_seconds_bucket{{ns=\"{{{{ namespace }}}}\"}}[1m])) by (le))\n",
        canary(
            "    stepWeight: 10\n    metrics:\n    - name: latency\n      templateRef: { name: lat }\n      thresholdRange: { max: 0.5 }\n"
        )
    );
    let (p, _) = import_text(Tool::Flagger, &text);
    assert!(
        matches!(p.analysis.checks[0].rule, Rule::Bounds(b) if b.max == Some(500.0)),
        "0.5 in a PromQL template is seconds"
    );
}

/// scheduler.go: iterations without match is blue-green, with match A/B;
/// confirm-* webhooks hold the schedule (a gate with a modelled delay).
#[test]
fn flagger_iterations_match_and_webhooks() {
    let (p, _) = import_text(
        Tool::Flagger,
        &canary("    interval: 1m\n    iterations: 10\n    metrics: []\n"),
    );
    assert!(
        matches!(p.strategy, Strategy::BlueGreen { preview, .. } if preview == SimDuration::from_secs(600)),
        "{:?}",
        p.strategy
    );
    let (p, w) = import_text(
        Tool::Flagger,
        &canary(
            "    interval: 1m\n    iterations: 10\n    match: [ { headers: { x: { exact: y } } } ]\n    metrics: []\n    webhooks:\n    - { name: gate, type: confirm-promotion, url: http://g }\n    - { name: odd, type: sideways, url: http://g }\n",
        ),
    );
    assert_eq!(
        p.strategy,
        Strategy::Canary {
            routing: Routing::Sticky
        }
    );
    assert_eq!(
        p.steps[0].pause,
        SimDuration::from_secs(660),
        "10 iterations and the confirm-promotion gate's minute"
    );
    assert!(warned(&w, "unknown webhook type"), "{w:?}");
}

/// WeightedSumScorer.scala: groups without a weight share what is left of
/// 100; a weight of a group with no metric is not redistributed, so the
/// score is capped; NetflixACAJudge: direction defaults to either.
#[test]
fn kayenta_weights_directions_and_thresholds() {
    let config = r#"{
  "name": "k",
  "metrics": [
    { "name": "errors", "query": { "type": "prometheus", "metricName": "http_errors" }, "groups": ["a"],
      "analysisConfigurations": { "canary": { "critical": true, "mustHaveData": true,
        "effectSize": { "allowedIncrease": 1.1, "measure": "meanRatio" } } } },
    { "name": "latency", "query": { "type": "prometheus", "metricName": "latency_p99" }, "groups": ["b"],
      "analysisConfigurations": { "canary": { "direction": "increase" } } },
    { "name": "cpu", "query": { "type": "prometheus", "metricName": "cpu_usage" }, "groups": ["c"] }
  ],
  "classifier": { "groupWeights": { "a": 40, "ghost": 30 }, "scoreThresholds": { "pass": 80, "marginal": 60 } }
}"#;
    let (p, w) = import_text(Tool::Kayenta, config);
    let score = p.analysis.score.as_ref().expect("a score");
    let weight = |g: &str| score.weights.iter().find(|(n, _)| n == g).map(|(_, w)| *w);
    assert_eq!(
        (weight("a"), weight("b"), weight("c"), weight("ghost")),
        (Some(40.0), Some(15.0), Some(15.0), Some(30.0))
    );
    assert!(
        warned(&w, "capped at 70") && warned(&w, "never reach pass (80)"),
        "{w:?}"
    );
    assert_eq!(
        (score.pass, score.marginal),
        (80.0, 60.0),
        "the config's thresholds without --pass/--marginal"
    );
    let k = |i: usize| match p.analysis.checks[i].rule {
        Rule::Judge(sim_core::model::Judge::MannWhitney { kayenta, .. }) => kayenta,
        other => panic!("{other:?}"),
    };
    use sim_core::judges::mann_whitney::Direction;
    assert_eq!(
        k(0).direction,
        Some(Direction::Either),
        "the default direction is either"
    );
    assert!(p.analysis.checks[0].critical && k(0).must_have_data);
    assert_eq!(k(0).allowed_increase, Some(1.1));
    assert_eq!(k(1).direction, Some(Direction::Increase));
    let opts = Options {
        stage: import::kayenta::Stage {
            pass: Some(90.0),
            marginal: Some(50.0),
            ..import::kayenta::Stage::default()
        },
        ..Options::default()
    };
    let (p, _) = import_text_with(Tool::Kayenta, config, &opts);
    let s = p.analysis.score.expect("a score");
    assert_eq!((s.pass, s.marginal), (90.0, 50.0), "the run request's thresholds win");
}

/// `--policy` takes a foreign file directly (recognised by apiVersion and
/// kind), the warnings on stderr; a YAML error names the file and line.
#[test]
fn the_command_line_takes_foreign_policies_and_names_bad_yaml() {
    let canary = data("flagger/istio-canary.yaml");
    let o = aviary(&[
        "run",
        "checkout-error-spike",
        "--policy",
        canary.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("warning: ") && o.stderr.contains("istio-canary.yaml:"),
        "{}",
        o.stderr
    );
    let bad = temp_file(
        "interop",
        "bad.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  strategy: [\n",
    );
    let o = aviary(&["import", "argo", bad.to_str().expect("utf-8")]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("bad.yaml:") && o.stderr.contains("invalid YAML"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty());
    let o = aviary(&["export", "argo", "kayenta-like"]);
    assert_eq!(o.code, 2, "a Mann-Whitney judge has no Argo form");
    assert!(
        o.stderr.contains("no mann_whitney judge") && o.stderr.contains("--lossy"),
        "{}",
        o.stderr
    );
}

fn replay(policy: &str, csv: &str, test: &str) -> serde_json::Value {
    let p = temp_file(test, "policy.toml", policy);
    let m = temp_file(test, "metrics.csv", csv);
    let o = aviary(&[
        "replay-metrics",
        p.to_str().expect("utf-8"),
        "--metrics",
        m.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).expect("JSON")
}

const TWO_CHECKS: &str = r#"name = "p"
strategy = "canary"
steps = [ { weight = 10, pause = "10m" }, { weight = 100 } ]
[analysis]
interval = "1m"
failure_limit = 1
min_requests = 0
COUNT
checks = [ { metric = "error_rate", max = 0.01 }, { metric = "latency_p99_ms", max = 300 } ]
on_failure = "rollback"
"#;

/// The errors fail at 1m, the latency at 2m: per check (Argo Rollouts)
/// neither exceeds failure_limit 1; per interval (Flagger's failedChecks,
/// scheduler.go) two failed ticks exceed it at 2m.
const ALTERNATE: &str = "time,metric,canary,baseline\n\
60,error_rate,0.05,0.001\n60,latency_p99_ms,200,200\n\
120,error_rate,0.001,0.001\n120,latency_p99_ms,400,200\n\
180,error_rate,0.001,0.001\n180,latency_p99_ms,200,200\n";

#[test]
fn replay_metrics_runs_the_policy_decider_over_real_data() {
    let per_check = replay(&TWO_CHECKS.replace("COUNT", ""), ALTERNATE, "per-check");
    assert_eq!(per_check["decision"], "none", "{per_check}");
    let per_interval = replay(
        &TWO_CHECKS.replace("COUNT", "count_failures = \"per_interval\""),
        ALTERNATE,
        "per-interval",
    );
    assert_eq!(
        (per_interval["decision"].as_str(), per_interval["at_s"].as_f64()),
        (Some("rollback"), Some(120.0)),
        "{per_interval}"
    );
    // failureLimit 1 is exceeded by the second failed measurement.
    let rising =
        "time,metric,canary,baseline\n60,error_rate,0.02,0.001\n120,error_rate,0.02,0.001\n180,error_rate,0.02,0.001\n";
    let argo = replay(&TWO_CHECKS.replace("COUNT", ""), rising, "rising");
    assert_eq!(
        (
            argo["decision"].as_str(),
            argo["at_s"].as_f64(),
            argo["metric"].as_str()
        ),
        (Some("rollback"), Some(120.0), Some("error_rate"))
    );
    // Flagger: no data is a failed check; aviary's default: inconclusive.
    let empty = "time,metric,canary,baseline\n60,error_rate,,0.001\n120,error_rate,NaN,0.001\n";
    let flagger = replay(&TWO_CHECKS.replace("COUNT", "no_data = \"fail\""), empty, "no-data");
    assert_eq!(flagger["decision"], "rollback", "{flagger}");
    let default = replay(&TWO_CHECKS.replace("COUNT", ""), empty, "no-data-default");
    assert_eq!(default["decision"], "none", "{default}");
    // helpers.go: across metrics a Failed one is worse than an Inconclusive one.
    let both = "time,metric,canary,baseline\n60,error_rate,0.05,0.001\n60,latency_p99_ms,,200\n";
    let worst = replay(
        &TWO_CHECKS
            .replace("failure_limit = 1", "failure_limit = 0")
            .replace("COUNT", "inconclusive_limit = 0"),
        both,
        "worst",
    );
    assert_eq!(
        (worst["decision"].as_str(), worst["metric"].as_str()),
        (Some("rollback"), Some("error_rate")),
        "{worst}"
    );
    // Every step passed: a promotion after the schedule.
    let calm: String = std::iter::once("time,metric,canary,baseline".to_owned())
        .chain((1..=12).map(|m| format!("{},error_rate,0.001,0.001", m * 60)))
        .collect::<Vec<_>>()
        .join("\n");
    let ok = replay(&TWO_CHECKS.replace("COUNT", ""), &calm, "calm");
    assert_eq!(
        (ok["decision"].as_str(), ok["at_s"].as_f64()),
        (Some("promote"), Some(600.0)),
        "{ok}"
    );
}

#[test]
fn replay_metrics_names_bad_rows() {
    let p = temp_file("bad-csv", "policy.toml", &TWO_CHECKS.replace("COUNT", ""));
    let m = temp_file(
        "bad-csv",
        "metrics.csv",
        "time,metric,canary,baseline,colour\n60,error_rate,1.5,0.001,red\n",
    );
    let o = aviary_short(&[
        "replay-metrics",
        p.to_str().expect("utf-8"),
        "--metrics",
        m.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("metrics.csv:1: key 'colour': unknown column"),
        "{}",
        o.stderr
    );
    let m = temp_file(
        "bad-csv",
        "values.csv",
        "time,metric,canary,baseline\n60,error_rate,1.5,0.001\n60,latency,1,1\n",
    );
    let o = aviary_short(&[
        "replay-metrics",
        p.to_str().expect("utf-8"),
        "--metrics",
        m.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("values.csv:2: key 'canary'") && o.stderr.contains("values.csv:3: key 'metric'"),
        "{}",
        o.stderr
    );
}

/// A minute-by-minute CSV: `f(minute)` gives (metric, canary, baseline) rows.
fn minutes(n: u32, f: impl Fn(u32) -> Vec<(&'static str, f64, f64)>) -> String {
    let mut out = "time,metric,canary,baseline\n".to_owned();
    for m in 1..=n {
        for (metric, c, b) in f(m) {
            out.push_str(&format!("{},{metric},{c},{b}\n", m * 60));
        }
    }
    out
}

fn first_analysis_at(replayed: &serde_json::Value) -> Option<f64> {
    replayed["analyses"].as_array()?.first()?["t_s"].as_f64()
}

const ONE_CHECK: &str = r#"name = "p"
strategy = "canary"
steps = [ { weight = 10, pause = "5m" }, { weight = 50, pause = "5m" }, { weight = 100 } ]
[analysis]
interval = "1m"
failure_limit = 0
min_requests = 0
EXTRA
checks = [ { metric = "error_rate", max = 0.01 } ]
on_failure = "rollback"
"#;

/// rollout/analysis.go (reconcileBackgroundAnalysisRun): the background
/// run is created only once currentStepIndex reaches startingStep;
/// analysis/analysis.go: a metric's first measurement waits initialDelay;
/// the query's range selector is the span a measurement reads.
#[test]
fn argo_starting_step_initial_delay_and_query_range() {
    let rollout = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: r }
spec:
  strategy:
    canary:
      analysis:
        startingStep: 2
        templates: [ { templateName: t } ]
      steps:
      - setWeight: 10
      - pause: { duration: 5m }
      - setWeight: 50
      - pause: { duration: 5m }
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: { name: t }
spec:
  metrics:
  - name: errors
    interval: 1m
    initialDelay: 2m
    successCondition: result[0] <= 0.01
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code=~"5.*"}[5m])) / sum(rate(http_requests_total[5m]))
"#;
    let (p, w) = import_text(Tool::Argo, rollout);
    assert!(!warned(&w, "startingStep"), "{w:?}");
    assert_eq!(
        p.analysis.from_step,
        Some(1),
        "Argo's step 2 (setWeight 50) is aviary's step 1"
    );
    assert_eq!(p.analysis.delay, SimDuration::from_secs(120));
    assert_eq!(
        p.analysis.window,
        sim_core::model::AnalysisWindow::Span(SimDuration::from_secs(300)),
        "[5m] read every 1m"
    );
    // Behaviour over real data: errors only in the first step's minutes.
    let early = minutes(12, |m| vec![("error_rate", if m <= 5 { 0.05 } else { 0.001 }, 0.001)]);
    let from_start = replay(&ONE_CHECK.replace("EXTRA", ""), &early, "from-start");
    assert_eq!(
        (from_start["decision"].as_str(), from_start["at_s"].as_f64()),
        (Some("rollback"), Some(60.0)),
        "{from_start}"
    );
    let later = replay(&ONE_CHECK.replace("EXTRA", "from_step = 1"), &early, "from-step");
    assert_eq!(
        first_analysis_at(&later),
        Some(360.0),
        "from the second step (at 5m) on"
    );
    assert_eq!(later["decision"], "promote", "{later}");
    let delayed = replay(&ONE_CHECK.replace("EXTRA", "delay = \"2m\""), &early, "delay");
    assert_eq!(first_analysis_at(&delayed), Some(180.0), "the delay, then one interval");
    // A 5-minute window at 6m still holds the errors of minutes 2..5.
    let wide = replay(
        &ONE_CHECK.replace("EXTRA", "from_step = 1\nwindow = \"5m\""),
        &early,
        "window",
    );
    assert_eq!(
        (wide["decision"].as_str(), wide["at_s"].as_f64()),
        (Some("rollback"), Some(360.0)),
        "{wide}"
    );
    // Exported back, startingStep and initialDelay survive.
    let yaml = import::export::argo(&p, "r", false).expect("exports").yaml;
    assert!(
        yaml.contains("startingStep: 2") && yaml.contains("initialDelay: 2m"),
        "{yaml}"
    );
    assert!(yaml.contains("[5m]"), "{yaml}");
}

/// scheduler.go advanceCanary: a failed analysis increments failedChecks
/// and returns before the weight is advanced, so every failed tick that
/// does not reach the threshold holds the weight one more interval.
#[test]
fn flagger_a_failed_tick_holds_the_weight() {
    let (p, _) = import_text(
        Tool::Flagger,
        &canary("    stepWeight: 50\n    maxWeight: 50\n    threshold: 3\n    metrics: []\n"),
    );
    assert!(p.analysis.hold_on_failure);
    // Two failed ticks (minutes 1 and 2) under threshold 3 (limit 2).
    let data = minutes(8, |m| vec![("error_rate", if m <= 2 { 0.05 } else { 0.001 }, 0.001)]);
    let policy = r#"name = "p"
strategy = "canary"
steps = [ { weight = 50, pause = "1m" }, { weight = 100 } ]
[analysis]
interval = "1m"
failure_limit = 2
min_requests = 0
count_failures = "per_interval"
EXTRA
checks = [ { metric = "error_rate", max = 0.01 } ]
on_failure = "rollback"
"#;
    let on_time = replay(&policy.replace("EXTRA", ""), &data, "on-time");
    assert_eq!(
        (on_time["decision"].as_str(), on_time["at_s"].as_f64()),
        (Some("promote"), Some(60.0)),
        "{on_time}"
    );
    let held = replay(&policy.replace("EXTRA", "hold_on_failure = true"), &data, "held");
    assert_eq!(
        (held["decision"].as_str(), held["at_s"].as_f64()),
        (Some("promote"), Some(180.0)),
        "the failed ticks at 1m and 2m hold the weight to 3m: {held}"
    );
}

/// orca's kayenta tasks: MonitorKayentaCanaryTask ends the stage TERMINAL
/// when an interval's score is not above marginal (`<=`, where Kayenta's
/// judge itself calls a score equal to marginal Marginal);
/// AggregateCanaryResultsTask fails a stage whose last score is below
/// pass. KayentaCanaryStage: intervals start after
/// beginCanaryAnalysisAfterMins; each judges from the analysis start
/// unless lookbackMins is set; baselineAnalysisOffsetInMins shifts the
/// baseline's scope earlier.
#[test]
fn kayenta_stage_rules_windows_and_offsets() {
    let config = r#"{ "name": "k", "metrics": [
      { "name": "errors", "query": { "type": "prometheus", "metricName": "http_errors" }, "groups": ["a"] } ],
      "classifier": { "groupWeights": { "a": 100 }, "scoreThresholds": { "pass": 95, "marginal": 75 } } }"#;
    let (p, w) = import_text(Tool::Kayenta, config);
    assert!(!warned(&w, "beginCanaryAnalysisAfterMins"), "{w:?}");
    let s = p.analysis.score.as_ref().expect("a score");
    assert!(s.fail_at_marginal && s.last_must_pass);
    assert_eq!(p.analysis.window, sim_core::model::AnalysisWindow::Cumulative);
    let opts = Options {
        stage: import::kayenta::Stage {
            begin_after: SimDuration::from_secs(600),
            lookback: Some(SimDuration::from_secs(1800)),
            baseline_offset: SimDuration::from_secs(300),
            interval: Some(SimDuration::from_secs(900)),
            ..import::kayenta::Stage::default()
        },
        ..Options::default()
    };
    let (p, _) = import_text_with(Tool::Kayenta, config, &opts);
    assert_eq!(p.analysis.delay, SimDuration::from_secs(600));
    assert_eq!(
        p.steps[0].pause,
        SimDuration::from_secs(600 + 3600),
        "the delay, then the lifetime"
    );
    assert_eq!(
        p.analysis.window,
        sim_core::model::AnalysisWindow::Span(SimDuration::from_secs(1800))
    );
    assert_eq!(p.analysis.baseline_offset, SimDuration::from_secs(300));

    // Two groups of equal weight, one failing and one passing: a score of
    // exactly 50, the marginal threshold.
    let policy = r#"name = "p"
strategy = "canary"
steps = [ { weight = 10, pause = "10m" }, { weight = 100 } ]
[analysis]
interval = "5m"
window = "cumulative"
failure_limit = 0
min_requests = 0
on_failure = "rollback"
score = { pass = 95, marginal = MARGINAL, weights = { a = 50, b = 50 }EXTRA }
checks = [
  { metric = "error_rate", judge = "mann_whitney", confidence = 0.98, group = "a", direction = "increase" },
  { metric = "latency_p99_ms", judge = "mann_whitney", confidence = 0.98, group = "b", direction = "increase" },
]
"#;
    let data = minutes(10, |m| {
        let jitter = f64::from(m % 3);
        vec![
            ("error_rate", 0.05 + 0.001 * jitter, 0.001 + 0.0001 * jitter),
            ("latency_p99_ms", 200.0 + jitter, 200.0 + jitter),
        ]
    });
    let run = |marginal: &str, extra: &str, test: &str| {
        let text = policy.replace("MARGINAL", marginal).replace("EXTRA", extra);
        replay(&text, &data, test)
    };
    let judge = run("50", "", "judge");
    assert_eq!(
        judge["decision"], "promote",
        "Kayenta's judge: 50 is marginal, not failed: {judge}"
    );
    let stage = run("50", ", fail_at_marginal = true", "stage");
    assert_eq!(
        (stage["decision"].as_str(), stage["at_s"].as_f64()),
        (Some("rollback"), Some(300.0)),
        "not above marginal fails the interval: {stage}"
    );
    let last = run("40", ", last_must_pass = true", "last");
    assert_eq!(
        (last["decision"].as_str(), last["at_s"].as_f64()),
        (Some("rollback"), Some(600.0)),
        "a marginal last interval fails the stage: {last}"
    );
    // The cumulative window: the analysis at 10m reads all ten minutes
    // (mean canary error rate 0.051), the interval window the last five
    // (0.0508).
    let second = |a: &serde_json::Value| {
        a["analyses"][1]["measurements"][0]["canary"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let cumulative = run("40", "", "cumulative");
    assert!((second(&cumulative) - 0.051).abs() < 1e-9, "{cumulative}");
    let text = policy
        .replace("MARGINAL", "40")
        .replace("EXTRA", "")
        .replace("window = \"cumulative\"\n", "");
    let interval = replay(&text, &data, "interval-window");
    assert!((second(&interval) - 0.0508).abs() < 1e-9, "{interval}");

    // baseline_offset: the baseline is read 2 minutes earlier.
    let stepped = minutes(6, |m| vec![("error_rate", 0.001, 0.001 * f64::from(m))]);
    let offset = replay(
        &ONE_CHECK.replace("EXTRA", "baseline_offset = \"2m\""),
        &stepped,
        "offset",
    );
    let baseline_at = |t: usize| offset["analyses"][t]["measurements"][0]["baseline"].as_f64();
    assert_eq!(
        (baseline_at(0), baseline_at(1)),
        (None, None),
        "no baseline data 2m earlier than 1m or 2m: {offset}"
    );
    assert_eq!(
        (baseline_at(2), baseline_at(3)),
        (Some(0.001), Some(0.002)),
        "at 3m the baseline of minute 1, at 4m of minute 2"
    );
}
