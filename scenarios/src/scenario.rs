//! Scenario files: the world a release meets. The key reference is
//! `docs/formats.md`; the smallest scenario is:
//!
//! ```toml
//! name = "checkout-error-spike"
//! description = "The new version fails 5 % of requests from the moment it takes traffic."
//! duration = "2h"
//! rollout_at = "10m"
//! [traffic]
//! rps = 400
//! users = 50000
//! [fleet]
//! instances = 10
//! startup = "30s"
//! [stable]
//! error_rate = 0.001
//! latency_ms = { p50 = 40, p99 = 200 }
//! [candidate]              # keys as [stable]; unset ones inherit from stable
//! [[faults]]
//! kind = "error_rate"
//! add = 0.05
//! onset = "0s"
//! ```

use std::ops::Range;
use std::path::Path;

use sim_core::limits::{CSV_ROWS_MAX, FAULTS_MAX as MAX_FAULTS, INSTANCES_MAX, PROMETHEUS_BUCKETS_MAX};
use sim_core::model::{
    Dependency, Fault, FaultEffect, FleetSpec, Incident, LatencyModel, MigrationFault, MigrationWorld, MonitoringSpec,
    Noise, Scenario, SchemaChange, SegmentSpec, Shape, Slo, Spike, Traffic, VersionSpec,
};
use sim_core::time::{SimDuration, parse_duration};

use crate::reader::{Source, Table};

/// The longest horizon a scenario may simulate.
pub const MAX_DURATION: SimDuration = sim_core::limits::HORIZON_MAX;
const MAX_RPS: f64 = 10_000_000.0;
const MAX_USERS: u64 = 10_000_000_000;
const MAX_LATENCY_MS: f64 = 3_600_000.0;
const MAX_MEMORY_MB: f64 = 10_000_000.0;
const DAY: SimDuration = SimDuration::from_secs(24 * 3600);

/// The top-level keys of a scenario file, in the order `parse` reads them.
pub const TOP_KEYS: [&str; 19] = [
    "name",
    "description",
    "policy",
    "duration",
    "rollout_at",
    "traffic",
    "fleet",
    "stable",
    "candidate",
    "segments",
    "flags",
    "flag_propagation",
    "dependency",
    "faults",
    "migration",
    "incidents",
    "noise",
    "monitoring",
    "slo",
];

/// Names that faults refer to, collected before the faults are read. A
/// list is `None` when it has a problem of its own (already reported): a
/// name that refers to it is then not judged.
struct Names {
    segments: Option<Vec<String>>,
    flags: Option<Vec<String>>,
    has_dependency: bool,
}

/// A window of the run (a spike, an incident) that starts at or after the
/// run's end, or lasts 0s, would change nothing: an error at the key, not a
/// silently ignored setting. `end` is `None` when the run's duration has a
/// problem of its own (already reported).
fn check_window(
    src: &mut Source<'_>,
    t: &Table<'_, '_>,
    at: SimDuration,
    length: SimDuration,
    end: Option<SimDuration>,
) {
    if let Some(end) = end
        && at >= end
    {
        let span = t.span_of("at");
        src.error(
            &span,
            &t.key_path("at"),
            format!("{at} is not before the end of the run ({end})"),
        );
    }
    if length == SimDuration::ZERO {
        let span = t.span_of("duration");
        src.error(
            &span,
            &t.key_path("duration"),
            "0s: a window that lasts no time changes nothing",
        );
    }
}

/// Reads a scenario. `dir` is the folder relative paths (a traffic CSV)
/// are resolved against; `None` for built-ins, which may not read files.
pub fn parse(src: &mut Source<'_>, dir: Option<&Path>) -> Option<Scenario> {
    let doc = src.parse()?;
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let name = top.req_str(src, "name");
    let description = top.opt_str(src, "description").unwrap_or_default();
    let policy = policy(src, &mut top, dir);
    let duration = top.req_duration(src, "duration", MAX_DURATION);
    let rollout_at = top.opt_duration(src, "rollout_at", MAX_DURATION).unwrap_or_default();
    // Monitoring first: the traffic's shape is judged against the scrape interval.
    let monitoring_table = top.opt_table(src, "monitoring");
    let monitoring = monitoring(src, monitoring_table);
    let scrape_interval = monitoring.as_ref().map(|m| m.scrape_interval);
    let traffic_table = top.req_table(src, "traffic");
    let traffic = traffic_table.and_then(|t| traffic(src, t, dir, duration, scrape_interval));
    let fleet = top.req_table(src, "fleet").and_then(|t| fleet(src, t));
    let stable = top.req_table(src, "stable").and_then(|t| stable(src, t));
    let candidate_table = top.opt_table(src, "candidate");
    let candidate = match (&stable, candidate_table) {
        (_, Some(t)) => candidate(src, t, stable.as_ref()),
        (Some(s), None) => Some(s.clone()),
        (None, None) => None,
    };
    let segments = segments(src, &mut top);
    let flags = flags(src, &mut top);
    let flag_propagation = top
        .opt_duration(src, "flag_propagation", DAY)
        .unwrap_or(SimDuration::from_secs(5));
    let dependency_table = top.opt_table(src, "dependency");
    let dependency = dependency_table.map(|t| dependency(src, t));
    let names = Names {
        segments: segments
            .as_ref()
            .map(|list| list.iter().map(|s| s.name.clone()).collect()),
        flags: flags.clone(),
        has_dependency: top.has("dependency"),
    };
    // The most time the candidate can have: onsets count from its first traffic.
    let candidate_time = duration.map(|d| (d.ms().saturating_sub(rollout_at.ms()), rollout_at, d));
    let faults = faults(src, &mut top, &names, candidate_time);
    let migration_table = top.opt_table(src, "migration");
    let migration = migration_table.map(|t| migration(src, t));
    let incidents = incidents(src, &mut top, duration);
    let noise_table = top.opt_table(src, "noise");
    let noise = noise_table.map(|t| noise(src, t));
    let slo_table = top.opt_table(src, "slo");
    let slo = slo(src, slo_table);
    if let (Some(d), Some(scrape)) = (duration, scrape_interval)
        && d < scrape
    {
        // Also a run of 0s, which has nothing in it.
        let span = top.span_of("duration");
        src.error(
            &span,
            "duration",
            format!("{d} is shorter than one scrape interval ({scrape}): monitoring would never see the run"),
        );
    } else if let (Some(d), true) = (duration, top.has("rollout_at"))
        && rollout_at >= d
    {
        let span = top.span_of("rollout_at");
        src.error(
            &span,
            "rollout_at",
            format!("{rollout_at} is not before the end of the run ({d})"),
        );
    }
    top.finish(src);
    let scenario = Scenario {
        name: name?,
        description,
        duration: duration?,
        rollout_at,
        traffic: traffic?,
        fleet: fleet?,
        stable: stable?,
        candidate: candidate?,
        faults: faults?,
        monitoring: monitoring?,
        slo: slo?,
        dependency: match dependency {
            Some(d) => Some(d?),
            None => None,
        },
        incidents: incidents?,
        noise: match noise {
            Some(n) => Some(n?),
            None => None,
        },
        segments: segments?,
        flags: flags?,
        flag_propagation,
        migration: match migration {
            Some(m) => Some(m?),
            None => None,
        },
        policy: policy?,
    };
    src.diagnostics.is_empty().then_some(scenario)
}

/// The scenario's own policy: a preset name (tried first, as on the command
/// line), or a policy file, whose path is resolved against `dir` (the
/// scenario's folder, as a traffic CSV is) and stored resolved.
fn policy(src: &mut Source<'_>, top: &mut Table<'_, '_>, dir: Option<&Path>) -> Option<Option<String>> {
    let span = top.span_of("policy");
    let Some(name) = top.opt_str(src, "policy") else {
        return (!top.has("policy")).then_some(None);
    };
    if !crate::looks_like_path(&name) && crate::catalog::policy(&name).is_some() {
        return Some(Some(name));
    }
    let presets: Vec<&str> = crate::catalog::POLICIES.iter().map(|b| b.name).collect();
    let Some(dir) = dir else {
        let message = format!(
            "no such policy preset {name:?}; a built-in scenario names a preset ({})",
            presets.join(", ")
        );
        src.error(&span, "policy", message);
        return None;
    };
    let full = dir.join(&name);
    if full.is_file() {
        return Some(Some(full.display().to_string()));
    }
    let message = if crate::looks_like_path(&name) {
        format!(
            "no such policy file {} (relative paths start at the scenario's folder)",
            full.display()
        )
    } else {
        format!(
            "no such policy preset or file {name:?} (presets: {}; a file's path starts at the scenario's folder)",
            presets.join(", ")
        )
    };
    src.error(&span, "policy", message);
    None
}

fn traffic(
    src: &mut Source<'_>,
    mut t: Table<'_, '_>,
    dir: Option<&Path>,
    duration: Option<SimDuration>,
    scrape_interval: Option<SimDuration>,
) -> Option<Traffic> {
    let users = t.req_u64(src, "users", 1, MAX_USERS);
    let session_requests = t.opt_f64(src, "session_requests", 1.0, 1e9).unwrap_or(10.0);
    let shape_name = t.opt_str(src, "shape").unwrap_or_else(|| "constant".to_owned());
    let shape_span = t.span_of("shape");
    let diurnal = t.opt_table(src, "diurnal");
    let csv = t.opt_str(src, "csv");
    let csv_span = t.span_of("csv");
    let points = t.opt_tables(src, "points");
    let spikes = t.opt_tables(src, "spikes");
    let rps = if shape_name == "series" {
        t.opt_f64(src, "rps", 0.0, MAX_RPS)
    } else {
        t.req_f64(src, "rps", 0.0, MAX_RPS)
    };
    let shape = match shape_name.as_str() {
        "constant" => Some(Shape::Constant),
        "diurnal" => match diurnal {
            Some(mut d) => {
                let amplitude = d.req_f64(src, "amplitude", 0.0, 1.0);
                let period = d.opt_duration(src, "period", MAX_DURATION).unwrap_or(DAY);
                let peak_at = d
                    .opt_duration(src, "peak_at", MAX_DURATION)
                    .unwrap_or(SimDuration::from_secs(14 * 3600));
                let period_span = d.span_of("period");
                d.finish(src);
                if period == SimDuration::ZERO {
                    src.error(&period_span, &t.key_path("diurnal.period"), "must be longer than 0s");
                } else if let Some(scrape) = scrape_interval
                    && period.ms() < 2 * scrape.ms()
                {
                    // Arrivals are drawn per scrape slot: a cycle shorter than
                    // two slots averages out and the shape would be ignored.
                    src.error(
                        &period_span,
                        &t.key_path("diurnal.period"),
                        format!(
                            "{period} is shorter than two scrape intervals ({scrape} each): traffic is drawn per \
                             scrape interval, so the cycle would average out"
                        ),
                    );
                }
                Some(Shape::Diurnal {
                    amplitude: amplitude?,
                    period,
                    peak_at,
                })
            }
            None => {
                src.error(
                    &shape_span,
                    &t.key_path("diurnal"),
                    "shape = \"diurnal\" needs diurnal = { amplitude = 0.5, period = \"24h\", peak_at = \"14h\" }",
                );
                None
            }
        },
        "series" => {
            let series = match (csv, points) {
                (Some(path), None) => read_csv(src, &csv_span, &t.key_path("csv"), &path, dir),
                (None, Some(tables)) => series_points(src, tables),
                _ => {
                    src.error(&shape_span, &t.key_path("shape"), "shape = \"series\" needs exactly one of csv = \"rates.csv\" or points = [ { at = \"0s\", rps = 100 }, … ]");
                    None
                }
            };
            series.map(|points| Shape::Series { points })
        }
        other => {
            src.error(
                &shape_span,
                &t.key_path("shape"),
                format!("unknown shape {other:?} (known: {})", Shape::NAMES.join(", ")),
            );
            None
        }
    };
    let spikes = spikes.map_or(Some(Vec::new()), |tables| {
        let mut out = Vec::new();
        let mut ok = true;
        for mut s in tables {
            let at = s.req_duration(src, "at", MAX_DURATION);
            let length = s.req_duration(src, "duration", MAX_DURATION);
            let factor = s.req_f64(src, "factor", 0.0, 1000.0);
            if let (Some(at), Some(length)) = (at, length) {
                check_window(src, &s, at, length, duration);
            }
            s.finish(src);
            match (at, length, factor) {
                (Some(at), Some(duration), Some(factor)) => out.push(Spike { at, duration, factor }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    });
    t.finish(src);
    let shape = shape?;
    let rps = match &shape {
        Shape::Series { points } => series_mean(points, duration?),
        _ => rps?,
    };
    Some(Traffic {
        rps,
        users: users?,
        shape,
        spikes: spikes?,
        session_requests,
    })
}

/// The mean rate of a series over `[0, duration]`, for the error budget.
fn series_mean(points: &[(SimDuration, f64)], duration: SimDuration) -> f64 {
    let t = Traffic {
        rps: 0.0,
        users: 1,
        shape: Shape::Series {
            points: points.to_vec(),
        },
        spikes: vec![],
        session_requests: 1.0,
    };
    let end = sim_core::time::SimTime::ZERO + duration;
    sim_core::traffic::expected_arrivals(&t, sim_core::time::SimTime::ZERO, end) / duration.as_secs_f64().max(1e-9)
}

fn series_points(src: &mut Source<'_>, tables: Vec<Table<'_, '_>>) -> Option<Vec<(SimDuration, f64)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for mut p in tables {
        let at = p.req_duration(src, "at", MAX_DURATION);
        let rps = p.req_f64(src, "rps", 0.0, MAX_RPS);
        let span = p.span.clone();
        let path = p.path.clone();
        p.finish(src);
        match (at, rps) {
            (Some(at), Some(rps)) => {
                if out.last().is_some_and(|&(prev, _)| at <= prev) {
                    src.error(&span, &path, "points must be in increasing time order");
                    ok = false;
                }
                out.push((at, rps));
            }
            _ => ok = false,
        }
    }
    if out.is_empty() {
        ok = false;
    }
    ok.then_some(out)
}

/// Reads a `timestamp,rps` CSV (header line; timestamps in seconds from
/// the start, or duration strings), reporting problems with the CSV's own
/// line numbers.
fn read_csv(
    src: &mut Source<'_>,
    span: &std::ops::Range<usize>,
    key: &str,
    path: &str,
    dir: Option<&Path>,
) -> Option<Vec<(SimDuration, f64)>> {
    let Some(dir) = dir else {
        src.error(span, key, "a built-in scenario cannot read files");
        return None;
    };
    let full = dir.join(path);
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            src.error(span, key, format!("cannot read {}: {e}", full.display()));
            return None;
        }
    };
    let label = full.display().to_string();
    let mut out: Vec<(SimDuration, f64)> = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut cols = line.split(',').map(str::trim);
        let (Some(ts), Some(rate_text), None) = (cols.next(), cols.next(), cols.next()) else {
            problems.push(format!("{label}:{line_no}: expected two columns timestamp,rps"));
            continue;
        };
        let at = ts
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(SimDuration::from_secs_f64)
            .or_else(|| parse_duration(ts).ok());
        let rate = rate_text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0 && *x <= MAX_RPS);
        match (at, rate) {
            (Some(at), Some(rate)) if out.last().is_none_or(|&(prev, _)| at > prev) => out.push((at, rate)),
            (Some(_), Some(_)) => problems.push(format!("{label}:{line_no}: timestamps must increase")),
            (None, _) => problems.push(format!(
                "{label}:{line_no}: bad timestamp {ts:?} (seconds, or a duration such as \"10m\")"
            )),
            (_, None) => problems.push(format!(
                "{label}:{line_no}: bad rate {rate_text:?} (a number of requests per second, 0 to {MAX_RPS})"
            )),
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(format!("{label}: no data rows after the header"));
    }
    if out.len() > CSV_ROWS_MAX {
        problems.push(format!(
            "{label}: {} rows; at most {CSV_ROWS_MAX} are supported",
            out.len()
        ));
    }
    for p in &problems {
        src.error(span, key, p.clone());
    }
    problems.is_empty().then_some(out)
}

fn fleet(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<FleetSpec> {
    let instances = t.req_u64(src, "instances", 1, u64::from(INSTANCES_MAX));
    let startup = t.opt_duration(src, "startup", DAY).unwrap_or_default();
    let capacity_rps = t.opt_f64(src, "capacity_rps", 0.001, MAX_RPS);
    let workers = t.opt_u64(src, "workers", 1, 100_000).unwrap_or(8);
    let memory_limit_mb = t.opt_f64(src, "memory_limit_mb", 1.0, MAX_MEMORY_MB).unwrap_or(1024.0);
    t.finish(src);
    Some(FleetSpec {
        instances: instances? as u32,
        startup,
        capacity_rps,
        workers: workers as u32,
        memory_limit_mb,
    })
}

/// A version's `latency_ms` as written: any of its median, 95th and 99th
/// percentiles, where it was written, and which file position to blame.
struct Quantiles {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    span: std::ops::Range<usize>,
    path: String,
}

/// Reads `latency_ms = { p50 = …, p95 = …, p99 = … }`. `Err` when a problem
/// was reported; `Ok(None)` when absent (and not required).
fn latency(src: &mut Source<'_>, t: &mut Table<'_, '_>, required: bool) -> Result<Option<Quantiles>, ()> {
    let present = t.has("latency_ms");
    let table = if required {
        t.req_table(src, "latency_ms")
    } else {
        t.opt_table(src, "latency_ms")
    };
    let Some(mut l) = table else {
        return if present || required { Err(()) } else { Ok(None) };
    };
    let p50 = l.opt_f64(src, "p50", 0.001, MAX_LATENCY_MS);
    let p95 = l.opt_f64(src, "p95", 0.001, MAX_LATENCY_MS);
    let p99 = l.opt_f64(src, "p99", 0.001, MAX_LATENCY_MS);
    let ok = l.has("p50") == p50.is_some() && l.has("p95") == p95.is_some() && l.has("p99") == p99.is_some();
    let q = Quantiles {
        p50,
        p95,
        p99,
        span: l.span.clone(),
        path: l.path.clone(),
    };
    l.finish(src);
    if !ok {
        return Err(());
    }
    let named = [("p50", p50), ("p95", p95), ("p99", p99)];
    for (i, (lo_name, lo)) in named.iter().enumerate() {
        for (hi_name, hi) in &named[i + 1..] {
            if let (Some(lo), Some(hi)) = (lo, hi)
                && hi < lo
            {
                src.error(&q.span, &q.path, format!("{hi_name} ({hi}) is below {lo_name} ({lo})"));
                return Err(());
            }
        }
    }
    Ok(Some(q))
}

/// How far a third quantile may sit from the log-normal through the other
/// two, relatively.
const QUANTILE_TOLERANCE: f64 = 0.01;

/// The (p50, p99) the model's log-normal is fitted to, from the quantiles
/// written; `inherited` is stable's (p50, p99) for a candidate, whose unset
/// quantiles inherit. The message is about the `latency_ms` table.
///
/// - p50 and p99: as written. p50 and p95: σ = (ln p95 − ln p50) / z₀.₉₅.
///   p95 and p99: σ = (ln p99 − ln p95) / (z₀.₉₉ − z₀.₉₅). The missing one
///   follows from the fit.
/// - All three: p95 must be within 1 % of the fit through p50 and p99.
/// - One: the other comes from `inherited` (a lone p95 keeps stable's
///   median); without it, an error.
fn fit_latency(q: &Quantiles, inherited: Option<(f64, f64)>) -> Result<(f64, f64), String> {
    use sim_core::latency::{LogNormal, Z95, Z99};
    let below = |hi_name: &str, hi: f64, lo_name: &str, lo: f64| {
        format!("with the inherited {lo_name} ({lo}), {hi_name} ({hi}) is below it")
    };
    let above = |lo_name: &str, lo: f64, hi_name: &str, hi: f64| {
        format!("with the inherited {hi_name} ({hi}), {lo_name} ({lo}) is above it")
    };
    match (q.p50, q.p95, q.p99, inherited) {
        (Some(p50), p95, Some(p99), _) => {
            if let Some(p95) = p95 {
                let fitted = LogNormal::from_p50_p99(p50, p99).at_z(Z95);
                if (p95 / fitted - 1.0).abs() > QUANTILE_TOLERANCE {
                    return Err(format!(
                        "p95 ({p95}) does not fit the log-normal through p50 ({p50}) and p99 ({p99}), \
                         whose p95 is {fitted:.1}; give two of the three, or three that agree within 1 %"
                    ));
                }
            }
            Ok((p50, p99))
        }
        (Some(p50), Some(p95), None, _) => Ok((p50, LogNormal::from_p50_p95(p50, p95).at_z(Z99))),
        (None, Some(p95), Some(p99), _) => Ok((LogNormal::from_p95_p99(p95, p99).at_z(0.0), p99)),
        (Some(p50), None, None, Some((_, p99))) if p99 < p50 => Err(above("p50", p50, "p99", p99)),
        (Some(p50), None, None, Some((_, p99))) => Ok((p50, p99)),
        (None, None, Some(p99), Some((p50, _))) if p99 < p50 => Err(below("p99", p99, "p50", p50)),
        (None, None, Some(p99), Some((p50, _))) => Ok((p50, p99)),
        (None, Some(p95), None, Some((p50, _))) if p95 < p50 => Err(below("p95", p95, "p50", p50)),
        (None, Some(p95), None, Some((p50, _))) => Ok((p50, LogNormal::from_p50_p95(p50, p95).at_z(Z99))),
        (None, None, None, Some(inherited)) => Ok(inherited),
        (_, _, _, None) => Err("needs two of p50, p95 and p99 (a log-normal is fitted to them)".to_owned()),
    }
}

/// Reads and fits a version's latency; `None` when a problem was reported.
fn version_latency(
    src: &mut Source<'_>,
    t: &mut Table<'_, '_>,
    inherited: Option<(f64, f64)>,
) -> Result<Option<(f64, f64)>, ()> {
    let Some(q) = latency(src, t, inherited.is_none())? else {
        return Ok(None);
    };
    match fit_latency(&q, inherited) {
        Ok(fit) => Ok(Some(fit)),
        Err(message) => {
            src.error(&q.span, &q.path, message);
            Err(())
        }
    }
}

fn stable(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<VersionSpec> {
    let error_rate = t.req_f64(src, "error_rate", 0.0, 1.0);
    let latency = version_latency(src, &mut t, None);
    let conversion_rate = t.opt_f64(src, "conversion_rate", 0.0, 1.0).unwrap_or(0.05);
    let memory_mb = t.opt_f64(src, "memory_mb", 0.0, MAX_MEMORY_MB).unwrap_or(256.0);
    t.finish(src);
    let (p50, p99) = latency.ok()??;
    Some(VersionSpec {
        error_rate: error_rate?,
        latency_ms_p50: p50,
        latency_ms_p99: p99,
        conversion_rate,
        memory_mb,
    })
}

/// The candidate's own keys over `stable`'s. Without a valid `stable` (its
/// problem is already reported) the keys are still checked, but nothing is
/// inherited, so nothing more is said about the result.
fn candidate(src: &mut Source<'_>, mut t: Table<'_, '_>, stable: Option<&VersionSpec>) -> Option<VersionSpec> {
    let error_rate = t.opt_f64(src, "error_rate", 0.0, 1.0);
    let latency = match stable {
        Some(s) => version_latency(src, &mut t, Some((s.latency_ms_p50, s.latency_ms_p99))),
        // Read for its own problems; not fitted without stable's to inherit.
        None => latency(src, &mut t, false).map(|_| None),
    };
    let conversion_rate = t.opt_f64(src, "conversion_rate", 0.0, 1.0);
    let memory_mb = t.opt_f64(src, "memory_mb", 0.0, MAX_MEMORY_MB);
    let bad = ["error_rate", "conversion_rate", "memory_mb"]
        .iter()
        .zip([error_rate, conversion_rate, memory_mb])
        .any(|(k, v)| t.has(k) && v.is_none());
    t.finish(src);
    let stable = stable?;
    let (p50, p99) = latency.ok()?.unwrap_or((stable.latency_ms_p50, stable.latency_ms_p99));
    if bad {
        return None;
    }
    Some(VersionSpec {
        error_rate: error_rate.unwrap_or(stable.error_rate),
        latency_ms_p50: p50,
        latency_ms_p99: p99,
        conversion_rate: conversion_rate.unwrap_or(stable.conversion_rate),
        memory_mb: memory_mb.unwrap_or(stable.memory_mb),
    })
}

fn segments(src: &mut Source<'_>, top: &mut Table<'_, '_>) -> Option<Vec<SegmentSpec>> {
    let Some(tables) = top.opt_tables(src, "segments") else {
        // Absent: no segments; present but not a list: reported, unknown.
        return (!top.has("segments")).then(Vec::new);
    };
    let mut out: Vec<SegmentSpec> = Vec::new();
    let mut ok = true;
    for mut t in tables {
        let name = t.req_str(src, "name");
        let share = t.req_f64(src, "share", 0.0, 1.0);
        let span = t.span_of("name");
        let path = t.key_path("name");
        t.finish(src);
        match (name, share) {
            (Some(name), Some(share)) => {
                if out.iter().any(|s| s.name == name) {
                    src.error(&span, &path, format!("segment {name:?} is defined twice"));
                    ok = false;
                }
                out.push(SegmentSpec { name, share });
            }
            _ => ok = false,
        }
    }
    // Segments are parts of the traffic; a float sum may miss 1 by a hair.
    let total: f64 = out.iter().map(|s| s.share).sum();
    if ok && total > 1.0 + 1e-9 {
        let span = top.span_of("segments");
        src.error(
            &span,
            "segments",
            format!("the shares add up to {total}; segments are parts of the traffic, at most 1 in all"),
        );
        ok = false;
    }
    ok.then_some(out)
}

fn flags(src: &mut Source<'_>, top: &mut Table<'_, '_>) -> Option<Vec<String>> {
    let span = top.span_of("flags");
    let list = top.opt_strings(src, "flags")?;
    let mut seen: Vec<&String> = Vec::new();
    for f in &list {
        if seen.contains(&f) {
            src.error(&span, "flags", format!("flag {f:?} is listed twice"));
            return None;
        }
        seen.push(f);
    }
    Some(list)
}

fn dependency(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Dependency> {
    let capacity_qps = t.req_f64(src, "capacity_qps", 0.001, 1e12);
    let latency_ms = t.req_f64(src, "latency_ms", 0.0, MAX_LATENCY_MS);
    let queries_per_request = t.opt_f64(src, "queries_per_request", 0.0, 1e6).unwrap_or(1.0);
    t.finish(src);
    Some(Dependency {
        capacity_qps: capacity_qps?,
        latency_ms: latency_ms?,
        queries_per_request,
    })
}

fn incidents(src: &mut Source<'_>, top: &mut Table<'_, '_>, end: Option<SimDuration>) -> Option<Vec<Incident>> {
    let Some(tables) = top.opt_tables(src, "incidents") else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for mut t in tables {
        let at = t.req_duration(src, "at", MAX_DURATION);
        let duration = t.req_duration(src, "duration", MAX_DURATION);
        let error_rate_add = t.opt_f64(src, "error_rate_add", 0.0, 1.0).unwrap_or(0.0);
        let latency_factor = t.opt_f64(src, "latency_factor", 0.01, 1000.0).unwrap_or(1.0);
        if let (Some(at), Some(length)) = (at, duration) {
            check_window(src, &t, at, length, end);
        }
        t.finish(src);
        match (at, duration) {
            (Some(at), Some(duration)) => out.push(Incident {
                at,
                duration,
                error_rate_add,
                latency_factor,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn noise(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Noise> {
    let error_rate_sigma = t.opt_f64(src, "error_rate_sigma", 0.0, 5.0).unwrap_or(0.0);
    let latency_sigma = t.opt_f64(src, "latency_sigma", 0.0, 5.0).unwrap_or(0.0);
    let period = t
        .opt_duration(src, "period", DAY)
        .unwrap_or(SimDuration::from_secs(300));
    if period < SimDuration::from_secs(1) {
        let span = t.span_of("period");
        src.error(&span, &t.key_path("period"), "must be at least 1s");
    }
    t.finish(src);
    Some(Noise {
        error_rate_sigma,
        latency_sigma,
        period,
    })
}

/// `candidate_time`: the longest the candidate can take traffic (ms), from
/// `rollout_at` to the end of the run, when both are known.
fn faults(
    src: &mut Source<'_>,
    top: &mut Table<'_, '_>,
    names: &Names,
    candidate_time: Option<(u64, SimDuration, SimDuration)>,
) -> Option<Vec<Fault>> {
    let Some(tables) = top.opt_tables(src, "faults") else {
        return Some(Vec::new());
    };
    if tables.len() > MAX_FAULTS {
        let span = top.span.clone();
        src.error(
            &span,
            "faults",
            format!("{} faults; at most {MAX_FAULTS} are supported", tables.len()),
        );
    }
    let mut out = Vec::new();
    let mut ok = true;
    for t in tables {
        match fault(src, t, names, candidate_time) {
            Some(f) => out.push(f),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Looks `name` up in `known`, reporting an unknown name; with no list
/// (`None`: the list's own problem is reported) the name is not judged.
fn lookup(
    src: &mut Source<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
    known: Option<&[String]>,
    what: &str,
) -> Result<Option<usize>, ()> {
    let span = t.span_of(key);
    let Some(name) = t.opt_str(src, key) else {
        return if t.has(key) { Err(()) } else { Ok(None) };
    };
    let Some(known) = known else { return Err(()) };
    match known.iter().position(|k| *k == name) {
        Some(i) => Ok(Some(i)),
        None => {
            let list = if known.is_empty() {
                "none are defined".to_owned()
            } else {
                format!("defined: {}", known.join(", "))
            };
            src.error(&span, &t.key_path(key), format!("unknown {what} {name:?} ({list})"));
            Err(())
        }
    }
}

/// The keys some fault kind takes (besides `kind`, `onset`, `onset_weight`,
/// `fraction`, `segment` and `flag`, which every fault takes).
const FAULT_KIND_KEYS: [&str; 12] = [
    "add",
    "multiply",
    "factor",
    "add_ms",
    "p50_factor",
    "p50_add_ms",
    "p99_factor",
    "p99_add_ms",
    "mb_per_hour",
    "mb_per_1k_requests",
    "capacity_factor",
    "above_rps",
];

fn fault(
    src: &mut Source<'_>,
    mut t: Table<'_, '_>,
    names: &Names,
    candidate_time: Option<(u64, SimDuration, SimDuration)>,
) -> Option<Fault> {
    let kind = t.req_str(src, "kind");
    let onset = t.opt_duration(src, "onset", MAX_DURATION).unwrap_or_default();
    if let Some((most, rollout_at, end)) = candidate_time
        && onset.ms() >= most
        && most > 0
    {
        let span = t.span_of("onset");
        src.error(
            &span,
            &t.key_path("onset"),
            format!(
                "{onset} after the candidate's first traffic (at {rollout_at} at the earliest) is not before the \
                 end of the run ({end}): the fault would never start"
            ),
        );
    }
    let onset_weight = t.opt_u64(src, "onset_weight", 0, 100).unwrap_or(0) as u32;
    let fraction = t.opt_f64(src, "fraction", 0.0, 1.0);
    let bad_fraction = t.has("fraction") && fraction.is_none();
    let segment = lookup(src, &mut t, "segment", names.segments.as_deref(), "segment");
    let flag = lookup(src, &mut t, "flag", names.flags.as_deref(), "flag");
    let span = t.span.clone();
    let kind_span = t.span_of("kind");
    let effect = match kind.as_deref() {
        Some("error_rate") => {
            let add = t.opt_f64(src, "add", -1.0, 1.0);
            let multiply = t.opt_f64(src, "multiply", 0.0, 1e6);
            if !t.has("add") && !t.has("multiply") {
                src.error(
                    &span,
                    &t.key_path("add"),
                    "an error_rate fault needs `add` (absolute increase) or `multiply`",
                );
            }
            (add.is_some() == t.has("add") && multiply.is_some() == t.has("multiply")).then(|| FaultEffect::ErrorRate {
                add: add.unwrap_or(0.0),
                multiply: multiply.unwrap_or(1.0),
            })
        }
        Some("latency") => latency_fault(src, &mut t),
        Some("memory_leak") => {
            let per_hour = t.opt_f64(src, "mb_per_hour", 0.0, MAX_MEMORY_MB);
            let per_1k = t.opt_f64(src, "mb_per_1k_requests", 0.0, MAX_MEMORY_MB);
            if !t.has("mb_per_hour") && !t.has("mb_per_1k_requests") {
                src.error(
                    &span,
                    &t.key_path("mb_per_hour"),
                    "a memory_leak fault needs mb_per_hour or mb_per_1k_requests",
                );
            }
            (per_hour.is_some() == t.has("mb_per_hour") && per_1k.is_some() == t.has("mb_per_1k_requests")).then(|| {
                FaultEffect::MemoryLeak {
                    mb_per_hour: per_hour.unwrap_or(0.0),
                    mb_per_1k_requests: per_1k.unwrap_or(0.0),
                }
            })
        }
        Some("throughput") => {
            let capacity_factor = t.opt_f64(src, "capacity_factor", 0.0, 1.0);
            let above_rps = t.opt_f64(src, "above_rps", 0.0, MAX_RPS);
            let bad =
                (t.has("capacity_factor") && capacity_factor.is_none()) || (t.has("above_rps") && above_rps.is_none());
            (!bad).then(|| FaultEffect::Throughput {
                capacity_factor: capacity_factor.unwrap_or(0.0),
                above_rps: above_rps.unwrap_or(0.0),
            })
        }
        Some("kpi") => t
            .req_f64(src, "factor", 0.0, 1000.0)
            .map(|factor| FaultEffect::Kpi { factor }),
        Some("dependency_load") => {
            if !names.has_dependency {
                src.error(
                    &kind_span,
                    &t.key_path("kind"),
                    "a dependency_load fault needs a [dependency] table in the scenario",
                );
            }
            t.req_f64(src, "factor", 0.0, 1e6)
                .map(|factor| FaultEffect::DependencyLoad { factor })
        }
        Some("session_format") => Some(FaultEffect::SessionFormat),
        Some(other) => {
            src.error(
                &kind_span,
                &t.key_path("kind"),
                format!(
                    "unknown fault kind {other:?} (known: {})",
                    FaultEffect::KINDS.join(", ")
                ),
            );
            // Which keys apply is unknown: the kind's own error says enough.
            FAULT_KIND_KEYS.into_iter().for_each(|k| t.handled(k));
            None
        }
        None => {
            FAULT_KIND_KEYS.into_iter().for_each(|k| t.handled(k));
            None
        }
    };
    t.finish(src);
    if bad_fraction {
        return None;
    }
    Some(Fault {
        effect: effect?,
        onset,
        onset_weight,
        fraction: fraction.unwrap_or(1.0),
        segment: segment.ok()?,
        flag: flag.ok()?,
    })
}

/// `factor`/`add_ms` move the whole distribution; `p50_*`/`p99_*` one quantile.
fn latency_fault(src: &mut Source<'_>, t: &mut Table<'_, '_>) -> Option<FaultEffect> {
    let keys = [
        "factor",
        "add_ms",
        "p50_factor",
        "p50_add_ms",
        "p99_factor",
        "p99_add_ms",
    ];
    // A factor of 0 would make latency 0 ms, which the engine can only clamp:
    // the smallest factor is that of an incident's `latency_factor`.
    let factor = t.opt_f64(src, "factor", 0.01, 1000.0);
    let add_ms = t.opt_f64(src, "add_ms", -MAX_LATENCY_MS, MAX_LATENCY_MS);
    let p50_factor = t.opt_f64(src, "p50_factor", 0.01, 1000.0);
    let p50_add_ms = t.opt_f64(src, "p50_add_ms", -MAX_LATENCY_MS, MAX_LATENCY_MS);
    let p99_factor = t.opt_f64(src, "p99_factor", 0.01, 1000.0);
    let p99_add_ms = t.opt_f64(src, "p99_add_ms", -MAX_LATENCY_MS, MAX_LATENCY_MS);
    let span = t.span.clone();
    if !keys.iter().any(|k| t.has(k)) {
        src.error(
            &span,
            &t.key_path("factor"),
            format!("a latency fault needs one of: {}", keys.join(", ")),
        );
        return None;
    }
    for (whole, part) in [
        ("factor", "p50_factor"),
        ("factor", "p99_factor"),
        ("add_ms", "p50_add_ms"),
        ("add_ms", "p99_add_ms"),
    ] {
        if t.has(whole) && t.has(part) {
            src.error(
                &t.span_of(part),
                &t.key_path(part),
                format!("conflicts with `{whole}`, which already sets it"),
            );
            return None;
        }
    }
    let values = [factor, add_ms, p50_factor, p50_add_ms, p99_factor, p99_add_ms];
    if keys.iter().zip(values).any(|(k, v)| t.has(k) && v.is_none()) {
        return None;
    }
    Some(FaultEffect::Latency {
        p50_factor: p50_factor.or(factor).unwrap_or(1.0),
        p50_add_ms: p50_add_ms.or(add_ms).unwrap_or(0.0),
        p99_factor: p99_factor.or(factor).unwrap_or(1.0),
        p99_add_ms: p99_add_ms.or(add_ms).unwrap_or(0.0),
    })
}

fn monitoring(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<MonitoringSpec> {
    let default = MonitoringSpec {
        scrape_interval: SimDuration::from_secs(15),
        ingestion_delay: SimDuration::ZERO,
        latency: LatencyModel::default_model(),
    };
    let Some(mut t) = t else { return Some(default) };
    let scrape = t.opt_duration(src, "scrape_interval", SimDuration::from_secs(3600));
    let delay = t.opt_duration(src, "ingestion_delay", SimDuration::from_secs(3600));
    if scrape.is_some_and(|s| s < SimDuration::from_secs(1)) {
        let span = t.span_of("scrape_interval");
        src.error(&span, &t.key_path("scrape_interval"), "must be at least 1s");
    }
    let latency = latency_model(src, &mut t);
    t.finish(src);
    Some(MonitoringSpec {
        scrape_interval: scrape.unwrap_or(default.scrape_interval),
        ingestion_delay: delay.unwrap_or(default.ingestion_delay),
        latency: latency.unwrap_or(default.latency),
    })
}

/// `[monitoring] latency` and, for the Prometheus model, `buckets`.
fn latency_model(src: &mut Source<'_>, t: &mut Table<'_, '_>) -> Option<LatencyModel> {
    let name = t.opt_str(src, "latency");
    let buckets = t.opt_numbers(src, "buckets");
    let mut model = match &name {
        None if t.has("latency") => return None,
        None => LatencyModel::default_model(),
        Some(name) => {
            let Some(model) = LatencyModel::from_name(name) else {
                let known = LatencyModel::all().map(|m| m.name()).join(", ");
                src.error(
                    &t.span_of("latency"),
                    &t.key_path("latency"),
                    format!("unknown latency model {name:?} (known: {known})"),
                );
                return None;
            };
            model
        }
    };
    let Some(buckets) = buckets else {
        // Absent, or not an array of numbers (already reported).
        return (!t.has("buckets")).then_some(model);
    };
    match &mut model {
        LatencyModel::Prometheus { buckets_ms } => *buckets_ms = le_buckets_ms(src, t, &buckets)?,
        LatencyModel::Exact | LatencyModel::LogHistogram => {
            let default = if name.is_none() { " (the default)" } else { "" };
            src.error(
                &t.span_of("buckets"),
                &t.key_path("buckets"),
                format!(
                    "applies only to latency = \"prometheus\", and latency here is {:?}{default}",
                    model.name()
                ),
            );
            return None;
        }
    }
    Some(model)
}

/// Prometheus bucket bounds, seconds in the file, milliseconds out: at
/// least one, at most `PROMETHEUS_BUCKETS_MAX`, each positive and finite,
/// strictly increasing (the `+Inf` bucket is implicit).
fn le_buckets_ms(src: &mut Source<'_>, t: &Table<'_, '_>, buckets: &[(f64, Range<usize>)]) -> Option<Vec<f64>> {
    let key = t.key_path("buckets");
    if buckets.is_empty() {
        src.error(
            &t.span_of("buckets"),
            &key,
            "needs at least one finite bucket bound (the +Inf bucket is implicit)",
        );
        return None;
    }
    if buckets.len() > PROMETHEUS_BUCKETS_MAX {
        src.error(
            &t.span_of("buckets"),
            &key,
            format!("{} buckets; at most {PROMETHEUS_BUCKETS_MAX}", buckets.len()),
        );
        return None;
    }
    let max_s = MAX_LATENCY_MS / 1000.0;
    let before = src.diagnostics.len();
    for (i, (x, span)) in buckets.iter().enumerate() {
        let element = format!("{key}[{}]", i + 1);
        if *x == f64::INFINITY {
            src.error(
                span,
                &element,
                "the +Inf bucket is implicit: list only the finite bounds",
            );
        } else if !x.is_finite() || *x <= 0.0 || *x > max_s {
            src.error(
                span,
                &element,
                format!("{x} is not a number of seconds in (0, {max_s}]"),
            );
        } else if let Some((prev, _)) = i.checked_sub(1).map(|p| &buckets[p])
            && *x <= *prev
        {
            src.error(
                span,
                &element,
                format!("{x} is not above the bound before it ({prev}): bounds increase"),
            );
        }
    }
    (src.diagnostics.len() == before).then(|| buckets.iter().map(|(x, _)| x * 1000.0).collect())
}

fn slo(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Slo> {
    let default = Slo {
        latency_ms: 1000.0,
        availability: 0.999,
    };
    let Some(mut t) = t else { return Some(default) };
    let latency_ms = t.opt_f64(src, "latency_ms", 0.001, MAX_LATENCY_MS);
    let availability = t.opt_f64(src, "availability", 0.0, 0.999_999_9);
    t.finish(src);
    Some(Slo {
        latency_ms: latency_ms.unwrap_or(default.latency_ms),
        availability: availability.unwrap_or(default.availability),
    })
}

fn migration(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<MigrationWorld> {
    let table = t.req_str(src, "table");
    let change_span = t.span_of("change");
    let change = t.req_str(src, "change").and_then(|name| {
        let change = SchemaChange::from_name(&name);
        if change.is_none() {
            let known = SchemaChange::ALL.map(SchemaChange::name).join(", ");
            src.error(
                &change_span,
                &t.key_path("change"),
                format!("unknown change {name:?} (known: {known})"),
            );
        }
        change
    });
    let rows = t.req_u64(src, "rows", 0, 1_000_000_000_000);
    let write_share = t.req_f64(src, "write_share", 0.0, 1.0);
    let read_share = t.req_f64(src, "read_share", 0.0, 1.0);
    let queries_per_row = t.opt_f64(src, "queries_per_row", 0.0, 1e6).unwrap_or(0.01);
    let rename_on_deploy = t.opt_bool(src, "rename_on_deploy").unwrap_or(false);
    let faults = t.opt_tables(src, "faults").map_or(Some(Vec::new()), |tables| {
        let mut out = Vec::new();
        let mut ok = true;
        for mut f in tables {
            let span = f.span_of("kind");
            let kind = f.req_str(src, "kind");
            let fraction = |f: &mut Table<'_, '_>, src: &mut Source<'_>| f.req_f64(src, "fraction", 0.0, 1.0);
            let fault = match kind.as_deref() {
                Some("duplicate_writes") => {
                    fraction(&mut f, src).map(|fraction| MigrationFault::DuplicateWrites { fraction })
                }
                Some("constraint_violations") => {
                    fraction(&mut f, src).map(|fraction| MigrationFault::ConstraintViolations { fraction })
                }
                Some("dropped_field") => {
                    fraction(&mut f, src).map(|fraction| MigrationFault::DroppedField { fraction })
                }
                Some("lag_under_load") => Some(MigrationFault::LagUnderLoad),
                Some("old_reads_new_wrong") => {
                    fraction(&mut f, src).map(|fraction| MigrationFault::OldReadsNewWrong { fraction })
                }
                Some(other) => {
                    src.error(
                        &span,
                        &f.key_path("kind"),
                        format!(
                            "unknown migration fault {other:?} (known: {})",
                            MigrationFault::KINDS.join(", ")
                        ),
                    );
                    None
                }
                None => None,
            };
            f.finish(src);
            match fault {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        ok.then_some(out)
    });
    t.finish(src);
    Some(MigrationWorld {
        table: table?,
        change: change?,
        rows: rows?,
        write_share: write_share?,
        read_share: read_share?,
        queries_per_row,
        rename_on_deploy,
        faults: faults?,
    })
}
