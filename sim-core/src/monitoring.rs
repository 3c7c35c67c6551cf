//! The monitoring pipeline: per-version counters and latency histograms,
//! scraped at a fixed interval and queryable after an ingestion delay.
//!
//! This is the only view of the world a controller gets. It never sees the
//! ledger (which request failed *because of* the fault, which user it hit).

use std::collections::VecDeque;

use crate::latency::{BUCKETS_TOTAL, Histogram, histogram_quantile};
use crate::model::Metric;
use crate::time::{SimDuration, SimTime};

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
    pub latency: Histogram,
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
            restarts: self.restarts - earlier.restarts,
            cpu: self.cpu,
            memory: self.memory,
            backfill_lag: self.backfill_lag,
            mismatched: self.mismatched,
            duplicates: self.duplicates - earlier.duplicates,
            violations: self.violations - earlier.violations,
        }
    }

    /// The metric's value over these counts; `None` where there is no data
    /// (no requests for a request metric).
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        let per_request = |v: Option<f64>| if self.requests == 0 { None } else { v };
        match metric {
            Metric::CpuUtilisation => Some(self.cpu),
            Metric::MemoryUtilisation => Some(self.memory),
            Metric::Restarts => Some(self.restarts as f64),
            Metric::BackfillLagRows => Some(self.backfill_lag),
            Metric::MismatchedRows => Some(self.mismatched),
            Metric::DuplicateWrites => Some(self.duplicates as f64),
            Metric::ConstraintViolations => Some(self.violations as f64),
            Metric::ThroughputRatio => (self.routed > 0).then(|| self.requests as f64 / self.routed as f64),
            Metric::ErrorRate => per_request(Some(self.errors as f64 / self.requests.max(1) as f64)),
            Metric::ConversionRate => {
                let ok = self.requests - self.errors;
                per_request((ok > 0).then(|| self.conversions as f64 / ok as f64))
            }
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 => {
                per_request(metric.quantile().and_then(|q| histogram_quantile(&self.latency, q)))
            }
        }
    }
}

/// One scrape of both arms' counters.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: SimTime,
    pub baseline: Counters,
    pub canary: Counters,
}

/// A window of monitoring data: what a query over `[from, to]` returns.
#[derive(Clone, Debug)]
pub struct Window {
    pub from: SimTime,
    pub to: SimTime,
    pub baseline: Counters,
    pub canary: Counters,
}

/// Live counters plus the scrapes still inside any query's reach.
#[derive(Debug)]
pub struct Monitoring {
    /// Live counters of the baseline arm (stable, or flag-off requests) and
    /// of the canary arm (the candidate, flag-on or mirrored requests).
    pub live_baseline: Counters,
    pub live_canary: Counters,
    scrapes: VecDeque<Scrape>,
    ingestion_delay: SimDuration,
    /// Scrapes older than this are dropped (the longest window any check asks for).
    retention: SimDuration,
}

impl Monitoring {
    pub fn new(ingestion_delay: SimDuration, retention: SimDuration) -> Monitoring {
        let mut m = Monitoring {
            live_baseline: Counters::default(),
            live_canary: Counters::default(),
            scrapes: VecDeque::new(),
            ingestion_delay,
            retention,
        };
        m.scrape(SimTime::ZERO);
        m
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

    /// The scrape-to-scrape windows inside the last `span` a query at `now`
    /// sees: the per-scrape series a Mann-Whitney judge compares.
    pub fn series(&self, now: SimTime, span: SimDuration) -> Vec<Window> {
        let Some(visible_until) = now.ms().checked_sub(self.ingestion_delay.ms()) else {
            return Vec::new();
        };
        let from = visible_until.saturating_sub(span.ms());
        let inside: Vec<&Scrape> = self
            .scrapes
            .iter()
            .filter(|s| s.at.ms() <= visible_until && s.at.ms() >= from)
            .collect();
        inside
            .windows(2)
            .map(|w| Window {
                from: w[0].at,
                to: w[1].at,
                baseline: w[1].baseline.delta(&w[0].baseline),
                canary: w[1].canary.delta(&w[0].canary),
            })
            .collect()
    }

    /// The data a query at `now` sees over the last `span`: between the
    /// newest scrape ingested by `now` and the newest scrape at least
    /// `span` older than it. `None` if no such pair exists yet.
    pub fn window(&self, now: SimTime, span: SimDuration) -> Option<Window> {
        let visible_until = now.ms().checked_sub(self.ingestion_delay.ms())?;
        let end = self.scrapes.iter().rev().find(|s| s.at.ms() <= visible_until)?;
        let start_until = end.at.ms().checked_sub(span.ms())?;
        let start = self.scrapes.iter().rev().find(|s| s.at.ms() <= start_until)?;
        Some(Window {
            from: start.at,
            to: end.at,
            baseline: end.baseline.delta(&start.baseline),
            canary: end.canary.delta(&start.canary),
        })
    }
}
