//! The `orders` table: each order and the step its saga has reached.
//!
//! Every change of status names the statuses it may leave, so the request that runs a saga and the
//! recovery that finishes abandoned ones can never move the same order backwards. Every order records
//! its `owner`, the lease of the process running its saga ([`crate::lease`]).

use std::time::Duration;

use common::db::DbPool;
use serde::Serialize;
use utoipa::ToSchema;

use crate::lease::{Owner, LEASE_CLASS};

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
pub async fn insert_pending(
    db: &DbPool,
    owner: Owner,
    product_id: i32,
    quantity: i32,
) -> Result<Order, sqlx::Error> {
    sqlx::query_as::<_, Order>(
        "INSERT INTO orders (product_id, quantity, status, owner) VALUES ($1, $2, 'pending', $3)
         RETURNING id, product_id, quantity",
    )
    .bind(product_id)
    .bind(quantity)
    .bind(owner.0)
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

/// Takes up to `limit` abandoned unfinished orders for `owner` and marks them `compensating`, so
/// that another sweep running at the same time skips them.
///
/// An order is abandoned when it has been idle for `idle_after` (longer than any saga may take), or
/// when its owner is provably gone: no session holds that owner's lease, or it has none.
pub async fn claim_abandoned(
    db: &DbPool,
    owner: Owner,
    idle_after: Duration,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as::<_, Order>(
        "UPDATE orders SET status = 'compensating', updated_at = now(), owner = $3
         WHERE id IN (
             SELECT id FROM orders AS o
             WHERE status IN ('pending', 'reserved', 'compensating')
               AND (updated_at <= now() - make_interval(secs => $1)
                    OR o.owner IS NULL
                    OR NOT EXISTS (
                        SELECT 1 FROM pg_locks AS l
                        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                          AND l.classid::int8 = $4 AND l.objid::int8 = o.owner))
             ORDER BY id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         RETURNING id, product_id, quantity",
    )
    .bind(idle_after.as_secs_f64())
    .bind(limit)
    .bind(owner.0)
    .bind(i64::from(LEASE_CLASS))
    .fetch_all(db)
    .await
}
