//! The ground-truth ledger: what really happened, for the scorer only.
//!
//! Controllers never read it. It knows which failures and slow requests the
//! fault caused (counted apart from those the stable version would have had
//! anyway), how many distinct users met a fault-caused failure, and when the
//! last fault-exposed request was served.

use crate::time::SimTime;

/// Ground-truth totals of one version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionTruth {
    pub requests: u64,
    pub failed: u64,
    pub slow: u64,
    /// Failures beyond what the stable version would have had.
    pub fault_failed: u64,
    /// Slow requests beyond what the stable version would have had.
    pub fault_slow: u64,
}

impl VersionTruth {
    pub fn add(&mut self, other: &VersionTruth) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.slow += other.slow;
        self.fault_failed += other.fault_failed;
        self.fault_slow += other.fault_slow;
    }
}

/// Traffic served while one routing weight was in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Index into the policy's steps; `None` before the rollout or after it ended.
    pub step: Option<usize>,
    pub weight: u32,
    pub from: SimTime,
    pub to: SimTime,
    pub stable: VersionTruth,
    pub candidate: VersionTruth,
}

/// Everything the scorer needs.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub stable: VersionTruth,
    pub candidate: VersionTruth,
    /// User requests the release harmed or put at risk (see `first_exposed_at`).
    pub exposed: u64,
    /// Mirrored (preview) requests a fault touched: no user met them, but
    /// the fault manifested on requests monitoring saw, so they start the
    /// run's onset.
    pub mirrored_exposed: u64,
    /// Distinct users who met at least one fault-caused failure.
    pub users_affected: u64,
    /// Sticky routing: of the users on the candidate, those affected.
    pub candidate_users_affected: u64,
    /// Distinct users who met at least one fault-caused slow request.
    pub users_slowed: u64,
    /// Sticky routing: of the users on the candidate, those slowed.
    pub candidate_users_slowed: u64,
    /// Conversions the fault cost (KPI drop, and failed requests that would
    /// have converted).
    pub lost_conversions: u64,
    /// Sessions whose requests reached both versions across a session
    /// format change.
    pub inconsistent_sessions: u64,
    pub oom_kills: u64,
    /// Instance-milliseconds beyond the fleet's normal size (surge, canary
    /// pods, a second blue-green fleet).
    pub extra_instance_ms: f64,
    /// When the first request the release harmed or put at risk was served
    /// (a fault touched it, or the schema change or the backfill's overload
    /// could fail it), to a user or mirrored for a preview: the run's onset.
    /// `None` if no such request was served.
    pub first_exposed_at: Option<SimTime>,
    /// End of the last traffic chunk in which a fault-exposed request was served.
    pub last_exposed_at: Option<SimTime>,
    pub segments: Vec<Segment>,
}

impl Ledger {
    pub fn requests_total(&self) -> u64 {
        self.stable.requests + self.candidate.requests
    }
}
