//! Policy files: the release procedure under test. The key reference is
//! `docs/formats.md`; the seed playbook reads:
//!
//! ```toml
//! name = "seed-playbook"
//! strategy = "canary"
//! steps = [ { weight = 1, pause = "10m" }, { weight = 5, pause = "10m" },
//!           { weight = 25, pause = "10m" }, { weight = 50, pause = "10m" }, { weight = 100 } ]
//! [analysis]
//! interval = "1m"
//! failure_limit = 1
//! min_requests = 50
//! checks = [
//!   { metric = "error_rate", max_increase = 0.01 },
//!   { metric = "latency_p95_ms", max_increase = 50 },
//!   { metric = "latency_p99_ms", max_ratio = 1.4 },
//! ]
//! on_failure = "rollback"
//! ```
//!
//! Safety thresholds never default: a policy without `[analysis]`, without
//! checks, or with a check that sets no bound is rejected.

use sim_core::model::{
    Action, AnalysisScope, AnalysisSpec, AnalysisWindow, Bounds, Check, FailureCount, Hotfix, Judge, KayentaMetric,
    Metric, MigrationPhase, MigrationPlan, NoData, OnInconclusive, Paging, PhaseSpec, Policy, Routing, Rule, ScoreSpec,
    Step, Strategy,
};
use sim_core::time::SimDuration;

use crate::reader::{Source, Table};
use crate::scenario::MAX_DURATION;

const MAX_STEPS: usize = sim_core::limits::STEPS_MAX;
const DAY: SimDuration = SimDuration::from_secs(24 * 3600);

/// The top-level keys of a policy file, in the order `parse` reads them.
pub const TOP_KEYS: [&str; 12] = [
    "name",
    "description",
    "strategy",
    "routing",
    "rolling",
    "blue_green",
    "steps",
    "analysis",
    "rollback_delay",
    "paging",
    "hotfix",
    "migration",
];

pub fn parse(src: &mut Source<'_>) -> Option<Policy> {
    let doc = src.parse()?;
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let name = top.req_str(src, "name");
    let description = top.opt_str(src, "description").unwrap_or_default();
    let strategy = strategy(src, &mut top);
    // With an unknown strategy, steps are read but not required or refused.
    let needs_steps = strategy
        .as_ref()
        .map(|s| matches!(s, Strategy::Canary { .. } | Strategy::Flag));
    let steps = steps(src, &mut top, needs_steps);
    // How many steps `analysis.from_step` may name: Some(n) under a canary
    // with n steps, None under another strategy, Err when unknown.
    let step_count = match (&strategy, &steps) {
        (Some(Strategy::Canary { .. }), Some(steps)) => Ok(Some(steps.len())),
        (Some(Strategy::Canary { .. }), None) | (None, _) => Err(()),
        (Some(_), _) => Ok(None),
    };
    let analysis = top
        .req_table(src, "analysis")
        .and_then(|t| analysis(src, t, step_count));
    let rollback_delay = top.opt_duration(src, "rollback_delay", DAY).unwrap_or_default();
    let paging_table = top.opt_table(src, "paging");
    let paging = paging(src, paging_table);
    let hotfix_table = top.opt_table(src, "hotfix");
    let hotfix = hotfix(src, hotfix_table);
    let migration_table = top.opt_table(src, "migration");
    let migration = migration_table.map(|t| migration(src, t));
    top.finish(src);
    let policy = Policy {
        name: name?,
        description,
        strategy: strategy?,
        steps: steps?,
        analysis: analysis?,
        rollback_delay,
        paging: paging?,
        hotfix: hotfix?,
        migration: match migration {
            Some(m) => Some(m?),
            None => None,
        },
    };
    src.diagnostics.is_empty().then_some(policy)
}

/// `strategy` and its own settings (`routing`, `[rolling]`, `[blue_green]`).
fn strategy(src: &mut Source<'_>, top: &mut Table<'_, '_>) -> Option<Strategy> {
    let span = top.span_of("strategy");
    let kind = top.req_str(src, "strategy");
    let routing_span = top.span_of("routing");
    let routing = top.opt_str(src, "routing");
    let rolling = top.opt_table(src, "rolling");
    let blue_green = top.opt_table(src, "blue_green");
    let misplaced = |src: &mut Source<'_>, key: &str, span: std::ops::Range<usize>, kind: &str| {
        src.error(&span, key, format!("only for strategy = \"{kind}\""));
    };
    // Without a known strategy, which of these apply is unknown: the
    // strategy's own error says enough.
    let known = kind.as_deref().filter(|k| Strategy::NAMES.contains(k));
    if known.is_some_and(|k| k != "canary") && routing.is_some() {
        misplaced(src, "routing", routing_span.clone(), "canary");
    }
    if let Some(t) = &rolling
        && known.is_some_and(|k| k != "rolling")
    {
        misplaced(src, "rolling", t.span.clone(), "rolling");
    }
    if let Some(t) = &blue_green
        && known.is_some_and(|k| k != "blue_green")
    {
        misplaced(src, "blue_green", t.span.clone(), "blue_green");
    }
    match kind.as_deref()? {
        "canary" => {
            let routing = match routing.as_deref() {
                None => Routing::Weighted,
                Some(name) => {
                    let Some(routing) = Routing::from_name(name) else {
                        let known = Routing::ALL.map(Routing::name).join(", ");
                        src.error(
                            &routing_span,
                            "routing",
                            format!("unknown routing {name:?} (known: {known})"),
                        );
                        return None;
                    };
                    routing
                }
            };
            Some(Strategy::Canary { routing })
        }
        "big_bang" => Some(Strategy::BigBang),
        "flag" => Some(Strategy::Flag),
        "rolling" => {
            let (max_surge, max_unavailable) = match rolling {
                Some(mut t) => {
                    let surge = t.opt_u64(src, "max_surge", 1, 10_000).unwrap_or(1);
                    let unavailable = t.opt_u64(src, "max_unavailable", 0, 10_000).unwrap_or(0);
                    t.finish(src);
                    (surge as u32, unavailable as u32)
                }
                None => (1, 0),
            };
            Some(Strategy::Rolling {
                max_surge,
                max_unavailable,
            })
        }
        "blue_green" => {
            let Some(mut t) = blue_green else {
                src.error(&span, "blue_green", "strategy = \"blue_green\" needs blue_green = { preview = \"10m\", preview_share = 0.1, keep_old = \"1h\" }");
                return None;
            };
            let preview = t.req_duration(src, "preview", DAY);
            let preview_share = t.opt_f64(src, "preview_share", 0.0, 1.0).unwrap_or(0.0);
            let keep_old = t.req_duration(src, "keep_old", MAX_DURATION);
            t.finish(src);
            Some(Strategy::BlueGreen {
                preview: preview?,
                preview_share,
                keep_old: keep_old?,
            })
        }
        other => {
            src.error(
                &span,
                "strategy",
                format!("unknown strategy {other:?} (known: {})", Strategy::NAMES.join(", ")),
            );
            None
        }
    }
}

fn steps(src: &mut Source<'_>, top: &mut Table<'_, '_>, required: Option<bool>) -> Option<Vec<Step>> {
    let tables = top.opt_tables(src, "steps");
    let Some(tables) = tables else {
        if required == Some(true) && !top.has("steps") {
            let span = top.span.clone();
            src.error(
                &span,
                "steps",
                "missing; expected steps = [ { weight = 1, pause = \"10m\" }, … ]",
            );
            return None;
        }
        return (!top.has("steps")).then(Vec::new);
    };
    if required == Some(false) {
        let span = top.span_of("steps");
        src.error(&span, "steps", "only for strategy = \"canary\" or \"flag\"");
        return None;
    }
    if tables.is_empty() || tables.len() > MAX_STEPS {
        let span = top.span_of("steps");
        src.error(
            &span,
            "steps",
            format!("expected 1 to {MAX_STEPS} steps, found {}", tables.len()),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for mut t in tables {
        let weight = t.req_u64(src, "weight", 0, 100);
        let pause = t.opt_duration(src, "pause", MAX_DURATION);
        let bad_pause = t.has("pause") && pause.is_none();
        t.finish(src);
        match weight {
            Some(w) if !bad_pause => out.push(Step {
                weight: w as u32,
                pause: pause.unwrap_or_default(),
            }),
            _ => ok = false,
        }
    }
    if ok && out.iter().all(|s| s.weight == 0) {
        let span = top.span_of("steps");
        src.error(
            &span,
            "steps",
            "every step has weight 0: the rollout would never move any traffic",
        );
        ok = false;
    }
    ok.then_some(out)
}

/// Reads an action name at `key`.
fn action(
    src: &mut Source<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
    required: bool,
) -> Result<Option<Action>, ()> {
    let span = t.span_of(key);
    let name = if required {
        t.req_str(src, key)
    } else {
        t.opt_str(src, key)
    };
    match name {
        None if t.has(key) || required => Err(()),
        None => Ok(None),
        Some(n) => match Action::from_name(&n) {
            Some(a) => Ok(Some(a)),
            None => {
                src.error(
                    &span,
                    &t.key_path(key),
                    format!(
                        "unknown action {n:?} (known: {})",
                        Action::ALL.map(Action::name).join(", ")
                    ),
                );
                Err(())
            }
        },
    }
}

fn analysis(src: &mut Source<'_>, mut t: Table<'_, '_>, step_count: Result<Option<usize>, ()>) -> Option<AnalysisSpec> {
    let interval = t.req_duration(src, "interval", DAY);
    if interval.is_some_and(|i| i < SimDuration::from_secs(1)) {
        let span = t.span_of("interval");
        src.error(&span, &t.key_path("interval"), "must be at least 1s");
    }
    let failure_limit = t.req_u64(src, "failure_limit", 0, 1_000_000);
    let consecutive = t.opt_bool(src, "consecutive").unwrap_or(false);
    let min_requests = t.req_u64(src, "min_requests", 0, u64::MAX);
    let on_failure = action(src, &mut t, "on_failure", true);
    let after_promotion = t.opt_duration(src, "after_promotion", MAX_DURATION).unwrap_or_default();
    let on_inconclusive = named(
        src,
        &mut t,
        "on_inconclusive",
        &OnInconclusive::ALL,
        OnInconclusive::name,
    )
    .map(|o| o.unwrap_or(OnInconclusive::Continue));
    let inconclusive_limit = t.opt_u64(src, "inconclusive_limit", 0, 1_000_000);
    let scope = named(src, &mut t, "scope", &AnalysisScope::ALL, AnalysisScope::name)
        .map(|o| o.unwrap_or(AnalysisScope::Rollout));
    let count_failures = named(src, &mut t, "count_failures", &FailureCount::ALL, FailureCount::name)
        .map(|o| o.unwrap_or(FailureCount::PerCheck));
    let no_data = named(src, &mut t, "no_data", &NoData::ALL, NoData::name).map(|o| o.unwrap_or(NoData::Inconclusive));
    let delay = t.opt_duration(src, "delay", DAY).unwrap_or_default();
    let from_step = t.opt_u64(src, "from_step", 0, MAX_STEPS as u64 - 1).map(|s| s as usize);
    match (from_step, step_count) {
        (Some(s), Ok(Some(n))) if s >= n => {
            let span = t.span_of("from_step");
            src.error(
                &span,
                &t.key_path("from_step"),
                format!("step {s} does not exist: the policy has {n} steps, numbered from 0"),
            );
        }
        (Some(_), Ok(None)) => {
            let span = t.span_of("from_step");
            src.error(&span, &t.key_path("from_step"), "only for strategy = \"canary\"");
        }
        _ => {}
    }
    let window = t.opt(
        src,
        "window",
        "\"interval\", \"cumulative\" or a duration such as \"30m\"",
        |v| match v.as_str() {
            None => Ok(None),
            Some("interval") => Ok(Some(AnalysisWindow::Interval)),
            Some("cumulative") => Ok(Some(AnalysisWindow::Cumulative)),
            Some(s) => match sim_core::time::parse_duration(s) {
                Ok(d) if d < SimDuration::from_secs(1) => Err("a window must be at least 1s".to_owned()),
                Ok(d) if d > DAY => Err(format!("{d} is longer than the limit of {DAY}")),
                Ok(d) => Ok(Some(AnalysisWindow::Span(d))),
                Err(e) => Err(format!("{e} (or \"interval\", \"cumulative\")")),
            },
        },
    );
    let hold_on_failure = t.opt_bool(src, "hold_on_failure").unwrap_or(false);
    let baseline_offset = t.opt_duration(src, "baseline_offset", DAY).unwrap_or_default();
    let score_table = t.opt_table(src, "score");
    let score = score(src, score_table);
    let scored = t.has("score");
    let checks = checks(src, &mut t, scored);
    if let (Some(Some(score)), Some(checks)) = (&score, &checks)
        && !score.weights.is_empty()
    {
        for c in checks
            .iter()
            .filter(|c| matches!(c.judge(), Some(Judge::MannWhitney { .. })))
        {
            let g = c.group.clone().unwrap_or_else(|| c.metric.name().to_owned());
            if !score.weights.iter().any(|w| w.0 == g) {
                let span = t.span_of("score");
                src.error(
                    &span,
                    &t.key_path("score.weights"),
                    format!("no weight for the group {g:?} of a mann_whitney check"),
                );
            }
        }
    }
    t.finish(src);
    Some(AnalysisSpec {
        interval: interval?,
        failure_limit: failure_limit? as u32,
        consecutive,
        min_requests: min_requests?,
        checks: checks?,
        on_failure: on_failure.ok()??,
        after_promotion,
        score: score?,
        on_inconclusive: on_inconclusive.ok()?,
        inconclusive_limit: inconclusive_limit.map(|l| l as u32),
        scope: scope.ok()?,
        count_failures: count_failures.ok()?,
        no_data: no_data.ok()?,
        delay,
        from_step,
        // A bad value has its diagnostic: the policy is refused.
        window: window.unwrap_or(AnalysisWindow::Interval),
        hold_on_failure,
        baseline_offset,
    })
}

/// An optional key whose value is one of `all`'s names.
fn named<T: Copy>(
    src: &mut Source<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, ()> {
    let Some(v) = t.opt_str(src, key) else {
        return if t.has(key) { Err(()) } else { Ok(None) };
    };
    match all.iter().find(|x| name(**x) == v) {
        Some(x) => Ok(Some(*x)),
        None => {
            let span = t.span_of(key);
            let known: Vec<&str> = all.iter().map(|x| name(*x)).collect();
            src.error(
                &span,
                &t.key_path(key),
                format!("unknown value {v:?} (known: {})", known.join(", ")),
            );
            Err(())
        }
    }
}

fn checks(src: &mut Source<'_>, t: &mut Table<'_, '_>, score: bool) -> Option<Vec<Check>> {
    let Some(tables) = t.opt_tables(src, "checks") else {
        if !t.has("checks") {
            let span = t.span.clone();
            src.error(
                &span,
                &t.key_path("checks"),
                "missing; a policy needs at least one safety check",
            );
        }
        return None;
    };
    if tables.is_empty() {
        // No automated analysis (an imported Rollout without one): every
        // promotion is blind, and the scores say so.
        return Some(Vec::new());
    }
    check_list(src, tables, Context::Analysis { score })
}

/// Where a list of checks sits: the analysis (with or without a score), or
/// a migration phase's gates.
#[derive(Clone, Copy)]
enum Context {
    Analysis { score: bool },
    Gates,
}

/// Reads checks (or gates): each a metric and a judge with its keys (the
/// threshold judge's are the bounds, at least one of them).
fn check_list(src: &mut Source<'_>, tables: Vec<Table<'_, '_>>, context: Context) -> Option<Vec<Check>> {
    let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let mut out = Vec::new();
    let mut ok = true;
    for mut c in tables {
        let metric_span = c.span_of("metric");
        let metric = c.req_str(src, "metric").and_then(|name| {
            let m = Metric::from_name(&name);
            if m.is_none() {
                src.error(
                    &metric_span,
                    &c.key_path("metric"),
                    format!("unknown metric {name:?} (known: {})", known.join(", ")),
                );
            }
            m
        });
        let on_failure = action(src, &mut c, "on_failure", false);
        let judged = judge(src, &mut c, metric, context);
        c.finish(src);
        match (metric, on_failure, judged) {
            (Some(metric), Ok(on_failure), Some(j)) => out.push(Check {
                metric,
                rule: j.rule,
                on_failure,
                group: j.group,
                critical: j.critical,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn paging(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Paging> {
    let default = Paging {
        ack_median: SimDuration::from_secs(300),
        ack_p90: SimDuration::from_secs(1200),
        diagnose: SimDuration::from_secs(600),
        then: Action::Rollback,
    };
    let Some(mut t) = t else { return Some(default) };
    let ack_median = t.opt_duration(src, "ack_median", DAY).unwrap_or(default.ack_median);
    let ack_p90 = t.opt_duration(src, "ack_p90", DAY).unwrap_or(default.ack_p90);
    let diagnose = t.opt_duration(src, "diagnose", DAY).unwrap_or(default.diagnose);
    let then = action(src, &mut t, "then", false);
    if ack_p90 < ack_median {
        let span = t.span_of("ack_p90");
        src.error(
            &span,
            &t.key_path("ack_p90"),
            format!("{ack_p90} is below ack_median ({ack_median})"),
        );
    }
    if let Ok(Some(Action::Page)) = then {
        let span = t.span_of("then");
        src.error(
            &span,
            &t.key_path("then"),
            "a paged human cannot page again; choose rollback, hold, kill_switch or hotfix",
        );
    }
    t.finish(src);
    Some(Paging {
        ack_median,
        ack_p90,
        diagnose,
        then: then.ok()?.unwrap_or(default.then),
    })
}

fn hotfix(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Hotfix> {
    let default = Hotfix {
        build: SimDuration::from_secs(1800),
        hold_weight: 1,
    };
    let Some(mut t) = t else { return Some(default) };
    let build = t.opt_duration(src, "build", MAX_DURATION).unwrap_or(default.build);
    let hold_weight = t
        .opt_u64(src, "hold_weight", 0, 100)
        .map_or(default.hold_weight, |w| w as u32);
    t.finish(src);
    Some(Hotfix { build, hold_weight })
}

fn migration(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<MigrationPlan> {
    let phases = match t.opt_tables(src, "phases") {
        None => {
            let span = t.span.clone();
            src.error(
                &span,
                &t.key_path("phases"),
                "missing; expected phases = [ { phase = \"expand\" }, … ]",
            );
            None
        }
        Some(tables) if tables.is_empty() => {
            let span = t.span.clone();
            src.error(&span, &t.key_path("phases"), "empty");
            None
        }
        Some(tables) => {
            let known: Vec<&str> = MigrationPhase::ALL.iter().map(|p| p.name()).collect();
            let mut out = Vec::new();
            // Each phase named so far, with its 1-based place in the list.
            let mut seen: Vec<(MigrationPhase, usize)> = Vec::new();
            let mut ok = true;
            for (i, mut p) in tables.into_iter().enumerate() {
                let span = p.span_of("phase");
                let phase = p.req_str(src, "phase").and_then(|name| {
                    let ph = MigrationPhase::from_name(&name);
                    if ph.is_none() {
                        src.error(
                            &span,
                            &p.key_path("phase"),
                            format!("unknown phase {name:?} (known: {})", known.join(", ")),
                        );
                    }
                    ph
                });
                let duration = p
                    .opt_duration(src, "duration", MAX_DURATION)
                    .unwrap_or(SimDuration::from_secs(60));
                let wait = p.opt_duration(src, "wait", MAX_DURATION).unwrap_or_default();
                let stable_for = p.opt_duration(src, "stable_for", MAX_DURATION).unwrap_or_default();
                let gates = p
                    .opt_tables(src, "gates")
                    .map_or(Some(Vec::new()), |g| check_list(src, g, Context::Gates));
                // The world keeps one record per phase (when the backfill
                // began and ended, …): a plan runs each phase once.
                if let Some(ph) = phase {
                    if let Some(&(_, first)) = seen.iter().find(|(s, _)| *s == ph) {
                        src.error(
                            &span,
                            &p.key_path("phase"),
                            format!(
                                "phase {:?} is already phases[{first}]; a plan runs each phase once",
                                ph.name()
                            ),
                        );
                        ok = false;
                    }
                    seen.push((ph, i + 1));
                }
                p.finish(src);
                match (phase, gates) {
                    (Some(phase), Some(gates)) => out.push(PhaseSpec {
                        phase,
                        duration,
                        wait,
                        stable_for,
                        gates,
                    }),
                    _ => ok = false,
                }
            }
            // The app rollout (the strategy and steps) runs in the dual
            // write: a plan without one would never roll the app out.
            if ok && !out.iter().any(|p| p.phase == MigrationPhase::DualWrite) {
                let span = t.span_of("phases");
                src.error(
                    &span,
                    &t.key_path("phases"),
                    "no dual_write phase: the app rollout (the strategy and steps) runs in it, so without one \
                     the app would never be rolled out",
                );
                ok = false;
            }
            ok.then_some(out)
        }
    };
    let batch_size = t.opt_u64(src, "batch_size", 1, 1_000_000_000).unwrap_or(10_000);
    let batches_per_s = t.opt_f64(src, "batches_per_s", 0.000_001, 1e6).unwrap_or(1.0);
    let max_retries = t.opt_u64(src, "max_retries", 0, 1000).unwrap_or(3) as u32;
    let (restore_rows_per_s, restore_base) = match t.opt_table(src, "restore") {
        Some(mut r) => {
            let rows = r.opt_f64(src, "rows_per_s", 0.001, 1e12);
            let base = r
                .opt_duration(src, "base", MAX_DURATION)
                .unwrap_or(SimDuration::from_secs(1200));
            r.finish(src);
            (rows, base)
        }
        None => (None, SimDuration::from_secs(1200)),
    };
    t.finish(src);
    Some(MigrationPlan {
        phases: phases?,
        batch_size,
        batches_per_s,
        max_retries,
        restore_rows_per_s,
        restore_base,
    })
}

/// The bounds of a threshold check, in the order of [`Check`]'s fields.
const BOUNDS: [&str; 6] = ["max", "max_increase", "max_ratio", "min", "max_decrease", "min_ratio"];

/// The keys of a check that belong to the judge `name` (every check also
/// takes `metric`, `judge` and `on_failure`); any other judge's key is an
/// error, never silently dropped.
fn judge_keys(name: &str) -> &'static [&'static str] {
    match name {
        "threshold" => &BOUNDS,
        "z_test" => &["alpha"],
        "sequential" => &["alpha", "concentration"],
        "cusum" => &["k", "h"],
        "ewma" => &["lambda", "limit"],
        "sprt" => &["delta", "alpha", "beta"],
        "mann_whitney" => &[
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
        "inconclusive" => &[],
        _ => &[],
    }
}

/// Every key some judge takes.
fn all_judge_keys() -> impl Iterator<Item = &'static str> {
    Rule::NAMES.into_iter().flat_map(judge_keys).copied()
}

/// A check's judge and what its keys set.
struct Judged {
    rule: Rule,
    /// Only Mann-Whitney checks set them (the score reads them).
    group: Option<String>,
    critical: bool,
}

/// A check's `judge` and its keys. A statistical judge's parameters are its
/// safety threshold: they are required, never defaulted (but for the
/// sequential test's prior concentration and the Mann-Whitney tolerance).
/// A key of another judge is reported, in file order.
fn judge(src: &mut Source<'_>, c: &mut Table<'_, '_>, metric: Option<Metric>, context: Context) -> Option<Judged> {
    let span = c.span_of("judge");
    let name = match c.opt_str(src, "judge") {
        None if c.has("judge") => None,
        None => Some("threshold"),
        Some(other) => {
            let name = Rule::NAMES.into_iter().find(|n| *n == other);
            if name.is_none() {
                src.error(
                    &span,
                    &c.key_path("judge"),
                    format!("unknown judge {other:?} (known: {})", Rule::NAMES.join(", ")),
                );
            }
            name
        }
    };
    let Some(name) = name else {
        // Which keys apply is unknown: the judge's own error says enough.
        all_judge_keys().for_each(|k| c.handled(k));
        return None;
    };
    if matches!(context, Context::Gates) && name != "threshold" {
        // A gate passes or holds the plan on bounds; no statistical judge runs there.
        src.error(
            &span,
            &c.key_path("judge"),
            format!("a migration gate takes bounds only (judge = \"threshold\"), not '{name}'"),
        );
        all_judge_keys().for_each(|k| c.handled(k));
        return None;
    }
    let own = judge_keys(name);
    let foreign: Vec<&'static str> = c
        .keys()
        .into_iter()
        .filter_map(|key| all_judge_keys().find(|k| *k == key && !own.contains(k)))
        .collect();
    for key in foreign {
        src.error(
            &c.span_of(key),
            &c.key_path(key),
            format!("does not apply to judge '{name}' (its keys: {})", own.join(", ")),
        );
        c.handled(key);
    }
    let p =
        |c: &mut Table<'_, '_>, src: &mut Source<'_>, key: &'static str, lo: f64, hi: f64| c.req_f64(src, key, lo, hi);
    let (mut group, mut critical) = (None, false);
    let judge = match name {
        "inconclusive" => {
            return Some(Judged {
                rule: Rule::Unmapped,
                group,
                critical,
            });
        }
        "threshold" => {
            let [max, max_increase, max_ratio, min, max_decrease, min_ratio] = threshold_bounds(src, c, metric)?;
            return Some(Judged {
                rule: Rule::Bounds(Bounds {
                    max,
                    max_increase,
                    max_ratio,
                    min,
                    max_decrease,
                    min_ratio,
                }),
                group,
                critical,
            });
        }
        "z_test" => p(c, src, "alpha", 1e-9, 0.5).map(|alpha| Judge::ZTest { alpha })?,
        "sequential" => {
            let alpha = p(c, src, "alpha", 1e-9, 0.5);
            let concentration = c.opt_f64(src, "concentration", 1e-6, 1e9).unwrap_or(100.0);
            alpha.map(|alpha| Judge::Sequential { concentration, alpha })?
        }
        "cusum" => match (p(c, src, "k", 0.0, 100.0), p(c, src, "h", 1e-9, 1000.0)) {
            (Some(k), Some(h)) => Judge::Cusum { k, h },
            _ => return None,
        },
        "ewma" => match (p(c, src, "lambda", 1e-9, 1.0), p(c, src, "limit", 1e-9, 100.0)) {
            (Some(lambda), Some(limit)) => Judge::Ewma { lambda, limit },
            _ => return None,
        },
        "sprt" => match (
            p(c, src, "delta", 1e-9, 100.0),
            p(c, src, "alpha", 1e-9, 0.5),
            p(c, src, "beta", 1e-9, 0.5),
        ) {
            (Some(delta), Some(alpha), Some(beta)) => Judge::Sprt { delta, alpha, beta },
            _ => return None,
        },
        "mann_whitney" => {
            let confidence = p(c, src, "confidence", 0.5, 0.999_999);
            let tolerance = c.opt_f64(src, "tolerance", 0.0, 100.0).unwrap_or(0.25);
            group = c.opt_str(src, "group");
            critical = c.opt_bool(src, "critical").unwrap_or(false);
            if let Context::Analysis { score: false } = context {
                for key in ["group", "critical"].into_iter().filter(|k| c.has(k)) {
                    src.error(
                        &c.span_of(key),
                        &c.key_path(key),
                        "only the score reads it: set analysis.score = { pass = …, marginal = … }",
                    );
                }
            }
            let kayenta = kayenta_metric(src, c)?;
            confidence.map(|confidence| Judge::MannWhitney {
                confidence,
                tolerance,
                kayenta,
            })?
        }
        other => unreachable!("judge {other:?} is in Rule::NAMES but has no reader here"),
    };
    let latency = metric.is_some_and(|m| m.quantile().is_some());
    let rate = matches!(metric, Some(Metric::ErrorRate | Metric::ConversionRate));
    let sequential = matches!(judge, Judge::Sequential { .. });
    if let Some(m) = metric
        && judge.needs_rate()
        && !rate
        && !(sequential && latency)
    {
        let also = if sequential { ", or a latency metric" } else { "" };
        src.error(
            &span,
            &c.key_path("judge"),
            format!(
                "the {} judge reads event counts: use it on error_rate or conversion_rate{also}, not {}",
                judge.name(),
                m.name()
            ),
        );
        return None;
    }
    if sequential && metric == Some(Metric::ConversionRate) {
        src.error(
            &span,
            &c.key_path("judge"),
            "the sequential judge watches error_rate or a latency metric",
        );
        return None;
    }
    Some(Judged {
        rule: Rule::Judge(judge),
        group,
        critical,
    })
}

/// Why a bound on `metric` could never fail, or would fail every
/// measurement, if it is one: a check that only looks like a check.
/// Every metric is never negative; a fraction is never above 1.
fn impossible_bound(metric: Metric, key: &str, x: f64) -> Option<String> {
    let name = metric.name();
    match key {
        "max" if x < 0.0 => Some(format!("{name} is never negative: max = {x} fails every measurement")),
        "min" if x < 0.0 => Some(format!("{name} is never negative: min = {x} can never fail")),
        "max" | "min" if metric.is_fraction() && x > 1.0 => Some(format!(
            "{name} is a fraction in 0..=1, so {key} = {x} {}; for 5 % write 0.05",
            if key == "max" {
                "can never fail"
            } else {
                "fails every measurement"
            }
        )),
        "max_increase" | "max_decrease" if metric.is_fraction() && !(-1.0..=1.0).contains(&x) => Some(format!(
            "{name} is a fraction in 0..=1, so a change of it lies in -1..=1 and {key} = {x} {}; for 5 points \
             write 0.05",
            if x > 1.0 {
                "can never fail"
            } else {
                "fails every measurement"
            }
        )),
        "max_ratio" if x == 0.0 => Some("a ratio bound of 0 fails every measurement above 0".to_owned()),
        "min_ratio" if x == 0.0 => Some("a ratio bound of 0 can never fail".to_owned()),
        _ => None,
    }
}

/// The bounds of a threshold check: at least one, each a number, none
/// that could never fail or must always fail on `metric`.
fn threshold_bounds(src: &mut Source<'_>, c: &mut Table<'_, '_>, metric: Option<Metric>) -> Option<[Option<f64>; 6]> {
    let bounds = [
        c.opt_f64(src, "max", f64::MIN, f64::MAX),
        c.opt_f64(src, "max_increase", f64::MIN, f64::MAX),
        c.opt_f64(src, "max_ratio", 0.0, f64::MAX),
        c.opt_f64(src, "min", f64::MIN, f64::MAX),
        c.opt_f64(src, "max_decrease", f64::MIN, f64::MAX),
        c.opt_f64(src, "min_ratio", 0.0, f64::MAX),
    ];
    if !BOUNDS.iter().any(|b| c.has(b)) {
        let span = c.span.clone();
        src.error(
            &span,
            &c.key_path("max"),
            format!("missing safety threshold: set one of {}", BOUNDS.join(", ")),
        );
        return None;
    }
    let mut bad = BOUNDS.iter().zip(bounds).any(|(b, v)| c.has(b) && v.is_none());
    for (key, x) in BOUNDS.iter().zip(bounds) {
        if let (Some(m), Some(x)) = (metric, x)
            && let Some(why) = impossible_bound(m, key, x)
        {
            src.error(&c.span_of(key), &c.key_path(key), why);
            bad = true;
        }
    }
    (!bad).then_some(bounds)
}

fn score(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Option<ScoreSpec>> {
    let Some(mut t) = t else { return Some(None) };
    let pass = t.req_f64(src, "pass", 0.0, 100.0);
    let marginal = t.req_f64(src, "marginal", 0.0, 100.0);
    let weights = t.opt_number_map(src, "weights", 0.0, 1e6).unwrap_or_default();
    let fail_at_marginal = t.opt_bool(src, "fail_at_marginal").unwrap_or(false);
    let last_must_pass = t.opt_bool(src, "last_must_pass").unwrap_or(false);
    let span = t.span.clone();
    let path = t.path.clone();
    if !weights.is_empty() && weights.iter().all(|(_, w)| *w == 0.0) {
        let span = t.span_of("weights");
        src.error(
            &span,
            &t.key_path("weights"),
            "every weight is 0: the score, a weighted mean, would be 0 / 0",
        );
        t.finish(src);
        return None;
    }
    t.finish(src);
    let (pass, marginal) = (pass?, marginal?);
    if marginal > pass {
        src.error(&span, &path, format!("marginal ({marginal}) is above pass ({pass})"));
        return None;
    }
    Some(Some(ScoreSpec {
        pass,
        marginal,
        weights,
        fail_at_marginal,
        last_must_pass,
    }))
}

/// A Mann-Whitney check's Kayenta settings (`analysisConfigurations.canary`).
fn kayenta_metric(src: &mut Source<'_>, c: &mut Table<'_, '_>) -> Option<KayentaMetric> {
    use sim_core::judges::mann_whitney::{Direction, EffectSizeMeasure, NanStrategy};
    let mut k = KayentaMetric::default();
    let mut ok = true;
    let mut pick = |src: &mut Source<'_>, c: &mut Table<'_, '_>, key: &'static str, names: &[&str]| -> Option<usize> {
        let span = c.span_of(key);
        let v = c.opt_str(src, key)?;
        let found = names.iter().position(|n| *n == v);
        if found.is_none() {
            src.error(
                &span,
                &c.key_path(key),
                format!("unknown value {v:?} (known: {})", names.join(", ")),
            );
            ok = false;
        }
        found
    };
    if let Some(i) = pick(src, c, "direction", &["increase", "decrease", "either"]) {
        k.direction = Some([Direction::Increase, Direction::Decrease, Direction::Either][i]);
    }
    if let Some(i) = pick(src, c, "effect_size", &["mean_ratio", "cles"]) {
        k.effect_size = [EffectSizeMeasure::MeanRatio, EffectSizeMeasure::Cles][i];
    }
    if let Some(i) = pick(src, c, "nan_strategy", &["remove", "replace"]) {
        k.nan_strategy = [NanStrategy::Remove, NanStrategy::Replace][i];
    }
    if let Some(i) = pick(src, c, "outliers", &["keep", "remove"]) {
        k.remove_outliers = i == 1;
    }
    for (key, slot) in [
        ("allowed_increase", &mut k.allowed_increase),
        ("allowed_decrease", &mut k.allowed_decrease),
        ("critical_increase", &mut k.critical_increase),
        ("critical_decrease", &mut k.critical_decrease),
    ] {
        *slot = c.opt_f64(src, key, 0.0, 1e9);
        ok &= !c.has(key) || slot.is_some();
    }
    if c.has("outlier_factor") {
        k.outlier_factor = c.opt_f64(src, "outlier_factor", 1e-9, 1e9)?;
    }
    k.must_have_data = c.opt_bool(src, "must_have_data").unwrap_or(false);
    ok.then_some(k)
}
