//! `aviary sweep`: a grid over policy (and scenario) keys, every cell on
//! the same seeds, scored over the whole suite.

use scenarios::suite::Objective;
use scenarios::vary::{self, Target, Vary};
use sim_core::batch::{Pair, summarise};
use sim_core::model::{Policy, Scenario};
use sim_core::sweep::{SuiteScores, pareto, suite_scores};

use crate::compare::plan;
use crate::{Failure, Io, Runner, preflight};
use sim_core::score::RunResult;

#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
    /// A suite file, or built-in scenario names and scenario files [default: the whole built-in catalog].
    inputs: Vec<String>,
    /// A grid axis: KEY=V1,V2,… over a policy key (analysis.checks[0].max_increase=0.005,0.01) or,
    /// with a `scenario.` prefix, a key of every scenario (scenario.traffic.rps=100,1000); repeat for more axes.
    #[arg(long, required = true, value_name = "KEY=V1,V2,...")]
    vary: Vec<String>,
    /// The policy to vary (a preset name or a file) [default: the suite's one policy, else default].
    #[arg(long)]
    policy: Option<String>,
    /// Runs per scenario and cell [default: the suite's, else 100].
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
    format: Option<SweepFormat>,
    /// No progress bar (it shows only when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
    /// Also write the report into DIR: sweep.json, sweep.csv, the Pareto
    /// front and heatmaps (PNG), and index.html embedding them.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// Finish an interrupted sweep written with --out DIR: the cells kept
    /// in DIR are read back, the rest run, and the report is the one an
    /// uninterrupted sweep writes (same arguments required).
    #[arg(long, value_name = "DIR")]
    resume: Option<std::path::PathBuf>,
    /// Run only shard I of N (0-based) of the sweep's runs and print a part for `aviary merge`, which prints the sweep; `auto` reads the shard from the environment (see `batch --shard`).
    #[arg(long, value_name = "I/N|auto", conflicts_with_all = ["out", "resume"])]
    shard: Option<String>,
    /// The shard count for --shard auto where the engine does not tell it.
    #[arg(long, value_name = "N")]
    shard_count: Option<u64>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
enum SweepFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

/// One cell before it runs.
struct CellInput {
    vary: Vec<(String, String)>,
    policy: Policy,
    /// `None`: the suite's scenarios unchanged.
    scenarios: Option<Vec<Scenario>>,
}

/// Every assignment of the axes, the first axis slowest.
fn grid(axes: &[Vary]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..axis.values.len()).map(move |i| {
                    let mut p = prefix.clone();
                    p.push(i);
                    p
                })
            })
            .collect();
    }
    out
}

/// The text of `base` with every axis of `target` set to its value in
/// `cell`, read again; an error names the `--vary` argument and the value.
fn edited(base: &str, axes: &[Vary], cell: &[usize], target: Target) -> Result<String, String> {
    let mut text = base.to_owned();
    for (axis, &i) in axes.iter().zip(cell) {
        if axis.target == target {
            let v = &axis.values[i];
            text = vary::set(&text, &axis.path, v).map_err(|e| format!("--vary {}: value {v:?}: {e}", axis.arg))?;
        }
    }
    Ok(text)
}

fn diagnostics_message(axes: &[Vary], cell: &[usize], target: Target, d: &[scenarios::Diagnostic]) -> String {
    let which: Vec<String> = axes
        .iter()
        .zip(cell)
        .filter(|(a, _)| a.target == target)
        .map(|(a, &i)| format!("{}={}", a.key, a.values[i]))
        .collect();
    let problems: Vec<String> = d
        .iter()
        .map(|d| {
            if d.key.is_empty() {
                d.message.clone()
            } else {
                format!("key '{}': {}", d.key, d.message)
            }
        })
        .collect();
    let args: Vec<&str> = axes
        .iter()
        .filter(|a| a.target == target)
        .map(|a| a.arg.as_str())
        .collect();
    format!(
        "--vary {}: with {} the file does not validate: {}",
        args.join(" --vary "),
        which.join(", "),
        problems.join("; ")
    )
}

fn objective_text(o: &Objective) -> String {
    let mut s = format!("minimise {}", o.minimise);
    if !o.subject_to.is_empty() {
        let c: Vec<String> = o
            .subject_to
            .iter()
            .map(|c| format!("{} {} {}", c.score, c.cmp.symbol(), c.bound))
            .collect();
        s.push_str(&format!(" subject to {}", c.join(", ")));
    }
    s
}

/// The best cell that meets every constraint; the lowest index on a tie.
fn winner(cells: &[SuiteScores], o: &Objective) -> Option<usize> {
    let feasible = |s: &SuiteScores| {
        o.subject_to
            .iter()
            .all(|c| s.get(&c.score).is_some_and(|v| c.cmp.holds(v, c.bound)))
    };
    let mut best: Option<(usize, f64)> = None;
    for (i, s) in cells.iter().enumerate() {
        let Some(v) = s.get(&o.minimise).filter(|_| feasible(s)) else {
            continue;
        };
        if best.is_none_or(|(_, b)| v < b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

pub(crate) fn run(
    a: SweepArgs,
    io: &mut Io<'_>,
    output: Option<&std::path::Path>,
    source: &crate::RunSource,
) -> Result<String, Failure> {
    let axes: Vec<Vary> = a
        .vary
        .iter()
        .map(|v| vary::parse(v))
        .collect::<Result<_, _>>()
        .map_err(Failure::Usage)?;
    let policies: Vec<String> = a.policy.iter().cloned().collect();
    let mut plan = plan(&a.inputs, &policies, a.seeds, a.seed)?;
    if plan.policies.is_empty() {
        plan.policies.push((
            "default".to_owned(),
            scenarios::load_policy("default").map_err(Failure::Input)?,
        ));
    }
    let [(policy_arg, base_policy)] = plan.policies.as_slice() else {
        return Err(Failure::Usage(format!(
            "sweep varies one policy; the suite names {}: choose one with --policy",
            plan.policies.len()
        )));
    };
    let objective = suite_objective(&a.inputs)?;
    let (policy_label, policy_text, _) = scenarios::source(policy_arg, false).map_err(Failure::Input)?;
    let scenario_texts: Vec<_> = plan
        .scenarios
        .iter()
        .map(|(arg, _)| scenarios::source(arg, true))
        .collect::<Result<_, _>>()
        .map_err(Failure::Input)?;
    let varies_scenarios = axes.iter().any(|x| x.target == Target::Scenario);
    // Build and validate every cell before anything runs.
    let mut cells = Vec::new();
    for cell in grid(&axes) {
        let text = edited(&policy_text, &axes, &cell, Target::Policy).map_err(Failure::Usage)?;
        let policy = scenarios::parse_policy(&policy_label, &text)
            .map_err(|d| Failure::Usage(diagnostics_message(&axes, &cell, Target::Policy, &d)))?;
        let scenarios = if varies_scenarios {
            let mut list = Vec::new();
            for (label, base, dir) in &scenario_texts {
                let text = edited(base, &axes, &cell, Target::Scenario).map_err(Failure::Usage)?;
                let sc = scenarios::parse_scenario_in(label, &text, dir.as_deref())
                    .map_err(|d| Failure::Usage(diagnostics_message(&axes, &cell, Target::Scenario, &d)))?;
                list.push(sc);
            }
            Some(list)
        } else {
            None
        };
        let vary = axes
            .iter()
            .zip(&cell)
            .map(|(x, &i)| (x.key.clone(), x.values[i].clone()))
            .collect();
        cells.push(CellInput {
            vary,
            policy,
            scenarios,
        });
    }
    let base_scenarios: Vec<&Scenario> = plan.scenarios.iter().map(|(_, s)| s).collect();
    let mut diagnostics = Vec::new();
    let mut warned = std::collections::BTreeSet::new();
    for c in &cells {
        let list: Vec<&Scenario> = c
            .scenarios
            .as_ref()
            .map_or(base_scenarios.clone(), |l| l.iter().collect());
        for ((arg, _), sc) in plan.scenarios.iter().zip(list) {
            let mut err = Vec::new();
            let mut sink = Vec::new();
            let mut quiet = Io {
                out: &mut sink,
                err: &mut err,
                stdout_is_terminal: false,
                stderr_is_terminal: false,
            };
            preflight((arg, sc), (policy_arg, &c.policy), &mut diagnostics, &mut quiet);
            // Each distinct warning once, however many cells share it.
            for line in String::from_utf8_lossy(&err).lines() {
                if warned.insert(line.to_owned()) {
                    let _ = writeln!(io.err, "{line}");
                }
            }
        }
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    // Every cell's pairs, then the base policy's (for the winner's paired
    // difference).
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    for c in &cells {
        let list: Vec<&Scenario> = c
            .scenarios
            .as_ref()
            .map_or(base_scenarios.clone(), |l| l.iter().collect());
        pairs.extend(list.into_iter().map(|scenario| Pair {
            scenario,
            policy: &c.policy,
        }));
    }
    let with_base = objective.is_some() && !varies_scenarios;
    // A cell that is the base policy itself (the grid holds the unvaried
    // values) already has the base's runs: the same policy on the same
    // seeds gives the same results.
    let base_is_cell = if with_base {
        cells.iter().position(|c| c.policy == *base_policy)
    } else {
        None
    };
    if with_base && base_is_cell.is_none() {
        pairs.extend(base_scenarios.iter().map(|scenario| Pair {
            scenario,
            policy: base_policy,
        }));
    }
    let per_cell = plan.scenarios.len();
    let out_dir = match (&a.out, &a.resume) {
        (Some(o), Some(r)) if o != r => {
            return Err(Failure::Usage(format!(
                "--out {} and --resume {} name different folders; --resume writes the report where it resumes",
                o.display(),
                r.display()
            )));
        }
        (o, r) => r.clone().or_else(|| o.clone()),
    };
    // One unit per cell, then the base policy's: each runs whole, and with
    // a folder is kept there as it finishes.
    let texts = UnitTexts::new(&policy_text, &scenario_texts, &axes, plan.seeds, plan.seed);
    let units: Vec<(String, String)> = (0..pairs.len() / per_cell)
        .map(|u| {
            let name = if u < cells.len() {
                format!("cell-{u:03}")
            } else {
                "base".to_owned()
            };
            (name, texts.key(cells.get(u).map(|c| c.vary.as_slice())))
        })
        .collect();
    let named = units
        .iter()
        .flat_map(|(name, _)| plan.scenarios.iter().map(move |(arg, _)| (arg.clone(), name.clone())))
        .collect();
    let part = crate::PartOf::of_command("sweep", source, (plan.seeds, plan.seed), named, (a.threads, a.quiet));
    if let Some(text) = &a.shard {
        let shard = crate::shard::Shard::parse(text, a.shard_count)?;
        return crate::write_part(&part, shard, &pairs, io, output);
    }
    crate::interrupt::install("stopping after the cell that is running");
    // Each unit's runs: read back from the folder under --resume, else run.
    let mut finished: Vec<Option<Vec<Vec<RunResult>>>> = vec![None; units.len()];
    for (u, (name, key)) in units.iter().enumerate() {
        if let (Some(dir), true) = (&out_dir, a.resume.is_some())
            && let Some(mut runs) = checkpoint::load(dir, name, key)?
        {
            if runs.len() != per_cell || runs.iter().any(|g| g.len() as u64 != plan.seeds) {
                return Err(Failure::Usage(format!(
                    "cannot resume from {}: {name} holds other runs than this sweep's",
                    dir.display()
                )));
            }
            // The one field a file does not carry: the policy's strategy.
            for (group, pair) in runs.iter_mut().zip(&pairs[u * per_cell..]) {
                for r in group {
                    r.strategy = pair.policy.strategy.name();
                }
            }
            finished[u] = Some(runs);
        }
    }
    source.check_key(&part, &pairs)?;
    if let crate::RunSource::Merged { .. } = source {
        for (u, f) in finished.iter_mut().enumerate() {
            *f = source.take(u * per_cell..(u + 1) * per_cell);
        }
    }
    let todo: Vec<usize> = (0..units.len()).filter(|&u| finished[u].is_none()).collect();
    let runner = Runner::new((todo.len() * per_cell) as u64 * plan.seeds, a.threads, a.quiet, io)?;
    for &u in &todo {
        if crate::interrupt::requested() {
            break;
        }
        let runs = runner.run(
            sim_core::engine::Engine::Aggregated,
            &pairs[u * per_cell..(u + 1) * per_cell],
            plan.seeds,
            plan.seed,
        );
        if let Some(dir) = &out_dir {
            checkpoint::save(dir, &units[u].0, &units[u].1, &runs)?;
        }
        finished[u] = Some(runs);
    }
    runner.finish();
    if let Some(i) = base_is_cell {
        let base = finished[i].clone();
        finished.push(base);
    }
    // Interrupted: the report of the cells that finished, in order.
    let total_cells = cells.len();
    let done = finished[..total_cells].iter().take_while(|f| f.is_some()).count();
    let complete = finished.iter().all(Option::is_some);
    let with_base = with_base && complete;
    cells.truncate(if complete { total_cells } else { done });
    let grouped: Vec<Vec<RunResult>> = finished
        .into_iter()
        .enumerate()
        .filter(|(u, _)| *u < cells.len() || (with_base && *u == total_cells))
        .flat_map(|(_, f)| f.expect("finished"))
        .collect();
    let mut out_cells = Vec::new();
    for (i, c) in cells.into_iter().enumerate() {
        let groups = &grouped[i * per_cell..(i + 1) * per_cell];
        let refs: Vec<&[sim_core::score::RunResult]> = groups.iter().map(Vec::as_slice).collect();
        let label: Vec<String> = c.vary.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out_cells.push(reports::sweep::Cell {
            scores: suite_scores(&refs, &label.join("\u{0}")),
            groups: groups.iter().map(|g| summarise(g)).collect(),
            vary: c.vary,
        });
    }
    let scores: Vec<SuiteScores> = out_cells.iter().map(|c| c.scores.clone()).collect();
    let front = pareto(&scores);
    let win = objective.as_ref().and_then(|o| winner(&scores, o));
    let mut verdicts = Vec::new();
    let mut winner_vs_base = None;
    if let (Some(w), true) = (win, with_base) {
        let base_groups = &grouped[grouped.len() - per_cell..];
        let differences: Vec<_> = (0..per_cell)
            .flat_map(|s| sim_core::compare::compare(&base_groups[s], &grouped[w * per_cell + s]))
            .collect();
        let cell_name: Vec<String> = out_cells[w].vary.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cell_name = format!("cell {w} ({})", cell_name.join(", "));
        let c = reports::compare::Comparison {
            a: &base_policy.name,
            b: "the winner",
            seeds: plan.seeds,
            seed: plan.seed,
            differences: &differences,
        };
        verdicts.push(format!(
            "winner: {cell_name}; against {} on the same seeds:",
            base_policy.name
        ));
        verdicts.extend(reports::compare::verdicts(&c));
        winner_vs_base = Some(reports::compare::compare_json(&c));
    } else if objective.is_some() && win.is_none() {
        verdicts.push("no cell meets every constraint of the objective".to_owned());
    }
    let s = reports::sweep::Sweep {
        policy: &base_policy.name,
        seeds: plan.seeds,
        seed: plan.seed,
        cells: &out_cells,
        pareto: &front,
        winner: win,
        objective: objective.as_ref().map(objective_text),
        winner_vs_base,
        verdicts,
        incomplete: (!complete).then_some((done, total_cells)),
    };
    if let Some(dir) = &out_dir {
        let files = reports::sweep::sweep_report(&s).map_err(Failure::Usage)?;
        crate::write_dir(dir, &files)?;
    }
    if !complete {
        let kept = match &out_dir {
            Some(dir) => format!(
                "the finished cells are kept in {d} and the report there is marked incomplete; \
                 run the same command with --resume {d} to finish",
                d = dir.display()
            ),
            None => "nothing was kept (give --out DIR to keep finished cells)".to_owned(),
        };
        return Err(Failure::Interrupted(format!(
            "{done} of {total_cells} cells finished; {kept}"
        )));
    }
    let format = a.format.unwrap_or(if io.stdout_is_terminal {
        SweepFormat::Table
    } else {
        SweepFormat::Json
    });
    Ok(match format {
        SweepFormat::Table => reports::sweep::sweep_table(&s),
        SweepFormat::Json => crate::pretty(&reports::sweep::sweep_json(&s)),
        SweepFormat::Markdown => reports::sweep::sweep_markdown(&s),
        SweepFormat::Csv => reports::sweep::sweep_csv(&s).map_err(|e| Failure::Usage(e.to_string()))?,
    })
}

/// The objective of the suite file among the inputs, if any.
fn suite_objective(inputs: &[String]) -> Result<Option<Objective>, Failure> {
    let [one] = inputs else { return Ok(None) };
    let path = std::path::Path::new(one);
    if !path.is_file() {
        return Ok(None);
    }
    let text = scenarios::read_file(path).map_err(Failure::Input)?;
    if scenarios::FileKind::of(&text) != scenarios::FileKind::Suite {
        return Ok(None);
    }
    Ok(scenarios::load_suite(path).map_err(Failure::Input)?.objective)
}

/// What a cell's runs depend on, hashed: a kept cell is reused only when
/// every input is the same.
struct UnitTexts {
    common: String,
}

impl UnitTexts {
    fn new(
        policy: &str,
        scenarios: &[(String, String, Option<std::path::PathBuf>)],
        axes: &[Vary],
        seeds: u64,
        seed: u64,
    ) -> UnitTexts {
        let mut common = format!(
            "aviary {}\nseeds {seeds}\nseed {seed}\nengine aggregated\npolicy\n{policy}\n",
            env!("CARGO_PKG_VERSION")
        );
        for (label, text, _) in scenarios {
            common.push_str(&format!("scenario {label}\n{text}\n"));
        }
        for x in axes {
            common.push_str(&format!("vary {}\n", x.arg));
        }
        UnitTexts { common }
    }

    /// The key of a cell (its assignment) or of the base policy (`None`).
    fn key(&self, vary: Option<&[(String, String)]>) -> String {
        let mut text = self.common.clone();
        match vary {
            Some(v) => v.iter().for_each(|(k, x)| text.push_str(&format!("cell {k}={x}\n"))),
            None => text.push_str("base\n"),
        }
        format!("{:016x}", sim_core::rng::content_hash(text.as_bytes()))
    }
}

/// The kept cells of `sweep --out DIR`: `DIR/cells/NAME.json`, each the
/// runs of one cell (or of the base policy), written whole as it finishes.
mod checkpoint {
    use std::path::Path;

    use sim_core::score::RunResult;

    use crate::Failure;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Kept {
        key: String,
        runs: Vec<Vec<RunResult>>,
    }

    pub(super) fn save(dir: &Path, name: &str, key: &str, runs: &[Vec<RunResult>]) -> Result<(), Failure> {
        let kept = Kept {
            key: key.to_owned(),
            runs: runs.to_vec(),
        };
        let bytes = serde_json::to_vec(&kept).map_err(|e| Failure::Usage(format!("cannot keep {name}: {e}")))?;
        crate::write_dir(&dir.join("cells"), &[(format!("{name}.json"), bytes)])
    }

    /// The kept runs, if the cell finished before; an error if they were
    /// kept for other inputs or cannot be read.
    pub(super) fn load(dir: &Path, name: &str, key: &str) -> Result<Option<Vec<Vec<RunResult>>>, Failure> {
        let path = dir.join("cells").join(format!("{name}.json"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::Usage(format!("cannot read {}: {e}", path.display()))),
        };
        let kept: Kept = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Usage(format!(
                "cannot resume from {}: not a cell this version of aviary kept ({e})",
                path.display()
            ))
        })?;
        if kept.key != key {
            return Err(Failure::Usage(format!(
                "cannot resume from {}: it was kept for other inputs (suite, policy, --vary, --seeds or --seed differ); \
                 resume with the same arguments, or use a new --out folder",
                path.display()
            )));
        }
        Ok(Some(kept.runs))
    }
}
