//! The migration's data in the world: schema states, writes, the backfill,
//! data health, and what a rollback costs on each side of the contract.
//!
//! ```text
//! expand ── dual write (app rollout) ── backfill ── switch reads ──┬── contract ──
//!   rollback = switch reads and writes back (safe, nothing lost)  │  rollback = restore:
//!                                                      last safe rollback point   records written since
//!                                                                                 in the new shape only
//!                                                                                 are replayed or lost
//! ```
//!
//! The schema has an old shape and a new one. `expanded` means the new
//! shape exists; `contracted` that the old one is gone. The old app (stable)
//! reads and writes the old shape only; the new app (candidate) dual-writes
//! while both exist and writes the new shape only after the contract. The
//! plan that decides when each phase starts is the controller's
//! (`control::plan`); the world does the work and reports data health
//! through monitoring.

use super::serve::binomial;
use super::{Fact, S, Timer, World};
use crate::fleet::Version;
use crate::model::{MigrationFault, MigrationPhase, SchemaChange};
use crate::time::{SimDuration, SimTime};
use crate::timeline::{Event, Observer};

/// How the plan's backfill copies rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BackfillRate {
    pub batch_size: u64,
    pub batches_per_s: f64,
    pub max_retries: u32,
}

/// The migration's data during a run (ground truth; controllers see only
/// the data-health gauges monitoring exports).
#[derive(Clone, Debug, Default)]
pub struct DataState {
    pub started: bool,
    /// The phase whose own work (DDL, a read switch) is under way.
    pub working: Option<MigrationPhase>,
    pub backfill: BackfillRate,
    pub expanded: bool,
    pub contracted: bool,
    pub dual_write: bool,
    pub reads_new: bool,
    pub backfilling: bool,
    /// Rows still to copy into the new shape (existing rows plus rows the
    /// old app wrote since the expand).
    pub to_copy: f64,
    /// Rows whose batches failed every retry: they stay behind.
    pub skipped: f64,
    pub backfill_started_at: Option<SimTime>,
    pub backfill_done_at: Option<SimTime>,
    pub last_safe_rollback_at: Option<SimTime>,
    pub contracted_at: Option<SimTime>,
    /// Records the new app wrote in the new shape only, since the contract.
    pub new_shape_only: u64,
    pub restoring_until: Option<SimTime>,
    pub records_lost: u64,
    pub records_restored: u64,
    pub restore_duration: SimDuration,
    pub rolled_back_after_contract: u32,
    pub duplicates: u64,
    pub violations: u64,
    pub mismatched: u64,
    /// Latency the backfill added, summed over the requests served while it ran.
    pub backfill_added_ms: f64,
    pub backfill_requests: u64,
    /// (phase, started, finished) for the timeline and the run object.
    pub phases: Vec<(MigrationPhase, SimTime, Option<SimTime>)>,
    /// The app was rolled back: the plan is over.
    pub aborted: bool,
    /// The plan ran to its end.
    pub complete: bool,
}

impl World<'_> {
    /// The new app starts: a "migrate on deploy" rename happens now.
    pub(super) fn migration_on_first_candidate(&mut self, observer: &mut dyn Observer) {
        let Some(world) = &self.sc.migration else { return };
        if !world.rename_on_deploy || self.data.contracted {
            return;
        }
        let m = &mut self.data;
        m.last_safe_rollback_at = Some(self.now);
        observer.event(self.now, &Event::LastSafeRollbackPoint);
        m.expanded = true;
        m.contracted = true;
        m.contracted_at = Some(self.now);
        m.to_copy = 0.0;
        m.phases.push((MigrationPhase::Rename, self.now, Some(self.now)));
        observer.event(
            self.now,
            &Event::MigrationPhase {
                phase: MigrationPhase::Rename,
                done: true,
            },
        );
    }

    /// The plan's first phase starts: every row is still to copy.
    pub(super) fn start_migration(&mut self, backfill: BackfillRate) {
        let world = self
            .sc
            .migration
            .as_ref()
            .expect("validation: a plan needs a migration");
        self.data.started = true;
        self.data.backfill = backfill;
        self.data.to_copy = world.rows as f64;
    }

    /// A phase of the plan starts its own work.
    pub(super) fn begin_phase(&mut self, phase: MigrationPhase, duration: SimDuration, observer: &mut dyn Observer) {
        self.data.phases.push((phase, self.now, None));
        observer.event(self.now, &Event::MigrationPhase { phase, done: false });
        match phase {
            MigrationPhase::DualWrite => self.data.dual_write = true,
            MigrationPhase::Backfill => {
                self.data.backfilling = true;
                self.data.backfill_started_at = Some(self.now);
            }
            MigrationPhase::Contract | MigrationPhase::Rename => {
                self.data.last_safe_rollback_at = Some(self.now);
                observer.event(self.now, &Event::LastSafeRollbackPoint);
                self.data.working = Some(phase);
                self.schedule(self.now + duration, Timer::PhaseWork(phase));
            }
            MigrationPhase::Expand | MigrationPhase::SwitchReads => {
                self.data.working = Some(phase);
                self.schedule(self.now + duration, Timer::PhaseWork(phase));
            }
        }
    }

    /// `phase`'s own work (DDL, a read switch) is done, unless the phase
    /// was abandoned (a rollback) since it started.
    pub(super) fn phase_work_done(&mut self, phase: MigrationPhase) {
        if self.data.working != Some(phase) {
            return;
        }
        self.data.working = None;
        let m = &mut self.data;
        match phase {
            MigrationPhase::Expand => m.expanded = true,
            MigrationPhase::SwitchReads => m.reads_new = true,
            MigrationPhase::Contract | MigrationPhase::Rename => {
                if phase == MigrationPhase::Rename {
                    // A rename keeps the data: nothing is left to copy.
                    m.to_copy = 0.0;
                }
                m.expanded = true;
                m.contracted = true;
                m.contracted_at = Some(self.now);
                // Rows never copied are gone with the old shape.
                m.records_lost += m.to_copy.round() as u64;
                m.to_copy = 0.0;
            }
            MigrationPhase::DualWrite | MigrationPhase::Backfill => {
                unreachable!("only DDL and read switches are scheduled as phase work")
            }
        }
        self.facts.push(Fact::PhaseWorkDone { phase });
    }

    /// The plan finished a phase: stamp it for the timeline.
    pub(super) fn phase_finished(&mut self, phase: MigrationPhase, observer: &mut dyn Observer) {
        if let Some(p) = self.data.phases.last_mut() {
            p.2 = Some(self.now);
        }
        observer.event(self.now, &Event::MigrationPhase { phase, done: true });
    }

    /// A rollback of the app. Before the contract, reads and writes switch
    /// back and nothing is lost. After it, the old shape must come back
    /// first: the records written since are replayed (time) or lost.
    pub(super) fn rollback_data(&mut self, rows_per_s: Option<f64>, base: SimDuration, observer: &mut dyn Observer) {
        if self.sc.migration.is_none() || self.data.aborted {
            return;
        }
        let m = &mut self.data;
        m.aborted = true;
        m.working = None;
        m.dual_write = false;
        m.reads_new = false;
        m.backfilling = false;
        if !m.contracted {
            return;
        }
        m.rolled_back_after_contract += 1;
        let records = m.new_shape_only;
        let replay = rows_per_s.map_or(SimDuration::ZERO, |r| SimDuration::from_secs_f64(records as f64 / r));
        let restore = base + replay;
        match rows_per_s {
            Some(_) => m.records_restored += records,
            None => m.records_lost += records,
        }
        m.restore_duration = restore;
        let until = self.now + restore;
        m.restoring_until = Some(until);
        observer.event(
            self.now,
            &Event::RestoreStarted {
                until,
                records,
                replay: rows_per_s.is_some(),
            },
        );
        self.schedule(until, Timer::RestoreDone);
    }

    pub(super) fn restore_done(&mut self, observer: &mut dyn Observer) {
        self.data.contracted = false;
        self.data.restoring_until = None;
        observer.event(self.now, &Event::RestoreDone);
    }

    /// Extra failure probability for a request of `version`, from schema
    /// incompatibility (the no-fault world has none).
    pub(super) fn schema_failure(&self, version: Version, candidate_share: f64) -> f64 {
        let Some(world) = &self.sc.migration else {
            return 0.0;
        };
        let m = &self.data;
        let touches = (world.read_share + world.write_share).min(1.0);
        let mut p: f64 = 0.0;
        match version {
            Version::Stable => {
                match world.change {
                    SchemaChange::Rename if m.contracted => p = touches,
                    SchemaChange::AddRequired if m.contracted => p = world.write_share,
                    // Without the expand (dual acceptance), the old app fails
                    // on rows the new app wrote: about the new app's share of
                    // recent writes.
                    SchemaChange::EnumChange if !m.expanded => p = world.read_share * candidate_share,
                    SchemaChange::Rename | SchemaChange::AddRequired | SchemaChange::EnumChange => {}
                }
                for f in &world.faults {
                    if let MigrationFault::OldReadsNewWrong { fraction } = f
                        && m.dual_write
                    {
                        p = p.max(fraction * world.read_share * candidate_share);
                    }
                }
            }
            Version::Candidate => {
                // The new app needs the new shape: deployed before the expand it fails.
                if !m.expanded && world.change != SchemaChange::EnumChange {
                    p = touches;
                }
            }
        }
        p.clamp(0.0, 1.0)
    }

    /// Backfill load on the shared dependency, in queries per second.
    pub(super) fn backfill_qps(&self, dependency_utilisation: f64) -> f64 {
        self.backfill_rows_per_s(dependency_utilisation) * self.sc.migration.as_ref().map_or(0.0, |w| w.queries_per_row)
    }

    fn backfill_rows_per_s(&self, dependency_utilisation: f64) -> f64 {
        if !self.data.backfilling || self.data.to_copy - self.data.skipped <= 0.0 {
            return 0.0;
        }
        let Some(world) = &self.sc.migration else {
            return 0.0;
        };
        let plan = self.data.backfill;
        let mut rate = plan.batch_size as f64 * plan.batches_per_s;
        for f in &world.faults {
            match f {
                // Failed batches are retried: they take slots.
                MigrationFault::ConstraintViolations { fraction } => rate *= 1.0 - fraction,
                MigrationFault::LagUnderLoad => rate *= (1.0 - dependency_utilisation).clamp(0.1, 1.0),
                MigrationFault::DuplicateWrites { .. }
                | MigrationFault::DroppedField { .. }
                | MigrationFault::OldReadsNewWrong { .. } => {}
            }
        }
        rate
    }

    /// Writes, the backfill and data health over one chunk.
    pub(super) fn advance_migration(
        &mut self,
        dt: f64,
        stable_ok: u64,
        candidate_ok: u64,
        rho_dependency: f64,
        requests: u64,
        added_ms: f64,
    ) {
        let Some(world) = self.sc.migration.as_ref() else {
            return;
        };
        let rate = self.backfill_rows_per_s(rho_dependency);
        let rng = self.rngs.get(S::Migration);
        let stable_writes = binomial(rng, stable_ok, world.write_share);
        let candidate_writes = binomial(rng, candidate_ok, world.write_share);
        let m = &mut self.data;
        if m.expanded && !m.contracted {
            // The old app writes the old shape only: those rows need copying.
            m.to_copy += stable_writes as f64;
        }
        if m.contracted && m.restoring_until.is_none() && !m.aborted {
            m.new_shape_only += candidate_writes;
        }
        if m.dual_write && m.expanded && !m.contracted {
            for f in &world.faults {
                match f {
                    MigrationFault::DuplicateWrites { fraction } => {
                        m.duplicates += binomial(rng, candidate_writes, *fraction);
                    }
                    MigrationFault::DroppedField { fraction } => {
                        m.mismatched += binomial(rng, candidate_writes, *fraction);
                    }
                    MigrationFault::ConstraintViolations { .. }
                    | MigrationFault::LagUnderLoad
                    | MigrationFault::OldReadsNewWrong { .. } => {}
                }
            }
        }
        if rate > 0.0 {
            let copy = (rate * dt).min(m.to_copy - m.skipped);
            m.to_copy -= copy;
            m.backfill_added_ms += added_ms;
            m.backfill_requests += requests;
            let plan = m.backfill;
            let batches = copy / plan.batch_size as f64;
            for f in &world.faults {
                if let MigrationFault::ConstraintViolations { fraction } = f
                    && batches > 0.0
                {
                    let failed = crate::draw::poisson(rng, batches * fraction);
                    m.violations += failed;
                    // A batch that fails every retry leaves its rows behind.
                    let give_up = libm::pow(*fraction, f64::from(plan.max_retries));
                    m.skipped += binomial(rng, failed, give_up) as f64 * plan.batch_size as f64;
                    m.skipped = m.skipped.min(m.to_copy);
                }
            }
        }
        let backfill_finished = m.backfilling && m.to_copy - m.skipped <= 0.5 && m.backfill_done_at.is_none();
        for counters in [&mut self.monitoring.live_baseline, &mut self.monitoring.live_canary] {
            counters.backfill_lag = self.data.to_copy.round();
            counters.mismatched = self.data.mismatched as f64;
            counters.duplicates = self.data.duplicates;
            counters.violations = self.data.violations;
        }
        if backfill_finished && self.data.skipped <= 0.0 {
            self.data.to_copy = 0.0;
            self.data.backfill_done_at = Some(self.now);
            self.data.backfilling = false;
            self.schedule(self.now, Timer::BackfillDone);
        }
    }
}
