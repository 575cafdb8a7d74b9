//! The order service of S5: a synchronous saga with compensation.
//!
//! `POST /create_order {"product_id": 1, "quantity": 1}`:
//! 1. saves the order as `pending`;
//! 2. asks the inventory service to reserve its stock (`409` and no payment when the stock is short);
//! 3. asks the payment service to take the payment, which declines with `400` (`PAYMENT_PATH` can
//!    point the saga at `/process_payment` instead: the order is then `completed` and answered `201`,
//!    its stock staying reserved);
//! 4. compensates: asks the inventory service to give the stock back;
//! 5. marks the order `failed`;
//! 6. answers `400 {"message": "Order failed due to payment issue", ...}`.
//!
//! Each call is awaited before the next. Every step is saved before the next call is made, so a crash
//! between two steps leaves the order `pending`, `reserved` or `compensating`, and
//! [`compensation::Recovery`] finishes it when the service is back: no stock is held for good.

pub mod compensation;
pub mod orders;

use std::time::Duration;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Router,
};
use common::{
    config,
    db::{self, DbSettings},
    downstream::Timeouts,
    openapi::{self, BadJson, DatabaseDown, Either, ErrorBody},
    serve::{self, StartupError},
    validate::positive,
    ApiError, Downstream, Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::{
    compensation::{compensate, CompensationError, Recovery},
    orders::{Order, Status},
};

pub static MIGRATOR: Migrator = sqlx::migrate!();
pub const SCHEMA: &str = "orderservice";

/// The payment endpoint the brief's S5 calls: it always declines.
pub const DECLINING_PAYMENT_PATH: &str = "/process_payment_fail";

/// Where the saga takes its payments.
#[derive(Clone)]
pub struct Payment {
    pub gateway: Downstream,
    pub path: String,
}

pub async fn from_env() -> Result<Router, StartupError> {
    let timeouts = Timeouts::from_env()?;
    let client = timeouts.client();
    let inventory = Downstream::from_env("inventoryservice", "INVENTORY_SERVICE_URL", &client, timeouts)?;
    let payment = Payment {
        gateway: Downstream::from_env("paymentservice", "PAYMENT_SERVICE_URL", &client, timeouts)?,
        path: config::var("PAYMENT_PATH").unwrap_or_else(|| DECLINING_PAYMENT_PATH.to_owned()),
    };
    let interval = config::millis_or("RECOVERY_INTERVAL_MS", Duration::from_secs(30))?;
    let db = db::connect(&DbSettings::from_env()?, SCHEMA, &MIGRATOR).await?;
    Ok(start(db, inventory, payment, Recovery::new(interval, timeouts.total)).await?)
}

/// The app, with recovery running beside it: first over the orders earlier processes left
/// unfinished, then periodically.
pub async fn start(
    db: PgPool,
    inventory: Downstream,
    payment: Payment,
    recovery: Recovery,
) -> Result<Router, sqlx::Error> {
    let started = orders::database_clock(&db).await?;
    tokio::spawn(recovery.run(db.clone(), inventory.clone(), started));
    Ok(app(db, inventory, payment))
}

pub fn app(db: PgPool, inventory: Downstream, payment: Payment) -> Router {
    let state = AppState {
        db,
        inventory,
        payment,
    };
    serve::app(
        openapi::router("orderservice")
            .routes(routes!(create_order))
            .with_state(state),
    )
}

#[derive(Clone)]
struct AppState {
    db: PgPool,
    inventory: Downstream,
    payment: Payment,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": 1, "quantity": 1}))]
struct OrderRequest {
    #[schema(minimum = 1)]
    product_id: i32,
    #[schema(minimum = 1)]
    quantity: i32,
}

// The answers below are built as JSON in the saga; these types give their shapes to the document.

/// The payment went through (only with `PAYMENT_PATH=/process_payment`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OrderCompleted {
    order_id: i32,
    status: Status,
    /// The payment service's answer.
    payment: Value,
}

/// The payment was declined: the order is `failed` and its stock given back.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OrderFailed {
    detail: String,
    message: String,
    order_id: i32,
    status: Status,
    /// The payment service's answer.
    payment: Value,
}

type DeclinedOrMalformed = Either<OrderFailed, ErrorBody>;

/// A saga step failed: `service` names it; the order is `failed` after compensation, or
/// `compensating` if compensation failed too (recovery finishes it).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct SagaFailed {
    detail: String,
    service: String,
    order_id: i32,
    status: Status,
}

/// S5: the saga. Saves the order, reserves its stock, takes the payment (which declines), gives the
/// stock back, marks the order `failed` and answers `400`.
#[utoipa::path(post, path = "/create_order", request_body = OrderRequest, responses(
    (status = 201, description = "Paid (only with `PAYMENT_PATH=/process_payment`): the order is `completed`",
        body = OrderCompleted, example = json!({"order_id": 1, "status": "completed",
            "payment": {"status": "success", "transaction_id": "6f1c2b9e-6a47-4a63-9a53-3f7a2c1d8e90"}})),
    (status = 400, description = "The payment was declined: the order is `failed`, its stock given back \
        (or, with only `detail`, the body is not well-formed JSON)",
        body = inline(DeclinedOrMalformed), example = json!({
            "detail": "payment declined: Insufficient funds",
            "message": "Order failed due to payment issue", "order_id": 1, "status": "failed",
            "payment": {"status": "failed", "reason": "Insufficient funds", "detail": "Insufficient funds"}})),
    (status = 404, description = "No such product; no order is kept", body = ErrorBody,
        example = json!({"detail": "product 999 does not exist"})),
    (status = 409, description = "The stock is short: the order is `failed` and payment was never called",
        body = ErrorBody, example = json!({
            "detail": "insufficient stock for product 1: 9000 requested, 4999 available",
            "order_id": 2, "status": "failed"})),
    BadJson,
    (status = 502, description = "The inventory or payment service failed", body = SagaFailed,
        example = json!({"detail": "paymentservice could not be reached: connection refused",
            "service": "paymentservice", "order_id": 3, "status": "failed"})),
    (status = 504, description = "The inventory or payment service did not answer in time", body = SagaFailed),
    DatabaseDown,
))]
async fn create_order(
    State(app): State<AppState>,
    Json(request): Json<OrderRequest>,
) -> Result<Response, ApiError> {
    positive("product_id", request.product_id)?;
    positive("quantity", request.quantity)?;

    // 1. Save the order as pending.
    let order = orders::insert_pending(&app.db, request.product_id, request.quantity).await?;

    // 2. Reserve its stock.
    match app.inventory.post("/reserve_stock", &order).await {
        Ok(reply) if reply.status.is_success() => {
            orders::advance(&app.db, order.id, &[Status::Pending], Status::Reserved).await?;
        }
        Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
            orders::discard(&app.db, order.id).await?;
            return Err(ApiError::not_found(reply.detail()));
        }
        Ok(reply) if reply.status == StatusCode::CONFLICT => {
            orders::advance(&app.db, order.id, &[Status::Pending], Status::Failed).await?;
            return Err(ApiError::conflict(reply.detail())
                .with("order_id", order.id)
                .with("status", Status::Failed));
        }
        // Whether the stock was reserved is unknown: compensation makes sure it is not.
        Ok(reply) => return Err(abort(&app, &order, app.inventory.unexpected(reply).into()).await),
        Err(err) => return Err(abort(&app, &order, err.into()).await),
    }

    // 3. Take the payment.
    let payment = match app.payment.gateway.post(&app.payment.path, &order).await {
        Ok(reply) if reply.status.is_success() => {
            orders::advance(&app.db, order.id, &[Status::Reserved], Status::Completed).await?;
            let body = json!({"order_id": order.id, "status": Status::Completed, "payment": reply.body});
            return Ok((StatusCode::CREATED, Json(body)).into_response());
        }
        Ok(reply) if reply.status.is_client_error() => reply,
        Ok(reply) => return Err(abort(&app, &order, app.payment.gateway.unexpected(reply).into()).await),
        Err(err) => return Err(abort(&app, &order, err.into()).await),
    };

    // 4. Compensate and 5. mark the order failed.
    if let Err(err) = compensate(&app.db, &app.inventory, &order).await {
        return Err(compensation_failed(&order, err));
    }

    // 6. Answer that the payment failed.
    Ok(ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("payment declined: {}", payment.detail()),
    )
    .with("message", "Order failed due to payment issue")
    .with("order_id", order.id)
    .with("status", Status::Failed)
    .with("payment", payment.body)
    .into_response())
}

/// Ends a saga that a downstream failure interrupted: its stock is given back and the caller gets
/// the original failure, `502` or `504`, naming the service.
async fn abort(app: &AppState, order: &Order, failure: ApiError) -> ApiError {
    match compensate(&app.db, &app.inventory, order).await {
        Ok(()) => failure.with("order_id", order.id).with("status", Status::Failed),
        Err(err) => compensation_failed(order, err),
    }
}

fn compensation_failed(order: &Order, err: CompensationError) -> ApiError {
    let detail = format!(
        "order {} failed and {err}; it stays compensating and recovery will finish it",
        order.id
    );
    ApiError::from(err)
        .with("detail", detail)
        .with("order_id", order.id)
        .with("status", Status::Compensating)
}
