//! A fresh database for each test, dropped when the test ends, on the PostgreSQL server of
//! `TEST_DATABASE_URL`, or by default on the private PostgreSQL 14 cluster that all test processes
//! share ([`stack_system::postgres::test_server_url`]): no server of the machine's is needed.

use std::{str::FromStr, sync::OnceLock, time::Duration};

use common::db::DbSettings;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, PgPool,
};

/// The server's URL, found (and the shared cluster started) once per test process.
fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match stack_system::postgres::test_server_url() {
        Ok(url) => url,
        Err(err) => panic!("no PostgreSQL for the tests: {err:#} (or set TEST_DATABASE_URL)"),
    })
    .clone()
}

pub struct TestDatabase {
    name: String,
    server: PgConnectOptions,
    server_url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        Self::create_on(server_url()).await
    }

    /// A fresh database on the server of `url` (a test's private cluster, say).
    pub async fn create_on(url: String) -> Self {
        let server = match PgConnectOptions::from_str(&url) {
            Ok(options) => options,
            Err(err) => panic!("TEST_DATABASE_URL={url:?} is not a PostgreSQL URL: {err}"),
        };
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        let mut admin = match server.connect().await {
            Ok(connection) => connection,
            Err(err) => panic!("no PostgreSQL server at {url}: {err} (set TEST_DATABASE_URL)"),
        };
        if let Err(err) = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
        {
            panic!("could not create the test database: {err}");
        }
        Self {
            name,
            server,
            server_url: url,
        }
    }

    /// The URL of this database, for a process given `DATABASE_URL`.
    pub fn url(&self) -> String {
        match reqwest::Url::parse(&self.server_url) {
            Ok(mut url) => {
                url.set_path(&self.name);
                url.to_string()
            }
            Err(err) => panic!("{}: {err}", self.server_url),
        }
    }

    /// The port of the PostgreSQL server.
    pub fn port(&self) -> u16 {
        self.server.get_port()
    }

    /// What a service is given to reach this database.
    pub fn settings(&self) -> DbSettings {
        DbSettings {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(2),
            startup_timeout: Duration::from_secs(20),
            ..DbSettings::new(self.server.clone().database(&self.name))
        }
    }

    /// The same, but through a [`DbGate`](crate::DbGate) listening on `port`.
    pub fn settings_via(&self, port: u16) -> DbSettings {
        let mut settings = self.settings();
        settings.connect = settings.connect.host("127.0.0.1").port(port);
        settings
    }

    /// A pool that sees `schema`'s tables.
    pub async fn pool_for(&self, schema: &str) -> PgPool {
        let options = self
            .server
            .clone()
            .database(&self.name)
            .options([("search_path", schema)]);
        match PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
        {
            Ok(pool) => pool,
            Err(err) => panic!("could not connect to the test database: {err}"),
        }
    }
}

impl Drop for TestDatabase {
    /// `Drop` cannot await, and the test's runtime may be shutting down: the database is dropped
    /// from a thread of its own, with a runtime of its own.
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = server.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                Ok::<_, anyhow::Error>(())
            })?;
            Ok::<_, anyhow::Error>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
