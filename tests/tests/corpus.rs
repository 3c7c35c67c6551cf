//! Issue 9: the mutation corpus as a fixture. Every mutant of every
//! catalog file (see `e2e::corpus`) goes through `aviary validate` in
//! process, and a sample of those that validate through `aviary run`:
//! each must exit 0, or exit 2 with nothing on stdout and every error on
//! stderr naming a file and a line (and the key, for a bad value). Never a
//! panic, never a hang, never NaN, an infinity, a NUL byte or an
//! impossible duration accepted.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::corpus::{self, Mutant};

const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/corpus.manifest");

/// How long one sampled run may take before it counts as a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// What one invocation produced, or the panic it raised.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn invoke(args: &[String]) -> Result<Outcome, String> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = catch_unwind(AssertUnwindSafe(|| {
        let mut io = cli::Io {
            out: &mut out,
            err: &mut err,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
        };
        cli::main_with(
            // One line per problem: the corpus reads file, line and key.
            std::iter::once("aviary".to_owned())
                .chain(args.iter().cloned())
                .chain(["--message-format".to_owned(), "short".to_owned()]),
            &mut io,
        )
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })?;
    Ok(Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// The line number after `label:` at the start of `rest`, if any.
fn line_after<'a>(rest: &'a str, label: &str) -> Option<(usize, &'a str)> {
    let tail = rest.strip_prefix(label)?.strip_prefix(':')?;
    let digits = tail.chars().take_while(char::is_ascii_digit).count();
    let line = tail[..digits].parse().ok()?;
    Some((line, tail[digits..].strip_prefix(':')?))
}

/// Where a diagnostic line (after `error: ` or `warning: `) points: the
/// file is the mutant (`true`) or a built-in (`false`), the line, and the
/// rest of the message.
fn located<'a>(e: &'a str, path: &str) -> Option<(bool, usize, &'a str)> {
    if let Some((line, msg)) = line_after(e, path) {
        return Some((true, line, msg));
    }
    let label_end = e.find(".toml")? + ".toml".len();
    let label = &e[..label_end];
    let (line, msg) = line_after(e, label).filter(|_| label.starts_with("<built-in>/"))?;
    Some((false, line, msg))
}

/// Why `o` breaks the contract for mutant `m` written at `path`, if it does.
fn judge(m: &Mutant, path: &str, o: &Outcome) -> Option<String> {
    let lines_in_file = m.bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut own = Vec::new();
    for l in o.stderr.lines() {
        let Some(e) = l.strip_prefix("error: ").or_else(|| l.strip_prefix("warning: ")) else {
            continue;
        };
        match located(e, path) {
            Some((_, 0, _)) | None => return Some(format!("a diagnostic without file and line: {l}")),
            Some((true, line, _)) if line > lines_in_file => {
                return Some(format!("line {line} of a file of {lines_in_file} lines: {l}"));
            }
            Some((true, _, msg)) if l.starts_with("error: ") => own.push(msg),
            Some(_) => {}
        }
    }
    match o.code {
        0 if m.must_fail => Some("accepted (exit 0) a file of a class that must fail".to_owned()),
        0 => None,
        2 => {
            if !o.stdout.is_empty() {
                return Some(format!("exit 2 with stdout: {:?}", o.stdout));
            }
            if own.is_empty() {
                return Some(format!("no error names the file:\n{}", o.stderr));
            }
            let syntax = own
                .iter()
                .any(|msg| msg.contains("invalid TOML") || msg.contains("not UTF-8"));
            if m.keyed && !syntax && !own.iter().any(|msg| msg.trim_start().starts_with("key '")) {
                return Some(format!("no error names a key:\n{}", o.stderr));
            }
            None
        }
        other => Some(format!("exit {other}:\n{}", o.stderr)),
    }
}

fn write_corpus(mutants: &[Mutant]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for m in mutants {
        std::fs::write(dir.join(&m.name), &m.bytes).expect("write mutant");
    }
    dir
}

/// The generated corpus equals the checked-in manifest (or rewrites it
/// under `UPDATE_CORPUS=1`), so the fixture cannot drift unseen.
fn check_manifest(mutants: &[Mutant]) {
    let generated = corpus::manifest(mutants);
    if std::env::var_os("UPDATE_CORPUS").is_some() {
        std::fs::write(MANIFEST, &generated).expect("write manifest");
        return;
    }
    let stored = std::fs::read_to_string(MANIFEST).unwrap_or_default();
    if stored != generated {
        let first = stored.lines().zip(generated.lines()).find(|(a, b)| a != b).map_or_else(
            || "(lengths differ)".to_owned(),
            |(a, b)| format!("stored:    {a}\ngenerated: {b}"),
        );
        panic!(
            "the corpus differs from tests/data/corpus.manifest; if the catalog or the generator changed on \
             purpose, regenerate with UPDATE_CORPUS=1\n{first}"
        );
    }
}

/// The `run` arguments for a mutant that validated: a scenario under its
/// own policy, a policy with `healthy-release`.
fn run_args(m: &Mutant, path: &str) -> Vec<String> {
    let mut args: Vec<String> = if m.scenario {
        vec!["run".into(), path.into()]
    } else {
        vec!["run".into(), "healthy-release".into(), "--policy".into(), path.into()]
    };
    args.extend(["--seed".into(), "1".into(), "--format".into(), "json".into()]);
    args
}

/// What a worker reports about job `i`.
enum Report {
    Started(usize),
    Done(usize, Result<Outcome, String>),
}

/// Runs every job on `workers` threads of their own. A job that panics
/// gives `Err`; if no job finishes within [`RUN_TIMEOUT`], the ones still
/// running are reported as hangs and the rest are left undone.
fn run_guarded(jobs: Vec<Vec<String>>, workers: usize) -> Vec<(usize, Result<Outcome, String>)> {
    let n = jobs.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..workers {
        let (queue, tx) = (queue.clone(), tx.clone());
        std::thread::spawn(move || {
            loop {
                let Some((i, args)) = queue.lock().expect("queue").pop() else {
                    return;
                };
                if tx.send(Report::Started(i)).is_err() {
                    return;
                }
                let _ = tx.send(Report::Done(i, invoke(&args)));
            }
        });
    }
    let mut running = Vec::new();
    let mut done = Vec::new();
    while done.len() < n {
        match rx.recv_timeout(RUN_TIMEOUT) {
            Ok(Report::Started(i)) => running.push(i),
            Ok(Report::Done(i, r)) => {
                running.retain(|&j| j != i);
                done.push((i, r));
            }
            Err(_) => {
                let hang = format!("no answer within {RUN_TIMEOUT:?} (a hang)");
                done.extend(running.iter().map(|&i| (i, Err(hang.clone()))));
                break;
            }
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done
}

/// Value mutations are the ones that can make a run explode; they all run.
/// Of the rest, every third.
fn sampled(m: &Mutant, index: usize) -> bool {
    m.keyed || index.is_multiple_of(3)
}

#[test]
fn every_corpus_file_is_accepted_or_rejected_with_file_line_and_key() {
    let started = Instant::now();
    let mutants = corpus::generate();
    assert!(
        (300..=2000).contains(&mutants.len()),
        "corpus of {} files",
        mutants.len()
    );
    check_manifest(&mutants);
    let dir = write_corpus(&mutants);
    let mut failures = Vec::new();
    let mut valid = Vec::new();
    for m in &mutants {
        let path = dir.join(&m.name).display().to_string();
        match invoke(&["validate".to_owned(), path.clone()]) {
            Err(panic) => failures.push(format!("{} ({}): validate panicked: {panic}", m.name, m.detail)),
            Ok(o) => {
                if let Some(why) = judge(m, &path, &o) {
                    failures.push(format!("{} ({}): validate: {why}", m.name, m.detail));
                } else if o.code == 0 {
                    valid.push((m, path));
                }
            }
        }
    }
    let validated_in = started.elapsed();
    let sample: Vec<&(&Mutant, String)> = valid
        .iter()
        .enumerate()
        .filter(|(i, (m, _))| sampled(m, *i))
        .map(|(_, v)| v)
        .collect();
    let runs = sample.len();
    let jobs = sample.iter().map(|(m, path)| run_args(m, path)).collect();
    for (i, result) in run_guarded(jobs, 2) {
        let (m, path) = sample[i];
        match result {
            Err(why) => failures.push(format!("{} ({}): run: {why}", m.name, m.detail)),
            Ok(o) => {
                if let Some(why) = judge(
                    &Mutant {
                        must_fail: false,
                        ..(*m).clone()
                    },
                    path,
                    &o,
                ) {
                    failures.push(format!("{} ({}): run: {why}", m.name, m.detail));
                }
            }
        }
    }
    eprintln!(
        "corpus: {} files, {} validate, {runs} runs; {:.1} s ({:.1} s validating)",
        mutants.len(),
        valid.len(),
        started.elapsed().as_secs_f64(),
        validated_in.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
