//! Outputs people and tools read: run and batch results as text tables,
//! JSON, JSON lines and CSV.
//!
//! Every float is rounded at a fixed precision ([`round`]) so that output
//! and snapshots are stable across machines.

pub mod batch;
pub mod charts;
pub mod check;
pub mod compare;
pub mod debrief;
pub mod html;
pub mod plot;
pub mod run;
pub mod sweep;

/// Rounds to `digits` decimals; keeps JSON and snapshots stable.
/// The version of aviary that wrote a JSON output (`aviary_version`).
pub const AVIARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of the JSON outputs' schemas (`schema_version`, the files of
/// `docs/schema/`): raised when a key is removed or changes meaning, not
/// when one is added.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON output document: `v` (an object) with `aviary_version` and
/// `schema_version` first; anything else unchanged.
pub fn document(v: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Object(fields) = v else {
        return v;
    };
    let mut out = serde_json::Map::new();
    out.insert("aviary_version".to_owned(), AVIARY_VERSION.into());
    out.insert("schema_version".to_owned(), SCHEMA_VERSION.into());
    for (k, v) in fields {
        if k != "aviary_version" && k != "schema_version" {
            out.insert(k, v);
        }
    }
    serde_json::Value::Object(out)
}

pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    let r = (x * scale).round() / scale;
    if r == 0.0 { 0.0 } else { r }
}

/// Seconds, rounded to the millisecond.
pub fn secs(x: Option<f64>) -> Option<f64> {
    x.map(|v| round(v, 3))
}

/// Formats `n` with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An aligned text table: the columns where `left` is true left-aligned,
/// the rest right-aligned, a rule under the header, two spaces between
/// columns.
pub fn text_table<const N: usize>(header: &[&str; N], rows: &[[String; N]], left: &[bool; N]) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.to_vec()).collect();
    aligned(&header, &rows, left)
}

/// [`text_table`] for any number of columns (comfy-table, borderless: the
/// rule is a row of `─` as wide as each column, so the gaps stay blank).
pub fn aligned(header: &[String], rows: &[Vec<String>], left: &[bool]) -> String {
    use comfy_table::{CellAlignment, ContentArrangement, Table, TableStyle};
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut t = Table::new();
    t.load_style(TableStyle::new())
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t.add_row(widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        t.add_row(row.clone());
    }
    let last = header.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
        column.set_cell_alignment(if left.get(i).copied().unwrap_or(true) {
            CellAlignment::Left
        } else {
            CellAlignment::Right
        });
    }
    let mut out = t.trim_fmt();
    out.push('\n');
    out
}

/// Human form of a span in seconds: `45s`, `2m05s`, `1h02m`.
pub fn span(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(span(45.0), "45s");
        assert_eq!(span(125.0), "2m05s");
        assert_eq!(span(3720.0), "1h02m");
        assert_eq!(round(0.123456789, 6), 0.123457);
        assert_eq!(round(-0.0000001, 3), 0.0);
    }
}
