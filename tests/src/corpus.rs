//! The mutation corpus: bad (and some still good) variants of every file
//! in the built-in catalog, generated deterministically.
//!
//! Each catalog file is mutated in every class below. Where a class picks
//! a line, a value or a byte, a SplitMix64 stream seeded by the FNV-1a hash
//! of (file, class) picks it, so the corpus depends only on the catalog's
//! text and this module. `tests/data/corpus.manifest` lists every mutant
//! (name, class, what changed, hash of its bytes); the corpus test checks
//! the generated corpus against it, so a change to the catalog or to the
//! generator shows as a manifest diff. Regenerate the manifest with
//! `UPDATE_CORPUS=1 cargo test -p e2e --release --test corpus`.
//!
//! Classes:
//! - lines deleted, lines duplicated;
//! - numbers set to 0, −1, NaN, ±inf, huge (1e308, i64::MAX, past u64),
//!   tiny (1e-300); NaN and ±inf for every distinct numeric key of the
//!   catalog;
//! - durations of 0 s, 1 ms, 1 ns, 10⁶ h and 29 d (past the end of every
//!   catalog run, within the horizon limit) for every distinct duration key;
//! - type swaps (a number as a string, a string as a number, a boolean as a
//!   string, an array or table as a number);
//! - enum values swapped for another value of the same key in the catalog,
//!   or for a value no key accepts;
//! - deep nesting (arrays, inline tables, table headers);
//! - a byte-order mark, CRLF line ends, a lone CR, a NUL byte, truncation at
//!   a random byte, bytes that are not UTF-8 (a stray 0xff, a file cut
//!   inside a character), an empty file.

use std::collections::BTreeSet;
use std::ops::Range;

use scenarios::catalog::{self, Builtin};
use toml::de::{DeTable, DeValue};

/// One mutated file.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// A file name, unique in the corpus, e.g. `scenario-healthy-release--nan-2.toml`.
    pub name: String,
    /// Whether the source file is a scenario (else a policy).
    pub scenario: bool,
    /// The mutation class, e.g. `nan`.
    pub class: &'static str,
    /// What changed, e.g. `traffic.rps = nan`.
    pub detail: String,
    /// The file's bytes (not always UTF-8).
    pub bytes: Vec<u8>,
    /// True if no file of this class may ever validate (NaN, infinities,
    /// impossible durations, NUL bytes, deep nesting).
    pub must_fail: bool,
    /// True if the problem is about a key's value, so a diagnostic must
    /// name the key (unless the file is not valid TOML at all).
    pub keyed: bool,
}

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64: the generator's only source of choices.
struct Pick(u64);

impl Pick {
    fn new(file: &str, class: &str) -> Pick {
        Pick(fnv1a(format!("{file}\u{0}{class}").as_bytes()))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An index below `n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Duration,
    Str,
    Bool,
    Array,
    Table,
}

/// A value in a file: its dotted key, where it is, and what it holds.
#[derive(Clone, Debug)]
struct Leaf {
    key: String,
    span: Range<usize>,
    kind: Kind,
    text: String,
}

/// The key with array indices removed: the same setting in every file.
fn generic(key: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in key.chars() {
        match c {
            '[' => skip = true,
            ']' => skip = false,
            _ if !skip => out.push(c),
            _ => {}
        }
    }
    out
}

fn walk_table(prefix: &str, table: &DeTable<'_>, out: &mut Vec<Leaf>, text: &str) {
    for (k, v) in table.iter() {
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        walk_value(&key, v.get_ref(), v.span(), out, text);
    }
}

fn walk_value(key: &str, v: &DeValue<'_>, span: Range<usize>, out: &mut Vec<Leaf>, text: &str) {
    let kind = match v {
        DeValue::Integer(_) => Kind::Integer,
        DeValue::Float(_) => Kind::Float,
        DeValue::String(s) if sim_core::time::parse_duration(s).is_ok() => Kind::Duration,
        DeValue::String(_) => Kind::Str,
        DeValue::Boolean(_) => Kind::Bool,
        DeValue::Datetime(_) => Kind::Str,
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(&format!("{key}[{}]", i + 1), item.get_ref(), item.span(), out, text);
            }
            Kind::Array
        }
        DeValue::Table(t) => {
            walk_table(key, t, out, text);
            Kind::Table
        }
    };
    // A table written as `[header]` has no value span of its own to replace.
    let written = text.get(span.clone()).unwrap_or("");
    let inline = match kind {
        Kind::Table => written.starts_with('{'),
        Kind::Array => written.starts_with('['),
        _ => true,
    };
    if inline && !written.is_empty() {
        out.push(Leaf {
            key: key.to_owned(),
            span,
            kind,
            text: written.to_owned(),
        });
    }
}

fn leaves(text: &str) -> Vec<Leaf> {
    let doc = DeTable::parse(text).expect("catalog files parse");
    let mut out = Vec::new();
    walk_table("", doc.get_ref(), &mut out, text);
    out.sort_by_key(|l| l.span.start);
    out
}

/// Keys whose string values name a choice (an enum in the model).
const ENUM_KEYS: [&str; 11] = [
    "strategy",
    "on_failure",
    "then",
    "kind",
    "change",
    "shape",
    "routing",
    "metric",
    "judge",
    "on_inconclusive",
    "model",
];

fn last_segment(key: &str) -> &str {
    let g = key.rsplit('.').next().unwrap_or(key);
    g.split('[').next().unwrap_or(g)
}

fn replace(text: &str, span: &Range<usize>, with: &str) -> Vec<u8> {
    let mut s = String::with_capacity(text.len() + with.len());
    s.push_str(&text[..span.start]);
    s.push_str(with);
    s.push_str(&text[span.end..]);
    s.into_bytes()
}

struct Source<'a> {
    label: String,
    scenario: bool,
    text: &'a str,
    leaves: Vec<Leaf>,
}

/// The mutants of one class for one file are numbered in order.
struct Out {
    mutants: Vec<Mutant>,
}

impl Out {
    fn push(&mut self, src: &Source<'_>, class: &'static str, detail: String, bytes: Vec<u8>) {
        let n = self
            .mutants
            .iter()
            .filter(|m| m.class == class && m.name.starts_with(&format!("{}--", src.label)))
            .count()
            + 1;
        let must_fail = matches!(
            class,
            "nan"
                | "inf"
                | "minus-inf"
                | "overflow-int"
                | "duration-1ns"
                | "duration-1e6h"
                | "nul"
                | "deep"
                | "bad-utf8"
        );
        let keyed = matches!(
            class,
            "zero"
                | "minus-one"
                | "nan"
                | "inf"
                | "minus-inf"
                | "huge-float"
                | "huge-int"
                | "overflow-int"
                | "tiny"
                | "duration-0s"
                | "duration-1ms"
                | "duration-1ns"
                | "duration-1e6h"
                | "duration-29d"
                | "type-swap"
                | "enum-swap"
                | "enum-bogus"
                | "deep"
        );
        self.mutants.push(Mutant {
            name: format!("{}--{class}-{n}.toml", src.label),
            scenario: src.scenario,
            class,
            detail,
            bytes,
            must_fail,
            keyed,
        });
    }
}

fn lines_of(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

fn line_mutants(src: &Source<'_>, out: &mut Out) {
    let lines: Vec<Range<usize>> = lines_of(src.text)
        .into_iter()
        .filter(|l| !src.text[l.clone()].trim().is_empty())
        .collect();
    for (class, count) in [("delete-line", 4), ("duplicate-line", 3)] {
        let mut pick = Pick::new(&src.label, class);
        let mut chosen = BTreeSet::new();
        while chosen.len() < count.min(lines.len()) {
            chosen.insert(pick.below(lines.len()));
        }
        for i in chosen {
            let l = &lines[i];
            let line_no = src.text[..l.start].matches('\n').count() + 1;
            let with = if class == "delete-line" {
                String::new()
            } else {
                src.text[l.clone()].repeat(2)
            };
            out.push(src, class, format!("line {line_no}"), replace(src.text, l, &with));
        }
    }
}

const NUMBERS: [(&str, &str); 9] = [
    ("zero", "0"),
    ("minus-one", "-1"),
    ("nan", "nan"),
    ("inf", "inf"),
    ("minus-inf", "-inf"),
    ("huge-float", "1e308"),
    ("huge-int", "9223372036854775807"),
    ("overflow-int", "99999999999999999999"),
    ("tiny", "1e-300"),
];

const DURATIONS: [(&str, &str); 5] = [
    ("duration-0s", "\"0s\""),
    ("duration-1ms", "\"1ms\""),
    ("duration-1ns", "\"1ns\""),
    ("duration-1e6h", "\"1000000h\""),
    // Within the horizon limit, past the end of every catalog run.
    ("duration-29d", "\"29d\""),
];

/// Numbers: one random numeric value per class per file, and NaN and ±inf
/// at the first file holding each distinct numeric key (`seen`).
fn number_mutants(src: &Source<'_>, seen: &mut BTreeSet<String>, out: &mut Out) {
    let numeric: Vec<&Leaf> = src
        .leaves
        .iter()
        .filter(|l| matches!(l.kind, Kind::Integer | Kind::Float))
        .collect();
    if numeric.is_empty() {
        return;
    }
    for (class, value) in NUMBERS {
        let leaf = numeric[Pick::new(&src.label, class).below(numeric.len())];
        let detail = format!("{} = {value} (was {})", leaf.key, leaf.text);
        out.push(src, class, detail, replace(src.text, &leaf.span, value));
    }
    for leaf in &numeric {
        if !seen.insert(generic(&leaf.key)) {
            continue;
        }
        for (class, value) in [("nan", "nan"), ("inf", "inf"), ("minus-inf", "-inf")] {
            let detail = format!("{} = {value} (was {})", leaf.key, leaf.text);
            out.push(src, class, detail, replace(src.text, &leaf.span, value));
        }
    }
}

/// Durations: every distinct duration key (first file holding it) gets each
/// of [`DURATIONS`]; every file gets one more at a random duration.
fn duration_mutants(src: &Source<'_>, seen: &mut BTreeSet<String>, out: &mut Out) {
    let durations: Vec<&Leaf> = src.leaves.iter().filter(|l| l.kind == Kind::Duration).collect();
    if durations.is_empty() {
        return;
    }
    let mut targets: Vec<&Leaf> = durations
        .iter()
        .copied()
        .filter(|l| seen.insert(generic(&l.key)))
        .collect();
    let extra = durations[Pick::new(&src.label, "duration").below(durations.len())];
    if !targets.iter().any(|l| l.span == extra.span) {
        targets.push(extra);
    }
    for leaf in targets {
        for (class, value) in DURATIONS {
            let detail = format!("{} = {value} (was {})", leaf.key, leaf.text);
            out.push(src, class, detail, replace(src.text, &leaf.span, value));
        }
    }
}

/// Type swaps at three random values of each file.
fn type_mutants(src: &Source<'_>, out: &mut Out) {
    let mut pick = Pick::new(&src.label, "type-swap");
    let mut chosen = BTreeSet::new();
    let n = src.leaves.len();
    while chosen.len() < 3.min(n) {
        chosen.insert(pick.below(n));
    }
    for i in chosen {
        let leaf = &src.leaves[i];
        let with = match leaf.kind {
            Kind::Integer | Kind::Float => format!("\"{}\"", leaf.text),
            Kind::Duration | Kind::Str => "1".to_owned(),
            Kind::Bool => format!("\"{}\"", leaf.text),
            Kind::Array | Kind::Table => "7".to_owned(),
        };
        let detail = format!("{} = {with} (was {:?})", leaf.key, leaf.kind);
        out.push(src, "type-swap", detail, replace(src.text, &leaf.span, &with));
    }
}

/// Every enum value of the file swapped for the next value the same key
/// takes anywhere in the catalog, and one for a value nothing accepts.
fn enum_mutants(src: &Source<'_>, pools: &[(String, Vec<String>)], out: &mut Out) {
    let enums: Vec<&Leaf> = src
        .leaves
        .iter()
        .filter(|l| l.kind == Kind::Str && ENUM_KEYS.contains(&last_segment(&l.key)))
        .collect();
    for leaf in &enums {
        let pool = &pools
            .iter()
            .find(|(k, _)| k == last_segment(&leaf.key))
            .expect("pooled")
            .1;
        let current = leaf.text.trim_matches('"');
        let Some(at) = pool.iter().position(|v| v == current) else {
            continue;
        };
        if pool.len() > 1 {
            let other = &pool[(at + 1) % pool.len()];
            let detail = format!("{} = \"{other}\" (was {})", leaf.key, leaf.text);
            out.push(
                src,
                "enum-swap",
                detail,
                replace(src.text, &leaf.span, &format!("\"{other}\"")),
            );
        }
    }
    if !enums.is_empty() {
        let leaf = enums[Pick::new(&src.label, "enum-bogus").below(enums.len())];
        let bogus = format!("\"{}\"", leaf.text.trim_matches('"').to_uppercase());
        let detail = format!("{} = {bogus} (was {})", leaf.key, leaf.text);
        out.push(src, "enum-bogus", detail, replace(src.text, &leaf.span, &bogus));
    }
}

/// Deep nesting appended to the file's top level (before any table header,
/// so the key is a top-level key).
fn deep_mutants(src: &Source<'_>, out: &mut Out) {
    let shapes = ["array", "inline-table", "header"];
    let shape = shapes[Pick::new(&src.label, "deep").below(shapes.len())];
    for depth in [40usize, 10_000] {
        let nested = match shape {
            "array" => format!("deep = {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            "inline-table" => format!("deep = {}1{}\n", "{ a = ".repeat(depth), " }".repeat(depth)),
            _ => format!("[{}]\nx = 1\n", vec!["deep"; depth].join(".")),
        };
        let mut s = String::new();
        if shape == "header" {
            s.push_str(src.text);
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&nested);
        } else {
            s.push_str(&nested);
            s.push_str(src.text);
        }
        out.push(src, "deep", format!("{shape} nested {depth} deep"), s.into_bytes());
    }
}

/// Byte-level damage: BOM, CRLF, lone CR, NUL, truncation.
fn byte_mutants(src: &Source<'_>, out: &mut Out) {
    let text = src.text.as_bytes();
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(text);
    out.push(src, "bom", "byte-order mark first".to_owned(), bom);
    out.push(
        src,
        "crlf",
        "every line ends CRLF".to_owned(),
        src.text.replace('\n', "\r\n").into_bytes(),
    );
    let lines = lines_of(src.text);
    let l = &lines[Pick::new(&src.label, "lone-cr").below(lines.len())];
    let mut cr = text.to_vec();
    cr[l.end - 1] = b'\r';
    out.push(src, "lone-cr", format!("byte {} is a lone CR", l.end - 1), cr);
    let at = Pick::new(&src.label, "nul").below(text.len());
    let mut nul = text.to_vec();
    nul.insert(at, 0);
    out.push(src, "nul", format!("NUL at byte {at}"), nul);
    let at = Pick::new(&src.label, "bad-utf8").below(text.len());
    let mut bad = text.to_vec();
    bad.insert(at, 0xff);
    out.push(src, "bad-utf8", format!("byte 0xff at byte {at}"), bad);
    let mut cut = text.to_vec();
    cut.extend_from_slice("# \u{d7}".as_bytes());
    cut.pop();
    out.push(src, "bad-utf8", "cut inside a two-byte character".to_owned(), cut);
    let mut pick = Pick::new(&src.label, "truncated");
    for _ in 0..2 {
        let at = 1 + pick.below(text.len() - 1);
        out.push(src, "truncated", format!("cut at byte {at}"), text[..at].to_vec());
    }
}

/// Every string value each enum key takes in the catalog, sorted.
fn enum_pools(sources: &[Source<'_>]) -> Vec<(String, Vec<String>)> {
    ENUM_KEYS
        .iter()
        .map(|k| {
            let values: BTreeSet<String> = sources
                .iter()
                .flat_map(|s| s.leaves.iter())
                .filter(|l| l.kind == Kind::Str && last_segment(&l.key) == *k)
                .map(|l| l.text.trim_matches('"').to_owned())
                .collect();
            ((*k).to_owned(), values.into_iter().collect())
        })
        .collect()
}

fn source(b: &Builtin, scenario: bool) -> Source<'static> {
    let text: &'static str = b.text;
    Source {
        label: format!("{}-{}", if scenario { "scenario" } else { "policy" }, b.name),
        scenario,
        text,
        leaves: leaves(text),
    }
}

/// The whole corpus, in a fixed order.
pub fn generate() -> Vec<Mutant> {
    let sources: Vec<Source<'static>> = catalog::SCENARIOS
        .iter()
        .map(|b| source(b, true))
        .chain(catalog::POLICIES.iter().map(|b| source(b, false)))
        .collect();
    let pools = enum_pools(&sources);
    let mut numbers_seen = BTreeSet::new();
    let mut durations_seen = BTreeSet::new();
    let mut out = Out { mutants: Vec::new() };
    for src in &sources {
        line_mutants(src, &mut out);
        number_mutants(src, &mut numbers_seen, &mut out);
        duration_mutants(src, &mut durations_seen, &mut out);
        type_mutants(src, &mut out);
        enum_mutants(src, &pools, &mut out);
        deep_mutants(src, &mut out);
        byte_mutants(src, &mut out);
    }
    for (scenario, kind) in [(true, "scenario"), (false, "policy")] {
        let src = Source {
            label: format!("{kind}-empty"),
            scenario,
            text: "",
            leaves: Vec::new(),
        };
        out.push(&src, "empty", "an empty file".to_owned(), Vec::new());
        out.push(&src, "bom", "only a byte-order mark".to_owned(), vec![0xef, 0xbb, 0xbf]);
        out.push(&src, "nul", "only NUL bytes".to_owned(), vec![0; 16]);
    }
    out.mutants
}

/// The manifest: one line per mutant (name, class, hash, detail), tab-separated.
pub fn manifest(mutants: &[Mutant]) -> String {
    let mut s = String::from(
        "# The mutation corpus (tests/src/corpus.rs): name, class, FNV-1a of the bytes, what changed.\n\
         # Regenerate: UPDATE_CORPUS=1 cargo test -p e2e --release --test corpus\n",
    );
    for m in mutants {
        s.push_str(&format!(
            "{}\t{}\t{:016x}\t{}\n",
            m.name,
            m.class,
            fnv1a(&m.bytes),
            m.detail
        ));
    }
    s
}
