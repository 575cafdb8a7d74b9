//! The inventory service of S5: stock reservations that the order saga takes and gives back.
//!
//! `POST /reserve_stock` raises a product's `reserved` count for an order, never beyond its stock
//! (`409` when the stock is short, `404` for an unknown product). `POST /compensate_stock` lowers it
//! again, never below zero. Both are keyed by the order: a repeated reserve or compensate for the
//! same order counts once, so the caller may retry them safely. A compensation that finds nothing
//! reserved leaves a "released" mark, so that a reservation still on its way (one whose caller gave
//! up waiting) can never land after it and hold stock for good.

pub mod stock;

use axum::{extract::State, http::StatusCode, Router};
use common::db::DbPool;
use common::{
    db::{self, DbSettings},
    openapi::{self, BadJson, DatabaseDown, Either},
    serve::{self, StartupError},
    validate::positive,
    ApiError, ErrorBody, Failure, Json,
};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::stock::{Existing, Reservation};

pub static MIGRATOR: Migrator = sqlx::migrate!();
pub const SCHEMA: &str = "inventoryservice";

/// What the service is started with: `main` reads it from the environment, the tests make their own.
pub struct Settings {
    pub db: DbSettings,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        Ok(Self {
            db: DbSettings::from_env()?,
        })
    }
}

pub async fn from_env() -> Result<Router, StartupError> {
    build(Settings::from_env()?).await
}

/// Connects to the database, adds the seed catalogue's missing inventory rows and returns the app.
pub async fn build(settings: Settings) -> Result<Router, StartupError> {
    let db = db::connect(&settings.db, SCHEMA, &MIGRATOR).await?;
    stock::seed(&db).await?;
    Ok(serve::app(
        openapi::router("inventoryservice")
            .routes(routes!(reserve_stock))
            .routes(routes!(compensate_stock))
            .with_state(db),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": 1, "product_id": 1, "quantity": 1}))]
struct ReserveRequest {
    #[schema(minimum = 1)]
    order_id: i32,
    #[schema(minimum = 1)]
    product_id: i32,
    #[schema(minimum = 1)]
    quantity: i32,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"order_id": 1, "product_id": 1, "quantity": 1, "reserved": 1, "stock": 5000}))]
struct Reserved {
    order_id: i32,
    product_id: i32,
    quantity: i32,
    /// The product's `reserved` count after this reservation.
    reserved: i32,
    stock: i32,
}

/// The stock is short: `available` says how many items are left to reserve.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StockShort {
    detail: String,
    /// The product's stock less what is reserved, when the request was refused.
    available: i32,
}

/// A `409`: the stock is short, or the order already holds a different or a released reservation.
type ShortOrHeld = Either<StockShort, ErrorBody>;

/// S5, step 2: reserves stock for an order, never beyond the product's stock. The same reservation
/// again changes nothing and answers `200`.
#[utoipa::path(post, path = "/reserve_stock", request_body = ReserveRequest, responses(
    (status = 200, description = "Reserved (now, or by an earlier identical request)", body = Reserved),
    (status = 404, description = "No such product", body = ErrorBody,
        example = json!({"detail": "product 999 does not exist"})),
    (status = 409, description = "The stock is short (`available` says how much is left), or the order \
        already holds a different or a released reservation (only `detail`)", body = inline(ShortOrHeld),
        example = json!({"detail": "insufficient stock for product 1: 9000 requested, 4999 available", "available": 4999})),
    BadJson,
    DatabaseDown,
))]
async fn reserve_stock(
    State(db): State<DbPool>,
    Json(request): Json<ReserveRequest>,
) -> Result<Json<Reserved>, Failure<StockShort>> {
    positive("order_id", request.order_id)?;
    positive("product_id", request.product_id)?;
    positive("quantity", request.quantity)?;

    let wanted = Reservation {
        order_id: request.order_id,
        product_id: request.product_id,
        quantity: request.quantity,
    };
    if let Some(counts) = stock::reserve(&db, &wanted).await? {
        return Ok(Json(Reserved::of(&wanted, counts)));
    }
    // Nothing was reserved: the order already has a reservation, or the stock is short, or there is
    // no such product. Which one is read afterwards, off the hot path.
    match stock::existing(&db, request.order_id).await? {
        Some(Existing::Reserved { held, counts }) if held == wanted => {
            Ok(Json(Reserved::of(&wanted, counts)))
        }
        Some(Existing::Released) => Err(ApiError::conflict(format!(
            "order {}: its reservation was already released",
            request.order_id
        ))
        .into()),
        Some(Existing::Reserved { .. }) => Err(ApiError::conflict(format!(
            "order {} already holds a different reservation",
            request.order_id
        ))
        .into()),
        None => Err(shortage(&db, &wanted).await?),
    }
}

impl Reserved {
    fn of(reservation: &Reservation, counts: stock::Counts) -> Self {
        Self {
            order_id: reservation.order_id,
            product_id: reservation.product_id,
            quantity: reservation.quantity,
            reserved: counts.reserved,
            stock: counts.stock,
        }
    }
}

/// Why a reservation could not be taken: the product is unknown (`404`) or its stock is short (`409`).
async fn shortage(db: &DbPool, wanted: &Reservation) -> Result<Failure<StockShort>, sqlx::Error> {
    Ok(match stock::counts(db, wanted.product_id).await? {
        None => ApiError::not_found(format!("product {} does not exist", wanted.product_id)).into(),
        Some(counts) => {
            let available = counts.stock - counts.reserved;
            Failure::Detailed {
                status: StatusCode::CONFLICT,
                body: StockShort {
                    detail: format!(
                        "insufficient stock for product {}: {} requested, {available} available",
                        wanted.product_id, wanted.quantity,
                    ),
                    available,
                },
            }
        }
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": 1, "product_id": 1}))]
struct CompensateRequest {
    #[schema(minimum = 1)]
    order_id: i32,
    #[schema(minimum = 1)]
    product_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"order_id": 1, "released": 1}))]
struct Compensated {
    order_id: i32,
    /// How many items this call gave back: 0 when the order held nothing (any more).
    released: i32,
}

/// S5, step 4: gives an order's reservation back. Repeating it gives back nothing more, and a
/// reservation that arrives after it is refused.
#[utoipa::path(post, path = "/compensate_stock", request_body = CompensateRequest, responses(
    (status = 200, description = "Released (`0` when the order held nothing)", body = Compensated),
    BadJson,
    DatabaseDown,
))]
async fn compensate_stock(
    State(db): State<DbPool>,
    Json(request): Json<CompensateRequest>,
) -> Result<Json<Compensated>, ApiError> {
    positive("order_id", request.order_id)?;
    positive("product_id", request.product_id)?;

    let mut released = stock::release(&db, request.order_id).await?;
    if released.is_none() && !stock::mark_released(&db, request.order_id, request.product_id).await? {
        // A reservation was committed between the two statements: give it back now.
        released = stock::release(&db, request.order_id).await?;
    }
    Ok(Json(Compensated {
        order_id: request.order_id,
        released: released.unwrap_or(0),
    }))
}
