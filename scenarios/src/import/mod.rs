//! Bring your own policy: Argo Rollouts, Flagger and Kayenta configs read
//! with their tools' semantics and written out as an aviary policy file.
//!
//! An import has three stages, so that a foreign file takes the one path
//! every policy takes:
//! 1. the YAML or JSON documents, spanned (`yaml`), read by the tool's own
//!    reader (`argo`, `flagger`, `kayenta`) into a [`Draft`]: aviary's
//!    policy keys, each with the source it was mapped from;
//! 2. the draft written as policy TOML ([`Draft::to_toml`]), a comment on
//!    every mapped field naming its file, line and key;
//! 3. that TOML read by the policy reader like any policy file.
//!
//! What aviary cannot simulate is never dropped silently: each such thing
//! is a warning (file, line, key) saying what was done instead. The
//! decisions are documented in docs/interop.md.

pub mod argo;
pub mod export;

pub mod expr;
pub mod flagger;
pub mod kayenta;
pub mod promql;
pub mod yaml;

use std::fmt::Write as _;

use sim_core::model::Policy;
use sim_core::time::SimDuration;

use crate::reader::Diagnostic;
pub use yaml::Report;

/// The tools aviary imports from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Argo,
    Flagger,
    Kayenta,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Argo, Tool::Flagger, Tool::Kayenta];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Argo => "argo",
            Tool::Flagger => "flagger",
            Tool::Kayenta => "kayenta",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Choices an import needs that the foreign file does not make.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the modelled human takes to resume an indefinite pause
    /// (Argo `pause: {}`, a Job metric, Flagger's confirm webhooks).
    pub resume_after: SimDuration,
    /// How long a webhook gate takes when it names no timeout.
    pub webhook_delay: SimDuration,
    /// The share of users an A/B test's `match` selects (Flagger).
    pub ab_share: u32,
    /// The share of requests mirrored to a blue-green preview fleet.
    pub preview_share: f64,
    /// Query patterns mapped to aviary metrics (`--map`), tried first.
    pub map: Vec<promql::Mapping>,
    /// Kayenta: the Spinnaker stage's settings (Kayenta configs hold none).
    pub stage: kayenta::Stage,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            resume_after: SimDuration::from_secs(600),
            webhook_delay: SimDuration::from_secs(60),
            ab_share: 10,
            preview_share: 0.1,
            map: Vec::new(),
            stage: kayenta::Stage::default(),
        }
    }
}

/// A file given to an import: its label (for diagnostics) and text.
pub struct Input {
    pub label: String,
    pub text: String,
}

/// An aviary key's value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// TOML: `key = value`.
    pub toml: String,
    /// `FILE:LINE KEY`, or a sentence for a default.
    pub source: String,
}

/// A check as policy TOML (an inline table) with its source.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftCheck {
    pub toml: String,
    pub source: String,
}

/// A step as policy TOML with its source.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftStep {
    pub weight: u32,
    pub pause: SimDuration,
    pub source: String,
}

/// An aviary policy as the import maps it, each field with its source.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub name: String,
    pub description: String,
    /// Top-level keys but `steps` and `analysis`, in file order.
    pub top: Vec<Field>,
    pub steps: Vec<DraftStep>,
    /// `[analysis]` keys but `checks`.
    pub analysis: Vec<Field>,
    pub checks: Vec<DraftCheck>,
}

/// `FILE:LINE KEY`, how a comment names a source.
pub fn at(file: &str, line: usize, key: &str) -> String {
    if line == 0 {
        format!("{file} {key}")
    } else {
        format!("{file}:{line} {key}")
    }
}

/// A TOML string literal.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A number as TOML: integers without a point, others as short as exact.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl Draft {
    pub fn set(&mut self, toml: impl Into<String>, source: impl Into<String>) {
        push(&mut self.top, toml.into(), source.into());
    }

    pub fn set_analysis(&mut self, toml: impl Into<String>, source: impl Into<String>) {
        push(&mut self.analysis, toml.into(), source.into());
    }

    /// The draft as an aviary policy file.
    pub fn to_toml(&self, tool: Tool, files: &[&str]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Imported by `aviary import {}` from {} (aviary {}).",
            tool.name(),
            files.join(", "),
            env!("CARGO_PKG_VERSION")
        );
        out.push_str("# Each comment names the field the line was mapped from; see docs/interop.md.\n");
        let _ = writeln!(out, "name = {}", quote(&self.name));
        let _ = writeln!(out, "description = {}", quote(&self.description));
        for f in &self.top {
            let _ = writeln!(out, "{}  # {}", f.toml, f.source);
        }
        if !self.steps.is_empty() {
            out.push_str("steps = [\n");
            for s in &self.steps {
                if s.pause == SimDuration::ZERO {
                    let _ = writeln!(out, "  {{ weight = {} }},  # {}", s.weight, s.source);
                } else {
                    let _ = writeln!(
                        out,
                        "  {{ weight = {}, pause = \"{}\" }},  # {}",
                        s.weight, s.pause, s.source
                    );
                }
            }
            out.push_str("]\n");
        }
        out.push_str("\n[analysis]\n");
        for f in &self.analysis {
            let _ = writeln!(out, "{}  # {}", f.toml, f.source);
        }
        if self.checks.is_empty() {
            out.push_str("checks = []  # no automated analysis: every promotion is blind\n");
        } else {
            out.push_str("checks = [\n");
            for c in &self.checks {
                let _ = writeln!(out, "  {},  # {}", c.toml, c.source);
            }
            out.push_str("]\n");
        }
        out
    }
}

fn push(fields: &mut Vec<Field>, toml: String, source: String) {
    let key = toml.split('=').next().unwrap_or("").trim().to_owned();
    fields.retain(|f| f.toml.split('=').next().unwrap_or("").trim() != key);
    fields.push(Field { toml, source });
}

/// What an import produced: the policy file's text and the warnings.
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<Diagnostic>,
}

/// Imports `inputs` as `tool` describes them.
///
/// # Errors
/// Every problem found (syntax, types, missing keys, a template the
/// Rollout names and no file holds, Kayenta's duplicate metric names), or
/// a problem in the policy the draft makes.
pub fn import(tool: Tool, inputs: &[Input], opts: &Options) -> Result<Imported, Vec<Diagnostic>> {
    let mut r = Report::default();
    let mut docs = Vec::new();
    for input in inputs {
        match yaml::parse(&input.label, &input.text) {
            Ok(nodes) => docs.extend(nodes.into_iter().map(|n| (input.label.as_str(), n))),
            Err(e) => r.errors.extend(e),
        }
    }
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    let draft = match tool {
        Tool::Argo => argo::read(&docs, opts, &mut r),
        Tool::Flagger => flagger::read(&docs, opts, &mut r),
        Tool::Kayenta => kayenta::read(&docs, opts, &mut r),
    };
    let Some(draft) = draft.filter(|_| r.errors.is_empty()) else {
        let mut errors = r.errors;
        crate::reader::sort_by_line(&mut errors);
        return Err(errors);
    };
    let files: Vec<&str> = inputs.iter().map(|i| i.label.as_str()).collect();
    let toml = draft.to_toml(tool, &files);
    // The draft is checked by the policy reader: an import that makes a
    // policy aviary would refuse is a bug in the import, named as such.
    if let Err(errors) = crate::parse_policy("<imported policy>", &toml) {
        return Err(errors
            .into_iter()
            .map(|d| Diagnostic {
                message: format!("the imported policy is invalid ({}): {}", d.key, d.message),
                file: files.join(", "),
                line: 0,
                key: String::new(),
                ..Default::default()
            })
            .collect());
    }
    Ok(Imported {
        toml,
        warnings: r.warnings,
    })
}

/// The tool a file is written for, from its `apiVersion` and `kind` (Argo
/// Rollouts, Flagger) or its shape (a Kayenta canary config: `metrics` and
/// `classifier`); `None` for an aviary file or anything else.
pub fn detect(text: &str) -> Option<Tool> {
    let t = text.trim_start_matches('\u{feff}');
    let api = regex::Regex::new(r"(?m)^\s*apiVersion:\s*['\x22]?([A-Za-z0-9.\-]+)/").ok()?;
    if let Some(c) = api.captures(t) {
        return match &c[1] {
            "argoproj.io" => Some(Tool::Argo),
            "flagger.app" => Some(Tool::Flagger),
            _ => None,
        };
    }
    let json = t.trim_start().starts_with('{');
    let has = |key: &str| {
        let q = format!("\"{key}\"");
        if json {
            t.contains(&q)
        } else {
            t.lines()
                .any(|l| l.starts_with(&format!("{key}:")) || l.starts_with(&format!("{q}:")))
        }
    };
    (has("metrics") && (has("classifier") || has("configVersion") || has("judge"))).then_some(Tool::Kayenta)
}

/// A policy file given as `--policy`, and, for an Argo Rollout, the
/// AnalysisTemplates in the `.yaml`/`.yml` files beside it (in name order),
/// so that a Rollout finds its templates as `kubectl apply -f DIR` would.
pub fn with_siblings(tool: Tool, label: &str, text: &str) -> Vec<Input> {
    let mut inputs = vec![Input {
        label: label.to_owned(),
        text: text.to_owned(),
    }];
    let path = std::path::Path::new(label);
    if tool != Tool::Argo || !text.contains("kind: Rollout") {
        return inputs;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return inputs;
    };
    let mut siblings: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name() != path.file_name())
        .collect();
    siblings.sort();
    // Only the files holding a template the Rollout names.
    let named: Vec<String> = regex::Regex::new(r"templateName:\s*['\x22]?([A-Za-z0-9.\-]+)")
        .map(|re| re.captures_iter(text).map(|c| c[1].to_owned()).collect())
        .unwrap_or_default();
    for p in siblings {
        if let Ok(t) = std::fs::read_to_string(&p)
            && detect(&t) == Some(Tool::Argo)
            && !t.contains("kind: Rollout")
            && (t.contains("kind: AnalysisTemplate") || t.contains("kind: ClusterAnalysisTemplate"))
            && named.iter().any(|n| t.contains(&format!("name: {n}")))
        {
            inputs.push(Input {
                label: p.display().to_string(),
                text: t,
            });
        }
    }
    inputs
}

/// Reads a policy given in a foreign format: the import and then the
/// policy reader, the warnings beside.
///
/// # Errors
/// As [`import`].
pub fn load(tool: Tool, label: &str, text: &str) -> Result<(Policy, Vec<Diagnostic>), Vec<Diagnostic>> {
    let imported = import(tool, &with_siblings(tool, label, text), &Options::default())?;
    let policy = crate::parse_policy(label, &imported.toml)?;
    Ok((policy, imported.warnings))
}

thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<Diagnostic>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps an import's warnings for the command to print once: a file read
/// twice (a suite, a sweep) warns once.
pub fn keep_warnings(warnings: Vec<Diagnostic>) {
    WARNINGS.with(|w| {
        let mut w = w.borrow_mut();
        for d in warnings {
            if !w.contains(&d) {
                w.push(d);
            }
        }
    });
}

/// The warnings of every import since the last call, in the order found.
pub fn take_warnings() -> Vec<Diagnostic> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// A Go duration (`time.ParseDuration`: `1h30m`, `2.5s`, `300ms`), or a
/// bare integer when `bare_seconds` (Argo's pause duration: an integer or
/// a string without a unit is seconds).
///
/// # Errors
/// A message naming what is wrong.
pub fn go_duration(text: &str, bare_seconds: bool) -> Result<SimDuration, String> {
    let t = text.trim();
    if bare_seconds && let Ok(s) = t.parse::<u64>() {
        return Ok(SimDuration::from_secs(s));
    }
    let re = regex::Regex::new(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$").map_err(|e| e.to_string())?;
    if t.is_empty() || !re.is_match(t) {
        return Err(format!(
            "bad duration {text:?}: expected a Go duration such as \"30s\", \"5m\" or \"1h30m\""
        ));
    }
    let part = regex::Regex::new(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)").map_err(|e| e.to_string())?;
    let mut ms = 0.0;
    for c in part.captures_iter(t) {
        let x: f64 = c[1].parse().map_err(|_| format!("bad duration {text:?}"))?;
        ms += x * match &c[2] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            _ => 0.001,
        };
    }
    if ms > 1e12 {
        return Err(format!("duration {text:?} is too long"));
    }
    Ok(SimDuration::from_ms(ms.round() as u64))
}

/// A threshold check on `meaning`'s metric that passes while the query's
/// value lies in `[low, high]` (either end open), as policy TOML; `None`
/// when the interval holds every value the metric can take (the check
/// could never fail).
pub fn bound_check(meaning: &promql::Meaning, low: Option<f64>, high: Option<f64>) -> Option<String> {
    let m = meaning.metric;
    let mut parts = vec![format!("metric = {}", quote(m.name()))];
    let mut push = |key: &str, x: f64| parts.push(format!("{key} = {}", number(round(x))));
    let mut any = false;
    match meaning.relative {
        promql::Relative::No => {
            let (lo, hi) = if meaning.increasing() {
                (low.map(|q| meaning.to_metric(q)), high.map(|q| meaning.to_metric(q)))
            } else {
                (high.map(|q| meaning.to_metric(q)), low.map(|q| meaning.to_metric(q)))
            };
            // Every metric is ≥ 0, and a fraction ≤ 1: such a bound never fails.
            if let Some(x) = lo.filter(|x| *x > 0.0) {
                push("min", x);
                any = true;
            }
            if let Some(x) = hi.filter(|x| !(m.is_fraction() && *x >= 1.0)) {
                push("max", x);
                any = true;
            }
        }
        promql::Relative::Difference => {
            // q = ±scale · (canary − baseline).
            let sign = if meaning.complement { -1.0 } else { 1.0 };
            let d = |q: f64| sign * q / meaning.scale;
            let (lo, hi) = if sign > 0.0 {
                (low.map(d), high.map(d))
            } else {
                (high.map(d), low.map(d))
            };
            if let Some(x) = hi {
                push("max_increase", x);
                any = true;
            }
            if let Some(x) = lo {
                push("max_decrease", -x);
                any = true;
            }
        }
        promql::Relative::Ratio => {
            if let Some(x) = high {
                push("max_ratio", x);
                any = true;
            }
            if let Some(x) = low.filter(|x| *x > 0.0) {
                push("min_ratio", x);
                any = true;
            }
        }
    }
    any.then(|| format!("{{ {} }}", parts.join(", ")))
}

/// Rounds away the float noise of a unit conversion (1 − 0.99 is
/// 0.010000000000000009): 12 significant digits.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 12 - (x.abs().log10().floor() as i32) - 1;
    let p = 10f64.powi(digits.clamp(-300, 300));
    (x * p).round() / p
}

/// A number as JSON: an integer when whole, rounded like [`number`].
pub fn number_value(x: f64) -> serde_json::Value {
    let x = round(x);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        serde_json::json!(x as i64)
    } else {
        serde_json::json!(x)
    }
}
