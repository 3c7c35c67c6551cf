//! Migrations: the last safe rollback point, data lost only by a rollback
//! that crossed the contract, and the backfill's speed against latency.

use e2e::{ok, runs};
use scenarios::{load_policy, load_scenario};
use sim_core::engine::{Discard, run};
use sim_core::score::{Outcome, RunResult};

/// A bug caught before the contract: reads and writes switch back, nothing is lost.
#[test]
fn rollback_before_the_contract_loses_nothing() {
    for r in runs("migration-contract-too-early", "expand-contract-safe", 40) {
        let m = r.migration.as_ref().unwrap();
        if r.outcome == Outcome::RolledBack {
            assert_eq!(m.contracted_at, None, "run {}: rolled back before the contract", r.run);
        }
        assert_eq!(m.records_lost, 0, "run {}", r.run);
        assert_eq!(m.rolled_back_after_contract, 0);
    }
}

/// Expected new-shape-only records between the contract and the rollback,
/// by hand: 400 requests/s × 5 % writes × the share that succeeds
/// (0.1 % base errors, plus the fault's 5 % after its onset), integrated
/// over the time the new version served alone after the contract.
fn hand_count(r: &RunResult) -> f64 {
    let m = r.migration.as_ref().unwrap();
    let contract = m.contracted_at.unwrap().as_secs_f64();
    let onset = r.fault_onset_s().unwrap();
    let until = r.rollback_done_at.unwrap().as_secs_f64();
    let before = (onset - contract).max(0.0) * (1.0 - 0.001);
    let after = (until - onset.max(contract)) * (1.0 - 0.001) * (1.0 - 0.05);
    400.0 * 0.05 * (before + after)
}

/// A rollback after the contract: the records written in the new shape since
/// are lost without a replay path, and replayed (restored) with one.
#[test]
fn rollback_after_the_contract_loses_exactly_the_new_shape_records() {
    let s = load_scenario("migration-rollback-after-contract").unwrap();
    for (policy, replay) in [("expand-contract-hasty", false), ("expand-contract-safe", true)] {
        let p = load_policy(policy).unwrap();
        let r = run(&s, &p, 1, 0, &mut Discard);
        let m = r.migration.as_ref().unwrap();
        assert_eq!(m.rolled_back_after_contract, 1, "{policy}");
        let counted = if replay { m.records_restored } else { m.records_lost } as f64;
        let other = if replay { m.records_lost } else { m.records_restored };
        assert_eq!(other, 0, "{policy}");
        let expected = hand_count(&r);
        // Poisson arrivals and binomial writes: sd ≈ √expected; allow 4 sd.
        assert!(
            (counted - expected).abs() < 4.0 * expected.sqrt(),
            "{policy}: {counted} records, by hand {expected:.0}"
        );
        if replay {
            // Replaying at 2 000 rows/s after a 20-minute restore.
            let want = 1200.0 + counted / 2000.0;
            assert!((m.restore_duration.as_secs_f64() - want).abs() < 0.01);
        }
    }
}

/// Data is lost only when a rollback crossed the contract.
#[test]
fn data_is_lost_only_when_a_rollback_crossed_the_contract() {
    let scenarios = [
        "orders-rename-200m",
        "customer-type-required",
        "enum-pending-queued",
        "migration-contract-too-early",
        "migration-rollback-after-contract",
    ];
    for s in scenarios {
        for p in ["expand-contract-safe", "expand-contract-hasty"] {
            for r in runs(s, p, 20) {
                let m = r.migration.as_ref().unwrap();
                assert_eq!(
                    m.records_lost > 0,
                    m.rolled_back_after_contract > 0 && m.records_restored == 0,
                    "{s} × {p} run {}",
                    r.run
                );
            }
        }
    }
}

/// The rename done wrong: the old version, still serving 99 % of traffic at
/// the first canary step, fails every request that touches the table (95 %).
#[test]
fn a_rename_without_expand_fails_the_old_versions_traffic() {
    for r in runs("orders-rename-no-expand", "default", 10) {
        let step = r.steps.iter().find(|x| x.weight == 1).expect("first step");
        let stable_requests = step.requests - step.candidate_requests;
        let stable_failed = step.failed - step.candidate_failed;
        let rate = stable_failed as f64 / stable_requests as f64;
        assert!((rate - 0.95).abs() < 0.005, "run {}: old version fails {rate}", r.run);
        let candidate_rate = step.candidate_failed as f64 / step.candidate_requests as f64;
        assert!(candidate_rate < 0.02, "the new version is fine: {candidate_rate}");
    }
}

/// Backfill speed against latency, as configured. 200 M rows at 10 000 rows
/// × 2 (safe) or 4 (hasty) batches a second take 10 000 s or 5 000 s; the
/// extra 400 or 800 queries a second on a database serving 800 of its 2 000
/// raise its M/M/1 latency 5 ms / (1 − ρ) from ρ = 0.4 to 0.6 or 0.8:
/// +4.17 ms or +16.67 ms per request.
#[test]
fn backfill_speed_trades_against_latency() {
    let s = load_scenario("orders-rename-200m").unwrap();
    let expect = [
        ("expand-contract-safe", 10_000.0, 5.0 * (1.0 / 0.4 - 1.0 / 0.6)),
        ("expand-contract-hasty", 5_000.0, 5.0 * (1.0 / 0.2 - 1.0 / 0.6)),
    ];
    for (policy, seconds, added_ms) in expect {
        let r = run(&s, &load_policy(policy).unwrap(), 1, 0, &mut Discard);
        let m = r.migration.unwrap();
        let d = m.backfill_duration.unwrap().as_secs_f64();
        // Progress is booked per chunk (a 15 s scrape interval at most).
        assert!(d >= seconds && d <= seconds + 15.0, "{policy}: backfill {d} s");
        assert!(
            (m.latency_cost_of_backfill_ms - added_ms).abs() < 0.01,
            "{policy}: {} ms",
            m.latency_cost_of_backfill_ms
        );
        assert_eq!(m.records_lost, 0);
    }
}

/// `aviary run orders-rename-200m --seed 1` shows the phases and marks the
/// last safe rollback point, in text and in the event stream.
#[test]
fn the_timeline_shows_the_phases_and_the_last_safe_rollback_point() {
    let text = ok(&["run", "orders-rename-200m", "--seed", "1", "--format", "table"]);
    let order = [
        "expand started",
        "dual_write started",
        "backfill started",
        "switch_reads started",
        "last safe rollback point",
        "contract done",
    ];
    let mut at = 0;
    for needle in order {
        let pos = text[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing or out of order"));
        at += pos;
    }
    assert!(text.contains("migration: last safe rollback point"));
    let jsonl = ok(&["run", "orders-rename-200m", "--seed", "1", "--format", "jsonl"]);
    let events: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "migration_phase_started")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["expand", "dual_write", "backfill", "switch_reads", "contract"]);
    let marker = events
        .iter()
        .find(|e| e["type"] == "last_safe_rollback_point")
        .expect("marked");
    let run = events.last().unwrap();
    assert_eq!(run["migration"]["last_safe_rollback_at_s"], marker["t_s"]);
    for key in [
        "records_lost",
        "records_restored",
        "restore_duration_s",
        "backfill_duration_s",
        "latency_cost_of_backfill",
        "last_safe_rollback_at_s",
        "rolled_back_after_contract",
    ] {
        assert!(run["migration"].get(key).is_some(), "migration.{key}");
    }
}
