//! `stack calibrate`'s search against the real k6 and the built-in responder: every probe is judged
//! by the lag k6 measured, the ceiling is the highest probe on time, and the floor is a probe long
//! enough for its lag p99.

use std::path::Path;

use stack_study::{
    bench::generator::{
        calibrate, floor_iterations, lag_limit_ms, usable_floor, CalibrateOptions, FLOOR_PER_S,
    },
    scenario::Scenario,
};

#[tokio::test]
async fn the_ceiling_is_the_highest_rate_whose_lag_k6_kept_within_the_limit() {
    // Given the repository's script and capacity plan, and S6's lag limit (5 % of its 25 ms SLO)
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // When S6 is calibrated between 250 and 1,000/s (probes of 1,000 iterations, 2 s at least)
    let file = calibrate(
        &root,
        &CalibrateOptions {
            scenarios: vec![Scenario::S6],
            probe_s: 2.0,
            min_per_s: Some(250.0),
            max_per_s: Some(1000.0),
        },
    )
    .await
    .expect("calibrates");
    // Then each probe offered its rate (started or dropped, every arrival is accounted for), is on
    // time exactly when its lag p99 is within the limit with nothing dropped, and the ceiling is the
    // highest rate on time
    let s6 = &file.scenarios["s6"];
    assert_eq!(s6.lag_limit_ms, lag_limit_ms(25.0));
    assert!(!s6.probes.is_empty());
    for probe in &s6.probes {
        let offered = probe.iterations + probe.dropped;
        let expected = probe.rate_per_s * (1000.0 / probe.rate_per_s).max(2.0).ceil();
        assert!(
            (offered as f64 - expected).abs() <= expected * 0.02 + 1.0,
            "{probe:?}"
        );
        assert!(
            probe.lag_p50_ms <= probe.lag_p99_ms && probe.lag_p99_ms <= probe.lag_max_ms,
            "{probe:?}"
        );
        assert_eq!(
            probe.on_time,
            probe.dropped == 0 && probe.lag_p99_ms <= s6.lag_limit_ms,
            "{probe:?}"
        );
    }
    let highest_on_time = s6
        .probes
        .iter()
        .filter(|probe| probe.on_time)
        .map(|probe| probe.rate_per_s)
        .fold(None, |high: Option<f64>, rate| {
            Some(high.map_or(rate, |high| high.max(rate)))
        });
    assert_eq!(s6.ceiling_per_s, highest_on_time, "{s6:?}");
    assert_eq!(s6.at_least, s6.probes.iter().all(|probe| probe.on_time), "{s6:?}");
    // and the lag floor is the lowest lag p99 any probe showed
    let lowest = s6
        .probes
        .iter()
        .map(|probe| probe.lag_p99_ms)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(s6.lag_floor_ms, Some(lowest), "{s6:?}");
    // and the floor probe offered 100/s for 2,000 iterations, twice what a lag p99 needs, and is the
    // floor runs are judged against exactly when k6 started enough of them and dropped none
    let floor = s6.floor_probe.as_ref().expect("a floor probe");
    assert_eq!(floor.rate_per_s, FLOOR_PER_S);
    let offered = floor.iterations + floor.dropped;
    assert!(offered.abs_diff(floor_iterations()) <= 2, "{floor:?}");
    assert_eq!(
        usable_floor(s6).is_some(),
        floor.iterations >= stack_record::needed_samples(99.0) && floor.dropped == 0,
        "{floor:?}"
    );
    assert!(
        floor.lag_p50_ms <= floor.lag_p99_ms && floor.lag_p99_ms <= floor.lag_max_ms,
        "{floor:?}"
    );
}
