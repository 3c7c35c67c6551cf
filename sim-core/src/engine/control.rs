//! The controller: release strategies, analysis and actions.
//!
//! It sees monitoring windows, its own settings and the instances it
//! launched — never the ledger or which faults are active.
//!
//! Rollback dynamics follow what is still running. With the stable fleet
//! still up (a weighted or sticky canary, blue-green before the old fleet
//! is dropped) a rollback is a re-route after `rollback_delay`. A replicas
//! canary drops its canary pods at once and scales stable back up (a
//! capacity dip for the start-up time). Where stable is gone or partly gone
//! (big bang, rolling, a flag rollout, blue-green after the drop) a rollback
//! is a redeploy: the bad version serves until a new stable fleet is ready.
//! A kill switch turns the feature flags off after the flag propagation
//! delay, and helps only if the fault sits behind a flag.

use super::serve::binomial;
use super::{Event, Kind, Measurement, Mitigation, Observer, Phase, Run, Verdict, Wait};
use crate::fleet::Version;
use crate::latency::inverse_normal_cdf;
use crate::model::{Action, Check, Metric, Routing, Strategy};
use crate::score::Decision;
use crate::time::SimDuration;

impl Run<'_> {
    fn n(&self) -> u32 {
        self.scenario.fleet.instances
    }

    /// The candidate instances a weight needs (at least one while it serves).
    fn instances_for(&self, weight: u32) -> u32 {
        if weight == 0 {
            return 0;
        }
        (u64::from(weight) * u64::from(self.n())).div_ceil(100).max(1) as u32
    }

    fn launch(&mut self, version: Version, count: u32, observer: &mut dyn Observer) {
        if count == 0 {
            return;
        }
        let ready_at = self.now + self.scenario.fleet.startup;
        let memory = match version {
            Version::Stable => self.scenario.stable.memory_mb,
            Version::Candidate => self.scenario.candidate.memory_mb,
        };
        self.fleet.launch(version, count, ready_at, memory);
        observer.event(
            self.now,
            &Event::InstancesLaunched {
                version,
                count,
                ready_at,
            },
        );
        self.schedule(ready_at, Kind::Ready);
    }

    fn terminate(&mut self, version: Version, count: u32, observer: &mut dyn Observer) {
        let count = count.min(self.fleet.alive(version));
        if count == 0 {
            return;
        }
        self.fleet.terminate(version, count, self.now);
        observer.event(self.now, &Event::InstancesTerminated { version, count });
    }

    fn in_flag_mode(&self) -> bool {
        matches!(self.policy.strategy, Strategy::Flag)
    }

    /// Starts step `i` of the rollout; the first call starts the rollout.
    pub(super) fn start_step(&mut self, i: usize, observer: &mut dyn Observer) {
        if self.phase == Phase::Warmup && self.planned() && !self.mig.started {
            self.start_migration(observer);
            return;
        }
        if self.phase == Phase::Warmup {
            // Under a migration plan the rollout started with its first phase.
            if self.rollout_started_at.is_none() {
                self.rollout_started_at = Some(self.now);
                observer.event(self.now, &Event::RolloutStarted);
            }
            match self.policy.strategy {
                Strategy::Canary { routing } => {
                    self.phase = Phase::Rolling;
                    self.replica_share = routing == Routing::Replicas;
                }
                Strategy::Rolling { .. } => {
                    self.phase = Phase::Rolling;
                    self.replica_share = true;
                    self.start_batch(observer);
                    return;
                }
                Strategy::BigBang | Strategy::BlueGreen { .. } | Strategy::Flag => {
                    self.phase = Phase::Deploying;
                    if self.in_flag_mode() {
                        self.flag_percent = 0;
                    }
                    let n = self.n();
                    self.launch(Version::Candidate, n, observer);
                    self.wait = Some(Wait::FullFleet);
                    return;
                }
            }
        }
        if self.phase != Phase::Rolling {
            return;
        }
        if self.in_flag_mode() {
            match self.policy.steps.get(i) {
                Some(step) => {
                    let at = self.now + self.scenario.flag_propagation;
                    self.step = Some(i);
                    self.schedule(at, Kind::FlagApplied(step.weight));
                }
                None => self.promote(observer),
            }
            return;
        }
        let weight = self.policy.steps.get(i).map_or(100, |s| s.weight);
        if i >= self.policy.steps.len() && self.weight == 100 && !self.replica_share {
            self.promote(observer);
            return;
        }
        let needed = self.instances_for(weight);
        let alive = self.fleet.alive(Version::Candidate);
        self.launch(Version::Candidate, needed.saturating_sub(alive), observer);
        self.wait = Some(if self.replica_share {
            Wait::Replicas {
                step: i,
                target: needed,
            }
        } else {
            Wait::Weight { step: i, weight }
        });
        self.on_ready(observer);
    }

    /// Instances became ready (or an OOM restart finished): maybe the
    /// controller's wait is over.
    pub(super) fn on_ready(&mut self, observer: &mut dyn Observer) {
        let Some(wait) = self.wait else { return };
        let ready_c = self.fleet.ready(Version::Candidate, self.now);
        let alive_c = self.fleet.alive(Version::Candidate);
        let n = self.n();
        match wait {
            Wait::Weight { step, weight } if ready_c >= self.instances_for(weight) => {
                self.wait = None;
                self.apply_weight(step, weight, observer);
            }
            Wait::Replicas { step, target } if ready_c >= target => {
                self.wait = None;
                let excess = self.fleet.alive(Version::Stable).saturating_sub(n - target.min(n));
                self.terminate(Version::Stable, excess, observer);
                let percent = (self.candidate_share() * 100.0).round() as u32;
                self.apply_weight(step, percent, observer);
            }
            Wait::Batch { .. } if ready_c >= alive_c => {
                self.wait = None;
                let excess = self
                    .fleet
                    .alive(Version::Stable)
                    .saturating_sub(n.saturating_sub(ready_c));
                self.terminate(Version::Stable, excess, observer);
                let percent = (self.candidate_share() * 100.0).round() as u32;
                self.set_weight(Some(0), percent);
                observer.event(
                    self.now,
                    &Event::WeightSet {
                        step: None,
                        weight: percent,
                    },
                );
                self.candidate_takes_traffic(observer);
                if ready_c >= n {
                    self.promote(observer);
                } else {
                    self.start_batch(observer);
                }
            }
            Wait::FullFleet if ready_c >= n => {
                self.wait = None;
                self.full_fleet_ready(observer);
            }
            Wait::Redeploy if self.fleet.ready(Version::Stable, self.now) >= n => {
                self.wait = None;
                self.route_back(observer);
            }
            Wait::Hotfix { count } if ready_c >= alive_c => {
                self.wait = None;
                self.fleet.terminate_oldest(Version::Candidate, count);
                observer.event(
                    self.now,
                    &Event::InstancesTerminated {
                        version: Version::Candidate,
                        count,
                    },
                );
                self.fixed = true;
                observer.event(self.now, &Event::HotfixDeployed);
                self.failures.iter_mut().for_each(|f| *f = 0);
                match self.policy.strategy {
                    Strategy::Canary { .. } | Strategy::Flag => {
                        self.phase = Phase::Rolling;
                        self.start_analysis();
                        self.start_step(0, observer);
                    }
                    _ => {
                        self.phase = Phase::Rolling;
                        self.promote(observer);
                    }
                }
            }
            _ => {}
        }
    }

    /// One rolling batch: drop up to `max_unavailable` stable instances at
    /// once, launch up to `max_surge` candidates.
    fn start_batch(&mut self, observer: &mut dyn Observer) {
        let Strategy::Rolling {
            max_surge,
            max_unavailable,
        } = self.policy.strategy
        else {
            return;
        };
        let n = self.n();
        let alive_c = self.fleet.alive(Version::Candidate);
        let size = max_surge.max(1).min(n - alive_c.min(n));
        self.terminate(Version::Stable, max_unavailable.min(size), observer);
        self.launch(Version::Candidate, size, observer);
        self.wait = Some(Wait::Batch { size });
    }

    /// Big bang, blue-green and flag rollouts: the new fleet is up.
    fn full_fleet_ready(&mut self, observer: &mut dyn Observer) {
        match self.policy.strategy {
            Strategy::BlueGreen {
                preview, preview_share, ..
            } => {
                self.phase = Phase::Preview;
                self.mirror_share = preview_share;
                observer.event(self.now, &Event::PreviewStarted { share: preview_share });
                self.candidate_takes_traffic(observer);
                self.start_analysis();
                self.schedule(self.now + preview, Kind::PreviewEnd);
            }
            Strategy::Flag => {
                self.switch_to_candidate(observer);
                self.deployed_dark = true;
                let n = self.n();
                self.terminate(Version::Stable, n, observer);
                self.phase = Phase::Rolling;
                self.start_step(0, observer);
            }
            _ => {
                self.switch_to_candidate(observer);
                let n = self.n();
                self.terminate(Version::Stable, n, observer);
                self.phase = Phase::Rolling;
                self.start_analysis();
                self.promote(observer);
            }
        }
    }

    fn switch_to_candidate(&mut self, observer: &mut dyn Observer) {
        self.set_weight(None, 100);
        observer.event(
            self.now,
            &Event::WeightSet {
                step: None,
                weight: 100,
            },
        );
        self.candidate_takes_traffic(observer);
    }

    /// Blue-green: the preview is over; switch all traffic to the new fleet
    /// and keep the old one for `keep_old`.
    pub(super) fn end_preview(&mut self, observer: &mut dyn Observer) {
        let Strategy::BlueGreen { keep_old, .. } = self.policy.strategy else {
            return;
        };
        if self.phase != Phase::Preview {
            return;
        }
        self.mirror_share = 0.0;
        self.phase = Phase::Rolling;
        self.switch_to_candidate(observer);
        self.promote(observer);
        self.schedule(self.now + keep_old, Kind::DropOldFleet);
    }

    pub(super) fn drop_old_fleet(&mut self, observer: &mut dyn Observer) {
        if matches!(self.phase, Phase::Promoted | Phase::Baking) {
            let n = self.fleet.alive(Version::Stable);
            self.terminate(Version::Stable, n, observer);
        }
    }

    fn apply_weight(&mut self, i: usize, weight: u32, observer: &mut dyn Observer) {
        let step = (i < self.policy.steps.len()).then_some(i);
        if matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: Routing::Sticky
            }
        ) {
            self.move_sticky_users(weight);
        }
        self.set_weight(step, weight);
        observer.event(self.now, &Event::WeightSet { step, weight });
        if weight > 0 {
            self.candidate_takes_traffic(observer);
        }
        self.note_fault_onset(observer);
        match step {
            None => self.promote(observer),
            Some(i) => {
                let pause = self.policy.steps[i].pause;
                if i + 1 == self.policy.steps.len() && weight == 100 && pause == SimDuration::ZERO {
                    self.promote(observer);
                } else {
                    self.schedule(self.now + pause, Kind::StepEnd(i));
                }
            }
        }
    }

    /// Sticky routing: users stay where their hash put them; raising the
    /// weight moves Binomial(remaining, Δw / (100 − w)) more users over.
    fn move_sticky_users(&mut self, weight: u32) {
        let users = self.scenario.traffic.users;
        let old = self.weight.min(100);
        let current = self.candidate_users;
        self.candidate_users = if weight >= old {
            if old == 100 {
                users
            } else {
                let p = f64::from(weight - old) / f64::from(100 - old);
                current + binomial(&mut self.rngs.users, users - current, p)
            }
        } else if old == 0 {
            0
        } else {
            binomial(&mut self.rngs.users, current, f64::from(weight) / f64::from(old))
        };
    }

    pub(super) fn end_step(&mut self, i: usize, observer: &mut dyn Observer) {
        if self.phase == Phase::Rolling && self.step == Some(i) && self.wait.is_none() {
            self.start_step(i + 1, observer);
        }
    }

    /// A flag change reached every instance.
    pub(super) fn on_flag_applied(&mut self, percent: u32, observer: &mut dyn Observer) {
        self.flag_percent = percent;
        observer.event(self.now, &Event::FlagSet { percent });
        self.note_fault_onset(observer);
        if self.phase != Phase::Rolling || !self.in_flag_mode() {
            return;
        }
        let Some(i) = self.step else { return };
        self.close_segment();
        self.set_weight(Some(i), percent);
        if percent > 0 && self.analysis_generation == 0 && self.decision.is_none() {
            self.start_analysis();
        }
        let pause = self.policy.steps[i].pause;
        if i + 1 == self.policy.steps.len() && percent == 100 && pause == SimDuration::ZERO {
            self.promote(observer);
        } else {
            self.schedule(self.now + pause, Kind::StepEnd(i));
        }
    }

    /// The candidate serves its first request: fault onsets start counting.
    fn candidate_takes_traffic(&mut self, observer: &mut dyn Observer) {
        if self.first_candidate_traffic.is_some() {
            return;
        }
        self.first_candidate_traffic = Some(self.now);
        self.migration_on_first_candidate(observer);
        if !self.fixed && super::worse_than(&self.scenario.candidate, &self.scenario.stable) {
            self.fault_onset = Some(self.now);
            observer.event(self.now, &Event::FaultOnset { fault: None });
        }
        for (i, f) in self.scenario.faults.iter().enumerate() {
            self.schedule(self.now + f.onset, Kind::FaultOnset(i));
        }
        if !self.in_flag_mode() && !matches!(self.policy.strategy, Strategy::BlueGreen { .. } | Strategy::BigBang) {
            self.start_analysis();
        }
    }

    /// (Re)starts the background analysis from now.
    pub(super) fn start_analysis(&mut self) {
        self.analysis_generation += 1;
        let at = self.now + self.policy.analysis.interval;
        self.schedule(at, Kind::Analysis(self.analysis_generation));
    }

    fn stop_analysis(&mut self) {
        self.analysis_generation += 1;
    }

    fn promote(&mut self, observer: &mut dyn Observer) {
        if self.phase != Phase::Rolling {
            return;
        }
        self.promoted_at = Some(self.now);
        observer.event(self.now, &Event::Promoted);
        // A promoted canary scales the old version down (Argo Rollouts'
        // scale-down); blue-green keeps it for `keep_old` instead.
        if matches!(self.policy.strategy, Strategy::Canary { .. }) {
            let n = self.fleet.alive(Version::Stable);
            self.terminate(Version::Stable, n, observer);
        }
        let bake = self.policy.analysis.after_promotion;
        if self.migration_pending() {
            // Keep analysing while the migration runs; the bake starts when it ends.
            self.phase = Phase::Baking;
            self.migration_app_promoted(observer);
        } else if bake > SimDuration::ZERO {
            self.phase = Phase::Baking;
            self.schedule(self.now + bake, Kind::BakeEnd);
        } else {
            self.phase = Phase::Promoted;
            self.stop_analysis();
        }
    }

    pub(super) fn end_bake(&mut self, _observer: &mut dyn Observer) {
        if self.phase == Phase::Baking && !self.migration_pending() {
            self.phase = Phase::Promoted;
            self.stop_analysis();
        }
    }

    /// One analysis run over the last interval: every check, then the decision.
    pub(super) fn analyse(&mut self, observer: &mut dyn Observer) {
        if !matches!(self.phase, Phase::Rolling | Phase::Preview | Phase::Baking) {
            return;
        }
        let policy = self.policy;
        let analysis = &policy.analysis;
        let window = self.monitoring.window(self.now, analysis.interval);
        let mut measurements = Vec::with_capacity(analysis.checks.len());
        let mut failed: Option<&Check> = None;
        let mut verdicts = Vec::with_capacity(analysis.checks.len());
        for (i, check) in analysis.checks.iter().enumerate() {
            let (candidate, stable, candidate_requests) = match &window {
                Some(w) => (
                    w.candidate.metric(check.metric),
                    w.stable.metric(check.metric),
                    w.candidate.routed,
                ),
                None => (None, None, 0),
            };
            let verdict = match &window {
                Some(w) if check.metric.is_gauge() || candidate_requests >= analysis.min_requests => {
                    self.judge_check(i, check, w)
                }
                _ => Verdict::Inconclusive,
            };
            verdicts.push((candidate, stable, candidate_requests, verdict));
        }
        self.apply_score(&mut verdicts);
        for (i, check) in analysis.checks.iter().enumerate() {
            let (candidate, stable, candidate_requests, verdict) = verdicts[i];
            if verdict == Verdict::Fail {
                self.last_failure_at = Some(self.now);
            }
            match verdict {
                Verdict::Fail => self.failures[i] += 1,
                Verdict::Pass if analysis.consecutive => self.failures[i] = 0,
                _ => {}
            }
            if self.failures[i] > analysis.failure_limit && failed.is_none() {
                failed = Some(check);
            }
            measurements.push(Measurement {
                metric: check.metric,
                candidate,
                stable,
                candidate_requests,
                verdict,
                failures: self.failures[i],
            });
        }
        observer.event(self.now, &Event::Analysis { measurements });
        if let Some(check) = failed {
            let action = check.on_failure.unwrap_or(analysis.on_failure);
            observer.event(self.now, &Event::AnalysisFailed { metric: check.metric });
            self.decide(action, check.metric, observer);
        } else {
            let next = self.now + analysis.interval;
            self.schedule(next, Kind::Analysis(self.analysis_generation));
        }
    }

    fn decide(&mut self, action: Action, metric: Metric, observer: &mut dyn Observer) {
        self.decision = Some(Decision {
            at: self.now,
            action,
            metric,
        });
        if self.mitigation.is_none() {
            self.mitigation = Some(Mitigation {
                action,
                decided_at: self.now,
            });
        }
        self.stop_analysis();
        self.wait = None;
        observer.event(self.now, &Event::Decided { action });
        match action {
            Action::Rollback => {
                self.phase = Phase::RollingBack;
                self.schedule(self.now + self.policy.rollback_delay, Kind::Act(Action::Rollback));
            }
            Action::Hold => self.phase = Phase::Held,
            Action::Page => {
                self.phase = Phase::Paged;
                let p = &self.policy.paging;
                let ack = draw_ack(&mut self.rngs.human, p.ack_median, p.ack_p90);
                let acts_at = self.now + ack + p.diagnose;
                observer.event(self.now, &Event::Paged { acts_at });
                self.schedule(acts_at, Kind::Act(p.then));
            }
            Action::KillSwitch => self.act(Action::KillSwitch, observer),
            Action::Hotfix => self.start_hotfix(observer),
        }
    }

    /// Carries out an action now (after a rollback delay or a page).
    pub(super) fn act(&mut self, action: Action, observer: &mut dyn Observer) {
        if matches!(self.phase, Phase::RolledBack | Phase::Killed) {
            return;
        }
        observer.event(self.now, &Event::Acting { action });
        match action {
            Action::Rollback => self.rollback(observer),
            Action::KillSwitch => {
                self.phase = Phase::Killed;
                self.schedule(self.now + self.scenario.flag_propagation, Kind::FlagApplied(0));
            }
            Action::Hotfix => self.start_hotfix(observer),
            Action::Hold | Action::Page => self.phase = Phase::Held,
        }
    }

    fn rollback(&mut self, observer: &mut dyn Observer) {
        self.migration_rollback(observer);
        self.phase = Phase::RollingBack;
        self.mirror_share = 0.0;
        let n = self.n();
        let stable_ready = self.fleet.ready(Version::Stable, self.now);
        let replicas_canary = matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: Routing::Replicas
            }
        );
        if !self.replica_share && stable_ready >= n {
            self.route_back(observer);
        } else if replicas_canary {
            let missing = n.saturating_sub(self.fleet.alive(Version::Stable));
            let alive_c = self.fleet.alive(Version::Candidate);
            self.terminate(Version::Candidate, alive_c, observer);
            self.launch(Version::Stable, missing, observer);
            self.finish_rollback(observer);
        } else {
            let missing = n.saturating_sub(self.fleet.alive(Version::Stable));
            self.launch(Version::Stable, missing, observer);
            self.wait = Some(Wait::Redeploy);
            self.on_ready(observer);
        }
    }

    /// All traffic back to stable, candidates dropped.
    fn route_back(&mut self, observer: &mut dyn Observer) {
        self.deployed_dark = false;
        if matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: Routing::Sticky
            }
        ) {
            self.candidate_users = 0;
        }
        self.set_weight(None, 0);
        observer.event(self.now, &Event::WeightSet { step: None, weight: 0 });
        let alive_c = self.fleet.alive(Version::Candidate);
        self.terminate(Version::Candidate, alive_c, observer);
        self.finish_rollback(observer);
    }

    fn finish_rollback(&mut self, observer: &mut dyn Observer) {
        self.phase = Phase::RolledBack;
        self.rollback_done_at = Some(self.now);
        observer.event(self.now, &Event::RollbackCompleted);
    }

    /// Keep the canary small while a fix is built.
    fn start_hotfix(&mut self, observer: &mut dyn Observer) {
        self.phase = Phase::Hotfixing;
        self.stop_analysis();
        let hold = self.policy.hotfix.hold_weight;
        match self.policy.strategy {
            Strategy::Canary {
                routing: Routing::Weighted | Routing::Sticky,
            } if self.weight > hold => {
                if matches!(
                    self.policy.strategy,
                    Strategy::Canary {
                        routing: Routing::Sticky
                    }
                ) {
                    self.move_sticky_users(hold);
                }
                self.set_weight(self.step, hold);
                observer.event(
                    self.now,
                    &Event::WeightSet {
                        step: self.step,
                        weight: hold,
                    },
                );
            }
            Strategy::Flag if self.flag_percent > hold => {
                self.schedule(self.now + self.scenario.flag_propagation, Kind::FlagApplied(hold));
            }
            _ => {}
        }
        self.schedule(self.now + self.policy.hotfix.build, Kind::HotfixBuilt);
    }

    /// The hotfix is built: replace the candidate's instances with it.
    pub(super) fn deploy_hotfix(&mut self, observer: &mut dyn Observer) {
        if self.phase != Phase::Hotfixing {
            return;
        }
        let count = self.fleet.alive(Version::Candidate).max(1);
        self.launch(Version::Candidate, count, observer);
        self.wait = Some(Wait::Hotfix { count });
        self.on_ready(observer);
    }
}

/// A log-normal acknowledgement delay with the given median and 90th percentile.
fn draw_ack(rng: &mut rand_chacha::ChaCha8Rng, median: SimDuration, p90: SimDuration) -> SimDuration {
    let m = median.as_secs_f64().max(0.001);
    let sigma = (libm::log(p90.as_secs_f64().max(m) / m)) / inverse_normal_cdf(0.9);
    let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
    super::ms(m * libm::exp(sigma * z))
}

/// A threshold judgement: the measurement fails if any bound is broken.
/// A relative bound without a baseline value is inconclusive.
pub fn judge_threshold(check: &Check, candidate: Option<f64>, stable: Option<f64>) -> Verdict {
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
