//! Scores that mean what they say: the onset is the first harmed request,
//! a bad release is any release that harms, false alarms count in every
//! group, blind promotions are counted, and limits have one exit.

use e2e::{aviary, aviary_short, temp_file};
use scenarios::{load_scenario, parse_policy, parse_scenario};
use sim_core::batch::summarise;
use sim_core::engine::{Collect, Discard, Event, run};
use sim_core::model::{Policy, Scenario};
use sim_core::score::{Outcome, RunResult};

fn scenario(text: &str) -> Scenario {
    parse_scenario("test.toml", text).unwrap_or_else(|d| panic!("{d:?}"))
}

fn policy(text: &str) -> Policy {
    parse_policy("test.toml", text).unwrap_or_else(|d| panic!("{d:?}"))
}

fn runs(sc: &Scenario, p: &Policy, n: u64) -> Vec<RunResult> {
    (0..n).map(|i| run(sc, p, 1, i, &mut Discard)).collect()
}

/// A scenario with one error fault after `onset`, reached at `onset_weight`.
fn faulty(onset: &str, onset_weight: u32) -> Scenario {
    scenario(&format!(
        r#"
name = "late-fault"
duration = "2h"
rollout_at = "10m"
[traffic]
rps = 400
users = 50000
[fleet]
instances = 10
startup = "30s"
[stable]
error_rate = 0.001
latency_ms = {{ p50 = 40, p99 = 200 }}
[candidate]
[[faults]]
kind = "error_rate"
add = 0.05
onset = "{onset}"
onset_weight = {onset_weight}
"#
    ))
}

/// The playbook's steps, with a check that fails every analysis: the
/// canary's p50 is never below 1 % of stable's.
fn trigger_happy(steps: &str) -> Policy {
    policy(&format!(
        r#"
name = "trigger-happy"
strategy = "canary"
steps = {steps}
[analysis]
interval = "1m"
failure_limit = 0
min_requests = 1
checks = [ {{ metric = "latency_p50_ms", max_ratio = 0.01 }} ]
on_failure = "rollback"
"#
    ))
}

const PLAYBOOK: &str = r#"[ { weight = 1, pause = "10m" }, { weight = 5, pause = "10m" }, { weight = 25, pause = "10m" }, { weight = 100 } ]"#;

/// The onset is when the first harmed request was served, never a
/// scheduled time: in the error spike the fault is in force from the
/// first canary request, so the onset falls just after the 1 % step
/// starts (00:10:30), inside its first scrape interval.
#[test]
fn the_onset_is_the_first_harmed_request() {
    let sc = load_scenario("checkout-error-spike").unwrap();
    let p = scenarios::load_policy("default").unwrap();
    for r in runs(&sc, &p, 20) {
        let onset = r.fault_onset_s().expect("the fault touched requests");
        assert!((630.0..645.0).contains(&onset), "run {}: onset {onset}", r.run);
        assert!(r.exposed_requests > 0);
    }
}

/// Rolled back before a time onset: the fault never touched a request, so
/// the run is no fault run (it used to report the scheduled onset with no
/// exposed request and drag the detection rate down), and the rollback,
/// taken before any harm, is a false alarm.
#[test]
fn a_rollback_before_a_time_onset_is_a_false_alarm_not_a_fault_run() {
    let sc = faulty("30m", 0);
    let rs = runs(&sc, &trigger_happy(PLAYBOOK), 10);
    for r in &rs {
        assert_eq!(r.outcome, Outcome::RolledBack);
        assert_eq!(r.fault_onset, None, "run {}", r.run);
        assert_eq!(r.exposed_requests, 0);
        assert!(r.false_alarm() && !r.harmed());
    }
    let g = summarise(&rs);
    assert_eq!((g.fault_runs, g.false_alarms, g.detected), (0, 10, 0));
    assert_eq!(g.false_alarm_rate, Some(1.0));
    assert_eq!(g.detection_rate, None);
}

/// A policy that rolls back before a weight-gated fault starts scored
/// "detected 100 %, false alarm —" in a fault scenario: its rollbacks are
/// false alarms there too.
#[test]
fn false_alarms_count_in_fault_scenarios() {
    let sc = faulty("0s", 25);
    let g = summarise(&runs(&sc, &trigger_happy(PLAYBOOK), 10));
    assert_eq!(g.false_alarm_rate, Some(1.0));
    assert_eq!(g.fault_runs, 0);
    // Wilson's interval for 10 of 10: [0.722, 1].
    assert!(
        g.false_alarm_rate_ci95
            .is_some_and(|[lo, hi]| (lo - 0.7225).abs() < 1e-3 && hi > 0.9999)
    );
}

/// A decision taken at or after the onset but on windows that held no
/// harmed request is not a detection. With a 60 s ingestion delay, the
/// first analysis with canary data (two minutes into the canary) sees data
/// up to one minute in, before the fault starts 90 s in.
#[test]
fn a_decision_on_data_without_harm_is_not_a_detection() {
    let mut sc = faulty("90s", 0);
    sc.monitoring.ingestion_delay = sim_core::time::SimDuration::from_secs(60);
    for r in runs(&sc, &trigger_happy(PLAYBOOK), 10) {
        let (onset, d) = (r.fault_onset.unwrap(), r.decision().unwrap());
        assert!(d.at > onset, "run {}: decided after the onset", r.run);
        assert!(r.false_alarm(), "run {}: but on data from before it", r.run);
        assert_eq!(r.detection_time_s(), None);
    }
}

/// A migration that breaks the old version (751 000 failed requests a run)
/// was scored as a healthy release with a 0.5 % false-alarm rate: by ground
/// truth it is a bad release, and promoting it is an escape.
#[test]
fn a_migration_that_breaks_the_old_version_is_a_bad_release() {
    let sc = load_scenario("orders-rename-no-expand").unwrap();
    let p = scenarios::load_policy("default").unwrap();
    let rs = runs(&sc, &p, 6);
    let g = summarise(&rs);
    assert_eq!(g.fault_runs, 6, "every run harmed");
    assert!(g.failed_requests.mean > 100_000.0);
    for r in &rs {
        assert!(r.harmed());
        assert_eq!(r.escaped(), r.outcome == Outcome::Promoted);
    }
    assert!(g.detection_rate.is_some() && g.escape_rate.is_some() && g.false_alarm_rate.is_some());
}

/// A latency regression slows users without failing them: `users_slowed`
/// counts them, `users_affected` (failures) does not.
#[test]
fn slowed_users_are_counted_apart_from_failed_ones() {
    let sc = load_scenario("p99-latency-regression").unwrap();
    let p = scenarios::load_policy("default").unwrap();
    let g = summarise(&runs(&sc, &p, 20));
    assert!(g.users_slowed.mean > 0.0, "{:?}", g.users_slowed);
    assert!(g.users_slowed.mean <= g.slow_requests.mean);
    // Bootstrap intervals stay inside the support of a count.
    assert!(g.slow_requests.ci95[0] >= 0.0 && g.users_affected.ci95[0] >= 0.0);
}

fn blind_policy(extra: &str) -> Policy {
    policy(&format!(
        r#"
name = "blind"
strategy = "canary"
steps = [ {{ weight = 1, pause = "10m" }}, {{ weight = 5, pause = "10m" }}, {{ weight = 100 }} ]
[analysis]
interval = "1m"
failure_limit = 1
min_requests = 100000000
checks = [ {{ metric = "error_rate", max_increase = 0.01 }} ]
on_failure = "rollback"
{extra}
"#
    ))
}

/// `min_requests = 100000000` made every analysis inconclusive, and the
/// policy promoted every bad release silently. The default
/// `on_inconclusive = "continue"` still promotes, but counts and marks
/// each blind step; "hold" holds; "extend" never passes a blind step.
#[test]
fn blind_steps_are_counted_marked_and_can_hold_or_extend() {
    let sc = load_scenario("checkout-error-spike").unwrap();
    let mut timeline = Collect::default();
    let r = run(&sc, &blind_policy(""), 1, 0, &mut timeline);
    assert_eq!((r.outcome, r.blind_steps), (Outcome::Promoted, 2));
    assert_eq!(
        timeline
            .0
            .iter()
            .filter(|(_, e)| matches!(e, Event::BlindStep { .. }))
            .count(),
        2
    );
    let g = summarise(&runs(&sc, &blind_policy(""), 4));
    assert_eq!(g.blind_promotion_rate, Some(1.0));
    assert_eq!(g.escape_rate, Some(1.0));

    let r = run(&sc, &blind_policy(r#"on_inconclusive = "hold""#), 1, 0, &mut Discard);
    assert_eq!((r.outcome, r.blind_steps), (Outcome::Held, 0));
    let r = run(&sc, &blind_policy(r#"on_inconclusive = "extend""#), 1, 0, &mut Discard);
    assert_eq!((r.outcome, r.promoted_at), (Outcome::TimedOut, None));
    // Argo Rollouts' inconclusiveLimit: the third inconclusive measurement
    // (over a limit of 2) makes the analysis inconclusive; the rollout holds.
    let mut timeline = Collect::default();
    let r = run(&sc, &blind_policy("inconclusive_limit = 2"), 1, 0, &mut timeline);
    assert_eq!(r.outcome, Outcome::Held);
    let (at, _) = timeline
        .0
        .iter()
        .find(|(_, e)| matches!(e, Event::AnalysisInconclusive { .. }))
        .expect("marked");
    assert_eq!(at.as_secs_f64(), 630.0 + 180.0, "third analysis of the step");
}

/// `scope = "step"` starts each step's analysis afresh (Argo Rollouts'
/// step analysis); the default `rollout` accumulates failures over the
/// whole rollout (its background analysis). A check that fails every
/// analysis with a limit of 12 fails inside one 10-minute step never under
/// step scope, and in the second step under rollout scope.
#[test]
fn step_scope_starts_each_step_afresh() {
    let sc = faulty("0s", 100);
    let scoped = |scope: &str| {
        policy(&format!(
            r#"
name = "scoped"
strategy = "canary"
steps = {PLAYBOOK}
[analysis]
interval = "1m"
failure_limit = 12
min_requests = 1
scope = "{scope}"
checks = [ {{ metric = "latency_p50_ms", max_ratio = 0.01 }} ]
on_failure = "rollback"
"#
        ))
    };
    let r = run(&sc, &scoped("step"), 1, 0, &mut Discard);
    assert_eq!(r.outcome, Outcome::Promoted);
    let r = run(&sc, &scoped("rollout"), 1, 0, &mut Discard);
    assert_eq!(r.outcome, Outcome::RolledBack);
}

/// A pair whose runs would only ever be truncated is rejected before it
/// runs, naming the figure; a step too thin for `min_requests` is warned
/// about on stderr (exit 0).
#[test]
fn validation_names_the_event_budget_and_warns_of_blind_steps() {
    let sc = temp_file(
        "budget",
        "tiny-scrapes.toml",
        &(std::fs::read_to_string("../scenarios/catalog/scenarios/healthy-release.toml")
            .unwrap()
            .replace("duration = \"2h\"", "duration = \"30d\"")
            + "\n[monitoring]\nscrape_interval = \"1s\"\n"),
    );
    let fast = temp_file(
        "budget",
        "fast.toml",
        &std::fs::read_to_string("../scenarios/catalog/policies/default.toml")
            .unwrap()
            .replace("interval = \"1m\"", "interval = \"1s\""),
    );
    // 30 days of 1 s scrapes and 1 s analyses: 5.2 million events.
    let o = aviary(&["run", sc.to_str().unwrap(), "--policy", fast.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stdout.is_empty());
    assert!(
        o.stderr.contains("monitoring.scrape_interval") && o.stderr.contains("events per run"),
        "{}",
        o.stderr
    );

    let p = temp_file(
        "budget",
        "blind.toml",
        &std::fs::read_to_string("../scenarios/catalog/policies/default.toml")
            .unwrap()
            .replace("min_requests = 50", "min_requests = 100000000"),
    );
    let o = aviary(&[
        "validate",
        "../scenarios/catalog/scenarios/checkout-error-spike.toml",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("step 1 (1 %) sees about 240 canary requests per 1m interval")
            && o.stderr.contains("every analysis there is inconclusive"),
        "{}",
        o.stderr
    );
}

/// The corpus (issue 9) found pair findings pointing at the wrong place: a
/// thin step was named `steps[0]` (every other diagnostic counts from 1)
/// at the line of `steps = [`, and a key was found by the first line that
/// starts with its last word and `=`, whatever the table, even inside a
/// multi-line description. Findings now name the element 1-based and point
/// at the line that writes it.
#[test]
fn pair_findings_name_the_step_and_the_line_that_writes_it() {
    let policy = "name = \"thin\"\nstrategy = \"canary\"\n\
                  steps = [\n  { weight = 50, pause = \"10m\" },\n  { weight = 1, pause = \"10m\" },\n  { weight = 100 },\n]\n\
                  [paging]\ndiagnose = \"1m\"\n\
                  [analysis]\ninterval = \"1m\"\nfailure_limit = 1\nmin_requests = 1000\n\
                  checks = [ { metric = \"error_rate\", max_increase = 0.01 } ]\non_failure = \"rollback\"\n";
    let p = temp_file("locate", "thin.toml", policy);
    let o = aviary_short(&[
        "validate",
        "../scenarios/catalog/scenarios/healthy-release.toml",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let label = p.display().to_string();
    assert!(
        o.stderr.contains(&format!(
            "warning: {label}:5: key 'steps[2]': step 2 (1 %) sees about 240"
        )),
        "{}",
        o.stderr
    );
    // The description's second line starts like the key's own line.
    let sc = temp_file(
        "locate",
        "late-monitoring.toml",
        &(std::fs::read_to_string("../scenarios/catalog/scenarios/healthy-release.toml")
            .unwrap()
            .replace(
                "description = \"\"\"\n",
                "description = \"\"\"\nscrape_interval = 1s makes 2.6 million scrapes. ",
            )
            .replace("duration = \"2h\"", "duration = \"30d\"")
            + "\n[noise]\nperiod = \"5m\"\n\n[monitoring]\nscrape_interval = \"1s\"\n"),
    );
    let fast = temp_file(
        "locate",
        "fast.toml",
        &std::fs::read_to_string("../scenarios/catalog/policies/default.toml")
            .unwrap()
            .replace("interval = \"1m\"", "interval = \"1s\""),
    );
    let o = aviary_short(&["run", sc.to_str().unwrap(), "--policy", fast.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let lines = std::fs::read_to_string(&sc).unwrap().lines().count();
    assert!(
        o.stderr.contains(&format!(
            "error: {}:{lines}: key 'monitoring.scrape_interval'",
            sc.display()
        )),
        "{}",
        o.stderr
    );
}
