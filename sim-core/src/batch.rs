//! Batches: many runs of scenario × policy pairs, in parallel across runs,
//! and their aggregation.
//!
//! Parallelism is only across runs: rayon maps over (pair, run index), the
//! results are collected in that order, and every sum, mean and percentile
//! is computed afterwards, sequentially. The bytes of a batch's results
//! therefore do not depend on the thread count.

use rayon::prelude::*;

use crate::engine::{Discard, Engine, run_on};
use crate::model::{Action, Policy, Scenario};
use crate::score::{Outcome, RunResult};
use crate::stats::{BOOTSTRAP_RESAMPLES, bootstrap_mean_ci95, bootstrap_plan, quantile, ratio, wilson_ci95};

/// One scenario × policy pair of a batch.
#[derive(Clone, Copy)]
pub struct Pair<'a> {
    pub scenario: &'a Scenario,
    pub policy: &'a Policy,
}

/// Runs `runs` seeds of every pair; `progress` is told of each finished run.
/// Results come back grouped by pair, in run-index order.
pub fn run_batch(pairs: &[Pair<'_>], runs: u64, master_seed: u64, progress: &(dyn Fn() + Sync)) -> Vec<Vec<RunResult>> {
    run_batch_on(Engine::Aggregated, pairs, runs, master_seed, progress)
}

/// [`run_batch`] on the given engine.
pub fn run_batch_on(
    engine: Engine,
    pairs: &[Pair<'_>],
    runs: u64,
    master_seed: u64,
    progress: &(dyn Fn() + Sync),
) -> Vec<Vec<RunResult>> {
    let mut grouped: Vec<Vec<RunResult>> = pairs.iter().map(|_| Vec::with_capacity(runs as usize)).collect();
    for (p, result) in run_jobs(engine, pairs, runs, master_seed, 0..pairs.len() as u64 * runs, progress) {
        grouped[p].push(result);
    }
    grouped
}

/// The jobs `jobs` of a batch, in parallel on the current rayon pool, in
/// job order: job `j` is run `j % runs` of pair `j / runs`, so a batch
/// split into consecutive ranges (a streamed batch's blocks) gives the same
/// runs in the same order as one range, whatever the thread count.
pub fn run_jobs(
    engine: Engine,
    pairs: &[Pair<'_>],
    runs: u64,
    master_seed: u64,
    jobs: std::ops::Range<u64>,
    progress: &(dyn Fn() + Sync),
) -> Vec<(usize, RunResult)> {
    jobs.into_par_iter()
        .map(|job| {
            let (p, r) = ((job / runs) as usize, job % runs);
            let result = run_on(engine, pairs[p].scenario, pairs[p].policy, master_seed, r, &mut Discard);
            progress();
            (p, result)
        })
        .collect()
}

/// Mean with a 95 % percentile-bootstrap interval (seeded, deterministic;
/// inside the data's support).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    pub ci95: [f64; 2],
}

/// Median and 90th percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
}

/// The aggregate of one scenario × policy pair.
///
/// Runs are classified by ground truth, not by the scenario: a run in which
/// the release harmed someone (a fault, the candidate's regression, a schema
/// change that fails requests, a backfill that overloads the database) is a
/// fault run. Every group reports all three rates.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSummary {
    pub scenario: String,
    pub policy: String,
    pub runs: usize,
    /// The scenario's release holds no fault (its runs can still harm, e.g.
    /// through a schema change).
    pub healthy: bool,
    /// Runs per outcome, in `Outcome::ALL` order.
    pub outcomes: [usize; 7],
    /// Runs in which the release harmed or put at risk at least one request.
    pub fault_runs: usize,
    /// Fault runs with a decision taken on data that held harmed requests.
    pub detected: usize,
    /// Runs whose first decision came before monitoring showed any harm.
    pub false_alarms: usize,
    /// Fault runs promoted to 100 % (and not fixed on the way).
    pub escapes: usize,
    /// Detected / fault runs; `None` without fault runs.
    pub detection_rate: Option<f64>,
    /// False alarms / runs, in every group.
    pub false_alarm_rate: Option<f64>,
    /// Escapes / fault runs; `None` without fault runs.
    pub escape_rate: Option<f64>,
    /// Wilson 95 % intervals of the three rates.
    pub detection_rate_ci95: Option<[f64; 2]>,
    pub false_alarm_rate_ci95: Option<[f64; 2]>,
    pub escape_rate_ci95: Option<[f64; 2]>,
    /// Runs that passed at least one step on analyses that were all
    /// inconclusive, and reached 100 %.
    pub blind_promotions: usize,
    /// Blind promotions / runs.
    pub blind_promotion_rate: Option<f64>,
    pub detection_time_s: Option<Spread>,
    pub time_to_mitigate_s: Option<Spread>,
    pub failed_requests: MeanCi,
    pub slow_requests: MeanCi,
    pub users_affected: MeanCi,
    pub users_slowed: MeanCi,
    pub lost_conversions: MeanCi,
    pub inconsistent_sessions: MeanCi,
    pub error_budget_consumed: MeanCi,
    pub extra_instance_hours: MeanCi,
    /// Decision to end of exposure, per action taken, in `Action::ALL` order.
    pub action_time_s: Vec<(Action, Spread)>,
    pub rollout_duration_s: Option<Spread>,
    /// Present when the scenario ships a schema change.
    pub migration: Option<MigrationSummary>,
}

/// What a group's migrations did to the data.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationSummary {
    pub records_lost: MeanCi,
    pub records_restored: MeanCi,
    /// Runs that lost at least one record.
    pub runs_with_data_lost: usize,
    /// Runs rolled back after the contract.
    pub rolled_back_after_contract: usize,
    pub restore_duration_s: Option<Spread>,
    pub backfill_duration_s: Option<Spread>,
    pub latency_cost_of_backfill: MeanCi,
    pub last_safe_rollback_at_s: Option<Spread>,
    /// Runs whose plan ran to its end.
    pub completed: usize,
}

fn summarise_migration(runs: &[RunResult], plan: &[Vec<u32>]) -> Option<MigrationSummary> {
    let ms: Vec<&crate::score::MigrationStats> = runs.iter().filter_map(|r| r.migration.as_ref()).collect();
    if ms.is_empty() {
        return None;
    }
    let restores: Vec<f64> = ms
        .iter()
        .filter(|m| m.rolled_back_after_contract > 0)
        .map(|m| m.restore_duration.as_secs_f64())
        .collect();
    let backfills: Vec<f64> = ms
        .iter()
        .filter_map(|m| m.backfill_duration.map(|d| d.as_secs_f64()))
        .collect();
    let safe: Vec<f64> = ms
        .iter()
        .filter_map(|m| m.last_safe_rollback_at.map(|t| t.as_secs_f64()))
        .collect();
    Some(MigrationSummary {
        records_lost: mean_ci(ms.iter().map(|m| m.records_lost), plan),
        records_restored: mean_ci(ms.iter().map(|m| m.records_restored), plan),
        runs_with_data_lost: ms.iter().filter(|m| m.records_lost > 0).count(),
        rolled_back_after_contract: ms.iter().filter(|m| m.rolled_back_after_contract > 0).count(),
        restore_duration_s: spread(&restores),
        backfill_duration_s: spread(&backfills),
        latency_cost_of_backfill: mean_ci_f64(ms.iter().map(|m| m.latency_cost_of_backfill_ms), plan),
        last_safe_rollback_at_s: spread(&safe),
        completed: ms.iter().filter(|m| m.complete).count(),
    })
}

fn spread(values: &[f64]) -> Option<Spread> {
    Some(Spread {
        median: quantile(values, 0.5)?,
        p90: quantile(values, 0.9)?,
    })
}

fn mean_ci(values: impl Iterator<Item = u64>, plan: &[Vec<u32>]) -> MeanCi {
    mean_ci_f64(values.map(|x| x as f64), plan)
}

fn mean_ci_f64(values: impl Iterator<Item = f64>, plan: &[Vec<u32>]) -> MeanCi {
    let v: Vec<f64> = values.collect();
    // A plan is for the group's runs; a figure over fewer of them (the
    // migration's, present in every run of a migration group) gets none.
    let plan = if plan.first().is_some_and(|p| p.len() == v.len()) {
        plan
    } else {
        &[]
    };
    let (mean, ci95) = bootstrap_mean_ci95(&v, plan).unwrap_or((0.0, [0.0, 0.0]));
    MeanCi { mean, ci95 }
}

/// The group's bootstrap resamples, from a stream keyed by its scenario,
/// policy and master seed: the same runs give the same intervals.
fn group_plan(first: &RunResult, n: usize) -> Vec<Vec<u32>> {
    let name = format!("{}\u{0}{}", first.scenario, first.policy);
    let key = crate::rng::RunKey {
        master_seed: first.seed,
        scenario: &name,
        run_index: u64::MAX,
    };
    let mut rng = crate::rng::stream(key, "bootstrap");
    bootstrap_plan(n, BOOTSTRAP_RESAMPLES, &mut rng)
}

/// Aggregates the runs of one pair.
///
/// # Panics
/// If `runs` is empty: a group always has at least one run.
pub fn summarise(runs: &[RunResult]) -> GroupSummary {
    let first = runs.first().expect("a group has runs");
    let healthy = first.healthy;
    let mut outcomes = [0; 7];
    for r in runs {
        outcomes[Outcome::ALL
            .iter()
            .position(|o| *o == r.outcome)
            .expect("known outcome")] += 1;
    }
    let fault_runs = runs.iter().filter(|r| r.harmed()).count();
    let detection_times: Vec<f64> = runs.iter().filter_map(RunResult::detection_time_s).collect();
    let mitigation_times: Vec<f64> = runs.iter().filter_map(RunResult::time_to_mitigate_s).collect();
    let false_alarms = runs.iter().filter(|r| r.false_alarm()).count();
    let escapes = runs.iter().filter(|r| r.escaped()).count();
    let blind_promotions = runs
        .iter()
        .filter(|r| r.blind_steps > 0 && r.outcome == Outcome::Promoted)
        .count();
    let durations: Vec<f64> = runs.iter().filter_map(RunResult::rollout_duration_s).collect();
    let detected = detection_times.len();
    let plan = group_plan(first, runs.len());
    let plan = plan.as_slice();
    GroupSummary {
        scenario: first.scenario.clone(),
        policy: first.policy.clone(),
        runs: runs.len(),
        healthy,
        outcomes,
        fault_runs,
        detected,
        false_alarms,
        escapes,
        detection_rate: ratio(detected, fault_runs),
        false_alarm_rate: ratio(false_alarms, runs.len()),
        escape_rate: ratio(escapes, fault_runs),
        detection_rate_ci95: wilson_ci95(detected, fault_runs),
        false_alarm_rate_ci95: wilson_ci95(false_alarms, runs.len()),
        escape_rate_ci95: wilson_ci95(escapes, fault_runs),
        blind_promotions,
        blind_promotion_rate: ratio(blind_promotions, runs.len()),
        detection_time_s: spread(&detection_times),
        time_to_mitigate_s: spread(&mitigation_times),
        failed_requests: mean_ci(runs.iter().map(RunResult::blast_failed_requests), plan),
        slow_requests: mean_ci(runs.iter().map(RunResult::blast_slow_requests), plan),
        users_affected: mean_ci(runs.iter().map(|r| r.users_affected), plan),
        users_slowed: mean_ci(runs.iter().map(|r| r.users_slowed), plan),
        lost_conversions: mean_ci(runs.iter().map(|r| r.lost_conversions), plan),
        inconsistent_sessions: mean_ci(runs.iter().map(|r| r.inconsistent_sessions), plan),
        error_budget_consumed: mean_ci_f64(runs.iter().map(|r| r.error_budget_consumed), plan),
        extra_instance_hours: mean_ci_f64(runs.iter().map(|r| r.extra_instance_hours), plan),
        action_time_s: Action::ALL
            .into_iter()
            .filter_map(|a| {
                let took: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.mitigation.filter(|m| m.action == a).and_then(|m| m.took_s()))
                    .collect();
                spread(&took).map(|s| (a, s))
            })
            .collect(),
        rollout_duration_s: spread(&durations),
        migration: summarise_migration(runs, plan),
    }
}
