//! An aviary policy written back as an Argo Rollout (with the
//! AnalysisTemplate its checks make) or a Flagger Canary, in the shapes the
//! importers read, so that import → export → import is a fixed point.
//!
//! What the target tool cannot express is never dropped silently: a
//! statistical judge, a metric no Prometheus query of the canonical
//! shapes measures, an action other than a rollback. Each is an error
//! unless `lossy`, when it is left out with a warning.

use serde_json::{Value, json};
use sim_core::model::{Action, AnalysisScope, AnalysisWindow, Bounds, Check, Metric, Policy, Rule, Strategy};
use sim_core::time::SimDuration;

use crate::reader::Diagnostic;

/// The YAML and the warnings of an export.
pub struct Exported {
    pub yaml: String,
    pub warnings: Vec<Diagnostic>,
}

struct Out<'a> {
    file: &'a str,
    lossy: bool,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl<'a> Out<'a> {
    fn new(file: &'a str, lossy: bool) -> Out<'a> {
        Out {
            file,
            lossy,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Something the target cannot say: an error, or a warning when lossy.
    fn cannot(&mut self, key: &str, message: String) {
        let d = Diagnostic {
            file: self.file.to_owned(),
            line: 0,
            key: key.to_owned(),
            message: if self.lossy {
                format!("{message}; left out (--lossy)")
            } else {
                format!("{message} (give --lossy to export without it)")
            },
            ..Default::default()
        };
        if self.lossy {
            self.warnings.push(d);
        } else {
            self.errors.push(d);
        }
    }
    fn warn(&mut self, key: &str, message: String) {
        self.warnings.push(Diagnostic {
            file: self.file.to_owned(),
            line: 0,
            key: key.to_owned(),
            message,
            ..Default::default()
        });
    }
}

fn dur(d: SimDuration) -> String {
    d.to_string()
}

/// The canary-alone PromQL of a metric, in Argo's template form.
fn query(metric: Metric, arm: &str, window: &str) -> Option<String> {
    let sel = format!("rollouts_pod_template_hash=\"{{{{args.{arm}-hash}}}}\"");
    match metric {
        Metric::ErrorRate => Some(format!(
            "sum(rate(http_requests_total{{{sel},status=~\"5.*\"}}[{window}])) / sum(rate(http_requests_total{{{sel}}}[{window}]))"
        )),
        Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 => {
            let q = metric.quantile()?;
            Some(format!(
                "histogram_quantile({q}, sum(rate(http_request_duration_seconds_bucket{{{sel}}}[{window}])) by (le))"
            ))
        }
        _ => None,
    }
}

/// A check's Argo metrics: one per bound, each a query and a success condition.
fn argo_metrics(c: &Check, i: usize, window: &str, out: &mut Out<'_>) -> Vec<(String, String, String)> {
    let key = format!("analysis.checks[{i}]");
    let b: Bounds = match &c.rule {
        Rule::Bounds(b) => *b,
        Rule::Judge(j) => {
            out.cannot(&key, format!("Argo Rollouts has no {} judge", j.name()));
            return Vec::new();
        }
        Rule::Unmapped => {
            out.cannot(
                &key,
                "an inconclusive check (an unmapped query) has no query to export".to_owned(),
            );
            return Vec::new();
        }
    };
    let (Some(canary), Some(stable)) = (query(c.metric, "canary", window), query(c.metric, "stable", window)) else {
        out.cannot(
            &key,
            format!("no canonical Prometheus query measures {}", c.metric.name()),
        );
        return Vec::new();
    };
    let ms = if c.metric.quantile().is_some() { 0.001 } else { 1.0 };
    let name = c.metric.name().replace('_', "-");
    let mut v = Vec::new();
    let mut add = |suffix: &str, q: String, cond: String| v.push((format!("{name}{suffix}"), q, cond));
    let x = |y: f64| crate::import::number(y * ms);
    if let Some(m) = b.max {
        add("", canary.clone(), format!("result[0] <= {}", x(m)));
    }
    if let Some(m) = b.min {
        add("-min", canary.clone(), format!("result[0] >= {}", x(m)));
    }
    let diff = format!("({canary}) - ({stable})");
    let ratio = format!("({canary}) / ({stable})");
    if let Some(d) = b.max_increase {
        add("-increase", diff.clone(), format!("result[0] <= {}", x(d)));
    }
    if let Some(d) = b.max_decrease {
        add("-decrease", diff, format!("result[0] >= {}", x(-d)));
    }
    if let Some(r) = b.max_ratio {
        add(
            "-ratio",
            ratio.clone(),
            format!("result[0] <= {}", crate::import::number(r)),
        );
    }
    if let Some(r) = b.min_ratio {
        add(
            "-min-ratio",
            ratio,
            format!("result[0] >= {}", crate::import::number(r)),
        );
    }
    v
}

fn common(p: &Policy, out: &mut Out<'_>) {
    let a = &p.analysis;
    if a.on_failure != Action::Rollback {
        out.warn(
            "analysis.on_failure",
            format!(
                "{}: the target aborts (rolls back) on a failed analysis",
                a.on_failure.name()
            ),
        );
    }
    for (i, c) in a.checks.iter().enumerate() {
        if c.on_failure.is_some_and(|x| x != Action::Rollback) {
            out.warn(
                &format!("analysis.checks[{i}].on_failure"),
                "the target aborts on every failed check".to_owned(),
            );
        }
    }
    if a.consecutive {
        out.warn(
            "analysis.consecutive",
            "the target counts failures over the whole run, not consecutive ones".to_owned(),
        );
    }
    if p.migration.is_some() {
        out.cannot(
            "migration",
            "a migration plan has no Argo Rollouts or Flagger form".to_owned(),
        );
    }
    if a.window == AnalysisWindow::Cumulative {
        out.cannot(
            "analysis.window",
            "the target's queries read a fixed range, not everything since the analysis began".to_owned(),
        );
    }
    if a.baseline_offset > SimDuration::ZERO {
        out.cannot(
            "analysis.baseline_offset",
            "the target compares canary and baseline at the same time".to_owned(),
        );
    }
}

/// The query range of the exported metrics: the window's span.
fn query_range(a: &sim_core::model::AnalysisSpec) -> String {
    match a.window {
        AnalysisWindow::Span(d) => dur(d),
        AnalysisWindow::Interval | AnalysisWindow::Cumulative => dur(a.interval),
    }
}

fn finish(out: Out<'_>, docs: &[Value]) -> Result<Exported, Vec<Diagnostic>> {
    if !out.errors.is_empty() {
        return Err(out.errors);
    }
    let mut yaml = String::new();
    for d in docs {
        yaml.push_str("---\n");
        match serde_saphyr::to_string(d) {
            Ok(s) => yaml.push_str(&s),
            Err(e) => {
                return Err(vec![Diagnostic {
                    file: out.file.to_owned(),
                    line: 0,
                    key: String::new(),
                    message: format!("cannot write YAML: {e}"),
                    ..Default::default()
                }]);
            }
        }
    }
    Ok(Exported {
        yaml,
        warnings: out.warnings,
    })
}

/// The policy as an Argo Rollout and its AnalysisTemplate.
///
/// # Errors
/// What Argo Rollouts cannot express (unless `lossy`).
pub fn argo(p: &Policy, file: &str, lossy: bool) -> Result<Exported, Vec<Diagnostic>> {
    let mut out = Out::new(file, lossy);
    common(p, &mut out);
    let a = &p.analysis;
    let window = query_range(a);
    let tname = format!("{}-analysis", p.name);
    if a.hold_on_failure {
        out.warn(
            "analysis.hold_on_failure",
            "Argo Rollouts advances its steps on time; a failed measurement does not hold the weight".to_owned(),
        );
    }
    let metrics: Vec<(String, String, String)> = a
        .checks
        .iter()
        .enumerate()
        .flat_map(|(i, c)| argo_metrics(c, i, &window, &mut out))
        .collect();
    if a.score.is_some() {
        out.cannot("analysis.score", "Argo Rollouts has no Kayenta-style score".to_owned());
    }
    if p.rollback_delay > SimDuration::ZERO {
        out.warn(
            "rollback_delay",
            format!("Argo aborts at once; the {} delay is not exported", p.rollback_delay),
        );
    }
    let step_scope = a.scope == AnalysisScope::Step;
    if step_scope && a.delay > SimDuration::ZERO {
        out.cannot(
            "analysis.delay",
            "an inline analysis step measures from the step's start".to_owned(),
        );
    }
    // A step analysis runs `count` measurements `interval` apart, the first
    // at once: it blocks (count − 1) intervals.
    let metric_yaml = |count: Option<u64>| -> Vec<Value> {
        metrics
            .iter()
            .map(|(name, q, cond)| {
                let mut m = json!({ "name": name, "interval": window });
                if let Some(n) = count {
                    m["count"] = json!(n);
                }
                if !step_scope && a.delay > SimDuration::ZERO {
                    m["initialDelay"] = json!(dur(a.delay));
                }
                m["successCondition"] = json!(cond);
                m["failureLimit"] = json!(a.failure_limit);
                if let Some(l) = a.inconclusive_limit {
                    m["inconclusiveLimit"] = json!(l);
                }
                m["provider"] = json!({ "prometheus": { "address": "http://prometheus.monitoring:9090", "query": q } });
                m
            })
            .collect()
    };
    let template_ref = json!({
        "templates": [{ "templateName": tname }],
        "args": [
            { "name": "canary-hash", "valueFrom": { "podTemplateHashValue": "Latest" } },
            { "name": "stable-hash", "valueFrom": { "podTemplateHashValue": "Stable" } },
        ],
    });
    let strategy = match &p.strategy {
        Strategy::Canary { routing } => {
            let mut steps = Vec::new();
            let n = p.steps.len();
            let mut starting = None;
            for (i, s) in p.steps.iter().enumerate() {
                let last = i + 1 == n;
                if a.from_step == Some(i) {
                    starting = Some(steps.len());
                }
                if last && s.weight == 100 && s.pause == SimDuration::ZERO {
                    break;
                }
                steps.push(json!({ "setWeight": s.weight }));
                if s.pause > SimDuration::ZERO {
                    if step_scope && !metrics.is_empty() {
                        let count = s.pause.ms() / a.interval.ms().max(1) + 1;
                        let mut r = template_ref.clone();
                        r["templates"][0]["templateName"] = json!(format!("{tname}-{count}"));
                        steps.push(json!({ "analysis": r }));
                    } else {
                        steps.push(json!({ "pause": { "duration": dur(s.pause) } }));
                    }
                }
            }
            let mut c = json!({ "steps": steps });
            match routing {
                sim_core::model::Routing::Weighted => {
                    c["canaryService"] = json!(format!("{}-canary", p.name));
                    c["stableService"] = json!(format!("{}-stable", p.name));
                    c["trafficRouting"] = json!({ "nginx": { "stableIngress": p.name } });
                }
                sim_core::model::Routing::Replicas => {}
                sim_core::model::Routing::Sticky => {
                    out.warn(
                        "routing",
                        "Argo Rollouts routes by request, not by user: exported as weighted".to_owned(),
                    );
                    c["trafficRouting"] = json!({ "nginx": { "stableIngress": p.name } });
                }
            }
            if !step_scope && !metrics.is_empty() {
                c["analysis"] = template_ref.clone();
                if let Some(k) = starting {
                    c["analysis"]["startingStep"] = json!(k);
                }
            }
            if a.from_step.is_some() && step_scope {
                out.cannot(
                    "analysis.from_step",
                    "inline analysis steps start where they stand; from_step is for background analysis".to_owned(),
                );
            }
            if a.after_promotion > SimDuration::ZERO {
                out.warn(
                    "analysis.after_promotion",
                    "an Argo canary's analysis ends at promotion".to_owned(),
                );
            }
            json!({ "canary": c })
        }
        Strategy::BlueGreen { preview, keep_old, .. } => {
            let mut b = json!({
                "activeService": format!("{}-active", p.name),
                "previewService": format!("{}-preview", p.name),
                "autoPromotionSeconds": preview.ms().div_ceil(1000),
                "scaleDownDelaySeconds": keep_old.ms().div_ceil(1000),
            });
            if !metrics.is_empty() {
                b["prePromotionAnalysis"] = template_ref.clone();
                if a.after_promotion > SimDuration::ZERO {
                    let count = a.after_promotion.ms() / a.interval.ms().max(1) + 1;
                    let mut r = template_ref.clone();
                    r["templates"][0]["templateName"] = json!(format!("{tname}-{count}"));
                    b["postPromotionAnalysis"] = r;
                }
            }
            json!({ "blueGreen": b })
        }
        other => {
            out.cannot("strategy", format!("Argo Rollouts has no {} strategy", other.name()));
            json!({})
        }
    };
    let rollout = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": { "name": p.name },
        "spec": {
            "selector": { "matchLabels": { "app": p.name } },
            "template": {
                "metadata": { "labels": { "app": p.name } },
                "spec": { "containers": [{ "name": p.name, "image": "REPLACE-ME" }] },
            },
            "strategy": strategy,
        },
    });
    let template = |name: String, count: Option<u64>| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": name },
            "spec": {
                "args": [{ "name": "canary-hash" }, { "name": "stable-hash" }],
                "metrics": metric_yaml(count),
            },
        })
    };
    let mut docs = vec![rollout];
    if !metrics.is_empty() {
        let mut counts: Vec<u64> = Vec::new();
        if step_scope && matches!(p.strategy, Strategy::Canary { .. }) {
            counts.extend(
                p.steps
                    .iter()
                    .filter(|s| s.pause > SimDuration::ZERO)
                    .map(|s| s.pause.ms() / a.interval.ms().max(1) + 1),
            );
        } else {
            docs.push(template(tname.clone(), None));
            if let Strategy::BlueGreen { .. } = p.strategy
                && a.after_promotion > SimDuration::ZERO
            {
                counts.push(a.after_promotion.ms() / a.interval.ms().max(1) + 1);
            }
        }
        counts.sort_unstable();
        counts.dedup();
        for c in counts {
            docs.push(template(format!("{tname}-{c}"), Some(c)));
        }
    }
    finish(out, &docs)
}

/// The policy as a Flagger Canary (and MetricTemplates for what the
/// built-in metrics do not cover).
///
/// # Errors
/// What Flagger cannot express (unless `lossy`).
pub fn flagger(p: &Policy, file: &str, lossy: bool) -> Result<Exported, Vec<Diagnostic>> {
    let mut out = Out::new(file, lossy);
    common(p, &mut out);
    let a = &p.analysis;
    if a.score.is_some() {
        out.cannot("analysis.score", "Flagger has no Kayenta-style score".to_owned());
    }
    if !a.hold_on_failure {
        out.warn(
            "analysis.hold_on_failure",
            "Flagger does not advance the weight on a tick with a failed check".to_owned(),
        );
    }
    if a.delay > SimDuration::ZERO {
        out.cannot("analysis.delay", "Flagger analyses from the first tick".to_owned());
    }
    if a.from_step.is_some() {
        out.cannot(
            "analysis.from_step",
            "Flagger analyses every tick of the rollout".to_owned(),
        );
    }
    let mut analysis = serde_json::Map::new();
    let mut templates = Vec::new();
    let (tick, weights): (SimDuration, Vec<u32>) = match &p.strategy {
        Strategy::Canary { routing } => {
            if *routing == sim_core::model::Routing::Replicas {
                out.warn(
                    "routing",
                    "Flagger routes by a mesh or ingress: the weights are exact, not replica counts".to_owned(),
                );
            }
            let canary: Vec<&sim_core::model::Step> = p.steps.iter().filter(|s| s.weight < 100).collect();
            // Flagger holds every weight one tick and the last two (one to
            // pass and promote, one to shift traffic to the new primary).
            let tick = match canary.as_slice() {
                [] => a.interval,
                [only] => SimDuration::from_ms(only.pause.ms() / 2),
                [first, ..] => first.pause,
            }
            .max(SimDuration::from_secs(10));
            for (i, s) in canary.iter().enumerate() {
                let last = i + 1 == canary.len();
                let expected = if last {
                    SimDuration::from_ms(2 * tick.ms())
                } else {
                    tick
                };
                if s.pause != expected {
                    out.warn(
                        &format!("steps[{i}].pause"),
                        format!("Flagger holds every weight one tick: {} becomes {tick}", s.pause),
                    );
                }
            }
            if tick != a.interval {
                out.warn(
                    "analysis.interval",
                    format!(
                        "Flagger analyses once a tick: the {} interval becomes {tick}",
                        a.interval
                    ),
                );
            }
            (tick, canary.iter().map(|s| s.weight).collect())
        }
        Strategy::BlueGreen { preview, .. } => {
            let tick = a.interval.max(SimDuration::from_secs(10));
            analysis.insert("iterations".to_owned(), json!(preview.ms().div_ceil(tick.ms()).max(1)));
            (tick, Vec::new())
        }
        other => {
            out.cannot("strategy", format!("Flagger has no {} strategy", other.name()));
            (a.interval, Vec::new())
        }
    };
    analysis.insert("interval".to_owned(), json!(dur(tick)));
    analysis.insert("threshold".to_owned(), json!(a.failure_limit + 1));
    if !weights.is_empty() {
        analysis.insert("stepWeights".to_owned(), json!(weights));
    }
    let mut metrics = Vec::new();
    let window = match a.window {
        AnalysisWindow::Span(d) => dur(d),
        AnalysisWindow::Interval | AnalysisWindow::Cumulative => dur(tick),
    };
    for (i, c) in a.checks.iter().enumerate() {
        let key = format!("analysis.checks[{i}]");
        let b = match &c.rule {
            Rule::Bounds(b) => *b,
            Rule::Judge(j) => {
                out.cannot(&key, format!("Flagger has no {} judge", j.name()));
                continue;
            }
            Rule::Unmapped => {
                out.cannot(&key, "an inconclusive check has no query to export".to_owned());
                continue;
            }
        };
        let only_max = b.min.is_none() && !b.is_relative();
        match (c.metric, only_max, b.max) {
            (Metric::ErrorRate, true, Some(m)) => metrics.push(json!({
                "name": "request-success-rate",
                "thresholdRange": { "min": crate::import::number_value(100.0 * (1.0 - m)) },
                "interval": window,
            })),
            (Metric::LatencyP99, true, Some(m)) => metrics.push(json!({
                "name": "request-duration",
                "thresholdRange": { "max": crate::import::number_value(m) },
                "interval": window,
            })),
            _ => {
                for (name, q, cond) in argo_metrics(c, i, &window, &mut out) {
                    let q = q
                        .replace("{{args.canary-hash}}", "{{ target }}-canary")
                        .replace("{{args.stable-hash}}", "{{ target }}-primary")
                        .replace("rollouts_pod_template_hash", "pod");
                    let (lo, hi) = match cond.split_once(' ').map(|(_, r)| r) {
                        Some(r) if r.starts_with("<=") => (None, r[2..].trim().parse::<f64>().ok()),
                        Some(r) => (r[2..].trim().parse::<f64>().ok(), None),
                        None => (None, None),
                    };
                    let mut range = serde_json::Map::new();
                    if let Some(x) = lo {
                        range.insert("min".to_owned(), crate::import::number_value(x));
                    }
                    if let Some(x) = hi {
                        range.insert("max".to_owned(), crate::import::number_value(x));
                    }
                    metrics.push(json!({
                        "name": name,
                        "templateRef": { "name": name },
                        "thresholdRange": range,
                        "interval": window,
                    }));
                    templates.push(json!({
                        "apiVersion": "flagger.app/v1beta1",
                        "kind": "MetricTemplate",
                        "metadata": { "name": name },
                        "spec": { "provider": { "type": "prometheus", "address": "http://prometheus.monitoring:9090" }, "query": q },
                    }));
                }
            }
        }
    }
    analysis.insert("metrics".to_owned(), json!(metrics));
    let canary = json!({
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": { "name": p.name },
        "spec": {
            "targetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": p.name },
            "service": { "port": 80 },
            "analysis": Value::Object(analysis),
        },
    });
    let mut docs = vec![canary];
    docs.extend(templates);
    finish(out, &docs)
}
