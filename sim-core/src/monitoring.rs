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
//!
//! # The latency record is drawn when it is read
//!
//! The aggregated engine hands monitoring, per scrape interval and arm, the
//! latency distributions it served with their request counts (split at the
//! SLO's latency, so that the record agrees with the ledger's slow count);
//! equal distributions are merged. The interval's histogram — a multinomial
//! per distribution — is drawn the first time a window reads the interval,
//! from a generator keyed by (run, arm, the interval's scrape time), and
//! kept. An interval no query reads (before the rollout, after it ends) is
//! never drawn: the histogram was two thirds of a run's cost. The draw is a
//! pure function of what the interval served, so when and in what order
//! windows read it changes nothing, and two controllers that served the
//! same requests in an interval read the same histogram.

use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;

use crate::latency::exact::{self, Mixture};
use crate::latency::{BUCKETS_TOTAL, CellTable, Histogram, LogNormal, bucket_of, histogram_quantile, prometheus};
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
    /// Counters as `self + later`; gauges as `later` (the newer reading).
    pub fn plus(&self, later: &Counters) -> Counters {
        let mut sum = later.clone();
        sum.routed += self.routed;
        sum.requests += self.requests;
        sum.errors += self.errors;
        sum.conversions += self.conversions;
        sum.restarts += self.restarts;
        sum.duplicates += self.duplicates;
        sum.violations += self.violations;
        sum
    }

    /// Counters as `self − earlier`; gauges as `self` (the newer reading).
    pub fn delta(&self, earlier: &Counters) -> Counters {
        Counters {
            routed: self.routed - earlier.routed,
            requests: self.requests - earlier.requests,
            errors: self.errors - earlier.errors,
            conversions: self.conversions - earlier.conversions,
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

/// What one arm served in one scrape interval: its latency record (drawn
/// when first read) and, under the exact model, the latency distributions
/// with their request counts, or the latencies of requests recorded one by
/// one.
#[derive(Clone, Debug, Default)]
pub struct Served {
    mixture: Mixture,
    observed: Vec<f64>,
    /// Aggregated requests not drawn into buckets yet: each distribution
    /// with its requests at or below the cut and above it.
    pending: Vec<Pending>,
    /// Requests recorded one by one, already in their buckets.
    direct: Option<Box<Record>>,
    /// The interval's record, once a window has read it.
    /// Boxed: a scrape moves its `Served` into the scrape history, and the
    /// record's 65 buckets are drawn for few of them.
    drawn: OnceCell<Box<Record>>,
}

/// Requests served with one latency distribution in one scrape interval.
#[derive(Clone, Copy, Debug)]
struct Pending {
    dist: LogNormal,
    below: u64,
    above: u64,
}

/// Bucket counts of one arm's requests: the log histogram and, under the
/// Prometheus model, the `le` buckets.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    latency: Histogram,
    le: Vec<u64>,
}

impl Record {
    fn empty(le_buckets: usize) -> Record {
        Record {
            latency: [0; BUCKETS_TOTAL],
            le: vec![0; le_buckets],
        }
    }
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

/// One arm's data over a window: its counters' increase and, when first
/// asked for, its latency record and readout (an interval no query asks
/// latency of is never drawn: see the module documentation).
#[derive(Clone, Debug)]
pub struct ArmWindow<'m> {
    pub counters: Counters,
    monitoring: &'m Monitoring,
    arm: Arm,
    /// Scrape indices of the window's bounds.
    scrapes: (usize, usize),
    latency: OnceCell<WindowLatency>,
}

/// An arm's latency over a window: the sum of its intervals' records and
/// how the latency model reads them.
#[derive(Clone, Debug)]
struct WindowLatency {
    record: Record,
    readout: Readout,
}

impl ArmWindow<'_> {
    /// The metric's value over the window; `None` where there is no data
    /// (no requests for a request metric).
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        if !self.monitoring.recorded.is_empty()
            && let Some(v) = self.monitoring.recorded_value(self.arm, self.scrapes, metric)
        {
            return Some(v);
        }
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

    fn latency(&self) -> &WindowLatency {
        self.latency.get_or_init(|| {
            let (start, end) = self.scrapes;
            self.monitoring.window_latency(self.arm, start, end)
        })
    }

    /// Every completed request's latency over the window, in the log
    /// histogram.
    pub fn latency_histogram(&self) -> &Histogram {
        &self.latency().record.latency
    }

    /// The Prometheus model's `le` buckets over the window, per bucket (not
    /// cumulative), the `+Inf` bucket last; empty under the other models.
    pub fn le_counts(&self) -> &[u64] {
        &self.latency().record.le
    }

    /// The latency quantile `q` the arm's monitoring reports, milliseconds.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let WindowLatency { record, readout } = self.latency();
        match readout {
            Readout::LogHistogram => histogram_quantile(&record.latency, q),
            Readout::Prometheus { bounds_ms } => prometheus::quantile_ms(q, bounds_ms, &record.le),
            Readout::Exact(e) => {
                let ExactReadout {
                    mixture,
                    observed,
                    rng,
                    drawn,
                } = &**e;
                let value = || {
                    if observed.is_empty() {
                        exact::sample_quantile(q, &record.latency, mixture, rng.clone())
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
        let WindowLatency { record, readout } = self.latency();
        match readout {
            Readout::Prometheus { .. } => &record.le,
            Readout::LogHistogram | Readout::Exact(_) => &record.latency,
        }
    }
}

/// A window of monitoring data: what a query over `[from, to]` returns.
#[derive(Clone, Debug)]
pub struct Window<'m> {
    pub from: SimTime,
    pub to: SimTime,
    pub baseline: ArmWindow<'m>,
    pub canary: ArmWindow<'m>,
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
    /// The latency record's draws: keyed by (arm, scrape time); the
    /// Prometheus refinement's from a stream of its own, so the log
    /// histogram is the same under every model.
    record_stream: SlotStream,
    le_stream: SlotStream,
    /// The latency the records split at (the SLO's): requests above it are
    /// the ledger's slow ones.
    cut_ms: f64,
    /// Cell tables of the distributions drawn lately, by (mu, sigma) bits:
    /// a table is a pure function of its key, so the cache changes no
    /// result. [`TABLE_CACHE`] entries, a ring.
    tables: RefCell<TableCache>,
    /// Metric values recorded by real monitoring, per scrape and arm (in
    /// [`Metric::ALL`] order), for `replay-metrics`; empty when simulated.
    recorded: Vec<[[Option<f64>; Metric::ALL.len()]; 2]>,
}

/// One interval of real monitoring data: its end, what each arm
/// (baseline, canary) counted in it, and the metric values it showed.
#[derive(Clone, Debug, Default)]
pub struct RecordedInterval {
    pub at: SimTime,
    /// Baseline then canary; counts over the interval, not cumulative.
    pub counters: [Counters; 2],
    /// Baseline then canary, each in [`Metric::ALL`] order.
    pub values: [[Option<f64>; Metric::ALL.len()]; 2],
}

/// Cached cell tables by (mu, sigma) bits, and the entry replaced next
/// once the ring is full.
#[derive(Debug, Default)]
struct TableCache {
    tables: Vec<((u64, u64), Rc<CellTable>)>,
    next: usize,
}

/// Cell tables monitoring keeps: one per fault combination of the most
/// faults a scenario may hold (2^FAULTS_MAX), per version.
const TABLE_CACHE: usize = 2 << crate::limits::FAULTS_MAX;

impl Monitoring {
    /// Monitoring of one run; `cut_ms` is the SLO's latency (see
    /// [`Monitoring::record_served`]).
    pub fn new(spec: &MonitoringSpec, key: RunKey<'_>, retention: SimDuration, cut_ms: f64) -> Monitoring {
        let mut m = Monitoring {
            live_baseline: Counters::default(),
            live_canary: Counters::default(),
            live_served: Default::default(),
            scrapes: VecDeque::new(),
            ingestion_delay: spec.ingestion_delay,
            retention,
            latency: spec.latency.clone(),
            exact_stream: SlotStream::new(key, "latency_exact"),
            record_stream: SlotStream::new(key, "latency_record"),
            le_stream: SlotStream::new(key, "prometheus"),
            cut_ms,
            tables: RefCell::default(),
            recorded: Vec::new(),
        };
        m.scrape(SimTime::ZERO);
        m
    }

    /// Monitoring that shows recorded data instead of simulated traffic: a
    /// scrape at 0 and one at the end of each interval, queryable at once.
    /// A window's value of a recorded metric is the mean of its intervals'
    /// values; other metrics come from the counters as usual.
    pub fn recorded(intervals: &[RecordedInterval]) -> Monitoring {
        let spec = MonitoringSpec {
            scrape_interval: SimDuration::from_secs(60),
            ingestion_delay: SimDuration::ZERO,
            latency: LatencyModel::LogHistogram,
        };
        let key = RunKey {
            master_seed: 0,
            scenario: "recorded",
            run_index: 0,
        };
        let mut m = Monitoring::new(&spec, key, SimDuration::from_ms(u64::MAX / 4), 0.0);
        m.recorded.push([[None; Metric::ALL.len()]; 2]);
        for iv in intervals {
            m.live_baseline = m.live_baseline.plus(&iv.counters[0]);
            m.live_canary = m.live_canary.plus(&iv.counters[1]);
            m.scrape(iv.at);
            m.recorded.push(iv.values);
        }
        m
    }

    /// The mean recorded value of `metric` over scrapes `(start, end]` of
    /// `arm`; `None` when the metric is not recorded there (or this is
    /// simulated monitoring).
    fn recorded_value(&self, arm: Arm, (start, end): (usize, usize), metric: Metric) -> Option<f64> {
        let i = Metric::ALL.iter().position(|m| *m == metric)?;
        let a = usize::from(arm == Arm::Canary);
        let values: Vec<f64> = self
            .recorded
            .get(start + 1..=end)?
            .iter()
            .filter_map(|r| r[a][i])
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// The latency model monitoring measures with.
    pub fn latency_model(&self) -> &LatencyModel {
        &self.latency
    }

    /// The Prometheus model's buckets and its +Inf bucket; 0 under the others.
    fn le_buckets(&self) -> usize {
        match &self.latency {
            LatencyModel::Prometheus { buckets_ms } => buckets_ms.len() + 1,
            LatencyModel::Exact | LatencyModel::LogHistogram => 0,
        }
    }

    /// The aggregated engine served `below + above` completed requests of
    /// `arm` with latency `dist`, `above` of them slower than the cut (the
    /// SLO's latency, as the ledger counts them). Their buckets are drawn
    /// when a window first reads the interval; the exact model also keeps
    /// the distribution.
    pub fn record_served(&mut self, arm: Arm, dist: LogNormal, below: u64, above: u64) {
        let requests = below + above;
        if requests == 0 {
            return;
        }
        let served = &mut self.live_served[arm.index()];
        if matches!(self.latency, LatencyModel::Exact) {
            served.mixture.add(dist, requests, LATENCY_MIXTURE_MAX);
        }
        // Equal distributions merge: the sum of two multinomials of the
        // same cells is the multinomial of the sum.
        match served.pending.iter_mut().find(|p| p.dist == dist) {
            Some(p) => {
                p.below += below;
                p.above += above;
            }
            None => served.pending.push(Pending { dist, below, above }),
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
        let le_buckets = self.le_buckets();
        let served = &mut self.live_served[arm.index()];
        let direct = served.direct.get_or_insert_with(|| Box::new(Record::empty(le_buckets)));
        direct.latency[bucket] += 1;
        if let Some(slot) = direct.le.get_mut(le) {
            *slot += 1;
        }
        if exact {
            served.observed.push(latency_ms);
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
    fn window_between(&self, start: usize, end: usize) -> Window<'_> {
        let (s, e) = (&self.scrapes[start], &self.scrapes[end]);
        let arm = |a: Arm| ArmWindow {
            counters: match a {
                Arm::Baseline => e.baseline.delta(&s.baseline),
                Arm::Canary => e.canary.delta(&s.canary),
            },
            monitoring: self,
            arm: a,
            scrapes: (start, end),
            latency: OnceCell::new(),
        };
        Window {
            from: s.at,
            to: e.at,
            baseline: arm(Arm::Baseline),
            canary: arm(Arm::Canary),
        }
    }

    /// An arm's latency between scrapes `start` and `end`: the sum of its
    /// intervals' records, read as the latency model says.
    fn window_latency(&self, arm: Arm, start: usize, end: usize) -> WindowLatency {
        let mut record = Record::empty(self.le_buckets());
        for i in start + 1..=end {
            let r = self.record(i, arm);
            for (sum, x) in record.latency.iter_mut().zip(&r.latency) {
                *sum += x;
            }
            for (sum, x) in record.le.iter_mut().zip(&r.le) {
                *sum += x;
            }
        }
        let readout = self.readout(arm, start, end, &record);
        WindowLatency { record, readout }
    }

    /// The latency record of arm `arm` in the interval ending at scrape
    /// `i`, drawn on first use (see the module documentation).
    fn record(&self, i: usize, arm: Arm) -> &Record {
        let scrape = &self.scrapes[i];
        let served = &scrape.served[arm.index()];
        served.drawn.get_or_init(|| {
            let mut record = match &served.direct {
                Some(direct) => direct.clone(),
                None => Box::new(Record::empty(self.le_buckets())),
            };
            if served.pending.is_empty() {
                return record;
            }
            let key = [arm.index() as u64, scrape.at.ms()];
            let mut rng = self.record_stream.at_key(&key);
            let mut le_rng = (!record.le.is_empty()).then(|| self.le_stream.at_key(&key));
            for p in &served.pending {
                let table = self.table(p.dist);
                let Record { latency, le } = &mut *record;
                table.fill(&mut rng, p.below, p.above, latency, le, le_rng.as_mut());
            }
            record
        })
    }

    /// The cell table of `dist`, from the cache when it is there.
    fn table(&self, dist: LogNormal) -> Rc<CellTable> {
        let key = (dist.mu.to_bits(), dist.sigma.to_bits());
        let mut cache = self.tables.borrow_mut();
        if let Some((_, t)) = cache.tables.iter().find(|(k, _)| *k == key) {
            return Rc::clone(t);
        }
        let table = Rc::new(CellTable::new(&dist, self.cut_ms, self.latency.le_bounds_ms()));
        if cache.tables.len() < TABLE_CACHE {
            cache.tables.push((key, Rc::clone(&table)));
        } else {
            let next = cache.next;
            cache.tables[next] = (key, Rc::clone(&table));
            cache.next = (next + 1) % TABLE_CACHE;
        }
        table
    }

    fn readout(&self, arm: Arm, start: usize, end: usize, record: &Record) -> Readout {
        match &self.latency {
            LatencyModel::LogHistogram => Readout::LogHistogram,
            LatencyModel::Prometheus { buckets_ms } => {
                assert_eq!(
                    record.le.iter().sum::<u64>(),
                    record.latency.iter().sum::<u64>(),
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
                let n: u64 = record.latency.iter().sum();
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
    pub fn series(&self, now: SimTime, span: SimDuration) -> Vec<Window<'_>> {
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
    pub fn window(&self, now: SimTime, span: SimDuration) -> Option<Window<'_>> {
        let visible_until = now.ms().checked_sub(self.ingestion_delay.ms())?;
        let end = self.scrapes.iter().rposition(|s| s.at.ms() <= visible_until)?;
        let start_until = self.scrapes[end].at.ms().checked_sub(span.ms())?;
        let start = self.scrapes.iter().rposition(|s| s.at.ms() <= start_until)?;
        Some(self.window_between(start, end))
    }

    /// As [`Monitoring::window`], with the baseline's data taken `offset`
    /// earlier (Spinnaker's `baselineAnalysisOffsetInMins`). `None` until
    /// both arms have such a window.
    pub fn window_offset(&self, now: SimTime, span: SimDuration, offset: SimDuration) -> Option<Window<'_>> {
        let canary = self.window(now, span)?;
        if offset == SimDuration::ZERO {
            return Some(canary);
        }
        let earlier = SimTime(now.ms().checked_sub(offset.ms())?);
        let baseline = self.window(earlier, span)?;
        Some(Window {
            baseline: baseline.baseline,
            ..canary
        })
    }

    /// As [`Monitoring::series`], each window's baseline taken `offset`
    /// earlier; as many windows as both arms have.
    pub fn series_offset(&self, now: SimTime, span: SimDuration, offset: SimDuration) -> Vec<Window<'_>> {
        let canary = self.series(now, span);
        if offset == SimDuration::ZERO {
            return canary;
        }
        let Some(earlier) = now.ms().checked_sub(offset.ms()) else {
            return Vec::new();
        };
        let baseline = self.series(SimTime(earlier), span);
        // Pair the newest with the newest.
        let n = canary.len().min(baseline.len());
        let skip_c = canary.len() - n;
        let skip_b = baseline.len() - n;
        canary
            .into_iter()
            .skip(skip_c)
            .zip(baseline.into_iter().skip(skip_b))
            .map(|(c, b)| Window {
                baseline: b.baseline,
                ..c
            })
            .collect()
    }
}
