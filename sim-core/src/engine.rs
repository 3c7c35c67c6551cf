//! The discrete-event engine: one run of one scenario under one policy.
//!
//! # Event order
//!
//! Events are processed in order of (time, kind priority, insertion
//! sequence). Before the events of an instant are handled, traffic is
//! advanced in one aggregated chunk up to that instant, so every event at
//! time `t` sees the world as it was served up to `t`. At one instant:
//!
//! ```text
//! 0 fault onset          the world changes first
//! 1 routing changes      instances ready, weight applied, rollback completed
//! 2 scrape               monitoring samples the counters served up to t
//! 3 analysis             checks read monitoring (never the ledger)
//! 4 controller           step ends, next step starts, promotion
//! 5 horizon              the run ends
//! ```
//!
//! # Traffic in aggregated chunks
//!
//! Between two events nothing changes, so the requests of the whole chunk are
//! drawn at once: a Poisson count, a binomial split between versions and
//! between fault cohorts, binomial failures and slow requests, and the
//! latency histogram as a multinomial over its buckets. The cost of a chunk
//! does not depend on how many requests it holds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};

use crate::latency::{CellTable, Histogram, LogNormal};
use crate::ledger::{Ledger, Segment, VersionTruth};
use crate::model::{FaultEffect, Metric, OnFailure, Policy, Scenario, VersionSpec};
use crate::monitoring::{Counters, Monitoring};
use crate::rng::{RunKey, stream};
use crate::score::{Decision, Outcome, RunResult, StepStats};
use crate::time::{SimDuration, SimTime};

/// The most events one run may process; a run that needs more ends as
/// `timed_out` instead of hanging. Validation keeps real scenarios far below.
pub const EVENT_BUDGET: u64 = 5_000_000;

/// Fault-caused failures per chunk placed on users one by one (exactly).
pub const EXACT_USER_DRAWS: u64 = 256;

/// Most faults a scenario may inject (cohorts are the 2^n subsets).
pub const MAX_FAULTS: usize = 6;

/// What a check's measurement concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One check's measurement over one analysis window.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub metric: Metric,
    pub candidate: Option<f64>,
    pub stable: Option<f64>,
    pub candidate_requests: u64,
    pub verdict: Verdict,
    /// Failures counted against the check's limit after this measurement.
    pub failures: u32,
}

/// What the engine reports as it runs: the timeline of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    RolloutStarted,
    InstancesLaunched {
        count: u32,
        ready_at: SimTime,
    },
    WeightSet {
        step: Option<usize>,
        weight: u32,
    },
    /// Ground truth, for the timeline and the debrief; no controller sees it.
    FaultOnset {
        fault: Option<usize>,
    },
    Analysis {
        measurements: Vec<Measurement>,
    },
    AnalysisFailed {
        metric: Metric,
    },
    Decided {
        action: OnFailure,
    },
    RollbackCompleted,
    Promoted,
    Horizon,
}

/// Receives the timeline as the engine produces it (the engine never prints).
pub trait Observer {
    fn event(&mut self, at: SimTime, event: &Event);
}

/// An observer that ignores everything, for batches.
pub struct Discard;

impl Observer for Discard {
    fn event(&mut self, _: SimTime, _: &Event) {}
}

/// Collects the timeline in memory.
#[derive(Default)]
pub struct Collect(pub Vec<(SimTime, Event)>);

impl Observer for Collect {
    fn event(&mut self, at: SimTime, event: &Event) {
        self.0.push((at, event.clone()));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    FaultOnset(usize),
    InstancesReady,
    RollbackDone,
    Scrape,
    Analysis,
    StepEnd(usize),
    StepStart(usize),
    Horizon,
}

impl Kind {
    fn priority(self) -> u8 {
        match self {
            Kind::FaultOnset(_) => 0,
            Kind::InstancesReady | Kind::RollbackDone => 1,
            Kind::Scrape => 2,
            Kind::Analysis => 3,
            Kind::StepEnd(_) | Kind::StepStart(_) => 4,
            Kind::Horizon => 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    Rolling,
    RollingBack,
    RolledBack,
    Held,
    Promoted,
}

/// A candidate cohort's behaviour: the candidate spec with a set of faults applied.
#[derive(Clone, Debug)]
struct CohortModel {
    error_rate: f64,
    cells: CellTable,
    /// The cohort differs from stable: its excess is fault-caused.
    regressed: bool,
}

struct Rngs {
    traffic: ChaCha8Rng,
    routing: ChaCha8Rng,
    stable: ChaCha8Rng,
    candidate: ChaCha8Rng,
    users: ChaCha8Rng,
}

/// Everything one run needs.
pub struct Run<'a> {
    scenario: &'a Scenario,
    policy: &'a Policy,
    seed: u64,
    run_index: u64,
    now: SimTime,
    queue: BinaryHeap<Reverse<(SimTime, u8, u64, Kind)>>,
    seq: u64,
    events: u64,
    phase: Phase,
    /// Percent of requests routed to the candidate.
    weight: u32,
    step: Option<usize>,
    /// The weight the current step waits for instances to apply.
    pending_weight: Option<(usize, u32)>,
    candidate_launched: u32,
    candidate_ready: u32,
    first_candidate_traffic: Option<SimTime>,
    active_faults: u32,
    fault_onset: Option<SimTime>,
    rollout_started_at: Option<SimTime>,
    promoted_at: Option<SimTime>,
    decision: Option<Decision>,
    failures: Vec<u32>,
    monitoring: Monitoring,
    ledger: Ledger,
    stable_model: CohortModel,
    cohorts: Vec<Option<CohortModel>>,
    rngs: Rngs,
}

/// Runs one scenario under one policy for run `run_index` of master seed `seed`.
pub fn run(
    scenario: &Scenario,
    policy: &Policy,
    seed: u64,
    run_index: u64,
    observer: &mut dyn Observer,
) -> RunResult {
    let mut r = Run::new(scenario, policy, seed, run_index);
    r.simulate(observer);
    r.finish()
}

fn cohort_model(scenario: &Scenario, faults_mask: u32) -> CohortModel {
    let mut spec: VersionSpec = scenario.candidate.clone();
    for (i, fault) in scenario.faults.iter().enumerate() {
        if faults_mask & (1 << i) == 0 {
            continue;
        }
        match fault.effect {
            FaultEffect::ErrorRate { add, multiply } => {
                spec.error_rate = (spec.error_rate * multiply + add).clamp(0.0, 1.0);
            }
            FaultEffect::Latency {
                p50_factor,
                p50_add_ms,
                p99_factor,
                p99_add_ms,
            } => {
                let p50 = (spec.latency_ms_p50 * p50_factor + p50_add_ms).max(0.001);
                let p99 = (spec.latency_ms_p99 * p99_factor + p99_add_ms).max(p50);
                spec.latency_ms_p50 = p50;
                spec.latency_ms_p99 = p99;
            }
        }
    }
    let dist = LogNormal::from_p50_p99(spec.latency_ms_p50, spec.latency_ms_p99);
    CohortModel {
        error_rate: spec.error_rate,
        cells: CellTable::new(&dist, scenario.slo.latency_ms),
        regressed: worse_than(&spec, &scenario.stable),
    }
}

/// True if `spec` fails more often or is slower than `reference` anywhere.
pub fn worse_than(spec: &VersionSpec, reference: &VersionSpec) -> bool {
    spec.error_rate > reference.error_rate
        || spec.latency_ms_p50 > reference.latency_ms_p50
        || spec.latency_ms_p99 > reference.latency_ms_p99
}

/// Draws Binomial(n, p); exact, with the degenerate cases short-cut.
fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p)
        .expect("p checked in (0, 1)")
        .sample(rng)
}

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

/// Spreads `n` requests over `cells` (a multinomial by sequential binomials).
fn fill_histogram(rng: &mut ChaCha8Rng, n: u64, cells: &[(usize, f64)], histogram: &mut Histogram) {
    let mut left = n;
    let mut mass: f64 = cells.iter().map(|c| c.1).sum();
    for (k, &(bucket, p)) in cells.iter().enumerate() {
        if left == 0 {
            break;
        }
        let take = if k + 1 == cells.len() || mass <= p {
            left
        } else {
            binomial(rng, left, (p / mass).clamp(0.0, 1.0))
        };
        histogram[bucket] += take;
        left -= take;
        mass -= p;
    }
}

/// Serves `n` requests of one cohort: failures, slow requests, histogram.
fn serve(
    rng: &mut ChaCha8Rng,
    n: u64,
    model: &CohortModel,
    reference: &CohortModel,
    counters: &mut Counters,
) -> VersionTruth {
    let (failed, fault_failed) = coupled(rng, n, reference.error_rate, model.error_rate);
    let (slow, fault_slow) = coupled(rng, n, reference.cells.p_above, model.cells.p_above);
    fill_histogram(rng, n - slow, &model.cells.below, &mut counters.latency);
    fill_histogram(rng, slow, &model.cells.above, &mut counters.latency);
    counters.requests += n;
    counters.errors += failed;
    VersionTruth {
        requests: n,
        failed,
        slow,
        fault_failed,
        fault_slow,
    }
}

impl<'a> Run<'a> {
    fn new(scenario: &'a Scenario, policy: &'a Policy, seed: u64, run_index: u64) -> Run<'a> {
        assert!(
            scenario.faults.len() <= MAX_FAULTS,
            "validation caps faults at {MAX_FAULTS}"
        );
        let key = RunKey {
            master_seed: seed,
            scenario: &scenario.name,
            run_index,
        };
        let stable_dist = LogNormal::from_p50_p99(
            scenario.stable.latency_ms_p50,
            scenario.stable.latency_ms_p99,
        );
        let stable_model = CohortModel {
            error_rate: scenario.stable.error_rate,
            cells: CellTable::new(&stable_dist, scenario.slo.latency_ms),
            regressed: false,
        };
        let retention = policy.analysis.interval + scenario.monitoring.scrape_interval;
        Run {
            scenario,
            policy,
            seed,
            run_index,
            now: SimTime::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            events: 0,
            phase: Phase::Warmup,
            weight: 0,
            step: None,
            pending_weight: None,
            candidate_launched: 0,
            candidate_ready: 0,
            first_candidate_traffic: None,
            active_faults: 0,
            fault_onset: None,
            rollout_started_at: None,
            promoted_at: None,
            decision: None,
            failures: vec![0; policy.analysis.checks.len()],
            monitoring: Monitoring::new(scenario.monitoring.ingestion_delay, retention),
            ledger: Ledger::default(),
            stable_model,
            cohorts: vec![None; 1 << scenario.faults.len()],
            rngs: Rngs {
                traffic: stream(key, "traffic"),
                routing: stream(key, "routing"),
                stable: stream(key, "stable"),
                candidate: stream(key, "candidate"),
                users: stream(key, "users"),
            },
        }
    }

    fn schedule(&mut self, at: SimTime, kind: Kind) {
        self.seq += 1;
        self.queue
            .push(Reverse((at, kind.priority(), self.seq, kind)));
    }

    fn simulate(&mut self, observer: &mut dyn Observer) {
        let horizon = SimTime::ZERO + self.scenario.duration;
        self.ledger.segments.push(Segment {
            step: None,
            weight: 0,
            from: SimTime::ZERO,
            to: SimTime::ZERO,
            stable: VersionTruth::default(),
            candidate: VersionTruth::default(),
        });
        self.schedule(horizon, Kind::Horizon);
        self.schedule(
            SimTime::ZERO + self.scenario.monitoring.scrape_interval,
            Kind::Scrape,
        );
        let rollout_at = SimTime::ZERO + self.scenario.rollout_at;
        if rollout_at < horizon {
            self.schedule(rollout_at, Kind::StepStart(0));
        }
        while let Some(Reverse((at, _, _, kind))) = self.queue.pop() {
            self.events += 1;
            if self.events > EVENT_BUDGET {
                break;
            }
            if at > self.now {
                self.advance_traffic(at);
            }
            if self.handle(kind, observer) {
                break;
            }
        }
        self.close_segment();
    }

    /// Handles one event; returns true when the run is over.
    fn handle(&mut self, kind: Kind, observer: &mut dyn Observer) -> bool {
        match kind {
            Kind::Horizon => {
                observer.event(self.now, &Event::Horizon);
                return true;
            }
            Kind::Scrape => {
                self.monitoring.scrape(self.now);
                let next = self.now + self.scenario.monitoring.scrape_interval;
                self.schedule(next, Kind::Scrape);
            }
            Kind::FaultOnset(i) => {
                self.active_faults |= 1 << i;
                self.cohorts_model(self.active_faults);
                if self.fault_onset.is_none() {
                    self.fault_onset = Some(self.now);
                }
                observer.event(self.now, &Event::FaultOnset { fault: Some(i) });
            }
            Kind::StepStart(i) => self.start_step(i, observer),
            Kind::InstancesReady => {
                self.candidate_ready = self.candidate_launched;
                if let Some((step, weight)) = self.pending_weight
                    && self.candidate_ready >= self.instances_for(weight)
                {
                    self.pending_weight = None;
                    self.apply_weight(step, weight, observer);
                }
            }
            Kind::StepEnd(i) => {
                if self.phase == Phase::Rolling && self.step == Some(i) {
                    self.start_step(i + 1, observer);
                }
            }
            Kind::Analysis => self.analyse(observer),
            Kind::RollbackDone => {
                self.phase = Phase::RolledBack;
                self.set_weight(None, 0);
                observer.event(
                    self.now,
                    &Event::WeightSet {
                        step: None,
                        weight: 0,
                    },
                );
                observer.event(self.now, &Event::RollbackCompleted);
            }
        }
        false
    }

    /// The candidate instances a weight needs (at least one while it serves).
    fn instances_for(&self, weight: u32) -> u32 {
        if weight == 0 {
            return 0;
        }
        let n = self.scenario.fleet.instances;
        (u64::from(weight) * u64::from(n)).div_ceil(100).max(1) as u32
    }

    /// Starts step `i`; past the last step, promotes to 100 %.
    fn start_step(&mut self, i: usize, observer: &mut dyn Observer) {
        if i == 0 {
            self.phase = Phase::Rolling;
            self.rollout_started_at = Some(self.now);
            observer.event(self.now, &Event::RolloutStarted);
        }
        let steps = &self.policy.steps;
        if i >= steps.len() && self.weight == 100 {
            self.promote(observer);
            return;
        }
        let weight = steps.get(i).map_or(100, |s| s.weight);
        let needed = self.instances_for(weight);
        if self.candidate_ready >= needed {
            self.apply_weight(i, weight, observer);
            return;
        }
        self.pending_weight = Some((i, weight));
        if self.candidate_launched < needed {
            let count = needed - self.candidate_launched;
            self.candidate_launched = needed;
            let ready_at = self.now + self.scenario.fleet.startup;
            observer.event(self.now, &Event::InstancesLaunched { count, ready_at });
            self.schedule(ready_at, Kind::InstancesReady);
        }
    }

    fn apply_weight(&mut self, i: usize, weight: u32, observer: &mut dyn Observer) {
        let step = (i < self.policy.steps.len()).then_some(i);
        self.set_weight(step, weight);
        observer.event(self.now, &Event::WeightSet { step, weight });
        if weight > 0 && self.first_candidate_traffic.is_none() {
            self.candidate_takes_traffic(observer);
        }
        match step {
            None => self.promote(observer),
            Some(i) => {
                let pause = self.policy.steps[i].pause;
                if i + 1 == self.policy.steps.len() && weight == 100 && pause == SimDuration::ZERO {
                    self.promote(observer);
                } else {
                    self.schedule(self.now + pause, Kind::StepEnd(i));
                }
            }
        }
    }

    /// The candidate serves its first request: faults start counting, analysis starts.
    fn candidate_takes_traffic(&mut self, observer: &mut dyn Observer) {
        self.first_candidate_traffic = Some(self.now);
        self.cohorts_model(0);
        if self.cohorts[0].as_ref().is_some_and(|c| c.regressed) {
            self.fault_onset = Some(self.now);
            observer.event(self.now, &Event::FaultOnset { fault: None });
        }
        for (i, f) in self.scenario.faults.iter().enumerate() {
            self.schedule(self.now + f.onset, Kind::FaultOnset(i));
        }
        self.schedule(self.now + self.policy.analysis.interval, Kind::Analysis);
    }

    fn promote(&mut self, observer: &mut dyn Observer) {
        if self.phase != Phase::Rolling {
            return;
        }
        self.phase = Phase::Promoted;
        self.promoted_at = Some(self.now);
        observer.event(self.now, &Event::Promoted);
    }

    fn set_weight(&mut self, step: Option<usize>, weight: u32) {
        assert!(weight <= 100, "weight {weight} out of 0..=100");
        if weight == self.weight && step == self.step {
            return;
        }
        self.close_segment();
        self.weight = weight;
        self.step = step;
        self.ledger.segments.push(Segment {
            step,
            weight,
            from: self.now,
            to: self.now,
            stable: VersionTruth::default(),
            candidate: VersionTruth::default(),
        });
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.ledger.segments.last_mut() {
            s.to = self.now;
        }
    }

    fn cohorts_model(&mut self, mask: u32) {
        let m = mask as usize;
        if self.cohorts[m].is_none() {
            self.cohorts[m] = Some(cohort_model(self.scenario, mask));
        }
    }

    /// Serves all traffic from `self.now` to `to` in one chunk.
    fn advance_traffic(&mut self, to: SimTime) {
        let span = to - self.now;
        let lambda = self.scenario.traffic.rps * span.as_secs_f64();
        let n = if lambda > 0.0 {
            Poisson::new(lambda)
                .expect("rps validated finite")
                .sample(&mut self.rngs.traffic) as u64
        } else {
            0
        };
        let n_candidate = binomial(&mut self.rngs.routing, n, f64::from(self.weight) / 100.0);
        let n_stable = n - n_candidate;
        let stable_truth = serve(
            &mut self.rngs.stable,
            n_stable,
            &self.stable_model,
            &self.stable_model,
            &mut self.monitoring.live_stable,
        );
        let candidate_truth = self.serve_candidate(n_candidate, to);
        assert_eq!(
            stable_truth.requests + candidate_truth.requests,
            n,
            "requests conserved in a chunk"
        );
        self.ledger.stable.add(&stable_truth);
        self.ledger.candidate.add(&candidate_truth);
        if let Some(s) = self.ledger.segments.last_mut() {
            s.stable.add(&stable_truth);
            s.candidate.add(&candidate_truth);
        }
        self.add_affected_users(candidate_truth.fault_failed);
        self.now = to;
    }

    /// Splits the candidate's requests into cohorts by the faults that touch
    /// them (each fault independently touches its `fraction`) and serves each.
    fn serve_candidate(&mut self, n: u64, chunk_end: SimTime) -> VersionTruth {
        let mut total = VersionTruth::default();
        if n == 0 {
            return total;
        }
        // cohorts[mask] = requests touched by exactly the faults in `mask`.
        let mut split: Vec<(u32, u64)> = vec![(0, n)];
        for (i, fault) in self.scenario.faults.iter().enumerate() {
            if self.active_faults & (1 << i) == 0 {
                continue;
            }
            let mut next = Vec::with_capacity(split.len() * 2);
            for &(mask, count) in &split {
                let touched = binomial(&mut self.rngs.routing, count, fault.fraction);
                if count - touched > 0 {
                    next.push((mask, count - touched));
                }
                if touched > 0 {
                    next.push((mask | (1 << i), touched));
                }
            }
            split = next;
        }
        let mut exposed = 0;
        for (mask, count) in split {
            self.cohorts_model(mask);
            let model = self.cohorts[mask as usize].as_ref().expect("built above");
            let truth = serve(
                &mut self.rngs.candidate,
                count,
                model,
                &self.stable_model,
                &mut self.monitoring.live_candidate,
            );
            if model.regressed {
                exposed += count;
            }
            total.add(&truth);
        }
        if exposed > 0 {
            self.ledger.exposed += exposed;
            self.ledger.last_exposed_at = Some(chunk_end);
        }
        total
    }

    /// `k` fault-caused failures land on users drawn uniformly from the
    /// population. Up to [`EXACT_USER_DRAWS`] failures are placed one by one
    /// (each hits a new user with probability unaffected / users), which is
    /// exact; beyond that the newly affected are drawn as
    /// Binomial(unaffected, 1 − (1 − 1/U)^k) capped at `k`, which keeps the
    /// expectation to within the cap's (negligible) effect at that size.
    fn add_affected_users(&mut self, k: u64) {
        let users = self.scenario.traffic.users;
        let rng = &mut self.rngs.users;
        let mut unaffected = users - self.ledger.users_affected;
        if k <= EXACT_USER_DRAWS {
            for _ in 0..k {
                if unaffected == 0 {
                    break;
                }
                if rng.random_range(0..users) < unaffected {
                    unaffected -= 1;
                }
            }
        } else if unaffected > 0 {
            let p_hit = -libm::expm1(k as f64 * libm::log1p(-1.0 / users as f64));
            unaffected -= binomial(rng, unaffected, p_hit).min(k);
        }
        self.ledger.users_affected = users - unaffected;
    }

    /// One analysis run over the last interval: every check, then the decision.
    fn analyse(&mut self, observer: &mut dyn Observer) {
        if self.phase != Phase::Rolling {
            return;
        }
        let analysis = &self.policy.analysis;
        let window = self.monitoring.window(self.now, analysis.interval);
        let mut measurements = Vec::with_capacity(analysis.checks.len());
        let mut failed_metric = None;
        for (i, check) in analysis.checks.iter().enumerate() {
            let (candidate, stable, candidate_requests) = match &window {
                Some(w) => (
                    w.candidate.metric(check.metric),
                    w.stable.metric(check.metric),
                    w.candidate.requests,
                ),
                None => (None, None, 0),
            };
            let verdict = if candidate_requests < analysis.min_requests {
                Verdict::Inconclusive
            } else {
                judge_threshold(check, candidate, stable)
            };
            match verdict {
                Verdict::Fail => self.failures[i] += 1,
                Verdict::Pass if analysis.consecutive => self.failures[i] = 0,
                _ => {}
            }
            if self.failures[i] > analysis.failure_limit && failed_metric.is_none() {
                failed_metric = Some(check.metric);
            }
            measurements.push(Measurement {
                metric: check.metric,
                candidate,
                stable,
                candidate_requests,
                verdict,
                failures: self.failures[i],
            });
        }
        observer.event(self.now, &Event::Analysis { measurements });
        if let Some(metric) = failed_metric {
            observer.event(self.now, &Event::AnalysisFailed { metric });
            self.decide(analysis.on_failure, metric, observer);
        } else {
            let next = self.now + analysis.interval;
            self.schedule(next, Kind::Analysis);
        }
    }

    fn decide(&mut self, action: OnFailure, metric: Metric, observer: &mut dyn Observer) {
        self.decision = Some(Decision {
            at: self.now,
            action,
            metric,
        });
        observer.event(self.now, &Event::Decided { action });
        match action {
            OnFailure::Rollback => {
                self.phase = Phase::RollingBack;
                self.pending_weight = None;
                self.schedule(self.now + self.policy.rollback_delay, Kind::RollbackDone);
            }
            OnFailure::Hold => {
                self.phase = Phase::Held;
                self.pending_weight = None;
            }
        }
    }

    fn finish(self) -> RunResult {
        let outcome = match self.phase {
            Phase::Promoted => Outcome::Promoted,
            Phase::RollingBack | Phase::RolledBack => Outcome::RolledBack,
            Phase::Held => Outcome::Held,
            Phase::Warmup | Phase::Rolling => Outcome::TimedOut,
        };
        let horizon = SimTime::ZERO + self.scenario.duration;
        // Exposure that lasted to the horizon was never mitigated.
        let mitigated_at = match (self.fault_onset, self.ledger.last_exposed_at) {
            (Some(_), Some(t)) if t < horizon || self.phase == Phase::RolledBack => Some(t),
            _ => None,
        };
        let steps = self
            .ledger
            .segments
            .iter()
            .filter(|s| s.to > s.from)
            .map(|s| StepStats {
                step: s.step,
                weight: s.weight,
                from: s.from,
                to: s.to,
                requests: s.stable.requests + s.candidate.requests,
                failed: s.stable.failed + s.candidate.failed,
                candidate_requests: s.candidate.requests,
                candidate_failed: s.candidate.failed,
            })
            .collect();
        RunResult {
            scenario: self.scenario.name.clone(),
            policy: self.policy.name.clone(),
            seed: self.seed,
            run: self.run_index,
            healthy: self.scenario.is_healthy(),
            outcome,
            fault_onset: self.fault_onset,
            decision: self.decision,
            mitigated_at,
            rollout_started_at: self.rollout_started_at,
            promoted_at: self.promoted_at,
            stable: self.ledger.stable,
            candidate: self.ledger.candidate,
            exposed_requests: self.ledger.exposed,
            users_affected: self.ledger.users_affected,
            steps,
            events: self.events,
        }
    }
}

/// A threshold check: the measurement fails if any bound is broken.
/// A relative bound without a stable value is inconclusive.
pub fn judge_threshold(
    check: &crate::model::Check,
    candidate: Option<f64>,
    stable: Option<f64>,
) -> Verdict {
    let Some(c) = candidate else {
        return Verdict::Inconclusive;
    };
    if check.max.is_some_and(|max| c > max) {
        return Verdict::Fail;
    }
    let relative = check.max_increase.is_some() || check.max_ratio.is_some();
    match stable {
        Some(s)
            if check.max_increase.is_some_and(|d| c - s > d)
                || check.max_ratio.is_some_and(|r| c > r * s) =>
        {
            return Verdict::Fail;
        }
        None if relative => return Verdict::Inconclusive,
        _ => {}
    }
    Verdict::Pass
}
