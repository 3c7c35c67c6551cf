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

use crate::model::Metric;
use crate::time::SimTime;
use crate::world::{Fact, Observation, Operation};

pub use crate::command::{By, Command, Issued};
pub use strategy::{RolloutStatus, RolloutTimer, Stage};

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
    /// A command, and who issued it when not the controller itself (a
    /// script replaying a session names each command's author).
    Command(Command, Option<Metric>, Option<By>),
    Wake(SimTime, WakeClass, u64),
    Event(crate::timeline::Event),
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
        self.out.push(Out::Command(command, None, None));
    }

    /// Issues a command now on behalf of `by` (a composite controller, or
    /// a script replaying who issued what).
    pub fn command_by(&mut self, command: Command, metric: Option<Metric>, by: By) {
        self.out.push(Out::Command(command, metric, Some(by)));
    }

    /// Issues a decision now, naming the metric whose check failed.
    pub fn decide(&mut self, command: Command, metric: Metric) {
        self.out.push(Out::Command(command, Some(metric), None));
    }

    /// Asks to be woken at `at` with `token`.
    pub fn wake(&mut self, at: SimTime, class: WakeClass, token: u64) {
        self.out.push(Out::Wake(at, class, token));
    }

    /// Adds an event to the run's timeline.
    pub fn event(&mut self, event: crate::timeline::Event) {
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

/// What the mechanics drive: operations into the world, the clock, what
/// monitoring shows, their own timers and notes to the decider. Nothing
/// here reaches the ledger or the faults; the engine implements it.
pub trait Platform {
    fn now(&self) -> SimTime;

    /// What a controller may see now.
    fn observe(&self) -> Observation<'_>;

    /// Applies an operation to the world now.
    fn apply(&mut self, op: Operation);

    /// Adds an event to the timeline.
    fn emit(&mut self, event: &crate::timeline::Event);

    /// Sets one of the mechanics' timers.
    fn timer(&mut self, at: SimTime, timer: RolloutTimer);

    /// Tells the decider something happened to the rollout.
    fn note(&mut self, note: Note);
}
