//! File formats for aviary: TOML scenarios and policies, their validation,
//! and the built-in catalog.
//!
//! Reading a file has two stages: the raw spanned TOML document, read by
//! [`reader::Table`], which records every problem with its file, line and
//! key; then the validated `sim_core::model` types. A file with any problem
//! yields all of its diagnostics at once and no value.

pub mod baseline;
pub mod catalog;
pub mod import;
pub mod metrics_csv;
pub mod policy;
pub mod reader;
pub mod scenario;
pub mod script;
pub mod suite;
pub mod vary;

use std::path::Path;

use reader::Source;
pub use reader::{Diagnostic, Excerpt};
use sim_core::model::{Policy, Scenario};

/// Parses scenario text; `file` names it in diagnostics.
///
/// # Errors
/// Every problem in the file.
pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, Vec<Diagnostic>> {
    parse_scenario_in(file, text, None)
}

/// Parses scenario text whose relative paths (a traffic CSV) are resolved
/// against `dir`; `None` forbids reading files (built-ins).
///
/// # Errors
/// Every problem in the file.
pub fn parse_scenario_in(file: &str, text: &str, dir: Option<&Path>) -> Result<Scenario, Vec<Diagnostic>> {
    let mut src = Source::new(file, text);
    scenario::parse(&mut src, dir).ok_or_else(|| src.into_diagnostics())
}

/// Parses policy text; `file` names it in diagnostics.
///
/// # Errors
/// Every problem in the file.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, Vec<Diagnostic>> {
    let mut src = Source::new(file, text);
    policy::parse(&mut src).ok_or_else(|| src.into_diagnostics())
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    Policy,
    Script,
    Suite,
}

impl FileKind {
    /// In the order a tie is decided.
    const ALL: [FileKind; 4] = [FileKind::Scenario, FileKind::Policy, FileKind::Script, FileKind::Suite];

    fn top_keys(self) -> &'static [&'static str] {
        match self {
            FileKind::Scenario => &scenario::TOP_KEYS,
            FileKind::Policy => &policy::TOP_KEYS,
            FileKind::Script => &script::TOP_KEYS,
            FileKind::Suite => &suite::TOP_KEYS,
        }
    }

    /// Decides what `text` holds from its parsed top-level keys: JSON lines
    /// (`{` first) are a script; otherwise the kind that the most of its
    /// top-level keys belong to and no other kind (a `strategy` or `steps`
    /// makes a policy, a `traffic` or `fleet` a scenario, a `command` a
    /// script). A tie, or no such key, is read as a scenario, whose reader
    /// then names every key it does not know.
    pub fn of(text: &str) -> FileKind {
        if text.trim_start().starts_with('{') {
            return FileKind::Script;
        }
        let (doc, _) = toml::de::DeTable::parse_recoverable(text);
        let own = |kind: FileKind| {
            doc.get_ref()
                .iter()
                .map(|(k, _)| k.get_ref().as_ref())
                .filter(|k| {
                    kind.top_keys().contains(k)
                        && FileKind::ALL
                            .iter()
                            .all(|other| *other == kind || !other.top_keys().contains(k))
                })
                .count()
        };
        let mut best = FileKind::Scenario;
        for kind in FileKind::ALL {
            if own(kind) > own(best) {
                best = kind;
            }
        }
        best
    }
}

/// A validated file of any kind.
pub enum Loaded {
    Scenario(Box<Scenario>),
    Policy(Box<Policy>),
    Script(script::Script),
    Suite(Box<suite::Suite>),
}

/// Validates a scenario, policy or script file, deciding its kind by its
/// top-level keys ([`FileKind::of`]).
///
/// # Errors
/// Every problem in the file.
pub fn parse_any(file: &str, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    if let Some(tool) = import::detect(text) {
        return foreign_policy(tool, file, text).map(|p| Loaded::Policy(Box::new(p)));
    }
    match FileKind::of(text) {
        FileKind::Policy => parse_policy(file, text).map(|p| Loaded::Policy(Box::new(p))),
        FileKind::Script => script::parse(file, text).map(Loaded::Script),
        FileKind::Suite => {
            let dir = Path::new(file).parent().unwrap_or(Path::new(""));
            suite::parse(file, text, dir).map(|s| Loaded::Suite(Box::new(s)))
        }
        FileKind::Scenario => {
            let dir = Path::new(file).parent().filter(|_| !file.starts_with("<built-in>"));
            parse_scenario_in(file, text, dir).map(|s| Loaded::Scenario(Box::new(s)))
        }
    }
}

fn file_error(file: &str, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic {
        file: file.to_owned(),
        line: 0,
        key: String::new(),
        message,
        ..Default::default()
    }]
}

/// Reads a file's text, mapping I/O failures to a diagnostic.
///
/// # Errors
/// The file cannot be read, or is not UTF-8 (the diagnostic names the line
/// of the first bad byte).
pub fn read_file(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| file_error(&label, format!("cannot read file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| vec![not_utf8(&label, e.as_bytes(), &e.utf8_error())])
}

/// Where `bytes` stop being UTF-8, as a diagnostic on that line.
fn not_utf8(file: &str, bytes: &[u8], e: &std::str::Utf8Error) -> Diagnostic {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    let message = match e.error_len() {
        Some(_) => format!(
            "not UTF-8: byte 0x{:02x} at column {column} (save the file as UTF-8)",
            bytes[e.valid_up_to()]
        ),
        None => format!("not UTF-8: the file ends inside a character at column {column} (a truncated file?)"),
    };
    Diagnostic {
        file: file.to_owned(),
        line: good.iter().filter(|&&b| b == b'\n').count() + 1,
        key: String::new(),
        message,
        ..Default::default()
    }
}

/// True if `arg` names a file rather than a built-in.
pub(crate) fn looks_like_path(arg: &str) -> bool {
    [".toml", ".yaml", ".yml", ".json"].iter().any(|e| arg.ends_with(e)) || arg.contains('/') || arg.contains('\\')
}

/// A scenario by built-in name or file path.
///
/// # Errors
/// Unknown name, unreadable file, or every problem in the file.
pub fn load_scenario(arg: &str) -> Result<Scenario, Vec<Diagnostic>> {
    if !looks_like_path(arg) {
        if let Some(b) = catalog::scenario(arg) {
            return parse_scenario(&b.label(), b.text);
        }
        if !Path::new(arg).exists() {
            let names: Vec<&str> = catalog::SCENARIOS.iter().map(|b| b.name).collect();
            return Err(file_error(
                arg,
                format!("no such built-in scenario or file (built-ins: {})", names.join(", ")),
            ));
        }
    }
    let path = Path::new(arg);
    // A bare file name's parent is "", which joins as the current folder.
    let dir = path.parent().unwrap_or(Path::new(""));
    parse_scenario_in(arg, &read_file(path)?, Some(dir))
}

/// A policy by preset name or file path.
///
/// # Errors
/// Unknown name, unreadable file, or every problem in the file.
pub fn load_policy(arg: &str) -> Result<Policy, Vec<Diagnostic>> {
    if !looks_like_path(arg) {
        if let Some(b) = catalog::policy(arg) {
            return parse_policy(&b.label(), b.text);
        }
        if !Path::new(arg).exists() {
            let names: Vec<&str> = catalog::POLICIES.iter().map(|b| b.name).collect();
            return Err(file_error(
                arg,
                format!("no such policy preset or file (presets: {})", names.join(", ")),
            ));
        }
    }
    let text = read_file(Path::new(arg))?;
    match import::detect(&text) {
        Some(tool) => foreign_policy(tool, arg, &text),
        None => parse_policy(arg, &text),
    }
}

/// An Argo Rollouts, Flagger or Kayenta file read as a policy: imported,
/// its warnings kept for the command to print ([`import::take_warnings`]).
fn foreign_policy(tool: import::Tool, file: &str, text: &str) -> Result<Policy, Vec<Diagnostic>> {
    let (policy, warnings) = import::load(tool, file, text)?;
    import::keep_warnings(warnings);
    Ok(policy)
}

/// The text of a built-in or a file named by `arg`, its label, and the
/// folder its relative paths resolve against (`None` for a built-in).
///
/// # Errors
/// Unknown name or unreadable file.
pub fn source(arg: &str, scenario: bool) -> Result<(String, String, Option<std::path::PathBuf>), Vec<Diagnostic>> {
    if !looks_like_path(arg) {
        let builtin = if scenario {
            catalog::scenario(arg)
        } else {
            catalog::policy(arg)
        };
        if let Some(b) = builtin {
            return Ok((b.label(), b.text.to_owned(), None));
        }
        if !Path::new(arg).exists() {
            let what = if scenario { "scenario" } else { "policy preset" };
            return Err(file_error(arg, format!("no such built-in {what} or file")));
        }
    }
    let path = Path::new(arg);
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let text = read_file(path)?;
    // A policy in a foreign format is its imported aviary policy: what
    // `--vary` edits and what a baseline hashes.
    if !scenario && let Some(tool) = import::detect(&text) {
        let inputs = import::with_siblings(tool, arg, &text);
        let imported = import::import(tool, &inputs, &import::Options::default())?;
        import::keep_warnings(imported.warnings);
        return Ok((arg.to_owned(), imported.toml, Some(dir)));
    }
    Ok((arg.to_owned(), text, Some(dir)))
}

/// A suite file.
///
/// # Errors
/// Unreadable file, or every problem in it and in the files it names.
pub fn load_suite(path: &Path) -> Result<suite::Suite, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new(""));
    suite::parse(&label, &read_file(path)?, dir)
}

/// A script of timed commands (JSON lines or TOML) from a file.
///
/// # Errors
/// Unreadable file, or every problem in the file.
pub fn load_script(path: &Path) -> Result<script::Script, Vec<Diagnostic>> {
    let label = path.display().to_string();
    script::parse(&label, &read_file(path)?)
}

/// Where `key` (dotted, as in a diagnostic, with 1-based `[n]` indices) is
/// written in the file or built-in `arg` names: its label and the 1-based
/// line of the deepest part of the key the file writes (the element
/// `steps[3]`, else the `steps` array), or 0 if none of it is written
/// (e.g. a key left to its default).
pub fn locate(arg: &str, key: &str, scenario: bool) -> (String, usize) {
    let builtin = if looks_like_path(arg) {
        None
    } else if scenario {
        catalog::scenario(arg)
    } else {
        catalog::policy(arg)
    };
    let (label, text) = match builtin {
        Some(b) => (b.label(), b.text.to_owned()),
        None => (arg.to_owned(), std::fs::read_to_string(arg).unwrap_or_default()),
    };
    let (doc, _) = toml::de::DeTable::parse_recoverable(&text);
    let line = span_of_key(doc.get_ref(), key).map_or(0, |span| Source::new(&label, &text).line_of(span.start));
    (label, line)
}

/// The span of the deepest written part of dotted `key` in `table`.
fn span_of_key(table: &toml::de::DeTable<'_>, key: &str) -> Option<std::ops::Range<usize>> {
    use toml::de::DeValue;
    let mut found = None;
    let mut here = table;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (k, v) = here.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        // A key written as a `[table]` header has the header's span.
        found = Some(if v.span().is_empty() { k.span() } else { v.span() });
        let value = match (v.get_ref(), index) {
            (DeValue::Array(items), Some(i)) => {
                let item = items.get(i.checked_sub(1)?)?;
                found = Some(item.span());
                item.get_ref()
            }
            (value, _) => value,
        };
        match value {
            DeValue::Table(t) => here = t,
            _ => break,
        }
    }
    found
}
