//! A reader over a spanned TOML document that records every problem it
//! meets (file, line, dotted key, message) instead of stopping at the first.
//!
//! The raw stage of a file: each `Table` hands out typed values and
//! remembers which keys it was asked for; `finish` reports the rest as
//! unknown keys.

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use sim_core::time::{SimDuration, parse_duration};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in an input file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// Dotted key, e.g. `analysis.checks[2].metric`; empty for the file itself.
    pub key: String,
    pub message: String,
    /// 1-based column (in characters) of the offending text; 0 when unknown.
    pub column: usize,
    /// A hint, such as the closest known name (`did you mean …?`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The offending line and what to underline in it, for rendering.
    #[serde(skip)]
    pub excerpt: Option<Excerpt>,
}

/// A source line and the byte range in it a diagnostic points at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Excerpt {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Excerpt {
    /// The line of `text` holding byte `start` of `span`, with the part of
    /// the span on that line (at least one character).
    pub fn of(text: &str, span: &Range<usize>) -> Excerpt {
        let at = span.start.min(text.len());
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let line = text[line_start..line_end].trim_end_matches('\r');
        let start = (at - line_start).min(line.len());
        let end = span.end.saturating_sub(line_start).clamp(start, line.len());
        Excerpt {
            text: line.to_owned(),
            start,
            end,
        }
    }

    /// The 1-based column, in characters, of the excerpt's start.
    pub fn column(&self) -> usize {
        self.text.get(..self.start).map_or(0, |t| t.chars().count()) + 1
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, true) => write!(f, "{}: {}", self.file, self.message),
            (0, false) => write!(f, "{}: key '{}': {}", self.file, self.key, self.message),
            (_, true) => write!(f, "{}:{}: {}", self.file, self.line, self.message),
            (_, false) => write!(f, "{}:{}: key '{}': {}", self.file, self.line, self.key, self.message),
        }
    }
}

/// Puts diagnostics in line order, a whole-file problem (line 0) first.
/// The sort is stable: problems on one line keep the order they were found
/// in (a table's keys in file order).
pub fn sort_by_line(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.line);
}

/// The file being read and the diagnostics found so far.
pub struct Source<'s> {
    pub file: &'s str,
    text: &'s str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'s> Source<'s> {
    pub fn new(file: &'s str, text: &'s str) -> Source<'s> {
        Source {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    pub fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        let line = self.line_of(span.start);
        let excerpt = Excerpt::of(self.text, span);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
            column: excerpt.column(),
            help: None,
            excerpt: Some(excerpt),
        });
    }

    /// The diagnostics found, in line order.
    pub fn into_diagnostics(mut self) -> Vec<Diagnostic> {
        sort_by_line(&mut self.diagnostics);
        self.diagnostics
    }

    /// Parses the text as a TOML document; syntax errors become diagnostics.
    /// A NUL byte (never valid TOML) is named as such, once per line, rather
    /// than by the string or key the parser was reading when it met it.
    pub fn parse(&mut self) -> Option<Spanned<DeTable<'s>>> {
        let mut last_line = 0;
        for (at, _) in self.text.match_indices('\0') {
            let line = self.line_of(at);
            if line != last_line {
                let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
                let column = self.text[line_start..at].chars().count() + 1;
                self.error(
                    &(at..at),
                    "",
                    format!("a NUL byte at column {column}: TOML is text (a binary or damaged file?)"),
                );
                last_line = line;
            }
        }
        if last_line != 0 {
            return None;
        }
        let (doc, errors) = DeTable::parse_recoverable(self.text);
        for e in &errors {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_owned();
            self.error(&span, "", format!("invalid TOML: {message}"));
        }
        errors.is_empty().then_some(doc)
    }
}

fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {}", i.as_str()),
        DeValue::Float(f) => format!("float {}", f.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// Reads an integer or float as `f64`.
fn as_number(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|x| x as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    }
}

/// A table being read: its dotted path, its span, and the keys asked for.
pub struct Table<'t, 'i> {
    pub path: String,
    pub span: Range<usize>,
    table: &'t DeTable<'i>,
    used: Vec<&'static str>,
    /// Keys reported some other way; `finish` neither reports nor lists them.
    handled: Vec<&'static str>,
}

impl<'t, 'i> Table<'t, 'i> {
    pub fn new(path: String, span: Range<usize>, table: &'t DeTable<'i>) -> Table<'t, 'i> {
        Table {
            path,
            span,
            table,
            used: Vec::new(),
            handled: Vec::new(),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.used.push(key);
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    /// The span of `key`'s value if present, else of the table itself: where
    /// a problem about that key should point.
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map_or_else(|| self.span.clone(), |(_, v)| v.span())
    }

    /// The keys the file sets in this table, in file order.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<(usize, &str)> = self
            .table
            .iter()
            .map(|(k, _)| (k.span().start, k.get_ref().as_ref()))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.iter().any(|(k, _)| k.get_ref().as_ref() == key)
    }

    /// `value`, or a "missing" diagnostic when the key is absent (a present
    /// key of the wrong shape has already been reported).
    fn require<T>(&self, src: &mut Source<'_>, key: &str, value: Option<T>, what: &str) -> Option<T> {
        if value.is_none() && !self.has(key) {
            self.missing(src, key, what);
        }
        value
    }

    fn missing(&self, src: &mut Source<'_>, key: &str, what: &str) {
        src.error(&self.span, &self.key_path(key), format!("missing; expected {what}"));
    }

    fn wrong(&self, src: &mut Source<'_>, key: &str, v: &Spanned<DeValue<'_>>, what: &str) {
        src.error(
            &v.span(),
            &self.key_path(key),
            format!("expected {what}, found {}", describe(v.get_ref())),
        );
    }

    /// An optional value read by `read`; a present value of the wrong shape is an error.
    pub(crate) fn opt<T>(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
        what: &str,
        read: impl FnOnce(&DeValue<'i>) -> Result<Option<T>, String>,
    ) -> Option<T> {
        let v = self.get(key)?;
        match read(v.get_ref()) {
            Ok(Some(x)) => Some(x),
            Ok(None) => {
                self.wrong(src, key, v, what);
                None
            }
            Err(message) => {
                src.error(&v.span(), &self.key_path(key), message);
                None
            }
        }
    }

    pub fn opt_str(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<String> {
        self.opt(src, key, "a string", |v| Ok(v.as_str().map(str::to_owned)))
    }

    pub fn req_str(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<String> {
        let v = self.opt_str(src, key);
        self.require(src, key, v, "a string")
    }

    /// An array of strings; `None` (with a diagnostic) if it is anything else.
    pub fn opt_strings(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Vec<String>> {
        let Some(v) = self.get(key) else {
            return Some(Vec::new());
        };
        let strings = match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|i| i.get_ref().as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if strings.is_none() {
            self.wrong(src, key, v, "an array of strings");
        }
        strings
    }

    /// An array of numbers, each with its span (where a problem with that
    /// element should point); `None` if absent, or (with a diagnostic) if
    /// it is not an array of numbers.
    pub fn opt_numbers(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Vec<(f64, Range<usize>)>> {
        let v = self.get(key)?;
        let numbers = match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|i| as_number(i.get_ref()).map(|x| (x, i.span())))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if numbers.is_none() {
            self.wrong(src, key, v, "an array of numbers");
        }
        numbers
    }

    /// A table of names to numbers in `lo..=hi`, e.g. `{ errors = 60, latency = 40 }`;
    /// `None` (with a diagnostic for each bad entry) unless every entry is one.
    pub fn opt_number_map(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
        lo: f64,
        hi: f64,
    ) -> Option<Vec<(String, f64)>> {
        let t = self.opt_table(src, key)?;
        let names: Vec<String> = t.table.iter().map(|(k, _)| k.get_ref().to_string()).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for name in names {
            let v = t
                .table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == name)
                .map(|(_, v)| v)
                .expect("listed");
            match as_number(v.get_ref()).filter(|x| x.is_finite() && *x >= lo && *x <= hi) {
                Some(x) => out.push((name, x)),
                None => {
                    src.error(
                        &v.span(),
                        &t.key_path(&name),
                        format!("expected a number in {lo}..={hi}, found {}", describe(v.get_ref())),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A table of names to strings, e.g. `{ false_alarm_rate = "<= 0.01" }`,
    /// each entry with the span of its value; `None` (with a diagnostic for
    /// each bad entry) unless every entry is a string.
    pub fn opt_string_map(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
    ) -> Option<Vec<(String, String, Range<usize>)>> {
        let t = self.opt_table(src, key)?;
        let mut entries: Vec<_> = t.table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut out = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            let name = k.get_ref().to_string();
            match v.get_ref().as_str() {
                Some(text) => out.push((name, text.to_owned(), v.span())),
                None => {
                    src.error(
                        &v.span(),
                        &t.key_path(&name),
                        format!("expected a string, found {}", describe(v.get_ref())),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub fn opt_bool(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<bool> {
        self.opt(src, key, "true or false", |v| Ok(v.as_bool()))
    }

    /// A finite number within `lo..=hi`.
    pub fn opt_f64(&mut self, src: &mut Source<'_>, key: &'static str, lo: f64, hi: f64) -> Option<f64> {
        self.opt(src, key, "a number", |v| match as_number(v) {
            None => Ok(None),
            Some(x) if !x.is_finite() || x < lo || x > hi => Err(format!("{x} is out of range {lo}..={hi}")),
            Some(x) => Ok(Some(x)),
        })
    }

    pub fn req_f64(&mut self, src: &mut Source<'_>, key: &'static str, lo: f64, hi: f64) -> Option<f64> {
        let v = self.opt_f64(src, key, lo, hi);
        self.require(src, key, v, &format!("a number in {lo}..={hi}"))
    }

    /// A whole number within `lo..=hi`.
    pub fn opt_u64(&mut self, src: &mut Source<'_>, key: &'static str, lo: u64, hi: u64) -> Option<u64> {
        self.opt(src, key, "a whole number", |v| match v {
            DeValue::Integer(i) => match u64::from_str_radix(i.as_str(), i.radix()) {
                Ok(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
                _ => Err(format!("{} is out of range {lo}..={hi}", i.as_str())),
            },
            _ => Ok(None),
        })
    }

    pub fn req_u64(&mut self, src: &mut Source<'_>, key: &'static str, lo: u64, hi: u64) -> Option<u64> {
        let v = self.opt_u64(src, key, lo, hi);
        self.require(src, key, v, &format!("a whole number in {lo}..={hi}"))
    }

    /// A duration string such as `"10m"`, at most `max`.
    pub fn opt_duration(&mut self, src: &mut Source<'_>, key: &'static str, max: SimDuration) -> Option<SimDuration> {
        self.opt(src, key, "a duration string such as \"30s\" or \"10m\"", |v| {
            match v.as_str() {
                None => Ok(None),
                Some(s) => match parse_duration(s) {
                    Ok(d) if d > max => Err(format!("{d} is longer than the limit of {max}")),
                    Ok(d) => Ok(Some(d)),
                    Err(e) => Err(e),
                },
            }
        })
    }

    pub fn req_duration(&mut self, src: &mut Source<'_>, key: &'static str, max: SimDuration) -> Option<SimDuration> {
        let v = self.opt_duration(src, key, max);
        self.require(src, key, v, "a duration string such as \"30s\" or \"10m\"")
    }

    /// A sub-table (`[a.b]` or inline `{ … }`).
    pub fn opt_table(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Table<'t, 'i>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(self.key_path(key), v.span(), t)),
            _ => {
                self.wrong(src, key, v, "a table");
                None
            }
        }
    }

    pub fn req_table(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Table<'t, 'i>> {
        let t = self.opt_table(src, key);
        self.require(src, key, t, &format!("a [{}] table", self.key_path(key)))
    }

    /// An array of tables (`[[a]]` or `a = [ {…}, … ]`).
    pub fn opt_tables(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Vec<Table<'t, 'i>>> {
        let v = self.get(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong(src, key, v, "an array of tables");
            return None;
        };
        let mut tables = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{}]", self.key_path(key), i + 1);
            match item.get_ref() {
                DeValue::Table(t) => tables.push(Table::new(path, item.span(), t)),
                other => src.error(
                    &item.span(),
                    &path,
                    format!("expected a table, found {}", describe(other)),
                ),
            }
        }
        Some(tables)
    }

    /// Marks `key` as dealt with (its problem, if any, is reported by the
    /// caller): `finish` does not call it unknown, nor list it as known.
    pub fn handled(&mut self, key: &'static str) {
        self.handled.push(key);
    }

    /// Reports every key nobody asked for.
    pub fn finish(self, src: &mut Source<'_>) {
        for (k, _) in self.table.iter() {
            let name: &str = k.get_ref().as_ref();
            if !self.used.contains(&name) && !self.handled.contains(&name) {
                let mut known = self.used.clone();
                known.sort_unstable();
                known.dedup();
                src.error(
                    &k.span(),
                    &self.key_path(name),
                    format!("unknown key (known keys here: {})", known.join(", ")),
                );
            }
        }
    }
}
