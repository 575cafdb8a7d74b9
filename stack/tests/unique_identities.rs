//! Every identity the k6 script generates is unique across the whole test: S1 registered over every
//! capacity step of a run (its warm-up included) is never answered `409 Conflict`, the answer the
//! user service gives an email already registered. Runs the real system (127.0.0.1:8001-8010).

#[allow(dead_code)]
mod bench_process;

use std::collections::BTreeMap;

use bench_process::{build_services, BenchFolder};
use stack_record as record;
use stack_study::scenario::{CapacityPlan, Scenario};

/// `(k6 scenario, HTTP status) -> requests`, from a measured run's raw samples (k6's own CSV).
fn statuses(samples: &std::path::Path) -> BTreeMap<(String, String), u64> {
    let file = std::fs::File::open(samples).expect("the raw samples");
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(file));
    let headers = reader.headers().expect("a header").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (metric, scenario, status) = (column("metric_name"), column("scenario"), column("status"));
    let mut counts = BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("a sample");
        if row.get(metric) == Some("http_reqs") {
            let key = (
                row.get(scenario).unwrap_or("").to_owned(),
                row.get(status).unwrap_or("").to_owned(),
            );
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
}

#[test]
fn s1_over_every_capacity_step_is_never_answered_409() {
    // Given the real system and S1's capacity steps, 5 s each after a 2 s warm-up
    build_services();
    let folder = BenchFolder::new("unique-identities");
    // When S1 runs through every step
    let status = folder.run_bench(
        &[
            "--profile",
            "capacity",
            "--scenarios",
            "s1",
            "--warmup",
            "2",
            "--no-build",
        ],
        &[("CAPACITY_STEP_S", "5")],
    );
    // Then every step registered users and none of its answers was a 409
    assert!(status.success(), "stack bench: {status}");
    let run = folder.record();
    let counts = statuses(&record::scenario_dir(&run.dir, 1, Scenario::S1.name()).join(record::SAMPLES_FILE));
    let plan = CapacityPlan::read(&bench_process::root()).expect("the capacity plan");
    for index in 0..plan.scenarios[&Scenario::S1].steps.len() {
        let step = Scenario::S1.step_name(index);
        let of = |status: &str| {
            counts
                .get(&(step.clone(), status.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert!(of("201") > 0, "{step} registered nobody: {counts:?}");
        assert_eq!(of("409"), 0, "{step} answered 409: {counts:?}");
    }
    assert!(!counts.keys().any(|(_, status)| status == "409"), "{counts:?}");
}
