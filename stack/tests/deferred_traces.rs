//! The deferring stand-in's traces, on real processes (issue 29): `stack respond --defer-ms N` answers
//! `202` at once and finishes each item N ms later, and a request carrying a sampled `traceparent`
//! leaves a trace, exported over OTLP, whose last span ends when its work is done. First against the
//! bench's receiver alone, then through a whole `stack bench --target urls` run with the real k6
//! under the broker contract, every request traced: its `traces.csv` and completion figures must
//! hold every request's work.

#[allow(dead_code)]
mod bench_process;

use std::{collections::BTreeSet, time::Duration};

use bench_process::{deferring_stand_in, free_port, urls_at, BenchFolder, Owned};
use stack_record::traces::{parse_trace_id, read_traces, TraceId, TRACES_FILE};
use stack_study::{
    bench::{deferring::STAND_IN_SERVICE, traces::TraceReceiver},
    scenario::Scenario,
};

/// How long each item's work takes.
const DEFER_MS: u64 = 300;

/// The stand-in deferring `DEFER_MS` with `workers` workers, exporting to `otlp`, and its URL.
fn stand_in(otlp: &str, workers: u32) -> (Owned, String) {
    deferring_stand_in(otlp, DEFER_MS, workers)
}

/// A `traceparent` of trace `n` (its id 32 hex digits), sampled or not.
fn traceparent(n: u64, sampled: bool) -> (String, String) {
    let trace = format!("{n:032x}");
    let header = format!(
        "00-{trace}-00000000000000ab-{}",
        if sampled { "01" } else { "00" }
    );
    (trace, header)
}

/// Posts an S1 request to the stand-in, with `traceparent` when given; its status.
async fn post(client: &reqwest::Client, url: &str, traceparent: Option<&str>) -> u16 {
    let mut request = client
        .post(format!("{url}{}", Scenario::S1.entry().route))
        .header("content-type", "application/json")
        .body(r#"{"email":"a@example.org"}"#);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request
        .send()
        .await
        .expect("the stand-in answers")
        .status()
        .as_u16()
}

/// Sends `traced` requests with sampled `traceparent`s (trace ids from `first`), and as many unsampled
/// and without one; each must be answered 202. The traced requests' trace ids.
async fn send(url: &str, first: u64, traced: u64) -> BTreeSet<TraceId> {
    let client = reqwest::Client::new();
    let mut ids = BTreeSet::new();
    for n in first..first + traced {
        let (trace, sampled) = traceparent(n, true);
        assert_eq!(post(&client, url, Some(&sampled)).await, 202);
        ids.insert(parse_trace_id(&trace).expect("32 hex digits"));
        let (_, unsampled) = traceparent(n + 1_000_000, false);
        assert_eq!(post(&client, url, Some(&unsampled)).await, 202);
        assert_eq!(post(&client, url, None).await, 202);
    }
    ids
}

#[tokio::test]
async fn each_sampled_request_to_the_stand_in_leaves_a_trace_ending_after_its_work() {
    // Given the bench's trace receiver, and the stand-in exporting to it (4 workers, 300 ms each)
    let receiver = TraceReceiver::start("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the receiver listens");
    let (_stand_in, url) = stand_in(&receiver.endpoint(), 4);
    // When 10 requests carry a sampled traceparent, and 20 do not (10 unsampled, 10 without one)
    let sent = send(&url, 1, 10).await;
    receiver
        .drain(Duration::from_secs(1), Duration::from_secs(15))
        .await;
    // Then exactly the 10 sampled traces arrive, each of the answer's and the work's span, from the
    // stand-in, its last span ending at least the work's 300 ms after its first began
    let traces = receiver.take();
    assert_eq!(traces.keys().copied().collect::<BTreeSet<_>>(), sent);
    for trace in traces.values() {
        assert_eq!(trace.spans, 2);
        assert_eq!(trace.services, [STAND_IN_SERVICE]);
        let took_ms = (trace.last_end_unix_ns - trace.first_start_unix_ns) / 1_000_000;
        assert!(took_ms >= DEFER_MS, "done {took_ms} ms after it began");
    }
}

#[test]
fn a_bench_of_the_stand_in_under_the_broker_contract_completes_every_traced_request_after_its_work() {
    // Given the stand-in (64 workers: S1's smoke arrivals never queue) exporting to the port the bench
    // will receive traces on
    let otlp = format!("127.0.0.1:{}", free_port());
    let (_stand_in, url) = stand_in(&format!("http://{otlp}"), 64);
    let folder = BenchFolder::new("deferred-traces");
    // When k6 drives S1's smoke run under the broker contract (202 accepted), every request traced
    let mut args = vec![
        "--profile",
        "smoke",
        "--scenarios",
        "s1",
        "--warmup",
        "0",
        "--contract",
        "broker",
        "--trace-sample",
        "1",
    ];
    args.extend(["--otlp-listen", otlp.as_str()]);
    let urls = urls_at(&url);
    args.extend(urls.iter().map(String::as_str));
    let status = folder.run_bench(&args, &[]);
    assert!(
        status.success(),
        "stack bench under the broker contract: {status}"
    );
    // Then the run's traces.csv holds one trace per request k6 sent, each ending at least the work's
    // 300 ms after it began, all from the stand-in
    let record = folder.record();
    let results = record.results.as_ref().expect("results.json");
    let s1 = &results.scenarios["s1"];
    let requests = s1.requests.mean as usize;
    assert!(requests > 0, "S1 sent requests");
    let traces = read_traces(&record.dir.join("repeats/1/s1").join(TRACES_FILE)).expect("traces.csv reads");
    assert_eq!(traces.len(), requests);
    for trace in traces.values() {
        let took_ms = (trace.last_end_unix_ns - trace.first_start_unix_ns) / 1_000_000;
        assert!(took_ms >= DEFER_MS, "done {took_ms} ms after it began");
        assert_eq!(trace.services, [STAND_IN_SERVICE]);
    }
    // And the record counts every traced request as accepted and completed, none untraced
    let completion = s1.completion.as_ref().expect("S1's completion figures");
    assert_eq!(completion.traced.mean as usize, requests);
    assert_eq!(completion.untraced.mean, 0.0);
    assert_eq!(completion.completed_fraction.as_ref().map(|f| f.mean), Some(1.0));
    let run = &record.meta.runs[0];
    let received = run.traces.as_ref().expect("the run's traces recorded");
    assert_eq!(received.services, [STAND_IN_SERVICE]);
}
