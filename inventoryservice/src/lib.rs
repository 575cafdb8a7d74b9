//! The inventory service of S5: stock reservations that the order saga takes and gives back.
//!
//! `POST /reserve_stock` raises a product's `reserved` count for an order, never beyond its stock
//! (`409` when the stock is short, `404` for an unknown product). `POST /compensate_stock` lowers it
//! again, never below zero. Both are keyed by the order: a repeated reserve or compensate for the
//! same order counts once, so the caller may retry them safely. A compensation that finds nothing
//! reserved leaves a "released" mark, so that a reservation still on its way (one whose caller gave
//! up waiting) can never land after it and hold stock for good.

use axum::{extract::State, Router};
use common::{
    catalog::catalog,
    db::{self, DbSettings},
    openapi::{self, BadJson, DatabaseDown, ErrorBody},
    serve::{self, StartupError},
    validate::positive,
    ApiError, Json,
};
use serde::{Deserialize, Serialize};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!();
pub const SCHEMA: &str = "inventoryservice";

pub async fn from_env() -> Result<Router, StartupError> {
    let db = db::connect(&DbSettings::from_env()?, SCHEMA, &MIGRATOR).await?;
    seed(&db).await?;
    Ok(app(db))
}

/// Inserts an inventory row, with the catalogue's stock, for each seed product that has none yet.
pub async fn seed(db: &PgPool) -> Result<(), sqlx::Error> {
    let (ids, stocks): (Vec<i32>, Vec<i32>) = catalog().into_iter().map(|item| (item.id, item.stock)).unzip();
    sqlx::query(
        "INSERT INTO inventory_items (product_id, stock)
         SELECT * FROM UNNEST($1::int[], $2::int[])
         ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(ids)
    .bind(stocks)
    .execute(db)
    .await
    .map(drop)
}

pub fn app(db: PgPool) -> Router {
    serve::app(
        openapi::router("inventoryservice")
            .routes(routes!(reserve_stock))
            .routes(routes!(compensate_stock))
            .with_state(db),
    )
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

/// S5, step 2: reserves stock for an order, never beyond the product's stock. The same reservation
/// again changes nothing and answers `200`.
#[utoipa::path(post, path = "/reserve_stock", request_body = ReserveRequest, responses(
    (status = 200, description = "Reserved (now, or by an earlier identical request)", body = Reserved),
    (status = 404, description = "No such product", body = ErrorBody,
        example = json!({"detail": "product 999 does not exist"})),
    (status = 409, description = "The stock is short (`available` says how much is left), or the order \
        already holds a different or a released reservation", body = ErrorBody,
        example = json!({"detail": "insufficient stock for product 1: 9000 requested, 4999 available", "available": 4999})),
    BadJson,
    DatabaseDown,
))]
async fn reserve_stock(
    State(db): State<PgPool>,
    Json(request): Json<ReserveRequest>,
) -> Result<Json<Reserved>, ApiError> {
    positive("order_id", request.order_id)?;
    positive("product_id", request.product_id)?;
    positive("quantity", request.quantity)?;

    let mut tx = db.begin().await?;
    let claimed = sqlx::query(
        "INSERT INTO reservations (order_id, product_id, quantity, state)
         VALUES ($1, $2, $3, 'reserved')
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(request.order_id)
    .bind(request.product_id)
    .bind(request.quantity)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        tx.rollback().await?;
        return repeated_reservation(&db, &request).await;
    }

    // One conditional statement: the row lock makes concurrent reservations take turns, and each
    // re-checks the condition against the count the one before it left.
    let counts = sqlx::query_as::<_, (i32, i32)>(
        "UPDATE inventory_items SET reserved = reserved + $2
         WHERE product_id = $1 AND stock - reserved >= $2
         RETURNING reserved, stock",
    )
    .bind(request.product_id)
    .bind(request.quantity)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((reserved, stock)) = counts else {
        tx.rollback().await?;
        return Err(shortage(&db, &request).await?);
    };
    tx.commit().await?;
    Ok(Json(Reserved {
        order_id: request.order_id,
        product_id: request.product_id,
        quantity: request.quantity,
        reserved,
        stock,
    }))
}

/// The answer to a reservation for an order that already has one: the same reservation again is
/// `200`, changing nothing; anything else is a conflict.
async fn repeated_reservation(db: &PgPool, request: &ReserveRequest) -> Result<Json<Reserved>, ApiError> {
    let existing = sqlx::query_as::<_, (i32, i32, String, i32, i32)>(
        "SELECT r.product_id, r.quantity, r.state, COALESCE(i.reserved, 0), COALESCE(i.stock, 0)
         FROM reservations r LEFT JOIN inventory_items i USING (product_id)
         WHERE r.order_id = $1",
    )
    .bind(request.order_id)
    .fetch_optional(db)
    .await?;
    match existing {
        Some((product_id, quantity, state, reserved, stock))
            if state == "reserved" && product_id == request.product_id && quantity == request.quantity =>
        {
            Ok(Json(Reserved {
                order_id: request.order_id,
                product_id,
                quantity,
                reserved,
                stock,
            }))
        }
        Some((_, _, state, _, _)) if state == "released" => Err(ApiError::conflict(format!(
            "order {}: its reservation was already released",
            request.order_id
        ))),
        _ => Err(ApiError::conflict(format!(
            "order {} already holds a different reservation",
            request.order_id
        ))),
    }
}

/// Why a reservation could not be taken: the product is unknown (`404`) or its stock is short (`409`).
async fn shortage(db: &PgPool, request: &ReserveRequest) -> Result<ApiError, sqlx::Error> {
    let counts =
        sqlx::query_as::<_, (i32, i32)>("SELECT stock, reserved FROM inventory_items WHERE product_id = $1")
            .bind(request.product_id)
            .fetch_optional(db)
            .await?;
    Ok(match counts {
        None => ApiError::not_found(format!("product {} does not exist", request.product_id)),
        Some((stock, reserved)) => ApiError::conflict(format!(
            "insufficient stock for product {}: {} requested, {} available",
            request.product_id,
            request.quantity,
            stock - reserved
        ))
        .with("available", stock - reserved),
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
    State(db): State<PgPool>,
    Json(request): Json<CompensateRequest>,
) -> Result<Json<Compensated>, ApiError> {
    positive("order_id", request.order_id)?;
    positive("product_id", request.product_id)?;

    let mut released = release(&db, request.order_id).await?;
    if released.is_none() {
        let marked = sqlx::query(
            "INSERT INTO reservations (order_id, product_id, quantity, state)
             VALUES ($1, $2, 0, 'released')
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(request.order_id)
        .bind(request.product_id)
        .execute(&db)
        .await?
        .rows_affected()
            == 1;
        if !marked {
            // A reservation was committed between the two statements: give it back now.
            released = release(&db, request.order_id).await?;
        }
    }
    Ok(Json(Compensated {
        order_id: request.order_id,
        released: released.unwrap_or(0),
    }))
}

/// Releases the order's reservation, if it holds one, and lowers `reserved` by its quantity: one
/// statement, so the two never disagree. Returns the quantity released.
async fn release(db: &PgPool, order_id: i32) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar::<_, i32>(
        "WITH released AS (
             UPDATE reservations SET state = 'released', updated_at = now()
             WHERE order_id = $1 AND state = 'reserved'
             RETURNING product_id, quantity
         )
         UPDATE inventory_items i SET reserved = i.reserved - r.quantity
         FROM released r
         WHERE i.product_id = r.product_id
         RETURNING r.quantity",
    )
    .bind(order_id)
    .fetch_optional(db)
    .await
}
