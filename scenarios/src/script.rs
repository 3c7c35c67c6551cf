//! Scripts: timed commands for a scripted decider (`aviary run --script`).
//!
//! Two forms, recognised by their first non-blank character:
//!
//! - **JSON lines**, `{` first: only lines with `"type": "command"` are read,
//!   so the whole `--format jsonl` output of a run is a script that replays
//!   that run's decisions. Keys: `t_s` (seconds), `command`, and the
//!   command's arguments (`weight`; `then`, `after_s`; `phase`), with `by`
//!   and `metric` optional.
//! - **TOML**: `[[command]]` tables with `at = "12m30s"`, `command =
//!   "rollback"` and the same arguments (`after` is a duration string).
//!
//! `by` names who first issued a command (`policy`, `script`, `trainee`,
//! `trainer`, `oracle`; checked): a game day's replay keeps it, while
//! `aviary run --script` logs every command as the script's. A game day's session log
//! is such a JSON-lines script; its game master's `inject_fault` lines
//! (`fault`: one of `sim_core::gameday::INJECTABLE`, `onset_s`: counted from
//! the candidate's first traffic) add that fault to the scenario the script
//! runs on.
//!
//! Every problem is reported with the file, line and key, like every other
//! file.

use serde_json::Value;
use sim_core::control::script::Scripted;
use sim_core::control::{By, Command};
use sim_core::gameday::{INJECTABLE, Injection};
use sim_core::limits::{HORIZON_MAX, SCRIPT_COMMANDS_MAX};
use sim_core::model::{Action, Metric};
use sim_core::time::{SimDuration, SimTime};

use crate::reader::{Diagnostic, Source, Table};

/// A script: its commands and the faults a game master injected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    pub commands: Vec<Scripted>,
    pub injections: Vec<Injection>,
}

/// One line or table of a script.
enum Item {
    Command(Scripted),
    Inject(Injection),
}

fn by(name: &str) -> Result<By, String> {
    By::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = By::ALL.iter().map(|b| b.name()).collect();
        format!("unknown author {name:?} (known: {})", known.join(", "))
    })
}

fn injectable(name: &str) -> Result<String, String> {
    if INJECTABLE.iter().any(|(n, _)| *n == name) {
        Ok(name.to_owned())
    } else {
        let known: Vec<&str> = INJECTABLE.iter().map(|(n, _)| *n).collect();
        Err(format!("unknown fault {name:?} (known: {})", known.join(", ")))
    }
}

/// The top-level keys of a TOML script.
pub const TOP_KEYS: [&str; 1] = ["command"];

/// The arguments of one command as read from either form.
#[derive(Default)]
struct Args {
    weight: Option<(u64, String)>,
    then: Option<(String, String)>,
    after: Option<SimDuration>,
    phase: Option<(u64, String)>,
}

/// The key that carries each argument, in both forms.
fn arg_keys(name: &str) -> &'static [&'static str] {
    match name {
        "set_weight" => &["weight"],
        "page" => &["then", "after"],
        "begin_phase" | "finish_phase" => &["phase"],
        "inject_fault" => &["fault", "onset"],
        _ => &[],
    }
}

/// Builds the command `name` from its arguments; errors are (key, message).
fn command(name: &str, a: &Args) -> Result<Command, (String, String)> {
    let missing = |key: &str| (key.to_owned(), format!("missing: '{name}' needs '{key}'"));
    Ok(match name {
        "start" => Command::Start,
        "next_step" => Command::NextStep,
        "promote" => Command::Promote,
        "hold" => Command::Hold,
        "resume" => Command::Resume,
        "rollback" => Command::Rollback,
        "kill_switch" => Command::KillSwitch,
        "hotfix" => Command::Hotfix,
        "set_weight" => {
            let (w, key) = a.weight.clone().ok_or_else(|| missing("weight"))?;
            if w > 100 {
                return Err((key, format!("{w} is out of range 0..=100")));
            }
            Command::SetWeight { weight: w as u32 }
        }
        "page" => {
            let (then, key) = a.then.clone().ok_or_else(|| missing("then"))?;
            let then = Action::from_name(&then).filter(|x| *x != Action::Page).ok_or_else(|| {
                let known: Vec<&str> = Action::ALL
                    .iter()
                    .filter(|x| **x != Action::Page)
                    .map(|x| x.name())
                    .collect();
                (key, format!("unknown action {then:?} (known: {})", known.join(", ")))
            })?;
            let after = a.after.ok_or_else(|| missing("after"))?;
            Command::Page { then, after }
        }
        "begin_phase" | "finish_phase" => {
            let (p, key) = a.phase.clone().ok_or_else(|| missing("phase"))?;
            if p == 0 {
                return Err((key, "phases count from 1".to_owned()));
            }
            let index = (p - 1) as usize;
            if name == "begin_phase" {
                Command::BeginPhase { index }
            } else {
                Command::FinishPhase { index }
            }
        }
        other => {
            return Err((
                "command".to_owned(),
                format!("unknown command {other:?} (known: {})", Command::NAMES.join(", ")),
            ));
        }
    })
}

fn metric(name: &str) -> Result<Metric, String> {
    Metric::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        format!("unknown metric {name:?} (known: {})", known.join(", "))
    })
}

/// Parses a script; `file` names it in diagnostics.
///
/// # Errors
/// Every problem in the file.
pub fn parse(file: &str, text: &str) -> Result<Script, Vec<Diagnostic>> {
    let json = text.trim_start().starts_with('{');
    let (items, diagnostics) = if json {
        parse_jsonl(file, text)
    } else {
        parse_toml(file, text)
    };
    let mut script = Script::default();
    for item in items {
        match item {
            Item::Command(c) => script.commands.push(c),
            Item::Inject(i) => script.injections.push(i),
        }
    }
    let commands = &script.commands;
    let mut diagnostics = diagnostics;
    crate::reader::sort_by_line(&mut diagnostics);
    if diagnostics.is_empty() && commands.len() > SCRIPT_COMMANDS_MAX {
        diagnostics.push(Diagnostic {
            file: file.to_owned(),
            line: 0,
            key: String::new(),
            message: format!(
                "{} commands; at most {SCRIPT_COMMANDS_MAX} are supported",
                commands.len()
            ),
            ..Default::default()
        });
    }
    if diagnostics.is_empty() {
        Ok(script)
    } else {
        Err(diagnostics)
    }
}

fn parse_jsonl(file: &str, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diagnostics = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut error = |key: &str, message: String| {
            diagnostics.push(Diagnostic {
                file: file.to_owned(),
                line: i + 1,
                key: key.to_owned(),
                message,
                ..Default::default()
            });
        };
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                error("", format!("not a JSON object: {e}"));
                continue;
            }
        };
        let Some(o) = v.as_object() else {
            error("", "not a JSON object".to_owned());
            continue;
        };
        if o.get("type").and_then(Value::as_str) != Some("command") {
            continue;
        }
        match json_command(o) {
            Ok(c) => out.push(c),
            Err(errors) => errors.into_iter().for_each(|(k, m)| error(&k, m)),
        }
    }
    (out, diagnostics)
}

/// One `"type": "command"` line; errors are (key, message).
fn json_command(o: &serde_json::Map<String, Value>) -> Result<Item, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let name = match o.get("command").and_then(Value::as_str) {
        Some(n) => n.to_owned(),
        None => return Err(vec![("command".to_owned(), "missing: a command name".to_owned())]),
    };
    let allowed = arg_keys(&name);
    for key in o.keys() {
        let general = ["t_s", "type", "command", "by", "metric"].contains(&key.as_str());
        let arg = allowed
            .iter()
            .any(|a| *a == key || (*a == "after" && key == "after_s") || (*a == "onset" && key == "onset_s"));
        if !general && !arg {
            errors.push((key.clone(), format!("does not apply to command '{name}'")));
        }
    }
    let at = match o.get("t_s").and_then(Value::as_f64) {
        Some(t) if t >= 0.0 && t <= HORIZON_MAX.as_secs_f64() => SimTime::ZERO + SimDuration::from_secs_f64(t),
        Some(t) => {
            errors.push((
                "t_s".to_owned(),
                format!("{t} is out of range 0..={}", HORIZON_MAX.as_secs_f64()),
            ));
            SimTime::ZERO
        }
        None => {
            errors.push(("t_s".to_owned(), "missing: the command's time in seconds".to_owned()));
            SimTime::ZERO
        }
    };
    let whole = |key: &str| o.get(key).and_then(Value::as_u64).map(|x| (x, key.to_owned()));
    let args = Args {
        weight: whole("weight"),
        then: o
            .get("then")
            .and_then(Value::as_str)
            .map(|s| (s.to_owned(), "then".to_owned())),
        after: o
            .get("after_s")
            .and_then(Value::as_f64)
            .filter(|s| *s >= 0.0 && *s <= HORIZON_MAX.as_secs_f64())
            .map(SimDuration::from_secs_f64),
        phase: whole("phase"),
    };
    let metric = match o.get("metric").map(|m| m.as_str().ok_or("a metric name").map(metric)) {
        None => None,
        Some(Ok(Ok(m))) => Some(m),
        Some(Ok(Err(e))) => {
            errors.push(("metric".to_owned(), e));
            None
        }
        Some(Err(e)) => {
            errors.push(("metric".to_owned(), format!("expected {e}")));
            None
        }
    };
    let author = match o.get("by").map(|b| b.as_str().ok_or("an author's name").map(by)) {
        None => None,
        Some(Ok(Ok(b))) => Some(b),
        Some(Ok(Err(e))) => {
            errors.push(("by".to_owned(), e));
            None
        }
        Some(Err(e)) => {
            errors.push(("by".to_owned(), format!("expected {e}")));
            None
        }
    };
    if name == "inject_fault" {
        let fault = match o.get("fault").map(|f| f.as_str().map(injectable)) {
            Some(Some(Ok(f))) => Some(f),
            Some(Some(Err(e))) => {
                errors.push(("fault".to_owned(), e));
                None
            }
            Some(None) => {
                errors.push(("fault".to_owned(), "expected a fault's name".to_owned()));
                None
            }
            None => {
                errors.push(("fault".to_owned(), "missing: 'inject_fault' needs 'fault'".to_owned()));
                None
            }
        };
        let onset = match o.get("onset_s") {
            None => Some(SimDuration::ZERO),
            Some(v) => match v.as_f64() {
                Some(t) if t >= 0.0 && t <= HORIZON_MAX.as_secs_f64() => Some(SimDuration::from_secs_f64(t)),
                _ => {
                    errors.push((
                        "onset_s".to_owned(),
                        format!("expected seconds in 0..={}", HORIZON_MAX.as_secs_f64()),
                    ));
                    None
                }
            },
        };
        return match (fault, onset) {
            (Some(fault), Some(onset)) if errors.is_empty() => Ok(Item::Inject(Injection { at, fault, onset })),
            _ => Err(errors),
        };
    }
    let key_for = |k: String| if k == "after" { "after_s".to_owned() } else { k };
    match command(&name, &args) {
        Ok(command) if errors.is_empty() => Ok(Item::Command(Scripted {
            at,
            command,
            metric,
            by: author,
        })),
        Ok(_) => Err(errors),
        Err((k, m)) => {
            errors.push((key_for(k), m));
            Err(errors)
        }
    }
}

fn parse_toml(file: &str, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut src = Source::new(file, text);
    let mut out = Vec::new();
    if let Some(doc) = src.parse() {
        let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
        match top.opt_tables(&mut src, "command") {
            Some(tables) => {
                for t in tables {
                    if let Some(c) = toml_command(&mut src, t) {
                        out.push(c);
                    }
                }
            }
            None if !top.has("command") => src.error(&(0..0), "command", "missing: [[command]] tables"),
            None => {}
        }
        top.finish(&mut src);
    }
    (out, src.into_diagnostics())
}

fn toml_command(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Item> {
    let at = t.req_duration(src, "at", HORIZON_MAX);
    let name = t.req_str(src, "command");
    let author = match t.opt_str(src, "by").as_deref().map(by) {
        Some(Err(e)) => {
            let span = t.span_of("by");
            src.error(&span, &t.key_path("by"), e);
            None
        }
        Some(Ok(b)) => Some(b),
        None => None,
    };
    if name.as_deref() == Some("inject_fault") {
        let fault = match t.req_str(src, "fault").map(|f| injectable(&f)) {
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => {
                let span = t.span_of("fault");
                src.error(&span, &t.key_path("fault"), e);
                None
            }
            None => None,
        };
        let onset = t.opt_duration(src, "onset", HORIZON_MAX).unwrap_or(SimDuration::ZERO);
        t.finish(src);
        return match (at, fault) {
            (Some(at), Some(fault)) => Some(Item::Inject(Injection {
                at: SimTime::ZERO + at,
                fault,
                onset,
            })),
            _ => None,
        };
    }
    let metric_name = t.opt_str(src, "metric");
    let metric = match metric_name.as_deref().map(metric) {
        Some(Err(e)) => {
            let span = t.span_of("metric");
            src.error(&span, &t.key_path("metric"), e);
            None
        }
        Some(Ok(m)) => Some(m),
        None => None,
    };
    let allowed = name.as_deref().map_or(&[][..], arg_keys);
    let mut args = Args::default();
    if allowed.contains(&"weight") {
        args.weight = t.opt_u64(src, "weight", 0, 100).map(|w| (w, "weight".to_owned()));
    }
    if allowed.contains(&"then") {
        args.then = t.opt_str(src, "then").map(|s| (s, "then".to_owned()));
        args.after = t.opt_duration(src, "after", HORIZON_MAX);
    }
    if allowed.contains(&"phase") {
        args.phase = t.opt_u64(src, "phase", 1, 1_000).map(|p| (p, "phase".to_owned()));
    }
    let built = name.as_deref().map(|n| command(n, &args));
    let result = match built {
        Some(Ok(command)) => at.map(|at| {
            Item::Command(Scripted {
                at: SimTime::ZERO + at,
                command,
                metric,
                by: author,
            })
        }),
        Some(Err((key, message))) => {
            let span = if t.has(&key) { t.span_of(&key) } else { t.span.clone() };
            src.error(&span, &t.key_path(&key), message);
            None
        }
        None => None,
    };
    t.finish(src);
    result
}
