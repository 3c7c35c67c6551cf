//! A game day's debrief: the trainee, the automated policy and the oracle
//! on the same world, as JSON (the contract), text, Markdown and a plot;
//! and the ranking of several teams who played the same seed.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use sim_core::control::{By, Command};
use sim_core::engine::Event;
use sim_core::gameday::{Debrief, clock, command_words, first_action};
use sim_core::score::RunResult;
use sim_core::time::SimTime;

use crate::plot::{Drawn, Figure, PlotFormat};
use crate::run::{BlastRadiusRow, RunRow};

/// One side of the debrief (`R` of the contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    pub outcome: &'static str,
    pub first_action_s: Option<f64>,
    pub first_action: Option<String>,
    pub detection_time_s: Option<f64>,
    pub time_to_mitigate_s: Option<f64>,
    pub blast_radius: BlastRadiusRow,
    pub records_lost: u64,
    pub error_budget_consumed: f64,
    pub rollout_duration_s: Option<f64>,
    /// When the candidate reached 100 % (null: it never shipped).
    pub time_to_ship_s: Option<f64>,
    pub false_alarm: bool,
    pub escaped: bool,
}

fn side(r: &RunResult, events: &[(SimTime, Event)], by: Option<By>) -> Side {
    let row = RunRow::new(r);
    let first = first_action(events, by);
    Side {
        outcome: row.outcome,
        first_action_s: first.map(|(t, _)| round(t.as_secs_f64())),
        first_action: first.map(|(_, c)| command_words(&c)),
        detection_time_s: row.detection_time_s,
        time_to_mitigate_s: row.time_to_mitigate_s,
        blast_radius: row.blast_radius,
        records_lost: r.migration.as_ref().map_or(0, |m| m.records_lost),
        error_budget_consumed: row.error_budget_consumed,
        rollout_duration_s: row.rollout_duration_s,
        time_to_ship_s: r.promoted_at.map(|t| round(t.as_secs_f64())),
        false_alarm: row.false_alarm,
        escaped: row.escaped,
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The debrief of one session, ready to print.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DebriefView {
    pub scenario: String,
    pub seed: u64,
    /// The first fault's kind and when it first touched a request (null on
    /// a healthy release, or when it never touched one).
    pub fault: Option<FaultRow>,
    pub trainee: Side,
    pub policy: Side,
    pub oracle: Side,
    pub regret: Regret,
    pub lessons: Vec<String>,
    /// Team or file name, for a ranking.
    #[serde(skip)]
    pub team: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRow {
    pub kind: &'static str,
    pub onset_s: Option<f64>,
}

/// The trainee's figures minus the other side's (positive: the trainee did worse).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regret {
    pub vs_policy: RegretRow,
    pub vs_oracle: RegretRow,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegretRow {
    pub failed_requests: i64,
    pub slow_requests: i64,
    pub users_affected: i64,
    pub lost_conversions: i64,
    pub records_lost: i64,
    /// Later shipping, seconds (null unless both shipped).
    pub time_to_ship_s: Option<f64>,
}

fn regret(t: &Side, o: &Side) -> RegretRow {
    let d = |a: u64, b: u64| a as i64 - b as i64;
    RegretRow {
        failed_requests: d(t.blast_radius.failed_requests, o.blast_radius.failed_requests),
        slow_requests: d(t.blast_radius.slow_requests, o.blast_radius.slow_requests),
        users_affected: d(t.blast_radius.users_affected, o.blast_radius.users_affected),
        lost_conversions: d(t.blast_radius.lost_conversions, o.blast_radius.lost_conversions),
        records_lost: d(t.records_lost, o.records_lost),
        time_to_ship_s: match (t.time_to_ship_s, o.time_to_ship_s) {
            (Some(a), Some(b)) => Some(round(a - b)),
            _ => None,
        },
    }
}

impl DebriefView {
    pub fn new(
        scenario: &sim_core::model::Scenario,
        seed: u64,
        d: &Debrief,
        lessons: Vec<String>,
        team: String,
    ) -> Self {
        let trainee = side(&d.trainee, &d.trainee_events, Some(By::Trainee));
        let policy = side(&d.policy, &d.policy_events, None);
        let oracle = side(&d.oracle, &d.oracle_events, None);
        let fault = scenario.faults.first().map(|f| FaultRow {
            kind: f.effect.kind(),
            onset_s: d.trainee.fault_onset_s().map(round),
        });
        DebriefView {
            scenario: scenario.name.clone(),
            seed,
            fault,
            regret: Regret {
                vs_policy: regret(&trainee, &policy),
                vs_oracle: regret(&trainee, &oracle),
            },
            trainee,
            policy,
            oracle,
            lessons,
            team,
        }
    }

    /// The contract's object.
    pub fn json(&self) -> Value {
        crate::document(serde_json::to_value(self).expect("plain data serialises"))
    }

    /// The debrief for a terminal or a text file.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("debrief: {} (seed {})\n", self.scenario, self.seed));
        match &self.fault {
            Some(f) => out.push_str(&format!(
                "the fault: {}, first touched a request at {}\n",
                f.kind,
                f.onset_s.map_or("never".to_owned(), secs_clock)
            )),
            None => out.push_str("the release was healthy: no fault\n"),
        }
        match (&self.trainee.first_action, self.trainee.first_action_s) {
            (Some(a), Some(t)) => out.push_str(&format!("you first acted at {}: {a}\n", secs_clock(t))),
            _ => out.push_str("you took no action\n"),
        }
        out.push('\n');
        out.push_str(&self.table(false));
        out.push_str("\nlessons:\n");
        for l in &self.lessons {
            out.push_str(&format!("  - {l}\n"));
        }
        out
    }

    /// The debrief as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("## Debrief: {} (seed {})\n\n", self.scenario, self.seed);
        match &self.fault {
            Some(f) => out.push_str(&format!(
                "The fault: **{}**, first touched a request at {}.\n\n",
                f.kind,
                f.onset_s.map_or("never".to_owned(), secs_clock)
            )),
            None => out.push_str("The release was healthy: no fault.\n\n"),
        }
        out.push_str(&self.table(true));
        out.push_str("\n### Lessons\n\n");
        for l in &self.lessons {
            out.push_str(&format!("- {l}\n"));
        }
        out
    }

    fn rows(&self) -> Vec<(&'static str, [String; 3])> {
        let s = [&self.trainee, &self.policy, &self.oracle];
        let opt = |v: Option<f64>| v.map_or("—".to_owned(), secs_span);
        let at = |v: Option<f64>| v.map_or("—".to_owned(), secs_clock);
        vec![
            ("outcome", s.map(|x| x.outcome.to_owned())),
            (
                "first action",
                s.map(|x| match (&x.first_action, x.first_action_s) {
                    (Some(a), Some(t)) => format!("{a} at {}", secs_clock(t)),
                    _ => "—".to_owned(),
                }),
            ),
            ("detection time", s.map(|x| opt(x.detection_time_s))),
            ("time to mitigate", s.map(|x| opt(x.time_to_mitigate_s))),
            ("failed requests", s.map(|x| x.blast_radius.failed_requests.to_string())),
            ("slow requests", s.map(|x| x.blast_radius.slow_requests.to_string())),
            ("users affected", s.map(|x| x.blast_radius.users_affected.to_string())),
            (
                "lost conversions",
                s.map(|x| x.blast_radius.lost_conversions.to_string()),
            ),
            ("records lost", s.map(|x| x.records_lost.to_string())),
            (
                "error budget",
                s.map(|x| format!("{:.3} %", x.error_budget_consumed * 100.0)),
            ),
            ("shipped at", s.map(|x| at(x.time_to_ship_s))),
        ]
    }

    fn table(&self, markdown: bool) -> String {
        let rows = self.rows();
        if markdown {
            let mut out = "| | you | policy | oracle |\n|---|---|---|---|\n".to_owned();
            for (name, v) in rows {
                out.push_str(&format!("| {name} | {} | {} | {} |\n", v[0], v[1], v[2]));
            }
            return out;
        }
        let w = [16, 24, 24, 24];
        let mut out = format!("{:<16}  {:<24}  {:<24}  {:<24}\n", "", "you", "policy", "oracle");
        for (name, v) in rows {
            out.push_str(&format!(
                "{name:<w0$}  {:<w1$}  {:<w2$}  {}\n",
                v[0],
                v[1],
                v[2],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            ));
        }
        out
    }
}

fn secs_clock(s: f64) -> String {
    clock(SimTime::ZERO + sim_core::time::SimDuration::from_secs_f64(s))
}

fn secs_span(s: f64) -> String {
    sim_core::gameday::span(s)
}

/// Several teams who played the same seed, best first: fewest failed
/// requests caused by the fault, then records lost, then the sooner
/// detection, then the sooner shipping.
pub fn ranking(views: &[DebriefView], markdown: bool) -> String {
    let mut order: Vec<&DebriefView> = views.iter().collect();
    let key = |v: &DebriefView| {
        (
            v.trainee.blast_radius.failed_requests,
            v.trainee.records_lost,
            (v.trainee.detection_time_s.unwrap_or(f64::INFINITY) * 1000.0) as u64,
            (v.trainee.time_to_ship_s.unwrap_or(f64::INFINITY) * 1000.0) as u64,
        )
    };
    order.sort_by_key(|v| key(v));
    let mut out = String::new();
    if markdown {
        out.push_str("| rank | team | outcome | failed requests | records lost | detection | shipped at | regret vs oracle (failed) |\n|---|---|---|---|---|---|---|---|\n");
    } else {
        out.push_str(&format!(
            "{:<5} {:<28} {:<20} {:>15} {:>12} {:>10} {:>10} {:>14}\n",
            "rank", "team", "outcome", "failed req", "records", "detection", "shipped", "regret (failed)"
        ));
    }
    for (i, v) in order.iter().enumerate() {
        let t = &v.trainee;
        let det = t.detection_time_s.map_or("—".to_owned(), secs_span);
        let ship = t.time_to_ship_s.map_or("—".to_owned(), secs_clock);
        if markdown {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {det} | {ship} | {} |\n",
                i + 1,
                v.team,
                t.outcome,
                t.blast_radius.failed_requests,
                t.records_lost,
                v.regret.vs_oracle.failed_requests
            ));
        } else {
            out.push_str(&format!(
                "{:<5} {:<28} {:<20} {:>15} {:>12} {:>10} {:>10} {:>14}\n",
                i + 1,
                v.team,
                t.outcome,
                t.blast_radius.failed_requests,
                t.records_lost,
                det,
                ship,
                v.regret.vs_oracle.failed_requests
            ));
        }
    }
    out
}

/// The ranking as JSON: the teams in rank order, each with its debrief.
pub fn ranking_json(views: &[DebriefView]) -> Value {
    crate::document(ranking_json_fields(views))
}

fn ranking_json_fields(views: &[DebriefView]) -> Value {
    let mut order: Vec<&DebriefView> = views.iter().collect();
    order.sort_by_key(|v| {
        (
            v.trainee.blast_radius.failed_requests,
            v.trainee.records_lost,
            (v.trainee.detection_time_s.unwrap_or(f64::INFINITY) * 1000.0) as u64,
            (v.trainee.time_to_ship_s.unwrap_or(f64::INFINITY) * 1000.0) as u64,
        )
    });
    json!({
        "ranking": order.iter().enumerate().map(|(i, v)| {
            let mut o = serde_json::to_value(v).expect("plain data serialises");
            o["rank"] = json!(i + 1);
            o["team"] = json!(v.team);
            o
        }).collect::<Vec<_>>()
    })
}

/// The three runs' weights and decisions, one panel each.
struct Tracks<'a> {
    title: String,
    tracks: [(&'static str, &'a [(SimTime, Event)]); 3],
    horizon: SimTime,
    onset: Option<SimTime>,
}

fn minutes(t: SimTime) -> f64 {
    t.as_secs_f64() / 60.0
}

impl Figure for Tracks<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, ("sans-serif", 22))?;
        let end = minutes(self.horizon);
        let panels = root.split_evenly((3, 1));
        let colors = [BLUE, RGBColor(90, 90, 90), RGBColor(0, 140, 70)];
        for ((panel, (name, events)), color) in panels.iter().zip(self.tracks.iter()).zip(colors) {
            let mut weight = vec![(0.0, 0.0)];
            let mut decisions = Vec::new();
            for (t, e) in *events {
                match e {
                    Event::WeightSet { weight: w, .. } | Event::FlagSet { percent: w } => {
                        let last = weight.last().expect("starts with a point").1;
                        weight.push((minutes(*t), last));
                        weight.push((minutes(*t), f64::from(*w)));
                    }
                    Event::Command(c) if c.command != Command::Start => {
                        decisions.push((minutes(*t), command_words(&c.command)));
                    }
                    _ => {}
                }
            }
            weight.push((end, weight.last().expect("non-empty").1));
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .caption(*name, ("sans-serif", 16))
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..end, 0.0..110.0)?;
            chart
                .configure_mesh()
                .x_desc("minutes")
                .y_desc("weight (%)")
                .label_style(("sans-serif", 12))
                .draw()?;
            chart.draw_series(LineSeries::new(weight, color.stroke_width(2)))?;
            if let Some(onset) = self.onset {
                let x = minutes(onset);
                chart.draw_series(LineSeries::new([(x, 0.0), (x, 110.0)], RED.stroke_width(1)))?;
                chart.draw_series(std::iter::once(Text::new(
                    "harm onset (your run)",
                    (x, 104.0),
                    ("sans-serif", 12).into_font().color(&RED),
                )))?;
            }
            for (x, label) in decisions {
                chart.draw_series(std::iter::once(Circle::new((x, 50.0), 5, BLACK.filled())))?;
                chart.draw_series(std::iter::once(Text::new(
                    label,
                    (x, 60.0),
                    ("sans-serif", 12).into_font(),
                )))?;
            }
        }
        Ok(())
    }
}

/// Writes the debrief's timeline: the trainee's, the policy's and the
/// oracle's weights and decisions side by side, the harm's onset marked.
///
/// # Errors
/// A message for a person (see [`crate::plot::timeline`]).
pub fn plot(path: &Path, view: &DebriefView, d: &Debrief, horizon: SimTime) -> Result<(), String> {
    let format = PlotFormat::of(path)?;
    let figure = Tracks {
        title: format!("debrief: {} seed {}", view.scenario, view.seed),
        tracks: [
            ("you", &d.trainee_events),
            ("the policy", &d.policy_events),
            ("the oracle", &d.oracle_events),
        ],
        horizon,
        onset: d.trainee.fault_onset,
    };
    let bytes = crate::plot::render(&figure, (1200, 800), format)
        .map_err(|e| format!("{e} (the plot for {})", path.display()))?;
    crate::plot::write_beside(path, &bytes)
}
