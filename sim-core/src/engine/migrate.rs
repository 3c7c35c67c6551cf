//! Expand-and-contract migrations: schema states, the plan's phases and
//! gates, the backfill, and what a rollback costs on each side of the
//! contract.
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
//! while both exist and writes the new shape only after the contract.

use rand_distr::{Distribution, Poisson};

use super::serve::binomial;
use super::{Event, Kind, Observer, Phase, Run, Verdict};
use crate::fleet::Version;
use crate::model::{MigrationFault, MigrationPhase, SchemaChange};
use crate::time::{SimDuration, SimTime};

/// A migration's state during a run (ground truth; the controller sees
/// only the data-health gauges monitoring exports).
#[derive(Clone, Debug, Default)]
pub(super) struct MigrationState {
    pub started: bool,
    /// Index of the current phase of the plan; `None` once the plan is done or aborted.
    pub phase: Option<usize>,
    /// When the current phase's own work finished.
    pub phase_done_at: Option<SimTime>,
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
    pub complete: bool,
    pub aborted: bool,
}

impl Run<'_> {
    /// True when the release ships a schema change.
    pub(super) fn migrating(&self) -> bool {
        self.scenario.migration.is_some()
    }

    /// True when the policy's migration plan drives the rollout.
    pub(super) fn planned(&self) -> bool {
        self.migrating() && self.policy.migration.is_some()
    }

    /// The new app starts: a "migrate on deploy" rename happens now.
    pub(super) fn migration_on_first_candidate(&mut self, observer: &mut dyn Observer) {
        let Some(world) = &self.scenario.migration else { return };
        if !world.rename_on_deploy || self.mig.contracted {
            return;
        }
        self.mig.last_safe_rollback_at = Some(self.now);
        observer.event(self.now, &Event::LastSafeRollbackPoint);
        self.mig.expanded = true;
        self.mig.contracted = true;
        self.mig.contracted_at = Some(self.now);
        self.mig.to_copy = 0.0;
        self.mig.phases.push((MigrationPhase::Rename, self.now, Some(self.now)));
        observer.event(
            self.now,
            &Event::MigrationPhase {
                phase: MigrationPhase::Rename,
                done: true,
            },
        );
    }

    /// The rollout starts with the plan's first phase.
    pub(super) fn start_migration(&mut self, observer: &mut dyn Observer) {
        self.mig.started = true;
        self.rollout_started_at = Some(self.now);
        observer.event(self.now, &Event::RolloutStarted);
        let world = self.scenario.migration.as_ref().expect("migrating");
        self.mig.to_copy = world.rows as f64;
        self.begin_phase(0, observer);
    }

    fn begin_phase(&mut self, i: usize, observer: &mut dyn Observer) {
        let plan = self.policy.migration.as_ref().expect("migrating");
        let Some(spec) = plan.phases.get(i) else {
            self.finish_migration(observer);
            return;
        };
        let (phase, duration) = (spec.phase, spec.duration);
        self.mig.phase = Some(i);
        self.mig.phase_done_at = None;
        self.mig.phases.push((phase, self.now, None));
        observer.event(self.now, &Event::MigrationPhase { phase, done: false });
        match phase {
            MigrationPhase::DualWrite => {
                self.mig.dual_write = true;
                // The app rollout: the policy's strategy and steps.
                self.phase = Phase::Warmup;
                self.start_step(0, observer);
            }
            MigrationPhase::Backfill => {
                self.mig.backfilling = true;
                self.mig.backfill_started_at = Some(self.now);
            }
            MigrationPhase::Contract | MigrationPhase::Rename => {
                self.mig.last_safe_rollback_at = Some(self.now);
                observer.event(self.now, &Event::LastSafeRollbackPoint);
                self.schedule(self.now + duration, Kind::MigrationWork);
            }
            MigrationPhase::Expand | MigrationPhase::SwitchReads => {
                self.schedule(self.now + duration, Kind::MigrationWork);
            }
        }
    }

    /// A phase's own work (DDL, a read switch) is done.
    pub(super) fn migration_work_done(&mut self, observer: &mut dyn Observer) {
        let Some(i) = self.mig.phase else { return };
        let phase = self.policy.migration.as_ref().expect("migrating").phases[i].phase;
        match phase {
            MigrationPhase::Expand => self.mig.expanded = true,
            MigrationPhase::SwitchReads => self.mig.reads_new = true,
            MigrationPhase::Contract | MigrationPhase::Rename => {
                if phase == MigrationPhase::Rename {
                    // A rename keeps the data: nothing is left to copy.
                    self.mig.to_copy = 0.0;
                }
                self.mig.expanded = true;
                self.mig.contracted = true;
                self.mig.contracted_at = Some(self.now);
                // Rows never copied are gone with the old shape.
                self.mig.records_lost += self.mig.to_copy.round() as u64;
                self.mig.to_copy = 0.0;
            }
            MigrationPhase::DualWrite | MigrationPhase::Backfill => return,
        }
        self.phase_work_finished(observer);
    }

    fn phase_work_finished(&mut self, observer: &mut dyn Observer) {
        let Some(i) = self.mig.phase else { return };
        if self.mig.phase_done_at.is_some() {
            return;
        }
        self.mig.phase_done_at = Some(self.now);
        if let Some(p) = self.mig.phases.last_mut() {
            p.2 = Some(self.now);
        }
        let phase = self.policy.migration.as_ref().expect("migrating").phases[i].phase;
        observer.event(self.now, &Event::MigrationPhase { phase, done: true });
        self.schedule(self.now, Kind::MigrationTick);
    }

    /// The app reached 100 %: the dual-write phase is done.
    pub(super) fn migration_app_promoted(&mut self, observer: &mut dyn Observer) {
        let Some(i) = self.mig.phase else { return };
        if self.policy.migration.as_ref().expect("migrating").phases[i].phase == MigrationPhase::DualWrite {
            self.phase_work_finished(observer);
        }
    }

    /// Gate check: may the plan move on to the next phase?
    pub(super) fn migration_tick(&mut self, observer: &mut dyn Observer) {
        let (Some(i), Some(done_at)) = (self.mig.phase, self.mig.phase_done_at) else {
            return;
        };
        if self.mig.aborted
            || !matches!(
                self.phase,
                Phase::Rolling | Phase::Baking | Phase::Promoted | Phase::Warmup
            )
        {
            return;
        }
        let plan = self.policy.migration.as_ref().expect("migrating");
        let spec = &plan.phases[i];
        let clean_since = [Some(done_at), self.last_failure_at]
            .into_iter()
            .flatten()
            .max()
            .expect("done_at");
        let waited = self.now.saturating_since(done_at) >= spec.wait;
        let stable = self.now.saturating_since(clean_since) >= spec.stable_for;
        if waited && stable && self.gates_pass() {
            self.begin_phase(i + 1, observer);
        } else {
            let next = self.now + self.policy.analysis.interval;
            self.schedule(next, Kind::MigrationTick);
        }
    }

    /// The current phase's data-health gates on the latest monitoring
    /// window; an inconclusive gate does not pass.
    fn gates_pass(&self) -> bool {
        let plan = self.policy.migration.as_ref().expect("migrating");
        let Some(i) = self.mig.phase else { return true };
        let gates = &plan.phases[i].gates;
        let Some(w) = self.monitoring.window(self.now, self.policy.analysis.interval) else {
            return gates.is_empty();
        };
        gates.iter().all(|g| {
            super::judge_threshold(g, w.candidate.metric(g.metric), w.stable.metric(g.metric)) == Verdict::Pass
        })
    }

    fn finish_migration(&mut self, observer: &mut dyn Observer) {
        self.mig.phase = None;
        self.mig.complete = true;
        observer.event(self.now, &Event::MigrationComplete);
        if self.phase == Phase::Baking && self.promoted_at.is_some() {
            let bake = self.policy.analysis.after_promotion;
            self.schedule(self.now + bake, Kind::BakeEnd);
        }
    }

    /// Whether a promoted app must keep being analysed (the migration is
    /// still running).
    pub(super) fn migration_pending(&self) -> bool {
        self.planned() && !self.mig.complete && !self.mig.aborted
    }

    /// A rollback of the app. Before the contract, reads and writes switch
    /// back and nothing is lost. After it, the old shape must come back
    /// first: the records written since are replayed (time) or lost.
    pub(super) fn migration_rollback(&mut self, observer: &mut dyn Observer) {
        if !self.migrating() || self.mig.aborted {
            return;
        }
        self.mig.aborted = true;
        self.mig.phase = None;
        self.mig.dual_write = false;
        self.mig.reads_new = false;
        self.mig.backfilling = false;
        if !self.mig.contracted {
            return;
        }
        // Without a plan there is no replay tooling: restore the backup.
        let (rows_per_s, base) = self
            .policy
            .migration
            .as_ref()
            .map_or((None, SimDuration::from_secs(1200)), |p| {
                (p.restore_rows_per_s, p.restore_base)
            });
        self.mig.rolled_back_after_contract += 1;
        let records = self.mig.new_shape_only;
        let replay = rows_per_s.map_or(SimDuration::ZERO, |r| super::ms(records as f64 / r));
        let restore = base + replay;
        match rows_per_s {
            Some(_) => self.mig.records_restored += records,
            None => self.mig.records_lost += records,
        }
        self.mig.restore_duration = restore;
        let until = self.now + restore;
        self.mig.restoring_until = Some(until);
        observer.event(
            self.now,
            &Event::RestoreStarted {
                until,
                records,
                replay: rows_per_s.is_some(),
            },
        );
        self.schedule(until, Kind::RestoreDone);
    }

    pub(super) fn restore_done(&mut self, observer: &mut dyn Observer) {
        self.mig.contracted = false;
        self.mig.restoring_until = None;
        observer.event(self.now, &Event::RestoreDone);
    }

    /// Extra failure probability for a request of `version`, from schema
    /// incompatibility (the no-fault world has none).
    pub(super) fn schema_failure(&self, version: Version, candidate_share: f64) -> f64 {
        let Some(world) = &self.scenario.migration else {
            return 0.0;
        };
        if !self.migrating() {
            return 0.0;
        }
        let m = &self.mig;
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
                    _ => {}
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
        self.backfill_rows_per_s(dependency_utilisation)
            * self.scenario.migration.as_ref().map_or(0.0, |w| w.queries_per_row)
    }

    fn backfill_rows_per_s(&self, dependency_utilisation: f64) -> f64 {
        if !self.mig.backfilling || self.mig.to_copy - self.mig.skipped <= 0.0 {
            return 0.0;
        }
        let (Some(plan), Some(world)) = (&self.policy.migration, &self.scenario.migration) else {
            return 0.0;
        };
        let mut rate = plan.batch_size as f64 * plan.batches_per_s;
        for f in &world.faults {
            match f {
                // Failed batches are retried: they take slots.
                MigrationFault::ConstraintViolations { fraction } => rate *= 1.0 - fraction,
                MigrationFault::LagUnderLoad => rate *= (1.0 - dependency_utilisation).clamp(0.1, 1.0),
                _ => {}
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
        let Some(world) = self.scenario.migration.as_ref() else {
            return;
        };
        let rate = self.backfill_rows_per_s(rho_dependency);
        let rng = &mut self.rngs.migration;
        let stable_writes = binomial(rng, stable_ok, world.write_share);
        let candidate_writes = binomial(rng, candidate_ok, world.write_share);
        let m = &mut self.mig;
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
                    _ => {}
                }
            }
        }
        if rate > 0.0 {
            let copy = (rate * dt).min(m.to_copy - m.skipped);
            m.to_copy -= copy;
            m.backfill_added_ms += added_ms;
            m.backfill_requests += requests;
            let plan = self
                .policy
                .migration
                .as_ref()
                .expect("a backfill runs only under a plan");
            let batches = copy / plan.batch_size as f64;
            for f in &world.faults {
                if let MigrationFault::ConstraintViolations { fraction } = f
                    && batches > 0.0
                {
                    let failed = Poisson::new(batches * fraction).expect("finite").sample(rng) as u64;
                    m.violations += failed;
                    // A batch that fails every retry leaves its rows behind.
                    let give_up = libm::pow(*fraction, f64::from(plan.max_retries));
                    m.skipped += binomial(rng, failed, give_up) as f64 * plan.batch_size as f64;
                    m.skipped = m.skipped.min(m.to_copy);
                }
            }
        }
        let backfill_finished = m.backfilling && m.to_copy - m.skipped <= 0.5 && m.backfill_done_at.is_none();
        for counters in [&mut self.monitoring.live_stable, &mut self.monitoring.live_candidate] {
            counters.backfill_lag = self.mig.to_copy.round();
            counters.mismatched = self.mig.mismatched as f64;
            counters.duplicates = self.mig.duplicates;
            counters.violations = self.mig.violations;
        }
        if backfill_finished && self.mig.skipped <= 0.0 {
            self.mig.to_copy = 0.0;
            self.mig.backfill_done_at = Some(self.now);
            self.mig.backfilling = false;
            self.schedule(self.now, Kind::BackfillDone);
        }
    }

    pub(super) fn backfill_done(&mut self, observer: &mut dyn Observer) {
        if let Some(i) = self.mig.phase
            && self.policy.migration.as_ref().expect("migrating").phases[i].phase == MigrationPhase::Backfill
        {
            self.phase_work_finished(observer);
        }
    }
}
