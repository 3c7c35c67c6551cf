//! Every limit of the engine, in one place.
//!
//! Validation (the `scenarios` crate and the command line) reads its bounds
//! from here, so a file that validates can never hit an engine limit by
//! surprise; the engine asserts the ones it relies on.

use crate::time::SimDuration;

/// The longest simulated horizon of a run: 30 days.
pub const HORIZON_MAX: SimDuration = SimDuration::from_secs(30 * 24 * 3600);

/// Most faults a scenario may inject (cohorts are the 2^n subsets, and the
/// latency cell-table cache holds one table per subset).
pub const FAULTS_MAX: usize = 6;

/// Most steps in a policy.
pub const STEPS_MAX: usize = 1000;

/// Most instances in a fleet.
pub const INSTANCES_MAX: u32 = 10_000;

/// Most seeds (runs per pair) in one batch.
pub const SEEDS_MAX: u64 = 1_000_000;

/// Most events one run may process; a run that needs more ends with the
/// outcome `event_budget` instead of hanging.
pub const EVENTS_PER_RUN_MAX: u64 = 5_000_000;

/// Most rows in a replayed traffic CSV.
pub const CSV_ROWS_MAX: usize = 1_000_000;

/// Most commands in a script.
pub const SCRIPT_COMMANDS_MAX: usize = 100_000;

/// Fault-caused failures per chunk placed on users one by one (exactly).
pub const EXACT_USER_DRAWS: u64 = 256;

/// Most finite buckets of a Prometheus latency histogram (`[monitoring] buckets`).
pub const PROMETHEUS_BUCKETS_MAX: usize = 64;

/// Most latency distributions the exact model keeps per arm and scrape
/// interval; past it, the two closest are merged.
pub const LATENCY_MIXTURE_MAX: usize = 16;

/// Most latency distributions the exact model inverts for one window;
/// past it, neighbours are merged.
pub const LATENCY_MIXTURE_WINDOW_MAX: usize = 64;

/// The most requests one run of the per-request reference engine may
/// serve (its cost grows with every request, about 10⁷ a second).
pub const PER_REQUEST_REQUESTS_MAX: f64 = 50_000_000.0;
