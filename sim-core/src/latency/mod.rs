//! Latency distributions, and the records monitoring keeps of them.
//!
//! A version's latency is log-normal, fitted to its median and 99th
//! percentile: `mu = ln p50`, `sigma = (ln p99 − ln p50) / z99`.
//!
//! Every request an arm completes is recorded in a log histogram of
//! [`BUCKETS`] log-spaced buckets from 1 ms to 60 s, plus an overflow
//! bucket: the simulator's record of the sample, filled by multinomial
//! draws in aggregated chunks. What the team's monitoring shows of it is the
//! scenario's latency model (`model::LatencyModel`):
//! - `log_histogram` reads the record itself, by log-linear interpolation
//!   inside a bucket ([`histogram_quantile`]: `histogram_quantile`'s rule,
//!   but geometric, which suits log-spaced buckets);
//! - `prometheus` refines each bucket's count into Prometheus `le`
//!   buckets and reads them as Prometheus does ([`prometheus`]);
//! - `exact` draws the window's sample quantile from the record and the
//!   distributions served ([`exact`]).
//!
//! The refinements draw from streams of their own, so the record, and
//! every other draw of a run, is the same under every model.

pub mod exact;
pub mod prometheus;

use rand_chacha::ChaCha8Rng;

use crate::draw::{binomial, spread};

/// z such that Φ(z) = 0.99.
pub const Z99: f64 = 2.326_347_874_040_841;
/// z such that Φ(z) = 0.95.
pub const Z95: f64 = 1.644_853_626_951_472_2;

/// Number of finite buckets; bucket `i` covers `(bound(i-1), bound(i)]`.
pub const BUCKETS: usize = 64;
/// Finite buckets plus the overflow bucket.
pub const BUCKETS_TOTAL: usize = BUCKETS + 1;

const LOWEST_MS: f64 = 1.0;
const HIGHEST_MS: f64 = 60_000.0;

/// Upper bound of finite bucket `i`, in milliseconds.
pub fn bucket_upper_ms(i: usize) -> f64 {
    bounds()[i].0
}

/// Every finite bucket's upper bound and its natural log, computed once:
/// a cell table reads all 64 for each distribution it is built for, and
/// the `exp` and `log` they cost were a fifth of a run whose latency changes
/// every chunk. The values are the ones computed on the fly before.
fn bounds() -> &'static [(f64, f64); BUCKETS] {
    static BOUNDS: std::sync::OnceLock<[(f64, f64); BUCKETS]> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        std::array::from_fn(|i| {
            let bound = LOWEST_MS * libm::exp(log_step() * i as f64);
            (bound, libm::log(bound))
        })
    })
}

fn log_step() -> f64 {
    libm::log(HIGHEST_MS / LOWEST_MS) / (BUCKETS - 1) as f64
}

/// The bucket that counts a request of `x_ms`: the first whose upper bound
/// it does not exceed, or the overflow bucket.
pub fn bucket_of(x_ms: f64) -> usize {
    assert!(x_ms >= 0.0, "a latency is a non-negative number of ms, got {x_ms}");
    if x_ms <= LOWEST_MS {
        return 0;
    }
    // The closed form, then a step either way for rounding at a bound.
    let mut i = ((libm::log(x_ms / LOWEST_MS) / log_step()).ceil() as usize).min(BUCKETS);
    while i > 0 && x_ms <= bucket_upper_ms(i - 1) {
        i -= 1;
    }
    while i < BUCKETS && x_ms > bucket_upper_ms(i) {
        i += 1;
    }
    i
}

/// The standard normal CDF, from the portable `libm` error function.
///
/// Beyond ±[`NORMAL_CDF_SATURATES`] the function returns the value `erfc`
/// rounds to there (exactly 1 above, exactly 0 below: a test checks both),
/// without calling it.
pub fn normal_cdf(z: f64) -> f64 {
    if z > NORMAL_CDF_SATURATES {
        return 1.0;
    }
    if z < -NORMAL_CDF_SATURATES_BELOW {
        return 0.0;
    }
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Above this z, `0.5 · erfc(−z/√2)` is exactly 1.0 in f64
/// (erfc(6.4) ≈ 1e-19 is below half an ulp of 2).
const NORMAL_CDF_SATURATES: f64 = 9.0;
/// Below minus this z, `erfc(−z/√2)` is exactly 0 (libm returns 0 from
/// |x| ≥ 28, z ≤ −39.6).
const NORMAL_CDF_SATURATES_BELOW: f64 = 40.0;

/// A log-normal latency distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogNormal {
    pub mu: f64,
    pub sigma: f64,
}

impl LogNormal {
    /// Fits `p50` and `p99` (milliseconds, `0 < p50 <= p99`).
    pub fn from_p50_p99(p50: f64, p99: f64) -> LogNormal {
        debug_assert!(p50 > 0.0 && p99 >= p50);
        let mu = libm::log(p50);
        let sigma = (libm::log(p99) - mu) / Z99;
        LogNormal { mu, sigma }
    }

    /// Fits `p50` and `p95` (milliseconds, `0 < p50 <= p95`).
    pub fn from_p50_p95(p50: f64, p95: f64) -> LogNormal {
        debug_assert!(p50 > 0.0 && p95 >= p50);
        let mu = libm::log(p50);
        let sigma = (libm::log(p95) - mu) / Z95;
        LogNormal { mu, sigma }
    }

    /// Fits `p95` and `p99` (milliseconds, `0 < p95 <= p99`).
    pub fn from_p95_p99(p95: f64, p99: f64) -> LogNormal {
        debug_assert!(p95 > 0.0 && p99 >= p95);
        let sigma = (libm::log(p99) - libm::log(p95)) / (Z99 - Z95);
        let mu = libm::log(p95) - sigma * Z95;
        LogNormal { mu, sigma }
    }

    /// The latency `z` standard deviations from the median on the log
    /// scale: `exp(mu + sigma·z)`, so `at_z(0)` is the median and
    /// `at_z(Z99)` the 99th percentile.
    pub fn at_z(&self, z: f64) -> f64 {
        libm::exp(self.mu + self.sigma * z)
    }

    /// P(latency ≤ x ms).
    pub fn cdf(&self, x_ms: f64) -> f64 {
        if x_ms <= 0.0 {
            return 0.0;
        }
        self.cdf_ln(libm::log(x_ms))
    }

    /// P(latency ≤ x ms) given `ln_x = ln(x ms)`, for `x > 0`: [`cdf`]
    /// without the logarithm, for bounds whose log is known.
    ///
    /// [`cdf`]: LogNormal::cdf
    pub fn cdf_ln(&self, ln_x: f64) -> f64 {
        if self.sigma <= 0.0 {
            return if ln_x >= self.mu { 1.0 } else { 0.0 };
        }
        normal_cdf((ln_x - self.mu) / self.sigma)
    }

    /// The latency at quantile `q`, by the inverse normal CDF.
    pub fn quantile(&self, q: f64) -> f64 {
        libm::exp(self.mu + self.sigma * inverse_normal_cdf(q))
    }
}

/// Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e-9), refined
/// by one Halley step.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    debug_assert!(p > 0.0 && p < 1.0);
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.024_25;
    let x = if p < low {
        let q = libm::sqrt(-2.0 * libm::log(p));
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = libm::sqrt(-2.0 * libm::log(1.0 - p));
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = normal_cdf(x) - p;
    let u = e * libm::sqrt(2.0 * std::f64::consts::PI) * libm::exp(x * x / 2.0);
    x - u / (1.0 + x * u / 2.0)
}

/// Bucket counts of a latency histogram.
pub type Histogram = [u64; BUCKETS_TOTAL];

/// Estimates quantile `q` from bucket counts; `None` when the histogram is empty.
pub fn histogram_quantile(counts: &Histogram, q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        if (below + c) as f64 >= rank {
            if i == BUCKETS {
                // Overflow bucket: report its lower bound, as Prometheus does.
                return Some(bucket_upper_ms(BUCKETS - 1));
            }
            let upper = bucket_upper_ms(i);
            let lower = if i == 0 { upper / 2.0 } else { bucket_upper_ms(i - 1) };
            let frac = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
            return Some(lower * libm::pow(upper / lower, frac));
        }
        below += c;
    }
    Some(bucket_upper_ms(BUCKETS - 1))
}

/// One cell of a [`CellTable`]: a bucket, or the part of a bucket on one
/// side of the cut.
#[derive(Clone, Debug)]
pub struct Cell {
    pub bucket: usize,
    /// P(latency in the cell).
    pub p: f64,
    /// P(latency in this cell or one after it on its side of the cut),
    /// summed from the smallest cell up so that the conditional
    /// probability `p / rest` of the tail keeps its precision.
    pub rest: f64,
    /// The cell's parts in each Prometheus bucket: `CellTable::le[le]`.
    pub le: std::ops::Range<usize>,
}

/// Probability of each histogram bucket under `dist`, split at `cut_ms` into
/// the part at or below the cut and the part above it.
///
/// Cells are in decreasing probability order, those of probability 0
/// left out, so that a multinomial by sequential binomials draws the likely
/// cells first and stops as soon as no request is left; the cells of a
/// bucket that straddles the cut appear on both sides. With Prometheus bounds, each
/// cell also lists its parts per `le` bucket (most cells lie inside one).
#[derive(Clone, Debug)]
pub struct CellTable {
    pub dist: LogNormal,
    pub below: Vec<Cell>,
    pub above: Vec<Cell>,
    /// (Prometheus bucket, P(latency in the part)) of every cell's parts.
    pub le: Vec<(usize, f64)>,
    /// P(latency > cut).
    pub p_above: f64,
}

impl CellTable {
    /// The table of `dist`; `le_bounds_ms` are the Prometheus model's finite
    /// bucket bounds (empty under the other models).
    pub fn new(dist: &LogNormal, cut_ms: f64, le_bounds_ms: &[f64]) -> CellTable {
        let mut table = CellTable {
            dist: *dist,
            below: Vec::new(),
            above: Vec::new(),
            le: Vec::new(),
            p_above: 1.0 - dist.cdf(cut_ms),
        };
        let p_cut = dist.cdf(cut_ms);
        let mut prev_cdf = 0.0;
        let mut prev_bound = 0.0;
        for i in 0..BUCKETS_TOTAL {
            let (bound, cdf) = match bounds().get(i) {
                Some(&(bound, ln_bound)) => (bound, dist.cdf_ln(ln_bound)),
                None => (f64::INFINITY, 1.0),
            };
            if bound <= cut_ms {
                table.push_cell(false, i, cdf - prev_cdf, (prev_bound, bound), le_bounds_ms);
            } else if prev_bound >= cut_ms {
                table.push_cell(true, i, cdf - prev_cdf, (prev_bound, bound), le_bounds_ms);
            } else {
                table.push_cell(false, i, p_cut - prev_cdf, (prev_bound, cut_ms), le_bounds_ms);
                table.push_cell(true, i, cdf - p_cut, (cut_ms, bound), le_bounds_ms);
            }
            prev_cdf = cdf;
            prev_bound = bound;
        }
        for side in [&mut table.below, &mut table.above] {
            side.retain(|c| c.p > 0.0);
            side.sort_by(|a, b| b.p.total_cmp(&a.p).then(a.bucket.cmp(&b.bucket)));
            let mut rest = 0.0;
            for c in side.iter_mut().rev() {
                rest += c.p;
                c.rest = rest;
            }
        }
        table
    }

    /// Draws the buckets of `below` requests at or below the cut and
    /// `above` above it into `latency` and, under the Prometheus model
    /// (`le_rng` given), each cell's share over its `le` buckets into `le`,
    /// from that stream: the log histogram's draws are the same under every
    /// model. A multinomial per side, by sequential binomials.
    pub(crate) fn fill(
        &self,
        rng: &mut ChaCha8Rng,
        below: u64,
        above: u64,
        latency: &mut Histogram,
        le: &mut [u64],
        mut le_rng: Option<&mut ChaCha8Rng>,
    ) {
        for (n, cells) in [(below, &self.below), (above, &self.above)] {
            let mut left = n;
            for (k, c) in cells.iter().enumerate() {
                if left == 0 {
                    break;
                }
                let take = if k + 1 == cells.len() || c.rest <= c.p {
                    left
                } else {
                    binomial(rng, left, (c.p / c.rest).clamp(0.0, 1.0))
                };
                latency[c.bucket] += take;
                if let Some(r) = le_rng.as_deref_mut() {
                    spread(
                        r,
                        take,
                        &self.le[c.le.clone()],
                        |part| part.1,
                        |part, t| le[part.0] += t,
                    );
                }
                left -= take;
            }
        }
    }

    fn push_cell(&mut self, above: bool, bucket: usize, p: f64, (lo, hi): (f64, f64), le_bounds_ms: &[f64]) {
        let start = self.le.len();
        if !le_bounds_ms.is_empty() {
            self.le.extend(prometheus::split(le_bounds_ms, lo, hi, &self.dist));
        }
        let cell = Cell {
            bucket,
            p,
            rest: 0.0,
            le: start..self.le.len(),
        };
        if above {
            self.above.push(cell);
        } else {
            self.below.push(cell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Under the Prometheus model each log cell's count is split over the
    /// `le` buckets inside it: the two records count the same requests, and
    /// each `le` bucket gets its probability's share (within 5 sd of its
    /// binomial mean: a false failure below 1e-5 over the 12 buckets).
    #[test]
    fn le_buckets_refine_the_log_histogram() {
        let dist = LogNormal::from_p50_p99(40.0, 200.0);
        let table = CellTable::new(&dist, 250.0, &prometheus::DEFAULT_BUCKETS_MS);
        let (mut latency, mut le) = ([0; BUCKETS_TOTAL], vec![0; prometheus::DEFAULT_BUCKETS_MS.len() + 1]);
        let (mut rng, mut le_rng) = (ChaCha8Rng::seed_from_u64(1), ChaCha8Rng::seed_from_u64(2));
        let n = 1_000_000;
        let slow = binomial(&mut rng, n, table.p_above);
        table.fill(&mut rng, n - slow, slow, &mut latency, &mut le, Some(&mut le_rng));
        assert_eq!(latency.iter().sum::<u64>(), n);
        assert_eq!(le.iter().sum::<u64>(), n);
        let above: u64 = (bucket_of(250.0) + 1..BUCKETS_TOTAL).map(|i| latency[i]).sum();
        assert!(above <= slow, "only slow requests lie above the cut's bucket");
        let mut lower = 0.0;
        for (j, &count) in le.iter().enumerate() {
            let upper = prometheus::DEFAULT_BUCKETS_MS.get(j).map_or(1.0, |&b| dist.cdf(b));
            let p = upper - lower;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count as f64 - n as f64 * p).abs() <= 5.0 * sd + 1.0,
                "le bucket {j}: {count} vs {}",
                n as f64 * p
            );
            lower = upper;
        }
        // Without the Prometheus model, the same log-histogram draws.
        let mut plain = [0; BUCKETS_TOTAL];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let slow_again = binomial(&mut rng, n, table.p_above);
        table.fill(&mut rng, n - slow_again, slow_again, &mut plain, &mut [], None);
        assert_eq!(plain, latency);
    }

    #[test]
    fn inverse_normal_matches_known_values() {
        // Reference: scipy.stats.norm.ppf.
        for (p, z) in [
            (0.5, 0.0),
            (0.95, 1.644_853_626_951_472_2),
            (0.99, Z99),
            (0.001, -3.090_232_306_167_813_5),
        ] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-9, "p={p}");
        }
    }

    /// The short-cuts of `normal_cdf` return what `erfc` rounds to: checked
    /// on a fine grid from the thresholds out to where the argument is huge.
    #[test]
    fn normal_cdf_saturates_where_erfc_does() {
        let erfc_cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        for k in 0..200_000 {
            let z = NORMAL_CDF_SATURATES + k as f64 * 1e-4;
            assert_eq!(erfc_cdf(z), 1.0, "z = {z}");
            let z = -NORMAL_CDF_SATURATES_BELOW - k as f64 * 1e-4;
            assert_eq!(erfc_cdf(z), 0.0, "z = {z}");
        }
        for z in [1e3, 1e6, 1e300, f64::INFINITY] {
            assert_eq!(erfc_cdf(z), 1.0);
            assert_eq!(erfc_cdf(-z), 0.0);
        }
    }

    #[test]
    fn lognormal_fit_returns_its_quantiles() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        assert!((d.quantile(0.5) - 40.0).abs() < 1e-9);
        assert!((d.quantile(0.99) - 200.0).abs() < 1e-6);
        assert!((d.cdf(200.0) - 0.99).abs() < 1e-9);
    }

    /// Any two of p50, p95 and p99 give the same log-normal.
    #[test]
    fn any_two_quantiles_fit_the_same_lognormal() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let (p50, p95, p99) = (d.at_z(0.0), d.at_z(Z95), d.at_z(Z99));
        assert!((p50 - 40.0).abs() < 1e-9 && (p99 - 200.0).abs() < 1e-9);
        assert!((d.quantile(0.95) - p95).abs() < 1e-6);
        for fit in [LogNormal::from_p50_p95(p50, p95), LogNormal::from_p95_p99(p95, p99)] {
            assert!((fit.mu - d.mu).abs() < 1e-12, "{fit:?}");
            assert!((fit.sigma - d.sigma).abs() < 1e-12, "{fit:?}");
        }
    }

    #[test]
    fn cells_sum_to_one_and_split_at_the_cut() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let t = CellTable::new(&d, 300.0, &[]);
        let below: f64 = t.below.iter().map(|c| c.p).sum();
        let above: f64 = t.above.iter().map(|c| c.p).sum();
        assert!((below + above - 1.0).abs() < 1e-12);
        assert!((above - t.p_above).abs() < 1e-12);
        assert!((t.p_above - (1.0 - d.cdf(300.0))).abs() < 1e-12);
    }

    #[test]
    fn histogram_quantile_reads_back_the_distribution() {
        // Exact expected counts of a large sample: quantiles within a bucket's width.
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let t = CellTable::new(&d, 1e9, &[]);
        let mut h: Histogram = [0; BUCKETS_TOTAL];
        for c in t.below.iter().chain(t.above.iter()) {
            h[c.bucket] += (c.p * 1e9).round() as u64;
        }
        for q in [0.5, 0.95, 0.99] {
            let est = histogram_quantile(&h, q).unwrap();
            let truth = d.quantile(q);
            assert!((est / truth - 1.0).abs() < 0.03, "q={q} est={est} truth={truth}");
        }
        assert_eq!(histogram_quantile(&[0; BUCKETS_TOTAL], 0.5), None);
    }

    #[test]
    fn requests_land_in_the_first_bucket_they_do_not_exceed() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(1.0), 0);
        for i in 0..BUCKETS {
            let b = bucket_upper_ms(i);
            assert_eq!(bucket_of(b), i, "bound {i} itself");
            assert_eq!(bucket_of(b * (1.0 + 1e-12)), i + 1, "just above bound {i}");
        }
        assert_eq!(bucket_of(1e9), BUCKETS, "overflow");
    }

    #[test]
    fn prometheus_parts_of_every_cell_add_up_to_the_cell() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let t = CellTable::new(&d, 250.0, &prometheus::DEFAULT_BUCKETS_MS);
        for c in t.below.iter().chain(t.above.iter()) {
            let parts: f64 = t.le[c.le.clone()].iter().map(|p| p.1).sum();
            assert!((parts - c.p).abs() < 1e-12, "bucket {}: {parts} vs {}", c.bucket, c.p);
        }
        let mut per_le = [0.0; 12];
        for &(j, p) in &t.le {
            per_le[j] += p;
        }
        assert!((per_le[4] - (d.cdf(100.0) - d.cdf(50.0))).abs() < 1e-12);
        assert!((per_le[11] - (1.0 - d.cdf(10_000.0))).abs() < 1e-12);
    }
}
