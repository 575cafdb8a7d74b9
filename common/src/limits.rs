//! How long a client may take to send a request, how large its body may be, and how many
//! connections it may hold.
//!
//! A service trusts nobody to finish what it starts. The head of a request (request line and
//! headers) must arrive within [`Limits::header_read`]: hyper's HTTP/1 header read timeout, whose
//! timer starts as soon as a connection waits for a request, so it is also the idle limit of a
//! kept-alive connection between two requests, and it closes a connection that sends nothing. The
//! body must arrive within [`Limits::body_read`] of the head, or the answer is `408` and the
//! connection closes. Neither runs while a handler works, so a 2 s payment, a 10 s report or a slow
//! downstream call is never cut. And a service holds at most [`Limits::max_connections`] connections,
//! a bound below its open-file limit: a connection past it is closed at once, so the service never
//! runs out of descriptors and goes on answering the connections it has. `common::serve` wires all
//! of this; a service never mentions it.

use std::{
    convert::Infallible,
    io,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{header::CONNECTION, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
    BoxError, Router,
};
use futures::future::BoxFuture;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

use crate::{
    config::{self, ConfigError},
    error::ApiError,
};

/// The largest request body any endpoint accepts; the bodies of this study are a few dozen bytes.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// `HEADER_READ_TIMEOUT_MS`'s default.
pub const HEADER_READ_DEFAULT: Duration = Duration::from_secs(10);
/// `BODY_READ_TIMEOUT_MS`'s default.
pub const BODY_READ_DEFAULT: Duration = Duration::from_secs(10);

/// The limits a service serves within; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a connection waiting for a request (just accepted, or its last answer sent) to the
    /// request's complete head.
    pub header_read: Option<Duration>,
    /// From a request's head to the end of its body.
    pub body_read: Option<Duration>,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: Option<usize>,
    /// The process's (soft) open-file limit, as read at start-up; `None` when unlimited.
    pub open_files: Option<u64>,
}

impl Default for Limits {
    /// The documented defaults, the connection bound three quarters of the open-file limit.
    fn default() -> Self {
        let open_files = open_file_limit();
        Self {
            header_read: Some(HEADER_READ_DEFAULT),
            body_read: Some(BODY_READ_DEFAULT),
            max_connections: open_files.map(default_bound),
            open_files,
        }
    }
}

impl Limits {
    /// No limit at all: what `SERVE_LIMITS=off` gives, to measure what the limits cost.
    pub fn off() -> Self {
        Self {
            header_read: None,
            body_read: None,
            max_connections: None,
            open_files: open_file_limit(),
        }
    }

    /// `HEADER_READ_TIMEOUT_MS`, `BODY_READ_TIMEOUT_MS`, `MAX_CONNECTIONS` and `SERVE_LIMITS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        match config::var("SERVE_LIMITS").as_deref().map(str::trim) {
            None | Some("on") => {}
            Some("off") => return Ok(Self::off()),
            Some(other) => return Err(ConfigError::invalid("SERVE_LIMITS", other, "expected on or off")),
        }
        let defaults = Self::default();
        let header_read = positive("HEADER_READ_TIMEOUT_MS", HEADER_READ_DEFAULT)?;
        let body_read = positive("BODY_READ_TIMEOUT_MS", BODY_READ_DEFAULT)?;
        let max_connections = match config::var("MAX_CONNECTIONS") {
            None => defaults.max_connections,
            Some(_) => Some(connection_bound(defaults.open_files)?),
        };
        Ok(Self {
            header_read: Some(header_read),
            body_read: Some(body_read),
            max_connections,
            open_files: defaults.open_files,
        })
    }

    /// Says at start-up what the service will put up with.
    pub fn log(&self) {
        let millis = |limit: Option<Duration>| limit.map(|limit| limit.as_millis());
        tracing::info!(
            open_file_limit = ?self.open_files,
            max_connections = ?self.max_connections,
            header_read_timeout_ms = ?millis(self.header_read),
            body_read_timeout_ms = ?millis(self.body_read),
            "serving within these limits"
        );
    }

    /// hyper's HTTP/1 connection builder with the header read timeout, on tokio's clock.
    pub fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        if let Some(limit) = self.header_read {
            builder.timer(TokioTimer::new()).header_read_timeout(limit);
        } else {
            builder.header_read_timeout(None);
        }
        builder
    }

    /// `app` behind the body deadline: every request's body read within `body_read` (and the
    /// body size limit) before it is routed. With no deadline (`SERVE_LIMITS=off`) the body is
    /// left to the handler's extractor, whose size limit `serve::app`'s `DefaultBodyLimit` sets.
    pub fn on_request_bodies(&self, app: Router) -> BodyDeadline {
        BodyDeadline {
            app,
            limit: self.body_read,
        }
    }

    /// The count of open connections, bounded by `max_connections`.
    pub fn open_connections(&self) -> OpenConnections {
        OpenConnections {
            bound: self.max_connections,
            slots: self
                .max_connections
                .map(|bound| Arc::new(Semaphore::new(bound.min(Semaphore::MAX_PERMITS)))),
            shed: EverySecond::default(),
        }
    }
}

/// A duration in milliseconds that must not be zero (zero would close every connection at once).
fn positive(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let limit = config::millis_or(name, default)?;
    if limit.is_zero() {
        return Err(ConfigError::invalid(name, "0", "must be at least 1 ms"));
    }
    Ok(limit)
}

/// `MAX_CONNECTIONS`, which must leave room below the open-file limit for the service's own files.
fn connection_bound(open_files: Option<u64>) -> Result<usize, ConfigError> {
    let bound: usize = config::parse_or("MAX_CONNECTIONS", 0)?;
    let value = bound.to_string();
    if bound == 0 {
        return Err(ConfigError::invalid(
            "MAX_CONNECTIONS",
            &value,
            "must be at least 1",
        ));
    }
    match open_files {
        Some(limit) if bound as u64 >= limit => Err(ConfigError::invalid(
            "MAX_CONNECTIONS",
            &value,
            format!("must be below the open-file limit ({limit})"),
        )),
        _ => Ok(bound),
    }
}

/// Three quarters of the open-file limit: the last quarter is for the database pool, the calls to
/// other services and the process's own files.
fn default_bound(open_files: u64) -> usize {
    usize::try_from(open_files / 4 * 3).unwrap_or(usize::MAX).max(1)
}

/// The soft `RLIMIT_NOFILE` of this process, or `None` when it is unlimited or cannot be read.
pub fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct it is handed.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The connections a service holds, and the new ones it sheds past its bound.
#[derive(Debug)]
pub struct OpenConnections {
    bound: Option<usize>,
    slots: Option<Arc<Semaphore>>,
    shed: EverySecond,
}

/// One open connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl OpenConnections {
    /// A place for a connection just accepted, or `None`: then the caller closes it at once, and
    /// the shedding is logged at most once a second.
    pub fn admit(&mut self) -> Option<Slot> {
        let Some(slots) = &self.slots else {
            return Some(Slot { _permit: None });
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(Slot {
                _permit: Some(permit),
            }),
            Err(_) => {
                if let Some(shed) = self.shed.tick() {
                    tracing::warn!(
                        max_connections = ?self.bound,
                        shed,
                        "connection bound reached: closing new connections at once"
                    );
                }
                None
            }
        }
    }
}

/// What the accept loop does after `accept` failed: a connection that was reset before it was
/// accepted is nobody's concern; anything else (out of descriptors, above all) is logged at most once
/// a second and waited out briefly, since accepting again at once would fail the same way.
pub async fn after_accept_error(err: &io::Error, errors: &mut EverySecond) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    if let Some(count) = errors.tick() {
        tracing::error!(error = %err, count, "accept error");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Counts occurrences of something, to log it at most once a second with how often it happened.
#[derive(Debug, Default)]
pub struct EverySecond {
    last_logged: Option<Instant>,
    since: u64,
}

impl EverySecond {
    /// Counts one; `Some(count since the last log)` when it is time to log again.
    pub fn tick(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// A router whose requests' bodies are read whole (at most [`BODY_LIMIT_BYTES`]) within `limit`
/// of their head and handed on as bytes; with no `limit`, handed on as they come. A deadline for
/// the whole body rather than tower-http's `RequestBodyTimeout`, which restarts its timer at every
/// frame: a client sending a byte a second would never trip it. It wraps the router rather than
/// each route, so a request passes one box fewer (`Router` clones as an `Arc`). It is always ready
/// because axum's `Router` always is, so it calls the router without asking.
#[derive(Clone)]
pub struct BodyDeadline {
    app: Router,
    limit: Option<Duration>,
}

impl<B> Service<Request<B>> for BodyDeadline
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        let Some(limit) = self.limit else {
            return Box::pin(self.app.call(request));
        };
        let mut app = self.app.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            match tokio::time::timeout(limit, axum::body::to_bytes(body, BODY_LIMIT_BYTES)).await {
                Ok(Ok(bytes)) => app.call(Request::from_parts(parts, Body::from(bytes))).await,
                Ok(Err(err)) => Ok(unreadable_body(err)),
                Err(_elapsed) => Ok(body_too_slow(limit)),
            }
        })
    }
}

/// `408` with the JSON error contract, and the connection closes: what is left of the body is not
/// worth waiting for.
fn body_too_slow(limit: Duration) -> Response {
    let detail = format!("the request body did not arrive within {} ms", limit.as_millis());
    let mut response = ApiError::new(StatusCode::REQUEST_TIMEOUT, detail).into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What axum's body extractors answer for a body they cannot buffer: `413` over the size limit,
/// `400` for a body that breaks off or is badly framed.
fn unreadable_body(err: axum::Error) -> Response {
    let err = err.into_inner();
    let status = if err.is::<http_body_util::LengthLimitError>() {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(status, format!("Failed to buffer the request body: {err}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bound_leaves_a_quarter_of_the_open_files() {
        assert_eq!(default_bound(1024), 768);
        assert_eq!(default_bound(1), 1);
    }

    #[test]
    fn a_repeated_event_is_logged_once_a_second_with_its_count() {
        let mut events = EverySecond::default();
        assert_eq!(events.tick(), Some(1));
        assert_eq!(events.tick(), None);
        assert_eq!(events.tick(), None);
        events.last_logged = Instant::now().checked_sub(Duration::from_secs(2));
        assert_eq!(events.tick(), Some(3));
    }
}
