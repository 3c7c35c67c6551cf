//! The discrete-event engine: one run of one scenario under one policy.
//!
//! # Event order
//!
//! Events are processed in order of (time, kind priority, insertion
//! sequence). Before the events of an instant are handled, traffic is
//! advanced in one aggregated chunk up to that instant, so every event at
//! time `t` sees the world as it was served up to `t`. At one instant:
//!
//! ```text
//! 0 world      fault onset, incident and spike boundaries, noise redraws
//! 1 routing    instances ready, flags propagated, old fleet dropped
//! 2 scrape     monitoring samples the counters served up to t
//! 3 analysis   checks read monitoring (never the ledger)
//! 4 controller step ends and starts, preview and bake ends, delayed actions
//! 5 horizon    the run ends
//! ```
//!
//! # Traffic in aggregated chunks
//!
//! Between two events nothing changes, so the requests of the whole chunk are
//! drawn at once (see `serve`): a Poisson count, binomial splits between
//! versions, flag states and fault cohorts, coupled binomials for failures,
//! slow requests and conversions, and the latency histogram as a multinomial
//! over its buckets. The cost of a chunk does not depend on how many
//! requests it holds.
//!
//! # The controller
//!
//! `control` holds the release strategies and the actions. It reads only
//! monitoring, its own settings and the instances it launched; the ledger
//! and the fault state are for scoring and for serving traffic.

mod control;
mod judging;
mod migrate;
mod serve;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand_chacha::ChaCha8Rng;

use crate::fleet::{Fleet, Version};
use crate::latency::CellTable;
use crate::ledger::{Ledger, Segment, VersionTruth};
use crate::model::{Action, Metric, MigrationPhase, Policy, Scenario, VersionSpec};
use crate::monitoring::Monitoring;
use crate::rng::{RunKey, stream};
use crate::score::{Decision, Outcome, RunResult, StepStats};
use crate::time::{SimDuration, SimTime};

pub use control::judge_threshold;

/// The most events one run may process; a run that needs more ends as
/// `timed_out` instead of hanging. Validation keeps real scenarios far below.
pub const EVENT_BUDGET: u64 = 5_000_000;

/// Fault-caused failures per chunk placed on users one by one (exactly).
pub const EXACT_USER_DRAWS: u64 = 256;

/// Most faults a scenario may inject (cohorts are the 2^n subsets).
pub const MAX_FAULTS: usize = 6;

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
    /// Ground truth, for the timeline and the debrief; no controller sees it.
    FaultOnset {
        fault: Option<usize>,
    },
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
    fn event(&mut self, at: SimTime, event: &Event) {
        self.0.push((at, event.clone()));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    FaultOnset(usize),
    Boundary,
    NoiseTick,
    Ready,
    FlagApplied(u32),
    DropOldFleet,
    Scrape,
    Analysis(u64),
    StepEnd(usize),
    StepStart(usize),
    PreviewEnd,
    BakeEnd,
    Act(Action),
    HotfixBuilt,
    MigrationWork,
    MigrationTick,
    BackfillDone,
    RestoreDone,
    Horizon,
}

impl Kind {
    fn priority(self) -> u8 {
        match self {
            Kind::FaultOnset(_) | Kind::Boundary | Kind::NoiseTick => 0,
            Kind::Ready | Kind::FlagApplied(_) | Kind::DropOldFleet => 1,
            Kind::Scrape => 2,
            Kind::Analysis(_) => 3,
            Kind::StepEnd(_)
            | Kind::StepStart(_)
            | Kind::PreviewEnd
            | Kind::BakeEnd
            | Kind::Act(_)
            | Kind::HotfixBuilt
            | Kind::MigrationWork
            | Kind::MigrationTick
            | Kind::BackfillDone
            | Kind::RestoreDone => 4,
            Kind::Horizon => 5,
        }
    }
}

/// Where the rollout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    /// Bringing up a full candidate fleet (big bang, blue-green, flag).
    Deploying,
    /// Blue-green: analysing mirrored traffic before the switch.
    Preview,
    /// Stepping through the policy's steps (or rolling batches).
    Rolling,
    /// At 100 %, still analysing for `after_promotion`.
    Baking,
    Promoted,
    RollingBack,
    RolledBack,
    Held,
    Paged,
    Killed,
    Hotfixing,
}

/// What the controller waits for instances to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Weighted or sticky canary: enough candidate instances for `weight`.
    Weight { step: usize, weight: u32 },
    /// Replicas canary: `target` candidate instances, then scale stable down.
    Replicas { step: usize, target: u32 },
    /// Rolling: the current batch of candidate instances.
    Batch { size: u32 },
    /// A full candidate fleet (big bang, blue-green, flag deploy).
    FullFleet,
    /// A rollback redeploying stable.
    Redeploy,
    /// Hotfix instances replacing `count` faulty ones.
    Hotfix { count: u32 },
}

/// The controller's own record of its decision and the action it took.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mitigation {
    action: Action,
    decided_at: SimTime,
}

struct Rngs {
    traffic: ChaCha8Rng,
    routing: ChaCha8Rng,
    stable: ChaCha8Rng,
    candidate: ChaCha8Rng,
    users: ChaCha8Rng,
    noise: ChaCha8Rng,
    human: ChaCha8Rng,
    fleet: ChaCha8Rng,
    migration: ChaCha8Rng,
}

/// Everything one run needs.
pub struct Run<'a> {
    scenario: &'a Scenario,
    policy: &'a Policy,
    seed: u64,
    run_index: u64,
    now: SimTime,
    queue: BinaryHeap<Reverse<(SimTime, u8, u64, Kind)>>,
    seq: u64,
    events: u64,
    phase: Phase,
    /// Percent of requests routed to the candidate (weighted, sticky, switch).
    weight: u32,
    /// Whether the candidate's share follows its share of ready instances.
    replica_share: bool,
    /// Flag rollouts: the code is deployed to the whole fleet, so all traffic
    /// goes to the candidate and `weight` records the flag percentage.
    deployed_dark: bool,
    step: Option<usize>,
    wait: Option<Wait>,
    fleet: Fleet,
    /// Sticky routing: users whose hash puts them on the candidate.
    candidate_users: u64,
    /// Feature flags are on for this percentage of users.
    flag_percent: u32,
    /// Blue-green preview: share of traffic mirrored to the new fleet.
    mirror_share: f64,
    first_candidate_traffic: Option<SimTime>,
    /// Faults whose time onset has passed (bit per fault).
    onset_passed: u32,
    fault_onset: Option<SimTime>,
    /// A hotfix replaced the faulty candidate.
    fixed: bool,
    analysis_generation: u64,
    failures: Vec<u32>,
    decision: Option<Decision>,
    mitigation: Option<Mitigation>,
    rollout_started_at: Option<SimTime>,
    promoted_at: Option<SimTime>,
    rollback_done_at: Option<SimTime>,
    monitoring: Monitoring,
    ledger: Ledger,
    /// Noise multipliers per version: [error, latency].
    noise: [[f64; 2]; 2],
    cells: Vec<((u64, u64), CellTable)>,
    /// The last time any check failed a measurement (for "stable for T").
    last_failure_at: Option<SimTime>,
    mig: migrate::MigrationState,
    judge_states: Vec<judging::JudgeState>,
    rngs: Rngs,
}

/// Runs one scenario under one policy for run `run_index` of master seed `seed`.
pub fn run(scenario: &Scenario, policy: &Policy, seed: u64, run_index: u64, observer: &mut dyn Observer) -> RunResult {
    let mut r = Run::new(scenario, policy, seed, run_index);
    r.simulate(observer);
    r.finish()
}

/// True if `spec` fails more often, is slower or converts less than `reference`.
pub fn worse_than(spec: &VersionSpec, reference: &VersionSpec) -> bool {
    spec.error_rate > reference.error_rate
        || spec.latency_ms_p50 > reference.latency_ms_p50
        || spec.latency_ms_p99 > reference.latency_ms_p99
        || spec.conversion_rate < reference.conversion_rate
}

impl<'a> Run<'a> {
    fn new(scenario: &'a Scenario, policy: &'a Policy, seed: u64, run_index: u64) -> Run<'a> {
        assert!(
            scenario.faults.len() <= MAX_FAULTS,
            "validation caps faults at {MAX_FAULTS}"
        );
        let key = RunKey {
            master_seed: seed,
            scenario: &scenario.name,
            run_index,
        };
        let retention = policy.analysis.interval + scenario.monitoring.scrape_interval;
        let mut fleet = Fleet::default();
        fleet.launch(
            Version::Stable,
            scenario.fleet.instances,
            SimTime::ZERO,
            scenario.stable.memory_mb,
        );
        Run {
            scenario,
            policy,
            seed,
            run_index,
            now: SimTime::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            events: 0,
            phase: Phase::Warmup,
            weight: 0,
            replica_share: false,
            deployed_dark: false,
            step: None,
            wait: None,
            fleet,
            candidate_users: 0,
            flag_percent: 100,
            mirror_share: 0.0,
            first_candidate_traffic: None,
            onset_passed: 0,
            fault_onset: None,
            fixed: false,
            analysis_generation: 0,
            failures: vec![0; policy.analysis.checks.len()],
            decision: None,
            mitigation: None,
            rollout_started_at: None,
            promoted_at: None,
            rollback_done_at: None,
            monitoring: Monitoring::new(scenario.monitoring.ingestion_delay, retention),
            ledger: Ledger::default(),
            noise: [[1.0; 2]; 2],
            cells: Vec::new(),
            last_failure_at: None,
            mig: migrate::MigrationState::default(),
            judge_states: policy.analysis.checks.iter().map(judging::JudgeState::new).collect(),
            rngs: Rngs {
                traffic: stream(key, "traffic"),
                routing: stream(key, "routing"),
                stable: stream(key, "stable"),
                candidate: stream(key, "candidate"),
                users: stream(key, "users"),
                noise: stream(key, "noise"),
                human: stream(key, "human"),
                fleet: stream(key, "fleet"),
                migration: stream(key, "migration"),
            },
        }
    }

    fn schedule(&mut self, at: SimTime, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse((at, kind.priority(), self.seq, kind)));
    }

    fn horizon(&self) -> SimTime {
        SimTime::ZERO + self.scenario.duration
    }

    fn simulate(&mut self, observer: &mut dyn Observer) {
        let horizon = self.horizon();
        self.ledger.segments.push(Segment {
            step: None,
            weight: 0,
            from: SimTime::ZERO,
            to: SimTime::ZERO,
            stable: VersionTruth::default(),
            candidate: VersionTruth::default(),
        });
        self.schedule(horizon, Kind::Horizon);
        self.schedule(SimTime::ZERO + self.scenario.monitoring.scrape_interval, Kind::Scrape);
        for incident in &self.scenario.incidents {
            self.schedule(SimTime::ZERO + incident.at, Kind::Boundary);
            self.schedule(SimTime::ZERO + incident.at + incident.duration, Kind::Boundary);
        }
        for spike in &self.scenario.traffic.spikes {
            self.schedule(SimTime::ZERO + spike.at, Kind::Boundary);
            self.schedule(SimTime::ZERO + spike.at + spike.duration, Kind::Boundary);
        }
        if self.scenario.noise.is_some() {
            self.schedule(SimTime::ZERO, Kind::NoiseTick);
        }
        let rollout_at = SimTime::ZERO + self.scenario.rollout_at;
        if rollout_at < horizon {
            self.schedule(rollout_at, Kind::StepStart(0));
        }
        while let Some(Reverse((at, _, _, kind))) = self.queue.pop() {
            self.events += 1;
            if self.events > EVENT_BUDGET {
                break;
            }
            if at > self.now {
                self.advance(at, observer);
            }
            if self.handle(kind, observer) {
                break;
            }
        }
        self.close_segment();
    }

    /// Handles one event; returns true when the run is over.
    fn handle(&mut self, kind: Kind, observer: &mut dyn Observer) -> bool {
        match kind {
            Kind::Horizon => {
                observer.event(self.now, &Event::Horizon);
                return true;
            }
            Kind::Scrape => {
                self.update_gauges();
                self.monitoring.scrape(self.now);
                let next = self.now + self.scenario.monitoring.scrape_interval;
                self.schedule(next, Kind::Scrape);
            }
            Kind::FaultOnset(i) => {
                self.onset_passed |= 1 << i;
                self.note_fault_onset(observer);
            }
            Kind::Boundary => {}
            Kind::NoiseTick => self.redraw_noise(),
            Kind::Ready => self.on_ready(observer),
            Kind::FlagApplied(percent) => self.on_flag_applied(percent, observer),
            Kind::DropOldFleet => self.drop_old_fleet(observer),
            Kind::StepStart(i) => self.start_step(i, observer),
            Kind::StepEnd(i) => self.end_step(i, observer),
            Kind::PreviewEnd => self.end_preview(observer),
            Kind::BakeEnd => self.end_bake(observer),
            Kind::Analysis(generation) => {
                if generation == self.analysis_generation {
                    self.analyse(observer);
                }
            }
            Kind::Act(action) => self.act(action, observer),
            Kind::HotfixBuilt => self.deploy_hotfix(observer),
            Kind::MigrationWork => self.migration_work_done(observer),
            Kind::MigrationTick => self.migration_tick(observer),
            Kind::BackfillDone => self.backfill_done(observer),
            Kind::RestoreDone => self.restore_done(observer),
        }
        false
    }

    /// Records the first moment a fault actually touches requests.
    fn note_fault_onset(&mut self, observer: &mut dyn Observer) {
        let active = self.active_faults();
        for (i, f) in self.scenario.faults.iter().enumerate() {
            // A fault behind flags that are off touches no request yet.
            let reaches_users = f.flag.is_none() || self.flag_percent > 0;
            if active & (1 << i) != 0 && reaches_users && self.fault_onset.is_none() {
                self.fault_onset = Some(self.now);
                observer.event(self.now, &Event::FaultOnset { fault: Some(i) });
            }
        }
    }

    /// Faults in force now: onset passed, weight reached, not fixed.
    fn active_faults(&self) -> u32 {
        if self.fixed {
            return 0;
        }
        let share_percent = (self.candidate_share() * 100.0).round() as u32;
        let mut mask = 0;
        for (i, f) in self.scenario.faults.iter().enumerate() {
            if self.onset_passed & (1 << i) != 0 && share_percent.max(self.weight) >= f.onset_weight {
                mask |= 1 << i;
            }
        }
        mask
    }

    fn redraw_noise(&mut self) {
        let Some(noise) = &self.scenario.noise else { return };
        for v in 0..2 {
            for (k, sigma) in [noise.error_rate_sigma, noise.latency_sigma].into_iter().enumerate() {
                let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut self.rngs.noise);
                self.noise[v][k] = libm::exp(sigma * z - sigma * sigma / 2.0);
            }
        }
        let next = self.now + noise.period;
        self.schedule(next, Kind::NoiseTick);
    }

    fn set_weight(&mut self, step: Option<usize>, weight: u32) {
        assert!(weight <= 100, "weight {weight} out of 0..=100");
        if weight == self.weight && step == self.step {
            return;
        }
        self.close_segment();
        self.weight = weight;
        self.step = step;
        self.ledger.segments.push(Segment {
            step,
            weight,
            from: self.now,
            to: self.now,
            stable: VersionTruth::default(),
            candidate: VersionTruth::default(),
        });
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.ledger.segments.last_mut() {
            s.to = self.now;
        }
    }

    fn finish(self) -> RunResult {
        let outcome = match self.phase {
            Phase::Promoted | Phase::Baking => Outcome::Promoted,
            Phase::RollingBack | Phase::RolledBack => Outcome::RolledBack,
            Phase::Held | Phase::Paged => Outcome::Held,
            Phase::Killed => Outcome::Killed,
            Phase::Warmup | Phase::Deploying | Phase::Preview | Phase::Rolling | Phase::Hotfixing => Outcome::TimedOut,
        };
        let horizon = self.horizon();
        // Exposure that lasted to the horizon was never mitigated.
        let mitigated_at = match (self.fault_onset, self.ledger.last_exposed_at) {
            (Some(_), Some(t)) if t < horizon => Some(t),
            _ => None,
        };
        let steps = self
            .ledger
            .segments
            .iter()
            .filter(|s| s.to > s.from)
            .map(|s| StepStats {
                step: s.step,
                weight: s.weight,
                from: s.from,
                to: s.to,
                requests: s.stable.requests + s.candidate.requests,
                failed: s.stable.failed + s.candidate.failed,
                candidate_requests: s.candidate.requests,
                candidate_failed: s.candidate.failed,
            })
            .collect();
        let mitigation = self.mitigation.map(|m| crate::score::MitigationStats {
            action: m.action,
            decided_at: m.decided_at,
            exposure_ended_at: mitigated_at.filter(|t| *t >= m.decided_at),
        });
        let budget = (1.0 - self.scenario.slo.availability) * self.scenario.traffic.rps * 30.0 * 86_400.0;
        let fault_failed = self.ledger.stable.fault_failed + self.ledger.candidate.fault_failed;
        RunResult {
            scenario: self.scenario.name.clone(),
            policy: self.policy.name.clone(),
            strategy: self.policy.strategy.name(),
            seed: self.seed,
            run: self.run_index,
            healthy: self.scenario.is_healthy(),
            outcome,
            fault_onset: self.fault_onset,
            decision: self.decision,
            mitigation,
            mitigated_at,
            rollout_started_at: self.rollout_started_at,
            promoted_at: self.promoted_at,
            rollback_done_at: self.rollback_done_at,
            stable: self.ledger.stable,
            candidate: self.ledger.candidate,
            exposed_requests: self.ledger.exposed,
            users_affected: self.ledger.users_affected,
            lost_conversions: self.ledger.lost_conversions,
            inconsistent_sessions: self.ledger.inconsistent_sessions,
            oom_kills: self.ledger.oom_kills,
            error_budget_consumed: if budget > 0.0 {
                fault_failed as f64 / budget
            } else {
                0.0
            },
            extra_instance_hours: self.ledger.extra_instance_ms / 3_600_000.0,
            hotfixed: self.fixed,
            migration: self.migration_stats(),
            steps,
            events: self.events,
        }
    }
}

impl Run<'_> {
    fn migration_stats(&self) -> Option<crate::score::MigrationStats> {
        if !self.migrating() {
            return None;
        }
        let m = &self.mig;
        Some(crate::score::MigrationStats {
            records_lost: m.records_lost,
            records_restored: m.records_restored,
            restore_duration: m.restore_duration,
            backfill_duration: match (m.backfill_started_at, m.backfill_done_at) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
            latency_cost_of_backfill_ms: if m.backfill_requests > 0 {
                m.backfill_added_ms / m.backfill_requests as f64
            } else {
                0.0
            },
            last_safe_rollback_at: m.last_safe_rollback_at,
            contracted_at: m.contracted_at,
            rolled_back_after_contract: m.rolled_back_after_contract,
            duplicate_writes: m.duplicates,
            constraint_violations: m.violations,
            mismatched_rows: m.mismatched,
            backfill_lag_rows: m.to_copy.round() as u64,
            complete: m.complete,
            phases: m.phases.clone(),
        })
    }
}

/// Rounds a positive duration in seconds to whole milliseconds.
fn ms(seconds: f64) -> SimDuration {
    SimDuration::from_ms((seconds * 1000.0).max(0.0).round() as u64)
}
