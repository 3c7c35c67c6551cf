//! A spanned YAML (or JSON) document, read with serde-saphyr, and a reader
//! over it that records every problem with its file, line and key and
//! remembers which keys were read, so that nothing in a foreign file is
//! dropped without a word.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::reader::Diagnostic;

/// A YAML node with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in file order, each with its line.
    Map(Vec<(String, usize, Node)>),
}

impl Value {
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::Float(f) => format!("number {f}"),
            Value::Str(s) => format!("string {s:?}"),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }
}

struct ValueVisitor;

fn node(s: Spanned<Value>) -> Node {
    Node {
        line: usize::try_from(s.referenced.line()).unwrap_or(0),
        value: s.value,
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Spanned<Value>>()? {
            out.push(node(v));
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out: Vec<(String, usize, Node)> = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Value>>()? {
            let line = usize::try_from(k.referenced.line()).unwrap_or(0);
            let key = match k.value {
                Value::Str(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Null => "null".to_owned(),
                other => {
                    return Err(de::Error::custom(format!(
                        "a key must be a scalar, not {}",
                        other.describe()
                    )));
                }
            };
            let v = node(map.next_value::<Spanned<Value>>()?);
            if out.iter().any(|(k, _, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key {key:?} on line {line}")));
            }
            out.push((key, line, v));
        }
        Ok(Value::Map(out))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Every document of a YAML (or JSON) text, empty documents skipped.
///
/// # Errors
/// A syntax error, named with its file and line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    let docs: Result<Vec<Spanned<Value>>, _> = serde_saphyr::from_multiple(text);
    match docs {
        Ok(docs) => Ok(docs.into_iter().map(node).filter(|n| n.value != Value::Null).collect()),
        Err(e) => {
            let line = e.location().map_or(0, |l| usize::try_from(l.line()).unwrap_or(0));
            let message = e.without_snippet().to_string();
            let message = message.lines().next().unwrap_or("").trim().to_owned();
            Err(vec![Diagnostic {
                file: file.to_owned(),
                line,
                key: String::new(),
                message: format!("invalid YAML: {message}"),
                ..Default::default()
            }])
        }
    }
}

/// What reading a foreign file found: errors stop the import, warnings
/// name what aviary cannot simulate and what it did instead.
#[derive(Default)]
pub struct Report {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Report {
    pub fn error(&mut self, file: &str, line: usize, key: &str, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            file: file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
            ..Default::default()
        });
    }
    pub fn warn(&mut self, file: &str, line: usize, key: &str, message: impl Into<String>) {
        let d = Diagnostic {
            file: file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
            ..Default::default()
        };
        if !self.warnings.contains(&d) {
            self.warnings.push(d);
        }
    }
}

/// A mapping being read: its file, dotted path and line, and the keys asked
/// for (the rest are reported by [`Map::finish`]).
pub struct Map<'n> {
    pub file: &'n str,
    pub path: String,
    pub line: usize,
    entries: &'n [(String, usize, Node)],
    used: BTreeSet<String>,
}

impl<'n> Map<'n> {
    /// `node` as a mapping, or an error naming `path`.
    pub fn new(file: &'n str, path: &str, node: &'n Node, r: &mut Report) -> Option<Map<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Map {
                file,
                path: path.to_owned(),
                line: node.line,
                entries,
                used: BTreeSet::new(),
            }),
            other => {
                r.error(
                    file,
                    node.line,
                    path,
                    format!("expected a mapping, found {}", other.describe()),
                );
                None
            }
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The keys, in file order.
    pub fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _, _)| k.clone()).collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _, _)| k == key)
    }

    /// The node under `key`, marked as read.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let (_, _, n) = self.entries.iter().find(|(k, _, _)| k == key)?;
        self.used.insert(key.to_owned());
        Some(n)
    }

    /// Marks keys as read without reading them (they carry nothing aviary
    /// simulates, and say so elsewhere or need not).
    pub fn ignore(&mut self, keys: &[&str]) {
        for k in keys {
            self.used.insert((*k).to_owned());
        }
    }

    pub fn line_of(&self, key: &str) -> usize {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or(self.line, |(_, l, _)| *l)
    }

    pub fn map(&mut self, key: &str, r: &mut Report) -> Option<Map<'n>> {
        let path = self.key_path(key);
        let file = self.file;
        self.get(key).and_then(|n| Map::new(file, &path, n, r))
    }

    pub fn seq(&mut self, key: &str, r: &mut Report) -> Option<&'n [Node]> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Seq(items) => Some(items),
            Value::Null => Some(&[]),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected a list, found {}", other.describe()),
                );
                None
            }
        }
    }

    pub fn str(&mut self, key: &str, r: &mut Report) -> Option<&'n str> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Str(s) => Some(s),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected a string, found {}", other.describe()),
                );
                None
            }
        }
    }

    /// A scalar as text: strings as they are, numbers and booleans printed.
    pub fn scalar(&mut self, key: &str, r: &mut Report) -> Option<String> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected a value, found {}", other.describe()),
                );
                None
            }
        }
    }

    pub fn num(&mut self, key: &str, r: &mut Report) -> Option<f64> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Str(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => s.trim().parse().ok(),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected a number, found {}", other.describe()),
                );
                None
            }
        }
    }

    /// An integer, or a string holding one (Kubernetes' IntOrString).
    pub fn int(&mut self, key: &str, r: &mut Report) -> Option<i64> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Int(i) => Some(*i),
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected an integer, found {}", other.describe()),
                );
                None
            }
        }
    }

    pub fn bool(&mut self, key: &str, r: &mut Report) -> Option<bool> {
        let path = self.key_path(key);
        let n = self.get(key)?;
        match &n.value {
            Value::Bool(b) => Some(*b),
            other => {
                r.error(
                    self.file,
                    n.line,
                    &path,
                    format!("expected true or false, found {}", other.describe()),
                );
                None
            }
        }
    }

    /// The keys present and not read, each as a warning: aviary does not
    /// simulate them.
    pub fn finish(self, r: &mut Report, what: &str) {
        for (k, line, _) in self.entries {
            if !self.used.contains(k) {
                r.warn(
                    self.file,
                    *line,
                    &self.key_path(k),
                    format!("{what} key not simulated by aviary; ignored"),
                );
            }
        }
    }
}

/// Each item of a list as a mapping, with its path `key[i]`.
pub fn maps<'n>(file: &'n str, path: &str, items: &'n [Node], r: &mut Report) -> Vec<Map<'n>> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Map::new(file, &format!("{path}[{i}]"), n, r))
        .collect()
}
