//! The report service of S4: a CPU-bound request.
//!
//! `/generate_report` chains SHA-256 hashes, starting from `b"compute_hash"`, for about ten seconds of
//! wall time (`REPORT_SECONDS`), exactly as the brief's Python loop does, and answers with the last
//! digest. The work runs on a blocking thread, so the service's async workers stay free: `/health`
//! and other requests are answered while a report is being computed.

use std::time::{Duration, Instant};

use axum::{extract::State, http::StatusCode, Router};
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
use utoipa::ToSchema;
use utoipa_axum::routes;

/// The brief's ten seconds.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How many hashes run between two looks at the clock: the clock costs little, but not nothing.
const HASHES_PER_CLOCK_CHECK: u64 = 64;

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app(duration_from_env()?))
}

/// `REPORT_SECONDS`, in seconds (fractions allowed).
pub fn duration_from_env() -> Result<Duration, ConfigError> {
    let seconds = config::parse_or("REPORT_SECONDS", DEFAULT_DURATION.as_secs_f64())?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|err| ConfigError::invalid("REPORT_SECONDS", &seconds.to_string(), err))
}

pub fn app(duration: Duration) -> Router {
    serve::app(
        openapi::router("reportservice")
            .routes(routes!(generate_report))
            .with_state(duration),
    )
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
    ))]
async fn generate_report(
    State(duration): State<Duration>,
    OptionalJson(_options): OptionalJson,
) -> Result<Json<Report>, ApiError> {
    let report = tokio::task::spawn_blocking(move || hash_chain(duration))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "the report computation did not finish");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the report computation failed")
        })?;
    Ok(Json(report))
}

/// Chains SHA-256 over its own digest until `duration` has passed.
pub fn hash_chain(duration: Duration) -> Report {
    let started = Instant::now();
    let mut digest: [u8; 32] = Sha256::digest(b"compute_hash").into();
    let mut iterations = 1;
    while started.elapsed() < duration {
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
