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
        ..Default::default()
    }
}

fn read(path: &Path) -> Result<(String, String), Vec<Diagnostic>> {
    let label = path.display().to_string();
    let text = scenarios::read_file(path)?;
    Ok((label, text))
}

/// What a file held, each value with the line it came from (1-based), so a
/// later check can name the line too.
pub struct Lined<T> {
    /// The file, as the user named it.
    pub label: String,
    /// (line, value) in file order.
    pub rows: Vec<(usize, T)>,
}

impl<T: Copy> Lined<T> {
    /// The values without their lines.
    pub fn values(&self) -> Vec<T> {
        self.rows.iter().map(|&(_, v)| v).collect()
    }

    /// A problem on `line` of this file.
    pub fn problem(&self, line: usize, message: String) -> Diagnostic {
        problem(&self.label, line, message)
    }
}

/// One number per line; `NaN` is kept (the judge's NaN strategy decides),
/// an infinite value is refused.
///
/// # Errors
/// Unreadable file, or every line that is not a finite number or `NaN`.
pub fn numbers(path: &Path) -> Result<Lined<f64>, Vec<Diagnostic>> {
    let (label, text) = read(path)?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_nan() || x.is_finite() => rows.push((i + 1, x)),
            Ok(_) => problems.push(problem(
                &label,
                i + 1,
                format!(
                    "value {t:?} is infinite or out of range; expected a finite number (or NaN for a missing point)"
                ),
            )),
            Err(_) => problems.push(problem(
                &label,
                i + 1,
                format!("expected a number (or NaN), found {t:?}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(Lined { label, rows })
    } else {
        Err(problems)
    }
}

/// A CSV of whole-number pairs with a header line, e.g. `control,canary`.
///
/// # Errors
/// Unreadable file, a missing header, or every malformed row.
pub fn count_pairs(path: &Path) -> Result<Lined<(u64, u64)>, Vec<Diagnostic>> {
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
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in lines {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        match (
            cols.len(),
            cols.first().and_then(|c| c.parse().ok()),
            cols.get(1).and_then(|c| c.parse().ok()),
        ) {
            (2, Some(a), Some(b)) => rows.push((i + 1, (a, b))),
            _ => {
                let message = match cols.iter().find(|c| is_too_large_count(c)) {
                    Some(c) => format!("count {c} exceeds the largest supported count, {}", u64::MAX),
                    None => format!("expected two whole numbers, found {line:?}"),
                };
                problems.push(problem(&label, i + 1, message));
            }
        }
    }
    if problems.is_empty() {
        Ok(Lined { label, rows })
    } else {
        Err(problems)
    }
}

/// A whole number written in digits that does not fit a `u64`.
fn is_too_large_count(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u64>().is_err()
}
