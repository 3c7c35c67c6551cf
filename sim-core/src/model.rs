//! The validated domain types `sim-core` runs: a scenario (the world) and a
//! policy (the release procedure). The `scenarios` crate builds them from
//! files; nothing here knows a file format.

use crate::time::SimDuration;

/// A version's behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionSpec {
    /// Probability that a request fails, in 0..=1.
    pub error_rate: f64,
    /// Median latency, milliseconds (at low utilisation).
    pub latency_ms_p50: f64,
    /// 99th-percentile latency, milliseconds (≥ p50).
    pub latency_ms_p99: f64,
    /// Business KPI: share of successful requests that convert, in 0..=1.
    pub conversion_rate: f64,
    /// Resident memory of a fresh instance, megabytes.
    pub memory_mb: f64,
}

impl VersionSpec {
    /// True if this version fails more often, is slower or converts less
    /// than `reference`.
    pub fn worse_than(&self, reference: &VersionSpec) -> bool {
        self.error_rate > reference.error_rate
            || self.latency_ms_p50 > reference.latency_ms_p50
            || self.latency_ms_p99 > reference.latency_ms_p99
            || self.conversion_rate < reference.conversion_rate
    }
}

/// What a fault does to the requests or instances it touches.
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
    /// Instances of the faulty version grow memory per hour alive and per
    /// thousand requests served, until the OOM killer restarts them.
    MemoryLeak { mb_per_hour: f64, mb_per_1k_requests: f64 },
    /// Above `above_rps` per instance, only `capacity_factor` of the
    /// requests complete; the rest hang until the client times out. The
    /// service counts no error for them (connection-pool exhaustion, deadlock).
    Throughput { capacity_factor: f64, above_rps: f64 },
    /// The business KPI (conversion rate) is multiplied by `factor`; no
    /// error, no latency change (the empty-search-results story).
    Kpi { factor: f64 },
    /// Each request of the faulty version makes `factor` times the normal
    /// load on the shared dependency.
    DependencyLoad { factor: f64 },
    /// The faulty version writes sessions in a new format: a session whose
    /// requests reach both versions breaks.
    SessionFormat,
}

impl FaultEffect {
    /// Every [`FaultEffect::kind`], in declaration order (for "known: …" lists).
    pub const KINDS: [&'static str; 7] = [
        "error_rate",
        "latency",
        "memory_leak",
        "throughput",
        "kpi",
        "dependency_load",
        "session_format",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            FaultEffect::ErrorRate { .. } => "error_rate",
            FaultEffect::Latency { .. } => "latency",
            FaultEffect::MemoryLeak { .. } => "memory_leak",
            FaultEffect::Throughput { .. } => "throughput",
            FaultEffect::Kpi { .. } => "kpi",
            FaultEffect::DependencyLoad { .. } => "dependency_load",
            FaultEffect::SessionFormat => "session_format",
        }
    }
}

/// A fault injected into the candidate version.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub effect: FaultEffect,
    /// Counted from the moment the candidate first takes traffic.
    pub onset: SimDuration,
    /// The fault waits until the candidate's share of traffic reaches this
    /// many percent (0: no wait).
    pub onset_weight: u32,
    /// Share of the candidate's requests the fault touches, in 0..=1.
    pub fraction: f64,
    /// Index into `Scenario::segments`: the fault only touches that segment.
    pub segment: Option<usize>,
    /// The fault lives behind this feature flag (index into `Scenario::flags`).
    pub flag: Option<usize>,
}

/// The arrival-rate shape over time.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Constant,
    /// `rps * (1 + amplitude * cos(2π (t − peak_at) / period))`.
    Diurnal {
        amplitude: f64,
        period: SimDuration,
        peak_at: SimDuration,
    },
    /// A replayed series of (time, rps) points, linearly interpolated and
    /// held flat before the first and after the last point. `Traffic::rps`
    /// is then the series' mean over the run.
    Series {
        points: Vec<(SimDuration, f64)>,
    },
}

impl Shape {
    /// Every [`Shape::name`], in declaration order (for "known: …" lists).
    pub const NAMES: [&'static str; 3] = ["constant", "diurnal", "series"];

    /// The name used in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Constant => "constant",
            Shape::Diurnal { .. } => "diurnal",
            Shape::Series { .. } => "series",
        }
    }
}

/// A burst: the rate is multiplied by `factor` during `[at, at + duration)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Spike {
    pub at: SimDuration,
    pub duration: SimDuration,
    pub factor: f64,
}

/// Traffic arriving at the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub rps: f64,
    pub users: u64,
    pub shape: Shape,
    pub spikes: Vec<Spike>,
    /// Mean requests per user session (sessions have geometric length).
    pub session_requests: f64,
}

/// The fleet the service runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSpec {
    pub instances: u32,
    /// Time from launching an instance to it being ready for traffic.
    pub startup: SimDuration,
    /// Requests per second one instance serves at full utilisation; `None`
    /// for unlimited (no queueing model).
    pub capacity_rps: Option<f64>,
    /// Concurrent workers per instance (the `c` of the M/M/c approximation).
    pub workers: u32,
    /// Memory at which the OOM killer restarts an instance, megabytes.
    pub memory_limit_mb: f64,
}

/// A dependency both versions call (a database).
#[derive(Clone, Debug, PartialEq)]
pub struct Dependency {
    /// Queries per second it serves at full utilisation.
    pub capacity_qps: f64,
    /// Its own latency at low utilisation, added to every request.
    pub latency_ms: f64,
    /// Queries one request makes.
    pub queries_per_request: f64,
}

/// An unrelated incident hitting both versions alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub at: SimDuration,
    pub duration: SimDuration,
    pub error_rate_add: f64,
    pub latency_factor: f64,
}

/// Each version's own noise: its error rate and latency are multiplied by
/// independent log-normal factors, redrawn every `period`.
#[derive(Clone, Debug, PartialEq)]
pub struct Noise {
    pub error_rate_sigma: f64,
    pub latency_sigma: f64,
    pub period: SimDuration,
}

/// A named share of requests (user segment, endpoint or region).
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentSpec {
    pub name: String,
    pub share: f64,
}

/// The monitoring pipeline: the only window controllers have on the world.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitoringSpec {
    pub scrape_interval: SimDuration,
    /// Time between a scrape and its data being queryable.
    pub ingestion_delay: SimDuration,
    /// How a window's latency quantiles are measured.
    pub latency: LatencyModel,
}

/// How monitoring turns the requests of a window into the latency
/// quantiles a check reads: what the team's monitoring really has.
#[derive(Clone, Debug, PartialEq)]
pub enum LatencyModel {
    /// The window's sample quantile: the order statistic x₍⌈q·n⌉₎ of its n
    /// completed requests (`latency::exact`).
    Exact,
    /// A Prometheus classic histogram, read by `histogram_quantile`'s linear
    /// interpolation (`latency::prometheus`).
    Prometheus {
        /// Finite bucket upper bounds (`le`), milliseconds, strictly
        /// increasing; the `+Inf` bucket is implicit.
        buckets_ms: Vec<f64>,
    },
    /// 64 log-spaced buckets from 1 ms to 60 s and an overflow bucket, read
    /// by log-linear interpolation (`latency::histogram_quantile`).
    LogHistogram,
}

impl LatencyModel {
    /// Every model, Prometheus with the client libraries' default buckets.
    pub fn all() -> [LatencyModel; 3] {
        [
            LatencyModel::Exact,
            LatencyModel::Prometheus {
                buckets_ms: crate::latency::prometheus::DEFAULT_BUCKETS_MS.to_vec(),
            },
            LatencyModel::LogHistogram,
        ]
    }

    /// The model a scenario that names none gets.
    pub fn default_model() -> LatencyModel {
        LatencyModel::LogHistogram
    }

    /// The name used in scenario files (`[monitoring] latency`).
    pub fn name(&self) -> &'static str {
        match self {
            LatencyModel::Exact => "exact",
            LatencyModel::Prometheus { .. } => "prometheus",
            LatencyModel::LogHistogram => "log_histogram",
        }
    }

    /// The model named `name`, Prometheus with the default buckets.
    pub fn from_name(name: &str) -> Option<LatencyModel> {
        LatencyModel::all().into_iter().find(|m| m.name() == name)
    }

    /// The Prometheus model's finite bucket bounds; empty for the others.
    pub fn le_bounds_ms(&self) -> &[f64] {
        match self {
            LatencyModel::Prometheus { buckets_ms } => buckets_ms,
            LatencyModel::Exact | LatencyModel::LogHistogram => &[],
        }
    }
}

/// Service-level objectives, for scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// A request slower than this is a slow request.
    pub latency_ms: f64,
    /// Availability target; its 30-day error budget is `(1 − availability)`
    /// of 30 days of traffic at the mean rate.
    pub availability: f64,
}

/// The world a release meets.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub duration: SimDuration,
    pub rollout_at: SimDuration,
    pub traffic: Traffic,
    pub fleet: FleetSpec,
    pub stable: VersionSpec,
    pub candidate: VersionSpec,
    pub faults: Vec<Fault>,
    pub monitoring: MonitoringSpec,
    pub slo: Slo,
    pub dependency: Option<Dependency>,
    pub incidents: Vec<Incident>,
    pub noise: Option<Noise>,
    pub segments: Vec<SegmentSpec>,
    /// Feature flags the candidate's code paths sit behind.
    pub flags: Vec<String>,
    /// Time for a flag change to reach every instance.
    pub flag_propagation: SimDuration,
    /// A schema change shipped with the release, if any.
    pub migration: Option<MigrationWorld>,
    /// The policy runs of this scenario use when none is named: a preset
    /// name, or a policy file's path as resolved against the scenario's
    /// folder by the reader.
    pub policy: Option<String>,
}

/// What the schema change does to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaChange {
    /// Rename a column (`status` → `order_status`): after the contract the
    /// old app cannot read or write the table.
    Rename,
    /// Add a required column (`customerType`): after the contract (NOT NULL
    /// enforced) the old app's writes, which do not set it, fail.
    AddRequired,
    /// Change an enum value (`PENDING` → `QUEUED`): the old app fails on rows
    /// the new app wrote, unless the expand phase taught it both values.
    EnumChange,
}

impl SchemaChange {
    pub const ALL: [SchemaChange; 3] = [
        SchemaChange::Rename,
        SchemaChange::AddRequired,
        SchemaChange::EnumChange,
    ];

    pub fn from_name(name: &str) -> Option<SchemaChange> {
        SchemaChange::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            SchemaChange::Rename => "rename",
            SchemaChange::AddRequired => "add_required",
            SchemaChange::EnumChange => "enum_change",
        }
    }
}

/// A fault in the migration's own machinery.
#[derive(Clone, Debug, PartialEq)]
pub enum MigrationFault {
    /// A share of dual writes is written twice.
    DuplicateWrites { fraction: f64 },
    /// A share of backfill batches fails a constraint and is retried.
    ConstraintViolations { fraction: f64 },
    /// The dual write silently drops the new field on a share of writes;
    /// validation queries find those rows mismatched.
    DroppedField { fraction: f64 },
    /// The backfill slows down as the database gets busy.
    LagUnderLoad,
    /// The old app misreads rows in the new shape (a share of its reads of
    /// rows the new app wrote fail).
    OldReadsNewWrong { fraction: f64 },
}

impl MigrationFault {
    /// Every [`MigrationFault::kind`], in declaration order (for "known: …" lists).
    pub const KINDS: [&'static str; 5] = [
        "duplicate_writes",
        "constraint_violations",
        "dropped_field",
        "lag_under_load",
        "old_reads_new_wrong",
    ];

    /// The `kind` used in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            MigrationFault::DuplicateWrites { .. } => "duplicate_writes",
            MigrationFault::ConstraintViolations { .. } => "constraint_violations",
            MigrationFault::DroppedField { .. } => "dropped_field",
            MigrationFault::LagUnderLoad => "lag_under_load",
            MigrationFault::OldReadsNewWrong { .. } => "old_reads_new_wrong",
        }
    }
}

/// The table a migration changes, and how the traffic uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationWorld {
    pub table: String,
    pub change: SchemaChange,
    /// Rows to copy in the backfill.
    pub rows: u64,
    /// Share of requests that write a row of the table.
    pub write_share: f64,
    /// Share of requests that read the table.
    pub read_share: f64,
    /// Database queries one backfilled row costs (load on `Scenario::dependency`).
    pub queries_per_row: f64,
    /// The new app renames the column in place when it first starts
    /// ("migrate on deploy"): no expand, no dual write, whatever the policy.
    pub rename_on_deploy: bool,
    pub faults: Vec<MigrationFault>,
}

impl Scenario {
    /// A scenario with no fault and a candidate no worse than stable is a
    /// healthy release: any rollback of it is a false alarm.
    pub fn is_healthy(&self) -> bool {
        self.faults.is_empty() && !self.candidate.worse_than(&self.stable)
    }
}

/// One step: set the candidate's traffic weight (or flag percentage), then wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Percent, 0..=100.
    pub weight: u32,
    pub pause: SimDuration,
}

/// The metrics a check can read from monitoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Metric {
    ErrorRate,
    LatencyP50,
    LatencyP95,
    LatencyP99,
    /// Conversions per successful request.
    ConversionRate,
    /// Completed / routed requests, as the load balancer counts them.
    ThroughputRatio,
    /// Mean utilisation of the arm's instances (requests over capacity).
    CpuUtilisation,
    /// Highest memory / limit over the arm's instances, at the last scrape.
    MemoryUtilisation,
    /// Instance restarts (OOM kills) in the window.
    Restarts,
    /// Rows the backfill has still to copy.
    BackfillLagRows,
    /// Duplicate rows written in the window.
    DuplicateWrites,
    /// Backfill batches that failed a constraint in the window.
    ConstraintViolations,
    /// Rows the validation queries find mismatched.
    MismatchedRows,
}

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::ErrorRate,
        Metric::LatencyP50,
        Metric::LatencyP95,
        Metric::LatencyP99,
        Metric::ConversionRate,
        Metric::ThroughputRatio,
        Metric::CpuUtilisation,
        Metric::MemoryUtilisation,
        Metric::Restarts,
        Metric::BackfillLagRows,
        Metric::DuplicateWrites,
        Metric::ConstraintViolations,
        Metric::MismatchedRows,
    ];

    /// The name used in policy files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50 => "latency_p50_ms",
            Metric::LatencyP95 => "latency_p95_ms",
            Metric::LatencyP99 => "latency_p99_ms",
            Metric::ConversionRate => "conversion_rate",
            Metric::ThroughputRatio => "throughput_ratio",
            Metric::CpuUtilisation => "cpu_utilisation",
            Metric::MemoryUtilisation => "memory_utilisation",
            Metric::Restarts => "restarts",
            Metric::BackfillLagRows => "backfill_lag_rows",
            Metric::DuplicateWrites => "duplicate_writes",
            Metric::ConstraintViolations => "constraint_violations",
            Metric::MismatchedRows => "mismatched_rows",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The latency quantile this metric reads, if it is a latency metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::LatencyP50 => Some(0.50),
            Metric::LatencyP95 => Some(0.95),
            Metric::LatencyP99 => Some(0.99),
            Metric::ErrorRate
            | Metric::ConversionRate
            | Metric::ThroughputRatio
            | Metric::CpuUtilisation
            | Metric::MemoryUtilisation
            | Metric::Restarts
            | Metric::BackfillLagRows
            | Metric::DuplicateWrites
            | Metric::ConstraintViolations
            | Metric::MismatchedRows => None,
        }
    }

    /// Whether a higher value is worse (false for conversions and throughput).
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::ConversionRate | Metric::ThroughputRatio)
    }

    /// Whether the metric is a fraction, never above 1 (a rate or a ratio of
    /// counts); every metric is never negative.
    pub fn is_fraction(self) -> bool {
        match self {
            Metric::ErrorRate | Metric::ConversionRate | Metric::ThroughputRatio => true,
            Metric::LatencyP50
            | Metric::LatencyP95
            | Metric::LatencyP99
            | Metric::CpuUtilisation
            | Metric::MemoryUtilisation
            | Metric::Restarts
            | Metric::BackfillLagRows
            | Metric::DuplicateWrites
            | Metric::ConstraintViolations
            | Metric::MismatchedRows => false,
        }
    }

    /// Gauges need no traffic in the window; `min_requests` does not apply.
    pub fn is_gauge(self) -> bool {
        matches!(
            self,
            Metric::CpuUtilisation | Metric::MemoryUtilisation | Metric::Restarts
        )
    }
}

/// A check on one metric of the canary arm: a rule, and what to do when
/// the analysis fails on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub metric: Metric,
    /// How the measurement is judged: bounds, or a statistical judge.
    pub rule: Rule,
    /// Overrides the analysis's action when this check fails it.
    pub on_failure: Option<Action>,
    /// Kayenta metric group for the score (default: the metric's name).
    pub group: Option<String>,
    /// A critical Mann-Whitney metric fails the score on its own.
    pub critical: bool,
}

/// Bounds on a metric's canary value, alone or against the baseline. At
/// least one is set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    /// Canary value must be ≤ this.
    pub max: Option<f64>,
    /// Canary − baseline must be ≤ this.
    pub max_increase: Option<f64>,
    /// Canary / baseline must be ≤ this.
    pub max_ratio: Option<f64>,
    /// Canary value must be ≥ this.
    pub min: Option<f64>,
    /// Baseline − canary must be ≤ this.
    pub max_decrease: Option<f64>,
    /// Canary / baseline must be ≥ this.
    pub min_ratio: Option<f64>,
}

impl Bounds {
    /// Whether any bound compares against the baseline arm.
    pub fn is_relative(&self) -> bool {
        self.max_increase.is_some()
            || self.max_ratio.is_some()
            || self.max_decrease.is_some()
            || self.min_ratio.is_some()
    }
}

/// A check's rule: either bounds (the `threshold` judge of policy files) or
/// a statistical judge with its parameters — never both, so a key that does
/// not apply cannot be held.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Bounds(Bounds),
    Judge(Judge),
    /// A check on something aviary cannot measure (an imported query it
    /// does not recognise): every measurement is inconclusive.
    Unmapped,
}

impl Rule {
    /// Every rule's name as policy files spell `judge`, in declaration order.
    pub const NAMES: [&'static str; 8] = [
        "threshold",
        "z_test",
        "sequential",
        "cusum",
        "ewma",
        "sprt",
        "mann_whitney",
        "inconclusive",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Rule::Bounds(_) => "threshold",
            Rule::Judge(j) => j.name(),
            Rule::Unmapped => "inconclusive",
        }
    }
}

/// A Kayenta metric's settings beyond the confidence and tolerance
/// (`analysisConfigurations.canary` of a canary config); the default is
/// aviary's: the metric's worse side fails, NetflixACAJudge's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KayentaMetric {
    /// `None`: the metric's worse side (an increase of errors, a decrease
    /// of conversions).
    pub direction: Option<crate::judges::mann_whitney::Direction>,
    pub effect_size: crate::judges::mann_whitney::EffectSizeMeasure,
    /// `None`: the measure's neutral value (1 for the mean ratio, 0.5 for CLES).
    pub allowed_increase: Option<f64>,
    pub allowed_decrease: Option<f64>,
    pub critical_increase: Option<f64>,
    pub critical_decrease: Option<f64>,
    pub nan_strategy: crate::judges::mann_whitney::NanStrategy,
    pub remove_outliers: bool,
    pub outlier_factor: f64,
    pub must_have_data: bool,
}

impl Default for KayentaMetric {
    fn default() -> KayentaMetric {
        KayentaMetric {
            direction: None,
            effect_size: crate::judges::mann_whitney::EffectSizeMeasure::MeanRatio,
            allowed_increase: None,
            allowed_decrease: None,
            critical_increase: None,
            critical_decrease: None,
            nan_strategy: crate::judges::mann_whitney::NanStrategy::Remove,
            remove_outliers: false,
            outlier_factor: 3.0,
            must_have_data: false,
        }
    }
}

/// A statistical judge: it tests the canary against the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judge {
    /// A one-sided two-proportion z-test each interval (peeking, on purpose).
    ZTest { alpha: f64 },
    /// The anytime-valid Dirichlet-mixture test on cumulative event counts.
    Sequential { concentration: f64, alpha: f64 },
    /// Tabular CUSUM on the per-interval standardised difference.
    Cusum { k: f64, h: f64 },
    /// EWMA chart on the per-interval standardised difference.
    Ewma { lambda: f64, limit: f64 },
    /// Wald's SPRT on the per-interval standardised difference; restarts after accepting H0.
    Sprt { delta: f64, alpha: f64, beta: f64 },
    /// Kayenta's Mann-Whitney classifier on the per-scrape values of the window.
    MannWhitney {
        confidence: f64,
        tolerance: f64,
        kayenta: KayentaMetric,
    },
}

impl Judge {
    /// Every [`Judge::name`], in declaration order (for "known: …" lists).
    pub const NAMES: [&'static str; 6] = ["z_test", "sequential", "cusum", "ewma", "sprt", "mann_whitney"];

    pub fn name(self) -> &'static str {
        match self {
            Judge::ZTest { .. } => "z_test",
            Judge::Sequential { .. } => "sequential",
            Judge::Cusum { .. } => "cusum",
            Judge::Ewma { .. } => "ewma",
            Judge::Sprt { .. } => "sprt",
            Judge::MannWhitney { .. } => "mann_whitney",
        }
    }

    /// The sequential judge needs error counts or a latency distribution.
    pub fn needs_rate(self) -> bool {
        matches!(self, Judge::Sequential { .. })
    }
}

impl Check {
    /// A check of `metric` against `bounds`.
    pub fn bounds(metric: Metric, bounds: Bounds) -> Check {
        Check {
            metric,
            rule: Rule::Bounds(bounds),
            on_failure: None,
            group: None,
            critical: false,
        }
    }

    /// A check of `metric` by a statistical judge.
    pub fn judged(metric: Metric, judge: Judge) -> Check {
        Check {
            rule: Rule::Judge(judge),
            ..Check::bounds(metric, Bounds::default())
        }
    }

    /// The statistical judge, if the check has one.
    pub fn judge(&self) -> Option<Judge> {
        match self.rule {
            Rule::Bounds(_) | Rule::Unmapped => None,
            Rule::Judge(j) => Some(j),
        }
    }
}

/// What the controller does when the analysis fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// Send all traffic back to stable: a re-route when stable instances
    /// still run, else a redeploy (start-up time).
    Rollback,
    /// Stop promoting and keep the current weight; nobody is called.
    Hold,
    /// Hold, page a human; after the acknowledgement delay the human takes
    /// `Paging::then`.
    Page,
    /// Turn the scenario's feature flags off (propagation delay).
    KillSwitch,
    /// Keep the canary small, build a hotfix, then canary the hotfix.
    Hotfix,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Rollback,
        Action::Hold,
        Action::Page,
        Action::KillSwitch,
        Action::Hotfix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Rollback => "rollback",
            Action::Hold => "hold",
            Action::Page => "page",
            Action::KillSwitch => "kill_switch",
            Action::Hotfix => "hotfix",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Background analysis run throughout the rollout (Argo Rollouts semantics).
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisSpec {
    pub interval: SimDuration,
    /// A check fails the analysis once its failed measurements exceed this.
    pub failure_limit: u32,
    /// Count only consecutive failures (a success resets the count).
    pub consecutive: bool,
    /// Fewer canary requests in a window make a measurement inconclusive.
    pub min_requests: u64,
    pub checks: Vec<Check>,
    pub on_failure: Action,
    /// Keep analysing after 100 % for this long (blue-green post-promotion,
    /// or a bake time); a failure then still rolls back.
    pub after_promotion: SimDuration,
    /// Kayenta-style score over the Mann-Whitney checks: the share of them
    /// that pass, 0–100. Below `marginal` the measurement fails, below
    /// `pass` it is inconclusive.
    pub score: Option<ScoreSpec>,
    /// What the policy does at the end of a step none of whose analyses
    /// was conclusive.
    pub on_inconclusive: OnInconclusive,
    /// Argo Rollouts' `inconclusiveLimit`: once a check's inconclusive
    /// measurements exceed it, the analysis is inconclusive and the rollout
    /// holds for a human. `None`: no limit.
    pub inconclusive_limit: Option<u32>,
    /// Over what the failures (and inconclusive measurements) accumulate.
    pub scope: AnalysisScope,
    /// What a failure is counted against: each check's own count (Argo
    /// Rollouts), or one count of failed intervals (Flagger).
    pub count_failures: FailureCount,
    /// What a measurement without data is: inconclusive (Argo Rollouts,
    /// Kayenta), or a failed check (Flagger: NaN or no data fails).
    pub no_data: NoData,
    /// No measurement before the analysis has run this long: the first is
    /// `delay + interval` after it starts (Argo Rollouts' `initialDelay`,
    /// Spinnaker's `beginCanaryAnalysisAfterMins`).
    pub delay: SimDuration,
    /// The analysis starts when this step (0-based) is reached instead of
    /// when the candidate first serves (Argo Rollouts' `startingStep`).
    pub from_step: Option<usize>,
    /// The span of traffic each measurement covers.
    pub window: AnalysisWindow,
    /// The baseline's data is read this much earlier than the canary's
    /// (Spinnaker's `baselineAnalysisOffsetInMins`).
    pub baseline_offset: SimDuration,
    /// A failed interval that does not yet trip the limit holds the weight
    /// for one more interval: the step ends an interval later per failed
    /// interval in it (Flagger does not advance the weight on a failed tick).
    pub hold_on_failure: bool,
}

impl AnalysisSpec {
    /// The longest stretch of monitoring history a measurement reads, in a
    /// run of `run`: monitoring keeps this much.
    pub fn reach(&self, run: SimDuration) -> SimDuration {
        let span = match self.window {
            AnalysisWindow::Interval => self.interval,
            AnalysisWindow::Cumulative => run,
            AnalysisWindow::Span(d) => d.max(self.interval),
        };
        span + self.baseline_offset
    }
}

/// The span of traffic a measurement covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalysisWindow {
    /// The last interval (Argo Rollouts and Flagger: the query's range is
    /// the interval).
    Interval,
    /// Everything since the analysis began (Spinnaker's canary stage
    /// without `lookbackMins`: each interval's judgement spans from the
    /// start of the analysis).
    Cumulative,
    /// The last span (Spinnaker's `lookbackMins`).
    Span(SimDuration),
}

/// How failed measurements are counted against `failure_limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCount {
    /// Each check counts its own failed measurements; a check fails the
    /// analysis once its count exceeds the limit (Argo Rollouts).
    PerCheck,
    /// An interval in which any check fails is one failed check of the
    /// analysis; the analysis fails once that count exceeds the limit
    /// (Flagger's `failedChecks` against its `threshold`).
    PerInterval,
}

impl FailureCount {
    pub const ALL: [FailureCount; 2] = [FailureCount::PerCheck, FailureCount::PerInterval];

    pub fn name(self) -> &'static str {
        match self {
            FailureCount::PerCheck => "per_check",
            FailureCount::PerInterval => "per_interval",
        }
    }
}

/// What a measurement without data counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoData {
    Inconclusive,
    Fail,
}

impl NoData {
    pub const ALL: [NoData; 2] = [NoData::Inconclusive, NoData::Fail];

    pub fn name(self) -> &'static str {
        match self {
            NoData::Inconclusive => "inconclusive",
            NoData::Fail => "fail",
        }
    }
}

/// What a step whose analyses were all inconclusive leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInconclusive {
    /// Go on to the next step (a blind promotion; counted and marked).
    Continue,
    /// Hold the rollout for a human.
    Hold,
    /// Keep the step, one analysis interval at a time, until an analysis
    /// is conclusive.
    Extend,
}

impl OnInconclusive {
    pub const ALL: [OnInconclusive; 3] = [OnInconclusive::Continue, OnInconclusive::Hold, OnInconclusive::Extend];

    pub fn name(self) -> &'static str {
        match self {
            OnInconclusive::Continue => "continue",
            OnInconclusive::Hold => "hold",
            OnInconclusive::Extend => "extend",
        }
    }
}

/// Over what an analysis counts failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalysisScope {
    /// The whole rollout (Argo Rollouts' background analysis).
    Rollout,
    /// Each step afresh (Argo Rollouts' step analysis: a new run per step).
    Step,
}

impl AnalysisScope {
    pub const ALL: [AnalysisScope; 2] = [AnalysisScope::Rollout, AnalysisScope::Step];

    pub fn name(self) -> &'static str {
        match self {
            AnalysisScope::Rollout => "rollout",
            AnalysisScope::Step => "step",
        }
    }
}

/// Kayenta's pass and marginal score thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreSpec {
    pub pass: f64,
    pub marginal: f64,
    /// Group weights (Kayenta's classifier groups); empty: groups weigh the same.
    pub weights: Vec<(String, f64)>,
    /// A score equal to `marginal` fails too (Spinnaker's canary stage:
    /// "not above the marginal score threshold"); otherwise only a score
    /// below it fails (Kayenta's judge).
    pub fail_at_marginal: bool,
    /// The last measurement of a step must reach `pass`: a marginal score
    /// there fails (Spinnaker's canary stage: the final interval's score
    /// below pass is a failed stage).
    pub last_must_pass: bool,
}

/// How requests are split between the versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Each request independently, with the exact weight (a service mesh).
    Weighted,
    /// Weight = candidate instances / all instances (no traffic router).
    Replicas,
    /// By user hash: a user stays on one version.
    Sticky,
}

impl Routing {
    pub const ALL: [Routing; 3] = [Routing::Weighted, Routing::Replicas, Routing::Sticky];

    pub fn from_name(name: &str) -> Option<Routing> {
        Routing::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Routing::Weighted => "weighted",
            Routing::Replicas => "replicas",
            Routing::Sticky => "sticky",
        }
    }
}

/// How the candidate is brought to users.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// Weighted steps.
    Canary { routing: Routing },
    /// Replace the fleet at once: launch the new fleet, switch, drop the old.
    BigBang,
    /// Replace instances a batch at a time; both versions live meanwhile.
    Rolling { max_surge: u32, max_unavailable: u32 },
    /// A full second fleet; analysis on mirrored preview traffic, a switch,
    /// and the old fleet kept for `keep_old` so a rollback is a switch back.
    BlueGreen {
        preview: SimDuration,
        preview_share: f64,
        keep_old: SimDuration,
    },
    /// Deploy the code dark (flags off), then ramp the flags by user bucket.
    Flag,
}

impl Strategy {
    /// Every [`Strategy::name`], in declaration order (for "known: …" lists).
    pub const NAMES: [&'static str; 5] = ["canary", "big_bang", "rolling", "blue_green", "flag"];

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::BigBang => "big_bang",
            Strategy::Rolling { .. } => "rolling",
            Strategy::BlueGreen { .. } => "blue_green",
            Strategy::Flag => "flag",
        }
    }
}

/// The human a `page` action calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Paging {
    /// Median and 90th percentile of the acknowledgement delay (log-normal).
    pub ack_median: SimDuration,
    pub ack_p90: SimDuration,
    /// Time from acknowledging to acting.
    pub diagnose: SimDuration,
    /// What the human does then.
    pub then: Action,
}

/// A roll-forward: build a fix, then canary it from the first step.
#[derive(Clone, Debug, PartialEq)]
pub struct Hotfix {
    /// Build, test and deploy time before the fixed version starts.
    pub build: SimDuration,
    /// The canary weight held while the hotfix is built.
    pub hold_weight: u32,
}

/// One phase of an expand-and-contract migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum MigrationPhase {
    /// Add the new column (nullable) / teach the old app both values.
    Expand,
    /// Roll the new app out (the policy's strategy and steps); it writes both shapes.
    DualWrite,
    /// Copy the existing rows in batches.
    Backfill,
    /// The new app reads the new shape (with a fallback while the old exists).
    SwitchReads,
    /// Drop the old shape. The last safe rollback point is just before it.
    Contract,
    /// Expand and contract at once, with no dual write (the reckless way).
    Rename,
}

impl MigrationPhase {
    pub const ALL: [MigrationPhase; 6] = [
        MigrationPhase::Expand,
        MigrationPhase::DualWrite,
        MigrationPhase::Backfill,
        MigrationPhase::SwitchReads,
        MigrationPhase::Contract,
        MigrationPhase::Rename,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MigrationPhase::Expand => "expand",
            MigrationPhase::DualWrite => "dual_write",
            MigrationPhase::Backfill => "backfill",
            MigrationPhase::SwitchReads => "switch_reads",
            MigrationPhase::Contract => "contract",
            MigrationPhase::Rename => "rename",
        }
    }

    pub fn from_name(name: &str) -> Option<MigrationPhase> {
        MigrationPhase::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A phase and its gate: how long it takes, how long to wait after it, and
/// how long the gate checks must have passed before the next phase starts.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseSpec {
    pub phase: MigrationPhase,
    /// Time the phase's own work takes (DDL, a flag flip); the dual write
    /// and the backfill take as long as they take.
    pub duration: SimDuration,
    /// Minimum wait after the phase before the next one.
    pub wait: SimDuration,
    /// The gate checks and the golden-signal analysis must have been clean
    /// for this long before the next phase starts.
    pub stable_for: SimDuration,
    /// Data-health checks (backfill lag, duplicate writes, constraint
    /// violations, mismatched rows) that must pass before the next phase.
    pub gates: Vec<Check>,
}

/// How a policy ships a migration.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationPlan {
    pub phases: Vec<PhaseSpec>,
    /// Rows per backfill batch.
    pub batch_size: u64,
    /// Batches started per second.
    pub batches_per_s: f64,
    /// Retries of a failed batch before its rows are skipped.
    pub max_retries: u32,
    /// After the contract, a rollback replays the records written since at
    /// this many rows a second (`Some`), or restores the backup taken at the
    /// contract and loses them (`None`).
    pub restore_rows_per_s: Option<f64>,
    /// Time to restore the old shape from the backup.
    pub restore_base: SimDuration,
}

/// The release procedure under test.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub strategy: Strategy,
    pub steps: Vec<Step>,
    pub analysis: AnalysisSpec,
    /// Time from the decision to roll back until traffic moves.
    pub rollback_delay: SimDuration,
    pub paging: Paging,
    pub hotfix: Hotfix,
    pub migration: Option<MigrationPlan>,
}
