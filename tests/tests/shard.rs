//! `batch --shard I/N` then `aviary merge`: exactly the unsharded bytes,
//! for every output format, several shard counts (more shards than runs
//! included) and any order of the parts; a missing, repeated, cut or
//! foreign part is an error naming it.

use e2e::{aviary, ok};

const BATCH: [&str; 6] = [
    "batch",
    "checkout-error-spike",
    "healthy-release",
    "orders-rename-200m",
    "--seeds",
    "5",
];

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aviary-e2e-{}-shard", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the `count` parts of a batch in `format` and returns their paths.
fn parts(format: &str, count: u64, extra: &[&str]) -> Vec<String> {
    (0..count)
        .map(|i| {
            let path = dir().join(format!("{format}-{count}-{i}-{}.part", extra.join("")));
            let path = path.to_str().unwrap().to_owned();
            let shard = format!("{i}/{count}");
            let args = [
                &BATCH[..],
                &["--format", format, "--shard", &shard, "--output", &path],
                extra,
            ]
            .concat();
            ok(&args);
            path
        })
        .collect()
}

#[test]
fn merged_shards_equal_the_unsharded_batch() {
    for format in ["table", "json", "csv", "jsonl"] {
        let whole = ok(&[&BATCH[..], &["--format", format]].concat());
        for count in [1, 2, 4, 16] {
            let mut p = parts(format, count, &[]);
            p.reverse();
            let args: Vec<&str> = std::iter::once("merge").chain(p.iter().map(String::as_str)).collect();
            assert_eq!(ok(&args), whole, "{format} in {count} shards");
        }
    }
    // merge --format prints the parts in another format than they were given.
    let p = parts("json", 2, &[]);
    let csv = ok(&["merge", &p[1], &p[0], "--format", "csv"]);
    assert_eq!(csv, ok(&[&BATCH[..], &["--format", "csv"]].concat()));
    // The verdict of --fail-on and the report of --out come back too.
    let gate = aviary(&[&BATCH[..], &["--format", "json", "--fail-on", "false-alarm,escape"]].concat());
    let p = parts("json", 3, &["--fail-on", "false-alarm,escape"]);
    let merged = aviary(&["merge", &p[0], &p[1], &p[2]]);
    assert_eq!(
        (merged.code, &merged.stdout, &merged.stderr),
        (gate.code, &gate.stdout, &gate.stderr)
    );
}

#[test]
fn a_wrong_set_of_parts_is_an_error_naming_it() {
    let p = parts("json", 3, &[]);
    let missing = aviary(&["merge", &p[0], &p[2]]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("missing shard 1 of 3"), "{}", missing.stderr);
    let twice = aviary(&["merge", &p[0], &p[1], &p[1], &p[2]]);
    assert_eq!(twice.code, 2);
    assert!(twice.stderr.contains("shard 1 of 3 is given twice"), "{}", twice.stderr);
    // A part cut short (an interrupted shard) is not merged.
    let text = std::fs::read_to_string(&p[1]).unwrap();
    let cut = dir().join("cut.part");
    let keep: Vec<&str> = text.lines().take(text.lines().count() - 1).collect();
    std::fs::write(&cut, keep.join("\n") + "\n").unwrap();
    let short = aviary(&["merge", &p[0], cut.to_str().unwrap(), &p[2]]);
    assert_eq!(short.code, 2);
    assert!(
        short.stderr.contains("cut.part: shard 1 of 3 holds"),
        "{}",
        short.stderr
    );
    // A part of another batch (another master seed) does not belong.
    let other = dir().join("other.part");
    ok(&[
        &BATCH[..],
        &["--seed", "2", "--shard", "1/3", "--output", other.to_str().unwrap()],
    ]
    .concat());
    let foreign = aviary(&["merge", &p[0], other.to_str().unwrap(), &p[2]]);
    assert_eq!(foreign.code, 2);
    assert!(
        foreign.stderr.contains("other.part is a part of another batch"),
        "{}",
        foreign.stderr
    );
    let bad = aviary(&[&BATCH[..], &["--shard", "3/3"]].concat());
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("below the count"), "{}", bad.stderr);
}

fn suite() -> String {
    format!("{}/../examples/tuning/suite.toml", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command` (a sweep or a check) as `count` shards, each written to
/// its part with `--output`, and merges the parts in reverse order.
fn sharded(command: &[&str], count: u64, tag: &str) -> e2e::Output {
    let mut paths: Vec<String> = (0..count)
        .map(|i| {
            let path = dir().join(format!("{tag}-{count}-{i}.part"));
            let path = path.to_str().unwrap().to_owned();
            let shard = format!("{i}/{count}");
            ok(&[command, &["--shard", &shard, "--output", &path]].concat());
            path
        })
        .collect();
    paths.reverse();
    let args: Vec<&str> = std::iter::once("merge")
        .chain(paths.iter().map(String::as_str))
        .collect();
    aviary(&args)
}

/// A sweep in shards: the tuning suite with its objective, so the
/// winner's paired comparison with the base policy comes back too; every
/// format, several shard counts (more shards than some pairs have runs).
#[test]
fn merged_sweep_shards_equal_the_unsharded_sweep() {
    let suite = suite();
    let sweep = |format: &'static str| -> Vec<String> {
        [
            "sweep",
            &suite,
            "--vary",
            "analysis.checks[0].max_increase=0.005,0.02",
            "--seeds",
            "3",
            "--format",
            format,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    for format in ["table", "json", "csv", "markdown"] {
        let args = sweep(format);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let whole = aviary(&args);
        assert_eq!(whole.code, 0, "{}", whole.stderr);
        for count in [1, 3, 7] {
            let merged = sharded(&args, count, &format!("sweep-{format}"));
            assert_eq!(
                (merged.code, &merged.stdout),
                (whole.code, &whole.stdout),
                "{format} in {count} shards: {}",
                merged.stderr
            );
        }
    }
    // merge --format prints the sweep in another of its formats than the
    // shards were given.
    let json = sweep("json");
    let json: Vec<&str> = json.iter().map(String::as_str).collect();
    let mut parts = Vec::new();
    for i in 0..2 {
        let path = dir().join(format!("sweep-as-json-{i}.part"));
        let path = path.to_str().unwrap().to_owned();
        ok(&[&json[..], &["--shard", &format!("{i}/2"), "--output", &path]].concat());
        parts.push(path);
    }
    let markdown = sweep("markdown");
    let markdown: Vec<&str> = markdown.iter().map(String::as_str).collect();
    assert_eq!(
        ok(&["merge", &parts[0], &parts[1], "--format", "markdown"]),
        ok(&markdown)
    );
}

/// A check in shards, against a stored baseline and against another
/// policy on the same seeds: the merge prints the report, writes its JUnit
/// file and exits as the unsharded check does (1 on a regression).
#[test]
fn merged_check_shards_equal_the_unsharded_check() {
    let baseline = dir().join("check-baseline.json");
    let baseline = baseline.to_str().unwrap();
    let scenarios = ["checkout-error-spike", "healthy-release", "p99-latency-regression"];
    ok(&[
        &["check"][..],
        &scenarios,
        &[
            "--policy",
            "default",
            "--seeds",
            "12",
            "--update",
            "--baseline",
            baseline,
        ],
    ]
    .concat());
    let sides: [&[&str]; 2] = [
        &["--policy", "fast-promotion", "--baseline", baseline],
        &["--policy", "default", "--baseline-policy", "fast-promotion"],
    ];
    for (k, side) in sides.iter().enumerate() {
        for format in ["table", "json", "markdown"] {
            let junit = dir().join(format!("check-{k}-{format}.xml"));
            let junit = junit.to_str().unwrap().to_owned();
            let check = [
                &["check"][..],
                &scenarios,
                side,
                &["--seeds", "12", "--format", format, "--junit", &junit],
            ]
            .concat();
            let whole = aviary(&check);
            assert!(whole.code == 0 || whole.code == 1, "{}", whole.stderr);
            let whole_junit = std::fs::read_to_string(&junit).unwrap();
            std::fs::remove_file(&junit).unwrap();
            for count in [2, 5] {
                let merged = sharded(&check, count, &format!("check-{k}-{format}"));
                assert_eq!(
                    (merged.code, &merged.stdout, &merged.stderr),
                    (whole.code, &whole.stdout, &whole.stderr),
                    "{side:?} {format} in {count} shards"
                );
                assert_eq!(std::fs::read_to_string(&junit).unwrap(), whole_junit);
            }
        }
    }
    // A check's inputs that changed since its shards ran are refused.
    let scenario = dir().join("changing.toml");
    let text = ok(&["scenarios", "show", "healthy-release", "--format", "toml"]);
    std::fs::write(&scenario, &text).unwrap();
    let changing = [
        &["check", scenario.to_str().unwrap()][..],
        &[
            "--policy",
            "fast-promotion",
            "--baseline-policy",
            "default",
            "--seeds",
            "4",
        ],
    ]
    .concat();
    let part = dir().join("changing.part");
    ok(&[&changing[..], &["--shard", "0/1", "--output", part.to_str().unwrap()]].concat());
    std::fs::write(&scenario, text.replace("rps = 400", "rps = 401")).unwrap();
    let refused = aviary(&["merge", part.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("changed since the shards ran"),
        "{}",
        refused.stderr
    );
}

/// A check's part cut short by an interrupt (its runs kept whole in
/// FILE.incomplete) is finished by `--resume` into the uninterrupted
/// part's bytes; kept lines of another command are refused.
#[test]
fn a_resumed_check_part_equals_the_uninterrupted_one() {
    let check = [
        "check",
        "checkout-error-spike",
        "healthy-release",
        "--policy",
        "fast-promotion",
        "--baseline-policy",
        "default",
        "--seeds",
        "8",
        "--shard",
        "1/2",
    ];
    let whole = dir().join("check-resume-whole.part");
    ok(&[&check[..], &["--output", whole.to_str().unwrap()]].concat());
    let text = std::fs::read_to_string(&whole).unwrap();
    let cut = dir().join("check-resume.part");
    let incomplete = dir().join("check-resume.part.incomplete");
    for keep in [1, 2, 7] {
        let lines: Vec<&str> = text.lines().take(keep).collect();
        std::fs::write(&incomplete, lines.join("\n") + "\n").unwrap();
        ok(&[&check[..], &["--output", cut.to_str().unwrap(), "--resume"]].concat());
        assert_eq!(std::fs::read_to_string(&cut).unwrap(), text, "{keep} lines kept");
        assert!(!incomplete.exists());
    }
    let other: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(
        &incomplete,
        other.join("\n").replace("\"shard\":1", "\"shard\":0") + "\n",
    )
    .unwrap();
    let refused = aviary(&[&check[..], &["--output", cut.to_str().unwrap(), "--resume"]].concat());
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("another batch or shard"), "{}", refused.stderr);
}
