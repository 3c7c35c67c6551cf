//! Argo Rollouts: a `Rollout` (canary or blue-green) with the
//! `AnalysisTemplate`s and `ClusterAnalysisTemplate`s it names, an
//! `Experiment`, an `AnalysisRun`, or templates alone, as an aviary policy.
//!
//! The semantics follow the controller's source (argoproj/argo-rollouts):
//! `utils/evaluate/evaluate.go` (conditions: both empty is Successful),
//! `analysis/analysis.go` (`assessMetricFailureInconclusiveOrError`: a
//! metric fails when its failed measurements *exceed* `failureLimit`,
//! default 0, −1 disables; inconclusive past `inconclusiveLimit`, default
//! 0; Error past `consecutiveErrorLimit`, default 4; within one metric
//! Error beats Inconclusive beats Failed), `utils/analysis/helpers.go`
//! (across metrics the worst wins: Failed, then Error, then Inconclusive),
//! `rollout/canary.go` and `utils/replicaset/canary.go` (steps, replica
//! weights without `trafficRouting`). Decisions are in docs/interop.md.

use std::collections::BTreeMap;

use regex::Regex;
use sim_core::time::SimDuration;

use super::yaml::{Map, Node, Report, Value, maps};
use super::{Draft, DraftCheck, DraftStep, Options, at, bound_check, expr, go_duration, number, promql, quote};

/// A template: where it is and its `spec`.
struct Template<'d> {
    file: &'d str,
    kind: String,
    node: &'d Node,
}

/// Argo Rollouts' metric providers, `prometheus` first.
const PROVIDERS: [&str; 12] = [
    "prometheus",
    "job",
    "web",
    "datadog",
    "newRelic",
    "wavefront",
    "kayenta",
    "cloudWatch",
    "graphite",
    "influxdb",
    "skywalking",
    "plugin",
];

/// One metric of a template as aviary runs it.
#[derive(Clone, Debug)]
struct MetricPlan {
    name: String,
    source: String,
    interval: Option<SimDuration>,
    /// `None`: runs until the analysis is stopped.
    count: Option<u64>,
    initial_delay: SimDuration,
    /// The query's range (`[5m]`), when it has one aviary can read.
    range: Option<SimDuration>,
    failure_limit: i64,
    inconclusive_limit: i64,
    kind: MetricKind,
}

#[derive(Clone, Debug)]
enum MetricKind {
    /// A threshold check aviary measures.
    Check(String),
    /// A check on a query aviary cannot read: always inconclusive.
    Unknown,
    /// A Job, web or other provider: a gate whose result is not simulated.
    Gate(&'static str),
    /// Both conditions empty: every measurement is Successful.
    AlwaysPasses,
    /// Dry-run: measured, never acted on.
    DryRun,
}

impl MetricPlan {
    /// How long an inline analysis of this metric blocks its step; `None`
    /// when it never completes by itself.
    fn duration(&self) -> Option<SimDuration> {
        match (self.count, self.interval) {
            (Some(n), Some(i)) => Some(SimDuration::from_ms(
                self.initial_delay.ms() + i.ms() * n.saturating_sub(1),
            )),
            (Some(_) | None, None) => Some(self.initial_delay),
            (None, Some(_)) => None,
        }
    }
}

/// An analysis as the Rollout runs it: the templates' metrics, resolved.
struct AnalysisPlan {
    metrics: Vec<MetricPlan>,
}

pub fn read(docs: &[(&str, Node)], opts: &Options, r: &mut Report) -> Option<Draft> {
    let mut templates: BTreeMap<String, Template<'_>> = BTreeMap::new();
    let mut mains: Vec<(&str, &Node, String)> = Vec::new();
    for (file, doc) in docs {
        let Some(mut m) = Map::new(file, "", doc, r) else {
            continue;
        };
        let api = m.str("apiVersion", r).unwrap_or("").to_owned();
        let kind = m.str("kind", r).unwrap_or("").to_owned();
        if !api.starts_with("argoproj.io/") {
            r.warn(
                file,
                doc.line,
                "kind",
                format!("a {kind} ({api}) is not part of a release policy; skipped"),
            );
            continue;
        }
        match kind.as_str() {
            "AnalysisTemplate" | "ClusterAnalysisTemplate" => {
                let name = m
                    .map("metadata", r)
                    .and_then(|mut md| md.str("name", r).map(str::to_owned))
                    .unwrap_or_default();
                if templates.contains_key(&name) {
                    r.error(
                        file,
                        doc.line,
                        "metadata.name",
                        format!("a second template named {name:?}"),
                    );
                }
                templates.insert(name, Template { file, kind, node: doc });
            }
            "Rollout" | "Experiment" | "AnalysisRun" => mains.push((file, doc, kind)),
            other => r.warn(
                file,
                doc.line,
                "kind",
                format!("Argo kind {other:?} is not read by aviary; skipped"),
            ),
        }
    }
    let rank = |k: &str| match k {
        "Rollout" => 0,
        "Experiment" => 1,
        _ => 2,
    };
    mains.sort_by_key(|(_, _, k)| rank(k));
    if let [(f1, d1, k1), (f2, d2, k2), ..] = mains.as_slice()
        && rank(k1) == rank(k2)
    {
        r.error(
            f2,
            d2.line,
            "kind",
            format!("a second {k2} (the first is at {f1}:{}): import one at a time", d1.line),
        );
        return None;
    }
    let ctx = Ctx {
        templates: &templates,
        opts,
        used: Default::default(),
    };
    let mut draft = Draft::default();
    match mains.first() {
        Some((file, doc, kind)) if kind == "Rollout" => rollout(&ctx, file, doc, &mut draft, r)?,
        Some((file, doc, kind)) if kind == "Experiment" => experiment(&ctx, file, doc, &mut draft, r)?,
        Some((file, doc, _)) => analysis_run(&ctx, file, doc, &mut draft, r)?,
        None => templates_alone(&ctx, &mut draft, docs.first().map_or("", |d| d.0), r)?,
    }
    for (name, t) in &templates {
        if !mains.is_empty() && !ctx.used.borrow().contains(name) {
            r.warn(
                t.file,
                t.node.line,
                "metadata.name",
                format!(
                    "{} {name:?} is not named by any analysis of the {}; not used",
                    t.kind, mains[0].2
                ),
            );
        }
    }
    Some(draft)
}

struct Ctx<'a, 'd> {
    templates: &'a BTreeMap<String, Template<'d>>,
    opts: &'a Options,
    /// The templates some analysis named.
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

fn name_of(file: &str, doc: &Node, r: &mut Report) -> String {
    Map::new(file, "", doc, r)
        .and_then(|mut m| m.map("metadata", r))
        .and_then(|mut md| md.str("name", r).map(str::to_owned))
        .unwrap_or_else(|| "imported".to_owned())
}

/// A top-level object's `spec`, its other keys marked as read.
fn spec<'d>(file: &'d str, doc: &'d Node, r: &mut Report) -> Option<Map<'d>> {
    let mut top = Map::new(file, "", doc, r)?;
    top.ignore(&["apiVersion", "kind", "metadata", "status"]);
    if top.has("status") {
        r.warn(
            file,
            top.line_of("status"),
            "status",
            "the observed status is not a policy; aviary reads the spec",
        );
    }
    let s = top.map("spec", r);
    if s.is_none() && !top.has("spec") {
        r.error(file, doc.line, "spec", "missing");
    }
    top.finish(r, "Argo");
    s
}

fn duration_key(m: &mut Map<'_>, key: &str, bare: bool, r: &mut Report) -> Option<SimDuration> {
    let line = m.line_of(key);
    let path = m.key_path(key);
    let text = m.scalar(key, r)?;
    match go_duration(&text, bare) {
        Ok(d) => Some(d),
        Err(e) => {
            r.error(m.file, line, &path, e);
            None
        }
    }
}

fn rollout(ctx: &Ctx<'_, '_>, file: &str, doc: &Node, d: &mut Draft, r: &mut Report) -> Option<()> {
    let name = name_of(file, doc, r);
    d.name = name.clone();
    d.description = format!("Argo Rollout {name}, imported from {file}.");
    let mut s = spec(file, doc, r)?;
    if s.has("replicas") {
        let line = s.line_of("replicas");
        r.warn(
            file,
            line,
            "spec.replicas",
            "the scenario's fleet.instances sets the fleet size; spec.replicas is not used",
        );
    }
    s.ignore(&[
        "replicas",
        "selector",
        "template",
        "workloadRef",
        "revisionHistoryLimit",
        "minReadySeconds",
        "progressDeadlineSeconds",
        "progressDeadlineAbort",
        "restartAt",
        "paused",
    ]);
    let mut strategy = s.map("strategy", r)?;
    let canary = strategy.map("canary", r);
    let blue_green = strategy.map("blueGreen", r);
    strategy.finish(r, "Argo");
    let out = match (canary, blue_green) {
        (Some(c), None) => canary_strategy(ctx, file, c, d, r),
        (None, Some(b)) => blue_green_strategy(ctx, file, b, d, r),
        _ => {
            r.error(
                file,
                s.line_of("strategy"),
                "spec.strategy",
                "expected one of canary, blueGreen",
            );
            None
        }
    };
    s.finish(r, "Argo");
    out
}

/// A `RolloutAnalysis` (background, inline step, pre/post promotion): the
/// templates it names, with its args.
fn rollout_analysis(ctx: &Ctx<'_, '_>, mut a: Map<'_>, r: &mut Report) -> AnalysisPlan {
    let file = a.file;
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    if let Some(items) = a.seq("args", r) {
        for mut arg in maps(file, &a.key_path("args"), items, r) {
            let n = arg.str("name", r).unwrap_or("").to_owned();
            if let Some(v) = arg.scalar("value", r) {
                args.insert(n, v);
            } else if arg.has("valueFrom") {
                arg.get("valueFrom");
                args.insert(n, "valueFrom".to_owned());
            }
            arg.finish(r, "Argo");
        }
    }
    let dry_run = patterns(&mut a, "dryRun", r);
    if a.has("measurementRetention") {
        a.get("measurementRetention");
    }
    let mut metrics = Vec::new();
    if let Some(items) = a.seq("templates", r) {
        for mut t in maps(file, &a.key_path("templates"), items, r) {
            let line = t.line;
            let key = t.path.clone();
            let Some(tname) = t.str("templateName", r).map(str::to_owned) else {
                r.error(file, line, &key, "missing templateName");
                continue;
            };
            let cluster = t.bool("clusterScope", r).unwrap_or(false);
            t.finish(r, "Argo");
            match ctx.templates.get(&tname) {
                Some(tpl) => {
                    if cluster != (tpl.kind == "ClusterAnalysisTemplate") {
                        r.warn(
                            file,
                            line,
                            &key,
                            format!("clusterScope is {cluster} but {tname:?} is a {}: read anyway", tpl.kind),
                        );
                    }
                    metrics.extend(template_metrics(ctx, &tname, tpl, &args, &dry_run, r));
                }
                None => {
                    r.warn(
                        file,
                        line,
                        &format!("{key}.templateName"),
                        format!("no AnalysisTemplate {tname:?} in the files given (give them all: `aviary import argo rollout.yaml templates.yaml`); it stands in as a gate whose result is not simulated"),
                    );
                    metrics.push(MetricPlan {
                        name: tname.clone(),
                        source: at(file, line, &key),
                        interval: None,
                        count: Some(1),
                        initial_delay: SimDuration::ZERO,
                        range: None,
                        failure_limit: 0,
                        inconclusive_limit: 0,
                        kind: MetricKind::Gate("missing template"),
                    });
                }
            }
        }
    }
    a.ignore(&["startingStep"]);
    a.finish(r, "Argo");
    AnalysisPlan { metrics }
}

/// `dryRun` or `measurementRetention`: `metricName` regexes, unanchored.
fn patterns(m: &mut Map<'_>, key: &str, r: &mut Report) -> Vec<Regex> {
    let file = m.file;
    let path = m.key_path(key);
    let mut out = Vec::new();
    if let Some(items) = m.seq(key, r) {
        for mut p in maps(file, &path, items, r) {
            let line = p.line_of("metricName");
            let k = p.key_path("metricName");
            if let Some(text) = p.str("metricName", r) {
                match Regex::new(text) {
                    Ok(re) => out.push(re),
                    Err(e) => r.error(file, line, &k, format!("not a regex: {e}")),
                }
            }
            p.ignore(&["limit"]);
            p.finish(r, "Argo");
        }
    }
    out
}

/// The metrics of a template, args substituted.
fn template_metrics(
    ctx: &Ctx<'_, '_>,
    tname: &str,
    tpl: &Template<'_>,
    rollout_args: &BTreeMap<String, String>,
    extra_dry_run: &[Regex],
    r: &mut Report,
) -> Vec<MetricPlan> {
    let file = tpl.file;
    ctx.used.borrow_mut().insert(tname.to_owned());
    let Some(mut s) = spec(file, tpl.node, r) else {
        return Vec::new();
    };
    let mut args = BTreeMap::new();
    let mut missing = Vec::new();
    if let Some(items) = s.seq("args", r) {
        for mut a in maps(file, "spec.args", items, r) {
            let n = a.str("name", r).unwrap_or("").to_owned();
            let line = a.line;
            let default = a.scalar("value", r);
            if a.has("valueFrom") {
                a.get("valueFrom");
            }
            match rollout_args.get(&n).cloned().or(default) {
                Some(v) => {
                    args.insert(n, v);
                }
                None if a.has("valueFrom") => {
                    args.insert(n, "valueFrom".to_owned());
                }
                None => missing.push((n, line, a.path.clone())),
            }
            a.finish(r, "Argo");
        }
    }
    let mut dry_run = patterns(&mut s, "dryRun", r);
    dry_run.extend(extra_dry_run.iter().cloned());
    if s.has("measurementRetention") {
        s.get("measurementRetention");
    }
    let mut out = Vec::new();
    if let Some(items) = s.seq("metrics", r) {
        // Argo resolves the args in the whole metric before reading it
        // (analysisutil.ResolveArgs on the marshalled metric), so a count
        // or an interval may be an argument; the query is resolved later.
        let resolved: Vec<Node> = items
            .iter()
            .map(|n| resolve_scalars(n, &args, &missing, file, r))
            .collect();
        for m in maps(file, "spec.metrics", &resolved, r) {
            if let Some(plan) = metric(ctx, tname, m, &args, &missing, &dry_run, r) {
                out.push(plan);
            }
        }
    }
    s.finish(r, "Argo");
    out
}

/// The metric's own settings (count, interval, limits…) with
/// `{{args.NAME}}` replaced; nested tables (the provider) are left as they
/// are.
fn resolve_scalars(
    n: &Node,
    args: &BTreeMap<String, String>,
    missing: &[(String, usize, String)],
    file: &str,
    r: &mut Report,
) -> Node {
    let Value::Map(entries) = &n.value else {
        return n.clone();
    };
    let entries = entries
        .iter()
        .map(|(k, line, v)| match &v.value {
            Value::Str(text) if text.contains("{{") => {
                let text = substitute(text, args, missing, file, *line, k, r);
                (
                    k.clone(),
                    *line,
                    Node {
                        line: v.line,
                        value: Value::Str(text),
                    },
                )
            }
            _ => (k.clone(), *line, v.clone()),
        })
        .collect();
    Node {
        line: n.line,
        value: Value::Map(entries),
    }
}

/// Replaces `{{args.NAME}}`; a name with no value is an error.
fn substitute(
    text: &str,
    args: &BTreeMap<String, String>,
    missing: &[(String, usize, String)],
    file: &str,
    line: usize,
    key: &str,
    r: &mut Report,
) -> String {
    let re = Regex::new(r"\{\{\s*args\.([A-Za-z0-9_.\-]+)\s*\}\}").expect("a constant regex");
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let n = &c[1];
        if let Some(v) = args.get(n) {
            return v.clone();
        }
        match missing.iter().find(|(m, _, _)| m == n) {
            Some((_, l, k)) => r.error(
                file,
                *l,
                k,
                format!("the argument {n:?} has no value: the Rollout's analysis args must give one"),
            ),
            None => r.error(
                file,
                line,
                key,
                format!("{{{{args.{n}}}}}: the template declares no argument {n:?}"),
            ),
        }
        String::new()
    })
    .into_owned()
}

fn metric(
    ctx: &Ctx<'_, '_>,
    tname: &str,
    mut m: Map<'_>,
    args: &BTreeMap<String, String>,
    missing: &[(String, usize, String)],
    dry_run: &[Regex],
    r: &mut Report,
) -> Option<MetricPlan> {
    let file = m.file;
    let name = m.str("name", r).unwrap_or("").to_owned();
    let source = at(file, m.line, &format!("{tname}: {}", m.path));
    let interval = duration_key(&mut m, "interval", false, r);
    let count = m.int("count", r).filter(|c| *c > 0).map(|c| c as u64);
    let initial_delay = duration_key(&mut m, "initialDelay", false, r).unwrap_or_default();
    let failure_limit = m.int("failureLimit", r).unwrap_or(0);
    let inconclusive_limit = m.int("inconclusiveLimit", r).unwrap_or(0);
    for key in ["consecutiveErrorLimit", "consecutiveSuccessLimit"] {
        if m.has(key) {
            let line = m.line_of(key);
            let k = m.key_path(key);
            let v = m.int(key, r);
            let what = if key == "consecutiveErrorLimit" {
                "aviary's simulated Prometheus never fails a query, so no measurement is an Error"
            } else {
                "aviary does not end a metric early on consecutive successes; it runs its count"
            };
            if v.is_some_and(|v| v > 0 || key == "consecutiveErrorLimit") {
                r.warn(file, line, &k, format!("{key} {}: {what}", v.unwrap_or(0)));
            }
        }
    }
    let success = m.str("successCondition", r).map(str::to_owned);
    let failure = m.str("failureCondition", r).map(str::to_owned);
    let mut provider = m.map("provider", r)?;
    let is_dry = dry_run.iter().any(|re| re.is_match(&name));
    let mut range = None;
    let kind = if is_dry {
        r.warn(
            file,
            m.line,
            &m.path,
            format!("metric {name:?} is dry-run: measured by Argo, never acted on; aviary leaves it out"),
        );
        provider.ignore(&PROVIDERS);
        MetricKind::DryRun
    } else if success.as_deref().unwrap_or("").is_empty() && failure.as_deref().unwrap_or("").is_empty() {
        // evaluate.go: both conditions empty → Successful (the docs say Inconclusive).
        provider.ignore(&PROVIDERS);
        if provider.has("job") {
            MetricKind::Gate("job")
        } else {
            r.warn(
                file,
                m.line,
                &m.path,
                format!("metric {name:?} has no successCondition or failureCondition: every measurement is Successful (Argo's code; its docs say Inconclusive), so it can never fail"),
            );
            MetricKind::AlwaysPasses
        }
    } else if let Some(mut p) = provider.map("prometheus", r) {
        p.ignore(&["address", "timeout", "insecure", "headers", "authentication"]);
        let qline = p.line_of("query");
        let qkey = p.key_path("query");
        let query = p.str("query", r).unwrap_or("").to_owned();
        let query = substitute(&query, args, missing, file, qline, &qkey, r);
        range = promql::range(&query);
        p.finish(r, "Argo");
        match promql::recognise(&query, &ctx.opts.map) {
            Some(meaning) => condition_check(&meaning, success.as_deref(), failure.as_deref(), file, &m, &name, r),
            None => {
                r.warn(
                    file,
                    qline,
                    &qkey,
                    format!("metric {name:?}: the query is none of the patterns aviary reads (5xx ratio, success ratio, histogram_quantile); an always-inconclusive check stands in (map it with --map)"),
                );
                MetricKind::Unknown
            }
        }
    } else {
        let kinds = &PROVIDERS[1..];
        let found = kinds.iter().copied().find(|k| provider.has(k)).unwrap_or("unknown");
        provider.ignore(kinds);
        match found {
            "job" => MetricKind::Gate("job"),
            "web" => MetricKind::Gate("web"),
            other => {
                r.warn(
                    file,
                    provider.line,
                    &provider.path,
                    format!(
                        "metric {name:?}: provider {other} is not simulated; an always-inconclusive check stands in"
                    ),
                );
                MetricKind::Unknown
            }
        }
    };
    provider.finish(r, "Argo");
    m.finish(r, "Argo");
    Some(MetricPlan {
        name,
        source,
        interval,
        count,
        initial_delay,
        range,
        failure_limit,
        inconclusive_limit,
        kind,
    })
}

/// The check a condition pair makes on a recognised query.
fn condition_check(
    meaning: &promql::Meaning,
    success: Option<&str>,
    failure: Option<&str>,
    file: &str,
    m: &Map<'_>,
    name: &str,
    r: &mut Report,
) -> MetricKind {
    let truth = |c: &str, key: &str, r: &mut Report| match expr::truth(c) {
        Ok(t) => Some(t),
        Err(e) => {
            r.warn(
                file,
                m.line_of(key),
                &m.key_path(key),
                format!(
                    "metric {name:?}: {c:?} cannot be read as a bound ({e}); an always-inconclusive check stands in"
                ),
            );
            None
        }
    };
    let s = success.filter(|c| !c.is_empty());
    let f = failure.filter(|c| !c.is_empty());
    // evaluate.go: with only a success condition, not success is Failed;
    // with only a failure condition, not failure is Successful; with both,
    // neither is Inconclusive. aviary's bound is where Argo says Failed.
    let pass = match (s, f) {
        (Some(s), None) => match truth(s, "successCondition", r) {
            Some(t) => t,
            None => return MetricKind::Unknown,
        },
        (_, Some(fc)) => {
            let Some(ft) = truth(fc, "failureCondition", r) else {
                return MetricKind::Unknown;
            };
            let Some(complement) = complement(&ft) else {
                r.warn(
                    file,
                    m.line_of("failureCondition"),
                    &m.key_path("failureCondition"),
                    format!("metric {name:?}: {fc:?} fails inside an interval; an always-inconclusive check stands in"),
                );
                return MetricKind::Unknown;
            };
            if let Some(sc) = s
                && let Some(st) = truth(sc, "successCondition", r)
                && st != complement
            {
                r.warn(
                    file,
                    m.line_of("successCondition"),
                    &m.key_path("successCondition"),
                    format!("metric {name:?}: between {sc:?} and {fc:?} Argo's measurement is Inconclusive; aviary passes it (only the failure condition is a bound)"),
                );
            }
            complement
        }
        (None, None) => return MetricKind::AlwaysPasses,
    };
    if pass.never {
        r.warn(
            file,
            m.line,
            &m.path,
            format!("metric {name:?}: the condition holds for no value: every measurement fails"),
        );
        return MetricKind::Check(format!("{{ metric = {}, max = -1 }}", quote(meaning.metric.name())));
    }
    match bound_check(meaning, pass.low.map(|e| e.at), pass.high.map(|e| e.at)) {
        Some(check) => MetricKind::Check(check),
        None => {
            r.warn(
                file,
                m.line,
                &m.path,
                format!("metric {name:?}: the condition holds for every value the metric can take; it never fails"),
            );
            MetricKind::AlwaysPasses
        }
    }
}

/// The values where a failure condition does not hold, when one interval.
fn complement(t: &expr::Truth) -> Option<expr::Truth> {
    let flip = |e: expr::End| expr::End {
        at: e.at,
        closed: !e.closed,
    };
    let base = expr::Truth {
        low: None,
        high: None,
        never: false,
        on_empty: t.on_empty.map(|b| !b),
    };
    match (t.never, t.low, t.high) {
        (true, _, _) => Some(base),
        (false, None, None) => Some(expr::Truth { never: true, ..base }),
        (false, Some(lo), None) => Some(expr::Truth {
            high: Some(flip(lo)),
            ..base
        }),
        (false, None, Some(hi)) => Some(expr::Truth {
            low: Some(flip(hi)),
            ..base
        }),
        (false, Some(_), Some(_)) => None,
    }
}

/// The analysis keys shared by every Argo import, from the metrics.
fn analysis_keys(d: &mut Draft, metrics: &[MetricPlan], scope: &str, scope_why: &str, r: &mut Report) {
    let live: Vec<&MetricPlan> = metrics
        .iter()
        .filter(|m| matches!(m.kind, MetricKind::Check(_) | MetricKind::Unknown))
        .collect();
    let interval = live
        .iter()
        .filter_map(|m| m.interval)
        .min()
        .unwrap_or(SimDuration::from_secs(60));
    for m in &live {
        match m.interval {
            Some(i) if i != interval => r.warn(
                &m.source,
                0,
                "interval",
                format!(
                    "metric {:?} measures every {i}; aviary's analysis has one interval, the shortest ({interval})",
                    m.name
                ),
            ),
            None => r.warn(
                &m.source,
                0,
                "interval",
                format!(
                    "metric {:?} has no interval (one measurement); aviary measures every {interval}",
                    m.name
                ),
            ),
            _ => {}
        }
    }
    let why = live.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ");
    let interval = interval.max(SimDuration::from_secs(1));
    window_and_delay(d, &live, interval, scope, r);
    d.set_analysis(
        format!("interval = \"{interval}\""),
        if live.is_empty() {
            "no measured metric: aviary's default".to_owned()
        } else {
            format!("the metrics' interval ({why})")
        },
    );
    let limits: Vec<i64> = live.iter().map(|m| m.failure_limit).collect();
    let failure_limit = limits.iter().copied().filter(|l| *l >= 0).min();
    if limits.iter().any(|l| *l < 0) {
        r.warn(
            live.iter().find(|m| m.failure_limit < 0).map_or("", |m| m.source.as_str()),
            0,
            "failureLimit",
            "failureLimit -1 disables failure for that metric; aviary has one limit per analysis and uses the others' (or never fails if all are -1)",
        );
    }
    if limits.iter().filter(|l| **l >= 0).any(|l| Some(*l) != failure_limit) {
        r.warn(
            live.first().map_or("", |m| m.source.as_str()),
            0,
            "failureLimit",
            format!(
                "the metrics' failureLimits differ; aviary uses the smallest, {}",
                failure_limit.unwrap_or(0)
            ),
        );
    }
    match failure_limit {
        Some(l) => d.set_analysis(
            format!("failure_limit = {l}"),
            "failureLimit (default 0): a metric fails when its failed measurements exceed it",
        ),
        None if !live.is_empty() => d.set_analysis(
            "failure_limit = 1000000",
            "failureLimit -1 on every metric: never fails",
        ),
        None => d.set_analysis("failure_limit = 0", "Argo's default failureLimit"),
    }
    let inconclusive = live.iter().map(|m| m.inconclusive_limit.max(0)).min().unwrap_or(0);
    d.set_analysis(
        format!("inconclusive_limit = {inconclusive}"),
        "inconclusiveLimit (default 0): past it the analysis is Inconclusive and the rollout pauses",
    );
    d.set_analysis(
        "consecutive = false",
        "Argo counts failed measurements over the whole run",
    );
    d.set_analysis(
        "min_requests = 1",
        "Argo has no minimum; a window with no canary request has no data",
    );
    d.set_analysis(
        "on_failure = \"rollback\"",
        "a Failed analysis aborts the rollout (canary weight 0)",
    );
    d.set_analysis(format!("scope = {}", quote(scope)), scope_why);
}

/// The query range the checks read (`window`), and, for background
/// analysis, the metrics' `initialDelay` (`delay`). aviary has one of each
/// per analysis: the longest, with a warning for every metric that differs.
fn window_and_delay(d: &mut Draft, live: &[&MetricPlan], interval: SimDuration, scope: &str, r: &mut Report) {
    let longest = |pick: &dyn Fn(&MetricPlan) -> Option<SimDuration>, what: &str, r: &mut Report| {
        let found: Vec<(SimDuration, &MetricPlan)> = live.iter().filter_map(|m| pick(m).map(|x| (x, *m))).collect();
        let (max, m) = found.iter().max_by_key(|(x, _)| *x).copied()?;
        for (x, other) in found.iter().filter(|(x, _)| *x != max) {
            r.warn(
                &other.source,
                0,
                what,
                format!(
                    "metric {:?}: {what} {x}; aviary's analysis has one, the longest ({max}, of {:?})",
                    other.name, m.name
                ),
            );
        }
        Some((max, m.source.clone()))
    };
    if let Some((range, src)) = longest(&|m| m.range, "query range", r)
        && range != interval
    {
        d.set_analysis(
            format!("window = \"{range}\""),
            format!("{src}: the query reads the last {range}, every {interval}"),
        );
    }
    if scope == "rollout"
        && let Some((delay, src)) = longest(
            &|m| (m.initial_delay > SimDuration::ZERO).then_some(m.initial_delay),
            "initialDelay",
            r,
        )
    {
        d.set_analysis(
            format!("delay = \"{delay}\""),
            format!("{src}.initialDelay: the first measurement waits {delay}"),
        );
    }
}

/// Gates in an analysis that never blocks (background, post-promotion):
/// their results are not simulated, so they never fail the rollout.
fn warn_gates(metrics: &[MetricPlan], what: &str, r: &mut Report) {
    for m in metrics {
        if let MetricKind::Gate(kind) = m.kind {
            r.warn(
                &m.source,
                0,
                &m.name,
                format!(
                    "metric {:?} ({kind} provider) in {what} is not simulated: it never fails the rollout",
                    m.name
                ),
            );
        }
    }
}

fn checks_of(d: &mut Draft, metrics: &[MetricPlan]) {
    for m in metrics {
        let toml = match &m.kind {
            MetricKind::Check(c) => c.clone(),
            MetricKind::Unknown => "{ metric = \"error_rate\", judge = \"inconclusive\" }".to_owned(),
            MetricKind::Gate(_) | MetricKind::AlwaysPasses | MetricKind::DryRun => continue,
        };
        let c = DraftCheck {
            toml,
            source: format!("{} ({})", m.source, m.name),
        };
        if !d.checks.iter().any(|x| x.toml == c.toml) {
            d.checks.push(c);
        }
    }
}

/// How long an inline analysis blocks, with gates and indefinite metrics
/// as the modelled human's delay.
fn blocking(plan: &AnalysisPlan, opts: &Options, file: &str, line: usize, key: &str, r: &mut Report) -> SimDuration {
    let mut longest = SimDuration::ZERO;
    for m in &plan.metrics {
        let d = match (&m.kind, m.duration()) {
            (MetricKind::Gate(kind), d) => {
                r.warn(
                    file,
                    line,
                    key,
                    format!("metric {:?} ({kind} provider) is not simulated: a gate a human passes after {} (--resume-after)", m.name, opts.resume_after),
                );
                d.unwrap_or(SimDuration::ZERO).max(opts.resume_after)
            }
            (_, Some(d)) => d,
            (_, None) => {
                r.warn(
                    file,
                    line,
                    key,
                    format!("metric {:?} has an interval and no count: the inline analysis runs until it fails; aviary ends it after {} (--resume-after)", m.name, opts.resume_after),
                );
                opts.resume_after
            }
        };
        longest = longest.max(d);
    }
    longest
}

fn canary_strategy(ctx: &Ctx<'_, '_>, file: &str, mut c: Map<'_>, d: &mut Draft, r: &mut Report) -> Option<()> {
    d.set("strategy = \"canary\"", at(file, c.line, "spec.strategy.canary"));
    let routed = c.has("trafficRouting");
    if routed {
        d.set(
            "routing = \"weighted\"",
            at(file, c.line_of("trafficRouting"), "spec.strategy.canary.trafficRouting"),
        );
    } else {
        d.set(
            "routing = \"replicas\"",
            "no trafficRouting: Argo sets the weight by replica counts (rounded)",
        );
    }
    c.ignore(&[
        "trafficRouting",
        "canaryService",
        "stableService",
        "canaryMetadata",
        "stableMetadata",
        "pingPong",
        "antiAffinity",
        "minPodsPerReplicaSet",
        "scaleDownDelayRevisionLimit",
        "maxSurge",
        "maxUnavailable",
    ]);
    d.set(
        "rollback_delay = \"0s\"",
        "Argo aborts in the reconcile that sees the Failed analysis",
    );
    let background = c.map("analysis", r).map(|mut a| {
        let line = a.line;
        let starting = a
            .int("startingStep", r)
            .filter(|s| *s > 0)
            .map(|s| (s, a.line_of("startingStep")));
        let plan = rollout_analysis(ctx, a, r);
        warn_gates(&plan.metrics, "background analysis", r);
        (line, plan, starting)
    });
    // For each of Argo's steps, the aviary step it falls in.
    let mut step_of: Vec<usize> = Vec::new();
    let mut inline: Vec<MetricPlan> = Vec::new();
    let mut steps: Vec<DraftStep> = Vec::new();
    let mut weight = 0u32;
    let mut paused_steps = 0;
    let mut analysed_steps = 0;
    if let Some(items) = c.seq("steps", r) {
        for (i, mut s) in maps(file, "spec.strategy.canary.steps", items, r)
            .into_iter()
            .enumerate()
        {
            let key = s.path.clone();
            let line = s.line;
            let src = at(file, line, &key);
            let add_pause = |steps: &mut Vec<DraftStep>, p: SimDuration, why: &str| {
                if steps.is_empty() {
                    steps.push(DraftStep {
                        weight,
                        pause: p,
                        source: format!("{src} ({why} before any setWeight)"),
                    });
                } else if let Some(last) = steps.last_mut() {
                    last.pause = SimDuration::from_ms(last.pause.ms() + p.ms());
                    last.source = format!("{}; {src} {why}", last.source);
                }
            };
            if let Some(w) = s.int("setWeight", r) {
                if !(0..=100).contains(&w) {
                    r.error(
                        file,
                        line,
                        &format!("{key}.setWeight"),
                        format!("{w} is not a percentage"),
                    );
                    continue;
                }
                weight = w as u32;
                steps.push(DraftStep {
                    weight,
                    pause: SimDuration::ZERO,
                    source: format!("{src}.setWeight"),
                });
            } else if s.has("pause") {
                let pline = s.line_of("pause");
                let node = s.get("pause")?;
                let mut p = Map::new(file, &format!("{key}.pause"), node, r)?;
                if p.has("duration") {
                    // types.go RolloutPause.DurationSeconds: whole seconds.
                    let dur = SimDuration::from_secs(duration_key(&mut p, "duration", true, r)?.ms() / 1000);
                    add_pause(&mut steps, dur, &format!("pause {dur}"));
                    paused_steps += 1;
                } else {
                    r.warn(
                        file,
                        pline,
                        &format!("{key}.pause"),
                        format!("an indefinite pause waits for a human to promote; aviary's modelled human resumes after {} (--resume-after)", ctx.opts.resume_after),
                    );
                    add_pause(
                        &mut steps,
                        ctx.opts.resume_after,
                        &format!("pause {{}} (a human resumes after {})", ctx.opts.resume_after),
                    );
                    paused_steps += 1;
                }
                p.finish(r, "Argo");
            } else if let Some(a) = s.map("analysis", r) {
                let aline = a.line;
                let plan = rollout_analysis(ctx, a, r);
                let block = blocking(&plan, ctx.opts, file, aline, &format!("{key}.analysis"), r);
                add_pause(&mut steps, block, &format!("inline analysis, {block}"));
                analysed_steps += 1;
                inline.extend(plan.metrics);
            } else if s.has("experiment") {
                let mut e = s.map("experiment", r)?;
                let dur = if e.has("duration") {
                    duration_key(&mut e, "duration", false, r)
                } else {
                    None
                };
                let dur = dur.unwrap_or(ctx.opts.resume_after);
                r.warn(
                    file,
                    line,
                    &format!("{key}.experiment"),
                    format!("an experiment step: aviary does not run its extra ReplicaSets; the step waits {dur}"),
                );
                e.ignore(&["templates", "analyses", "duration"]);
                e.finish(r, "Argo");
                add_pause(&mut steps, dur, &format!("experiment {dur}"));
            } else {
                let what = ["setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin"]
                    .into_iter()
                    .find(|k| s.has(k))
                    .unwrap_or("this step");
                s.ignore(&["setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin"]);
                r.warn(
                    file,
                    line,
                    &format!("{key}.{what}"),
                    format!("step {i}: {what} is not simulated (aviary's canary replicas follow its weight); skipped"),
                );
            }
            s.finish(r, "Argo");
            step_of.push(steps.len().saturating_sub(1));
        }
    }
    if c.has("dynamicStableScale") {
        let line = c.line_of("dynamicStableScale");
        if c.bool("dynamicStableScale", r) == Some(true) {
            r.warn(
                file,
                line,
                "spec.strategy.canary.dynamicStableScale",
                "the stable fleet is not scaled down as the canary grows; costs only, not traffic",
            );
        }
    }
    for key in ["abortScaleDownDelaySeconds", "scaleDownDelaySeconds"] {
        if c.has(key) {
            c.get(key);
        }
    }
    c.finish(r, "Argo");
    if steps.last().is_none_or(|s| s.weight != 100) {
        steps.push(DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: "after the last step Argo promotes: 100 %".to_owned(),
        });
    }
    d.steps = steps;
    let (metrics, scope, why) = match background {
        Some((line, plan, starting)) => {
            if let Some((s, sline)) = starting {
                // rollout/analysis.go: background analysis is created once
                // currentStepIndex reaches startingStep.
                let k = step_of.get(s as usize).copied().unwrap_or(d.steps.len() - 1);
                let what = if (s as usize) < step_of.len() {
                    format!("Argo's step {s} is in aviary's step {k}")
                } else {
                    format!("step {s} is past the last step: from the promotion")
                };
                if k > 0 {
                    d.set_analysis(
                        format!("from_step = {k}"),
                        format!(
                            "{}; {what}",
                            at(file, sline, "spec.strategy.canary.analysis.startingStep")
                        ),
                    );
                }
            }
            if !inline.is_empty() {
                r.warn(
                    file,
                    line,
                    "spec.strategy.canary.analysis",
                    "a background and inline analyses: aviary runs one analysis, over the rollout, with the metrics of both",
                );
            }
            let mut all = plan.metrics;
            all.extend(inline);
            (
                all,
                "rollout",
                at(
                    file,
                    line,
                    "spec.strategy.canary.analysis (background: counts over the rollout)",
                ),
            )
        }
        None => {
            if analysed_steps > 0 && paused_steps > 0 {
                r.warn(
                    file,
                    0,
                    "spec.strategy.canary.steps",
                    "inline analysis steps beside plain pauses: aviary's step-scoped analysis also measures during the pauses",
                );
            }
            (
                inline,
                "step",
                "inline analysis steps: a new AnalysisRun per step".to_owned(),
            )
        }
    };
    analysis_keys(d, &metrics, scope, &why, r);
    checks_of(d, &metrics);
    Some(())
}

fn blue_green_strategy(ctx: &Ctx<'_, '_>, file: &str, mut b: Map<'_>, d: &mut Draft, r: &mut Report) -> Option<()> {
    d.set("strategy = \"blue_green\"", at(file, b.line, "spec.strategy.blueGreen"));
    b.ignore(&[
        "activeService",
        "previewService",
        "previewReplicaCount",
        "activeMetadata",
        "previewMetadata",
        "antiAffinity",
        "scaleDownDelayRevisionLimit",
        "abortScaleDownDelaySeconds",
    ]);
    let auto = b.bool("autoPromotionEnabled", r).unwrap_or(true);
    let auto_after = if b.has("autoPromotionSeconds") {
        b.int("autoPromotionSeconds", r)
    } else {
        None
    };
    let pre = b
        .map("prePromotionAnalysis", r)
        .map(|a| (a.line, rollout_analysis(ctx, a, r)));
    let post = b
        .map("postPromotionAnalysis", r)
        .map(|a| (a.line, rollout_analysis(ctx, a, r)));
    let keep = b.int("scaleDownDelaySeconds", r).unwrap_or(30).max(0) as u64;
    let (b_line, auto_line) = (b.line, b.line_of("autoPromotionEnabled"));
    b.finish(r, "Argo");
    let pre_block = pre.as_ref().map(|(line, p)| {
        blocking(
            p,
            ctx.opts,
            file,
            *line,
            "spec.strategy.blueGreen.prePromotionAnalysis",
            r,
        )
    });
    let (preview, why) = match (auto, auto_after) {
        (false, _) => {
            r.warn(
                file,
                auto_line.max(b_line),
                "spec.strategy.blueGreen.autoPromotionEnabled",
                format!("autoPromotionEnabled: false waits for a human to promote; aviary's modelled human promotes after {} (--resume-after)", ctx.opts.resume_after),
            );
            (
                ctx.opts.resume_after.max(pre_block.unwrap_or_default()),
                "autoPromotionEnabled: false (a human promotes)".to_owned(),
            )
        }
        (true, Some(s)) => (
            SimDuration::from_secs(s.max(0) as u64).max(pre_block.unwrap_or_default()),
            format!("autoPromotionSeconds {s}"),
        ),
        (true, None) => (
            pre_block.unwrap_or(SimDuration::ZERO),
            "promotes once the preview is ready (and prePromotionAnalysis passed)".to_owned(),
        ),
    };
    d.set(
        format!(
            "blue_green = {{ preview = \"{preview}\", preview_share = {}, keep_old = \"{}\" }}",
            number(ctx.opts.preview_share),
            SimDuration::from_secs(keep)
        ),
        format!("{why}; scaleDownDelaySeconds {keep} (default 30) keeps the old fleet; Argo's preview gets only the traffic sent to it, aviary mirrors {} of requests (--preview-share)", ctx.opts.preview_share),
    );
    d.set("rollback_delay = \"0s\"", "a rollback switches the active service back");
    let mut metrics = Vec::new();
    if let Some((_, p)) = pre {
        metrics.extend(p.metrics);
    }
    if let Some((line, p)) = post {
        warn_gates(&p.metrics, "post-promotion analysis", r);
        let dur = p
            .metrics
            .iter()
            .filter_map(MetricPlan::duration)
            .max()
            .unwrap_or(ctx.opts.resume_after);
        d.set_analysis(
            format!("after_promotion = \"{dur}\""),
            at(file, line, "spec.strategy.blueGreen.postPromotionAnalysis"),
        );
        metrics.extend(p.metrics);
    }
    analysis_keys(d, &metrics, "rollout", "pre- and post-promotion analysis", r);
    checks_of(d, &metrics);
    Some(())
}

fn experiment(ctx: &Ctx<'_, '_>, file: &str, doc: &Node, d: &mut Draft, r: &mut Report) -> Option<()> {
    let name = name_of(file, doc, r);
    d.name = name.clone();
    d.description = format!("Argo Experiment {name}, imported from {file}: its analyses gate a promotion.");
    let mut s = spec(file, doc, r)?;
    let dur = if s.has("duration") {
        duration_key(&mut s, "duration", false, r)
    } else {
        None
    };
    let dur = dur.unwrap_or(ctx.opts.resume_after);
    let dry_run = patterns(&mut s, "dryRun", r);
    let mut weight = 0u32;
    if let Some(items) = s.seq("templates", r) {
        for mut t in maps(file, "spec.templates", items, r) {
            if let Some(w) = t.int("weight", r) {
                weight = weight.max(w.clamp(0, 100) as u32);
            }
            t.ignore(&[
                "name",
                "replicas",
                "selector",
                "template",
                "service",
                "minReadySeconds",
                "specRef",
            ]);
            t.finish(r, "Argo");
        }
    }
    r.warn(
        file,
        doc.line,
        "kind",
        format!("an Experiment does not promote anything; aviary runs it as a canary at {weight} % for {dur} and promotes after it"),
    );
    let mut metrics = Vec::new();
    if let Some(items) = s.seq("analyses", r) {
        for mut a in maps(file, "spec.analyses", items, r) {
            let line = a.line;
            let key = a.path.clone();
            let tname = a.str("templateName", r).unwrap_or("").to_owned();
            a.ignore(&["name", "clusterScope", "requiredForCompletion", "args"]);
            a.finish(r, "Argo");
            match ctx.templates.get(&tname) {
                Some(tpl) => metrics.extend(template_metrics(ctx, &tname, tpl, &BTreeMap::new(), &dry_run, r)),
                None => r.error(
                    file,
                    line,
                    &format!("{key}.templateName"),
                    format!("no AnalysisTemplate {tname:?} in the files given"),
                ),
            }
        }
    }
    s.ignore(&[
        "progressDeadlineSeconds",
        "terminate",
        "scaleDownDelaySeconds",
        "measurementRetention",
    ]);
    s.finish(r, "Argo");
    d.set("strategy = \"canary\"", at(file, doc.line, "Experiment"));
    d.set(
        "rollback_delay = \"0s\"",
        "Argo aborts in the reconcile that sees the Failed analysis",
    );
    d.steps = vec![
        DraftStep {
            weight,
            pause: dur,
            source: at(file, doc.line, "spec.duration"),
        },
        DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: "promotion after the experiment".to_owned(),
        },
    ];
    warn_gates(&metrics, "an experiment's analysis", r);
    analysis_keys(d, &metrics, "rollout", "the experiment's analyses", r);
    checks_of(d, &metrics);
    Some(())
}

fn analysis_run(ctx: &Ctx<'_, '_>, file: &str, doc: &Node, d: &mut Draft, r: &mut Report) -> Option<()> {
    let name = name_of(file, doc, r);
    let mut templates = BTreeMap::new();
    templates.insert(
        name.clone(),
        Template {
            file,
            kind: "AnalysisRun".to_owned(),
            node: doc,
        },
    );
    let local = Ctx {
        templates: &templates,
        opts: ctx.opts,
        used: Default::default(),
    };
    ctx.used.borrow_mut().insert(name.clone());
    r.warn(
        file,
        doc.line,
        "kind",
        "an AnalysisRun alone: its metrics run as background analysis over aviary's default steps (1, 5, 25, 50, 100 %, 10 minutes each)",
    );
    let metrics = template_metrics(&local, &name, &templates[&name], &BTreeMap::new(), &[], r);
    default_rollout(d, &name, file, &metrics, r);
    Some(())
}

fn templates_alone(ctx: &Ctx<'_, '_>, d: &mut Draft, first_file: &str, r: &mut Report) -> Option<()> {
    let Some((first, tpl)) = ctx.templates.iter().next() else {
        r.error(
            first_file,
            0,
            "kind",
            "no Rollout, Experiment, AnalysisRun or AnalysisTemplate in the files given",
        );
        return None;
    };
    let file = tpl.file;
    r.warn(
        file,
        tpl.node.line,
        "kind",
        "templates without a Rollout: their metrics run as background analysis over aviary's default steps (1, 5, 25, 50, 100 %, 10 minutes each)",
    );
    let mut metrics = Vec::new();
    for (name, tpl) in ctx.templates {
        metrics.extend(template_metrics(ctx, name, tpl, &BTreeMap::new(), &[], r));
    }
    default_rollout(d, first, file, &metrics, r);
    Some(())
}

fn default_rollout(d: &mut Draft, name: &str, file: &str, metrics: &[MetricPlan], r: &mut Report) {
    warn_gates(metrics, "background analysis", r);
    d.name = name.to_owned();
    d.description = format!("The analysis {name} from {file}, as background analysis over aviary's default steps.");
    d.set("strategy = \"canary\"", "aviary's default steps");
    d.set(
        "rollback_delay = \"0s\"",
        "Argo aborts in the reconcile that sees the Failed analysis",
    );
    d.steps = [1, 5, 25, 50]
        .into_iter()
        .map(|w| DraftStep {
            weight: w,
            pause: SimDuration::from_secs(600),
            source: "aviary's default steps".to_owned(),
        })
        .chain([DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: "aviary's default steps".to_owned(),
        }])
        .collect();
    analysis_keys(d, metrics, "rollout", "background analysis", r);
    checks_of(d, metrics);
}
