//! `batch --shard I/N` and `aviary merge`: a batch split over processes or
//! machines, and put back together into exactly the bytes the unsharded
//! batch prints.
//!
//! A batch's jobs are numbered in run order (pair by pair, each pair's run
//! indices in order); shard `I` of `N` runs the jobs `I·T/N .. (I+1)·T/N`
//! of the `T` in all. Its output is a part: a header line naming the
//! batch (a hash of every validated scenario and policy, the seeds, the
//! master seed, the engine and the version) and its shard, then one line
//! per run with the run's exact result (floats round-trip). `merge` checks
//! that the parts belong to one batch, that every shard is there once and
//! whole, and renders the batch from the runs with the same code the
//! unsharded batch uses.

use std::io::BufRead as _;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sim_core::score::RunResult;

use crate::{Failure, Io};

/// Which shard a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `--shard I/N` (0-based `I`), or `auto`: the index and count from the
    /// batch engine the process runs under.
    pub(crate) fn parse(text: &str, count_flag: Option<u64>) -> Result<Shard, Failure> {
        let usage = |m: String| Failure::Usage(format!("--shard {text}: {m}"));
        let (index, count) = if text == "auto" {
            auto(count_flag).map_err(usage)?
        } else {
            let (i, n) = text
                .split_once('/')
                .ok_or_else(|| usage("expected I/N (shard I of N, I from 0) or auto".to_owned()))?;
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| usage(format!("{s:?} is not a whole number")))
            };
            (number(i)?, number(n)?)
        };
        if count == 0 || index >= count {
            return Err(usage(format!(
                "shard {index} of {count}: the index must be below the count (0-based)"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The jobs of `total` this shard runs.
    pub(crate) fn jobs(self, total: u64) -> Range<u64> {
        let at = |i: u64| (u128::from(total) * u128::from(i) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// The shard from the environment: a Slurm job array
/// (`SLURM_ARRAY_TASK_ID` from `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`),
/// a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, the count from
/// `--shard-count`), or any other runner through `AVIARY_SHARD_INDEX` and
/// `AVIARY_SHARD_COUNT` (a GitHub Actions matrix sets them).
fn auto(count_flag: Option<u64>) -> Result<(u64, u64), String> {
    let var = |name: &str| -> Result<Option<u64>, String> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{name}={v:?} is not a whole number")),
            Err(_) => Ok(None),
        }
    };
    if let Some(id) = var("SLURM_ARRAY_TASK_ID")? {
        let min = var("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = match count_flag {
            Some(n) => n,
            None => var("SLURM_ARRAY_TASK_COUNT")?
                .ok_or("SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; give --shard-count")?,
        };
        let index = id
            .checked_sub(min)
            .ok_or(format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"))?;
        return Ok((index, count));
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX")? {
        let count = count_flag.ok_or("a Kubernetes Indexed Job does not tell its completions: give --shard-count N")?;
        return Ok((index, count));
    }
    if let Some(index) = var("AVIARY_SHARD_INDEX")? {
        let count = match count_flag {
            Some(n) => n,
            None => var("AVIARY_SHARD_COUNT")?.ok_or("AVIARY_SHARD_INDEX is set but not AVIARY_SHARD_COUNT")?,
        };
        return Ok((index, count));
    }
    Err("no shard in the environment (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or AVIARY_SHARD_INDEX)".to_owned())
}

/// The first line of a part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// Marks the file as a part (and its layout's version).
    pub aviary_shard: u32,
    pub aviary_version: String,
    pub command: String,
    /// A hash of everything the runs depend on: two parts merge only when equal.
    pub key: String,
    pub shard: u64,
    pub shards: u64,
    /// The batch as the unsharded command would print it.
    pub format: String,
    pub seed: u64,
    pub seeds: u64,
    /// The scenario and policy arguments of each pair, in order.
    pub pairs: Vec<(String, String)>,
    /// `--fail-on`, as given.
    pub fail_on: Vec<String>,
    /// `--columns`, as given.
    pub columns: Vec<String>,
    /// The jobs in this part.
    pub jobs: (u64, u64),
    /// A sweep's or a check's own arguments: `merge` runs that command
    /// again over the parts' runs instead of running them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// One run line of a part.
#[derive(Serialize, Deserialize)]
struct Line {
    pair: usize,
    strategy: String,
    result: RunResult,
}

/// A part's run line.
pub(crate) fn run_line(pair: usize, result: &RunResult) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        pair: usize,
        strategy: &'a str,
        result: &'a RunResult,
    }
    let line = Borrowed {
        pair,
        strategy: result.strategy,
        result,
    };
    let mut s = serde_json::to_string(&line).expect("a run result serialises");
    s.push('\n');
    s
}

pub(crate) fn header_line(h: &Header) -> String {
    let mut s = serde_json::to_string(h).expect("a header serialises");
    s.push('\n');
    s
}

#[derive(clap::Args, Debug)]
pub(crate) struct MergeArgs {
    /// The parts written by `batch`, `sweep` or `check --shard I/N` (any order; every shard once).
    #[arg(required = true, value_name = "PART")]
    parts: Vec<std::path::PathBuf>,
    /// Print in this format instead of the one the shards were given: one of the command's own
    /// (a batch: table, json, csv, jsonl; a sweep: table, json, csv, markdown; a check: table, json, markdown).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Also write the report into DIR, as `batch --out DIR` or `sweep --out DIR` does.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

/// A part checked: its header and its file.
type Part = (Header, std::path::PathBuf, String);

/// A part's run lines, read back one at a time: (line number, pair, result).
fn runs_of(
    path: &std::path::Path,
    shown: &str,
    pairs: usize,
) -> Result<impl Iterator<Item = Result<(usize, usize, RunResult), Failure>>, Failure> {
    let file = std::fs::File::open(path).map_err(|e| Failure::Usage(format!("cannot read {shown}: {e}")))?;
    let shown = shown.to_owned();
    Ok(std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .skip(1)
        .map(move |(i, line)| {
            let bad = |m: String| Failure::Usage(format!("{shown}:{}: {m}", i + 1));
            let line = line.map_err(|e| bad(e.to_string()))?;
            let l: Line = serde_json::from_str(&line).map_err(|e| bad(format!("not a run line ({e})")))?;
            if l.pair >= pairs {
                return Err(bad(format!("pair {} of {pairs}", l.pair)));
            }
            // The strategy is not read back by the result itself (a static
            // name): the line carries it beside.
            let mut result = l.result;
            result.strategy = sim_core::model::Strategy::NAMES
                .into_iter()
                .find(|n| *n == l.strategy)
                .ok_or_else(|| bad(format!("unknown strategy {:?}", l.strategy)))?;
            Ok((i + 1, l.pair, result))
        }))
}

/// Reads and checks the parts, every line of each, before anything is
/// printed; returns them in shard order. Nothing of the runs is kept.
fn check(parts: &[std::path::PathBuf]) -> Result<(Header, Vec<Part>), Failure> {
    let mut found: Vec<Part> = Vec::new();
    for path in parts {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Failure::Usage(format!("cannot read {shown}: {e}")))?;
        let bad = |n: usize, m: String| Failure::Usage(format!("{shown}:{n}: {m}"));
        let first = std::io::BufReader::new(file)
            .lines()
            .next()
            .ok_or_else(|| bad(1, "empty: not a part written by `aviary batch --shard`".to_owned()))?
            .map_err(|e| bad(1, e.to_string()))?;
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| bad(1, format!("not a part written by `aviary batch --shard` ({e})")))?;
        if header.aviary_version != env!("CARGO_PKG_VERSION") {
            return Err(bad(
                1,
                format!(
                    "written by aviary {}, merged by {}: run every shard and the merge with one version",
                    header.aviary_version,
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        let mut count = 0u64;
        for run in runs_of(path, &shown, header.pairs.len())? {
            run?;
            count += 1;
        }
        let want = header.jobs.1 - header.jobs.0;
        if count != want {
            return Err(Failure::Usage(format!(
                "{shown}: shard {} of {} holds {count} of its {want} runs: it was interrupted or cut; run that shard again",
                header.shard, header.shards,
            )));
        }
        found.push((header, path.clone(), shown));
    }
    let first = found[0].0.clone();
    for (h, _, shown) in &found {
        if h.key != first.key || h.shards != first.shards || h.command != first.command {
            return Err(Failure::Usage(format!(
                "{shown} is a part of another batch than {} (inputs, seeds, engine or shard count differ)",
                found[0].2
            )));
        }
    }
    found.sort_by_key(|(h, _, _)| h.shard);
    for pair in found.windows(2) {
        if pair[0].0.shard == pair[1].0.shard {
            return Err(Failure::Usage(format!(
                "shard {} of {} is given twice: {} and {}",
                pair[0].0.shard, first.shards, pair[0].2, pair[1].2
            )));
        }
    }
    let missing: Vec<String> = (0..first.shards)
        .filter(|i| !found.iter().any(|(h, _, _)| h.shard == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Failure::Usage(format!(
            "missing shard{} {} of {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            first.shards
        )));
    }
    Ok((first, found))
}

/// `aviary merge PART...`: the batch the parts came from, as it would
/// have printed, read back one run at a time.
pub(crate) fn run_merge(a: MergeArgs, io: &mut Io<'_>, output: Option<&std::path::Path>) -> Result<String, Failure> {
    let (header, parts) = check(&a.parts)?;
    if header.command == "sweep" || header.command == "check" {
        return merge_again(&a, &header, &parts, io, output);
    }
    let named = |what: &str, v: &str| Failure::Usage(format!("the parts name an unknown {what} {v:?}"));
    let format = match a.format.as_deref().unwrap_or(header.format.as_str()) {
        "" if io.stdout_is_terminal => crate::BatchFormat::Table,
        "" => crate::BatchFormat::Json,
        f => <crate::BatchFormat as clap::ValueEnum>::from_str(f, false).map_err(|_| match &a.format {
            Some(given) => Failure::Usage(format!("--format {given:?}: a batch prints table, json, csv or jsonl")),
            None => named("format", f),
        })?,
    };
    let fail_on = header
        .fail_on
        .iter()
        .map(|f| <crate::FailOn as clap::ValueEnum>::from_str(f, false).map_err(|_| named("--fail-on", f)))
        .collect::<Result<Vec<_>, _>>()?;
    let pairs = header.pairs.len();
    let mut gather = crate::Gather::new(format, header.pairs, &fail_on, a.out.is_some());
    for (_, path, shown) in &parts {
        for run in runs_of(path, shown, pairs)? {
            let (_, p, r) = run?;
            gather.push(p, r, &mut *io.out).map_err(Failure::Output)?;
        }
    }
    gather.finish(header.seed, &header.columns, a.out.as_deref(), io)
}

/// A sharded sweep or check: the command run again from the arguments its
/// parts recorded, over the parts' runs instead of running them, so that it
/// prints (and writes, and exits with) what the unsharded command would.
fn merge_again(
    a: &MergeArgs,
    header: &Header,
    parts: &[Part],
    io: &mut Io<'_>,
    output: Option<&std::path::Path>,
) -> Result<String, Failure> {
    use clap::{Args, FromArgMatches};
    let mut runs: Vec<Vec<RunResult>> = header.pairs.iter().map(|_| Vec::new()).collect();
    for (_, path, shown) in parts {
        for run in runs_of(path, shown, header.pairs.len())? {
            let (_, p, r) = run?;
            runs[p].push(r);
        }
    }
    let mut args = header.args.clone();
    if let Some(f) = &a.format {
        // In place of the format the shards were given.
        let mut kept = Vec::new();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if arg == "--format" {
                it.next();
            } else if !arg.starts_with("--format=") {
                kept.push(arg);
            }
        }
        args = kept;
        args.extend(["--format".to_owned(), f.clone()]);
    }
    if let Some(dir) = &a.out {
        if header.command == "check" {
            return Err(Failure::Usage(
                "merge --out writes a batch's or a sweep's report; a check's files are the ones its own arguments name"
                    .to_owned(),
            ));
        }
        args.extend(["--out".to_owned(), dir.display().to_string()]);
    }
    let source = crate::RunSource::Merged {
        runs: std::cell::RefCell::new(runs),
        key: header.key.clone(),
        args: header.args.clone(),
    };
    let parse = |cmd: clap::Command| {
        cmd.no_binary_name(true)
            .try_get_matches_from(&args)
            .map_err(|e| Failure::Usage(format!("the parts' {} arguments: {e}", header.command)))
    };
    let bad = |e: clap::Error| Failure::Usage(format!("the parts' {} arguments: {e}", header.command));
    if header.command == "sweep" {
        let m = parse(crate::sweep::SweepArgs::augment_args(clap::Command::new("sweep")))?;
        let sweep = crate::sweep::SweepArgs::from_arg_matches(&m).map_err(bad)?;
        crate::sweep::run(sweep, io, output, &source)
    } else {
        let m = parse(crate::check::CheckArgs::augment_args(clap::Command::new("check")))?;
        let check = crate::check::CheckArgs::from_arg_matches(&m).map_err(bad)?;
        crate::check::run(check, io, output, &source)
    }
}
