//! Real monitoring data for `aviary replay-metrics`: a CSV of per-interval
//! values, one row per time and metric, with the canary's and the
//! baseline's value.
//!
//! ```text
//! time,metric,canary,baseline,canary_requests,baseline_requests
//! 60,error_rate,0.004,0.003,1200,23000
//! 60,latency_p99_ms,210,190,1200,23000
//! 120,error_rate,0.021,0.003,1250,22800
//! ```
//!
//! `time` is the end of the interval the row covers: seconds or a duration
//! (`90s`, `1m30s`) since the release started, or an RFC 3339 UTC
//! timestamp (`2024-05-01T10:01:00Z`), which is taken relative to the
//! first row, whose interval is as long as the shortest gap between rows.
//! `canary_requests` and `baseline_requests` are optional: the requests in
//! the interval, for `min_requests` and for the judges that count events.
//! An empty cell or `NaN` is no data. Every problem names the file, line
//! and column; an unknown column is an error.

use std::collections::BTreeMap;
use std::path::Path;

use sim_core::model::Metric;
use sim_core::monitoring::{Counters, RecordedInterval};
use sim_core::time::{SimTime, parse_duration};

use crate::reader::Diagnostic;

const COLUMNS: [&str; 6] = [
    "time",
    "metric",
    "canary",
    "baseline",
    "canary_requests",
    "baseline_requests",
];

/// The recorded intervals, and whether request counts were given.
pub struct Recorded {
    pub intervals: Vec<RecordedInterval>,
    pub has_requests: bool,
}

/// A data row: seconds, whether a timestamp, the metric, baseline and
/// canary values and request counts, and the line.
type Row = (f64, bool, Metric, [Option<f64>; 2], [Option<u64>; 2], usize);

/// Seconds since 1970 of an RFC 3339 UTC timestamp (`…Z` or `…+00:00`).
fn rfc3339(s: &str) -> Option<f64> {
    let re =
        regex::Regex::new(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)(?:Z|z|\+00:00)$").ok()?;
    let c = re.captures(s.trim())?;
    let n = |i: usize| c[i].parse::<i64>().ok();
    let (y, m, d) = (n(1)?, n(2)?, n(3)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs: f64 = c[6].parse().ok()?;
    Some(days as f64 * 86_400.0 + (n(4)? * 3600 + n(5)? * 60) as f64 + secs)
}

/// Reads a metrics CSV; `min_requests` stands in for missing request
/// counts (so that the policy's own gate neither blocks nor is faked).
///
/// # Errors
/// Every problem, with file, line and column.
pub fn read(path: &Path, min_requests: u64) -> Result<Recorded, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let text = crate::read_file(path)?;
    let err = |line: usize, key: &str, message: String| Diagnostic {
        file: label.clone(),
        line,
        key: key.to_owned(),
        message,
        ..Default::default()
    };
    let mut errors = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return Err(vec![err(1, "", format!("not CSV: {e}"))]),
    };
    for (i, h) in header.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(err(
                1,
                h,
                format!("unknown column {h:?} (known: {})", COLUMNS.join(", ")),
            ));
        }
        if header[..i].contains(h) {
            errors.push(err(1, h, "a second column of this name".to_owned()));
        }
    }
    for need in &COLUMNS[..4] {
        if !header.iter().any(|h| h == need) {
            errors.push(err(1, need, "missing column".to_owned()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let has_requests = col("canary_requests").is_some() && col("baseline_requests").is_some();
    let mut rows: Vec<Row> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(line, "", format!("not CSV: {e}")));
                continue;
            }
        };
        let cell = |name: &str| col(name).and_then(|c| rec.get(c)).unwrap_or("");
        let t = cell("time");
        let (secs, absolute) = match (t.parse::<f64>(), parse_duration(t), rfc3339(t)) {
            (Ok(x), _, _) if x.is_finite() && x >= 0.0 => (x, false),
            (_, Ok(d), _) => (d.as_secs_f64(), false),
            (_, _, Some(x)) => (x, true),
            _ => {
                errors.push(err(
                    line,
                    "time",
                    format!("{t:?} is not seconds, a duration or an RFC 3339 UTC timestamp"),
                ));
                continue;
            }
        };
        let m = cell("metric");
        let Some(metric) = Metric::from_name(m) else {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            errors.push(err(
                line,
                "metric",
                format!("unknown metric {m:?} (known: {})", known.join(", ")),
            ));
            continue;
        };
        let mut values = [None, None];
        for (k, name) in ["baseline", "canary"].into_iter().enumerate() {
            let v = cell(name);
            values[k] = match v {
                "" => None,
                v if v.eq_ignore_ascii_case("nan") => None,
                v => match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 && !(metric.is_fraction() && x > 1.0) => Some(x),
                    _ => {
                        let range = if metric.is_fraction() {
                            "a fraction in [0, 1]"
                        } else {
                            "a number ≥ 0"
                        };
                        errors.push(err(line, name, format!("{v:?} is not {range} ({})", metric.name())));
                        None
                    }
                },
            };
        }
        let mut requests = [None, None];
        for (k, name) in ["baseline_requests", "canary_requests"].into_iter().enumerate() {
            let v = cell(name);
            if !v.is_empty() {
                match v.parse::<u64>() {
                    Ok(n) => requests[k] = Some(n),
                    Err(_) => errors.push(err(line, name, format!("{v:?} is not a count of requests"))),
                }
            }
        }
        rows.push((secs, absolute, metric, values, requests, line));
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(err(0, "", "no data rows".to_owned()));
    }
    if rows.iter().any(|r| r.1) && rows.iter().any(|r| !r.1) {
        errors.push(err(
            0,
            "time",
            "mixes timestamps with seconds or durations since the start".to_owned(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for w in rows.windows(2) {
        if w[1].0 < w[0].0 {
            errors.push(err(
                w[1].5,
                "time",
                "earlier than the row before: rows go in time order".to_owned(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows[0].1 {
        // Timestamps: the first row ends the first interval.
        let t0 = rows[0].0;
        let gap = rows
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .filter(|g| *g > 0.0)
            .fold(f64::INFINITY, f64::min);
        let gap = if gap.is_finite() { gap } else { 60.0 };
        for r in &mut rows {
            r.0 = r.0 - t0 + gap;
        }
    }
    if rows[0].0 <= 0.0 {
        return Err(vec![err(
            rows[0].5,
            "time",
            "the first interval must end after the start (time > 0)".to_owned(),
        )]);
    }
    let mut by_time: BTreeMap<u64, RecordedInterval> = BTreeMap::new();
    for (secs, _, metric, values, requests, line) in rows {
        let at = SimTime::ZERO + sim_core::time::SimDuration::from_ms((secs * 1000.0).round() as u64);
        let iv = by_time.entry(at.ms()).or_insert_with(|| RecordedInterval {
            at,
            ..RecordedInterval::default()
        });
        let i = Metric::ALL.iter().position(|m| *m == metric).unwrap_or(0);
        for arm in 0..2 {
            if iv.values[arm][i].is_some() {
                errors.push(err(
                    line,
                    "metric",
                    format!("a second {} row at this time", metric.name()),
                ));
            }
            iv.values[arm][i] = values[arm];
            let n = requests[arm].unwrap_or(min_requests.max(1));
            let c: &mut Counters = &mut iv.counters[arm];
            c.routed = c.routed.max(n);
            c.requests = c.requests.max(n);
            if metric == Metric::ErrorRate
                && let Some(rate) = values[arm]
            {
                c.errors = (rate * n as f64).round() as u64;
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Recorded {
        intervals: by_time.into_values().collect(),
        has_requests,
    })
}
