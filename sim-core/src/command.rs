//! Commands: what any controller — the policy, a script, a trainee — may
//! ask of the release, and the log of who asked what when.

use crate::model::{Action, Metric};
use crate::time::{SimDuration, SimTime};

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
    /// The trainee of a game day.
    Trainee,
    /// The game master of a game day.
    Trainer,
    /// A game day's debrief: the best action, knowing the ground truth.
    Oracle,
}

impl By {
    pub const ALL: [By; 5] = [By::Policy, By::Script, By::Trainee, By::Trainer, By::Oracle];

    pub fn name(self) -> &'static str {
        match self {
            By::Policy => "policy",
            By::Script => "script",
            By::Trainee => "trainee",
            By::Trainer => "trainer",
            By::Oracle => "oracle",
        }
    }

    pub fn from_name(name: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.name() == name)
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
