//! Checks of a scenario × policy pair before anything runs: what neither
//! file shows alone.
//!
//! - The run's estimated event count (scrapes, analyses, noise redraws)
//!   against [`crate::limits::EVENTS_PER_RUN_MAX`]: a pair over the budget
//!   would only ever end `truncated`, so it is an error.
//! - Each weighted step's expected canary requests per analysis interval
//!   against `min_requests`: below it every analysis of the step is
//!   inconclusive, so the step is passed blind (a warning).

use crate::limits::EVENTS_PER_RUN_MAX;
use crate::model::{Policy, Scenario, Strategy};
use crate::time::SimDuration;

/// Which file a finding concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Scenario,
    Policy,
}

/// One problem of a pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// An error stops the pair from running; a warning does not.
    pub error: bool,
    pub side: Side,
    /// The dotted key the finding is about.
    pub key: String,
    pub message: String,
}

fn per_horizon(duration: SimDuration, every: SimDuration) -> u64 {
    duration.ms() / every.ms().max(1) + 1
}

/// Every finding of the pair, errors first.
pub fn check(sc: &Scenario, policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let scrapes = per_horizon(sc.duration, sc.monitoring.scrape_interval);
    let analyses = per_horizon(sc.duration, policy.analysis.interval);
    let noise = sc.noise.as_ref().map_or(0, |n| per_horizon(sc.duration, n.period));
    // Steps and migration phases add a few events each (a start, an end, a
    // wake-up); a phase's gates are evaluated on the analysis ticks already
    // counted, and a backfill is one event however many batches it runs.
    let phases = policy.migration.as_ref().map_or(0, |m| m.phases.len() as u64);
    let estimate = scrapes + analyses + noise + 2 * policy.steps.len() as u64 + 3 * phases;
    if estimate > EVENTS_PER_RUN_MAX {
        let (side, key) = if scrapes >= analyses {
            (Side::Scenario, "monitoring.scrape_interval")
        } else {
            (Side::Policy, "analysis.interval")
        };
        out.push(Finding {
            error: true,
            side,
            key: key.to_owned(),
            message: format!(
                "with {} this pair needs about {estimate} events per run ({scrapes} scrapes, {analyses} analyses, \
                 {noise} noise redraws over {}); the budget is {EVENTS_PER_RUN_MAX}: lengthen the interval or \
                 shorten the horizon",
                policy.name, sc.duration
            ),
        });
    }
    let weighted = matches!(
        policy.strategy,
        Strategy::Canary { .. } | Strategy::Rolling { .. } | Strategy::Flag
    );
    if weighted && !policy.analysis.checks.iter().all(|c| c.metric.is_gauge()) {
        let interval = policy.analysis.interval;
        for (i, step) in policy.steps.iter().enumerate() {
            if step.weight == 0 || step.weight >= 100 {
                continue;
            }
            let expected = sc.traffic.rps * f64::from(step.weight) / 100.0 * interval.as_secs_f64();
            if expected < policy.analysis.min_requests as f64 {
                out.push(Finding {
                    error: false,
                    side: Side::Policy,
                    // 1-based, as every diagnostic names an array element.
                    key: format!("steps[{}]", i + 1),
                    message: format!(
                        "step {} ({} %) sees about {} canary requests per {interval} interval in {} ({} rps; \
                         min_requests = {}); every analysis there is inconclusive",
                        i + 1,
                        step.weight,
                        expected.round() as u64,
                        sc.name,
                        sc.traffic.rps,
                        policy.analysis.min_requests
                    ),
                });
            }
        }
    }
    out
}

/// The per-request engine's own check: a scenario whose expected requests
/// over the horizon exceed [`crate::limits::PER_REQUEST_REQUESTS_MAX`] is
/// an error naming the figure (the aggregated engine's cost does not grow
/// with the request count; the reference engine's does).
pub fn check_per_request(sc: &Scenario) -> Option<Finding> {
    use crate::limits::PER_REQUEST_REQUESTS_MAX;
    let horizon = crate::time::SimTime::ZERO + sc.duration;
    let expected = crate::traffic::expected_between(&sc.traffic, crate::time::SimTime::ZERO, horizon);
    (expected > PER_REQUEST_REQUESTS_MAX).then(|| Finding {
        error: true,
        side: Side::Scenario,
        key: "traffic.rps".to_owned(),
        message: format!(
            "the per-request engine would serve about {:.0} requests per run of {} ({} rps over {}); its limit is \
             {PER_REQUEST_REQUESTS_MAX:.0}: lower the rate or shorten the horizon for the comparison",
            expected, sc.name, sc.traffic.rps, sc.duration
        ),
    })
}
