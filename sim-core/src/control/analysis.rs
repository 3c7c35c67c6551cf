//! The policy's analysis: every interval, each check's judge reads the
//! monitoring window, failures are counted against the limit (Argo
//! Rollouts semantics), and a failed analysis becomes a decision.
//!
//! The z-test, the control charts and the SPRT run on a standardised
//! difference, signed so that a worse canary is positive: for a rate metric
//! the two-proportion `z = (p_canary − p_baseline) / √(p̄ (1 − p̄) (1/n_c + 1/n_b))`,
//! for any other metric Welch's statistic on the window's per-scrape values.
//! The sequential judge reads error counts (Lindon and Malek) or latency
//! histograms (Howard and Ramdas). The Mann-Whitney judge compares the
//! per-scrape values of the window, as Kayenta compares time series.

use super::{Cx, WakeClass};
use crate::judges::control_charts::{Cusum, Ewma, Side, Sprt, SprtDecision};
use crate::judges::mann_whitney::{Classification, Direction, MannWhitneyParams, classify};
use crate::judges::scorer::{MetricResult, ScoreClass, ScoreFailure, ScoreThresholds, weighted_sum};
use crate::judges::sequential::SequentialTest;
use crate::latency::inverse_normal_cdf;
use crate::model::{
    Action, AnalysisScope, AnalysisWindow, Bounds, Check, FailureCount, Judge, KayentaMetric, Metric, NoData, Policy,
    Rule,
};
use crate::monitoring::{Counters, Window};
use crate::time::{SimDuration, SimTime};
use crate::timeline::{Event, Measurement, Verdict};
use crate::world::Observation;
use std::collections::BTreeMap;

/// A judge's memory between intervals.
#[derive(Clone, Debug)]
enum JudgeState {
    Stateless,
    Cusum(Cusum),
    Ewma(Ewma),
    Sprt(Sprt),
    /// The test and the canary share it was started with: a new traffic
    /// split is a new null hypothesis, so the test restarts with it.
    Sequential(Option<(SequentialTest, f64)>),
    /// Latency: the canary's and the baseline's histograms since the step
    /// started, and the split they were collected under.
    Distribution(Option<(Vec<u64>, Vec<u64>, f64)>),
}

impl JudgeState {
    fn new(check: &Check) -> JudgeState {
        let Some(judge) = check.judge() else {
            return JudgeState::Stateless;
        };
        match judge {
            Judge::Sequential { .. } if check.metric.quantile().is_some() => JudgeState::Distribution(None),
            Judge::Cusum { k, h } => JudgeState::Cusum(Cusum::new(k, h, Side::Upper)),
            Judge::Ewma { lambda, limit } => JudgeState::Ewma(Ewma::new(lambda, limit, Side::Upper)),
            Judge::Sprt { delta, alpha, beta } => JudgeState::Sprt(Sprt::new(delta, alpha, beta)),
            Judge::Sequential { .. } => JudgeState::Sequential(None),
            Judge::ZTest { .. } | Judge::MannWhitney { .. } => JudgeState::Stateless,
        }
    }
}

/// (events, trials) of a rate metric in one arm's window.
fn counts(metric: Metric, c: &Counters) -> Option<(u64, u64)> {
    // Only the two rate metrics have events and trials; every other metric
    // is a value per scrape.
    if metric == Metric::ErrorRate {
        Some((c.errors, c.requests))
    } else if metric == Metric::ConversionRate {
        Some((c.conversions, c.requests - c.errors))
    } else {
        None
    }
}

/// The standardised difference, positive when the canary is worse.
fn standardised(metric: Metric, w: &Window) -> Option<f64> {
    let (ec, nc) = counts(metric, &w.canary.counters)?;
    let (eb, nb) = counts(metric, &w.baseline.counters)?;
    if nc == 0 || nb == 0 {
        return None;
    }
    let (pc, pb) = (ec as f64 / nc as f64, eb as f64 / nb as f64);
    let pooled = (ec + eb) as f64 / (nc + nb) as f64;
    let se = libm::sqrt(pooled * (1.0 - pooled) * (1.0 / nc as f64 + 1.0 / nb as f64));
    let z = if se > 0.0 { (pc - pb) / se } else { 0.0 };
    Some(if metric.higher_is_worse() { z } else { -z })
}

fn verdict(fail: bool) -> Verdict {
    if fail { Verdict::Fail } else { Verdict::Pass }
}

/// The policy's background analysis and its memory across intervals.
pub struct Analysis<'p> {
    policy: &'p Policy,
    /// Bumped on every start and stop, so a stale tick does nothing.
    generation: u64,
    running: bool,
    failures: Vec<u32>,
    /// Failed intervals, when failures are counted per interval (Flagger).
    interval_failures: u32,
    /// Inconclusive measurements per check, in the same scope as failures.
    inconclusive: Vec<u32>,
    /// Some measurement since the step started passed or failed.
    conclusive_in_step: bool,
    judge_states: Vec<JudgeState>,
    /// The last time any check failed a measurement (for "stable for T").
    pub last_failure_at: Option<SimTime>,
    /// This tick's Mann-Whitney classifications, for the score.
    classes: Vec<Option<Classification>>,
    /// When the measured traffic begins: the start plus the delay.
    begun_at: SimTime,
    /// Intervals of this step with a failed check that did not trip the
    /// limit (for `hold_on_failure`).
    failed_in_step: u32,
    /// The last measurement's score was marginal: the group and metric
    /// that kept it below pass (for `score.last_must_pass`).
    last_marginal: Option<(Option<String>, Metric)>,
    /// The span this tick's measurement covers.
    tick_span: SimDuration,
}

/// What an analysis tick concluded.
pub enum Tick {
    /// Not this generation's tick, or the analysis is stopped.
    Stale,
    Continue,
    /// The analysis failed on this check's metric; the policy acts.
    Failed {
        metric: Metric,
        action: Action,
    },
    /// A check's inconclusive measurements exceeded the inconclusive
    /// limit: the analysis is inconclusive and the rollout holds.
    Inconclusive {
        metric: Metric,
    },
}

impl<'p> Analysis<'p> {
    pub fn new(policy: &'p Policy) -> Analysis<'p> {
        Analysis {
            policy,
            generation: 0,
            running: false,
            failures: vec![0; policy.analysis.checks.len()],
            interval_failures: 0,
            inconclusive: vec![0; policy.analysis.checks.len()],
            conclusive_in_step: false,
            judge_states: policy.analysis.checks.iter().map(JudgeState::new).collect(),
            last_failure_at: None,
            classes: vec![None; policy.analysis.checks.len()],
            begun_at: SimTime::ZERO,
            failed_in_step: 0,
            last_marginal: None,
            tick_span: policy.analysis.interval,
        }
    }

    /// Whether the analysis ever started.
    pub fn ever_started(&self) -> bool {
        self.generation > 0
    }

    /// (Re)starts the analysis from now: the first tick is the delay and
    /// one interval away.
    pub fn start(&mut self, now: SimTime, cx: &mut Cx) {
        self.generation += 1;
        self.running = true;
        self.begun_at = now + self.policy.analysis.delay;
        cx.wake(
            self.begun_at + self.policy.analysis.interval,
            WakeClass::Analysis,
            self.generation,
        );
    }

    /// The span the measurement at `now` covers.
    fn span(&self, now: SimTime) -> SimDuration {
        let analysis = &self.policy.analysis;
        match analysis.window {
            AnalysisWindow::Interval => analysis.interval,
            AnalysisWindow::Cumulative => {
                SimDuration(now.ms().saturating_sub(self.begun_at.ms())).max(analysis.interval)
            }
            AnalysisWindow::Span(d) => d,
        }
    }

    /// Failed intervals in this step that did not trip the limit, counted
    /// from zero again.
    pub fn take_failed_in_step(&mut self) -> u32 {
        std::mem::take(&mut self.failed_in_step)
    }

    /// With `score.last_must_pass`, a step whose last measurement scored
    /// marginal fails: the failure event, and the metric and action.
    pub fn fail_if_last_marginal(&mut self, cx: &mut Cx) -> Option<(Metric, Action)> {
        let score = self.policy.analysis.score.as_ref()?;
        if !score.last_must_pass || !self.running {
            return None;
        }
        let (group, metric) = self.last_marginal.take()?;
        cx.event(Event::AnalysisFailed { metric, group });
        Some((metric, self.policy.analysis.on_failure))
    }

    pub fn stop(&mut self) {
        self.generation += 1;
        self.running = false;
    }

    /// A fix replaced the candidate: its failures start from zero.
    pub fn reset_failures(&mut self) {
        self.failures.iter_mut().for_each(|f| *f = 0);
        self.interval_failures = 0;
        self.inconclusive.iter_mut().for_each(|f| *f = 0);
    }

    /// Whether some measurement since the step started passed or failed:
    /// a step ending without one was passed blind.
    pub fn conclusive_in_step(&self) -> bool {
        self.conclusive_in_step
    }

    /// A new step starts: nothing is known of it yet, and with
    /// `scope = "step"` the analysis starts afresh, as Argo Rollouts' step
    /// analysis is a new analysis run (failures, inconclusive counts and the
    /// judges' memory all start from zero).
    pub fn step_started(&mut self) {
        self.conclusive_in_step = false;
        self.failed_in_step = 0;
        self.last_marginal = None;
        if self.policy.analysis.scope == AnalysisScope::Step {
            self.reset_failures();
            self.judge_states = self.policy.analysis.checks.iter().map(JudgeState::new).collect();
        }
    }

    /// One analysis run over the last interval: every check, then the decision.
    pub fn tick(&mut self, generation: u64, obs: &Observation<'_>, cx: &mut Cx) -> Tick {
        if generation != self.generation || !self.running {
            return Tick::Stale;
        }
        let policy = self.policy;
        let analysis = &policy.analysis;
        self.tick_span = self.span(obs.now);
        let window = obs.window_offset(self.tick_span, analysis.baseline_offset);
        let mut verdicts = Vec::with_capacity(analysis.checks.len());
        self.classes.iter_mut().for_each(|c| *c = None);
        for (i, check) in analysis.checks.iter().enumerate() {
            let (candidate, stable, candidate_requests) = match &window {
                Some(w) => (
                    w.canary.metric(check.metric),
                    w.baseline.metric(check.metric),
                    w.canary.counters.routed,
                ),
                None => (None, None, 0),
            };
            let enough = check.metric.is_gauge() || candidate_requests >= analysis.min_requests;
            let verdict = match &window {
                Some(w) if enough => self.judge_check(i, check, w, obs),
                _ => Verdict::Inconclusive,
            };
            // Flagger: NaN or no data is a failed check.
            let no_data = window.is_none() || candidate.is_none() || !enough;
            let verdict = if no_data && analysis.no_data == NoData::Fail && check.rule != Rule::Unmapped {
                Verdict::Fail
            } else {
                verdict
            };
            verdicts.push((candidate, stable, candidate_requests, verdict));
        }
        let culprit = self.apply_score(&mut verdicts);
        let (measurements, failed, inconclusive) = self.count(obs.now, &verdicts);
        cx.event(Event::Analysis { measurements });
        if failed.is_none()
            && let Some(check) = inconclusive
        {
            cx.event(Event::AnalysisInconclusive { metric: check.metric });
            return Tick::Inconclusive { metric: check.metric };
        }
        if failed.is_none() && verdicts.iter().any(|v| v.3 == Verdict::Fail) {
            self.failed_in_step += 1;
        }
        match failed {
            Some(check) => {
                // A failed score names the group and metric that failed it.
                let (group, metric) = match culprit {
                    Some((group, metric)) if matches!(check.judge(), Some(Judge::MannWhitney { .. })) => {
                        (Some(group), metric)
                    }
                    _ => (check.group.clone(), check.metric),
                };
                cx.event(Event::AnalysisFailed { metric, group });
                Tick::Failed {
                    metric,
                    action: check.on_failure.unwrap_or(analysis.on_failure),
                }
            }
            None => {
                cx.wake(obs.now + analysis.interval, WakeClass::Analysis, self.generation);
                Tick::Continue
            }
        }
    }

    /// Counts each check's failures and inconclusive measurements; returns
    /// the measurements, the first check over its failure limit and the
    /// first over the inconclusive limit.
    fn count(
        &mut self,
        now: SimTime,
        verdicts: &[(Option<f64>, Option<f64>, u64, Verdict)],
    ) -> (Vec<Measurement>, Option<&'p Check>, Option<&'p Check>) {
        let analysis = &self.policy.analysis;
        let mut failed: Option<&'p Check> = None;
        let mut inconclusive: Option<&'p Check> = None;
        let mut measurements = Vec::with_capacity(verdicts.len());
        let per_interval = analysis.count_failures == FailureCount::PerInterval;
        let any_failed = verdicts.iter().any(|v| v.3 == Verdict::Fail);
        if per_interval {
            // Flagger: one failed check per interval, whichever metric failed.
            if any_failed {
                self.interval_failures += 1;
            } else if analysis.consecutive && verdicts.iter().any(|v| v.3 == Verdict::Pass) {
                self.interval_failures = 0;
            }
        }
        for (i, check) in analysis.checks.iter().enumerate() {
            let (candidate, stable, candidate_requests, verdict) = verdicts[i];
            match verdict {
                Verdict::Fail => {
                    self.last_failure_at = Some(now);
                    self.failures[i] += 1;
                }
                Verdict::Pass if analysis.consecutive => self.failures[i] = 0,
                Verdict::Pass => {}
                Verdict::Inconclusive => self.inconclusive[i] += 1,
            }
            if verdict != Verdict::Inconclusive {
                self.conclusive_in_step = true;
            }
            let count = if per_interval {
                self.interval_failures
            } else {
                self.failures[i]
            };
            // Argo Rollouts (analysis.go, assessMetricFailureInconclusiveOrError):
            // within one metric, past the inconclusive limit beats past the
            // failure limit; across metrics a failed one is the worst.
            let over_inconclusive = analysis.inconclusive_limit.is_some_and(|l| self.inconclusive[i] > l);
            let over_failure = count > analysis.failure_limit && (!per_interval || verdict == Verdict::Fail);
            if over_failure && !over_inconclusive && failed.is_none() {
                failed = Some(check);
            }
            if over_inconclusive && inconclusive.is_none() {
                inconclusive = Some(check);
            }
            measurements.push(Measurement {
                metric: check.metric,
                candidate,
                stable,
                candidate_requests,
                verdict,
                failures: if per_interval {
                    self.interval_failures
                } else {
                    self.failures[i]
                },
            });
        }
        (measurements, failed, inconclusive)
    }
}

impl Analysis<'_> {
    /// Judges check `i` on the window (enough traffic already checked).
    fn judge_check(&mut self, i: usize, check: &Check, w: &Window, obs: &Observation<'_>) -> Verdict {
        let metric = check.metric;
        let judge = match &check.rule {
            Rule::Bounds(b) => return judge_bounds(b, w.canary.metric(metric), w.baseline.metric(metric)),
            Rule::Judge(j) => *j,
            Rule::Unmapped => return Verdict::Inconclusive,
        };
        match judge {
            Judge::ZTest { alpha } => match self.standardised_any(metric, w, obs) {
                Some(z) => verdict(z > inverse_normal_cdf(1.0 - alpha)),
                None => Verdict::Inconclusive,
            },
            Judge::Cusum { .. } | Judge::Ewma { .. } | Judge::Sprt { .. } => {
                let Some(z) = self.standardised_any(metric, w, obs) else {
                    return Verdict::Inconclusive;
                };
                match &mut self.judge_states[i] {
                    JudgeState::Cusum(c) => verdict(c.update(z)),
                    JudgeState::Ewma(e) => verdict(e.update(z)),
                    JudgeState::Sprt(s) => match s.update(z) {
                        SprtDecision::AcceptH1 => Verdict::Fail,
                        SprtDecision::AcceptH0 => {
                            // Accepting "no shift" ends that test; start the next.
                            self.judge_states[i] = JudgeState::new(check);
                            Verdict::Pass
                        }
                        SprtDecision::Continue => Verdict::Inconclusive,
                    },
                    JudgeState::Stateless | JudgeState::Sequential(_) | JudgeState::Distribution(_) => {
                        unreachable!("state built for this judge")
                    }
                }
            }
            Judge::Sequential { alpha, .. } if metric.quantile().is_some() => {
                self.judge_distribution(i, w, alpha, obs.candidate_share())
            }
            Judge::Sequential { concentration, alpha } => {
                self.judge_sequential(i, check, w, (concentration, alpha), obs.candidate_share())
            }
            Judge::MannWhitney {
                confidence,
                tolerance,
                kayenta,
            } => {
                let class = self.judge_mann_whitney(check, confidence, tolerance, &kayenta, obs);
                self.classes[i] = Some(class);
                match class {
                    Classification::Pass => Verdict::Pass,
                    // mustHaveData: no data fails the metric.
                    Classification::High | Classification::Low | Classification::NoDataFail => Verdict::Fail,
                    Classification::NoData => Verdict::Inconclusive,
                }
            }
        }
    }

    /// The standardised difference for any metric: from event counts for a
    /// rate, else Welch's statistic on the window's per-scrape values,
    /// `(m_c − m_b) / √(s²_c/n_c + s²_b/n_b)`, signed so worse is positive.
    fn standardised_any(&self, metric: Metric, w: &Window, obs: &Observation<'_>) -> Option<f64> {
        if counts(metric, &w.canary.counters).is_some() {
            return standardised(metric, w);
        }
        let series = obs.series_offset(self.tick_span, self.policy.analysis.baseline_offset);
        let values = |canary: bool| -> Vec<f64> {
            series
                .iter()
                .filter_map(|x| {
                    if canary {
                        x.canary.metric(metric)
                    } else {
                        x.baseline.metric(metric)
                    }
                })
                .collect()
        };
        let moments = |v: &[f64]| -> Option<(f64, f64, f64)> {
            if v.len() < 2 {
                return None;
            }
            let n = v.len() as f64;
            let m = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
            Some((m, var, n))
        };
        let (mc, vc, nc) = moments(&values(true))?;
        let (mb, vb, nb) = moments(&values(false))?;
        let se = libm::sqrt(vc / nc + vb / nb);
        let z = if se > 0.0 { (mc - mb) / se } else { 0.0 };
        Some(if metric.higher_is_worse() { z } else { -z })
    }

    fn judge_sequential(&mut self, i: usize, check: &Check, w: &Window, test: (f64, f64), share: f64) -> Verdict {
        let (concentration, alpha) = test;
        let (Some((ec, nc)), Some((eb, nb))) = (
            counts(check.metric, &w.canary.counters),
            counts(check.metric, &w.baseline.counters),
        ) else {
            return Verdict::Inconclusive;
        };
        if nc + nb == 0 {
            return Verdict::Inconclusive;
        }
        // The null is the split the controller itself set (not the observed
        // one). Each step is a new null, so each step gets its own test, at
        // α divided over the steps (Bonferroni) to keep the rollout's
        // false-alarm rate under α.
        let steps = self.policy.steps.len().max(1) as f64;
        let JudgeState::Sequential(state) = &mut self.judge_states[i] else {
            unreachable!("state built for this judge")
        };
        let restart = state.as_ref().is_none_or(|(_, s)| *s != share);
        if restart {
            if share <= 0.0 || share >= 1.0 {
                *state = None;
                return Verdict::Inconclusive;
            }
            *state = Some((SequentialTest::new(share, concentration, alpha / steps), share));
            // The window that saw the change mixes the old split and the
            // new one: the new test starts with the next window.
            return Verdict::Inconclusive;
        }
        let (test, s) = state.as_mut().expect("set above");
        let row = test.update(eb, ec);
        let total = (eb + ec) as f64;
        // Reject only when the canary takes more than its share of the bad
        // events (or less than its share of the good ones).
        let worse = if check.metric.higher_is_worse() {
            ec as f64 > *s * total
        } else {
            (ec as f64) < *s * total
        };
        verdict(row.reject && worse)
    }

    /// Latency under the sequential judge: Howard and Ramdas's time-uniform
    /// bands on both arms' distributions since the step started; fails when
    /// the canary is stochastically slower. Per step, at α over the steps.
    fn judge_distribution(&mut self, i: usize, w: &Window, alpha: f64, share: f64) -> Verdict {
        let steps = self.policy.steps.len().max(1) as f64;
        let JudgeState::Distribution(state) = &mut self.judge_states[i] else {
            unreachable!("state built for this judge")
        };
        if state.as_ref().is_none_or(|(_, _, s)| *s != share) {
            // As for counts, the window that saw the change starts nothing.
            *state = (share > 0.0 && share < 1.0).then(|| {
                (
                    vec![0; w.canary.latency_buckets().len()],
                    vec![0; w.baseline.latency_buckets().len()],
                    share,
                )
            });
            return Verdict::Inconclusive;
        }
        let (canary, baseline, _) = state.as_mut().expect("checked above");
        for (acc, x) in canary.iter_mut().zip(w.canary.latency_buckets()) {
            *acc += x;
        }
        for (acc, x) in baseline.iter_mut().zip(w.baseline.latency_buckets()) {
            *acc += x;
        }
        verdict(crate::judges::sequential::stochastically_larger(
            canary,
            baseline,
            alpha / steps,
        ))
    }

    fn judge_mann_whitney(
        &self,
        check: &Check,
        confidence: f64,
        tolerance: f64,
        k: &KayentaMetric,
        obs: &Observation<'_>,
    ) -> Classification {
        let series = obs.series_offset(self.tick_span, self.policy.analysis.baseline_offset);
        let control: Vec<f64> = series.iter().filter_map(|w| w.baseline.metric(check.metric)).collect();
        let experiment: Vec<f64> = series.iter().filter_map(|w| w.canary.metric(check.metric)).collect();
        let worse_up = check.metric.higher_is_worse();
        let neutral = MannWhitneyParams::judge_defaults(k.effect_size);
        let p = MannWhitneyParams {
            confidence,
            tolerance,
            direction: k.direction.unwrap_or(if worse_up {
                Direction::Increase
            } else {
                Direction::Decrease
            }),
            effect_size: k.effect_size,
            allowed_increase: k.allowed_increase.unwrap_or(neutral.allowed_increase),
            allowed_decrease: k.allowed_decrease.unwrap_or(neutral.allowed_decrease),
            critical: check.critical,
            critical_increase: k.critical_increase.unwrap_or(neutral.critical_increase),
            critical_decrease: k.critical_decrease.unwrap_or(neutral.critical_decrease),
            nan_strategy: k.nan_strategy,
            outlier_removal: k.remove_outliers,
            outlier_factor: k.outlier_factor,
            data_required: k.must_have_data,
        };
        classify(&control, &experiment, &p).classification
    }

    /// Kayenta's score over the Mann-Whitney checks, by Kayenta's own
    /// weighted-sum scorer (`judges::scorer::weighted_sum`): each group's
    /// share of passing metrics, weighted (configured weights, the rest
    /// shared equally), 0–100; a critical metric that does not pass, or
    /// half the metrics without data, fails it. Every Mann-Whitney check
    /// takes the score's verdict: fail below `marginal`, inconclusive below
    /// `pass`. When no Mann-Whitney check could be judged (too little
    /// traffic for any), there is no score and each stays inconclusive.
    ///
    /// Returns the group and metric that failed the score, if it failed.
    fn apply_score(&mut self, verdicts: &mut [(Option<f64>, Option<f64>, u64, Verdict)]) -> Option<(String, Metric)> {
        self.last_marginal = None;
        let t = self.policy.analysis.score.as_ref()?;
        let checks = &self.policy.analysis.checks;
        let mw: Vec<usize> = (0..checks.len())
            .filter(|&i| matches!(checks[i].judge(), Some(Judge::MannWhitney { .. })))
            .collect();
        if mw.iter().all(|&i| self.classes[i].is_none()) {
            return None;
        }
        let group = |i: usize| {
            checks[i]
                .group
                .clone()
                .unwrap_or_else(|| checks[i].metric.name().to_owned())
        };
        let results: Vec<MetricResult> = mw
            .iter()
            .map(|&i| {
                let class = self.classes[i].unwrap_or(Classification::NoData);
                MetricResult::new(checks[i].metric.name(), &[&group(i)], class, checks[i].critical)
            })
            .collect();
        let weights: BTreeMap<String, f64> = t.weights.iter().cloned().collect();
        let card = weighted_sum(
            &results,
            &weights,
            ScoreThresholds {
                pass: t.pass,
                marginal: t.marginal,
            },
        );
        let v = match card.class {
            ScoreClass::Pass => Verdict::Pass,
            // Spinnaker's stage: a score not above marginal fails.
            ScoreClass::Marginal if t.fail_at_marginal && card.score <= t.marginal => Verdict::Fail,
            ScoreClass::Marginal => Verdict::Inconclusive,
            ScoreClass::Fail => Verdict::Fail,
        };
        for &i in &mw {
            verdicts[i].3 = v;
        }
        if v == Verdict::Pass {
            return None;
        }
        let culprit = match &card.failure {
            Some(ScoreFailure::Critical(name)) => mw.iter().find(|&&i| checks[i].metric.name() == *name),
            Some(ScoreFailure::TooManyNoData) => mw.first(),
            None => {
                // The lowest-scoring group, and its first metric that did not pass.
                let worst = card
                    .groups
                    .iter()
                    .filter(|g| !g.no_data)
                    .min_by(|a, b| a.score.total_cmp(&b.score))
                    .map(|g| g.name.clone());
                mw.iter()
                    .filter(|&&i| worst.as_deref() == Some(group(i).as_str()))
                    .find(|&&i| self.classes[i] != Some(Classification::Pass))
                    .or(mw.first())
            }
        };
        let culprit = culprit.map(|&i| (group(i), checks[i].metric));
        if v == Verdict::Inconclusive {
            self.last_marginal = culprit.map(|(g, m)| (Some(g), m));
            return None;
        }
        culprit
    }
}

/// A bounds judgement: the measurement fails if any bound is broken.
/// A relative bound without a baseline value is inconclusive.
pub fn judge_bounds(check: &Bounds, candidate: Option<f64>, stable: Option<f64>) -> Verdict {
    let Some(c) = candidate else {
        return Verdict::Inconclusive;
    };
    if check.max.is_some_and(|max| c > max) || check.min.is_some_and(|min| c < min) {
        return Verdict::Fail;
    }
    match stable {
        Some(s)
            if check.max_increase.is_some_and(|d| c - s > d)
                || check.max_ratio.is_some_and(|r| c > r * s)
                || check.max_decrease.is_some_and(|d| s - c > d)
                || check.min_ratio.is_some_and(|r| c < r * s) =>
        {
            Verdict::Fail
        }
        None if check.is_relative() => Verdict::Inconclusive,
        _ => Verdict::Pass,
    }
}
