//! Controllers: who decides what happens to the release, and how.
//!
//! A [`Controller`] (a *decider*) receives what monitoring shows and issues
//! [`Command`]s: the policy's analysis (`policy`), a script (`script`),
//! later a trainee at the keyboard. The release strategy's *mechanics*
//! (`strategy`) turn each command into world operations — launch and
//! terminate instances, route a weight, set a flag percentage, mirror,
//! switch, restore — and report back what happened to the rollout
//! ([`Note`]s). Deciders and mechanics reach the world only through
//! [`crate::engine::Platform`], whose every method returns monitoring, the
//! controller's own instances and settings, or the clock: nothing under
//! `control/` can name the ledger or the faults.

pub mod analysis;
pub mod plan;
pub mod policy;
pub mod script;
pub mod strategy;

use crate::model::{Action, Metric};
use crate::time::{SimDuration, SimTime};
use crate::world::{Fact, Observation};

pub use strategy::{RolloutStatus, Stage};

/// One command into the release, whoever issues it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Start the rollout at its first step (or deploy the new fleet).
    Start,
    /// Move on to the next step (past the last one: promote).
    NextStep,
    /// Route this weight to the candidate (a step of the controller's own).
    SetWeight { weight: u32 },
    /// Skip the remaining steps: all traffic to the candidate.
    Promote,
    /// Stop where the rollout is; nobody is called.
    Hold,
    /// Resume a held rollout at its current step.
    Resume,
    /// Send all traffic back to stable (after the policy's rollback delay).
    Rollback,
    /// Turn the feature flags off.
    KillSwitch,
    /// Keep the canary small, build a fix, then canary the fix.
    Hotfix,
    /// Hold and page a human, who acts (`then`) after `after`.
    Page { then: Action, after: SimDuration },
    /// Start phase `index` of the policy's migration plan.
    BeginPhase { index: usize },
    /// Phase `index` of the plan is done (its work finished, its gate passed).
    FinishPhase { index: usize },
}

impl Command {
    /// The name used in JSON lines and scripts.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::NextStep => "next_step",
            Command::SetWeight { .. } => "set_weight",
            Command::Promote => "promote",
            Command::Hold => "hold",
            Command::Resume => "resume",
            Command::Rollback => "rollback",
            Command::KillSwitch => "kill_switch",
            Command::Hotfix => "hotfix",
            Command::Page { .. } => "page",
            Command::BeginPhase { .. } => "begin_phase",
            Command::FinishPhase { .. } => "finish_phase",
        }
    }

    /// Every command name, for error messages.
    pub const NAMES: [&'static str; 12] = [
        "start",
        "next_step",
        "set_weight",
        "promote",
        "hold",
        "resume",
        "rollback",
        "kill_switch",
        "hotfix",
        "page",
        "begin_phase",
        "finish_phase",
    ];

    /// The mitigating action this command takes, if it is one: a decision
    /// that something is wrong.
    pub fn action(&self) -> Option<Action> {
        match self {
            Command::Rollback => Some(Action::Rollback),
            Command::Hold => Some(Action::Hold),
            Command::KillSwitch => Some(Action::KillSwitch),
            Command::Hotfix => Some(Action::Hotfix),
            Command::Page { .. } => Some(Action::Page),
            Command::Start
            | Command::NextStep
            | Command::SetWeight { .. }
            | Command::Promote
            | Command::Resume
            | Command::BeginPhase { .. }
            | Command::FinishPhase { .. } => None,
        }
    }
}

/// Who issued a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Policy,
    Script,
    Trainee,
}

impl By {
    pub fn name(self) -> &'static str {
        match self {
            By::Policy => "policy",
            By::Script => "script",
            By::Trainee => "trainee",
        }
    }
}

/// A command as issued: when, by whom, and the check that prompted it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Issued {
    pub at: SimTime,
    pub command: Command,
    pub by: By,
    /// The metric whose check failed, for a decision the analysis took.
    pub metric: Option<Metric>,
}

/// What the mechanics tell the decider about the rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// A fact the world reported about the controller's own operations.
    Fact(Fact),
    /// Step `step`'s weight is in force: its pause starts now.
    StepReached { step: usize },
    /// Blue-green: mirrored preview traffic reaches the new fleet.
    PreviewStarted,
    /// Big bang: all traffic is on the new fleet.
    Switched,
    /// A flag rollout's step reached its percentage.
    FlagStepApplied { percent: u32 },
    /// The candidate serves all traffic.
    Promoted,
    /// The fixed version replaced the candidate.
    HotfixDeployed,
}

/// When a decider wants to be woken, and at which same-instant priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WakeClass {
    /// Analysis runs after the scrape of the same instant.
    Analysis,
    /// Step ends, gates and other decisions run after the analysis.
    Control,
    /// After everything else of the instant (the world's own changes
    /// included): a script's commands, which replay decisions a policy took
    /// at that instant in reaction to it.
    End,
}

/// Why a decider is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    /// The run begins.
    Begin,
    /// A wake-up the decider asked for, with its class and token.
    Wake(WakeClass, u64),
    /// Something happened to the rollout.
    Note(Note),
}

/// One thing a decider hands back.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Out {
    Command(Command, Option<Metric>),
    Wake(SimTime, WakeClass, u64),
    Event(crate::engine::Event),
}

/// What a decider hands back: commands, wake-ups and timeline events, in
/// the order it issued them (the engine carries them out in that order).
#[derive(Default)]
pub struct Cx {
    pub(crate) out: Vec<Out>,
}

impl Cx {
    /// Issues a command now.
    pub fn command(&mut self, command: Command) {
        self.out.push(Out::Command(command, None));
    }

    /// Issues a decision now, naming the metric whose check failed.
    pub fn decide(&mut self, command: Command, metric: Metric) {
        self.out.push(Out::Command(command, Some(metric)));
    }

    /// Asks to be woken at `at` with `token`.
    pub fn wake(&mut self, at: SimTime, class: WakeClass, token: u64) {
        self.out.push(Out::Wake(at, class, token));
    }

    /// Adds an event to the run's timeline.
    pub fn event(&mut self, event: crate::engine::Event) {
        self.out.push(Out::Event(event));
    }
}

/// A decider: watches monitoring and issues commands.
pub trait Controller {
    /// Who this controller is, for the command log.
    fn by(&self) -> By;

    /// Reacts to `cue` with what it can see: monitoring and the rollout's
    /// own state. Commands, wake-ups and events go into `cx`.
    fn on(&mut self, cue: Cue, obs: &Observation<'_>, rollout: &RolloutStatus, cx: &mut Cx);
}
