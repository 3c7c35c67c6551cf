//! The automated policy as a decider: it starts the rollout, ends each
//! step after its pause, analyses monitoring throughout, bakes after the
//! promotion, runs the migration plan's gates, and turns a failed analysis
//! into the check's action (pages draw the on-call human's delay).

use rand_chacha::ChaCha8Rng;

use super::analysis::{Analysis, Tick};
use super::plan::Plan;
use super::{By, Command, Controller, Cue, Cx, Note, RolloutStatus, Stage, WakeClass};
use crate::latency::inverse_normal_cdf;
use crate::model::{Action, OnInconclusive, Policy, Strategy};
use crate::time::{SimDuration, SimTime};
use crate::timeline::Event;
use crate::world::{Fact, Observation};

/// The policy's wake-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Start,
    StepEnd(usize),
    PreviewEnd,
    BakeEnd,
    /// A migration gate check.
    Gate,
    Analysis(u64),
}

const STEP_BIT: u64 = 1 << 61;

impl Wake {
    fn token(self) -> u64 {
        match self {
            Wake::Gate => 0,
            Wake::Start => 1,
            Wake::PreviewEnd => 2,
            Wake::BakeEnd => 3,
            Wake::StepEnd(i) => STEP_BIT | i as u64,
            Wake::Analysis(g) => g,
        }
    }

    fn from_token(token: u64, class: WakeClass) -> Wake {
        match (class, token) {
            (WakeClass::Analysis, t) => Wake::Analysis(t),
            (WakeClass::End, _) => unreachable!("the policy never asks for an end-of-instant wake"),
            (WakeClass::Control, 0) => Wake::Gate,
            (WakeClass::Control, 1) => Wake::Start,
            (WakeClass::Control, 2) => Wake::PreviewEnd,
            (WakeClass::Control, 3) => Wake::BakeEnd,
            (WakeClass::Control, t) => {
                assert!(t & STEP_BIT != 0, "a token the policy issued");
                Wake::StepEnd((t & !STEP_BIT) as usize)
            }
        }
    }
}

/// The policy's own decisions, run against the world.
pub struct PolicyController<'p> {
    policy: &'p Policy,
    rollout_at: SimTime,
    horizon: SimTime,
    analysis: Analysis<'p>,
    plan: Option<Plan<'p>>,
    /// The on-call human a page reaches.
    human: ChaCha8Rng,
    /// Promoted, still analysing (a bake, or a migration still running).
    baking: bool,
    decided: bool,
}

impl<'p> PolicyController<'p> {
    /// `migrating` says whether the release ships a schema change (the plan
    /// then drives the rollout); `human` is the on-call human's stream.
    pub fn new(
        policy: &'p Policy,
        rollout_at: SimTime,
        horizon: SimTime,
        migrating: bool,
        human: ChaCha8Rng,
    ) -> PolicyController<'p> {
        PolicyController {
            policy,
            rollout_at,
            horizon,
            analysis: Analysis::new(policy),
            plan: policy
                .migration
                .as_ref()
                .filter(|_| migrating)
                .map(|m| Plan::new(policy, m)),
            human,
            baking: false,
            decided: false,
        }
    }

    fn wake(&self, cx: &mut Cx, at: SimTime, wake: Wake) {
        let class = match wake {
            Wake::Analysis(_) => WakeClass::Analysis,
            Wake::Start | Wake::StepEnd(_) | Wake::PreviewEnd | Wake::BakeEnd | Wake::Gate => WakeClass::Control,
        };
        cx.wake(at, class, wake.token());
    }

    fn woken(&mut self, wake: Wake, obs: &Observation<'_>, rollout: &RolloutStatus, cx: &mut Cx) {
        let now = obs.now;
        match wake {
            Wake::Start => match &mut self.plan {
                Some(plan) => {
                    plan.begin(0, cx);
                }
                None => cx.command(Command::Start),
            },
            Wake::StepEnd(i) => {
                if rollout.stage == Stage::Stepping && rollout.step == Some(i) && !rollout.waiting {
                    if self.step_held_or_failed(i, now, cx) {
                        return;
                    }
                    let blind = self.policy.steps[i].weight > 0 && !self.analysis.conclusive_in_step();
                    self.step_ends(Some(i), blind, now, Command::NextStep, cx);
                }
            }
            Wake::PreviewEnd => {
                if rollout.stage == Stage::Preview {
                    let blind = !self.analysis.conclusive_in_step();
                    self.step_ends(None, blind, now, Command::Promote, cx);
                }
            }
            Wake::BakeEnd => {
                if self.baking && !self.plan.as_ref().is_some_and(Plan::pending) {
                    self.baking = false;
                    self.analysis.stop();
                }
            }
            Wake::Gate => {
                let last_failure = self.analysis.last_failure_at;
                let completed = self
                    .plan
                    .as_mut()
                    .is_some_and(|plan| plan.tick(obs, rollout, last_failure, cx));
                if completed {
                    self.plan_completed(now, cx);
                }
            }
            Wake::Analysis(generation) => match self.analysis.tick(generation, obs, cx) {
                Tick::Stale | Tick::Continue => {}
                Tick::Inconclusive { metric } => {
                    // Argo Rollouts pauses a rollout whose analysis run is
                    // inconclusive: a human must look.
                    self.analysis.stop();
                    self.decided = true;
                    cx.decide(Command::Hold, metric);
                }
                Tick::Failed { metric, action } => {
                    self.analysis.stop();
                    self.decided = true;
                    let command = self.command_for(action);
                    cx.decide(command, metric);
                }
            },
        }
    }

    /// Before step `i` ends: a failed interval in it holds the weight one
    /// more interval each (`hold_on_failure`), and a last measurement
    /// that scored marginal fails the step (`score.last_must_pass`).
    /// Returns whether the step does not end now.
    fn step_held_or_failed(&mut self, i: usize, now: SimTime, cx: &mut Cx) -> bool {
        let analysis = &self.policy.analysis;
        if analysis.hold_on_failure {
            let failed = self.analysis.take_failed_in_step();
            if failed > 0 {
                cx.event(Event::StepExtended { step: i });
                let more = SimDuration(analysis.interval.ms() * u64::from(failed));
                self.wake(cx, now + more, Wake::StepEnd(i));
                return true;
            }
        }
        if let Some((metric, action)) = self.analysis.fail_if_last_marginal(cx) {
            self.analysis.stop();
            self.decided = true;
            let command = self.command_for(action);
            cx.decide(command, metric);
            return true;
        }
        false
    }

    /// A step's (or the preview's) time is up: go on with `next`, unless
    /// every analysis in it was inconclusive, when `on_inconclusive` says
    /// what happens.
    fn step_ends(&mut self, step: Option<usize>, blind: bool, now: SimTime, next: Command, cx: &mut Cx) {
        if !blind {
            cx.command(next);
            return;
        }
        match (self.policy.analysis.on_inconclusive, step) {
            (OnInconclusive::Continue, _) => {
                cx.event(Event::BlindStep { step });
                cx.command(next);
            }
            (OnInconclusive::Hold, _) => {
                self.analysis.stop();
                self.decided = true;
                cx.command(Command::Hold);
            }
            (OnInconclusive::Extend, Some(i)) => {
                cx.event(Event::StepExtended { step: i });
                self.wake(cx, now + self.policy.analysis.interval, Wake::StepEnd(i));
            }
            (OnInconclusive::Extend, None) => {
                // The preview is extended alike.
                self.wake(cx, now + self.policy.analysis.interval, Wake::PreviewEnd);
            }
        }
    }

    /// The plan ran to its end: a promoted app now bakes.
    fn plan_completed(&mut self, now: SimTime, cx: &mut Cx) {
        if self.baking {
            self.wake(cx, now + self.policy.analysis.after_promotion, Wake::BakeEnd);
        }
    }

    /// The command that carries out `action`.
    fn command_for(&mut self, action: Action) -> Command {
        match action {
            Action::Rollback => Command::Rollback,
            Action::Hold => Command::Hold,
            Action::KillSwitch => Command::KillSwitch,
            Action::Hotfix => Command::Hotfix,
            Action::Page => {
                let p = &self.policy.paging;
                let ack = draw_ack(&mut self.human, p.ack_median, p.ack_p90);
                Command::Page {
                    then: p.then,
                    after: ack + p.diagnose,
                }
            }
        }
    }

    fn noted(&mut self, note: Note, now: SimTime, cx: &mut Cx) {
        let strategy = &self.policy.strategy;
        match note {
            Note::Fact(Fact::CandidateServing) => {
                if matches!(strategy, Strategy::Canary { .. } | Strategy::Rolling { .. })
                    && self.policy.analysis.from_step.is_none()
                {
                    self.analysis.start(now, cx);
                }
            }
            Note::Fact(Fact::PhaseWorkDone { phase }) => {
                if let Some(plan) = &mut self.plan {
                    plan.work_done(phase, now, cx);
                }
            }
            Note::Fact(Fact::InstancesReady | Fact::FlagsApplied { .. }) => {}
            Note::StepReached { step } => {
                self.analysis.step_started();
                // Argo Rollouts' startingStep: background analysis from this step on.
                if self.policy.analysis.from_step == Some(step) && !self.analysis.ever_started() && !self.decided {
                    self.analysis.start(now, cx);
                }
                let pause = self.policy.steps[step].pause;
                self.wake(cx, now + pause, Wake::StepEnd(step));
            }
            Note::PreviewStarted => {
                self.analysis.step_started();
                self.analysis.start(now, cx);
                if let Strategy::BlueGreen { preview, .. } = strategy {
                    self.wake(cx, now + *preview, Wake::PreviewEnd);
                }
            }
            Note::Switched => self.analysis.start(now, cx),
            Note::FlagStepApplied { percent } => {
                if percent > 0
                    && !self.analysis.ever_started()
                    && !self.decided
                    && self.policy.analysis.from_step.is_none()
                {
                    self.analysis.start(now, cx);
                }
            }
            Note::Promoted => self.promoted(now, cx),
            Note::HotfixDeployed => {
                self.analysis.reset_failures();
                if matches!(strategy, Strategy::Canary { .. } | Strategy::Flag) {
                    self.analysis.start(now, cx);
                }
            }
        }
    }

    fn promoted(&mut self, now: SimTime, cx: &mut Cx) {
        let bake = self.policy.analysis.after_promotion;
        if let Some(plan) = self.plan.as_mut().filter(|p| p.pending()) {
            // Keep analysing while the migration runs; the bake starts when it ends.
            self.baking = true;
            plan.app_promoted(now, cx);
        } else if bake > SimDuration::ZERO {
            self.baking = true;
            self.wake(cx, now + bake, Wake::BakeEnd);
        } else {
            self.analysis.stop();
        }
    }
}

impl Controller for PolicyController<'_> {
    fn by(&self) -> By {
        By::Policy
    }

    fn on(&mut self, cue: Cue, obs: &Observation<'_>, rollout: &RolloutStatus, cx: &mut Cx) {
        match cue {
            Cue::Begin => {
                if self.rollout_at < self.horizon {
                    self.wake(cx, self.rollout_at, Wake::Start);
                }
            }
            Cue::Wake(class, token) => self.woken(Wake::from_token(token, class), obs, rollout, cx),
            Cue::Note(note) => self.noted(note, obs.now, cx),
        }
    }
}

/// A log-normal acknowledgement delay with the given median and 90th percentile.
fn draw_ack(rng: &mut ChaCha8Rng, median: SimDuration, p90: SimDuration) -> SimDuration {
    let m = median.as_secs_f64().max(0.001);
    let sigma = (libm::log(p90.as_secs_f64().max(m) / m)) / inverse_normal_cdf(0.9);
    let z = crate::draw::standard_normal(rng);
    SimDuration::from_secs_f64(m * libm::exp(sigma * z))
}
