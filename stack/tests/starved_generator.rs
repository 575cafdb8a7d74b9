//! A starved generator is judged by its lag: k6 pinned to one core beside a CPU burner on that same
//! core, offering S6's open-loop rate to a responder that answers at once, falls behind its schedule,
//! and the run is flagged generator-limited because its schedule lag exceeds the limit. Nothing of
//! the system's is involved: `stack respond` stands for every entrypoint.

#[allow(dead_code)]
mod bench_process;

use bench_process::{burn_core, respond, urls_at, BenchFolder};

#[test]
fn k6_sharing_its_core_with_a_cpu_burner_is_flagged_generator_limited_by_its_lag() {
    // Given a responder that answers at once, and k6 pinned to core 0 beside a busy loop there
    let (_responder, url) = respond(0.0);
    let folder = BenchFolder::new("starved-generator");
    let k6 = folder.k6_pinned_to(0);
    let _burner = burn_core(0);
    // When S6 is offered open-loop (the open profile: 1,000/s for 30 s)
    let mut args = vec!["--profile", "open", "--scenarios", "s6", "--warmup", "0"];
    let urls = urls_at(&url);
    args.extend(urls.iter().map(String::as_str));
    let k6 = k6.to_string_lossy();
    folder.run_bench(&args, &[("K6", &k6)]);
    // Then the run is flagged generator-limited, its lag p99 (its maximum where too few samples
    // support a p99) above the lag allowed it (k6's calibrated floor + 5 % of its corrected p99, or
    // max(1 ms, 5 % of S6's 25 ms SLO) where this machine was never calibrated), the rule recorded
    let results = folder.results();
    let s6 = &results.scenarios["s6"];
    let open = s6
        .open_loop
        .as_ref()
        .expect("S6 is open-loop: its lag is recorded");
    let lag_ms = open
        .lag_p99_ms
        .as_ref()
        .map_or(open.lag_max_ms.runs[0], |p99| p99.runs[0]);
    eprintln!(
        "starved k6: lag p99 {:?} ms, max {} ms (allowed {} ms, {:?}); dropped {}; k6 CPU {:?} %",
        open.lag_p99_ms,
        open.lag_max_ms.mean,
        open.allowed_lag_ms(),
        open.lag_judgement,
        s6.dropped_iterations.mean,
        s6.resources.get("k6").map(|k6| k6.cpu_mean_percent.mean)
    );
    assert_eq!(open.lag_limit_ms, 1.25);
    assert!(open.lag_judgement.is_some(), "{open:?}");
    assert!(lag_ms > open.allowed_lag_ms(), "lag {lag_ms} ms: {open:?}");
    assert!(open.generator_limited, "{open:?}");
}
