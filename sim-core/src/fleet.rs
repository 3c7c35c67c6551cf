//! Instances: readiness, utilisation, memory and restarts.
//!
//! Utilisation inflates latency by the Sakasegawa (1977) approximation of
//! an M/M/c queue, `Lq ≈ ρ^√(2(c+1)) / (1 − ρ)`: by Little's law the mean
//! response time is the service time times `1 + ρ^(√(2(c+1)) − 1) / (c (1 − ρ))`
//! (exact for c = 1, M/M/1), with ρ capped at 0.98. Past saturation
//! (ρ > 1) the excess `1 − 1/ρ` of the requests is shed (an error). Memory
//! near the limit adds garbage-collection pressure: latency × `1 + 2 u²`
//! where `u = (memory/limit − 0.7) / 0.3` once memory passes 70 % of the
//! limit.

use crate::time::SimTime;

/// Which version an instance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Stable,
    Candidate,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::Stable => "stable",
            Version::Candidate => "candidate",
        }
    }
}

/// One instance of the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub version: Version,
    pub ready_at: SimTime,
    pub memory_mb: f64,
    /// Restarting after an OOM kill (a capacity loss the fault caused).
    pub oom_restarting: bool,
}

/// Highest utilisation used for the latency factor.
pub const RHO_CAP: f64 = 0.98;

/// Latency multiplier of an M/M/c queue at utilisation `rho` (Sakasegawa).
pub fn queue_factor(rho: f64, workers: u32) -> f64 {
    if rho <= 0.0 {
        return 1.0;
    }
    let c = f64::from(workers.max(1));
    let r = rho.min(RHO_CAP);
    1.0 + libm::pow(r, libm::sqrt(2.0 * (c + 1.0)) - 1.0) / (c * (1.0 - r))
}

/// Share of requests shed at utilisation `rho`.
pub fn shed_fraction(rho: f64) -> f64 {
    if rho > 1.0 { 1.0 - 1.0 / rho } else { 0.0 }
}

/// Latency multiplier from garbage-collection pressure at `memory / limit`.
pub fn gc_factor(memory_utilisation: f64) -> f64 {
    let u = ((memory_utilisation - 0.7) / 0.3).clamp(0.0, 1.0);
    1.0 + 2.0 * u * u
}

/// All instances of both versions.
///
/// Change `instances` only through `Fleet`'s methods, or call
/// [`Fleet::changed`] after: the census is cached until then.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub instances: Vec<Instance>,
    /// The last census: its memory limit, the instant it was taken, the
    /// next instant an instance becomes ready after it (when the census
    /// changes by itself), and the census.
    census: std::cell::Cell<Option<CachedCensus>>,
}

/// A census with the memory limit it was taken for and the span of time it
/// holds for: `[from, until)`.
type CachedCensus = (f64, SimTime, SimTime, [Census; 2]);

/// One version's instances at an instant, counted in one pass over the
/// fleet (see [`Fleet::census`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Census {
    pub alive: u32,
    pub ready: u32,
    /// Down for an OOM restart.
    pub oom_down: u32,
    /// Mean GC latency factor over the ready instances (1 with none).
    pub gc_factor: f64,
    /// Highest memory / limit over the ready instances (0 with none).
    pub memory_utilisation: f64,
}

impl Fleet {
    /// Both versions' counts and gauges (stable first), in one pass: the
    /// same values as [`Fleet::ready`], [`Fleet::oom_down`],
    /// [`Fleet::gc_factor`] and [`Fleet::memory_utilisation`] one by one
    /// (each sum in the same order), at a fifth of the cost.
    ///
    /// Cached: a chunk and the gauges before a scrape ask for it at the
    /// same fleet again and again; it is taken again after a change, or
    /// once an instance becomes ready.
    pub fn census(&self, limit_mb: f64, now: SimTime) -> [Census; 2] {
        if let Some((limit, from, until, c)) = self.census.get()
            && limit.to_bits() == limit_mb.to_bits()
            && from <= now
            && now < until
        {
            return c;
        }
        let c = self.take_census(limit_mb, now);
        let until = self
            .instances
            .iter()
            .map(|i| i.ready_at)
            .filter(|&t| t > now)
            .min()
            .unwrap_or(SimTime(u64::MAX));
        self.census.set(Some((limit_mb, now, until, c)));
        c
    }

    /// Instances were changed directly: the cached census is stale.
    pub fn changed(&mut self) {
        self.census.set(None);
    }

    fn take_census(&self, limit_mb: f64, now: SimTime) -> [Census; 2] {
        let mut c = [Census::default(); 2];
        let mut gc_sum = [0.0f64; 2];
        for i in &self.instances {
            let k = match i.version {
                Version::Stable => 0,
                Version::Candidate => 1,
            };
            let v = &mut c[k];
            v.alive += 1;
            if i.ready_at <= now {
                v.ready += 1;
                gc_sum[k] += gc_factor(i.memory_mb / limit_mb);
                v.memory_utilisation = f64::max(v.memory_utilisation, i.memory_mb / limit_mb);
            } else if i.oom_restarting {
                v.oom_down += 1;
            }
        }
        for (v, sum) in c.iter_mut().zip(gc_sum) {
            v.gc_factor = if v.ready == 0 { 1.0 } else { sum / f64::from(v.ready) };
        }
        c
    }

    pub fn ready(&self, version: Version, now: SimTime) -> u32 {
        self.instances
            .iter()
            .filter(|i| i.version == version && i.ready_at <= now)
            .count() as u32
    }

    pub fn alive(&self, version: Version) -> u32 {
        self.instances.iter().filter(|i| i.version == version).count() as u32
    }

    /// Instances down for an OOM restart (capacity the fault took away).
    pub fn oom_down(&self, version: Version, now: SimTime) -> u32 {
        self.instances
            .iter()
            .filter(|i| i.version == version && i.oom_restarting && i.ready_at > now)
            .count() as u32
    }

    pub fn launch(&mut self, version: Version, count: u32, ready_at: SimTime, memory_mb: f64) {
        self.changed();
        for _ in 0..count {
            self.instances.push(Instance {
                version,
                ready_at,
                memory_mb,
                oom_restarting: false,
            });
        }
    }

    /// Terminates `count` instances of `version`, those not yet ready first,
    /// each time the one launched last; in one pass over the fleet.
    pub fn terminate(&mut self, version: Version, count: u32, now: SimTime) {
        self.changed();
        let not_ready = self
            .instances
            .iter()
            .filter(|i| i.version == version && i.ready_at > now)
            .count() as u32;
        let alive = self.alive(version);
        // The last `from_not_ready` not-ready instances, then the last
        // `from_ready` of the rest (the ready ones) go.
        let from_not_ready = count.min(not_ready);
        let from_ready = (count - from_not_ready).min(alive - not_ready);
        let (mut skip_not_ready, mut skip_ready) = (not_ready - from_not_ready, alive - not_ready - from_ready);
        self.instances.retain(|i| {
            if i.version != version {
                return true;
            }
            let skip = if i.ready_at > now {
                &mut skip_not_ready
            } else {
                &mut skip_ready
            };
            if *skip > 0 {
                *skip -= 1;
                true
            } else {
                false
            }
        });
    }

    /// Terminates the `count` oldest instances of `version` (launched first).
    pub fn terminate_oldest(&mut self, version: Version, count: u32) {
        self.changed();
        let mut left = count;
        self.instances.retain(|i| {
            if i.version == version && left > 0 {
                left -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Highest memory / limit over ready instances of `version`.
    pub fn memory_utilisation(&self, version: Version, limit_mb: f64, now: SimTime) -> f64 {
        self.instances
            .iter()
            .filter(|i| i.version == version && i.ready_at <= now)
            .map(|i| i.memory_mb / limit_mb)
            .fold(0.0, f64::max)
    }

    /// Mean GC latency factor over ready instances of `version`.
    pub fn gc_factor(&self, version: Version, limit_mb: f64, now: SimTime) -> f64 {
        let (mut sum, mut n) = (0.0, 0u32);
        for i in self
            .instances
            .iter()
            .filter(|i| i.version == version && i.ready_at <= now)
        {
            sum += gc_factor(i.memory_mb / limit_mb);
            n += 1;
        }
        if n == 0 { 1.0 } else { sum / f64::from(n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_factor_is_one_when_idle_and_grows_towards_saturation() {
        assert_eq!(queue_factor(0.0, 8), 1.0);
        assert!(queue_factor(0.5, 8) < 1.05);
        assert!(queue_factor(0.9, 8) > 1.5);
        assert!(queue_factor(2.0, 8) == queue_factor(RHO_CAP, 8));
        // c = 1 is M/M/1 exactly: 1 + ρ/(1 − ρ) = 1/(1 − ρ).
        assert!((queue_factor(0.5, 1) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn shedding_starts_past_saturation() {
        assert_eq!(shed_fraction(0.99), 0.0);
        assert!((shed_fraction(2.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn gc_pressure_starts_at_seventy_percent() {
        assert_eq!(gc_factor(0.5), 1.0);
        assert_eq!(gc_factor(0.7), 1.0);
        assert!((gc_factor(1.0) - 3.0).abs() < 1e-12);
    }

    /// The one-pass census and terminate against the one-by-one readings
    /// and the remove-one-at-a-time terminate they replaced.
    #[test]
    fn census_and_terminate_match_the_one_by_one_forms() {
        let fleet = |seed: u64| {
            let mut f = Fleet::default();
            let mut x = seed;
            for k in 0..40u64 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let version = if x >> 63 == 0 {
                    Version::Stable
                } else {
                    Version::Candidate
                };
                f.instances.push(Instance {
                    version,
                    ready_at: SimTime((x >> 40) % 3 * 1_000),
                    memory_mb: 100.0 + ((x >> 20) % 900) as f64 + k as f64,
                    oom_restarting: (x >> 10).is_multiple_of(2),
                });
            }
            f
        };
        let old_terminate = |f: &mut Fleet, version: Version, count: u32, now: SimTime| {
            for _ in 0..count {
                let pick = f
                    .instances
                    .iter()
                    .rposition(|i| i.version == version && i.ready_at > now)
                    .or_else(|| f.instances.iter().rposition(|i| i.version == version));
                match pick {
                    Some(k) => {
                        f.instances.remove(k);
                    }
                    None => return,
                }
            }
        };
        for seed in 0..30 {
            let f = fleet(seed);
            let now = SimTime(1_000);
            let c = f.census(1_000.0, now);
            for (k, v) in [Version::Stable, Version::Candidate].into_iter().enumerate() {
                assert_eq!(c[k].alive, f.alive(v));
                assert_eq!(c[k].ready, f.ready(v, now));
                assert_eq!(c[k].oom_down, f.oom_down(v, now));
                assert_eq!(c[k].gc_factor.to_bits(), f.gc_factor(v, 1_000.0, now).to_bits());
                assert_eq!(
                    c[k].memory_utilisation.to_bits(),
                    f.memory_utilisation(v, 1_000.0, now).to_bits()
                );
            }
            for count in [0, 1, 3, 7, 25, 60] {
                for v in [Version::Stable, Version::Candidate] {
                    let (mut a, mut b) = (f.clone(), f.clone());
                    a.terminate(v, count, now);
                    old_terminate(&mut b, v, count, now);
                    assert_eq!(a.instances, b.instances, "seed {seed}, {count} of {v:?}");
                }
            }
        }
    }

    #[test]
    fn terminate_prefers_instances_not_yet_ready() {
        let mut f = Fleet::default();
        f.launch(Version::Candidate, 2, SimTime(0), 100.0);
        f.launch(Version::Candidate, 1, SimTime(5_000), 100.0);
        f.terminate(Version::Candidate, 1, SimTime(1_000));
        assert_eq!(f.ready(Version::Candidate, SimTime(1_000)), 2);
        assert_eq!(f.alive(Version::Candidate), 2);
    }
}
