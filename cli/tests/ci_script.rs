//! docs/ci/check.sh end to end, with the real binary: it passes an
//! unchanged policy, fails a loosened one with exit 1, and leaves the
//! JUnit report, the Markdown summary and the snapshot behind.

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci/check.sh")
}

#[test]
fn the_shell_script_gates_a_policy_change() {
    let dir = std::env::temp_dir().join(format!("aviary-ci-script-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("aviary")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::write(
        dir.join("aviary/suite.toml"),
        "name = \"payments\"\nseeds = 40\nseed = 1\nscenarios = [\"checkout-error-spike\", \"healthy-release\"]\npolicies = [\"default\"]\n",
    )
    .unwrap();
    let default = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["policies", "show", "default", "--format", "toml"])
        .output()
        .unwrap();
    std::fs::write(dir.join("aviary/policy.toml"), &default.stdout).unwrap();
    let accept = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .current_dir(&dir)
        .args([
            "check",
            "aviary/suite.toml",
            "--policy",
            "aviary/policy.toml",
            "--update",
            "--baseline",
            "aviary/aviary-baseline.json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        accept.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accept.stderr)
    );
    let run = |report: &str| {
        Command::new("sh")
            .arg(script())
            .current_dir(&dir)
            .env("AVIARY", env!("CARGO_BIN_EXE_aviary"))
            .env("AVIARY_REPORT", report)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap()
    };
    let pass = run("pass");
    let out = String::from_utf8_lossy(&pass.stdout);
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&pass.stderr)
    );
    assert!(out.contains("### aviary check: passed"), "{out}");
    for file in ["junit.xml", "summary.md", "snapshot.txt", "check.json"] {
        assert!(dir.join("pass").join(file).is_file(), "{file}");
    }
    let loosened = std::fs::read_to_string(root.join("examples/ci/loosened.toml")).unwrap();
    std::fs::write(dir.join("aviary/policy.toml"), loosened).unwrap();
    let fail = run("fail");
    let out = String::from_utf8_lossy(&fail.stdout);
    assert_eq!(
        fail.status.code(),
        Some(1),
        "{out}\n{}",
        String::from_utf8_lossy(&fail.stderr)
    );
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("accept it:"), "{out}");
    let junit = std::fs::read_to_string(dir.join("fail/junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    let _ = std::fs::remove_dir_all(&dir);
}
