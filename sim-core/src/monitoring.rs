//! The monitoring pipeline: per-version counters and latency histograms,
//! scraped at a fixed interval and queryable after an ingestion delay.
//!
//! This is the only view of the world a controller gets. It never sees the
//! ledger (which request failed *because of* the fault, which user it hit).

use std::collections::VecDeque;

use crate::latency::{BUCKETS_TOTAL, Histogram, histogram_quantile};
use crate::model::Metric;
use crate::time::{SimDuration, SimTime};

/// Cumulative counters of one version, as a Prometheus exporter keeps them.
#[derive(Clone, Debug, PartialEq)]
pub struct Counters {
    pub requests: u64,
    pub errors: u64,
    pub latency: Histogram,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: 0,
            errors: 0,
            latency: [0; BUCKETS_TOTAL],
        }
    }
}

impl Counters {
    /// `self − earlier`, for counters that only grow.
    pub fn delta(&self, earlier: &Counters) -> Counters {
        let mut latency = [0; BUCKETS_TOTAL];
        for (i, slot) in latency.iter_mut().enumerate() {
            *slot = self.latency[i] - earlier.latency[i];
        }
        Counters {
            requests: self.requests - earlier.requests,
            errors: self.errors - earlier.errors,
            latency,
        }
    }

    /// The metric's value over these counts; `None` without requests.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        if self.requests == 0 {
            return None;
        }
        match metric.quantile() {
            None => Some(self.errors as f64 / self.requests as f64),
            Some(q) => histogram_quantile(&self.latency, q),
        }
    }
}

/// One scrape of both versions' counters.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: SimTime,
    pub stable: Counters,
    pub candidate: Counters,
}

/// A window of monitoring data: what a query over `[from, to]` returns.
#[derive(Clone, Debug)]
pub struct Window {
    pub from: SimTime,
    pub to: SimTime,
    pub stable: Counters,
    pub candidate: Counters,
}

/// Live counters plus the scrapes still inside any query's reach.
#[derive(Debug)]
pub struct Monitoring {
    pub live_stable: Counters,
    pub live_candidate: Counters,
    scrapes: VecDeque<Scrape>,
    ingestion_delay: SimDuration,
    /// Scrapes older than this are dropped (the longest window any check asks for).
    retention: SimDuration,
}

impl Monitoring {
    pub fn new(ingestion_delay: SimDuration, retention: SimDuration) -> Monitoring {
        let mut m = Monitoring {
            live_stable: Counters::default(),
            live_candidate: Counters::default(),
            scrapes: VecDeque::new(),
            ingestion_delay,
            retention,
        };
        m.scrape(SimTime::ZERO);
        m
    }

    /// Takes a scrape of the live counters at `now`.
    pub fn scrape(&mut self, now: SimTime) {
        let keep_after = SimTime(
            now.ms()
                .saturating_sub(self.retention.ms() + self.ingestion_delay.ms()),
        );
        while self.scrapes.len() > 2 && self.scrapes[1].at <= keep_after {
            self.scrapes.pop_front();
        }
        self.scrapes.push_back(Scrape {
            at: now,
            stable: self.live_stable.clone(),
            candidate: self.live_candidate.clone(),
        });
    }

    /// The data a query at `now` sees over the last `span`: between the
    /// newest scrape ingested by `now` and the newest scrape at least
    /// `span` older than it. `None` if no such pair exists yet.
    pub fn window(&self, now: SimTime, span: SimDuration) -> Option<Window> {
        let visible_until = now.ms().checked_sub(self.ingestion_delay.ms())?;
        let end = self
            .scrapes
            .iter()
            .rev()
            .find(|s| s.at.ms() <= visible_until)?;
        let start_until = end.at.ms().checked_sub(span.ms())?;
        let start = self
            .scrapes
            .iter()
            .rev()
            .find(|s| s.at.ms() <= start_until)?;
        Some(Window {
            from: start.at,
            to: end.at,
            stable: end.stable.delta(&start.stable),
            candidate: end.candidate.delta(&start.candidate),
        })
    }
}
