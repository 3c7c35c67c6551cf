//! Kayenta's weighted-sum scorer: metric classifications → a 0–100 score.
//!
//! For each group g (a metric may be in several), with the non-muted metrics
//! of the group counted by label,
//!
//! ```text
//! score_g = 100 · #Pass / (#Pass + #High + #Low + #NoDataFail)
//! ```
//!
//! and a group with none of those labels has no data. The summary is
//! `Σ_g effective_g · w_g / 100`, rounded half up to two decimals, where
//! `effective_g` is 100 for a group without data and `score_g` otherwise, and
//! `w_g` is the configured weight or, for unweighted groups, an equal share
//! of `100 − Σ configured weights`. The summary is 0 when a critical metric
//! did not pass, or when ≥ 50 % of the metrics are `NoData`. The verdict is
//! `Pass` at ≥ `pass`, `Marginal` at ≥ `marginal`, else `Fail`.
//!
//! Reference: spinnaker/kayenta `WeightedSumScorer.scala`,
//! `ScoringHelper.scala` and `ThresholdScoreClassifier.scala`.

use std::collections::BTreeMap;

use super::mann_whitney::Classification;

/// Percentage of `NoData` metrics at or above which the canary fails.
pub const NODATA_THRESHOLD: f64 = 50.0;

/// One metric's classification, as the scorer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    /// Metric name (reported when it fails the canary).
    pub name: String,
    /// Groups the metric belongs to.
    pub groups: Vec<String>,
    /// The classifier's label.
    pub classification: Classification,
    /// Whether the classifier flagged a critical failure.
    pub critical: bool,
    /// Muted metrics are left out of the score.
    pub muted: bool,
}

impl MetricResult {
    /// A non-muted result.
    pub fn new(name: &str, groups: &[&str], classification: Classification, critical: bool) -> Self {
        MetricResult {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            classification,
            critical,
            muted: false,
        }
    }
}

/// Score thresholds of the canary config (`pass`, `marginal`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreThresholds {
    /// Minimum score for `Pass`.
    pub pass: f64,
    /// Minimum score for `Marginal`.
    pub marginal: f64,
}

/// The canary's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreClass {
    /// Score ≥ `pass`.
    Pass,
    /// `marginal` ≤ score < `pass`.
    Marginal,
    /// Score < `marginal`.
    Fail,
}

/// Why the score was forced to 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoreFailure {
    /// This critical metric did not pass (the first one, in input order).
    Critical(String),
    /// At least [`NODATA_THRESHOLD`] % of the metrics had no data.
    TooManyNoData,
}

/// One group's score.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupScore {
    /// Group name.
    pub name: String,
    /// 100 · passes / counted metrics; 0 without data.
    pub score: f64,
    /// Whether no metric of the group had a countable label.
    pub no_data: bool,
}

/// The scorer's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Scorecard {
    /// Summary score, 0–100, two decimals.
    pub score: f64,
    /// Verdict from the thresholds.
    pub class: ScoreClass,
    /// Group scores, by group name.
    pub groups: Vec<GroupScore>,
    /// Set when the score was forced to 0.
    pub failure: Option<ScoreFailure>,
}

/// Scores `results` with group `weights` (percent) and `thresholds`.
pub fn weighted_sum(
    results: &[MetricResult],
    weights: &BTreeMap<String, f64>,
    thresholds: ScoreThresholds,
) -> Scorecard {
    let active: Vec<&MetricResult> = results.iter().filter(|r| !r.muted).collect();
    let groups = group_scores(&active);
    let failure = forced_failure(&active);
    let score = if failure.is_some() {
        0.0
    } else {
        summary_score(&groups, weights)
    };
    Scorecard {
        score,
        class: classify_score(score, thresholds),
        groups,
        failure,
    }
}

/// `Pass` at ≥ `pass`, `Marginal` at ≥ `marginal`, else `Fail`.
pub fn classify_score(score: f64, t: ScoreThresholds) -> ScoreClass {
    if score >= t.pass {
        ScoreClass::Pass
    } else if score >= t.marginal {
        ScoreClass::Marginal
    } else {
        ScoreClass::Fail
    }
}

/// A critical metric that did not pass, else too many `NoData`, else none.
fn forced_failure(results: &[&MetricResult]) -> Option<ScoreFailure> {
    if let Some(r) = results
        .iter()
        .find(|r| r.critical && r.classification != Classification::Pass)
    {
        return Some(ScoreFailure::Critical(r.name.clone()));
    }
    let nodata = results
        .iter()
        .filter(|r| r.classification == Classification::NoData)
        .count();
    let percent = 100.0 * nodata as f64 / results.len() as f64;
    (percent >= NODATA_THRESHOLD).then_some(ScoreFailure::TooManyNoData)
}

/// Per-group pass percentages.
fn group_scores(results: &[&MetricResult]) -> Vec<GroupScore> {
    let mut labels: BTreeMap<&str, Vec<Classification>> = BTreeMap::new();
    for r in results {
        for g in &r.groups {
            labels.entry(g.as_str()).or_default().push(r.classification);
        }
    }
    labels.into_iter().map(|(name, l)| group_score(name, &l)).collect()
}

/// 100 · #Pass / #(Pass, High, Low, NoDataFail); `NoData` is not counted.
fn group_score(name: &str, labels: &[Classification]) -> GroupScore {
    let counted = labels.iter().filter(|&&c| c != Classification::NoData).count();
    let passed = labels.iter().filter(|&&c| c == Classification::Pass).count();
    GroupScore {
        name: name.to_string(),
        score: if counted == 0 {
            0.0
        } else {
            100.0 * passed as f64 / counted as f64
        },
        no_data: counted == 0,
    }
}

/// Σ effective_g · w_g / 100, rounded half up to two decimals.
fn summary_score(groups: &[GroupScore], weights: &BTreeMap<String, f64>) -> f64 {
    let unweighted = groups.iter().filter(|g| !weights.contains_key(&g.name)).count();
    let share = if unweighted == 0 {
        0.0
    } else {
        (100.0 - weights.values().sum::<f64>()) / unweighted as f64
    };
    let total: f64 = groups
        .iter()
        .map(|g| {
            let effective = if g.no_data { 100.0 } else { g.score };
            effective * weights.get(&g.name).copied().unwrap_or(share) / 100.0
        })
        .sum();
    round_half_up_2(total)
}

/// Rounds to two decimals, half away from zero, on the shortest decimal
/// representation of `x` — as Apache Commons `Precision.round(x, 2)`, which
/// rounds `new BigDecimal(Double.toString(x))` HALF_UP.
pub fn round_half_up_2(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let text = format!("{:e}", x.abs());
    let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let d: u64 = digits.parse().expect("decimal digits");
    // x·100 = d · 10^shift
    let shift = exponent.parse::<i32>().expect("exponent") - digits.len() as i32 + 3;
    let hundredths = if shift >= 0 {
        d as f64 * libm::pow(10.0, shift as f64)
    } else if -shift > 19 {
        0.0
    } else {
        let p = 10u64.pow(shift.unsigned_abs());
        (d / p + u64::from(d % p >= p / 2)) as f64
    };
    x.signum() * hundredths / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_like_big_decimal_half_up() {
        assert_eq!(round_half_up_2(33.333333333333336), 33.33);
        assert_eq!(round_half_up_2(1.005), 1.01); // 1.00499999999999989... in binary
        assert_eq!(round_half_up_2(2.675), 2.68);
        assert_eq!(round_half_up_2(0.004), 0.0);
        assert_eq!(round_half_up_2(0.005), 0.01);
        assert_eq!(round_half_up_2(100.0), 100.0);
        assert_eq!(round_half_up_2(-1.005), -1.01);
    }
}
