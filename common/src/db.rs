//! The PostgreSQL pool of a service that owns tables.
//!
//! All database services share one PostgreSQL database (as in compose), yet each owns its tables: a
//! service's connections put its own schema first on the `search_path`, so its tables and its
//! `_sqlx_migrations` history live in a schema named after it and never meet another service's.
//!
//! At start-up a service waits for the database with backoff (compose may start it first), then
//! applies its migrations. While it runs, a lost database makes requests fail with `503`
//! ([`is_unavailable`]) and the pool reconnects by itself once the database is back.
//!
//! The pool is observed: its connections in use and idle are reported at every scrape, and it reports
//! how long each acquire waited, which [`crate::telemetry`] turns into the pool-wait histogram.

use std::{str::FromStr, time::Duration};

use sqlx::{
    migrate::{MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
    Connection, PgPool,
};
use tokio::time::{sleep, Instant};

use crate::{
    config::{self, ConfigError},
    telemetry,
};

/// A pooled connection idle for this long is checked with a round trip before a request gets it.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// How a service reaches PostgreSQL and how patient it is.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub connect: PgConnectOptions,
    pub max_connections: u32,
    /// How long a request waits for a connection before it answers `503`.
    pub acquire_timeout: Duration,
    /// How long start-up waits for the database before the service gives up.
    pub startup_timeout: Duration,
}

impl DbSettings {
    /// The defaults, for a database reached through `connect`.
    pub fn new(connect: PgConnectOptions) -> Self {
        Self {
            connect,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            startup_timeout: Duration::from_secs(60),
        }
    }

    /// `DATABASE_URL`, or else `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_USER`, `POSTGRES_PASSWORD`
    /// and `POSTGRES_DB` with compose's values as defaults; then the pool's limits.
    pub fn from_env() -> Result<Self, ConfigError> {
        let connect = match config::var("DATABASE_URL") {
            Some(url) => PgConnectOptions::from_str(&url)
                .map_err(|err| ConfigError::invalid("DATABASE_URL", "<hidden>", err))?,
            None => PgConnectOptions::new_without_pgpass()
                .host(&config::var("POSTGRES_HOST").unwrap_or_else(|| "postgres".into()))
                .port(config::parse_or("POSTGRES_PORT", 5432)?)
                .username(&config::var("POSTGRES_USER").unwrap_or_else(|| "postgres".into()))
                .password(&config::var("POSTGRES_PASSWORD").unwrap_or_else(|| "postgres".into()))
                .database(&config::var("POSTGRES_DB").unwrap_or_else(|| "sync".into())),
        };
        let defaults = Self::new(connect);
        Ok(Self {
            max_connections: config::parse_or("DB_MAX_CONNECTIONS", defaults.max_connections)?,
            acquire_timeout: config::millis_or("DB_ACQUIRE_TIMEOUT_MS", defaults.acquire_timeout)?,
            startup_timeout: config::millis_or("DB_STARTUP_TIMEOUT_MS", defaults.startup_timeout)?,
            ..defaults
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbStartupError {
    #[error("the database at {host}:{port} did not answer within {waited:?}: {source}")]
    Unreachable {
        host: String,
        port: u16,
        waited: Duration,
        source: sqlx::Error,
    },
    #[error("could not create the schema {schema}: {source}")]
    Schema { schema: String, source: sqlx::Error },
    #[error("could not apply the migrations: {0}")]
    Migrate(#[from] MigrateError),
}

/// Waits for the database, creates the service's schema, applies its migrations and returns the pool.
pub async fn connect(
    settings: &DbSettings,
    schema: &'static str,
    migrator: &Migrator,
) -> Result<PgPool, DbStartupError> {
    assert!(
        schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "a schema name is a plain identifier"
    );
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // sqlx checks every connection with a round trip when it goes back to the pool, and by
        // default again when it is taken out. The second check only pays for a connection that sat
        // idle (the database may have gone meanwhile), so a busy connection skips it: one round trip
        // less per statement, and a dead idle connection is still replaced before a request gets it.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        // Every acquire reports its wait as a TRACE event, which only the pool-wait probe listens to.
        .acquire_time_level(log::LevelFilter::Trace)
        .connect_lazy_with(settings.connect.clone().options([("search_path", schema)]));
    wait_for_database(&pool, settings).await?;
    create_schema(&pool, schema)
        .await
        .map_err(|source| DbStartupError::Schema {
            schema: schema.to_owned(),
            source,
        })?;
    migrator.run(&pool).await?;
    telemetry::metrics::register_pool(schema, &pool);
    Ok(pool)
}

async fn wait_for_database(pool: &PgPool, settings: &DbSettings) -> Result<(), DbStartupError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(err) if started.elapsed() + backoff < settings.startup_timeout => {
                tracing::warn!(error = %err, retry_in = ?backoff, "waiting for the database");
                sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(source) => {
                return Err(DbStartupError::Unreachable {
                    host: settings.connect.get_host().to_owned(),
                    port: settings.connect.get_port(),
                    waited: started.elapsed(),
                    source,
                })
            }
        }
    }
}

/// `CREATE SCHEMA IF NOT EXISTS` is not safe against a concurrent twin (both may try to insert the
/// catalogue row), so services that start together take turns under an advisory lock.
async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('sync-baseline:create-schema'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Whether the error means "the database cannot be reached now" (`503`), as opposed to a fault in
/// the statement or the data.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 is "connection exception"; 57P01-57P03 are the server shutting down or starting.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}
