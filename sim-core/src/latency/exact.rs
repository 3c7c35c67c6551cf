//! The exact model: a window's latency quantile is its sample quantile.
//!
//! **Definition.** Sort the n requests an arm completed in the window by
//! latency, x₍₁₎ ≤ … ≤ x₍ₙ₎. Its q-quantile is the order statistic x₍ₖ₎
//! with k = ⌈q·n⌉ (and k = 1 for q·n < 1): the inverse of the sample's
//! empirical CDF, Hyndman and Fan's type 1 (numpy's
//! `method="inverted_cdf"`). The p99 of 200 requests is the 198th
//! smallest. A completed request counts whether it succeeded or failed
//! (an exporter observes every response); a request that hangs never
//! completes and is not in the window.
//!
//! **Drawing it without the requests.** The world records each arm's
//! requests in the 65-bucket log histogram ([`super::Histogram`]) and, per
//! scrape interval, the latency distributions it served, each with its
//! request count (a [`Mixture`]). Given the bucket counts, the requests in
//! bucket j are independent draws from the window's mixture truncated to
//! the bucket. So x₍ₖ₎ is the k′-th smallest of the c_j requests of the
//! bucket that holds rank k (k′ = k − the requests in lower buckets), and
//!
//! ```text
//! x₍ₖ₎ = G_j⁻¹(V),   V ~ Beta(k′, c_j − k′ + 1),
//! ```
//!
//! G_j the mixture's CDF truncated to bucket j (inverted by bisection).
//! Over the bucket counts this is the k-th order statistic of n draws from
//! the mixture; for a single log-normal it is exactly F⁻¹(U₍ₖ₎), U₍ₖ₎ ~
//! Beta(k, n − k + 1). For several distributions in one window the draw
//! treats the window's requests as n independent draws from the
//! request-weighted mixture (the world serves each distribution a fixed
//! count, which gives the order statistics slightly less spread), and it
//! weighs the distributions inside the bucket by their expected rather
//! than their drawn counts; both differences shrink with the bucket's
//! width, 19 % of its latency.
//!
//! **Several quantiles of one window** are drawn highest first
//! ([`QUANTILES`]). A lower rank in the same bucket is the k′_lo-th of the
//! k′_hi − 1 uniforms below V_hi, V_lo = V_hi · Beta(k′_lo, k′_hi − k′_lo);
//! in a lower bucket it is independent given the counts. So p50 ≤ p95 ≤
//! p99 always, and a query for one quantile replays the chain above it:
//! the answer does not depend on which quantiles were asked before.
//!
//! **Cost**: a Beta draw and a bisection over the mixture per quantile,
//! O(components), whatever n.

use rand_chacha::ChaCha8Rng;

use super::{BUCKETS, Histogram, LogNormal, bucket_upper_ms, normal_cdf};

/// The quantiles the exact model draws for a window, highest first. Every
/// latency metric reads one of them.
pub const QUANTILES: [f64; 3] = [0.99, 0.95, 0.50];

/// The rank k = ⌈q·n⌉ (at least 1) of the q-quantile of n values, with q
/// taken to four decimals so that 0.99 × 100 is 99, not 100.
///
/// # Panics
///
/// If n is 0, q is outside 0..=1, or q has more than four decimals.
pub fn rank(q: f64, n: u64) -> u64 {
    assert!(n > 0, "a rank needs values");
    assert!((0.0..=1.0).contains(&q), "quantile {q} outside 0..=1");
    let q4 = (q * 10_000.0).round();
    assert!(
        (q * 10_000.0 - q4).abs() < 1e-6,
        "quantile {q} has more than four decimals"
    );
    let k = (q4 as u128 * u128::from(n)).div_ceil(10_000);
    (k as u64).max(1)
}

/// The q-quantile of values recorded one by one: x₍ₖ₎, k = [`rank`].
/// `None` for no values. Reorders `values`.
pub fn order_statistic(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let k = rank(q, values.len() as u64) as usize;
    let (_, x, _) = values.select_nth_unstable_by(k - 1, f64::total_cmp);
    Some(*x)
}

/// Latency distributions with the number of completed requests each
/// served: the exact model's description of an arm's requests in a scrape
/// interval or a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mixture {
    components: Vec<(LogNormal, u64)>,
}

impl Mixture {
    /// Adds `requests` served by `dist`. A distribution already present
    /// (same parameters) adds to its count; past `cap` distributions, the
    /// two closest (in μ and σ) are merged by [`merge`].
    pub fn add(&mut self, dist: LogNormal, requests: u64, cap: usize) {
        assert!(cap >= 1, "a mixture holds at least one distribution");
        if requests == 0 {
            return;
        }
        if let Some(c) = self.components.iter_mut().find(|c| c.0 == dist) {
            c.1 += requests;
            return;
        }
        self.components.push((dist, requests));
        if self.components.len() > cap {
            self.merge_closest();
        }
    }

    /// Adds every component of `other` (same parameters add up).
    pub fn extend(&mut self, other: &Mixture) {
        for &(dist, n) in &other.components {
            self.add(dist, n, usize::MAX);
        }
    }

    /// Merges components until at most `cap` are left: sorted by (μ, σ),
    /// neighbours are merged pairwise, halving the count per pass.
    pub fn reduce(&mut self, cap: usize) {
        assert!(cap >= 1, "a mixture holds at least one distribution");
        while self.components.len() > cap {
            self.components
                .sort_by(|a, b| a.0.mu.total_cmp(&b.0.mu).then(a.0.sigma.total_cmp(&b.0.sigma)));
            let merged: Vec<(LogNormal, u64)> = self
                .components
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => merge(*a, *b),
                    [a] => *a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            self.components = merged;
        }
    }

    fn merge_closest(&mut self) {
        let n = self.components.len();
        let mut best = (0, 1, f64::INFINITY);
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (self.components[i].0, self.components[j].0);
                let d = (a.mu - b.mu).abs() + (a.sigma - b.sigma).abs();
                if d < best.2 {
                    best = (i, j, d);
                }
            }
        }
        let (i, j, _) = best;
        let b = self.components.remove(j);
        self.components[i] = merge(self.components[i], b);
    }

    /// Completed requests over all components.
    pub fn requests(&self) -> u64 {
        self.components.iter().map(|c| c.1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// P(latency ≤ e^lx) (`upper` false) or P(latency > e^lx) (`upper`
    /// true), request-weighted, each from its own tail so neither loses
    /// precision near 0.
    fn tail(&self, lx: f64, upper: bool) -> f64 {
        let total = self.requests() as f64;
        let mut p = 0.0;
        for (d, n) in &self.components {
            let side = if d.sigma > 0.0 {
                let z = (lx - d.mu) / d.sigma;
                normal_cdf(if upper { -z } else { z })
            } else {
                // A point mass at e^μ: below or above it.
                f64::from(u8::from((lx >= d.mu) != upper))
            };
            p += *n as f64 / total * side;
        }
        p
    }

    /// Log latencies below and above which the mixture has no mass to
    /// speak of (12 σ beyond every component: < 1e-32).
    fn log_support(&self) -> (f64, f64) {
        let lo = self
            .components
            .iter()
            .map(|(d, _)| d.mu - 12.0 * d.sigma)
            .fold(f64::INFINITY, f64::min);
        let hi = self
            .components
            .iter()
            .map(|(d, _)| d.mu + 12.0 * d.sigma)
            .fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    }

    /// The latency in `(lo, hi]` at share `v` of the mixture's mass inside
    /// it: G⁻¹(v) for the mixture truncated to the interval, by bisection
    /// on the log latency to 1e-11 (relative). Where the interval has no
    /// mass under the mixture (a tail bucket holding a request by
    /// rounding), `v` is spread log-uniformly over it.
    fn truncated_inverse(&self, lo: f64, hi: f64, v: f64) -> f64 {
        let (support_lo, support_hi) = self.log_support();
        let mut a = if lo > 0.0 { libm::log(lo) } else { support_lo };
        let mut b = if hi.is_finite() { libm::log(hi) } else { support_hi };
        if lo <= 0.0 {
            a = a.min(b - 1.0);
        }
        if !hi.is_finite() {
            b = b.max(a + 1.0);
        }
        // Bisect on whichever tail is the smaller at the lower end, where
        // it is precise.
        let cdf_lo = if lo > 0.0 { self.tail(a, false) } else { 0.0 };
        let upper = cdf_lo > 0.5;
        let at_lo = if upper { self.tail(a, true) } else { cdf_lo };
        let at_hi = match (hi.is_finite(), upper) {
            (true, u) => self.tail(b, u),
            (false, true) => 0.0,
            (false, false) => 1.0,
        };
        // Mass inside, and the share of it below a point, from either tail.
        let mass = if upper { at_lo - at_hi } else { at_hi - at_lo };
        if mass.is_nan() || mass <= 0.0 {
            return libm::exp(a + v * (b - a));
        }
        while b - a > 1e-11 {
            let mid = 0.5 * (a + b);
            let t = self.tail(mid, upper);
            let share = if upper { (at_lo - t) / mass } else { (t - at_lo) / mass };
            if share < v {
                a = mid;
            } else {
                b = mid;
            }
        }
        libm::exp(0.5 * (a + b))
    }
}

/// One log-normal for two, by their request-weighted log-latency moments:
/// μ the mean of the μs, σ² the mean σ² plus the spread of the μs.
pub fn merge(a: (LogNormal, u64), b: (LogNormal, u64)) -> (LogNormal, u64) {
    let n = a.1 + b.1;
    let (wa, wb) = (a.1 as f64 / n as f64, b.1 as f64 / n as f64);
    let mu = wa * a.0.mu + wb * b.0.mu;
    let second = wa * (a.0.sigma * a.0.sigma + a.0.mu * a.0.mu) + wb * (b.0.sigma * b.0.sigma + b.0.mu * b.0.mu);
    let sigma = libm::sqrt((second - mu * mu).max(0.0));
    (LogNormal { mu, sigma }, n)
}

/// Bucket `j`'s latency interval `(lower, upper]` in the log histogram.
fn bucket_bounds(j: usize) -> (f64, f64) {
    let lower = if j == 0 { 0.0 } else { bucket_upper_ms(j - 1) };
    let upper = if j < BUCKETS { bucket_upper_ms(j) } else { f64::INFINITY };
    (lower, upper)
}

/// The bucket holding rank `k` and the rank inside it (1-based).
fn locate(histogram: &Histogram, k: u64) -> (usize, u64) {
    let mut below = 0u64;
    for (j, &c) in histogram.iter().enumerate() {
        if below + c >= k {
            return (j, k - below);
        }
        below += c;
    }
    unreachable!("rank {k} within the histogram's {below} requests")
}

fn beta(rng: &mut ChaCha8Rng, a: u64, b: u64) -> f64 {
    crate::draw::beta(rng, a, b)
}

/// The window's sample q-quantile, drawn as the module doc describes from
/// its log-histogram counts and its mixture, with `rng` the window's own
/// generator (fresh for each query, so a query replays the same draws).
/// `None` when the window completed no request.
///
/// # Panics
///
/// If `q` is not one of [`QUANTILES`], or the mixture's request count is
/// not the histogram's.
pub fn sample_quantile(q: f64, histogram: &Histogram, mixture: &Mixture, mut rng: ChaCha8Rng) -> Option<f64> {
    let n: u64 = histogram.iter().sum();
    if n == 0 {
        return None;
    }
    assert_eq!(mixture.requests(), n, "the mixture describes the histogram's requests");
    let last = QUANTILES
        .iter()
        .position(|&x| x == q)
        .unwrap_or_else(|| panic!("quantile {q} is not one of {QUANTILES:?}"));
    // (bucket, rank inside it, V) of the quantile above.
    let mut above: Option<(usize, u64, f64)> = None;
    for &quantile in &QUANTILES[..=last] {
        let (j, k) = locate(histogram, rank(quantile, n));
        let v = match above {
            Some((j_hi, k_hi, v_hi)) if j_hi == j && k_hi == k => v_hi,
            Some((j_hi, k_hi, v_hi)) if j_hi == j => v_hi * beta(&mut rng, k, k_hi - k),
            Some(_) | None => beta(&mut rng, k, histogram[j] - k + 1),
        };
        above = Some((j, k, v));
    }
    let (j, _, v) = above.expect("at least one quantile drawn");
    let (lo, hi) = bucket_bounds(j);
    Some(mixture.truncated_inverse(lo, hi, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rank_is_the_ceiling_of_q_n() {
        assert_eq!(rank(0.99, 100), 99);
        assert_eq!(rank(0.99, 200), 198);
        assert_eq!(rank(0.99, 101), 100);
        assert_eq!(rank(0.5, 1), 1);
        assert_eq!(rank(0.5, 2), 1);
        assert_eq!(rank(0.5, 3), 2);
        assert_eq!(rank(0.0, 10), 1);
        assert_eq!(rank(1.0, 10), 10);
        // No overflow: 2⁶³ − 1 = 20 m + 7, and ⌈19 · 7 / 20⌉ = 7.
        assert_eq!(rank(0.95, u64::MAX / 2), (u64::MAX / 2 / 20) * 19 + 7);
    }

    #[test]
    fn order_statistic_picks_the_kth_value() {
        let mut v: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(order_statistic(&mut v, 0.99), Some(198.0));
        assert_eq!(order_statistic(&mut v, 0.5), Some(100.0));
        assert_eq!(order_statistic(&mut [], 0.5), None);
    }

    #[test]
    fn mixtures_stay_within_their_cap() {
        let mut m = Mixture::default();
        for i in 0..40 {
            m.add(
                LogNormal {
                    mu: f64::from(i),
                    sigma: 0.5,
                },
                10,
                16,
            );
        }
        assert_eq!(m.len(), 16);
        assert_eq!(m.requests(), 400, "merging keeps every request");
        m.reduce(5);
        assert!(m.len() <= 5);
        assert_eq!(m.requests(), 400);
        // The same distribution adds to its count.
        let mut s = Mixture::default();
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        s.add(d, 3, 16);
        s.add(d, 4, 16);
        assert_eq!((s.len(), s.requests()), (1, 7));
    }

    #[test]
    fn merging_keeps_the_log_moments() {
        let a = (LogNormal { mu: 1.0, sigma: 0.5 }, 1);
        let b = (LogNormal { mu: 3.0, sigma: 0.5 }, 1);
        let (m, n) = merge(a, b);
        assert_eq!(n, 2);
        assert!((m.mu - 2.0).abs() < 1e-12);
        assert!((m.sigma * m.sigma - 1.25).abs() < 1e-12, "0.25 + spread 1");
    }

    #[test]
    fn truncated_inverse_inverts_the_cdf() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let mut m = Mixture::default();
        m.add(d, 1000, 16);
        for (lo, hi) in [(0.0, 1.0), (30.0, 60.0), (190.0, 230.0), (60_000.0, f64::INFINITY)] {
            for v in [0.001, 0.3, 0.999] {
                let x = m.truncated_inverse(lo, hi, v);
                assert!(x > lo.max(0.0) && x <= hi, "({lo}, {hi}] v={v}: {x}");
                if lo > 0.0 && hi.is_finite() {
                    let share = (d.cdf(x) - d.cdf(lo)) / (d.cdf(hi) - d.cdf(lo));
                    assert!((share - v).abs() < 1e-9, "({lo}, {hi}] v={v}: share {share}");
                }
            }
        }
    }

    #[test]
    fn quantiles_of_one_window_are_ordered_and_replayable() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let mut h: Histogram = [0; super::super::BUCKETS_TOTAL];
        // Everything in two buckets, so ranks share a bucket.
        h[30] = 60;
        h[31] = 40;
        let mut m = Mixture::default();
        m.add(d, 100, 16);
        for seed in 0..200 {
            let rng = ChaCha8Rng::seed_from_u64(seed);
            let q = |q: f64| sample_quantile(q, &h, &m, rng.clone()).unwrap();
            let (p50, p95, p99) = (q(0.5), q(0.95), q(0.99));
            assert!(p50 <= p95 && p95 <= p99, "seed {seed}: {p50} {p95} {p99}");
            assert_eq!(q(0.5), p50, "the same draw again");
            assert!(p95 > bucket_upper_ms(30) && p99 <= bucket_upper_ms(31));
            assert!(p50 <= bucket_upper_ms(30));
        }
    }
}
