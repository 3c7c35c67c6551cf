//! How problems in input files reach the user: rendered like rustc (the
//! source line with the offending text underlined, and a `help:` line
//! where one helps), as one short line each, or as JSON objects for
//! editors and CI; colour only when it is wanted.

use std::collections::BTreeSet;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use clap::ValueEnum;
use scenarios::{Diagnostic, Excerpt};
use serde_json::json;

/// How diagnostics are printed (cargo's `--message-format`).
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum MessageFormat {
    /// The source line with the offending text underlined, and a help line.
    #[default]
    Human,
    /// One line per problem: `FILE:LINE: key 'KEY': MESSAGE`.
    Short,
    /// One JSON object per problem (file, line, column, key, message, severity, help).
    Json,
}

/// When output is coloured.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    /// Only on a terminal, and never under `NO_COLOR`; `CLICOLOR_FORCE` forces it.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether a stream that is (or is not) a terminal gets colour:
    /// `--color` first, then `NO_COLOR` (any non-empty value), then
    /// `CLICOLOR_FORCE` (any value but `0`), then the terminal test.
    pub fn colour(self, is_terminal: bool) -> bool {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set("NO_COLOR") => false,
            ColorChoice::Auto
                if set("CLICOLOR_FORCE") && std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") =>
            {
                true
            }
            ColorChoice::Auto => is_terminal,
        }
    }

    /// The choice the command line asks for, read before clap parses it
    /// (clap's own errors and help need it too): the last `--color` wins.
    pub fn from_args(args: &[std::ffi::OsString]) -> ColorChoice {
        let mut choice = ColorChoice::Auto;
        let mut iter = args.iter().map(|a| a.to_string_lossy());
        while let Some(a) = iter.next() {
            let value = if let Some(v) = a.strip_prefix("--color=") {
                Some(v.to_owned())
            } else if a == "--color" {
                iter.next().map(|v| v.into_owned())
            } else {
                None
            };
            if let Some(c) = value.and_then(|v| ColorChoice::from_str(&v, true).ok()) {
                choice = c;
            }
        }
        choice
    }
}

/// The closest of `known` to `name`, if it is close enough to be a slip
/// (an edit distance of at most a third of the name, and at least 1).
pub fn closest<'k>(name: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, k)| *d <= limit && *k != name)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The unknown name and the known ones a message lists, in the shapes
/// aviary's readers write: `unknown key (known keys here: …)`,
/// `unknown metric "x" (known: …)`, `no such built-in scenario or file
/// (built-ins: …)`. Returns the message without its list, the name and
/// the list.
fn listed(d: &Diagnostic) -> Option<(String, String, Vec<String>)> {
    let (head, list) = d.message.rsplit_once(" (")?;
    let list = list.strip_suffix(')')?;
    let (_, names) = list.split_once(": ")?;
    let known: Vec<String> = names.split(", ").map(str::to_owned).collect();
    let name = if head == "unknown key" {
        let last = d.key.rsplit('.').next().unwrap_or(&d.key);
        last.split('[').next().unwrap_or(last).to_owned()
    } else if let Some((_, quoted)) = head.split_once('"') {
        quoted.split('"').next()?.to_owned()
    } else if head.starts_with("no such ") {
        d.file.clone()
    } else {
        return None;
    };
    Some((head.to_owned(), name, known))
}

/// Fills in what the readers leave to the command line: a "did you mean"
/// for a misspelt name (dropping the list of every name when one is
/// close, in the human format), and the source line of a file on disk
/// when the reader kept none.
pub fn enrich(d: &mut Diagnostic, format: MessageFormat) {
    if d.help.is_none()
        && let Some((head, name, known)) = listed(d)
        && let Some(best) = closest(&name, known.iter().map(String::as_str))
    {
        d.help = Some(format!("did you mean '{best}'?"));
        if format == MessageFormat::Human {
            d.message = head;
        }
    }
    if d.excerpt.is_none()
        && d.line > 0
        && let Ok(text) = std::fs::read_to_string(&d.file)
        && let Some(line) = text.lines().nth(d.line - 1)
    {
        // Underline the key's last name where the line holds it, else the line.
        let last = d.key.rsplit('.').next().unwrap_or("");
        let last = last.split('[').next().unwrap_or(last);
        let trimmed = line.len() - line.trim_start().len();
        let (start, end) = match line.find(last).filter(|_| !last.is_empty()) {
            Some(at) => (at, at + last.len()),
            None => (trimmed, line.trim_end().len().max(trimmed)),
        };
        let excerpt = Excerpt {
            text: line.to_owned(),
            start,
            end,
        };
        if d.column == 0 {
            d.column = excerpt.column();
        }
        d.excerpt = Some(excerpt);
    }
}

/// One diagnostic, as `format` says.
pub fn render(d: &Diagnostic, format: MessageFormat, colour: bool) -> String {
    match format {
        MessageFormat::Short => match &d.help {
            Some(h) => format!("error: {d} (help: {h})\n"),
            None => format!("error: {d}\n"),
        },
        MessageFormat::Json => {
            let mut v = json!({
                "file": d.file,
                "line": d.line,
                "column": d.column,
                "key": d.key,
                "message": d.message,
                "severity": "error",
            });
            if let Some(h) = &d.help {
                v["help"] = json!(h);
            }
            format!("{v}\n")
        }
        MessageFormat::Human => human(d, colour),
    }
}

fn human(d: &Diagnostic, colour: bool) -> String {
    let renderer = if colour { Renderer::styled() } else { Renderer::plain() };
    let Some(x) = d.excerpt.as_ref().filter(|_| d.line > 0) else {
        // No line to show (a whole-file problem, a built-in name).
        let mut out = format!("error: {d}\n");
        if let Some(h) = &d.help {
            out.push_str(&format!("  = help: {h}\n"));
        }
        return paint(out, colour);
    };
    let title = if d.key.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.key, d.message)
    };
    // A zero-width span points at one character (or the line's end).
    let end = if x.end > x.start {
        x.end
    } else {
        x.text[x.start..]
            .chars()
            .next()
            .map_or(x.start, |c| x.start + c.len_utf8())
    };
    let mut group = Level::ERROR.primary_title(title.as_str()).element(
        Snippet::source(x.text.as_str())
            .line_start(d.line)
            .path(d.file.as_str())
            .annotation(AnnotationKind::Primary.span(x.start..end)),
    );
    if let Some(h) = &d.help {
        group = group.element(Level::HELP.message(h.as_str()));
    }
    let mut out = renderer.render(&[group]);
    // A blank line after each, as rustc leaves.
    out.push_str("\n\n");
    out
}

/// The plain fallback coloured like the rest: `error:` in bold red.
fn paint(text: String, colour: bool) -> String {
    match (colour, text.strip_prefix("error:")) {
        (true, Some(rest)) => format!("\x1b[1;31merror\x1b[0m:{rest}"),
        _ => text,
    }
}

/// The last line: how many problems in how many files.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let files: BTreeSet<&str> = diagnostics.iter().map(|d| d.file.as_str()).collect();
    let (n, f) = (diagnostics.len(), files.len());
    format!(
        "aviary: {n} problem{} in {f} file{}; nothing was run\n",
        if n == 1 { "" } else { "s" },
        if f == 1 { "" } else { "s" }
    )
}
