//! The responder `stack calibrate` drives k6 against: one port on 127.0.0.1 that answers each
//! scenario's request (its method and entry route, [`Scenario::entry`]) at once, with the status the
//! real system gives and a body of the same shape, so that whatever lag k6 shows against it is k6's
//! own.
//!
//! It is a plain HTTP/1.1 loop on tokio rather than an axum app: it parses the request line and
//! `Content-Length`, nothing else, so that the system side of a calibration costs next to nothing on
//! the two cores it shares with k6. Connections are kept alive, as k6 keeps them.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::scenario::Scenario;

/// What the responder answers `scenario`'s request with: the status the real system gives (the one
/// k6's checks expect) and a body of the same shape.
fn answer(scenario: Scenario) -> (u16, &'static str) {
    match scenario {
        Scenario::S1 => (201, r#"{"id":1,"email":"k6-calibration-0@example.org"}"#),
        Scenario::S2 => (
            200,
            r#"{"status":"success","transaction_id":"00000000-0000-4000-8000-000000000000"}"#,
        ),
        Scenario::S3 => (200, r#"{"id":1,"name":"Product 1","stock":1}"#),
        Scenario::S4 => (
            200,
            r#"{"report_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
        ),
        Scenario::S5 => (
            400,
            r#"{"message":"Order failed due to payment issue","order_id":1,"status":"failed"}"#,
        ),
        Scenario::S6 => (200, r#"{"status":"tracked"}"#),
    }
}

/// The responder, listening until dropped.
pub struct Responder {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Responder {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the calibration responder")?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(answer_all(stream));
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

/// Answers the requests of one connection until the client closes it or sends something that is
/// not HTTP/1.1.
async fn answer_all(stream: TcpStream) {
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
                }
            }
        }
        body.resize(length, 0);
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        if write.write_all(&response(&method, &path)).await.is_err() || close {
            return;
        }
    }
}

/// The whole response to `method path`: the answer of the scenario whose entry route it is.
fn response(method: &str, path: &str) -> Vec<u8> {
    let (status, body) = Scenario::ALL
        .into_iter()
        .find(|scenario| {
            let entry = scenario.entry();
            entry.method == method
                && match entry.route.split_once('{') {
                    Some((prefix, _)) => path.starts_with(prefix),
                    None => path == entry.route,
                }
        })
        .map_or((404, r#"{"detail":"unknown path"}"#), answer);
    let reason = match status {
        200 => "OK",
        201 => "Created",
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
}
