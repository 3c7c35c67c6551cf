//! The policy's migration plan as a decider: which phase runs, when its
//! work is done, and when its gate lets the next one start.
//!
//! A phase's gate needs the phase's `wait`, passing data-health checks and
//! no failed measurement for `stable_for`; an inconclusive gate does not
//! pass. The world does the phases' work (`world::data`); the plan only
//! reads monitoring and the rollout's own state.

use super::analysis::judge_bounds;
use super::{Command, Cx, RolloutStatus, Stage, WakeClass};
use crate::model::{MigrationPhase, MigrationPlan, Policy, Rule};
use crate::time::SimTime;
use crate::timeline::Verdict;
use crate::world::Observation;

/// Where the plan is.
pub struct Plan<'p> {
    policy: &'p Policy,
    plan: &'p MigrationPlan,
    /// Index of the current phase; `None` before it starts and once done.
    phase: Option<usize>,
    /// When the current phase's own work finished.
    done_at: Option<SimTime>,
    pub complete: bool,
}

impl<'p> Plan<'p> {
    pub fn new(policy: &'p Policy, plan: &'p MigrationPlan) -> Plan<'p> {
        Plan {
            policy,
            plan,
            phase: None,
            done_at: None,
            complete: false,
        }
    }

    fn current(&self) -> Option<MigrationPhase> {
        self.phase.map(|i| self.plan.phases[i].phase)
    }

    /// Whether a promoted app must keep being analysed (the plan still runs).
    pub fn pending(&self) -> bool {
        !self.complete
    }

    /// Starts phase `i`, or completes the plan past its last phase (the
    /// command `begin_phase` with the phase count).
    /// Returns true when the plan completed.
    pub fn begin(&mut self, i: usize, cx: &mut Cx) -> bool {
        cx.command(Command::BeginPhase { index: i });
        if i >= self.plan.phases.len() {
            self.phase = None;
            self.complete = true;
            return true;
        }
        self.phase = Some(i);
        self.done_at = None;
        false
    }

    /// The world finished `phase`'s own work.
    pub fn work_done(&mut self, phase: MigrationPhase, now: SimTime, cx: &mut Cx) {
        if self.current() == Some(phase) && phase != MigrationPhase::DualWrite {
            self.finished(now, cx);
        }
    }

    /// The app reached 100 %: the dual-write phase is done.
    pub fn app_promoted(&mut self, now: SimTime, cx: &mut Cx) {
        if self.current() == Some(MigrationPhase::DualWrite) {
            self.finished(now, cx);
        }
    }

    fn finished(&mut self, now: SimTime, cx: &mut Cx) {
        let Some(i) = self.phase else { return };
        if self.done_at.is_some() {
            return;
        }
        self.done_at = Some(now);
        cx.command(Command::FinishPhase { index: i });
        cx.wake(now, WakeClass::Control, 0);
    }

    /// Gate check: may the plan move on? Returns true when it completed.
    pub fn tick(
        &mut self,
        obs: &Observation<'_>,
        rollout: &RolloutStatus,
        last_failure_at: Option<SimTime>,
        cx: &mut Cx,
    ) -> bool {
        let (Some(i), Some(done_at)) = (self.phase, self.done_at) else {
            return false;
        };
        match rollout.stage {
            Stage::Stepping | Stage::Promoted | Stage::Idle => {}
            Stage::Deploying
            | Stage::Preview
            | Stage::RollingBack
            | Stage::RolledBack
            | Stage::Held
            | Stage::Paged
            | Stage::Killed
            | Stage::Hotfixing => return false,
        }
        let spec = &self.plan.phases[i];
        let clean_since = last_failure_at.map_or(done_at, |t| t.max(done_at));
        let now = obs.now;
        let waited = now.saturating_since(done_at) >= spec.wait;
        let stable = now.saturating_since(clean_since) >= spec.stable_for;
        if waited && stable && self.gates_pass(obs) {
            self.begin(i + 1, cx)
        } else {
            cx.wake(now + self.policy.analysis.interval, WakeClass::Control, 0);
            false
        }
    }

    /// The current phase's data-health gates on the latest monitoring window.
    fn gates_pass(&self, obs: &Observation<'_>) -> bool {
        let Some(i) = self.phase else { return true };
        let gates = &self.plan.phases[i].gates;
        let Some(w) = obs.window(self.policy.analysis.interval) else {
            return gates.is_empty();
        };
        gates.iter().all(|g| match &g.rule {
            Rule::Bounds(b) => judge_bounds(b, w.canary.metric(g.metric), w.baseline.metric(g.metric)) == Verdict::Pass,
            // Validation gives gates bounds only; a judged gate never passes.
            Rule::Judge(_) | Rule::Unmapped => false,
        })
    }
}
