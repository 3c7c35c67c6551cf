//! A scripted decider: every decision comes from a list of timed commands
//! (a game day's script, or the command log of an earlier run replayed).
//!
//! The strategy's mechanics are the policy's; only the decisions change.
//! Because the world's randomness depends only on what the controller does,
//! a script of a policy run's own commands reproduces that run exactly.

use super::{By, Command, Controller, Cue, Cx, RolloutStatus, WakeClass};
use crate::model::Metric;
use crate::time::SimTime;
use crate::world::Observation;

/// One scripted command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scripted {
    pub at: SimTime,
    pub command: Command,
    /// The metric a replayed decision named, if any.
    pub metric: Option<Metric>,
    /// Who issued the command when it was first taken (a session's
    /// trainee, trainer or policy); `None`: the script itself.
    pub by: Option<By>,
}

/// Issues its commands at their instants, in file order.
pub struct ScriptController {
    commands: Vec<Scripted>,
}

impl ScriptController {
    /// Commands are issued in time order; commands at the same instant keep
    /// their order in the list.
    pub fn new(mut commands: Vec<Scripted>) -> ScriptController {
        commands.sort_by_key(|c| c.at);
        ScriptController { commands }
    }
}

impl Controller for ScriptController {
    fn by(&self) -> By {
        By::Script
    }

    fn on(&mut self, cue: Cue, _obs: &Observation<'_>, _rollout: &RolloutStatus, cx: &mut Cx) {
        match cue {
            Cue::Begin => {
                // One wake per distinct instant; the token is the index of
                // the first command at that instant. Scripted commands run
                // last in their instant, after the world's own changes: a
                // policy's decision at that instant either came after them
                // or does not depend on them.
                let mut last = None;
                for (i, c) in self.commands.iter().enumerate() {
                    if last != Some(c.at) {
                        cx.wake(c.at, WakeClass::End, i as u64);
                        last = Some(c.at);
                    }
                }
            }
            Cue::Wake(_, token) => {
                let first = token as usize;
                let at = self.commands[first].at;
                for c in self.commands[first..].iter().take_while(|c| c.at == at) {
                    match (c.by, c.metric) {
                        (Some(by), metric) => cx.command_by(c.command, metric, by),
                        (None, Some(metric)) => cx.decide(c.command, metric),
                        (None, None) => cx.command(c.command),
                    }
                }
            }
            Cue::Note(_) => {}
        }
    }
}
