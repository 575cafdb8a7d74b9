//! The responder `stack calibrate` drives k6 against: one port on 127.0.0.1 that answers each
//! scenario's request (its method and entry route, [`Scenario::entry`]) at once, with the status the
//! real system gives and a body of the same shape, so that whatever lag k6 shows against it is k6's
//! own.
//!
//! `stack respond` ([`serve`]) runs it on its own, for `stack bench --target urls` (every `--url` at
//! the URL it prints). With `--delay-ms N` every answer is sent N ms after its request was read, on
//! the timer of its own connection (k6 sends one request at a time on a connection, so answers are
//! not queued behind one another): a target
//! slowed on purpose, whose latency is N ms plus the loopback's, at any rate k6 can offer. Two
//! responders at N and 1.2 × N are a pair whose second is really 20 % slower.
//!
//! With `--defer-ms N --workers K` it is a stand-in for a design that defers its work
//! ([`deferring`](super::deferring)): the request of each scenario its contract defers (`broker.json`:
//! S1, S2, S4, S5) is answered `202 Accepted` at once, its work queued for K workers that take N ms
//! each, and a sampled `traceparent` gets the answer's and the work's spans exported over OTLP; S3 and
//! S6 are answered as this system answers them, which that contract accepts too.
//!
//! It is a plain HTTP/1.1 loop on tokio rather than an axum app: it parses the request line and
//! `Content-Length`, nothing else, so that the system side of a calibration costs next to nothing on
//! the two cores it shares with k6. Connections are kept alive, as k6 keeps them.

use std::{borrow::Cow, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::deferring::{Deferral, DeferredWork};
use crate::scenario::Scenario;

/// The deferring stand-in's answer to every scenario's request, whatever its work.
const ACCEPTED: &str = r#"{"status":"accepted"}"#;

/// What the responder answers `scenario`'s request to `path` with `body`: the status the real system
/// gives (the one k6's checks expect) and a body of the same shape, S3's with the product and stock
/// the request sent, as the contracts' checks want.
fn answer(scenario: Scenario, path: &str, body: &[u8]) -> (u16, Cow<'static, str>) {
    match scenario {
        Scenario::S1 => (201, r#"{"id":1,"email":"k6-calibration-0@example.org"}"#.into()),
        Scenario::S2 => (
            200,
            r#"{"status":"success","transaction_id":"00000000-0000-4000-8000-000000000000"}"#.into(),
        ),
        Scenario::S3 => (200, updated_product(path, body).into()),
        Scenario::S4 => (
            200,
            r#"{"report_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#.into(),
        ),
        Scenario::S5 => (
            400,
            r#"{"message":"Order failed due to payment issue","order_id":1,"status":"failed"}"#.into(),
        ),
        Scenario::S6 => (200, r#"{"status":"tracked"}"#.into()),
    }
}

/// S3's answer: the product of `/products/{id}` with the `stock` the request's JSON body set (0
/// where the path or the body says none).
fn updated_product(path: &str, body: &[u8]) -> String {
    let id: u64 = path
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let stock = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|sent| sent.get("stock").and_then(serde_json::Value::as_i64))
        .unwrap_or(0);
    format!(r#"{{"id":{id},"name":"Product {id}","stock":{stock}}}"#)
}

/// The responder, listening until dropped.
pub struct Responder {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Responder {
    /// Listens on an ephemeral port of 127.0.0.1 and answers at once.
    pub async fn start() -> Result<Self> {
        Self::listen(0, Duration::ZERO).await
    }

    /// Listens on `port` of 127.0.0.1 (0: any free one) and answers each request `delay` after it
    /// was read.
    pub async fn listen(port: u16, delay: Duration) -> Result<Self> {
        Self::bind(port, delay, None).await
    }

    /// Listens on `port` of 127.0.0.1 (0: any free one) and answers each scenario's request `202` at
    /// once, its work deferred as `deferral` says.
    pub async fn deferring(port: u16, deferral: Deferral) -> Result<Self> {
        Self::bind(port, Duration::ZERO, Some(DeferredWork::start(deferral))).await
    }

    async fn bind(port: u16, delay: Duration, deferred: Option<Arc<DeferredWork>>) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the responder to 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(answer_all(stream, delay, deferred.clone()));
            }
        });
        Ok(Self { addr, accept })
    }

    /// `http://127.0.0.1:<port>`, for every entrypoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `stack respond`: a responder on `port` answering after `delay`, or deferring as `deferral` says,
/// its URL printed, until Ctrl-C or SIGTERM.
pub async fn serve(port: u16, delay: Duration, deferral: Option<Deferral>) -> Result<()> {
    let _responder = match deferral {
        Some(deferral) => {
            let responder = Responder::deferring(port, deferral.clone()).await?;
            let deferred: Vec<&str> = deferral.scenarios.iter().map(|s| s.name()).collect();
            // One line: whoever started the stand-in may read its first line only and close the pipe.
            println!(
                "responding 202 to {} on {} (each item's work done {} ms after one of {} workers takes \
                 it; the other scenarios answered as this system answers): Ctrl-C or SIGTERM stops it",
                deferred.join(", "),
                responder.url(),
                deferral.defer.as_secs_f64() * 1000.0,
                deferral.workers
            );
            responder
        }
        None => {
            let responder = Responder::listen(port, delay).await?;
            println!(
                "responding on {} after {} ms: Ctrl-C or SIGTERM stops it",
                responder.url(),
                delay.as_secs_f64() * 1000.0
            );
            responder
        }
    };
    common::serve::shutdown_signal().await;
    Ok(())
}

/// Answers the requests of one connection, each `delay` after it was read (or at once, deferring its
/// work, when `deferred`), until the client closes it or sends something that is not HTTP/1.1.
async fn answer_all(stream: TcpStream, delay: Duration, deferred: Option<Arc<DeferredWork>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if !matches!(read.read_line(&mut line).await, Ok(n) if n > 0) {
            return;
        }
        let mut words = line.split_whitespace();
        let (method, path) = (
            words.next().unwrap_or("").to_owned(),
            words.next().unwrap_or("").to_owned(),
        );
        let mut length = 0;
        let mut close = false;
        let mut traceparent = None;
        loop {
            line.clear();
            if !matches!(read.read_line(&mut line).await, Ok(n) if n > 0) {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.trim().eq_ignore_ascii_case("close");
                } else if name.eq_ignore_ascii_case("traceparent") {
                    traceparent = Some(value.trim().to_owned());
                }
            }
        }
        body.resize(length, 0);
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let scenario = scenario_of(&method, &path);
        let answer = match (&deferred, scenario) {
            (Some(deferred), Some(scenario)) if deferred.defers(scenario) => {
                deferred.accept(scenario, traceparent.as_deref());
                http_response(202, ACCEPTED)
            }
            _ => response(scenario, &path, &body),
        };
        if write.write_all(&answer).await.is_err() || close {
            return;
        }
    }
}

/// The scenario whose entry route `method path` is.
fn scenario_of(method: &str, path: &str) -> Option<Scenario> {
    Scenario::ALL.into_iter().find(|scenario| {
        let entry = scenario.entry();
        entry.method == method
            && match entry.route.split_once('{') {
                Some((prefix, _)) => path.starts_with(prefix),
                None => path == entry.route,
            }
    })
}

/// The whole response to a request of `scenario` to `path` with `body`: its answer, or 404 for no
/// scenario's.
fn response(scenario: Option<Scenario>, path: &str, body: &[u8]) -> Vec<u8> {
    let (status, body) = scenario.map_or((404, r#"{"detail":"unknown path"}"#.into()), |scenario| {
        answer(scenario, path, body)
    });
    http_response(status, &body)
}

/// `status` with the JSON `body`, as bytes.
fn http_response(status: u16, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        _ => "Not Found",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_scenario_request_gets_its_status_on_one_kept_alive_connection() {
        // Given the responder
        let responder = Responder::start().await.expect("starts");
        let client = reqwest::Client::new();
        // When each scenario's request is sent (S3 to product 7), and one to an unknown path
        let mut statuses = Vec::new();
        for (method, path) in Scenario::ALL
            .map(|scenario| {
                (
                    scenario.entry().method,
                    scenario.entry().route.replace("{product_id}", "7"),
                )
            })
            .into_iter()
            .chain([("POST", "/nope".to_owned())])
        {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let answer = client
                .request(method, format!("{}{path}", responder.url()))
                .body(r#"{"email":"a@example.org"}"#)
                .send()
                .await
                .expect("answers");
            statuses.push(answer.status().as_u16());
        }
        // Then each gets its scenario's status
        assert_eq!(statuses, [201, 200, 200, 200, 400, 200, 404]);
    }

    #[tokio::test]
    async fn the_stand_in_acknowledges_deferred_scenarios_and_answers_the_others_as_this_system() {
        // Given the stand-in deferring S1 only
        let deferral = Deferral {
            defer: Duration::from_millis(1),
            workers: 1,
            scenarios: vec![Scenario::S1],
        };
        let responder = Responder::deferring(0, deferral).await.expect("starts");
        let client = reqwest::Client::new();
        let send = |method: reqwest::Method, path: &str, body: &'static str| {
            client
                .request(method, format!("{}{path}", responder.url()))
                .body(body)
                .send()
        };
        // When S1, S3 (product 7, stock 42) and S6 are sent
        let s1 = send(reqwest::Method::POST, "/register", r#"{"email":"a@example.org"}"#);
        let s1 = s1.await.expect("answers").status().as_u16();
        let s3 = send(reqwest::Method::PUT, "/products/7", r#"{"stock":42}"#)
            .await
            .expect("answers");
        let s3 = (
            s3.status().as_u16(),
            s3.json::<serde_json::Value>().await.expect("JSON"),
        );
        let s6 = send(reqwest::Method::POST, "/track_click", "{}")
            .await
            .expect("answers");
        // Then S1 is acknowledged, S3 answered with what it sent, S6 tracked
        assert_eq!(s1, 202);
        assert_eq!(s3.0, 200);
        assert_eq!((s3.1["id"].as_u64(), s3.1["stock"].as_i64()), (Some(7), Some(42)));
        assert_eq!(s6.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn a_delayed_responder_answers_each_request_after_its_delay_without_queueing_them() {
        // Given a responder that waits 300 ms before each answer
        let delay = Duration::from_millis(300);
        let responder = Responder::listen(0, delay).await.expect("starts");
        let client = reqwest::Client::new();
        let url = format!("{}/track_click", responder.url());
        // When five clicks are sent at once, each on its own connection
        let started = std::time::Instant::now();
        let mut clicks = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let (client, url) = (client.clone(), url.clone());
            clicks.spawn(async move {
                let sent = std::time::Instant::now();
                let answer = client.post(&url).body("{}").send().await.expect("answers");
                (answer.status().as_u16(), sent.elapsed())
            });
        }
        let answers = clicks.join_all().await;
        let all = started.elapsed();
        // Then each is answered, none before its delay, and together well before five delays
        for (status, took) in &answers {
            assert_eq!(*status, 200);
            assert!(*took >= delay, "answered after {took:?}");
        }
        assert!(
            all < delay * 5,
            "five answers took {all:?}: queued behind one another"
        );
    }
}
