//! On this system, the answer is the work done: every traced S1, S3 and S5 request's completion (its
//! trace's last span end minus its intended start) is at most its answer plus 1 ms, and S1's trace
//! holds the welcome email's 500 ms. Runs the real system (127.0.0.1:8001-8010) with every request
//! traced, and reads what k6 kept of each traced request beside the `traces.csv` that `stack`'s OTLP
//! receiver wrote for the run.

#[allow(dead_code)]
mod bench_process;

use bench_process::{build_services, BenchFolder};
use stack_record::{
    scenario_dir,
    traces::{read_traces, TRACES_FILE},
    SAMPLES_FILE,
};
use stack_study::bench::stats::Samples;

/// The most a completion may exceed its answer: the span's end and k6's reading of the answer are
/// taken by one clock, on either side of the response's last bytes.
const CLOCK_SLACK_MS: f64 = 1.0;

/// The welcome email's send time in the user service's flow (the brief's 500 ms).
const EMAIL_MS: f64 = 500.0;

#[test]
fn every_traced_request_of_this_system_completes_by_its_answer_and_s1s_trace_holds_the_email() {
    // Given the real system, and every iteration of smoke S1, S3 and S5 traced
    build_services();
    let folder = BenchFolder::new("traced-system");
    let status = folder.run_bench(
        &[
            "--profile",
            "smoke",
            "--scenarios",
            "s1,s3,s5",
            "--warmup",
            "0",
            "--trace-sample",
            "1",
            "--no-build",
        ],
        &[],
    );
    assert!(status.success(), "stack bench: {status}");
    let record = folder.record();
    for scenario in ["s1", "s3", "s5"] {
        let dir = scenario_dir(&record.dir, 1, scenario);
        let samples = Samples::read(&dir.join(SAMPLES_FILE)).expect("the samples read");
        let traces = read_traces(&dir.join(TRACES_FILE)).expect("the run's traces.csv");
        assert!(!samples.traced.is_empty(), "{scenario}: no traced request");
        // Then each traced request's trace reached the services, and ended by its answer
        for answer in &samples.traced {
            let trace = traces
                .get(&answer.trace_id)
                .unwrap_or_else(|| panic!("{scenario}: {answer:?} reached no service"));
            let completion_ms = trace.last_end_unix_ns as f64 / 1e6 - answer.start_unix_ms;
            eprintln!(
                "{scenario}: completion {completion_ms:.3} ms, answer {:.3} ms, {} spans from {:?}",
                answer.answer_ms, trace.spans, trace.services
            );
            assert!(
                completion_ms <= answer.answer_ms + CLOCK_SLACK_MS,
                "{scenario}: completion {completion_ms} ms after an answer of {} ms",
                answer.answer_ms
            );
            // And S1's trace spans the welcome email's 500 ms, sent by the email service
            if scenario == "s1" {
                let spanned_ms = (trace.last_end_unix_ns - trace.first_start_unix_ns) as f64 / 1e6;
                assert!(spanned_ms >= EMAIL_MS, "S1's trace spans {spanned_ms} ms");
                assert!(
                    trace.services.iter().any(|s| s == "emailservice"),
                    "{:?}",
                    trace.services
                );
            }
        }
        // And the record says so: every traced request completed, none untraced
        let completion = record.results.as_ref().expect("results").scenarios[scenario]
            .completion
            .clone()
            .expect("completion figures");
        assert_eq!(completion.untraced.mean, 0.0, "{scenario}");
        assert_eq!(
            completion.completed.map(|c| c.mean),
            Some(completion.traced.mean),
            "{scenario}"
        );
    }
}
