//! The latency models monitoring offers (`[monitoring] latency`): the exact
//! model's draws against brute force, its determinism, and the per-request
//! recording path of each model.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;
use sim_core::latency::exact;
use sim_core::latency::prometheus::{self, DEFAULT_BUCKETS_MS};
use sim_core::latency::{BUCKETS_TOTAL, Histogram, LogNormal};
use sim_core::model::{LatencyModel, Metric, MonitoringSpec};
use sim_core::monitoring::{Arm, Monitoring, Window};
use sim_core::rng::RunKey;
use sim_core::time::{SimDuration, SimTime};

const SCRAPE: SimDuration = SimDuration::from_secs(15);

fn monitoring(latency: LatencyModel, run_index: u64) -> Monitoring {
    let spec = MonitoringSpec {
        scrape_interval: SCRAPE,
        ingestion_delay: SimDuration::ZERO,
        latency,
    };
    let key = RunKey {
        master_seed: 1,
        scenario: "latency-models",
        run_index,
    };
    // No SLO cut: every request's buckets come from one multinomial.
    Monitoring::new(&spec, key, SimDuration::from_secs(3600), f64::INFINITY)
}

/// The window of the `scrape`-th scrape interval (1-based).
fn interval_window(m: &Monitoring, scrape: u64) -> Window<'_> {
    m.window(SimTime(scrape * SCRAPE.ms()), SCRAPE).expect("two scrapes")
}

/// The two-sample Kolmogorov–Smirnov statistic sup |F₁ − F₂|.
fn ks_statistic(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The exact model's p99 of one window of `n` log-normal requests, over
/// `replicates` runs, against brute force: `n` log-normals drawn and
/// sorted, x₍⌈0.99 n⌉₎, as often. Two-sample KS at α = 0.001: with
/// `replicates` = 2000 a side the critical D is 1.949 √(2/2000) = 0.0616.
/// The seeds are fixed, so the test is deterministic; a correct
/// implementation fails it at these seeds with probability about 0.001
/// per sample size.
fn check_order_statistic(n: u64, replicates: u64) {
    let dist = LogNormal::from_p50_p99(40.0, 200.0);
    let sampler = rand_distr::LogNormal::new(dist.mu, dist.sigma).unwrap();
    let mut brute_rng = ChaCha8Rng::seed_from_u64(n + 1);
    let mut reported = Vec::new();
    let mut brute = Vec::new();
    for r in 0..replicates {
        let mut m = monitoring(LatencyModel::Exact, r);
        m.live_canary.requests = n;
        m.record_served(Arm::Canary, dist, n, 0);
        m.scrape(SimTime(SCRAPE.ms()));
        reported.push(interval_window(&m, 1).canary.metric(Metric::LatencyP99).unwrap());
        let mut sample: Vec<f64> = (0..n).map(|_| sampler.sample(&mut brute_rng)).collect();
        brute.push(exact::order_statistic(&mut sample, 0.99).unwrap());
    }
    let d = ks_statistic(reported, brute);
    let critical = 1.949 * (2.0 / replicates as f64).sqrt();
    assert!(d < critical, "n = {n}: KS D = {d:.4} ≥ {critical:.4}");
}

#[test]
fn exact_p99_of_a_small_window_is_the_order_statistic() {
    // Rank 119 of 120: the second slowest request.
    check_order_statistic(120, 2000);
}

#[test]
fn exact_p99_of_a_large_window_is_the_order_statistic() {
    check_order_statistic(5000, 2000);
}

/// Two windows of the same arm over two scrape intervals, with a mixture
/// of two distributions in the second.
fn two_intervals(latency: LatencyModel) -> Monitoring {
    let mut m = monitoring(latency, 0);
    let fast = LogNormal::from_p50_p99(40.0, 200.0);
    let slow = LogNormal::from_p50_p99(40.0, 400.0);
    for (i, parts) in [vec![(fast, 3000)], vec![(fast, 2000), (slow, 500)]]
        .into_iter()
        .enumerate()
    {
        for (dist, n) in parts {
            m.live_canary.requests += n;
            m.record_served(Arm::Canary, dist, n, 0);
        }
        m.scrape(SimTime((i as u64 + 1) * SCRAPE.ms()));
    }
    m
}

const QUANTILE_METRICS: [Metric; 3] = [Metric::LatencyP50, Metric::LatencyP95, Metric::LatencyP99];

#[test]
fn exact_quantiles_do_not_depend_on_the_query_order() {
    let m = two_intervals(LatencyModel::Exact);
    let forward: Vec<f64> = {
        let w = interval_window(&m, 2);
        QUANTILE_METRICS.map(|q| w.canary.metric(q).unwrap()).to_vec()
    };
    let backward: Vec<f64> = {
        let w = interval_window(&m, 2);
        let mut v: Vec<f64> = QUANTILE_METRICS
            .iter()
            .rev()
            .map(|&q| w.canary.metric(q).unwrap())
            .collect();
        v.reverse();
        v
    };
    assert_eq!(forward, backward, "the same window queried in either order");
    assert!(forward[0] <= forward[1] && forward[1] <= forward[2], "{forward:?}");
    // The per-scrape series holds the same window: the same values.
    let series = m.series(SimTime(2 * SCRAPE.ms()), SCRAPE);
    let last = series.last().expect("one interval");
    assert_eq!((last.from, last.to), (SimTime(SCRAPE.ms()), SimTime(2 * SCRAPE.ms())));
    assert_eq!(
        QUANTILE_METRICS.map(|q| last.canary.metric(q).unwrap()).to_vec(),
        forward
    );
    // Another window over the same requests is another draw.
    let both = m.window(SimTime(2 * SCRAPE.ms()), SimDuration::from_secs(30)).unwrap();
    assert_ne!(both.canary.metric(Metric::LatencyP99), Some(forward[2]));
}

#[test]
fn each_model_reads_the_same_requests() {
    let (exact, log) = (
        two_intervals(LatencyModel::Exact),
        two_intervals(LatencyModel::LogHistogram),
    );
    let (exact, log) = (interval_window(&exact, 2), interval_window(&log, 2));
    assert_eq!(
        exact.canary.latency_histogram(),
        log.canary.latency_histogram(),
        "the log histogram is the same record under every model"
    );
    // The exact p99 lies in the bucket the log histogram interpolates in.
    let (e, l) = (
        exact.canary.metric(Metric::LatencyP99).unwrap(),
        log.canary.metric(Metric::LatencyP99).unwrap(),
    );
    let bucket = |x: f64| sim_core::latency::bucket_of(x);
    assert_eq!(bucket(e), bucket(l), "exact {e} and log-histogram {l}");
}

/// The per-request path: each model records one request exactly.
#[test]
fn observe_latency_records_each_request_exactly() {
    // 200 requests at 1..=200 ms.
    let values: Vec<f64> = (1..=200).rev().map(f64::from).collect();
    let record = |latency: LatencyModel| {
        let mut m = monitoring(latency, 0);
        for &v in &values {
            m.observe_latency(Arm::Baseline, v);
            m.live_baseline.requests += 1;
        }
        m.scrape(SimTime(SCRAPE.ms()));
        m
    };
    // Exact: the true order statistics, x₍₁₉₈₎ and x₍₁₀₀₎.
    let m = record(LatencyModel::Exact);
    let w = interval_window(&m, 1);
    assert_eq!(w.baseline.metric(Metric::LatencyP99), Some(198.0));
    assert_eq!(w.baseline.metric(Metric::LatencyP95), Some(190.0));
    assert_eq!(w.baseline.metric(Metric::LatencyP50), Some(100.0));
    assert_eq!(w.canary.metric(Metric::LatencyP99), None, "no requests, no quantile");
    // Prometheus: one increment per request in its `le` bucket; 5, 5, 15,
    // 25, 50, 100 requests up to 5, 10, 25, 50, 100, 200 ms.
    let m = record(LatencyModel::Prometheus {
        buckets_ms: DEFAULT_BUCKETS_MS.to_vec(),
    });
    let w = interval_window(&m, 1);
    assert_eq!(w.baseline.le_counts(), vec![5, 5, 15, 25, 50, 100, 0, 0, 0, 0, 0, 0]);
    // p99: rank 198 in (100, 250] holding 100 above 100 → 100 + 150 · 98/100.
    let p99 = w.baseline.metric(Metric::LatencyP99).unwrap();
    assert!((p99 - 247.0).abs() < 1e-9, "{p99}");
    assert_eq!(
        Some(p99),
        prometheus::quantile_ms(0.99, &DEFAULT_BUCKETS_MS, w.baseline.le_counts())
    );
    // Log histogram: every request in the bucket `bucket_of` names.
    let m = record(LatencyModel::LogHistogram);
    let w = interval_window(&m, 1);
    let mut expected: Histogram = [0; BUCKETS_TOTAL];
    for &v in &values {
        expected[sim_core::latency::bucket_of(v)] += 1;
    }
    assert_eq!(*w.baseline.latency_histogram(), expected);
    assert!(w.baseline.le_counts().is_empty());
}

/// The latency record of an interval is drawn once, when a window first
/// reads it: whichever window reads it first, every window sees the same
/// buckets, and a two-interval window is the sum of its intervals.
#[test]
fn a_record_does_not_depend_on_which_window_reads_it_first() {
    let read = |wide_first: bool| {
        let m = two_intervals(LatencyModel::LogHistogram);
        let wide = || m.window(SimTime(2 * SCRAPE.ms()), SimDuration::from_secs(30)).unwrap();
        let (wide, first, second) = if wide_first {
            let w = wide();
            (w, interval_window(&m, 1), interval_window(&m, 2))
        } else {
            let (a, b) = (interval_window(&m, 1), interval_window(&m, 2));
            (wide(), a, b)
        };
        let sum: Vec<u64> = (0..BUCKETS_TOTAL)
            .map(|i| first.canary.latency_histogram()[i] + second.canary.latency_histogram()[i])
            .collect();
        assert_eq!(wide.canary.latency_histogram().to_vec(), sum);
        assert_eq!(first.canary.latency_histogram().iter().sum::<u64>(), 3000);
        assert_eq!(second.canary.latency_histogram().iter().sum::<u64>(), 2500);
        *wide.canary.latency_histogram()
    };
    assert_eq!(read(true), read(false));
}
