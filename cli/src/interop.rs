//! `aviary import` and `aviary export`: Argo Rollouts, Flagger and Kayenta
//! configs in, Argo Rollouts and Flagger YAML out (docs/interop.md).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use scenarios::Diagnostic;
use scenarios::import::{self, Input, Options, Tool};
use sim_core::time::{SimDuration, parse_duration};

use crate::{Failure, Io, write_atomic};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImportFrom {
    /// Rollout, AnalysisTemplate, ClusterAnalysisTemplate, Experiment, AnalysisRun.
    Argo,
    /// Canary, MetricTemplate.
    Flagger,
    /// A Kayenta canary config (JSON or YAML).
    Kayenta,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportTo {
    /// An Argo Rollout and its AnalysisTemplates.
    Argo,
    /// A Flagger Canary and its MetricTemplates.
    Flagger,
}

fn duration(s: &str) -> Result<SimDuration, String> {
    parse_duration(s)
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The tool the files are written for.
    pub tool: ImportFrom,
    /// The files: several at once so a Rollout finds its templates (multi-document YAML is fine).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the policy here (through a temporary file) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A mapping file of query patterns to aviary metrics: [[query]] match = "regex", metric = "...", unit = "...".
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// How long the modelled human takes to resume an indefinite pause, a Job metric or a manual promotion.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration)]
    pub resume_after: SimDuration,
    /// How long a webhook gate (Flagger's confirm-* webhooks) holds the schedule.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = duration)]
    pub webhook_delay: SimDuration,
    /// The percent of users a Flagger A/B test's match selects.
    #[arg(long, value_name = "PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub ab_share: u32,
    /// The share of requests mirrored to a blue-green preview fleet (Argo's preview service, Flagger's blue-green).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1)]
    pub preview_share: f64,
    /// Kayenta: the Spinnaker stage's lifetime.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    pub lifetime: SimDuration,
    /// Kayenta: the stage's analysis interval (default: one analysis over the lifetime).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub analysis_interval: Option<SimDuration>,
    /// Kayenta: the stage's beginCanaryAnalysisAfterMins.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub begin_after: SimDuration,
    /// Kayenta: the stage's lookbackMins (default: each interval judges everything since the analysis began).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub lookback: Option<SimDuration>,
    /// Kayenta: the stage's baselineAnalysisOffsetInMins.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub baseline_offset: SimDuration,
    /// Kayenta: the canary's share of traffic during the stage.
    #[arg(long, value_name = "PERCENT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub canary_weight: u32,
    /// Kayenta: the run request's pass threshold (default: the config's classifier).
    #[arg(long, value_name = "SCORE", requires = "marginal")]
    pub pass: Option<f64>,
    /// Kayenta: the run request's marginal threshold.
    #[arg(long, value_name = "SCORE", requires = "pass")]
    pub marginal: Option<f64>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The format to write.
    pub tool: ExportTo,
    /// A policy preset, an aviary policy file, or an imported config.
    pub policy: String,
    /// Write the YAML here (through a temporary file) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Leave out, with a warning, what the tool cannot express (a statistical judge, a score) instead of failing.
    #[arg(long)]
    pub lossy: bool,
}

fn usage(file: &str, message: String) -> Failure {
    Failure::Input(vec![Diagnostic {
        file: file.to_owned(),
        line: 0,
        key: String::new(),
        message,
        ..Default::default()
    }])
}

pub fn run_import(a: ImportArgs, io: &mut Io<'_>) -> Result<String, Failure> {
    if !(0.0..=1.0).contains(&a.preview_share) || a.preview_share == 0.0 {
        return Err(Failure::Usage(format!(
            "--preview-share {} must be in (0, 1]",
            a.preview_share
        )));
    }
    let tool = match a.tool {
        ImportFrom::Argo => Tool::Argo,
        ImportFrom::Flagger => Tool::Flagger,
        ImportFrom::Kayenta => Tool::Kayenta,
    };
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for f in &a.files {
        match scenarios::read_file(f) {
            Ok(text) => inputs.push(Input {
                label: f.display().to_string(),
                text,
            }),
            Err(e) => errors.extend(e),
        }
    }
    let map = match &a.map {
        Some(p) => match import::promql::read_map(p) {
            Ok(m) => m,
            Err(e) => {
                errors.extend(e);
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(Failure::Input(errors));
    }
    let opts = Options {
        resume_after: a.resume_after,
        webhook_delay: a.webhook_delay,
        ab_share: a.ab_share,
        preview_share: a.preview_share,
        map,
        stage: import::kayenta::Stage {
            lifetime: a.lifetime,
            interval: a.analysis_interval,
            begin_after: a.begin_after,
            lookback: a.lookback,
            baseline_offset: a.baseline_offset,
            weight: a.canary_weight,
            pass: a.pass,
            marginal: a.marginal,
        },
    };
    let imported = import::import(tool, &inputs, &opts).map_err(Failure::Input)?;
    for w in &imported.warnings {
        let _ = writeln!(io.err, "warning: {w}");
    }
    match a.out {
        Some(path) => {
            write_atomic(&path, imported.toml.as_bytes())?;
            Ok(String::new())
        }
        None => Ok(imported.toml),
    }
}

pub fn run_export(a: ExportArgs) -> Result<String, Failure> {
    let policy = scenarios::load_policy(&a.policy).map_err(Failure::Input)?;
    let exported = match a.tool {
        ExportTo::Argo => import::export::argo(&policy, &a.policy, a.lossy),
        ExportTo::Flagger => import::export::flagger(&policy, &a.policy, a.lossy),
    }
    .map_err(Failure::Input)?;
    import::keep_warnings(exported.warnings);
    match a.out {
        Some(path) => {
            write_atomic(&path, exported.yaml.as_bytes()).map_err(|e| match e {
                Failure::Usage(m) => usage(&path.display().to_string(), m),
                other => other,
            })?;
            Ok(String::new())
        }
        None => Ok(exported.yaml),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RetroFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ReplayMetricsArgs {
    /// The policy to replay: a preset, an aviary policy file, or an Argo/Flagger/Kayenta file.
    pub policy: String,
    /// Per-interval monitoring data: time,metric,canary,baseline[,canary_requests,baseline_requests] (docs/interop.md).
    #[arg(long, value_name = "FILE.csv")]
    pub metrics: PathBuf,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long)]
    pub format: Option<RetroFormat>,
}

fn number(x: Option<f64>) -> serde_json::Value {
    x.map_or(serde_json::Value::Null, |v| serde_json::json!((v * 1e6).round() / 1e6))
}

fn command_name(c: &sim_core::command::Command) -> &'static str {
    c.name()
}

pub fn run_replay_metrics(a: ReplayMetricsArgs, io: &mut Io<'_>) -> Result<String, Failure> {
    use sim_core::retro::{self, Outcome};
    use sim_core::timeline::Event;
    let policy = scenarios::load_policy(&a.policy).map_err(Failure::Input)?;
    if let Some(why) = retro::unsupported(&policy) {
        return Err(usage(
            &a.policy,
            format!("cannot replay this policy over recorded data: {why}"),
        ));
    }
    let label = a.metrics.display().to_string();
    let data = scenarios::metrics_csv::read(&a.metrics, policy.analysis.min_requests).map_err(Failure::Input)?;
    if !data.has_requests {
        import::keep_warnings(vec![Diagnostic {
            file: label.clone(),
            line: 1,
            key: "canary_requests".to_owned(),
            message: format!(
                "no canary_requests and baseline_requests columns: every interval counts as {} requests (min_requests), so the request gate always passes and event-counting judges see that many",
                policy.analysis.min_requests.max(1)
            ),
            ..Default::default()
        }]);
    }
    let result = retro::analyse(&policy, &data.intervals).map_err(|why| usage(&a.policy, why))?;
    let (decision, at, metric, why) = match &result.outcome {
        Outcome::Decided { at, command, metric } => (
            command_name(command),
            *at,
            *metric,
            format!(
                "{} at {at}{}",
                match command_name(command) {
                    "hold" => "the policy would have held the rollout for a human",
                    "rollback" => "the policy would have rolled back",
                    other => other,
                },
                metric.map_or(String::new(), |m| format!(", prompted by {}", m.name()))
            ),
        ),
        Outcome::Promoted { at } => (
            "promote",
            *at,
            None,
            format!("every step passed: the policy would have promoted at {at}"),
        ),
        Outcome::Undecided { until, step } => (
            "none",
            *until,
            None,
            format!(
                "the data ends at {until}{} with no decision",
                step.map_or(String::new(), |s| format!(
                    " in step {s} ({} %)",
                    policy.steps[s].weight
                ))
            ),
        ),
    };
    let table = a
        .format
        .map_or(io.stdout_is_terminal, |f| matches!(f, RetroFormat::Table));
    if table {
        let mut out = format!(
            "replay of {} over {label}: {} intervals\n\n",
            policy.name,
            data.intervals.len()
        );
        for (t, e) in &result.events {
            match e {
                Event::Analysis { measurements } => {
                    for m in measurements {
                        let v = |x: Option<f64>| {
                            x.map_or("no data".to_owned(), |x| {
                                format!("{x:.6}").trim_end_matches('0').trim_end_matches('.').to_owned()
                            })
                        };
                        out.push_str(&format!(
                            "  {t}  {:<16} canary {:>10}  baseline {:>10}  {:<12} failures {}\n",
                            m.metric.name(),
                            v(m.candidate),
                            v(m.stable),
                            m.verdict.name(),
                            m.failures
                        ));
                    }
                }
                Event::AnalysisFailed { metric, .. } => {
                    out.push_str(&format!("  {t}  analysis failed on {}\n", metric.name()))
                }
                Event::AnalysisInconclusive { metric } => out.push_str(&format!(
                    "  {t}  analysis inconclusive on {} (past inconclusive_limit)\n",
                    metric.name()
                )),
                Event::BlindStep { step } => {
                    out.push_str(&format!("  {t}  blind step {step:?}: every analysis inconclusive\n"))
                }
                _ => {}
            }
        }
        out.push_str(&format!("\n{why}\n"));
        return Ok(out);
    }
    let analyses: Vec<serde_json::Value> = result
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Analysis { measurements } => Some(serde_json::json!({
                "t_s": t.as_secs_f64(),
                "measurements": measurements.iter().map(|m| serde_json::json!({
                    "metric": m.metric.name(),
                    "canary": number(m.candidate),
                    "baseline": number(m.stable),
                    "canary_requests": m.candidate_requests,
                    "verdict": m.verdict.name(),
                    "failures": m.failures,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        })
        .collect();
    let v = reports::document(serde_json::json!({
        "policy": policy.name,
        "metrics": label,
        "intervals": data.intervals.len(),
        "decision": decision,
        "at_s": at.as_secs_f64(),
        "metric": metric.map(|m| m.name()),
        "summary": why,
        "analyses": analyses,
    }));
    Ok(format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()))
}
