//! The database the `stack` tests run against: a fresh one on the tests' server (`TEST_DATABASE_URL`,
//! else the private cluster every test process shares), holding the four database services' schemas
//! as each service makes them at start-up (its own migrations, optionally its seed), and dropped
//! when the test ends.

use std::str::FromStr;

use common::db::DbSettings;
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection};

/// The tests' server.
pub fn server() -> PgConnectOptions {
    let url = stack_system::postgres::test_server_url()
        .unwrap_or_else(|err| panic!("no PostgreSQL for the tests: {err:#} (or set TEST_DATABASE_URL)"));
    PgConnectOptions::from_str(&url).unwrap_or_else(|err| panic!("{url:?}: {err}"))
}

/// A fresh database with the four services' schemas; dropped on drop.
pub struct ServicesDatabase {
    name: String,
    /// One pool per service, in the order of the services: users, products, orders, inventory.
    pub pools: [common::db::DbPool; 4],
}

impl ServicesDatabase {
    /// The database `name` made anew, each service's schema migrated as the service does it.
    pub async fn create(name: &str) -> Self {
        let mut admin = server().connect().await.expect("the test server");
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("no leftover database");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("a test database");
        let _ = admin.close().await;
        let settings = DbSettings::new(server().database(name));
        let connect = |schema, migrator| common::db::connect(&settings, schema, migrator);
        let pools = [
            connect(userservice::SCHEMA, &userservice::MIGRATOR).await,
            connect(productservice::SCHEMA, &productservice::MIGRATOR).await,
            connect(orderservice::SCHEMA, &orderservice::MIGRATOR).await,
            connect(inventoryservice::SCHEMA, &inventoryservice::MIGRATOR).await,
        ]
        .map(|pool| pool.expect("a service's schema, migrated"));
        Self {
            name: name.to_owned(),
            pools,
        }
    }

    /// The seed the services insert at start-up: the catalogue's products and their stock.
    pub async fn seed(&self) {
        productservice::products::seed(&self.pools[1])
            .await
            .expect("the products seeded");
        inventoryservice::stock::seed(&self.pools[3])
            .await
            .expect("the stock seeded");
    }

    /// How to connect to this database.
    pub fn options(&self) -> PgConnectOptions {
        server().database(&self.name)
    }
}

impl Drop for ServicesDatabase {
    /// `Drop` cannot await, and the test's runtime may be shutting down: the database is dropped
    /// from a thread of its own, with a runtime of its own.
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = server().connect().await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
    }
}
