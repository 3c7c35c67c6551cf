//! One path for every decision: a run's own command log, replayed as a
//! script, reproduces the run — and the world's traffic is the world's,
//! whatever the controller.
//!
//! Both tests are exact comparisons on fixed seeds: they cannot fail by
//! chance, only by a controller's decisions leaking into the world's
//! randomness (or by a command the mechanics carry out differently when it
//! comes from a script).

use sim_core::control::Controller;
use sim_core::control::script::{ScriptController, Scripted};
use sim_core::engine::{Collect, Event, run, run_with};
use sim_core::model::{Action, Policy, Scenario, Strategy};
use sim_core::score::RunResult;

fn catalog() -> (Vec<Scenario>, Vec<Policy>) {
    let s = scenarios::catalog::SCENARIOS
        .iter()
        .map(|b| scenarios::load_scenario(b.name).expect("built-in scenario"))
        .collect();
    let p = scenarios::catalog::POLICIES
        .iter()
        .map(|b| scenarios::load_policy(b.name).expect("built-in policy"))
        .collect();
    (s, p)
}

/// The run's figures, without the engine's event count (a script has no
/// analysis ticks, so it processes fewer events).
fn figures(mut r: RunResult) -> RunResult {
    r.events = 0;
    // Blind steps are the policy's account of its own analyses (marked in
    // its timeline, not commands); a script runs no analysis.
    r.blind_steps = 0;
    r
}

/// Runs the policy, then its command log as a script; returns the policy's run.
fn replayed(s: &Scenario, p: &Policy, run_index: u64) -> RunResult {
    let mut log = Collect::default();
    let original = run(s, p, 1, run_index, &mut log);
    let commands: Vec<Scripted> = log
        .0
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Command(c) => Some(Scripted {
                at: c.at,
                command: c.command,
                metric: c.metric,
                by: None,
            }),
            _ => None,
        })
        .collect();
    let mut script = ScriptController::new(commands);
    let script: &mut dyn Controller = &mut script;
    let again = run_with(s, p, 1, run_index, script, &mut Collect::default());
    assert_eq!(
        figures(original.clone()),
        figures(again),
        "{} × {} run {run_index}: the replayed script changed the run",
        s.name,
        p.name
    );
    original
}

/// What the replays covered, so the test cannot pass on runs that never
/// took the action it claims to check.
#[derive(Default, Debug)]
struct Covered {
    actions: Vec<Action>,
    blue_green_switch_back: bool,
    rollback_after_contract: bool,
    strategies: Vec<&'static str>,
}

#[test]
fn a_runs_commands_replayed_as_a_script_reproduce_it() {
    let (scenarios, mut policies) = catalog();
    // No preset only holds; add one that does.
    let mut hold = scenarios::load_policy("default").expect("default");
    hold.name = "hold".to_owned();
    hold.analysis.on_failure = Action::Hold;
    policies.push(hold);
    let mut covered = Covered::default();
    for s in &scenarios {
        for p in &policies {
            for run_index in 0..2 {
                let r = replayed(s, p, run_index);
                if let Some(m) = r.mitigation {
                    covered.actions.push(m.action);
                    if matches!(p.strategy, Strategy::BlueGreen { .. })
                        && r.promoted_at.is_some_and(|t| t < m.decided_at)
                    {
                        covered.blue_green_switch_back = true;
                    }
                }
                covered.rollback_after_contract |=
                    r.migration.as_ref().is_some_and(|m| m.rolled_back_after_contract > 0);
                covered.strategies.push(p.strategy.name());
            }
        }
    }
    for a in Action::ALL {
        assert!(covered.actions.contains(&a), "no replayed run took {}", a.name());
    }
    for s in ["canary", "big_bang", "rolling", "blue_green", "flag"] {
        assert!(covered.strategies.contains(&s), "no replayed run used {s}");
    }
    assert!(
        covered.blue_green_switch_back,
        "no blue-green run switched back after the switch"
    );
    assert!(
        covered.rollback_after_contract,
        "no migration rolled back after its contract"
    );
}

/// Arrivals are the world's: the total traffic of a run is the same under
/// every preset, however differently they cut the run into chunks.
#[test]
fn total_requests_are_the_same_under_every_preset() {
    let (_, policies) = catalog();
    for name in [
        "checkout-error-spike",
        "healthy-diurnal-flash-sale",
        "orders-rename-200m",
        "too-fast-promotion-leak",
    ] {
        let s = scenarios::load_scenario(name).expect("built-in scenario");
        for run_index in 0..3 {
            let totals: Vec<(String, u64)> = policies
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        run(&s, p, 1, run_index, &mut sim_core::engine::Discard).requests_total(),
                    )
                })
                .collect();
            let first = totals[0].1;
            for (p, t) in &totals {
                assert_eq!(
                    *t, first,
                    "{name} run {run_index}: {p} served {t} requests, {} served {first}",
                    totals[0].0
                );
            }
        }
    }
}
