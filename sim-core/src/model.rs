//! The validated domain types `sim-core` runs: a scenario (the world) and a
//! policy (the release procedure). The `scenarios` crate builds them from
//! files; nothing here knows a file format.

use crate::time::SimDuration;

/// A version's behaviour: its own error rate and latency distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionSpec {
    /// Probability that a request fails, in 0..=1.
    pub error_rate: f64,
    /// Median latency, milliseconds.
    pub latency_ms_p50: f64,
    /// 99th-percentile latency, milliseconds (≥ p50).
    pub latency_ms_p99: f64,
}

/// What a fault does to the requests it touches.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultEffect {
    /// Error rate becomes `error_rate * multiply + add` (clamped to 0..=1).
    ErrorRate { add: f64, multiply: f64 },
    /// Latency quantiles become `q * factor + add_ms`, separately for the
    /// median and the 99th percentile; the distribution is refitted.
    Latency {
        p50_factor: f64,
        p50_add_ms: f64,
        p99_factor: f64,
        p99_add_ms: f64,
    },
}

/// A fault injected into the candidate version.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub effect: FaultEffect,
    /// Counted from the moment the candidate first takes traffic.
    pub onset: SimDuration,
    /// Share of the candidate's requests the fault touches, in 0..=1.
    pub fraction: f64,
}

/// Traffic arriving at the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub rps: f64,
    pub users: u64,
}

/// The fleet the service runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    pub instances: u32,
    /// Time from launching an instance to it being ready for traffic.
    pub startup: SimDuration,
}

/// The monitoring pipeline: the only window controllers have on the world.
#[derive(Clone, Debug, PartialEq)]
pub struct Monitoring {
    pub scrape_interval: SimDuration,
    /// Time between a scrape and its data being queryable.
    pub ingestion_delay: SimDuration,
}

/// Service-level objectives, for scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// A request slower than this is a slow request.
    pub latency_ms: f64,
}

/// The world a release meets.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub duration: SimDuration,
    pub rollout_at: SimDuration,
    pub traffic: Traffic,
    pub fleet: Fleet,
    pub stable: VersionSpec,
    pub candidate: VersionSpec,
    pub faults: Vec<Fault>,
    pub monitoring: Monitoring,
    pub slo: Slo,
}

impl Scenario {
    /// A scenario with no fault and a candidate no worse than stable is a
    /// healthy release: any rollback of it is a false alarm.
    pub fn is_healthy(&self) -> bool {
        self.faults.is_empty() && !crate::engine::worse_than(&self.candidate, &self.stable)
    }
}

/// One canary step: set the candidate's traffic weight, then wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Percent of requests routed to the candidate, 0..=100.
    pub weight: u32,
    pub pause: SimDuration,
}

/// The metrics a check can read from monitoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    ErrorRate,
    LatencyP50,
    LatencyP95,
    LatencyP99,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::ErrorRate,
        Metric::LatencyP50,
        Metric::LatencyP95,
        Metric::LatencyP99,
    ];

    /// The name used in policy files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50 => "latency_p50_ms",
            Metric::LatencyP95 => "latency_p95_ms",
            Metric::LatencyP99 => "latency_p99_ms",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The latency quantile this metric reads, if it is a latency metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::ErrorRate => None,
            Metric::LatencyP50 => Some(0.50),
            Metric::LatencyP95 => Some(0.95),
            Metric::LatencyP99 => Some(0.99),
        }
    }
}

/// A threshold check on one metric of the candidate. At least one bound is set.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub metric: Metric,
    /// Candidate value must be ≤ this.
    pub max: Option<f64>,
    /// Candidate − stable must be ≤ this.
    pub max_increase: Option<f64>,
    /// Candidate / stable must be ≤ this.
    pub max_ratio: Option<f64>,
}

/// What to do when the analysis fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Route all traffic back to stable after `Policy::rollback_delay`.
    Rollback,
    /// Stop promoting, keep the current weight, page a human.
    Hold,
}

impl OnFailure {
    pub fn name(self) -> &'static str {
        match self {
            OnFailure::Rollback => "rollback",
            OnFailure::Hold => "hold",
        }
    }
}

/// Background analysis run throughout the rollout (Argo Rollouts semantics).
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub interval: SimDuration,
    /// A check fails the analysis once its failed measurements exceed this.
    pub failure_limit: u32,
    /// Count only consecutive failures (a success resets the count).
    pub consecutive: bool,
    /// Fewer candidate requests in a window make a measurement inconclusive.
    pub min_requests: u64,
    pub checks: Vec<Check>,
    pub on_failure: OnFailure,
}

/// How the candidate is brought to users. More strategies come later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Weighted steps with request-weighted routing (a service mesh split).
    Canary,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Canary => "canary",
        }
    }
}

/// The release procedure under test.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub strategy: Strategy,
    pub steps: Vec<Step>,
    pub analysis: Analysis,
    /// Time from the decision to roll back until all traffic is on stable.
    pub rollback_delay: SimDuration,
}
