//! The record's figures from real k6 sample files: a percentile is withheld when its samples cannot
//! support it, and a capacity step whose requests outlive its grace counts them as interrupted and
//! is not sustained. The sample files in `tests/fixtures/k6/` were written by k6 1.1.0 running
//! `k6-tests/script-sync.js` against `tests/fixtures/k6/responder.py` (see `README.md` there).

use std::{collections::BTreeMap, path::PathBuf};

use stack_record::{RunRecord, Window};
use stack_study::{
    bench::analysis::{results, Inputs, MeasuredRun},
    scenario::{CapacityPlan, Scenario},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k6")
        .join(name)
}

/// The one measured S2 run in fixture `name`.
fn measured(name: &str) -> Vec<MeasuredRun> {
    let start = std::fs::read_to_string(fixture(name).join("repeat-start-ms")).expect("the fixture's start");
    vec![MeasuredRun {
        scenario: Scenario::S2,
        window: Window {
            repeat: 1,
            start_s: 0.0,
            end_s: 30.0,
        },
        repeat_start_ms: start.trim().parse().expect("a Unix ms"),
        thresholds_crossed: false,
        drain_end_unix_ns: None,
    }]
}

#[test]
fn too_few_samples_a_p99_over_75_samples_is_not_reported() {
    // Given a real k6 run of S2 at 15 arrivals/s for 5 s: 76 requests
    let plan = CapacityPlan::read(&root()).expect("capacity.json");
    let dir = fixture("few-samples");
    let measured = measured("few-samples");
    // When its figures are computed
    let results = results(&Inputs {
        dir: &dir,
        repeats: 1,
        measured: &measured,
        resources: &[],
        s4_reports: None,
        plans: &plan.scenarios,
        capacity_step_s: None,
        ceiling: None,
        spans_on_this_host: true,
        defers: &[],
    })
    .expect("the figures");
    // Then its p50 and p90 are reported, its p99 and p99.9 withheld with the reason
    let s2 = &results.scenarios["s2"];
    assert_eq!(s2.requests.mean, 76.0);
    assert!(s2.p50_ms.is_some() && s2.p90_ms.is_none() == (76 < 100));
    assert_eq!(s2.p99_ms, None);
    assert_eq!(s2.p999_ms, None);
    let p99 = s2
        .withheld
        .iter()
        .find(|w| w.figure == "p99_ms")
        .expect("p99 withheld");
    assert_eq!((p99.samples, p99.needed), (76, 1_000));
    // ... and so are the lag's and the corrected latency's p99, while the accounting closes
    let open = s2.open_loop.as_ref().expect("an arrival-rate run");
    assert_eq!(
        (open.lag_p99_ms.as_ref(), open.corrected_p99_ms.as_ref()),
        (None, None)
    );
    assert!(
        open.accounting.iter().all(|a| a.closes()),
        "{:?}",
        open.accounting
    );
    // ... and the rate is over the scheduled 5 s
    assert!(
        (s2.rate_per_s.mean - 76.0 / 5.0).abs() < 1e-9,
        "{}",
        s2.rate_per_s.mean
    );
}

#[test]
fn censoring_a_step_whose_last_requests_outlive_its_grace_counts_them_as_interrupted_and_is_not_sustained() {
    // Given a real k6 capacity run of S2 (1 s steps, 3 s grace) against an entrypoint answering
    // after 4 s: every request but the first outlives its step's grace
    let plan = CapacityPlan::read(&root()).expect("capacity.json");
    let dir = fixture("censored");
    let measured = measured("censored");
    // When its figures are computed
    let results = results(&Inputs {
        dir: &dir,
        repeats: 1,
        measured: &measured,
        resources: &[],
        s4_reports: None,
        plans: &plan.scenarios,
        capacity_step_s: Some(1.0),
        ceiling: None,
        spans_on_this_host: true,
        defers: &[],
    })
    .expect("the figures");
    // Then every step counts its unanswered requests as interrupted, its accounting closes, no step
    // is ok, and no rate is sustained
    let capacity = &results.capacity.as_ref().expect("a capacity run")["s2"];
    let mut interrupted = BTreeMap::new();
    for step in &capacity.steps {
        let accounting = step.accounting.expect("each step's accounting");
        assert!(accounting.closes(), "{accounting:?}");
        assert!(accounting.interrupted > 0, "{accounting:?}");
        assert!(!step.ok, "{step:?}");
        interrupted.insert(step.rate as u64, accounting.interrupted);
    }
    assert_eq!(capacity.sustained_rate, None);
    println!("interrupted by step rate: {interrupted:?}");
}

#[test]
fn a_version_1_record_still_reads_with_its_unsupported_percentiles_withheld() {
    // Given a version-1 smoke record (the one the README quoted until 2026-12-05)
    let run = RunRecord::read(&root().join("stack/tests/fixtures/runs/v1-smoke")).expect("a v1 record reads");
    let results = run.results.expect("its results");
    assert_eq!(results.format_version, 1);
    // Then a scenario with few requests has no p99, and the reason is there
    for (name, scenario) in &results.scenarios {
        let fewest = scenario
            .requests
            .runs
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        assert_eq!(scenario.p99_ms.is_some(), fewest >= 1_000.0, "{name}");
        if scenario.p99_ms.is_none() {
            assert!(scenario.withheld.iter().any(|w| w.figure == "p99_ms"), "{name}");
        }
    }
}
