//! The statistical judges against published references: Kayenta's own unit
//! test vectors (tests/data/kayenta_judge_cases.json), R's `wilcox.test`
//! formulas, Montgomery's CUSUM table, Lucas and Saccucci's EWMA designs,
//! Wald's SPRT bounds, closed-form Bayes factors and Armitage, McPherson and
//! Rowe's peeking rate. Monte Carlo checks use fixed seeds.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Poisson, StandardNormal};
use sim_core::judges::control_charts::{
    ControlChart, Cusum, Ewma, Shewhart, Side, Sprt, SprtDecision, cusum_alarms, standardise,
};
use sim_core::judges::mann_whitney::{
    Classification, Direction, EffectSizeMeasure, MannWhitneyParams, NanStrategy, classify, cles, kayenta_estimate,
    mean_inequality, remove_outliers, shift_interval, wilcoxon_statistic,
};
use sim_core::judges::naive::{
    IntervalCounts, cumulative_welch, cumulative_z_tests, first_rejection, peeking_false_alarm,
    regularized_incomplete_beta, student_t_two_sided, welch, z_test,
};
use sim_core::judges::scorer::{MetricResult, ScoreClass, ScoreFailure, ScoreThresholds, weighted_sum};
use sim_core::judges::sequential::{CountOverflow, SequentialTest, log_bayes_factor, sequential_counts};
use sim_core::latency::inverse_normal_cdf;

// ---------------------------------------------------------------------------
// A minimal JSON reader for the Kayenta case file (sim-core has no JSON
// dependency).
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at(&self, key: &str) -> &Json {
        self.get(key).unwrap_or_else(|| panic!("missing key {key}"))
    }

    fn num(&self) -> f64 {
        match self {
            Json::Num(v) => *v,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn text(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn flag(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("not a bool: {other:?}"),
        }
    }

    fn items(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn fields(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(v) => v,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn nums(&self) -> Vec<f64> {
        self.items().iter().map(Json::num).collect()
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Json {
        let mut p = Parser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let v = p.value();
        p.skip_ws();
        assert_eq!(p.pos, p.bytes.len(), "trailing characters in json");
        v
    }

    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.skip_ws();
        assert_eq!(
            self.bytes[self.pos], c,
            "json: expected '{}' at {}",
            c as char, self.pos
        );
        self.pos += 1;
    }

    fn peek(&mut self) -> u8 {
        self.skip_ws();
        self.bytes[self.pos]
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => Json::Str(self.string()),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Json {
        assert!(self.bytes[self.pos..].starts_with(word.as_bytes()), "json: bad literal");
        self.pos += word.len();
        v
    }

    fn number(&mut self) -> Json {
        let start = self.pos;
        while self.pos < self.bytes.len() && b"+-0123456789.eE".contains(&self.bytes[self.pos]) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap();
        Json::Num(text.parse().unwrap_or_else(|_| panic!("json: bad number {text}")))
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let c = self.bytes[self.pos];
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => self.escape(&mut out),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).expect("json strings are utf-8")
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let c = self.bytes[self.pos];
        self.pos += 1;
        let decoded = match c {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hex = std::str::from_utf8(&self.bytes[self.pos..self.pos + 4]).unwrap();
                self.pos += 4;
                char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap_or('\u{fffd}')
            }
            other => other as char,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
    }

    fn array(&mut self) -> Json {
        self.eat(b'[');
        let mut items = Vec::new();
        if self.peek() == b']' {
            self.pos += 1;
            return Json::Arr(items);
        }
        loop {
            items.push(self.value());
            if self.peek() == b',' {
                self.pos += 1;
            } else {
                self.eat(b']');
                return Json::Arr(items);
            }
        }
    }

    fn object(&mut self) -> Json {
        self.eat(b'{');
        let mut fields = Vec::new();
        if self.peek() == b'}' {
            self.pos += 1;
            return Json::Obj(fields);
        }
        loop {
            self.skip_ws();
            let key = self.string();
            self.eat(b':');
            fields.push((key, self.value()));
            if self.peek() == b',' {
                self.pos += 1;
            } else {
                self.eat(b'}');
                return Json::Obj(fields);
            }
        }
    }
}

fn kayenta_cases() -> Json {
    Parser::parse(include_str!("data/kayenta_judge_cases.json"))
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, expected {expected} (tolerance {tol})"
    );
}

// ---------------------------------------------------------------------------
// Mann-Whitney classifier: Kayenta's ClassifierSuite vectors.
// ---------------------------------------------------------------------------

fn label(name: &str) -> Classification {
    match name {
        "Pass" => Classification::Pass,
        "High" => Classification::High,
        "Low" => Classification::Low,
        "Nodata" => Classification::NoData,
        "NodataFailMetric" => Classification::NoDataFail,
        other => panic!("unknown classification {other}"),
    }
}

/// Maps a case's constructor parameters and classify() arguments.
fn params_of(case: &Json) -> MannWhitneyParams {
    let input = case.at("input");
    let mut p = MannWhitneyParams::default();
    let params = case.at("params");
    if let Some(tolerance) = params.get("tolerance") {
        p.tolerance = tolerance.num();
        p.confidence = params.at("confLevel").num();
        [p.allowed_decrease, p.allowed_increase] = pair(params.at("effectSizeThresholds"));
        [p.critical_decrease, p.critical_increase] = pair(params.at("criticalThresholds"));
        p.effect_size = match params.at("effectSizeMeasure").text() {
            "cles" => EffectSizeMeasure::Cles,
            _ => EffectSizeMeasure::MeanRatio,
        };
    }
    p.direction = match input.at("direction").text() {
        "Increase" => Direction::Increase,
        "Decrease" => Direction::Decrease,
        _ => Direction::Either,
    };
    p.nan_strategy = match input.at("nanStrategy").text() {
        "Replace" => NanStrategy::Replace,
        _ => NanStrategy::Remove,
    };
    p.critical = input.at("isCriticalMetric").flag();
    p.data_required = input.at("isDataRequired").flag();
    p
}

fn pair(v: &Json) -> [f64; 2] {
    let n = v.nums();
    [n[0], n[1]]
}

#[test]
fn kayenta_classifier_cases() {
    let cases = kayenta_cases();
    let list = cases.at("classifier_cases").items();
    assert_eq!(list.len(), 37);
    for case in list {
        let id = case.at("id").text();
        let input = case.at("input");
        let (control, experiment) = (input.at("control").nums(), input.at("experiment").nums());
        let p = params_of(case);
        let result = match case.at("classifier").text() {
            "MeanInequalityClassifier" => mean_inequality(&control, &experiment, &p),
            _ => classify(&control, &experiment, &p),
        };
        let expected = case.at("expected");
        if let Some(c) = expected.get("classification") {
            assert_eq!(result.classification, label(c.text()), "{id}");
        }
        if let Some(c) = expected.get("critical") {
            assert_eq!(result.critical, c.flag(), "{id}");
        }
        if expected.get("deviation_is_nan").is_some() {
            assert_eq!(result.deviation, None, "{id}");
        }
        if let Some(d) = expected.get("deviation") {
            assert_eq!(result.deviation, Some(d.num()), "{id}");
        }
        if expected.get("reason_non_empty").is_some() {
            // Kayenta checks that a reason string is given for missing data;
            // here the reason is the label itself: NoData, critical.
            assert_eq!(result.classification, Classification::NoData, "{id}");
            assert!(result.critical, "{id}");
        }
    }
}

/// User-reported cases (not Kayenta assertions): what Kayenta observed.
#[test]
fn kayenta_reported_cases_reproduce_the_observed_behaviour() {
    let cases = kayenta_cases();
    for case in cases.at("reported_cases").items() {
        let id = case.at("id").text();
        let input = case.at("input");
        let r = classify(
            &input.at("control").nums(),
            &input.at("experiment").nums(),
            &params_of(case),
        );
        let observed = case.at("observed");
        assert_eq!(r.classification, label(observed.at("classification").text()), "{id}");
        // Interval ends are Kayenta's root-finder output, accurate to its
        // tolerance 1e-4 (ours are the exact roots).
        if let Some(v) = observed.get("ci_lower") {
            close(r.ci_low.unwrap(), v.num(), 1e-4, id);
            close(r.ci_high.unwrap(), observed.at("ci_upper").num(), 1e-4, id);
            close(r.estimate.unwrap(), observed.at("estimate").num(), 1e-4, id);
            close(0.25 * r.estimate.unwrap(), observed.at("upperBound").num(), 1e-4, id);
            close(r.effect_size.unwrap(), observed.at("effectSize").num(), 1e-12, id);
        }
    }
}

// ---------------------------------------------------------------------------
// The shift interval: Kayenta's MannWhitneySuite vectors and R's formulas.
// ---------------------------------------------------------------------------

/// R's `wdiff(d, zq)` (stats/R/wilcox.test.R, two-sample asymptotic
/// branch), written out independently of the library: rank c(x − d, y) with
/// average ranks, dz = Σ ranks of x − n(n+1)/2 − nm/2, the correction
/// sign(dz)·½ when `correct`, σ from `table()` of the ranks.
fn r_wdiff(x: &[f64], y: &[f64], d: f64, zq: f64, correct: bool) -> f64 {
    let pooled: Vec<f64> = x.iter().map(|v| v - d).chain(y.iter().copied()).collect();
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&a, &b| pooled[a].total_cmp(&pooled[b]));
    let mut ranks = vec![0.0; pooled.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && pooled[order[j + 1]] == pooled[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let (n, m) = (x.len() as f64, y.len() as f64);
    let dz = ranks[..x.len()].iter().sum::<f64>() - n * (n + 1.0) / 2.0 - n * m / 2.0;
    let correction = if correct {
        0.5 * dz.signum() * f64::from(dz != 0.0)
    } else {
        0.0
    };
    let sigma = (n * m / 12.0 * ((n + m + 1.0) - ties / ((n + m) * (n + m - 1.0)))).sqrt();
    (dz - correction) / sigma - zq
}

/// Brent's root finder as in R's `zeroin.c` (used by `uniroot`) and
/// Kayenta's `BrentSolver` (Brent 1973, ch. 4): secant / inverse quadratic
/// steps guarded by bisection, stopping when the bracket is within
/// 2·ε·|b| + tol/2.
fn zeroin(f: impl Fn(f64) -> f64, ax: f64, bx: f64, tol: f64) -> f64 {
    let (mut a, mut b) = (ax, bx);
    let (mut fa, mut fb) = (f(a), f(b));
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

/// R's interval and estimate (`wilcox.test(x, y, conf.int = TRUE,
/// exact = FALSE)`) with root-finder tolerance `tol` (R: 1e-4).
fn r_wilcox(x: &[f64], y: &[f64], confidence: f64, tol: f64) -> (f64, f64, f64) {
    let mumin = x.iter().copied().fold(f64::INFINITY, f64::min) - y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mumax = x.iter().copied().fold(f64::NEG_INFINITY, f64::max) - y.iter().copied().fold(f64::INFINITY, f64::min);
    let z = inverse_normal_cdf(1.0 - (1.0 - confidence) / 2.0);
    let root = |zq: f64| {
        if r_wdiff(x, y, mumin, zq, true) <= 0.0 {
            mumin
        } else if r_wdiff(x, y, mumax, zq, true) >= 0.0 {
            mumax
        } else {
            zeroin(|d| r_wdiff(x, y, d, zq, true), mumin, mumax, tol)
        }
    };
    // R sets correct <- FALSE before solving for the estimate.
    let estimate = zeroin(|d| r_wdiff(x, y, d, 0.0, false), mumin, mumax, tol);
    (root(z), root(-z), estimate)
}

/// Kayenta's estimate (MannWhitney.scala): the same root finder on R's
/// statistic, but with the continuity correction kept.
fn kayenta_estimate_by_hand(x: &[f64], y: &[f64]) -> f64 {
    let mumin = x.iter().copied().fold(f64::INFINITY, f64::min) - y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mumax = x.iter().copied().fold(f64::NEG_INFINITY, f64::max) - y.iter().copied().fold(f64::INFINITY, f64::min);
    zeroin(|d| r_wdiff(x, y, d, 0.0, true), mumin, mumax, 1e-4)
}

/// Kayenta's MannWhitneySuite interval cases.
///
/// The expected values are R's / Kayenta's root-finder output (tolerance
/// 1e-4). The R reproduction above matches them to Kayenta's 1e-6, which
/// validates the statistic (the estimates are R's, without the continuity
/// correction; Kayenta's code keeps it and meets them to its 1e-4 only); the library's exact roots must equal that same
/// root finder run to 1e-12, and lie within R's 1e-4 of the expected values.
/// In the "problem case" all differences lie within 3.3e-5 of each other,
/// less than R's tolerance, so R and Kayenta return the data range
/// [min(x) − max(y), max(x) − min(y)] for both ends; the exact interval is
/// much narrower and inside it.
#[test]
fn kayenta_interval_cases() {
    let cases = kayenta_cases();
    let list = cases.at("mannwhitney_ci_cases").items();
    assert_eq!(list.len(), 4);
    for case in list {
        let id = case.at("id").text();
        let input = case.at("input");
        let (x, y) = (input.at("experiment").nums(), input.at("control").nums());
        let conf = input.at("confidenceLevel").num();
        let e = case.at("expected");
        let (lo, hi, est) = (e.at("ci_lower").num(), e.at("ci_upper").num(), e.at("estimate").num());

        let (r_lo, r_hi, r_est) = r_wilcox(&x, &y, conf, 1e-4);
        close(r_lo, lo, 1e-6, id);
        close(r_hi, hi, 1e-6, id);
        close(r_est, est, 1e-6, id);

        // The library is the same root finder on the same statistic ...
        let s = shift_interval(&x, &y, conf).unwrap();
        close(s.low, r_lo, 1e-12, id);
        close(s.high, r_hi, 1e-12, id);
        close(s.estimate, r_est, 1e-12, id);
        // ... and its exact ends are that root finder's limit.
        let (f_lo, f_hi, _) = r_wilcox(&x, &y, conf, 1e-12);
        close(s.exact_low, f_lo, 1e-11, id);
        close(s.exact_high, f_hi, 1e-11, id);

        if id.ends_with("problem-case") {
            let range = (x.iter().copied().fold(f64::INFINITY, f64::min) - y.iter().copied().fold(f64::MIN, f64::max))
                ..=(x.iter().copied().fold(f64::MIN, f64::max) - y.iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!((lo, hi), (*range.start(), *range.end()), "{id}: R returns the range");
            assert_eq!((s.low, s.high), (lo, hi), "{id}: so does the library");
            assert!(
                range.contains(&s.exact_low) && range.contains(&s.exact_high) && s.exact_low <= s.exact_high,
                "{id}"
            );
        } else {
            close(s.exact_low, lo, 1e-4, id);
            close(s.exact_high, hi, 1e-4, id);
        }
    }
}

/// Kayenta's vector: x = 10, 20, 30, 40 against y = 1, 2, 3, 4 at 95 %
/// gives [6, 39] and 22.5. The 16 differences sorted are 6 7 8 9 16 17 18
/// 19 26 27 28 29 36 37 38 39; the median is (19 + 26)/2 = 22.5. Without
/// ties σ = √(16/12 · 9) = √12 = 3.4641, z = 1.95996: the lower end is the
/// first c with (8 − c − ½)/σ ≤ z, c ≥ 0.71 → d₍₁₎ = 6; the upper the first
/// c with (8 − c + ½)/σ ≤ −z, c ≥ 15.29 → d₍₁₆₎ = 39.
#[test]
fn kayenta_small_interval_is_exact() {
    let s = shift_interval(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
    assert_eq!((s.low, s.high, s.estimate), (6.0, 39.0, 22.5));
}

/// Ties, by hand from R's formulas. Experiment x = 1, 2, 4; control
/// y = 0, 0, 0, 2; 80 % (z = Φ⁻¹(0.9) = 1.281552).
///
/// Differences x − y: 1 1 1 −1 | 2 2 2 0 | 4 4 4 2; sorted
/// d = −1, 0, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4 (N = 12, N/2 = 6).
/// Ties: none in x, the three 0s in y: Σ(t³ − t) = 24.
/// σ² = (12/12)·((3 + 4 + 1) − 24/(7·6)) = 8 − 4/7 = 7.428571, σ = 2.725541.
/// Lower end: first c with (6 − c − ½)/σ ≤ z: c = 2 gives
/// 3.5/σ = 1.284151, above z; c = 3 gives 0.917249 ≤ z, so d₍₃₎ = 1.
/// (Without the tie correction σ = √8 and c = 2 already qualifies, giving
/// 0: the ties matter.)
/// Upper end: first c with (6 − c + ½)/σ ≤ −z: c ≥ 6.5 + 3.492921, so
/// c = 10 and d₍₁₀₎ = 4. Estimate: (d₍₆₎ + d₍₇₎)/2 = 2.
#[test]
fn tied_interval_matches_hand_computation() {
    let (x, y) = ([1.0, 2.0, 4.0], [0.0, 0.0, 0.0, 2.0]);
    let s = shift_interval(&x, &y, 0.8).unwrap();
    assert_eq!((s.exact_low, s.exact_high, s.median), (1.0, 4.0, 2.0));
    // the same roots from R's literal statistic and root finder
    let (lo, hi, est) = r_wilcox(&x, &y, 0.8, 1e-12);
    close(lo, 1.0, 1e-11, "r lower");
    close(hi, 4.0, 1e-11, "r upper");
    close(est, 2.0, 1e-11, "r estimate");
}

// Reference: tests/data/wilcox_reference.py, a transcription of R's
// `.wilcox_test_two_cint_asymp` (stats/R/wilcox.test.R) and `R_zeroin2`
// (stats/src/zeroin.c), and of Kayenta's estimate (MannWhitney.scala), run
// with numpy 2.4 and scipy 1.17 on two latency samples that script draws.
// The intervals are at 98 %, of experiment − control; every number comes
// from a root finder stopped at R's and Kayenta's tolerance 1e-4.

// Whole milliseconds, seed 22: N = 2050, middle differences 14 and 15.
const WHOLE_MS_CONTROL: [f64; 41] = [
    85.0, 89.0, 87.0, 103.0, 172.0, 80.0, 152.0, 165.0, 110.0, 101.0, 135.0, 163.0, 206.0, 150.0, 179.0, 107.0, 96.0,
    78.0, 90.0, 110.0, 126.0, 86.0, 147.0, 117.0, 102.0, 99.0, 199.0, 125.0, 96.0, 95.0, 190.0, 104.0, 162.0, 171.0,
    67.0, 168.0, 114.0, 92.0, 105.0, 138.0, 132.0,
];
const WHOLE_MS_EXPERIMENT: [f64; 50] = [
    140.0, 105.0, 173.0, 183.0, 199.0, 162.0, 202.0, 213.0, 150.0, 157.0, 146.0, 145.0, 156.0, 82.0, 116.0, 142.0,
    74.0, 88.0, 187.0, 97.0, 112.0, 138.0, 112.0, 102.0, 111.0, 113.0, 109.0, 132.0, 188.0, 138.0, 189.0, 152.0, 155.0,
    146.0, 117.0, 140.0, 136.0, 95.0, 152.0, 146.0, 138.0, 110.0, 65.0, 182.0, 124.0, 73.0, 148.0, 106.0, 150.0, 123.0,
];
const WHOLE_MS_R_LOW: f64 = -5.0000446865431405;
const WHOLE_MS_R_HIGH: f64 = 34.000031865397986;
const WHOLE_MS_R_ESTIMATE: f64 = 14.624540709085577;
const WHOLE_MS_KAYENTA_ESTIMATE: f64 = 14.605176398895615;

// Hundredths of a millisecond, seed 1: N = 1271, differences around the
// median 0.81, 1.0, 1.02.
const CENTI_MS_CONTROL: [f64; 31] = [
    130.83, 147.36, 130.33, 86.63, 150.48, 134.17, 104.93, 138.76, 131.45, 129.16, 120.86, 137.58, 99.82, 115.21,
    106.37, 139.38, 121.20, 111.54, 98.69, 112.53, 120.24, 112.01, 165.84, 154.34, 60.93, 74.83, 114.87, 107.98,
    126.58, 126.70, 203.76,
];
const CENTI_MS_EXPERIMENT: [f64; 41] = [
    95.42, 114.65, 209.97, 148.11, 148.72, 110.81, 83.45, 131.39, 129.48, 92.71, 106.22, 123.75, 99.49, 122.94, 129.04,
    127.13, 111.02, 146.16, 157.44, 136.52, 102.69, 151.29, 111.15, 156.97, 96.38, 158.36, 125.37, 92.21, 116.49,
    127.72, 134.89, 98.57, 95.53, 132.45, 112.12, 133.64, 152.35, 83.44, 134.27, 171.13, 116.97,
];
const CENTI_MS_R_LOW: f64 = -13.49000119456977;
const CENTI_MS_R_HIGH: f64 = 16.180014355578777;
const CENTI_MS_R_ESTIMATE: f64 = 1.0000876619682737;
const CENTI_MS_KAYENTA_ESTIMATE: f64 = 0.8292682310145558;

/// A realistic sample (41 and 50 latencies in whole milliseconds, ties
/// within and across the samples) against R's `wilcox.test(x, y, exact =
/// FALSE, correct = TRUE, conf.int = TRUE)`; reference numbers above.
///
/// The interval: R's ends are within its 1e-4 of the exact jump points of
/// the corrected statistic, the order statistics −5 and 34.
///
/// The estimate: R solves the *uncorrected* statistic for it (`correct <-
/// FALSE` first; its help page: "continuity-corrected for the interval but
/// not the estimate"). Here the middle two of the N = 2050 differences are
/// d₍₁₀₂₅₎ = 14 and d₍₁₀₂₆₎ = 15, so that statistic is exactly 0 on all of
/// (14, 15): every point there is a root, and R returns where its root
/// finder first landed, 14.6245, which the library must return too (the
/// Hodges-Lehmann median 14.5, a root as well, is 0.12 away). Kayenta
/// solves the corrected statistic, which is 0 there too, and lands at
/// 14.6052.
#[test]
fn whole_ms_latency_sample_matches_r() {
    let (x, y) = (&WHOLE_MS_EXPERIMENT[..], &WHOLE_MS_CONTROL[..]);
    let s = shift_interval(x, y, 0.98).unwrap();
    assert_eq!((s.exact_low, s.exact_high), (-5.0, 34.0), "exact interval ends");
    close(s.low, WHOLE_MS_R_LOW, 1e-9, "lower end vs R");
    close(s.high, WHOLE_MS_R_HIGH, 1e-9, "upper end vs R");
    close(s.estimate, WHOLE_MS_R_ESTIMATE, 1e-9, "estimate vs R");
    assert_eq!(s.median, 14.5, "Hodges-Lehmann median");
    close(
        kayenta_estimate(x, y).unwrap(),
        WHOLE_MS_KAYENTA_ESTIMATE,
        1e-9,
        "Kayenta's estimate",
    );

    let estimates = [
        (s.median, "the median"),
        (WHOLE_MS_R_ESTIMATE, "R's"),
        (WHOLE_MS_KAYENTA_ESTIMATE, "Kayenta's"),
    ];
    for (mu, who) in estimates {
        assert!(mu > 14.0 && mu < 15.0, "{who} estimate {mu} in the gap (14, 15)");
        assert_eq!(
            r_wdiff(x, y, mu, 0.0, false),
            0.0,
            "R's statistic is 0 at {who} estimate"
        );
        assert_eq!(
            wilcoxon_statistic(x, y, mu, 0.0),
            0.0,
            "Kayenta's statistic is 0 at {who} estimate"
        );
    }
    // ... and nowhere outside the gap: both change sign across it.
    assert!(r_wdiff(x, y, 13.5, 0.0, false) > 0.0 && r_wdiff(x, y, 15.5, 0.0, false) < 0.0);
    assert!(wilcoxon_statistic(x, y, 13.5, 0.0) > 0.0 && wilcoxon_statistic(x, y, 15.5, 0.0) < 0.0);

    // The in-test transcriptions of R and Kayenta (independent of the
    // Python ones and of the library) land on the same points.
    let (lo, hi, est) = r_wilcox(x, y, 0.98, 1e-4);
    close(lo, WHOLE_MS_R_LOW, 1e-9, "in-test R lower end");
    close(hi, WHOLE_MS_R_HIGH, 1e-9, "in-test R upper end");
    close(est, WHOLE_MS_R_ESTIMATE, 1e-9, "in-test R estimate");
    close(
        kayenta_estimate_by_hand(x, y),
        WHOLE_MS_KAYENTA_ESTIMATE,
        1e-9,
        "in-test Kayenta estimate",
    );
}

/// The same comparison on 31 and 41 latencies in hundredths of a
/// millisecond: N = 1271 is odd, so R's uncorrected statistic changes sign
/// at the median d₍₆₃₆₎ = 1.0 alone and R's estimate is the median to its
/// 1e-4. Kayenta's corrected statistic is 0 wherever |dz| ≤ ½, here from
/// d₍₆₃₅₎ = 0.81 to d₍₆₃₇₎ = 1.02, and Kayenta returns 0.8293 from inside
/// that stretch: 0.17 ms from R, which is not a root of R's equation.
#[test]
fn centi_ms_latency_sample_matches_r() {
    let (x, y) = (&CENTI_MS_EXPERIMENT[..], &CENTI_MS_CONTROL[..]);
    let s = shift_interval(x, y, 0.98).unwrap();
    close(s.low, CENTI_MS_R_LOW, 1e-9, "lower end vs R");
    close(s.high, CENTI_MS_R_HIGH, 1e-9, "upper end vs R");
    close(s.median, 1.0, 1e-12, "Hodges-Lehmann median");
    close(s.estimate, CENTI_MS_R_ESTIMATE, 1e-9, "estimate vs R");
    close(
        kayenta_estimate(x, y).unwrap(),
        CENTI_MS_KAYENTA_ESTIMATE,
        1e-9,
        "Kayenta's estimate",
    );

    assert_eq!(
        wilcoxon_statistic(x, y, s.median, 0.0),
        0.0,
        "the median is a root of Kayenta's statistic"
    );
    assert_eq!(
        wilcoxon_statistic(x, y, CENTI_MS_KAYENTA_ESTIMATE, 0.0),
        0.0,
        "Kayenta's number is a root of its own statistic"
    );
    assert!(
        r_wdiff(x, y, CENTI_MS_KAYENTA_ESTIMATE, 0.0, false) > 0.0,
        "but not of R's: R's statistic is still positive there"
    );

    let (lo, hi, est) = r_wilcox(x, y, 0.98, 1e-4);
    close(lo, CENTI_MS_R_LOW, 1e-9, "in-test R lower end");
    close(hi, CENTI_MS_R_HIGH, 1e-9, "in-test R upper end");
    close(est, CENTI_MS_R_ESTIMATE, 1e-9, "in-test R estimate");
    close(
        kayenta_estimate_by_hand(x, y),
        CENTI_MS_KAYENTA_ESTIMATE,
        1e-9,
        "in-test Kayenta estimate",
    );
}

/// R's statistic with ties across the samples, by hand: x = 1, 2, 2 and
/// y = 2, 3 at μ = 0. Pooled 1 2 2 2 3 has ranks 1 3 3 3 5; x's rank sum is
/// 1 + 3 + 3 = 7; dz = 7 − 3·4/2 − 3·2/2 = −2. One tie group of 3:
/// Σ(t³ − t) = 24; σ² = (6/12)·(6 − 24/20) = 2.4. The statistic is
/// (−2 + ½)/√2.4 = −0.968246.
#[test]
fn wilcoxon_statistic_matches_hand_computation() {
    close(
        wilcoxon_statistic(&[1.0, 2.0, 2.0], &[2.0, 3.0], 0.0, 0.0),
        -1.5 / 2.4f64.sqrt(),
        1e-15,
        "wdiff",
    );
}

/// Kayenta's MannWhitneySuite records R's values of wdiff on its test data
/// ("Wilcoxon Diff Function" on the problem-case samples; "Intermediate
/// Values / Variables" on the large-input samples of the classifier cases —
/// the same arrays as in the json file). They exercise ties across the
/// samples at μ = min(x) − max(y) and max(x) − min(y).
#[test]
fn wilcoxon_statistic_matches_kayenta_r_values() {
    let cases = kayenta_cases();
    let problem = cases.at("mannwhitney_ci_cases").items()[1].at("input");
    let (x, y) = (problem.at("experiment").nums(), problem.at("control").nums());
    close(wilcoxon_statistic(&x, &y, 0.0, 0.0), -1.229416, 1e-6, "wdiff(0, 0)");
    close(wilcoxon_statistic(&x, &y, 5.0, 0.0), -35.80606, 1e-6, "wdiff(5, 0)");

    let large = cases
        .at("classifier_cases")
        .items()
        .iter()
        .find(|c| c.at("id").text() == "classifier/mann-whitney-classifier-test-high-metric-large-input")
        .unwrap()
        .at("input");
    let (x, y) = (large.at("experiment").nums(), large.at("control").nums());
    let z = 1.959_963_984_540_053_6;
    let (mumin, mumax) = (-3.124999999999986, 5.555555555555557);
    close(
        wilcoxon_statistic(&x, &y, mumin, z),
        17.090968923762254,
        1e-6,
        "f.lower, zq = z",
    );
    close(
        wilcoxon_statistic(&x, &y, mumax, z),
        -20.997687930433106,
        1e-6,
        "f.upper, zq = z",
    );
    close(
        wilcoxon_statistic(&x, &y, mumin, -z),
        21.01089689284236,
        1e-6,
        "f.lower, zq = -z",
    );
    close(
        wilcoxon_statistic(&x, &y, mumax, -z),
        -17.077759961353,
        1e-6,
        "f.upper, zq = -z",
    );
    // R's roots there were 3.52e-5 (lower) and 2.02e-5 (upper): the lower
    // above the upper, a root-finder artefact. Both exact roots are 0 (61 %
    // of the differences are exactly 0).
    let s = shift_interval(&x, &y, 0.95).unwrap();
    assert_eq!((s.exact_low, s.exact_high, s.median), (0.0, 0.0, 0.0));
    // The library returns R's artefacts, as Kayenta does.
    let (lo, hi, est) = r_wilcox(&x, &y, 0.95, 1e-4);
    assert_eq!((s.low, s.high, s.estimate), (lo, hi, est));
    assert!(s.low > s.high, "R's lower end above its upper one");
}

/// Heavily tied data, by hand. Control: eight 0s; experiment: five 0s and
/// three 1s. Differences: 40 zeros and 24 ones (N = 64), so every exact
/// root is 0: the interval's lower end, the estimate and the band [0, 0].
///
/// At μ = 0 the pooled sample has 13 zeros (average rank 7) and 3 ones
/// (average rank 15): the experiment's rank sum is 5·7 + 3·15 = 80, so
/// dz = 80 − 8·9/2 − 8·8/2 = 12; Σ(t³ − t) = (13³ − 13) + (3³ − 3) = 2208;
/// σ² = (64/12)·(17 − 2208/(16·15)) = 41.6, σ = 6.449806; the statistic is
/// (12 − ½)/σ = 1.783.
///
/// Whether the interval lies above the band is then decided by where
/// Kayenta's root finder stops within its 1e-4 of 0, as in Kayenta: the
/// classification is `low > 0.25·|estimate|` on the root finder's numbers,
/// whatever they are.
#[test]
fn heavily_tied_data_is_classified_on_the_root_finders_numbers() {
    let control = [0.0; 8];
    let experiment = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    close(
        wilcoxon_statistic(&experiment, &control, 0.0, 0.0),
        11.5 / 41.6f64.sqrt(),
        1e-12,
        "statistic",
    );
    for confidence in [0.90, 0.95] {
        let s = shift_interval(&experiment, &control, confidence).unwrap();
        assert_eq!((s.exact_low, s.median), (0.0, 0.0));
        assert!(s.low.abs() <= 1e-4 && s.kayenta_estimate.abs() <= 1e-4, "{s:?}");
        let p = MannWhitneyParams {
            confidence,
            ..MannWhitneyParams::default()
        };
        let r = classify(&control, &experiment, &p);
        assert_eq!((r.ci_low, r.estimate), (Some(s.low), Some(s.kayenta_estimate)));
        let high = s.low > 0.25 * s.kayenta_estimate.abs();
        assert_eq!(r.classification == Classification::High, high, "{confidence}: {s:?}");
        assert_eq!(r.effect_size, None, "control mean 0: the mean ratio is undefined");
    }
}

/// Kayenta's judge defaults (NetflixACAJudge.scala).
#[test]
fn judge_defaults_match_kayenta() {
    let p = MannWhitneyParams::default();
    assert_eq!((p.confidence, p.tolerance), (0.98, 0.25));
    assert_eq!((p.allowed_increase, p.allowed_decrease), (1.0, 1.0));
    assert_eq!((p.critical_increase, p.critical_decrease), (1.0, 1.0));
    assert_eq!(p.direction, Direction::Either);
    assert_eq!(p.nan_strategy, NanStrategy::Remove);
    assert!(!p.outlier_removal && !p.critical && !p.data_required);
    assert_eq!(p.outlier_factor, 3.0);
    let c = MannWhitneyParams::judge_defaults(EffectSizeMeasure::Cles);
    assert_eq!((c.allowed_increase, c.critical_decrease), (0.5, 0.5));
}

/// Missing data and NaNs: NaNs are removed (Remove) or become 0 (Replace);
/// a required non-critical metric without data is NoDataFail.
#[test]
fn nan_strategies_and_required_data() {
    let nan = f64::NAN;
    let mut p = MannWhitneyParams {
        data_required: true,
        ..MannWhitneyParams::default()
    };
    assert_eq!(
        classify(&[1.0, 2.0], &[nan, nan], &p).classification,
        Classification::NoDataFail
    );
    p.critical = true;
    let r = classify(&[1.0, 2.0], &[nan], &p);
    assert_eq!((r.classification, r.critical), (Classification::NoData, true));
    // Replace: [NaN, NaN, NaN] becomes [0, 0, 0]; against 5, 6, 7 that is Low.
    p.nan_strategy = NanStrategy::Replace;
    p.confidence = 0.8;
    let r = classify(&[5.0, 6.0, 7.0], &[nan, nan, nan], &p);
    assert_eq!(r.classification, Classification::Low);
    assert_eq!(r.ci_high, Some(-5.0));
}

/// Kayenta's TransformSuite "IQR Outlier Removal" vector (factor 1.5):
/// sorted 21 21 23 23 24 25 29 50, type-7 quartiles 22.5 and 26, fences
/// 17.25 and 31.25, so 50 goes. With reduced sensitivity (the judge's
/// setting) the upper fence is max(31.25, P99 = 48.53): 50 still goes.
#[test]
fn iqr_outlier_removal_matches_kayenta() {
    let data = [21.0, 23.0, 24.0, 25.0, 50.0, 29.0, 23.0, 21.0];
    let kept = [21.0, 23.0, 24.0, 25.0, 29.0, 23.0, 21.0];
    assert_eq!(remove_outliers(&data, 1.5, false), kept);
    assert_eq!(remove_outliers(&data, 1.5, true), kept);
    assert_eq!(remove_outliers(&data, 20.0, false), data);
}

/// Kayenta's EffectSizes CLES tests ("Identical": 0.5; "Different (No
/// Overlap)": 0.0) and a hand count: experiment 1, 2, 3 against control 2:
/// one win, one tie, one loss → (1 + ½)/3 = 0.5.
#[test]
fn cles_matches_kayenta_and_hand_counts() {
    assert_eq!(cles(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0]), 0.5);
    assert_eq!(cles(&[25.3, 25.2, 24.6], &[2.3, 2.6, 3.3]), 0.0);
    assert_eq!(cles(&[2.0], &[1.0, 2.0, 3.0]), 0.5);
    assert_eq!(cles(&[0.0], &[1.0, 2.0, 3.0]), 1.0);
}

// ---------------------------------------------------------------------------
// Weighted-sum scorer: Kayenta's ScorerSuite vectors.
// ---------------------------------------------------------------------------

#[test]
fn kayenta_scorer_cases() {
    let cases = kayenta_cases();
    let list = cases.at("scorer_cases").items();
    assert_eq!(list.len(), 13);
    let thresholds = ScoreThresholds {
        pass: 95.0,
        marginal: 75.0,
    };
    for case in list {
        let id = case.at("id").text();
        let input = case.at("input");
        let weights: BTreeMap<String, f64> = input
            .at("groupWeights")
            .fields()
            .iter()
            .map(|(k, v)| (k.clone(), v.num()))
            .collect();
        let results: Vec<MetricResult> = input
            .at("metricResults")
            .items()
            .iter()
            .map(|m| {
                let groups: Vec<&str> = m.at("groups").items().iter().map(Json::text).collect();
                let classification = label(m.at("classification").text());
                MetricResult::new(m.at("name").text(), &groups, classification, m.at("critical").flag())
            })
            .collect();
        let card = weighted_sum(&results, &weights, thresholds);
        let expected = case.at("expected");
        assert_eq!(card.score, expected.at("summaryScore").num(), "{id}");
        if let Some(groups) = expected.get("groupScores_sorted") {
            let mut got: Vec<f64> = card.groups.iter().map(|g| g.score).collect();
            got.sort_by(f64::total_cmp);
            assert_eq!(got, groups.nums(), "{id}");
        }
    }
}

/// Verdict thresholds, muted metrics and the failure reasons.
#[test]
fn scorer_thresholds_muting_and_failures() {
    let t = ScoreThresholds {
        pass: 90.0,
        marginal: 50.0,
    };
    let none = BTreeMap::new();
    let pass = |n: &str| MetricResult::new(n, &["g"], Classification::Pass, false);
    let high = |n: &str| MetricResult::new(n, &["g"], Classification::High, false);
    // 3 of 4 pass: 75, marginal
    let card = weighted_sum(&[pass("a"), pass("b"), pass("c"), high("d")], &none, t);
    assert_eq!((card.score, card.class), (75.0, ScoreClass::Marginal));
    // muting the failure: 100, pass
    let mut muted = high("d");
    muted.muted = true;
    let card = weighted_sum(&[pass("a"), muted], &none, t);
    assert_eq!((card.score, card.class), (100.0, ScoreClass::Pass));
    // a critical failure forces 0 and names the metric
    let critical = MetricResult::new("err", &["g"], Classification::Low, true);
    let card = weighted_sum(&[pass("a"), critical], &none, t);
    assert_eq!((card.score, card.class), (0.0, ScoreClass::Fail));
    assert_eq!(card.failure, Some(ScoreFailure::Critical("err".into())));
    // NoDataFail counts as a failed metric: 1 of 2 pass
    let required = MetricResult::new("r", &["g"], Classification::NoDataFail, false);
    assert_eq!(weighted_sum(&[pass("a"), required], &none, t).score, 50.0);
}

// ---------------------------------------------------------------------------
// Control charts: run lengths by Monte Carlo against published ARLs.
// ---------------------------------------------------------------------------

/// Mean and standard error of `runs` run lengths of `chart` on
/// z ~ N(shift, 1), from one stream: the chart restarts after each alarm,
/// so the gaps between alarms are independent run lengths.
fn run_lengths(chart: &mut impl ControlChart, shift: f64, runs: usize, seed: u64) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut sum, mut sum_sq, mut n, mut current) = (0.0, 0.0, 0usize, 0u64);
    while n < runs {
        current += 1;
        let z: f64 = rng.sample(StandardNormal);
        if chart.update(shift + z) {
            let rl = current as f64;
            sum += rl;
            sum_sq += rl * rl;
            n += 1;
            current = 0;
        }
    }
    let mean = sum / runs as f64;
    let var = (sum_sq - runs as f64 * mean * mean) / (runs as f64 - 1.0);
    (mean, (var / runs as f64).sqrt())
}

/// Simulates 10 000 run lengths (standard error about 1 % of the ARL) and
/// asserts the standard error is ≤ 3 % of the reference and the mean within
/// 4 standard errors of it.
fn assert_arl(chart: &mut impl ControlChart, shift: f64, reference: f64, seed: u64, what: &str) {
    let runs = 10_000;
    let (mean, se) = run_lengths(chart, shift, runs, seed);
    assert!(
        se <= 0.03 * reference,
        "{what}: standard error {se:.2} above 3 % of {reference}"
    );
    assert!(
        (mean - reference).abs() <= 4.0 * se,
        "{what}: ARL {mean:.2} ± {se:.2}, reference {reference}"
    );
}

/// Two-sided tabular CUSUM, k = ½: Montgomery, Introduction to Statistical
/// Quality Control, Table 9.3 ("ARL performance of the tabular CUSUM with
/// k = 1/2 and h = 4 or h = 5"; 6th ed., 2009): shift 0 → 168 (h = 4),
/// 465 (h = 5); 0.5σ → 26.6, 38.0; 1σ → 8.38, 10.4; 2σ → 3.34, 4.01.
/// These are for the two-sided scheme (upper and lower sums): Montgomery's
/// §9.1 example combines Siegmund's one-sided ARL0 ≈ 938.2 (h = 5) into a
/// two-sided 469.1, near the table's 465.
#[test]
fn cusum_arl_matches_montgomery_table_9_3() {
    let table = [
        (0.0, 168.0, 465.0),
        (0.5, 26.6, 38.0),
        (1.0, 8.38, 10.4),
        (2.0, 3.34, 4.01),
    ];
    for (i, &(shift, h4, h5)) in table.iter().enumerate() {
        let seed = 100 + i as u64;
        assert_arl(
            &mut Cusum::new(0.5, 4.0, Side::Both),
            shift,
            h4,
            seed,
            &format!("h = 4, shift {shift}"),
        );
        assert_arl(
            &mut Cusum::new(0.5, 5.0, Side::Both),
            shift,
            h5,
            seed,
            &format!("h = 5, shift {shift}"),
        );
    }
}

/// One-sided (upper) CUSUM in control, against Siegmund's approximation
/// (Montgomery §9.1.6): ARL = (e^{−2Δb} + 2Δb − 1)/(2Δ²), Δ = −k = −½,
/// b = h + 1.166: 338.1 for h = 4 and 938.2 for h = 5 — twice the two-sided
/// values, as a one-sided chart has half the false alarms.
#[test]
fn one_sided_cusum_arl_matches_siegmund() {
    let siegmund = |h: f64| {
        let (delta, b) = (-0.5, h + 1.166);
        (libm::exp(-2.0 * delta * b) + 2.0 * delta * b - 1.0) / (2.0 * delta * delta)
    };
    close(siegmund(5.0), 938.2, 0.05, "siegmund h = 5");
    assert_arl(
        &mut Cusum::new(0.5, 4.0, Side::Upper),
        0.0,
        siegmund(4.0),
        7,
        "upper, h = 4",
    );
    assert_arl(
        &mut Cusum::new(0.5, 5.0, Side::Upper),
        0.0,
        siegmund(5.0),
        8,
        "upper, h = 5",
    );
}

/// EWMA with asymptotic limits: Lucas and Saccucci (1990), Technometrics
/// 32(1):1–12, schemes designed for an in-control ARL of 500: λ = 0.10 with
/// L = 2.814 and λ = 0.20 with L = 2.962; at a 1σ shift their ARLs are 10.3
/// and 10.5.
#[test]
fn ewma_arl_matches_lucas_and_saccucci() {
    for (i, &(lambda, l, arl1)) in [(0.1, 2.814, 10.3), (0.2, 2.962, 10.5)].iter().enumerate() {
        let seed = 200 + i as u64;
        assert_arl(
            &mut Ewma::new(lambda, l, Side::Both),
            0.0,
            500.0,
            seed,
            &format!("lambda {lambda}, in control"),
        );
        assert_arl(
            &mut Ewma::new(lambda, l, Side::Both),
            1.0,
            arl1,
            seed,
            &format!("lambda {lambda}, 1 sigma"),
        );
    }
}

/// Shewhart chart, W = 3: ARL0 = 1/(2(1 − Φ(3))) = 370.4 (Montgomery §6).
#[test]
fn shewhart_arl_is_geometric() {
    let arl0 = 1.0 / (2.0 * sim_core::latency::normal_cdf(-3.0));
    close(arl0, 370.4, 0.05, "closed form");
    assert_arl(&mut Shewhart::new(3.0, Side::Both), 0.0, arl0, 300, "shewhart");
}

/// The streaming form and the batch form agree, and alarm positions are
/// 1-based with restarts.
#[test]
fn streaming_and_batch_charts_agree() {
    let x: Vec<f64> = (0..200)
        .map(|i| 100.0 + if i >= 120 { 15.0 } else { (i % 7) as f64 - 3.0 })
        .collect();
    let z = standardise(&x, 100.0, 10.0);
    let batch = cusum_alarms(&z, 0.5, 4.0, Side::Both);
    let mut c = Cusum::new(0.5, 4.0, Side::Both);
    let streamed: Vec<usize> = z
        .iter()
        .enumerate()
        .filter(|(_, v)| c.update(**v))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(batch, streamed);
    // 1.5σ shift from interval 121: (1.5 − 0.5)·t > 4 first at t = 5
    assert_eq!(batch[0], 125);
    assert!(batch.windows(2).all(|w| w[1] - w[0] == 5));
}

/// Wald's SPRT of μ = 0 against μ = δ = 0.5 with α = 0.05, β = 0.10, over
/// 4000 runs under each hypothesis. Wald's bounds: achieved α' ≤ α/(1 − β)
/// = 0.0556, β' ≤ β/(1 − α) = 0.105 and α' + β' ≤ α + β; the overshoot of
/// the boundaries makes the achieved rates smaller, here below α and β
/// themselves.
#[test]
fn sprt_error_rates_respect_wald_bounds() {
    let (delta, alpha, beta, runs) = (0.5, 0.05, 0.10, 4000);
    let mut rng = ChaCha8Rng::seed_from_u64(400);
    let mut wrong = |mean: f64, bad: SprtDecision| {
        let mut count = 0;
        for _ in 0..runs {
            let mut test = Sprt::new(delta, alpha, beta);
            let decision = (0..100_000)
                .map(|_| test.update(mean + rng.sample::<f64, _>(StandardNormal)))
                .find(|d| *d != SprtDecision::Continue)
                .expect("the sprt terminates");
            count += usize::from(decision == bad);
        }
        count as f64 / runs as f64
    };
    let alpha_hat = wrong(0.0, SprtDecision::AcceptH1);
    let beta_hat = wrong(delta, SprtDecision::AcceptH0);
    assert!(alpha_hat <= alpha, "achieved alpha {alpha_hat}");
    assert!(beta_hat <= beta, "achieved beta {beta_hat}");
    assert!(alpha_hat <= alpha / (1.0 - beta) && beta_hat <= beta / (1.0 - alpha));
    assert!(alpha_hat + beta_hat <= alpha + beta);
    assert!(alpha_hat > 0.0 && beta_hat > 0.0, "both errors occur");
}

// ---------------------------------------------------------------------------
// Anytime-valid counts (Lindon and Malek 2022) against peeking.
// ---------------------------------------------------------------------------

/// Closed forms with Γ(k) = (k − 1)!:
///
/// s = ½, c = 2, so α = (1, 1). After (control, canary) = (2, 0):
/// BF = [Γ(2)/Γ(4)]·[Γ(3)/Γ(1)]·[Γ(1)/Γ(1)] / ½² = (1/6)·2·4 = 4/3.
/// After (3, 1) cumulatively: BF = [Γ(2)/Γ(6)]·[Γ(4)/Γ(1)]·[Γ(2)/Γ(1)] / ½⁴
/// = (1/120)·6·1·16 = 0.8. p-values: min(1, 3/4) = 0.75, then
/// min(0.75, min(1, 1.25)) = 0.75.
///
/// s = ¼, c = 4, so α = (3, 1); counts (2, 2):
/// BF = [Γ(4)/Γ(8)]·[Γ(5)/Γ(3)]·[Γ(3)/Γ(1)] / (¾² ¼²)
/// = (6/5040)·12·2 / (9/256) = (1/35)·(256/9) = 256/315.
#[test]
fn bayes_factor_matches_closed_forms() {
    let rows = sequential_counts(&[(2, 0), (1, 1)], 0.5, 2.0, 0.05).unwrap();
    close(rows[0].log_bayes_factor, (4.0f64 / 3.0).ln(), 1e-12, "bf (2, 0)");
    close(rows[1].log_bayes_factor, 0.8f64.ln(), 1e-12, "bf (3, 1)");
    close(rows[0].p_value, 0.75, 1e-12, "p after (2, 0)");
    close(rows[1].p_value, 0.75, 1e-12, "running minimum");
    assert!(!rows[1].reject);
    close(
        log_bayes_factor(2, 2, 0.25, 4.0),
        (256.0f64 / 315.0).ln(),
        1e-12,
        "bf s = 1/4",
    );
}

/// The lgamma form against rising factorials, BF = Π_i α_i^(x_i) / c^(n) /
/// Π_i θ_i^{x_i} with a^(k) = a(a+1)…(a+k−1), at realistic counts.
#[test]
fn bayes_factor_matches_rising_factorials() {
    let (x0, x1, s, c) = (40u64, 25u64, 0.3, 100.0);
    let rising = |a: f64, k: u64| (0..k).map(|i| (a + i as f64).ln()).sum::<f64>();
    let expected = rising(c * (1.0 - s), x0) + rising(c * s, x1)
        - rising(c, x0 + x1)
        - x0 as f64 * (1.0 - s).ln()
        - x1 as f64 * s.ln();
    close(log_bayes_factor(x0, x1, s, c), expected, 1e-9, "rising factorials");
}

/// Poisson event counts per interval: control λ₀·(1 − s)·r, canary λ₀·s·r·ρ
/// (ρ the canary/control rate ratio), traffic split s.
fn stream(rng: &mut ChaCha8Rng, share: f64, ratio: f64, intervals: usize) -> Vec<(u64, u64)> {
    let total = 100.0;
    let control = Poisson::new(total * (1.0 - share)).unwrap();
    let canary = Poisson::new(total * share * ratio).unwrap();
    (0..intervals)
        .map(|_| {
            (
                rng.sample::<f64, _>(control) as u64,
                rng.sample::<f64, _>(canary) as u64,
            )
        })
        .collect()
}

/// Type-I error under continuous monitoring: 1000 null streams of 100
/// intervals (s = 0.2, 80 control and 20 canary events per interval on
/// average), α = 0.05, c = 100. Ville's inequality bounds the rate of ever
/// rejecting by α. On the same streams a two-proportion z-test on the
/// cumulative counts (4000 and 1000 requests per interval) checked after
/// every interval raises a false alarm far more often: Armitage, McPherson
/// and Rowe (1969), Table 2, give 0.374 for 100 looks at nominal 0.05 — we
/// require > 0.25.
#[test]
fn sequential_test_controls_type_one_error_where_peeking_does_not() {
    let (share, alpha, streams) = (0.2, 0.05, 1000);
    let mut rng = ChaCha8Rng::seed_from_u64(500);
    let (mut sequential_alarms, mut naive_alarms) = (0, 0);
    for _ in 0..streams {
        let counts = stream(&mut rng, share, 1.0, 100);
        let rows = sequential_counts(&counts, share, 100.0, alpha).unwrap();
        sequential_alarms += usize::from(rows.last().unwrap().reject);
        let requests: Vec<IntervalCounts> = counts
            .iter()
            .map(|&(c, k)| IntervalCounts {
                control_events: c,
                control_n: 4000,
                canary_events: k,
                canary_n: 1000,
            })
            .collect();
        naive_alarms += usize::from(peeking_false_alarm(&cumulative_z_tests(&requests), alpha));
    }
    let sequential_rate = sequential_alarms as f64 / streams as f64;
    let naive_rate = naive_alarms as f64 / streams as f64;
    assert!(sequential_rate <= alpha, "anytime-valid false alarms {sequential_rate}");
    assert!(naive_rate > 0.25, "peeking z-test false alarms {naive_rate}");
}

/// The same with Welch's t-test on per-interval normal statistics (100 looks):
/// also far above α.
#[test]
fn peeking_welch_test_inflates_false_alarms() {
    let mut rng = ChaCha8Rng::seed_from_u64(600);
    let streams = 1000;
    let mut alarms = 0;
    for _ in 0..streams {
        let mut draw = || {
            (0..100)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect::<Vec<f64>>()
        };
        let (control, canary) = (draw(), draw());
        alarms += usize::from(peeking_false_alarm(&cumulative_welch(&control, &canary), 0.05));
    }
    let rate = alarms as f64 / streams as f64;
    assert!(rate > 0.25, "peeking welch false alarms {rate}");
}

/// Power and the rate-ratio confidence sequence: with the canary's error
/// rate 1.5× the control's, (i) the test rejects in ≥ 95 % of 300 streams
/// within 100 intervals; (ii) the confidence sequence covers the true ratio
/// 1.5 at every interval in ≥ 1 − α of the streams; (iii) under the null
/// the streaming form matches the batch form.
#[test]
fn sequential_power_and_confidence_sequence() {
    let (share, alpha, streams, ratio) = (0.2, 0.05, 300, 1.5);
    let mut rng = ChaCha8Rng::seed_from_u64(700);
    let (mut rejected, mut missed) = (0, 0);
    for _ in 0..streams {
        let rows = sequential_counts(&stream(&mut rng, share, ratio, 100), share, 100.0, alpha).unwrap();
        rejected += usize::from(rows.last().unwrap().reject);
        missed += usize::from(rows.iter().any(|r| !(r.ratio_low < ratio && ratio < r.ratio_high)));
    }
    assert!(rejected as f64 >= 0.95 * streams as f64, "power {rejected}/{streams}");
    assert!(
        missed as f64 <= alpha * streams as f64,
        "coverage misses {missed}/{streams}"
    );

    let counts = stream(&mut rng, share, 1.0, 20);
    let mut test = SequentialTest::new(share, 100.0, alpha);
    let streamed: Vec<_> = counts.iter().map(|&(c, k)| test.update(c, k)).collect();
    assert_eq!(streamed, sequential_counts(&counts, share, 100.0, alpha).unwrap());
    let last = streamed.last().unwrap();
    assert!(
        last.ratio_low < 1.0 && 1.0 < last.ratio_high,
        "null ratio inside {last:?}"
    );
}

/// Cumulative counts that no longer fit a u64 are an error naming the
/// interval, never a wrapped count or a panic (overflow checks are on in
/// release); the test keeps its state, so the counts before stay usable.
#[test]
fn sequential_count_overflow_is_an_error_not_a_wrap() {
    let rows = [(1, 2), (u64::MAX - 1, 0), (1, 0)];
    assert_eq!(
        sequential_counts(&rows, 0.5, 100.0, 0.05),
        Err(CountOverflow { interval: 2 })
    );
    let canary_rows = [(0, u64::MAX), (0, 1)];
    assert_eq!(
        sequential_counts(&canary_rows, 0.5, 100.0, 0.05),
        Err(CountOverflow { interval: 1 })
    );
    let mut test = SequentialTest::new(0.5, 100.0, 0.05);
    assert!(test.try_update(u64::MAX, 3).is_some());
    assert_eq!(test.try_update(1, 0), None);
    assert_eq!(test.counts(), (u64::MAX, 3), "a refused interval changes nothing");
    assert!(test.try_update(0, 4).is_some());
    assert_eq!(test.counts(), (u64::MAX, 7));
}

// ---------------------------------------------------------------------------
// Naive fixed-horizon tests.
// ---------------------------------------------------------------------------

/// 100/1000 against 130/1000: p̂ = 0.115, se = √(0.115·0.885·(2/1000)) =
/// 0.0142671, z = 0.03/se = 2.102741, p = 2Φ(−z) = 0.035488.
#[test]
fn z_test_matches_hand_computation() {
    close(z_test(100, 1000, 130, 1000), 0.035488, 1e-6, "z test");
    close(z_test(130, 1000, 100, 1000), 0.035488, 1e-6, "symmetric");
    assert_eq!(z_test(0, 1000, 0, 1000), 1.0);
    assert_eq!(z_test(5, 0, 1, 10), 1.0);
    assert_eq!(first_rejection(&[0.5, 0.2, 0.04, 0.01], 0.05), Some(3));
}

/// R's documented example `t.test(extra ~ group, data = sleep)` (Welch):
/// t = −1.8608, df = 17.776, p-value = 0.07939 (group 1 minus group 2; here
/// canary minus control, so t is positive).
#[test]
fn welch_matches_r_sleep_example() {
    let group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
    let group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
    let w = welch(&group1, &group2).unwrap();
    close(w.t, 1.8608, 5e-5, "t");
    close(w.df, 17.776, 5e-4, "df");
    close(w.p_value, 0.07939, 5e-6, "p");
}

/// Student's t tails in closed form: ν = 1 (Cauchy) P(|T| ≥ t) =
/// 1 − (2/π)·atan t; ν = 2: 1 − t/√(t² + 2); and I_x(1, 1) = x.
#[test]
fn student_t_matches_closed_forms() {
    for t in [0.3, 1.0, 3.0, 12.0] {
        let cauchy = 1.0 - 2.0 / std::f64::consts::PI * f64::atan(t);
        close(student_t_two_sided(t, 1.0), cauchy, 1e-13, "nu = 1");
        close(
            student_t_two_sided(t, 2.0),
            1.0 - t / (t * t + 2.0).sqrt(),
            1e-13,
            "nu = 2",
        );
    }
    close(regularized_incomplete_beta(0.3, 1.0, 1.0), 0.3, 1e-14, "uniform");
    // large ν approaches the normal: 2Φ(−1.96) = 0.049996
    close(student_t_two_sided(1.959964, 1e6), 0.05, 1e-5, "normal limit");
}

mod distribution {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};
    use sim_core::judges::sequential::{dkw_radius, stochastically_larger};

    /// The radius by hand at t = 1000, α = 0.05:
    /// ln ln(1000 e) = ln(7.9078) = 2.0679; 0.8 ln(32 240) = 8.3012;
    /// 0.85 √(10.3691 / 1000) = 0.08655.
    #[test]
    fn dkw_radius_matches_the_formula_by_hand() {
        assert!(
            (dkw_radius(1000, 0.05) - 0.086_55).abs() < 1e-4,
            "{}",
            dkw_radius(1000, 0.05)
        );
        assert!(dkw_radius(10, 0.05) > dkw_radius(1000, 0.05));
        assert_eq!(dkw_radius(0, 0.05), 1.0);
    }

    fn bucket(x: f64) -> usize {
        // 40 buckets of width 0.25 over [-5, 5).
        (((x + 5.0) / 0.25).floor().clamp(0.0, 39.0)) as usize
    }

    /// Howard and Ramdas's guarantee, checked by simulation: over 400 null
    /// streams (both samples N(0, 1)) of 100 looks, each adding 20 draws to
    /// each sample, the test that is re-run after every look rejects in at
    /// most α = 5 % of the streams; a 0.5σ shift is found in all of them.
    #[test]
    fn the_stochastic_order_test_keeps_alpha_under_continuous_monitoring() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let run = |shift: f64, rng: &mut ChaCha8Rng| {
            let (mut c, mut b) = (vec![0u64; 40], vec![0u64; 40]);
            for _ in 0..100 {
                for _ in 0..20 {
                    let x: f64 = StandardNormal.sample(rng);
                    let y: f64 = StandardNormal.sample(rng);
                    c[bucket(x + shift)] += 1;
                    b[bucket(y)] += 1;
                }
                if stochastically_larger(&c, &b, 0.05) {
                    return true;
                }
            }
            false
        };
        let null = (0..400).filter(|_| run(0.0, &mut rng)).count();
        assert!(null as f64 / 400.0 <= 0.05, "{null}/400 null streams rejected");
        let shifted = (0..100).filter(|_| run(0.5, &mut rng)).count();
        assert_eq!(shifted, 100, "a 0.5σ slowdown is found");
    }
}
