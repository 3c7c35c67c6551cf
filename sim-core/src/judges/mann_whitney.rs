//! Kayenta's NetflixACAJudge metric classifier.
//!
//! The experiment (canary) is compared with the control (baseline) through
//! the location shift Δ = experiment − control of the two-sample
//! Mann-Whitney (Wilcoxon rank-sum) model:
//!
//! 1. Preprocessing: NaNs removed or replaced by 0 ([`NanStrategy`]), then
//!    optionally IQR outliers removed ([`remove_outliers`]).
//! 2. Missing data: an empty sample gives [`Classification::NoData`] (or
//!    `Pass` when NaNs are replaced); identical samples, or samples that hold
//!    one value between them, give `Pass`.
//! 3. The shift interval ([`shift_interval`]): the estimate and the
//!    asymptotic confidence interval of R's `wilcox.test(x, y, conf.int =
//!    TRUE, exact = FALSE, correct = TRUE)`, the estimate as R's root finder
//!    returns it (which is what Kayenta's test vectors expect).
//! 4. The tolerance band ±tolerance·|estimate|: `High` when the interval lies
//!    above the band, `Low` when it lies below, otherwise `Pass`; a `High`
//!    also needs the effect size ≥ `allowed_increase`, a `Low` ≤
//!    `allowed_decrease` (ignored when the effect size is undefined).
//! 5. A critical metric whose `High` (`Low`) effect size is ≥
//!    `critical_increase` (≤ `critical_decrease`) is flagged critical, which
//!    fails the whole canary in [`super::scorer`].
//!
//! References: spinnaker/kayenta `MannWhitneyClassifier.scala`,
//! `MannWhitney.scala`, `NetflixACAJudge.scala`, `EffectSizes.scala` and
//! `IQRDetector.scala`; R's `stats/R/wilcox.test.R`; Hollander and Wolfe,
//! *Nonparametric Statistical Methods* (1999), §4.3 (the shift estimate and
//! interval).

use crate::latency::inverse_normal_cdf;

/// Which change counts against the canary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Only an increase is a failure (latency, errors).
    Increase,
    /// Only a decrease is a failure (throughput, conversions).
    Decrease,
    /// Both are.
    #[default]
    Either,
}

impl Direction {
    fn allows_high(self) -> bool {
        self != Direction::Decrease
    }

    fn allows_low(self) -> bool {
        self != Direction::Increase
    }
}

/// How the size of a change is measured, after it was found significant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EffectSizeMeasure {
    /// mean(experiment) / mean(control); undefined when either mean is 0.
    #[default]
    MeanRatio,
    /// Common-language effect size P(X > Y) + ½·P(X = Y), X from the
    /// experiment and Y from the control (Vargha and Delaney 2000).
    Cles,
}

/// What to do with NaN observations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NanStrategy {
    /// Drop them.
    #[default]
    Remove,
    /// Replace them by 0.
    Replace,
}

/// A metric's classification, with Kayenta's labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classification {
    /// No significant change beyond the tolerance band.
    Pass,
    /// The experiment is significantly higher.
    High,
    /// The experiment is significantly lower.
    Low,
    /// A sample was empty (Kayenta's `Nodata`).
    NoData,
    /// A sample was empty and the metric must have data (Kayenta's
    /// `NodataFailMetric`): counts as a failed metric in the score.
    NoDataFail,
}

/// Parameters of [`classify`]; [`Default`] is Kayenta's NetflixACAJudge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitneyParams {
    /// Confidence level of the shift interval (judge: 0.98).
    pub confidence: f64,
    /// Half-width of the band around 0, as a fraction of |estimate| (0.25).
    pub tolerance: f64,
    /// Which change fails the metric.
    pub direction: Direction,
    /// Effect-size measure for the thresholds below.
    pub effect_size: EffectSizeMeasure,
    /// A `High` needs an effect size ≥ this (1.0; 0.5 for CLES).
    pub allowed_increase: f64,
    /// A `Low` needs an effect size ≤ this (1.0; 0.5 for CLES).
    pub allowed_decrease: f64,
    /// Whether the metric is critical (Kayenta's `critical`).
    pub critical: bool,
    /// A critical `High` fails the canary when the effect size ≥ this.
    pub critical_increase: f64,
    /// A critical `Low` fails the canary when the effect size ≤ this.
    pub critical_decrease: f64,
    /// What to do with NaNs.
    pub nan_strategy: NanStrategy,
    /// Whether to remove outliers ([`remove_outliers`], reduced sensitivity).
    pub outlier_removal: bool,
    /// IQR multiple for outlier removal (judge: 3.0).
    pub outlier_factor: f64,
    /// Whether missing data fails a non-critical metric (`mustHaveData`).
    pub data_required: bool,
}

impl Default for MannWhitneyParams {
    fn default() -> Self {
        MannWhitneyParams::judge_defaults(EffectSizeMeasure::MeanRatio)
    }
}

impl MannWhitneyParams {
    /// NetflixACAJudge's defaults for `measure`: the effect-size and critical
    /// thresholds default to 1.0 for the mean ratio and 0.5 for CLES (the
    /// "no effect" value of each measure).
    pub fn judge_defaults(measure: EffectSizeMeasure) -> Self {
        let neutral = match measure {
            EffectSizeMeasure::MeanRatio => 1.0,
            EffectSizeMeasure::Cles => 0.5,
        };
        MannWhitneyParams {
            confidence: 0.98,
            tolerance: 0.25,
            direction: Direction::Either,
            effect_size: measure,
            allowed_increase: neutral,
            allowed_decrease: neutral,
            critical: false,
            critical_increase: neutral,
            critical_decrease: neutral,
            nan_strategy: NanStrategy::Remove,
            outlier_removal: false,
            outlier_factor: 3.0,
            data_required: false,
        }
    }
}

/// The outcome of [`classify`]. Interval and estimate are of Δ =
/// experiment − control; they are `None` when the test was not run (missing,
/// identical or single-valued data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitneyResult {
    /// The metric's label.
    pub classification: Classification,
    /// True when a critical metric failed (fails the whole canary).
    pub critical: bool,
    /// Lower end of the shift interval.
    pub ci_low: Option<f64>,
    /// Upper end of the shift interval.
    pub ci_high: Option<f64>,
    /// Kayenta's shift estimate ([`ShiftInterval::kayenta_estimate`]), on
    /// which the tolerance band is built.
    pub estimate: Option<f64>,
    /// R's estimate ([`ShiftInterval::estimate`]), for reference.
    pub r_estimate: Option<f64>,
    /// The Hodges-Lehmann median of the differences, for reference.
    pub median: Option<f64>,
    /// The configured effect size; `None` when undefined or not computed.
    pub effect_size: Option<f64>,
    /// Kayenta's reported "deviation": the mean ratio, 1.0 when the test was
    /// not run, `None` when a mean is 0.
    pub deviation: Option<f64>,
}

impl MannWhitneyResult {
    fn untested(classification: Classification, critical: bool) -> Self {
        MannWhitneyResult {
            classification,
            critical,
            ci_low: None,
            ci_high: None,
            estimate: None,
            r_estimate: None,
            median: None,
            effect_size: None,
            deviation: Some(1.0),
        }
    }
}

/// The shift estimate and its confidence interval (see [`shift_interval`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShiftInterval {
    /// Lower end, as R's and Kayenta's root finder returns it.
    pub low: f64,
    /// Upper end, as R's and Kayenta's root finder returns it.
    pub high: f64,
    /// The exact root the lower end approximates (an order statistic of the
    /// pairwise differences).
    pub exact_low: f64,
    /// The exact root the upper end approximates.
    pub exact_high: f64,
    /// R's estimate: the root of the uncorrected statistic that R's
    /// `uniroot` finds (see [`shift_interval`]).
    pub estimate: f64,
    /// The Hodges-Lehmann estimate, the median of the pairwise differences
    /// (a root of the same equation).
    pub median: f64,
    /// Kayenta's estimate, the root of the corrected statistic
    /// ([`kayenta_estimate`]); the classifier's tolerance band is built on
    /// it, as in Kayenta.
    pub kayenta_estimate: f64,
}

/// Classifies `experiment` against `control` as Kayenta's NetflixACAJudge
/// does (see the module documentation for the rule).
///
/// The interval, the estimate and the comparisons are Kayenta's, number for
/// number, root-finder tolerance included ([`shift_interval`]). One
/// deliberate difference: Kayenta adds unseeded Gaussian noise when each
/// sample holds a single value (its statistic's σ is 0 at the end of the
/// range); here the statistic is taken as 0 where σ is 0, which puts both
/// interval ends and the estimate on the one difference, deterministically.
pub fn classify(control: &[f64], experiment: &[f64], p: &MannWhitneyParams) -> MannWhitneyResult {
    let control = preprocess(control, p);
    let experiment = preprocess(experiment, p);
    if control.is_empty() || experiment.is_empty() {
        return missing_data(p);
    }
    if same_sorted(&control, &experiment) || single_valued(&control, &experiment) {
        return MannWhitneyResult::untested(Classification::Pass, false);
    }
    compare(&control, &experiment, p)
}

/// Kayenta's `MeanInequalityClassifier` (a simple reference point): `High`
/// when mean(experiment) > mean(control), `Low` when smaller, with the same
/// preprocessing, direction and missing-data rules as [`classify`]; a
/// critical metric's `High` or `Low` is always critical.
pub fn mean_inequality(control: &[f64], experiment: &[f64], p: &MannWhitneyParams) -> MannWhitneyResult {
    let control = preprocess(control, p);
    let experiment = preprocess(experiment, p);
    if control.is_empty() || experiment.is_empty() {
        return missing_data(p);
    }
    let (c, e) = (mean(&control), mean(&experiment));
    let classification = if p.direction.allows_high() && e > c {
        Classification::High
    } else if p.direction.allows_low() && e < c {
        Classification::Low
    } else {
        return MannWhitneyResult::untested(Classification::Pass, false);
    };
    let mut result = MannWhitneyResult::untested(classification, p.critical);
    result.deviation = Some(e / c).filter(|r| r.is_finite());
    result
}

/// Kayenta's missing-data rule: `Pass` when NaNs are replaced; otherwise
/// `NoDataFail` for a required non-critical metric, else `NoData` (critical
/// when the metric is).
fn missing_data(p: &MannWhitneyParams) -> MannWhitneyResult {
    match p.nan_strategy {
        NanStrategy::Replace => MannWhitneyResult::untested(Classification::Pass, false),
        NanStrategy::Remove if p.data_required && !p.critical => {
            MannWhitneyResult::untested(Classification::NoDataFail, false)
        }
        NanStrategy::Remove => MannWhitneyResult::untested(Classification::NoData, p.critical),
    }
}

/// Runs the interval, the band and the effect-size thresholds.
fn compare(control: &[f64], experiment: &[f64], p: &MannWhitneyParams) -> MannWhitneyResult {
    let shift = shift_interval(experiment, control, p.confidence).expect("samples are non-empty");
    let effect = effect_size(control, experiment, p.effect_size);
    let (above, below) = band_position(&shift, p);
    let high = p.direction.allows_high() && above && effect.is_none_or(|e| e >= p.allowed_increase);
    let low = p.direction.allows_low() && below && effect.is_none_or(|e| e <= p.allowed_decrease);
    let classification = match (high, low) {
        (true, _) => Classification::High,
        (false, true) => Classification::Low,
        _ => Classification::Pass,
    };
    MannWhitneyResult {
        classification,
        critical: is_critical_failure(classification, effect, p),
        ci_low: Some(shift.low),
        ci_high: Some(shift.high),
        estimate: Some(shift.kayenta_estimate),
        r_estimate: Some(shift.estimate),
        median: Some(shift.median),
        effect_size: effect,
        deviation: mean_ratio(control, experiment),
    }
}

/// Whether the interval lies above / below the band ±tolerance·|estimate|,
/// compared as Kayenta compares them (`lowerConfidence > upperBound`,
/// `upperConfidence < lowerBound`) on Kayenta's own root-finder output.
fn band_position(s: &ShiftInterval, p: &MannWhitneyParams) -> (bool, bool) {
    let edge = p.tolerance * s.kayenta_estimate.abs();
    (s.low > edge, s.high < -edge)
}

/// Kayenta's critical rule: a critical metric's `High` with effect size ≥
/// `critical_increase`, or `Low` with effect size ≤ `critical_decrease`
/// (an undefined effect size skips the comparison).
fn is_critical_failure(c: Classification, effect: Option<f64>, p: &MannWhitneyParams) -> bool {
    p.critical
        && match c {
            Classification::High => effect.is_none_or(|e| e >= p.critical_increase),
            Classification::Low => effect.is_none_or(|e| e <= p.critical_decrease),
            Classification::Pass | Classification::NoData | Classification::NoDataFail => false,
        }
}

/// NaN handling, then optional outlier removal (NetflixACAJudge's
/// `transformMetric`).
pub fn preprocess(values: &[f64], p: &MannWhitneyParams) -> Vec<f64> {
    let cleaned: Vec<f64> = match p.nan_strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace => values.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect(),
    };
    if p.outlier_removal {
        remove_outliers(&cleaned, p.outlier_factor, true)
    } else {
        cleaned
    }
}

/// Tukey's fences (Kayenta's `IQRDetector`): keeps the values inside
/// [Q1 − f·IQR, Q3 + f·IQR], quantiles by Hyndman-Fan type 7. With
/// `reduce_sensitivity` (the judge's setting) the fences are widened to at
/// least the 1st and 99th percentiles.
pub fn remove_outliers(values: &[f64], factor: f64, reduce_sensitivity: bool) -> Vec<f64> {
    assert!(factor > 0.0, "outlier factor must be positive");
    let q = |p: f64| crate::stats::quantile(values, p).unwrap_or(f64::NAN);
    let iqr = q(0.75) - q(0.25);
    let (mut low, mut high) = (q(0.25) - factor * iqr, q(0.75) + factor * iqr);
    if reduce_sensitivity {
        low = low.min(q(0.01));
        high = high.max(q(0.99));
    }
    values.iter().copied().filter(|&v| v >= low && v <= high).collect()
}

/// Kayenta's first early exit: the sorted samples are equal.
fn same_sorted(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && sorted(a).iter().zip(sorted(b).iter()).all(|(x, y)| x == y)
}

/// Kayenta's second early exit: the two samples hold one value between them.
fn single_valued(a: &[f64], b: &[f64]) -> bool {
    let first = a[0];
    a.iter().chain(b.iter()).all(|&v| v == first)
}

/// The configured effect size, `None` when undefined.
pub fn effect_size(control: &[f64], experiment: &[f64], measure: EffectSizeMeasure) -> Option<f64> {
    match measure {
        EffectSizeMeasure::MeanRatio => mean_ratio(control, experiment),
        EffectSizeMeasure::Cles => Some(cles(control, experiment)),
    }
}

/// mean(experiment) / mean(control); `None` when either mean is 0 (Kayenta's
/// `EffectSizes.meanRatio` returns NaN) or a sample is empty.
pub fn mean_ratio(control: &[f64], experiment: &[f64]) -> Option<f64> {
    let (c, e) = (mean(control), mean(experiment));
    (c != 0.0 && e != 0.0 && c.is_finite() && e.is_finite()).then(|| e / c)
}

/// Common-language effect size (Vargha and Delaney 2000, Kayenta's
/// `EffectSizes.cles`): A = (2·R₁ − m(m+1)) / (2mn), R₁ the rank sum of the
/// m experiment values among all m + n (average ranks for ties); equal to
/// P(X > Y) + ½·P(X = Y). NaN for an empty sample.
pub fn cles(control: &[f64], experiment: &[f64]) -> f64 {
    let (m, n) = (experiment.len() as f64, control.len() as f64);
    let ranks = pooled_ranks(&sorted(experiment), &sorted(control), 0.0);
    (2.0 * ranks.rank_sum - m * (m + 1.0)) / (2.0 * m * n)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// z with Φ(z) = 1 − (1 − confidence)/2.
fn two_sided_quantile(confidence: f64) -> f64 {
    assert!(confidence > 0.0 && confidence < 1.0, "confidence must be in (0, 1)");
    inverse_normal_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// The estimate and asymptotic interval of Δ = x − y as R's `wilcox.test(x,
/// y, conf.int = TRUE, exact = FALSE, correct = TRUE)` and Kayenta's
/// `MannWhitney.scala` compute them, number for number.
///
/// Both find the interval ends as the roots in μ of the corrected statistic
/// `wdiff(μ, zq) = (dz − ½·sign(dz)) / σ − zq` ([`r_statistic`]) with
/// zq = ±z₁₋α/₂, by Brent's method with an absolute tolerance of 1e-4
/// ([`brent_root`]) on [min(x) − max(y), max(x) − min(y)], returning an end
/// of that range when the statistic does not change sign on it. `low` and
/// `high` are those roots. The statistic is a step function that jumps at
/// the pairwise differences, so its exact roots are order statistics of the
/// differences, kept as `exact_low` and `exact_high` (found by bisection on
/// the rank, scale-free): the root finder's answer lies within its 1e-4 of
/// them, except where the jump is smaller than the tolerance (heavily tied
/// data), where it may land anywhere in the bracket it stopped on, even
/// with the lower end above the upper one.
///
/// R's estimate (`estimate`) is the root of the *uncorrected* statistic
/// dz/σ = 0 (R sets `correct <- FALSE` first; its help page:
/// "continuity-corrected for the interval but not the estimate"), by the
/// same root finder. It solves the same equation as the Hodges-Lehmann
/// median (`median`), but when N is even the statistic is 0 on the whole
/// gap between the middle two differences and R returns the point where
/// its root finder first lands there (14.6245 against the median 14.5 on
/// a 41 × 50 sample of whole milliseconds). Kayenta keeps the correction
/// for the estimate too (`kayenta_estimate`, [`kayenta_estimate`]); that
/// statistic is 0 wherever |dz| ≤ ½ and its root may be a difference away
/// from R's. Kayenta's test vectors expect R's estimate; its classifier
/// builds the tolerance band on its own.
///
/// A 1e-4 absolute tolerance is coarse for metrics whose values are of that
/// order (error rates as fractions): Kayenta has it, so its judge here has
/// it too; measure such metrics in per-mille or per-cent.
///
/// `None` when a sample is empty. Values must be finite. Needs O(n + m)
/// memory, O((n + m)·64) time per order statistic and O(n + m) per
/// evaluation of the statistic (at most a few dozen for the estimate).
pub fn shift_interval(x: &[f64], y: &[f64], confidence: f64) -> Option<ShiftInterval> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let z = two_sided_quantile(confidence);
    let diffs = PairwiseDifferences::new(x, y);
    let ties = tie_sum(&diffs.x) + tie_sum(&diffs.y);
    let sigma = tie_corrected_sigma(x.len() as f64, y.len() as f64, ties);
    let pairs = diffs.len();
    let (x, y) = (&diffs.x[..], &diffs.y[..]);
    Some(ShiftInterval {
        low: interval_root(x, y, z),
        high: interval_root(x, y, -z),
        exact_low: diffs.order_statistic(root_rank(pairs, sigma, z)),
        exact_high: diffs.order_statistic(root_rank(pairs, sigma, -z)),
        estimate: estimate_root(x, y, false),
        median: diffs.median(),
        kayenta_estimate: estimate_root(x, y, true),
    })
}

/// The rank k ∈ 1..=N of the order statistic where the corrected statistic
/// f(c) = (N/2 − c − ½·sign(N/2 − c)) / σ − zq first becomes ≤ 0. Clamped
/// to 1 (R returns min(x) − max(y)) and N (R returns max(x) − min(y)).
fn root_rank(pairs: usize, sigma: f64, zq: f64) -> usize {
    let f = |c: usize| continuity_corrected(pairs as f64 / 2.0 - c as f64) / sigma - zq;
    let (mut lo, mut hi) = (0, pairs + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if f(mid) <= 0.0 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo.clamp(1, pairs)
}

/// dz − ½·sign(dz), R's continuity correction for a two-sided interval.
fn continuity_corrected(dz: f64) -> f64 {
    if dz > 0.0 {
        dz - 0.5
    } else if dz < 0.0 {
        dz + 0.5
    } else {
        0.0
    }
}

/// σ of the rank-sum statistic with ties:
/// √((nm/12)·((n+m+1) − Σ(t³−t)/((n+m)(n+m−1)))).
fn tie_corrected_sigma(n: f64, m: f64, ties: f64) -> f64 {
    let total = n + m;
    libm::sqrt(n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0))))
}

/// Σ(t³ − t) over the groups of equal values of an ascending slice.
fn tie_sum(sorted: &[f64]) -> f64 {
    let mut sum = 0.0;
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i] != sorted[start] {
            let t = (i - start) as f64;
            sum += t * t * t - t;
            start = i;
        }
    }
    sum
}

/// Kayenta's `wilcoxonDiff(μ, zq)` (MannWhitney.scala), which is R's
/// `wdiff` from `wilcox.test` with the continuity correction: rank the
/// pooled sample {xᵢ − μ} ∪ {yⱼ} (average ranks), dz = Σ ranks of x −
/// n(n+1)/2 − nm/2, σ with all tie groups of the pooled sample (including
/// ties across the samples), and return (dz − ½·sign(dz)) / σ − zq.
/// Positive means the test of "Δ = μ" leans to Δ > μ beyond zq.
pub fn wilcoxon_statistic(x: &[f64], y: &[f64], mu: f64, zq: f64) -> f64 {
    r_statistic(&sorted(x), &sorted(y), mu, zq, true)
}

/// R's `wdiff(μ, zq)` on ascending samples: (dz − c)/σ − zq with c =
/// ½·sign(dz) when `correct`, else 0. Where every pooled value is tied σ is
/// 0, and so is dz; R stops there ("cannot compute confidence interval when
/// all observations are tied"), here the statistic is 0 − zq.
pub fn r_statistic(x_sorted: &[f64], y_sorted: &[f64], mu: f64, zq: f64, correct: bool) -> f64 {
    let (n, m) = (x_sorted.len() as f64, y_sorted.len() as f64);
    let ranks = pooled_ranks(x_sorted, y_sorted, mu);
    let dz = ranks.rank_sum - n * (n + 1.0) / 2.0 - n * m / 2.0;
    let sigma = tie_corrected_sigma(n, m, ranks.ties);
    if sigma == 0.0 {
        return -zq;
    }
    let numerator = if correct { continuity_corrected(dz) } else { dz };
    numerator / sigma - zq
}

/// Kayenta's estimate: the same root finder as R's on the *corrected*
/// statistic ([`wilcoxon_statistic`] with zq = 0), which is what Kayenta's
/// `MannWhitney.scala` computes. That statistic is 0 wherever |dz| ≤ ½, so
/// it may land up to a difference away from R's estimate (0.83 against
/// 1.00 on a 31 × 41 sample in hundredths of a millisecond). `None` when a
/// sample is empty.
pub fn kayenta_estimate(x: &[f64], y: &[f64]) -> Option<f64> {
    (!x.is_empty() && !y.is_empty()).then(|| estimate_root(&sorted(x), &sorted(y), true))
}

/// R's `root(zq)` (and Kayenta's `findRoot`) on ascending, non-empty
/// samples: an end of [min(x) − max(y), max(x) − min(y)] when the
/// corrected statistic minus zq does not change sign there, else its root.
fn interval_root(x: &[f64], y: &[f64], zq: f64) -> f64 {
    let mumin = x[0] - y[y.len() - 1];
    let mumax = x[x.len() - 1] - y[0];
    let f = |mu: f64| r_statistic(x, y, mu, zq, true);
    let (f_lower, f_upper) = (f(mumin), f(mumax));
    if f_lower <= 0.0 {
        mumin
    } else if f_upper >= 0.0 {
        mumax
    } else {
        brent_root(f, mumin, mumax, f_lower, f_upper, 1e-4) + 0.0
    }
}

/// `uniroot(wdiff, c(min(x) − max(y), max(x) − min(y)), tol = 1e-4, zq = 0)`
/// on ascending, non-empty samples.
fn estimate_root(x: &[f64], y: &[f64], correct: bool) -> f64 {
    let mumin = x[0] - y[y.len() - 1];
    let mumax = x[x.len() - 1] - y[0];
    let f = |mu: f64| r_statistic(x, y, mu, 0.0, correct);
    brent_root(f, mumin, mumax, f(mumin), f(mumax), 1e-4) + 0.0
}

/// Brent's root finder (Brent 1973, ch. 4) as R's `R_zeroin2` (zeroin.c,
/// behind `uniroot`, at most 1000 iterations) and Kayenta's `BrentSolver`
/// run it: secant or inverse quadratic steps guarded by bisection, stopping
/// when the bracket around b is within 2·ε·|b| + tol/2 or f(b) = 0. `fa`
/// and `fb` are f at the ends, which are returned when they are 0.
pub fn brent_root(f: impl Fn(f64) -> f64, ax: f64, bx: f64, fa: f64, fb: f64, tol: f64) -> f64 {
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa, fb);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    for _ in 0..=1000 {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            (a, b, c) = (b, c, b);
            (fa, fb, fc) = (fb, fc, fb);
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return b;
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let (qa, t1, t2) = (fa / fc, fb / fc, fb / fa);
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1.0));
                q = (qa - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < 0.75 * cb * q - (tol_act * q).abs() / 2.0 && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        (a, fa) = (b, fb);
        b += new_step;
        fb = f(b);
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            (c, fc) = (a, fa);
        }
    }
    b
}

/// Rank sum of the first sample and Σ(t³ − t) of the pooled sample.
struct PooledRanks {
    rank_sum: f64,
    ties: f64,
}

/// Ranks {xᵢ − μ} ∪ {yⱼ} with average ranks for ties, by merging the two
/// ascending samples (xᵢ − μ stays ascending after rounding).
fn pooled_ranks(x: &[f64], y: &[f64], mu: f64) -> PooledRanks {
    let mut out = PooledRanks {
        rank_sum: 0.0,
        ties: 0.0,
    };
    let (mut i, mut j, mut rank) = (0, 0, 0usize);
    while i < x.len() || j < y.len() {
        let next_x = x.get(i).map(|v| v - mu);
        let value = match (next_x, y.get(j)) {
            (Some(a), Some(&b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => unreachable!("the loop runs while a value is left"),
        };
        let from_x = x[i..].iter().take_while(|&&v| v - mu == value).count();
        let from_y = y[j..].iter().take_while(|&&v| v == value).count();
        let t = from_x + from_y;
        let average_rank = (2 * rank + t + 1) as f64 / 2.0;
        out.rank_sum += average_rank * from_x as f64;
        let t = t as f64;
        out.ties += t * t * t - t;
        rank += from_x + from_y;
        i += from_x;
        j += from_y;
    }
    out
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The N = nm differences xᵢ − yⱼ, never materialised: order statistics are
/// found by bisecting on the bit pattern of f64 (a total order on finite
/// values) with an O(n + m) count of the differences ≤ t.
struct PairwiseDifferences {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl PairwiseDifferences {
    fn new(x: &[f64], y: &[f64]) -> Self {
        PairwiseDifferences {
            x: sorted(x),
            y: sorted(y),
        }
    }

    fn len(&self) -> usize {
        self.x.len() * self.y.len()
    }

    /// #{(i, j): xᵢ − yⱼ ≤ t}, by a two-pointer sweep (xᵢ − yⱼ grows with i
    /// and shrinks with j, also after rounding).
    fn count_le(&self, t: f64) -> usize {
        let m = self.y.len();
        let mut j = 0;
        let mut count = 0;
        for &xi in &self.x {
            while j < m && xi - self.y[j] > t {
                j += 1;
            }
            count += m - j;
        }
        count
    }

    /// The k-th smallest difference (1-based): the least t with
    /// `count_le(t) ≥ k`, which is always one of the differences.
    fn order_statistic(&self, k: usize) -> f64 {
        let first = self.x[0] - self.y[self.y.len() - 1];
        let last = self.x[self.x.len() - 1] - self.y[0];
        let (mut lo, mut hi) = (order_key(first), order_key(last));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_le(from_order_key(mid)) >= k {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        from_order_key(lo) + 0.0 // turns −0 into +0
    }

    /// Median of the differences (mean of the middle two when N is even).
    fn median(&self) -> f64 {
        let n = self.len();
        if n % 2 == 1 {
            self.order_statistic(n / 2 + 1)
        } else {
            0.5 * (self.order_statistic(n / 2) + self.order_statistic(n / 2 + 1))
        }
    }
}

/// Maps an f64 to a u64 whose unsigned order is the numeric order.
fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

/// Inverse of [`order_key`].
fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistics_match_a_full_sort() {
        let x = [3.5, -1.0, 2.0, 2.0, 0.1, 7.25];
        let y = [0.0, 2.0, -3.0, 1.5];
        let mut all: Vec<f64> = x.iter().flat_map(|a| y.iter().map(move |b| a - b)).collect();
        all.sort_by(f64::total_cmp);
        let d = PairwiseDifferences::new(&x, &y);
        for (k, v) in all.iter().enumerate() {
            assert_eq!(d.order_statistic(k + 1), *v, "rank {}", k + 1);
        }
    }

    #[test]
    fn order_keys_round_trip_and_sort() {
        let v = [-5.0, -0.0, 0.0, 1e-300, 2.5, f64::MAX];
        for w in v.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]));
        }
        for x in v {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn tie_sum_counts_groups() {
        // groups 1,1 | 2 | 3,3,3: (8 − 2) + 0 + (27 − 3) = 30
        assert_eq!(tie_sum(&[1.0, 1.0, 2.0, 3.0, 3.0, 3.0]), 30.0);
    }
}
