//! The timeline: what the engine reports as a run goes, and who hears it.
//!
//! The engine never prints. It pushes every [`Event`] into an [`Observer`]
//! the caller supplies (ripgrep's `Sink`): the text timeline, the JSON
//! lines, the plot, a test probe, later the game-day screen.

use crate::fleet::Version;
use crate::model::{Action, Metric, MigrationPhase};
use crate::time::SimTime;

/// What a check's measurement concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One check's measurement over one analysis window.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub metric: Metric,
    pub candidate: Option<f64>,
    pub stable: Option<f64>,
    pub candidate_requests: u64,
    pub verdict: Verdict,
    /// Failures counted against the check's limit after this measurement.
    pub failures: u32,
}

/// What the engine reports as it runs: the timeline of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    RolloutStarted,
    /// A controller issued a command (the command log; a run's commands
    /// replay as a script).
    Command(crate::command::Issued),
    InstancesLaunched {
        version: Version,
        count: u32,
        ready_at: SimTime,
    },
    InstancesTerminated {
        version: Version,
        count: u32,
    },
    WeightSet {
        step: Option<usize>,
        weight: u32,
    },
    /// Feature flags now on for this percentage of users.
    FlagSet {
        percent: u32,
    },
    /// Blue-green: mirrored preview traffic to the new fleet starts.
    PreviewStarted {
        share: f64,
    },
    /// Ground truth, for the timeline and the debrief; no controller sees
    /// it: a fault (or the candidate's own regression) is in force from now.
    FaultOnset {
        fault: Option<usize>,
    },
    /// Ground truth: the first request the release harmed or put at risk is
    /// served. This is the run's onset, from which detection is timed.
    HarmOnset,
    /// Ground truth: an instance ran out of memory and restarts.
    OomKill {
        version: Version,
        count: u32,
    },
    Analysis {
        measurements: Vec<Measurement>,
    },
    AnalysisFailed {
        metric: Metric,
        /// The Kayenta score group that failed, when a score decided.
        group: Option<String>,
    },
    /// A check's inconclusive measurements exceeded the inconclusive limit.
    AnalysisInconclusive {
        metric: Metric,
    },
    /// A step ended with every analysis in it inconclusive (or none run):
    /// the rollout goes on without evidence (`on_inconclusive = "continue"`).
    BlindStep {
        step: Option<usize>,
    },
    /// A blind step is extended by one analysis interval
    /// (`on_inconclusive = "extend"`).
    StepExtended {
        step: usize,
    },
    Decided {
        action: Action,
    },
    /// A human was paged and will act at `acts_at`.
    Paged {
        acts_at: SimTime,
    },
    /// A delayed action (after paging, or a rollback delay) is carried out.
    Acting {
        action: Action,
    },
    HotfixDeployed,
    /// A migration phase started (`done: false`) or finished its work.
    MigrationPhase {
        phase: MigrationPhase,
        done: bool,
    },
    /// The contract is about to start: the last moment a rollback is free.
    LastSafeRollbackPoint,
    /// A rollback after the contract: the old shape is being restored.
    RestoreStarted {
        until: SimTime,
        records: u64,
        replay: bool,
    },
    RestoreDone,
    MigrationComplete,
    RollbackCompleted,
    Promoted,
    Horizon,
}

/// Receives the timeline as the engine produces it (the engine never prints).
pub trait Observer {
    fn event(&mut self, at: SimTime, event: &Event);

    /// Asked before every event the engine processes: `false` stops the run
    /// there, with the outcome `stopped`.
    fn proceed(&mut self) -> bool {
        true
    }

    /// Ground truth as of a scrape at `at`, for a game master's screen: the
    /// harm so far (no controller sees it). Most observers ignore it.
    fn truth(&mut self, _at: SimTime, _truth: &TruthSoFar) {}
}

/// The harm the release did up to one instant (fault-caused figures, as
/// the scorer counts them at the end).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TruthSoFar {
    pub failed_requests: u64,
    pub slow_requests: u64,
    pub exposed_requests: u64,
    pub users_affected: u64,
    pub lost_conversions: u64,
    pub records_lost: u64,
}

/// An observer that ignores everything, for batches.
pub struct Discard;

impl Observer for Discard {
    fn event(&mut self, _: SimTime, _: &Event) {}
}

/// Collects the timeline in memory.
#[derive(Default)]
pub struct Collect(pub Vec<(SimTime, Event)>);

impl Observer for Collect {
    /// Keeps the events in time order, same-instant events in the order
    /// they came: an event stamped earlier than one already kept (the
    /// harm's onset, known once its chunk is served, can follow a
    /// controller's later command) goes before it.
    fn event(&mut self, at: SimTime, event: &Event) {
        let pos = self.0.iter().rposition(|(t, _)| *t <= at).map_or(0, |i| i + 1);
        self.0.insert(pos, (at, event.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harm's onset is reported once its chunk is served, possibly
    /// after a later command: the collected timeline is still in time
    /// order, same-instant events as they came.
    #[test]
    fn collect_keeps_time_order_and_same_instant_order() {
        let mut c = Collect::default();
        c.event(SimTime(600_000), &Event::RolloutStarted);
        c.event(SimTime(640_000), &Event::RollbackCompleted);
        c.event(SimTime(630_129), &Event::HarmOnset);
        c.event(SimTime(640_000), &Event::RolloutStarted);
        let got: Vec<(u64, &Event)> = c.0.iter().map(|(t, e)| (t.ms(), e)).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (600_000, &Event::RolloutStarted));
        assert_eq!(got[1], (630_129, &Event::HarmOnset));
        assert_eq!(got[2], (640_000, &Event::RollbackCompleted));
        assert_eq!(got[3], (640_000, &Event::RolloutStarted));
    }
}
