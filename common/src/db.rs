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
//! The connections are sqlx's, the pool is deadpool's ([`DbPool`]). sqlx's own pool checks every
//! connection with a round trip to PostgreSQL each time it goes back, in a task spawned for it, and
//! has no switch for that check: it was a tenth of S5's CPU in the services and half the round trips
//! of an order (docs/performance.md). The check is not needed here. Every statement of the services
//! is one statement in autocommit (none holds a transaction open across an `await`), and a sqlx
//! connection left mid-statement by a cancelled request reads what it still owes before its next
//! statement, so it can go back as it is. What the check did that still matters is done otherwise: a
//! connection whose statement failed because the connection did is closed instead of going back, and
//! one idle for a second or more is checked before a request gets it.
//!
//! The pool is observed: its connections in use and idle are reported at every scrape, and each
//! acquire's wait goes to [`crate::telemetry`]'s pool-wait histogram.

use std::{fmt, str::FromStr, time::Duration};

use deadpool::managed::{self, Metrics, Object, RecycleResult};
use futures::{
    future::BoxFuture,
    stream::{self, BoxStream},
    StreamExt, TryStreamExt,
};
use sqlx::{
    migrate::{MigrateError, Migrator},
    postgres::{PgConnectOptions, PgQueryResult, PgRow, PgStatement, PgTypeInfo},
    ConnectOptions, Connection, Describe, Either, Execute, Executor, PgConnection, Postgres,
};
use tokio::time::{sleep, timeout, Instant};

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
    #[error("could not build the connection pool: {0}")]
    Pool(#[from] managed::BuildError),
}

/// Waits for the database, creates the service's schema, applies its migrations and returns the pool.
pub async fn connect(
    settings: &DbSettings,
    schema: &'static str,
    migrator: &Migrator,
) -> Result<DbPool, DbStartupError> {
    assert!(
        schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "a schema name is a plain identifier"
    );
    let connect = settings.connect.clone().options([("search_path", schema)]);
    let mut setup = wait_for_database(&connect, settings).await?;
    create_schema(&mut setup, schema)
        .await
        .map_err(|source| DbStartupError::Schema {
            schema: schema.to_owned(),
            source,
        })?;
    migrator.run_direct(&mut setup).await?;
    let _ = setup.close().await;
    let pool = DbPool::new(connect, settings)?;
    telemetry::metrics::register_pool(schema, pool.clone());
    Ok(pool)
}

/// A connection for start-up's work, once the database answers.
async fn wait_for_database(
    connect: &PgConnectOptions,
    settings: &DbSettings,
) -> Result<PgConnection, DbStartupError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect.connect().await {
            Ok(conn) => return Ok(conn),
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
async fn create_schema(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('sync-baseline:create-schema'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A service's pool of connections; cloning it gives another handle to the same pool.
///
/// It is an sqlx [`Executor`], so a statement runs on it as on sqlx's own pool
/// (`query.execute(&db)`), each on a connection taken for that statement alone.
#[derive(Clone)]
pub struct DbPool {
    pool: managed::Pool<Connector>,
    acquire_timeout: Duration,
}

impl DbPool {
    /// A pool that connects lazily: its first statements open its connections.
    fn new(connect: PgConnectOptions, settings: &DbSettings) -> Result<Self, managed::BuildError> {
        let max_size = usize::try_from(settings.max_connections).unwrap_or(usize::MAX);
        let pool = managed::Pool::builder(Connector(connect))
            .max_size(max_size)
            .build()?;
        Ok(Self {
            pool,
            acquire_timeout: settings.acquire_timeout,
        })
    }

    /// A connection, within the acquire timeout (connecting included); the wait is observed.
    async fn acquire(&self) -> Result<Object<Connector>, sqlx::Error> {
        let started = Instant::now();
        let acquired = timeout(self.acquire_timeout, self.pool.get()).await;
        telemetry::observe_pool_wait(started.elapsed());
        match acquired {
            Err(_elapsed) => Err(sqlx::Error::PoolTimedOut),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(managed::PoolError::Backend(err))) => Err(err),
            Ok(Err(managed::PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(other)) => Err(sqlx::Error::Configuration(other.to_string().into())),
        }
    }

    /// Connections open and idle, for the pool's gauges.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let status = self.pool.status();
        (status.size, status.available)
    }

    /// Closes the pool: its idle connections end their sessions now, a connection in use when it goes
    /// back.
    pub async fn close(&self) {
        let idle = self.pool.retain(|_, _| false);
        self.pool.close();
        for conn in idle.removed {
            let _ = conn.close().await;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

impl telemetry::metrics::PoolGauges for DbPool {
    fn open_and_idle(&self) -> (usize, usize) {
        self.counts()
    }

    fn is_closed(&self) -> bool {
        DbPool::is_closed(self)
    }
}

impl fmt::Debug for DbPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbPool")
            .field("status", &self.pool.status())
            .finish()
    }
}

/// Gives a connection back after its statement, or closes it when the statement failed because the
/// connection did (the socket, the protocol, the session ended by the server): the next request gets
/// a new one instead.
fn settle<T>(conn: Object<Connector>, done: &Result<T, sqlx::Error>) {
    if done.as_ref().is_err_and(breaks_connection) {
        drop(Object::take(conn));
    }
}

fn breaks_connection(err: &sqlx::Error) -> bool {
    is_unavailable(err) || matches!(err, sqlx::Error::Protocol(_))
}

/// Opens the pool's connections and checks an idle one before it is used again.
struct Connector(PgConnectOptions);

impl managed::Manager for Connector {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        self.0.connect().await
    }

    async fn recycle(&self, conn: &mut PgConnection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        // The database may have gone while the connection sat idle; a busy one needs no check.
        if metrics.last_used() >= CHECK_IDLE_AFTER {
            conn.ping().await?;
        }
        Ok(())
    }
}

impl<'p> Executor<'p> for &DbPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        // The services' statements return a few rows: they are read whole, then streamed.
        let db = self.clone();
        stream::once(async move {
            let mut conn = db.acquire().await?;
            let done = (&mut *conn).fetch_many(query).try_collect::<Vec<_>>().await;
            settle(conn, &done);
            done
        })
        .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let db = self.clone();
        Box::pin(async move {
            let mut conn = db.acquire().await?;
            let done = (&mut *conn).fetch_optional(query).await;
            settle(conn, &done);
            done
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        let db = self.clone();
        Box::pin(async move {
            let mut conn = db.acquire().await?;
            let done = (&mut *conn).prepare_with(sql, parameters).await;
            settle(conn, &done);
            done
        })
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        let db = self.clone();
        Box::pin(async move {
            let mut conn = db.acquire().await?;
            let done = (&mut *conn).describe(sql).await;
            settle(conn, &done);
            done
        })
    }
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
