//! This process's lease: the id under which it runs sagas, held as a PostgreSQL advisory lock.
//!
//! Each orderservice process takes a session-level advisory lock `(LEASE_CLASS, owner)` on a
//! connection of its own, outside the pool, and records `owner` on every order it saves. While the
//! process lives its session holds the lock; when the process ends, is killed or loses its machine,
//! the server ends the session (at once for a closed socket, after its TCP keepalive probes for a
//! silent one) and the lock goes with it. So another process can tell an order whose owner is
//! provably gone (no such lock held) from one whose saga is still running elsewhere, and recovery
//! with two replicas, or during a rolling update, never takes a live process's order
//! (`orders::claim_abandoned`).
//!
//! The lease is checked every [`CHECK_EVERY`]; a lost connection is reopened and the same lock taken
//! again. While it is lost, others may take this process's orders, as they may any order idle past
//! the saga deadline: the saga then loses its last `advance` and answers so, never as a success.

use std::time::Duration;

use common::db::DbSettings;
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection, PgConnection};
use tokio::time::timeout;

/// The first key of every lease's advisory lock: "orders" in the lock space of this database.
pub const LEASE_CLASS: i32 = 0x6f72_6473;

/// How often the lease's connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// This process's lease id, the `owner` of the orders it saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(pub i32);

/// Takes a lease under a fresh id and keeps it for the life of the process (a task holds it).
pub async fn take(settings: &DbSettings) -> Result<Owner, sqlx::Error> {
    let connect = settings.connect.clone();
    let patience = settings.connect_timeout + settings.statement_timeout;
    let mut conn = connect_within(&connect, patience).await?;
    let owner = loop {
        let candidate: i32 = within(
            patience,
            sqlx::query_scalar("SELECT (floor(random() * 2147483646) + 1)::int").fetch_one(&mut conn),
        )
        .await?;
        if lock(&mut conn, candidate, patience).await? {
            break Owner(candidate);
        }
    };
    tracing::info!(owner = owner.0, "took the lease for this process's orders");
    tokio::spawn(keep(connect, conn, owner, patience));
    Ok(owner)
}

/// Holds the lease: checks its connection, and reopens it and takes the lock again when it is lost.
async fn keep(connect: PgConnectOptions, conn: PgConnection, owner: Owner, patience: Duration) {
    let mut held = Some(conn);
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if let Some(conn) = held.as_mut() {
            if within(patience, conn.ping()).await.is_ok() {
                continue;
            }
            tracing::warn!(
                owner = owner.0,
                "the lease's connection was lost; taking it again"
            );
            held = None;
        }
        // The old session may still hold the lock on the server (a frozen or unreachable one):
        // the lock is taken again once that session has ended.
        match connect_within(&connect, patience).await {
            Ok(mut conn) => match lock(&mut conn, owner.0, patience).await {
                Ok(true) => {
                    tracing::info!(owner = owner.0, "lease taken again");
                    held = Some(conn);
                }
                Ok(false) => tracing::warn!(owner = owner.0, "the lease is still held by the lost session"),
                Err(err) => tracing::warn!(owner = owner.0, error = %err, "could not take the lease again"),
            },
            Err(err) => tracing::warn!(owner = owner.0, error = %err, "could not reconnect for the lease"),
        }
    }
}

async fn lock(conn: &mut PgConnection, owner: i32, patience: Duration) -> Result<bool, sqlx::Error> {
    within(
        patience,
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LEASE_CLASS)
            .bind(owner)
            .fetch_one(conn),
    )
    .await
}

async fn connect_within(connect: &PgConnectOptions, patience: Duration) -> Result<PgConnection, sqlx::Error> {
    within(patience, connect.connect()).await
}

/// `work`, cut off after `patience`: the lease's own calls bypass the pool, so they bound themselves.
async fn within<T>(
    patience: Duration,
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match timeout(patience, work).await {
        Ok(done) => done,
        Err(_elapsed) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the database did not answer in time (lease)",
        ))),
    }
}
