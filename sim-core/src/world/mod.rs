//! The world: fleet, traffic, users and sessions, faults, the shared
//! dependency, flags, the migration's data, monitoring and the ledger.
//!
//! The world advances time (serving every chunk of traffic, see `serve`),
//! fires its own timers (fault onsets, incident boundaries, noise redraws,
//! instances becoming ready, flag changes propagating, scrapes, schema work
//! and restores) and applies [`Operation`]s. Controllers never hold a
//! `World`: they drive it through [`crate::timeline::Platform`], which applies
//! operations and hands out an [`Observation`] — monitoring after the
//! ingestion delay, the controller's own instances and settings, the clock.
//! Ground truth (the ledger, which faults are active, the onset) leaves the
//! world only through [`World::finish`], for the scorer.

mod data;
mod requests;
mod serve;

pub use data::{BackfillRate, DataState};

use rand_chacha::ChaCha8Rng;

use crate::fleet::{Fleet, Version};
use crate::ledger::{Ledger, Segment, VersionTruth};
use crate::model::{MigrationPhase, Scenario};
use crate::monitoring::{Monitoring, Window};
use crate::rng::{RunKey, SlotStream, stream};
use crate::time::{SimDuration, SimTime};

pub(crate) use serve::binomial;

/// How requests are split between stable and the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Each request independently, with the routed weight (a service mesh).
    Weighted,
    /// The candidate's share of ready instances (no traffic router).
    Replicas,
    /// By user hash: the users moved to the candidate stay there.
    Sticky,
    /// The candidate's code runs on the whole fleet behind flags (a flag
    /// rollout): every request reaches it.
    Dark,
}

/// What a controller asks the world to do. Every change to the world a
/// controller makes is one of these; the world applies it at its own clock.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// Start `count` instances of `version`; they are ready after the
    /// fleet's start-up time.
    Launch { version: Version, count: u32 },
    /// Stop up to `count` instances of `version`, those not yet ready first.
    Terminate { version: Version, count: u32 },
    /// Stop the `count` oldest instances of `version` (a hotfix replacing them).
    TerminateOldest { version: Version, count: u32 },
    /// How requests are split from now on.
    SetRouting(Routing),
    /// Route `weight` percent to the candidate; `step` labels the ledger's
    /// segment (the policy step in force, `None` outside the steps).
    Route { step: Option<usize>, weight: u32 },
    /// Sticky routing: move users so that `weight` percent are on the
    /// candidate (users already moved stay).
    MoveUsers { weight: u32 },
    /// Every user back on stable (sticky routing).
    ResetUsers,
    /// Feature flags to `percent` of users, after the propagation delay.
    SetFlags { percent: u32 },
    /// Mirror this share of stable's requests to the candidate (blue-green preview).
    Mirror { share: f64 },
    /// The hotfix replaced the faulty candidate code.
    Fixed,
    /// Start a migration phase's own work (DDL, a read switch, the backfill).
    BeginPhase {
        phase: MigrationPhase,
        duration: SimDuration,
    },
    /// The new code's feature flags start at `percent` (the code is not
    /// running anywhere yet, so nothing propagates).
    InitFlags { percent: u32 },
    /// The plan starts: every row is still to copy.
    StartMigration { backfill: BackfillRate },
    /// The plan finished a phase (stamped for the timeline).
    FinishPhase { phase: MigrationPhase },
    /// The plan ran to its end.
    CompleteMigration,
    /// The app was rolled back: reads and writes switch back, and after the
    /// contract the old shape is restored (replayed, or lost).
    RollbackData {
        restore_rows_per_s: Option<f64>,
        restore_base: SimDuration,
    },
}

/// What the world tells the controller happened to its own operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact {
    /// Instances became ready (launched, or back after a restart).
    InstancesReady,
    /// The candidate served its first request.
    CandidateServing,
    /// A flag change reached every instance.
    FlagsApplied { percent: u32 },
    /// A migration phase's own work finished.
    PhaseWorkDone { phase: MigrationPhase },
}

/// The world's own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    FaultOnset(usize),
    /// An incident or spike starts or ends (the chunk must end there).
    Boundary,
    NoiseTick,
    Ready,
    FlagApplied(u32),
    Scrape,
    /// A phase's own work (DDL, a read switch) is done.
    PhaseWork(MigrationPhase),
    BackfillDone,
    RestoreDone,
}

impl Timer {
    /// Same-instant order: world changes, routing, scrape, then (after the
    /// analysis, priority 3) schema work.
    pub fn priority(self) -> u8 {
        match self {
            Timer::FaultOnset(_) | Timer::Boundary | Timer::NoiseTick => 0,
            Timer::Ready | Timer::FlagApplied(_) => 1,
            Timer::Scrape => 2,
            Timer::PhaseWork(_) | Timer::BackfillDone | Timer::RestoreDone => 4,
        }
    }
}

/// What a controller may see of the world at one instant: monitoring
/// (after the ingestion delay), its own instances and settings, the clock.
/// Nothing here leads to the ledger or to the faults.
pub struct Observation<'w> {
    pub now: SimTime,
    monitoring: &'w Monitoring,
    fleet: &'w Fleet,
    weight: u32,
    flag_percent: u32,
    candidate_share: f64,
}

impl<'w> Observation<'w> {
    /// What a controller sees of recorded monitoring (`replay-metrics`):
    /// no instances of its own, the weight it last routed.
    pub fn recorded(now: SimTime, monitoring: &'w Monitoring, fleet: &'w Fleet, weight: u32) -> Observation<'w> {
        Observation {
            now,
            monitoring,
            fleet,
            weight,
            flag_percent: weight,
            candidate_share: f64::from(weight) / 100.0,
        }
    }
}

impl Observation<'_> {
    /// What a query over the last `span` returns (scraped, ingested).
    pub fn window(&self, span: SimDuration) -> Option<Window<'_>> {
        self.monitoring.window(self.now, span)
    }

    /// As [`Observation::window`], the baseline's data `offset` earlier.
    pub fn window_offset(&self, span: SimDuration, offset: SimDuration) -> Option<Window<'_>> {
        self.monitoring.window_offset(self.now, span, offset)
    }

    /// As [`Observation::series`], the baseline's data `offset` earlier.
    pub fn series_offset(&self, span: SimDuration, offset: SimDuration) -> Vec<Window<'_>> {
        self.monitoring.series_offset(self.now, span, offset)
    }

    /// The per-scrape windows inside the last `span`.
    pub fn series(&self, span: SimDuration) -> Vec<Window<'_>> {
        self.monitoring.series(self.now, span)
    }

    pub fn ready(&self, version: Version) -> u32 {
        self.fleet.ready(version, self.now)
    }

    pub fn alive(&self, version: Version) -> u32 {
        self.fleet.alive(version)
    }

    /// The weight the controller routed last, percent.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Percent of users with the feature flags on (as applied).
    pub fn flag_percent(&self) -> u32 {
        self.flag_percent
    }

    /// The candidate's share of user requests under the current routing.
    pub fn candidate_share(&self) -> f64 {
        self.candidate_share
    }
}

/// The world's slotted random streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum S {
    Traffic,
    Routing,
    Stable,
    Candidate,
    Users,
    Fleet,
    Migration,
    Slowed,
    Onset,
    /// Every draw of the per-request reference engine.
    PerRequest,
}

const SLOTTED: [&str; 10] = [
    "traffic",
    "routing",
    "stable",
    "candidate",
    "users",
    "fleet",
    "migration",
    "slowed",
    "onset",
    "per_request",
];

/// The world's random streams. The slotted ones are re-derived for each
/// time slot, lazily (a stream a slot never draws from costs nothing);
/// `noise`, whose redraws are at the world's own fixed times, is not.
pub(crate) struct Rngs {
    current: u64,
    bases: [SlotStream; SLOTTED.len()],
    streams: [ChaCha8Rng; SLOTTED.len()],
    /// The slot each stream in `streams` was derived for.
    derived: [u64; SLOTTED.len()],
    pub noise: ChaCha8Rng,
}

impl Rngs {
    fn new(key: RunKey<'_>) -> Rngs {
        let bases = SLOTTED.map(|name| SlotStream::new(key, name));
        let streams = bases.clone().map(|b| b.at(0));
        Rngs {
            current: 0,
            bases,
            streams,
            derived: [0; SLOTTED.len()],
            noise: stream(key, "noise"),
        }
    }

    /// Draws from now on come from slot `slot`'s streams.
    fn enter(&mut self, slot: u64) {
        self.current = slot;
    }

    /// Stream `s` of the current slot.
    pub(crate) fn get(&mut self, s: S) -> &mut ChaCha8Rng {
        let i = s as usize;
        if self.derived[i] != self.current {
            self.bases[i].move_to(&mut self.streams[i], self.current);
            self.derived[i] = self.current;
        }
        &mut self.streams[i]
    }
}

/// Ground truth at the end of a run, for the scorer.
pub struct Truth {
    pub fixed: bool,
    pub ledger: Ledger,
    pub data: Option<DataState>,
}

/// The simulated world of one run.
pub struct World<'a> {
    sc: &'a Scenario,
    now: SimTime,
    fleet: Fleet,
    routing: Routing,
    /// Percent routed to the candidate (weighted routing), and the label of
    /// the ledger's current segment.
    weight: u32,
    step: Option<usize>,
    /// Sticky routing: users whose hash puts them on the candidate.
    candidate_users: u64,
    flag_percent: u32,
    /// Blue-green preview: share of stable's traffic mirrored to the candidate.
    mirror_share: f64,
    first_candidate_traffic: Option<SimTime>,
    /// Faults whose time onset has passed (bit per fault).
    onset_passed: u32,
    fault_active_at: Option<SimTime>,
    /// A hotfix replaced the faulty candidate.
    fixed: bool,
    monitoring: Monitoring,
    ledger: Ledger,
    /// Noise multipliers per version: [error, latency].
    noise: [[f64; 2]; 2],
    data: DataState,
    rngs: Rngs,
    /// The slot whose arrivals are being handed out, and how many are left.
    arrivals: (Option<u64>, u64),
    /// Timers set since the engine last collected them, in order.
    timers: Vec<(SimTime, Timer)>,
    facts: Vec<Fact>,
    /// Serve every request one by one (the reference engine).
    per_request: bool,
}

impl<'a> World<'a> {
    /// The world at time zero: the stable fleet up, nothing scheduled but
    /// the world's own timers. `retention` is the longest window any
    /// controller will query.
    pub fn new(sc: &'a Scenario, key: RunKey<'_>, retention: SimDuration) -> World<'a> {
        assert!(sc.faults.len() <= crate::limits::FAULTS_MAX, "validation caps faults");
        let mut fleet = Fleet::default();
        fleet.launch(Version::Stable, sc.fleet.instances, SimTime::ZERO, sc.stable.memory_mb);
        let mut w = World {
            sc,
            now: SimTime::ZERO,
            fleet,
            routing: Routing::Weighted,
            weight: 0,
            step: None,
            candidate_users: 0,
            flag_percent: 100,
            mirror_share: 0.0,
            first_candidate_traffic: None,
            onset_passed: 0,
            fault_active_at: None,
            fixed: false,
            monitoring: Monitoring::new(&sc.monitoring, key, retention, sc.slo.latency_ms),
            ledger: Ledger::default(),
            noise: [[1.0; 2]; 2],
            data: DataState::default(),
            rngs: Rngs::new(key),
            arrivals: (None, 0),
            timers: Vec::new(),
            facts: Vec::new(),
            per_request: false,
        };
        w.ledger.segments.push(Segment {
            step: None,
            weight: 0,
            from: SimTime::ZERO,
            to: SimTime::ZERO,
            stable: VersionTruth::default(),
            candidate: VersionTruth::default(),
        });
        w.schedule_own_timers();
        w
    }

    /// Serve every request one by one from now on: the per-request
    /// reference engine (`world/requests.rs`), for validation.
    pub fn serve_per_request(&mut self) {
        self.per_request = true;
    }

    fn schedule_own_timers(&mut self) {
        let sc = self.sc;
        self.schedule(SimTime::ZERO + sc.monitoring.scrape_interval, Timer::Scrape);
        for incident in &sc.incidents {
            self.schedule(SimTime::ZERO + incident.at, Timer::Boundary);
            self.schedule(SimTime::ZERO + incident.at + incident.duration, Timer::Boundary);
        }
        for spike in &sc.traffic.spikes {
            self.schedule(SimTime::ZERO + spike.at, Timer::Boundary);
            self.schedule(SimTime::ZERO + spike.at + spike.duration, Timer::Boundary);
        }
        if sc.noise.is_some() {
            self.schedule(SimTime::ZERO, Timer::NoiseTick);
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    fn schedule(&mut self, at: SimTime, timer: Timer) {
        self.timers.push((at, timer));
    }

    /// The timers set since the last call, in the order they were set.
    pub fn take_timers(&mut self) -> std::vec::Drain<'_, (SimTime, Timer)> {
        self.timers.drain(..)
    }

    /// The facts for the controller since the last call, in order.
    pub fn take_facts(&mut self) -> std::vec::Drain<'_, Fact> {
        self.facts.drain(..)
    }

    /// The random-stream slot of instant `t`: slots are scrape intervals,
    /// so no chunk of traffic crosses one.
    fn slot_of(&self, t: SimTime) -> u64 {
        t.ms() / self.sc.monitoring.scrape_interval.ms()
    }

    fn slot_start(&self, slot: u64) -> SimTime {
        SimTime(slot * self.sc.monitoring.scrape_interval.ms())
    }

    /// The end of `slot`, or the horizon if it comes first.
    fn slot_end(&self, slot: u64) -> SimTime {
        let end = SimTime((slot + 1) * self.sc.monitoring.scrape_interval.ms());
        end.min(SimTime::ZERO + self.sc.duration)
    }

    /// Draws from now on come from the current slot's streams.
    fn enter_slot(&mut self) {
        let slot = self.slot_of(self.now);
        self.rngs.enter(slot);
    }

    /// What a controller may see at `now` (the world has been served up
    /// to its last event; nothing it shows changes in between).
    pub fn observation(&self, now: SimTime) -> Observation<'_> {
        assert!(now >= self.now, "the clock never runs behind the world");
        Observation {
            now,
            monitoring: &self.monitoring,
            fleet: &self.fleet,
            weight: self.weight,
            flag_percent: self.flag_percent,
            candidate_share: self.candidate_share_at(now),
        }
    }

    /// The newest data monitoring shows at `now` (see
    /// [`Monitoring::visible_until`]); the scorer asks it of every decision.
    pub fn data_visible_until(&self, now: SimTime) -> Option<SimTime> {
        self.monitoring.visible_until(now)
    }

    /// Fires one of the world's timers (the world is already at its instant).
    pub fn fire(&mut self, timer: Timer, observer: &mut dyn crate::timeline::Observer) {
        match timer {
            Timer::Scrape => {
                self.update_gauges();
                self.monitoring.scrape(self.now);
                let l = &self.ledger;
                observer.truth(
                    self.now,
                    &crate::timeline::TruthSoFar {
                        failed_requests: l.stable.fault_failed + l.candidate.fault_failed,
                        slow_requests: l.stable.fault_slow + l.candidate.fault_slow,
                        exposed_requests: l.exposed,
                        users_affected: l.users_affected,
                        lost_conversions: l.lost_conversions,
                        records_lost: self.data.records_lost,
                    },
                );
                let next = self.now + self.sc.monitoring.scrape_interval;
                self.schedule(next, Timer::Scrape);
            }
            Timer::FaultOnset(i) => {
                self.onset_passed |= 1 << i;
                self.note_fault_onset(observer);
            }
            Timer::Boundary => {}
            Timer::NoiseTick => self.redraw_noise(),
            Timer::Ready => self.facts.push(Fact::InstancesReady),
            Timer::FlagApplied(percent) => {
                self.flag_percent = percent;
                observer.event(self.now, &crate::timeline::Event::FlagSet { percent });
                self.note_fault_onset(observer);
                self.facts.push(Fact::FlagsApplied { percent });
            }
            Timer::PhaseWork(phase) => self.phase_work_done(phase),
            Timer::BackfillDone => self.facts.push(Fact::PhaseWorkDone {
                phase: MigrationPhase::Backfill,
            }),
            Timer::RestoreDone => self.restore_done(observer),
        }
    }

    /// Applies one operation now.
    pub fn apply(&mut self, op: Operation, observer: &mut dyn crate::timeline::Observer) {
        use crate::timeline::Event;
        match op {
            Operation::Launch { version, count } => self.launch(version, count, observer),
            Operation::Terminate { version, count } => {
                let count = count.min(self.fleet.alive(version));
                if count > 0 {
                    self.fleet.terminate(version, count, self.now);
                    observer.event(self.now, &Event::InstancesTerminated { version, count });
                }
            }
            Operation::TerminateOldest { version, count } => {
                self.fleet.terminate_oldest(version, count);
                observer.event(self.now, &Event::InstancesTerminated { version, count });
            }
            Operation::SetRouting(routing) => self.routing = routing,
            Operation::Route { step, weight } => self.route(step, weight, observer),
            Operation::MoveUsers { weight } => self.move_sticky_users(weight),
            Operation::ResetUsers => self.candidate_users = 0,
            Operation::SetFlags { percent } => {
                let at = self.now + self.sc.flag_propagation;
                self.schedule(at, Timer::FlagApplied(percent));
            }
            Operation::Mirror { share } => {
                self.mirror_share = share;
                if share > 0.0 {
                    observer.event(self.now, &Event::PreviewStarted { share });
                    self.candidate_takes_traffic(observer);
                }
            }
            Operation::Fixed => {
                self.fixed = true;
                observer.event(self.now, &Event::HotfixDeployed);
            }
            Operation::InitFlags { percent } => self.flag_percent = percent,
            Operation::StartMigration { backfill } => self.start_migration(backfill),
            Operation::FinishPhase { phase } => self.phase_finished(phase, observer),
            Operation::CompleteMigration => {
                self.data.complete = true;
                observer.event(self.now, &Event::MigrationComplete);
            }
            Operation::BeginPhase { phase, duration } => self.begin_phase(phase, duration, observer),
            Operation::RollbackData {
                restore_rows_per_s,
                restore_base,
            } => self.rollback_data(restore_rows_per_s, restore_base, observer),
        }
    }

    fn launch(&mut self, version: Version, count: u32, observer: &mut dyn crate::timeline::Observer) {
        if count == 0 {
            return;
        }
        let ready_at = self.now + self.sc.fleet.startup;
        let memory = match version {
            Version::Stable => self.sc.stable.memory_mb,
            Version::Candidate => self.sc.candidate.memory_mb,
        };
        self.fleet.launch(version, count, ready_at, memory);
        observer.event(
            self.now,
            &crate::timeline::Event::InstancesLaunched {
                version,
                count,
                ready_at,
            },
        );
        self.schedule(ready_at, Timer::Ready);
    }

    /// Routes `weight` percent to the candidate and opens a new ledger segment.
    fn route(&mut self, step: Option<usize>, weight: u32, observer: &mut dyn crate::timeline::Observer) {
        assert!(weight <= 100, "weight {weight} out of 0..=100");
        if weight != self.weight || step != self.step {
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
        observer.event(self.now, &crate::timeline::Event::WeightSet { step, weight });
        if weight > 0 {
            self.candidate_takes_traffic(observer);
        }
        self.note_fault_onset(observer);
    }

    /// The candidate serves its first request: fault onsets start counting.
    fn candidate_takes_traffic(&mut self, observer: &mut dyn crate::timeline::Observer) {
        if self.first_candidate_traffic.is_some() {
            return;
        }
        self.first_candidate_traffic = Some(self.now);
        self.migration_on_first_candidate(observer);
        if !self.fixed && self.sc.candidate.worse_than(&self.sc.stable) {
            self.fault_active_at = Some(self.now);
            observer.event(self.now, &crate::timeline::Event::FaultOnset { fault: None });
        }
        for (i, f) in self.sc.faults.iter().enumerate() {
            self.schedule(self.now + f.onset, Timer::FaultOnset(i));
        }
        self.facts.push(Fact::CandidateServing);
    }

    /// Records the first moment a fault actually touches requests.
    fn note_fault_onset(&mut self, observer: &mut dyn crate::timeline::Observer) {
        let active = self.active_faults();
        for (i, f) in self.sc.faults.iter().enumerate() {
            // A fault behind flags that are off touches no request yet.
            let reaches_users = f.flag.is_none() || self.flag_percent > 0;
            if active & (1 << i) != 0 && reaches_users && self.fault_active_at.is_none() {
                self.fault_active_at = Some(self.now);
                observer.event(self.now, &crate::timeline::Event::FaultOnset { fault: Some(i) });
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
        for (i, f) in self.sc.faults.iter().enumerate() {
            if self.onset_passed & (1 << i) != 0 && share_percent.max(self.weight) >= f.onset_weight {
                mask |= 1 << i;
            }
        }
        mask
    }

    fn redraw_noise(&mut self) {
        let Some(noise) = &self.sc.noise else { return };
        for v in 0..2 {
            for (k, sigma) in [noise.error_rate_sigma, noise.latency_sigma].into_iter().enumerate() {
                let z = crate::draw::standard_normal(&mut self.rngs.noise);
                self.noise[v][k] = libm::exp(sigma * z - sigma * sigma / 2.0);
            }
        }
        let next = self.now + noise.period;
        self.schedule(next, Timer::NoiseTick);
    }

    /// Sticky routing: users stay where their hash put them; raising the
    /// weight moves Binomial(remaining, Δw / (100 − w)) more users over.
    fn move_sticky_users(&mut self, weight: u32) {
        self.enter_slot();
        let users = self.sc.traffic.users;
        let old = self.weight.min(100);
        let current = self.candidate_users;
        self.candidate_users = if weight >= old {
            if old == 100 {
                users
            } else {
                let p = f64::from(weight - old) / f64::from(100 - old);
                current + binomial(self.rngs.get(S::Users), users - current, p)
            }
        } else if old == 0 {
            0
        } else {
            binomial(self.rngs.get(S::Users), current, f64::from(weight) / f64::from(old))
        };
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.ledger.segments.last_mut() {
            s.to = self.now;
        }
    }

    /// The share of user requests routed to the candidate version.
    pub(crate) fn candidate_share(&self) -> f64 {
        self.candidate_share_at(self.now)
    }

    fn candidate_share_at(&self, now: SimTime) -> f64 {
        match self.routing {
            Routing::Dark => 1.0,
            Routing::Replicas => {
                let c = self.fleet.ready(Version::Candidate, now);
                let s = self.fleet.ready(Version::Stable, now);
                if c + s == 0 {
                    0.0
                } else {
                    f64::from(c) / f64::from(c + s)
                }
            }
            Routing::Sticky => self.candidate_users as f64 / self.sc.traffic.users as f64,
            Routing::Weighted => f64::from(self.weight) / 100.0,
        }
    }

    /// Ends the run at `now`: closes the last segment and hands the ground
    /// truth to the scorer.
    pub fn finish(mut self) -> Truth {
        self.close_segment();
        Truth {
            fixed: self.fixed,
            ledger: self.ledger,
            data: self.sc.migration.is_some().then_some(self.data),
        }
    }
}
