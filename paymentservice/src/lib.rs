//! The payment service: a slow external gateway (S2) and a gateway that declines at once (S5).
//!
//! `/process_payment` takes two seconds, the brief's `time.sleep(2)`, which is what a caller waiting
//! on a slow dependency looks like. `/process_payment_fail` declines with `400` straight away; the
//! order service's saga (S5) calls it and must then compensate.

use std::time::Duration;

use axum::{http::StatusCode, Router};
use common::{
    openapi::{self, BodyRefused, Either},
    serve::{self, StartupError},
    ErrorBody, Json, OptionalJson,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// How long the simulated gateway takes to approve a payment.
pub const PROCESSING_TIME: Duration = Duration::from_secs(2);

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(
        openapi::router("paymentservice")
            .routes(routes!(process_payment))
            .routes(routes!(process_payment_fail)),
    )
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "success", "transaction_id": "6f1c2b9e-6a47-4a63-9a53-3f7a2c1d8e90"}))]
struct Approved {
    status: &'static str,
    /// Unique per payment.
    transaction_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "failed", "reason": "Insufficient funds", "detail": "Insufficient funds"}))]
struct Declined {
    status: &'static str,
    reason: &'static str,
    /// The reason again, for callers that read the JSON error contract.
    detail: &'static str,
}

type DeclinedOrMalformed = Either<Declined, ErrorBody>;

/// S2: approves any payment, after two seconds. Any JSON body, or none, is accepted: the gateway is
/// simulated and looks at nothing.
#[utoipa::path(post, path = "/process_payment",
    request_body(content = Option<serde_json::Value>, description = "Any JSON, or no body",
        example = json!({"amount": 42})),
    responses(
        (status = 200, description = "Approved, after 2 s", body = Approved),
        (status = 400, description = "The body is not well-formed JSON", body = ErrorBody,
            example = json!({"detail": "Failed to parse the request body as JSON: expected value at line 1 column 1"})),
        BodyRefused,
    ))]
async fn process_payment(OptionalJson(_payment): OptionalJson) -> Json<Approved> {
    tokio::time::sleep(PROCESSING_TIME).await;
    Json(Approved {
        status: "success",
        transaction_id: uuid::Uuid::new_v4().to_string(),
    })
}

/// S2 and S5: declines any payment, at once.
#[utoipa::path(post, path = "/process_payment_fail",
    request_body(content = Option<serde_json::Value>, description = "Any JSON, or no body",
        example = json!({"order_id": 1, "product_id": 1, "quantity": 1})),
    responses(
        (status = 400, description = "Declined (or, with only `detail`, a body that is not well-formed JSON)",
            body = inline(DeclinedOrMalformed),
            example = json!({"status": "failed", "reason": "Insufficient funds", "detail": "Insufficient funds"})),
        BodyRefused,
    ))]
async fn process_payment_fail(OptionalJson(_payment): OptionalJson) -> (StatusCode, Json<Declined>) {
    (
        StatusCode::BAD_REQUEST,
        Json(Declined {
            status: "failed",
            reason: "Insufficient funds",
            detail: "Insufficient funds",
        }),
    )
}
