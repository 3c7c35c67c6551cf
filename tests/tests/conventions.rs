//! The command line's conventions, next to cargo's and ripgrep's: help for
//! every flag, completions and a manual, colour that respects the stream
//! and the environment, diagnostics with the source line, `--output`
//! written whole or not at all.

use e2e::{aviary, temp_file};

/// Every argument of every subcommand, with the path of subcommands to it.
fn every_arg(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String, bool)>) {
    for a in cmd.get_arguments() {
        let id = a.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let has_help = a.get_help().is_some_and(|h| !h.to_string().trim().is_empty());
        out.push((path.to_owned(), id.to_owned(), has_help));
    }
    for s in cmd.get_subcommands() {
        every_arg(s, &format!("{path} {}", s.get_name()), out);
    }
}

#[test]
fn every_argument_and_flag_has_a_help_line() {
    let mut args = Vec::new();
    every_arg(&cli::command(), "aviary", &mut args);
    assert!(args.len() > 100, "the walk found {} arguments", args.len());
    let blank: Vec<String> = args
        .iter()
        .filter(|(_, _, h)| !h)
        .map(|(p, a, _)| format!("{p} <{a}>"))
        .collect();
    assert!(blank.is_empty(), "arguments without a help line:\n{}", blank.join("\n"));
    for s in cli::command().get_subcommands() {
        assert!(s.get_about().is_some(), "subcommand {} has no about line", s.get_name());
    }
}

/// clap_complete for each shell: the script names aviary, its subcommands
/// and a flag of a subcommand.
#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = aviary(&["completions", shell]);
        assert_eq!(o.code, 0, "{shell}: {}", o.stderr);
        for word in ["aviary", "replay-metrics", "message-format"] {
            assert!(o.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let o = aviary(&["completions", "tcsh"]);
    assert_eq!(o.code, 2, "an unknown shell is a usage error");
}

/// clap_mangen: one page for aviary and one per subcommand.
#[test]
fn the_manual_has_a_page_per_subcommand() {
    let o = aviary(&["man"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let pages = o.stdout.matches("\n.TH ").count() + usize::from(o.stdout.starts_with(".TH "));
    let subcommands = cli::command().get_subcommands().count();
    assert!(
        o.stdout.contains(".TH aviary 1"),
        "{}",
        &o.stdout[..200.min(o.stdout.len())]
    );
    assert!(o.stdout.contains(".TH aviary-batch 1"));
    assert_eq!(pages, subcommands + 1, "aviary's page and one per subcommand");
}

#[test]
fn the_version_names_the_commit() {
    let o = aviary(&["--version"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout
            .starts_with(&format!("aviary {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        o.stdout
    );
}

const BAD: &str = "name = \"p\"\nstrategy = \"canary\"\nsteps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]\n[analysis]\ninterval = \"1m\"\nfailure_limit = 1\nmin_requests = 50\nchecks = [\n  { metric = \"error_rate\", max_increse = 0.01 },\n  { metric = \"latncy_p99_ms\", max = 300 },\n]\non_failure = \"rollbak\"\n";

/// `validate` names every good file even when another fails; the summary
/// counts problems and files; diagnostics are by file, then by line.
#[test]
fn validate_names_the_good_files_and_counts_the_bad() {
    let bad = temp_file("validate-mixed", "bad.toml", BAD);
    let syntax = temp_file("validate-mixed", "syntax.toml", "name = \"s\"\nrps = = 10\n");
    let o = aviary(&[
        "validate",
        "../examples/interop/checkout-rollout.yaml",
        bad.to_str().unwrap(),
        syntax.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stdout.contains("ok: ../examples/interop/checkout-rollout.yaml"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.ends_with("aviary: 6 problems in 2 files; nothing was run\n"),
        "{}",
        o.stderr
    );
    let lines: Vec<usize> = o
        .stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .filter_map(|l| l.rsplit(':').nth(1)?.parse().ok())
        .collect();
    assert_eq!(lines, [9, 9, 10, 12, 2, 2], "{}", o.stderr);
}

/// cargo's `--message-format json`: one object per problem, with the
/// column and the suggestion.
#[test]
fn diagnostics_as_json_lines() {
    let bad = temp_file("json-diagnostics", "bad.toml", BAD);
    let o = aviary(&["validate", bad.to_str().unwrap(), "--message-format", "json"]);
    assert_eq!(o.code, 2);
    let objects: Vec<serde_json::Value> = o
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 4, "{}", o.stderr);
    let typo = &objects[1];
    assert_eq!(
        (typo["line"].as_u64(), typo["column"].as_u64(), typo["key"].as_str()),
        (Some(9), Some(28), Some("analysis.checks[1].max_increse"))
    );
    assert_eq!(typo["help"], "did you mean 'max_increase'?");
    assert_eq!(typo["severity"], "error");
    for o in &objects {
        for k in ["file", "line", "column", "key", "message", "severity"] {
            assert!(o.get(k).is_some(), "{k} missing in {o}");
        }
    }
}

/// The rendered diagnostics of a bad file, as a user sees them (plain,
/// since stderr is not a terminal here).
#[test]
fn snapshot_rendered_diagnostics() {
    let bad = temp_file("rendered", "bad.toml", BAD);
    let syntax = temp_file("rendered", "syntax.toml", "name = \"s\"\nrps = = 10\n");
    let o = aviary(&["validate", bad.to_str().unwrap(), syntax.to_str().unwrap()]);
    let dir = bad.parent().unwrap().to_str().unwrap().to_owned();
    insta::assert_snapshot!(o.stderr.replace(&dir, "DIR"));
}

/// The streamed formats hold the same runs as the whole-batch ones: a
/// JSON line per run equal to `run --format json`'s object, the CSV to
/// `--out`'s runs.csv, on any thread count.
#[test]
fn streamed_batches_equal_the_runs() {
    let args = ["batch", "checkout-error-spike", "healthy-release", "--seeds", "40"];
    let lines = |threads: &str| {
        let mut a = args.to_vec();
        a.extend(["--format", "jsonl", "--threads", threads]);
        e2e::ok(&a)
    };
    let one = lines("1");
    assert_eq!(one, lines("2"), "the thread count changes nothing");
    let rows: Vec<serde_json::Value> = one.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 80);
    for (i, row) in rows.iter().enumerate() {
        let (scenario, run) = (["checkout-error-spike", "healthy-release"][i / 40], (i % 40) as u64);
        assert_eq!(row["scenario"], scenario);
        assert_eq!(row["run"], run);
    }
    let alone = e2e::json(&["run", "checkout-error-spike", "--run", "7", "--format", "json"]);
    assert_eq!(rows[7], alone, "a line is the run's own object");
    let dir = std::env::temp_dir().join(format!("aviary-e2e-{}-streamed", std::process::id()));
    let mut a = args.to_vec();
    a.extend(["--format", "csv", "--threads", "2", "--out", dir.to_str().unwrap()]);
    let csv = e2e::ok(&a);
    assert_eq!(csv, std::fs::read_to_string(dir.join("runs.csv")).unwrap());
    assert_eq!(csv.lines().count(), 81, "a header and a row per run");
}

/// Every command has an example section, and every example in it parses
/// (clap's own parser: the flags exist and take what is given).
#[test]
fn every_command_has_examples_that_parse() {
    let cmd = cli::command();
    let mut bad = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            help.starts_with("Examples:\n"),
            "aviary {} has no examples",
            sub.get_name()
        );
        for line in help.lines().skip(1) {
            let example = line.trim();
            // The command itself, before any pipe, redirect or `&&`.
            let command = example.split(['|', '>', '&']).next().unwrap().trim();
            let words: Vec<String> = split_words(command);
            assert_eq!(words[0], "aviary", "{example}");
            assert_eq!(words[1], sub.get_name(), "{example}");
            if let Err(e) = cli::command().try_get_matches_from(&words)
                && e.kind() != clap::error::ErrorKind::DisplayHelp
            {
                bad.push(format!("the example `{example}` does not parse: {e}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Words of a shell command with single or double quotes.
fn split_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A misspelt preset, scenario or subcommand gets one suggestion, not the
/// list of every name.
#[test]
fn misspelt_names_get_a_suggestion() {
    let policy = aviary(&["run", "healthy-release", "--policy", "defualt"]);
    assert_eq!(policy.code, 2);
    assert!(policy.stderr.contains("did you mean 'default'?"), "{}", policy.stderr);
    assert!(!policy.stderr.contains("z-test-peeking"), "no list: {}", policy.stderr);
    let scenario = aviary(&["run", "checkout-eror-spike"]);
    assert!(
        scenario.stderr.contains("did you mean 'checkout-error-spike'?"),
        "{}",
        scenario.stderr
    );
    let sub = aviary(&["btch"]);
    assert_eq!(sub.code, 2);
    assert!(sub.stderr.contains("'batch'"), "{}", sub.stderr);
}
