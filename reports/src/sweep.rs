//! `aviary sweep`: one row per cell of the grid, the Pareto front and the
//! winner, as JSON, a text table, CSV or Markdown.

use serde_json::{Value, json};
use sim_core::batch::GroupSummary;
use sim_core::sweep::SuiteScores;

use crate::batch::{count, group_json, mean_ci, pct, rate, spread};
use crate::{round, span};

/// One cell: the value of each varied key (as written), its scores and
/// its groups.
pub struct Cell {
    pub vary: Vec<(String, String)>,
    pub scores: SuiteScores,
    pub groups: Vec<GroupSummary>,
}

/// A sweep's result.
pub struct Sweep<'a> {
    pub policy: &'a str,
    pub seeds: u64,
    pub seed: u64,
    pub cells: &'a [Cell],
    pub pareto: &'a [usize],
    pub winner: Option<usize>,
    /// The objective as a sentence, if the suite has one.
    pub objective: Option<String>,
    /// The winner against the base policy, as `compare` prints it.
    pub winner_vs_base: Option<Value>,
    pub verdicts: Vec<String>,
    /// `Some((finished, total))`: the sweep was interrupted and `cells`
    /// holds only the cells that finished.
    pub incomplete: Option<(usize, usize)>,
}

fn scores_json(s: &SuiteScores) -> serde_json::Map<String, Value> {
    let v = json!({
        "runs": s.runs,
        "false_alarm_rate": rate(s.false_alarm_rate),
        "detection_rate": rate(s.detection_rate),
        "escape_rate": rate(s.escape_rate),
        "blind_promotion_rate": rate(s.blind_promotion_rate),
        "detection_time_s": spread(&s.detection_time_s),
        "blast_radius": {
            "failed_requests": mean_ci(&s.failed_requests),
            "slow_requests": mean_ci(&s.slow_requests),
            "users_affected": mean_ci(&s.users_affected),
            "lost_conversions": mean_ci(&s.lost_conversions),
            "records_lost": mean_ci(&s.records_lost),
        },
        "time_to_ship_s": {"median": s.time_to_ship_s.map(|x| round(x, 3))},
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// The `sweep --format json` document.
pub fn sweep_json(s: &Sweep<'_>) -> Value {
    crate::document(sweep_json_fields(s))
}

fn sweep_json_fields(s: &Sweep<'_>) -> Value {
    let cells: Vec<Value> = s
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut m = serde_json::Map::new();
            let vary: serde_json::Map<String, Value> = c
                .vary
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            m.insert("vary".into(), Value::Object(vary));
            m.extend(scores_json(&c.scores));
            m.insert("pareto".into(), json!(s.pareto.contains(&i)));
            m.insert(
                "groups".into(),
                json!(c.groups.iter().map(group_json).collect::<Vec<_>>()),
            );
            Value::Object(m)
        })
        .collect();
    let mut v = json!({
        "policy": s.policy,
        "seeds": s.seeds,
        "seed": s.seed,
        "cells": cells,
        "pareto": s.pareto,
        "winner": s.winner,
        "objective": s.objective,
        "winner_vs_base": s.winner_vs_base,
        "verdicts": s.verdicts,
    });
    // Only an interrupted sweep has the key: a finished one is the same
    // bytes whether or not it was ever interrupted.
    if let Some((finished, total)) = s.incomplete {
        v["incomplete"] = json!({"cells_finished": finished, "cells_total": total});
    }
    v
}

fn rows(s: &Sweep<'_>) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = s
        .cells
        .first()
        .map_or(Vec::new(), |c| c.vary.iter().map(|(k, _)| k.clone()).collect());
    header.extend(
        [
            "false alarm",
            "detected",
            "escaped",
            "blind",
            "detect (med)",
            "failed req",
            "slow req",
            "users hit",
            "ship (med)",
            "pareto",
        ]
        .map(str::to_owned),
    );
    let rows = s
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row: Vec<String> = c.vary.iter().map(|(_, v)| v.clone()).collect();
            let sc = &c.scores;
            row.extend([
                pct(sc.false_alarm_rate),
                pct(sc.detection_rate),
                pct(sc.escape_rate),
                pct(sc.blind_promotion_rate),
                sc.detection_time_s.map_or("—".to_owned(), |t| span(t.median)),
                count(&sc.failed_requests),
                count(&sc.slow_requests),
                count(&sc.users_affected),
                sc.time_to_ship_s.map_or("—".to_owned(), span),
                match (s.pareto.contains(&i), s.winner == Some(i)) {
                    (_, true) => "winner".to_owned(),
                    (true, false) => "yes".to_owned(),
                    (false, false) => String::new(),
                },
            ]);
            row
        })
        .collect();
    (header, rows)
}

/// An aligned text table, the notes under it.
pub fn sweep_table(s: &Sweep<'_>) -> String {
    let (header, rows) = rows(s);
    let n = header.len();
    let varied = n - 10;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            if i < varied || i == n - 1 {
                l.push_str(&format!("{c}{pad}  "));
            } else {
                l.push_str(&format!("{pad}{c}  "));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = format!(
        "sweep of {}: {} cells × {} seeds, master seed {}\n\n",
        s.policy,
        s.cells.len(),
        s.seeds,
        s.seed
    );
    out.push_str(&line(&header));
    out.push_str(&line(&widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>()));
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str(
        "\nfalse alarm over the healthy scenarios' runs; detected, escaped, detect, failed/slow req and users hit \
         over the faulty scenarios' runs (rates over harmed runs, counts mean per run); ship over the healthy \
         scenarios' promoted runs; pareto: no other cell is as good on failed req, false alarm and ship and \
         better on one.\n",
    );
    if let Some(o) = &s.objective {
        out.push_str(&format!("objective: {o}\n"));
    }
    for v in &s.verdicts {
        out.push_str(&format!("- {v}\n"));
    }
    out
}

/// The same rows as Markdown.
pub fn sweep_markdown(s: &Sweep<'_>) -> String {
    let esc = |t: &str| t.replace('|', "\\|");
    let (header, rows) = rows(s);
    let mut out = format!(
        "### Sweep of {}\n\n{} cells × {} seeds, master seed {}.\n\n",
        esc(s.policy),
        s.cells.len(),
        s.seeds,
        s.seed
    );
    out.push_str(&format!(
        "| {} |\n",
        header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")
    ));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    if let Some(o) = &s.objective {
        out.push_str(&format!("\nObjective: {}\n", esc(o)));
    }
    for v in &s.verdicts {
        out.push_str(&format!("- {}\n", esc(v)));
    }
    out
}

/// One row per cell, machine-readable.
///
/// # Errors
/// Only if writing to memory fails, which it does not.
pub fn sweep_csv(s: &Sweep<'_>) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = s
        .cells
        .first()
        .map_or(Vec::new(), |c| c.vary.iter().map(|(k, _)| k.clone()).collect());
    header.extend(
        [
            "runs",
            "false_alarm_rate",
            "detection_rate",
            "escape_rate",
            "blind_promotion_rate",
            "detection_time_median_s",
            "failed_requests",
            "slow_requests",
            "users_affected",
            "lost_conversions",
            "records_lost",
            "time_to_ship_median_s",
            "pareto",
            "winner",
        ]
        .map(str::to_owned),
    );
    w.write_record(&header)?;
    let opt = |v: Option<f64>, d: i32| v.map_or(String::new(), |x| round(x, d).to_string());
    for (i, c) in s.cells.iter().enumerate() {
        let sc = &c.scores;
        let mut row: Vec<String> = c.vary.iter().map(|(_, v)| v.clone()).collect();
        row.extend([
            sc.runs.to_string(),
            opt(sc.false_alarm_rate, 4),
            opt(sc.detection_rate, 4),
            opt(sc.escape_rate, 4),
            opt(sc.blind_promotion_rate, 4),
            opt(sc.detection_time_s.map(|t| t.median), 3),
            opt(Some(sc.failed_requests.mean), 3),
            opt(Some(sc.slow_requests.mean), 3),
            opt(Some(sc.users_affected.mean), 3),
            opt(Some(sc.lost_conversions.mean), 3),
            opt(Some(sc.records_lost.mean), 3),
            opt(sc.time_to_ship_s, 3),
            s.pareto.contains(&i).to_string(),
            (s.winner == Some(i)).to_string(),
        ]);
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("csv of UTF-8 strings"))
}

/// A heatmap's file stem, title, score and how a value is shown.
type HeatmapScore = (
    &'static str,
    &'static str,
    fn(&SuiteScores) -> Option<f64>,
    fn(f64) -> String,
);

/// The files of `sweep --out DIR`: the JSON, the CSV, the Pareto scatter,
/// a heatmap per score over the first two varied keys, and `index.html`
/// embedding them.
///
/// # Errors
/// A plot that cannot be drawn.
pub fn sweep_report(s: &Sweep<'_>) -> Result<Vec<(String, Vec<u8>)>, String> {
    use crate::charts::{Point, heatmap, pareto};
    use crate::html::{Block, Section, page};
    let mut files = Vec::new();
    let json = serde_json::to_string_pretty(&sweep_json(s)).expect("json values serialise") + "\n";
    files.push(("sweep.json".to_owned(), json.into_bytes()));
    files.push((
        "sweep.csv".to_owned(),
        sweep_csv(s).map_err(|e| e.to_string())?.into_bytes(),
    ));
    let label = |i: usize| format!("{i}");
    let cell_label = |i: usize| format!("cell {i}");
    let points: Vec<Point> = s
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| Point {
            label: cell_label(i),
            false_alarm_pct: c.scores.false_alarm_rate.unwrap_or(0.0) * 100.0,
            failed_requests: c.scores.failed_requests.mean,
            on_front: s.pareto.contains(&i),
            winner: s.winner == Some(i),
        })
        .collect();
    let pareto_png = pareto(&points)?;
    files.push(("pareto.png".to_owned(), pareto_png.png.clone()));
    files.push(("pareto.svg".to_owned(), pareto_png.svg));
    let (header, rows) = rows(s);
    let mut header = header;
    header.insert(0, "cell".to_owned());
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.insert(0, label(i));
            r
        })
        .collect();
    let scenarios: Vec<String> = s.cells.first().map_or(Vec::new(), |c| {
        c.groups
            .iter()
            .map(|g| format!("{} ({})", g.scenario, if g.healthy { "healthy" } else { "faulty" }))
            .collect()
    });
    let mut sections = vec![Section {
        title: "Scenarios".to_owned(),
        blocks: vec![Block::List(scenarios)],
    }];
    sections.push(Section {
        title: "Cells".to_owned(),
        blocks: vec![
            Block::Table { header, rows },
            Block::Text(
                "false alarm over the healthy scenarios' runs; detected, escaped, detect, failed and slow requests \
                 and users hit over the faulty scenarios' runs; ship over the healthy scenarios' promoted runs; \
                 pareto: no other cell is as good on failed requests, false alarms and time to ship and better on one."
                    .to_owned(),
            ),
        ],
    });
    if s.objective.is_some() || !s.verdicts.is_empty() {
        let mut blocks = Vec::new();
        if let Some(o) = &s.objective {
            blocks.push(Block::Text(format!("Objective: {o}.")));
        }
        blocks.push(Block::List(s.verdicts.clone()));
        sections.push(Section {
            title: "Recommendation".to_owned(),
            blocks,
        });
    }
    let mut pictures = vec![Block::Image {
        alt: "Pareto front: failed requests against false-alarm rate, one point per cell".to_owned(),
        png: pareto_png.png,
    }];
    let axes: Vec<&str> = s
        .cells
        .first()
        .map_or(Vec::new(), |c| c.vary.iter().map(|(k, _)| k.as_str()).collect());
    if axes.len() >= 2 {
        let distinct = |k: usize| {
            let mut v: Vec<String> = Vec::new();
            for c in s.cells {
                if !v.contains(&c.vary[k].1) {
                    v.push(c.vary[k].1.clone());
                }
            }
            v
        };
        let (rv, cv) = (distinct(0), distinct(1));
        let scores: [HeatmapScore; 3] = [
            (
                "failed-requests",
                "failed requests per faulty run",
                |x| Some(x.failed_requests.mean),
                |v| format!("{v:.0}"),
            ),
            (
                "false-alarm-rate",
                "false-alarm rate (%)",
                |x| x.false_alarm_rate.map(|r| r * 100.0),
                |v| format!("{v:.1}"),
            ),
            ("time-to-ship", "time to ship (median)", |x| x.time_to_ship_s, span),
        ];
        for (file, title, get, show) in scores {
            // Other axes beyond the first two: the first value of each.
            let values: Vec<Vec<Option<f64>>> = rv
                .iter()
                .map(|r| {
                    cv.iter()
                        .map(|c| {
                            s.cells
                                .iter()
                                .find(|cell| {
                                    cell.vary[0].1 == *r
                                        && cell.vary[1].1 == *c
                                        && cell.vary[2..]
                                            .iter()
                                            .enumerate()
                                            .all(|(k, v)| v.1 == s.cells[0].vary[k + 2].1)
                                })
                                .and_then(|cell| get(&cell.scores))
                        })
                        .collect()
                })
                .collect();
            let picture = heatmap(title, (axes[0], &rv), (axes[1], &cv), &values, show)?;
            files.push((format!("heatmap-{file}.png"), picture.png.clone()));
            files.push((format!("heatmap-{file}.svg"), picture.svg));
            pictures.push(Block::Image {
                alt: format!("{title} over {} and {}", axes[0], axes[1]),
                png: picture.png,
            });
        }
    }
    sections.push(Section {
        title: "Pictures".to_owned(),
        blocks: pictures,
    });
    let cells = match s.incomplete {
        Some((finished, total)) => format!("{finished} of {total} cells (interrupted)"),
        None => format!("{} cells", s.cells.len()),
    };
    let subtitle = format!(
        "{cells} × {} seeds, master seed {}. Files: sweep.json, sweep.csv and the pictures beside this page.",
        s.seeds, s.seed
    );
    let html = page(
        &format!("Sweep of {}", s.policy),
        &subtitle,
        &sections,
        s.incomplete.is_some(),
    );
    files.push(("index.html".to_owned(), html.into_bytes()));
    Ok(files)
}
