//! Retrospective analysis: a policy's own decider, `PolicyController`, run
//! over recorded monitoring data instead of a simulated world — when and
//! why the whole policy (every check, its judge, the failure limits, the
//! scope, the score) would have rolled back a real release.
//!
//! The decider is the one every simulated run uses; only the world is
//! replaced: monitoring is [`Monitoring::recorded`], and the strategy's
//! mechanics are reduced to what a recorded release already did (the
//! steps follow the policy's schedule, a decision ends the replay). Pure:
//! the same policy and data give the same result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::control::policy::PolicyController;
use crate::control::{Command, Controller, Cue, Cx, Note, Out, RolloutStatus, Stage, WakeClass};
use crate::fleet::Fleet;
use crate::model::{Metric, Policy, Strategy};
use crate::monitoring::{Monitoring, RecordedInterval};
use crate::time::SimTime;
use crate::timeline::Event;
use crate::world::{Fact, Observation};

/// How the replay ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The policy decided (a rollback, a hold for a human, a page, a kill
    /// switch, a hotfix), prompted by `metric`.
    Decided {
        at: SimTime,
        command: Command,
        metric: Option<Metric>,
    },
    /// Every step passed: the policy would have promoted.
    Promoted { at: SimTime },
    /// The data ended before the policy decided or promoted.
    Undecided { until: SimTime, step: Option<usize> },
}

/// What the replay saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Retro {
    pub outcome: Outcome,
    /// The decider's timeline: every analysis and its measurements, failed
    /// and inconclusive analyses, blind steps, with their instants.
    pub events: Vec<(SimTime, Event)>,
}

/// Why a policy cannot be replayed over recorded data.
pub fn unsupported(policy: &Policy) -> Option<String> {
    if policy.migration.is_some() {
        return Some("a migration plan's gates read data-health metrics of a simulated schema change".to_owned());
    }
    match policy.strategy {
        Strategy::Canary { .. } | Strategy::Flag | Strategy::BlueGreen { .. } => None,
        ref other @ (Strategy::BigBang | Strategy::Rolling { .. }) => Some(format!(
            "the {} strategy has no steps or preview to replay data over",
            other.name()
        )),
    }
}

struct Replay<'p> {
    policy: &'p Policy,
    status: RolloutStatus,
    wakes: BinaryHeap<Reverse<(SimTime, WakeClass, u64, u64)>>,
    seq: u64,
    events: Vec<(SimTime, Event)>,
    outcome: Option<Outcome>,
}

impl Replay<'_> {
    fn weight(&self) -> u32 {
        match (self.status.stage, self.status.step) {
            (Stage::Stepping, Some(i)) => self.policy.steps[i].weight,
            (Stage::Preview, _) => 0,
            (Stage::Promoted, _) => 100,
            _ => 0,
        }
    }

    /// The mechanics of a recorded release: a command becomes the notes a
    /// simulated rollout would send back, or ends the replay.
    fn mechanics(&mut self, now: SimTime, command: &Command, metric: Option<Metric>) -> Vec<Note> {
        let steps = self.policy.steps.len();
        let step = |r: &mut Self, i: usize| {
            r.status = RolloutStatus {
                stage: Stage::Stepping,
                step: Some(i),
                waiting: false,
            };
            let mut notes = vec![Note::StepReached { step: i }];
            if matches!(r.policy.strategy, Strategy::Flag) {
                notes.push(Note::FlagStepApplied {
                    percent: r.policy.steps[i].weight,
                });
            }
            notes
        };
        match command {
            Command::Start => match self.policy.strategy {
                Strategy::BlueGreen { .. } => {
                    self.status.stage = Stage::Preview;
                    vec![Note::PreviewStarted]
                }
                Strategy::Canary { .. } => {
                    let mut notes = vec![Note::Fact(Fact::CandidateServing)];
                    notes.extend(step(self, 0));
                    notes
                }
                Strategy::BigBang | Strategy::Rolling { .. } | Strategy::Flag => step(self, 0),
            },
            Command::NextStep => match self.status.step {
                Some(i) if i + 1 < steps => step(self, i + 1),
                _ => self.promote(now),
            },
            Command::Promote => self.promote(now),
            Command::SetWeight { .. } | Command::Resume | Command::BeginPhase { .. } | Command::FinishPhase { .. } => {
                Vec::new()
            }
            Command::Rollback | Command::Hold | Command::KillSwitch | Command::Hotfix | Command::Page { .. } => {
                // A decision after promotion (a bake's analysis) still counts.
                if !matches!(self.outcome, Some(Outcome::Decided { .. })) {
                    self.outcome = Some(Outcome::Decided {
                        at: now,
                        command: *command,
                        metric,
                    });
                }
                Vec::new()
            }
        }
    }

    fn promote(&mut self, now: SimTime) -> Vec<Note> {
        self.status = RolloutStatus {
            stage: Stage::Promoted,
            step: None,
            waiting: false,
        };
        self.outcome.get_or_insert(Outcome::Promoted { at: now });
        match self.policy.strategy {
            Strategy::BlueGreen { .. } => vec![Note::Switched, Note::Promoted],
            Strategy::Canary { .. } | Strategy::BigBang | Strategy::Rolling { .. } | Strategy::Flag => {
                vec![Note::Promoted]
            }
        }
    }
}

/// Replays `policy`'s decider over `data` (intervals in time order, the
/// release starting at 0).
///
/// # Errors
/// The policy cannot be replayed ([`unsupported`]).
pub fn analyse(policy: &Policy, data: &[RecordedInterval]) -> Result<Retro, String> {
    if let Some(why) = unsupported(policy) {
        return Err(why);
    }
    let end = data.last().map_or(SimTime::ZERO, |d| d.at);
    let monitoring = Monitoring::recorded(data);
    let fleet = Fleet::default();
    let mut decider = PolicyController::new(policy, SimTime::ZERO, end, false, ChaCha8Rng::seed_from_u64(0));
    let mut r = Replay {
        policy,
        status: RolloutStatus {
            stage: Stage::Idle,
            step: None,
            waiting: false,
        },
        wakes: BinaryHeap::new(),
        seq: 0,
        events: Vec::new(),
        outcome: None,
    };
    let mut cues: Vec<(SimTime, Cue)> = vec![(SimTime::ZERO, Cue::Begin)];
    loop {
        while let Some((now, cue)) = (!cues.is_empty()).then(|| cues.remove(0)) {
            if r.outcome.as_ref().is_some_and(|o| matches!(o, Outcome::Decided { .. })) {
                break;
            }
            let obs = Observation::recorded(now, &monitoring, &fleet, r.weight());
            let mut cx = Cx::default();
            decider.on(cue, &obs, &r.status, &mut cx);
            for out in cx.out {
                match out {
                    Out::Wake(at, class, token) => {
                        r.seq += 1;
                        r.wakes.push(Reverse((at, class, r.seq, token)));
                    }
                    Out::Event(e) => r.events.push((now, e)),
                    Out::Command(command, metric, _) => {
                        for note in r.mechanics(now, &command, metric) {
                            cues.push((now, Cue::Note(note)));
                        }
                    }
                }
            }
        }
        if matches!(r.outcome, Some(Outcome::Decided { .. })) {
            break;
        }
        let Some(Reverse((at, class, _, token))) = r.wakes.pop() else {
            break;
        };
        if at > end {
            break;
        }
        cues.push((at, Cue::Wake(class, token)));
    }
    let outcome = r.outcome.unwrap_or(Outcome::Undecided {
        until: end,
        step: r.status.step,
    });
    Ok(Retro {
        outcome,
        events: r.events,
    })
}
