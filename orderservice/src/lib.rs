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
//! Each call is awaited before the next. The order is saved `pending` before any call is made and
//! keeps that status until its end (`failed` or `completed`) is saved, so a crash anywhere in between
//! leaves it `pending` (or `compensating`, when its compensation failed), and
//! [`compensation::Recovery`] finishes it when the service is back: no stock is held for good. The
//! saga makes two writes of its own, and the inventory one for each of its two calls. Each order
//! records the process that runs it ([`lease`]), so that recovery in another replica leaves it alone
//! while that process lives; should recovery still end an order first, the saga's last write finds
//! the order no longer `pending` and the answer says so, never "completed".

pub mod compensation;
pub mod lease;
pub mod orders;

use std::time::Duration;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Router,
};
use common::db::DbPool;
use common::{
    config,
    db::{self, DbSettings},
    downstream::Timeouts,
    openapi::{self, BadJson, Either},
    serve::{self, StartupError},
    validate::positive,
    ApiError, Downstream, DownstreamError, ErrorBody, Failure, Json,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::migrate::Migrator;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::{
    compensation::{compensate, CompensationError, Recovery},
    lease::Owner,
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

/// What the service is started with: `main` reads it from the environment, the tests make their own.
pub struct Settings {
    pub db: DbSettings,
    pub inventory: Downstream,
    pub payment: Payment,
    pub recovery: Recovery,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        let timeouts = Timeouts::from_env()?;
        let client = timeouts.client();
        let interval = config::millis_or("RECOVERY_INTERVAL_MS", Duration::from_secs(30))?;
        let recovery = Recovery::new(interval, timeouts.total);
        let idle_after = config::millis_or("RECOVERY_IDLE_AFTER_MS", recovery.idle_after)?;
        Ok(Self {
            db: DbSettings::from_env()?,
            inventory: Downstream::from_env("inventoryservice", "INVENTORY_SERVICE_URL", &client, timeouts)?,
            payment: Payment {
                gateway: Downstream::from_env("paymentservice", "PAYMENT_SERVICE_URL", &client, timeouts)?,
                path: config::var("PAYMENT_PATH").unwrap_or_else(|| DECLINING_PAYMENT_PATH.to_owned()),
            },
            recovery: Recovery {
                idle_after,
                ..recovery
            },
        })
    }
}

pub async fn from_env() -> Result<Router, StartupError> {
    build(Settings::from_env()?).await
}

/// Connects to the database, takes this process's lease and returns the app, with recovery running
/// beside it.
pub async fn build(settings: Settings) -> Result<Router, StartupError> {
    let db = db::connect(&settings.db, SCHEMA, &MIGRATOR).await?;
    let owner = lease::take(&settings.db).await?;
    tokio::spawn(
        settings
            .recovery
            .run(db.clone(), settings.inventory.clone(), owner),
    );
    Ok(app(db, owner, settings.inventory, settings.payment))
}

fn app(db: DbPool, owner: Owner, inventory: Downstream, payment: Payment) -> Router {
    let state = AppState {
        db,
        owner,
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
    db: DbPool,
    owner: Owner,
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

/// The payment went through (only with `PAYMENT_PATH=/process_payment`).
#[derive(Debug, Serialize, ToSchema)]
struct OrderCompleted {
    order_id: i32,
    status: Status,
    /// The payment service's answer.
    payment: Value,
}

/// The payment was declined: the order is `failed` and its stock given back.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderFailed {
    detail: String,
    message: String,
    order_id: i32,
    status: Status,
    /// The payment service's answer.
    payment: Value,
}

type DeclinedOrMalformed = Either<OrderFailed, ErrorBody>;

/// What a saga that ran to the payment's verdict answers: `201` paid, `400` declined.
#[derive(Debug)]
enum Verdict {
    Completed(OrderCompleted),
    Declined(OrderFailed),
}

impl IntoResponse for Verdict {
    fn into_response(self) -> Response {
        match self {
            Self::Completed(order) => (StatusCode::CREATED, Json(order)).into_response(),
            Self::Declined(order) => (StatusCode::BAD_REQUEST, Json(order)).into_response(),
        }
    }
}

/// A saga step failed: `service` names it; the order is `failed` after compensation, or
/// `compensating` if compensation failed too (recovery finishes it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SagaFailed {
    detail: String,
    service: String,
    order_id: i32,
    status: Status,
}

/// The saga stopped before the payment's verdict, for a cause that is not another service's failure:
/// the stock was short (`409`, the order is `failed`), or the database failed while the order was
/// being compensated (`503`, the order stays `compensating` and recovery finishes it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderStopped {
    detail: String,
    order_id: i32,
    status: Status,
}

/// What `create_order` answers, besides a plain error, when an order exists but did not complete.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum OrderFailure {
    Saga(SagaFailed),
    Stopped(OrderStopped),
}

/// A `503`: the database was unavailable before the order was saved (only `detail`), or while it
/// was being compensated.
type DownOrStopped = Either<ErrorBody, OrderStopped>;

/// S5: the saga. Saves the order, reserves its stock, takes the payment (which declines), gives the
/// stock back, marks the order `failed` and answers `400`.
#[utoipa::path(post, path = "/create_order", request_body = OrderRequest, responses(
    (status = 201, description = "Paid (only with `PAYMENT_PATH=/process_payment`): the order is `completed`",
        body = OrderCompleted, example = json!({"order_id": 1, "status": "completed",
            "payment": {"status": "success", "transaction_id": "6f1c2b9e-6a47-4a63-9a53-3f7a2c1d8e90"}})),
    // Before the route's own `400`, which takes its place: a declined payment or a malformed body.
    BadJson,
    (status = 400, description = "The payment was declined: the order is `failed`, its stock given back \
        (or, with only `detail`, the body is not well-formed JSON)",
        body = inline(DeclinedOrMalformed), example = json!({
            "detail": "payment declined: Insufficient funds",
            "message": "Order failed due to payment issue", "order_id": 1, "status": "failed",
            "payment": {"status": "failed", "reason": "Insufficient funds", "detail": "Insufficient funds"}})),
    (status = 404, description = "No such product; no order is kept", body = ErrorBody,
        example = json!({"detail": "product 999 does not exist"})),
    (status = 409, description = "The stock is short: the order is `failed` and payment was never called \
        (or, with the approving payment path, recovery took the order over before the saga could complete \
        it: it is `compensating`, then `failed`)",
        body = OrderStopped, example = json!({
            "detail": "insufficient stock for product 1: 9000 requested, 4999 available",
            "order_id": 2, "status": "failed"})),
    (status = 502, description = "The inventory or payment service failed", body = SagaFailed,
        example = json!({"detail": "paymentservice could not be reached: connection refused",
            "service": "paymentservice", "order_id": 3, "status": "failed"})),
    (status = 504, description = "The inventory or payment service did not answer in time", body = SagaFailed,
        example = json!({"detail": "inventoryservice did not answer within 10s",
            "service": "inventoryservice", "order_id": 3, "status": "failed"})),
    (status = 503, description = "The database is unavailable: before the order was saved nothing was \
        done (only `detail`); during its compensation the order stays `compensating` and recovery \
        finishes it", body = inline(DownOrStopped), example = json!({
            "detail": "order 4 failed and the order's status could not be saved: pool timed out while waiting for an open connection; it stays compensating and recovery will finish it",
            "order_id": 4, "status": "compensating"})),
))]
async fn create_order(
    State(app): State<AppState>,
    Json(request): Json<OrderRequest>,
) -> Result<Verdict, Failure<OrderFailure>> {
    positive("product_id", request.product_id)?;
    positive("quantity", request.quantity)?;

    // 1. Save the order as pending.
    let order = orders::insert_pending(&app.db, app.owner, request.product_id, request.quantity).await?;

    // 2. Reserve its stock.
    match app.inventory.post("/reserve_stock", &order).await {
        Ok(reply) if reply.status.is_success() => {}
        Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
            orders::discard(&app.db, order.id).await?;
            return Err(ApiError::not_found(reply.detail()).into());
        }
        Ok(reply) if reply.status == StatusCode::CONFLICT => {
            orders::advance(&app.db, order.id, &[Status::Pending], Status::Failed).await?;
            return Err(Failure::Detailed {
                status: StatusCode::CONFLICT,
                body: OrderFailure::Stopped(OrderStopped {
                    detail: reply.detail(),
                    order_id: order.id,
                    status: Status::Failed,
                }),
            });
        }
        // Whether the stock was reserved is unknown: compensation makes sure it is not.
        Ok(reply) => return Err(abort(&app, &order, app.inventory.unexpected(reply)).await),
        Err(err) => return Err(abort(&app, &order, err).await),
    }

    // 3. Take the payment.
    let payment = match app.payment.gateway.post(&app.payment.path, &order).await {
        Ok(reply) if reply.status.is_success() => {
            if !orders::advance(&app.db, order.id, &[Status::Pending], Status::Completed).await? {
                return Err(taken_over(&order));
            }
            return Ok(Verdict::Completed(OrderCompleted {
                order_id: order.id,
                status: Status::Completed,
                payment: reply.body,
            }));
        }
        Ok(reply) if reply.status.is_client_error() => reply,
        Ok(reply) => return Err(abort(&app, &order, app.payment.gateway.unexpected(reply)).await),
        Err(err) => return Err(abort(&app, &order, err).await),
    };

    // 4. Compensate and 5. mark the order failed.
    if let Err(err) = compensate(&app.db, &app.inventory, &order).await {
        return Err(compensation_failed(&order, err));
    }

    // 6. Answer that the payment failed.
    Ok(Verdict::Declined(OrderFailed {
        detail: format!("payment declined: {}", payment.detail()),
        message: "Order failed due to payment issue".to_owned(),
        order_id: order.id,
        status: Status::Failed,
        payment: payment.body,
    }))
}

/// The payment went through, but recovery had already ended the order (its owner's lease was lost,
/// or the saga outlived the deadline): the order is not `completed`, and the answer says so.
fn taken_over(order: &Order) -> Failure<OrderFailure> {
    Failure::Detailed {
        status: StatusCode::CONFLICT,
        body: OrderFailure::Stopped(OrderStopped {
            detail: format!(
                "order {} was taken over by recovery while its payment was taken: it is not completed, \
                 recovery gives its stock back and marks it failed, and the payment must be refunded",
                order.id
            ),
            order_id: order.id,
            // What recovery's claim set it to (`orders::claim_abandoned`), before it ends it `failed`.
            status: Status::Compensating,
        }),
    }
}

/// Ends a saga that a downstream failure interrupted: its stock is given back and the caller gets
/// the original failure, `502` or `504`, naming the service.
async fn abort(app: &AppState, order: &Order, failure: DownstreamError) -> Failure<OrderFailure> {
    match compensate(&app.db, &app.inventory, order).await {
        Ok(()) => Failure::Detailed {
            status: failure.status(),
            body: OrderFailure::Saga(SagaFailed {
                detail: failure.to_string(),
                service: failure.service().to_owned(),
                order_id: order.id,
                status: Status::Failed,
            }),
        },
        Err(err) => compensation_failed(order, err),
    }
}

/// The order stays `compensating`: recovery will finish it.
fn compensation_failed(order: &Order, err: CompensationError) -> Failure<OrderFailure> {
    let detail = format!(
        "order {} failed and {err}; it stays compensating and recovery will finish it",
        order.id
    );
    match err {
        CompensationError::Inventory(failure) => Failure::Detailed {
            status: failure.status(),
            body: OrderFailure::Saga(SagaFailed {
                detail,
                service: failure.service().to_owned(),
                order_id: order.id,
                status: Status::Compensating,
            }),
        },
        CompensationError::Database(err) => Failure::Detailed {
            status: ApiError::from(err).status(),
            body: OrderFailure::Stopped(OrderStopped {
                detail,
                order_id: order.id,
                status: Status::Compensating,
            }),
        },
    }
}
