//! Control charts and Wald's SPRT on standardised statistics.
//!
//! Every chart works on z_t = (x_t − μ₀)/σ₀ ([`standardise`]), so its limits
//! are in units of the in-control standard deviation. A chart signals at a
//! step and then restarts from its zero state, so the gaps between the
//! alarms of [`alarms`] are run lengths, and their mean estimates the ARL.
//!
//! References: Page (1954) and Montgomery, *Introduction to Statistical
//! Quality Control*, §9.1 (tabular CUSUM); Roberts (1959) and Lucas and
//! Saccucci, Technometrics 32(1), 1990 (EWMA); Shewhart (1931); Wald,
//! *Sequential Analysis* (1947) (SPRT).

/// Which deviations a chart watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Side {
    /// Increases only.
    Upper,
    /// Decreases only.
    Lower,
    /// Both.
    #[default]
    Both,
}

impl Side {
    fn watches_upper(self) -> bool {
        self != Side::Lower
    }

    fn watches_lower(self) -> bool {
        self != Side::Upper
    }
}

/// A chart fed one standardised statistic per interval.
pub trait ControlChart {
    /// Adds z_t; true when the chart signals (it then restarts).
    fn update(&mut self, z: f64) -> bool;
    /// Returns to the zero state.
    fn reset(&mut self);
}

/// z_t = (x_t − mean) / sd.
pub fn standardise(x: &[f64], mean: f64, sd: f64) -> Vec<f64> {
    assert!(sd > 0.0, "standard deviation must be positive");
    x.iter().map(|v| (v - mean) / sd).collect()
}

/// Feeds `z` to `chart` and returns the 1-based positions where it signalled.
pub fn alarms(chart: &mut impl ControlChart, z: &[f64]) -> Vec<usize> {
    z.iter()
        .enumerate()
        .filter_map(|(i, &v)| chart.update(v).then_some(i + 1))
        .collect()
}

/// [`alarms`] of a fresh [`Cusum`].
pub fn cusum_alarms(z: &[f64], k: f64, h: f64, side: Side) -> Vec<usize> {
    alarms(&mut Cusum::new(k, h, side), z)
}

/// [`alarms`] of a fresh [`Ewma`].
pub fn ewma_alarms(z: &[f64], lambda: f64, l: f64, side: Side) -> Vec<usize> {
    alarms(&mut Ewma::new(lambda, l, side), z)
}

/// [`alarms`] of a [`Shewhart`] chart.
pub fn shewhart_alarms(z: &[f64], w: f64, side: Side) -> Vec<usize> {
    alarms(&mut Shewhart::new(w, side), z)
}

/// Tabular CUSUM with reference value k and decision interval h (in σ):
///
/// ```text
/// C⁺_t = max(0, C⁺_{t−1} + z_t − k)      C⁻_t = max(0, C⁻_{t−1} − z_t − k)
/// ```
///
/// from C⁺_0 = C⁻_0 = 0, signalling when a watched sum exceeds h
/// (Montgomery §9.1.2). k = ½, h = 4 or 5 is the textbook design for a 1σ
/// shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cusum {
    k: f64,
    h: f64,
    side: Side,
    upper: f64,
    lower: f64,
}

impl Cusum {
    /// A CUSUM in its zero state.
    pub fn new(k: f64, h: f64, side: Side) -> Self {
        assert!(k >= 0.0 && h > 0.0, "cusum needs k >= 0 and h > 0");
        Cusum {
            k,
            h,
            side,
            upper: 0.0,
            lower: 0.0,
        }
    }

    /// The current (C⁺, C⁻).
    pub fn sums(&self) -> (f64, f64) {
        (self.upper, self.lower)
    }

    /// Adds z_t; true when the chart signals, after which it restarts.
    pub fn update(&mut self, z: f64) -> bool {
        self.upper = (self.upper + z - self.k).max(0.0);
        self.lower = (self.lower - z - self.k).max(0.0);
        let signal =
            (self.side.watches_upper() && self.upper > self.h) || (self.side.watches_lower() && self.lower > self.h);
        if signal {
            self.reset();
        }
        signal
    }

    /// Returns to the zero state.
    pub fn reset(&mut self) {
        self.upper = 0.0;
        self.lower = 0.0;
    }
}

impl ControlChart for Cusum {
    fn update(&mut self, z: f64) -> bool {
        Cusum::update(self, z)
    }

    fn reset(&mut self) {
        Cusum::reset(self)
    }
}

/// EWMA chart with smoothing λ and limit multiple L:
///
/// ```text
/// E_t = λ·z_t + (1 − λ)·E_{t−1},   E_0 = 0,   limit = L·√(λ / (2 − λ))
/// ```
///
/// signalling when a watched side crosses ±limit. The limit uses the
/// asymptotic standard deviation of E_t, as in Lucas and Saccucci (1990).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewma {
    lambda: f64,
    limit: f64,
    side: Side,
    value: f64,
}

impl Ewma {
    /// An EWMA at its zero state.
    pub fn new(lambda: f64, l: f64, side: Side) -> Self {
        assert!(
            lambda > 0.0 && lambda <= 1.0 && l > 0.0,
            "ewma needs 0 < lambda <= 1 and l > 0"
        );
        Ewma {
            lambda,
            limit: l * libm::sqrt(lambda / (2.0 - lambda)),
            side,
            value: 0.0,
        }
    }

    /// The current E_t.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The control limit L·√(λ/(2−λ)).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Adds z_t; true when the chart signals, after which it restarts.
    pub fn update(&mut self, z: f64) -> bool {
        self.value = self.lambda * z + (1.0 - self.lambda) * self.value;
        let signal = (self.side.watches_upper() && self.value > self.limit)
            || (self.side.watches_lower() && self.value < -self.limit);
        if signal {
            self.reset();
        }
        signal
    }

    /// Returns to the zero state.
    pub fn reset(&mut self) {
        self.value = 0.0;
    }
}

impl ControlChart for Ewma {
    fn update(&mut self, z: f64) -> bool {
        Ewma::update(self, z)
    }

    fn reset(&mut self) {
        Ewma::reset(self)
    }
}

/// Shewhart chart for individual values: signals when z_t > W (upper) or
/// z_t < −W (lower). Memoryless; two-sided in-control ARL is
/// 1 / (2·(1 − Φ(W))), 370.4 for W = 3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shewhart {
    w: f64,
    side: Side,
}

impl Shewhart {
    /// A chart with limit W.
    pub fn new(w: f64, side: Side) -> Self {
        assert!(w > 0.0, "shewhart needs w > 0");
        Shewhart { w, side }
    }

    /// Checks z_t against ±W.
    pub fn update(&mut self, z: f64) -> bool {
        (self.side.watches_upper() && z > self.w) || (self.side.watches_lower() && z < -self.w)
    }

    /// Nothing to reset: the chart has no memory.
    pub fn reset(&mut self) {}
}

impl ControlChart for Shewhart {
    fn update(&mut self, z: f64) -> bool {
        Shewhart::update(self, z)
    }

    fn reset(&mut self) {
        Shewhart::reset(self)
    }
}

/// A state of Wald's SPRT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SprtDecision {
    /// Neither boundary crossed yet.
    Continue,
    /// The log-likelihood ratio fell to B: accept H0 (μ = 0).
    AcceptH0,
    /// The log-likelihood ratio reached A: accept H1 (μ = δ).
    AcceptH1,
}

/// Wald's sequential probability ratio test of H0: μ = 0 against H1: μ = δ
/// for z_t ~ N(μ, 1):
///
/// ```text
/// Λ_t = Σ (δ·z_i − δ²/2),   A = ln((1 − β)/α),   B = ln(β/(1 − α))
/// ```
///
/// accepting H1 when Λ_t ≥ A and H0 when Λ_t ≤ B. Wald's bounds give
/// achieved error rates α' ≤ α/(1 − β) and β' ≤ β/(1 − α) (and
/// α' + β' ≤ α + β). Once decided, the test keeps its decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sprt {
    delta: f64,
    upper: f64,
    lower: f64,
    llr: f64,
    decision: SprtDecision,
}

impl Sprt {
    /// A test with alternative mean δ ≠ 0 and nominal error rates α, β.
    pub fn new(delta: f64, alpha: f64, beta: f64) -> Self {
        assert!(delta != 0.0, "sprt needs a non-zero alternative");
        assert!(
            alpha > 0.0 && beta > 0.0 && alpha + beta < 1.0,
            "sprt needs alpha, beta > 0 and alpha + beta < 1"
        );
        Sprt {
            delta,
            upper: libm::log((1.0 - beta) / alpha),
            lower: libm::log(beta / (1.0 - alpha)),
            llr: 0.0,
            decision: SprtDecision::Continue,
        }
    }

    /// Adds z_t and returns the (possibly earlier) decision.
    pub fn update(&mut self, z: f64) -> SprtDecision {
        if self.decision != SprtDecision::Continue {
            return self.decision;
        }
        self.llr += self.delta * z - self.delta * self.delta / 2.0;
        if self.llr >= self.upper {
            self.decision = SprtDecision::AcceptH1;
        } else if self.llr <= self.lower {
            self.decision = SprtDecision::AcceptH0;
        }
        self.decision
    }

    /// The log-likelihood ratio Λ_t.
    pub fn log_likelihood_ratio(&self) -> f64 {
        self.llr
    }

    /// The boundaries (B, A).
    pub fn bounds(&self) -> (f64, f64) {
        (self.lower, self.upper)
    }
}

/// The decision after each z_t of a fresh [`Sprt`].
pub fn sprt(z: &[f64], delta: f64, alpha: f64, beta: f64) -> Vec<SprtDecision> {
    let mut test = Sprt::new(delta, alpha, beta);
    z.iter().map(|&v| test.update(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cusum_follows_the_recursion_by_hand() {
        // k = 0.5, h = 2: C⁺ = 0.5, 1.5, 3.0 > 2 → alarm at 3, restart; then 0, 0.5
        let z = [1.0, 1.5, 2.0, 0.0, 1.0];
        assert_eq!(cusum_alarms(&z, 0.5, 2.0, Side::Both), vec![3]);
        assert_eq!(cusum_alarms(&z, 0.5, 2.0, Side::Lower), Vec::<usize>::new());
        let mut c = Cusum::new(0.5, 2.0, Side::Upper);
        c.update(1.0);
        assert_eq!(c.sums(), (0.5, 0.0));
    }

    #[test]
    fn ewma_limit_is_the_asymptotic_sd() {
        // λ = 0.2: √(0.2/1.8) = 1/3, so L = 3 gives limit 1
        let e = Ewma::new(0.2, 3.0, Side::Both);
        assert!((e.limit() - 1.0).abs() < 1e-12);
        // E = 0.2·6 = 1.2 > 1 → alarm at 1; then restart
        assert_eq!(ewma_alarms(&[6.0, 0.0, -6.0], 0.2, 3.0, Side::Both), vec![1, 3]);
        assert_eq!(ewma_alarms(&[6.0, 0.0, -6.0], 0.2, 3.0, Side::Upper), vec![1]);
    }

    #[test]
    fn sprt_boundaries_and_stickiness() {
        let s = Sprt::new(1.0, 0.05, 0.1);
        let (b, a) = s.bounds();
        assert!((a - libm::log(18.0)).abs() < 1e-12);
        assert!((b - libm::log(0.1 / 0.95)).abs() < 1e-12);
        // each z = 3 adds 3 − 0.5 = 2.5; ln 18 = 2.89 → H1 at step 2, kept after
        let d = sprt(&[3.0, 3.0, -10.0], 1.0, 0.05, 0.1);
        assert_eq!(
            d,
            vec![SprtDecision::Continue, SprtDecision::AcceptH1, SprtDecision::AcceptH1]
        );
    }
}
