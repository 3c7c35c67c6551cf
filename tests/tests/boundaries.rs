//! The controller side of the engine cannot reach ground truth. The type
//! boundary is that nothing under `sim-core/src/control/` ever holds a
//! `World`, only a `Platform` or an `Observation`; this test keeps the
//! source from even naming the ledger, the world or its final truth.

use std::path::Path;

#[test]
fn no_file_under_control_names_the_ledger_or_the_world() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim-core/src/control");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("sim-core/src/control exists") {
        let path = entry.expect("a directory entry").path();
        let text = std::fs::read_to_string(&path).expect("a source file");
        files += 1;
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in ["ledger", "Ledger", "World", "Truth", "fault_onset", "active_faults"] {
                assert!(
                    !code.contains(word),
                    "{}:{}: names {word}: {line}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert!(files >= 5, "read the control module ({files} files)");
}
