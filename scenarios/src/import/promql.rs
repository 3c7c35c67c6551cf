//! Prometheus queries (and other providers' metric names) mapped to the
//! aviary metric they measure, with the unit conversion: the patterns real
//! templates use, then a mapping file (`--map queries.toml`) for the rest.
//!
//! A mapping says how the query's value `q` relates to the aviary metric's
//! value `v`: `q = scale · v` (or `q = scale · (1 − v)` for a success
//! rate), so that a bound on `q` becomes a bound on `v`.

use std::path::Path;

use regex::Regex;
use sim_core::model::Metric;

use crate::reader::{Diagnostic, Source, Table};

/// How a query's value relates to an aviary metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Meaning {
    pub metric: Metric,
    /// `q = scale · v`, or `scale · (1 − v)` when `complement`.
    pub scale: f64,
    pub complement: bool,
    /// In words, for the comment on the check.
    pub why: String,
    /// A comparison of the canary with the baseline (stable) arm.
    pub relative: Relative,
}

/// Whether a query reads the canary alone or against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relative {
    /// The canary's value.
    No,
    /// `(canary) - (baseline)`.
    Difference,
    /// `(canary) / (baseline)`.
    Ratio,
}

impl Meaning {
    /// The aviary value for a query value.
    pub fn to_metric(&self, q: f64) -> f64 {
        let v = q / self.scale;
        if self.complement { 1.0 - v } else { v }
    }

    /// Whether a greater query value is a greater metric value.
    pub fn increasing(&self) -> bool {
        (self.scale > 0.0) != self.complement
    }
}

/// A user's mapping: a query pattern, the metric, the unit.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub pattern: Regex,
    pub metric: Metric,
    pub unit: Unit,
}

/// The unit of a mapped query's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// As aviary measures it (a fraction for rates, ms for latency).
    Same,
    Percent,
    Seconds,
    /// A success rate (1 − the error rate), as a fraction.
    SuccessFraction,
    SuccessPercent,
}

impl Unit {
    const NAMES: [(&'static str, Unit); 5] = [
        ("same", Unit::Same),
        ("percent", Unit::Percent),
        ("seconds", Unit::Seconds),
        ("success_fraction", Unit::SuccessFraction),
        ("success_percent", Unit::SuccessPercent),
    ];

    fn meaning(self, metric: Metric, why: String) -> Meaning {
        let (scale, complement) = match self {
            Unit::Same => (1.0, false),
            Unit::Percent => (100.0, false),
            Unit::Seconds => (0.001, false),
            Unit::SuccessFraction => (1.0, true),
            Unit::SuccessPercent => (100.0, true),
        };
        Meaning {
            metric,
            scale,
            complement,
            why,
            relative: Relative::No,
        }
    }
}

/// Reads a mapping file: `[[query]]` tables with `match` (a regex),
/// `metric` (an aviary metric name) and `unit`.
///
/// # Errors
/// Every problem, with file, line and key.
pub fn read_map(path: &Path) -> Result<Vec<Mapping>, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let text = crate::read_file(path)?;
    let mut src = Source::new(&label, &text);
    let Some(doc) = src.parse() else {
        return Err(src.into_diagnostics());
    };
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let mut out = Vec::new();
    for mut q in top.opt_tables(&mut src, "query").unwrap_or_default() {
        let span = q.span_of("match");
        let pattern = q.req_str(&mut src, "match").and_then(|p| match Regex::new(&p) {
            Ok(re) => Some(re),
            Err(e) => {
                src.error(&span, &q.key_path("match"), format!("not a regex: {e}"));
                None
            }
        });
        let span = q.span_of("metric");
        let metric = q.req_str(&mut src, "metric").and_then(|m| {
            let found = Metric::from_name(&m);
            if found.is_none() {
                let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                src.error(
                    &span,
                    &q.key_path("metric"),
                    format!("unknown metric {m:?} (known: {})", known.join(", ")),
                );
            }
            found
        });
        let span = q.span_of("unit");
        let unit = match q.opt_str(&mut src, "unit") {
            None => Some(Unit::Same),
            Some(u) => {
                let found = Unit::NAMES.iter().find(|(n, _)| *n == u).map(|(_, u)| *u);
                if found.is_none() {
                    let known: Vec<&str> = Unit::NAMES.iter().map(|(n, _)| *n).collect();
                    src.error(
                        &span,
                        &q.key_path("unit"),
                        format!("unknown unit {u:?} (known: {})", known.join(", ")),
                    );
                }
                found
            }
        };
        q.finish(&mut src);
        if let (Some(pattern), Some(metric), Some(unit)) = (pattern, metric, unit) {
            out.push(Mapping { pattern, metric, unit });
        }
    }
    top.finish(&mut src);
    if src.diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(src.into_diagnostics())
    }
}

fn re(s: &str) -> Regex {
    // The patterns are constants of this file; a bad one fails every test.
    Regex::new(s).unwrap_or_else(|e| panic!("bad built-in pattern {s}: {e}"))
}

/// The range every range selector of the query reads (`rate(x[5m])`),
/// when they agree; `None` when there is none or they differ. Brackets that
/// hold no duration (a regex class `5[0-9]`, `$__rate_interval`) are not
/// ranges aviary can read and are passed over.
pub fn range(query: &str) -> Option<sim_core::time::SimDuration> {
    let selector = re(r"\[([^\]:]*)(?::[^\]]*)?\]");
    let mut found = None;
    for c in selector.captures_iter(query) {
        let Ok(d) = sim_core::time::parse_duration(c[1].trim()) else {
            continue;
        };
        if found.is_some_and(|f| f != d) {
            return None;
        }
        found = Some(d);
    }
    found
}

/// What a query measures, by the user's mappings first, then the patterns
/// real templates use; `None` when nothing matches.
pub fn recognise(query: &str, map: &[Mapping]) -> Option<Meaning> {
    let q: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(m) = map.iter().find(|m| m.pattern.is_match(&q)) {
        return Some(m.unit.meaning(m.metric, format!("--map /{}/", m.pattern.as_str())));
    }
    if let Some((l, op, rr)) = split_top(&q) {
        let (a, b) = (recognise_one(l, map)?, recognise_one(rr, map)?);
        if a.metric != b.metric || a.scale != b.scale || a.complement != b.complement {
            return None;
        }
        let relative = if op == '-' {
            Relative::Difference
        } else {
            Relative::Ratio
        };
        if relative == Relative::Ratio && a.complement {
            return None;
        }
        let why = format!(
            "{} of the canary's and the baseline's {}",
            if op == '-' { "the difference" } else { "the ratio" },
            a.metric.name()
        );
        return Some(Meaning { relative, why, ..a });
    }
    recognise_one(&q, map)
}

/// The canary's error rate (`complement`: its success rate) at `scale`.
fn error_rate(scale: f64, complement: bool, why: &str) -> Meaning {
    Meaning {
        metric: Metric::ErrorRate,
        scale,
        complement,
        why: why.to_owned(),
        relative: Relative::No,
    }
}

/// `(A) - (B)` or `(A) / (B)` at the top level: the two sides and the operator.
fn split_top(q: &str) -> Option<(&str, char, &str)> {
    let q = q.trim();
    if !q.starts_with('(') || !q.ends_with(')') {
        return None;
    }
    let mut depth = 0i32;
    for (i, c) in q.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '-' | '/' if depth == 0 => {
                let (l, r) = (q[..i].trim(), q[i + 1..].trim());
                let inner = |s: &'_ str| s.strip_prefix('(').and_then(|s| s.strip_suffix(')')).map(str::to_owned);
                if inner(l).is_some() && inner(r).is_some() {
                    return Some((&l[1..l.len() - 1], c, &r[1..r.len() - 1]));
                }
                return None;
            }
            _ => {}
        }
    }
    None
}

fn recognise_one(q: &str, map: &[Mapping]) -> Option<Meaning> {
    if let Some(m) = map.iter().find(|m| m.pattern.is_match(q)) {
        return Some(m.unit.meaning(m.metric, format!("--map /{}/", m.pattern.as_str())));
    }
    let percent = re(r"\*\s*100(\.0*)?\s*$").is_match(q) || re(r"^\s*100(\.0*)?\s*\*").is_match(q);
    let scale = if percent { 100.0 } else { 1.0 };
    // A ratio of two sums, the numerator selecting 5xx (an error rate) or
    // excluding it (a success rate).
    if q.contains('/') {
        let five = r#"(=~\s*"5(\.\*|\.\.|xx|\[0-9\]\{2\}|\\d\{2\})"|=\s*"5xx")"#;
        let not_five = r#"(!~\s*"5(\.\*|\.\.|xx|\[0-9\]\{2\}|\\d\{2\})"|!=\s*"5xx")"#;
        let (num, _) = q.split_once('/')?;
        if re(not_five).is_match(num) {
            return Some(error_rate(
                scale,
                true,
                "a ratio of non-5xx to all requests: the success rate",
            ));
        }
        if re(five).is_match(num) {
            return Some(error_rate(
                scale,
                false,
                "a ratio of 5xx to all requests: the error rate",
            ));
        }
        if re(r#"(=~\s*"2(\.\*|\.\.|xx)"|=\s*"2xx")"#).is_match(num) {
            return Some(error_rate(
                scale,
                true,
                "a ratio of 2xx to all requests: the success rate",
            ));
        }
    }
    let hq = re(r"histogram_quantile\s*\(\s*(0?\.\d+|1(\.0*)?)\s*,");
    if let Some(c) = hq.captures(q) {
        let quantile: f64 = c[1].parse().ok()?;
        let metric = [
            (0.5, Metric::LatencyP50),
            (0.95, Metric::LatencyP95),
            (0.99, Metric::LatencyP99),
        ]
        .into_iter()
        .find(|(x, _)| (x - quantile).abs() < 1e-9)
        .map(|(_, m)| m)?;
        let ms = re(r"(_ms|_milliseconds)_bucket").is_match(q) || re(r"\*\s*1000(\.0*)?\b").is_match(q);
        let (scale, unit) = if ms { (1.0, "ms") } else { (0.001, "seconds") };
        return Some(Meaning {
            metric,
            scale,
            complement: false,
            why: format!("histogram_quantile({quantile}) of a histogram in {unit}"),
            relative: Relative::No,
        });
    }
    None
}

/// A provider's metric name (Kayenta: New Relic, SignalFx, Stackdriver…)
/// mapped by its words, for configs that carry no query aviary can read.
pub fn recognise_name(name: &str, map: &[Mapping]) -> Option<Meaning> {
    if let Some(m) = map.iter().find(|m| m.pattern.is_match(name)) {
        return Some(m.unit.meaning(m.metric, format!("--map /{}/", m.pattern.as_str())));
    }
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    let metric = if has(&["error", "5xx", "fail", "exception"]) {
        Metric::ErrorRate
    } else if has(&["p99", "99th"]) {
        Metric::LatencyP99
    } else if has(&["p95", "95th"]) {
        Metric::LatencyP95
    } else if has(&["latency", "duration", "response time", "response_time"]) {
        Metric::LatencyP50
    } else if has(&["cpu"]) {
        Metric::CpuUtilisation
    } else if has(&["memory", "heap", "rss"]) {
        Metric::MemoryUtilisation
    } else {
        return None;
    };
    Some(Unit::Same.meaning(metric, format!("the name {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_real_templates_use() {
        let success = recognise(
            r#"sum(irate(envoy_cluster_upstream_rq_xx{app="wrk-tester",envoy_response_code_class!~"5.*"}[5m])) /
          sum(irate(envoy_cluster_upstream_rq_xx{app="wrk-tester"}[5m]))"#,
            &[],
        )
        .expect("the App Mesh success rate");
        assert_eq!(
            (success.metric, success.complement, success.scale),
            (Metric::ErrorRate, true, 1.0)
        );
        assert!((success.to_metric(0.99) - 0.01).abs() < 1e-12);
        let errors = recognise(
            r#"sum(rate(http_requests_total{status=~"5.*",app="x"}[1m])) / sum(rate(http_requests_total{app="x"}[1m])) * 100"#,
            &[],
        )
        .expect("an error rate in percent");
        assert_eq!((errors.complement, errors.scale), (false, 100.0));
        let p99 = recognise(
            "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))",
            &[],
        )
        .expect("p99 in seconds");
        assert_eq!(p99.metric, Metric::LatencyP99);
        assert!((p99.to_metric(0.5) - 500.0).abs() < 1e-9, "0.5 s is 500 ms");
        let ms = recognise(
            "histogram_quantile(0.95, sum(rate(request_duration_ms_bucket[1m])) by (le))",
            &[],
        )
        .expect("p95 in ms");
        assert!((ms.to_metric(250.0) - 250.0).abs() < 1e-9);
        assert_eq!(recognise("sum(up)", &[]), None);
    }
}
