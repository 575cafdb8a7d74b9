//! Capacity judged on work completed, on real processes (issue 29): the deferring stand-in
//! (`stack respond --defer-ms 400 --workers K`) answers S1 with `202` at once and finishes each item
//! 400 ms after a worker takes it, so K workers complete at most 2.5 × K items a second. k6 drives
//! S1's lowest capacity step (5/s) under the broker contract, every request traced. With one worker
//! the answers stay fast while the work falls behind: the step must not be sustained. With eight it
//! keeps up, and the same step is sustained.

#[allow(dead_code)]
mod bench_process;

use bench_process::{deferring_stand_in, free_port, urls_at, BenchFolder};
use stack_record::{Capacity, JudgedLatency, Step, StepVerdict};

/// How long each item's work takes.
const DEFER_MS: u64 = 400;

/// S1's SLO in `capacity.json`: for the work to be done.
const S1_SLO_MS: f64 = 600.0;

/// S1's capacity record, its first step only (5/s for 8 s), against the stand-in with `workers`
/// workers, benched in a folder named for `test`.
fn s1_first_step_against_the_stand_in(test: &str, workers: u32) -> Capacity {
    let otlp = format!("127.0.0.1:{}", free_port());
    let (_stand_in, url) = deferring_stand_in(&format!("http://{otlp}"), DEFER_MS, workers);
    let folder = BenchFolder::new(test);
    let mut args = vec![
        "--profile",
        "capacity",
        "--scenarios",
        "s1",
        "--warmup",
        "0",
        "--contract",
        "broker",
        "--trace-sample",
        "1",
        "--otlp-listen",
        otlp.as_str(),
    ];
    let urls = urls_at(&url);
    args.extend(urls.iter().map(String::as_str));
    folder.run_bench(&args, &[("CAPACITY_STEP_S", "8"), ("CAPACITY_STEPS", "1")]);
    let results = folder.results();
    let capacity = results.capacity.expect("a capacity record");
    capacity["s1"].clone()
}

/// The one step of `capacity`, judged on its completion.
fn only_step(capacity: &Capacity) -> &Step {
    assert_eq!(capacity.steps.len(), 1, "{:?}", capacity.steps);
    let step = &capacity.steps[0];
    assert_eq!(step.judged_on, Some(JudgedLatency::Completion), "{step:?}");
    step
}

#[test]
fn a_stand_in_with_too_few_workers_answers_fast_but_its_work_falls_behind_and_the_step_is_not_sustained() {
    // Given the stand-in with one worker: 2.5 items a second against S1's 5/s
    // When S1's first capacity step runs against it, every request traced
    let capacity = s1_first_step_against_the_stand_in("deferred-capacity-behind", 1);
    let step = only_step(&capacity);
    let completion = step.completion.as_ref().expect("the step's completion figures");
    eprintln!("{step:#?}");
    // Then its answers are fast: their median, from each arrival's intended start, under 10 ms, and
    // their slowest under a tenth of the SLO (a p99 needs 1,000 answers, which a step of seconds at
    // 5/s does not have; the slowest bounds it, and on a loaded machine one answer of 40 can wait)
    let schedule = step.schedule.expect("an open-loop step");
    let median_ms = schedule.corrected_p50_ms.expect("the answers' median");
    assert!(median_ms < 10.0, "answer p50 {median_ms} ms");
    let slowest_ms = step.max_ms.expect("the answers' slowest");
    assert!(slowest_ms < S1_SLO_MS / 10.0, "slowest answer {slowest_ms} ms");
    // And its work is not: the completion p99 (or its bound) is over the SLO, and the backlog grew
    let completion_ms = completion.judged_ms().expect("a completion latency");
    assert!(completion_ms > S1_SLO_MS, "completion {completion_ms} ms");
    assert_eq!(completion.backlog_grew, Some(true), "{completion:?}");
    // And the step is not sustained, nor any rate
    assert_eq!(step.verdict(), StepVerdict::Failed);
    assert_eq!(capacity.sustained_rate, None);
}

#[test]
fn a_stand_in_with_enough_workers_sustains_the_same_step() {
    // Given the stand-in with eight workers: 20 items a second against S1's 5/s
    // When S1's first capacity step runs against it, every request traced
    let capacity = s1_first_step_against_the_stand_in("deferred-capacity-keeping-up", 8);
    let step = only_step(&capacity);
    eprintln!("{step:#?}");
    // Then its work keeps up within the SLO and the step is sustained
    assert_eq!(step.verdict(), StepVerdict::Ok, "{step:?}");
    assert_eq!(capacity.sustained_rate, Some(5.0));
}
