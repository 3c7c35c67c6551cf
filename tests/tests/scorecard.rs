//! The scorecard of the whole built-in catalog under every preset, pinned.
//!
//! Every scenario × every preset, 4 seeds of master seed 1: one line per
//! pair with the aggregate figures a user reads (outcomes, detection,
//! false alarms, escapes, blast radius, time to ship, data lost) and the
//! request totals behind them. Any change to the engine that moves a
//! figure shows up here as a diff; a change that should move figures (a
//! model fix, a new random-stream layout) re-records the snapshot in its own
//! commit and says why. The test is exact, so it cannot fail by chance.

use sim_core::batch::{GroupSummary, MeanCi, Pair, Spread, run_batch, summarise};
use sim_core::score::RunResult;

const SEEDS: u64 = 4;

fn spread(s: Option<Spread>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| format!("{:.1}/{:.1}", s.median, s.p90))
}

fn mean(m: MeanCi) -> String {
    format!("{:.6}", m.mean)
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.4}"))
}

fn line(g: &GroupSummary, runs: &[RunResult]) -> String {
    let requests: u64 = runs.iter().map(RunResult::requests_total).sum();
    let candidate: u64 = runs.iter().map(|r| r.candidate.requests).sum();
    let failed: u64 = runs.iter().map(RunResult::failed_requests_total).sum();
    let records_lost = g
        .migration
        .as_ref()
        .map_or_else(|| "-".to_owned(), |m| mean(m.records_lost));
    format!(
        "{} × {}: outcomes {:?} fault_runs {} detected {} false_alarms {} escapes {} \
         rates {}/{}/{} detect {} mitigate {} failed {} slow {} users {} conv {} sessions {} \
         budget {} inst_h {} lost {} ship {} requests {} candidate {} failed_all {}",
        g.scenario,
        g.policy,
        g.outcomes,
        g.fault_runs,
        g.detected,
        g.false_alarms,
        g.escapes,
        rate(g.detection_rate),
        rate(g.false_alarm_rate),
        rate(g.escape_rate),
        spread(g.detection_time_s),
        spread(g.time_to_mitigate_s),
        mean(g.failed_requests),
        mean(g.slow_requests),
        mean(g.users_affected),
        mean(g.lost_conversions),
        mean(g.inconsistent_sessions),
        mean(g.error_budget_consumed),
        mean(g.extra_instance_hours),
        records_lost,
        spread(g.rollout_duration_s),
        requests,
        candidate,
        failed,
    )
}

#[test]
fn scorecard_of_the_catalog_under_every_preset() {
    let scenarios: Vec<_> = scenarios::catalog::SCENARIOS
        .iter()
        .map(|b| scenarios::load_scenario(b.name).expect("built-in scenario loads"))
        .collect();
    let policies: Vec<_> = scenarios::catalog::POLICIES
        .iter()
        .map(|b| scenarios::load_policy(b.name).expect("built-in policy loads"))
        .collect();
    let pairs: Vec<Pair<'_>> = scenarios
        .iter()
        .flat_map(|s| policies.iter().map(move |p| Pair { scenario: s, policy: p }))
        .collect();
    let groups = run_batch(&pairs, SEEDS, 1, &|| {});
    let text: Vec<String> = groups.iter().map(|runs| line(&summarise(runs), runs)).collect();
    insta::assert_snapshot!(text.join("\n"));
}
