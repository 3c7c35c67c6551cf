//! The baseline file of `aviary check`: the accepted per-run figures of a
//! suite under one policy, meant to be committed next to the policy.
//!
//! Written deterministically (keys in a fixed order, one line per score
//! and scenario, figures at the fixed precision of
//! [`sim_core::check::round`], no timestamp, no path), so its diff in a pull
//! request shows exactly which results changed. A rate's runs are a string
//! of `1` (the run counts and scores), `0` (counts, does not score) and
//! `-` (does not count: a detection rate's healthy run); other scores are an
//! array with `null` for a run that does not count.
//!
//! ```json
//! {
//!   "aviary_baseline": 1,
//!   "aviary": "0.1.0",
//!   "engine": "5c0f2b6a1d9e8f37",
//!   "suite": "catalog",
//!   "policy": "default",
//!   "policy_hash": "9a1c…",
//!   "seed": 1,
//!   "seeds": 200,
//!   "scenarios": [
//!     {
//!       "scenario": "checkout-error-spike",
//!       "scenario_hash": "…",
//!       "detection_rate": "1111…",
//!       "detection_time_s": [62.5, 61.875, …],
//!       …
//!     }
//!   ]
//! }
//! ```

use serde_json::Value;
use sim_core::check::{Figures, decimals, trim};
use sim_core::compare::{Score, Unit};

use crate::reader::Diagnostic;

/// The format's version.
pub const VERSION: u64 = 1;

/// One scenario's accepted figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The scenario's name (not its path: the file is the same from any
    /// folder).
    pub scenario: String,
    /// FNV-1a of the scenario's file text.
    pub scenario_hash: String,
    pub figures: Figures,
}

/// A baseline file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    pub aviary: String,
    /// What the engine draws: a hash of a fixed reference run, so that a
    /// baseline from an engine whose random stream differs is compared
    /// unpaired.
    pub engine: String,
    pub suite: String,
    pub policy: String,
    pub policy_hash: String,
    pub seed: u64,
    pub seeds: u64,
    pub scenarios: Vec<Entry>,
}

fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The file's text.
pub fn write(b: &Baseline) -> String {
    let mut out = String::from("{\n");
    out.push_str(&format!("  \"aviary_baseline\": {VERSION},\n"));
    out.push_str(&format!("  \"aviary\": {},\n", string(&b.aviary)));
    out.push_str(&format!("  \"engine\": {},\n", string(&b.engine)));
    out.push_str(&format!("  \"suite\": {},\n", string(&b.suite)));
    out.push_str(&format!("  \"policy\": {},\n", string(&b.policy)));
    out.push_str(&format!("  \"policy_hash\": {},\n", string(&b.policy_hash)));
    out.push_str(&format!("  \"seed\": {},\n", b.seed));
    out.push_str(&format!("  \"seeds\": {},\n", b.seeds));
    out.push_str("  \"scenarios\": [");
    for (i, e) in b.scenarios.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("    {\n");
        out.push_str(&format!("      \"scenario\": {},\n", string(&e.scenario)));
        out.push_str(&format!("      \"scenario_hash\": {}", string(&e.scenario_hash)));
        for (s, score) in Score::ALL.iter().enumerate() {
            let column = &e.figures.columns[s];
            let text = if score.unit() == Unit::Rate {
                let marks: String = column
                    .iter()
                    .map(|v| match v {
                        None => '-',
                        Some(x) if *x > 0.5 => '1',
                        Some(_) => '0',
                    })
                    .collect();
                string(&marks)
            } else {
                let items: Vec<String> = column
                    .iter()
                    .map(|v| v.map_or_else(|| "null".to_owned(), |x| trim(x, decimals(*score))))
                    .collect();
                format!("[{}]", items.join(", "))
            };
            out.push_str(&format!(",\n      {}: {text}", string(score.key())));
        }
        out.push_str("\n    }");
    }
    out.push_str(if b.scenarios.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
    out
}

/// Finds the line of a key path in the file's text: each step is the next
/// occurrence of that key (or string value) after the previous one, which
/// is exact for files in the layout [`write`] produces and a fair guess
/// for hand-edited ones.
fn line_of(text: &str, steps: &[&str]) -> usize {
    let mut at = 0;
    for step in steps {
        let needle = string(step);
        match text[at..].find(&needle) {
            Some(i) => at += i,
            None => break,
        }
    }
    text[..at].matches('\n').count() + 1
}

/// Reads a baseline file's text.
///
/// # Errors
/// Every problem, each with the file, line and key.
pub fn read(file: &str, text: &str) -> Result<Baseline, Vec<Diagnostic>> {
    let problem = |line: usize, key: &str, message: String| Diagnostic {
        file: file.to_owned(),
        line,
        key: key.to_owned(),
        message,
        ..Default::default()
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        vec![problem(
            e.line(),
            "",
            format!("not a baseline (JSON: {e}); write one with `aviary check … --update`"),
        )]
    })?;
    let Some(top) = doc.as_object() else {
        return Err(vec![problem(1, "", "a baseline is a JSON object".to_owned())]);
    };
    let mut problems = Vec::new();
    const TOP: [&str; 9] = [
        "aviary_baseline",
        "aviary",
        "engine",
        "suite",
        "policy",
        "policy_hash",
        "seed",
        "seeds",
        "scenarios",
    ];
    for key in top.keys().filter(|k| !TOP.contains(&k.as_str())) {
        problems.push(problem(
            line_of(text, &[key]),
            key,
            format!("unknown key (known: {})", TOP.join(", ")),
        ));
    }
    let text_at = |key: &str, problems: &mut Vec<Diagnostic>| -> String {
        match top.get(key).and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => {
                problems.push(problem(
                    line_of(text, &[key]),
                    key,
                    "missing or not a string".to_owned(),
                ));
                String::new()
            }
        }
    };
    let aviary = text_at("aviary", &mut problems);
    let engine = text_at("engine", &mut problems);
    let suite = text_at("suite", &mut problems);
    let policy = text_at("policy", &mut problems);
    let policy_hash = text_at("policy_hash", &mut problems);
    let whole = |key: &str, min: u64, max: u64, problems: &mut Vec<Diagnostic>| -> u64 {
        match top.get(key).and_then(Value::as_u64) {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(problem(
                    line_of(text, &[key]),
                    key,
                    format!("missing or not a whole number in {min}..={max}"),
                ));
                min
            }
        }
    };
    let version = whole("aviary_baseline", 1, u64::MAX, &mut problems);
    if version != VERSION && problems.is_empty() {
        problems.push(problem(
            line_of(text, &["aviary_baseline"]),
            "aviary_baseline",
            format!("format version {version}; this aviary reads version {VERSION}"),
        ));
    }
    let seed = whole("seed", 0, u64::MAX, &mut problems);
    let seeds = whole("seeds", 1, sim_core::limits::SEEDS_MAX, &mut problems);
    let mut scenarios = Vec::new();
    match top.get("scenarios").and_then(Value::as_array) {
        None => problems.push(problem(
            line_of(text, &["scenarios"]),
            "scenarios",
            "missing or not an array".to_owned(),
        )),
        Some(list) => {
            for (i, item) in list.iter().enumerate() {
                if let Some(e) = entry(text, i, item, seeds as usize, &mut |l, k, m| {
                    problems.push(problem(l, &k, m))
                }) {
                    if scenarios.iter().any(|x: &Entry| x.scenario == e.scenario) {
                        problems.push(problem(
                            line_of(text, &["scenarios", &e.scenario]),
                            &format!("scenarios[{i}].scenario"),
                            format!("scenario {:?} appears twice", e.scenario),
                        ));
                    }
                    scenarios.push(e);
                }
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|d| d.line);
        return Err(problems);
    }
    Ok(Baseline {
        aviary,
        engine,
        suite,
        policy,
        policy_hash,
        seed,
        seeds,
        scenarios,
    })
}

fn entry(
    text: &str,
    i: usize,
    item: &Value,
    runs: usize,
    problem: &mut dyn FnMut(usize, String, String),
) -> Option<Entry> {
    let path = format!("scenarios[{i}]");
    let Some(obj) = item.as_object() else {
        problem(line_of(text, &["scenarios"]), path, "not an object".to_owned());
        return None;
    };
    let name = obj.get("scenario").and_then(Value::as_str);
    let anchor = name.unwrap_or("scenarios");
    let line = |key: &str| line_of(text, &["scenarios", anchor, key]);
    let Some(name) = name else {
        problem(
            line_of(text, &["scenarios"]),
            format!("{path}.scenario"),
            "missing or not a string".to_owned(),
        );
        return None;
    };
    let mut ok = true;
    let known: Vec<&str> = ["scenario", "scenario_hash"]
        .into_iter()
        .chain(Score::ALL.iter().map(|s| s.key()))
        .collect();
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        problem(
            line(key),
            format!("{path}.{key}"),
            format!("unknown key (known: {})", known.join(", ")),
        );
        ok = false;
    }
    let scenario_hash = match obj.get("scenario_hash").and_then(Value::as_str) {
        Some(h) => h.to_owned(),
        None => {
            problem(
                line("scenario_hash"),
                format!("{path}.scenario_hash"),
                "missing or not a string".to_owned(),
            );
            ok = false;
            String::new()
        }
    };
    let mut columns = Vec::new();
    for score in Score::ALL {
        let key = score.key();
        let at = format!("{path}.{key}");
        let column = match (score.unit(), obj.get(key)) {
            (_, None) => Err("missing".to_owned()),
            (Unit::Rate, Some(Value::String(marks))) => marks
                .chars()
                .map(|c| match c {
                    '1' => Ok(Some(1.0)),
                    '0' => Ok(Some(0.0)),
                    '-' => Ok(None),
                    other => Err(format!("{other:?} is not a run mark (1, 0 or -)")),
                })
                .collect::<Result<Vec<_>, _>>(),
            (Unit::Rate, Some(_)) => Err("expected a string of run marks (1, 0 or -)".to_owned()),
            (_, Some(Value::Array(items))) => items
                .iter()
                .enumerate()
                .map(|(r, v)| match v {
                    Value::Null => Ok(None),
                    Value::Number(n) => match n.as_f64() {
                        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                        _ => Err(format!("run {r}: {n} is not a finite figure of 0 or more")),
                    },
                    other => Err(format!("run {r}: expected a number or null, found {other}")),
                })
                .collect::<Result<Vec<_>, _>>(),
            (_, Some(_)) => Err("expected an array of per-run figures".to_owned()),
        };
        match column {
            Ok(c) if c.len() == runs => columns.push(c),
            Ok(c) => {
                problem(
                    line(key),
                    at,
                    format!("{} runs, but the baseline has seeds = {runs}", c.len()),
                );
                ok = false;
            }
            Err(m) => {
                problem(line(key), at, m);
                ok = false;
            }
        }
    }
    ok.then(|| Entry {
        scenario: name.to_owned(),
        scenario_hash,
        figures: Figures { runs, columns },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Baseline {
        let runs = 3;
        let mut columns = vec![vec![Some(0.0), None, Some(1.0)]; Score::ALL.len()];
        columns[4] = vec![Some(61.875), None, Some(1.5)];
        Baseline {
            aviary: "0.1.0".into(),
            engine: "e".into(),
            suite: "s".into(),
            policy: "p".into(),
            policy_hash: "h".into(),
            seed: 7,
            seeds: runs as u64,
            scenarios: vec![Entry {
                scenario: "x".into(),
                scenario_hash: "y".into(),
                figures: Figures { runs, columns },
            }],
        }
    }

    #[test]
    fn a_written_baseline_reads_back_the_same() {
        let b = sample();
        let text = write(&b);
        assert_eq!(read("b.json", &text).expect("reads"), b);
        assert!(text.contains("\"detection_rate\": \"0-1\""), "{text}");
        assert!(text.contains("\"detection_time_s\": [61.875, null, 1.5]"), "{text}");
    }

    #[test]
    fn problems_name_the_line_and_key() {
        let text = write(&sample()).replace("[61.875, null, 1.5]", "[61.875, \"x\"]");
        let errs = read("b.json", &text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key, "scenarios[0].detection_time_s");
        let line = text.lines().position(|l| l.contains("detection_time_s")).unwrap() + 1;
        assert_eq!(errs[0].line, line);
        let errs = read("b.json", "{\"aviary_baseline\": 1,\n \"seeds\": 0 }").unwrap_err();
        assert!(errs.iter().any(|d| d.key == "seeds" && d.line == 2), "{errs:?}");
        assert!(read("b.json", "[1, 2").is_err());
    }
}
