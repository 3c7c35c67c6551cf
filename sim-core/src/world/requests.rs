//! The per-request reference engine: the same model as [`super::serve`],
//! drawn one request at a time, for validation only.
//!
//! In the aggregated engine a chunk's requests are counted by binomial and
//! multinomial draws and their latencies filled into the histograms by
//! bucket probabilities. Here every request of the chunk is drawn on its
//! own, from its own stream (`per_request`, so the two engines are
//! independent Monte Carlo samples of one model):
//!
//! - its chunk (each of the slot's arrivals lands in the chunk with the
//!   chunk's share of the slot's expected arrivals), its version, its flag
//!   state, whether it is mirrored and which active faults touch it (one
//!   uniform each);
//! - whether it hangs, whether it fails, and whether stable would have
//!   failed it in the world without the fault (one uniform against both
//!   probabilities: a fault-caused failure is U between the two);
//! - its latency, from the group's log-normal by inverting one uniform;
//!   the same uniform through stable's no-fault log-normal says whether
//!   it would have been slow anyway; monitoring observes each latency
//!   ([`crate::monitoring::Monitoring::observe_latency`]: the log histogram,
//!   the Prometheus bucket, and under the exact model the latency itself);
//! - whether it converts, and would have under stable (one uniform).
//!
//! Users (who met a failure, who was slowed) are still tallied from the
//! counts, as in the aggregated engine.

use super::serve::{Env, Group, Served};
use super::{S, World};
use crate::latency::inverse_normal_cdf;
use crate::ledger::VersionTruth;
use crate::time::SimTime;

impl World<'_> {
    /// How many of `n` requests meet an event of probability `p`, each
    /// drawn on its own; the aggregated engine's binomial draw otherwise.
    pub(super) fn count(&mut self, stream: S, n: u64, p: f64) -> u64 {
        if !self.per_request {
            return super::serve::binomial(self.rngs.get(stream), n, p);
        }
        let rng = self.rngs.get(S::PerRequest);
        (0..n).filter(|_| crate::draw::uniform(rng) < p).count() as u64
    }

    /// Serves `n` requests of one group one by one (see the module
    /// documentation); the same ledger and monitoring as the aggregated
    /// [`World::serve_group`].
    pub(super) fn serve_group_per_request(&mut self, g: Group, n: u64, env: &Env, chunk_end: SimTime) -> VersionTruth {
        let m = self.group_model(g.version, g.mask, env);
        let dist = m.dist;
        let sc = self.sc;
        let reference = m.reference;
        let cut = sc.slo.latency_ms;
        let (mut hung, mut failed, mut fault_failed, mut slow, mut fault_slow) = (0, 0, 0, 0, 0);
        let (mut conversions, mut kpi_lost, mut failure_lost) = (0, 0, 0);
        let mut latencies = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let rng = self.rngs.get(S::PerRequest);
            let u_hang = crate::draw::uniform(rng);
            let u_fail = crate::draw::uniform(rng);
            let u_latency = crate::draw::uniform(rng);
            let u_convert = crate::draw::uniform(rng);
            if u_hang < m.hang {
                hung += 1;
                failure_lost += u64::from(u_convert < m.conversion_reference);
                continue;
            }
            let fails = u_fail < m.p_fail;
            if fails {
                failed += 1;
                if u_fail >= m.p_fail_reference {
                    fault_failed += 1;
                    failure_lost += u64::from(u_convert < m.conversion_reference);
                }
            }
            // Inverting U ∈ (0, 1): the open interval keeps z finite.
            let u = u_latency.max(f64::MIN_POSITIVE);
            let z = inverse_normal_cdf(u);
            let latency = dist.at_z(z);
            if latency > cut {
                slow += 1;
                if reference.at_z(z) <= cut {
                    fault_slow += 1;
                }
            }
            latencies.push(latency);
            if !fails {
                let would = u_convert < m.conversion_reference;
                let does = u_convert < m.conversion;
                conversions += u64::from(does);
                kpi_lost += u64::from(would && !does);
            }
        }
        let arm = g.arm;
        for latency in latencies {
            self.monitoring.observe_latency(arm, latency);
        }
        let outcome = Served {
            n,
            hung,
            failed,
            fault_failed,
            slow,
            fault_slow,
            conversions,
            lost_conversions: kpi_lost + failure_lost,
        };
        self.settle(g, m.exposed, &outcome, chunk_end)
    }
}
