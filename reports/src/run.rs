//! One run: the run object (JSON), its event stream (JSON lines) and the
//! verdict with a short timeline (text).

use std::fmt::Write as _;

use serde_json::{Value, json};
use sim_core::engine::{Event, Measurement, Verdict};
use sim_core::model::{Metric, Scenario};
use sim_core::score::{Outcome, RunResult};
use sim_core::time::SimTime;

use crate::{round, secs, span, thousands};

/// The run object: the public JSON contract of `aviary run --format json`.
pub fn run_json(r: &RunResult) -> Value {
    let steps: Vec<Value> = r
        .steps
        .iter()
        .map(|s| {
            json!({
                "step": s.step.map(|i| i + 1),
                "weight": s.weight,
                "from_s": secs(Some(s.from.as_secs_f64())),
                "to_s": secs(Some(s.to.as_secs_f64())),
                "requests": s.requests,
                "failed": s.failed,
                "error_rate": s.error_rate().map(|e| round(e, 6)),
                "candidate_requests": s.candidate_requests,
                "candidate_failed": s.candidate_failed,
            })
        })
        .collect();
    json!({
        "scenario": r.scenario,
        "policy": r.policy,
        "seed": r.seed,
        "run": r.run,
        "outcome": r.outcome.name(),
        "healthy": r.healthy,
        "fault_onset_s": secs(r.fault_onset_s()),
        "detected_at_s": secs(r.detected_at_s()),
        "detection_time_s": secs(r.detection_time_s()),
        "false_alarm": r.false_alarm(),
        "strategy": r.strategy,
        "decision": r.decision.map(|d| json!({"action": d.action.name(), "metric": d.metric.map(|m| m.name())})),
        "mitigation": r.mitigation.map(|m| json!({
            "action": m.action.name(),
            "decided_at_s": round(m.decided_at.as_secs_f64(), 3),
            "took_s": secs(m.took_s()),
        })),
        "mitigated_at_s": secs(r.mitigated_at_s()),
        "time_to_mitigate_s": secs(r.time_to_mitigate_s()),
        "rollout_duration_s": secs(r.rollout_duration_s()),
        "blast_radius": {
            "failed_requests": r.blast_failed_requests(),
            "slow_requests": r.blast_slow_requests(),
            "users_affected": r.users_affected,
            "lost_conversions": r.lost_conversions,
            "inconsistent_sessions": r.inconsistent_sessions,
        },
        "error_budget_consumed": round(r.error_budget_consumed, 6),
        "extra_instance_hours": round(r.extra_instance_hours, 3),
        "oom_kills": r.oom_kills,
        "migration": r.migration.as_ref().map(migration_json),
        "hotfixed": r.hotfixed,
        "requests": {
            "total": r.requests_total(),
            "candidate": r.candidate.requests,
            "exposed": r.exposed_requests,
        },
        "failed_requests_total": r.failed_requests_total(),
        "slow_requests_total": r.stable.slow + r.candidate.slow,
        "steps": steps,
        "events": r.events,
    })
}

fn migration_json(m: &sim_core::score::MigrationStats) -> Value {
    let at = |t: Option<SimTime>| t.map(|t| round(t.as_secs_f64(), 3));
    json!({
        "records_lost": m.records_lost,
        "records_restored": m.records_restored,
        "restore_duration_s": round(m.restore_duration.as_secs_f64(), 3),
        "backfill_duration_s": m.backfill_duration.map(|d| round(d.as_secs_f64(), 3)),
        "latency_cost_of_backfill": round(m.latency_cost_of_backfill_ms, 3),
        "last_safe_rollback_at_s": at(m.last_safe_rollback_at),
        "contracted_at_s": at(m.contracted_at),
        "rolled_back_after_contract": m.rolled_back_after_contract,
        "duplicate_writes": m.duplicate_writes,
        "constraint_violations": m.constraint_violations,
        "mismatched_rows": m.mismatched_rows,
        "backfill_lag_rows": m.backfill_lag_rows,
        "complete": m.complete,
        "phases": m.phases.iter().map(|(p, start, end)| json!({
            "phase": p.name(), "started_s": round(start.as_secs_f64(), 3), "done_s": at(*end),
        })).collect::<Vec<_>>(),
    })
}

/// The flat fields of a run, for one CSV row.
pub const CSV_HEADER: [&str; 30] = [
    "scenario",
    "policy",
    "seed",
    "run",
    "outcome",
    "healthy",
    "fault_onset_s",
    "detected_at_s",
    "detection_time_s",
    "false_alarm",
    "decision_action",
    "decision_metric",
    "mitigated_at_s",
    "time_to_mitigate_s",
    "rollout_duration_s",
    "failed_requests",
    "slow_requests",
    "users_affected",
    "requests_total",
    "requests_candidate",
    "requests_exposed",
    "failed_requests_total",
    "slow_requests_total",
    "strategy",
    "lost_conversions",
    "inconsistent_sessions",
    "error_budget_consumed",
    "extra_instance_hours",
    "oom_kills",
    "action_took_s",
];

fn opt(x: Option<f64>) -> String {
    secs(x).map(|v| v.to_string()).unwrap_or_default()
}

pub fn csv_row(r: &RunResult) -> [String; 30] {
    [
        r.scenario.clone(),
        r.policy.clone(),
        r.seed.to_string(),
        r.run.to_string(),
        r.outcome.name().to_owned(),
        r.healthy.to_string(),
        opt(r.fault_onset_s()),
        opt(r.detected_at_s()),
        opt(r.detection_time_s()),
        r.false_alarm().to_string(),
        r.decision.map(|d| d.action.name().to_owned()).unwrap_or_default(),
        r.decision
            .and_then(|d| d.metric)
            .map(|m| m.name().to_owned())
            .unwrap_or_default(),
        opt(r.mitigated_at_s()),
        opt(r.time_to_mitigate_s()),
        opt(r.rollout_duration_s()),
        r.blast_failed_requests().to_string(),
        r.blast_slow_requests().to_string(),
        r.users_affected.to_string(),
        r.requests_total().to_string(),
        r.candidate.requests.to_string(),
        r.exposed_requests.to_string(),
        r.failed_requests_total().to_string(),
        (r.stable.slow + r.candidate.slow).to_string(),
        r.strategy.to_owned(),
        r.lost_conversions.to_string(),
        r.inconsistent_sessions.to_string(),
        round(r.error_budget_consumed, 6).to_string(),
        round(r.extra_instance_hours, 3).to_string(),
        r.oom_kills.to_string(),
        opt(r.mitigation.and_then(|m| m.took_s())),
    ]
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
fn command_json(t_s: f64, c: &sim_core::control::Issued) -> Value {
    use sim_core::control::Command;
    let mut v = json!({"t_s": t_s, "type": "command", "command": c.command.name()});
    let o = v.as_object_mut().expect("an object");
    match c.command {
        Command::SetWeight { weight } => {
            o.insert("weight".into(), json!(weight));
        }
        Command::Page { then, after } => {
            o.insert("then".into(), json!(then.name()));
            o.insert("after_ms".into(), json!(after.ms()));
        }
        Command::BeginPhase { index } | Command::FinishPhase { index } => {
            o.insert("phase_index".into(), json!(index));
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
        Event::OomKill { version, count } => {
            json!({"t_s": t_s, "type": "oom_kill", "version": version.name(), "count": count})
        }
        Event::Analysis { measurements } => json!({
            "t_s": t_s,
            "type": "analysis",
            "measurements": measurements.iter().map(measurement_json).collect::<Vec<_>>(),
        }),
        Event::AnalysisFailed { metric } => json!({"t_s": t_s, "type": "analysis_failed", "metric": metric.name()}),
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

/// The event stream as JSON lines, the run object last (with `"type": "run"`).
pub fn run_jsonl(r: &RunResult, events: &[(SimTime, Event)]) -> String {
    let mut out = String::new();
    for (at, e) in events {
        out.push_str(&event_json(*at, e).to_string());
        out.push('\n');
    }
    let mut run = run_json(r);
    run.as_object_mut()
        .expect("run is an object")
        .insert("type".to_owned(), json!("run"));
    out.push_str(&run.to_string());
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

fn analysis_line(measurements: &[Measurement]) -> String {
    let parts: Vec<String> = measurements
        .iter()
        .map(|m| {
            let verdict = match m.verdict {
                Verdict::Pass => "ok".to_owned(),
                Verdict::Fail => format!("FAIL {}", m.failures),
                Verdict::Inconclusive => "inconclusive".to_owned(),
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
            format!("fault {} onset (ground truth; monitoring only sees its effects)", i + 1)
        }
        Event::FaultOnset { fault: None } => "candidate regression onset (ground truth)".to_owned(),
        Event::OomKill { version, count } => format!(
            "{count} {} instance{} OOM-killed, restarting",
            version.name(),
            plural(*count)
        ),
        Event::Analysis { measurements } => analysis_line(measurements),
        Event::AnalysisFailed { metric } => format!("analysis FAILED on {}", metric.name()),
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
        Outcome::Promoted if r.fault_onset.is_some() && !r.hotfixed => {
            "PROMOTED — the bad release escaped to 100%".to_owned()
        }
        Outcome::Promoted if r.hotfixed => "PROMOTED after a hotfix".to_owned(),
        Outcome::Promoted => "PROMOTED".to_owned(),
        Outcome::RolledBack => "ROLLED BACK".to_owned(),
        Outcome::Held => "HELD — waiting for a human at the horizon".to_owned(),
        Outcome::Killed => "KILLED — feature flags turned off, rollout halted".to_owned(),
        Outcome::TimedOut => "TIMED OUT — the horizon came mid-rollout".to_owned(),
        Outcome::EventBudget => "EVENT BUDGET — the run used up its events before the horizon".to_owned(),
        Outcome::Stopped => "STOPPED before the horizon".to_owned(),
    };
    if let Some(d) = r.decision {
        let on = d.metric.map_or("a scripted decision", |m| m.name());
        match r.detection_time_s() {
            Some(t) => {
                let _ = write!(v, "; {on} detected {} after onset", span(t));
            }
            None => v.push_str(&format!("; false alarm on {on} (nothing was wrong yet)")),
        }
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
    let _ = writeln!(out, "verdict: {}", verdict_line(r));
    out.push('\n');
    // The command log is for replay (JSON lines); the timeline shows its effects.
    for (at, e) in events.iter().filter(|(_, e)| !matches!(e, Event::Command(_))) {
        let _ = writeln!(out, "  {at}  {}", event_line(e));
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "blast radius: {} failed requests, {} slow requests (fault-caused), {} users affected",
        thousands(r.blast_failed_requests()),
        thousands(r.blast_slow_requests()),
        thousands(r.users_affected)
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
