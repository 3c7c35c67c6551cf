//! `aviary judge`: the statistical judges on data the user brings, so a
//! team can replay its own metric export and the judges can be checked
//! outside the simulator. Output as in the judges' public contract.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use sim_core::judges::control_charts::{Side, cusum_alarms, ewma_alarms, shewhart_alarms, standardise};
use sim_core::judges::mann_whitney::{
    Classification, Direction, EffectSizeMeasure, MannWhitneyParams, NanStrategy, classify,
};
use sim_core::judges::sequential::{DEFAULT_CONCENTRATION, sequential_counts};

use crate::{Failure, inputs};

#[derive(Subcommand, Debug)]
pub(crate) enum JudgeCmd {
    /// Kayenta's Mann-Whitney classifier on two samples (numbers files).
    MannWhitney(MannWhitneyArgs),
    /// Tabular CUSUM on a series (numbers file), standardised by --mean and --sd.
    Cusum(CusumArgs),
    /// EWMA chart; the limit is L·σ·√(λ/(2−λ)) (Lucas and Saccucci).
    Ewma(EwmaArgs),
    /// Shewhart chart with limits at ±W standard deviations.
    Shewhart(ShewhartArgs),
    /// The anytime-valid Dirichlet-mixture test on a CSV of control,canary event counts.
    Sequential(SequentialArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum JudgeFormat {
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum DirectionArg {
    Increase,
    Decrease,
    Either,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum EffectArg {
    MeanRatio,
    Cles,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum NanArg {
    Remove,
    Replace,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum SideArg {
    Upper,
    Lower,
    Both,
}

#[derive(clap::Args, Debug)]
pub(crate) struct MannWhitneyArgs {
    /// The baseline's sample: a file of numbers, one or more per line.
    #[arg(long)]
    control: PathBuf,
    /// The canary's sample: a file of numbers, one or more per line.
    #[arg(long)]
    experiment: PathBuf,
    /// Confidence of the two-sided interval on the location shift (Kayenta's default 0.98).
    #[arg(long, default_value_t = 0.98, value_parser = finite_number, allow_negative_numbers = true)]
    confidence: f64,
    /// Relative shift inside which the samples count as equal (Kayenta's default 0.25).
    #[arg(long, default_value_t = 0.25, value_parser = finite_number, allow_negative_numbers = true)]
    tolerance: f64,
    /// Which change fails: an increase, a decrease, or either.
    #[arg(long, value_enum, default_value_t = DirectionArg::Either)]
    direction: DirectionArg,
    /// How the effect size is measured: the ratio of means, or the common-language effect size.
    #[arg(long, value_enum, default_value_t = EffectArg::MeanRatio)]
    effect_size: EffectArg,
    /// The largest effect size of an increase that still passes.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    allowed_increase: Option<f64>,
    /// The largest effect size of a decrease that still passes.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    allowed_decrease: Option<f64>,
    /// The metric is critical: its failure fails the whole canary.
    #[arg(long)]
    critical: bool,
    /// An increase with at least this effect size fails the canary outright (a critical metric).
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    critical_increase: Option<f64>,
    /// A decrease with at least this effect size fails the canary outright (a critical metric).
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    critical_decrease: Option<f64>,
    /// What a NaN in a sample is: removed, or replaced by 0.
    #[arg(long, value_enum, default_value_t = NanArg::Remove)]
    nan_strategy: NanArg,
    /// Remove outliers by the interquartile-range rule first.
    #[arg(long)]
    remove_outliers: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = JudgeFormat::Json)]
    format: JudgeFormat,
}

#[derive(clap::Args, Debug)]
pub(crate) struct Chart {
    /// The series: a file of numbers, one or more per line, in time order.
    #[arg(long)]
    input: PathBuf,
    /// In-control mean of the series.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    mean: f64,
    /// In-control standard deviation of the series.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    sd: f64,
    /// Which deviations alarm: upward, downward or both.
    #[arg(long, value_enum, default_value_t = SideArg::Both)]
    side: SideArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = JudgeFormat::Json)]
    format: JudgeFormat,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CusumArgs {
    #[command(flatten)]
    chart: Chart,
    /// Reference value (allowance), in standard deviations.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    k: f64,
    /// Decision interval, in standard deviations.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    h: f64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct EwmaArgs {
    #[command(flatten)]
    chart: Chart,
    /// Smoothing weight λ of the newest point, in (0, 1].
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    lambda: f64,
    /// Control-limit width L, in asymptotic standard deviations.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    limit: f64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ShewhartArgs {
    #[command(flatten)]
    chart: Chart,
    /// Control-limit width W, in standard deviations.
    #[arg(long, value_parser = finite_number, allow_negative_numbers = true)]
    limit: f64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SequentialArgs {
    /// CSV with a header line and columns control,canary (event counts per interval).
    #[arg(long)]
    input: PathBuf,
    /// Share of traffic the canary gets (the null hypothesis).
    #[arg(long, default_value_t = 0.5, value_parser = finite_number, allow_negative_numbers = true)]
    canary_share: f64,
    /// Concentration of the Dirichlet mixing prior (larger: tighter around the null).
    #[arg(long, default_value_t = DEFAULT_CONCENTRATION, value_parser = finite_number, allow_negative_numbers = true)]
    concentration: f64,
    /// Type I error bound of the anytime-valid test.
    #[arg(long, default_value_t = 0.05, value_parser = finite_number, allow_negative_numbers = true)]
    alpha: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = JudgeFormat::Json)]
    format: JudgeFormat,
}

fn usage(message: String) -> Failure {
    Failure::Usage(message)
}

/// Every numeric flag goes through this parser: `NaN` and `inf` parse as
/// `f64` but would silently switch a comparison off (every `x >= NaN` is
/// false), so they are refused before anything runs. clap names the flag
/// and exits with status 2.
fn finite_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("expected a finite number".to_owned()),
        Err(_) => Err("expected a number".to_owned()),
    }
}

/// Where a flag's value must lie (it is already finite).
#[derive(Clone, Copy)]
enum Range {
    /// v ≥ lo.
    AtLeast(f64),
    /// v > lo.
    Above(f64),
    /// lo < v < hi.
    Between(f64, f64),
    /// lo < v ≤ hi.
    AboveUpTo(f64, f64),
}

fn check_range(name: &str, v: f64, range: Range) -> Result<(), Failure> {
    let (ok, wanted) = match range {
        Range::AtLeast(lo) => (v >= lo, format!("at least {lo}")),
        Range::Above(lo) => (v > lo, format!("above {lo}")),
        Range::Between(lo, hi) => (v > lo && v < hi, format!("strictly between {lo} and {hi}")),
        Range::AboveUpTo(lo, hi) => (v > lo && v <= hi, format!("above {lo} and at most {hi}")),
    };
    if ok && v.is_finite() {
        Ok(())
    } else {
        Err(usage(format!("--{name} must be {wanted}, got {v}")))
    }
}

fn finite(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite()).map_or(Value::Null, |v| json!(v))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(&reports::document(v.clone())).expect("json values serialise");
    s.push('\n');
    s
}

pub(crate) fn run(cmd: JudgeCmd) -> Result<String, Failure> {
    match cmd {
        JudgeCmd::MannWhitney(a) => mann_whitney(a),
        JudgeCmd::Cusum(a) => {
            check_range("k", a.k, Range::AtLeast(0.0))?;
            check_range("h", a.h, Range::Above(0.0))?;
            chart(&a.chart, |z, side| cusum_alarms(z, a.k, a.h, side))
        }
        JudgeCmd::Ewma(a) => {
            check_range("lambda", a.lambda, Range::AboveUpTo(0.0, 1.0))?;
            check_range("limit", a.limit, Range::Above(0.0))?;
            chart(&a.chart, |z, side| ewma_alarms(z, a.lambda, a.limit, side))
        }
        JudgeCmd::Shewhart(a) => {
            check_range("limit", a.limit, Range::Above(0.0))?;
            chart(&a.chart, |z, side| shewhart_alarms(z, a.limit, side))
        }
        JudgeCmd::Sequential(a) => sequential(a),
    }
}

fn mann_whitney(a: MannWhitneyArgs) -> Result<String, Failure> {
    check_range("confidence", a.confidence, Range::Between(0.0, 1.0))?;
    check_range("tolerance", a.tolerance, Range::AtLeast(0.0))?;
    let mut diagnostics = Vec::new();
    let control = inputs::numbers(&a.control).map_err(|d| diagnostics.extend(d)).ok();
    let experiment = inputs::numbers(&a.experiment).map_err(|d| diagnostics.extend(d)).ok();
    let (Some(control), Some(experiment)) = (control, experiment) else {
        return Err(Failure::Input(diagnostics));
    };
    let (control, experiment) = (control.values(), experiment.values());
    let measure = match a.effect_size {
        EffectArg::MeanRatio => EffectSizeMeasure::MeanRatio,
        EffectArg::Cles => EffectSizeMeasure::Cles,
    };
    let mut p = MannWhitneyParams::judge_defaults(measure);
    p.confidence = a.confidence;
    p.tolerance = a.tolerance;
    p.direction = match a.direction {
        DirectionArg::Increase => Direction::Increase,
        DirectionArg::Decrease => Direction::Decrease,
        DirectionArg::Either => Direction::Either,
    };
    if let Some(x) = a.allowed_increase {
        p.allowed_increase = x;
    }
    if let Some(x) = a.allowed_decrease {
        p.allowed_decrease = x;
    }
    p.critical = a.critical;
    if let Some(x) = a.critical_increase {
        p.critical_increase = x;
    }
    if let Some(x) = a.critical_decrease {
        p.critical_decrease = x;
    }
    p.nan_strategy = match a.nan_strategy {
        NanArg::Remove => NanStrategy::Remove,
        NanArg::Replace => NanStrategy::Replace,
    };
    p.outlier_removal = a.remove_outliers;
    let r = classify(&control, &experiment, &p);
    let classification = match r.classification {
        Classification::Pass => "pass",
        Classification::High => "high",
        Classification::Low => "low",
        Classification::NoData | Classification::NoDataFail => "nodata",
    };
    let JudgeFormat::Json = a.format;
    Ok(pretty(&json!({
        "classification": classification,
        "critical": r.critical,
        "ci_low": finite(r.ci_low),
        "ci_high": finite(r.ci_high),
        "estimate": finite(r.estimate),
        "r_estimate": finite(r.r_estimate),
        "median": finite(r.median),
        "effect_size": finite(r.effect_size),
        "deviation": finite(r.deviation),
    })))
}

fn chart(c: &Chart, alarms: impl Fn(&[f64], Side) -> Vec<usize>) -> Result<String, Failure> {
    check_range("sd", c.sd, Range::Above(0.0))?;
    let input = inputs::numbers(&c.input).map_err(Failure::Input)?;
    let missing: Vec<_> = input
        .rows
        .iter()
        .filter(|(_, v)| v.is_nan())
        .map(|&(line, _)| {
            input.problem(
                line,
                "a control chart needs a number on every line, found NaN".to_owned(),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(Failure::Input(missing));
    }
    let x = input.values();
    let side = match c.side {
        SideArg::Upper => Side::Upper,
        SideArg::Lower => Side::Lower,
        SideArg::Both => Side::Both,
    };
    let z = standardise(&x, c.mean, c.sd);
    let JudgeFormat::Json = c.format;
    Ok(pretty(&json!({"alarms": alarms(&z, side), "points": x.len()})))
}

fn sequential(a: SequentialArgs) -> Result<String, Failure> {
    check_range("canary-share", a.canary_share, Range::Between(0.0, 1.0))?;
    check_range("concentration", a.concentration, Range::Above(0.0))?;
    check_range("alpha", a.alpha, Range::Between(0.0, 1.0))?;
    let input = inputs::count_pairs(&a.input).map_err(Failure::Input)?;
    let rows = sequential_counts(&input.values(), a.canary_share, a.concentration, a.alpha).map_err(|e| {
        let line = input.rows[e.interval].0;
        Failure::Input(vec![input.problem(
            line,
            format!(
                "the cumulative event counts overflow here: a running total would exceed {}",
                u64::MAX
            ),
        )])
    })?;
    let out: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "log_bayes_factor": r.log_bayes_factor,
                "p_value": r.p_value,
                "reject": r.reject,
                "ratio_low": finite(Some(r.ratio_low)),
                "ratio_high": finite(Some(r.ratio_high)),
            })
        })
        .collect();
    let JudgeFormat::Json = a.format;
    Ok(pretty(&json!({"rows": out})))
}
