//! Suite files: what matters to one team, kept in its repository.
//!
//! ```toml
//! name = "payments"
//! seeds = 500                 # runs per scenario × policy
//! seed = 1                    # master seed
//! scenarios = ["checkout-error-spike", "healthy-release", "incidents/db-overload.toml"]
//! policies = ["release/canary.toml"]
//! [objective]                 # optional: what "better" means for this team
//! minimise = "blast_radius.failed_requests"
//! subject_to = { false_alarm_rate = "<= 0.01", escape_rate = "<= 0.005", time_to_ship_s = "<= 3600" }
//! [check]                     # optional: what `aviary check` lets pass
//! tolerance = { detection_time_s = "+30s", false_alarm_rate = "+0.005", failed_requests = "+10%" }
//! ```
//!
//! Scenario and policy entries are built-in names or files; a file is
//! resolved against the suite file's folder, and every one is loaded (and
//! so validated) when the suite is.

use std::path::Path;

use sim_core::check::Tolerance;
use sim_core::compare::Score;
use sim_core::limits::SEEDS_MAX;
use sim_core::model::{Policy, Scenario};
use sim_core::time::parse_duration;

use crate::reader::{Diagnostic, Source, Table};

/// The top-level keys of a suite file.
pub const TOP_KEYS: [&str; 7] = ["name", "seeds", "seed", "scenarios", "policies", "objective", "check"];

/// Whether `name` is a score an objective may name ([`Score::key`]).
fn is_score(name: &str) -> bool {
    Score::ALL.iter().any(|s| s.key() == name)
}

/// A comparison in `subject_to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Le,
    Lt,
    Ge,
    Gt,
}

impl Cmp {
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Cmp::Le => value <= bound,
            Cmp::Lt => value < bound,
            Cmp::Ge => value >= bound,
            Cmp::Gt => value > bound,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Le => "<=",
            Cmp::Lt => "<",
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
        }
    }
}

/// One constraint: `score cmp bound`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub score: String,
    pub cmp: Cmp,
    pub bound: f64,
}

/// What "better" means for a team.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub minimise: String,
    pub subject_to: Vec<Constraint>,
}

/// A validated suite: its scenarios and policies loaded.
#[derive(Clone, Debug)]
pub struct Suite {
    pub name: String,
    pub seeds: u64,
    pub seed: u64,
    /// Each entry (a built-in name, or a file's path resolved against the
    /// suite's folder) and what it loads.
    pub scenarios: Vec<(String, Scenario)>,
    pub policies: Vec<(String, Policy)>,
    pub objective: Option<Objective>,
    /// `[check] tolerance`: the scores given a tolerance other than the
    /// default ([`sim_core::check::tolerance_in`]).
    pub tolerance: Vec<(Score, Tolerance)>,
}

/// Parses a suite file's text; entries that are files are resolved against
/// `dir`.
///
/// # Errors
/// Every problem in the suite file, and those of the files it names.
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Suite, Vec<Diagnostic>> {
    let mut src = Source::new(file, text);
    let Some(raw) = read(&mut src) else {
        return Err(src.into_diagnostics());
    };
    // The named files are loaded even when the suite has other problems, so
    // every problem is reported at once.
    let mut diagnostics = src.into_diagnostics();
    let resolve = |entry: &str| {
        if crate::looks_like_path(entry) && !Path::new(entry).is_absolute() {
            dir.join(entry).display().to_string()
        } else {
            entry.to_owned()
        }
    };
    let mut scenarios = Vec::new();
    for (entry, line) in raw.scenarios.iter().flatten() {
        let arg = resolve(entry);
        match crate::load_scenario(&arg) {
            Ok(s) => scenarios.push((arg, s)),
            Err(d) => diagnostics.extend(entry_errors(file, *line, "scenarios", entry, d)),
        }
    }
    let mut policies = Vec::new();
    for (entry, line) in raw.policies.iter().flatten() {
        let arg = resolve(entry);
        match crate::load_policy(&arg) {
            Ok(p) => policies.push((arg, p)),
            Err(d) => diagnostics.extend(entry_errors(file, *line, "policies", entry, d)),
        }
    }
    crate::reader::sort_by_line(&mut diagnostics);
    match (raw.name, raw.scenarios, raw.policies, raw.objective, raw.tolerance) {
        (Some(name), Some(_), Some(_), objective, Some(tolerance)) if diagnostics.is_empty() => Ok(Suite {
            name,
            seeds: raw.seeds,
            seed: raw.seed,
            scenarios,
            policies,
            objective: objective.flatten(),
            tolerance,
        }),
        _ => Err(diagnostics),
    }
}

/// A named file that does not load: its own diagnostics when it is a file
/// with problems inside, else one diagnostic at the suite's entry.
fn entry_errors(file: &str, line: usize, key: &str, entry: &str, found: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if found.iter().all(|d| d.line == 0) {
        found
            .into_iter()
            .map(|d| Diagnostic {
                file: file.to_owned(),
                line,
                key: key.to_owned(),
                message: format!("{entry:?}: {}", d.message),
                ..Default::default()
            })
            .collect()
    } else {
        found
    }
}

/// What the suite file itself says; a part with a problem is `None` (the
/// problem is in the diagnostics).
struct Raw {
    name: Option<String>,
    seeds: u64,
    seed: u64,
    scenarios: Option<Vec<(String, usize)>>,
    policies: Option<Vec<(String, usize)>>,
    objective: Option<Option<Objective>>,
    tolerance: Option<Vec<(Score, Tolerance)>>,
}

fn read(src: &mut Source<'_>) -> Option<Raw> {
    let doc = src.parse()?;
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let name = top.req_str(src, "name");
    let seeds = top.opt_u64(src, "seeds", 1, SEEDS_MAX).unwrap_or(100);
    let seed = top.opt_u64(src, "seed", 0, u64::MAX).unwrap_or(1);
    let scenarios = entries(src, &mut top, "scenarios");
    let policies = entries(src, &mut top, "policies");
    let objective = top.opt_table(src, "objective").map(|t| objective(src, t));
    let tolerance = match top.opt_table(src, "check") {
        Some(t) => check(src, t),
        None => Some(Vec::new()),
    };
    top.finish(src);
    Some(Raw {
        name,
        seeds,
        seed,
        scenarios,
        policies,
        objective: match objective {
            None => Some(None),
            Some(o) => o.map(Some),
        },
        tolerance,
    })
}

/// The score a `[check] tolerance` key names: a score's key, or a blast
/// radius figure without its `blast_radius.` prefix (`failed_requests`).
pub fn tolerance_score(name: &str) -> Option<Score> {
    Score::ALL
        .into_iter()
        .find(|s| s.key() == name || s.key().strip_prefix("blast_radius.") == Some(name))
}

fn check(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Vec<(Score, Tolerance)>> {
    let entries = t.opt_string_map(src, "tolerance").unwrap_or_default();
    let key = t.key_path("tolerance");
    t.finish(src);
    let mut out: Vec<(Score, Tolerance)> = Vec::new();
    let mut ok = true;
    for (name, text, span) in entries {
        let key = format!("{key}.{name}");
        let Some(score) = tolerance_score(&name) else {
            let known: Vec<&str> = Score::ALL.iter().map(|s| s.key()).collect();
            src.error(
                &span,
                &key,
                format!("unknown score {name:?} (known: {})", known.join(", ")),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|(s, _)| *s == score) {
            src.error(&span, &key, format!("{name:?} names a score already given a tolerance"));
            ok = false;
            continue;
        }
        match parse_tolerance(score, &text) {
            Ok(tol) => out.push((score, tol)),
            Err(message) => {
                src.error(&span, &key, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `"+0.005"`, `"+30s"` (a duration, for a time score), `"+10%"`; the sign
/// says which way is worse and may be left out: `+` for a score that is
/// better lower, `-` for the detection rate.
pub fn parse_tolerance(score: Score, text: &str) -> Result<Tolerance, String> {
    let t = text.trim();
    let worse = if score.lower_is_better() { '+' } else { '-' };
    let (sign, rest) = match t.chars().next() {
        Some(c @ ('+' | '-')) => (Some(c), t[1..].trim()),
        _ => (None, t),
    };
    if sign.is_some_and(|c| c != worse) {
        return Err(format!(
            "{text:?}: {} gets worse as it {}, so its tolerance is written {worse}…",
            score.key(),
            if worse == '+' { "rises" } else { "falls" }
        ));
    }
    let tol = if let Some(pct) = rest.strip_suffix('%') {
        match pct.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Tolerance::Relative(x / 100.0),
            _ => return Err(format!("{text:?}: {pct:?} is not a non-negative percentage")),
        }
    } else {
        match rest.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Tolerance::Absolute(x),
            Ok(_) => return Err(format!("{text:?}: a tolerance is a finite amount, zero or more")),
            Err(_) if score.key().ends_with("_s") => parse_duration(rest)
                .map(|d| Tolerance::Absolute(d.as_secs_f64()))
                .map_err(|e| format!("{text:?}: neither seconds, a duration nor a percentage ({e})"))?,
            Err(_) => {
                return Err(format!(
                    "{text:?}: write an amount (\"{worse}0.005\") or a share of the baseline (\"{worse}10%\")"
                ));
            }
        }
    };
    if let Tolerance::Absolute(x) = tol
        && score.key().ends_with("_rate")
        && x > 1.0
    {
        return Err(format!(
            "{text:?}: a rate's tolerance is a fraction in 0..=1 (1 point is 0.01)"
        ));
    }
    Ok(tol)
}

/// A required, non-empty array of names or paths, each with its line.
fn entries(src: &mut Source<'_>, top: &mut Table<'_, '_>, key: &'static str) -> Option<Vec<(String, usize)>> {
    let span = top.span_of(key);
    let present = top.has(key);
    let list = top.opt_strings(src, key)?;
    if !present {
        src.error(&span, key, "missing; expected an array of built-in names or files");
        return None;
    }
    if list.is_empty() {
        src.error(&span, key, "is empty; name at least one");
        return None;
    }
    let line = src.line_of(span.start);
    Some(list.into_iter().map(|e| (e, line)).collect())
}

fn objective(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Objective> {
    let minimise_span = t.span_of("minimise");
    let minimise = t.req_str(src, "minimise");
    let constraints = t.opt_string_map(src, "subject_to").unwrap_or_default();
    let key = t.key_path("minimise");
    let subject_key = t.key_path("subject_to");
    t.finish(src);
    if let Some(m) = minimise.as_ref().filter(|m| !is_score(m)) {
        src.error(&minimise_span, &key, unknown_score(m));
    }
    let mut subject_to = Vec::new();
    for (score, text, span) in constraints {
        let key = format!("{subject_key}.{score}");
        if !is_score(&score) {
            src.error(&span, &key, unknown_score(&score));
            continue;
        }
        match constraint(&score, &text) {
            Ok(c) => subject_to.push(c),
            Err(message) => src.error(&span, &key, message),
        }
    }
    Some(Objective {
        minimise: minimise?,
        subject_to,
    })
}

fn unknown_score(name: &str) -> String {
    let known: Vec<&str> = Score::ALL.iter().map(|s| s.key()).collect();
    format!("unknown score {name:?} (known: {})", known.join(", "))
}

/// `"<= 0.01"`, `"< 5"`, `">= 0.9"`, or a duration for a time score
/// (`"<= 1h"`).
fn constraint(score: &str, text: &str) -> Result<Constraint, String> {
    let t = text.trim();
    let (cmp, rest) = [("<=", Cmp::Le), (">=", Cmp::Ge), ("<", Cmp::Lt), (">", Cmp::Gt)]
        .into_iter()
        .find_map(|(sym, cmp)| t.strip_prefix(sym).map(|rest| (cmp, rest.trim())))
        .ok_or_else(|| format!("{text:?}: write a comparison and a bound, e.g. \"<= 0.01\""))?;
    let bound = match rest.parse::<f64>() {
        Ok(x) if x.is_finite() => x,
        Ok(_) => return Err(format!("{text:?}: the bound must be finite")),
        Err(_) if score.ends_with("_s") => parse_duration(rest)
            .map(|d| d.as_secs_f64())
            .map_err(|e| format!("{text:?}: the bound is neither a number of seconds nor a duration ({e})"))?,
        Err(_) => return Err(format!("{text:?}: the bound {rest:?} is not a number")),
    };
    if score.ends_with("_rate") && !(0.0..=1.0).contains(&bound) {
        return Err(format!("{text:?}: a rate is a fraction in 0..=1 (1 % is 0.01)"));
    }
    Ok(Constraint {
        score: score.to_owned(),
        cmp,
        bound,
    })
}
