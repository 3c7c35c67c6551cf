//! Game days: a trainee's exercise on the engine every other run uses.
//!
//! An exercise is a scenario, the policy whose mechanics carry out the
//! commands (its steps, rollback delay, hotfix), a seed, and the commands
//! issued so far — by the trainee, by the game master (who may also inject
//! a fault), and, with `assist`, by the automated policy. Nothing here is a
//! second simulator: the trainee's commands go through the same
//! [`Controller`] path as a policy's ([`SessionController`]), and what the
//! trainee's screen shows is what monitoring shows ([`Frame`], read through
//! an [`Observation`] like any controller's).
//!
//! # The screen at an instant is a re-run
//!
//! The engine is deterministic and a run costs milliseconds, so the screen
//! at simulated time `t` is computed by running the exercise from zero with
//! the commands known so far and stopping at `t` ([`frame`]). A command the
//! trainee issues at `t` changes nothing before `t` (common random numbers:
//! the world's draws depend only on what the controllers did), so the past
//! the trainee saw stays as it was; a fault the game master injects at `t`
//! starts at `t` the same way. The session log (the commands with their
//! instants) therefore replays the exercise exactly ([`debrief`]).
//!
//! # The oracle
//!
//! The debrief compares the trainee with the automated policy and with the
//! oracle, which knows the ground truth and acts on it at once, before the
//! release can harm anyone: a healthy release (no fault, a candidate no
//! worse than stable, no schema change) is promoted the moment the rollout
//! starts; a release whose every fault sits behind a feature flag is
//! promoted with its flags killed; any other harmful release (or a schema
//! change, whose mistakes only the oracle could foresee) is rolled back the
//! moment it starts. No controller can harm fewer requests or lose fewer
//! records, and none ships a healthy release sooner (a test checks both
//! over the catalog).

use std::cell::Cell;
use std::rc::Rc;

use crate::control::policy::PolicyController;
use crate::control::script::{ScriptController, Scripted};
use crate::control::{By, Command, Controller, Cue, Cx, Out, RolloutStatus, Stage, WakeClass};
use crate::engine::{Event, Observer, run_with};
use crate::model::{Fault, FaultEffect, Metric, Policy, Rule, Scenario};
use crate::rng::{RunKey, stream};
use crate::score::RunResult;
use crate::time::{SimDuration, SimTime};
use crate::timeline::{TruthSoFar, Verdict};
use crate::world::Observation;

/// Faults a game master can inject mid-exercise, by name.
pub const INJECTABLE: [(&str, &str); 3] = [
    ("error_spike", "the candidate fails 5 % more requests"),
    ("latency_regression", "the candidate's p50 × 1.5 and p99 × 3"),
    ("kpi_drop", "the candidate's conversion rate × 0.8"),
];

/// The effect of injectable fault `name`.
pub fn injectable(name: &str) -> Option<FaultEffect> {
    Some(match name {
        "error_spike" => FaultEffect::ErrorRate {
            add: 0.05,
            multiply: 1.0,
        },
        "latency_regression" => FaultEffect::Latency {
            p50_factor: 1.5,
            p50_add_ms: 0.0,
            p99_factor: 3.0,
            p99_add_ms: 0.0,
        },
        "kpi_drop" => FaultEffect::Kpi { factor: 0.8 },
        _ => return None,
    })
}

/// A fault the game master injected: at `at`, fault `fault` (an
/// [`INJECTABLE`] name) with `onset` counted, as every fault's, from the
/// candidate's first traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct Injection {
    pub at: SimTime,
    pub fault: String,
    pub onset: SimDuration,
}

/// The onset to give a fault injected at `at` when the candidate first
/// took traffic at `first_traffic` (if it has): it starts at `at`.
pub fn injection_onset(at: SimTime, first_traffic: Option<SimTime>) -> SimDuration {
    match first_traffic {
        Some(t) if t <= at => at - t,
        _ => SimDuration::ZERO,
    }
}

/// The scenario with the injected faults added.
///
/// # Panics
/// If an injection names a fault not in [`INJECTABLE`] (readers check).
pub fn with_injections(sc: &Scenario, injections: &[Injection]) -> Scenario {
    let mut sc = sc.clone();
    for i in injections {
        sc.faults.push(Fault {
            effect: injectable(&i.fault).expect("readers check injectable names"),
            onset: i.onset,
            onset_weight: 0,
            fraction: 1.0,
            segment: None,
            flag: None,
        });
    }
    sc
}

/// How far `--jitter` moves a fault: its size scaled by a factor in
/// `JITTER_SIZE` (an added error rate, a latency or KPI factor's distance
/// from 1, a leak's rate), its onset delayed by up to `JITTER_ONSET_MAX`.
pub const JITTER_SIZE: (f64, f64) = (0.75, 1.25);
pub const JITTER_ONSET_MAX: SimDuration = SimDuration::from_secs(600);

/// The scenario with each fault's size and onset varied by `seed` within
/// [`JITTER_SIZE`] and [`JITTER_ONSET_MAX`]: one scenario serves several
/// groups without the answer leaking. The same seed gives the same faults.
pub fn jitter(sc: &Scenario, seed: u64) -> Scenario {
    use rand::RngExt;
    let mut rng = stream(
        RunKey {
            master_seed: seed,
            scenario: &sc.name,
            run_index: 0,
        },
        "gameday_jitter",
    );
    let mut sc = sc.clone();
    for f in &mut sc.faults {
        let k: f64 = rng.random_range(JITTER_SIZE.0..=JITTER_SIZE.1);
        let away = |x: f64| 1.0 + (x - 1.0) * k;
        f.effect = match f.effect {
            FaultEffect::ErrorRate { add, multiply } => FaultEffect::ErrorRate {
                add: (add * k).min(1.0),
                multiply: away(multiply).max(0.0),
            },
            FaultEffect::Latency {
                p50_factor,
                p50_add_ms,
                p99_factor,
                p99_add_ms,
            } => FaultEffect::Latency {
                p50_factor: away(p50_factor).max(0.01),
                p50_add_ms: p50_add_ms * k,
                p99_factor: away(p99_factor).max(0.01),
                p99_add_ms: p99_add_ms * k,
            },
            FaultEffect::MemoryLeak {
                mb_per_hour,
                mb_per_1k_requests,
            } => FaultEffect::MemoryLeak {
                mb_per_hour: mb_per_hour * k,
                mb_per_1k_requests: mb_per_1k_requests * k,
            },
            FaultEffect::Throughput {
                capacity_factor,
                above_rps,
            } => FaultEffect::Throughput {
                capacity_factor: away(capacity_factor).clamp(0.0, 1.0),
                above_rps,
            },
            FaultEffect::Kpi { factor } => FaultEffect::Kpi {
                factor: away(factor).clamp(0.0, 1.0),
            },
            FaultEffect::DependencyLoad { factor } => FaultEffect::DependencyLoad {
                factor: away(factor).max(1.0),
            },
            FaultEffect::SessionFormat => FaultEffect::SessionFormat,
        };
        let delay = rng.random_range(0..=JITTER_ONSET_MAX.ms());
        f.onset = f.onset + SimDuration(delay);
    }
    sc
}

/// The scenario `--mystery` picks for `seed` among `names`.
///
/// # Panics
/// If `names` is empty.
pub fn mystery_pick(names: &[String], seed: u64) -> usize {
    assert!(!names.is_empty(), "a mystery needs scenarios to pick from");
    let mut rng = stream(
        RunKey {
            master_seed: seed,
            scenario: "",
            run_index: 0,
        },
        "gameday_mystery",
    );
    use rand::RngExt;
    rng.random_range(0..names.len())
}

/// The trainee's decider: the session's commands (a script naming who
/// issued each) and, with `assist`, the automated policy beside them.
pub struct SessionController<'p> {
    policy: Option<PolicyController<'p>>,
    script: ScriptController,
}

impl<'p> SessionController<'p> {
    /// `commands` are the trainee's and the game master's; with `assist`,
    /// `policy` decides too (its commands are its own, not in the list).
    pub fn new(sc: &Scenario, policy: &'p Policy, seed: u64, assist: bool, commands: Vec<Scripted>) -> Self {
        let key = RunKey {
            master_seed: seed,
            scenario: &sc.name,
            run_index: 0,
        };
        SessionController {
            policy: assist.then(|| {
                PolicyController::new(
                    policy,
                    SimTime::ZERO + sc.rollout_at,
                    SimTime::ZERO + sc.duration,
                    sc.migration.is_some(),
                    stream(key, "human"),
                )
            }),
            script: ScriptController::new(commands),
        }
    }
}

/// Runs `inner` on `cue`, moving its wake tokens into its own half of the
/// token space (`2t + half`) and naming `by` on its unattributed commands.
fn delegate(
    inner: &mut dyn Controller,
    cue: Cue,
    obs: &Observation<'_>,
    rollout: &RolloutStatus,
    half: u64,
    cx: &mut Cx,
) {
    let by = inner.by();
    let mut sub = Cx::default();
    inner.on(cue, obs, rollout, &mut sub);
    for out in sub.out {
        cx.out.push(match out {
            Out::Wake(at, class, token) => Out::Wake(at, class, token * 2 + half),
            Out::Command(c, m, author) => Out::Command(c, m, Some(author.unwrap_or(by))),
            e @ Out::Event(_) => e,
        });
    }
}

impl Controller for SessionController<'_> {
    fn by(&self) -> By {
        By::Trainee
    }

    fn on(&mut self, cue: Cue, obs: &Observation<'_>, rollout: &RolloutStatus, cx: &mut Cx) {
        match cue {
            Cue::Begin | Cue::Note(_) => {
                if let Some(p) = &mut self.policy {
                    delegate(p, cue, obs, rollout, 0, cx);
                }
                delegate(&mut self.script, cue, obs, rollout, 1, cx);
            }
            Cue::Wake(class, token) => {
                let inner = Cue::Wake(class, token / 2);
                if token % 2 == 1 {
                    delegate(&mut self.script, inner, obs, rollout, 1, cx);
                } else if let Some(p) = &mut self.policy {
                    delegate(p, inner, obs, rollout, 0, cx);
                }
            }
        }
    }
}

/// What one arm's monitoring shows over the last minute.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Readings {
    pub requests: u64,
    /// Completed requests per second.
    pub throughput_rps: Option<f64>,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub backfill_lag_rows: Option<f64>,
    pub mismatched_rows: Option<f64>,
}

/// The window the screen reads: the last minute monitoring has.
pub const READING_WINDOW: SimDuration = SimDuration::from_secs(60);
/// How far back the sparklines reach.
pub const SPARK_SPAN: SimDuration = SimDuration::from_secs(15 * 60);
/// Points in a sparkline.
pub const SPARK_POINTS: u64 = 30;

fn readings(obs: &Observation<'_>) -> [Readings; 2] {
    let Some(w) = obs.window(READING_WINDOW) else {
        return [Readings::default(); 2];
    };
    let secs = (w.to - w.from).as_secs_f64().max(1e-9);
    [&w.baseline, &w.canary].map(|a| Readings {
        requests: a.counters.requests,
        throughput_rps: Some(a.counters.requests as f64 / secs),
        error_rate: a.metric(Metric::ErrorRate),
        p50_ms: a.metric(Metric::LatencyP50),
        p95_ms: a.metric(Metric::LatencyP95),
        p99_ms: a.metric(Metric::LatencyP99),
        cpu: a.metric(Metric::CpuUtilisation),
        memory: a.metric(Metric::MemoryUtilisation),
        conversion_rate: a.metric(Metric::ConversionRate),
        backfill_lag_rows: a.metric(Metric::BackfillLagRows),
        mismatched_rows: a.metric(Metric::MismatchedRows),
    })
}

/// One alert: a check of the policy as the on-call's alerting evaluates
/// it, over the analysis interval, at every sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub metric: Metric,
    /// What the check asks of the metric, in words (`at most +0.01 over stable`).
    pub rule: String,
    pub firing: bool,
    /// It fired earlier and passes now.
    pub resolved: bool,
    pub since: Option<SimTime>,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
}

/// The rollout as the trainee's screen shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RolloutView {
    pub stage: Stage,
    pub step: Option<usize>,
    pub steps: usize,
    pub weight: u32,
    pub waiting: bool,
}

/// The ground truth as of the last scrape: the game master's screen only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TruthView {
    pub as_of: Option<SimTime>,
    pub so_far: TruthSoFar,
    pub harm_onset: Option<SimTime>,
    /// Faults in force, with their instants (index into the scenario's faults).
    pub fault_onsets: Vec<(SimTime, Option<usize>)>,
}

/// Everything the dashboard shows at one simulated instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub now: SimTime,
    pub horizon: SimTime,
    pub rollout: RolloutView,
    /// Baseline (stable) and canary, over [`READING_WINDOW`].
    pub arms: [Readings; 2],
    /// Samples over the last [`SPARK_SPAN`], oldest first.
    pub history: Vec<(SimTime, [Readings; 2])>,
    pub alerts: Vec<Alert>,
    /// What the on-call sees happen: commands, weights, instances, flags,
    /// the policy's analysis verdicts under `assist`; never a fault.
    pub log: Vec<(SimTime, String)>,
    /// The candidate's first traffic (for an injection's onset).
    pub first_traffic: Option<SimTime>,
    pub truth: TruthView,
    /// The run reached its horizon.
    pub ended: bool,
}

/// Token space of the camera (the inner controller's tokens stay below).
const CAMERA: u64 = 1 << 62;

/// A controller wrapped to look at monitoring at chosen instants: it
/// forwards every cue to the inner controller and wakes itself (last in
/// each instant) to sample what monitoring shows. Looking cuts no chunk:
/// the world is not served for a wake-up, so the run is the same.
struct Camera<'a, 'p> {
    inner: &'a mut dyn Controller,
    policy: &'p Policy,
    /// Sample instants, ascending; the last is the frame's.
    at: Vec<SimTime>,
    samples: Vec<(SimTime, [Readings; 2])>,
    alerts: Vec<AlertState>,
    rollout: Option<RolloutStatus>,
    stop: Rc<Cell<bool>>,
}

#[derive(Clone, Debug, Default)]
struct AlertState {
    firing_since: Option<SimTime>,
    fired: bool,
    canary: Option<f64>,
    baseline: Option<f64>,
}

impl Camera<'_, '_> {
    fn sample(&mut self, obs: &Observation<'_>) {
        let analysis = &self.policy.analysis;
        let window = obs.window(analysis.interval);
        for (i, check) in analysis.checks.iter().enumerate() {
            let state = &mut self.alerts[i];
            let Rule::Bounds(b) = &check.rule else {
                continue;
            };
            let verdict = match &window {
                Some(w) if check.metric.is_gauge() || w.canary.counters.routed >= analysis.min_requests => {
                    let (c, s) = (w.canary.metric(check.metric), w.baseline.metric(check.metric));
                    state.canary = c;
                    state.baseline = s;
                    crate::engine::judge_bounds(b, c, s)
                }
                _ => Verdict::Inconclusive,
            };
            match verdict {
                Verdict::Fail => {
                    state.firing_since.get_or_insert(obs.now);
                    state.fired = true;
                }
                Verdict::Pass => state.firing_since = None,
                Verdict::Inconclusive => {}
            }
        }
    }
}

impl Controller for Camera<'_, '_> {
    fn by(&self) -> By {
        self.inner.by()
    }

    fn on(&mut self, cue: Cue, obs: &Observation<'_>, rollout: &RolloutStatus, cx: &mut Cx) {
        match cue {
            Cue::Wake(WakeClass::End, token) if token >= CAMERA => {
                let i = (token - CAMERA) as usize;
                self.sample(obs);
                if self.at[i] + SPARK_SPAN >= *self.at.last().expect("never empty") {
                    let r = readings(obs);
                    self.samples.push((obs.now, r));
                }
                if i + 1 == self.at.len() {
                    self.rollout = Some(*rollout);
                    self.stop.set(true);
                }
            }
            Cue::Begin => {
                for (i, &t) in self.at.iter().enumerate() {
                    cx.wake(t, WakeClass::End, CAMERA + i as u64);
                }
                self.inner.on(cue, obs, rollout, cx);
            }
            Cue::Wake(..) | Cue::Note(_) => self.inner.on(cue, obs, rollout, cx),
        }
    }
}

/// Hears the timeline up to the frame's instant, then stops the run.
struct FrameObserver {
    stop: Rc<Cell<bool>>,
    assist: bool,
    log: Vec<(SimTime, String)>,
    truth: TruthView,
    weight: u32,
    first_traffic: Option<SimTime>,
    horizon: bool,
}

impl Observer for FrameObserver {
    fn event(&mut self, at: SimTime, event: &Event) {
        let line = match event {
            Event::RolloutStarted => Some("rollout started".to_owned()),
            Event::Command(c) => Some(format!("{} by {}", command_words(&c.command), c.by.name())),
            Event::InstancesLaunched { version, count, .. } => {
                Some(format!("{count} {} instance(s) launched", version.name()))
            }
            Event::InstancesTerminated { version, count } => {
                Some(format!("{count} {} instance(s) terminated", version.name()))
            }
            Event::WeightSet { weight, .. } => {
                self.weight = *weight;
                if *weight > 0 {
                    self.first_traffic.get_or_insert(at);
                }
                Some(format!("canary weight {weight} %"))
            }
            Event::FlagSet { percent } => Some(format!("feature flags on for {percent} % of users")),
            Event::PreviewStarted { .. } => {
                self.first_traffic.get_or_insert(at);
                Some("preview traffic mirrored to the new fleet".to_owned())
            }
            Event::FaultOnset { fault } => {
                self.truth.fault_onsets.push((at, *fault));
                None
            }
            Event::HarmOnset => {
                self.truth.harm_onset.get_or_insert(at);
                None
            }
            Event::OomKill { count, .. } => Some(format!("{count} instance(s) restarted (OOMKilled)")),
            Event::AnalysisFailed { metric, .. } if self.assist => {
                Some(format!("policy: analysis failed on {}", metric_label(*metric)))
            }
            Event::AnalysisInconclusive { metric } if self.assist => {
                Some(format!("policy: analysis inconclusive on {}", metric_label(*metric)))
            }
            Event::Paged { acts_at } => Some(format!("a human was paged; acts at {}", clock(*acts_at))),
            Event::HotfixDeployed => Some("hotfix deployed".to_owned()),
            Event::MigrationPhase { phase, done } => Some(format!(
                "migration phase {} {}",
                phase.name(),
                if *done { "done" } else { "started" }
            )),
            Event::LastSafeRollbackPoint => Some("contract starts: the last free rollback is now".to_owned()),
            Event::RestoreStarted { records, .. } => Some(format!("restore started ({records} records)")),
            Event::RestoreDone => Some("restore done".to_owned()),
            Event::MigrationComplete => Some("migration complete".to_owned()),
            Event::RollbackCompleted => Some("rollback completed".to_owned()),
            Event::Promoted => Some("promoted: the candidate serves all traffic".to_owned()),
            Event::Horizon => {
                self.horizon = true;
                Some("end of the exercise's horizon".to_owned())
            }
            Event::AnalysisFailed { .. }
            | Event::AnalysisInconclusive { .. }
            | Event::Analysis { .. }
            | Event::BlindStep { .. }
            | Event::StepExtended { .. }
            | Event::Decided { .. }
            | Event::Acting { .. } => None,
        };
        if let Some(line) = line {
            self.log.push((at, line));
        }
    }

    fn proceed(&mut self) -> bool {
        !self.stop.get()
    }

    fn truth(&mut self, at: SimTime, truth: &TruthSoFar) {
        self.truth.as_of = Some(at);
        self.truth.so_far = *truth;
    }
}

/// A metric as the dashboard names it: an on-call's words, never a fault's
/// kind (the trainee's screen must not name the fault).
pub fn metric_label(m: Metric) -> &'static str {
    match m {
        Metric::ErrorRate => "errors",
        Metric::LatencyP50 => "response p50",
        Metric::LatencyP95 => "response p95",
        Metric::LatencyP99 => "response p99",
        Metric::ConversionRate => "conversion",
        Metric::CpuUtilisation => "CPU",
        Metric::MemoryUtilisation => "memory",
        Metric::Restarts => "restarts",
        Metric::ThroughputRatio => "completed share",
        Metric::BackfillLagRows => "backfill lag",
        Metric::MismatchedRows => "mismatched rows",
        Metric::DuplicateWrites => "duplicate writes",
        Metric::ConstraintViolations => "constraint violations",
    }
}

/// `hh:mm:ss` of a simulated instant.
pub fn clock(t: SimTime) -> String {
    let s = t.ms() / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A command in the words of the event log.
pub fn command_words(c: &Command) -> String {
    match c {
        Command::SetWeight { weight } => format!("set weight {weight} %"),
        Command::Page { then, after } => format!("page ({} after {})", then.name(), after),
        Command::BeginPhase { index } => format!("begin phase {}", index + 1),
        Command::FinishPhase { index } => format!("finish phase {}", index + 1),
        other @ (Command::Start
        | Command::NextStep
        | Command::Promote
        | Command::Hold
        | Command::Resume
        | Command::Rollback
        | Command::KillSwitch
        | Command::Hotfix) => other.name().replace('_', " "),
    }
}

/// What the trainee's screen shows at `at`: the exercise run from zero
/// with `commands` (and the policy under `assist`), stopped at `at`.
pub fn frame(sc: &Scenario, policy: &Policy, seed: u64, assist: bool, commands: &[Scripted], at: SimTime) -> Frame {
    let horizon = SimTime::ZERO + sc.duration;
    let at = at.min(horizon);
    let step = sc
        .monitoring
        .scrape_interval
        .max(SimDuration(SPARK_SPAN.ms() / SPARK_POINTS));
    let mut instants = Vec::new();
    let mut t = SimTime::ZERO + step;
    // Alerts are evaluated at every analysis interval from the start, the
    // sparklines at every `step` of the last SPARK_SPAN.
    let every = policy.analysis.interval.max(step);
    while t < at {
        let recent = t + SPARK_SPAN >= at;
        let on_grid = t.ms().is_multiple_of(every.ms());
        if recent || on_grid {
            instants.push(t);
        }
        t = t + step;
    }
    instants.push(at);
    let stop = Rc::new(Cell::new(false));
    let mut inner = SessionController::new(sc, policy, seed, assist, commands.to_vec());
    let mut camera = Camera {
        inner: &mut inner,
        policy,
        at: instants,
        samples: Vec::new(),
        alerts: vec![AlertState::default(); policy.analysis.checks.len()],
        rollout: None,
        stop: Rc::clone(&stop),
    };
    let mut observer = FrameObserver {
        stop,
        assist,
        log: Vec::new(),
        truth: TruthView::default(),
        weight: 0,
        first_traffic: None,
        horizon: false,
    };
    run_with(sc, policy, seed, 0, &mut camera, &mut observer);
    let rollout = camera.rollout.unwrap_or(RolloutStatus {
        stage: Stage::Idle,
        step: None,
        waiting: false,
    });
    let arms = camera.samples.last().map_or([Readings::default(); 2], |s| s.1);
    let alerts = policy
        .analysis
        .checks
        .iter()
        .zip(&camera.alerts)
        .filter(|(c, _)| matches!(c.rule, Rule::Bounds(_)))
        .map(|(c, s)| Alert {
            metric: c.metric,
            rule: rule_words(c),
            firing: s.firing_since.is_some(),
            resolved: s.fired && s.firing_since.is_none(),
            since: s.firing_since,
            canary: s.canary,
            baseline: s.baseline,
        })
        .collect();
    Frame {
        now: at,
        horizon,
        rollout: RolloutView {
            stage: rollout.stage,
            step: rollout.step,
            steps: policy.steps.len(),
            weight: observer.weight,
            waiting: rollout.waiting,
        },
        arms,
        history: camera.samples,
        alerts,
        log: observer.log,
        first_traffic: observer.first_traffic,
        truth: observer.truth,
        ended: observer.horizon || at >= horizon,
    }
}

/// What a bounds check asks of its metric, in words.
fn rule_words(c: &crate::model::Check) -> String {
    let Rule::Bounds(b) = &c.rule else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(x) = b.max_increase {
        parts.push(format!("at most +{x} over stable"));
    }
    if let Some(x) = b.max_ratio {
        parts.push(format!("at most {x}× stable"));
    }
    if let Some(x) = b.max {
        parts.push(format!("at most {x}"));
    }
    if let Some(x) = b.min {
        parts.push(format!("at least {x}"));
    }
    parts.join(", ")
}

/// What the oracle does (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OraclePlan {
    /// A healthy release: promoted as soon as its first step is in force.
    Promote,
    /// Every fault behind a flag: flags killed at the start, then promoted.
    KillAndPromote,
    /// Rolled back the moment the rollout starts.
    Rollback,
}

impl OraclePlan {
    pub fn of(sc: &Scenario) -> OraclePlan {
        let flagged = !sc.faults.is_empty() && sc.faults.iter().all(|f| f.flag.is_some());
        if sc.migration.is_some() {
            OraclePlan::Rollback
        } else if sc.is_healthy() {
            OraclePlan::Promote
        } else if flagged && !sc.candidate.worse_than(&sc.stable) {
            OraclePlan::KillAndPromote
        } else {
            OraclePlan::Rollback
        }
    }
}

/// The oracle as a decider: it starts the rollout at the scenario's
/// instant and carries out its [`OraclePlan`] at once.
pub struct OracleController {
    rollout_at: SimTime,
    plan: OraclePlan,
    promoted: bool,
}

impl OracleController {
    pub fn new(sc: &Scenario) -> OracleController {
        OracleController {
            rollout_at: SimTime::ZERO + sc.rollout_at,
            plan: OraclePlan::of(sc),
            promoted: false,
        }
    }
}

impl Controller for OracleController {
    fn by(&self) -> By {
        By::Oracle
    }

    fn on(&mut self, cue: Cue, _obs: &Observation<'_>, _rollout: &RolloutStatus, cx: &mut Cx) {
        match cue {
            Cue::Begin => cx.wake(self.rollout_at, WakeClass::Control, 0),
            Cue::Wake(..) => {
                cx.command(Command::Start);
                match self.plan {
                    OraclePlan::Rollback => cx.command(Command::Rollback),
                    OraclePlan::KillAndPromote => cx.command(Command::KillSwitch),
                    OraclePlan::Promote => {}
                }
            }
            Cue::Note(crate::control::Note::StepReached { .. } | crate::control::Note::FlagStepApplied { .. })
                if self.plan != OraclePlan::Rollback && !self.promoted =>
            {
                self.promoted = true;
                cx.command(Command::Promote);
            }
            Cue::Note(_) => {}
        }
    }
}

/// The three runs a debrief compares, on the same world.
pub struct Debrief {
    pub trainee: RunResult,
    pub policy: RunResult,
    pub oracle: RunResult,
    /// The trainee's run's timeline (commands by whom, the weights).
    pub trainee_events: Vec<(SimTime, Event)>,
    pub policy_events: Vec<(SimTime, Event)>,
    pub oracle_events: Vec<(SimTime, Event)>,
    /// Alerts that were firing when the trainee moved the rollout forward:
    /// (instant, command, metric).
    pub forward_on_alert: Vec<(SimTime, Command, Metric)>,
}

/// Runs the session to the horizon with its commands, the automated
/// `auto` policy alone, and the oracle, all on `sc` with seed `seed` and
/// `policy`'s mechanics.
pub fn debrief(
    sc: &Scenario,
    policy: &Policy,
    auto: &Policy,
    seed: u64,
    assist: bool,
    commands: &[Scripted],
) -> Debrief {
    let mut events = crate::timeline::Collect::default();
    let mut session = SessionController::new(sc, policy, seed, assist, commands.to_vec());
    let trainee = run_with(sc, policy, seed, 0, &mut session, &mut events);
    let trainee_events = events.0;
    let mut events = crate::timeline::Collect::default();
    let auto_result = crate::engine::run(sc, auto, seed, 0, &mut events);
    let policy_events = events.0;
    let mut events = crate::timeline::Collect::default();
    let mut oracle = OracleController::new(sc);
    let oracle_result = run_with(sc, policy, seed, 0, &mut oracle, &mut events);
    let oracle_events = events.0;
    // Alerts at each forward command of the trainee: the frame at that
    // instant, before the command.
    let mut forward_on_alert = Vec::new();
    for c in commands {
        if c.by == Some(By::Trainee)
            && matches!(
                c.command,
                Command::NextStep | Command::Promote | Command::SetWeight { .. }
            )
        {
            let before: Vec<Scripted> = commands.iter().filter(|x| x.at < c.at).copied().collect();
            let f = frame(sc, policy, seed, assist, &before, c.at);
            for a in f.alerts.iter().filter(|a| a.firing) {
                forward_on_alert.push((c.at, c.command, a.metric));
            }
        }
    }
    Debrief {
        trainee,
        policy: auto_result,
        oracle: oracle_result,
        trainee_events,
        policy_events,
        oracle_events,
        forward_on_alert,
    }
}

/// A duration to the second, for people: `2m30s`, `1h05m`, `45s`.
pub fn span(secs: f64) -> String {
    let s = secs.abs().round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// The first command a controller issued after the rollout started (the
/// start itself, the pipeline's, is not a decision), with its instant.
pub fn first_action(events: &[(SimTime, Event)], by: Option<By>) -> Option<(SimTime, Command)> {
    events.iter().find_map(|(t, e)| {
        if let Event::Command(c) = e
            && c.command != Command::Start
            && by.is_none_or(|b| c.by == b)
        {
            Some((*t, c.command))
        } else {
            None
        }
    })
}

/// What the debrief teaches, each lesson backed by a figure of the runs.
pub fn lessons(
    sc: &Scenario,
    policy: &Policy,
    seed: u64,
    assist: bool,
    commands: &[Scripted],
    d: &Debrief,
) -> Vec<String> {
    let mut out = Vec::new();
    let t = &d.trainee;
    for (at, command, metric) in &d.forward_on_alert {
        out.push(format!(
            "you moved the rollout forward ({}) at {} while the {} alert was firing",
            command_words(command),
            clock(*at),
            metric_label(*metric)
        ));
    }
    if t.false_alarm() {
        let lost = match (d.oracle.promoted_at, t.promoted_at) {
            (Some(o), None) => format!(
                "{} of shipping lost against the oracle, which promoted at {}",
                span((SimTime::ZERO + sc.duration - o).as_secs_f64()),
                clock(o)
            ),
            (Some(o), Some(p)) if p > o => {
                format!("it shipped {} later than the oracle's", span((p - o).as_secs_f64()))
            }
            _ => "a false alarm".to_owned(),
        };
        out.push(format!("you stopped a healthy release: {lost}"));
    }
    if let Some(m) = &t.migration
        && m.rolled_back_after_contract > 0
    {
        out.push(format!(
            "you rolled back after the contract: {} records lost",
            m.records_lost
        ));
    }
    if t.harmed() {
        match t.detection() {
            None if t.escaped() => out.push(format!(
                "the harmful release reached 100 % without a decision: {} failed requests caused by the fault",
                t.blast_failed_requests()
            )),
            None => out.push(format!(
                "no decision on data that showed the harm: {} failed requests caused by the fault",
                t.blast_failed_requests()
            )),
            Some(_) => {}
        }
        if let (Some(mine), Some(theirs)) = (t.detection_time_s(), d.policy.detection_time_s()) {
            let diff = mine - theirs;
            if diff.abs() >= 1.0 {
                out.push(format!(
                    "the policy detected it {} {} than you ({} after the onset against your {})",
                    span(diff),
                    if diff > 0.0 { "sooner" } else { "later" },
                    span(theirs),
                    span(mine)
                ));
            }
        }
        // Would the kill switch, at the instant of the trainee's
        // mitigation, have ended the exposure sooner?
        let flagged = !sc.faults.is_empty() && sc.faults.iter().all(|f| f.flag.is_some());
        if let Some(m) = t.mitigation
            && flagged
            && matches!(m.action, crate::model::Action::Rollback | crate::model::Action::Hotfix)
            && let Some(ended) = m.exposure_ended_at
        {
            let swapped: Vec<Scripted> = commands
                .iter()
                .map(|c| {
                    if c.at == m.decided_at && c.command.action() == Some(m.action) {
                        Scripted {
                            command: Command::KillSwitch,
                            ..*c
                        }
                    } else {
                        *c
                    }
                })
                .collect();
            let mut session = SessionController::new(sc, policy, seed, assist, swapped);
            let alt = run_with(sc, policy, seed, 0, &mut session, &mut crate::engine::Discard);
            if let Some(alt_end) = alt.mitigation.and_then(|m| m.exposure_ended_at)
                && alt_end < ended
            {
                out.push(format!(
                    "the kill switch would have ended exposure {} sooner than the {} you chose",
                    span((ended - alt_end).as_secs_f64()),
                    m.action.name()
                ));
            }
        }
    }
    out.push(format!(
        "blast radius: yours {} failed requests, the policy's {}, the oracle's {}",
        t.blast_failed_requests(),
        d.policy.blast_failed_requests(),
        d.oracle.blast_failed_requests()
    ));
    out
}
