//! Flagger: a `Canary` (progressive, blue-green or A/B) with the
//! `MetricTemplate`s it names, as an aviary policy.
//!
//! The schedule follows fluxcd/flagger's `pkg/controller/scheduler.go`:
//! every `analysis.interval` (default 60 s, at least 10 s;
//! `GetAnalysisInterval` in `pkg/apis/flagger/v1beta1/canary.go`) one tick;
//! a tick whose metrics all pass raises the weight by `stepWeight` (or to
//! the next of `stepWeights`) while it is below `maxWeight`, so 20 with a
//! maximum of 50 gives 20, 40, 60 and then promotion; `stepWeights` ends at
//! its last entry whatever `maxWeight` says. A tick that fails adds one to
//! `failedChecks` (the first failing metric returns,
//! `scheduler_metrics.go`), and the rollback happens at the start of the
//! tick after `failedChecks` *reaches* `threshold` (default 1). The
//! built-in `request-success-rate` is a percentage minimum on the canary
//! alone and `request-duration` a p99 maximum in milliseconds; no data is
//! a failed check. Decisions are in docs/interop.md.

use std::collections::BTreeMap;

use sim_core::model::Metric;
use sim_core::time::SimDuration;

use super::yaml::{Map, Node, Report, maps};
use super::{Draft, DraftCheck, DraftStep, Options, at, bound_check, go_duration, number, promql, quote};

pub fn read(docs: &[(&str, Node)], opts: &Options, r: &mut Report) -> Option<Draft> {
    let mut templates: BTreeMap<String, (&str, &Node)> = BTreeMap::new();
    let mut canaries = Vec::new();
    for (file, doc) in docs {
        let Some(mut m) = Map::new(file, "", doc, r) else {
            continue;
        };
        let api = m.str("apiVersion", r).unwrap_or("").to_owned();
        let kind = m.str("kind", r).unwrap_or("").to_owned();
        if !api.starts_with("flagger.app/") {
            r.warn(
                file,
                doc.line,
                "kind",
                format!("a {kind} ({api}) is not part of a release policy; skipped"),
            );
            continue;
        }
        match kind.as_str() {
            "Canary" => canaries.push((*file, doc)),
            "MetricTemplate" => {
                let name = m
                    .map("metadata", r)
                    .and_then(|mut md| md.str("name", r).map(str::to_owned))
                    .unwrap_or_default();
                templates.insert(name, (*file, doc));
            }
            other => r.warn(
                file,
                doc.line,
                "kind",
                format!("Flagger kind {other:?} is not read by aviary; skipped"),
            ),
        }
    }
    let (file, doc) = match canaries.as_slice() {
        [one] => *one,
        [] => {
            r.error(
                docs.first().map_or("", |d| d.0),
                0,
                "kind",
                "no Flagger Canary in the files given",
            );
            return None;
        }
        [_, (f, d), ..] => {
            r.error(f, d.line, "kind", "a second Canary: import one at a time");
            return None;
        }
    };
    canary(file, doc, &templates, opts, r)
}

fn duration_key(m: &mut Map<'_>, key: &str, r: &mut Report) -> Option<SimDuration> {
    let line = m.line_of(key);
    let path = m.key_path(key);
    let text = m.scalar(key, r)?;
    match go_duration(&text, false) {
        Ok(d) => Some(d),
        Err(e) => {
            r.error(m.file, line, &path, e);
            None
        }
    }
}

fn canary(
    file: &str,
    doc: &Node,
    templates: &BTreeMap<String, (&str, &Node)>,
    opts: &Options,
    r: &mut Report,
) -> Option<Draft> {
    let mut top = Map::new(file, "", doc, r)?;
    top.ignore(&["apiVersion", "kind", "status"]);
    let name = top
        .map("metadata", r)
        .and_then(|mut md| {
            md.ignore(&["namespace", "labels", "annotations"]);
            md.str("name", r).map(str::to_owned)
        })
        .unwrap_or_else(|| "imported".to_owned());
    let mut spec = top.map("spec", r)?;
    top.finish(r, "Flagger");
    spec.ignore(&[
        "targetRef",
        "autoscalerRef",
        "ingressRef",
        "routeRef",
        "upstreamRef",
        "service",
        "provider",
        "progressDeadlineSeconds",
        "revertOnDeletion",
        "suspend",
        "metricsServer",
    ]);
    let mut d = Draft {
        name: name.clone(),
        description: format!("Flagger Canary {name}, imported from {file}."),
        ..Draft::default()
    };
    let skip = spec.bool("skipAnalysis", r).unwrap_or(false);
    let Some(mut a) = spec.map("analysis", r).or_else(|| spec.map("canaryAnalysis", r)) else {
        r.error(file, spec.line, "spec.analysis", "missing");
        return None;
    };
    spec.finish(r, "Flagger");
    let interval = if a.has("interval") {
        duration_key(&mut a, "interval", r)
    } else {
        None
    };
    let raw = interval.unwrap_or(SimDuration::from_secs(60));
    // canary.go GetAnalysisInterval: below 10 s is 10 s.
    let tick = raw.max(SimDuration::from_secs(10));
    let tick_src = if interval.is_some() {
        at(file, a.line_of("interval"), "spec.analysis.interval")
    } else {
        "Flagger's default analysis interval, 60s".to_owned()
    };
    let threshold = a.int("threshold", r).filter(|t| *t > 0).unwrap_or(1);
    let step = a.int("stepWeight", r).unwrap_or(0).max(0) as u32;
    let max_weight = a.int("maxWeight", r).filter(|m| *m > 0).map(|m| m as u32);
    let step_weights: Vec<u32> = match a.seq("stepWeights", r) {
        Some(items) => items
            .iter()
            .filter_map(|n| match &n.value {
                super::yaml::Value::Int(i) if (0..=100).contains(i) => Some(*i as u32),
                other => {
                    r.error(
                        file,
                        n.line,
                        "spec.analysis.stepWeights",
                        format!("expected a percentage, found {}", other.describe()),
                    );
                    None
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let iterations = a.int("iterations", r).unwrap_or(0).max(0) as u64;
    let matched = a.has("match");
    if matched {
        a.get("match");
    }
    a.ignore(&[
        "mirror",
        "mirrorWeight",
        "primaryReadyThreshold",
        "canaryReadyThreshold",
        "stepWeightPromotion",
        "sessionAffinity",
        "alerts",
    ]);
    let mut webhooks = Vec::new();
    if let Some(items) = a.seq("webhooks", r) {
        for mut w in maps(file, "spec.analysis.webhooks", items, r) {
            let kind = w.str("type", r).unwrap_or("rollout").to_owned();
            let wname = w.str("name", r).unwrap_or("").to_owned();
            let timeout = if w.has("timeout") {
                duration_key(&mut w, "timeout", r)
            } else {
                None
            };
            w.ignore(&["url", "metadata", "muteAlert", "retries"]);
            webhooks.push((kind, wname, timeout, w.line, w.path.clone()));
            w.finish(r, "Flagger");
        }
    }
    let mut checks = Vec::new();
    // Each metric's query range (its `interval`, default 1m), and where.
    let mut ranges: Vec<(SimDuration, String)> = Vec::new();
    if let Some(items) = a.seq("metrics", r) {
        for m in maps(file, "spec.analysis.metrics", items, r) {
            if let Some(c) = metric(m, templates, opts, &mut ranges, r) {
                checks.push(c);
            }
        }
    }
    let a_line = a.line;
    let max_line = a.line_of("maxWeight");
    a.finish(r, "Flagger");

    d.set("strategy = \"canary\"", at(file, doc.line, "Canary"));
    let rollback = format!("rollback_delay = \"{tick}\"");
    d.set(
        rollback,
        "Flagger rolls back at the start of the tick after failedChecks reaches the threshold: one interval",
    );
    // Gates: webhooks that hold the schedule for their modelled delay.
    let mut before = SimDuration::ZERO;
    let mut per_step = SimDuration::ZERO;
    let mut before_promotion = SimDuration::ZERO;
    for (kind, wname, timeout, line, path) in &webhooks {
        let delay = timeout.unwrap_or(opts.webhook_delay).max(opts.webhook_delay);
        let what = match kind.as_str() {
            "confirm-rollout" => {
                before = before + delay;
                format!("a gate before the canary starts, modelled as {delay} (--webhook-delay)")
            }
            "confirm-traffic-increase" => {
                per_step = per_step + delay;
                format!("a gate before each weight increase, modelled as {delay} (--webhook-delay)")
            }
            "confirm-promotion" => {
                before_promotion = before_promotion + delay;
                format!("a gate before promotion, modelled as {delay} (--webhook-delay)")
            }
            "pre-rollout" => "runs before traffic shifts; aviary assumes it passes within its tick".to_owned(),
            "rollout" => "runs every tick (load tests, checks); aviary assumes it passes, the scenario's traffic stands in for its load".to_owned(),
            "post-rollout" | "event" => "does not change the schedule".to_owned(),
            "rollback" => "a manual rollback trigger; not simulated (aviary's rollbacks come from the checks)".to_owned(),
            other => format!("unknown webhook type {other:?}; ignored"),
        };
        r.warn(file, *line, path, format!("webhook {wname:?} ({kind}): {what}"));
    }
    let mut steps = Vec::new();
    if before > SimDuration::ZERO {
        steps.push(DraftStep {
            weight: 0,
            pause: before,
            source: "confirm-rollout webhooks".to_owned(),
        });
    }
    let tick_plus = |p: SimDuration| SimDuration::from_ms(p.ms() + per_step.ms());
    if skip {
        r.warn(
            file,
            0,
            "spec.skipAnalysis",
            "skipAnalysis: true promotes without analysis; aviary does the same (no checks)",
        );
        steps.push(DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: at(file, 0, "spec.skipAnalysis"),
        });
        checks.clear();
    } else if iterations > 0 {
        let preview = SimDuration::from_ms(tick.ms() * iterations);
        if matched {
            r.warn(
                file,
                0,
                "spec.analysis.match",
                format!("A/B testing: the users the match selects get the canary; aviary routes {} % of users to it by user (--ab-share)", opts.ab_share),
            );
            d.set(
                "routing = \"sticky\"",
                at(file, 0, "spec.analysis.match (A/B: by user)"),
            );
            steps.push(DraftStep {
                weight: opts.ab_share,
                pause: SimDuration::from_ms(preview.ms() + before_promotion.ms()),
                source: format!("{} iterations × {tick} (spec.analysis.iterations)", iterations),
            });
            steps.push(DraftStep {
                weight: 100,
                pause: SimDuration::ZERO,
                source: "promotion".to_owned(),
            });
        } else {
            r.warn(
                file,
                0,
                "spec.analysis.iterations",
                format!("blue-green: Flagger's canary gets only the traffic its webhooks send; aviary mirrors {} of requests to it (--preview-share)", opts.preview_share),
            );
            d.set(
                format!(
                    "strategy = \"blue_green\"\nblue_green = {{ preview = \"{}\", preview_share = {}, keep_old = \"{tick}\" }}",
                    SimDuration::from_ms(preview.ms() + before_promotion.ms()),
                    number(opts.preview_share)
                ),
                format!("{iterations} iterations × {tick} without match: blue-green; the primary is replaced one tick after promotion"),
            );
        }
    } else {
        let (weights, why) = if step_weights.is_empty() {
            let max = max_weight.unwrap_or(100);
            if step == 0 {
                r.error(
                    file,
                    a_line,
                    "spec.analysis.stepWeight",
                    "a progressive canary needs stepWeight, stepWeights or iterations",
                );
                return None;
            }
            let mut ws = Vec::new();
            let mut w = 0;
            // scheduler.go runCanary: step while below maxWeight, capped at 100.
            while w < max {
                w = (w + step).min(100);
                ws.push(w);
            }
            (ws, format!("stepWeight {step} up to maxWeight {max}"))
        } else {
            if max_weight.is_some() {
                r.warn(
                    file,
                    max_line,
                    "spec.analysis.maxWeight",
                    "stepWeights ignores maxWeight: the last step weight is the maximum",
                );
            }
            (step_weights.clone(), "stepWeights".to_owned())
        };
        let n = weights.len();
        for (i, w) in weights.into_iter().enumerate() {
            let last = i + 1 == n;
            // At the last weight: one tick to pass and promote, one to shift
            // the traffic to the updated primary.
            let pause = if last {
                SimDuration::from_ms(2 * tick.ms() + before_promotion.ms())
            } else {
                tick
            };
            let source = if last {
                format!("{why}; the maximum: promotion after 2 ticks")
            } else {
                format!("{why}, one tick each")
            };
            steps.push(DraftStep {
                weight: w,
                pause: tick_plus(pause),
                source,
            });
        }
        steps.push(DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: "promotion: the primary runs the new version".to_owned(),
        });
    }
    d.steps = steps;
    d.set_analysis(format!("interval = \"{tick}\""), tick_src);
    window_key(&mut d, tick, &ranges, r);
    d.set_analysis(
        "hold_on_failure = true",
        "a failed check keeps the weight for the tick (scheduler.go returns before advancing)",
    );
    d.set_analysis(
        format!("failure_limit = {}", threshold - 1),
        format!("threshold {threshold}: the rollback comes when failed checks reach it"),
    );
    d.set_analysis(
        "count_failures = \"per_interval\"",
        "Flagger counts one failed check per tick, whichever metric failed",
    );
    d.set_analysis(
        "consecutive = false",
        "failedChecks is cumulative (reset only by a new revision)",
    );
    d.set_analysis("min_requests = 0", "Flagger has no minimum");
    d.set_analysis(
        "no_data = \"fail\"",
        "no values found halts advancement: a failed check",
    );
    d.set_analysis(
        "on_failure = \"rollback\"",
        "Flagger routes all traffic back to the primary",
    );
    d.checks = checks;
    Some(d)
}

/// The query range every metric reads; aviary has one per analysis: the
/// longest, with a warning for each metric that reads another.
fn window_key(d: &mut Draft, tick: SimDuration, ranges: &[(SimDuration, String)], r: &mut Report) {
    let Some((longest, src)) = ranges.iter().max_by_key(|(w, _)| *w) else {
        return;
    };
    for (w, s) in ranges.iter().filter(|(w, _)| w != longest) {
        r.warn(
            s,
            0,
            "interval",
            format!("this metric queries the last {w}; aviary's analysis has one window, the longest ({longest})"),
        );
    }
    if *longest != tick {
        d.set_analysis(
            format!("window = \"{longest}\""),
            format!("{src}: each check queries the last {longest}, every {tick}"),
        );
    }
}

fn metric(
    mut m: Map<'_>,
    templates: &BTreeMap<String, (&str, &Node)>,
    opts: &Options,
    ranges: &mut Vec<(SimDuration, String)>,
    r: &mut Report,
) -> Option<DraftCheck> {
    let file = m.file;
    let name = m.str("name", r).unwrap_or("").to_owned();
    let source = at(file, m.line, &format!("{} ({name})", m.path));
    let window = if m.has("interval") {
        duration_key(&mut m, "interval", r)
    } else {
        None
    };
    // The metric's interval is its query's range (`[{{ interval }}]`), 1m
    // by default (flagger pkg/controller/scheduler_metrics.go).
    let window = window.unwrap_or(SimDuration::from_secs(60));
    let wsrc = if m.has("interval") {
        at(file, m.line_of("interval"), &m.key_path("interval"))
    } else {
        format!("{source}: no interval, Flagger's default query range 1m")
    };
    ranges.push((window, wsrc));
    let (mut min, mut max) = (None, None);
    if let Some(mut tr) = m.map("thresholdRange", r) {
        min = tr.num("min", r);
        max = tr.num("max", r);
        tr.finish(r, "Flagger");
    }
    let legacy = m.num("threshold", r);
    m.ignore(&["templateVariables"]);
    let meaning = match name.as_str() {
        "request-success-rate" => {
            min = min.or(legacy);
            Some(promql::Meaning {
                metric: Metric::ErrorRate,
                scale: 100.0,
                complement: true,
                why: "Flagger's built-in success rate, a percentage".to_owned(),
                relative: promql::Relative::No,
            })
        }
        "request-duration" => {
            max = max.or(legacy);
            Some(promql::Meaning {
                metric: Metric::LatencyP99,
                scale: 1.0,
                complement: false,
                why: "Flagger's built-in request duration: p99 in milliseconds".to_owned(),
                relative: promql::Relative::No,
            })
        }
        _ => {
            if let Some(t) = legacy {
                max = max.or(Some(t));
            }
            let Some(mut tref) = m.map("templateRef", r) else {
                r.warn(
                    file,
                    m.line,
                    &m.path,
                    format!(
                        "metric {name:?} is neither built in nor a templateRef: an always-inconclusive check stands in"
                    ),
                );
                m.finish(r, "Flagger");
                return Some(DraftCheck {
                    toml: "{ metric = \"error_rate\", judge = \"inconclusive\" }".to_owned(),
                    source,
                });
            };
            let tname = tref.str("name", r).unwrap_or("").to_owned();
            tref.ignore(&["namespace"]);
            tref.finish(r, "Flagger");
            match templates.get(&tname) {
                None => {
                    r.error(
                        file,
                        m.line,
                        &m.key_path("templateRef.name"),
                        format!("no MetricTemplate {tname:?} in the files given"),
                    );
                    None
                }
                Some((tfile, tdoc)) => template_query(tfile, tdoc, opts, r),
            }
        }
    };
    m.finish(r, "Flagger");
    let Some(meaning) = meaning else {
        return Some(DraftCheck {
            toml: "{ metric = \"error_rate\", judge = \"inconclusive\" }".to_owned(),
            source,
        });
    };
    match bound_check(&meaning, min, max) {
        Some(toml) => Some(DraftCheck {
            toml,
            source: format!("{source}: {}", meaning.why),
        }),
        None => {
            r.warn(
                file,
                0,
                &name,
                format!("metric {name:?}: the threshold range cannot fail; left out"),
            );
            None
        }
    }
}

/// What a MetricTemplate's query measures; `None` (with a warning) when
/// aviary cannot tell.
fn template_query(file: &str, doc: &Node, opts: &Options, r: &mut Report) -> Option<promql::Meaning> {
    let mut top = Map::new(file, "", doc, r)?;
    top.ignore(&["apiVersion", "kind", "metadata"]);
    let mut spec = top.map("spec", r)?;
    top.finish(r, "Flagger");
    let provider = spec.map("provider", r);
    if let Some(mut p) = provider {
        let t = p.str("type", r).unwrap_or("prometheus").to_owned();
        p.ignore(&["address", "secretRef", "insecureSkipVerify", "region"]);
        p.finish(r, "Flagger");
        if t != "prometheus" {
            r.warn(
                file,
                spec.line,
                "spec.provider.type",
                format!("provider {t}: aviary reads the query as PromQL"),
            );
        }
    }
    let line = spec.line_of("query");
    let query = spec.str("query", r).unwrap_or("").to_owned();
    spec.finish(r, "Flagger");
    let found = promql::recognise(&query, &opts.map);
    if found.is_none() {
        r.warn(file, line, "spec.query", format!("the query is none of the patterns aviary reads; an always-inconclusive check stands in (map it with --map): {}", quote(query.trim())));
    }
    found
}
