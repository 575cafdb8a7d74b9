//! Slow and hostile clients, against the release binaries: a connection that sends nothing, a request
//! head or a body that never finishes, a kept-alive connection left idle, and more connections than
//! the service has files. Each is closed within its limit, and the service goes on answering; long
//! answers are never cut. The limits are set short through the environment, as a user would.

use std::time::{Duration, Instant};

use e2e::service_process::{raise_own_open_file_limit, ServiceProcess};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The limits every service of these tests runs with.
const SHORT_LIMITS: [(&str, &str); 2] = [
    ("HEADER_READ_TIMEOUT_MS", "1000"),
    ("BODY_READ_TIMEOUT_MS", "1000"),
];

/// Far above any limit set here: a connection still open after this was not closed by its limit.
const GENEROUS: Duration = Duration::from_secs(10);

const CLICK: &str = r#"{"user_id": 1, "page": "home"}"#;

async fn connect(service: &ServiceProcess) -> TcpStream {
    match TcpStream::connect(service.addr()).await {
        Ok(stream) => stream,
        Err(err) => panic!("could not connect to {}: {err}", service.addr()),
    }
}

/// Everything the server sends until it closes the connection, or `None` if it is still open
/// after `within`. A reset counts as closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Sends `request` whole (a server that answers early may refuse the rest) and reads the answer.
async fn exchange(service: &ServiceProcess, request: &[u8]) -> String {
    let mut stream = connect(service).await;
    let _ = stream.write_all(request).await;
    match read_until_closed(&mut stream, GENEROUS).await {
        Some(answer) => answer,
        None => panic!("the connection stayed open for {GENEROUS:?}"),
    }
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split(' ').nth(1).and_then(|status| status.parse().ok())
}

fn json_body_of(answer: &str) -> Value {
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

async fn post(url: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = match reqwest::Client::new().post(url).json(&json!({})).send().await {
        Ok(response) => response,
        Err(err) => panic!("POST {url}: {err}"),
    };
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

#[tokio::test]
async fn under_a_1024_file_limit_more_partial_requests_than_files_are_shed_or_closed_and_the_service_still_answers(
) {
    // Given analyticsservice under a 1 024-file limit, as in our containers, with its default limits
    // (so at most 768 connections, and 10 s for a request head)
    let attack: usize = 1100;
    assert!(
        raise_own_open_file_limit(4096) > attack as u64 + 100,
        "this test needs more sockets than the service may have"
    );
    let service = ServiceProcess::start_with_open_files("analyticsservice", &[], Some(1024)).await;

    // When one client opens more connections than that, each sending a request line and one header
    let mut sockets = futures::future::join_all((0..attack).map(|_| async {
        let mut socket = connect(&service).await;
        // A connection shed at once may already refuse the write.
        let _ = socket
            .write_all(b"POST /track_click HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await;
        socket
    }))
    .await;

    // Then those past the bound are closed at once, long before the header limit
    let closed_at_once = futures::future::join_all(
        sockets
            .iter_mut()
            .map(|socket| read_until_closed(socket, Duration::from_secs(2))),
    )
    .await;
    let shed = closed_at_once.iter().filter(|answer| answer.is_some()).count();
    assert!(shed >= attack - 768, "only {shed} of {attack} were shed at once");

    // And the others within the header limit
    let closed = futures::future::join_all(
        sockets
            .iter_mut()
            .map(|socket| read_until_closed(socket, GENEROUS + GENEROUS)),
    )
    .await;
    let still_open = closed.iter().filter(|answer| answer.is_none()).count();
    assert_eq!(still_open, 0, "connections still open after the header limit");

    // And, with every attacking socket still open on the client's side, a normal click is answered
    let click = reqwest::Client::new()
        .post(service.url("/track_click"))
        .header("content-type", "application/json")
        .body(CLICK)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let status = click.map(|response| response.status().as_u16());
    assert!(matches!(status, Ok(200)), "{status:?}");
    drop(sockets);
}

#[tokio::test]
async fn a_trickled_body_is_answered_408_within_the_body_limit_and_the_connection_closes() {
    // Given analyticsservice with a 1 s body limit
    let service = ServiceProcess::start("analyticsservice", &SHORT_LIMITS).await;

    // When a request announces 1 000 bytes of body and sends one every 200 ms
    let stream = connect(&service).await;
    let (mut reading, mut writing) = stream.into_split();
    let head = "POST /track_click HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        if writing.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writing.write_all(b" ").await.is_err() {
                return;
            }
        }
    });

    // Then it is answered 408 with a JSON detail, and the connection closes, well before the body could end
    let mut received = Vec::new();
    let read = tokio::time::timeout(GENEROUS, reading.read_to_end(&mut received)).await;
    trickle.abort();
    assert!(read.is_ok(), "the connection stayed open for {GENEROUS:?}");
    let answer = String::from_utf8_lossy(&received);
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert!(json_body_of(&answer)["detail"].is_string(), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered before the limit"
    );
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_closed() {
    // Given analyticsservice with a 1 s header limit
    let service = ServiceProcess::start("analyticsservice", &SHORT_LIMITS).await;

    // When a client connects and sends nothing
    let mut silent = connect(&service).await;

    // Then the service closes the connection, without an answer
    let answer = read_until_closed(&mut silent, GENEROUS).await;
    assert_eq!(answer.as_deref(), Some(""));
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    // Given analyticsservice with a 1 s header limit, which is also the idle limit
    let service = ServiceProcess::start("analyticsservice", &SHORT_LIMITS).await;

    // When a client sends a click on a kept-alive connection and then nothing more
    let request = format!(
        "POST /track_click HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{CLICK}",
        CLICK.len()
    );
    let mut stream = connect(&service).await;
    let sent = stream.write_all(request.as_bytes()).await;
    assert!(sent.is_ok(), "{sent:?}");
    let started = Instant::now();

    // Then the click is answered, and the idle connection is closed some time later
    let answer = read_until_closed(&mut stream, GENEROUS).await;
    let answer = answer.unwrap_or_else(|| panic!("the idle connection stayed open for {GENEROUS:?}"));
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed at once, not kept alive"
    );
}

#[tokio::test]
async fn a_2s_payment_is_delivered_whole_under_shorter_limits() {
    // Given paymentservice with header and body limits of 1 s
    let service = ServiceProcess::start("paymentservice", &SHORT_LIMITS).await;

    // When a payment, which takes 2 s, is requested
    let (status, body, elapsed) = post(&service.url("/process_payment")).await;

    // Then it is answered whole after its 2 s
    assert_eq!((status, &body["status"]), (200, &json!("success")), "{body}");
    assert!(body["transaction_id"].is_string(), "{body}");
    assert!(elapsed >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_long_report_is_delivered_whole_under_shorter_limits() {
    // Given reportservice hashing for 3 s per report, with header and body limits of 1 s
    let mut env = SHORT_LIMITS.to_vec();
    env.push(("REPORT_SECONDS", "3"));
    let service = ServiceProcess::start("reportservice", &env).await;

    // When a report is requested
    let (status, body, elapsed) = post(&service.url("/generate_report")).await;

    // Then it is answered whole after its 3 s
    assert_eq!(status, 200, "{body}");
    assert!(body["report_hash"].is_string(), "{body}");
    assert!(body["iterations"].as_u64().is_some_and(|n| n > 0), "{body}");
    assert!(elapsed >= Duration::from_secs(3));
}

fn oversized_click() -> String {
    format!(r#"{{"user_id": 1, "page": "{}"}}"#, "a".repeat(100 * 1024))
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_413() {
    // Given analyticsservice with its short limits
    let service = ServiceProcess::start("analyticsservice", &SHORT_LIMITS).await;

    // When a click of 100 KiB is sent with its content length
    let body = oversized_click();
    let request = format!(
        "POST /track_click HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&service, request.as_bytes()).await;

    // Then it is refused with 413 and a JSON detail
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    assert!(json_body_of(&answer)["detail"].is_string(), "{answer}");
}

#[tokio::test]
async fn a_chunked_body_over_the_size_limit_is_413() {
    // Given analyticsservice with its short limits
    let service = ServiceProcess::start("analyticsservice", &SHORT_LIMITS).await;

    // When a click of 100 KiB is sent chunked, in 4 KiB chunks, with no length announced
    let body = oversized_click();
    let mut request =
        "POST /track_click HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_owned();
    for chunk in body.as_bytes().chunks(4096) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        ));
    }
    request.push_str("0\r\n\r\n");
    let answer = exchange(&service, request.as_bytes()).await;

    // Then it is refused with 413 and a JSON detail
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    assert!(json_body_of(&answer)["detail"].is_string(), "{answer}");
}
