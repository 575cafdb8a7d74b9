//! The payment service: a slow external gateway (S2) and a gateway that declines at once (S5).
//!
//! `/process_payment` takes two seconds, the brief's `time.sleep(2)`, which is what a caller waiting
//! on a slow dependency looks like. `/process_payment_fail` declines with `400` straight away; the
//! order service's saga (S5) calls it and must then compensate.

use std::time::Duration;

use axum::{http::StatusCode, routing::post, Router};
use common::{serve, serve::StartupError, Json, OptionalJson};
use serde_json::{json, Value};

/// How long the simulated gateway takes to approve a payment.
pub const PROCESSING_TIME: Duration = Duration::from_secs(2);

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(
        Router::new()
            .route("/process_payment", post(process_payment))
            .route("/process_payment_fail", post(process_payment_fail)),
    )
}

/// Any JSON body, or none, is accepted: the gateway is simulated and looks at nothing.
async fn process_payment(OptionalJson(_payment): OptionalJson) -> Json<Value> {
    tokio::time::sleep(PROCESSING_TIME).await;
    Json(json!({
        "status": "success",
        "transaction_id": uuid::Uuid::new_v4().to_string(),
    }))
}

async fn process_payment_fail(OptionalJson(_payment): OptionalJson) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "status": "failed",
            "reason": "Insufficient funds",
            "detail": "Insufficient funds",
        })),
    )
}
