//! Giving an order's stock back: step 4 of the saga, and the recovery that finishes what a crash or a
//! dead inventory service left undone.
//!
//! The inventory's `/compensate_stock` is idempotent and keyed by the order, so compensation is
//! retried with backoff, and an order whose compensation still could not be done stays
//! `compensating`. Recovery takes every such order, and every order left `pending` or `reserved` by a
//! process that stopped mid-saga, compensates it and marks it `failed`: periodically, from start-up
//! on, each order whose owner's lease is gone or which has been idle longer than any saga can take,
//! so a live process's saga is never taken from it ([`crate::lease`]). Each sweep has a deadline.
//! Compensating an order that never reserved anything is harmless: the inventory releases nothing
//! and refuses its late reservation.

use std::time::Duration;

use common::db::DbPool;
use common::{Downstream, DownstreamError};
use serde::Serialize;

use crate::{
    lease::Owner,
    orders::{self, Order, Status},
};

/// How compensation is retried before the order is left to recovery.
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Releases the order's stock and marks it `failed`. If the stock cannot be given back, the order is
/// marked `compensating` and left to recovery.
///
/// Nothing is saved before the call: an order that is still unfinished (`pending`) is one that
/// recovery compensates anyway, so a crash here loses nothing, and the saga saves one status less.
pub async fn compensate(db: &DbPool, inventory: &Downstream, order: &Order) -> Result<(), CompensationError> {
    let release = Release {
        order_id: order.id,
        product_id: order.product_id,
    };
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        match inventory
            .post_expecting_success("/compensate_stock", &release)
            .await
        {
            Ok(_) => break,
            Err(err) if attempt < ATTEMPTS => {
                tracing::warn!(order_id = order.id, attempt, error = %err, "compensation failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(err) => {
                orders::advance(db, order.id, &Status::UNFINISHED, Status::Compensating).await?;
                return Err(CompensationError::Inventory(err));
            }
        }
    }
    orders::advance(db, order.id, &Status::UNFINISHED, Status::Failed).await?;
    Ok(())
}

/// The inventory's `/compensate_stock` body.
#[derive(Serialize)]
struct Release {
    order_id: i32,
    product_id: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum CompensationError {
    #[error("the stock of the order could not be given back: {0}")]
    Inventory(DownstreamError),
    #[error("the order's status could not be saved: {0}")]
    Database(#[from] sqlx::Error),
}

/// How often recovery looks for abandoned orders, and how idle an order must be to count as one.
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    pub interval: Duration,
    pub idle_after: Duration,
}

impl Recovery {
    /// An order is abandoned once it has been idle for longer than a whole saga may take: the
    /// reservation, the payment and every compensation attempt, each up to `call_timeout`.
    pub fn new(interval: Duration, call_timeout: Duration) -> Self {
        Self {
            interval,
            idle_after: call_timeout * (2 + ATTEMPTS) + Duration::from_secs(10),
        }
    }

    /// Runs forever, for `owner`: a sweep at once, then one every `interval`. A sweep is cut off
    /// after `idle_after`: by then the orders it claimed count as abandoned again, and another
    /// process may take them.
    pub async fn run(self, db: DbPool, inventory: Downstream, owner: Owner) {
        loop {
            let sweep = recover_abandoned(&db, &inventory, owner, self.idle_after);
            match tokio::time::timeout(self.idle_after, sweep).await {
                Ok(Ok(0)) => {}
                Ok(Ok(recovered)) => tracing::info!(recovered, "abandoned orders compensated"),
                Ok(Err(err)) => tracing::warn!(error = %err, "recovery failed; trying again later"),
                Err(_elapsed) => tracing::warn!(
                    deadline_ms = self.idle_after.as_millis(),
                    "a recovery sweep passed its deadline; trying again later"
                ),
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// Compensates every abandoned unfinished order; how many it finished.
pub async fn recover_abandoned(
    db: &DbPool,
    inventory: &Downstream,
    owner: Owner,
    idle_after: Duration,
) -> Result<usize, CompensationError> {
    let mut recovered = 0;
    loop {
        let orders = orders::claim_abandoned(db, owner, idle_after, 100).await?;
        if orders.is_empty() {
            return Ok(recovered);
        }
        for order in &orders {
            compensate(db, inventory, order).await?;
            recovered += 1;
        }
    }
}
