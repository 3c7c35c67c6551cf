//! Policy files: the release procedure under test.
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

use sim_core::model::{Analysis, Check, Metric, OnFailure, Policy, Step, Strategy};
use sim_core::time::SimDuration;

use crate::reader::{Source, Table};
use crate::scenario::MAX_DURATION;

const MAX_STEPS: usize = 1000;

pub fn parse(src: &mut Source<'_>) -> Option<Policy> {
    let doc = src.parse()?;
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let name = top.req_str(src, "name");
    let description = top.opt_str(src, "description").unwrap_or_default();
    let strategy = match top.req_str(src, "strategy").as_deref() {
        Some("canary") => Some(Strategy::Canary),
        Some(other) => {
            let span = top.span_of("strategy");
            src.error(
                &span,
                "strategy",
                format!("unknown strategy {other:?} (known: canary)"),
            );
            None
        }
        None => None,
    };
    let steps = steps(src, &mut top);
    let analysis = top
        .req_table(src, "analysis")
        .and_then(|t| analysis(src, t));
    let rollback_delay = top
        .opt_duration(src, "rollback_delay", SimDuration::from_secs(24 * 3600))
        .unwrap_or_default();
    top.finish(src);
    let policy = Policy {
        name: name?,
        description,
        strategy: strategy?,
        steps: steps?,
        analysis: analysis?,
        rollback_delay,
    };
    src.diagnostics.is_empty().then_some(policy)
}

fn steps(src: &mut Source<'_>, top: &mut Table<'_, '_>) -> Option<Vec<Step>> {
    let tables = top.opt_tables(src, "steps");
    let Some(tables) = tables else {
        if !top.has("steps") {
            let span = top.span.clone();
            src.error(
                &span,
                "steps",
                "missing; expected steps = [ { weight = 1, pause = \"10m\" }, … ]",
            );
        }
        return None;
    };
    if tables.is_empty() || tables.len() > MAX_STEPS {
        let span = top.span.clone();
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
    ok.then_some(out)
}

fn analysis(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Analysis> {
    let interval = t.req_duration(src, "interval", SimDuration::from_secs(24 * 3600));
    if interval.is_some_and(|i| i < SimDuration::from_secs(1)) {
        let span = t.span_of("interval");
        src.error(&span, &t.key_path("interval"), "must be at least 1s");
    }
    let failure_limit = t.req_u64(src, "failure_limit", 0, 1_000_000);
    let consecutive = t.opt_bool(src, "consecutive").unwrap_or(false);
    let min_requests = t.req_u64(src, "min_requests", 0, u64::MAX);
    let on_failure = match t.req_str(src, "on_failure").as_deref() {
        Some("rollback") => Some(OnFailure::Rollback),
        Some("hold") => Some(OnFailure::Hold),
        Some(other) => {
            let span = t.span_of("on_failure");
            src.error(
                &span,
                &t.key_path("on_failure"),
                format!("unknown action {other:?} (known: rollback, hold)"),
            );
            None
        }
        None => None,
    };
    let checks = checks(src, &mut t);
    t.finish(src);
    Some(Analysis {
        interval: interval?,
        failure_limit: failure_limit? as u32,
        consecutive,
        min_requests: min_requests?,
        checks: checks?,
        on_failure: on_failure?,
    })
}

fn checks(src: &mut Source<'_>, t: &mut Table<'_, '_>) -> Option<Vec<Check>> {
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
        let span = t.span.clone();
        src.error(
            &span,
            &t.key_path("checks"),
            "empty; a policy needs at least one safety check",
        );
        return None;
    }
    let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let mut out = Vec::new();
    let mut ok = true;
    for mut c in tables {
        let span = c.span.clone();
        let metric = c.req_str(src, "metric").and_then(|name| {
            let m = Metric::from_name(&name);
            if m.is_none() {
                src.error(
                    &span,
                    &c.key_path("metric"),
                    format!("unknown metric {name:?} (known: {})", known.join(", ")),
                );
            }
            m
        });
        let max = c.opt_f64(src, "max", 0.0, f64::MAX);
        let max_increase = c.opt_f64(src, "max_increase", f64::MIN, f64::MAX);
        let max_ratio = c.opt_f64(src, "max_ratio", 0.0, f64::MAX);
        let bounds = ["max", "max_increase", "max_ratio"];
        if !bounds.iter().any(|b| c.has(b)) {
            src.error(
                &span,
                &c.key_path("max"),
                "missing safety threshold: set max, max_increase or max_ratio",
            );
            ok = false;
        }
        let bad = bounds
            .iter()
            .zip([max, max_increase, max_ratio])
            .any(|(b, v)| c.has(b) && v.is_none());
        c.finish(src);
        match metric {
            Some(metric) if !bad => out.push(Check {
                metric,
                max,
                max_increase,
                max_ratio,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}
