//! Scoring of one run, from the ledger only.

use crate::ledger::VersionTruth;
use crate::model::{Action, Metric};
use crate::time::SimTime;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// The candidate reached 100 % and the rollout completed.
    Promoted,
    /// The analysis failed and traffic went back to stable.
    RolledBack,
    /// The analysis failed and the rollout waited for a human at the horizon.
    Held,
    /// A kill switch turned the feature flags off and halted the rollout.
    Killed,
    /// The horizon came mid-rollout.
    TimedOut,
    /// A limit (the event budget) stopped the run before the horizon; its
    /// figures cover the simulated time up to there, and it reports no
    /// mitigation.
    Truncated,
    /// An observer stopped the run before the horizon.
    Stopped,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Promoted,
        Outcome::RolledBack,
        Outcome::Held,
        Outcome::Killed,
        Outcome::TimedOut,
        Outcome::Truncated,
        Outcome::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Held => "held",
            Outcome::Killed => "killed",
            Outcome::TimedOut => "timed_out",
            Outcome::Truncated => "truncated",
            Outcome::Stopped => "stopped",
        }
    }
}

/// A controller's decision that something is wrong (its latest one).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub at: SimTime,
    pub action: Action,
    /// The check whose failures first exceeded the limit (`None` for a
    /// decision without one: a script's or a trainee's).
    pub metric: Option<Metric>,
    /// The newest scrape monitoring showed when the decision was taken:
    /// requests served after it cannot have informed the decision.
    pub data_until: Option<SimTime>,
}

impl Decision {
    /// The decision saw data from after `onset`: monitoring's windows held
    /// at least one request served at or after the first harmed one.
    pub fn informed_by(&self, onset: SimTime) -> bool {
        self.data_until.is_some_and(|t| t > onset)
    }
}

/// The action the controller took and how long it took to end the exposure.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MitigationStats {
    pub action: Action,
    pub decided_at: SimTime,
    /// When the last fault-exposed request was served, if that was after the decision.
    pub exposure_ended_at: Option<SimTime>,
}

impl MitigationStats {
    /// Decision to end of exposure: what the action itself cost.
    pub fn took_s(&self) -> Option<f64> {
        Some((self.exposure_ended_at? - self.decided_at).as_secs_f64())
    }
}

/// What a migration did to the data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MigrationStats {
    /// Records gone for good: written in the new shape only and rolled
    /// back without a replay, or never copied when the old shape was dropped.
    pub records_lost: u64,
    /// Records replayed into the old shape by a restore.
    pub records_restored: u64,
    pub restore_duration: crate::time::SimDuration,
    pub backfill_duration: Option<crate::time::SimDuration>,
    /// Mean latency the backfill added to each request served while it ran.
    pub latency_cost_of_backfill_ms: f64,
    /// Just before the contract: the last moment a rollback loses nothing.
    pub last_safe_rollback_at: Option<SimTime>,
    pub contracted_at: Option<SimTime>,
    pub rolled_back_after_contract: u32,
    pub duplicate_writes: u64,
    pub constraint_violations: u64,
    pub mismatched_rows: u64,
    /// Rows still to copy at the end of the run.
    pub backfill_lag_rows: u64,
    /// The plan ran to its end.
    pub complete: bool,
    pub phases: Vec<(crate::model::MigrationPhase, SimTime, Option<SimTime>)>,
}

/// Ground truth of the traffic served while one weight was in force.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    pub step: Option<usize>,
    pub weight: u32,
    pub from: SimTime,
    pub to: SimTime,
    pub requests: u64,
    pub failed: u64,
    pub candidate_requests: u64,
    pub candidate_failed: u64,
}

impl StepStats {
    /// The service-wide error rate users saw during this segment.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failed as f64 / self.requests as f64)
    }
}

/// Everything measured about one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    pub scenario: String,
    pub policy: String,
    /// Not read back from a file: whoever reads a run back sets it from
    /// the policy it ran (`Strategy::name`).
    #[serde(skip_deserializing)]
    pub strategy: &'static str,
    pub seed: u64,
    pub run: u64,
    pub healthy: bool,
    pub outcome: Outcome,
    /// Ground truth: when the first request the release harmed or put at
    /// risk was served (a fault or the candidate's regression touched it, or
    /// the schema change or the backfill's overload could fail it). `None`:
    /// the release harmed nobody in this run, whatever the scenario holds.
    pub fault_onset: Option<SimTime>,
    /// Every decision that something is wrong, in order.
    pub decisions: Vec<Decision>,
    pub mitigation: Option<MitigationStats>,
    /// End of the last chunk that served a fault-exposed request; `None` if
    /// exposure lasted to the horizon or never happened.
    pub mitigated_at: Option<SimTime>,
    pub rollout_started_at: Option<SimTime>,
    pub promoted_at: Option<SimTime>,
    pub rollback_done_at: Option<SimTime>,
    pub stable: VersionTruth,
    pub candidate: VersionTruth,
    pub exposed_requests: u64,
    /// Distinct users who met at least one fault-caused failure.
    pub users_affected: u64,
    /// Distinct users who met at least one fault-caused slow request.
    pub users_slowed: u64,
    pub lost_conversions: u64,
    pub inconsistent_sessions: u64,
    pub oom_kills: u64,
    /// Fault-caused failures as a share of a 30-day error budget.
    pub error_budget_consumed: f64,
    pub extra_instance_hours: f64,
    /// A hotfix replaced the faulty candidate.
    pub hotfixed: bool,
    pub migration: Option<MigrationStats>,
    pub steps: Vec<StepStats>,
    /// Steps passed on analyses that were all inconclusive (or on none).
    pub blind_steps: u32,
    pub events: u64,
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

impl RunResult {
    /// The latest decision.
    pub fn decision(&self) -> Option<Decision> {
        self.decisions.last().copied()
    }

    pub fn requests_total(&self) -> u64 {
        self.stable.requests + self.candidate.requests
    }

    pub fn failed_requests_total(&self) -> u64 {
        self.stable.failed + self.candidate.failed
    }

    /// Fault-caused failed requests (beyond what stable would have failed),
    /// on either version (a shared dependency harms stable's users too).
    pub fn blast_failed_requests(&self) -> u64 {
        self.candidate.fault_failed + self.stable.fault_failed
    }

    /// Fault-caused requests slower than the scenario's latency SLO.
    pub fn blast_slow_requests(&self) -> u64 {
        self.candidate.fault_slow + self.stable.fault_slow
    }

    pub fn fault_onset_s(&self) -> Option<f64> {
        self.fault_onset.map(secs)
    }

    pub fn detected_at_s(&self) -> Option<f64> {
        self.decision().map(|d| secs(d.at))
    }

    /// The release harmed someone in this run: it counts as a bad release.
    pub fn harmed(&self) -> bool {
        self.fault_onset.is_some()
    }

    /// The first decision taken on data that held harmed requests.
    pub fn detection(&self) -> Option<Decision> {
        let onset = self.fault_onset?;
        self.decisions.iter().copied().find(|d| d.informed_by(onset))
    }

    /// Onset to the first decision informed by harm.
    pub fn detection_time_s(&self) -> Option<f64> {
        let (onset, d) = (self.fault_onset?, self.detection()?);
        Some((d.at.max(onset) - onset).as_secs_f64())
    }

    /// The first decision came before monitoring showed any harm (before
    /// the onset, or on windows that held no harmed request): a false
    /// alarm, in a healthy release and a faulty one alike.
    pub fn false_alarm(&self) -> bool {
        match (self.decisions.first(), self.fault_onset) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(d), Some(onset)) => !d.informed_by(onset),
        }
    }

    /// A release that harmed reached 100 % (and was not fixed on the way).
    pub fn escaped(&self) -> bool {
        self.harmed() && self.outcome == Outcome::Promoted && !self.hotfixed
    }

    pub fn mitigated_at_s(&self) -> Option<f64> {
        self.mitigated_at.map(secs)
    }

    pub fn time_to_mitigate_s(&self) -> Option<f64> {
        Some((self.mitigated_at? - self.fault_onset?).as_secs_f64())
    }

    pub fn rollout_duration_s(&self) -> Option<f64> {
        Some((self.promoted_at? - self.rollout_started_at?).as_secs_f64())
    }
}
