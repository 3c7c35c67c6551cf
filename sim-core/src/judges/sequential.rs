//! Anytime-valid test of canary versus control event counts.
//!
//! Lindon and Malek, "Anytime-Valid Inference for Multinomial Count Data",
//! NeurIPS 2022. Each event (an error, a request, a conversion) lands in the
//! control or the canary; under the null it lands in the canary with the
//! canary's traffic share s, i.e. θ₀ = (1 − s, s). With a Dirichlet prior
//! α = c·θ₀ on the split θ, the Bayes factor of the cumulative counts
//! x = (x₀, x₁), n = x₀ + x₁, is the Dirichlet-multinomial marginal over the
//! null likelihood (the multinomial coefficients cancel):
//!
//! ```text
//! BF_n = Γ(c)/Γ(c + n) · Π_i Γ(α_i + x_i)/Γ(α_i)  /  Π_i θ₀_i^{x_i}
//! ```
//!
//! BF_n is a non-negative martingale with mean 1 under the null, so by
//! Ville's inequality P(sup_n BF_n ≥ 1/α) ≤ α: the p-value
//! p_n = min(p_{n−1}, 1/BF_n) (capped at 1) may be checked after every
//! interval, and rejecting when p_n ≤ α keeps the type-I error ≤ α however
//! often one looks.
//!
//! The same fixed prior gives a confidence sequence for the canary's share
//! of events (the prior-to-posterior ratio set of Waudby-Smith and Ramdas):
//! C_n = {p : m_n / L_n(p) < 1/α}, m_n the marginal, L_n(p) =
//! (1 − p)^{x₀}·p^{x₁}; it is an interval around x₁/n. It is mapped to the
//! canary/control rate ratio per unit of traffic, ρ = p(1 − s) / ((1 − p)s),
//! which is 1 under the null.

/// Default prior concentration c.
pub const DEFAULT_CONCENTRATION: f64 = 100.0;

/// The state after one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequentialRow {
    /// ln BF_n of the cumulative counts.
    pub log_bayes_factor: f64,
    /// Running minimum of min(1, 1/BF).
    pub p_value: f64,
    /// p_value ≤ α (stays true once true).
    pub reject: bool,
    /// Lower end of the confidence sequence for the rate ratio ρ.
    pub ratio_low: f64,
    /// Upper end (infinite while the control has no events).
    pub ratio_high: f64,
}

/// The test fed interval by interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequentialTest {
    share: f64,
    concentration: f64,
    alpha: f64,
    control: u64,
    canary: u64,
    p_value: f64,
}

impl SequentialTest {
    /// A test with canary traffic share s ∈ (0, 1), prior concentration c > 0
    /// and level α ∈ (0, 1).
    pub fn new(canary_share: f64, concentration: f64, alpha: f64) -> Self {
        assert!(
            canary_share > 0.0 && canary_share < 1.0,
            "canary share must be in (0, 1)"
        );
        assert!(concentration > 0.0, "concentration must be positive");
        assert!(alpha > 0.0 && alpha < 1.0, "alpha must be in (0, 1)");
        SequentialTest {
            share: canary_share,
            concentration,
            alpha,
            control: 0,
            canary: 0,
            p_value: 1.0,
        }
    }

    /// Adds one interval's event counts.
    ///
    /// # Panics
    /// When a cumulative count no longer fits a `u64` (use
    /// [`SequentialTest::try_update`] for counts a user supplied).
    pub fn update(&mut self, control: u64, canary: u64) -> SequentialRow {
        self.try_update(control, canary)
            .expect("cumulative event counts fit in a u64")
    }

    /// Adds one interval's event counts; `None`, and the test unchanged,
    /// when a cumulative count would no longer fit a `u64`.
    pub fn try_update(&mut self, control: u64, canary: u64) -> Option<SequentialRow> {
        let control_total = self.control.checked_add(control)?;
        let canary_total = self.canary.checked_add(canary)?;
        self.control = control_total;
        self.canary = canary_total;
        let lbf = log_bayes_factor(self.control, self.canary, self.share, self.concentration);
        self.p_value = self.p_value.min(libm::exp(-lbf.max(0.0)));
        let (low, high) = self.share_interval();
        Some(SequentialRow {
            log_bayes_factor: lbf,
            p_value: self.p_value,
            reject: self.p_value <= self.alpha,
            ratio_low: rate_ratio(low, self.share),
            ratio_high: rate_ratio(high, self.share),
        })
    }

    /// Cumulative (control, canary) counts.
    pub fn counts(&self) -> (u64, u64) {
        (self.control, self.canary)
    }

    /// The confidence interval C_n for the canary's share of events: the
    /// set where ln L_n(p) > ln m_n + ln α, which contains x₁/n; its ends are
    /// 0 while the canary has no events and 1 while the control has none.
    fn share_interval(&self) -> (f64, f64) {
        let (x0, x1) = (self.control as f64, self.canary as f64);
        let threshold = log_marginal(self.control, self.canary, self.share, self.concentration) + libm::log(self.alpha);
        let inside = |p: f64| log_likelihood(x0, x1, p) > threshold;
        let centre = if x0 + x1 > 0.0 { x1 / (x0 + x1) } else { 0.5 };
        let low = if x1 == 0.0 { 0.0 } else { bisect(inside, 0.0, centre) };
        let high = if x0 == 0.0 {
            1.0
        } else {
            bisect(|p| !inside(p), centre, 1.0)
        };
        (low, high)
    }
}

/// ln BF_n for cumulative counts against the null share s with prior
/// concentration c (see the module documentation).
pub fn log_bayes_factor(control: u64, canary: u64, canary_share: f64, concentration: f64) -> f64 {
    let (x0, x1) = (control as f64, canary as f64);
    log_marginal(control, canary, canary_share, concentration) - log_likelihood(x0, x1, canary_share)
}

/// ln of the Beta-binomial marginal without the binomial coefficient:
/// ln Γ(c) − ln Γ(c + n) + Σ_i [ln Γ(α_i + x_i) − ln Γ(α_i)], α = c·(1 − s, s).
fn log_marginal(control: u64, canary: u64, share: f64, c: f64) -> f64 {
    let (a0, a1) = (c * (1.0 - share), c * share);
    let (x0, x1) = (control as f64, canary as f64);
    libm::lgamma(c) - libm::lgamma(c + x0 + x1) + libm::lgamma(a0 + x0) - libm::lgamma(a0) + libm::lgamma(a1 + x1)
        - libm::lgamma(a1)
}

/// x₀·ln(1 − p) + x₁·ln p, with 0·ln 0 = 0.
fn log_likelihood(x0: f64, x1: f64, p: f64) -> f64 {
    let term = |x: f64, q: f64| if x == 0.0 { 0.0 } else { x * libm::log(q) };
    term(x0, 1.0 - p) + term(x1, p)
}

/// The boundary between `a` (predicate false) and `b` (true) by bisection.
fn bisect(pred: impl Fn(f64) -> bool, mut a: f64, mut b: f64) -> f64 {
    for _ in 0..100 {
        let mid = 0.5 * (a + b);
        if pred(mid) {
            b = mid;
        } else {
            a = mid;
        }
    }
    0.5 * (a + b)
}

/// ρ = p(1 − s) / ((1 − p)s), the canary/control rate ratio per unit of
/// traffic when the canary gets a share p of the events.
fn rate_ratio(p: f64, share: f64) -> f64 {
    if p >= 1.0 {
        f64::INFINITY
    } else {
        p * (1.0 - share) / ((1.0 - p) * share)
    }
}

/// The cumulative counts of a series no longer fit a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountOverflow {
    /// Index (0-based) of the interval whose counts overflowed.
    pub interval: usize,
}

/// Runs [`SequentialTest`] over per-interval (control, canary) counts.
///
/// # Errors
/// [`CountOverflow`] naming the first interval after which a cumulative
/// count would exceed `u64::MAX`.
pub fn sequential_counts(
    rows: &[(u64, u64)],
    canary_share: f64,
    concentration: f64,
    alpha: f64,
) -> Result<Vec<SequentialRow>, CountOverflow> {
    let mut test = SequentialTest::new(canary_share, concentration, alpha);
    rows.iter()
        .enumerate()
        .map(|(interval, &(c, k))| test.try_update(c, k).ok_or(CountOverflow { interval }))
        .collect()
}

/// The time-uniform DKW radius of Howard and Ramdas ("Sequential estimation
/// of quantiles with applications to A/B-testing and best-arm
/// identification", Bernoulli 2022, Theorem 2): with probability at least
/// 1 − α, for every sample size t ≥ 1 at once,
/// `sup_x |F̂_t(x) − F(x)| ≤ 0.85 √((ln ln(e t) + 0.8 ln(1612/α)) / t)`.
pub fn dkw_radius(t: u64, alpha: f64) -> f64 {
    assert!(alpha > 0.0 && alpha < 1.0, "alpha in (0, 1)");
    if t == 0 {
        return 1.0;
    }
    let t = t as f64;
    let r = 0.85 * libm::sqrt((libm::log(libm::log(std::f64::consts::E * t)) + 0.8 * libm::log(1612.0 / alpha)) / t);
    r.min(1.0)
}

/// Anytime-valid test that `canary` is stochastically larger (slower) than
/// `baseline`, from bucket counts over the same edges: both empirical CDFs
/// get a time-uniform band at α/2 (so both hold at once with probability
/// 1 − α), and the test rejects when, at some bucket edge, the canary's
/// upper band lies below the baseline's lower band. Safe to re-run after
/// every scrape; a single bucket edge is enough to order the two.
pub fn stochastically_larger(canary: &[u64], baseline: &[u64], alpha: f64) -> bool {
    assert_eq!(canary.len(), baseline.len(), "same buckets");
    let (nc, nb): (u64, u64) = (canary.iter().sum(), baseline.iter().sum());
    if nc == 0 || nb == 0 {
        return false;
    }
    let (rc, rb) = (dkw_radius(nc, alpha / 2.0), dkw_radius(nb, alpha / 2.0));
    let (mut cc, mut cb) = (0u64, 0u64);
    for (c, b) in canary.iter().zip(baseline) {
        cc += c;
        cb += b;
        let (fc, fb) = (cc as f64 / nc as f64, cb as f64 / nb as f64);
        if fc + rc < fb - rb {
            return true;
        }
    }
    false
}
