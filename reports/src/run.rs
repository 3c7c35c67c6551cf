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
        "decision": r.decision.map(|d| json!({"action": d.action.name(), "metric": d.metric.name()})),
        "mitigated_at_s": secs(r.mitigated_at_s()),
        "time_to_mitigate_s": secs(r.time_to_mitigate_s()),
        "rollout_duration_s": secs(r.rollout_duration_s()),
        "blast_radius": {
            "failed_requests": r.blast_failed_requests(),
            "slow_requests": r.blast_slow_requests(),
            "users_affected": r.users_affected,
        },
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

/// The flat fields of a run, for one CSV row.
pub const CSV_HEADER: [&str; 23] = [
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
];

fn opt(x: Option<f64>) -> String {
    secs(x).map(|v| v.to_string()).unwrap_or_default()
}

pub fn csv_row(r: &RunResult) -> [String; 23] {
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
        r.decision
            .map(|d| d.action.name().to_owned())
            .unwrap_or_default(),
        r.decision
            .map(|d| d.metric.name().to_owned())
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

/// One timeline event as a JSON object `{"t_s", "type", …}`.
pub fn event_json(at: SimTime, e: &Event) -> Value {
    let t_s = round(at.as_secs_f64(), 3);
    match e {
        Event::RolloutStarted => json!({"t_s": t_s, "type": "rollout_started"}),
        Event::InstancesLaunched { count, ready_at } => {
            json!({"t_s": t_s, "type": "instances_launched", "count": count, "ready_at_s": round(ready_at.as_secs_f64(), 3)})
        }
        Event::WeightSet { step, weight } => {
            json!({"t_s": t_s, "type": "weight_set", "step": step.map(|i| i + 1), "weight": weight})
        }
        Event::FaultOnset { fault } => {
            json!({"t_s": t_s, "type": "fault_onset", "fault": fault.map(|i| i + 1)})
        }
        Event::Analysis { measurements } => json!({
            "t_s": t_s,
            "type": "analysis",
            "measurements": measurements.iter().map(measurement_json).collect::<Vec<_>>(),
        }),
        Event::AnalysisFailed { metric } => {
            json!({"t_s": t_s, "type": "analysis_failed", "metric": metric.name()})
        }
        Event::Decided { action } => {
            json!({"t_s": t_s, "type": "decision", "action": action.name()})
        }
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
        (Metric::ErrorRate, Some(x)) => format!("{:.2}%", x * 100.0),
        (_, Some(x)) => format!("{x:.0}ms"),
    }
}

fn short_metric(metric: Metric) -> &'static str {
    match metric {
        Metric::ErrorRate => "errors",
        Metric::LatencyP50 => "p50",
        Metric::LatencyP95 => "p95",
        Metric::LatencyP99 => "p99",
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
    format!(
        "analysis ({} canary req): {}",
        thousands(n),
        parts.join(" · ")
    )
}

fn event_line(e: &Event) -> String {
    match e {
        Event::RolloutStarted => "rollout started".to_owned(),
        Event::InstancesLaunched { count, ready_at } => {
            let s = if *count == 1 { "" } else { "s" };
            format!("launch {count} candidate instance{s} (ready at {ready_at})")
        }
        Event::WeightSet {
            step: Some(i),
            weight,
        } => format!("step {}: canary weight {weight}%", i + 1),
        Event::WeightSet { step: None, weight } => format!("canary weight {weight}%"),
        Event::FaultOnset { fault: Some(i) } => format!(
            "fault {} onset (ground truth; monitoring only sees its effects)",
            i + 1
        ),
        Event::FaultOnset { fault: None } => "candidate regression onset (ground truth)".to_owned(),
        Event::Analysis { measurements } => analysis_line(measurements),
        Event::AnalysisFailed { metric } => format!("analysis FAILED on {}", metric.name()),
        Event::Decided { action } => format!("decision: {}", action.name()),
        Event::RollbackCompleted => "rollback complete: all traffic on stable".to_owned(),
        Event::Promoted => "promoted: candidate at 100%".to_owned(),
        Event::Horizon => "end of simulated horizon".to_owned(),
    }
}

/// One sentence on how the run ended.
pub fn verdict_line(r: &RunResult) -> String {
    let mut v = match r.outcome {
        Outcome::Promoted if r.fault_onset.is_some() => {
            "PROMOTED — the bad release escaped to 100%".to_owned()
        }
        Outcome::Promoted => "PROMOTED".to_owned(),
        Outcome::RolledBack => "ROLLED BACK".to_owned(),
        Outcome::Held => "HELD — waiting for a human at the horizon".to_owned(),
        Outcome::TimedOut => "TIMED OUT — the horizon came mid-rollout".to_owned(),
    };
    if let Some(d) = r.decision {
        match r.detection_time_s() {
            Some(t) => {
                let _ = write!(v, "; {} detected {} after onset", d.metric.name(), span(t));
            }
            None => v.push_str(&format!(
                "; false alarm on {} (nothing was wrong yet)",
                d.metric.name()
            )),
        }
    }
    if let Some(t) = r.time_to_mitigate_s() {
        let _ = write!(v, "; mitigated {} after onset", span(t));
    }
    v
}

/// The verdict, a short timeline and the blast radius, as text.
pub fn run_table(r: &RunResult, scenario: &Scenario, events: &[(SimTime, Event)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} × {}   seed {} run {}",
        r.scenario, r.policy, r.seed, r.run
    );
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
    for (at, e) in events {
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
