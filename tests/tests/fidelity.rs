//! The aggregated engine against the per-request reference engine: the
//! same model drawn in chunks and one request at a time, on independent
//! random streams, must agree within Monte Carlo error.
//!
//! Six catalog scenarios under their default policy, at most 100 rps and a
//! one-hour horizon (the reference engine's cost grows with every request;
//! the README's comparison runs them as shipped). Per scenario, four
//! comparisons: detection rate and false-alarm rate (two-proportion z
//! tests), the detection-time distribution (two-sample Kolmogorov-Smirnov)
//! and the mean fault-caused failed requests (Welch's t, normal
//! approximation). A comparison fails at p < 0.001 / 24 (Bonferroni over
//! the 24): the chance that the whole test fails while the engines agree is
//! below 0.1 %. A negative check shows the same comparisons catch a model
//! that differs (the candidate's error rate doubled on one side).

use scenarios::vary::set;
use sim_core::batch::{Pair, run_batch_on};
use sim_core::engine::Engine;
use sim_core::model::Scenario;
use sim_core::score::RunResult;

const RUNS: u64 = 60;
const ALPHA: f64 = 0.001 / 24.0;

fn scenario(name: &str, edits: &[(&str, &str)]) -> Scenario {
    let mut text = scenarios::catalog::scenario(name).expect("built-in").text.to_owned();
    for (key, value) in edits {
        let path = scenarios::vary::parse(&format!("{key}={value}")).expect("path").path;
        text = set(&text, &path, value).expect("edit");
    }
    scenarios::parse_scenario(name, &text).unwrap_or_else(|d| panic!("{d:?}"))
}

/// At most 100 rps and one hour, so the reference engine stays cheap.
fn affordable(name: &str) -> Scenario {
    let s = scenario(name, &[]);
    let rps = s.traffic.rps.min(100.0).to_string();
    scenario(name, &[("traffic.rps", &rps), ("duration", "\"1h\"")])
}

fn runs(engine: Engine, sc: &Scenario) -> Vec<RunResult> {
    let policy_name = sc.policy.clone().unwrap_or_else(|| "default".into());
    let policy = scenarios::load_policy(&policy_name).expect("policy");
    let pair = Pair {
        scenario: sc,
        policy: &policy,
    };
    run_batch_on(engine, &[pair], RUNS, 1, &|| ()).remove(0)
}

/// Standard normal upper tail, 2·(1 − Φ(|z|)), via erfc.
fn two_sided(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

fn proportions(k1: usize, n1: usize, k2: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let p = (k1 + k2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 { 1.0 } else { two_sided((p1 - p2) / se) }
}

/// Two-sample Kolmogorov-Smirnov, the asymptotic Kolmogorov distribution
/// (conservative with ties, as detection times on the analysis grid have).
fn ks(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<f64> = a.iter().chain(b).copied().collect();
    all.sort_by(f64::total_cmp);
    let cdf = |v: &[f64], x: f64| v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64;
    let d = all.iter().map(|&x| (cdf(a, x) - cdf(b, x)).abs()).fold(0.0, f64::max);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let lambda = (n * m / (n + m)).sqrt() * d;
    let p: f64 = (1..100)
        .map(|k| {
            let k = f64::from(k);
            2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * lambda * lambda).exp()
        })
        .sum();
    p.clamp(0.0, 1.0)
}

fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0), n)
    };
    let ((ma, va, na), (mb, vb, nb)) = (stats(a), stats(b));
    let se = (va / na + vb / nb).sqrt();
    if se == 0.0 {
        return if ma == mb { 1.0 } else { 0.0 };
    }
    two_sided((ma - mb) / se)
}

/// The four p-values of one scenario's comparison.
fn compare(a: &[RunResult], b: &[RunResult]) -> [(&'static str, f64); 4] {
    let harmed = |v: &[RunResult]| v.iter().filter(|r| r.harmed()).count();
    let detected = |v: &[RunResult]| v.iter().filter(|r| r.harmed() && r.detection().is_some()).count();
    let alarms = |v: &[RunResult]| v.iter().filter(|r| r.false_alarm()).count();
    let times = |v: &[RunResult]| v.iter().filter_map(RunResult::detection_time_s).collect::<Vec<_>>();
    let failed = |v: &[RunResult]| v.iter().map(|r| r.blast_failed_requests() as f64).collect::<Vec<_>>();
    [
        (
            "detection rate",
            proportions(detected(a), harmed(a), detected(b), harmed(b)),
        ),
        ("false-alarm rate", proportions(alarms(a), a.len(), alarms(b), b.len())),
        ("detection time (KS)", ks(&times(a), &times(b))),
        ("fault-caused failures (Welch)", welch(&failed(a), &failed(b))),
    ]
}

#[test]
fn the_engines_agree_within_monte_carlo_error() {
    let mut failures = Vec::new();
    for name in [
        "healthy-release",
        "checkout-error-spike",
        "p99-latency-regression",
        "simpy-peer",
        "sre-canary-20pct-errors",
        "small-user-base",
    ] {
        let sc = affordable(name);
        let (agg, per) = (runs(Engine::Aggregated, &sc), runs(Engine::PerRequest, &sc));
        // Independent draws: the engines do not merely replay each other.
        assert_ne!(
            agg.iter().map(RunResult::failed_requests_total).collect::<Vec<_>>(),
            per.iter().map(RunResult::failed_requests_total).collect::<Vec<_>>(),
            "{name}: the engines drew the same requests"
        );
        for (what, p) in compare(&agg, &per) {
            eprintln!("{name}: {what}: p = {p:.3}");
            if p < ALPHA {
                failures.push(format!("{name}: {what} differs, p = {p:.2e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The comparison can fail: against a candidate whose error rate is doubled
/// (+10 points instead of +5), it flags the fault-caused failures.
#[test]
fn a_different_model_is_caught() {
    let sc = affordable("checkout-error-spike");
    let worse = {
        let base = scenarios::catalog::scenario("checkout-error-spike").unwrap().text;
        assert!(base.contains("add = 0.05"), "the spike adds 5 points");
        let text = base.replace("add = 0.05", "add = 0.10");
        let path = scenarios::vary::parse("duration=1h").unwrap().path;
        let text = set(&text, &path, "\"1h\"").unwrap();
        let rps = sc.traffic.rps.to_string();
        let path = scenarios::vary::parse(&format!("traffic.rps={rps}")).unwrap().path;
        let text = set(&text, &path, &rps).unwrap();
        scenarios::parse_scenario("worse", &text).unwrap()
    };
    let (agg, per) = (runs(Engine::Aggregated, &sc), runs(Engine::PerRequest, &worse));
    let flagged: Vec<&str> = compare(&agg, &per)
        .into_iter()
        .filter(|(_, p)| *p < ALPHA)
        .map(|(w, _)| w)
        .collect();
    assert!(flagged.contains(&"fault-caused failures (Welch)"), "{flagged:?}");
}
