//! The release strategies' mechanics: how each command becomes world
//! operations, as one state machine over [`Stage`].
//!
//! ```text
//!            start                 instances ready          next_step past the last
//!   Idle ─────────────> Stepping ──────────────────> ... ─────────────────────────> Promoted
//!     │ big bang,         ▲  │ rollback                                     (blue-green:
//!     │ blue-green,       │  └─────────> RollingBack ──> RolledBack          old fleet kept
//!     │ flag              │ fleet up       (delay, then re-route or redeploy)  for keep_old)
//!     └──> Deploying ─────┴──> Preview (blue-green) ──promote──> Promoted
//!   hold: Held · page: Paged ──(the human acts)──> ... · kill_switch: Killed
//!   hotfix: Hotfixing ──(fix built and ready)──> Stepping from step 1 (canary, flag) or Promoted
//! ```
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

use super::Platform;
use super::{Command, Note};
use crate::fleet::Version;
use crate::model::{Action, MigrationPhase, Policy, Routing as RoutingSpec, Strategy};
use crate::time::{SimDuration, SimTime};
use crate::timeline::Event;
use crate::world::{BackfillRate, Operation, Routing};

/// The mechanics' own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RolloutTimer {
    /// Carry out an action: after the rollback delay, or when a paged human acts.
    Act(Action),
    HotfixBuilt,
    /// Blue-green: the old fleet kept for `keep_old` goes.
    DropOldFleet,
}

/// Where the rollout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Not started (or, under a migration plan, between its phases).
    Idle,
    /// Bringing up a full candidate fleet (big bang, blue-green, flag).
    Deploying,
    /// Blue-green: mirrored traffic reaches the new fleet before the switch.
    Preview,
    /// Stepping through the policy's steps (or rolling batches).
    Stepping,
    /// The candidate serves all traffic.
    Promoted,
    RollingBack,
    RolledBack,
    Held,
    Paged,
    Killed,
    Hotfixing,
}

/// What the mechanics wait for instances to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Weighted or sticky canary: enough candidate instances for `weight`.
    Weight { step: usize, weight: u32 },
    /// Replicas canary: `target` candidate instances, then scale stable down.
    Replicas { step: usize, target: u32 },
    /// Rolling: the current batch of candidate instances.
    Batch,
    /// A full candidate fleet (big bang, blue-green, flag deploy).
    FullFleet,
    /// A rollback redeploying stable.
    Redeploy,
    /// Hotfix instances replacing `count` faulty ones.
    Hotfix { count: u32 },
}

/// The rollout as its decider sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolloutStatus {
    pub stage: Stage,
    /// The step in force (or being brought up).
    pub step: Option<usize>,
    /// Waiting for instances (a step is not in force yet).
    pub waiting: bool,
}

/// The mechanics of one policy's strategy, and the record of what they did.
pub struct Rollout<'p> {
    policy: &'p Policy,
    /// The fleet's normal size.
    n: u32,
    stage: Stage,
    wait: Option<Wait>,
    step: Option<usize>,
    pub started_at: Option<SimTime>,
    pub promoted_at: Option<SimTime>,
    pub rollback_done_at: Option<SimTime>,
}

impl<'p> Rollout<'p> {
    pub fn new(policy: &'p Policy, instances: u32) -> Rollout<'p> {
        Rollout {
            policy,
            n: instances,
            stage: Stage::Idle,
            wait: None,
            step: None,
            started_at: None,
            promoted_at: None,
            rollback_done_at: None,
        }
    }

    pub fn status(&self) -> RolloutStatus {
        RolloutStatus {
            stage: self.stage,
            step: self.step,
            waiting: self.wait.is_some(),
        }
    }

    /// Moves to `next`, asserting the transition is one the machine has.
    fn enter(&mut self, next: Stage) {
        use Stage::*;
        let legal = match (self.stage, next) {
            (Idle, Stepping | Deploying) => true,
            (Deploying, Preview | Stepping) => true,
            (Preview | Stepping, Stepping | Promoted) => true,
            (Hotfixing | Held, Stepping) => true,
            (_, Held | Paged | RollingBack | Killed | Hotfixing) => true,
            (RollingBack, RolledBack) => true,
            (from, to) => from == to,
        };
        assert!(legal, "illegal rollout transition {:?} -> {next:?}", self.stage);
        self.stage = next;
    }

    fn instances_for(&self, weight: u32) -> u32 {
        if weight == 0 {
            return 0;
        }
        (u64::from(weight) * u64::from(self.n)).div_ceil(100).max(1) as u32
    }

    fn sticky(&self) -> bool {
        matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: RoutingSpec::Sticky
            }
        )
    }

    /// Carries out one command. A command that does not apply where the
    /// rollout is (a second start, a rollback of a rolled-back release)
    /// changes nothing.
    pub fn command(&mut self, command: Command, p: &mut dyn Platform) {
        let over = matches!(self.stage, Stage::RolledBack | Stage::Killed);
        if over && command.action().is_some() {
            return;
        }
        match command {
            Command::Start => {
                if self.stage == Stage::Idle && self.started_at.is_none() {
                    self.start_step(0, p);
                }
            }
            Command::NextStep => {
                if self.stage == Stage::Stepping && self.wait.is_none() {
                    let next = self.step.map_or(0, |i| i + 1);
                    self.start_step(next, p);
                }
            }
            Command::SetWeight { weight } => self.set_weight(weight, p),
            Command::Promote => self.promote_now(p),
            Command::Hold => {
                self.wait = None;
                self.enter(Stage::Held);
            }
            Command::Resume => {
                if self.stage == Stage::Held {
                    self.enter(Stage::Stepping);
                }
            }
            Command::Rollback => {
                self.wait = None;
                self.enter(Stage::RollingBack);
                let at = p.now() + self.policy.rollback_delay;
                p.timer(at, RolloutTimer::Act(Action::Rollback));
            }
            Command::KillSwitch => {
                self.wait = None;
                self.act(Action::KillSwitch, p);
            }
            Command::Hotfix => {
                self.wait = None;
                self.start_hotfix(p);
            }
            Command::Page { then, after } => {
                self.wait = None;
                self.enter(Stage::Paged);
                let acts_at = p.now() + after;
                p.emit(&Event::Paged { acts_at });
                p.timer(acts_at, RolloutTimer::Act(then));
            }
            Command::BeginPhase { index } => self.begin_phase(index, p),
            Command::FinishPhase { index } => {
                if let Some(spec) = self.policy.migration.as_ref().and_then(|m| m.phases.get(index)) {
                    p.apply(Operation::FinishPhase { phase: spec.phase });
                }
            }
        }
    }

    /// One of the mechanics' own timers fired.
    pub fn timer(&mut self, timer: RolloutTimer, p: &mut dyn Platform) {
        match timer {
            RolloutTimer::Act(action) => self.act(action, p),
            RolloutTimer::HotfixBuilt => self.deploy_hotfix(p),
            RolloutTimer::DropOldFleet => {
                if self.stage == Stage::Promoted {
                    let n = p.observe().alive(Version::Stable);
                    p.apply(Operation::Terminate {
                        version: Version::Stable,
                        count: n,
                    });
                }
            }
        }
    }

    /// The world reported something about the controller's operations.
    pub fn on_fact(&mut self, fact: crate::world::Fact, p: &mut dyn Platform) {
        match fact {
            crate::world::Fact::InstancesReady => self.on_ready(p),
            crate::world::Fact::FlagsApplied { percent } => self.on_flags_applied(percent, p),
            crate::world::Fact::CandidateServing | crate::world::Fact::PhaseWorkDone { .. } => {}
        }
    }

    fn begin_phase(&mut self, index: usize, p: &mut dyn Platform) {
        let Some(plan) = &self.policy.migration else { return };
        let Some(spec) = plan.phases.get(index) else {
            if index == plan.phases.len() {
                p.apply(Operation::CompleteMigration);
            }
            return;
        };
        if index == 0 {
            self.started_at = Some(p.now());
            p.emit(&Event::RolloutStarted);
            p.apply(Operation::StartMigration {
                backfill: BackfillRate {
                    batch_size: plan.batch_size,
                    batches_per_s: plan.batches_per_s,
                    max_retries: plan.max_retries,
                },
            });
        }
        p.apply(Operation::BeginPhase {
            phase: spec.phase,
            duration: spec.duration,
        });
        if spec.phase == MigrationPhase::DualWrite {
            // The app rollout: the policy's strategy and steps.
            self.stage = Stage::Idle;
            self.start_step(0, p);
        }
    }

    /// Starts step `i` of the rollout; the first call starts the rollout.
    fn start_step(&mut self, i: usize, p: &mut dyn Platform) {
        if self.stage == Stage::Idle && !self.start_rollout(p) {
            return;
        }
        if self.stage != Stage::Stepping {
            return;
        }
        if matches!(self.policy.strategy, Strategy::Flag) {
            match self.policy.steps.get(i) {
                Some(step) => {
                    self.step = Some(i);
                    p.apply(Operation::SetFlags { percent: step.weight });
                }
                None => self.promote(p),
            }
            return;
        }
        let weight = self.policy.steps.get(i).map_or(100, |s| s.weight);
        let replicas = self.replica_routing();
        if i >= self.policy.steps.len() && p.observe().weight() == 100 && !replicas {
            self.promote(p);
            return;
        }
        self.bring_up(i, weight, replicas, p);
    }

    /// Launches what step `i` at `weight` needs and waits for it.
    fn bring_up(&mut self, i: usize, weight: u32, replicas: bool, p: &mut dyn Platform) {
        let needed = self.instances_for(weight);
        let alive = p.observe().alive(Version::Candidate);
        self.launch(Version::Candidate, needed.saturating_sub(alive), p);
        self.wait = Some(if replicas {
            Wait::Replicas {
                step: i,
                target: needed,
            }
        } else {
            Wait::Weight { step: i, weight }
        });
        self.on_ready(p);
    }

    /// The rollout begins; false when the strategy's own start ends the call.
    fn start_rollout(&mut self, p: &mut dyn Platform) -> bool {
        // Under a migration plan the rollout started with its first phase.
        if self.started_at.is_none() {
            self.started_at = Some(p.now());
            p.emit(&Event::RolloutStarted);
        }
        match self.policy.strategy {
            Strategy::Canary { routing } => {
                self.enter(Stage::Stepping);
                match routing {
                    RoutingSpec::Replicas => p.apply(Operation::SetRouting(Routing::Replicas)),
                    RoutingSpec::Sticky => p.apply(Operation::SetRouting(Routing::Sticky)),
                    RoutingSpec::Weighted => {}
                }
                true
            }
            Strategy::Rolling { .. } => {
                self.enter(Stage::Stepping);
                p.apply(Operation::SetRouting(Routing::Replicas));
                self.start_batch(p);
                false
            }
            Strategy::BigBang | Strategy::BlueGreen { .. } | Strategy::Flag => {
                self.enter(Stage::Deploying);
                if matches!(self.policy.strategy, Strategy::Flag) {
                    p.apply(Operation::InitFlags { percent: 0 });
                }
                let n = self.n;
                self.launch(Version::Candidate, n, p);
                self.wait = Some(Wait::FullFleet);
                false
            }
        }
    }

    fn replica_routing(&self) -> bool {
        matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: RoutingSpec::Replicas
            } | Strategy::Rolling { .. }
        )
    }

    fn launch(&mut self, version: Version, count: u32, p: &mut dyn Platform) {
        p.apply(Operation::Launch { version, count });
    }

    fn terminate(&mut self, version: Version, count: u32, p: &mut dyn Platform) {
        p.apply(Operation::Terminate { version, count });
    }

    /// Instances became ready (or an OOM restart finished): maybe the wait is over.
    fn on_ready(&mut self, p: &mut dyn Platform) {
        let Some(wait) = self.wait else { return };
        let obs = p.observe();
        let ready_c = obs.ready(Version::Candidate);
        let alive_c = obs.alive(Version::Candidate);
        let ready_s = obs.ready(Version::Stable);
        let alive_s = obs.alive(Version::Stable);
        let n = self.n;
        match wait {
            Wait::Weight { step, weight } if ready_c >= self.instances_for(weight) => {
                self.wait = None;
                self.apply_weight(step, weight, p);
            }
            Wait::Replicas { step, target } if ready_c >= target => {
                self.wait = None;
                let excess = alive_s.saturating_sub(n - target.min(n));
                self.terminate(Version::Stable, excess, p);
                let percent = (p.observe().candidate_share() * 100.0).round() as u32;
                self.apply_weight(step, percent, p);
            }
            Wait::Batch if ready_c >= alive_c => {
                self.wait = None;
                let excess = alive_s.saturating_sub(n.saturating_sub(ready_c));
                self.terminate(Version::Stable, excess, p);
                let percent = (p.observe().candidate_share() * 100.0).round() as u32;
                p.apply(Operation::Route {
                    step: Some(0),
                    weight: percent,
                });
                self.step = Some(0);
                if ready_c >= n {
                    self.promote(p);
                } else {
                    self.start_batch(p);
                }
            }
            Wait::FullFleet if ready_c >= n => {
                self.wait = None;
                self.full_fleet_ready(p);
            }
            Wait::Redeploy if ready_s >= n => {
                self.wait = None;
                self.route_back(p);
            }
            Wait::Hotfix { count } if ready_c >= alive_c => {
                self.wait = None;
                p.apply(Operation::TerminateOldest {
                    version: Version::Candidate,
                    count,
                });
                p.apply(Operation::Fixed);
                p.note(Note::HotfixDeployed);
                self.enter(Stage::Stepping);
                match self.policy.strategy {
                    Strategy::Canary { .. } | Strategy::Flag => self.start_step(0, p),
                    Strategy::BigBang | Strategy::Rolling { .. } | Strategy::BlueGreen { .. } => self.promote(p),
                }
            }
            Wait::Weight { .. }
            | Wait::Replicas { .. }
            | Wait::Batch
            | Wait::FullFleet
            | Wait::Redeploy
            | Wait::Hotfix { .. } => {}
        }
    }

    /// One rolling batch: drop up to `max_unavailable` stable instances at
    /// once, launch up to `max_surge` candidates.
    fn start_batch(&mut self, p: &mut dyn Platform) {
        let Strategy::Rolling {
            max_surge,
            max_unavailable,
        } = self.policy.strategy
        else {
            unreachable!("batches only under a rolling strategy")
        };
        let n = self.n;
        let alive_c = p.observe().alive(Version::Candidate);
        let size = max_surge.max(1).min(n - alive_c.min(n));
        self.terminate(Version::Stable, max_unavailable.min(size), p);
        self.launch(Version::Candidate, size, p);
        self.wait = Some(Wait::Batch);
    }

    /// Big bang, blue-green and flag rollouts: the new fleet is up.
    fn full_fleet_ready(&mut self, p: &mut dyn Platform) {
        match self.policy.strategy {
            Strategy::BlueGreen { preview_share, .. } => {
                self.enter(Stage::Preview);
                p.apply(Operation::Mirror { share: preview_share });
                p.note(Note::PreviewStarted);
            }
            Strategy::Flag => {
                self.switch_to_candidate(p);
                p.apply(Operation::SetRouting(Routing::Dark));
                let n = self.n;
                self.terminate(Version::Stable, n, p);
                self.enter(Stage::Stepping);
                self.start_step(0, p);
            }
            Strategy::BigBang | Strategy::Canary { .. } | Strategy::Rolling { .. } => {
                self.switch_to_candidate(p);
                let n = self.n;
                self.terminate(Version::Stable, n, p);
                self.enter(Stage::Stepping);
                p.note(Note::Switched);
                self.promote(p);
            }
        }
    }

    fn switch_to_candidate(&mut self, p: &mut dyn Platform) {
        p.apply(Operation::Route {
            step: None,
            weight: 100,
        });
    }

    fn apply_weight(&mut self, i: usize, weight: u32, p: &mut dyn Platform) {
        let step = (i < self.policy.steps.len()).then_some(i);
        if self.sticky() {
            p.apply(Operation::MoveUsers { weight });
        }
        p.apply(Operation::Route { step, weight });
        self.step = step;
        match step {
            None => self.promote(p),
            Some(i) => {
                let pause = self.policy.steps[i].pause;
                if i + 1 == self.policy.steps.len() && weight == 100 && pause == SimDuration::ZERO {
                    self.promote(p);
                } else {
                    p.note(Note::StepReached { step: i });
                }
            }
        }
    }

    /// A trainee's or script's own weight: a step of its own at the current index.
    fn set_weight(&mut self, weight: u32, p: &mut dyn Platform) {
        if self.stage != Stage::Stepping || matches!(self.policy.strategy, Strategy::Rolling { .. }) {
            return;
        }
        let weight = weight.min(100);
        if matches!(self.policy.strategy, Strategy::Flag) {
            p.apply(Operation::SetFlags { percent: weight });
            return;
        }
        let i = self.step.unwrap_or(0);
        self.bring_up(i, weight, self.replica_routing(), p);
    }

    /// A flag change reached every instance.
    fn on_flags_applied(&mut self, percent: u32, p: &mut dyn Platform) {
        if self.stage != Stage::Stepping || !matches!(self.policy.strategy, Strategy::Flag) {
            return;
        }
        let Some(i) = self.step else { return };
        p.apply(Operation::Route {
            step: Some(i),
            weight: percent,
        });
        p.note(Note::FlagStepApplied { percent });
        let pause = self.policy.steps[i].pause;
        if i + 1 == self.policy.steps.len() && percent == 100 && pause == SimDuration::ZERO {
            self.promote(p);
        } else {
            p.note(Note::StepReached { step: i });
        }
    }

    /// Skip the remaining steps (a promote command).
    fn promote_now(&mut self, p: &mut dyn Platform) {
        match self.stage {
            Stage::Preview => self.end_preview(p),
            Stage::Stepping if self.wait.is_none() => match self.policy.strategy {
                Strategy::Canary { .. } | Strategy::Flag => {
                    let past = self.policy.steps.len();
                    self.start_step(past, p);
                }
                Strategy::BigBang | Strategy::Rolling { .. } | Strategy::BlueGreen { .. } => {}
            },
            Stage::Idle
            | Stage::Deploying
            | Stage::Stepping
            | Stage::Promoted
            | Stage::RollingBack
            | Stage::RolledBack
            | Stage::Held
            | Stage::Paged
            | Stage::Killed
            | Stage::Hotfixing => {}
        }
    }

    /// Blue-green: the preview is over; switch all traffic to the new fleet
    /// and keep the old one for `keep_old`.
    fn end_preview(&mut self, p: &mut dyn Platform) {
        let Strategy::BlueGreen { keep_old, .. } = self.policy.strategy else {
            unreachable!("a preview only under blue-green")
        };
        p.apply(Operation::Mirror { share: 0.0 });
        self.enter(Stage::Stepping);
        self.switch_to_candidate(p);
        self.promote(p);
        p.timer(p.now() + keep_old, RolloutTimer::DropOldFleet);
    }

    fn promote(&mut self, p: &mut dyn Platform) {
        if self.stage != Stage::Stepping {
            return;
        }
        self.promoted_at = Some(p.now());
        p.emit(&Event::Promoted);
        // A promoted canary scales the old version down (Argo Rollouts'
        // scale-down); blue-green keeps it for `keep_old` instead.
        if matches!(self.policy.strategy, Strategy::Canary { .. }) {
            let n = p.observe().alive(Version::Stable);
            self.terminate(Version::Stable, n, p);
        }
        self.enter(Stage::Promoted);
        p.note(Note::Promoted);
    }

    /// Carries out an action now (after a rollback delay or a page).
    fn act(&mut self, action: Action, p: &mut dyn Platform) {
        if matches!(self.stage, Stage::RolledBack | Stage::Killed) {
            return;
        }
        p.emit(&Event::Acting { action });
        match action {
            Action::Rollback => self.rollback(p),
            Action::KillSwitch => {
                self.enter(Stage::Killed);
                p.apply(Operation::SetFlags { percent: 0 });
            }
            Action::Hotfix => self.start_hotfix(p),
            Action::Hold | Action::Page => self.enter(Stage::Held),
        }
    }

    fn rollback(&mut self, p: &mut dyn Platform) {
        let restore = self
            .policy
            .migration
            .as_ref()
            .map_or((None, SimDuration::from_secs(1200)), |m| {
                (m.restore_rows_per_s, m.restore_base)
            });
        // Without a plan there is no replay tooling: restore the backup.
        p.apply(Operation::RollbackData {
            restore_rows_per_s: restore.0,
            restore_base: restore.1,
        });
        self.enter(Stage::RollingBack);
        p.apply(Operation::Mirror { share: 0.0 });
        let n = self.n;
        let obs = p.observe();
        let (ready_s, alive_s, alive_c) = (
            obs.ready(Version::Stable),
            obs.alive(Version::Stable),
            obs.alive(Version::Candidate),
        );
        let replicas_canary = matches!(
            self.policy.strategy,
            Strategy::Canary {
                routing: RoutingSpec::Replicas
            }
        );
        if !self.replica_routing() && ready_s >= n {
            self.route_back(p);
        } else if replicas_canary {
            self.terminate(Version::Candidate, alive_c, p);
            self.launch(Version::Stable, n.saturating_sub(alive_s), p);
            self.finish_rollback(p);
        } else {
            self.launch(Version::Stable, n.saturating_sub(alive_s), p);
            self.wait = Some(Wait::Redeploy);
            self.on_ready(p);
        }
    }

    /// All traffic back to stable, candidates dropped.
    fn route_back(&mut self, p: &mut dyn Platform) {
        if matches!(self.policy.strategy, Strategy::Flag) {
            p.apply(Operation::SetRouting(Routing::Weighted));
        }
        if self.sticky() {
            p.apply(Operation::ResetUsers);
        }
        p.apply(Operation::Route { step: None, weight: 0 });
        self.step = None;
        let alive_c = p.observe().alive(Version::Candidate);
        self.terminate(Version::Candidate, alive_c, p);
        self.finish_rollback(p);
    }

    fn finish_rollback(&mut self, p: &mut dyn Platform) {
        self.enter(Stage::RolledBack);
        self.rollback_done_at = Some(p.now());
        p.emit(&Event::RollbackCompleted);
    }

    /// Keep the canary small while a fix is built.
    fn start_hotfix(&mut self, p: &mut dyn Platform) {
        self.enter(Stage::Hotfixing);
        let hold = self.policy.hotfix.hold_weight;
        let obs = p.observe();
        let (weight, flags) = (obs.weight(), obs.flag_percent());
        match self.policy.strategy {
            Strategy::Canary {
                routing: RoutingSpec::Weighted | RoutingSpec::Sticky,
            } if weight > hold => {
                if self.sticky() {
                    p.apply(Operation::MoveUsers { weight: hold });
                }
                p.apply(Operation::Route {
                    step: self.step,
                    weight: hold,
                });
            }
            Strategy::Flag if flags > hold => p.apply(Operation::SetFlags { percent: hold }),
            Strategy::Canary { .. }
            | Strategy::Flag
            | Strategy::BigBang
            | Strategy::Rolling { .. }
            | Strategy::BlueGreen { .. } => {}
        }
        p.timer(p.now() + self.policy.hotfix.build, RolloutTimer::HotfixBuilt);
    }

    /// The hotfix is built: replace the candidate's instances with it.
    fn deploy_hotfix(&mut self, p: &mut dyn Platform) {
        if self.stage != Stage::Hotfixing {
            return;
        }
        let count = p.observe().alive(Version::Candidate).max(1);
        self.launch(Version::Candidate, count, p);
        self.wait = Some(Wait::Hotfix { count });
        self.on_ready(p);
    }

    /// How the run ended, as far as the rollout is concerned.
    pub fn outcome(&self) -> crate::score::Outcome {
        use crate::score::Outcome;
        match self.stage {
            Stage::Promoted => Outcome::Promoted,
            Stage::RollingBack | Stage::RolledBack => Outcome::RolledBack,
            Stage::Held | Stage::Paged => Outcome::Held,
            Stage::Killed => Outcome::Killed,
            Stage::Idle | Stage::Deploying | Stage::Preview | Stage::Stepping | Stage::Hotfixing => Outcome::TimedOut,
        }
    }
}
