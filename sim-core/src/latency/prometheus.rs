//! Prometheus classic histograms: `le` buckets and `histogram_quantile`.
//!
//! A Prometheus client histogram counts each observation in every bucket
//! whose upper bound `le` it does not exceed, so its bucket series are
//! cumulative, and the last bucket is `+Inf`. [`bucket_quantile`] is
//! Prometheus' own `BucketQuantile` (`promql/quantile.go`, the function
//! behind `histogram_quantile(φ, rate(x_bucket[w]))` for classic
//! histograms), case for case:
//!
//! - φ NaN gives NaN, φ < 0 gives −Inf, φ > 1 gives +Inf;
//! - a highest bucket that is not `+Inf`, fewer than two buckets, or no
//!   observations give NaN;
//! - rank = φ × count, count being the `+Inf` bucket's; the quantile's
//!   bucket is the first finite one whose cumulative count reaches the rank
//!   (Prometheus binary-searches every bucket but `+Inf`), else `+Inf`;
//! - in the `+Inf` bucket, the answer is the upper bound of the highest
//!   finite bucket;
//! - in the lowest bucket, if its upper bound is ≤ 0, that upper bound;
//! - otherwise linear interpolation from the bucket's lower bound (the
//!   previous upper bound, or 0 for the lowest bucket) to its upper bound,
//!   at (rank − count below) / (count in the bucket). A rank exactly at a
//!   bucket's cumulative count gives that bucket's upper bound.
//!
//! Not reproduced: merging buckets with equal bounds and forcing the counts
//! monotonic (repairs for data from remote writes and query sharding).
//! Here bounds are strictly increasing by validation and the counts are
//! whole cumulative counters; an assertion holds both.
//!
//! `rate()` scales every bucket of a window by the same factor, which does
//! not move the quantile, so a window's bucket increases are read as they
//! are.

use super::LogNormal;

/// The Prometheus client libraries' default buckets (Go `DefBuckets`,
/// Python, Java), converted from seconds to milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 11] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0,
];

/// `histogram_quantile(q, …)` over `buckets`: (upper bound, cumulative
/// count) pairs in increasing order of bound, the last one `+Inf`.
///
/// # Panics
///
/// If the bounds are not strictly increasing or the counts decrease.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    for pair in buckets.windows(2) {
        assert!(pair[0].0 < pair[1].0, "bucket bounds strictly increasing");
        assert!(pair[0].1 <= pair[1].1, "cumulative bucket counts never decrease");
    }
    let Some(&(highest, observations)) = buckets.last() else {
        return f64::NAN;
    };
    if highest != f64::INFINITY || buckets.len() < 2 || observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let finite = buckets.len() - 1;
    let b = buckets[..finite].partition_point(|&(_, count)| count < rank);
    if b == finite {
        return buckets[finite - 1].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (end, mut count) = buckets[b];
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The quantile `q` (in milliseconds) of per-bucket counts over
/// `bounds_ms` (finite upper bounds; `counts` has one more entry, the
/// `+Inf` bucket); `None` when Prometheus would answer NaN (no data).
pub fn quantile_ms(q: f64, bounds_ms: &[f64], counts: &[u64]) -> Option<f64> {
    assert_eq!(counts.len(), bounds_ms.len() + 1, "one count per bucket and +Inf");
    let mut cumulative = 0u64;
    let buckets: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            cumulative += c;
            (bounds_ms.get(i).copied().unwrap_or(f64::INFINITY), cumulative as f64)
        })
        .collect();
    let x = bucket_quantile(q, &buckets);
    (!x.is_nan()).then_some(x)
}

/// The bucket that counts an observation of `x_ms`: the first whose upper
/// bound it does not exceed, or the `+Inf` bucket (`bounds_ms.len()`).
pub fn bucket_of(bounds_ms: &[f64], x_ms: f64) -> usize {
    bounds_ms.partition_point(|&b| b < x_ms)
}

/// The parts of the latency interval `(lo, hi]` in each bucket, as
/// `(bucket, P(latency in the part))` under `dist`, in increasing order.
pub fn split(bounds_ms: &[f64], lo: f64, hi: f64, dist: &LogNormal) -> Vec<(usize, f64)> {
    let mut parts = Vec::new();
    let mut start = lo;
    let mut bucket = bucket_of(bounds_ms, lo);
    // `lo` itself belongs to the interval below, so a bound equal to `lo`
    // ends no part of this one.
    if bounds_ms.get(bucket).is_some_and(|&b| b <= lo) {
        bucket += 1;
    }
    let cdf = |x: f64| if x == f64::INFINITY { 1.0 } else { dist.cdf(x) };
    loop {
        let end = bounds_ms.get(bucket).copied().unwrap_or(f64::INFINITY).min(hi);
        parts.push((bucket, (cdf(end) - cdf(start)).max(0.0)));
        if end >= hi {
            return parts;
        }
        start = end;
        bucket += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    /// Hand-computed answers of Prometheus' `BucketQuantile`
    /// (promql/quantile.go) on small bucket sets.
    fn check(q: f64, buckets: &[(f64, f64)], expected: f64) {
        let got = bucket_quantile(q, buckets);
        if expected.is_nan() {
            assert!(got.is_nan(), "q={q} {buckets:?}: expected NaN, got {got}");
        } else {
            assert!(
                (got - expected).abs() < 1e-12 || got == expected,
                "q={q} {buckets:?}: expected {expected}, got {got}"
            );
        }
    }

    #[test]
    fn bucket_quantile_matches_prometheus() {
        let b = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (INF, 40.0)];
        // rank 20 in (0.1, 0.5]: 10 below, 20 inside → halfway.
        check(0.5, &b, 0.3);
        // The lowest bucket interpolates from 0 (its bound is positive).
        check(0.1, &b, 0.04);
        // A rank exactly at a cumulative count is that bucket's upper bound.
        check(0.25, &b, 0.1);
        check(0.75, &b, 0.5);
        // q = 1: the last finite bucket that reaches the count, at its top.
        check(1.0, &b, 1.0);
        // Out-of-range q and a NaN q.
        check(-0.1, &b, f64::NEG_INFINITY);
        check(1.1, &b, INF);
        check(f64::NAN, &b, f64::NAN);
    }

    #[test]
    fn a_quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
        let b = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (INF, 50.0)];
        // rank 45 and 49.5: no finite bucket reaches them.
        check(0.9, &b, 1.0);
        check(0.99, &b, 1.0);
        // rank 40 is reached by the 1.0 bucket exactly.
        check(0.8, &b, 1.0);
        check(0.7, &b, 0.5 + 0.5 * (5.0 / 10.0));
    }

    #[test]
    fn empty_buckets_are_skipped_by_the_search() {
        let b = [(0.1, 10.0), (0.2, 10.0), (0.5, 20.0), (INF, 20.0)];
        // rank 10: the first bucket reaching it is the lowest, not (0.1, 0.2].
        check(0.5, &b, 0.1);
        // rank 15: (0.2, 0.5] holds 10 with 10 below → halfway.
        check(0.75, &b, 0.35);
    }

    #[test]
    fn degenerate_histograms_give_nan() {
        // No observations.
        check(0.5, &[(0.1, 0.0), (INF, 0.0)], f64::NAN);
        // Only the +Inf bucket.
        check(0.5, &[(INF, 5.0)], f64::NAN);
        // No +Inf bucket.
        check(0.5, &[(0.1, 5.0), (0.5, 10.0)], f64::NAN);
        check(0.5, &[], f64::NAN);
        // q = 0 with an empty lowest bucket: rank 0 lands in it, and
        // Prometheus divides 0 by its count of 0.
        check(0.0, &[(0.1, 0.0), (0.5, 10.0), (INF, 10.0)], f64::NAN);
    }

    #[test]
    fn a_non_positive_lowest_bound_is_returned_as_is() {
        let b = [(-1.0, 5.0), (1.0, 10.0), (INF, 10.0)];
        check(0.2, &b, -1.0);
        // Above it, interpolation from the lowest bound as usual.
        check(0.75, &b, -1.0 + 2.0 * (2.5 / 5.0));
    }

    #[test]
    fn counts_per_bucket_read_as_cumulative() {
        let bounds = [100.0, 250.0, 500.0];
        // 90 ≤ 100 ms, 8 in (100, 250], 1 in (250, 500], 1 above.
        let counts = [90, 8, 1, 1];
        // p50: rank 50 in the lowest bucket, from 0.
        let near = |q: f64, expected: f64| {
            let got = quantile_ms(q, &bounds, &counts).expect("data");
            assert!((got - expected).abs() < 1e-9, "q={q}: {got} vs {expected}");
        };
        near(0.5, 100.0 * 50.0 / 90.0);
        // p95: rank 95, 5 of 8 into (100, 250].
        near(0.95, 100.0 + 150.0 * 5.0 / 8.0);
        // p99.5: rank 99.5 is in +Inf → 500.
        assert_eq!(quantile_ms(0.995, &bounds, &counts), Some(500.0));
        assert_eq!(quantile_ms(0.5, &bounds, &[0, 0, 0, 0]), None);
    }

    #[test]
    fn observations_land_in_the_first_bucket_they_do_not_exceed() {
        let bounds = DEFAULT_BUCKETS_MS;
        assert_eq!(bucket_of(&bounds, 0.0), 0);
        assert_eq!(bucket_of(&bounds, 5.0), 0, "le is inclusive");
        assert_eq!(bucket_of(&bounds, 5.000_001), 1);
        assert_eq!(bucket_of(&bounds, 10_000.0), 10);
        assert_eq!(bucket_of(&bounds, 10_000.1), 11, "+Inf");
    }

    #[test]
    fn split_parts_cover_the_interval() {
        let d = LogNormal::from_p50_p99(40.0, 200.0);
        let bounds = DEFAULT_BUCKETS_MS;
        // Inside one bucket: a single part with the interval's probability.
        let one = split(&bounds, 30.0, 40.0, &d);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0, 3);
        assert!((one[0].1 - (d.cdf(40.0) - d.cdf(30.0))).abs() < 1e-15);
        // A bound equal to the lower end starts the next bucket.
        let at = split(&bounds, 50.0, 60.0, &d);
        assert_eq!(at.iter().map(|p| p.0).collect::<Vec<_>>(), vec![4]);
        // Across three bounds, and into +Inf.
        let across = split(&bounds, 4.0, INF, &d);
        assert_eq!(across.first().map(|p| p.0), Some(0));
        assert_eq!(across.last().map(|p| p.0), Some(11));
        let total: f64 = across.iter().map(|p| p.1).sum();
        assert!((total - (1.0 - d.cdf(4.0))).abs() < 1e-12);
    }
}
