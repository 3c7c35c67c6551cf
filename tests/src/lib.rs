//! Helpers for aviary's end-to-end tests: run the command line in process
//! and capture what it writes.

pub mod corpus;

/// What one invocation of `aviary` produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// [`aviary`] with `--message-format short`: one line per problem
/// (`FILE:LINE: key 'KEY': MESSAGE`), for tests that read file, line and
/// key rather than the rendering.
pub fn aviary_short(args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--message-format", "short"]);
    aviary(&all)
}

/// Runs `aviary ARGS…` in process, with stdout and stderr not terminals.
pub fn aviary(args: &[&str]) -> Output {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = {
        let mut io = cli::Io {
            out: &mut out,
            err: &mut err,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
        };
        cli::main_with(std::iter::once("aviary").chain(args.iter().copied()), &mut io)
    };
    Output {
        code,
        stdout: String::from_utf8(out).expect("stdout is utf-8"),
        stderr: String::from_utf8(err).expect("stderr is utf-8"),
    }
}

/// Runs `aviary ARGS…`, asserts success, and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = aviary(args);
    assert_eq!(o.code, 0, "aviary {args:?} failed:\n{}", o.stderr);
    o.stdout
}

/// Runs `aviary ARGS…` and parses stdout as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let text = ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("aviary {args:?} printed invalid JSON ({e}):\n{text}"))
}

/// Writes `text` to a fresh file named `name` in a per-test temporary folder.
pub fn temp_file(test: &str, name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aviary-e2e-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// Runs `n` seeds (master seed 1) of a built-in or file scenario under a
/// policy through the batch API, without any output formatting.
pub fn runs(scenario: &str, policy: &str, n: u64) -> Vec<sim_core::score::RunResult> {
    let s = scenarios::load_scenario(scenario).expect("scenario loads");
    let p = scenarios::load_policy(policy).expect("policy loads");
    sim_core::batch::run_batch(
        &[sim_core::batch::Pair {
            scenario: &s,
            policy: &p,
        }],
        n,
        1,
        &|| {},
    )
    .remove(0)
}
