//! Scenario files: the world a release meets.
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

use sim_core::engine::MAX_FAULTS;
use sim_core::model::{Fault, FaultEffect, Fleet, Monitoring, Scenario, Slo, Traffic, VersionSpec};
use sim_core::time::SimDuration;

use crate::reader::{Source, Table};

/// The longest horizon a scenario may simulate.
pub const MAX_DURATION: SimDuration = SimDuration::from_secs(30 * 24 * 3600);
const MAX_RPS: f64 = 10_000_000.0;
const MAX_USERS: u64 = 10_000_000_000;
const MAX_LATENCY_MS: f64 = 3_600_000.0;

/// Reads a scenario; `Err` holds every problem found in the file.
pub fn parse(src: &mut Source<'_>) -> Option<Scenario> {
    let doc = src.parse()?;
    let mut top = Table::new(String::new(), doc.span(), doc.get_ref());
    let name = top.req_str(src, "name");
    let description = top.opt_str(src, "description").unwrap_or_default();
    let duration = top.req_duration(src, "duration", MAX_DURATION);
    let rollout_at = top
        .opt_duration(src, "rollout_at", MAX_DURATION)
        .unwrap_or_default();
    let traffic = top.req_table(src, "traffic").and_then(|t| traffic(src, t));
    let fleet = top.req_table(src, "fleet").and_then(|t| fleet(src, t));
    let stable = top.req_table(src, "stable").and_then(|t| stable(src, t));
    let candidate_table = top.opt_table(src, "candidate");
    let candidate = match (&stable, candidate_table) {
        (Some(s), Some(t)) => candidate(src, t, s),
        (Some(s), None) => Some(s.clone()),
        (None, Some(t)) => {
            t.finish(src);
            None
        }
        (None, None) => None,
    };
    let faults = faults(src, &mut top);
    let monitoring_table = top.opt_table(src, "monitoring");
    let monitoring = monitoring(src, monitoring_table);
    let slo_table = top.opt_table(src, "slo");
    let slo = slo(src, slo_table);
    if let (Some(d), true) = (duration, top.has("rollout_at"))
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
    };
    src.diagnostics.is_empty().then_some(scenario)
}

fn traffic(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Traffic> {
    let rps = t.req_f64(src, "rps", 0.0, MAX_RPS);
    let users = t.req_u64(src, "users", 1, MAX_USERS);
    t.finish(src);
    Some(Traffic {
        rps: rps?,
        users: users?,
    })
}

fn fleet(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Fleet> {
    let instances = t.req_u64(src, "instances", 1, 100_000);
    let startup = t
        .opt_duration(src, "startup", SimDuration::from_secs(24 * 3600))
        .unwrap_or_default();
    t.finish(src);
    Some(Fleet {
        instances: instances? as u32,
        startup,
    })
}

/// `latency_ms = { p50 = …, p99 = … }`; either may be absent when inheriting.
/// The flag is false when a problem was reported.
fn latency(
    src: &mut Source<'_>,
    t: &mut Table<'_, '_>,
    required: bool,
) -> (Option<f64>, Option<f64>, bool) {
    let present = t.has("latency_ms");
    let Some(mut l) = (if required {
        t.req_table(src, "latency_ms")
    } else {
        t.opt_table(src, "latency_ms")
    }) else {
        return (None, None, !present && !required);
    };
    let read = |l: &mut Table<'_, '_>, src: &mut Source<'_>, k| {
        if required {
            l.req_f64(src, k, 0.001, MAX_LATENCY_MS)
        } else {
            l.opt_f64(src, k, 0.001, MAX_LATENCY_MS)
        }
    };
    let p50 = read(&mut l, src, "p50");
    let p99 = read(&mut l, src, "p99");
    let ok = l.has("p50") == p50.is_some() && l.has("p99") == p99.is_some();
    let span = l.span.clone();
    let path = l.path.clone();
    l.finish(src);
    if let (Some(a), Some(b)) = (p50, p99)
        && b < a
    {
        src.error(&span, &path, format!("p99 ({b}) is below p50 ({a})"));
        return (None, None, false);
    }
    (p50, p99, ok)
}

fn stable(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<VersionSpec> {
    let error_rate = t.req_f64(src, "error_rate", 0.0, 1.0);
    let (p50, p99, _) = latency(src, &mut t, true);
    t.finish(src);
    Some(VersionSpec {
        error_rate: error_rate?,
        latency_ms_p50: p50?,
        latency_ms_p99: p99?,
    })
}

fn candidate(
    src: &mut Source<'_>,
    mut t: Table<'_, '_>,
    stable: &VersionSpec,
) -> Option<VersionSpec> {
    let error_rate = t.opt_f64(src, "error_rate", 0.0, 1.0);
    let span = t.span.clone();
    let path = t.key_path("latency_ms");
    let (p50, p99, ok) = latency(src, &mut t, false);
    let bad_rate = t.has("error_rate") && error_rate.is_none();
    t.finish(src);
    let spec = VersionSpec {
        error_rate: error_rate.unwrap_or(stable.error_rate),
        latency_ms_p50: p50.unwrap_or(stable.latency_ms_p50),
        latency_ms_p99: p99.unwrap_or(stable.latency_ms_p99),
    };
    if spec.latency_ms_p99 < spec.latency_ms_p50 {
        src.error(&span, &path, "with the inherited values, p99 is below p50");
        return None;
    }
    (ok && !bad_rate).then_some(spec)
}

fn faults(src: &mut Source<'_>, top: &mut Table<'_, '_>) -> Option<Vec<Fault>> {
    let Some(tables) = top.opt_tables(src, "faults") else {
        return Some(Vec::new());
    };
    if tables.len() > MAX_FAULTS {
        let span = top.span.clone();
        src.error(
            &span,
            "faults",
            format!(
                "{} faults; at most {MAX_FAULTS} are supported",
                tables.len()
            ),
        );
    }
    let mut out = Vec::new();
    let mut ok = true;
    for t in tables {
        match fault(src, t) {
            Some(f) => out.push(f),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn fault(src: &mut Source<'_>, mut t: Table<'_, '_>) -> Option<Fault> {
    let kind = t.req_str(src, "kind");
    let onset = t
        .opt_duration(src, "onset", MAX_DURATION)
        .unwrap_or_default();
    let fraction = t.opt_f64(src, "fraction", 0.0, 1.0);
    let bad_fraction = t.has("fraction") && fraction.is_none();
    let span = t.span.clone();
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
            (add.is_some() == t.has("add") && multiply.is_some() == t.has("multiply")).then(|| {
                FaultEffect::ErrorRate {
                    add: add.unwrap_or(0.0),
                    multiply: multiply.unwrap_or(1.0),
                }
            })
        }
        Some("latency") => latency_fault(src, &mut t),
        Some(other) => {
            let span = t.span_of("kind");
            src.error(
                &span,
                &t.key_path("kind"),
                format!("unknown fault kind {other:?} (known: error_rate, latency)"),
            );
            None
        }
        None => None,
    };
    t.finish(src);
    if bad_fraction {
        return None;
    }
    Some(Fault {
        effect: effect?,
        onset,
        fraction: fraction.unwrap_or(1.0),
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
    let factor = t.opt_f64(src, "factor", 0.0, 1000.0);
    let add_ms = t.opt_f64(src, "add_ms", -MAX_LATENCY_MS, MAX_LATENCY_MS);
    let p50_factor = t.opt_f64(src, "p50_factor", 0.0, 1000.0);
    let p50_add_ms = t.opt_f64(src, "p50_add_ms", -MAX_LATENCY_MS, MAX_LATENCY_MS);
    let p99_factor = t.opt_f64(src, "p99_factor", 0.0, 1000.0);
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
    let values = [
        factor, add_ms, p50_factor, p50_add_ms, p99_factor, p99_add_ms,
    ];
    if keys
        .iter()
        .zip(values)
        .any(|(k, v)| t.has(k) && v.is_none())
    {
        return None;
    }
    Some(FaultEffect::Latency {
        p50_factor: p50_factor.or(factor).unwrap_or(1.0),
        p50_add_ms: p50_add_ms.or(add_ms).unwrap_or(0.0),
        p99_factor: p99_factor.or(factor).unwrap_or(1.0),
        p99_add_ms: p99_add_ms.or(add_ms).unwrap_or(0.0),
    })
}

fn monitoring(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Monitoring> {
    let default = Monitoring {
        scrape_interval: SimDuration::from_secs(15),
        ingestion_delay: SimDuration::ZERO,
    };
    let Some(mut t) = t else { return Some(default) };
    let scrape = t.opt_duration(src, "scrape_interval", SimDuration::from_secs(3600));
    let delay = t.opt_duration(src, "ingestion_delay", SimDuration::from_secs(3600));
    if scrape.is_some_and(|s| s < SimDuration::from_secs(1)) {
        let span = t.span_of("scrape_interval");
        src.error(&span, &t.key_path("scrape_interval"), "must be at least 1s");
    }
    t.finish(src);
    Some(Monitoring {
        scrape_interval: scrape.unwrap_or(default.scrape_interval),
        ingestion_delay: delay.unwrap_or(default.ingestion_delay),
    })
}

fn slo(src: &mut Source<'_>, t: Option<Table<'_, '_>>) -> Option<Slo> {
    let default = Slo { latency_ms: 1000.0 };
    let Some(mut t) = t else { return Some(default) };
    let latency_ms = t.opt_f64(src, "latency_ms", 0.001, MAX_LATENCY_MS);
    t.finish(src);
    Some(Slo {
        latency_ms: latency_ms.unwrap_or(default.latency_ms),
    })
}
