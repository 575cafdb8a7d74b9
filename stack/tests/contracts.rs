//! An implementation's contract and the traced requests, on real processes: `stack bench` runs the
//! real k6 with the script against a small HTTP server of this test that answers `202 Accepted` at
//! once, as a broker design acknowledges. Under this system's contract (the default) those answers
//! are failures; under `--contract broker` they are accepted. With `--trace-sample 1` every request
//! carries a sampled W3C `traceparent`, and the trace id the server received is the one k6's samples
//! keep for that request.

#[allow(dead_code)]
mod bench_process;

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use bench_process::{urls_at, BenchFolder};
use stack_record::{scenario_dir, traces::parse_trace_id, SAMPLES_FILE};
use stack_study::bench::stats::Samples;

/// A server answering every request `202 Accepted` with `{}` at once, keeping the trace id of each
/// `traceparent` it receives; it runs until the test process ends.
struct Acknowledger {
    url: String,
    trace_ids: Arc<Mutex<Vec<String>>>,
}

impl Acknowledger {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let trace_ids = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&trace_ids);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, &seen));
            }
        });
        Self { url, trace_ids }
    }

    fn trace_ids(&self) -> BTreeSet<String> {
        self.trace_ids
            .lock()
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// One kept-alive connection: each request read to the end of its body, then answered.
fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if let Some(value) = header.strip_prefix("traceparent:") {
                if let (Some(id), Ok(mut ids)) = (value.trim().split('-').nth(1), seen.lock()) {
                    ids.push(id.to_owned());
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// `stack bench` of smoke S1 (four requests) against `server`, every request traced, with `extra`
/// arguments; its exit status and folder.
fn bench_s1(test: &str, server: &Acknowledger, extra: &[&str]) -> (std::process::ExitStatus, BenchFolder) {
    let folder = BenchFolder::new(test);
    let mut args: Vec<String> = [
        "--profile",
        "smoke",
        "--scenarios",
        "s1",
        "--warmup",
        "0",
        "--trace-sample",
        "1",
    ]
    .map(String::from)
    .into();
    args.extend(urls_at(&server.url));
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let status = folder.run_bench(&args, &[]);
    (status, folder)
}

#[test]
fn a_202_fails_this_systems_contract() {
    // Given a system that acknowledges S1's registrations with 202 at once
    let server = Acknowledger::start();
    // When it is benched under the default contract, this system's
    let (status, folder) = bench_s1("contract-sync", &server, &[]);
    // Then every answer is an unexpected failure, the run fails, and the record names the contract
    assert!(!status.success(), "a 202 passed the sync contract");
    let record = folder.record();
    let s1 = &record.results.as_ref().expect("results").scenarios["s1"];
    assert_eq!(s1.unexpected_failures.mean, 4.0);
    let contract = record.meta.options.contract.expect("the contract recorded");
    assert_eq!(contract.name, "sync");
    assert_eq!(contract.file, "k6-tests/contracts/sync.json");
}

#[test]
fn a_202_is_accepted_under_the_broker_contract() {
    // Given the same system
    let server = Acknowledger::start();
    // When it is benched with --contract broker
    let (status, folder) = bench_s1("contract-broker", &server, &["--contract", "broker"]);
    // Then every answer is accepted, no check fails, and the record names the broker contract with
    // the hash of its file
    assert!(status.success(), "the broker contract refused a 202: {status}");
    let record = folder.record();
    let s1 = &record.results.as_ref().expect("results").scenarios["s1"];
    assert_eq!(s1.unexpected_failures.mean, 0.0);
    assert_eq!(s1.checks_failed.mean, 0.0);
    let contract = record.meta.options.contract.expect("the contract recorded");
    assert_eq!(contract.name, "broker");
    assert_eq!(contract.sha256.len(), 64);
    assert_eq!(record.meta.options.trace_sample, Some(1.0));
}

#[test]
fn each_traced_request_carries_its_trace_id_to_the_system_and_into_k6s_samples() {
    // Given the same system, and every iteration traced
    let server = Acknowledger::start();
    // When it is benched
    let (status, folder) = bench_s1("traced-requests", &server, &["--contract", "broker"]);
    assert!(status.success(), "{status}");
    // Then k6's samples keep one traced answer per request, accepted, with its intended start and
    // its answer, under the trace id the server received in its traceparent
    let record = folder.record();
    let samples =
        Samples::read(&scenario_dir(&record.dir, 1, "s1").join(SAMPLES_FILE)).expect("the samples read");
    assert_eq!(samples.traced.len(), 4, "{:?}", samples.traced);
    let received = server.trace_ids();
    assert_eq!(received.len(), 4, "{received:?}");
    for traced in &samples.traced {
        let id: String = traced.trace_id.iter().map(|byte| format!("{byte:02x}")).collect();
        assert!(received.contains(&id), "{id} was not received: {received:?}");
        assert!(parse_trace_id(&id).is_ok());
        assert!(traced.accepted);
        assert!(traced.answer_ms > 0.0 && traced.answer_ms < 1_000.0, "{traced:?}");
        let started = record.meta.started_at.as_str();
        assert!(
            traced.start_unix_ms > 1.7e12,
            "{traced:?} (run started {started})"
        );
    }
}
