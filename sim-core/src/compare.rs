//! Paired comparison of two policies on the same seeds.
//!
//! Run i of policy A and run i of policy B meet the same world (common
//! random numbers: the world's randomness depends only on what a controller
//! does, never on which controller it is), so the runs are compared in
//! pairs. Each score is a ratio of sums over runs, Σ value / Σ weight, with
//! per-run (value, weight) from [`Score::per_run`]: a rate over all runs
//! (weight 1), a rate over the runs the release harmed (weight 1 on those,
//! 0 elsewhere), a mean time over the runs that have one, a mean count.
//!
//! **Interval.** B − A with a 95 % paired percentile bootstrap (Efron and
//! Tibshirani 1993, ch. 13): 2 000 resamples of run indices with
//! replacement, each index taking A's and B's run together, the difference
//! of the two ratios computed on each resample. The resamples come from a
//! stream keyed by the scenario, both policy names and the master seed, so
//! the same runs give the same interval. A difference is significant when
//! its interval excludes 0.
//!
//! **Smallest detectable difference.** For an interval that covers 0, the
//! difference this many paired runs would find with 80 % power at the 5 %
//! level: (z₀.₉₇₅ + z₀.₈₀) × the bootstrap standard error of the difference
//! = 2.80 × SE. Two policies that behave identically on every run have a
//! standard error of 0.

use crate::rng::{RunKey, stream};
use crate::score::{Outcome, RunResult};
use crate::stats::{BOOTSTRAP_RESAMPLES, bootstrap_plan, quantile};

/// A score compared between two policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    DetectionRate,
    FalseAlarmRate,
    EscapeRate,
    BlindPromotionRate,
    DetectionTime,
    TimeToShip,
    FailedRequests,
    SlowRequests,
    UsersAffected,
    LostConversions,
    RecordsLost,
    ErrorBudget,
}

/// How a score's difference reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A fraction in 0..=1, shown in percentage points.
    Rate,
    /// Seconds.
    Seconds,
    /// A mean count per run.
    Count,
    /// A fraction of the error budget per run.
    Budget,
}

impl Score {
    pub const ALL: [Score; 12] = [
        Score::DetectionRate,
        Score::FalseAlarmRate,
        Score::EscapeRate,
        Score::BlindPromotionRate,
        Score::DetectionTime,
        Score::TimeToShip,
        Score::FailedRequests,
        Score::SlowRequests,
        Score::UsersAffected,
        Score::LostConversions,
        Score::RecordsLost,
        Score::ErrorBudget,
    ];

    /// The key in JSON, as in `batch`'s and `sweep`'s output.
    pub fn key(self) -> &'static str {
        match self {
            Score::DetectionRate => "detection_rate",
            Score::FalseAlarmRate => "false_alarm_rate",
            Score::EscapeRate => "escape_rate",
            Score::BlindPromotionRate => "blind_promotion_rate",
            Score::DetectionTime => "detection_time_s",
            Score::TimeToShip => "time_to_ship_s",
            Score::FailedRequests => "blast_radius.failed_requests",
            Score::SlowRequests => "blast_radius.slow_requests",
            Score::UsersAffected => "blast_radius.users_affected",
            Score::LostConversions => "blast_radius.lost_conversions",
            Score::RecordsLost => "blast_radius.records_lost",
            Score::ErrorBudget => "error_budget_consumed",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Score::DetectionRate | Score::FalseAlarmRate | Score::EscapeRate | Score::BlindPromotionRate => Unit::Rate,
            Score::DetectionTime | Score::TimeToShip => Unit::Seconds,
            Score::ErrorBudget => Unit::Budget,
            Score::FailedRequests
            | Score::SlowRequests
            | Score::UsersAffected
            | Score::LostConversions
            | Score::RecordsLost => Unit::Count,
        }
    }

    /// Whether a lower value is better.
    pub fn lower_is_better(self) -> bool {
        self != Score::DetectionRate
    }

    /// One run's (value, weight): the score is Σ value / Σ weight.
    pub fn per_run(self, r: &RunResult) -> (f64, f64) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let of = |v: Option<f64>| v.map_or((0.0, 0.0), |v| (v, 1.0));
        match self {
            Score::DetectionRate => (flag(r.harmed() && r.detection().is_some()), flag(r.harmed())),
            Score::FalseAlarmRate => (flag(r.false_alarm()), 1.0),
            Score::EscapeRate => (flag(r.escaped()), flag(r.harmed())),
            Score::BlindPromotionRate => (flag(r.blind_steps > 0 && r.outcome == Outcome::Promoted), 1.0),
            Score::DetectionTime => of(r.detection_time_s()),
            Score::TimeToShip => of(r.rollout_duration_s()),
            Score::FailedRequests => (r.blast_failed_requests() as f64, 1.0),
            Score::SlowRequests => (r.blast_slow_requests() as f64, 1.0),
            Score::UsersAffected => (r.users_affected as f64, 1.0),
            Score::LostConversions => (r.lost_conversions as f64, 1.0),
            Score::RecordsLost => (r.migration.as_ref().map_or(0.0, |m| m.records_lost as f64), 1.0),
            Score::ErrorBudget => (r.error_budget_consumed, 1.0),
        }
    }
}

/// The method every interval is computed with, as the JSON names it.
pub const METHOD: &str = "paired percentile bootstrap, 2000 resamples of run indices";

/// B − A on one score of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub scenario: String,
    pub score: Score,
    /// The score under A and B; `None` when it is undefined (no harmed run
    /// for a detection rate, no detection for a detection time).
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// b − a.
    pub delta: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub significant: bool,
    /// For a difference not found: 2.80 × its bootstrap standard error.
    pub smallest_detectable: Option<f64>,
    pub runs: usize,
}

fn ratio(sum: (f64, f64)) -> Option<f64> {
    (sum.1 > 0.0).then(|| sum.0 / sum.1)
}

/// Σ value / Σ weight of per-run (value, weight) pairs; `None` without weight.
pub(crate) fn ratio_of(p: &[(f64, f64)]) -> Option<f64> {
    ratio(p.iter().fold((0.0, 0.0), |s, v| (s.0 + v.0, s.1 + v.1)))
}

/// The sample standard deviation of bootstrap replicates.
pub(crate) fn replicate_sd(deltas: &[f64]) -> f64 {
    let n = deltas.len() as f64;
    let mean = deltas.iter().sum::<f64>() / n;
    (deltas.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
}

/// Compares the paired runs `a[i]`, `b[i]` (same scenario, same seed and
/// run index) on every score.
///
/// # Panics
/// If the runs are not paired: different lengths, or run i of A and B
/// differ in scenario, seed or run index.
pub fn compare(a: &[RunResult], b: &[RunResult]) -> Vec<Difference> {
    assert_eq!(a.len(), b.len(), "paired runs");
    for (x, y) in a.iter().zip(b) {
        assert!(
            x.scenario == y.scenario && x.seed == y.seed && x.run == y.run,
            "run {} of A and B are not the same world",
            x.run
        );
    }
    let Some(first) = a.first() else {
        return Vec::new();
    };
    let name = format!("{}\u{0}{}\u{0}{}", first.scenario, first.policy, b[0].policy);
    let key = RunKey {
        master_seed: first.seed,
        scenario: &name,
        run_index: u64::MAX,
    };
    let plan = bootstrap_plan(a.len(), BOOTSTRAP_RESAMPLES, &mut stream(key, "compare"));
    Score::ALL
        .into_iter()
        .map(|score| difference(&first.scenario, score, a, b, &plan))
        .collect()
}

fn difference(scenario: &str, score: Score, a: &[RunResult], b: &[RunResult], plan: &[Vec<u32>]) -> Difference {
    let pa: Vec<(f64, f64)> = a.iter().map(|r| score.per_run(r)).collect();
    let pb: Vec<(f64, f64)> = b.iter().map(|r| score.per_run(r)).collect();
    let paired = paired_difference(&pa, &pb, plan);
    Difference {
        scenario: scenario.to_owned(),
        score,
        a: ratio_of(&pa),
        b: ratio_of(&pb),
        delta: paired.delta,
        ci95: paired.ci95,
        significant: paired.significant,
        smallest_detectable: paired.smallest_detectable,
        runs: a.len(),
    }
}

/// The paired difference of two ratio scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// Σb.value/Σb.weight − Σa.value/Σa.weight; `None` if either is undefined.
    pub delta: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub significant: bool,
    pub smallest_detectable: Option<f64>,
}

/// B − A of the ratio Σ value / Σ weight over paired per-run (value,
/// weight) lists, with its paired percentile-bootstrap interval over the
/// resamples of `plan` (see the module documentation). Pairs that agree on
/// every run give [0, 0] and a smallest detectable difference of 0.
///
/// # Panics
/// If the lists differ in length.
pub fn paired_difference(pa: &[(f64, f64)], pb: &[(f64, f64)], plan: &[Vec<u32>]) -> Paired {
    assert_eq!(pa.len(), pb.len(), "paired runs");
    let delta = ratio_of(pa).zip(ratio_of(pb)).map(|(x, y)| y - x);
    let mut out = Paired {
        delta,
        ci95: None,
        significant: false,
        smallest_detectable: None,
    };
    let Some(delta) = delta else { return out };
    if pa.iter().zip(pb).all(|(x, y)| x == y) {
        out.ci95 = Some([0.0, 0.0]);
        out.smallest_detectable = Some(0.0);
        return out;
    }
    let deltas: Vec<f64> = plan
        .iter()
        .filter_map(|idx| {
            let sum = |p: &[(f64, f64)]| {
                idx.iter()
                    .fold((0.0, 0.0), |s, &i| (s.0 + p[i as usize].0, s.1 + p[i as usize].1))
            };
            Some(ratio(sum(pb))? - ratio(sum(pa))?)
        })
        .collect();
    let (Some(lo), Some(hi)) = (quantile(&deltas, 0.025), quantile(&deltas, 0.975)) else {
        return out;
    };
    let (lo, hi) = (lo.min(delta), hi.max(delta));
    out.ci95 = Some([lo, hi]);
    out.significant = lo > 0.0 || hi < 0.0;
    if !out.significant {
        out.smallest_detectable = Some(2.80 * replicate_sd(&deltas));
    }
    out
}
