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
