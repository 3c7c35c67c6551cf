//! Small, exact summary statistics computed sequentially after a batch.

/// The `q` quantile by linear interpolation between order statistics
/// (Hyndman and Fan type 7, numpy's default). `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

/// Mean and a 95 % confidence interval by the normal approximation
/// (mean ± 1.96 · s / √n, s the sample standard deviation).
pub fn mean_ci95(values: &[f64]) -> Option<(f64, [f64; 2])> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some((mean, [mean, mean]));
    }
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let half = 1.96 * libm::sqrt(var / n as f64);
    Some((mean, [mean - half, mean + half]))
}

/// The Wilson score interval at 95 % for `k` successes in `n` trials
/// (Wilson 1927, the closed form). It stays inside [0, 1] and is not
/// degenerate at 0 or n. `None` for no trials.
pub fn wilson_ci95(k: usize, n: usize) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054;
    let (nf, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = z / (1.0 + z2 / nf) * libm::sqrt(p * (1.0 - p) / nf + z2 / (4.0 * nf * nf));
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

/// Resamples for [`bootstrap_mean_ci95`]: the Monte Carlo error of a 2.5 %
/// percentile from 2 000 resamples is about 0.35 percentage points of rank.
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;

/// Bootstrap resampling plans: `resamples` lists of `n` indices drawn with
/// replacement from `rng`. One plan serves every figure of a group, so their
/// intervals come from the same resamples.
pub fn bootstrap_plan(n: usize, resamples: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Vec<u32>> {
    use rand::RngExt;
    (0..resamples)
        .map(|_| (0..n).map(|_| rng.random_range(0..n as u32)).collect())
        .collect()
}

/// Mean and its 95 % percentile-bootstrap interval (Efron and Tibshirani
/// 1993, ch. 13) over the resamples of `plan`. The interval is made of
/// resampled means, so it never leaves the data's support (a count's
/// interval never goes below zero, however heavy its tail).
pub fn bootstrap_mean_ci95(values: &[f64], plan: &[Vec<u32>]) -> Option<(f64, [f64; 2])> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if plan.is_empty() || values.iter().all(|v| *v == values[0]) {
        return Some((mean, [mean, mean]));
    }
    let means: Vec<f64> = plan
        .iter()
        .map(|idx| idx.iter().map(|&i| values[i as usize]).sum::<f64>() / n as f64)
        .collect();
    let lo = quantile(&means, 0.025)?;
    let hi = quantile(&means, 0.975)?;
    Some((mean, [lo.min(mean), hi.max(mean)]))
}

/// The resampled means of several figures of the same `n` runs, from the
/// resamples [`bootstrap_plan`] would draw from `rng` (the same indices in
/// the same order), without holding the plan: one pass per resample adds
/// each drawn run's value to every figure's sum. `means[f][b]` equals what
/// [`bootstrap_mean_ci95`] computes for figure `f` from resample `b`, so
/// the intervals are the same; the memory is `resamples` numbers a figure,
/// not `resamples × n` indices. A figure whose values are all equal gets no
/// means (its interval is its mean, with or without them), and the others
/// are read run by run from one row per run, so a draw touches one line of
/// memory.
pub fn bootstrap_means(figures: &[&[f64]], resamples: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Vec<f64>> {
    use rand::RngExt;
    let Some(n) = figures.first().map(|f| f.len()) else {
        return Vec::new();
    };
    assert!(figures.iter().all(|f| f.len() == n), "every figure has the same runs");
    let varying: Vec<usize> = (0..figures.len())
        .filter(|&f| figures[f].iter().any(|v| *v != figures[f][0]))
        .collect();
    let k = varying.len();
    let rows: Vec<f64> = (0..n)
        .flat_map(|i| varying.iter().map(move |&f| figures[f][i]))
        .collect();
    let mut resampled: Vec<Vec<f64>> = varying.iter().map(|_| Vec::with_capacity(resamples)).collect();
    let mut sums = vec![0.0f64; k];
    for _ in 0..resamples {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for _ in 0..n {
            let i = rng.random_range(0..n as u32) as usize;
            for (sum, x) in sums.iter_mut().zip(&rows[i * k..(i + 1) * k]) {
                *sum += x;
            }
        }
        for (m, sum) in resampled.iter_mut().zip(&sums) {
            m.push(sum / n as f64);
        }
    }
    let mut means: Vec<Vec<f64>> = figures.iter().map(|_| Vec::new()).collect();
    for (f, m) in varying.into_iter().zip(resampled) {
        means[f] = m;
    }
    means
}

/// [`bootstrap_mean_ci95`] from the resampled means of
/// [`bootstrap_means`] (`None` for no resamples, as for an empty plan).
pub fn bootstrap_ci95_of(values: &[f64], means: Option<&[f64]>) -> Option<(f64, [f64; 2])> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let Some(means) = means.filter(|m| !m.is_empty()) else {
        return Some((mean, [mean, mean]));
    };
    if values.iter().all(|v| *v == values[0]) {
        return Some((mean, [mean, mean]));
    }
    let lo = quantile(means, 0.025)?;
    let hi = quantile(means, 0.975)?;
    Some((mean, [lo.min(mean), hi.max(mean)]))
}

/// `num / den`, or `None` when there is nothing to divide by.
pub fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.5, 0.9]) == [3.0, 7.6]
        let v = [4.0, 1.0, 10.0, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert!((quantile(&v, 0.9).unwrap() - 7.6).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn wilson_matches_the_closed_form() {
        // Wilson's formula evaluated by hand (Python, floats) for 3 of 10:
        //   (0.10779126740630099, 0.6032218525388546)
        let [lo, hi] = wilson_ci95(3, 10).unwrap();
        assert!((lo - 0.107_791_267_406_301).abs() < 1e-9, "{lo}");
        assert!((hi - 0.603_221_852_538_855).abs() < 1e-9, "{hi}");
        // and for 0 of 50: (0.0, 0.07134759913335872)
        let [lo, hi] = wilson_ci95(0, 50).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.071_347_6).abs() < 1e-6, "{hi}");
        assert_eq!(wilson_ci95(0, 0), None);
    }

    #[test]
    fn bootstrap_interval_stays_in_the_support() {
        use rand::SeedableRng;
        // A heavy-tailed count: mostly zeros, a few huge values. The normal
        // approximation's lower bound is below zero; the bootstrap's is not.
        let mut v = vec![0.0; 95];
        v.extend([20_000.0, 40_000.0, 3_000.0, 90_000.0, 1.0]);
        let (_, normal) = mean_ci95(&v).unwrap();
        assert!(normal[0] < 0.0, "the case this test is about: {normal:?}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let plan = bootstrap_plan(v.len(), BOOTSTRAP_RESAMPLES, &mut rng);
        let (mean, ci) = bootstrap_mean_ci95(&v, &plan).unwrap();
        assert!(ci[0] >= 0.0 && ci[0] <= mean && mean <= ci[1], "{ci:?}");
        // The percentile interval of a mean of 100 draws covers the mean
        // and its upper end stays below the largest value.
        assert!(ci[1] < 90_000.0);
        // Same plan, same interval: deterministic.
        assert_eq!(bootstrap_mean_ci95(&v, &plan), Some((mean, ci)));
    }

    /// The plan-free resampling gives the plan's intervals, bit for bit.
    #[test]
    fn bootstrap_means_are_the_plans_means() {
        use rand::SeedableRng;
        let a: Vec<f64> = (0..57).map(|i| f64::from(i * i % 13)).collect();
        let b: Vec<f64> = (0..57).map(|i| f64::from(i % 5) * 0.25).collect();
        let seeded = || rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let plan = bootstrap_plan(a.len(), 300, &mut seeded());
        let means = bootstrap_means(&[&a, &b], 300, &mut seeded());
        for (values, m) in [(&a, &means[0]), (&b, &means[1])] {
            assert_eq!(bootstrap_ci95_of(values, Some(m)), bootstrap_mean_ci95(values, &plan));
        }
        assert_eq!(bootstrap_ci95_of(&a, None), bootstrap_mean_ci95(&a, &[]));
        // A constant figure beside them draws nothing of its own and keeps
        // its interval; the others' resamples are unchanged.
        let c = vec![4.0; a.len()];
        let with_c = bootstrap_means(&[&a, &c, &b], 300, &mut seeded());
        assert!(with_c[1].is_empty());
        assert_eq!((&with_c[0], &with_c[2]), (&means[0], &means[1]));
        assert_eq!(bootstrap_ci95_of(&c, Some(&with_c[1])), bootstrap_mean_ci95(&c, &plan));
    }

    #[test]
    fn ci_matches_hand_computation() {
        // mean 2.5, s = 1.2909944, half = 1.96 * s / 2 = 1.2651745
        let (m, ci) = mean_ci95(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        assert!((ci[0] - (2.5 - 1.265_174_5)).abs() < 1e-6);
        assert!((ci[1] - (2.5 + 1.265_174_5)).abs() < 1e-6);
    }
}
