//! The services' database pool (`common::db::DbPool`): it gives a connection back after a statement
//! without sqlx's round trip to check it, so these tests show what that check used to guard against
//! is still handled: a statement cut off by a cancelled request, and a session the server ended.

use std::time::Duration;

use axum::response::IntoResponse;
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
async fn a_statement_cancelled_midway_never_hands_its_error_to_the_next_statement() {
    // Given a pool of one connection
    let database = TestDatabase::create().await;
    let pool = pool_of_one(&database).await;
    let pid = backend_pid(&pool).await;

    // When a statement that will fail is cancelled while the server still runs it (`1/0` written
    // so that it is not folded when planned: it fails after the sleep, not before)
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        sqlx::query("SELECT pg_sleep(0.3), 1/(random() * 0)::int").execute(&pool),
    )
    .await;
    assert!(cancelled.is_err(), "the statement was not cut off");

    // Then the next statement gets its own answer, on a connection other than the cut one
    let answer: i32 = sqlx::query_scalar("SELECT 7")
        .fetch_one(&pool)
        .await
        .expect("the next statement");
    assert_eq!(answer, 7);
    assert_ne!(backend_pid(&pool).await, pid, "the cut connection was handed on");
}

#[tokio::test]
async fn a_statement_past_the_statement_timeout_fails_as_unavailable_and_the_pool_goes_on() {
    // Given a pool whose statements may take 300 ms
    let database = TestDatabase::create().await;
    let settings = DbSettings {
        max_connections: 1,
        statement_timeout: Duration::from_millis(300),
        ..database.settings()
    };
    let pool = db::connect(&settings, userservice::SCHEMA, &userservice::MIGRATOR)
        .await
        .expect("the pool");

    // When a statement takes longer
    let started = std::time::Instant::now();
    let slow = sqlx::query("SELECT pg_sleep(5)").execute(&pool).await;

    // Then it fails within the bound, as "unavailable" (503), and the pool serves the next one
    let err = slow.expect_err("the statement was not cut off");
    assert!(db::is_unavailable(&err), "not a 503 error: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let answer: i32 = sqlx::query_scalar("SELECT 7")
        .fetch_one(&pool)
        .await
        .expect("the next statement");
    assert_eq!(answer, 7);
}

#[tokio::test]
async fn too_many_connections_answers_503() {
    // Given a role allowed one connection, which another client holds
    let database = TestDatabase::create().await;
    let role = format!("limited_{}", std::process::id());
    let mut admin = database
        .settings()
        .connect
        .connect()
        .await
        .expect("an admin connection");
    let database_name = database
        .settings()
        .connect
        .get_database()
        .expect("a database name")
        .to_owned();
    for statement in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN PASSWORD 'limited' CONNECTION LIMIT 1"),
        format!("GRANT ALL ON DATABASE {database_name} TO {role}"),
    ] {
        sqlx::query(&statement)
            .execute(&mut admin)
            .await
            .expect(&statement);
    }
    let settings = DbSettings {
        connect: database.settings().connect.username(&role).password("limited"),
        ..database.settings()
    };
    let pool = db::connect(&settings, "limited_schema", &userservice::MIGRATOR)
        .await
        .expect("the pool");
    let held = settings.connect.connect().await.expect("the one connection");

    // When the pool needs a connection
    let refused = sqlx::query("SELECT 1").execute(&pool).await;

    // Then the error is PostgreSQL's 53300, and it answers 503
    let err = refused.expect_err("a connection beyond the limit");
    let code = err
        .as_database_error()
        .and_then(|db| db.code())
        .map(|code| code.into_owned());
    assert_eq!(code.as_deref(), Some("53300"), "{err}");
    let answer = common::ApiError::from(err).into_response();
    assert_eq!(answer.status(), 503);
    drop(held);
    pool.close().await;
    let _ = sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
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
