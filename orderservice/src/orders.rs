//! The `orders` table: each order and the step its saga has reached.
//!
//! Every change of status names the statuses it may leave, so the request that runs a saga and the
//! recovery that finishes abandoned ones can never move the same order backwards.

use std::time::Duration;

use common::db::DbPool;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    /// Saved by earlier versions of the saga once the stock was held; recovery still finishes
    /// such orders. The saga now goes from `pending` to its end.
    Reserved,
    Compensating,
    Failed,
    Completed,
}

impl Status {
    /// The statuses of an order whose saga has not ended; recovery finishes every one of them.
    pub const UNFINISHED: [Self; 3] = [Self::Pending, Self::Reserved, Self::Compensating];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Reserved => "reserved",
            Self::Compensating => "compensating",
            Self::Failed => "failed",
            Self::Completed => "completed",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, sqlx::FromRow)]
pub struct Order {
    #[serde(rename = "order_id")]
    pub id: i32,
    pub product_id: i32,
    pub quantity: i32,
}

/// Step 1 of the saga: the order exists, durably, before anything is asked of the inventory.
pub async fn insert_pending(db: &DbPool, product_id: i32, quantity: i32) -> Result<Order, sqlx::Error> {
    sqlx::query_as::<_, Order>(
        "INSERT INTO orders (product_id, quantity, status) VALUES ($1, $2, 'pending')
         RETURNING id, product_id, quantity",
    )
    .bind(product_id)
    .bind(quantity)
    .fetch_one(db)
    .await
}

/// Moves the order to `to` if its status is one of `from`; whether it moved.
pub async fn advance(db: &DbPool, order_id: i32, from: &[Status], to: Status) -> Result<bool, sqlx::Error> {
    let from: Vec<&str> = from.iter().map(|status| status.as_str()).collect();
    let moved = sqlx::query(
        "UPDATE orders SET status = $3, updated_at = now()
         WHERE id = $1 AND status = ANY($2)",
    )
    .bind(order_id)
    .bind(from)
    .bind(to.as_str())
    .execute(db)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// An order for a product that does not exist is not an order: its row goes, as if it never was.
pub async fn discard(db: &DbPool, order_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM orders WHERE id = $1 AND status = 'pending'")
        .bind(order_id)
        .execute(db)
        .await
        .map(drop)
}

/// Which unfinished orders count as abandoned.
#[derive(Debug, Clone, Copy)]
pub enum Abandoned {
    /// Last touched before this instant, in seconds since the epoch on the database's clock.
    Before(f64),
    /// Untouched for at least this long.
    IdleFor(Duration),
}

/// The database's clock now, in seconds since the epoch: a cut-off that [`Abandoned::Before`] can
/// compare with the database's own timestamps, whatever this machine's clock says.
pub async fn database_clock(db: &DbPool) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
        .fetch_one(db)
        .await
}

/// Takes up to `limit` abandoned unfinished orders and marks them `compensating`, so that another
/// sweep running at the same time skips them.
pub async fn claim_abandoned(
    db: &DbPool,
    abandoned: Abandoned,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let (condition, value) = match abandoned {
        Abandoned::Before(epoch) => ("updated_at < to_timestamp($1)", epoch),
        Abandoned::IdleFor(idle) => (
            "updated_at <= now() - make_interval(secs => $1)",
            idle.as_secs_f64(),
        ),
    };
    sqlx::query_as::<_, Order>(&format!(
        "UPDATE orders SET status = 'compensating', updated_at = now()
         WHERE id IN (
             SELECT id FROM orders
             WHERE status IN ('pending', 'reserved', 'compensating') AND {condition}
             ORDER BY id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         RETURNING id, product_id, quantity"
    ))
    .bind(value)
    .bind(limit)
    .fetch_all(db)
    .await
}
