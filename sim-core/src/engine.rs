//! The loop: one run of one scenario under one controller.
//!
//! ```text
//!   pop the next event ─> advance the world to its instant (serve traffic)
//!        │                  ─> fire it: a world timer, a mechanics timer,
//!        │                     or a decider's wake-up
//!        │                  ─> notes (what happened to the rollout) go to
//!        │                     the mechanics and the decider; the decider's
//!        │                     commands go to the mechanics, whose
//!        │                     operations go to the world
//!        └─ observers hear every event; one may stop the run, and so does
//!           the event budget (`limits::EVENTS_PER_RUN_MAX`)
//! ```
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
//! 4 controller step ends and starts, gates, delayed actions, schema work
//! 5 script     a script's commands, after everything else of the instant
//! 6 horizon    the run ends
//! ```
//!
//! # Who sees what
//!
//! Controllers (`control`) get a [`Platform`] (a trait of `control`, which
//! the engine implements over the world and the queue): every one of its
//! methods returns the clock, what monitoring shows, or the controller's
//! own instances and settings. The world's ledger and fault state leave it only
//! at the end, through `World::finish`, to build the [`RunResult`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::control::policy::PolicyController;
use crate::control::strategy::{Rollout, RolloutTimer};
use crate::control::{By, Command, Controller, Cue, Cx, Issued, Note, Out, Platform, WakeClass};
use crate::model::{Action, Metric, Policy, Scenario};
use crate::rng::{RunKey, stream};
use crate::score::{Decision, MitigationStats, Outcome, RunResult, StepStats};
use crate::time::SimTime;
use crate::world::{Fact, Observation, Operation, Timer, Truth, World};

pub use crate::control::analysis::judge_bounds;
pub use crate::limits::{EVENTS_PER_RUN_MAX as EVENT_BUDGET, EXACT_USER_DRAWS, FAULTS_MAX as MAX_FAULTS};
pub use crate::timeline::{Collect, Discard, Event, Measurement, Observer, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    World(Timer),
    Rollout(RolloutTimer),
    Decider(WakeClass, u64),
    Horizon,
}

impl Kind {
    fn priority(self) -> u8 {
        match self {
            Kind::World(t) => t.priority(),
            Kind::Rollout(RolloutTimer::DropOldFleet) => 1,
            Kind::Decider(WakeClass::Analysis, _) => 3,
            Kind::Rollout(RolloutTimer::Act(_) | RolloutTimer::HotfixBuilt) | Kind::Decider(WakeClass::Control, _) => 4,
            Kind::Decider(WakeClass::End, _) => 5,
            Kind::Horizon => 6,
        }
    }
}

/// The event queue: (time, priority, insertion sequence).
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(SimTime, u8, u64, Kind)>>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: SimTime, kind: Kind) {
        self.seq += 1;
        self.heap.push(Reverse((at, kind.priority(), self.seq, kind)));
    }

    fn pop(&mut self) -> Option<(SimTime, Kind)> {
        self.heap.pop().map(|Reverse((at, _, _, kind))| (at, kind))
    }
}

/// The engine's [`Platform`]: the world, the queue and the observer
/// behind the one interface controllers see.
struct EnginePlatform<'p, 'a> {
    clock: SimTime,
    world: &'p mut World<'a>,
    queue: &'p mut Queue,
    observer: &'p mut dyn Observer,
    notes: &'p mut VecDeque<Note>,
}

impl Platform for EnginePlatform<'_, '_> {
    fn now(&self) -> SimTime {
        self.clock
    }

    fn observe(&self) -> Observation<'_> {
        self.world.observation(self.clock)
    }

    /// The world is first served up to now: only what a controller does
    /// cuts the traffic into chunks, never when it looks.
    fn apply(&mut self, op: Operation) {
        if self.clock > self.world.now() {
            self.world.advance(self.clock, self.observer);
        }
        self.world.apply(op, self.observer);
        collect(self.world, self.queue, self.notes);
    }

    fn emit(&mut self, event: &Event) {
        self.observer.event(self.clock, event);
    }

    fn timer(&mut self, at: SimTime, timer: RolloutTimer) {
        self.queue.push(at, Kind::Rollout(timer));
    }

    fn note(&mut self, note: Note) {
        self.notes.push_back(note);
    }
}

/// Moves the world's new timers into the queue and its facts into the notes.
fn collect(world: &mut World<'_>, queue: &mut Queue, notes: &mut VecDeque<Note>) {
    for (at, t) in world.take_timers() {
        queue.push(at, Kind::World(t));
    }
    notes.extend(world.take_facts().map(Note::Fact));
}

/// The decisions a run's controllers took, for scoring.
#[derive(Default)]
struct Record {
    /// Every decision, in order.
    decisions: Vec<Decision>,
    /// The first mitigating command.
    mitigation: Option<(Action, SimTime)>,
    /// Steps a controller passed on no conclusive analysis.
    blind_steps: u32,
}

/// How the loop ended early, if it did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Horizon,
    Budget,
    Observer,
}

struct Sim<'s, 'a> {
    /// The instant of the event being handled (the world may lag behind it).
    clock: SimTime,
    world: World<'a>,
    queue: Queue,
    notes: VecDeque<Note>,
    rollout: Rollout<'s>,
    record: Record,
    events: u64,
}

impl<'s, 'a> Sim<'s, 'a> {
    fn platform<'p>(&'p mut self, observer: &'p mut dyn Observer) -> (EnginePlatform<'p, 'a>, &'p mut Rollout<'s>) {
        (
            EnginePlatform {
                clock: self.clock,
                world: &mut self.world,
                queue: &mut self.queue,
                observer,
                notes: &mut self.notes,
            },
            &mut self.rollout,
        )
    }

    /// Runs the loop to the horizon, the event budget or an observer's stop.
    fn simulate(&mut self, controller: &mut dyn Controller, observer: &mut dyn Observer) -> Stop {
        self.cue(controller, Cue::Begin, observer);
        self.settle(controller, observer);
        while let Some((at, kind)) = self.queue.pop() {
            self.events += 1;
            if self.events > crate::limits::EVENTS_PER_RUN_MAX {
                return Stop::Budget;
            }
            if !observer.proceed() {
                return Stop::Observer;
            }
            self.clock = at;
            match kind {
                Kind::Horizon => {
                    self.serve_to_clock(observer);
                    observer.event(at, &Event::Horizon);
                    return Stop::Horizon;
                }
                Kind::World(t) => {
                    self.serve_to_clock(observer);
                    self.world.fire(t, observer);
                    collect(&mut self.world, &mut self.queue, &mut self.notes);
                }
                Kind::Rollout(t) => {
                    let (mut p, rollout) = self.platform(observer);
                    rollout.timer(t, &mut p);
                }
                Kind::Decider(class, token) => self.cue(controller, Cue::Wake(class, token), observer),
            }
            self.settle(controller, observer);
        }
        unreachable!("the horizon is always queued")
    }

    /// Serves the world's traffic up to the clock.
    fn serve_to_clock(&mut self, observer: &mut dyn Observer) {
        if self.clock > self.world.now() {
            self.world.advance(self.clock, observer);
            collect(&mut self.world, &mut self.queue, &mut self.notes);
        }
    }

    /// Hands every pending note to the mechanics or the decider, until none is left.
    fn settle(&mut self, controller: &mut dyn Controller, observer: &mut dyn Observer) {
        while let Some(note) = self.notes.pop_front() {
            match note {
                Note::Fact(fact @ (Fact::InstancesReady | Fact::FlagsApplied { .. })) => {
                    let (mut p, rollout) = self.platform(observer);
                    rollout.on_fact(fact, &mut p);
                }
                Note::Fact(Fact::CandidateServing | Fact::PhaseWorkDone { .. })
                | Note::StepReached { .. }
                | Note::PreviewStarted
                | Note::Switched
                | Note::FlagStepApplied { .. }
                | Note::Promoted
                | Note::HotfixDeployed => self.cue(controller, Cue::Note(note), observer),
            }
        }
    }

    /// Asks the decider, then carries out what it handed back, in order.
    fn cue(&mut self, controller: &mut dyn Controller, cue: Cue, observer: &mut dyn Observer) {
        let mut cx = Cx::default();
        controller.on(
            cue,
            &self.world.observation(self.clock),
            &self.rollout.status(),
            &mut cx,
        );
        let by = controller.by();
        for out in cx.out {
            match out {
                Out::Event(e) => {
                    if let Event::BlindStep { .. } = e {
                        self.record.blind_steps += 1;
                    }
                    observer.event(self.clock, &e);
                }
                Out::Wake(at, class, token) => self.queue.push(at, Kind::Decider(class, token)),
                Out::Command(command, metric, author) => self.issue(command, metric, author.unwrap_or(by), observer),
            }
        }
    }

    fn issue(&mut self, command: Command, metric: Option<Metric>, by: By, observer: &mut dyn Observer) {
        let at = self.clock;
        observer.event(
            at,
            &Event::Command(Issued {
                at,
                command,
                by,
                metric,
            }),
        );
        if let Some(action) = command.action() {
            let data_until = self.world.data_visible_until(at);
            self.record.decisions.push(Decision {
                at,
                action,
                metric,
                data_until,
            });
            self.record.mitigation.get_or_insert((action, at));
            observer.event(at, &Event::Decided { action });
        }
        let (mut p, rollout) = self.platform(observer);
        rollout.command(command, &mut p);
    }
}

/// How the world's requests are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// In aggregated chunks: the cost of a run does not grow with its
    /// request count.
    #[default]
    Aggregated,
    /// One request at a time (`world/requests.rs`): the reference the
    /// aggregated engine is checked against, for validation only.
    PerRequest,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Aggregated => "aggregated",
            Engine::PerRequest => "per-request",
        }
    }
}

/// Runs one scenario under its policy for run `run_index` of master seed `seed`.
pub fn run(scenario: &Scenario, policy: &Policy, seed: u64, run_index: u64, observer: &mut dyn Observer) -> RunResult {
    run_on(Engine::Aggregated, scenario, policy, seed, run_index, observer)
}

/// [`run`] on the given engine.
pub fn run_on(
    engine: Engine,
    scenario: &Scenario,
    policy: &Policy,
    seed: u64,
    run_index: u64,
    observer: &mut dyn Observer,
) -> RunResult {
    let key = run_key(scenario, seed, run_index);
    let mut decider = PolicyController::new(
        policy,
        SimTime::ZERO + scenario.rollout_at,
        SimTime::ZERO + scenario.duration,
        scenario.migration.is_some(),
        stream(key, "human"),
    );
    run_with_on(engine, scenario, policy, seed, run_index, &mut decider, observer)
}

fn run_key(scenario: &Scenario, seed: u64, run_index: u64) -> RunKey<'_> {
    RunKey {
        master_seed: seed,
        scenario: &scenario.name,
        run_index,
    }
}

/// Runs one scenario with `controller` deciding and `policy` supplying the
/// strategy's mechanics (steps, rollback delay, hotfix, migration plan).
pub fn run_with(
    scenario: &Scenario,
    policy: &Policy,
    seed: u64,
    run_index: u64,
    controller: &mut dyn Controller,
    observer: &mut dyn Observer,
) -> RunResult {
    run_with_on(
        Engine::Aggregated,
        scenario,
        policy,
        seed,
        run_index,
        controller,
        observer,
    )
}

/// [`run_with`] on the given engine.
pub fn run_with_on(
    engine: Engine,
    scenario: &Scenario,
    policy: &Policy,
    seed: u64,
    run_index: u64,
    controller: &mut dyn Controller,
    observer: &mut dyn Observer,
) -> RunResult {
    let key = run_key(scenario, seed, run_index);
    let retention = policy.analysis.reach(scenario.duration) + scenario.monitoring.scrape_interval;
    let mut sim = Sim {
        clock: SimTime::ZERO,
        world: World::new(scenario, key, retention),
        queue: Queue::default(),
        notes: VecDeque::new(),
        rollout: Rollout::new(policy, scenario.fleet.instances),
        record: Record::default(),
        events: 0,
    };
    if engine == Engine::PerRequest {
        sim.world.serve_per_request();
    }
    sim.queue.push(SimTime::ZERO + scenario.duration, Kind::Horizon);
    collect(&mut sim.world, &mut sim.queue, &mut sim.notes);
    let stop = sim.simulate(controller, observer);
    finish(sim, scenario, policy, seed, run_index, stop)
}

fn finish(sim: Sim<'_, '_>, sc: &Scenario, policy: &Policy, seed: u64, run_index: u64, stop: Stop) -> RunResult {
    let horizon = SimTime::ZERO + sc.duration;
    let outcome = match stop {
        Stop::Horizon => sim.rollout.outcome(),
        Stop::Budget => Outcome::Truncated,
        Stop::Observer => Outcome::Stopped,
    };
    let events = sim.events;
    let Sim {
        world, rollout, record, ..
    } = sim;
    let Truth { fixed, ledger, data } = world.finish();
    let fault_onset = ledger.first_exposed_at;
    // Exposure that lasted to the horizon was never mitigated; a run a
    // limit cut short reports no mitigation (its end is not the policy's).
    let truncated = outcome == Outcome::Truncated;
    let mitigated_at = match (fault_onset, ledger.last_exposed_at) {
        (Some(_), Some(t)) if t < horizon && !truncated => Some(t),
        _ => None,
    };
    let steps = ledger
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
    let mitigation = record
        .mitigation
        .filter(|_| !truncated)
        .map(|(action, decided_at)| MitigationStats {
            action,
            decided_at,
            exposure_ended_at: mitigated_at.filter(|t| *t >= decided_at),
        });
    let budget = (1.0 - sc.slo.availability) * sc.traffic.rps * 30.0 * 86_400.0;
    let fault_failed = ledger.stable.fault_failed + ledger.candidate.fault_failed;
    RunResult {
        scenario: sc.name.clone(),
        policy: policy.name.clone(),
        strategy: policy.strategy.name(),
        seed,
        run: run_index,
        healthy: sc.is_healthy(),
        outcome,
        fault_onset,
        decisions: record.decisions,
        mitigation,
        mitigated_at,
        rollout_started_at: rollout.started_at,
        promoted_at: rollout.promoted_at,
        rollback_done_at: rollout.rollback_done_at,
        stable: ledger.stable,
        candidate: ledger.candidate,
        exposed_requests: ledger.exposed,
        users_affected: ledger.users_affected,
        users_slowed: ledger.users_slowed,
        lost_conversions: ledger.lost_conversions,
        inconsistent_sessions: ledger.inconsistent_sessions,
        oom_kills: ledger.oom_kills,
        error_budget_consumed: if budget > 0.0 {
            fault_failed as f64 / budget
        } else {
            0.0
        },
        extra_instance_hours: ledger.extra_instance_ms / 3_600_000.0,
        hotfixed: fixed,
        migration: data.map(migration_stats),
        steps,
        blind_steps: record.blind_steps,
        events,
    }
}

fn migration_stats(m: crate::world::DataState) -> crate::score::MigrationStats {
    crate::score::MigrationStats {
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
        phases: m.phases,
    }
}
