//! A busy system is not blamed on the generator: a target slowed on purpose (`stack respond
//! --delay-ms`, standing for every entrypoint) fails every capacity step of S2 on its SLO, while k6
//! keeps its schedule and has CPU to spare; each step is the system's limit, none the generator's.

#[allow(dead_code)]
mod bench_process;

use bench_process::s2_capacity_against_a_responder;
use stack_study::bench::generator::lag_limit_ms;

/// k6 above this share of one core has no headroom left.
const HEADROOM_PERCENT: f64 = 90.0;

#[test]
fn a_target_slowed_past_its_slo_fails_every_step_as_the_systems_limit_never_the_generators() {
    // Given a target answering every request after 2.5 s, past S2's p99 SLO of 2.1 s
    // When S2 runs through its capacity steps (5 to 80 arrivals/s, 5 s each)
    let results = s2_capacity_against_a_responder("busy-system", 2500.0, "5");
    // Then every step failed, with k6 on time (its lag within the limit) and below a core: each is
    // the system's limit, and none, nor the scenario, is flagged generator-limited
    let capacity = &results.capacity.as_ref().expect("a capacity record")["s2"];
    let lag_limit = lag_limit_ms(capacity.slo_p99_ms);
    assert!(!capacity.steps.is_empty());
    for step in &capacity.steps {
        let schedule = step.schedule.expect("each step's lag is recorded");
        let lag_ms = schedule.lag_p99_ms.unwrap_or(schedule.lag_max_ms);
        eprintln!(
            "{}/s: p99 {:?} ms, max {:?} ms, lag {lag_ms} ms (limit {} ms), k6 {} % of a core",
            step.rate, step.p99_ms, step.max_ms, lag_limit, step.k6_cpu_percent
        );
        assert!(!step.ok, "{step:?}");
        assert!(lag_ms <= lag_limit, "{step:?}");
        assert!(step.k6_cpu_percent < HEADROOM_PERCENT, "{step:?}");
        assert!(!step.generator_limited, "{step:?}");
    }
    assert!(!capacity.generator_limited, "{capacity:?}");
    assert_eq!(capacity.sustained_rate, None);
}
