//! Engine behaviour: determinism, conservation, bookkeeping and the
//! figures the seed texts quote. Scenarios are built in code here; the file
//! formats are tested in the `scenarios` crate.

use sim_core::batch::{Pair, run_batch, summarise};
use sim_core::engine::{Collect, Discard, Event, Verdict, run};
use sim_core::model::*;
use sim_core::score::{Outcome, RunResult};
use sim_core::time::SimDuration;
use sim_core::timeline::Measurement;

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

fn scenario(faults: Vec<Fault>) -> Scenario {
    let stable = VersionSpec {
        error_rate: 0.001,
        latency_ms_p50: 40.0,
        latency_ms_p99: 200.0,
        conversion_rate: 0.05,
        memory_mb: 256.0,
    };
    Scenario {
        name: "test".into(),
        description: String::new(),
        duration: secs(7200),
        rollout_at: secs(600),
        traffic: Traffic {
            rps: 400.0,
            users: 50_000,
            shape: Shape::Constant,
            spikes: vec![],
            session_requests: 10.0,
        },
        fleet: FleetSpec {
            instances: 10,
            startup: secs(30),
            capacity_rps: None,
            workers: 8,
            memory_limit_mb: 1024.0,
        },
        candidate: stable.clone(),
        stable,
        faults,
        monitoring: MonitoringSpec {
            scrape_interval: secs(15),
            ingestion_delay: SimDuration::ZERO,
            latency: LatencyModel::LogHistogram,
        },
        slo: Slo {
            latency_ms: 1000.0,
            availability: 0.999,
        },
        dependency: None,
        incidents: vec![],
        noise: None,
        segments: vec![],
        flags: vec![],
        flag_propagation: secs(5),
        migration: None,
        policy: None,
    }
}

fn fault(effect: FaultEffect, onset: u64) -> Fault {
    Fault {
        effect,
        onset: secs(onset),
        onset_weight: 0,
        fraction: 1.0,
        segment: None,
        flag: None,
    }
}

fn error_fault(add: f64, onset: u64) -> Fault {
    fault(FaultEffect::ErrorRate { add, multiply: 1.0 }, onset)
}

fn policy(steps: &[(u32, u64)], checks: Vec<Check>, failure_limit: u32) -> Policy {
    Policy {
        name: "p".into(),
        description: String::new(),
        strategy: Strategy::Canary {
            routing: Routing::Weighted,
        },
        steps: steps
            .iter()
            .map(|&(weight, pause)| Step {
                weight,
                pause: secs(pause),
            })
            .collect(),
        analysis: AnalysisSpec {
            interval: secs(60),
            failure_limit,
            consecutive: false,
            min_requests: 50,
            checks,
            on_failure: Action::Rollback,
            after_promotion: SimDuration::ZERO,
            score: None,
            on_inconclusive: OnInconclusive::Continue,
            inconclusive_limit: None,
            scope: AnalysisScope::Rollout,
            count_failures: sim_core::model::FailureCount::PerCheck,
            no_data: sim_core::model::NoData::Inconclusive,
            delay: SimDuration::ZERO,
            from_step: None,
            window: sim_core::model::AnalysisWindow::Interval,
            hold_on_failure: false,
            baseline_offset: SimDuration::ZERO,
        },
        rollback_delay: secs(10),
        paging: Paging {
            ack_median: secs(300),
            ack_p90: secs(1200),
            diagnose: secs(600),
            then: Action::Rollback,
        },
        hotfix: Hotfix {
            build: secs(1800),
            hold_weight: 1,
        },
        migration: None,
    }
}

fn error_check(max_increase: f64) -> Check {
    Check::bounds(
        Metric::ErrorRate,
        Bounds {
            max_increase: Some(max_increase),
            ..Bounds::default()
        },
    )
}

fn playbook() -> Policy {
    policy(
        &[(1, 600), (5, 600), (25, 600), (50, 600), (100, 0)],
        vec![
            error_check(0.01),
            Check::bounds(
                Metric::LatencyP95,
                Bounds {
                    max_increase: Some(50.0),
                    ..Bounds::default()
                },
            ),
            Check::bounds(
                Metric::LatencyP99,
                Bounds {
                    max_ratio: Some(1.4),
                    ..Bounds::default()
                },
            ),
        ],
        1,
    )
}

fn runs(s: &Scenario, p: &Policy, n: u64) -> Vec<RunResult> {
    run_batch(&[Pair { scenario: s, policy: p }], n, 11, &|| {}).remove(0)
}

#[test]
fn same_seed_gives_the_same_run_and_other_seeds_differ() {
    let s = scenario(vec![error_fault(0.05, 0)]);
    let p = playbook();
    let a = run(&s, &p, 7, 3, &mut Discard);
    let b = run(&s, &p, 7, 3, &mut Discard);
    assert_eq!(a, b);
    assert_ne!(a, run(&s, &p, 7, 4, &mut Discard), "run index must change the draws");
    assert_ne!(a, run(&s, &p, 8, 3, &mut Discard), "master seed must change the draws");
}

/// Requests are conserved: every request is served by exactly one version,
/// and the per-segment ledger adds up to the totals.
#[test]
fn requests_are_conserved() {
    for s in [
        scenario(vec![]),
        scenario(vec![error_fault(0.05, 0)]),
        scenario(vec![error_fault(0.02, 900)]),
    ] {
        for r in runs(&s, &playbook(), 40) {
            let seg_total: u64 = r.steps.iter().map(|x| x.requests).sum();
            let seg_candidate: u64 = r.steps.iter().map(|x| x.candidate_requests).sum();
            let seg_failed: u64 = r.steps.iter().map(|x| x.failed).sum();
            assert_eq!(seg_total, r.requests_total(), "seed {} run {}", r.seed, r.run);
            assert_eq!(seg_candidate, r.candidate.requests);
            assert_eq!(seg_failed, r.failed_requests_total());
            assert!(r.candidate.failed <= r.candidate.requests);
            assert!(r.candidate.fault_failed <= r.candidate.failed);
            assert!(r.exposed_requests <= r.candidate.requests);
            assert!(r.users_affected <= r.candidate.fault_failed);
            assert!(r.steps.iter().all(|x| x.weight <= 100));
            // Poisson total over 2 h at 400 rps: mean 2.88 M, sd 1 697; 6 sd.
            let expected = 400.0 * 7200.0;
            assert!((r.requests_total() as f64 - expected).abs() < 6.0 * expected.sqrt());
        }
    }
}

/// The onset is the first harmed request: the fault is in force from
/// 930 s, and at 200 canary requests a second the first of them comes a
/// few milliseconds later. Detection time is decision − onset; mitigation
/// is the rollback delay later.
#[test]
fn onset_detection_and_mitigation_bookkeeping() {
    // rollout at 600 s, first instance ready at 630 s, fault 300 s later.
    let s = scenario(vec![error_fault(0.5, 300)]);
    let p = policy(&[(10, 3600), (100, 0)], vec![error_check(0.01)], 0);
    let mut timeline = Collect::default();
    let r = run(&s, &p, 1, 0, &mut timeline);
    let onset = r.fault_onset_s().unwrap();
    assert!((930.0..930.1).contains(&onset), "{onset}");
    // Analysis runs every 60 s from 630 s; the window ending at 930 s holds no
    // faulty request, the one ending at 990 s does; failure_limit 0 → decide.
    assert_eq!(r.detected_at_s(), Some(990.0));
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
    assert!(close(r.detection_time_s(), 990.0 - onset));
    assert_eq!(r.mitigated_at_s(), Some(1000.0));
    assert!(close(r.time_to_mitigate_s(), 1000.0 - onset));
    assert_eq!(r.outcome, Outcome::RolledBack);
    assert!(!r.false_alarm());
    let kinds: Vec<&str> = timeline
        .0
        .iter()
        .filter_map(|(_, e)| match e {
            Event::FaultOnset { .. } => Some("active"),
            Event::HarmOnset => Some("onset"),
            Event::Decided { .. } => Some("decided"),
            Event::RollbackCompleted => Some("rolled back"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["active", "onset", "decided", "rolled back"]);
}

/// Argo Rollouts semantics: the analysis fails once failures exceed
/// `failure_limit`, so a limit of 2 needs 3 failed measurements.
#[test]
fn failure_limit_counts_failures_beyond_the_limit() {
    let s = scenario(vec![error_fault(0.5, 0)]);
    for limit in 0..4u32 {
        let p = policy(&[(10, 3600), (100, 0)], vec![error_check(0.01)], limit);
        let r = run(&s, &p, 1, 0, &mut Discard);
        // From the first harmed request, a few ms after the canary starts.
        let t = r.detection_time_s().unwrap();
        let expected = 60.0 * f64::from(limit + 1);
        assert!(t <= expected && t > expected - 0.1, "limit {limit}: {t}");
    }
}

/// Fewer canary requests than `min_requests` is inconclusive, never a failure.
#[test]
fn too_few_requests_is_inconclusive_not_failed() {
    let s = scenario(vec![error_fault(0.5, 0)]);
    let mut p = policy(&[(1, 1200), (100, 0)], vec![error_check(0.01)], 0);
    p.analysis.min_requests = 1_000_000;
    let mut timeline = Collect::default();
    let r = run(&s, &p, 1, 0, &mut timeline);
    assert_eq!(
        r.outcome,
        Outcome::Promoted,
        "nothing conclusive, so nothing stops promotion"
    );
    assert!(r.escaped());
    let verdicts: Vec<Verdict> = timeline
        .0
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Analysis { measurements } => Some(measurements[0].verdict),
            _ => None,
        })
        .collect();
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(|v| *v == Verdict::Inconclusive));
}

/// The SRE workbook's arithmetic: a canary failing 20 % of requests at a 5 %
/// step adds 5 % × 20 % = 1 % to the service-wide error rate (closed form
/// w · p). The gate is opened wide so the step runs its full length.
#[test]
fn sre_canary_five_percent_times_twenty_percent_is_one_percent() {
    let mut s = scenario(vec![error_fault(0.20, 0)]);
    s.stable.error_rate = 0.0;
    s.candidate.error_rate = 0.0;
    s.fleet.instances = 20;
    let p = policy(&[(5, 1800), (100, 0)], vec![error_check(1.0)], 0);
    let results = runs(&s, &p, 20);
    let (mut failed, mut total) = (0u64, 0u64);
    for r in &results {
        let step = r.steps.iter().find(|x| x.weight == 5).expect("the 5 % step ran");
        failed += step.failed;
        total += step.requests;
    }
    let rate = failed as f64 / total as f64;
    // ~14.4 M requests; the binomial-of-binomial sd of the rate is < 3e-5.
    assert!((rate - 0.01).abs() < 2e-4, "service-wide error rate {rate}");
}

/// A healthy release has no fault-caused harm, whatever the policy decides.
#[test]
fn healthy_release_has_no_blast_radius() {
    let s = scenario(vec![]);
    assert!(s.is_healthy());
    for r in runs(&s, &playbook(), 50) {
        assert_eq!(r.blast_failed_requests(), 0);
        assert_eq!(r.blast_slow_requests(), 0);
        assert_eq!(r.users_affected, 0);
        assert_eq!(r.fault_onset, None);
        assert_eq!(r.detection_time_s(), None);
        if r.outcome == Outcome::Promoted {
            // 30 s start-up before steps 1, 3, 4 and 5 need new instances; 4 pauses of 10 min.
            assert_eq!(r.rollout_duration_s(), Some(4.0 * 600.0 + 4.0 * 30.0));
        } else {
            assert!(r.false_alarm());
        }
    }
}

/// Distinct users hit by F fault-caused failures spread uniformly over U
/// users: E = U (1 − (1 − 1/U)^F), the classical occupancy expectation. Also
/// "1 % of 100 users is one user": the count never exceeds the population.
#[test]
fn users_affected_follows_the_occupancy_expectation() {
    let mut s = scenario(vec![error_fault(0.05, 0)]);
    s.traffic.users = 100;
    let p = policy(&[(1, 7000), (100, 0)], vec![error_check(1.0)], 0);
    let results = runs(&s, &p, 400);
    let u = 100.0f64;
    let (mut observed, mut expected) = (0.0, 0.0);
    for r in &results {
        assert!(r.users_affected <= 100);
        observed += r.users_affected as f64;
        expected += u * (1.0 - (1.0 - 1.0 / u).powf(r.candidate.fault_failed as f64));
    }
    let n = results.len() as f64;
    // Per-run sd of the occupancy count is below 5 users; 400 runs → SE < 0.25.
    assert!(
        (observed / n - expected / n).abs() < 1.0,
        "observed {} expected {}",
        observed / n,
        expected / n
    );
}

/// Monitoring is the controller's only view: what the analysis measured
/// must agree with the ground truth it never reads.
#[test]
fn monitoring_measures_what_the_ledger_records() {
    let s = scenario(vec![error_fault(0.05, 0)]);
    let p = policy(&[(50, 3600), (100, 0)], vec![error_check(1.0)], 0);
    let mut timeline = Collect::default();
    let r = run(&s, &p, 3, 0, &mut timeline);
    let rates: Vec<f64> = timeline
        .0
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Analysis { measurements } => measurements[0].candidate,
            _ => None,
        })
        .collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let truth = r.candidate.failed as f64 / r.candidate.requests as f64;
    assert!((mean - truth).abs() < 0.002, "monitoring {mean} vs ledger {truth}");
    assert!((truth - 0.051).abs() < 0.002);
}

/// The cost of a run does not depend on the request rate: the number of
/// events is the same at 100 and at 10 000 requests per second.
#[test]
fn event_count_does_not_grow_with_traffic() {
    let p = playbook();
    let mut slow = scenario(vec![]);
    slow.traffic.rps = 100.0;
    let mut fast = scenario(vec![]);
    fast.traffic.rps = 10_000.0;
    let mut p_open = p.clone();
    p_open.analysis.checks = vec![error_check(1.0)];
    let a = run(&slow, &p_open, 1, 0, &mut Discard);
    let b = run(&fast, &p_open, 1, 0, &mut Discard);
    assert_eq!(a.outcome, Outcome::Promoted);
    assert_eq!(a.events, b.events);
    assert!(b.requests_total() > 90 * a.requests_total());
}

/// `hold` stops the rollout and waits for a human who, in this model, never comes.
#[test]
fn hold_keeps_the_weight_and_is_not_mitigated() {
    let s = scenario(vec![error_fault(0.5, 0)]);
    let mut p = policy(&[(10, 3600), (100, 0)], vec![error_check(0.01)], 0);
    p.analysis.on_failure = Action::Hold;
    let r = run(&s, &p, 1, 0, &mut Discard);
    assert_eq!(r.outcome, Outcome::Held);
    assert_eq!(r.mitigated_at_s(), None);
    assert!(r.detection_time_s().is_some());
}

/// A latency fault causes slow requests (over the SLO) but no failures.
#[test]
fn latency_fault_is_scored_as_slow_requests() {
    let mut s = scenario(vec![fault(
        FaultEffect::Latency {
            p50_factor: 3.0,
            p50_add_ms: 0.0,
            p99_factor: 3.0,
            p99_add_ms: 0.0,
        },
        0,
    )]);
    s.slo.latency_ms = 300.0;
    let p = playbook();
    let r = run(&s, &p, 2, 0, &mut Discard);
    assert_eq!(r.blast_failed_requests(), 0);
    assert!(r.blast_slow_requests() > 0);
    assert_eq!(r.outcome, Outcome::RolledBack);
    assert!(matches!(
        r.decision().and_then(|d| d.metric),
        Some(Metric::LatencyP95 | Metric::LatencyP99)
    ));
}

/// A fault touching a fraction of requests harms about that fraction.
#[test]
fn fault_fraction_scales_the_harm() {
    let mut full = scenario(vec![error_fault(0.10, 0)]);
    full.stable.error_rate = 0.0;
    full.candidate.error_rate = 0.0;
    let mut part = full.clone();
    part.faults[0].fraction = 0.25;
    let p = policy(&[(20, 3600), (100, 0)], vec![error_check(1.0)], 0);
    let rate = |s: &Scenario| {
        let rs = runs(s, &p, 10);
        let f: u64 = rs.iter().map(|r| r.candidate.fault_failed).sum();
        let n: u64 = rs.iter().map(|r| r.candidate.requests).sum();
        f as f64 / n as f64
    };
    let (a, b) = (rate(&full), rate(&part));
    assert!((a - 0.10).abs() < 0.003, "{a}");
    assert!((b - 0.025).abs() < 0.002, "{b}");
}

#[test]
fn batch_summary_counts_outcomes() {
    let s = scenario(vec![error_fault(0.05, 0)]);
    let rs = runs(&s, &playbook(), 30);
    let g = summarise(&rs);
    assert_eq!(g.runs, 30);
    assert_eq!(g.outcomes.iter().sum::<usize>(), 30);
    assert_eq!(g.detection_rate, Some(1.0));
    // Every group reports its false alarms, fault scenarios too.
    assert_eq!(g.false_alarm_rate, Some(0.0));
    assert_eq!(g.escape_rate, Some(0.0));
}

/// `consecutive = true` counts only unbroken runs of failures, so it can
/// only ever decide later than plain counting, on the same draws.
#[test]
fn consecutive_failures_decide_no_earlier_than_counted_failures() {
    let s = scenario(vec![]);
    let check = Check::bounds(
        Metric::ErrorRate,
        Bounds {
            max: Some(0.001),
            ..Bounds::default()
        },
    );
    let counted = policy(&[(10, 3600), (100, 0)], vec![check], 2);
    let mut consecutive = counted.clone();
    consecutive.analysis.consecutive = true;
    let (mut later, mut compared) = (0, 0);
    for run_index in 0..60 {
        let a = run(&s, &counted, 5, run_index, &mut Discard);
        let b = run(&s, &consecutive, 5, run_index, &mut Discard);
        let at = |r: &RunResult| r.decision().map_or(u64::MAX, |d| d.at.ms());
        assert!(at(&b) >= at(&a), "run {run_index}: consecutive decided earlier");
        compared += 1;
        if at(&b) > at(&a) {
            later += 1;
        }
    }
    // A window fails with probability ≈ P(Poisson(2.4) ≥ 3) ≈ 0.43, so three
    // failures in all come far sooner than three in a row.
    assert!(
        later > compared / 2,
        "consecutive was later in only {later} of {compared} runs"
    );
}

/// A fault with `onset_weight` waits until the canary carries that share.
#[test]
fn onset_weight_waits_for_the_traffic_share() {
    let mut f = error_fault(0.5, 0);
    f.onset_weight = 25;
    let s = scenario(vec![f]);
    let p = policy(&[(1, 600), (5, 600), (25, 600), (100, 0)], vec![error_check(0.01)], 0);
    let r = run(&s, &p, 1, 0, &mut Discard);
    let step3 = r.steps.iter().find(|x| x.weight == 25).expect("reached 25 %");
    let onset = r.fault_onset.expect("harmed");
    assert!(
        onset >= step3.from && (onset - step3.from).as_secs_f64() < 0.1,
        "onset with the first request at the 25 % weight: {onset} vs {}",
        step3.from
    );
}

/// The paged human's acknowledgement delay is log-normal with the
/// configured median: over 400 runs the sample median of the delay between
/// the decision and the action (minus the diagnosis time) is within 15 % of
/// it (the median of a log-normal sample with σ = ln 4 / 1.2816 has a
/// relative standard error of about 1.2533 σ / √n ≈ 7 %).
#[test]
fn paging_delay_has_the_configured_median() {
    let mut s = scenario(vec![error_fault(0.5, 0)]);
    s.duration = secs(7 * 24 * 3600); // even the slowest draws act before the horizon
    s.monitoring.scrape_interval = secs(600);
    let mut p = policy(&[(10, 7000), (100, 0)], vec![error_check(0.01)], 0);
    p.analysis.interval = secs(600);
    p.analysis.on_failure = Action::Page;
    let mut delays = Vec::new();
    for i in 0..400 {
        let mut timeline = Collect::default();
        run(&s, &p, 3, i, &mut timeline);
        let decided = timeline
            .0
            .iter()
            .find(|(_, e)| matches!(e, Event::Decided { .. }))
            .unwrap()
            .0;
        let acted = timeline
            .0
            .iter()
            .find(|(_, e)| matches!(e, Event::Acting { .. }))
            .unwrap()
            .0;
        delays.push((acted - decided).as_secs_f64() - 600.0);
    }
    delays.sort_by(f64::total_cmp);
    let median = delays[200];
    assert!((median / 300.0 - 1.0).abs() < 0.15, "median acknowledgement {median} s");
}

/// Each version's own noise makes a healthy canary look worse more often:
/// on the same seeds, noise never lowers and here clearly raises the
/// false-alarm count.
#[test]
fn baseline_noise_raises_false_alarms() {
    let quiet = scenario(vec![]);
    let mut noisy = quiet.clone();
    noisy.noise = Some(Noise {
        error_rate_sigma: 1.0,
        latency_sigma: 0.3,
        period: secs(120),
    });
    let p = playbook();
    let alarms = |s: &Scenario| runs(s, &p, 200).iter().filter(|r| r.false_alarm()).count();
    let (q, n) = (alarms(&quiet), alarms(&noisy));
    assert!(n > q + 20, "quiet {q}, noisy {n} false alarms in 200 runs");
}

/// A fault limited to a segment touches only that share of requests.
#[test]
fn a_segment_fault_touches_only_its_segment() {
    let mut s = scenario(vec![error_fault(0.2, 0)]);
    s.stable.error_rate = 0.0;
    s.candidate.error_rate = 0.0;
    s.segments = vec![SegmentSpec {
        name: "eu".into(),
        share: 0.25,
    }];
    s.faults[0].segment = Some(0);
    let p = policy(&[(50, 7000), (100, 0)], vec![error_check(1.0)], 0);
    let rs = runs(&s, &p, 10);
    let failed: u64 = rs.iter().map(|r| r.candidate.fault_failed).sum();
    let served: u64 = rs.iter().map(|r| r.candidate.requests).sum();
    let rate = failed as f64 / served as f64;
    assert!((rate - 0.05).abs() < 0.002, "0.25 × 0.2 = 0.05, got {rate}");
}

/// Saturation: past capacity, the excess 1 − 1/ρ is shed, for both versions
/// alike (not fault-caused).
#[test]
fn saturation_sheds_the_excess_and_is_not_blamed_on_the_fault() {
    let mut s = scenario(vec![]);
    s.stable.error_rate = 0.0;
    s.candidate.error_rate = 0.0;
    s.fleet.capacity_rps = Some(20.0); // stable: 360 rps on 10 × 20 rps, ρ = 1.8
    let p = policy(&[(10, 7000), (100, 0)], vec![error_check(1.0)], 0);
    let r = run(&s, &p, 1, 0, &mut Discard);
    let rate = r.stable.failed as f64 / r.stable.requests as f64;
    assert!((rate - (1.0 - 1.0 / 1.8)).abs() < 0.01, "shed {rate}");
    assert_eq!(r.blast_failed_requests(), 0);
}

/// The event budget is an exit of its own: a run that would need more
/// events than `limits::EVENTS_PER_RUN_MAX` ends with the outcome
/// `truncated`, never with a promotion or a mitigation it did not reach.
/// 30 days of 1 s scrapes and 1 s analyses is 5.2 million events.
#[test]
fn a_run_out_of_events_ends_with_its_own_outcome() {
    let mut s = scenario(vec![]);
    s.duration = sim_core::limits::HORIZON_MAX;
    s.monitoring.scrape_interval = secs(1);
    s.traffic.rps = 1.0;
    let mut p = playbook();
    p.analysis.interval = secs(1);
    p.steps = vec![Step {
        weight: 1,
        pause: sim_core::limits::HORIZON_MAX,
    }];
    let r = run(&s, &p, 1, 0, &mut Discard);
    assert_eq!(r.outcome, Outcome::Truncated);
    assert_eq!(r.events, sim_core::limits::EVENTS_PER_RUN_MAX + 1);
    assert_eq!(r.promoted_at, None);
    assert_eq!(r.mitigation, None);
}

/// An observer may stop a run (ripgrep's `Sink` returning false): the run
/// ends there with the outcome `stopped`.
#[test]
fn an_observer_can_stop_a_run() {
    struct StopAfter(u32);
    impl sim_core::engine::Observer for StopAfter {
        fn event(&mut self, _: sim_core::time::SimTime, _: &Event) {}
        fn proceed(&mut self) -> bool {
            self.0 = self.0.saturating_sub(1);
            self.0 > 0
        }
    }
    let r = run(&scenario(vec![]), &playbook(), 1, 0, &mut StopAfter(50));
    assert_eq!(r.outcome, Outcome::Stopped);
    assert_eq!(r.events, 50);
    assert_eq!(r.promoted_at, None);
}

fn latency_fault(p99_factor: f64) -> Fault {
    fault(
        FaultEffect::Latency {
            p50_factor: 1.0,
            p50_add_ms: 0.0,
            p99_factor,
            p99_add_ms: 0.0,
        },
        0,
    )
}

/// The latency model changes what monitoring reports and nothing else:
/// its draws come from streams of their own, so a policy that never acts
/// meets the same traffic, failures and slow requests under every model,
/// and reads the same error rates; only the latency quantiles differ. Each
/// model gives the same bytes for the same seed, run after run.
#[test]
fn the_latency_model_changes_only_what_monitoring_reports() {
    let mut never = playbook();
    never.analysis.failure_limit = 1_000_000;
    // A slow Mann-Whitney p99 check reads every per-scrape window as well.
    never.analysis.checks.push(Check {
        rule: Rule::Judge(Judge::MannWhitney {
            confidence: 0.98,
            tolerance: 0.25,
            kayenta: sim_core::model::KayentaMetric::default(),
        }),
        ..Check::bounds(Metric::LatencyP99, Bounds::default())
    });
    let timelines: Vec<(RunResult, Vec<Measurement>)> = LatencyModel::all()
        .into_iter()
        .map(|model| {
            let mut s = scenario(vec![latency_fault(1.4)]);
            s.monitoring.latency = model;
            let (mut first, mut again) = (Collect::default(), Collect::default());
            let r = run(&s, &never, 5, 2, &mut first);
            assert_eq!(r, run(&s, &never, 5, 2, &mut again), "{:?}", s.monitoring.latency);
            assert_eq!(first.0, again.0, "the same timeline, {:?}", s.monitoring.latency);
            let measurements = first
                .0
                .into_iter()
                .flat_map(|(_, e)| match e {
                    Event::Analysis { measurements } => measurements,
                    _ => vec![],
                })
                .collect();
            (r, measurements)
        })
        .collect();
    let (reference, reference_measurements) = &timelines[2];
    for (r, measurements) in &timelines[..2] {
        assert_eq!(r, reference, "the same run under every model");
        assert_eq!(measurements.len(), reference_measurements.len());
        let mut latency_differs = false;
        for (m, base) in measurements.iter().zip(reference_measurements) {
            if m.metric == Metric::ErrorRate {
                assert_eq!(m, base, "error rates read alike");
            } else {
                assert_eq!(m.candidate_requests, base.candidate_requests);
                latency_differs |= m.candidate != base.candidate;
            }
        }
        assert!(latency_differs, "the models read latency differently");
    }
}
