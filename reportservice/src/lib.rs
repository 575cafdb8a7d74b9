//! The report service of S4: a CPU-bound request.
//!
//! `/generate_report` chains SHA-256 hashes, starting from `b"compute_hash"`, for about ten seconds of
//! wall time (`REPORT_SECONDS`), exactly as the brief's Python loop does, and answers with the last
//! digest. The work runs on a blocking thread, so the service's async workers stay free: `/health`
//! and other requests are answered while a report is being computed.
//!
//! Reports are bounded ([`ReportLimits`]): at most `concurrency` hash at once (by default the cores
//! the process is given); beyond that a request waits in a queue of at most `queue` places for at
//! most `queue_wait`, and is otherwise answered `503` with `Retry-After`. A report whose client has
//! gone (its request dropped: the connection closed, or the route's deadline passed) stops hashing at
//! its next look at the clock, within microseconds, and frees its place.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header::RETRY_AFTER, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use common::{
    config,
    config::ConfigError,
    openapi::{self, BodyRefused},
    serve,
    serve::StartupError,
    ApiError, ErrorBody, Json, OptionalJson,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::ToSchema;
use utoipa_axum::routes;

/// The brief's ten seconds.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How many hashes run between two looks at the clock: the clock costs little, but not nothing.
const HASHES_PER_CLOCK_CHECK: u64 = 64;

/// How many reports run at once and how long others wait: see the module's comment.
#[derive(Debug, Clone, Copy)]
pub struct ReportLimits {
    /// How long one report hashes (`REPORT_SECONDS`).
    pub duration: Duration,
    /// Reports hashing at once (`REPORT_CONCURRENCY`; default: the cores given to the process).
    pub concurrency: usize,
    /// Requests waiting for a place (`REPORT_QUEUE`; default: twice `concurrency`).
    pub queue: usize,
    /// How long a request waits for a place (`REPORT_QUEUE_WAIT_MS`; default: two reports' time,
    /// enough for a full queue to drain when the reports ahead of it end).
    pub queue_wait: Duration,
}

impl ReportLimits {
    /// The defaults for reports of `duration`.
    pub fn new(duration: Duration) -> Self {
        let concurrency = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            duration,
            concurrency,
            queue: concurrency * 2,
            queue_wait: duration * 2,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::new(duration_from_env()?);
        let concurrency = config::parse_or("REPORT_CONCURRENCY", defaults.concurrency)?;
        if concurrency == 0 {
            return Err(ConfigError::invalid(
                "REPORT_CONCURRENCY",
                "0",
                "at least one report must run",
            ));
        }
        Ok(Self {
            concurrency,
            queue: config::parse_or("REPORT_QUEUE", concurrency * 2)?,
            queue_wait: config::millis_or("REPORT_QUEUE_WAIT_MS", defaults.queue_wait)?,
            ..defaults
        })
    }

    /// The route's deadline: the longest wait in the queue, the report, and a margin.
    pub fn deadline(&self) -> Duration {
        self.queue_wait + self.duration + Duration::from_secs(5)
    }

    /// What a busy answer tells the client to wait before trying again: one report's time.
    fn retry_after_seconds(&self) -> u64 {
        self.duration.as_secs_f64().ceil().max(1.0) as u64
    }
}

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app_within(ReportLimits::from_env()?))
}

/// `REPORT_SECONDS`, in seconds (fractions allowed).
pub fn duration_from_env() -> Result<Duration, ConfigError> {
    let seconds = config::parse_or("REPORT_SECONDS", DEFAULT_DURATION.as_secs_f64())?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|err| ConfigError::invalid("REPORT_SECONDS", &seconds.to_string(), err))
}

/// The service with the default limits for reports of `duration`.
pub fn app(duration: Duration) -> Router {
    app_within(ReportLimits::new(duration))
}

pub fn app_within(limits: ReportLimits) -> Router {
    let reports = Arc::new(Reports {
        places: Arc::new(Semaphore::new(limits.concurrency)),
        waiting: AtomicUsize::new(0),
        limits,
    });
    serve::app_within(
        openapi::router("reportservice")
            .routes(routes!(generate_report))
            .with_state(reports),
        limits.deadline(),
    )
}

/// The places for reports and the queue for them.
struct Reports {
    places: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: ReportLimits,
}

impl Reports {
    /// A place to hash in: at once, or after a wait in the queue; else the `503` to answer.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, Response> {
        if let Ok(place) = self.places.clone().try_acquire_owned() {
            return Ok(place);
        }
        let Some(_in_queue) = QueuePlace::join(&self.waiting, self.limits.queue) else {
            return Err(self.busy("the queue of reports is full"));
        };
        match tokio::time::timeout(self.limits.queue_wait, self.places.clone().acquire_owned()).await {
            Ok(Ok(place)) => Ok(place),
            Ok(Err(_)) | Err(_) => Err(self.busy("no report finished while this one waited")),
        }
    }

    fn busy(&self, why: &str) -> Response {
        let detail = format!(
            "{why}: {} reports run at once; try again later",
            self.limits.concurrency
        );
        (
            [(RETRY_AFTER, self.limits.retry_after_seconds().to_string())],
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail),
        )
            .into_response()
    }
}

/// A place in the queue, given up when dropped.
struct QueuePlace<'q>(&'q AtomicUsize);

impl<'q> QueuePlace<'q> {
    fn join(waiting: &'q AtomicUsize, bound: usize) -> Option<Self> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < bound).then_some(now + 1)
            })
            .ok()
            .map(|_| Self(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Raises its flag when dropped: the request it belongs to has ended, answered or abandoned.
struct RaiseOnDrop(Arc<AtomicBool>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "report_hash": "3b5d1c2a9f0e4d6b8a7c5e3f1d2b4a6c8e0f2d4b6a8c0e2f4d6b8a0c2e4f6a8b",
    "iterations": 5_120_064,
    "seconds": 10.000_012,
}))]
pub struct Report {
    pub report_hash: String,
    /// How many hashes were chained: the work done, for comparing runs.
    pub iterations: u64,
    pub seconds: f64,
}

/// S4: chains SHA-256 hashes for `REPORT_SECONDS` (10 s) of CPU time and answers the last digest.
/// Any JSON body, or none, is accepted and ignored.
#[utoipa::path(post, path = "/generate_report",
    request_body(content = Option<serde_json::Value>, description = "Any JSON, or no body"),
    responses(
        (status = 200, description = "The report, after `REPORT_SECONDS`", body = Report),
        (status = 400, description = "The body is not well-formed JSON", body = ErrorBody,
            example = json!({"detail": "Failed to parse the request body as JSON: expected value at line 1 column 1"})),
        BodyRefused,
        (status = 503, description = "As many reports as allowed are running and the queue is full, or no place \
            came free within the queue's wait; `Retry-After` says when to try again", body = ErrorBody),
    ))]
async fn generate_report(
    State(reports): State<Arc<Reports>>,
    OptionalJson(_options): OptionalJson,
) -> Result<Json<Report>, Response> {
    let place = reports.admit().await?;
    let abandoned = Arc::new(AtomicBool::new(false));
    let _abandon_when_dropped = RaiseOnDrop(abandoned.clone());
    let duration = reports.limits.duration;
    // The place goes with the hashing, so it is free only once the hashing has stopped.
    let report = tokio::task::spawn_blocking(move || {
        let report = hash_chain_unless(duration, &abandoned);
        drop(place);
        report
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "the report computation did not finish");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the report computation failed").into_response()
    })?;
    Ok(Json(report))
}

/// Chains SHA-256 over its own digest until `duration` has passed.
pub fn hash_chain(duration: Duration) -> Report {
    hash_chain_unless(duration, &AtomicBool::new(false))
}

/// [`hash_chain`], stopping early once `abandoned` is raised.
fn hash_chain_unless(duration: Duration, abandoned: &AtomicBool) -> Report {
    let started = Instant::now();
    let mut digest: [u8; 32] = Sha256::digest(b"compute_hash").into();
    let mut iterations = 1;
    while started.elapsed() < duration && !abandoned.load(Ordering::Relaxed) {
        for _ in 0..HASHES_PER_CLOCK_CHECK {
            digest = Sha256::digest(digest).into();
        }
        iterations += HASHES_PER_CLOCK_CHECK;
    }
    Report {
        report_hash: hex::encode(digest),
        iterations,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_starts_from_the_digest_of_compute_hash() {
        let report = hash_chain(Duration::ZERO);
        assert_eq!(report.iterations, 1);
        assert_eq!(report.report_hash, hex::encode(Sha256::digest(b"compute_hash")));
    }

    #[test]
    fn each_link_hashes_the_previous_digest() {
        let report = hash_chain(Duration::from_millis(5));
        let mut digest: [u8; 32] = Sha256::digest(b"compute_hash").into();
        for _ in 1..report.iterations {
            digest = Sha256::digest(digest).into();
        }
        assert_eq!(report.report_hash, hex::encode(digest));
    }
}
