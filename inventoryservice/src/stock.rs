//! The `inventory_items` and `reservations` tables: each product's stock and reserved count, and
//! each order's reservation.
//!
//! A reservation is one statement: it raises the product's count, within its stock, and records the
//! order's reservation together, so a saga's reservation costs one round trip and one commit. The
//! order's row is the key that makes a repeated reserve or compensate count once: a second
//! reservation for the same order fails on it and changes nothing.

use common::catalog::catalog;
use common::db::DbPool;

/// An order's reservation of a quantity of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub order_id: i32,
    pub product_id: i32,
    pub quantity: i32,
}

/// A product's stock and how much of it is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Counts {
    pub reserved: i32,
    pub stock: i32,
}

/// What an order already holds.
#[derive(Debug)]
pub enum Existing {
    Reserved {
        held: Reservation,
        counts: Counts,
    },
    /// Given back, or released before any reservation arrived: no reservation may land any more.
    Released,
}

/// Inserts an inventory row, with the catalogue's stock, for each seed product that has none yet.
pub async fn seed(db: impl sqlx::PgExecutor<'_>) -> Result<(), sqlx::Error> {
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

/// Reserves the quantity for the order if the order has no reservation yet and the stock allows it;
/// the product's counts after it, or `None` when nothing was reserved.
///
/// The row lock of the product makes concurrent reservations take turns, and each re-checks the
/// stock against the count the one before it left. Two reservations of one order racing each other
/// both pass the `NOT EXISTS`, but only one can insert the order's row: the other fails on its key
/// and its whole statement, the count included, is undone.
pub async fn reserve(db: &DbPool, wanted: &Reservation) -> Result<Option<Counts>, sqlx::Error> {
    let reserved = sqlx::query_as::<_, Counts>(
        "WITH counted AS (
             UPDATE inventory_items SET reserved = reserved + $3
             WHERE product_id = $2 AND stock - reserved >= $3
               AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = $1)
             RETURNING reserved, stock
         ), claimed AS (
             INSERT INTO reservations (order_id, product_id, quantity, state)
             SELECT $1, $2, $3, 'reserved' FROM counted
         )
         SELECT reserved, stock FROM counted",
    )
    .bind(wanted.order_id)
    .bind(wanted.product_id)
    .bind(wanted.quantity)
    .fetch_optional(db)
    .await;
    match reserved {
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(None),
        other => other,
    }
}

/// The reservation the order already has, if any.
pub async fn existing(db: &DbPool, order_id: i32) -> Result<Option<Existing>, sqlx::Error> {
    let row = sqlx::query_as::<_, (i32, i32, String, i32, i32)>(
        "SELECT r.product_id, r.quantity, r.state, COALESCE(i.reserved, 0), COALESCE(i.stock, 0)
         FROM reservations r LEFT JOIN inventory_items i USING (product_id)
         WHERE r.order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(product_id, quantity, state, reserved, stock)| {
        if state == "reserved" {
            Existing::Reserved {
                held: Reservation {
                    order_id,
                    product_id,
                    quantity,
                },
                counts: Counts { reserved, stock },
            }
        } else {
            Existing::Released
        }
    }))
}

/// The product's counts, or `None` when there is no such product.
pub async fn counts(db: &DbPool, product_id: i32) -> Result<Option<Counts>, sqlx::Error> {
    sqlx::query_as::<_, Counts>("SELECT reserved, stock FROM inventory_items WHERE product_id = $1")
        .bind(product_id)
        .fetch_optional(db)
        .await
}

/// Releases the order's reservation, if it holds one, and lowers `reserved` by its quantity: one
/// statement, so the two never disagree. Returns the quantity released.
pub async fn release(db: &DbPool, order_id: i32) -> Result<Option<i32>, sqlx::Error> {
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

/// Leaves a "released" mark for an order that holds no reservation, so that a reservation still on
/// its way can never land; `false` when the order has a row already (a reservation just committed).
pub async fn mark_released(db: &DbPool, order_id: i32, product_id: i32) -> Result<bool, sqlx::Error> {
    let marked = sqlx::query(
        "INSERT INTO reservations (order_id, product_id, quantity, state)
         VALUES ($1, $2, 0, 'released')
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(product_id)
    .execute(db)
    .await?;
    Ok(marked.rows_affected() == 1)
}
