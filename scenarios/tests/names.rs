//! The "known: …" lists of the error messages come from the model enums
//! (`ALL`, `NAMES`, `KINDS`). These tests keep each list equal to the names
//! of its enum's variants, in declaration order: the `index` matches are
//! exhaustive, so a new variant does not compile until it is listed here too.

use sim_core::model::{Action, FaultEffect, Judge, MigrationFault, Routing, SchemaChange, Shape, Strategy};
use sim_core::time::SimDuration;

/// `names[index(v)] == name(v)` for every sample, and the samples cover every index once.
fn check<T>(samples: &[T], index: fn(&T) -> usize, name: fn(&T) -> &'static str, names: &[&str]) {
    let mut seen: Vec<usize> = samples.iter().map(index).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..names.len()).collect::<Vec<_>>(), "one sample per variant");
    for s in samples {
        assert_eq!(names[index(s)], name(s));
    }
}

#[test]
fn judge_names() {
    let index = |j: &Judge| match j {
        Judge::ZTest { .. } => 0,
        Judge::Sequential { .. } => 1,
        Judge::Cusum { .. } => 2,
        Judge::Ewma { .. } => 3,
        Judge::Sprt { .. } => 4,
        Judge::MannWhitney { .. } => 5,
    };
    let samples = [
        Judge::ZTest { alpha: 0.05 },
        Judge::Sequential {
            concentration: 100.0,
            alpha: 0.05,
        },
        Judge::Cusum { k: 0.5, h: 4.0 },
        Judge::Ewma {
            lambda: 0.2,
            limit: 3.0,
        },
        Judge::Sprt {
            delta: 1.0,
            alpha: 0.05,
            beta: 0.2,
        },
        Judge::MannWhitney {
            confidence: 0.98,
            tolerance: 0.25,
            kayenta: sim_core::model::KayentaMetric::default(),
        },
    ];
    check(&samples, index, |j| j.name(), &Judge::NAMES);
    // A policy file's `judge` is one of these, "threshold" (bounds) first
    // and "inconclusive" (an unmapped imported query) last.
    use sim_core::model::Rule;
    assert_eq!(Rule::NAMES[0], "threshold");
    assert_eq!(&Rule::NAMES[1..Rule::NAMES.len() - 1], &Judge::NAMES[..]);
    assert_eq!(Rule::Unmapped.name(), Rule::NAMES[Rule::NAMES.len() - 1]);
}

#[test]
fn strategy_names() {
    let index = |s: &Strategy| match s {
        Strategy::Canary { .. } => 0,
        Strategy::BigBang => 1,
        Strategy::Rolling { .. } => 2,
        Strategy::BlueGreen { .. } => 3,
        Strategy::Flag => 4,
    };
    let samples = [
        Strategy::Canary {
            routing: Routing::Weighted,
        },
        Strategy::BigBang,
        Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 0,
        },
        Strategy::BlueGreen {
            preview: SimDuration::ZERO,
            preview_share: 0.0,
            keep_old: SimDuration::ZERO,
        },
        Strategy::Flag,
    ];
    check(&samples, index, |s| s.name(), &Strategy::NAMES);
}

#[test]
fn shape_names() {
    let index = |s: &Shape| match s {
        Shape::Constant => 0,
        Shape::Diurnal { .. } => 1,
        Shape::Series { .. } => 2,
    };
    let samples = [
        Shape::Constant,
        Shape::Diurnal {
            amplitude: 0.5,
            period: SimDuration::ZERO,
            peak_at: SimDuration::ZERO,
        },
        Shape::Series { points: Vec::new() },
    ];
    check(&samples, index, |s| s.name(), &Shape::NAMES);
}

#[test]
fn fault_kinds() {
    let index = |f: &FaultEffect| match f {
        FaultEffect::ErrorRate { .. } => 0,
        FaultEffect::Latency { .. } => 1,
        FaultEffect::MemoryLeak { .. } => 2,
        FaultEffect::Throughput { .. } => 3,
        FaultEffect::Kpi { .. } => 4,
        FaultEffect::DependencyLoad { .. } => 5,
        FaultEffect::SessionFormat => 6,
    };
    let samples = [
        FaultEffect::ErrorRate {
            add: 0.0,
            multiply: 1.0,
        },
        FaultEffect::Latency {
            p50_factor: 1.0,
            p50_add_ms: 0.0,
            p99_factor: 1.0,
            p99_add_ms: 0.0,
        },
        FaultEffect::MemoryLeak {
            mb_per_hour: 1.0,
            mb_per_1k_requests: 0.0,
        },
        FaultEffect::Throughput {
            capacity_factor: 0.5,
            above_rps: 30.0,
        },
        FaultEffect::Kpi { factor: 0.5 },
        FaultEffect::DependencyLoad { factor: 4.0 },
        FaultEffect::SessionFormat,
    ];
    check(&samples, index, |f| f.kind(), &FaultEffect::KINDS);
}

#[test]
fn migration_fault_kinds() {
    let index = |f: &MigrationFault| match f {
        MigrationFault::DuplicateWrites { .. } => 0,
        MigrationFault::ConstraintViolations { .. } => 1,
        MigrationFault::DroppedField { .. } => 2,
        MigrationFault::LagUnderLoad => 3,
        MigrationFault::OldReadsNewWrong { .. } => 4,
    };
    let samples = [
        MigrationFault::DuplicateWrites { fraction: 0.1 },
        MigrationFault::ConstraintViolations { fraction: 0.1 },
        MigrationFault::DroppedField { fraction: 0.1 },
        MigrationFault::LagUnderLoad,
        MigrationFault::OldReadsNewWrong { fraction: 0.1 },
    ];
    check(&samples, index, |f| f.kind(), &MigrationFault::KINDS);
}

/// The `ALL` arrays of the fieldless enums list every variant once.
#[test]
fn all_arrays() {
    let routing = |r: &Routing| match r {
        Routing::Weighted => 0,
        Routing::Replicas => 1,
        Routing::Sticky => 2,
    };
    check(&Routing::ALL, routing, |r| r.name(), &Routing::ALL.map(Routing::name));
    let change = |c: &SchemaChange| match c {
        SchemaChange::Rename => 0,
        SchemaChange::AddRequired => 1,
        SchemaChange::EnumChange => 2,
    };
    check(
        &SchemaChange::ALL,
        change,
        |c| c.name(),
        &SchemaChange::ALL.map(SchemaChange::name),
    );
    let action = |a: &Action| match a {
        Action::Rollback => 0,
        Action::Hold => 1,
        Action::Page => 2,
        Action::KillSwitch => 3,
        Action::Hotfix => 4,
    };
    check(&Action::ALL, action, |a| a.name(), &Action::ALL.map(Action::name));
}
