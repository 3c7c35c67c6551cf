//! Data a user brings to `aviary judge`: numbers files (one number per
//! line, `NaN` allowed, blank lines and `#` comments skipped) and CSV files
//! of counts with a header line. Every problem names the file and line.

use std::path::Path;

use scenarios::Diagnostic;

fn problem(file: &str, line: usize, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line,
        key: String::new(),
        message,
    }
}

fn read(path: &Path) -> Result<(String, String), Vec<Diagnostic>> {
    let label = path.display().to_string();
    let text = scenarios::read_file(path)?;
    Ok((label, text))
}

/// One number per line; `NaN` is kept (the judge's NaN strategy decides).
///
/// # Errors
/// Unreadable file, or every line that is not a number.
pub fn numbers(path: &Path) -> Result<Vec<f64>, Vec<Diagnostic>> {
    let (label, text) = read(path)?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_nan() || x.is_finite() => out.push(x),
            _ => problems.push(problem(
                &label,
                i + 1,
                format!("expected a number (or NaN), found {t:?}"),
            )),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// A CSV of whole-number pairs with a header line, e.g. `control,canary`.
///
/// # Errors
/// Unreadable file, a missing header, or every malformed row.
pub fn count_pairs(path: &Path) -> Result<Vec<(u64, u64)>, Vec<Diagnostic>> {
    let (label, text) = read(path)?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(vec![problem(
            &label,
            0,
            "empty file; expected a header line such as control,canary".to_owned(),
        )]);
    };
    if header.split(',').count() != 2 {
        return Err(vec![problem(
            &label,
            1,
            format!("expected a header with two columns, found {header:?}"),
        )]);
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in lines {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        match (
            cols.len(),
            cols.first().and_then(|c| c.parse().ok()),
            cols.get(1).and_then(|c| c.parse().ok()),
        ) {
            (2, Some(a), Some(b)) => out.push((a, b)),
            _ => problems.push(problem(
                &label,
                i + 1,
                format!("expected two whole numbers, found {line:?}"),
            )),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}
