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
    fn ci_matches_hand_computation() {
        // mean 2.5, s = 1.2909944, half = 1.96 * s / 2 = 1.2651745
        let (m, ci) = mean_ci95(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        assert!((ci[0] - (2.5 - 1.265_174_5)).abs() < 1e-6);
        assert!((ci[1] - (2.5 + 1.265_174_5)).abs() < 1e-6);
    }
}
