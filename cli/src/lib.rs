//! The `aviary` command line: argument parsing, loading, and output.
//!
//! Arguments pass a raw stage (what clap parsed) and a validated stage (the
//! loaded scenarios and policies) before anything runs. All output of a
//! command is built in memory and written at once, so a failure never
//! leaves half an output behind. Exit status: 0 success, 1 a gate failed (a
//! check's regression, `--fail-on`; the output is still written), 2 bad input or
//! usage (a clear message on stderr). A closed stdout is not an error.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

mod check;
mod compare;
pub mod diagnostics;
pub mod gameday;
mod inputs;
mod interop;
mod judge;
mod shard;
mod sweep;

use clap::{Parser, Subcommand, ValueEnum};
use scenarios::catalog::{self, Builtin};
use scenarios::{Diagnostic, Loaded};
use sim_core::batch::{Pair, run_batch_on};
use sim_core::engine::{Collect, Discard, run_on, run_with_on};
use sim_core::model::{Policy, Scenario};

/// The version and the commit it was built from (`aviary --version`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("AVIARY_COMMIT"), ")");

/// The most runs per scenario × policy one batch may ask for.
pub const MAX_SEEDS: u64 = sim_core::limits::SEEDS_MAX;

#[derive(Parser, Debug)]
#[command(
    name = "aviary",
    version = VERSION,
    about = "A deterministic rollout simulator: measure a release policy against reproducible incidents.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to colour output: auto (only on a terminal, never under NO_COLOR; CLICOLOR_FORCE forces it), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = diagnostics::ColorChoice::Auto)]
    color: diagnostics::ColorChoice,
    /// How problems in input files are printed: human (the source line, underlined, with a help line), short (one line each) or json (one object per line, for editors and CI).
    #[arg(long, global = true, value_enum, value_name = "FMT", default_value_t = diagnostics::MessageFormat::Human)]
    message_format: diagnostics::MessageFormat,
    /// Write the command's output to FILE instead of standard output: through a temporary file renamed into place, so a failed or interrupted command leaves no half-written FILE.
    #[arg(long, global = true, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate one run of a scenario under a policy and show the verdict and timeline.
    #[command(
        after_help = "Examples:\n  aviary run checkout-error-spike --seed 7\n  aviary run too-fast-promotion-leak --policy saturation-watch --plot timeline.png\n  aviary run my-scenario.toml --policy my-policy.toml --format jsonl > run.jsonl"
    )]
    Run(RunArgs),
    /// Run many seeds of scenarios × policies in parallel and print the scorecard.
    #[command(
        after_help = "Examples:\n  aviary batch --seeds 1000 --format table\n  aviary batch checkout-error-spike --policy default --policy sequential --seeds 500\n  aviary batch --seeds 100000 --format jsonl | jq -c 'select(.escaped)'\n  aviary batch --policy rollout.yaml --out report/ --fail-on escape"
    )]
    Batch(BatchArgs),
    /// Compare two policies on the same seeds: B − A per scenario and score, with paired 95 % intervals.
    #[command(
        after_help = "Examples:\n  aviary compare --policy default --policy sequential --seeds 500\n  aviary compare suite.toml --format markdown"
    )]
    Compare(compare::CompareArgs),
    /// Check a policy against its accepted baseline (or another policy) for CI: exit 1 on a regression beyond tolerance.
    #[command(
        after_help = "Examples:\n  aviary check suite.toml --baseline aviary-baseline.json --junit junit.xml\n  aviary check suite.toml --update\n  aviary check --policy my-policy.toml --baseline-policy default --seeds 200\n  aviary check suite.toml --baseline aviary-baseline.json --shard 0/4 --output part-0.jsonl"
    )]
    Check(check::CheckArgs),
    /// Sweep a grid of policy (or scenario) key values on the same seeds: suite scores per cell, the Pareto front, the winner.
    #[command(
        after_help = "Examples:\n  aviary sweep --policy default --vary 'analysis.failure_limit=0,1,2' --seeds 200\n  aviary sweep --policy rollout.yaml --vary 'analysis.checks[1].max=250,300,400' --out sweep/\n  aviary sweep suite.toml --vary 'steps[0].pause=2m,5m,10m' --seeds 4000 --shard auto --output part.jsonl"
    )]
    Sweep(sweep::SweepArgs),
    /// The built-in scenario catalog.
    #[command(
        subcommand,
        after_help = "Examples:\n  aviary scenarios list\n  aviary scenarios show checkout-error-spike\n  aviary scenarios show checkout-error-spike --format toml > my-scenario.toml"
    )]
    Scenarios(CatalogCmd),
    /// The built-in policy presets.
    #[command(
        subcommand,
        after_help = "Examples:\n  aviary policies list\n  aviary policies show default --format toml > my-policy.toml"
    )]
    Policies(CatalogCmd),
    /// Run a statistical judge on data you bring (numbers files, CSV counts).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  aviary judge mann-whitney --control baseline.txt --experiment canary.txt\n  aviary judge --help"
    )]
    Judge(judge::JudgeCmd),
    /// Play a game day: a live dashboard, a (possibly hidden) fault, the trainee's commands, a scored debrief.
    #[command(
        after_help = "Examples:\n  aviary gameday checkout-error-spike --session team-a.jsonl\n  aviary gameday --mystery --seed 3 --session team-b.jsonl"
    )]
    Gameday(gameday::GamedayArgs),
    /// Reproduce a game-day session from its log: the same world, the same figures, and the debrief.
    #[command(after_help = "Examples:\n  aviary replay team-a.jsonl")]
    Replay(gameday::ReplayArgs),
    /// The debrief of game-day sessions: the trainee against the policy and the oracle; several sessions ranked.
    #[command(
        after_help = "Examples:\n  aviary debrief team-a.jsonl\n  aviary debrief team-a.jsonl team-b.jsonl --format markdown"
    )]
    Debrief(gameday::DebriefArgs),
    /// Import an Argo Rollouts, Flagger or Kayenta config as an aviary policy (TOML on stdout).
    #[command(
        after_help = "Examples:\n  aviary import argo rollout.yaml analysis.yaml --out policy.toml\n  aviary import flagger canary.yaml metric-templates.yaml\n  aviary import kayenta canary-config.json --lifetime 1h --analysis-interval 10m"
    )]
    Import(interop::ImportArgs),
    /// Export an aviary policy as an Argo Rollout (with its AnalysisTemplate) or a Flagger Canary.
    #[command(
        after_help = "Examples:\n  aviary export argo policy.toml --out rollout.yaml\n  aviary export flagger policy.toml --lossy"
    )]
    Export(interop::ExportArgs),
    /// Replay a whole policy's analysis over real per-interval metrics: when and why it would have rolled back.
    #[command(after_help = "Examples:\n  aviary replay-metrics rollout.yaml --metrics metrics.csv --format table")]
    ReplayMetrics(interop::ReplayMetricsArgs),
    /// Combine the parts of `batch --shard I/N` into exactly what the unsharded batch prints.
    #[command(
        after_help = "Examples:\n  aviary merge part-0.jsonl part-1.jsonl part-2.jsonl --output batch.json\n  aviary merge parts/*.jsonl --out report/\n  aviary merge sweep-part-*.jsonl --format markdown"
    )]
    Merge(shard::MergeArgs),
    /// Check scenario and policy files; report every problem with its file, line and key.
    #[command(
        after_help = "Examples:\n  aviary validate my-scenario.toml my-policy.toml\n  aviary validate policies/*.toml --message-format json"
    )]
    Validate {
        /// Scenario, policy, suite or script files (TOML), or foreign policies (Argo Rollouts, Flagger, Kayenta).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a shell completion script (install: see the README).
    #[command(
        after_help = "Examples:\n  aviary completions bash > ~/.local/share/bash-completion/completions/aviary\n  aviary completions fish > ~/.config/fish/completions/aviary.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) for aviary and every subcommand.
    #[command(after_help = "Examples:\n  aviary man > ~/.local/share/man/man1/aviary.1 && man aviary")]
    Man,
}

/// The command line's definition, for completions, the manual and tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A built-in scenario name or a scenario file (.toml).
    scenario: String,
    /// A policy preset name or a policy file (.toml) [default: default].
    #[arg(long)]
    policy: Option<String>,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run index under the master seed (a batch's runs are 0..seeds).
    #[arg(long, default_value_t = 0)]
    run: u64,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<RunFormat>,
    /// Also draw the timeline (weight, canary vs baseline, onset, decision):
    /// a PNG, or SVG for a file name ending in .svg.
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    plot: Option<PathBuf>,
    /// Take every decision from this script (JSON lines, e.g. a run's
    /// `--format jsonl` output, or TOML `[[command]]` tables); the policy
    /// then supplies only the strategy's mechanics.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// How requests are drawn: in aggregated chunks, or one by one (the
    /// per-request reference engine, for validation; its cost grows with
    /// the request count).
    #[arg(long, value_enum, default_value_t = EngineArg::Aggregated)]
    engine: EngineArg,
    /// Also write the report into DIR: run.json, run.jsonl, the timeline
    /// (timeline.png and timeline.svg) and index.html.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Exit 1 when the run escaped (a harmful release promoted), raised a
    /// false alarm (rolled back a healthy one), or was truncated (the
    /// horizon came first); comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    fail_on: Vec<FailOn>,
}

#[derive(clap::Args, Debug)]
struct BatchArgs {
    /// Built-in scenario names or scenario files [default: the whole built-in catalog].
    scenarios: Vec<String>,
    /// Policy preset names or files; repeat for several (one group per scenario × policy).
    #[arg(long)]
    policy: Vec<String>,
    /// Every built-in policy preset (after any --policy given).
    #[arg(long)]
    all_policies: bool,
    /// Runs per scenario × policy.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads [default: all cores]; results are identical for any count.
    #[arg(long)]
    threads: Option<usize>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<BatchFormat>,
    /// Run only shard I of N (0-based) of the batch's runs, and print a part for `aviary merge` instead of the batch; `auto` reads the shard from a Slurm array, a Kubernetes Indexed Job (with --shard-count) or AVIARY_SHARD_INDEX and AVIARY_SHARD_COUNT.
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<String>,
    /// Finish an interrupted streamed batch (csv, jsonl or a --shard part) written with --output FILE: keep the runs in FILE.incomplete and run the rest; the result is byte for byte the uninterrupted one.
    #[arg(long)]
    resume: bool,
    /// The shard count for --shard auto where the engine does not tell it (a Kubernetes Indexed Job's completions).
    #[arg(long, value_name = "N")]
    shard_count: Option<u64>,
    /// The table's columns, comma-separated: scenario, policy, runs, detected, false-alarm, escaped, blind, detect, mitigate, failed, slow, users, conv, sessions, budget, inst-h, records, ship [default: all that fit a terminal; all when piped].
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    columns: Vec<String>,
    /// How requests are drawn: in aggregated chunks, or one by one (the
    /// per-request reference engine, for validation; its cost grows with
    /// the request count).
    #[arg(long, value_enum, default_value_t = EngineArg::Aggregated)]
    engine: EngineArg,
    /// No progress bar (it shows only when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
    /// Also write the report into DIR: batch.json, runs.csv, the
    /// detection-time and blast-radius distributions (PNG) and index.html.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Exit 1 when any run escaped, raised a false alarm, or was
    /// truncated; comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    fail_on: Vec<FailOn>,
}

/// A run outcome that fails a quick gate (`--fail-on`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum FailOn {
    /// A release that harmed users was promoted (or never rolled back).
    Escape,
    /// A healthy release was rolled back, held or killed.
    FalseAlarm,
    /// The scenario's horizon ended the run before the rollout finished.
    Truncated,
}

impl BatchFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BatchFormat::Table => "table",
            BatchFormat::Json => "json",
            BatchFormat::Csv => "csv",
            BatchFormat::Jsonl => "jsonl",
        }
    }
}

impl FailOn {
    fn name(self) -> &'static str {
        match self {
            FailOn::Escape => "escape",
            FailOn::FalseAlarm => "false-alarm",
            FailOn::Truncated => "truncated",
        }
    }

    fn hit(self, r: &sim_core::score::RunResult) -> bool {
        match self {
            FailOn::Escape => r.escaped(),
            FailOn::FalseAlarm => r.false_alarm(),
            FailOn::Truncated => r.outcome == sim_core::score::Outcome::Truncated,
        }
    }
}

/// The `--fail-on` verdict, gathered run by run (a streamed batch keeps
/// no runs): per condition, how many runs hit it and the first that did,
/// with the scenario and policy arguments that reproduce it.
pub(crate) struct FailTally {
    conditions: Vec<(FailOn, u64, Option<String>)>,
    total: u64,
}

impl FailTally {
    pub(crate) fn new(fail_on: &[FailOn]) -> FailTally {
        let mut conditions: Vec<(FailOn, u64, Option<String>)> = Vec::new();
        for &f in fail_on {
            if !conditions.iter().any(|c| c.0 == f) {
                conditions.push((f, 0, None));
            }
        }
        FailTally { conditions, total: 0 }
    }

    pub(crate) fn observe(&mut self, r: &sim_core::score::RunResult, scenario: &str, policy: &str) {
        self.total += 1;
        for (f, n, first) in &mut self.conditions {
            if f.hit(r) {
                *n += 1;
                if first.is_none() {
                    *first = Some(format!(
                        "of {}: aviary run {scenario} --policy {policy} --seed {} --run {}",
                        r.scenario, r.seed, r.run
                    ));
                }
            }
        }
    }

    /// `None` when nothing listed happened, else one line per condition
    /// with its count and the first run's command.
    pub(crate) fn message(&self) -> Option<String> {
        let total = self.total;
        let lines: Vec<String> = self
            .conditions
            .iter()
            .filter_map(|(f, n, first)| {
                let first = first.as_ref()?;
                Some(format!(
                    "aviary: --fail-on {}: {n} of {total} run{}; the first, {first}",
                    f.name(),
                    if total == 1 { "" } else { "s" },
                ))
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[derive(Subcommand, Debug)]
enum CatalogCmd {
    /// List the built-ins, then the user files of ./aviary (or of the folders in AVIARY_PATH).
    List {
        /// Output format: a table with a header, or JSON.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Show one built-in: its description and its file.
    Show {
        /// A name from `list` (a built-in, or a user file in ./aviary or AVIARY_PATH), or a file's path.
        name: String,
        /// Output format: the description and the file, or the TOML file alone.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
}

/// How requests are drawn (`--engine`).
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub(crate) enum EngineArg {
    /// In aggregated chunks (the default; cost independent of request volume).
    #[default]
    Aggregated,
    /// One request at a time: the reference engine, for validation only.
    PerRequest,
}

impl EngineArg {
    fn engine(self) -> sim_core::engine::Engine {
        match self {
            EngineArg::Aggregated => sim_core::engine::Engine::Aggregated,
            EngineArg::PerRequest => sim_core::engine::Engine::PerRequest,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum RunFormat {
    Table,
    Json,
    Jsonl,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum BatchFormat {
    /// The scorecard: one line per scenario × policy.
    Table,
    /// The scorecard's figures with their intervals, as one JSON object.
    Json,
    /// One row per run, streamed in run order as the runs finish.
    Csv,
    /// One run object per line, streamed in run order as the runs finish.
    Jsonl,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ShowFormat {
    Text,
    Toml,
}

/// Where a command writes, and whether those are terminals.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub stdout_is_terminal: bool,
    pub stderr_is_terminal: bool,
}

/// Why a command could not do its job.
pub(crate) enum Failure {
    Usage(String),
    Input(Vec<Diagnostic>),
    /// Ctrl-C: what was kept, and how to go on (exit 130, as a shell
    /// reports a process ended by SIGINT).
    Interrupted(String),
    /// Writing a streamed output failed (a closed pipe is not an error).
    Output(io::Error),
    /// Ctrl-C during a streamed output: what was written is whole lines
    /// and is kept (with `--output FILE`, as `FILE.incomplete`); exit 130.
    Partial(String),
    /// The command did its job and found what fails the gate (a check's
    /// regression, a `--fail-on` condition): `out` is printed as usual,
    /// `message` on stderr, and the exit status is 1.
    Failed {
        out: String,
        message: String,
    },
}

/// Runs the command line `args` (program name first) and returns the exit status.
pub fn main_with<I, T>(args: I, io: &mut Io<'_>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    COMMAND_LINE.with_borrow_mut(|c| *c = args.iter().map(|a| a.to_string_lossy().into_owned()).collect());
    let color = diagnostics::ColorChoice::from_args(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            // Help and --version go to stdout, errors to stderr: each is
            // coloured by its own stream.
            let to_out = code == 0;
            let terminal = if to_out {
                io.stdout_is_terminal
            } else {
                io.stderr_is_terminal
            };
            let text = if color.colour(terminal) {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            if to_out {
                return write_out(io, &text);
            }
            let _ = io.err.write_all(text.as_bytes());
            return code;
        }
    };
    let err_colour = cli.color.colour(io.stderr_is_terminal);
    let message_format = cli.message_format;
    let Some(path) = cli.output.clone() else {
        let result = dispatch(cli.command, io, cli.color, None);
        return finish(result, io, message_format, err_colour);
    };
    // --output FILE: the command writes (or streams) into a temporary file
    // beside FILE, renamed into place only when the command succeeded or
    // failed its gate (whose output is still written).
    let mut file = match AtomicFile::create(&path) {
        Ok(f) => f,
        Err(message) => {
            let _ = writeln!(io.err, "error: {message}");
            return 2;
        }
    };
    let (code, partial) = {
        let mut to_file = Io {
            out: &mut file.writer,
            err: &mut *io.err,
            stdout_is_terminal: false,
            stderr_is_terminal: io.stderr_is_terminal,
        };
        let result = dispatch(cli.command, &mut to_file, cli.color, Some(&path));
        let partial = matches!(result, Err(Failure::Partial(_)));
        (finish(result, &mut to_file, message_format, err_colour), partial)
    };
    if partial {
        // The finished runs, whole lines, under a name that says so.
        return match file.commit_as(&incomplete(&path)) {
            Ok(()) => code,
            Err(message) => {
                let _ = writeln!(io.err, "error: {message}");
                2
            }
        };
    }
    if code > 1 {
        return code;
    }
    match file.commit() {
        Ok(()) => {
            // What an interrupted run of it kept is now in FILE.
            let _ = std::fs::remove_file(incomplete(&path));
            code
        }
        Err(message) => {
            let _ = writeln!(io.err, "error: {message}");
            2
        }
    }
}

/// Runs one parsed command.
fn dispatch(
    cmd: Command,
    io: &mut Io<'_>,
    color: diagnostics::ColorChoice,
    output: Option<&std::path::Path>,
) -> Result<String, Failure> {
    match cmd {
        Command::Run(a) => {
            let paint = reports::run::Paint {
                colour: color.colour(io.stdout_is_terminal),
            };
            cmd_run(a, io, paint)
        }
        Command::Batch(a) => cmd_batch(a, io, output),
        Command::Compare(a) => compare::run(a, io),
        Command::Sweep(a) => sweep::run(a, io, output, &RunSource::Run),
        Command::Check(a) => check::run(a, io, output, &RunSource::Run),
        Command::Scenarios(c) => cmd_catalog(c, catalog::SCENARIOS, "scenario", io),
        Command::Policies(c) => cmd_catalog(c, catalog::POLICIES, "policy", io),
        Command::Validate { files } => cmd_validate(&files, io),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut command(), "aviary", &mut buf);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Command::Man => man_page(),
        Command::Judge(c) => judge::run(c),
        Command::Gameday(a) => gameday::run_gameday(a, io),
        Command::Replay(a) => gameday::run_replay(a, io),
        Command::Debrief(a) => gameday::run_debrief(a, io),
        Command::Import(a) => interop::run_import(a, io),
        Command::Export(a) => interop::run_export(a),
        Command::ReplayMetrics(a) => interop::run_replay_metrics(a, io),
        Command::Merge(a) => shard::run_merge(a, io, output),
    }
}

thread_local! {
    /// The command line being run (for a part's header: `merge` runs a
    /// sharded sweep or check again from its arguments).
    static COMMAND_LINE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The arguments of the command being run after its name, without those
/// that only say how this process runs (its shard, output file, threads,
/// progress bar, colour and message format): what `merge` needs to run it
/// again over the parts' runs.
pub(crate) fn part_args(command: &str) -> Vec<String> {
    let line = COMMAND_LINE.with_borrow(Clone::clone);
    let mut rest = line.iter().skip(1).skip_while(|a| *a != command).skip(1);
    let mut kept = Vec::new();
    let with_value = [
        "--shard",
        "--shard-count",
        "--output",
        "--threads",
        "--color",
        "--message-format",
    ];
    while let Some(a) = rest.next() {
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        if with_value.contains(&name) {
            if !a.contains('=') {
                rest.next();
            }
        } else if a != "--quiet" && a != "--resume" {
            // (`--resume` of a part; a sweep's `--resume DIR` never comes
            // with `--shard`.)
            kept.push(a.clone());
        }
    }
    kept
}

/// Where a sweep's or a check's runs come from.
pub(crate) enum RunSource {
    /// Run here.
    Run,
    /// Read back from the parts of its shards by `merge`: every pair's
    /// runs, and the key the parts carry (the inputs must not have changed).
    Merged {
        runs: std::cell::RefCell<Vec<Vec<sim_core::score::RunResult>>>,
        key: String,
        /// The command's arguments as the parts recorded them.
        args: Vec<String>,
    },
}

impl RunSource {
    /// The arguments a part of `command` records.
    pub(crate) fn args(&self, command: &str) -> Vec<String> {
        match self {
            RunSource::Run => part_args(command),
            RunSource::Merged { args, .. } => args.clone(),
        }
    }

    /// For a merge: the parts' key must be this command's on these inputs.
    pub(crate) fn check_key(&self, part: &PartOf, pairs: &[Pair<'_>]) -> Result<(), Failure> {
        match self {
            RunSource::Run => Ok(()),
            RunSource::Merged { key, .. } if *key == part_key(part, pairs) => Ok(()),
            RunSource::Merged { .. } => Err(Failure::Usage(format!(
                "the parts are of another {} than these inputs give now (a scenario, policy or suite file changed since the shards ran)",
                part.command
            ))),
        }
    }

    /// The runs of pairs `range` (merged), or `None`: run them.
    pub(crate) fn take(&self, range: std::ops::Range<usize>) -> Option<Vec<Vec<sim_core::score::RunResult>>> {
        match self {
            RunSource::Run => None,
            RunSource::Merged { runs, .. } => Some(runs.borrow_mut()[range].iter_mut().map(std::mem::take).collect()),
        }
    }
}

/// Writes a command's result and returns the exit status.
fn finish(
    result: Result<String, Failure>,
    io: &mut Io<'_>,
    message_format: diagnostics::MessageFormat,
    err_colour: bool,
) -> i32 {
    // What an imported policy's tool does that aviary cannot simulate.
    for w in scenarios::import::take_warnings() {
        let _ = writeln!(io.err, "warning: {w}");
    }
    match result {
        Ok(text) => write_out(io, &text),
        Err(Failure::Usage(message)) => {
            let _ = writeln!(io.err, "error: {message}");
            2
        }
        Err(Failure::Output(e)) => write_error(io, &e),
        Err(Failure::Failed { out, message }) => {
            let code = write_out(io, &out);
            let _ = writeln!(io.err, "{message}");
            if code == 0 { 1 } else { code }
        }
        Err(Failure::Interrupted(message) | Failure::Partial(message)) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "aviary: interrupted: {message}");
            130
        }
        Err(Failure::Input(mut diagnostics)) => {
            // By file (in the order given), then by line.
            let mut files: Vec<String> = Vec::new();
            for d in &diagnostics {
                if !files.contains(&d.file) {
                    files.push(d.file.clone());
                }
            }
            diagnostics.sort_by_key(|d| (files.iter().position(|f| *f == d.file), d.line));
            let mut text = String::new();
            for d in &mut diagnostics {
                diagnostics::enrich(d, message_format);
                text.push_str(&diagnostics::render(d, message_format, err_colour));
            }
            if message_format != diagnostics::MessageFormat::Json {
                text.push_str(&diagnostics::summary(&diagnostics));
            }
            let _ = io.err.write_all(text.as_bytes());
            2
        }
    }
}

/// `--output FILE` while it is written: a temporary file beside FILE
/// (same folder, so the rename is atomic), removed unless committed.
struct AtomicFile {
    writer: io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    fn create(path: &std::path::Path) -> Result<AtomicFile, String> {
        let tmp = temporary_beside(path);
        let file = std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        interrupt::track(&tmp);
        Ok(AtomicFile {
            writer: io::BufWriter::new(file),
            tmp,
            path: path.to_owned(),
            committed: false,
        })
    }

    fn commit(self) -> Result<(), String> {
        let path = self.path.clone();
        self.commit_as(&path)
    }

    /// Renames the temporary file to `path` (not necessarily the one it was made for).
    fn commit_as(mut self, path: &std::path::Path) -> Result<(), String> {
        let shown = path.display().to_string();
        self.writer.flush().map_err(|e| format!("cannot write {shown}: {e}"))?;
        self.writer
            .get_ref()
            .sync_all()
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
        std::fs::rename(&self.tmp, path).map_err(|e| format!("cannot write {shown}: {e}"))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        interrupt::untrack(&self.tmp);
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Where an interrupted streamed output keeps its finished lines.
pub(crate) fn incomplete(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".incomplete");
    PathBuf::from(name)
}

/// The temporary name `path` is written under before its rename.
fn temporary_beside(path: &std::path::Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Ctrl-C. A command that can stop cleanly (a sweep after its cell, a
/// streamed batch after its block) installs the graceful handler: the
/// first Ctrl-C asks it to stop, a second ends the process at once. Every
/// hard exit first removes the temporary files of `--output`, so an
/// interrupted command never leaves a half-written file behind.
pub(crate) mod interrupt {
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);
    static GRACEFUL: Mutex<Option<&'static str>> = Mutex::new(None);
    static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    fn handler() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Without a handler (another is installed), Ctrl-C ends the
            // process as before.
            let _ = ctrlc::set_handler(|| {
                let graceful = *GRACEFUL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(what) = graceful
                    && !REQUESTED.swap(true, Ordering::SeqCst)
                {
                    eprintln!("\naviary: {what} (Ctrl-C again to stop now)");
                    return;
                }
                for path in TEMPORARY
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                {
                    let _ = std::fs::remove_file(path);
                }
                std::process::exit(130);
            });
        });
    }

    /// The first Ctrl-C from now on asks the command to stop (`what` says
    /// how); see [`requested`].
    pub(crate) fn install(what: &'static str) {
        handler();
        *GRACEFUL.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(what);
        // A new command starts uninterrupted (one process may run several).
        REQUESTED.store(false, Ordering::SeqCst);
    }

    pub(crate) fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }

    /// `path` is removed if the process is ended by Ctrl-C.
    pub(crate) fn track(path: &std::path::Path) {
        handler();
        TEMPORARY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(path.to_owned());
    }

    pub(crate) fn untrack(path: &std::path::Path) {
        TEMPORARY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|p| p != path);
    }
}

/// The manual: aviary's page, then each subcommand's, as one roff text.
fn man_page() -> Result<String, Failure> {
    let cmd = command();
    let mut buf = Vec::new();
    let render = |c: clap::Command, title: String, buf: &mut Vec<u8>| {
        clap_mangen::Man::new(c)
            .title(title)
            .render(buf)
            .map_err(|e| Failure::Usage(format!("cannot render the manual: {e}")))
    };
    render(cmd.clone(), "aviary".to_owned(), &mut buf)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        render(sub.clone(), format!("aviary-{}", sub.get_name()), &mut buf)?;
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn write_out(io: &mut Io<'_>, text: &str) -> i32 {
    match io.out.write_all(text.as_bytes()).and_then(|()| io.out.flush()) {
        Ok(()) => 0,
        Err(e) => write_error(io, &e),
    }
}

/// A failed write to the output: a closed pipe is not an error (the
/// reader has what it wanted), anything else is exit 2.
fn write_error(io: &mut Io<'_>, e: &io::Error) -> i32 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return 0;
    }
    let _ = writeln!(io.err, "error: cannot write output: {e}");
    2
}

/// Loads every argument with `load`, collecting all diagnostics of all files.
fn load_all<T>(
    args: &[String],
    load: fn(&str) -> Result<T, Vec<Diagnostic>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let mut out = Vec::new();
    for a in args {
        match load(a) {
            Ok(v) => out.push(v),
            Err(d) => diagnostics.extend(d),
        }
    }
    out
}

/// The pair checks of [`sim_core::preflight`] as diagnostics: errors go to
/// `diagnostics`, warnings are written to stderr at once.
fn preflight(pair: (&str, &Scenario), policy: (&str, &Policy), diagnostics: &mut Vec<Diagnostic>, io: &mut Io<'_>) {
    for f in sim_core::preflight::check(pair.1, policy.1) {
        let (arg, scenario) = match f.side {
            sim_core::preflight::Side::Scenario => (pair.0, true),
            sim_core::preflight::Side::Policy => (policy.0, false),
        };
        let (file, line) = scenarios::locate(arg, &f.key, scenario);
        let d = Diagnostic {
            file,
            line,
            key: f.key,
            message: f.message,
            ..Default::default()
        };
        if f.error {
            diagnostics.push(d);
        } else {
            let _ = writeln!(io.err, "warning: {d}");
        }
    }
}

/// Writes `files` into `dir` (created if missing), each through a
/// temporary file beside it and a rename, so a file there is either whole
/// and new or as it was.
pub(crate) fn write_dir(dir: &std::path::Path, files: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    let shown = dir.display();
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("cannot create the folder {shown}: {e}")))?;
    for (name, bytes) in files {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it and a
/// rename, so the file is either whole and new or as it was.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = temporary_beside(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::Usage(format!("cannot write {}: {e}", path.display())));
    }
    Ok(())
}

/// The per-request engine's request limit, as a diagnostic.
fn per_request_check(scenario: (&str, &Scenario), diagnostics: &mut Vec<Diagnostic>) {
    if let Some(f) = sim_core::preflight::check_per_request(scenario.1) {
        let (file, line) = scenarios::locate(scenario.0, &f.key, true);
        diagnostics.push(Diagnostic {
            file,
            line,
            key: f.key,
            message: f.message,
            ..Default::default()
        });
    }
}

fn load_scenarios(args: &[String], diagnostics: &mut Vec<Diagnostic>) -> Vec<Scenario> {
    load_all(args, scenarios::load_scenario, diagnostics)
}

fn load_policies(args: &[String], diagnostics: &mut Vec<Diagnostic>) -> Vec<Policy> {
    load_all(args, scenarios::load_policy, diagnostics)
}

fn cmd_run(a: RunArgs, io: &mut Io<'_>, paint: reports::run::Paint) -> Result<String, Failure> {
    if let Some(path) = &a.plot {
        reports::plot::PlotFormat::of(path).map_err(Failure::Usage)?;
    }
    let mut diagnostics = Vec::new();
    let scenario = load_scenarios(std::slice::from_ref(&a.scenario), &mut diagnostics).pop();
    // Without --policy, the scenario's own policy, else the built-in default.
    let policy_arg = a.policy.or_else(|| scenario.as_ref().and_then(|s| s.policy.clone()));
    let policy_arg = policy_arg.unwrap_or_else(|| "default".to_owned());
    let policy = load_policies(std::slice::from_ref(&policy_arg), &mut diagnostics).pop();
    let script = match a.script.as_deref().map(scenarios::load_script) {
        Some(Ok(commands)) => Some(commands),
        Some(Err(d)) => {
            diagnostics.extend(d);
            None
        }
        None => None,
    };
    let (Some(scenario), Some(policy)) = (scenario, policy) else {
        return Err(Failure::Input(diagnostics));
    };
    // A game day's session injects the faults its game master added.
    let scenario = match &script {
        Some(s) if !s.injections.is_empty() => {
            if scenario.faults.len() + s.injections.len() > sim_core::limits::FAULTS_MAX {
                diagnostics.push(Diagnostic {
                    file: a.script.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    line: 0,
                    key: "fault".to_owned(),
                    message: format!(
                        "{} injected faults on {}'s {}: at most {} faults in all",
                        s.injections.len(),
                        scenario.name,
                        scenario.faults.len(),
                        sim_core::limits::FAULTS_MAX
                    ),
                    ..Default::default()
                });
                return Err(Failure::Input(diagnostics));
            }
            sim_core::gameday::with_injections(&scenario, &s.injections)
        }
        _ => scenario,
    };
    preflight((&a.scenario, &scenario), (&policy_arg, &policy), &mut diagnostics, io);
    if a.engine == EngineArg::PerRequest {
        per_request_check((&a.scenario, &scenario), &mut diagnostics);
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    let mut timeline = Collect::default();
    let engine = a.engine.engine();
    let result = match script {
        Some(commands) => {
            // The script issues every command (its log says "by": "script",
            // whoever first took it); a game day's replay keeps the authors.
            let commands = commands
                .commands
                .into_iter()
                .map(|c| sim_core::control::script::Scripted { by: None, ..c })
                .collect();
            let mut decider = sim_core::control::script::ScriptController::new(commands);
            run_with_on(engine, &scenario, &policy, a.seed, a.run, &mut decider, &mut timeline)
        }
        None => run_on(engine, &scenario, &policy, a.seed, a.run, &mut timeline),
    };
    if let Some(path) = &a.plot {
        let horizon = sim_core::time::SimTime::ZERO + scenario.duration;
        reports::plot::timeline(path, &result, &timeline.0, horizon, &policy.analysis.checks)
            .map_err(Failure::Usage)?;
    }
    if let Some(dir) = &a.out {
        run_report(dir, &result, &scenario, &policy, &timeline.0)?;
    }
    let format = a.format.unwrap_or(if io.stdout_is_terminal {
        RunFormat::Table
    } else {
        RunFormat::Json
    });
    let out = match format {
        RunFormat::Table => reports::run::run_table_painted(&result, &scenario, &timeline.0, paint),
        RunFormat::Json => pretty(&reports::run::RunRow::new(&result)),
        RunFormat::Jsonl => reports::run::run_jsonl(&result, &timeline.0),
    };
    let mut tally = FailTally::new(&a.fail_on);
    tally.observe(&result, &a.scenario, &policy_arg);
    match tally.message() {
        Some(message) => Err(Failure::Failed { out, message }),
        None => Ok(out),
    }
}

/// The files of `run --out DIR`.
fn run_report(
    dir: &std::path::Path,
    result: &sim_core::score::RunResult,
    scenario: &Scenario,
    policy: &Policy,
    events: &[(sim_core::time::SimTime, sim_core::engine::Event)],
) -> Result<(), Failure> {
    use reports::html::{Block, Section, page};
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create the folder {}: {e}", dir.display())))?;
    let horizon = sim_core::time::SimTime::ZERO + scenario.duration;
    let checks = &policy.analysis.checks;
    for name in ["timeline.png", "timeline.svg"] {
        reports::plot::timeline(&dir.join(name), result, events, horizon, checks).map_err(Failure::Usage)?;
    }
    let png = std::fs::read(dir.join("timeline.png"))
        .map_err(|e| Failure::Usage(format!("cannot read back {}: {e}", dir.join("timeline.png").display())))?;
    let table = reports::run::run_table(result, scenario, events);
    let sections = [
        Section {
            title: "Timeline".to_owned(),
            blocks: vec![Block::Image {
                alt: "the candidate's weight and the deciding check over the rollout".to_owned(),
                png,
            }],
        },
        Section {
            title: "Verdict and events".to_owned(),
            blocks: vec![Block::Pre(table)],
        },
    ];
    let title = format!("{} × {}", result.scenario, result.policy);
    let subtitle = format!(
        "seed {} run {}: {}. Files: run.json, run.jsonl, timeline.png and timeline.svg beside this page.",
        result.seed,
        result.run,
        result.outcome.name()
    );
    let files = vec![
        (
            "run.json".to_owned(),
            pretty(&reports::run::RunRow::new(result)).into_bytes(),
        ),
        (
            "run.jsonl".to_owned(),
            reports::run::run_jsonl(result, events).into_bytes(),
        ),
        (
            "index.html".to_owned(),
            page(&title, &subtitle, &sections, false).into_bytes(),
        ),
    ];
    write_dir(dir, &files)
}

pub(crate) fn pretty(v: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("json values serialise");
    s.push('\n');
    s
}

/// Runs `seeds` runs of every pair on a pool of `threads` workers, with a
/// progress bar on a terminal.
pub(crate) fn run_pairs(
    pairs: &[Pair<'_>],
    seeds: u64,
    seed: u64,
    threads: Option<usize>,
    quiet: bool,
    io: &Io<'_>,
) -> Result<Vec<Vec<sim_core::score::RunResult>>, Failure> {
    run_pairs_on(
        sim_core::engine::Engine::Aggregated,
        pairs,
        seeds,
        seed,
        threads,
        quiet,
        io,
    )
}

/// [`run_pairs`] on the given engine.
pub(crate) fn run_pairs_on(
    engine: sim_core::engine::Engine,
    pairs: &[Pair<'_>],
    seeds: u64,
    seed: u64,
    threads: Option<usize>,
    quiet: bool,
    io: &Io<'_>,
) -> Result<Vec<Vec<sim_core::score::RunResult>>, Failure> {
    let runner = Runner::new(pairs.len() as u64 * seeds, threads, quiet, io)?;
    let grouped = runner.run(engine, pairs, seeds, seed);
    runner.finish();
    Ok(grouped)
}

/// How many jobs per worker a streamed batch may run ahead of the next
/// one it hands over (see [`Runner::stream_jobs`]).
const STREAM_WINDOW: u64 = 64;

/// Why a streamed batch stopped before its end.
pub(crate) enum Stopped<B> {
    /// The sink said so (a write failed).
    Sink(B),
    /// Ctrl-C: every job before `next` was handed over.
    Interrupted { next: u64 },
}

/// Worker threads and the progress bar, shared by the batches of one
/// command (a sweep runs its cells one after another under one bar).
pub(crate) struct Runner {
    pool: rayon::ThreadPool,
    bar: Option<indicatif::ProgressBar>,
}

impl Runner {
    /// For `total` runs; the bar shows only on a terminal, without
    /// `--quiet`, for 200 runs or more.
    pub(crate) fn new(total: u64, threads: Option<usize>, quiet: bool, io: &Io<'_>) -> Result<Runner, Failure> {
        if threads == Some(0) {
            return Err(Failure::Usage("--threads must be at least 1".to_owned()));
        }
        let bar = (io.stderr_is_terminal && !quiet && total >= 200).then(|| {
            let target = indicatif::ProgressDrawTarget::stderr_with_hz(4);
            let bar = indicatif::ProgressBar::with_draw_target(Some(total), target);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  {elapsed} (eta {eta})")
                    .expect("static template"),
            );
            bar
        });
        let pool = match threads {
            Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n).build(),
            None => rayon::ThreadPoolBuilder::new().build(),
        }
        .map_err(|e| Failure::Usage(format!("cannot start worker threads: {e}")))?;
        Ok(Runner { pool, bar })
    }

    pub(crate) fn run(
        &self,
        engine: sim_core::engine::Engine,
        pairs: &[Pair<'_>],
        seeds: u64,
        seed: u64,
    ) -> Vec<Vec<sim_core::score::RunResult>> {
        let progress = || {
            if let Some(b) = &self.bar {
                b.inc(1);
            }
        };
        self.pool
            .install(|| run_batch_on(engine, pairs, seeds, seed, &progress))
    }

    /// The runs of `jobs` (a whole batch, a shard, or what a resumed batch
    /// has left) handed to `sink` in job order as they finish; a Ctrl-C
    /// stops it after the run being handed over.
    ///
    /// Each worker takes the next job as soon as it is free (no barrier
    /// between blocks of jobs), and stays at most [`STREAM_WINDOW`] jobs per
    /// worker ahead of the next job to hand over: the runs held while
    /// waiting for a slower one are bounded, whatever the batch's size.
    pub(crate) fn stream_jobs<B>(
        &self,
        engine: sim_core::engine::Engine,
        pairs: &[Pair<'_>],
        seeds: u64,
        seed: u64,
        jobs: std::ops::Range<u64>,
        sink: &mut dyn FnMut(usize, sim_core::score::RunResult) -> std::ops::ControlFlow<B>,
    ) -> std::ops::ControlFlow<Stopped<B>> {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::{Condvar, Mutex};
        let workers = self.pool.current_num_threads().max(1);
        let window = STREAM_WINDOW * workers as u64;
        let next = AtomicU64::new(jobs.start);
        let stop = AtomicBool::new(false);
        // The first job not yet handed over, and its change's signal.
        let handed = (Mutex::new(jobs.start), Condvar::new());
        let bar = self.bar.as_ref();
        let panicked = Mutex::new(None);
        let (tx, rx) = std::sync::mpsc::channel::<(u64, usize, sim_core::score::RunResult)>();
        let outcome = std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, stop, handed, end, panicked) = (&next, &stop, &handed, jobs.end, &panicked);
                scope.spawn(move || {
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= end || stop.load(Ordering::Relaxed) {
                            return;
                        }
                        {
                            let mut first = handed.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            while job >= *first + window && !stop.load(Ordering::Relaxed) {
                                first = handed.1.wait(first).unwrap_or_else(std::sync::PoisonError::into_inner);
                            }
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let (p, r) = ((job / seeds) as usize, job % seeds);
                        let run = || run_on(engine, pairs[p].scenario, pairs[p].policy, seed, r, &mut Discard);
                        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                            Ok(result) => result,
                            Err(payload) => {
                                // Stop every worker (none may wait for this
                                // job), then panic as the run did, after the scope.
                                let _first = handed.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                                stop.store(true, Ordering::Relaxed);
                                *panicked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(payload);
                                handed.1.notify_all();
                                return;
                            }
                        };
                        if let Some(b) = bar {
                            b.inc(1);
                        }
                        if tx.send((job, p, result)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            let mut waiting = std::collections::BTreeMap::new();
            let mut want = jobs.start;
            let mut outcome = std::ops::ControlFlow::Continue(());
            'receive: for (job, p, result) in &rx {
                waiting.insert(job, (p, result));
                while let Some((p, result)) = waiting.remove(&want) {
                    if interrupt::requested() {
                        outcome = std::ops::ControlFlow::Break(Stopped::Interrupted { next: want });
                        break 'receive;
                    }
                    if let std::ops::ControlFlow::Break(b) = sink(p, result) {
                        outcome = std::ops::ControlFlow::Break(Stopped::Sink(b));
                        break 'receive;
                    }
                    want += 1;
                    *handed.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = want;
                    handed.1.notify_all();
                }
            }
            {
                // Under the lock, so that no worker between its check and
                // its wait misses the signal.
                let _first = handed.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                stop.store(true, Ordering::Relaxed);
            }
            handed.1.notify_all();
            outcome
        });
        if let Some(payload) = panicked.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            std::panic::resume_unwind(payload);
        }
        outcome
    }

    pub(crate) fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn cmd_batch(a: BatchArgs, io: &mut Io<'_>, output: Option<&std::path::Path>) -> Result<String, Failure> {
    if a.seeds == 0 || a.seeds > MAX_SEEDS {
        return Err(Failure::Usage(format!(
            "--seeds must be in 1..={MAX_SEEDS}, got {}",
            a.seeds
        )));
    }
    let scenario_args: Vec<String> = if a.scenarios.is_empty() {
        catalog::SCENARIOS.iter().map(|b| b.name.to_owned()).collect()
    } else {
        a.scenarios.clone()
    };
    let mut policy_args = a.policy.clone();
    if a.all_policies {
        policy_args.extend(catalog::POLICIES.iter().map(|b| b.name.to_owned()));
    }
    let mut diagnostics = Vec::new();
    let scenarios = load_scenarios(&scenario_args, &mut diagnostics);
    // Without --policy, each scenario runs under its own policy, else `default`.
    let own_policies = policy_args.is_empty();
    if own_policies {
        for s in &scenarios {
            let name = s.policy.clone().unwrap_or_else(|| "default".to_owned());
            if !policy_args.contains(&name) {
                policy_args.push(name);
            }
        }
    }
    let policies = load_policies(&policy_args, &mut diagnostics);
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    // Policies load in the order of their arguments, so an index names both.
    let own = |s: &Scenario, i: usize| policy_args[i] == s.policy.as_deref().unwrap_or("default");
    let mut indexed: Vec<(usize, usize)> = Vec::new();
    for (s, sc) in scenarios.iter().enumerate() {
        for p in 0..policies.len() {
            if !own_policies || own(sc, p) {
                indexed.push((s, p));
            }
        }
    }
    for &(s, p) in &indexed {
        let (sc, po) = (
            (scenario_args[s].as_str(), &scenarios[s]),
            (policy_args[p].as_str(), &policies[p]),
        );
        preflight(sc, po, &mut diagnostics, io);
    }
    if a.engine == EngineArg::PerRequest {
        for (arg, sc) in scenario_args.iter().zip(&scenarios) {
            per_request_check((arg, sc), &mut diagnostics);
        }
    }
    if !diagnostics.is_empty() {
        return Err(Failure::Input(diagnostics));
    }
    let pairs: Vec<Pair<'_>> = indexed
        .iter()
        .map(|&(s, p)| Pair {
            scenario: &scenarios[s],
            policy: &policies[p],
        })
        .collect();
    let format = a.format.unwrap_or(if io.stdout_is_terminal {
        BatchFormat::Table
    } else {
        BatchFormat::Json
    });
    for c in &a.columns {
        if !reports::batch::COLUMNS.contains(&c.as_str()) {
            let hint = diagnostics::closest(c, reports::batch::COLUMNS)
                .map_or_else(String::new, |k| format!("; did you mean '{k}'?"));
            return Err(Failure::Usage(format!(
                "--columns: no column {c:?}{hint} (columns: {})",
                reports::batch::COLUMNS.join(", ")
            )));
        }
    }
    if !a.columns.is_empty() && format != BatchFormat::Table {
        return Err(Failure::Usage(
            "--columns picks the table's columns: use it with --format table".to_owned(),
        ));
    }
    // The scenario and policy arguments of each pair.
    let named: Vec<(String, String)> = indexed
        .iter()
        .map(|&(s, p)| (scenario_args[s].clone(), policy_args[p].clone()))
        .collect();
    if let Some(text) = &a.shard {
        let shard = shard::Shard::parse(text, a.shard_count)?;
        if a.out.is_some() {
            return Err(Failure::Usage(
                "--out with --shard: a shard prints a part; `aviary merge PART... --out DIR` writes the report"
                    .to_owned(),
            ));
        }
        return run_shard(&a, shard, &pairs, named, io, output);
    }
    if matches!(format, BatchFormat::Csv | BatchFormat::Jsonl) {
        return stream_batch(&a, format, &pairs, named, io, output);
    }
    if a.resume {
        return Err(Failure::Usage(
            "--resume finishes a streamed batch: --format csv or jsonl, or a --shard part, with --output FILE"
                .to_owned(),
        ));
    }
    let mut gather = Gather::new(format, named, &a.fail_on, a.out.is_some());
    gather.threads = a.threads;
    let total = pairs.len() as u64 * a.seeds;
    let runner = Runner::new(total, a.threads, a.quiet, io)?;
    let out = &mut *io.out;
    let mut sink = |p: usize, r: sim_core::score::RunResult| match gather.push(p, r, out) {
        Ok(()) => std::ops::ControlFlow::Continue(()),
        Err(e) => std::ops::ControlFlow::Break(e),
    };
    let streamed = runner.stream_jobs(a.engine.engine(), &pairs, a.seeds, a.seed, 0..total, &mut sink);
    runner.finish();
    match streamed {
        std::ops::ControlFlow::Continue(()) => {}
        std::ops::ControlFlow::Break(Stopped::Sink(e)) => return Err(Failure::Output(e)),
        // No Ctrl-C handler is installed for a summarised batch: Ctrl-C ends it.
        std::ops::ControlFlow::Break(Stopped::Interrupted { .. }) => {
            return Err(Failure::Partial("interrupted".to_owned()));
        }
    }
    gather.finish(a.seed, &a.columns, a.out.as_deref(), io)
}

/// A run's line in a streamed format (after the CSV header when `header`),
/// or `None` for a summarised format.
fn streamed_line(format: BatchFormat, r: &sim_core::score::RunResult, header: bool) -> io::Result<Option<String>> {
    match format {
        BatchFormat::Table | BatchFormat::Json => Ok(None),
        BatchFormat::Csv => reports::batch::csv_record(r, header)
            .map(Some)
            .map_err(io::Error::other),
        BatchFormat::Jsonl => Ok(Some(reports::batch::jsonl_record(r))),
    }
}

/// A batch's runs as they arrive in job order, gathered for what `batch`
/// and `merge` print: a [`Tally`](sim_core::batch::Tally) per pair (table,
/// JSON), each run's line as it comes (CSV, JSON lines), the `--fail-on`
/// verdict, and the runs themselves only for an `--out` report. Nothing
/// else grows with the number of runs.
pub(crate) struct Gather {
    format: BatchFormat,
    /// The scenario and policy arguments of each pair.
    pairs: Vec<(String, String)>,
    tallies: Vec<sim_core::batch::Tally>,
    fail: FailTally,
    kept: Option<Vec<Vec<sim_core::score::RunResult>>>,
    /// The next CSV line is the first: it carries the header.
    pub first_line: bool,
    /// `--threads`, for the summaries.
    pub threads: Option<usize>,
}

impl Gather {
    pub(crate) fn new(format: BatchFormat, pairs: Vec<(String, String)>, fail_on: &[FailOn], keep: bool) -> Gather {
        Gather {
            format,
            tallies: pairs.iter().map(|_| sim_core::batch::Tally::new()).collect(),
            kept: keep.then(|| pairs.iter().map(|_| Vec::new()).collect()),
            pairs,
            fail: FailTally::new(fail_on),
            first_line: true,
            threads: None,
        }
    }

    /// The next run of the batch (of pair `p`); CSV and JSON lines go to
    /// `out` at once.
    pub(crate) fn push(&mut self, p: usize, r: sim_core::score::RunResult, out: &mut dyn Write) -> io::Result<()> {
        let (scenario, policy) = &self.pairs[p];
        self.fail.observe(&r, scenario, policy);
        self.tallies[p].push(&r);
        let header = self.format == BatchFormat::Csv && std::mem::take(&mut self.first_line);
        if let Some(line) = streamed_line(self.format, &r, header)? {
            out.write_all(line.as_bytes())?;
        }
        if let Some(kept) = &mut self.kept {
            kept[p].push(r);
        }
        Ok(())
    }

    /// What is left to print (the table or the JSON), the `--out DIR`
    /// report, and the `--fail-on` verdict.
    pub(crate) fn finish(
        self,
        seed: u64,
        columns: &[String],
        out_dir: Option<&std::path::Path>,
        io: &Io<'_>,
    ) -> Result<String, Failure> {
        let wanted = matches!(self.format, BatchFormat::Table | BatchFormat::Json) || self.kept.is_some();
        let s: Vec<_> = if wanted {
            // Each group's summary (its bootstrap is most of the cost) on
            // the batch's worker threads; collected in order.
            use rayon::prelude::*;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads.unwrap_or(0))
                .build()
                .map_err(|e| Failure::Usage(format!("cannot start worker threads: {e}")))?;
            pool.install(|| self.tallies.par_iter().map(sim_core::batch::Tally::summary).collect())
        } else {
            Vec::new()
        };
        if let (Some(dir), Some(kept)) = (out_dir, &self.kept) {
            let files = reports::batch::batch_report(seed, &s, kept).map_err(Failure::Usage)?;
            write_dir(dir, &files)?;
        }
        let out = match self.format {
            BatchFormat::Csv | BatchFormat::Jsonl => String::new(),
            BatchFormat::Json => pretty(&reports::batch::batch_json(seed, &s)),
            BatchFormat::Table => {
                let columns: Vec<&str> = if !columns.is_empty() {
                    columns.iter().map(String::as_str).collect()
                } else if io.stdout_is_terminal {
                    reports::batch::columns_that_fit(&s, usize::from(table_width(io)))
                } else {
                    reports::batch::COLUMNS.to_vec()
                };
                reports::batch::batch_table_of(seed, &s, &columns)
            }
        };
        match self.fail.message() {
            Some(message) => Err(Failure::Failed { out, message }),
            None => Ok(out),
        }
    }
}

/// `batch --shard I/N`: this shard's runs, streamed as a part for `merge`.
fn run_shard(
    a: &BatchArgs,
    shard: shard::Shard,
    pairs: &[Pair<'_>],
    named: Vec<(String, String)>,
    io: &mut Io<'_>,
    output: Option<&std::path::Path>,
) -> Result<String, Failure> {
    let part = PartOf {
        command: "batch",
        args: Vec::new(),
        engine: a.engine,
        seeds: a.seeds,
        seed: a.seed,
        format: a.format.map(|f| f.name().to_owned()).unwrap_or_default(),
        fail_on: a.fail_on.iter().map(|f| f.name().to_owned()).collect(),
        columns: a.columns.clone(),
        named,
        threads: a.threads,
        quiet: a.quiet,
        resume: a.resume,
    };
    write_part(&part, shard, pairs, io, output)
}

/// What a part (`--shard I/N`) is of: enough for `merge` to check that
/// parts belong together and to print what the unsharded command would.
pub(crate) struct PartOf {
    pub command: &'static str,
    /// The command's own arguments, for `merge` to run it again over the
    /// parts' runs (sweep, check); empty for a batch.
    pub args: Vec<String>,
    pub engine: EngineArg,
    pub seeds: u64,
    pub seed: u64,
    pub format: String,
    pub fail_on: Vec<String>,
    pub columns: Vec<String>,
    /// A name (scenario, policy) for each pair.
    pub named: Vec<(String, String)>,
    pub threads: Option<usize>,
    pub quiet: bool,
    pub resume: bool,
}

impl PartOf {
    /// A sweep's or a check's part: the aggregated engine, its arguments
    /// from `source`, none of a batch's printing options, not resumable.
    pub(crate) fn of_command(
        command: &'static str,
        source: &RunSource,
        (seeds, seed): (u64, u64),
        named: Vec<(String, String)>,
        (threads, quiet): (Option<usize>, bool),
    ) -> PartOf {
        PartOf {
            command,
            args: source.args(command),
            engine: EngineArg::Aggregated,
            seeds,
            seed,
            format: String::new(),
            fail_on: Vec::new(),
            columns: Vec::new(),
            named,
            threads,
            quiet,
            resume: false,
        }
    }
}

/// The key of a part: a hash of everything its runs depend on (every
/// validated scenario and policy, the seeds, the engine, the version) and
/// of the command's arguments.
pub(crate) fn part_key(part: &PartOf, pairs: &[Pair<'_>]) -> String {
    let mut inputs = format!(
        "aviary {}\nseeds {}\nseed {}\nengine {:?}\nargs {:?}\n",
        env!("CARGO_PKG_VERSION"),
        part.seeds,
        part.seed,
        part.engine,
        part.args
    );
    for (p, (s, po)) in pairs.iter().zip(&part.named) {
        inputs.push_str(&format!("pair {s} {po}\n{:?}\n{:?}\n", p.scenario, p.policy));
    }
    format!("{:016x}", sim_core::rng::content_hash(inputs.as_bytes()))
}

/// A shard's runs of `pairs`, streamed as a part for `merge`: a header
/// line, then a line per run in job order (`--resume` finishes a part an
/// interrupt left in `FILE.incomplete`).
pub(crate) fn write_part(
    part: &PartOf,
    shard: shard::Shard,
    pairs: &[Pair<'_>],
    io: &mut Io<'_>,
    output: Option<&std::path::Path>,
) -> Result<String, Failure> {
    let total = pairs.len() as u64 * part.seeds;
    let jobs = shard.jobs(total);
    let header = shard::Header {
        aviary_shard: 1,
        aviary_version: env!("CARGO_PKG_VERSION").to_owned(),
        command: part.command.to_owned(),
        key: part_key(part, pairs),
        shard: shard.index,
        shards: shard.count,
        format: part.format.clone(),
        seed: part.seed,
        seeds: part.seeds,
        pairs: part.named.clone(),
        fail_on: part.fail_on.clone(),
        columns: part.columns.clone(),
        jobs: (jobs.start, jobs.end),
        args: part.args.clone(),
    };
    let engine = part.engine.engine();
    let line_of = |job: u64| -> String {
        let (p, r) = one_job(engine, pairs, part.seeds, part.seed, job);
        shard::run_line(p, &r)
    };
    let preamble = Preamble::Line(shard::header_line(&header));
    let (prefix, from) = resume_from(part.resume, output, jobs.start, &preamble, &line_of)?;
    io.out.write_all(prefix.as_bytes()).map_err(Failure::Output)?;
    let runner = Runner::new(jobs.end - from, part.threads, part.quiet, io)?;
    let out = &mut *io.out;
    let mut sink = |p: usize, r: sim_core::score::RunResult| match out.write_all(shard::run_line(p, &r).as_bytes()) {
        Ok(()) => std::ops::ControlFlow::Continue(()),
        Err(e) => std::ops::ControlFlow::Break(e),
    };
    interrupt::install("stopping after the runs in progress; the finished ones are kept");
    let streamed = runner.stream_jobs(engine, pairs, part.seeds, part.seed, from..jobs.end, &mut sink);
    runner.finish();
    stopped(streamed, jobs.end - jobs.start, output).map_err(|e| match e {
        // Counted within the shard.
        Failure::Partial(m) => Failure::Partial(format!("shard {} of {}: {m}", shard.index, shard.count)),
        other => other,
    })?;
    Ok(String::new())
}

/// `batch --format csv|jsonl`: each run written as it finishes, in run
/// order, and kept only when `--out DIR` needs the whole batch.
fn stream_batch(
    a: &BatchArgs,
    format: BatchFormat,
    pairs: &[Pair<'_>],
    named: Vec<(String, String)>,
    io: &mut Io<'_>,
    output: Option<&std::path::Path>,
) -> Result<String, Failure> {
    if a.resume && (a.out.is_some() || !a.fail_on.is_empty()) {
        return Err(Failure::Usage(
            "--resume with --out or --fail-on: those need every run, which a resumed batch does not read back; \
             rerun without --resume"
                .to_owned(),
        ));
    }
    let total = pairs.len() as u64 * a.seeds;
    let preamble = if format == BatchFormat::Csv {
        Preamble::CsvHeader
    } else {
        Preamble::None
    };
    let line_of = |job: u64| -> String {
        let (_, r) = one_job(a.engine.engine(), pairs, a.seeds, a.seed, job);
        streamed_line(format, &r, false).ok().flatten().unwrap_or_default()
    };
    let (prefix, from) = resume_from(a.resume, output, 0, &preamble, &line_of)?;
    io.out.write_all(prefix.as_bytes()).map_err(Failure::Output)?;
    let runner = Runner::new(total - from, a.threads, a.quiet, io)?;
    let mut gather = Gather::new(format, named, &a.fail_on, a.out.is_some());
    gather.threads = a.threads;
    gather.first_line = from == 0;
    let out = &mut *io.out;
    let mut sink = |p: usize, r: sim_core::score::RunResult| match gather.push(p, r, out) {
        Ok(()) => std::ops::ControlFlow::Continue(()),
        Err(e) => std::ops::ControlFlow::Break(e),
    };
    interrupt::install("stopping after the runs in progress; the finished ones are kept");
    let streamed = runner.stream_jobs(a.engine.engine(), pairs, a.seeds, a.seed, from..total, &mut sink);
    runner.finish();
    stopped(streamed, total, output)?;
    gather.finish(a.seed, &[], a.out.as_deref(), io)
}

/// Job `job` of a batch, run alone (a resumed batch checks its last kept line by it).
fn one_job(
    engine: sim_core::engine::Engine,
    pairs: &[Pair<'_>],
    seeds: u64,
    seed: u64,
    job: u64,
) -> (usize, sim_core::score::RunResult) {
    let mut done = sim_core::batch::run_jobs(engine, pairs, seeds, seed, job..job + 1, &|| {});
    done.remove(0)
}

/// What comes before the run lines of a streamed output.
enum Preamble {
    None,
    /// A CSV header line, written with the first row.
    CsvHeader,
    /// A shard part's header line, written first.
    Line(String),
}

impl Preamble {
    /// What is written before any run: a part's header line (a CSV header
    /// comes with the first row).
    fn first_line(&self) -> String {
        match self {
            Preamble::Line(l) => l.clone(),
            Preamble::None | Preamble::CsvHeader => String::new(),
        }
    }
}

/// `--resume`: the whole lines of `FILE.incomplete` to write again, and the
/// job to go on from. The last kept run is run again and must give the
/// same line, so a file of another batch is refused rather than extended.
fn resume_from(
    resume: bool,
    output: Option<&std::path::Path>,
    first_job: u64,
    preamble: &Preamble,
    line_of: &dyn Fn(u64) -> String,
) -> Result<(String, u64), Failure> {
    if !resume {
        return Ok((preamble.first_line(), first_job));
    }
    let Some(path) = output else {
        return Err(Failure::Usage(
            "--resume needs --output FILE: it finishes FILE.incomplete".to_owned(),
        ));
    };
    let kept = incomplete(path);
    let shown = kept.display();
    let text = std::fs::read_to_string(&kept)
        .map_err(|e| Failure::Usage(format!("--resume: cannot read {shown} ({e}): nothing to resume")))?;
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let lines: Vec<&str> = whole.lines().collect();
    let skip = match preamble {
        Preamble::None => 0,
        Preamble::CsvHeader => usize::from(!lines.is_empty()),
        Preamble::Line(l) => {
            if lines.first() != Some(&l.trim_end()) {
                return Err(Failure::Usage(format!(
                    "--resume: {shown} is a part of another batch or shard than this command's"
                )));
            }
            1
        }
    };
    let done = (lines.len() - skip) as u64;
    if done == 0 {
        return Ok((preamble.first_line(), first_job));
    }
    let last = first_job + done - 1;
    if line_of(last).trim_end() != lines[lines.len() - 1] {
        return Err(Failure::Usage(format!(
            "--resume: {shown} was written by another batch (its last run differs from this command's run {last}); \
             rerun without --resume"
        )));
    }
    Ok((whole.to_owned(), first_job + done))
}

/// The end of a streamed batch: a failed write or a Ctrl-C as a failure.
fn stopped(
    streamed: std::ops::ControlFlow<Stopped<io::Error>>,
    total: u64,
    output: Option<&std::path::Path>,
) -> Result<(), Failure> {
    match streamed {
        std::ops::ControlFlow::Continue(()) => Ok(()),
        std::ops::ControlFlow::Break(Stopped::Sink(e)) => Err(Failure::Output(e)),
        std::ops::ControlFlow::Break(Stopped::Interrupted { next }) => {
            let kept = output.map_or_else(String::new, |p| format!(", kept in {}", incomplete(p).display()));
            Err(Failure::Partial(format!(
                "{next} of {total} runs written{kept}; the same command with --resume runs the rest"
            )))
        }
    }
}

/// The description as one paragraph (the files wrap it with line continuations).
fn one_line(description: &str) -> String {
    description.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One entry of `scenarios list` / `policies list`: a built-in or a user file.
struct Entry {
    name: String,
    description: String,
    strategy: Option<&'static str>,
    /// `built-in`, or the user file's path.
    source: String,
    /// The file's text, for `show`.
    text: String,
}

/// The folders of user files: `AVIARY_PATH` (separated like `PATH`), else
/// `./aviary` when it exists.
fn user_folders() -> Vec<PathBuf> {
    match std::env::var_os("AVIARY_PATH") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v).collect(),
        Some(_) | None => {
            let local = PathBuf::from("aviary");
            if local.is_dir() { vec![local] } else { Vec::new() }
        }
    }
}

/// The user files of one kind in the user folders (`*.toml`, by path); a
/// file that does not parse is an input error, one of the other kind is
/// left to the other list.
fn user_entries(kind: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Entry> {
    let mut entries = Vec::new();
    for dir in user_folders() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            diagnostics.push(Diagnostic {
                file: dir.display().to_string(),
                message: "cannot read this folder of user files (AVIARY_PATH or ./aviary)".to_owned(),
                ..Default::default()
            });
            continue;
        };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            if let Some(e) = user_entry(&path, kind, diagnostics) {
                entries.push(e);
            }
        }
    }
    entries
}

fn user_entry(path: &std::path::Path, kind: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Entry> {
    let label = path.display().to_string();
    let text = match scenarios::read_file(path) {
        Ok(t) => t,
        Err(d) => {
            diagnostics.extend(d);
            return None;
        }
    };
    let (name, description, strategy) = match scenarios::parse_any(&label, &text) {
        Ok(Loaded::Scenario(s)) if kind == "scenario" => (s.name, s.description, None),
        Ok(Loaded::Policy(p)) if kind == "policy" => (p.name, p.description, Some(p.strategy.name())),
        Ok(Loaded::Scenario(_) | Loaded::Policy(_) | Loaded::Script(_) | Loaded::Suite(_)) => return None,
        Err(d) => {
            diagnostics.extend(d);
            return None;
        }
    };
    Some(Entry {
        name,
        description: one_line(&description),
        strategy,
        source: label,
        text,
    })
}

/// The first sentence of a description.
fn summary_sentence(description: &str) -> String {
    let first = description.split(". ").next().unwrap_or(description);
    format!("{}.", first.trim_end_matches('.'))
}

/// The width a table is fitted to: the terminal's when stdout is one, else 100.
pub(crate) fn table_width(io: &Io<'_>) -> u16 {
    let terminal = io
        .stdout_is_terminal
        .then(|| terminal_size::terminal_size_of(std::io::stdout()))
        .flatten();
    terminal.map_or(100, |(w, _)| w.0.max(40))
}

/// A borderless table with a rule under the header, fitted to `width`
/// columns, long cells wrapped on word boundaries (comfy-table).
pub(crate) fn text_table(header: &[&str], rows: Vec<Vec<String>>, width: u16) -> String {
    use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
    const STYLE: TableStyle = TableStyle::new()
        .header_separator(LineStyle::none().fill('─').junction(' '))
        .header_lines(comfy_table::ContentLineStyle::none().junction(' '))
        .content_lines(comfy_table::ContentLineStyle::none().junction(' '));
    let mut t = Table::new();
    t.load_style(STYLE)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    let last = header.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 1 }));
    }
    let mut out = t.trim_fmt();
    out.push('\n');
    out
}

fn cmd_catalog(c: CatalogCmd, builtins: &[Builtin], kind: &str, io: &mut Io<'_>) -> Result<String, Failure> {
    let builtin = |b: &Builtin| -> Result<Entry, Failure> {
        let (description, strategy) = if kind == "policy" {
            let p = scenarios::parse_policy(&b.label(), b.text).map_err(Failure::Input)?;
            (p.description, Some(p.strategy.name()))
        } else {
            let s = scenarios::parse_scenario(&b.label(), b.text).map_err(Failure::Input)?;
            (s.description, None)
        };
        Ok(Entry {
            name: b.name.to_owned(),
            description: one_line(&description),
            strategy,
            source: "built-in".to_owned(),
            text: b.text.to_owned(),
        })
    };
    match c {
        CatalogCmd::List { format } => {
            let mut entries = builtins.iter().map(builtin).collect::<Result<Vec<_>, _>>()?;
            let mut diagnostics = Vec::new();
            entries.extend(user_entries(kind, &mut diagnostics));
            if !diagnostics.is_empty() {
                return Err(Failure::Input(diagnostics));
            }
            Ok(match format {
                ListFormat::Json => {
                    let items: Vec<serde_json::Value> = entries
                        .iter()
                        .map(|e| {
                            let mut v = serde_json::json!({"name": e.name, "description": e.description});
                            if let Some(s) = e.strategy {
                                v["strategy"] = s.into();
                            }
                            if e.source != "built-in" {
                                v["file"] = e.source.clone().into();
                            }
                            v
                        })
                        .collect();
                    pretty(&serde_json::Value::Array(items))
                }
                ListFormat::Table => {
                    let user = entries.iter().any(|e| e.source != "built-in");
                    let mut header = vec!["name"];
                    if kind == "policy" {
                        header.push("strategy");
                    }
                    header.push("description");
                    if user {
                        header.push("source");
                    }
                    let rows = entries
                        .iter()
                        .map(|e| {
                            let mut row = vec![e.name.clone()];
                            if kind == "policy" {
                                row.push(e.strategy.unwrap_or("").to_owned());
                            }
                            row.push(summary_sentence(&e.description));
                            if user {
                                row.push(e.source.clone());
                            }
                            row
                        })
                        .collect();
                    text_table(&header, rows, table_width(io))
                }
            })
        }
        CatalogCmd::Show { name, format } => {
            let entry = if let Some(b) = builtins.iter().find(|b| b.name == name) {
                builtin(b)?
            } else {
                let mut diagnostics = Vec::new();
                let path = std::path::Path::new(&name);
                let found = if path.is_file() {
                    user_entry(path, kind, &mut diagnostics)
                } else {
                    user_entries(kind, &mut diagnostics)
                        .into_iter()
                        .find(|e| e.name == name)
                };
                if !diagnostics.is_empty() {
                    return Err(Failure::Input(diagnostics));
                }
                match found {
                    Some(e) => e,
                    None if path.is_file() => {
                        return Err(Failure::Usage(format!("{name} is not a {kind} file")));
                    }
                    None => {
                        let names: Vec<&str> = builtins.iter().map(|b| b.name).collect();
                        let hint = diagnostics::closest(&name, names.iter().copied())
                            .map_or_else(String::new, |c| format!("; did you mean '{c}'?"));
                        return Err(Failure::Usage(format!(
                            "no built-in or user {kind} {name:?}{hint} (`aviary {}s list` lists them)",
                            if kind == "policy" { "policie" } else { kind }
                        )));
                    }
                }
            };
            Ok(match format {
                ShowFormat::Toml => entry.text,
                ShowFormat::Text => {
                    let label = if entry.source == "built-in" {
                        format!("<built-in>/{}.toml", entry.name)
                    } else {
                        entry.source.clone()
                    };
                    format!(
                        "{}\n\n{}\n\n# {label}\n{}",
                        entry.name,
                        wrap(&entry.description, 78),
                        entry.text
                    )
                }
            })
        }
    }
}

/// Wraps text at `width` columns on word boundaries.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

fn cmd_validate(files: &[PathBuf], io: &mut Io<'_>) -> Result<String, Failure> {
    let mut diagnostics = Vec::new();
    let mut out = String::new();
    let mut scenarios_ok = Vec::new();
    let mut policies_ok = Vec::new();
    for f in files {
        let label = f.display().to_string();
        let text = match scenarios::read_file(f) {
            Ok(t) => t,
            Err(d) => {
                diagnostics.extend(d);
                continue;
            }
        };
        match scenarios::parse_any(&label, &text) {
            Ok(Loaded::Scenario(s)) => {
                // The policy `run` would take for it is part of what it says.
                match s.policy.as_deref().map(scenarios::load_policy) {
                    Some(Err(d)) => diagnostics.extend(d),
                    Some(Ok(_)) | None => {
                        out.push_str(&format!("ok: {label} (scenario {})\n", s.name));
                        scenarios_ok.push((label, s));
                    }
                }
            }
            Ok(Loaded::Policy(p)) => {
                out.push_str(&format!("ok: {label} (policy {})\n", p.name));
                policies_ok.push((label, p));
            }
            Ok(Loaded::Suite(suite)) => {
                for (sl, sc) in &suite.scenarios {
                    for (pl, po) in &suite.policies {
                        preflight((sl, sc), (pl, po), &mut diagnostics, io);
                    }
                }
                out.push_str(&format!(
                    "ok: {label} (suite {}, {} scenarios × {} policies, {} seeds)\n",
                    suite.name,
                    suite.scenarios.len(),
                    suite.policies.len(),
                    suite.seeds
                ));
            }
            Ok(Loaded::Script(script)) => {
                let n = script.commands.len() + script.injections.len();
                out.push_str(&format!(
                    "ok: {label} (script, {n} command{})\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
            Err(d) => diagnostics.extend(d),
        }
    }
    // The pairs: each scenario with each policy given, or with its own
    // policy (else the default) when no policy file was given.
    for (label, s) in &scenarios_ok {
        if policies_ok.is_empty() {
            let own = s.policy.clone().unwrap_or_else(|| "default".to_owned());
            if let Ok(p) = scenarios::load_policy(&own) {
                preflight((label, s), (&own, &p), &mut diagnostics, io);
            }
        }
        for (plabel, p) in &policies_ok {
            preflight((label, s), (plabel, p), &mut diagnostics, io);
        }
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        // The good files are named even when another fails.
        let _ = io.out.write_all(out.as_bytes());
        Err(Failure::Input(diagnostics))
    }
}
