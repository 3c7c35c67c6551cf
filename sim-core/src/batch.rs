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
use crate::stats::{BOOTSTRAP_RESAMPLES, bootstrap_ci95_of, bootstrap_means, quantile, ratio, wilson_ci95};

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

/// Runs a group summarises from every run's figures: the percentile
/// bootstrap of each mean and numpy's quantiles, exactly as for a few
/// runs. A larger group keeps only running sums (see [`Tally`]).
pub const EXACT_RUNS: usize = 10_000;

/// Bits of a duration sketch's bucket below its leading bit: durations
/// under 2^(SKETCH_BITS + 1) ms are kept exactly, longer ones in buckets of
/// relative width 2^-SKETCH_BITS, read at their middle.
const SKETCH_BITS: u32 = 10;

/// The sketch bucket of a whole number of milliseconds (order-preserving).
fn sketch_key(ms: u64) -> u64 {
    let shift = (64 - ms.leading_zeros()).saturating_sub(SKETCH_BITS + 1);
    (u64::from(shift) << 32) | (ms >> shift)
}

/// The value, in seconds, a sketch bucket stands for: its middle.
fn sketch_value(key: u64) -> f64 {
    let (shift, top) = (key >> 32, key & 0xffff_ffff);
    let ms = if shift == 0 {
        top as f64
    } else {
        (top << shift) as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
    };
    ms / 1_000.0
}

/// A duration figure (median and 90th percentile): its values while the
/// group is small, else a count per sketch bucket, which is bounded by
/// the span of simulated time and merges by adding counts.
#[derive(Clone, Debug, Default)]
struct SpreadAcc {
    kept: Vec<f64>,
    sketch: std::collections::BTreeMap<u64, u64>,
    n: usize,
}

impl SpreadAcc {
    fn push(&mut self, seconds: f64, keep: bool) {
        self.n += 1;
        if keep {
            self.kept.push(seconds);
        } else {
            self.sketch_in(seconds);
        }
    }

    fn sketch_in(&mut self, seconds: f64) {
        // Durations are whole milliseconds of simulated time.
        let ms = (seconds.max(0.0) * 1_000.0).round() as u64;
        *self.sketch.entry(sketch_key(ms)).or_default() += 1;
    }

    /// The group outgrew [`EXACT_RUNS`]: its values go into the sketch.
    fn spill(&mut self) {
        for v in std::mem::take(&mut self.kept) {
            self.sketch_in(v);
        }
    }

    fn spread(&self, exact: bool) -> Option<Spread> {
        if exact {
            return Some(Spread {
                median: quantile(&self.kept, 0.5)?,
                p90: quantile(&self.kept, 0.9)?,
            });
        }
        Some(Spread {
            median: self.sketch_quantile(0.5)?,
            p90: self.sketch_quantile(0.9)?,
        })
    }

    /// [`quantile`]'s interpolation (numpy's type 7) over the buckets.
    fn sketch_quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let h = (self.n - 1) as f64 * q;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        let (mut at_lo, mut at_hi, mut seen) = (None, None, 0usize);
        for (&key, &count) in &self.sketch {
            seen += count as usize;
            if at_lo.is_none() && lo < seen {
                at_lo = Some(sketch_value(key));
            }
            if hi < seen {
                at_hi = Some(sketch_value(key));
                break;
            }
        }
        let (a, b) = (at_lo?, at_hi?);
        Some(a + (h - lo as f64) * (b - a))
    }
}

/// A figure with a mean and its 95 % interval: its values while the group
/// is small (for the bootstrap), and Welford's running moments with the
/// extremes for when it is not.
#[derive(Clone, Debug, Default)]
struct MeanAcc {
    kept: Vec<f64>,
    n: usize,
    sum: f64,
    running_mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl MeanAcc {
    fn push(&mut self, x: f64, keep: bool) {
        if keep {
            self.kept.push(x);
        }
        self.n += 1;
        self.sum += x;
        let delta = x - self.running_mean;
        self.running_mean += delta / self.n as f64;
        self.m2 += delta * (x - self.running_mean);
        if self.n == 1 {
            (self.min, self.max) = (x, x);
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    fn spill(&mut self) {
        self.kept = Vec::new();
    }

    /// Exactly: the percentile bootstrap from the group's resampled means
    /// of this figure (`None` for a figure over fewer runs than the group,
    /// which gets none). Else the normal interval, mean ± 1.96 s/√n, kept
    /// inside the values' range: past [`EXACT_RUNS`] runs the mean's law is
    /// normal to well within the bootstrap's own Monte Carlo error.
    fn mean_ci(&self, exact: bool, resampled: Option<&[f64]>) -> MeanCi {
        if exact {
            let (mean, ci95) = bootstrap_ci95_of(&self.kept, resampled).unwrap_or((0.0, [0.0, 0.0]));
            return MeanCi { mean, ci95 };
        }
        if self.n == 0 {
            return MeanCi {
                mean: 0.0,
                ci95: [0.0, 0.0],
            };
        }
        let mean = self.sum / self.n as f64;
        if self.min == self.max || self.n == 1 {
            return MeanCi {
                mean,
                ci95: [mean, mean],
            };
        }
        let half = 1.959_963_984_540_054 * libm::sqrt(self.m2 / (self.n - 1) as f64 / self.n as f64);
        MeanCi {
            mean,
            ci95: [
                (mean - half).max(self.min).min(mean),
                (mean + half).min(self.max).max(mean),
            ],
        }
    }
}

/// What the migration figures of a group gather.
#[derive(Clone, Debug, Default)]
struct MigrationTally {
    runs: usize,
    records_lost: MeanAcc,
    records_restored: MeanAcc,
    runs_with_data_lost: usize,
    rolled_back_after_contract: usize,
    restore_duration: SpreadAcc,
    backfill_duration: SpreadAcc,
    latency_cost_of_backfill: MeanAcc,
    last_safe_rollback_at: SpreadAcc,
    completed: usize,
}

/// The scenario, policy and master seed of a group, from its first run.
#[derive(Clone, Debug)]
struct Head {
    scenario: String,
    policy: String,
    seed: u64,
    healthy: bool,
}

/// One group's summary gathered run by run, in run order, in memory that
/// does not grow with the runs past [`EXACT_RUNS`]: counts, running sums
/// and duration sketches. Up to [`EXACT_RUNS`] runs the summary is the
/// exact one ([`summarise`]); past it, each mean's interval is the normal
/// one and each median and 90th percentile is read from buckets of
/// relative width 2^-10 (an error below 0.05 %, none under 2 s).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    head: Option<Head>,
    runs: usize,
    outcomes: [usize; 7],
    fault_runs: usize,
    false_alarms: usize,
    escapes: usize,
    blind_promotions: usize,
    detection: SpreadAcc,
    mitigation: SpreadAcc,
    durations: SpreadAcc,
    actions: [SpreadAcc; 5],
    failed_requests: MeanAcc,
    slow_requests: MeanAcc,
    users_affected: MeanAcc,
    users_slowed: MeanAcc,
    lost_conversions: MeanAcc,
    inconsistent_sessions: MeanAcc,
    error_budget_consumed: MeanAcc,
    extra_instance_hours: MeanAcc,
    migration: MigrationTally,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Runs gathered so far.
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// Adds the group's next run.
    pub fn push(&mut self, r: &RunResult) {
        if self.head.is_none() {
            self.head = Some(Head {
                scenario: r.scenario.clone(),
                policy: r.policy.clone(),
                seed: r.seed,
                healthy: r.healthy,
            });
        }
        self.runs += 1;
        if self.runs == EXACT_RUNS + 1 {
            self.spill();
        }
        let keep = self.runs <= EXACT_RUNS;
        self.outcomes[Outcome::ALL
            .iter()
            .position(|o| *o == r.outcome)
            .expect("known outcome")] += 1;
        self.fault_runs += usize::from(r.harmed());
        self.false_alarms += usize::from(r.false_alarm());
        self.escapes += usize::from(r.escaped());
        self.blind_promotions += usize::from(r.blind_steps > 0 && r.outcome == Outcome::Promoted);
        let spreads = [
            (&mut self.detection, r.detection_time_s()),
            (&mut self.mitigation, r.time_to_mitigate_s()),
            (&mut self.durations, r.rollout_duration_s()),
        ];
        for (acc, v) in spreads {
            if let Some(v) = v {
                acc.push(v, keep);
            }
        }
        if let Some(m) = r.mitigation
            && let Some(took) = m.took_s()
        {
            let a = Action::ALL.iter().position(|a| *a == m.action).expect("known action");
            self.actions[a].push(took, keep);
        }
        let means = [
            (&mut self.failed_requests, r.blast_failed_requests() as f64),
            (&mut self.slow_requests, r.blast_slow_requests() as f64),
            (&mut self.users_affected, r.users_affected as f64),
            (&mut self.users_slowed, r.users_slowed as f64),
            (&mut self.lost_conversions, r.lost_conversions as f64),
            (&mut self.inconsistent_sessions, r.inconsistent_sessions as f64),
            (&mut self.error_budget_consumed, r.error_budget_consumed),
            (&mut self.extra_instance_hours, r.extra_instance_hours),
        ];
        for (acc, v) in means {
            acc.push(v, keep);
        }
        if let Some(m) = &r.migration {
            let t = &mut self.migration;
            t.runs += 1;
            t.records_lost.push(m.records_lost as f64, keep);
            t.records_restored.push(m.records_restored as f64, keep);
            t.runs_with_data_lost += usize::from(m.records_lost > 0);
            t.rolled_back_after_contract += usize::from(m.rolled_back_after_contract > 0);
            if m.rolled_back_after_contract > 0 {
                t.restore_duration.push(m.restore_duration.as_secs_f64(), keep);
            }
            if let Some(d) = m.backfill_duration {
                t.backfill_duration.push(d.as_secs_f64(), keep);
            }
            t.latency_cost_of_backfill.push(m.latency_cost_of_backfill_ms, keep);
            if let Some(at) = m.last_safe_rollback_at {
                t.last_safe_rollback_at.push(at.as_secs_f64(), keep);
            }
            t.completed += usize::from(m.complete);
        }
    }

    fn spill(&mut self) {
        for s in [&mut self.detection, &mut self.mitigation, &mut self.durations]
            .into_iter()
            .chain(self.actions.iter_mut())
        {
            s.spill();
        }
        let t = &mut self.migration;
        for s in [
            &mut t.restore_duration,
            &mut t.backfill_duration,
            &mut t.last_safe_rollback_at,
        ] {
            s.spill();
        }
        for m in [
            &mut self.failed_requests,
            &mut self.slow_requests,
            &mut self.users_affected,
            &mut self.users_slowed,
            &mut self.lost_conversions,
            &mut self.inconsistent_sessions,
            &mut self.error_budget_consumed,
            &mut self.extra_instance_hours,
            &mut t.records_lost,
            &mut t.records_restored,
            &mut t.latency_cost_of_backfill,
        ] {
            m.spill();
        }
    }

    /// The group's summary.
    ///
    /// # Panics
    /// If no run was pushed: a group always has at least one run.
    pub fn summary(&self) -> GroupSummary {
        let head = self.head.as_ref().expect("a group has runs");
        let exact = self.runs <= EXACT_RUNS;
        let t = &self.migration;
        let figures = [
            &self.failed_requests,
            &self.slow_requests,
            &self.users_affected,
            &self.users_slowed,
            &self.lost_conversions,
            &self.inconsistent_sessions,
            &self.error_budget_consumed,
            &self.extra_instance_hours,
            &t.records_lost,
            &t.records_restored,
            &t.latency_cost_of_backfill,
        ];
        // One set of resamples for every figure over all the group's runs.
        let over_all: Vec<usize> = (0..figures.len())
            .filter(|&f| exact && figures[f].kept.len() == self.runs)
            .collect();
        let resampled = if over_all.is_empty() {
            Vec::new()
        } else {
            let values: Vec<&[f64]> = over_all.iter().map(|&f| figures[f].kept.as_slice()).collect();
            bootstrap_means(&values, BOOTSTRAP_RESAMPLES, &mut group_stream(head))
        };
        let ci = |f: usize| {
            let means = over_all.iter().position(|&g| g == f).map(|k| resampled[k].as_slice());
            figures[f].mean_ci(exact, means)
        };
        let detected = self.detection.n;
        GroupSummary {
            scenario: head.scenario.clone(),
            policy: head.policy.clone(),
            runs: self.runs,
            healthy: head.healthy,
            outcomes: self.outcomes,
            fault_runs: self.fault_runs,
            detected,
            false_alarms: self.false_alarms,
            escapes: self.escapes,
            detection_rate: ratio(detected, self.fault_runs),
            false_alarm_rate: ratio(self.false_alarms, self.runs),
            escape_rate: ratio(self.escapes, self.fault_runs),
            detection_rate_ci95: wilson_ci95(detected, self.fault_runs),
            false_alarm_rate_ci95: wilson_ci95(self.false_alarms, self.runs),
            escape_rate_ci95: wilson_ci95(self.escapes, self.fault_runs),
            blind_promotions: self.blind_promotions,
            blind_promotion_rate: ratio(self.blind_promotions, self.runs),
            detection_time_s: self.detection.spread(exact),
            time_to_mitigate_s: self.mitigation.spread(exact),
            failed_requests: ci(0),
            slow_requests: ci(1),
            users_affected: ci(2),
            users_slowed: ci(3),
            lost_conversions: ci(4),
            inconsistent_sessions: ci(5),
            error_budget_consumed: ci(6),
            extra_instance_hours: ci(7),
            action_time_s: Action::ALL
                .into_iter()
                .zip(&self.actions)
                .filter_map(|(a, s)| s.spread(exact).map(|s| (a, s)))
                .collect(),
            rollout_duration_s: self.durations.spread(exact),
            migration: (t.runs > 0).then(|| MigrationSummary {
                records_lost: ci(8),
                records_restored: ci(9),
                runs_with_data_lost: t.runs_with_data_lost,
                rolled_back_after_contract: t.rolled_back_after_contract,
                restore_duration_s: t.restore_duration.spread(exact),
                backfill_duration_s: t.backfill_duration.spread(exact),
                latency_cost_of_backfill: ci(10),
                last_safe_rollback_at_s: t.last_safe_rollback_at.spread(exact),
                completed: t.completed,
            }),
        }
    }
}

/// The stream of the group's bootstrap resamples, keyed by its scenario,
/// policy and master seed: the same runs give the same intervals.
fn group_stream(head: &Head) -> rand_chacha::ChaCha8Rng {
    let name = format!("{}\u{0}{}", head.scenario, head.policy);
    let key = crate::rng::RunKey {
        master_seed: head.seed,
        scenario: &name,
        run_index: u64::MAX,
    };
    crate::rng::stream(key, "bootstrap")
}

/// Aggregates the runs of one pair (a [`Tally`] of them).
///
/// # Panics
/// If `runs` is empty: a group always has at least one run.
pub fn summarise(runs: &[RunResult]) -> GroupSummary {
    let mut tally = Tally::new();
    for r in runs {
        tally.push(r);
    }
    tally.summary()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_keys_keep_order_and_small_values() {
        let mut last = 0;
        for ms in (0..5_000u64).chain((5_000..50_000_000).step_by(997)) {
            let k = sketch_key(ms);
            assert!(k >= last, "{ms}");
            last = k;
            let v = sketch_value(k) * 1_000.0;
            if ms < 2_048 {
                assert_eq!(sketch_value(k), ms as f64 / 1_000.0);
            } else {
                assert!((v - ms as f64).abs() <= ms as f64 / 2_048.0 + 0.5, "{ms}: {v}");
            }
        }
    }

    /// Past EXACT_RUNS the quantiles come from the sketch: within its
    /// bucket error of numpy's type 7 on the same values.
    #[test]
    fn sketch_quantiles_match_exact_ones() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let values: Vec<f64> = (0..30_000)
            .map(|_| f64::from(rng.random_range(0..9_000_000u32)) / 1_000.0)
            .collect();
        let mut acc = SpreadAcc::default();
        for (i, v) in values.iter().enumerate() {
            acc.push(*v, i < 100);
        }
        acc.spill();
        for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let exact = quantile(&values, q).unwrap();
            let got = acc.sketch_quantile(q).unwrap();
            assert!(
                (got - exact).abs() <= exact / 2_048.0 + 1e-3,
                "q = {q}: {got} vs {exact}"
            );
        }
    }

    /// Past EXACT_RUNS a mean's interval is the normal one: checked against
    /// the percentile bootstrap of the same 20 000 values of a skewed,
    /// zero-inflated count (the blast radius's shape). The means are equal;
    /// each end agrees within 5 % of the half-width, where the bootstrap's
    /// own Monte Carlo error (2 000 resamples) is about 2 % of it and the
    /// skew's effect at this n under 1 %: a false failure needs a 2.5-sigma
    /// excursion of that error (p < 0.02 per end, fixed seed: deterministic).
    #[test]
    fn normal_interval_matches_the_bootstrap_past_exact_runs() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut acc = MeanAcc::default();
        for _ in 0..20_000 {
            let u: f64 = rng.random();
            let x = if u < 0.7 { 0.0 } else { (-(1.0 - u).ln() * 40.0).floor() };
            acc.push(x, true);
        }
        let means = bootstrap_means(&[&acc.kept], BOOTSTRAP_RESAMPLES, &mut rng);
        let boot = acc.mean_ci(true, Some(&means[0]));
        let normal = acc.mean_ci(false, None);
        assert!((boot.mean - normal.mean).abs() < 1e-9 * boot.mean);
        let half = (boot.ci95[1] - boot.ci95[0]) / 2.0;
        for k in 0..2 {
            assert!(
                (boot.ci95[k] - normal.ci95[k]).abs() < 0.05 * half,
                "end {k}: bootstrap {:?} vs normal {:?}",
                boot.ci95,
                normal.ci95
            );
        }
    }
}
