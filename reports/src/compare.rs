//! `aviary compare`: B − A per scenario and score, with the paired
//! interval, as JSON, a text table, CSV or Markdown, and one plain verdict
//! line per significant difference.

use serde_json::{Value, json};
use sim_core::compare::{Difference, METHOD, Score, Unit};

use crate::{round, span};

/// What a comparison is of.
pub struct Comparison<'a> {
    pub a: &'a str,
    pub b: &'a str,
    pub seeds: u64,
    pub seed: u64,
    pub differences: &'a [Difference],
}

pub(crate) fn label(score: Score) -> &'static str {
    match score {
        Score::DetectionRate => "detection rate",
        Score::FalseAlarmRate => "false-alarm rate",
        Score::EscapeRate => "escape rate",
        Score::BlindPromotionRate => "blind-promotion rate",
        Score::DetectionTime => "mean detection time",
        Score::TimeToShip => "mean time to ship",
        Score::FailedRequests => "failed requests per run",
        Score::SlowRequests => "slow requests per run",
        Score::UsersAffected => "users affected per run",
        Score::LostConversions => "lost conversions per run",
        Score::RecordsLost => "records lost per run",
        Score::ErrorBudget => "error budget consumed per run",
    }
}

/// `x` with `decimals` decimals, or with three significant digits when
/// that would show a nonzero value as 0.
fn fixed(x: f64, decimals: usize) -> String {
    let text = format!("{x:.decimals$}");
    let zero = text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.');
    if x != 0.0 && zero {
        let digits = (2 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
        format!("{x:.digits$}")
    } else {
        text
    }
}

fn count(x: f64) -> String {
    fixed(x, if x.abs() >= 100.0 { 0 } else { 1 })
}

/// A magnitude of the score's unit (no sign, no unit word): points for a
/// rate or the budget, a span for a time, a count.
fn magnitude(score: Score, d: f64) -> String {
    let d = d.abs();
    match score.unit() {
        Unit::Rate => fixed(d * 100.0, 1),
        Unit::Budget => fixed(d * 100.0, 2),
        Unit::Seconds => span(d),
        Unit::Count => count(d),
    }
}

/// A value of the score's unit, for people.
pub(crate) fn value(score: Score, v: f64) -> String {
    match score.unit() {
        Unit::Rate => format!("{}%", fixed(v * 100.0, 1)),
        Unit::Budget => format!("{}%", fixed(v * 100.0, 2)),
        Unit::Seconds => span(v),
        Unit::Count => count(v),
    }
}

/// A difference of the score's unit, for people (no sign).
pub(crate) fn amount(score: Score, d: f64) -> String {
    match score.unit() {
        Unit::Rate | Unit::Budget => format!("{} points", magnitude(score, d)),
        _ => magnitude(score, d),
    }
}

fn sign(d: f64) -> &'static str {
    if d < 0.0 {
        "−"
    } else if d > 0.0 {
        "+"
    } else {
        ""
    }
}

pub(crate) fn signed(score: Score, d: f64) -> String {
    format!("{}{}", sign(d), magnitude(score, d))
}

/// The interval in the verdict's direction: [nearer, farther] magnitudes.
fn interval(score: Score, ci: [f64; 2], negative: bool) -> String {
    let (near, far) = if negative { (-ci[1], -ci[0]) } else { (ci[0], ci[1]) };
    let show = |x: f64| format!("{}{}", if x < 0.0 { "−" } else { "" }, magnitude(score, x));
    format!("[{}, {}]", show(near), show(far))
}

/// The plain sentence for a significant difference.
pub fn verdict(b: &str, d: &Difference) -> Option<String> {
    let (delta, ci) = (d.delta?, d.ci95?);
    if !d.significant {
        return None;
    }
    let negative = delta < 0.0;
    let size = amount(d.score, delta);
    let range = interval(d.score, ci, negative);
    let sc = &d.scenario;
    Some(match d.score {
        Score::DetectionTime => {
            let way = if negative { "sooner" } else { "later" };
            format!("{b} detects {sc} {size} {way} {range}")
        }
        Score::TimeToShip => {
            let way = if negative { "sooner" } else { "later" };
            format!("{b} ships {sc} {size} {way} {range}")
        }
        s => {
            let way = if negative { "lower" } else { "higher" };
            format!("{b}'s {} on {sc} is {way} by {size} {range}", label(s))
        }
    })
}

fn not_found(c: &Comparison<'_>, d: &Difference) -> String {
    match d.smallest_detectable {
        Some(0.0) => "identical on every run".to_owned(),
        Some(m) => format!(
            "no difference detected at {} seeds (smallest detectable: {})",
            c.seeds,
            amount(d.score, m)
        ),
        None => format!("no difference detected at {} seeds", c.seeds),
    }
}

/// Every verdict: one line per significant difference, then one line for
/// the rest.
pub fn verdicts(c: &Comparison<'_>) -> Vec<String> {
    let mut out: Vec<String> = c.differences.iter().filter_map(|d| verdict(c.b, d)).collect();
    let rest = c
        .differences
        .iter()
        .filter(|d| d.delta.is_some() && !d.significant)
        .count();
    if out.is_empty() {
        out.push(format!(
            "no difference detected at {} seeds between {} and {} on any score",
            c.seeds, c.a, c.b
        ));
    } else if rest > 0 {
        out.push(format!(
            "no other difference detected at {} seeds ({rest} scenario × score pairs)",
            c.seeds
        ));
    }
    out
}

pub(crate) fn num(score: Score, v: Option<f64>) -> Value {
    let digits = match score.unit() {
        Unit::Rate | Unit::Budget => 6,
        Unit::Seconds | Unit::Count => 3,
    };
    v.map_or(Value::Null, |x| json!(round(x, digits)))
}

/// The `compare --format json` document.
pub fn compare_json(c: &Comparison<'_>) -> Value {
    crate::document(compare_json_fields(c))
}

fn compare_json_fields(c: &Comparison<'_>) -> Value {
    let differences: Vec<Value> = c
        .differences
        .iter()
        .map(|d| {
            json!({
                "scenario": d.scenario,
                "score": d.score.key(),
                "a": num(d.score, d.a),
                "b": num(d.score, d.b),
                "delta": num(d.score, d.delta),
                "ci95": d.ci95.map_or(Value::Null, |ci| json!([num(d.score, Some(ci[0])), num(d.score, Some(ci[1]))])),
                "significant": d.significant,
                "smallest_detectable": num(d.score, d.smallest_detectable),
                "runs": d.runs,
                "method": METHOD,
            })
        })
        .collect();
    json!({
        "a": c.a,
        "b": c.b,
        "seeds": c.seeds,
        "seed": c.seed,
        "method": METHOD,
        "differences": differences,
        "verdicts": verdicts(c),
    })
}

/// The rows people read: scores defined under either policy.
fn rows(c: &Comparison<'_>) -> Vec<[String; 7]> {
    c.differences
        .iter()
        .filter(|d| d.a.is_some() || d.b.is_some())
        .map(|d| {
            let show = |v: Option<f64>| v.map_or("—".to_owned(), |v| value(d.score, v));
            let delta = d.delta.map_or("—".to_owned(), |x| match d.score.unit() {
                Unit::Rate | Unit::Budget => format!("{} pts", signed(d.score, x)),
                _ => signed(d.score, x),
            });
            let ci = d.ci95.map_or("—".to_owned(), |ci| {
                format!("[{}, {}]", signed(d.score, ci[0]), signed(d.score, ci[1]))
            });
            let finding = match (d.delta, d.significant) {
                (None, _) => "undefined under one policy".to_owned(),
                (Some(x), true) => {
                    let better = (x < 0.0) == d.score.lower_is_better();
                    format!("{} {}", c.b, if better { "better" } else { "worse" })
                }
                (Some(_), false) => not_found(c, d),
            };
            [
                d.scenario.clone(),
                d.score.key().to_owned(),
                show(d.a),
                show(d.b),
                delta,
                ci,
                finding,
            ]
        })
        .collect()
}

const HEADER: [&str; 7] = ["scenario", "score", "A", "B", "B − A", "95 % interval", "finding"];

/// An aligned text table, the verdicts under it.
pub fn compare_table(c: &Comparison<'_>) -> String {
    let rows = rows(c);
    let mut out = format!(
        "A = {}, B = {}; {} paired seeds, master seed {}\n\n",
        c.a, c.b, c.seeds, c.seed
    );
    out.push_str(&crate::text_table(
        &HEADER,
        &rows,
        &[true, true, false, false, false, false, true],
    ));
    out.push('\n');
    for v in verdicts(c) {
        out.push_str(&format!("- {v}\n"));
    }
    out.push_str(&format!("\nintervals: {METHOD}\n"));
    out
}

/// The same rows as Markdown, for a pull request.
pub fn compare_markdown(c: &Comparison<'_>) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "### {} vs {}\n\n{} paired seeds, master seed {}. Intervals: {METHOD}.\n\n",
        esc(c.b),
        esc(c.a),
        c.seeds,
        c.seed
    );
    for v in verdicts(c) {
        out.push_str(&format!("- {}\n", esc(&v)));
    }
    out.push_str("\n| scenario | score | A | B | B − A | 95 % interval | finding |\n");
    out.push_str("|---|---|---:|---:|---:|---|---|\n");
    for r in rows(c) {
        let cells: Vec<String> = r.iter().map(|s| esc(s)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// One row per scenario × score, machine-readable.
///
/// # Errors
/// Only if writing to memory fails, which it does not.
pub fn compare_csv(c: &Comparison<'_>) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "score",
        "a",
        "b",
        "delta",
        "ci95_low",
        "ci95_high",
        "significant",
        "smallest_detectable",
        "runs",
    ])?;
    for d in c.differences {
        let key = |v: Option<f64>| match num(d.score, v) {
            Value::Null => String::new(),
            n => n.to_string(),
        };
        w.write_record([
            d.scenario.clone(),
            d.score.key().to_owned(),
            key(d.a),
            key(d.b),
            key(d.delta),
            key(d.ci95.map(|c| c[0])),
            key(d.ci95.map(|c| c[1])),
            d.significant.to_string(),
            key(d.smallest_detectable),
            d.runs.to_string(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("csv of UTF-8 strings"))
}

/// The files of `compare --out DIR`: the JSON, the CSV and `index.html`.
///
/// # Errors
/// Only if writing to memory fails, which it does not.
pub fn compare_report(c: &Comparison<'_>) -> Result<Vec<(String, Vec<u8>)>, String> {
    use crate::html::{Block, Section, page};
    let json = serde_json::to_string_pretty(&compare_json(c)).expect("json values serialise") + "\n";
    let csv = compare_csv(c).map_err(|e| e.to_string())?;
    let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows(c).into_iter().map(|r| r.to_vec()).collect();
    let sections = [
        Section {
            title: "Verdicts".to_owned(),
            blocks: vec![Block::List(verdicts(c))],
        },
        Section {
            title: "Every score".to_owned(),
            blocks: vec![
                Block::Table { header, rows },
                Block::Text(format!("Intervals: {METHOD}.")),
            ],
        },
    ];
    let subtitle = format!(
        "A = {}, B = {}; {} paired seeds, master seed {}. Files: compare.json and compare.csv beside this page.",
        c.a, c.b, c.seeds, c.seed
    );
    let html = page(&format!("{} against {}", c.b, c.a), &subtitle, &sections, false);
    Ok(vec![
        ("compare.json".to_owned(), json.into_bytes()),
        ("compare.csv".to_owned(), csv.into_bytes()),
        ("index.html".to_owned(), html.into_bytes()),
    ])
}
