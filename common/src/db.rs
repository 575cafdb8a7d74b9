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
//! is one statement in autocommit (none holds a transaction open across an `await`). What the check
//! did that still matters is done otherwise: a connection whose statement failed because the
//! connection did is closed instead of going back, and one idle for a second or more is checked
//! before a request gets it.
//!
//! Every wait is bounded (docs/reliability.md). The server ends a statement after
//! `statement_timeout` ([`DbSettings::statement_timeout`]); since a frozen or unreachable server
//! cannot, the client gives each statement that long plus [`STATEMENT_MARGIN`] and then closes the
//! connection. A connection whose statement did not run to its end (cut off by that bound, or
//! dropped because its request was cancelled) is never handed on: sqlx would otherwise read what the
//! cut statement still owes at the connection's next use, and hand its error to an unrelated request.
//! The server probes idle sockets with TCP keepalives (sqlx has no client-side switch for them).
//! Start-up's connect attempts each have a deadline too.
//!
//! The pool is observed: its connections in use and idle are reported at every scrape, and each
//! acquire's wait goes to [`crate::telemetry`]'s pool-wait histogram.

use std::{
    fmt,
    str::FromStr,
    sync::{Mutex, PoisonError},
    time::Duration,
};

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

/// How much longer than the server's `statement_timeout` the client waits for a statement before it
/// gives up on the connection: enough for the server's own cancel and its error to arrive.
pub const STATEMENT_MARGIN: Duration = Duration::from_secs(1);

/// The server's keepalive probes on the pool's sockets, in seconds: first probe after this much
/// idleness, then one every interval, the connection dropped after `count` unanswered ones.
const TCP_KEEPALIVES: [(&str, &str); 3] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
];

/// How a service reaches PostgreSQL and how patient it is.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub connect: PgConnectOptions,
    pub max_connections: u32,
    /// How long a request waits for a connection before it answers `503`.
    pub acquire_timeout: Duration,
    /// How long start-up waits for the database before the service gives up.
    pub startup_timeout: Duration,
    /// How long one connection attempt may take, at start-up and when the pool opens a connection.
    pub connect_timeout: Duration,
    /// The server's `statement_timeout` on the pool's connections; the client waits this plus
    /// [`STATEMENT_MARGIN`] before it closes the connection.
    pub statement_timeout: Duration,
}

impl DbSettings {
    /// The defaults, for a database reached through `connect`.
    pub fn new(connect: PgConnectOptions) -> Self {
        Self {
            connect,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            startup_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(2),
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
            connect_timeout: config::millis_or("DB_CONNECT_TIMEOUT_MS", defaults.connect_timeout)?,
            statement_timeout: config::millis_or("DB_STATEMENT_TIMEOUT_MS", defaults.statement_timeout)?,
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
    // Start-up's migrations run without the statement timeout: they are the service's own, not a
    // request's, and may take longer.
    let connect = settings
        .connect
        .clone()
        .options([("search_path", schema)])
        .options(TCP_KEEPALIVES);
    let mut setup = wait_for_database(&connect, settings).await?;
    create_schema(&mut setup, schema)
        .await
        .map_err(|source| DbStartupError::Schema {
            schema: schema.to_owned(),
            source,
        })?;
    migrator.run_direct(&mut setup).await?;
    let _ = setup.close().await;
    let statement_timeout = settings.statement_timeout.as_millis().to_string();
    let connect = connect.options([("statement_timeout", statement_timeout.as_str())]);
    let pool = DbPool::new(connect, settings)?;
    telemetry::metrics::register_pool(schema, pool.clone());
    OPEN_POOLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(pool.clone());
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
        let attempt = match timeout(settings.connect_timeout, connect.connect()).await {
            Ok(attempt) => attempt,
            Err(_elapsed) => Err(timed_out("connecting")),
        };
        match attempt {
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

/// Every pool [`connect`] made in this process, so that shutdown can close them ([`close_all`]).
static OPEN_POOLS: Mutex<Vec<DbPool>> = Mutex::new(Vec::new());

/// Closes every pool of the process: what a service does once its last request is answered.
pub async fn close_all() {
    let pools = std::mem::take(&mut *OPEN_POOLS.lock().unwrap_or_else(PoisonError::into_inner));
    for pool in pools {
        pool.close().await;
    }
}

/// A service's pool of connections; cloning it gives another handle to the same pool.
///
/// It is an sqlx [`Executor`], so a statement runs on it as on sqlx's own pool
/// (`query.execute(&db)`), each on a connection taken for that statement alone.
#[derive(Clone)]
pub struct DbPool {
    pool: managed::Pool<Connector>,
    acquire_timeout: Duration,
    /// The server's `statement_timeout` plus [`STATEMENT_MARGIN`].
    statement_bound: Duration,
}

impl DbPool {
    /// A pool that connects lazily: its first statements open its connections.
    fn new(connect: PgConnectOptions, settings: &DbSettings) -> Result<Self, managed::BuildError> {
        let max_size = usize::try_from(settings.max_connections).unwrap_or(usize::MAX);
        let connector = Connector {
            connect,
            connect_timeout: settings.connect_timeout,
        };
        let pool = managed::Pool::builder(connector).max_size(max_size).build()?;
        Ok(Self {
            pool,
            acquire_timeout: settings.acquire_timeout,
            statement_bound: settings.statement_timeout + STATEMENT_MARGIN,
        })
    }

    /// A connection, within the acquire timeout (connecting included); the wait is observed. It is
    /// marked as mid-statement until [`DbPool::settle`] sees the statement's end.
    async fn acquire(&self) -> Result<Object<Connector>, sqlx::Error> {
        let started = Instant::now();
        let acquired = timeout(self.acquire_timeout, self.pool.get()).await;
        telemetry::observe_pool_wait(started.elapsed());
        match acquired {
            Err(_elapsed) => Err(sqlx::Error::PoolTimedOut),
            Ok(Ok(mut session)) => {
                session.mid_statement = true;
                Ok(session)
            }
            Ok(Err(managed::PoolError::Backend(err))) => Err(err),
            Ok(Err(managed::PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(other)) => Err(sqlx::Error::Configuration(other.to_string().into())),
        }
    }

    /// Runs `statement` on a connection of the pool within the statement bound.
    async fn run<'c, T, F>(
        &self,
        statement: impl FnOnce(&'c mut PgConnection) -> F,
        session: &'c mut Session,
    ) -> Result<T, sqlx::Error>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>> + 'c,
    {
        match timeout(self.statement_bound, statement(&mut session.conn)).await {
            Ok(done) => done,
            Err(_elapsed) => Err(timed_out("waiting for the statement")),
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
        for session in idle.removed {
            let _ = timeout(Duration::from_secs(1), session.conn.close()).await;
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

/// The error of a wait that the client cut off: it reads as "unavailable" (`503`).
fn timed_out(what: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the database did not answer in time ({what})"),
    ))
}

/// Gives a connection back after its statement ran to its end, or closes it when the statement
/// failed because the connection did (the socket, the protocol, the session ended by the server,
/// the client's bound on the statement): the next request gets a new one instead.
fn settle<T>(mut session: Object<Connector>, done: &Result<T, sqlx::Error>) {
    if done.as_ref().is_err_and(breaks_connection) {
        drop(Object::take(session));
    } else {
        session.mid_statement = false;
    }
}

fn breaks_connection(err: &sqlx::Error) -> bool {
    // The server's own statement timeout (57014) leaves the connection clean.
    let cancelled_by_server =
        matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|code| code == "57014"));
    (is_unavailable(err) && !cancelled_by_server) || matches!(err, sqlx::Error::Protocol(_))
}

/// A pooled connection, and whether a statement was started on it and not seen to its end.
///
/// A request dropped mid-statement drops its [`Object`], which goes back to the pool with
/// `mid_statement` still set: recycling refuses it, so the pool closes it and no one else gets it.
struct Session {
    conn: PgConnection,
    mid_statement: bool,
}

/// Opens the pool's connections and checks one before it is used again.
struct Connector {
    connect: PgConnectOptions,
    connect_timeout: Duration,
}

impl managed::Manager for Connector {
    type Type = Session;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Session, sqlx::Error> {
        match timeout(self.connect_timeout, self.connect.connect()).await {
            Ok(conn) => Ok(Session {
                conn: conn?,
                mid_statement: false,
            }),
            Err(_elapsed) => Err(timed_out("connecting")),
        }
    }

    async fn recycle(&self, session: &mut Session, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if session.mid_statement {
            return Err(managed::RecycleError::message(
                "its statement was cut off before its end",
            ));
        }
        // The database may have gone while the connection sat idle; a busy one needs no check.
        if metrics.last_used() >= CHECK_IDLE_AFTER {
            session.conn.ping().await?;
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
            let mut session = db.acquire().await?;
            let done = db
                .run(
                    |conn| conn.fetch_many(query).try_collect::<Vec<_>>(),
                    &mut session,
                )
                .await;
            settle(session, &done);
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
            let mut session = db.acquire().await?;
            let done = db.run(|conn| conn.fetch_optional(query), &mut session).await;
            settle(session, &done);
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
            let mut session = db.acquire().await?;
            let done = db
                .run(|conn| conn.prepare_with(sql, parameters), &mut session)
                .await;
            settle(session, &done);
            done
        })
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        let db = self.clone();
        Box::pin(async move {
            let mut session = db.acquire().await?;
            let done = db.run(|conn| conn.describe(sql), &mut session).await;
            settle(session, &done);
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
        // Class 08 is "connection exception"; 57P01-57P05 are the server shutting down, starting,
        // or ending the session (idle or idle-in-transaction timeout); 53300 is "too many
        // connections"; 57014 is a statement cancelled, here by `statement_timeout`.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(
                    &*code,
                    "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "53300" | "57014"
                )
        }),
        _ => false,
    }
}
