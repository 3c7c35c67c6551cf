//! The mutation corpus: the catalog's files broken in every way a person,
//! an editor or a script breaks them, and the promise that aviary answers
//! each with exit 0, or exit 2 and a message naming the file, the line and
//! (for anything but a syntax error) the key — never a panic, a hang, a
//! half-written output or a silent wrong answer.
//!
//! The fixture is `tests/data/corpus/`, written by [`generate`] from the
//! built-in catalog with a fixed seed. `corpus_is_current` fails when the
//! catalog changed and the files no longer match; regenerate them with
//!
//! ```sh
//! AVIARY_WRITE_CORPUS=1 cargo test --release -p e2e --test corpus corpus_is_current
//! ```
//!
//! Mutation classes: a line deleted; a line duplicated; a number set to 0,
//! −1, NaN, inf or 1e300; a duration set to 0s, 1ns or 1000000h; a type
//! swapped (a number quoted, a string unquoted, a table replaced by a
//! string); an enum value swapped for another kind's or an unknown one;
//! deep nesting (tables and arrays 200 levels deep); a byte-order mark; CRLF
//! line ends; a NUL byte; the file truncated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use e2e::aviary;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scenarios::catalog;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpus")
}

/// Byte offsets of the number literals outside strings and comments, and
/// of the quoted strings, per line.
/// A byte range in a line.
type Span = (usize, usize);

fn tokens(line: &str) -> (Vec<Span>, Vec<Span>) {
    let (mut numbers, mut strings) = (Vec::new(), Vec::new());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => break,
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                strings.push((start, (i + 1).min(b.len())));
                i += 1;
            }
            c if c.is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_' || b[i] == b'e') {
                    i += 1;
                }
                numbers.push((start, i));
            }
            _ => i += 1,
        }
    }
    (numbers, strings)
}

fn replace(text: &str, line: usize, span: Span, with: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[line].replace_range(span.0..span.1, with);
    lines.join("\n") + "\n"
}

/// Every mutant of one file, named by its class.
fn mutants(text: &str, rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let pick = |rng: &mut ChaCha8Rng, n: usize| rng.random_range(0..n.max(1));
    for _ in 0..3 {
        let k = pick(rng, lines.len());
        let mut l = lines.clone();
        l.remove(k);
        out.push((format!("delete-line-{}", k + 1), l.join("\n") + "\n"));
    }
    for _ in 0..2 {
        let k = pick(rng, lines.len());
        let mut l = lines.clone();
        l.insert(k, lines[k]);
        out.push((format!("duplicate-line-{}", k + 1), l.join("\n") + "\n"));
    }
    let mut numbers = Vec::new();
    let mut durations = Vec::new();
    let mut strings = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let (nums, strs) = tokens(line);
        numbers.extend(nums.into_iter().map(|s| (n, s)));
        for s in strs {
            let inner = &line[s.0 + 1..s.1.saturating_sub(1).max(s.0 + 1)];
            let is_duration = !inner.is_empty()
                && inner.chars().next().is_some_and(|c| c.is_ascii_digit())
                && inner.ends_with(['s', 'm', 'h']);
            if is_duration {
                durations.push((n, s));
            } else {
                strings.push((n, s));
            }
        }
    }
    for _ in 0..3.min(numbers.len()) {
        let (n, span) = numbers[pick(rng, numbers.len())];
        for (tag, v) in [
            ("zero", "0"),
            ("minus-one", "-1"),
            ("nan", "nan"),
            ("inf", "inf"),
            ("huge", "1e300"),
        ] {
            out.push((format!("number-{tag}-line-{}", n + 1), replace(text, n, span, v)));
        }
        out.push((format!("number-quoted-line-{}", n + 1), {
            let line = lines[n];
            replace(text, n, span, &format!("\"{}\"", &line[span.0..span.1]))
        }));
    }
    for _ in 0..2.min(durations.len()) {
        let (n, span) = durations[pick(rng, durations.len())];
        for (tag, v) in [
            ("zero", "\"0s\""),
            ("nanosecond", "\"1ns\""),
            ("million-hours", "\"1000000h\""),
        ] {
            out.push((format!("duration-{tag}-line-{}", n + 1), replace(text, n, span, v)));
        }
    }
    for _ in 0..2.min(strings.len()) {
        let (n, span) = strings[pick(rng, strings.len())];
        out.push((format!("string-unquoted-line-{}", n + 1), replace(text, n, span, "5")));
        for v in [
            "\"canary\"",
            "\"error_rate\"",
            "\"latency\"",
            "\"rollback\"",
            "\"no-such-thing\"",
        ] {
            let tag = v.trim_matches('"');
            out.push((format!("enum-{tag}-line-{}", n + 1), replace(text, n, span, v)));
        }
    }
    if let Some(n) = lines.iter().position(|l| l.starts_with('[') && !l.starts_with("[[")) {
        let mut l: Vec<String> = lines.iter().map(|s| (*s).to_owned()).collect();
        l[n] = format!("{} = \"table\"", l[n].trim_matches(['[', ']']));
        out.push((format!("table-as-string-line-{}", n + 1), l.join("\n") + "\n"));
    }
    let deep_table = (0..200).map(|i| format!("k{i}")).collect::<Vec<_>>().join(".");
    out.push(("deep-table".into(), format!("{text}[{deep_table}]\nx = 1\n")));
    out.push((
        "deep-array".into(),
        format!("deep = {}1{}\n{text}", "[".repeat(200), "]".repeat(200)),
    ));
    out.push(("bom".into(), format!("\u{feff}{text}")));
    out.push(("crlf".into(), text.replace('\n', "\r\n")));
    let mid = text.len() / 2;
    let mid = (mid..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    out.push(("nul".into(), format!("{}\0{}", &text[..mid], &text[mid..])));
    out.push(("truncated-half".into(), text[..mid].to_owned()));
    let cut = (pick(rng, text.len())..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    out.push((format!("truncated-at-{cut}"), text[..cut].to_owned()));
    out
}

/// The whole corpus: file name → text, in name order.
fn generate() -> BTreeMap<String, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_202);
    let mut out = BTreeMap::new();
    for (kind, list) in [("scenario", catalog::SCENARIOS), ("policy", catalog::POLICIES)] {
        for b in list {
            for (tag, text) in mutants(b.text, &mut rng) {
                out.insert(format!("{kind}-{}-{tag}.toml", b.name), text);
            }
        }
    }
    out
}

fn on_disk() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("the corpus folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("read");
        out.insert(name, String::from_utf8(bytes).expect("the generator writes UTF-8"));
    }
    out
}

/// The checked-in files are what the generator makes from today's catalog.
#[test]
fn corpus_is_current() {
    let want = generate();
    if std::env::var_os("AVIARY_WRITE_CORPUS").is_some() {
        let dir = corpus_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &want {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let have = on_disk();
    assert_eq!(
        have.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "regenerate: see the module documentation"
    );
    for (name, text) in &want {
        assert!(
            have[name] == *text,
            "{name} differs: regenerate (see the module documentation)"
        );
    }
}

/// What a failure must say: the file, a line, and a key unless it is a
/// syntax error.
fn check_failure(path: &str, o: &e2e::Output) -> Result<(), String> {
    if !o.stdout.is_empty() {
        return Err("something on stdout".into());
    }
    let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    if errors.is_empty() {
        return Err("no error line".into());
    }
    for e in errors {
        let Some(rest) = e.strip_prefix("error: ") else {
            continue;
        };
        // Errors about the files a scenario names (its policy) name that file.
        let rest = rest.strip_prefix(path).or_else(|| {
            rest.strip_prefix("<built-in>/").map(|r| {
                r.split_once(':')
                    .map_or(r, |(_, x)| x)
                    .trim_start_matches(|c: char| c != ':')
            })
        });
        let Some(rest) = rest else {
            return Err(format!("does not name the file: {e}"));
        };
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || digits == "0" {
            return Err(format!("no line: {e}"));
        }
        let after = &rest[digits.len()..];
        if !after.starts_with(": key '") && !after.starts_with(": invalid TOML") {
            return Err(format!("no key: {e}"));
        }
    }
    Ok(())
}

/// Every corpus file through `validate`, and the valid ones through `run`.
#[test]
fn every_corpus_file_is_answered_properly() {
    let dir = corpus_dir();
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    let files = on_disk();
    assert!(files.len() > 1000, "the corpus holds {} files", files.len());
    for name in files.keys() {
        let path = dir.join(name);
        let path = path.to_str().unwrap();
        let o = std::panic::catch_unwind(|| aviary(&["validate", path]));
        let o = match o {
            Ok(o) => o,
            Err(_) => {
                problems.push(format!("{name}: validate panicked"));
                continue;
            }
        };
        match o.code {
            0 => valid.push(name.clone()),
            2 => {
                if let Err(e) = check_failure(path, &o) {
                    problems.push(format!("{name}: {e}\n{}", o.stderr));
                }
            }
            c => problems.push(format!("{name}: exit {c}\n{}", o.stderr)),
        }
    }
    // A sample of the files that validate must also run (the scenarios
    // with the default policy, the policies against a built-in scenario).
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let sample: Vec<&String> = valid.iter().filter(|_| rng.random_range(0..4) == 0).collect();
    for name in &sample {
        let path = dir.join(name.as_str());
        let path = path.to_str().unwrap();
        let args: Vec<&str> = if name.starts_with("policy-") {
            vec![
                "run",
                "checkout-error-spike",
                "--policy",
                path,
                "--seed",
                "1",
                "--format",
                "json",
            ]
        } else {
            vec!["run", path, "--seed", "1", "--format", "json"]
        };
        match std::panic::catch_unwind(|| aviary(&args)) {
            Err(_) => problems.push(format!("{name}: run panicked")),
            Ok(o) if o.code == 0 => {
                if serde_json::from_str::<serde_json::Value>(&o.stdout).is_err() {
                    problems.push(format!("{name}: run printed no JSON"));
                }
            }
            Ok(o) if o.code == 2 => {
                if let Err(e) = check_failure(path, &o) {
                    problems.push(format!("{name}: run: {e}\n{}", o.stderr));
                }
            }
            Ok(o) => problems.push(format!("{name}: run exit {}", o.code)),
        }
    }
    eprintln!(
        "{} files: {} valid, {} of them run",
        files.len(),
        valid.len(),
        sample.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        valid.len() > 100 && sample.len() > 25,
        "{} valid, {} run",
        valid.len(),
        sample.len()
    );
}
