//! Serving traffic: one aggregated chunk at a time.
//!
//! Every group of requests (a version × flag state × fault cohort) is served
//! twice over: as it really behaves, and as the stable version would have
//! behaved in a world without the fault (same traffic, same noise, same
//! incidents, the dependency and the fleet without the fault's extra load or
//! OOM restarts). The two are coupled draw by draw, so the excess is exactly
//! what the fault caused; the ledger records both, monitoring only the first.

use super::{Routing, S, Timer, World};
use crate::fleet::{Version, queue_factor, shed_fraction};
use crate::latency::LogNormal;
use crate::ledger::VersionTruth;
use crate::model::FaultEffect;
use crate::monitoring::{Arm, Counters};
use crate::time::SimTime;
use crate::timeline::{Event, Observer};
use crate::traffic;

use rand_chacha::ChaCha8Rng;

pub(crate) use crate::draw::binomial;

/// Splits `n` requests that behave with probability `p_actual` into
/// `(total, excess)`: `total` ~ Binomial(n, p_actual), and `excess` those
/// beyond a coupled draw at `p_reference` (what stable would have done).
fn coupled(rng: &mut ChaCha8Rng, n: u64, p_reference: f64, p_actual: f64) -> (u64, u64) {
    let base = binomial(rng, n, p_reference);
    if p_actual >= p_reference {
        let q = if p_reference >= 1.0 {
            0.0
        } else {
            (p_actual - p_reference) / (1.0 - p_reference)
        };
        let extra = binomial(rng, n - base, q);
        (base + extra, extra)
    } else {
        (binomial(rng, base, p_actual / p_reference), 0)
    }
}

/// One group of requests: who serves them, where monitoring counts them,
/// which faults touch them, and whether users see them.
#[derive(Clone, Copy)]
pub(super) struct Group {
    pub version: Version,
    pub arm: Arm,
    pub mask: u32,
    /// Mirrored preview traffic: monitored, never seen by users.
    pub mirrored: bool,
}

/// A part of the candidate's requests before the fault cohorts are split.
#[derive(Clone, Copy)]
struct Part {
    flags_on: bool,
    arm: Arm,
    mirrored: bool,
}

/// The world around the requests of one chunk.
pub(super) struct Env {
    /// Utilisation per version, actual and in the no-fault world.
    pub rho: [f64; 2],
    pub rho_reference: [f64; 2],
    pub gc: [f64; 2],
    pub dependency_ms: f64,
    pub dependency_ms_reference: f64,
    pub dependency_shed: f64,
    pub dependency_shed_reference: f64,
    pub incident_error_add: f64,
    pub incident_latency_factor: f64,
    /// Requests per second per ready candidate instance.
    pub candidate_instance_rps: f64,
    /// Utilisation of the shared dependency (for the backfill's throttling).
    pub rho_dependency: f64,
    /// Latency the backfill's load adds to each request.
    pub backfill_added_ms: f64,
    /// The candidate's share of user requests in this chunk.
    pub candidate_share: f64,
    /// The backfill's load pushes the dependency past capacity: it sheds
    /// requests the traffic alone would not (harm, not the plan's cost).
    pub backfill_overload: bool,
}

/// What one group's requests came to (hung ones never complete).
pub(super) struct Served {
    pub n: u64,
    pub hung: u64,
    pub failed: u64,
    pub fault_failed: u64,
    pub slow: u64,
    pub fault_slow: u64,
    pub conversions: u64,
    pub lost_conversions: u64,
}

/// How one group of requests behaves, and how stable would have.
pub(super) struct GroupModel {
    pub p_fail: f64,
    pub p_fail_reference: f64,
    pub p_slow: f64,
    pub p_slow_reference: f64,
    /// Stable's latency in the world without the fault.
    pub reference: LogNormal,
    /// Share of requests that hang (never complete, no error recorded).
    pub hang: f64,
    pub conversion: f64,
    pub conversion_reference: f64,
    /// The group's latency.
    pub dist: LogNormal,
    /// The release harms or puts at risk these requests (they count as exposed).
    pub exposed: bool,
}

fn idx(v: Version) -> usize {
    match v {
        Version::Stable => 0,
        Version::Candidate => 1,
    }
}

impl World<'_> {
    /// Share of users with the feature flags on.
    fn flag_share(&self) -> f64 {
        f64::from(self.flag_percent) / 100.0
    }

    /// Probability that fault `i` touches a request of the candidate with
    /// its flags in the given state.
    fn touch(&self, i: usize, flags_on: bool) -> f64 {
        let f = &self.sc.faults[i];
        if f.flag.is_some() && !flags_on {
            return 0.0;
        }
        let segment = f.segment.map_or(1.0, |s| self.sc.segments[s].share);
        f.fraction * segment
    }

    /// The environment of the chunk starting now with mean rate `rate`.
    pub(super) fn environment(&self, rate: f64, share: f64, active: u32) -> Env {
        self.environment_of(
            &self.fleet.census(self.sc.fleet.memory_limit_mb, self.now),
            rate,
            share,
            active,
        )
    }

    /// [`World::environment`] from a census of the fleet taken now.
    fn environment_of(&self, census: &[crate::fleet::Census; 2], rate: f64, share: f64, active: u32) -> Env {
        let sc = self.sc;
        let mirror = rate * (1.0 - share) * self.mirror_share;
        let rates = [rate * (1.0 - share), rate * share + mirror];
        let mut rho = [0.0; 2];
        let mut rho_reference = [0.0; 2];
        let mut gc = [1.0; 2];
        let now = self.now;
        for (k, c) in census.iter().enumerate() {
            let (ready, down) = (c.ready, c.oom_down);
            if let Some(cap) = sc.fleet.capacity_rps {
                let util = |n: u32| {
                    if n == 0 {
                        if rates[k] > 0.0 { f64::INFINITY } else { 0.0 }
                    } else {
                        rates[k] / (f64::from(n) * cap)
                    }
                };
                rho[k] = util(ready);
                rho_reference[k] = util(ready + down);
            } else if ready == 0 && rates[k] > 0.0 {
                rho[k] = f64::INFINITY;
                rho_reference[k] = if ready + down > 0 { 0.0 } else { f64::INFINITY };
            }
            gc[k] = c.gc_factor;
        }
        let candidate_ready = census[1].ready;
        let mut env = Env {
            rho,
            rho_reference,
            gc,
            dependency_ms: 0.0,
            dependency_ms_reference: 0.0,
            dependency_shed: 0.0,
            dependency_shed_reference: 0.0,
            incident_error_add: 0.0,
            incident_latency_factor: 1.0,
            rho_dependency: 0.0,
            backfill_added_ms: 0.0,
            candidate_share: share,
            backfill_overload: false,
            candidate_instance_rps: if candidate_ready == 0 {
                0.0
            } else {
                rates[1] / f64::from(candidate_ready)
            },
        };
        if let Some(d) = &sc.dependency {
            self.dependency_env(d, rates, active, &mut env);
        }
        for inc in &sc.incidents {
            let start = SimTime::ZERO + inc.at;
            if now >= start && now < start + inc.duration {
                env.incident_error_add += inc.error_rate_add;
                env.incident_latency_factor *= inc.latency_factor;
            }
        }
        env
    }

    /// The shared dependency's load and latency in both worlds.
    fn dependency_env(&self, d: &crate::model::Dependency, rates: [f64; 2], active: u32, env: &mut Env) {
        let sc = self.sc;
        let mut extra = 0.0;
        for (i, f) in sc.faults.iter().enumerate() {
            if let FaultEffect::DependencyLoad { factor } = f.effect
                && active & (1 << i) != 0
            {
                let on = self.flag_share();
                let touched = if f.flag.is_some() {
                    self.touch(i, true) * on
                } else {
                    self.touch(i, true)
                };
                extra += touched * (factor - 1.0);
            }
        }
        let q = d.queries_per_request;
        // The backfill loads the dependency in both worlds: it is the
        // plan's cost, reported apart, not the fault's.
        let base = (rates[0] + rates[1]) * q / d.capacity_qps;
        let backfill = self.backfill_qps(base) / d.capacity_qps;
        let rho_d = (rates[0] + rates[1] * (1.0 + extra)) * q / d.capacity_qps + backfill;
        let rho_d_reference = base + backfill;
        env.rho_dependency = rho_d;
        env.backfill_added_ms = d.latency_ms * (queue_factor(rho_d_reference, 1) - queue_factor(base, 1));
        env.dependency_ms = d.latency_ms * queue_factor(rho_d, 1);
        env.dependency_ms_reference = d.latency_ms * queue_factor(rho_d_reference, 1);
        env.dependency_shed = shed_fraction(rho_d);
        // The plan declares its cost as load (rows a second): the queueing
        // delay it adds is that cost, reported apart. Requests it makes the
        // dependency shed are harm the release caused, as a fault's are:
        // the reference world sheds only what the traffic alone would.
        env.dependency_shed_reference = shed_fraction(base);
        env.backfill_overload = shed_fraction(rho_d_reference) > shed_fraction(base);
    }

    /// The model of requests of `version` touched by the faults in `mask`.
    pub(super) fn group_model(&mut self, version: Version, mask: u32, env: &Env) -> GroupModel {
        let sc = self.sc;
        let k = idx(version);
        let base = if version == Version::Stable || self.fixed {
            &sc.stable
        } else {
            &sc.candidate
        };
        let (mut err, mut p50, mut p99, mut conv) = (
            base.error_rate,
            base.latency_ms_p50,
            base.latency_ms_p99,
            base.conversion_rate,
        );
        let mut hang: f64 = 0.0;
        for (i, f) in sc.faults.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            match f.effect {
                FaultEffect::ErrorRate { add, multiply } => err = (err * multiply + add).clamp(0.0, 1.0),
                FaultEffect::Latency {
                    p50_factor,
                    p50_add_ms,
                    p99_factor,
                    p99_add_ms,
                } => {
                    p50 = (p50 * p50_factor + p50_add_ms).max(0.001);
                    p99 = (p99 * p99_factor + p99_add_ms).max(p50);
                }
                FaultEffect::Kpi { factor } => conv = (conv * factor).clamp(0.0, 1.0),
                FaultEffect::Throughput {
                    capacity_factor,
                    above_rps,
                } => {
                    if env.candidate_instance_rps > above_rps {
                        hang = hang.max(1.0 - capacity_factor);
                    }
                }
                FaultEffect::MemoryLeak { .. } | FaultEffect::DependencyLoad { .. } | FaultEffect::SessionFormat => {}
            }
        }
        let noise = self.noise[k];
        let latency = |p: f64, queue: f64, gc: f64, dependency: f64| {
            p * noise[1] * env.incident_latency_factor * queue * gc + dependency
        };
        let workers = sc.fleet.workers;
        let fail = |err: f64, rho: f64, dependency_shed: f64| {
            let e = (err * noise[0] + env.incident_error_add).clamp(0.0, 1.0);
            1.0 - (1.0 - shed_fraction(rho)) * (1.0 - dependency_shed) * (1.0 - e)
        };
        let schema = self.schema_failure(version, env.candidate_share);
        let (q, q_ref) = (
            queue_factor(env.rho[k], workers),
            queue_factor(env.rho_reference[k], workers),
        );
        let a50 = latency(p50, q, env.gc[k], env.dependency_ms);
        let a99 = latency(p99, q, env.gc[k], env.dependency_ms).max(a50);
        let s = &sc.stable;
        let r50 = latency(s.latency_ms_p50, q_ref, 1.0, env.dependency_ms_reference);
        let r99 = latency(s.latency_ms_p99, q_ref, 1.0, env.dependency_ms_reference).max(r50);
        let dist = LogNormal::from_p50_p99(a50, a99);
        let reference = LogNormal::from_p50_p99(r50, r99);
        // Harm has one definition whatever its cause: a fault touches the
        // request, the candidate itself is worse, the schema change can fail
        // it, or the backfill's overload can shed it.
        let exposed = mask != 0
            || (version == Version::Candidate && !self.fixed && sc.candidate.worse_than(&sc.stable))
            || schema > 0.0
            || env.backfill_overload;
        GroupModel {
            p_fail: 1.0 - (1.0 - fail(err, env.rho[k], env.dependency_shed)) * (1.0 - schema),
            p_fail_reference: fail(s.error_rate, env.rho_reference[k], env.dependency_shed_reference),
            p_slow: 1.0 - dist.cdf(sc.slo.latency_ms),
            p_slow_reference: 1.0 - reference.cdf(sc.slo.latency_ms),
            reference,
            hang,
            conversion: conv,
            conversion_reference: s.conversion_rate,
            dist,
            exposed,
        }
    }

    /// Serves `n` requests of one group; returns the ground truth and the
    /// number completed.
    fn serve_group(&mut self, g: Group, n: u64, env: &Env, chunk_end: SimTime) -> VersionTruth {
        if n == 0 {
            return VersionTruth::default();
        }
        if self.per_request {
            return self.serve_group_per_request(g, n, env, chunk_end);
        }
        let Group {
            version,
            arm,
            mask,
            mirrored: _,
        } = g;
        let m = self.group_model(version, mask, env);
        let stream = match version {
            Version::Stable => S::Stable,
            Version::Candidate => S::Candidate,
        };
        let rng = self.rngs.get(stream);
        let hung = binomial(rng, n, m.hang);
        let served = n - hung;
        let (failed, fault_failed) = coupled(rng, served, m.p_fail_reference, m.p_fail);
        let (slow, fault_slow) = coupled(rng, served, m.p_slow_reference, m.p_slow);
        let ok = served - failed;
        let reference_conversions = binomial(rng, ok, m.conversion_reference);
        let (conversions, kpi_lost) = if m.conversion >= m.conversion_reference {
            let q = if m.conversion_reference >= 1.0 {
                0.0
            } else {
                (m.conversion - m.conversion_reference) / (1.0 - m.conversion_reference)
            };
            (reference_conversions + binomial(rng, ok - reference_conversions, q), 0)
        } else {
            let kept = binomial(rng, reference_conversions, m.conversion / m.conversion_reference);
            (kept, reference_conversions - kept)
        };
        let failure_lost = binomial(rng, fault_failed + hung, m.conversion_reference);
        // Monitoring draws the buckets when a window reads them.
        self.monitoring.record_served(arm, m.dist, served - slow, slow);
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

    /// Books a group's served requests, whichever engine drew them: the
    /// arm's monitoring counters, then (unless the requests were mirrored,
    /// which users never see) the ledger; returns the ground truth.
    pub(super) fn settle(&mut self, g: Group, exposed: bool, s: &Served, chunk_end: SimTime) -> VersionTruth {
        let counters: &mut Counters = match g.arm {
            Arm::Baseline => &mut self.monitoring.live_baseline,
            Arm::Canary => &mut self.monitoring.live_canary,
        };
        counters.routed += s.n;
        counters.requests += s.n - s.hung;
        counters.errors += s.failed;
        counters.conversions += s.conversions;
        if g.mirrored {
            if exposed {
                self.ledger.mirrored_exposed += s.n;
            }
            return VersionTruth::default();
        }
        self.ledger.lost_conversions += s.lost_conversions;
        if exposed {
            self.ledger.exposed += s.n;
            self.ledger.last_exposed_at = Some(chunk_end);
        }
        VersionTruth {
            requests: s.n,
            failed: s.failed + s.hung,
            slow: s.slow,
            fault_failed: s.fault_failed + s.hung,
            fault_slow: s.fault_slow,
        }
    }

    /// Splits `n` candidate requests into cohorts by the active faults that
    /// touch them (each independently) and serves each cohort.
    fn serve_candidate_part(&mut self, part: Part, n: u64, active: u32, env: &Env, chunk_end: SimTime) -> VersionTruth {
        let mut split: Vec<(u32, u64)> = vec![(0, n)];
        for i in 0..self.sc.faults.len() {
            if active & (1 << i) == 0 {
                continue;
            }
            let p = self.touch(i, part.flags_on);
            let mut next = Vec::with_capacity(split.len() * 2);
            for &(mask, count) in &split {
                let touched = self.count(S::Routing, count, p);
                if count > touched {
                    next.push((mask, count - touched));
                }
                if touched > 0 {
                    next.push((mask | (1 << i), touched));
                }
            }
            split = next;
        }
        let mut total = VersionTruth::default();
        for (mask, count) in split {
            let g = Group {
                version: Version::Candidate,
                arm: part.arm,
                mask,
                mirrored: part.mirrored,
            };
            total.add(&self.serve_group(g, count, env, chunk_end));
        }
        total
    }

    /// Serves all traffic from `self.now` to `to` in one chunk, then ages
    /// the fleet (memory, OOM kills) over it.
    pub(crate) fn advance(&mut self, to: SimTime, observer: &mut dyn Observer) {
        let span = to - self.now;
        let dt = span.as_secs_f64();
        let sc = self.sc;
        let spike = traffic::spike_factor(&sc.traffic, self.now);
        let expected = traffic::expected_arrivals(&sc.traffic, self.now, to) * spike;
        let share = self.candidate_share();
        let active = self.active_faults();
        let env = self.environment(expected / dt, share, active);
        self.enter_slot();
        let n = self.arrivals(to, expected);
        let n_candidate = self.count(S::Routing, n, share);
        let n_stable = n - n_candidate;
        let flag_strategy = self.routing == Routing::Dark;
        let g = Group {
            version: Version::Stable,
            arm: Arm::Baseline,
            mask: 0,
            mirrored: false,
        };
        let exposed_before = self.ledger.exposed + self.ledger.mirrored_exposed;
        let stable = self.serve_group(g, n_stable, &env, to);
        let on_share = if sc.flags.is_empty() && !flag_strategy {
            1.0
        } else {
            self.flag_share()
        };
        let n_on = self.count(S::Routing, n_candidate, on_share);
        let off_arm = if flag_strategy { Arm::Baseline } else { Arm::Canary };
        let on = Part {
            flags_on: true,
            arm: Arm::Canary,
            mirrored: false,
        };
        let mut candidate = self.serve_candidate_part(on, n_on, active, &env, to);
        let off = Part {
            flags_on: false,
            arm: off_arm,
            mirrored: false,
        };
        candidate.add(&self.serve_candidate_part(off, n_candidate - n_on, active, &env, to));
        if self.mirror_share > 0.0 {
            let n_mirror = self.count(S::Routing, n_stable, self.mirror_share);
            let mirror = Part {
                flags_on: true,
                arm: Arm::Canary,
                mirrored: true,
            };
            self.serve_candidate_part(mirror, n_mirror, active, &env, to);
        }
        let exposed = self.ledger.exposed + self.ledger.mirrored_exposed - exposed_before;
        self.note_first_exposure(exposed, to, observer);
        assert_eq!(stable.requests + candidate.requests, n, "requests conserved in a chunk");
        self.ledger.stable.add(&stable);
        self.ledger.candidate.add(&candidate);
        if let Some(s) = self.ledger.segments.last_mut() {
            s.stable.add(&stable);
            s.candidate.add(&candidate);
        }
        let sticky = self.routing == Routing::Sticky;
        self.add_affected_users(stable.fault_failed, false);
        self.add_affected_users(candidate.fault_failed, sticky);
        self.add_slowed_users(stable.fault_slow, false);
        self.add_slowed_users(candidate.fault_slow, sticky);
        self.count_inconsistent_sessions(n, share, active);
        let alive = self.fleet.instances.len() as f64;
        self.ledger.extra_instance_ms += (alive - f64::from(sc.fleet.instances)).max(0.0) * span.ms() as f64;
        self.age_fleet(to, dt, candidate.requests, active, observer);
        self.now = to;
        let stable_ok = stable.requests - stable.failed;
        let candidate_ok = candidate.requests - candidate.failed;
        self.advance_migration(
            dt,
            stable_ok,
            candidate_ok,
            env.rho_dependency,
            n,
            env.backfill_added_ms * n as f64,
        );
    }

    /// The arrivals of the chunk from now to `to` (`expected` of them on
    /// average). Each slot's arrivals are drawn once, as
    /// Poisson(expected over the slot), and handed out to its chunks by
    /// sequential binomials in proportion to their expected share — the
    /// same process, exactly, whatever cuts the controller makes, so the
    /// total traffic of a run does not depend on the controller.
    fn arrivals(&mut self, to: SimTime, expected: f64) -> u64 {
        let slot = self.slot_of(self.now);
        let end = self.slot_end(slot);
        if self.arrivals.0 != Some(slot) {
            assert_eq!(
                self.now,
                self.slot_start(slot),
                "a slot's first chunk starts at the slot"
            );
            let total = traffic::expected_between(&self.sc.traffic, self.now, end);
            let n = if total > 0.0 {
                crate::draw::poisson(self.rngs.get(S::Traffic), total)
            } else {
                0
            };
            self.arrivals = (Some(slot), n);
        }
        let left = self.arrivals.1;
        let n = if to >= end {
            left
        } else {
            let rest = traffic::expected_between(&self.sc.traffic, self.now, end);
            if rest > 0.0 {
                self.count(S::Traffic, left, (expected / rest).min(1.0))
            } else {
                0
            }
        };
        self.arrivals.1 = left - n;
        n
    }

    /// Sessions that bounce between versions across a session-format change
    /// (non-sticky routing only). A session of geometric length K with mean
    /// L stays on one version with probability E[w^K] + E[(1−w)^K], where
    /// E[x^K] = p x / (1 − (1 − p) x), p = 1/L.
    fn count_inconsistent_sessions(&mut self, n: u64, share: f64, active: u32) {
        let session_change = self
            .sc
            .faults
            .iter()
            .enumerate()
            .any(|(i, f)| active & (1 << i) != 0 && matches!(f.effect, FaultEffect::SessionFormat));
        let sticky = matches!(self.routing, Routing::Sticky | Routing::Dark);
        if !session_change || sticky || share <= 0.0 || share >= 1.0 {
            return;
        }
        let p = 1.0 / self.sc.traffic.session_requests.max(1.0);
        let g = |x: f64| p * x / (1.0 - (1.0 - p) * x);
        let bounce = (1.0 - g(share) - g(1.0 - share)).clamp(0.0, 1.0);
        let sessions = binomial(self.rngs.get(S::Users), n, p);
        self.ledger.inconsistent_sessions += binomial(self.rngs.get(S::Users), sessions, bounce);
    }

    /// `k` fault-caused failures land on users drawn uniformly from the pool
    /// (all users, or with sticky routing the candidate's users). Up to
    /// `EXACT_USER_DRAWS` failures are placed one by one (exact); beyond, the
    /// newly affected are Binomial(unaffected, 1 − (1 − 1/U)^k) capped at k.
    fn add_affected_users(&mut self, k: u64, sticky: bool) {
        let (total, candidate) = (self.ledger.users_affected, self.ledger.candidate_users_affected);
        let (total, candidate) = self.tally_users(k, sticky, (total, candidate), S::Users);
        self.ledger.users_affected = total;
        self.ledger.candidate_users_affected = candidate;
    }

    /// As [`Self::add_affected_users`], for fault-caused slow requests, from
    /// a stream of its own (the failure tally's draws are unchanged).
    fn add_slowed_users(&mut self, k: u64, sticky: bool) {
        let (total, candidate) = (self.ledger.users_slowed, self.ledger.candidate_users_slowed);
        let (total, candidate) = self.tally_users(k, sticky, (total, candidate), S::Slowed);
        self.ledger.users_slowed = total;
        self.ledger.candidate_users_slowed = candidate;
    }

    /// Spreads `k` requests over the user pool; returns the new distinct
    /// tally `(all users, users on the candidate under sticky routing)`.
    fn tally_users(&mut self, k: u64, sticky: bool, tally: (u64, u64), s: S) -> (u64, u64) {
        let users = self.sc.traffic.users;
        let (pool, affected) = if sticky {
            (self.candidate_users, tally.1)
        } else {
            (users, tally.0.saturating_sub(tally.1))
        };
        if k == 0 || pool == 0 {
            return tally;
        }
        let rng = self.rngs.get(s);
        let mut unaffected = pool - affected.min(pool);
        let before = unaffected;
        if k <= crate::limits::EXACT_USER_DRAWS {
            for _ in 0..k {
                if unaffected == 0 {
                    break;
                }
                if crate::draw::below(rng, pool) < unaffected {
                    unaffected -= 1;
                }
            }
        } else if unaffected > 0 {
            let p_hit = -libm::expm1(k as f64 * libm::log1p(-1.0 / pool as f64));
            unaffected -= binomial(rng, unaffected, p_hit).min(k);
        }
        let newly = before - unaffected;
        let candidate = if sticky { tally.1 + newly } else { tally.1 };
        ((tally.0 + newly).min(users), candidate)
    }

    /// Records the run's onset in the chunk that served its first `exposed`
    /// requests: arrivals in a chunk are uniform over it, so the first of
    /// them comes at the minimum of `exposed` uniforms, drawn exactly from
    /// a stream of its own.
    fn note_first_exposure(&mut self, exposed: u64, to: SimTime, observer: &mut dyn Observer) {
        if exposed == 0 || self.ledger.first_exposed_at.is_some() {
            return;
        }
        let u = crate::draw::uniform(self.rngs.get(S::Onset));
        let first = 1.0 - libm::pow(1.0 - u, 1.0 / exposed as f64);
        let offset = ((to - self.now).ms() as f64 * first).floor() as u64;
        let at = self.now + crate::time::SimDuration(offset.min((to - self.now).ms()));
        self.ledger.first_exposed_at = Some(at);
        observer.event(at, &crate::timeline::Event::HarmOnset);
    }

    /// Grows leaking instances' memory over the chunk and restarts those
    /// that reach the limit (their in-flight requests fail).
    fn age_fleet(&mut self, to: SimTime, dt: f64, candidate_requests: u64, active: u32, observer: &mut dyn Observer) {
        let sc = self.sc;
        let (mut per_hour, mut per_1k) = (0.0, 0.0);
        for (i, f) in sc.faults.iter().enumerate() {
            if let FaultEffect::MemoryLeak {
                mb_per_hour,
                mb_per_1k_requests,
            } = f.effect
                && active & (1 << i) != 0
            {
                let on = if f.flag.is_some() { self.flag_share() } else { 1.0 };
                per_hour += mb_per_hour * on;
                per_1k += mb_per_1k_requests * on;
            }
        }
        if per_hour == 0.0 && per_1k == 0.0 {
            return;
        }
        let ready = self.fleet.ready(Version::Candidate, self.now);
        let per_instance_requests = if ready == 0 {
            0.0
        } else {
            candidate_requests as f64 / f64::from(ready)
        };
        let growth = per_hour * dt / 3600.0 + per_1k * per_instance_requests / 1000.0;
        let limit = sc.fleet.memory_limit_mb;
        let startup = sc.fleet.startup;
        let now = self.now;
        let mut killed = 0u32;
        self.fleet.changed();
        for inst in self
            .fleet
            .instances
            .iter_mut()
            .filter(|i| i.version == Version::Candidate && i.ready_at <= now)
        {
            inst.memory_mb += growth;
            assert!(inst.memory_mb >= 0.0, "memory never negative");
            if inst.memory_mb >= limit {
                inst.memory_mb = sc.candidate.memory_mb;
                inst.ready_at = to + startup;
                inst.oom_restarting = true;
                killed += 1;
            }
        }
        if killed == 0 {
            return;
        }
        // In-flight requests of the killed instances fail (Little's law:
        // rate per instance × mean latency), as errors the mesh reports.
        let mean_latency_s = sc.candidate.latency_ms_p50 / 1000.0;
        let lambda = f64::from(killed) * per_instance_requests / dt.max(1e-9) * mean_latency_s;
        let in_flight = if lambda > 0.0 {
            crate::draw::poisson(self.rngs.get(S::Fleet), lambda)
        } else {
            0
        };
        let counters = &mut self.monitoring.live_canary;
        let lost = in_flight.min(counters.requests - counters.errors);
        counters.errors += lost;
        counters.restarts += u64::from(killed);
        self.ledger.candidate.failed += lost;
        self.ledger.candidate.fault_failed += lost;
        if let Some(s) = self.ledger.segments.last_mut() {
            s.candidate.failed += lost;
        }
        self.ledger.oom_kills += u64::from(killed);
        observer.event(
            to,
            &Event::OomKill {
                version: Version::Candidate,
                count: killed,
            },
        );
        self.schedule(to + startup, Timer::Ready);
    }

    /// Sets the CPU and memory gauges each arm exports, before a scrape.
    pub(super) fn update_gauges(&mut self) {
        let sc = self.sc;
        let rate = traffic::rate_at(&sc.traffic, self.now) * traffic::spike_factor(&sc.traffic, self.now);
        let census = self.fleet.census(sc.fleet.memory_limit_mb, self.now);
        let env = self.environment_of(&census, rate, self.candidate_share(), 0);
        let baseline = if census[0].alive == 0 {
            Version::Candidate
        } else {
            Version::Stable
        };
        let gauges = |v: Version| (env.rho[idx(v)].min(1.0), census[idx(v)].memory_utilisation);
        let (cpu_b, mem_b) = gauges(baseline);
        let (cpu_c, mem_c) = gauges(Version::Candidate);
        self.monitoring.live_baseline.cpu = cpu_b;
        self.monitoring.live_baseline.memory = mem_b;
        self.monitoring.live_canary.cpu = cpu_c;
        self.monitoring.live_canary.memory = mem_c;
    }
}
