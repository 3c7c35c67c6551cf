//! `aviary sweep --out DIR`, interrupted by Ctrl-C (SIGINT) and finished
//! with `--resume DIR`, writes the same bytes as a sweep never interrupted.
//!
//! Its own test binary: the signal goes to the whole process, so no other
//! test may run a sweep beside this one.

use e2e::aviary;

const ARGS: [&str; 11] = [
    "sweep",
    "too-fast-promotion-leak",
    "healthy-release",
    "--vary",
    "steps[0].pause=2m,5m,10m",
    "--vary",
    "analysis.checks[0].max_increase=0.005,0.01",
    "--seeds",
    "40",
    "--format",
    "json",
];

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["", "cells"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        for p in names {
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn an_interrupted_and_resumed_sweep_is_byte_identical() {
    let base = std::env::temp_dir().join(format!("aviary-e2e-{}-resume", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (whole, cut) = (base.join("whole"), base.join("cut"));
    let with = |dir: &std::path::Path, flag: &str| {
        let mut a: Vec<String> = ARGS.iter().map(|s| (*s).to_owned()).collect();
        a.extend([flag.to_owned(), dir.display().to_string()]);
        a
    };
    let run = |args: Vec<String>| aviary(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let uninterrupted = run(with(&whole, "--out"));
    assert_eq!(uninterrupted.code, 0, "{}", uninterrupted.stderr);

    // Ctrl-C once the first cell is kept.
    let first = cut.join("cells").join("cell-000.json");
    let watcher = std::thread::spawn(move || {
        while !first.exists() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = std::process::id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
    });
    let interrupted = run(with(&cut, "--out"));
    watcher.join().unwrap();
    assert_eq!(interrupted.code, 130, "{}", interrupted.stderr);
    assert!(interrupted.stderr.contains("--resume"), "{}", interrupted.stderr);
    let kept = std::fs::read_dir(cut.join("cells")).unwrap().count();
    assert!((1..6).contains(&kept), "{kept} of 6 cells kept");
    let html = std::fs::read_to_string(cut.join("index.html")).unwrap();
    assert!(
        html.contains("This report is incomplete"),
        "the page says it is incomplete"
    );
    let partial: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cut.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(partial["incomplete"]["cells_total"], 6);
    assert_eq!(partial["cells"].as_array().unwrap().len(), kept);

    let resumed = run(with(&cut, "--resume"));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(resumed.stdout, uninterrupted.stdout, "the same JSON on stdout");
    let (a, b) = (files(&whole), files(&cut));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after the resume");
    }

    // A kept cell is reused only for the same inputs.
    let mut other = with(&cut, "--resume");
    other[8] = "41".to_owned();
    let refused = run(other);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("kept for other inputs"), "{}", refused.stderr);
    let _ = std::fs::remove_dir_all(&base);
}
