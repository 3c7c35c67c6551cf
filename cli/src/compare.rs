//! `aviary compare`: two policies on the same seeds, scenario by scenario.

use std::path::Path;

use scenarios::catalog;
use scenarios::suite::Suite;
use sim_core::batch::Pair;
use sim_core::model::{Policy, Scenario};

use crate::{Failure, Io, MAX_SEEDS, preflight, run_pairs};

#[derive(clap::Args, Debug)]
pub(crate) struct CompareArgs {
    /// A suite file, or built-in scenario names and scenario files [default: the whole built-in catalog].
    inputs: Vec<String>,
    /// The two policies, A then B (preset names or files); a suite's two policies when not given.
    #[arg(long)]
    policy: Vec<String>,
    /// Paired runs per scenario [default: the suite's, else 100].
    #[arg(long)]
    seeds: Option<u64>,
    /// Master seed [default: the suite's, else 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads [default: all cores]; results are identical for any count.
    #[arg(long)]
    threads: Option<usize>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<CompareFormat>,
    /// No progress bar (it shows only when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
    /// Also write the report into DIR: compare.json, compare.csv and index.html.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
enum CompareFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

/// What a command runs: from a suite file, or from names on the command
/// line; flags override the suite's seeds and seed.
pub(crate) struct Plan {
    pub scenarios: Vec<(String, Scenario)>,
    pub policies: Vec<(String, Policy)>,
    pub seeds: u64,
    pub seed: u64,
    /// The suite's name, when the inputs were a suite file.
    pub suite: Option<String>,
    /// The suite's `[check] tolerance` entries.
    pub tolerance: Vec<(sim_core::compare::Score, sim_core::check::Tolerance)>,
}

/// Reads the inputs: one suite file, or scenario names and files.
pub(crate) fn plan(
    inputs: &[String],
    policies: &[String],
    seeds: Option<u64>,
    seed: Option<u64>,
) -> Result<Plan, Failure> {
    let suite_file = match inputs {
        [one] if Path::new(one).is_file() => {
            let text = scenarios::read_file(Path::new(one)).map_err(Failure::Input)?;
            (scenarios::FileKind::of(&text) == scenarios::FileKind::Suite).then(|| one.clone())
        }
        _ => None,
    };
    let mut diagnostics = Vec::new();
    let (mut scenario_list, mut policy_list, mut n, mut s) = (Vec::new(), Vec::new(), 100, 1);
    let (mut suite_name, mut tolerance) = (None, Vec::new());
    if let Some(file) = suite_file {
        let suite: Suite = scenarios::load_suite(Path::new(&file)).map_err(Failure::Input)?;
        suite_name = Some(suite.name);
        tolerance = suite.tolerance;
        scenario_list = suite.scenarios;
        policy_list = suite.policies;
        n = suite.seeds;
        s = suite.seed;
    } else {
        let names: Vec<String> = if inputs.is_empty() {
            catalog::SCENARIOS.iter().map(|b| b.name.to_owned()).collect()
        } else {
            inputs.to_vec()
        };
        for name in names {
            match scenarios::load_scenario(&name) {
                Ok(sc) => scenario_list.push((name, sc)),
                Err(d) => diagnostics.extend(d),
            }
        }
    }
    if !policies.is_empty() {
        policy_list.clear();
        for name in policies {
            match scenarios::load_policy(name) {
                Ok(p) => policy_list.push((name.clone(), p)),
                Err(d) => diagnostics.extend(d),
            }
        }
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    let seeds = seeds.unwrap_or(n);
    if seeds == 0 || seeds > MAX_SEEDS {
        return Err(Failure::Usage(format!(
            "--seeds must be in 1..={MAX_SEEDS}, got {seeds}"
        )));
    }
    Ok(Plan {
        scenarios: scenario_list,
        policies: policy_list,
        seeds,
        seed: seed.unwrap_or(s),
        suite: suite_name,
        tolerance,
    })
}

pub(crate) fn run(a: CompareArgs, io: &mut Io<'_>) -> Result<String, Failure> {
    let plan = plan(&a.inputs, &a.policy, a.seeds, a.seed)?;
    let [(a_name, a_policy), (b_name, b_policy)] = plan.policies.as_slice() else {
        return Err(Failure::Usage(format!(
            "compare needs two policies, A and B (--policy A --policy B, or a suite naming two); got {}",
            plan.policies.len()
        )));
    };
    let mut diagnostics = Vec::new();
    for (label, sc) in &plan.scenarios {
        preflight((label, sc), (a_name, a_policy), &mut diagnostics, io);
        preflight((label, sc), (b_name, b_policy), &mut diagnostics, io);
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    let pairs: Vec<Pair<'_>> = plan
        .scenarios
        .iter()
        .flat_map(|(_, sc)| [a_policy, b_policy].map(|policy| Pair { scenario: sc, policy }))
        .collect();
    let grouped = run_pairs(&pairs, plan.seeds, plan.seed, a.threads, a.quiet, io)?;
    let differences: Vec<_> = grouped
        .chunks(2)
        .flat_map(|ab| sim_core::compare::compare(&ab[0], &ab[1]))
        .collect();
    let c = reports::compare::Comparison {
        a: &a_policy.name,
        b: &b_policy.name,
        seeds: plan.seeds,
        seed: plan.seed,
        differences: &differences,
    };
    if let Some(dir) = &a.out {
        let files = reports::compare::compare_report(&c).map_err(Failure::Usage)?;
        crate::write_dir(dir, &files)?;
    }
    let format = a.format.unwrap_or(if io.stdout_is_terminal {
        CompareFormat::Table
    } else {
        CompareFormat::Json
    });
    Ok(match format {
        CompareFormat::Table => reports::compare::compare_table(&c),
        CompareFormat::Json => crate::pretty(&reports::compare::compare_json(&c)),
        CompareFormat::Markdown => reports::compare::compare_markdown(&c),
        CompareFormat::Csv => reports::compare::compare_csv(&c).map_err(|e| Failure::Usage(e.to_string()))?,
    })
}
