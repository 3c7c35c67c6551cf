//! Fixed-horizon tests, applied after every interval on purpose.
//!
//! A two-proportion z-test or a Welch t-test is valid once, at a sample size
//! fixed in advance. Recomputing it after each interval and stopping at the
//! first p ≤ α ("peeking") inflates the false-alarm rate: Armitage, McPherson
//! and Rowe (1969, JRSS A 132:235–244) give about 0.37 for 100 looks at a
//! nominal α = 0.05, rising to 1 as the looks continue. These functions
//! exist to show that next to [`super::sequential`].

use crate::latency::normal_cdf;

/// One interval's events and trials (e.g. errors and requests) per arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalCounts {
    /// Control events.
    pub control_events: u64,
    /// Control trials.
    pub control_n: u64,
    /// Canary events.
    pub canary_events: u64,
    /// Canary trials.
    pub canary_n: u64,
}

/// Two-sided pooled two-proportion z-test of equal event rates:
///
/// ```text
/// p̂ = (x₁ + x₂)/(n₁ + n₂),  z = (x₂/n₂ − x₁/n₁) / √(p̂(1 − p̂)(1/n₁ + 1/n₂)),  p = 2Φ(−|z|)
/// ```
///
/// 1 when an arm has no trials or the pooled rate is 0 or 1.
pub fn z_test(control_events: u64, control_n: u64, canary_events: u64, canary_n: u64) -> f64 {
    if control_n == 0 || canary_n == 0 {
        return 1.0;
    }
    let (n1, n2) = (control_n as f64, canary_n as f64);
    let pooled = (control_events + canary_events) as f64 / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 {
        return 1.0;
    }
    let z = (canary_events as f64 / n2 - control_events as f64 / n1) / libm::sqrt(variance);
    2.0 * normal_cdf(-z.abs())
}

/// [`z_test`] on the cumulative counts after each interval.
pub fn cumulative_z_tests(rows: &[IntervalCounts]) -> Vec<f64> {
    let mut total = IntervalCounts::default();
    rows.iter()
        .map(|r| {
            total.control_events += r.control_events;
            total.control_n += r.control_n;
            total.canary_events += r.canary_events;
            total.canary_n += r.canary_n;
            z_test(
                total.control_events,
                total.control_n,
                total.canary_events,
                total.canary_n,
            )
        })
        .collect()
}

/// Welch's t statistic, degrees of freedom and two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WelchResult {
    /// (mean(canary) − mean(control)) / √(s₁²/n₁ + s₂²/n₂).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value from Student's t with `df` degrees of freedom.
    pub p_value: f64,
}

/// Welch's unequal-variance t-test (Welch 1947):
///
/// ```text
/// t = (ȳ − x̄)/√(s₁²/n₁ + s₂²/n₂),   ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁−1) + (s₂²/n₂)²/(n₂−1))
/// ```
///
/// `None` with fewer than two values in an arm or no variance in either.
pub fn welch(control: &[f64], canary: &[f64]) -> Option<WelchResult> {
    let (m1, v1, n1) = mean_var(control)?;
    let (m2, v2, n2) = mean_var(canary)?;
    let (a, b) = (v1 / n1, v2 / n2);
    if a + b <= 0.0 {
        return None;
    }
    let t = (m2 - m1) / libm::sqrt(a + b);
    let df = (a + b) * (a + b) / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0));
    Some(WelchResult {
        t,
        df,
        p_value: student_t_two_sided(t, df),
    })
}

/// The p-value of [`welch`]; 1 when it is undefined.
pub fn welch_t_test(control: &[f64], canary: &[f64]) -> f64 {
    welch(control, canary).map_or(1.0, |w| w.p_value)
}

/// [`welch_t_test`] on the first t values of both series, for each t.
pub fn cumulative_welch(control: &[f64], canary: &[f64]) -> Vec<f64> {
    let len = control.len().min(canary.len());
    (1..=len).map(|t| welch_t_test(&control[..t], &canary[..t])).collect()
}

/// The first 1-based look with p ≤ α, if any.
pub fn first_rejection(p_values: &[f64], alpha: f64) -> Option<usize> {
    p_values.iter().position(|&p| p <= alpha).map(|i| i + 1)
}

/// Whether a peeker stopping at the first p ≤ α would raise an alarm.
pub fn peeking_false_alarm(p_values: &[f64], alpha: f64) -> bool {
    first_rejection(p_values, alpha).is_some()
}

/// Mean, unbiased variance and count; `None` below two values.
fn mean_var(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    Some((mean, var, n))
}

/// Two-sided tail of Student's t: P(|T_ν| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, ½)
/// (Abramowitz and Stegun 26.7.1 with 26.5.27).
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    assert!(df > 0.0, "degrees of freedom must be positive");
    regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
}

/// The regularised incomplete beta function I_x(a, b), by the continued
/// fraction of Abramowitz and Stegun 26.5.8 evaluated with the modified
/// Lentz method, using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the
/// fraction converges slowly.
pub fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    assert!(
        (0.0..=1.0).contains(&x) && a > 0.0 && b > 0.0,
        "incomplete beta needs 0 <= x <= 1 and a, b > 0"
    );
    if x == 0.0 || x == 1.0 {
        return x;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - regularized_incomplete_beta(1.0 - x, b, a);
    }
    let log_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * libm::log(x) + b * libm::log1p(-x);
    libm::exp(log_front) * beta_fraction(x, a, b) / a
}

/// 1/(1+ d₁/(1+ d₂/(1+ …))) with d_{2m+1} = −(a+m)(a+b+m)x/((a+2m)(a+2m+1))
/// and d_{2m} = m(b−m)x/((a+2m−1)(a+2m)), by modified Lentz.
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        for coefficient in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 / guard(1.0 + coefficient * d);
            c = guard(1.0 + coefficient / c);
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}
