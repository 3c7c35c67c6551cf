//! `aviary check`: a policy's scores against an accepted baseline.
//!
//! A baseline keeps, per scenario, each run's figure on every [`Score`]
//! (`None` where the run does not count towards the score: no harmed run
//! for a detection rate, no detection for a detection time), rounded to a
//! fixed precision ([`round`]) so that the file is stable and the figures
//! read back are the ones compared. The current runs are rounded the same
//! way, so a policy checked against its own baseline on the baseline's
//! seeds differs by exactly zero everywhere.
//!
//! **Paired** (same master seed, same scenario, same engine): run i of the
//! baseline and of the current policy met the same world, so B − A gets
//! the paired percentile bootstrap of [`crate::compare`], and a score
//! regressed when that 95 % interval lies beyond its tolerance.
//!
//! **Unpaired** (another master seed, or a scenario or engine that changed
//! since the baseline): the two sides are independent samples. The
//! difference's standard error comes from independent bootstrap resamples
//! of each side, and the decision interval is the normal interval
//! simultaneous over every comparison of the check at 99.9 % (Bonferroni:
//! z for 1 − 0.001 / (2m)). An unchanged policy so fails an unpaired check
//! with probability below 0.1 % even at zero tolerance; the 95 % interval
//! is still the one reported.
//!
//! Tolerances are how much worse a score may get: an absolute amount, or
//! a share of the baseline's value ([`Tolerance`]); an improvement is a
//! change beyond the tolerance the other way.

use crate::compare::{Score, paired_difference, ratio_of as ratio, replicate_sd};
use crate::latency::inverse_normal_cdf;
use crate::rng::{RunKey, stream};
use crate::score::RunResult;
use crate::stats::{BOOTSTRAP_RESAMPLES, bootstrap_plan, quantile};

/// The family-wise false-failure rate of an unpaired check.
pub const UNPAIRED_FAMILY_ALPHA: f64 = 0.001;

/// The fewest runs that must count towards a score on each side for it to
/// be judged: below that (a detection time over two detected runs) the
/// bootstrap cannot see how much the score varies from seed to seed, and
/// the score is reported as undefined instead.
pub const MIN_COUNTED: usize = 10;

/// How much worse a score may get before it is a regression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// In the score's own unit (a fraction for a rate, seconds, a count).
    Absolute(f64),
    /// A share of the baseline's value (0.1 for 10 %).
    Relative(f64),
}

impl Tolerance {
    /// The allowed worsening, in the score's unit, for a baseline value.
    pub fn allowed(self, baseline: Option<f64>) -> f64 {
        match self {
            Tolerance::Absolute(x) => x,
            Tolerance::Relative(f) => f * baseline.unwrap_or(0.0).abs(),
        }
    }

    /// As a suite file writes it: `+0.005`, `+30s`, `+10%`, `-0.02`.
    pub fn text(self, score: Score) -> String {
        let sign = if score.lower_is_better() { '+' } else { '-' };
        match self {
            Tolerance::Relative(f) => format!("{sign}{}%", trim(f * 100.0, 6)),
            Tolerance::Absolute(x) if score.key().ends_with("_s") => format!("{sign}{}s", trim(x, 3)),
            Tolerance::Absolute(x) => format!("{sign}{}", trim(x, 6)),
        }
    }
}

/// The documented default tolerance of each score (docs/check.md).
pub fn default_tolerance(score: Score) -> Tolerance {
    match score {
        Score::DetectionRate => Tolerance::Absolute(0.02),
        Score::FalseAlarmRate | Score::EscapeRate => Tolerance::Absolute(0.005),
        Score::BlindPromotionRate => Tolerance::Absolute(0.01),
        Score::DetectionTime => Tolerance::Absolute(30.0),
        Score::TimeToShip => Tolerance::Relative(0.05),
        Score::FailedRequests
        | Score::SlowRequests
        | Score::UsersAffected
        | Score::LostConversions
        | Score::RecordsLost
        | Score::ErrorBudget => Tolerance::Relative(0.10),
    }
}

/// The tolerance of `score`: its entry in `given` (a suite's `[check]
/// tolerance`), else the default.
pub fn tolerance_in(given: &[(Score, Tolerance)], score: Score) -> Tolerance {
    given
        .iter()
        .find(|(s, _)| *s == score)
        .map_or_else(|| default_tolerance(score), |&(_, t)| t)
}

/// `x` with at most `decimals` decimals, trailing zeros dropped.
pub fn trim(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" { "0".to_owned() } else { s }
}

/// The precision a baseline keeps a score's per-run figure at: rates and
/// counts are whole, seconds to the millisecond, budgets to 1e-9.
pub fn decimals(score: Score) -> usize {
    match score {
        Score::DetectionTime | Score::TimeToShip => 3,
        Score::ErrorBudget => 9,
        Score::DetectionRate
        | Score::FalseAlarmRate
        | Score::EscapeRate
        | Score::BlindPromotionRate
        | Score::FailedRequests
        | Score::SlowRequests
        | Score::UsersAffected
        | Score::LostConversions
        | Score::RecordsLost => 0,
    }
}

/// `x` rounded to the baseline's precision for `score`.
pub fn round(score: Score, x: f64) -> f64 {
    let scale = 10f64.powi(decimals(score) as i32);
    (x * scale).round() / scale
}

/// Every run's figure on every score, in `Score::ALL` order.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub runs: usize,
    /// `columns[s][i]`: run i on `Score::ALL[s]`; `None` where run i does
    /// not count towards it.
    pub columns: Vec<Vec<Option<f64>>>,
}

impl Figures {
    /// The (rounded) figures of a group's runs.
    pub fn of(runs: &[RunResult]) -> Figures {
        let columns = Score::ALL
            .iter()
            .map(|&score| {
                runs.iter()
                    .map(|r| {
                        let (value, weight) = score.per_run(r);
                        (weight > 0.0).then(|| round(score, value))
                    })
                    .collect()
            })
            .collect();
        Figures {
            runs: runs.len(),
            columns,
        }
    }

    fn pairs(&self, s: usize) -> Vec<(f64, f64)> {
        self.columns[s]
            .iter()
            .map(|v| v.map_or((0.0, 0.0), |x| (x, 1.0)))
            .collect()
    }
}

/// How the two sides relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing {
    Paired,
    Unpaired,
}

/// What became of one score of one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// Undefined on one side (no harmed run, no detection), or fewer than
    /// [`MIN_COUNTED`] runs count towards it on a side.
    Undefined,
}

/// One score of one scenario, baseline against current.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub scenario: String,
    pub score: Score,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub delta: Option<f64>,
    /// The 95 % interval of the difference (paired or unpaired bootstrap).
    pub ci95: Option<[f64; 2]>,
    /// The interval the verdict reads: `ci95` when paired, the simultaneous
    /// interval when unpaired.
    pub decision: Option<[f64; 2]>,
    pub tolerance: Tolerance,
    /// The allowed worsening in the score's unit.
    pub allowed: f64,
    pub verdict: Verdict,
    /// How many runs count towards the score on each side.
    pub counted: [usize; 2],
    /// The current run that shows the change worst: the run with the
    /// largest worsening against its baseline pair when paired, the worst
    /// current run otherwise.
    pub worst_run: Option<u64>,
}

/// What one scenario's check needs besides the figures.
pub struct Setup<'a> {
    pub scenario: &'a str,
    pub pairing: Pairing,
    /// The master seed of the current runs (keys the resamples).
    pub seed: u64,
    /// How many comparisons the whole check makes (for the unpaired
    /// simultaneous interval).
    pub comparisons: usize,
    pub tolerance: &'a dyn Fn(Score) -> Tolerance,
}

/// Checks every score of one scenario.
///
/// # Panics
/// If paired and the two sides have different run counts.
pub fn check_scenario(setup: &Setup<'_>, base: &Figures, current: &Figures) -> Vec<Finding> {
    let key = RunKey {
        master_seed: setup.seed,
        scenario: setup.scenario,
        run_index: u64::MAX,
    };
    let mut rng = stream(key, "check");
    let plan_a = bootstrap_plan(base.runs, BOOTSTRAP_RESAMPLES, &mut rng);
    // Paired runs share one plan; an unpaired side resamples on its own.
    let plan_b = match setup.pairing {
        Pairing::Paired => {
            assert_eq!(base.runs, current.runs, "paired figures");
            None
        }
        Pairing::Unpaired => Some(bootstrap_plan(current.runs, BOOTSTRAP_RESAMPLES, &mut rng)),
    };
    Score::ALL
        .iter()
        .enumerate()
        .map(|(s, &score)| {
            let (pa, pb) = (base.pairs(s), current.pairs(s));
            let (a, b) = (ratio(&pa), ratio(&pb));
            let tolerance = (setup.tolerance)(score);
            let allowed = tolerance.allowed(a);
            let (ci95, decision) = match &plan_b {
                None => {
                    let d = paired_difference(&pa, &pb, &plan_a);
                    (d.ci95, d.ci95)
                }
                Some(plan_b) => unpaired(&pa, &pb, &plan_a, plan_b, setup.comparisons),
            };
            let delta = a.zip(b).map(|(a, b)| b - a);
            let worse = |x: f64| if score.lower_is_better() { x } else { -x };
            let count = |f: &Figures| f.columns[s].iter().flatten().count();
            let counted = [count(base), count(current)];
            let verdict = match decision {
                _ if counted.iter().any(|&n| n < MIN_COUNTED) => Verdict::Undefined,
                None => Verdict::Undefined,
                Some([lo, hi]) => {
                    // The interval in "worsening" terms: [lo', hi'] with
                    // lo' > allowed a regression, hi' < −allowed better.
                    let (wl, wh) = if score.lower_is_better() { (lo, hi) } else { (-hi, -lo) };
                    if wl > allowed {
                        Verdict::Regression
                    } else if wh < -allowed {
                        Verdict::Improvement
                    } else {
                        Verdict::Unchanged
                    }
                }
            };
            let worst_run = worst(&base.columns[s], &current.columns[s], setup.pairing, worse);
            Finding {
                scenario: setup.scenario.to_owned(),
                score,
                baseline: a,
                current: b,
                delta,
                ci95,
                decision,
                tolerance,
                allowed,
                verdict,
                counted,
                worst_run,
            }
        })
        .collect()
}

/// The unpaired 95 % percentile interval and the simultaneous decision
/// interval (see the module documentation).
fn unpaired(
    pa: &[(f64, f64)],
    pb: &[(f64, f64)],
    plan_a: &[Vec<u32>],
    plan_b: &[Vec<u32>],
    comparisons: usize,
) -> (Option<[f64; 2]>, Option<[f64; 2]>) {
    let (Some(a), Some(b)) = (ratio(pa), ratio(pb)) else {
        return (None, None);
    };
    let delta = b - a;
    let pick = |p: &[(f64, f64)], idx: &[u32]| idx.iter().map(|&i| p[i as usize]).collect::<Vec<_>>();
    let deltas: Vec<f64> = plan_a
        .iter()
        .zip(plan_b)
        .filter_map(|(ia, ib)| Some(ratio(&pick(pb, ib))? - ratio(&pick(pa, ia))?))
        .collect();
    let (Some(lo), Some(hi)) = (quantile(&deltas, 0.025), quantile(&deltas, 0.975)) else {
        return (None, None);
    };
    let sd = replicate_sd(&deltas);
    let z = inverse_normal_cdf(1.0 - UNPAIRED_FAMILY_ALPHA / (2.0 * comparisons.max(1) as f64));
    (
        Some([lo.min(delta), hi.max(delta)]),
        Some([delta - z * sd, delta + z * sd]),
    )
}

/// The run that shows a change worst (see [`Finding::worst_run`]).
fn worst(base: &[Option<f64>], current: &[Option<f64>], pairing: Pairing, worse: impl Fn(f64) -> f64) -> Option<u64> {
    let mut best: Option<(f64, u64)> = None;
    for (i, c) in current.iter().enumerate() {
        let Some(c) = *c else { continue };
        let how_bad = match pairing {
            Pairing::Paired => worse(c - base.get(i).copied().flatten().unwrap_or(0.0)),
            Pairing::Unpaired => worse(c),
        };
        if best.is_none_or(|(b, _)| how_bad > b) {
            best = Some((how_bad, i as u64));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(columns: Vec<Vec<Option<f64>>>) -> Figures {
        let runs = columns[0].len();
        let mut all = vec![vec![None; runs]; Score::ALL.len()];
        for (s, c) in columns.into_iter().enumerate() {
            all[s] = c;
        }
        Figures { runs, columns: all }
    }

    fn setup<'a>(pairing: Pairing, tol: &'a dyn Fn(Score) -> Tolerance) -> Setup<'a> {
        Setup {
            scenario: "s",
            pairing,
            seed: 1,
            comparisons: 12,
            tolerance: tol,
        }
    }

    #[test]
    fn the_same_figures_are_unchanged_with_a_zero_interval() {
        let f = figures(vec![(0..100).map(|i| Some(f64::from(i % 3 == 0))).collect()]);
        let tol = |_| Tolerance::Absolute(0.0);
        for pairing in [Pairing::Paired, Pairing::Unpaired] {
            let found = check_scenario(&setup(pairing, &tol), &f, &f);
            assert!(found.iter().all(|x| x.verdict != Verdict::Regression), "{pairing:?}");
            if pairing == Pairing::Paired {
                assert_eq!(found[0].ci95, Some([0.0, 0.0]));
                assert_eq!(found[0].delta, Some(0.0));
            }
        }
    }

    /// Detection rate (higher is better) falling from 1 to 0.5 over 200
    /// paired runs is a regression beyond a 2-point tolerance, and the
    /// worst run is one that lost its detection; the reverse change is an
    /// improvement.
    #[test]
    fn a_fall_in_detection_rate_regresses_and_its_reverse_improves() {
        let all = figures(vec![vec![Some(1.0); 200]]);
        let half = figures(vec![(0..200).map(|i| Some(f64::from(i % 2 == 0))).collect()]);
        let tol = default_tolerance;
        let down = &check_scenario(&setup(Pairing::Paired, &tol), &all, &half)[0];
        assert_eq!(down.verdict, Verdict::Regression);
        assert_eq!(down.delta, Some(-0.5));
        assert_eq!(down.worst_run.map(|r| r % 2), Some(1));
        let up = &check_scenario(&setup(Pairing::Paired, &tol), &half, &all)[0];
        assert_eq!(up.verdict, Verdict::Improvement);
    }

    #[test]
    fn tolerances_read_back_as_written() {
        assert_eq!(Tolerance::Absolute(30.0).text(Score::DetectionTime), "+30s");
        assert_eq!(Tolerance::Relative(0.1).text(Score::FailedRequests), "+10%");
        assert_eq!(Tolerance::Absolute(0.02).text(Score::DetectionRate), "-0.02");
        assert_eq!(Tolerance::Relative(0.1).allowed(Some(-50.0)), 5.0);
        assert_eq!(round(Score::DetectionTime, 61.23456), 61.235);
        assert_eq!(trim(-0.0, 3), "0");
    }
}
