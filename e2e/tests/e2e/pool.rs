//! The services' database pool (`common::db::DbPool`): it gives a connection back after a statement
//! without sqlx's round trip to check it, so these tests show what that check used to guard against
//! is still handled: a statement cut off by a cancelled request, and a session the server ended.

use std::time::Duration;

use common::db::{self, DbPool, DbSettings};
use e2e::TestDatabase;
use sqlx::{ConnectOptions, Connection};

/// A pool of one connection, so that every statement meets the connection the one before it used.
async fn pool_of_one(database: &TestDatabase) -> DbPool {
    let settings = DbSettings {
        max_connections: 1,
        ..database.settings()
    };
    db::connect(&settings, userservice::SCHEMA, &userservice::MIGRATOR)
        .await
        .expect("the pool")
}

async fn backend_pid(pool: &DbPool) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("the backend's pid")
}

/// Ends a session from another connection, and waits until its backend has gone.
async fn terminate(database: &TestDatabase, pid: i32) {
    let mut admin = database
        .settings()
        .connect
        .connect()
        .await
        .expect("an admin connection");
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .expect("the session ended");
    assert!(ended, "backend {pid} did not end");
    let _ = admin.close().await;
}

#[tokio::test]
async fn a_statement_cancelled_midway_leaves_its_connection_fit_for_the_next() {
    // Given a pool of one connection
    let database = TestDatabase::create().await;
    let pool = pool_of_one(&database).await;
    let pid = backend_pid(&pool).await;

    // When a statement is cancelled while the server still runs it (a client that went away)
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        sqlx::query("SELECT pg_sleep(0.3)").execute(&pool),
    )
    .await;
    assert!(cancelled.is_err(), "the statement was not cut off");

    // Then the next statement gets its own answer, on the same connection
    let answer: i32 = sqlx::query_scalar("SELECT 7")
        .fetch_one(&pool)
        .await
        .expect("the next statement");
    assert_eq!(answer, 7);
    assert_eq!(backend_pid(&pool).await, pid, "the connection was replaced");
}

#[tokio::test]
async fn a_connection_whose_session_ended_fails_at_most_one_statement_and_is_replaced() {
    // Given a pool of one busy connection
    let database = TestDatabase::create().await;
    let pool = pool_of_one(&database).await;
    let pid = backend_pid(&pool).await;

    // When the server ends its session
    terminate(&database, pid).await;

    // Then a statement may fail as "unavailable", and the next one runs on a new connection
    let first = sqlx::query("SELECT 1").execute(&pool).await;
    if let Err(err) = &first {
        assert!(db::is_unavailable(err), "not a 503 error: {err}");
    }
    let replaced = backend_pid(&pool).await;
    assert_ne!(
        replaced, pid,
        "the ended session's connection was given out again"
    );
}

#[tokio::test]
async fn a_connection_idle_for_a_second_is_checked_so_an_ended_session_fails_no_statement() {
    // Given a pool of one connection whose session the server ended
    let database = TestDatabase::create().await;
    let pool = pool_of_one(&database).await;
    let pid = backend_pid(&pool).await;
    terminate(&database, pid).await;

    // When the connection has been idle for more than a second
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // Then the next statement succeeds, on a new connection
    let replaced = backend_pid(&pool).await;
    assert_ne!(replaced, pid);
}
