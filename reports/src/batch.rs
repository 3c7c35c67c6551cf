//! A batch: the scorecard per scenario × policy (JSON and text) and one
//! CSV row per run.

use std::fmt::Write as _;

use serde_json::{Value, json};
use sim_core::batch::{GroupSummary, MeanCi, Spread};
use sim_core::score::{Outcome, RunResult};

use crate::run::{CsvRow, RunRow};
use crate::{round, span};

pub(crate) fn mean_ci(m: &MeanCi) -> Value {
    json!({"mean": round(m.mean, 3), "ci95": [round(m.ci95[0], 3), round(m.ci95[1], 3)]})
}

fn mean_ci_precise(m: &MeanCi) -> Value {
    json!({"mean": round(m.mean, 6), "ci95": [round(m.ci95[0], 6), round(m.ci95[1], 6)]})
}

/// Decision to end of exposure per action, `{"rollback": {median, p90}, …}`.
fn action_times(g: &GroupSummary) -> Value {
    let mut m = serde_json::Map::new();
    for (a, s) in &g.action_time_s {
        m.insert(a.name().to_owned(), spread(&Some(*s)));
    }
    Value::Object(m)
}

pub(crate) fn spread(s: &Option<Spread>) -> Value {
    match s {
        Some(s) => json!({"median": round(s.median, 3), "p90": round(s.p90, 3)}),
        None => json!({"median": null, "p90": null}),
    }
}

pub(crate) fn rate(r: Option<f64>) -> Value {
    r.map_or(Value::Null, |x| json!(round(x, 4)))
}

fn rate_ci(ci: Option<[f64; 2]>) -> Value {
    ci.map_or(Value::Null, |[lo, hi]| json!([round(lo, 4), round(hi, 4)]))
}

/// One group of `aviary batch --format json`.
pub fn group_json(g: &GroupSummary) -> Value {
    let mut outcomes = serde_json::Map::new();
    for (o, n) in Outcome::ALL.iter().zip(g.outcomes) {
        outcomes.insert(o.name().to_owned(), json!(n));
    }
    json!({
        "scenario": g.scenario,
        "policy": g.policy,
        "runs": g.runs,
        "healthy": g.healthy,
        "outcomes": outcomes,
        "fault_runs": g.fault_runs,
        "detected": g.detected,
        "false_alarms": g.false_alarms,
        "escaped": g.escapes,
        "detection_rate": rate(g.detection_rate),
        "false_alarm_rate": rate(g.false_alarm_rate),
        "escape_rate": rate(g.escape_rate),
        "detection_rate_ci95": rate_ci(g.detection_rate_ci95),
        "false_alarm_rate_ci95": rate_ci(g.false_alarm_rate_ci95),
        "escape_rate_ci95": rate_ci(g.escape_rate_ci95),
        "blind_promotions": g.blind_promotions,
        "blind_promotion_rate": rate(g.blind_promotion_rate),
        "detection_time_s": spread(&g.detection_time_s),
        "time_to_mitigate_s": spread(&g.time_to_mitigate_s),
        "blast_radius": {
            "failed_requests": mean_ci(&g.failed_requests),
            "slow_requests": mean_ci(&g.slow_requests),
            "users_affected": mean_ci(&g.users_affected),
            "users_slowed": mean_ci(&g.users_slowed),
            "lost_conversions": mean_ci(&g.lost_conversions),
            "inconsistent_sessions": mean_ci(&g.inconsistent_sessions),
        },
        "error_budget_consumed": mean_ci_precise(&g.error_budget_consumed),
        "extra_instance_hours": mean_ci(&g.extra_instance_hours),
        "action_time_s": action_times(g),
        "rollout_duration_s": spread(&g.rollout_duration_s),
        "migration": g.migration.as_ref().map(|m| json!({
            "records_lost": mean_ci(&m.records_lost),
            "records_restored": mean_ci(&m.records_restored),
            "runs_with_data_lost": m.runs_with_data_lost,
            "rolled_back_after_contract": m.rolled_back_after_contract,
            "restore_duration_s": spread(&m.restore_duration_s),
            "backfill_duration_s": spread(&m.backfill_duration_s),
            "latency_cost_of_backfill": mean_ci(&m.latency_cost_of_backfill),
            "last_safe_rollback_at_s": spread(&m.last_safe_rollback_at_s),
            "completed": m.completed,
        })),
    })
}

/// `{"runs": N, "groups": [...]}`; `runs` counts every run of the batch.
pub fn batch_json(seed: u64, groups: &[GroupSummary]) -> Value {
    crate::document(batch_json_fields(seed, groups))
}

fn batch_json_fields(seed: u64, groups: &[GroupSummary]) -> Value {
    let runs: usize = groups.iter().map(|g| g.runs).sum();
    json!({"runs": runs, "seed": seed, "groups": groups.iter().map(group_json).collect::<Vec<_>>()})
}

pub(crate) fn pct(r: Option<f64>) -> String {
    r.map_or("—".to_owned(), |x| format!("{:.1}%", x * 100.0))
}

fn time(s: &Option<Spread>) -> String {
    s.map_or("—".to_owned(), |s| format!("{} / {}", span(s.median), span(s.p90)))
}

pub(crate) fn count(m: &MeanCi) -> String {
    if m.mean >= 100.0 {
        format!("{:.0}", m.mean)
    } else {
        format!("{:.1}", m.mean)
    }
}

/// One group's cells of the scorecard, in [`batch_table`]'s column order.
fn row(g: &GroupSummary) -> [String; 18] {
    [
        g.scenario.clone(),
        g.policy.clone(),
        g.runs.to_string(),
        pct(g.detection_rate),
        pct(g.false_alarm_rate),
        pct(g.escape_rate),
        pct(g.blind_promotion_rate),
        time(&g.detection_time_s),
        g.time_to_mitigate_s.map_or("—".to_owned(), |s| span(s.median)),
        count(&g.failed_requests),
        count(&g.slow_requests),
        count(&g.users_affected),
        count(&g.lost_conversions),
        count(&g.inconsistent_sessions),
        format!("{:.2}%", g.error_budget_consumed.mean * 100.0),
        format!("{:.1}", g.extra_instance_hours.mean),
        g.migration.as_ref().map_or("—".to_owned(), |m| count(&m.records_lost)),
        g.rollout_duration_s.map_or("—".to_owned(), |s| span(s.median)),
    ]
}

/// The scorecard's columns as `--columns` names them, in table order.
pub const COLUMNS: [&str; 18] = [
    "scenario",
    "policy",
    "runs",
    "detected",
    "false-alarm",
    "escaped",
    "blind",
    "detect",
    "mitigate",
    "failed",
    "slow",
    "users",
    "conv",
    "sessions",
    "budget",
    "inst-h",
    "records",
    "ship",
];

/// The order columns are given up in when a terminal is too narrow for all
/// of them: the first ones are always shown.
const PRIORITY: [&str; 18] = [
    "scenario",
    "policy",
    "runs",
    "detected",
    "false-alarm",
    "escaped",
    "detect",
    "failed",
    "users",
    "ship",
    "blind",
    "mitigate",
    "slow",
    "conv",
    "budget",
    "inst-h",
    "sessions",
    "records",
];

/// The widest set of columns (by [`PRIORITY`]) whose table fits `width`
/// characters, in table order.
pub fn columns_that_fit(groups: &[GroupSummary], width: usize) -> Vec<&'static str> {
    let widths = column_widths(groups);
    let mut chosen: Vec<&'static str> = Vec::new();
    let mut used = 0;
    for name in PRIORITY {
        let i = COLUMNS.iter().position(|c| *c == name).expect("a known column");
        let w = widths[i] + if chosen.is_empty() { 0 } else { 2 };
        if chosen.len() >= 3 && used + w > width {
            break;
        }
        used += w;
        chosen.push(name);
    }
    COLUMNS.into_iter().filter(|c| chosen.contains(c)).collect()
}

fn column_widths(groups: &[GroupSummary]) -> Vec<usize> {
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for g in groups {
        for (w, cell) in widths.iter_mut().zip(row(g)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

const HEADER: [&str; 18] = [
    "scenario",
    "policy",
    "runs",
    "detected",
    "false alarm",
    "escaped",
    "blind",
    "detect (med / p90)",
    "mitigate",
    "failed req",
    "slow req",
    "users hit",
    "lost conv",
    "sessions",
    "budget",
    "extra inst-h",
    "records lost",
    "ship (med)",
];

/// The scorecard as an aligned text table.
pub fn batch_table(seed: u64, groups: &[GroupSummary]) -> String {
    batch_table_of(seed, groups, &COLUMNS)
}

/// [`batch_table`] with only `columns` (names from [`COLUMNS`], shown in
/// table order).
pub fn batch_table_of(seed: u64, groups: &[GroupSummary], columns: &[&str]) -> String {
    let keep: Vec<bool> = COLUMNS.iter().map(|c| columns.contains(c)).collect();
    let pick = |cells: [String; 18]| -> Vec<String> {
        cells
            .into_iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
            .collect()
    };
    let header = pick(HEADER.map(str::to_owned));
    let rows: Vec<Vec<String>> = groups.iter().map(|g| pick(row(g))).collect();
    let left: Vec<bool> = COLUMNS
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(c, _)| *c == "scenario" || *c == "policy")
        .collect();
    let mut out = crate::aligned(&header, &rows, &left);
    let runs: usize = groups.iter().map(|g| g.runs).sum();
    let _ = write!(
        out,
        "\n{runs} runs, master seed {seed}.\n\
         detected     share of harmed runs with a decision taken on data that showed the harm\n\
         false alarm  share of all runs whose first rollback or hold came before monitoring showed any harm\n\
         escaped      share of harmed runs promoted to 100%\n\
         blind        share of all runs promoted past a step whose analyses were all inconclusive\n\
         harmed runs  runs in which the release harmed or put at risk a request (a fault, a schema change, an overload)\n\
         detect       time from the onset (first harmed request) to the decision (median / 90th percentile)\n\
         mitigate     time from fault onset to the last fault-exposed request (median)\n\
         failed req, slow req, users hit, lost conv(ersions), (inconsistent) sessions: fault-caused, mean per run\n\
         budget       fault-caused failures as a share of a 30-day error budget, mean per run\n\
         extra inst-h instance-hours beyond the normal fleet (canary pods, surge, a second fleet)\n\
         records lost records a migration lost (a rollback after the contract without a replay), mean per run\n\
         ship         rollout start to 100% (median)\n"
    );
    out
}

/// One row per run ([`CsvRow`]), after a header line of its field names.
/// Without runs, the empty string (the header comes with the first row).
///
/// # Errors
/// Only if writing to memory fails, which it does not.
pub fn batch_csv(groups: &[Vec<RunResult>]) -> Result<String, csv::Error> {
    let mut out = String::new();
    for (i, r) in groups.iter().flatten().enumerate() {
        out.push_str(&csv_record(r, i == 0)?);
    }
    Ok(out)
}

/// One run's CSV row (`batch --format csv`), after the header line when
/// `header` is set: what a streamed batch writes as each run finishes.
///
/// # Errors
/// Only if writing to memory fails, which it does not.
pub fn csv_record(r: &RunResult, header: bool) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new().has_headers(header).from_writer(Vec::new());
    w.serialize(CsvRow::new(&RunRow::new(r)))?;
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("csv of utf-8 fields is utf-8"))
}

/// One run's line of `batch --format jsonl`: the run object of `run
/// --format json`, on one line.
pub fn jsonl_record(r: &RunResult) -> String {
    let mut line = serde_json::to_string(&RunRow::new(r)).expect("the run object serialises");
    line.push('\n');
    line
}

/// The files of `batch --out DIR`: the JSON, one CSV row per run, the
/// detection-time and blast-radius distributions per policy (PNG and SVG), and
/// `index.html` with the scorecard and the pictures.
///
/// # Errors
/// A plot that cannot be drawn.
pub fn batch_report(
    seed: u64,
    groups: &[GroupSummary],
    runs: &[Vec<RunResult>],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    use crate::charts::cdf;
    use crate::html::{Block, Section, page};
    let json = serde_json::to_string_pretty(&batch_json(seed, groups)).expect("json values serialise") + "\n";
    let csv = batch_csv(runs).map_err(|e| e.to_string())?;
    let mut policies: Vec<&str> = Vec::new();
    for g in groups {
        if !policies.contains(&g.policy.as_str()) {
            policies.push(&g.policy);
        }
    }
    let per_policy = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<(String, Vec<f64>)> {
        policies
            .iter()
            .map(|p| {
                let v = runs.iter().flatten().filter(|r| r.policy == *p).filter_map(f).collect();
                ((*p).to_owned(), v)
            })
            .collect()
    };
    let detection = cdf(
        "Time to detect, per policy (harmed runs of every scenario)",
        "onset to the first informed decision",
        &per_policy(&|r| r.detection_time_s()),
        false,
    )?;
    let blast = cdf(
        "Blast radius, per policy (harmed runs, log scale)",
        "fault-caused failed requests per run",
        &per_policy(&|r| r.harmed().then(|| r.blast_failed_requests() as f64)),
        true,
    )?;
    // The scorecard's columns a page has room for, named as the table
    // names them.
    const PAGE: [usize; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 17];
    let header: Vec<String> = PAGE.iter().map(|&i| HEADER[i].to_owned()).collect();
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let r = row(g);
            PAGE.iter().map(|&i| r[i].clone()).collect()
        })
        .collect();
    let sections = [
        Section {
            title: "Scorecard".to_owned(),
            blocks: vec![
                Block::Table { header, rows },
                Block::Text(
                    "detected and escaped over the harmed runs; false alarm and blind over all runs; failed \
                     requests and users hit are fault-caused, mean per run. The full table is batch.json."
                        .to_owned(),
                ),
            ],
        },
        Section {
            title: "Distributions".to_owned(),
            blocks: vec![
                Block::Image {
                    alt: "time to detect, per policy".to_owned(),
                    png: detection.png.clone(),
                },
                Block::Image {
                    alt: "blast radius, per policy".to_owned(),
                    png: blast.png.clone(),
                },
            ],
        },
    ];
    let n: usize = groups.iter().map(|g| g.runs).sum();
    let html = page(
        "Batch scorecard",
        &format!("{n} runs, master seed {seed}. Files: batch.json, runs.csv and the pictures beside this page."),
        &sections,
        false,
    );
    Ok(vec![
        ("batch.json".to_owned(), json.into_bytes()),
        ("runs.csv".to_owned(), csv.into_bytes()),
        ("detection-time.png".to_owned(), detection.png),
        ("detection-time.svg".to_owned(), detection.svg),
        ("blast-radius.png".to_owned(), blast.png),
        ("blast-radius.svg".to_owned(), blast.svg),
        ("index.html".to_owned(), html.into_bytes()),
    ])
}
