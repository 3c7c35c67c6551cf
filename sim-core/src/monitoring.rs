//! The monitoring pipeline: per-arm counters and latency records, scraped
//! at a fixed interval and queryable after an ingestion delay.
//!
//! This is the only view of the world a controller gets. It never sees the
//! ledger (which request failed *because of* the fault, which user it hit).
//!
//! Latency is measured as the scenario's [`LatencyModel`] says (see
//! `latency` for the three): every arm keeps the log histogram; the
//! Prometheus model adds its `le` bucket counters; the exact model keeps,
//! per scrape interval, the latency distributions served with their request
//! counts (or, for requests recorded one by one, their latencies), and
//! draws each window's quantiles from a generator keyed by (run, arm,
//! window bounds) — so the same window gives the same value to every query,
//! in any order.

use std::cell::OnceCell;
use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use crate::latency::exact::{self, Mixture};
use crate::latency::{BUCKETS_TOTAL, Histogram, LogNormal, bucket_of, histogram_quantile, prometheus};
use crate::limits::{LATENCY_MIXTURE_MAX, LATENCY_MIXTURE_WINDOW_MAX};
use crate::model::{LatencyModel, Metric, MonitoringSpec};
use crate::rng::{RunKey, SlotStream};
use crate::time::{SimDuration, SimTime};

/// The two arms monitoring compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// Stable, flag-off requests, or blue during a preview.
    Baseline,
    /// The candidate, flag-on requests, or the mirrored requests.
    Canary,
}

impl Arm {
    fn index(self) -> usize {
        match self {
            Arm::Baseline => 0,
            Arm::Canary => 1,
        }
    }
}

/// Cumulative counters of one arm (the baseline or the canary), as a
/// Prometheus exporter and the load balancer keep them, plus the gauges of
/// the instances serving it.
#[derive(Clone, Debug, PartialEq)]
pub struct Counters {
    /// Requests the load balancer sent to the arm.
    pub routed: u64,
    /// Requests the service completed (successfully or with an error).
    pub requests: u64,
    pub errors: u64,
    pub conversions: u64,
    /// Every completed request's latency, in the log histogram.
    pub latency: Histogram,
    /// The Prometheus model's `le` buckets, per bucket (not cumulative),
    /// the `+Inf` bucket last; empty under the other models.
    pub le: Vec<u64>,
    /// OOM kills of the arm's instances.
    pub restarts: u64,
    /// Gauge: mean utilisation of the arm's instances.
    pub cpu: f64,
    /// Gauge: highest memory / limit over the arm's instances.
    pub memory: f64,
    /// Data health (the same for both arms): rows the backfill has still
    /// to copy, rows validation finds mismatched (gauges), duplicate writes
    /// and constraint violations (counters).
    pub backfill_lag: f64,
    pub mismatched: f64,
    pub duplicates: u64,
    pub violations: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            routed: 0,
            requests: 0,
            errors: 0,
            conversions: 0,
            latency: [0; BUCKETS_TOTAL],
            le: Vec::new(),
            restarts: 0,
            cpu: 0.0,
            memory: 0.0,
            backfill_lag: 0.0,
            mismatched: 0.0,
            duplicates: 0,
            violations: 0,
        }
    }
}

impl Counters {
    /// Counters as `self − earlier`; gauges as `self` (the newer reading).
    pub fn delta(&self, earlier: &Counters) -> Counters {
        let mut latency = [0; BUCKETS_TOTAL];
        for (i, slot) in latency.iter_mut().enumerate() {
            *slot = self.latency[i] - earlier.latency[i];
        }
        Counters {
            routed: self.routed - earlier.routed,
            requests: self.requests - earlier.requests,
            errors: self.errors - earlier.errors,
            conversions: self.conversions - earlier.conversions,
            latency,
            le: self.le.iter().zip(&earlier.le).map(|(a, b)| a - b).collect(),
            restarts: self.restarts - earlier.restarts,
            cpu: self.cpu,
            memory: self.memory,
            backfill_lag: self.backfill_lag,
            mismatched: self.mismatched,
            duplicates: self.duplicates - earlier.duplicates,
            violations: self.violations - earlier.violations,
        }
    }
}

/// What one arm served in one scrape interval, as the exact model keeps
/// it: the latency distributions with their request counts, or the
/// latencies of requests recorded one by one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Served {
    mixture: Mixture,
    observed: Vec<f64>,
}

/// One scrape of both arms' counters, with what each arm served since the
/// scrape before (exact model only).
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: SimTime,
    pub baseline: Counters,
    pub canary: Counters,
    served: [Served; 2],
}

/// How an arm's window reads its latency quantiles.
#[derive(Clone, Debug)]
enum Readout {
    LogHistogram,
    Prometheus { bounds_ms: Vec<f64> },
    Exact(Box<ExactReadout>),
}

/// The exact model's ingredients for one arm's window: the distributions
/// served (or the latencies recorded), the window's own generator, and the
/// quantiles drawn so far (by `exact::QUANTILES` position; a draw is a pure
/// function of the window, kept so that repeated queries do not repeat the
/// work).
#[derive(Clone, Debug)]
struct ExactReadout {
    mixture: Mixture,
    observed: Vec<f64>,
    rng: ChaCha8Rng,
    drawn: [OnceCell<Option<f64>>; 3],
}

/// One arm's data over a window: its counters' increase and its latency
/// readout.
#[derive(Clone, Debug)]
pub struct ArmWindow {
    pub counters: Counters,
    readout: Readout,
}

impl ArmWindow {
    /// The metric's value over the window; `None` where there is no data
    /// (no requests for a request metric).
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        let c = &self.counters;
        let per_request = |v: Option<f64>| if c.requests == 0 { None } else { v };
        match metric {
            Metric::CpuUtilisation => Some(c.cpu),
            Metric::MemoryUtilisation => Some(c.memory),
            Metric::Restarts => Some(c.restarts as f64),
            Metric::BackfillLagRows => Some(c.backfill_lag),
            Metric::MismatchedRows => Some(c.mismatched),
            Metric::DuplicateWrites => Some(c.duplicates as f64),
            Metric::ConstraintViolations => Some(c.violations as f64),
            Metric::ThroughputRatio => (c.routed > 0).then(|| c.requests as f64 / c.routed as f64),
            Metric::ErrorRate => per_request(Some(c.errors as f64 / c.requests.max(1) as f64)),
            Metric::ConversionRate => {
                let ok = c.requests - c.errors;
                per_request((ok > 0).then(|| c.conversions as f64 / ok as f64))
            }
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 => {
                per_request(metric.quantile().and_then(|q| self.latency_quantile(q)))
            }
        }
    }

    /// The latency quantile `q` the arm's monitoring reports, milliseconds.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let c = &self.counters;
        match &self.readout {
            Readout::LogHistogram => histogram_quantile(&c.latency, q),
            Readout::Prometheus { bounds_ms } => prometheus::quantile_ms(q, bounds_ms, &c.le),
            Readout::Exact(e) => {
                let ExactReadout {
                    mixture,
                    observed,
                    rng,
                    drawn,
                } = &**e;
                let value = || {
                    if observed.is_empty() {
                        exact::sample_quantile(q, &c.latency, mixture, rng.clone())
                    } else {
                        exact::order_statistic(&mut observed.clone(), q)
                    }
                };
                match exact::QUANTILES.iter().position(|&x| x == q) {
                    Some(i) => *drawn[i].get_or_init(value),
                    None => value(),
                }
            }
        }
    }

    /// The window's latency as bucket counts, for judges that compare
    /// distributions: the Prometheus buckets under that model, else the log
    /// histogram (under the exact model, the finest record kept).
    pub fn latency_buckets(&self) -> &[u64] {
        match &self.readout {
            Readout::Prometheus { .. } => &self.counters.le,
            Readout::LogHistogram | Readout::Exact(_) => &self.counters.latency,
        }
    }
}

/// A window of monitoring data: what a query over `[from, to]` returns.
#[derive(Clone, Debug)]
pub struct Window {
    pub from: SimTime,
    pub to: SimTime,
    pub baseline: ArmWindow,
    pub canary: ArmWindow,
}

/// Live counters plus the scrapes still inside any query's reach.
#[derive(Debug)]
pub struct Monitoring {
    /// Live counters of the baseline arm (stable, or flag-off requests) and
    /// of the canary arm (the candidate, flag-on or mirrored requests).
    pub live_baseline: Counters,
    pub live_canary: Counters,
    /// What each arm served since the last scrape (exact model only).
    live_served: [Served; 2],
    scrapes: VecDeque<Scrape>,
    ingestion_delay: SimDuration,
    /// Scrapes older than this are dropped (the longest window any check asks for).
    retention: SimDuration,
    latency: LatencyModel,
    /// The exact model's window draws: keyed by (arm, window bounds).
    exact_stream: SlotStream,
}

impl Monitoring {
    pub fn new(spec: &MonitoringSpec, key: RunKey<'_>, retention: SimDuration) -> Monitoring {
        // The Prometheus model's buckets and its +Inf bucket.
        let le_buckets = match &spec.latency {
            LatencyModel::Prometheus { buckets_ms } => buckets_ms.len() + 1,
            LatencyModel::Exact | LatencyModel::LogHistogram => 0,
        };
        let live = || Counters {
            le: vec![0; le_buckets],
            ..Counters::default()
        };
        let mut m = Monitoring {
            live_baseline: live(),
            live_canary: live(),
            live_served: Default::default(),
            scrapes: VecDeque::new(),
            ingestion_delay: spec.ingestion_delay,
            retention,
            latency: spec.latency.clone(),
            exact_stream: SlotStream::new(key, "latency_exact"),
        };
        m.scrape(SimTime::ZERO);
        m
    }

    /// The latency model monitoring measures with.
    pub fn latency_model(&self) -> &LatencyModel {
        &self.latency
    }

    fn live(&mut self, arm: Arm) -> &mut Counters {
        match arm {
            Arm::Baseline => &mut self.live_baseline,
            Arm::Canary => &mut self.live_canary,
        }
    }

    /// The aggregated engine served `requests` completed requests of `arm`
    /// with latency `dist` (their histogram counts drawn separately): the
    /// exact model keeps the distribution for the scrape interval.
    pub fn record_served(&mut self, arm: Arm, dist: LogNormal, requests: u64) {
        if matches!(self.latency, LatencyModel::Exact) {
            self.live_served[arm.index()]
                .mixture
                .add(dist, requests, LATENCY_MIXTURE_MAX);
        }
    }

    /// Records one completed request of `arm` that took `latency_ms`,
    /// exactly, under every model: a log-histogram increment, a Prometheus
    /// bucket increment, and under the exact model the latency itself, so
    /// that the window's quantile is the true order statistic of the
    /// latencies recorded. For a per-request engine; the caller counts the
    /// request itself (`requests`, `routed`, `errors`). An arm's requests in
    /// one scrape interval are recorded either all this way or all by
    /// [`Monitoring::record_served`].
    ///
    /// # Panics
    ///
    /// If `latency_ms` is negative or not a number.
    pub fn observe_latency(&mut self, arm: Arm, latency_ms: f64) {
        assert!(
            latency_ms >= 0.0,
            "a latency is a non-negative number of ms, got {latency_ms}"
        );
        let bucket = bucket_of(latency_ms);
        let le = prometheus::bucket_of(self.latency.le_bounds_ms(), latency_ms);
        let exact = matches!(self.latency, LatencyModel::Exact);
        let counters = self.live(arm);
        counters.latency[bucket] += 1;
        if let Some(slot) = counters.le.get_mut(le) {
            *slot += 1;
        }
        if exact {
            self.live_served[arm.index()].observed.push(latency_ms);
        }
    }

    /// Takes a scrape of the live counters at `now`.
    pub fn scrape(&mut self, now: SimTime) {
        let keep_after = SimTime(now.ms().saturating_sub(self.retention.ms() + self.ingestion_delay.ms()));
        while self.scrapes.len() > 2 && self.scrapes[1].at <= keep_after {
            self.scrapes.pop_front();
        }
        self.scrapes.push_back(Scrape {
            at: now,
            baseline: self.live_baseline.clone(),
            canary: self.live_canary.clone(),
            served: std::mem::take(&mut self.live_served),
        });
    }

    /// The newest scrape a query at `now` can see: monitoring knows
    /// nothing of the requests served after it.
    pub fn visible_until(&self, now: SimTime) -> Option<SimTime> {
        let visible_until = now.ms().checked_sub(self.ingestion_delay.ms())?;
        self.scrapes
            .iter()
            .rev()
            .find(|s| s.at.ms() <= visible_until)
            .map(|s| s.at)
    }

    /// The window between scrapes `start` and `end` (indices, `start < end`).
    fn window_between(&self, start: usize, end: usize) -> Window {
        let (s, e) = (&self.scrapes[start], &self.scrapes[end]);
        let arm = |a: Arm| {
            let counters = match a {
                Arm::Baseline => e.baseline.delta(&s.baseline),
                Arm::Canary => e.canary.delta(&s.canary),
            };
            ArmWindow {
                readout: self.readout(a, start, end, &counters),
                counters,
            }
        };
        Window {
            from: s.at,
            to: e.at,
            baseline: arm(Arm::Baseline),
            canary: arm(Arm::Canary),
        }
    }

    fn readout(&self, arm: Arm, start: usize, end: usize, counters: &Counters) -> Readout {
        match &self.latency {
            LatencyModel::LogHistogram => Readout::LogHistogram,
            LatencyModel::Prometheus { buckets_ms } => {
                assert_eq!(
                    counters.le.iter().sum::<u64>(),
                    counters.latency.iter().sum::<u64>(),
                    "the le buckets count the log histogram's requests"
                );
                Readout::Prometheus {
                    bounds_ms: buckets_ms.clone(),
                }
            }
            LatencyModel::Exact => {
                let mut mixture = Mixture::default();
                let mut observed = Vec::new();
                for s in self.scrapes.range(start + 1..=end) {
                    let served = &s.served[arm.index()];
                    mixture.extend(&served.mixture);
                    observed.extend_from_slice(&served.observed);
                }
                mixture.reduce(LATENCY_MIXTURE_WINDOW_MAX);
                let n: u64 = counters.latency.iter().sum();
                assert!(
                    observed.is_empty() || mixture.is_empty(),
                    "an arm's window mixes requests recorded one by one and in aggregate"
                );
                assert_eq!(
                    mixture.requests() + observed.len() as u64,
                    n,
                    "the exact record describes every request in the histogram"
                );
                let (from, to) = (self.scrapes[start].at.ms(), self.scrapes[end].at.ms());
                Readout::Exact(Box::new(ExactReadout {
                    mixture,
                    observed,
                    rng: self.exact_stream.at_key(&[arm.index() as u64, from, to]),
                    drawn: Default::default(),
                }))
            }
        }
    }

    /// The scrape-to-scrape windows inside the last `span` a query at `now`
    /// sees: the per-scrape series a Mann-Whitney judge compares.
    pub fn series(&self, now: SimTime, span: SimDuration) -> Vec<Window> {
        let Some(visible_until) = now.ms().checked_sub(self.ingestion_delay.ms()) else {
            return Vec::new();
        };
        let from = visible_until.saturating_sub(span.ms());
        let inside: Vec<usize> = (0..self.scrapes.len())
            .filter(|&i| {
                let at = self.scrapes[i].at.ms();
                at <= visible_until && at >= from
            })
            .collect();
        inside.windows(2).map(|w| self.window_between(w[0], w[1])).collect()
    }

    /// The data a query at `now` sees over the last `span`: between the
    /// newest scrape ingested by `now` and the newest scrape at least
    /// `span` older than it. `None` if no such pair exists yet.
    pub fn window(&self, now: SimTime, span: SimDuration) -> Option<Window> {
        let visible_until = now.ms().checked_sub(self.ingestion_delay.ms())?;
        let end = self.scrapes.iter().rposition(|s| s.at.ms() <= visible_until)?;
        let start_until = self.scrapes[end].at.ms().checked_sub(span.ms())?;
        let start = self.scrapes.iter().rposition(|s| s.at.ms() <= start_until)?;
        Some(self.window_between(start, end))
    }
}
