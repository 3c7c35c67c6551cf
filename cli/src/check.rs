//! `aviary check`: a policy's suite scores against the accepted baseline
//! (or against another policy on the same seeds), for CI.

use std::io::Write;
use std::path::{Path, PathBuf};

use scenarios::baseline::{self, Baseline, Entry};
use sim_core::batch::Pair;
use sim_core::check::{Figures, Finding, Pairing, Setup, Tolerance, check_scenario, tolerance_in};
use sim_core::compare::Score;
use sim_core::model::Policy;

use crate::compare::plan;
use crate::{Failure, Io, preflight, run_pairs, write_atomic};

/// The baseline file a check reads and `--update` writes when none is named.
pub const DEFAULT_BASELINE: &str = "aviary-baseline.json";

#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// A suite file, or built-in scenario names and scenario files [default: the whole built-in catalog].
    inputs: Vec<String>,
    /// The policy checked (a preset name or a file) [default: the suite's one policy].
    #[arg(long)]
    policy: Option<String>,
    /// The accepted results to compare with [default: aviary-baseline.json].
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Compare with this policy run on the same seeds instead of a stored
    /// baseline (a pull request: the main branch's policy against the changed one).
    #[arg(long, value_name = "POLICY", conflicts_with_all = ["baseline", "update"])]
    baseline_policy: Option<String>,
    /// Run the policy and write its results as the accepted baseline.
    #[arg(long)]
    update: bool,
    /// Runs per scenario [default: the baseline's, else the suite's, else 100].
    #[arg(long)]
    seeds: Option<u64>,
    /// Master seed [default: the baseline's, else the suite's, else 1]; another
    /// seed than the baseline's makes the comparison unpaired.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads [default: all cores]; results are identical for any count.
    #[arg(long)]
    threads: Option<usize>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<CheckFormat>,
    /// Also write a JUnit XML report (a test case per scenario × score).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the Markdown summary [default: appended to
    /// $GITHUB_STEP_SUMMARY when that is set].
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Also write a plain-text snapshot: one line per scenario × score, which
    /// changes only when that result changed.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// No progress bar (it shows only when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
    /// Run only shard I of N (0-based) of the check's runs and print a part for `aviary merge`, which runs the comparison, prints the report and exits as the check would; `auto` reads the shard from the environment (see `batch --shard`).
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<String>,
    /// The shard count for --shard auto where the engine does not tell it.
    #[arg(long, value_name = "N")]
    shard_count: Option<u64>,
    /// Finish a part an interrupt left in FILE.incomplete (with --shard and --output FILE): the kept
    /// runs are checked against this command's and the rest run, into the uninterrupted part.
    #[arg(long, requires = "shard")]
    resume: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Table,
    Json,
    Markdown,
}

fn hash(text: &str) -> String {
    format!("{:016x}", sim_core::rng::content_hash(text.as_bytes()))
}

/// What the engine draws, as a hash of one fixed reference run: two
/// builds with the same fingerprint give the same runs, so a baseline from
/// an engine whose random stream changed is compared unpaired.
fn engine_fingerprint() -> String {
    let scenario = scenarios::load_scenario("checkout-error-spike").expect("built-in scenario");
    let policy = scenarios::load_policy("default").expect("built-in policy");
    let runs = sim_core::batch::run_batch(
        &[Pair {
            scenario: &scenario,
            policy: &policy,
        }],
        2,
        1,
        &|| {},
    );
    let text = serde_json::to_string(&runs).expect("runs serialise");
    hash(&text)
}

/// A shell word: quoted when it holds anything but plain characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:+,".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn reproduce(scenario_arg: &str, policy_arg: &str, seed: u64, run: u64) -> String {
    format!(
        "aviary run {} --policy {} --seed {seed} --run {run}",
        shell_word(scenario_arg),
        shell_word(policy_arg)
    )
}

pub(crate) fn run(
    a: CheckArgs,
    io: &mut Io<'_>,
    output: Option<&Path>,
    source: &crate::RunSource,
) -> Result<String, Failure> {
    let policies: Vec<String> = a.policy.iter().cloned().collect();
    let stored = match (&a.baseline_policy, a.update) {
        (None, false) => {
            let path = a.baseline.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_BASELINE));
            let label = path.display().to_string();
            let text = scenarios::read_file(&path).map_err(|d| {
                if path.exists() {
                    Failure::Input(d)
                } else {
                    Failure::Usage(format!(
                        "no baseline {label}: write one with `aviary check … --update`, or compare two policies with --baseline-policy OLD"
                    ))
                }
            })?;
            Some((label.clone(), baseline::read(&label, &text).map_err(Failure::Input)?))
        }
        _ => None,
    };
    let seeds = a.seeds.or(stored.as_ref().map(|(_, b)| b.seeds));
    let seed = a.seed.or(stored.as_ref().map(|(_, b)| b.seed));
    let plan = plan(&a.inputs, &policies, seeds, seed)?;
    let (policy_arg, policy) = match plan.policies.as_slice() {
        [one] => one.clone(),
        [] => (
            "default".to_owned(),
            scenarios::load_policy("default").map_err(Failure::Input)?,
        ),
        many => {
            return Err(Failure::Usage(format!(
                "check takes one policy (--policy P); the suite names {}",
                many.len()
            )));
        }
    };
    let old = match &a.baseline_policy {
        Some(arg) => Some((arg.clone(), scenarios::load_policy(arg).map_err(Failure::Input)?)),
        None => None,
    };
    let mut names: Vec<&str> = Vec::new();
    for (label, sc) in &plan.scenarios {
        if names.contains(&sc.name.as_str()) {
            return Err(Failure::Usage(format!(
                "two scenarios are named {:?} ({label} is the second); a check keys its baseline by scenario name",
                sc.name
            )));
        }
        names.push(&sc.name);
    }
    let mut diagnostics = Vec::new();
    for (label, sc) in &plan.scenarios {
        preflight((label, sc), (&policy_arg, &policy), &mut diagnostics, io);
        if let Some((old_arg, old_policy)) = &old {
            preflight((label, sc), (old_arg, old_policy), &mut diagnostics, io);
        }
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    let scenario_hashes: Vec<String> = plan
        .scenarios
        .iter()
        .map(|(label, _)| scenarios::source(label, true).map(|(_, text, _)| hash(&text)))
        .collect::<Result<_, _>>()
        .map_err(Failure::Input)?;
    let (_, policy_text, _) = scenarios::source(&policy_arg, false).map_err(Failure::Input)?;
    let suite = plan.suite.clone().unwrap_or_default();

    let sides: Vec<&Policy> = match &old {
        Some((_, o)) => vec![o, &policy],
        None => vec![&policy],
    };
    let pairs: Vec<Pair<'_>> = plan
        .scenarios
        .iter()
        .flat_map(|(_, sc)| {
            sides.iter().map(move |p| Pair {
                scenario: sc,
                policy: p,
            })
        })
        .collect();
    let named = plan
        .scenarios
        .iter()
        .flat_map(|(label, _)| sides.iter().map(move |p| (label.clone(), p.name.clone())))
        .collect();
    let part = crate::PartOf {
        resume: a.resume,
        ..crate::PartOf::of_command("check", source, (plan.seeds, plan.seed), named, (a.threads, a.quiet))
    };
    if let Some(text) = &a.shard {
        let shard = crate::shard::Shard::parse(text, a.shard_count)?;
        return crate::write_part(&part, shard, &pairs, io, output);
    }
    source.check_key(&part, &pairs)?;
    let grouped = match source.take(0..pairs.len()) {
        Some(runs) => runs,
        None => run_pairs(&pairs, plan.seeds, plan.seed, a.threads, a.quiet, io)?,
    };
    let current: Vec<Figures> = grouped
        .chunks(sides.len())
        .map(|g| Figures::of(&g[sides.len() - 1]))
        .collect();
    let engine = engine_fingerprint();

    if a.update {
        let path = a.baseline.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_BASELINE));
        let b = Baseline {
            aviary: env!("CARGO_PKG_VERSION").to_owned(),
            engine,
            suite,
            policy: policy.name.clone(),
            policy_hash: hash(&policy_text),
            seed: plan.seed,
            seeds: plan.seeds,
            scenarios: plan
                .scenarios
                .iter()
                .zip(&scenario_hashes)
                .zip(current)
                .map(|(((_, sc), h), figures)| Entry {
                    scenario: sc.name.clone(),
                    scenario_hash: h.clone(),
                    figures,
                })
                .collect(),
        };
        let text = baseline::write(&b);
        let same = std::fs::read_to_string(&path).is_ok_and(|t| t == text);
        write_atomic(&path, text.as_bytes())?;
        return Ok(format!(
            "{} {}: policy {}, {} scenarios × {} runs (seed {})\n",
            if same { "unchanged:" } else { "wrote" },
            path.display(),
            policy.name,
            b.scenarios.len(),
            b.seeds,
            b.seed
        ));
    }

    // The other side of every scenario, and whether it pairs.
    let mut notes = Vec::new();
    let mut others: Vec<Option<(Figures, Pairing)>> = Vec::new();
    let against = match (&old, &stored) {
        (Some((old_arg, _)), _) => {
            for g in grouped.chunks(2) {
                others.push(Some((Figures::of(&g[0]), Pairing::Paired)));
            }
            format!("policy {old_arg} on the same seeds")
        }
        (None, Some((label, b))) => {
            if b.engine != engine {
                notes.push(format!(
                    "{label} was written by an engine that draws differently (aviary {}); compared unpaired — accept the new runs with --update",
                    b.aviary
                ));
            }
            if b.seed != plan.seed || b.seeds != plan.seeds {
                notes.push(format!(
                    "the baseline has seed {} × {} runs, this check seed {} × {}: compared unpaired",
                    b.seed, b.seeds, plan.seed, plan.seeds
                ));
            }
            let same_draws = b.engine == engine && b.seed == plan.seed && b.seeds == plan.seeds;
            for ((_, sc), h) in plan.scenarios.iter().zip(&scenario_hashes) {
                match b.scenarios.iter().find(|e| e.scenario == sc.name) {
                    None => {
                        notes.push(format!(
                            "no baseline for scenario {}: not checked (accept it with --update)",
                            sc.name
                        ));
                        others.push(None);
                    }
                    Some(e) => {
                        if &e.scenario_hash != h {
                            notes.push(format!(
                                "scenario {} changed since the baseline: compared unpaired",
                                sc.name
                            ));
                        }
                        let paired = same_draws && &e.scenario_hash == h;
                        let pairing = if paired { Pairing::Paired } else { Pairing::Unpaired };
                        others.push(Some((e.figures.clone(), pairing)));
                    }
                }
            }
            for e in &b.scenarios {
                if !plan.scenarios.iter().any(|(_, sc)| sc.name == e.scenario) {
                    notes.push(format!("the baseline's scenario {} is not in this check", e.scenario));
                }
            }
            format!("baseline {label} (policy {})", b.policy)
        }
        (None, None) => unreachable!("a check without --update has a baseline or a baseline policy"),
    };
    let tolerance = |score: Score| -> Tolerance { tolerance_in(&plan.tolerance, score) };
    let comparisons = others.iter().flatten().count() * Score::ALL.len();
    let mut findings: Vec<(Finding, bool, String)> = Vec::new();
    for (((label, sc), cur), other) in plan.scenarios.iter().zip(&current).zip(&others) {
        let Some((base, pairing)) = other else { continue };
        let setup = Setup {
            scenario: &sc.name,
            pairing: *pairing,
            seed: plan.seed,
            comparisons,
            tolerance: &tolerance,
        };
        for f in check_scenario(&setup, base, cur) {
            findings.push((f, *pairing == Pairing::Paired, label.clone()));
        }
    }
    let rows = findings
        .iter()
        .map(|(f, paired, label)| reports::check::Row {
            finding: f,
            paired: *paired,
            reproduce: f.worst_run.map(|r| reproduce(label, &policy_arg, plan.seed, r)),
        })
        .collect();
    let report = reports::check::Report {
        suite: match (suite.is_empty(), a.inputs.is_empty()) {
            (false, _) => &suite,
            (true, true) => "the built-in catalog",
            (true, false) => "the scenarios given",
        },
        policy: &policy_arg,
        against,
        seeds: plan.seeds,
        seed: plan.seed,
        rows,
        notes,
    };
    let markdown = reports::check::check_markdown(&report);
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(path) = &a.junit {
        files.push((
            path.clone(),
            reports::check::check_junit(&report)
                .map_err(Failure::Usage)?
                .into_bytes(),
        ));
    }
    if let Some(path) = &a.snapshot {
        files.push((path.clone(), reports::check::check_snapshot(&report).into_bytes()));
    }
    let step_summary = match &a.summary {
        Some(path) => {
            files.push((path.clone(), markdown.clone().into_bytes()));
            None
        }
        None => std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()),
    };
    for (path, bytes) in &files {
        write_atomic(path, bytes)?;
    }
    if let Some(path) = step_summary {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{markdown}\n").as_bytes()));
        appended.map_err(|e| {
            Failure::Usage(format!(
                "cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            ))
        })?;
    }
    let format = a.format.unwrap_or(if io.stdout_is_terminal {
        CheckFormat::Table
    } else {
        CheckFormat::Json
    });
    let out = match format {
        CheckFormat::Table => reports::check::check_table(&report),
        CheckFormat::Json => crate::pretty(&reports::check::check_json(&report)),
        CheckFormat::Markdown => markdown,
    };
    if report.passed() {
        Ok(out)
    } else {
        let n = report.regressions();
        Err(Failure::Failed {
            out,
            message: format!(
                "aviary check: {n} regression{} beyond tolerance",
                if n == 1 { "" } else { "s" }
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("examples/ci/canary.toml"), "examples/ci/canary.toml");
        assert_eq!(shell_word("my policy.toml"), "'my policy.toml'");
        assert_eq!(shell_word("it's.toml"), "'it'\\''s.toml'");
    }
}
