//! One run: the run object (JSON), its event stream (JSON lines) and the
//! verdict with a short timeline (text).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};
use sim_core::engine::{Event, Measurement, Verdict};
use sim_core::model::{Metric, Scenario};
use sim_core::score::{MigrationStats, Outcome, RunResult, StepStats};
use sim_core::time::SimTime;

use crate::{round, secs, span, thousands};

/// The run object: the public JSON contract of `aviary run --format json`,
/// and the one source of the CSV row of `aviary batch --format csv`
/// ([`CsvRow`] takes every column from it).
///
/// Built once from a [`RunResult`]: names, rounding and nulls are decided
/// here and nowhere else. Fields serialise in the order of the JSON contract.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    /// The version of aviary that wrote it ([`crate::AVIARY_VERSION`]).
    pub aviary_version: &'static str,
    /// [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub run: u64,
    pub outcome: &'static str,
    pub healthy: bool,
    pub fault_onset_s: Option<f64>,
    pub detected_at_s: Option<f64>,
    pub detection_time_s: Option<f64>,
    pub false_alarm: bool,
    /// Ground truth: the release harmed someone in this run (a bad release).
    pub harmed: bool,
    /// A decision was taken on data that held harmed requests.
    pub detected: bool,
    /// The harmful release reached 100 %.
    pub escaped: bool,
    /// Steps passed on analyses that were all inconclusive.
    pub blind_steps: u32,
    pub strategy: &'static str,
    pub decision: Option<DecisionRow>,
    pub mitigation: Option<MitigationRow>,
    pub mitigated_at_s: Option<f64>,
    pub time_to_mitigate_s: Option<f64>,
    pub rollout_duration_s: Option<f64>,
    pub blast_radius: BlastRadiusRow,
    pub error_budget_consumed: f64,
    pub extra_instance_hours: f64,
    pub oom_kills: u64,
    pub migration: Option<MigrationRow>,
    pub hotfixed: bool,
    pub requests: RequestsRow,
    pub failed_requests_total: u64,
    pub slow_requests_total: u64,
    pub steps: Vec<StepRow>,
    pub events: u64,
}

/// `decision` of the run object.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DecisionRow {
    pub action: &'static str,
    pub metric: Option<&'static str>,
}

/// `mitigation` of the run object.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MitigationRow {
    pub action: &'static str,
    pub decided_at_s: f64,
    pub took_s: Option<f64>,
}

/// `blast_radius` of the run object: fault-caused harm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BlastRadiusRow {
    pub failed_requests: u64,
    pub slow_requests: u64,
    pub users_affected: u64,
    pub users_slowed: u64,
    pub lost_conversions: u64,
    pub inconsistent_sessions: u64,
}

/// `requests` of the run object.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RequestsRow {
    pub total: u64,
    pub candidate: u64,
    pub exposed: u64,
}

/// `migration` of the run object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MigrationRow {
    pub records_lost: u64,
    pub records_restored: u64,
    pub restore_duration_s: f64,
    pub backfill_duration_s: Option<f64>,
    pub latency_cost_of_backfill: f64,
    pub last_safe_rollback_at_s: Option<f64>,
    pub contracted_at_s: Option<f64>,
    pub rolled_back_after_contract: u32,
    pub duplicate_writes: u64,
    pub constraint_violations: u64,
    pub mismatched_rows: u64,
    pub backfill_lag_rows: u64,
    pub complete: bool,
    pub phases: Vec<PhaseRow>,
}

/// One entry of `migration.phases`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PhaseRow {
    pub phase: &'static str,
    pub started_s: f64,
    pub done_s: Option<f64>,
}

/// One entry of `steps`: ground truth while one weight was in force.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepRow {
    /// 1-based; null before the first step.
    pub step: Option<usize>,
    pub weight: u32,
    pub from_s: f64,
    pub to_s: f64,
    pub requests: u64,
    pub failed: u64,
    pub error_rate: Option<f64>,
    pub candidate_requests: u64,
    pub candidate_failed: u64,
}

fn at_s(t: SimTime) -> f64 {
    round(t.as_secs_f64(), 3)
}

impl RunRow {
    pub fn new(r: &RunResult) -> RunRow {
        RunRow {
            aviary_version: crate::AVIARY_VERSION,
            schema_version: crate::SCHEMA_VERSION,
            scenario: r.scenario.clone(),
            policy: r.policy.clone(),
            seed: r.seed,
            run: r.run,
            outcome: r.outcome.name(),
            healthy: r.healthy,
            fault_onset_s: secs(r.fault_onset_s()),
            detected_at_s: secs(r.detected_at_s()),
            detection_time_s: secs(r.detection_time_s()),
            false_alarm: r.false_alarm(),
            harmed: r.harmed(),
            detected: r.detection().is_some(),
            escaped: r.escaped(),
            blind_steps: r.blind_steps,
            strategy: r.strategy,
            decision: r.decision().map(|d| DecisionRow {
                action: d.action.name(),
                metric: d.metric.map(|m| m.name()),
            }),
            mitigation: r.mitigation.map(|m| MitigationRow {
                action: m.action.name(),
                decided_at_s: at_s(m.decided_at),
                took_s: secs(m.took_s()),
            }),
            mitigated_at_s: secs(r.mitigated_at_s()),
            time_to_mitigate_s: secs(r.time_to_mitigate_s()),
            rollout_duration_s: secs(r.rollout_duration_s()),
            blast_radius: BlastRadiusRow {
                failed_requests: r.blast_failed_requests(),
                slow_requests: r.blast_slow_requests(),
                users_affected: r.users_affected,
                users_slowed: r.users_slowed,
                lost_conversions: r.lost_conversions,
                inconsistent_sessions: r.inconsistent_sessions,
            },
            error_budget_consumed: round(r.error_budget_consumed, 6),
            extra_instance_hours: round(r.extra_instance_hours, 3),
            oom_kills: r.oom_kills,
            migration: r.migration.as_ref().map(MigrationRow::new),
            hotfixed: r.hotfixed,
            requests: RequestsRow {
                total: r.requests_total(),
                candidate: r.candidate.requests,
                exposed: r.exposed_requests,
            },
            failed_requests_total: r.failed_requests_total(),
            slow_requests_total: r.stable.slow + r.candidate.slow,
            steps: r.steps.iter().map(StepRow::new).collect(),
            events: r.events,
        }
    }
}

impl MigrationRow {
    fn new(m: &MigrationStats) -> MigrationRow {
        MigrationRow {
            records_lost: m.records_lost,
            records_restored: m.records_restored,
            restore_duration_s: round(m.restore_duration.as_secs_f64(), 3),
            backfill_duration_s: m.backfill_duration.map(|d| round(d.as_secs_f64(), 3)),
            latency_cost_of_backfill: round(m.latency_cost_of_backfill_ms, 3),
            last_safe_rollback_at_s: m.last_safe_rollback_at.map(at_s),
            contracted_at_s: m.contracted_at.map(at_s),
            rolled_back_after_contract: m.rolled_back_after_contract,
            duplicate_writes: m.duplicate_writes,
            constraint_violations: m.constraint_violations,
            mismatched_rows: m.mismatched_rows,
            backfill_lag_rows: m.backfill_lag_rows,
            complete: m.complete,
            phases: m
                .phases
                .iter()
                .map(|&(phase, started, done)| PhaseRow {
                    phase: phase.name(),
                    started_s: at_s(started),
                    done_s: done.map(at_s),
                })
                .collect(),
        }
    }
}

impl StepRow {
    fn new(s: &StepStats) -> StepRow {
        StepRow {
            step: s.step.map(|i| i + 1),
            weight: s.weight,
            from_s: at_s(s.from),
            to_s: at_s(s.to),
            requests: s.requests,
            failed: s.failed,
            error_rate: s.error_rate().map(|e| round(e, 6)),
            candidate_requests: s.candidate_requests,
            candidate_failed: s.candidate_failed,
        }
    }
}

/// One run as a CSV row: the flat twin of [`RunRow`], in the column order
/// of the CSV contract. The header is these field names.
///
/// Every cell is taken from a [`RunRow`] (so rounding and names cannot
/// drift); [`CsvRow::new`] destructures it field by field, so a new field
/// of the run object does not compile until it is given a column or left
/// out on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CsvRow<'a> {
    pub scenario: &'a str,
    pub policy: &'a str,
    pub seed: u64,
    pub run: u64,
    pub outcome: &'a str,
    pub healthy: bool,
    pub fault_onset_s: Option<CsvNumber>,
    pub detected_at_s: Option<CsvNumber>,
    pub detection_time_s: Option<CsvNumber>,
    pub false_alarm: bool,
    pub decision_action: Option<&'a str>,
    pub decision_metric: Option<&'a str>,
    pub mitigated_at_s: Option<CsvNumber>,
    pub time_to_mitigate_s: Option<CsvNumber>,
    pub rollout_duration_s: Option<CsvNumber>,
    pub failed_requests: u64,
    pub slow_requests: u64,
    pub users_affected: u64,
    pub requests_total: u64,
    pub requests_candidate: u64,
    pub requests_exposed: u64,
    pub failed_requests_total: u64,
    pub slow_requests_total: u64,
    pub strategy: &'a str,
    pub lost_conversions: u64,
    pub inconsistent_sessions: u64,
    pub error_budget_consumed: CsvNumber,
    pub extra_instance_hours: CsvNumber,
    pub oom_kills: u64,
    /// `mitigation.took_s` of the run object.
    pub action_took_s: Option<CsvNumber>,
    pub harmed: bool,
    pub detected: bool,
    pub escaped: bool,
    pub blind_steps: u32,
    pub users_slowed: u64,
}

/// A float in a CSV cell, written the way the CSV has always written it:
/// Rust's `Display` (`2520`, `0.000001`), not the JSON form (`2520.0`,
/// `1e-6`) that `csv`'s own float serialiser would give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CsvNumber(pub f64);

impl Serialize for CsvNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'a> CsvRow<'a> {
    pub fn new(row: &'a RunRow) -> CsvRow<'a> {
        let num = |x: Option<f64>| x.map(CsvNumber);
        let RunRow {
            scenario,
            policy,
            seed,
            run,
            outcome,
            healthy,
            fault_onset_s,
            detected_at_s,
            detection_time_s,
            false_alarm,
            harmed,
            detected,
            escaped,
            blind_steps,
            strategy,
            decision,
            mitigation,
            mitigated_at_s,
            time_to_mitigate_s,
            rollout_duration_s,
            blast_radius:
                BlastRadiusRow {
                    failed_requests,
                    slow_requests,
                    users_affected,
                    users_slowed,
                    lost_conversions,
                    inconsistent_sessions,
                },
            error_budget_consumed,
            extra_instance_hours,
            oom_kills,
            migration: _,
            hotfixed: _,
            requests:
                RequestsRow {
                    total: requests_total,
                    candidate: requests_candidate,
                    exposed: requests_exposed,
                },
            failed_requests_total,
            slow_requests_total,
            steps: _,
            events: _,
            // A CSV row has no place for them: the file's own version is
            // the binary's, and its columns only ever grow.
            aviary_version: _,
            schema_version: _,
        } = row;
        CsvRow {
            scenario,
            policy,
            seed: *seed,
            run: *run,
            outcome,
            healthy: *healthy,
            fault_onset_s: num(*fault_onset_s),
            detected_at_s: num(*detected_at_s),
            detection_time_s: num(*detection_time_s),
            false_alarm: *false_alarm,
            decision_action: decision.map(|d| d.action),
            decision_metric: decision.and_then(|d| d.metric),
            mitigated_at_s: num(*mitigated_at_s),
            time_to_mitigate_s: num(*time_to_mitigate_s),
            rollout_duration_s: num(*rollout_duration_s),
            failed_requests: *failed_requests,
            slow_requests: *slow_requests,
            users_affected: *users_affected,
            requests_total: *requests_total,
            requests_candidate: *requests_candidate,
            requests_exposed: *requests_exposed,
            failed_requests_total: *failed_requests_total,
            slow_requests_total: *slow_requests_total,
            strategy,
            lost_conversions: *lost_conversions,
            inconsistent_sessions: *inconsistent_sessions,
            error_budget_consumed: CsvNumber(*error_budget_consumed),
            extra_instance_hours: CsvNumber(*extra_instance_hours),
            oom_kills: *oom_kills,
            action_took_s: num(mitigation.and_then(|m| m.took_s)),
            harmed: *harmed,
            detected: *detected,
            escaped: *escaped,
            blind_steps: *blind_steps,
            users_slowed: *users_slowed,
        }
    }
}

fn measurement_json(m: &Measurement) -> Value {
    let digits = if m.metric == Metric::ErrorRate { 6 } else { 3 };
    json!({
        "metric": m.metric.name(),
        "candidate": m.candidate.map(|v| round(v, digits)),
        "stable": m.stable.map(|v| round(v, digits)),
        "candidate_requests": m.candidate_requests,
        "verdict": m.verdict.name(),
        "failures": m.failures,
    })
}

/// A command line: `{"t_s", "type": "command", "command", <its arguments>, "by"}`,
/// plus the metric whose check prompted a decision. A run's command lines
/// are a script (`aviary run --script`).
pub fn command_json(t_s: f64, c: &sim_core::control::Issued) -> Value {
    use sim_core::control::Command;
    let mut v = json!({"t_s": t_s, "type": "command", "command": c.command.name()});
    let o = v.as_object_mut().expect("an object");
    match c.command {
        Command::SetWeight { weight } => {
            o.insert("weight".into(), json!(weight));
        }
        Command::Page { then, after } => {
            o.insert("then".into(), json!(then.name()));
            o.insert("after_s".into(), json!(round(after.as_secs_f64(), 3)));
        }
        Command::BeginPhase { index } | Command::FinishPhase { index } => {
            o.insert("phase".into(), json!(index + 1));
        }
        Command::Start
        | Command::NextStep
        | Command::Promote
        | Command::Hold
        | Command::Resume
        | Command::Rollback
        | Command::KillSwitch
        | Command::Hotfix => {}
    }
    o.insert("by".into(), json!(c.by.name()));
    if let Some(m) = c.metric {
        o.insert("metric".into(), json!(m.name()));
    }
    v
}

/// One timeline event as a JSON object `{"t_s", "type", …}`.
pub fn event_json(at: SimTime, e: &Event) -> Value {
    let t_s = round(at.as_secs_f64(), 3);
    let secs_of = |t: &SimTime| round(t.as_secs_f64(), 3);
    match e {
        Event::RolloutStarted => json!({"t_s": t_s, "type": "rollout_started"}),
        Event::Command(c) => command_json(t_s, c),
        Event::InstancesLaunched {
            version,
            count,
            ready_at,
        } => json!({
            "t_s": t_s, "type": "instances_launched", "version": version.name(), "count": count, "ready_at_s": secs_of(ready_at),
        }),
        Event::InstancesTerminated { version, count } => {
            json!({"t_s": t_s, "type": "instances_terminated", "version": version.name(), "count": count})
        }
        Event::WeightSet { step, weight } => {
            json!({"t_s": t_s, "type": "weight_set", "step": step.map(|i| i + 1), "weight": weight})
        }
        Event::FlagSet { percent } => json!({"t_s": t_s, "type": "flag_set", "percent": percent}),
        Event::PreviewStarted { share } => json!({"t_s": t_s, "type": "preview_started", "share": share}),
        Event::FaultOnset { fault } => json!({"t_s": t_s, "type": "fault_onset", "fault": fault.map(|i| i + 1)}),
        Event::HarmOnset => json!({"t_s": t_s, "type": "harm_onset"}),
        Event::AnalysisInconclusive { metric } => {
            json!({"t_s": t_s, "type": "analysis_inconclusive", "metric": metric.name()})
        }
        Event::BlindStep { step } => json!({"t_s": t_s, "type": "blind_step", "step": step.map(|i| i + 1)}),
        Event::StepExtended { step } => json!({"t_s": t_s, "type": "step_extended", "step": step + 1}),
        Event::OomKill { version, count } => {
            json!({"t_s": t_s, "type": "oom_kill", "version": version.name(), "count": count})
        }
        Event::Analysis { measurements } => json!({
            "t_s": t_s,
            "type": "analysis",
            "measurements": measurements.iter().map(measurement_json).collect::<Vec<_>>(),
        }),
        Event::AnalysisFailed { metric, group } => {
            json!({"t_s": t_s, "type": "analysis_failed", "metric": metric.name(), "group": group})
        }
        Event::Decided { action } => json!({"t_s": t_s, "type": "decision", "action": action.name()}),
        Event::Paged { acts_at } => json!({"t_s": t_s, "type": "paged", "acts_at_s": secs_of(acts_at)}),
        Event::Acting { action } => json!({"t_s": t_s, "type": "acting", "action": action.name()}),
        Event::HotfixDeployed => json!({"t_s": t_s, "type": "hotfix_deployed"}),
        Event::MigrationPhase { phase, done } => json!({
            "t_s": t_s, "type": if *done { "migration_phase_done" } else { "migration_phase_started" }, "phase": phase.name(),
        }),
        Event::LastSafeRollbackPoint => json!({"t_s": t_s, "type": "last_safe_rollback_point"}),
        Event::RestoreStarted { until, records, replay } => json!({
            "t_s": t_s, "type": "restore_started", "until_s": secs_of(until), "records": records, "replay": replay,
        }),
        Event::RestoreDone => json!({"t_s": t_s, "type": "restore_done"}),
        Event::MigrationComplete => json!({"t_s": t_s, "type": "migration_complete"}),
        Event::RollbackCompleted => json!({"t_s": t_s, "type": "rollback_completed"}),
        Event::Promoted => json!({"t_s": t_s, "type": "promoted"}),
        Event::Horizon => json!({"t_s": t_s, "type": "horizon"}),
    }
}

/// The run object as the last line of `--format jsonl`: its keys, then `"type": "run"`.
#[derive(Serialize)]
struct JsonlRun<'a> {
    #[serde(flatten)]
    run: &'a RunRow,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The event stream as JSON lines, the run object last (with `"type": "run"`).
pub fn run_jsonl(r: &RunResult, events: &[(SimTime, Event)]) -> String {
    let mut out = String::new();
    for (at, e) in events {
        out.push_str(&event_json(*at, e).to_string());
        out.push('\n');
    }
    let run = JsonlRun {
        run: &RunRow::new(r),
        kind: "run",
    };
    out.push_str(&serde_json::to_string(&run).expect("the run object serialises"));
    out.push('\n');
    out
}

fn metric_value(metric: Metric, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "—".to_owned(),
        (Metric::ErrorRate | Metric::ConversionRate, Some(x)) => format!("{:.2}%", x * 100.0),
        (Metric::ThroughputRatio | Metric::CpuUtilisation | Metric::MemoryUtilisation, Some(x)) => {
            format!("{:.0}%", x * 100.0)
        }
        (
            Metric::Restarts
            | Metric::BackfillLagRows
            | Metric::DuplicateWrites
            | Metric::ConstraintViolations
            | Metric::MismatchedRows,
            Some(x),
        ) => thousands(x.round() as u64),
        (_, Some(x)) => format!("{x:.0}ms"),
    }
}

fn short_metric(metric: Metric) -> &'static str {
    match metric {
        Metric::ErrorRate => "errors",
        Metric::LatencyP50 => "p50",
        Metric::LatencyP95 => "p95",
        Metric::LatencyP99 => "p99",
        Metric::ConversionRate => "conversion",
        Metric::ThroughputRatio => "throughput",
        Metric::CpuUtilisation => "cpu",
        Metric::MemoryUtilisation => "memory",
        Metric::Restarts => "restarts",
        Metric::BackfillLagRows => "lag",
        Metric::DuplicateWrites => "duplicates",
        Metric::ConstraintViolations => "violations",
        Metric::MismatchedRows => "mismatched",
    }
}

/// Colour for a terminal: the words stay, a colour only underlines them
/// (a failed check red, a pass green, inconclusive yellow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paint {
    pub colour: bool,
}

impl Paint {
    fn with(self, colour: anstyle::AnsiColor, text: &str) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let style = anstyle::Style::new().fg_color(Some(colour.into())).bold();
        format!("{}{text}{}", style.render(), style.render_reset())
    }

    fn bad(self, text: &str) -> String {
        self.with(anstyle::AnsiColor::Red, text)
    }

    fn good(self, text: &str) -> String {
        self.with(anstyle::AnsiColor::Green, text)
    }

    fn unsure(self, text: &str) -> String {
        self.with(anstyle::AnsiColor::Yellow, text)
    }
}

fn analysis_line(measurements: &[Measurement], paint: Paint) -> String {
    let parts: Vec<String> = measurements
        .iter()
        .map(|m| {
            let verdict = match m.verdict {
                Verdict::Pass => paint.good("ok"),
                Verdict::Fail => paint.bad(&format!("FAIL {}", m.failures)),
                Verdict::Inconclusive => paint.unsure("inconclusive"),
            };
            format!(
                "{} {} vs {} {verdict}",
                short_metric(m.metric),
                metric_value(m.metric, m.candidate),
                metric_value(m.metric, m.stable)
            )
        })
        .collect();
    let n = measurements.first().map_or(0, |m| m.candidate_requests);
    format!("analysis ({} canary req): {}", thousands(n), parts.join(" · "))
}

fn event_line(e: &Event) -> String {
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    match e {
        Event::RolloutStarted => "rollout started".to_owned(),
        Event::Command(c) => format!("command: {} ({})", c.command.name(), c.by.name()),
        Event::InstancesLaunched {
            version,
            count,
            ready_at,
        } => {
            format!(
                "launch {count} {} instance{} (ready at {ready_at})",
                version.name(),
                plural(*count)
            )
        }
        Event::InstancesTerminated { version, count } => {
            format!("terminate {count} {} instance{}", version.name(), plural(*count))
        }
        Event::WeightSet { step: Some(i), weight } => format!("step {}: canary weight {weight}%", i + 1),
        Event::WeightSet { step: None, weight } => format!("candidate weight {weight}%"),
        Event::FlagSet { percent } => format!("feature flags on for {percent}% of users"),
        Event::PreviewStarted { share } => {
            format!("preview: {:.0}% of traffic mirrored to the new fleet", share * 100.0)
        }
        Event::FaultOnset { fault: Some(i) } => {
            format!(
                "fault {} active (ground truth; monitoring only sees its effects)",
                i + 1
            )
        }
        Event::FaultOnset { fault: None } => "candidate regression active (ground truth)".to_owned(),
        Event::HarmOnset => "onset: the first harmed request is served (ground truth)".to_owned(),
        Event::AnalysisInconclusive { metric } => {
            format!(
                "analysis INCONCLUSIVE on {}: over the inconclusive limit",
                metric.name()
            )
        }
        Event::BlindStep { step: Some(i) } => {
            format!("step {} passed BLIND: every analysis in it was inconclusive", i + 1)
        }
        Event::BlindStep { step: None } => "preview passed BLIND: every analysis in it was inconclusive".to_owned(),
        Event::StepExtended { step } => {
            format!("step {} extended: no analysis in it was conclusive yet", step + 1)
        }
        Event::OomKill { version, count } => format!(
            "{count} {} instance{} OOM-killed, restarting",
            version.name(),
            plural(*count)
        ),
        Event::Analysis { measurements } => analysis_line(measurements, Paint::default()),
        Event::AnalysisFailed { metric, group: None } => format!("analysis FAILED on {}", metric.name()),
        Event::AnalysisFailed {
            metric,
            group: Some(group),
        } => format!("analysis FAILED on {} (score group {group})", metric.name()),
        Event::Decided { action } => format!("decision: {}", action.name()),
        Event::Paged { acts_at } => format!("paged a human; acknowledged and acting at {acts_at}"),
        Event::Acting { action } => format!("acting: {}", action.name()),
        Event::HotfixDeployed => "hotfix deployed; the canary starts again".to_owned(),
        Event::MigrationPhase { phase, done: false } => format!("migration: {} started", phase.name()),
        Event::MigrationPhase { phase, done: true } => format!("migration: {} done", phase.name()),
        Event::LastSafeRollbackPoint => {
            "──── last safe rollback point: after this, a rollback needs a restore ────".to_owned()
        }
        Event::RestoreStarted {
            until,
            records,
            replay: true,
        } => {
            format!(
                "restore: replaying {} records written in the new shape (until {until})",
                thousands(*records)
            )
        }
        Event::RestoreStarted {
            until,
            records,
            replay: false,
        } => {
            format!(
                "restore from backup until {until}: {} records written since the contract are lost",
                thousands(*records)
            )
        }
        Event::RestoreDone => "restore done: the old shape is back".to_owned(),
        Event::MigrationComplete => "migration complete".to_owned(),
        Event::RollbackCompleted => "rollback complete: all traffic on stable".to_owned(),
        Event::Promoted => "promoted: candidate at 100%".to_owned(),
        Event::Horizon => "end of simulated horizon".to_owned(),
    }
}

/// One sentence on how the run ended.
pub fn verdict_line(r: &RunResult) -> String {
    let mut v = match r.outcome {
        Outcome::Promoted if r.escaped() => "PROMOTED — the bad release escaped to 100%".to_owned(),
        Outcome::Promoted if r.hotfixed => "PROMOTED after a hotfix".to_owned(),
        Outcome::Promoted => "PROMOTED".to_owned(),
        Outcome::RolledBack => "ROLLED BACK".to_owned(),
        Outcome::Held => "HELD — waiting for a human at the horizon".to_owned(),
        Outcome::Killed => "KILLED — feature flags turned off, rollout halted".to_owned(),
        Outcome::TimedOut => "TIMED OUT — the horizon came mid-rollout".to_owned(),
        Outcome::Truncated => "TRUNCATED — the run used up its event budget before the horizon".to_owned(),
        Outcome::Stopped => "STOPPED before the horizon".to_owned(),
    };
    let on = |d: sim_core::score::Decision| d.metric.map_or("a scripted decision", |m| m.name());
    if r.false_alarm()
        && let Some(d) = r.decisions.first()
    {
        let _ = write!(v, "; false alarm on {} (monitoring showed no harm yet)", on(*d));
    }
    if let (Some(d), Some(t)) = (r.detection(), r.detection_time_s()) {
        let _ = write!(v, "; {} detected {} after onset", on(d), span(t));
    }
    if r.blind_steps > 0 {
        let _ = write!(v, "; {} step(s) passed blind", r.blind_steps);
    }
    if let Some(t) = r.time_to_mitigate_s() {
        let _ = write!(v, "; mitigated {} after onset", span(t));
    } else if r.fault_onset.is_some() {
        v.push_str("; never mitigated");
    }
    v
}

/// The verdict, a short timeline and the blast radius, as text.
pub fn run_table(r: &RunResult, scenario: &Scenario, events: &[(SimTime, Event)]) -> String {
    run_table_painted(r, scenario, events, Paint::default())
}

/// [`run_table`], coloured for a terminal when `paint` says so.
pub fn run_table_painted(r: &RunResult, scenario: &Scenario, events: &[(SimTime, Event)], paint: Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} × {}   seed {} run {}", r.scenario, r.policy, r.seed, r.run);
    let _ = writeln!(
        out,
        "{} rps, {} users, {} instances, horizon {}",
        thousands(scenario.traffic.rps.round() as u64),
        thousands(scenario.traffic.users),
        scenario.fleet.instances,
        scenario.duration
    );
    let verdict = verdict_line(r);
    let head = verdict.find([';', '—']).map_or(verdict.len(), |i| i);
    let (head, rest) = verdict.split_at(head);
    let head = match r.outcome {
        _ if r.escaped() || r.false_alarm() => paint.bad(head),
        Outcome::Promoted | Outcome::RolledBack | Outcome::Killed => paint.good(head),
        Outcome::Held | Outcome::TimedOut | Outcome::Truncated | Outcome::Stopped => paint.unsure(head),
    };
    let _ = writeln!(out, "verdict: {head}{rest}");
    out.push('\n');
    // The command log is for replay (JSON lines); the timeline shows its effects.
    for (at, e) in events.iter().filter(|(_, e)| !matches!(e, Event::Command(_))) {
        let line = match e {
            Event::Analysis { measurements } => analysis_line(measurements, paint),
            Event::AnalysisFailed { .. } => paint.bad(&event_line(e)),
            Event::AnalysisInconclusive { .. } | Event::BlindStep { .. } => paint.unsure(&event_line(e)),
            _ => event_line(e),
        };
        let _ = writeln!(out, "  {at}  {line}");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "blast radius: {} failed requests, {} slow requests (fault-caused), {} users affected, {} slowed",
        thousands(r.blast_failed_requests()),
        thousands(r.blast_slow_requests()),
        thousands(r.users_affected),
        thousands(r.users_slowed)
    );
    if r.lost_conversions > 0 || r.inconsistent_sessions > 0 || r.oom_kills > 0 {
        let _ = writeln!(
            out,
            "              {} lost conversions, {} inconsistent sessions, {} OOM kills",
            thousands(r.lost_conversions),
            thousands(r.inconsistent_sessions),
            thousands(r.oom_kills)
        );
    }
    if let Some(m) = &r.migration {
        let safe = m
            .last_safe_rollback_at
            .map_or("never reached (no contract)".to_owned(), |t| t.to_string());
        let _ = writeln!(
            out,
            "migration: last safe rollback point {safe}; {} records lost, {} restored; backfill {}, +{:.1} ms per request while it ran",
            thousands(m.records_lost),
            thousands(m.records_restored),
            m.backfill_duration
                .map_or("not finished".to_owned(), |d| span(d.as_secs_f64())),
            m.latency_cost_of_backfill_ms
        );
    }
    if let Some(m) = r.mitigation {
        let took = m.took_s().map_or("exposure never ended".to_owned(), |t| {
            format!("exposure ended {} later", span(t))
        });
        let _ = writeln!(out, "action: {} ({took})", m.action.name());
    }
    if r.extra_instance_hours > 0.0 || r.error_budget_consumed > 0.0 {
        let _ = writeln!(
            out,
            "cost: {:.1} extra instance-hours; {:.2}% of the 30-day error budget",
            r.extra_instance_hours,
            r.error_budget_consumed * 100.0
        );
    }
    let _ = writeln!(
        out,
        "requests: {} total, {} to the candidate, {} failed in all",
        thousands(r.requests_total()),
        thousands(r.candidate.requests),
        thousands(r.failed_requests_total())
    );
    if let Some(d) = r.rollout_duration_s() {
        let _ = writeln!(out, "rollout duration: {}", span(d));
    }
    out
}
