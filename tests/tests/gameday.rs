//! Game days: the oracle's bound, the session's replay, and what the
//! trainee's screen may show.
//!
//! Every test here is an exact comparison on fixed seeds (no statistics):
//! it fails only when a rule is broken.

use sim_core::control::script::Scripted;
use sim_core::control::{By, Command};
use sim_core::gameday::{self, Debrief};
use sim_core::model::{Policy, Scenario};
use sim_core::time::{SimDuration, SimTime};

fn load(name: &str) -> (Scenario, Policy) {
    let s = scenarios::load_scenario(name).expect("built-in scenario");
    let p = scenarios::load_policy(s.policy.as_deref().unwrap_or("default")).expect("its policy");
    (s, p)
}

fn trainee(at_s: u64, command: Command) -> Scripted {
    Scripted {
        at: SimTime::ZERO + SimDuration::from_secs(at_s),
        command,
        metric: None,
        by: Some(By::Trainee),
    }
}

/// A few trainees' ways of playing: do nothing after the start, roll back
/// early, roll back late, push on to 100 % at once, step through.
fn trainees(s: &Scenario) -> Vec<Vec<Scripted>> {
    let start = s.rollout_at.as_secs_f64() as u64;
    let mut plays = vec![
        vec![trainee(start, Command::Start)],
        vec![trainee(start, Command::Start), trainee(start + 120, Command::Rollback)],
        vec![trainee(start, Command::Start), trainee(start + 1500, Command::Rollback)],
        vec![trainee(start, Command::Start), trainee(start + 60, Command::Promote)],
    ];
    let mut stepping = vec![trainee(start, Command::Start)];
    for k in 1..6 {
        stepping.push(trainee(start + 300 * k, Command::NextStep));
    }
    plays.push(stepping);
    plays
}

/// The oracle harms no more requests, users or records than the policy or
/// any trainee, and ships a healthy release no later, on every catalog
/// scenario for three seeds.
#[test]
fn the_oracle_is_never_worse_than_the_policy_or_a_trainee() {
    for b in scenarios::catalog::SCENARIOS {
        let (s, p) = load(b.name);
        for seed in 1..=3 {
            let oracle = {
                let mut c = gameday::OracleController::new(&s);
                sim_core::engine::run_with(&s, &p, seed, 0, &mut c, &mut sim_core::engine::Discard)
            };
            let policy = sim_core::engine::run(&s, &p, seed, 0, &mut sim_core::engine::Discard);
            let mut others = vec![("policy".to_owned(), policy)];
            for (i, play) in trainees(&s).into_iter().enumerate() {
                let d: Debrief = gameday::debrief(&s, &p, &p, seed, false, &play);
                others.push((format!("trainee {i}"), d.trainee));
            }
            let records = |r: &sim_core::score::RunResult| r.migration.as_ref().map_or(0, |m| m.records_lost);
            for (who, r) in &others {
                let ctx = format!("{} seed {seed}: oracle vs {who}", s.name);
                assert!(
                    oracle.blast_failed_requests() <= r.blast_failed_requests(),
                    "{ctx}: failed requests"
                );
                assert!(
                    oracle.blast_slow_requests() <= r.blast_slow_requests(),
                    "{ctx}: slow requests"
                );
                assert!(oracle.users_affected <= r.users_affected, "{ctx}: users");
                assert!(oracle.lost_conversions <= r.lost_conversions, "{ctx}: conversions");
                assert!(records(&oracle) <= records(r), "{ctx}: records lost");
                if s.is_healthy() && s.migration.is_none() {
                    assert!(!oracle.false_alarm(), "{ctx}: the oracle stopped a healthy release");
                    let ship =
                        |r: &sim_core::score::RunResult| r.promoted_at.map_or(f64::INFINITY, |t| t.as_secs_f64());
                    assert!(ship(&oracle) <= ship(r), "{ctx}: time to ship");
                }
            }
        }
    }
}
