//! The real `aviary` process: exit statuses and pipes.

use std::process::{Command, Stdio};

fn aviary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aviary"))
}

#[test]
fn exit_status_is_0_on_success_and_2_on_bad_input() {
    let ok = aviary()
        .args(["run", "healthy-release", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(ok.stdout.starts_with(b"{"));
    let bad = aviary().args(["run", "no-such-scenario"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no such built-in scenario"));
    let usage = aviary().args(["batch", "--seeds", "many"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// `aviary batch … | head -1` must not crash when the reader goes away.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let mut child = aviary()
        .args(["batch", "--seeds", "50", "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The catalog's small-user-base is warned about (its steps are too thin
    // for the default policy's min_requests); nothing else may be said.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("warning: ")), "{stderr}");
}

const ESC: &str = "\x1b[";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A bad policy whose diagnostics name a line and suggest a key.
fn bad_policy(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aviary-bin-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "name = \"p\"\nstrategy = \"canary\"\nsteps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]\n[analysis]\ninterval = \"1m\"\nfailure_limit = 1\nmin_requests = 50\nchecks = [ { metric = \"error_rate\", max = 0.01, max_increse = 0.01 } ]\non_failure = \"rollback\"\n",
    )
    .unwrap();
    path
}

/// Runs `aviary ARGS` with a pseudo-terminal as stdin, stdout and stderr
/// (util-linux `script`), and returns what the terminal showed.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{} {args}", env!("CARGO_BIN_EXE_aviary")), "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("util-linux script runs");
    text(&out.stdout)
}

/// Colour only on a terminal (a pty), never under NO_COLOR, forced by
/// CLICOLOR_FORCE or --color always, and never in help written to a file.
#[test]
fn colour_follows_the_stream_and_the_environment() {
    let bad = bad_policy("colour");
    let bad = bad.to_str().unwrap();
    let pty = on_a_terminal(&format!("validate {bad}"), &[]);
    assert!(
        pty.contains(ESC) && pty.contains("did you mean 'max_increase'?"),
        "{pty:?}"
    );
    let pty_no = on_a_terminal(&format!("validate {bad}"), &[("NO_COLOR", "1")]);
    assert!(!pty_no.contains(ESC) && pty_no.contains("max_increse"), "{pty_no:?}");
    let pty_never = on_a_terminal(&format!("validate {bad} --color never"), &[]);
    assert!(!pty_never.contains(ESC), "{pty_never:?}");
    let help_pty = on_a_terminal("run --help", &[]);
    assert!(help_pty.contains(ESC), "help on a terminal is styled: {help_pty:?}");

    let piped = aviary()
        .args(["validate", bad])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    let err = text(&piped.stderr);
    assert_eq!(piped.status.code(), Some(2));
    assert!(
        !err.contains(ESC) && err.contains("^^^^^^^^^^^"),
        "plain when piped: {err}"
    );
    let forced = aviary()
        .args(["validate", bad])
        .env("CLICOLOR_FORCE", "1")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(text(&forced.stderr).contains(ESC));
    let always = aviary()
        .args(["validate", bad, "--color", "always"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(text(&always.stderr).contains(ESC), "--color always beats NO_COLOR");
    let help = aviary()
        .args(["run", "--help"])
        .env("CLICOLOR_FORCE", "0")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(!text(&help.stdout).contains(ESC), "help to a file has no escape codes");
}

/// `--output FILE` is written through a temporary file: a failed command
/// leaves neither FILE nor the temporary behind, a good one a whole FILE.
#[test]
fn output_is_whole_or_absent() {
    let dir = std::env::temp_dir().join(format!("aviary-bin-{}-output", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.json");
    let _ = std::fs::remove_file(&file);
    let failed = aviary()
        .args(["run", "no-such-scenario", "--format", "json", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing left on failure"
    );
    let ok = aviary()
        .args(["run", "healthy-release", "--format", "json", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(ok.stdout.is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&written).is_ok());
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary left: {names:?}");
}

/// A full disk (Linux's /dev/full) is an error with exit 2, for results
/// and for `--help` alike; nothing is reported as written.
#[test]
fn a_full_disk_is_an_error() {
    let streamed = ["batch", "healthy-release", "--seeds", "3", "--format", "jsonl"];
    for args in [
        &["scenarios", "list"][..],
        &["--help"][..],
        &["run", "--help"][..],
        &streamed[..],
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = aviary().args(args).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("No space left"), "{}", text(&out.stderr));
    }
}

/// `batch --format jsonl|csv` writes each run as it finishes: the first
/// lines of a batch of 21 million runs (days of work) arrive while it is
/// still running, and closing the pipe then ends it quietly.
#[test]
fn jsonl_and_csv_are_streamed_as_runs_finish() {
    use std::io::BufRead as _;
    for format in ["jsonl", "csv"] {
        let mut child = aviary()
            .args([
                "batch",
                "--seeds",
                "1000000",
                "--threads",
                "1",
                "--quiet",
                "--format",
                format,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let second = lines.next().unwrap().unwrap();
        assert!(
            child.try_wait().unwrap().is_none(),
            "{format}: the batch is still running"
        );
        let row = if format == "jsonl" {
            let v: serde_json::Value = serde_json::from_str(&first).unwrap();
            (v["scenario"].clone(), v["run"].clone())
        } else {
            assert!(first.starts_with("scenario,policy,seed,run,"), "{first}");
            let cells: Vec<&str> = second.split(',').collect();
            (cells[0].into(), cells[3].parse::<u64>().unwrap().into())
        };
        assert_eq!(row, ("healthy-release".into(), 0.into()), "{format}: run order");
        drop(lines);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{format}: a closed pipe ends it quietly");
    }
}

/// The run table colours verdicts on a terminal (a failed check red, a
/// pass green) and keeps the words; piped or under NO_COLOR it is plain.
#[test]
fn run_table_verdicts_are_coloured_on_a_terminal() {
    let args = "run checkout-error-spike --seed 7 --format table";
    let pty = on_a_terminal(args, &[]);
    let red_fail = format!("{ESC}1m{ESC}31mFAIL 1");
    let green_ok = format!("{ESC}1m{ESC}32mok");
    assert!(pty.contains(&red_fail) && pty.contains(&green_ok), "{pty:?}");
    assert!(
        pty.contains(&format!("{ESC}1m{ESC}32mROLLED BACK")),
        "the verdict: {pty:?}"
    );
    let plain = on_a_terminal(args, &[("NO_COLOR", "1")]);
    assert!(!plain.contains(ESC) && plain.contains("FAIL 1") && plain.contains("ROLLED BACK"));
    let piped = aviary()
        .args(args.split(' '))
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(!text(&piped.stdout).contains(ESC) && text(&piped.stdout).contains("FAIL 1"));
}

/// `scenarios list` and `policies list` have a header, fit 100 columns
/// when piped (descriptions wrap), and list the user files of ./aviary or
/// of AVIARY_PATH after the built-ins; `show` takes a user name or a path.
#[test]
fn lists_fit_and_include_user_files() {
    let dir = std::env::temp_dir().join(format!("aviary-bin-{}-user", std::process::id()));
    let folder = dir.join("aviary");
    std::fs::create_dir_all(&folder).unwrap();
    let policy = aviary()
        .args(["policies", "show", "default", "--format", "toml"])
        .output()
        .unwrap();
    let team = text(&policy.stdout).replace("name = \"default\"", "name = \"team-canary\"");
    std::fs::write(folder.join("team.toml"), &team).unwrap();
    let scenario = aviary()
        .args(["scenarios", "show", "healthy-release", "--format", "toml"])
        .output()
        .unwrap();
    let scenario = text(&scenario.stdout).replace("name = \"healthy-release\"", "name = \"our-service\"");
    std::fs::write(folder.join("service.toml"), &scenario).unwrap();

    let list = aviary().args(["policies", "list"]).current_dir(&dir).output().unwrap();
    let out = text(&list.stdout);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    assert!(
        out.starts_with("name ") && out.contains("strategy") && out.contains("source"),
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.chars().count() <= 100),
        "fits 100 columns:\n{out}"
    );
    let last = out.lines().filter(|l| l.starts_with("team-canary")).count();
    assert_eq!(last, 1, "the user file is listed:\n{out}");
    assert!(!out.contains("our-service"), "a scenario is not a policy");
    let json = aviary()
        .args(["scenarios", "list", "--format", "json"])
        .env("AVIARY_PATH", &folder)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let user = v.as_array().unwrap().last().unwrap();
    assert_eq!(user["name"], "our-service");
    assert!(user["file"].as_str().unwrap().ends_with("service.toml"));

    let by_name = aviary()
        .args(["policies", "show", "team-canary"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(by_name.status.code(), Some(0), "{}", text(&by_name.stderr));
    assert!(text(&by_name.stdout).starts_with("team-canary\n"));
    let by_path = aviary()
        .args(["scenarios", "show", "--format", "toml"])
        .arg(folder.join("service.toml"))
        .output()
        .unwrap();
    assert_eq!(text(&by_path.stdout), scenario);
    let typo = aviary().args(["scenarios", "show", "helthy-release"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo.stderr).contains("did you mean 'healthy-release'?"),
        "{}",
        text(&typo.stderr)
    );
    // A broken user file is bad input, named, not skipped.
    std::fs::write(folder.join("broken.toml"), "name = = 1\n").unwrap();
    let broken = aviary().args(["policies", "list"]).current_dir(&dir).output().unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken.stderr).contains("broken.toml:1"),
        "{}",
        text(&broken.stderr)
    );
}

/// The scorecard fits the terminal: on a 100-column pty it keeps the
/// columns that fit (scenario, policy, runs and the rates first); piped it
/// is whole; `--columns` picks them, and a misspelt one gets a suggestion.
#[test]
fn the_scorecard_fits_the_terminal() {
    let args = "batch healthy-release checkout-error-spike --seeds 20 --quiet --format table";
    let narrow = Command::new("script")
        .args([
            "-qec",
            &format!("stty cols 100 rows 40; {} {args}", env!("CARGO_BIN_EXE_aviary")),
            "/dev/null",
        ])
        .env_remove("NO_COLOR")
        .output()
        .map(|o| text(&o.stdout))
        .unwrap();
    let table: Vec<&str> = narrow.lines().take(4).collect();
    assert!(
        table[0].starts_with("scenario") && table[0].contains("false alarm"),
        "{narrow}"
    );
    assert!(table.iter().all(|l| l.trim_end().chars().count() <= 100), "{narrow}");
    assert!(
        !table[0].contains("records lost"),
        "a narrow terminal drops the last columns: {narrow}"
    );
    let piped = aviary().args(args.split(' ')).output().unwrap();
    assert!(text(&piped.stdout).lines().next().unwrap().contains("records lost"));
    let picked = aviary()
        .args(args.split(' '))
        .args(["--columns", "scenario,detected,detect"])
        .output()
        .unwrap();
    let first = text(&picked.stdout);
    let header: Vec<&str> = first
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header, ["scenario", "detected", "detect (med / p90)"]);
    let typo = aviary()
        .args(args.split(' '))
        .args(["--columns", "sceanrio"])
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    assert!(text(&typo.stderr).contains("did you mean 'scenario'?"));
}

/// `--shard auto` takes the shard from the engine the process runs under:
/// a Slurm array (IDs from SLURM_ARRAY_TASK_MIN), a Kubernetes Indexed
/// Job (the count by flag), or AVIARY_SHARD_INDEX/COUNT; all give the same
/// part as the explicit `--shard I/N`.
#[test]
fn shard_auto_reads_the_batch_engine() {
    let base = ["batch", "healthy-release", "--seeds", "6", "--format", "json"];
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = aviary();
        cmd.args(base).args(extra);
        for k in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_MIN",
            "SLURM_ARRAY_TASK_COUNT",
            "JOB_COMPLETION_INDEX",
            "AVIARY_SHARD_INDEX",
            "AVIARY_SHARD_COUNT",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let explicit = run(&["--shard", "1/3"], &[]);
    assert_eq!(explicit.0, Some(0), "{}", explicit.2);
    let slurm = run(
        &["--shard", "auto"],
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    );
    let k8s = run(
        &["--shard", "auto", "--shard-count", "3"],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    let gha = run(
        &["--shard", "auto"],
        &[("AVIARY_SHARD_INDEX", "1"), ("AVIARY_SHARD_COUNT", "3")],
    );
    assert_eq!(slurm, explicit);
    assert_eq!(k8s, explicit);
    assert_eq!(gha, explicit);
    let none = run(&["--shard", "auto"], &[]);
    assert_eq!(none.0, Some(2));
    assert!(none.2.contains("no shard in the environment"), "{}", none.2);
    let k8s_no_count = run(&["--shard", "auto"], &[("JOB_COMPLETION_INDEX", "1")]);
    assert!(k8s_no_count.2.contains("--shard-count"), "{}", k8s_no_count.2);
}

/// Ctrl-C (SIGINT) during a streamed batch written with --output keeps the
/// finished runs as whole lines in FILE.incomplete (exit 130, FILE not
/// written), and the same command with --resume finishes it into exactly
/// the uninterrupted bytes: for CSV (its header) and for a shard's part.
#[test]
fn an_interrupted_batch_resumes_to_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("aviary-bin-{}-resume", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [&[&str]; 2] = [&["--format", "csv"], &["--format", "json", "--shard", "1/2"]];
    for (i, extra) in cases.into_iter().enumerate() {
        let args = |file: &std::path::Path| {
            let mut cmd = aviary();
            cmd.args([
                "batch",
                "checkout-error-spike",
                "--seeds",
                "5000",
                "--threads",
                "1",
                "--quiet",
            ])
            .args(extra)
            .arg("--output")
            .arg(file);
            cmd
        };
        let whole = dir.join(format!("whole-{i}"));
        assert!(args(&whole).status().unwrap().success());
        let file = dir.join(format!("out-{i}"));
        let child = args(&file).stderr(Stdio::piped()).spawn().unwrap();
        // Interrupt once the first runs are written to the temporary file.
        let started = std::time::Instant::now();
        loop {
            let written = std::fs::read_dir(&dir).unwrap().any(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&format!(".out-{i}.")) && e.metadata().unwrap().len() > 10_000
            });
            if written || started.elapsed() > std::time::Duration::from_secs(20) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--resume"), "{}", text(&out.stderr));
        assert!(!file.exists(), "FILE is not written by an interrupted batch");
        let kept = std::fs::read_to_string(dir.join(format!("out-{i}.incomplete"))).unwrap();
        assert!(kept.ends_with('\n') && !kept.is_empty(), "whole lines are kept");
        let resumed = args(&file).arg("--resume").output().unwrap();
        assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(&whole).unwrap(),
            "case {i}"
        );
        assert!(
            !dir.join(format!("out-{i}.incomplete")).exists(),
            "the kept runs are in FILE now"
        );
    }
    // A file of another batch is not extended.
    let other = dir.join("other");
    std::fs::write(dir.join("other.incomplete"), "scenario,policy\nx,y\n").unwrap();
    let refused = aviary()
        .args([
            "batch",
            "healthy-release",
            "--seeds",
            "5",
            "--format",
            "csv",
            "--resume",
            "--output",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("another batch"),
        "{}",
        text(&refused.stderr)
    );
}
