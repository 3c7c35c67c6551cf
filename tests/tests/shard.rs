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
