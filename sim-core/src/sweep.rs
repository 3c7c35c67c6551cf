//! Suite-level scores of one policy over many scenarios, and the Pareto
//! front of a grid of such policies.
//!
//! A suite's runs split by scenario: a *healthy* scenario holds no fault
//! (its false alarms and time to ship say what the policy costs when
//! nothing is wrong); a *faulty* one does (its detection, escapes and blast
//! radius say what the policy saves). Rates are pooled over runs, not
//! averaged over scenarios, so a scenario weighs by its runs.

use crate::batch::{MeanCi, Spread};
use crate::rng::{RunKey, stream};
use crate::score::{Outcome, RunResult};
use crate::stats::{BOOTSTRAP_RESAMPLES, bootstrap_mean_ci95, bootstrap_plan, quantile, ratio};

/// The scores of one policy over a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteScores {
    pub runs: usize,
    /// False alarms over the runs of healthy scenarios.
    pub false_alarm_rate: Option<f64>,
    /// Over the harmed runs of faulty scenarios.
    pub detection_rate: Option<f64>,
    pub escape_rate: Option<f64>,
    /// Over all runs.
    pub blind_promotion_rate: Option<f64>,
    /// Over the detected runs of faulty scenarios.
    pub detection_time_s: Option<Spread>,
    /// Means per run of faulty scenarios.
    pub failed_requests: MeanCi,
    pub slow_requests: MeanCi,
    pub users_affected: MeanCi,
    pub lost_conversions: MeanCi,
    pub records_lost: MeanCi,
    /// Rollout start to 100 % over the promoted runs of healthy scenarios.
    pub time_to_ship_s: Option<f64>,
}

/// Aggregates the runs of one policy over every scenario of a suite.
/// `label` keys the bootstrap stream (the cell's name).
pub fn suite_scores(groups: &[&[RunResult]], label: &str) -> SuiteScores {
    let all: Vec<&RunResult> = groups.iter().flat_map(|g| g.iter()).collect();
    let healthy: Vec<&RunResult> = all.iter().copied().filter(|r| r.healthy).collect();
    let faulty: Vec<&RunResult> = all.iter().copied().filter(|r| !r.healthy).collect();
    let harmed: Vec<&RunResult> = faulty.iter().copied().filter(|r| r.harmed()).collect();
    let count = |v: &[&RunResult], f: &dyn Fn(&RunResult) -> bool| v.iter().filter(|r| f(r)).count();
    let times: Vec<f64> = faulty.iter().filter_map(|r| r.detection_time_s()).collect();
    let ship: Vec<f64> = healthy.iter().filter_map(|r| r.rollout_duration_s()).collect();
    let seed = all.first().map_or(0, |r| r.seed);
    let key = RunKey {
        master_seed: seed,
        scenario: label,
        run_index: u64::MAX,
    };
    let plan = bootstrap_plan(faulty.len(), BOOTSTRAP_RESAMPLES, &mut stream(key, "sweep"));
    let mean = |f: &dyn Fn(&RunResult) -> f64| {
        let v: Vec<f64> = faulty.iter().map(|r| f(r)).collect();
        let (mean, ci95) = bootstrap_mean_ci95(&v, &plan).unwrap_or((0.0, [0.0, 0.0]));
        MeanCi { mean, ci95 }
    };
    SuiteScores {
        runs: all.len(),
        false_alarm_rate: ratio(count(&healthy, &|r| r.false_alarm()), healthy.len()),
        detection_rate: ratio(count(&harmed, &|r| r.detection().is_some()), harmed.len()),
        escape_rate: ratio(count(&harmed, &|r| r.escaped()), harmed.len()),
        blind_promotion_rate: ratio(
            count(&all, &|r| r.blind_steps > 0 && r.outcome == Outcome::Promoted),
            all.len(),
        ),
        detection_time_s: quantile(&times, 0.5)
            .zip(quantile(&times, 0.9))
            .map(|(median, p90)| Spread { median, p90 }),
        failed_requests: mean(&|r| r.blast_failed_requests() as f64),
        slow_requests: mean(&|r| r.blast_slow_requests() as f64),
        users_affected: mean(&|r| r.users_affected as f64),
        lost_conversions: mean(&|r| r.lost_conversions as f64),
        records_lost: mean(&|r| r.migration.as_ref().map_or(0.0, |m| m.records_lost as f64)),
        time_to_ship_s: quantile(&ship, 0.5),
    }
}

impl SuiteScores {
    /// A score by its key (as `Score::key` and the suite's objective name
    /// them); `None` when undefined.
    pub fn get(&self, key: &str) -> Option<f64> {
        match key {
            "false_alarm_rate" => self.false_alarm_rate,
            "detection_rate" => self.detection_rate,
            "escape_rate" => self.escape_rate,
            "blind_promotion_rate" => self.blind_promotion_rate,
            "detection_time_s" => self.detection_time_s.map(|s| s.median),
            "time_to_ship_s" => self.time_to_ship_s,
            "blast_radius.failed_requests" => Some(self.failed_requests.mean),
            "blast_radius.slow_requests" => Some(self.slow_requests.mean),
            "blast_radius.users_affected" => Some(self.users_affected.mean),
            "blast_radius.lost_conversions" => Some(self.lost_conversions.mean),
            "blast_radius.records_lost" => Some(self.records_lost.mean),
            _ => None,
        }
    }

    /// The Pareto coordinates, all to minimise: blast radius (failed
    /// requests), false-alarm rate, time to ship. An undefined coordinate
    /// (no healthy scenario, nothing shipped) counts as the worst.
    fn objectives(&self) -> [f64; 3] {
        [
            self.failed_requests.mean,
            self.false_alarm_rate.unwrap_or(f64::INFINITY),
            self.time_to_ship_s.unwrap_or(f64::INFINITY),
        ]
    }
}

/// Indices of the cells no other cell dominates on (blast radius,
/// false-alarm rate, time to ship): no other is at least as good on all
/// three and better on one.
pub fn pareto(cells: &[SuiteScores]) -> Vec<usize> {
    let dominates =
        |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| x <= y) && a.iter().zip(&b).any(|(x, y)| x < y);
    (0..cells.len())
        .filter(|&i| {
            let me = cells[i].objectives();
            !cells.iter().any(|c| dominates(c.objectives(), me))
        })
        .collect()
}
