//! Independent runs, against a real PostgreSQL (`TEST_DATABASE_URL`, by default the tests' private cluster):
//! the counters' deltas show what a run's updates did, and quiescing clears it.

// Each test binary compiles the shared support and uses its own part of it.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, PgConnection};
use stack_study::bench::quiesce::{quiesce, read_postgres_settings, wait_quiet, PostgresCounters, QuietRule};
use support::ServicesDatabase;

/// The four database services, each in the schema of its name, with its own migrations.
const SCHEMAS: [&str; 4] = [
    "userservice",
    "productservice",
    "orderservice",
    "inventoryservice",
];

/// The four services' schemas, their migrations run and their pools closed again: the backends that
/// made them have exited and flushed their statistics.
async fn services_database(test: &str) -> ServicesDatabase {
    let database = ServicesDatabase::create(&format!("stack_quiesce_{test}_{}", std::process::id())).await;
    for pool in &database.pools {
        pool.close().await;
    }
    database
}

async fn connect(database: &ServicesDatabase) -> PgConnection {
    database.options().connect().await.expect("a connection")
}

/// Runs `sql` on a connection of its own and closes it: an exiting backend flushes its statistics.
async fn run_and_disconnect(database: &ServicesDatabase, sql: &str) {
    let mut conn = connect(database).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    conn.close().await.expect("closed");
}

/// The counters once `ready` holds of them; statistics reach the views a moment after the backend
/// that made them flushes.
async fn counters_when(
    conn: &mut PgConnection,
    ready: impl Fn(&PostgresCounters) -> bool,
) -> PostgresCounters {
    for _ in 0..60 {
        let counters = PostgresCounters::read(conn, &SCHEMAS)
            .await
            .expect("the counters");
        if ready(&counters) {
            return counters;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the statistics never showed what was done");
}

const USERS: &str = "userservice.users";

#[tokio::test]
async fn updates_show_as_dead_tuples_and_wal_in_the_deltas_and_quiescing_clears_them() {
    let database = services_database("deltas").await;
    let mut conn = connect(&database).await;
    // Given 200 users, in a table that only this test vacuums
    sqlx::raw_sql("ALTER TABLE userservice.users SET (autovacuum_enabled = false)")
        .execute(&mut conn)
        .await
        .expect("autovacuum off for the table");
    run_and_disconnect(
            &database,
            "INSERT INTO userservice.users (email) SELECT 'u' || i || '@example.org' FROM generate_series(1, 200) i",
        )
        .await;
    let before = counters_when(&mut conn, |c| {
        c.tables.get(USERS).is_some_and(|t| t.n_tup_ins == 200)
    })
    .await;

    // When a run updates every one of them (the email is indexed: no HOT update, a dead tuple each)
    run_and_disconnect(
        &database,
        "UPDATE userservice.users SET email = email || '.moved'",
    )
    .await;
    let after = counters_when(&mut conn, |c| {
        c.tables.get(USERS).is_some_and(|t| t.n_tup_upd == 200)
    })
    .await;
    let deltas = after.since(&before);

    // Then its deltas show the updates, the dead tuples they left, and the WAL they wrote
    let users = deltas.tables[USERS];
    assert_eq!(users.updated, 200);
    assert_eq!(users.hot_updated, 0);
    assert_eq!(users.dead_tuples_before, 0);
    assert!(users.dead_tuples_after >= 200, "{users:?}");
    let wal = deltas.wal.expect("pg_stat_wal on PostgreSQL 14+");
    assert!(wal.records >= 200 && wal.bytes > 0, "{wal:?}");
    assert!(deltas.tables.contains_key("inventoryservice.reservations"));

    // And when the database is quiesced
    let quiet = quiesce(
        &mut conn,
        &SCHEMAS,
        &mut || Ok(0.0),
        &QuietRule {
            bound: Duration::from_secs(30),
            ..QuietRule::default()
        },
    )
    .await
    .expect("quiesced");
    // Then it checkpointed, vacuumed and analyzed the services' tables, and the dead tuples are gone
    assert!(quiet.tables.iter().any(|t| t == USERS), "{quiet:?}");
    assert_eq!(
        quiet.tables.len(),
        5 + 4,
        "five tables and four migration ledgers: {quiet:?}"
    );
    assert!(!quiet.wait.timed_out, "{quiet:?}");
    assert!(quiet.wait.waited_ms >= 3000.0, "{quiet:?}");
    let vacuumed = counters_when(&mut conn, |c| {
        c.tables.get(USERS).is_some_and(|t| t.vacuum_count >= 1)
    })
    .await;
    let users = vacuumed.since(&after).tables[USERS];
    assert_eq!(users.dead_tuples_after, 0, "{users:?}");
    assert_eq!((users.vacuums, users.analyzes), (1, 1), "{users:?}");
    assert!(vacuumed.since(&after).checkpoints.requested >= 1);
}

#[tokio::test]
async fn the_wait_gives_up_at_its_bound_while_postgres_is_busy() {
    let database = services_database("busy").await;
    let mut conn = connect(&database).await;
    // Given a PostgreSQL that uses a whole core (its CPU time grows as fast as the clock)
    let started = std::time::Instant::now();
    let mut busy = move || Ok(started.elapsed().as_secs_f64());
    let rule = QuietRule {
        settle: Duration::from_secs(1),
        bound: Duration::from_secs(2),
        poll: Duration::from_millis(200),
        ..QuietRule::default()
    };
    // When the bench waits for it to be quiet
    let wait = wait_quiet(&mut conn, &mut busy, &rule).await.expect("the wait");
    // Then it stops at the bound and says the database never was
    assert!(wait.timed_out, "{wait:?}");
    assert!(wait.waited_ms >= 2000.0, "{wait:?}");
    assert!(wait.cpu_percent.is_some_and(|p| p > 90.0), "{wait:?}");
}

#[tokio::test]
async fn the_settings_are_read_in_bytes_and_seconds() {
    let database = services_database("settings").await;
    let mut conn = connect(&database).await;
    let settings = read_postgres_settings(&mut conn).await.expect("the settings");
    // PostgreSQL's own parsers of its sizes and times say the same
    let (shared_buffers, max_wal, checkpoint_timeout, max_connections): (i64, i64, f64, i32) = sqlx::query_as(
        "SELECT pg_size_bytes(current_setting('shared_buffers')), pg_size_bytes(current_setting('max_wal_size')), \
         extract(epoch FROM current_setting('checkpoint_timeout')::interval)::float8, \
         current_setting('max_connections')::int",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the settings by PostgreSQL");
    assert_eq!(settings.shared_buffers_bytes, shared_buffers as u64);
    assert_eq!(settings.max_wal_size_bytes, max_wal as u64);
    assert_eq!(settings.checkpoint_timeout_s, checkpoint_timeout);
    assert_eq!(settings.max_connections, max_connections as u32);
    assert!(settings.server_version_num >= 140_000, "{settings:?}");
    assert!(["minimal", "replica", "logical"].contains(&settings.wal_level.as_str()));
    assert!(!settings.server_version.is_empty() && settings.autovacuum_max_workers > 0);
}
