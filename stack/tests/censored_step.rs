//! Censoring, on real processes: a capacity step whose last requests outlive its grace counts them
//! as interrupted (never as nothing), its accounting still closes, and it is not sustained. k6
//! drives `stack respond`, standing for every entrypoint and slower than S2's grace.

#[allow(dead_code)]
mod bench_process;

use bench_process::s2_capacity_against_a_responder;

#[test]
fn a_step_whose_requests_outlive_its_grace_counts_them_as_interrupted_and_is_not_sustained() {
    // Given a target answering every request after 4 s, longer than S2's 3 s grace
    // When S2 runs through its capacity steps, 1 s each
    let results = s2_capacity_against_a_responder("censored-step", 4000.0, "1");
    // Then each step counts the requests still running when its grace ended as interrupted, its
    // scheduled arrivals are all accounted for, no step is ok, and no rate is sustained
    let capacity = &results.capacity.as_ref().expect("a capacity record")["s2"];
    assert!(!capacity.steps.is_empty());
    for step in &capacity.steps {
        let accounting = step.accounting.expect("each step's accounting");
        eprintln!("{}/s: {accounting:?}", step.rate);
        assert!(accounting.closes(), "{accounting:?}");
        assert!(accounting.interrupted > 0, "{accounting:?}");
        assert!(!step.ok, "{step:?}");
    }
    assert_eq!(capacity.sustained_rate, None);
}
