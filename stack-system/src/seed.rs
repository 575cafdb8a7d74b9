//! The seeded state of the study's database, defined once: what the four database services' tables
//! hold on a fresh start, and the one SQL script that returns them to it between repeats.
//!
//! A fresh database has no users and no orders, the seed catalogue's products
//! ([`common::catalog`]) and, for each, its stock with nothing reserved. [`reset_sql`] is that state
//! as one script, schema-qualified so it runs on any connection to the database; it is applied the
//! same way on every target, as one transaction: over sqlx on a database `stack` can reach
//! ([`reset`]), or through `psql --single-transaction` inside compose's database container. It
//! needs none of the services' code: `stack` does not link them.

use common::catalog::catalog;
use sqlx::PgPool;

/// The schemas of the four database services (each service's own, named after it).
const USERS: &str = "userservice";
const PRODUCTS: &str = "productservice";
const ORDERS: &str = "orderservice";
const INVENTORY: &str = "inventoryservice";
/// All four, for whatever works on every service's tables (the bench's vacuum and counters).
pub const SCHEMAS: [&str; 4] = [USERS, PRODUCTS, ORDERS, INVENTORY];

/// The SQL that empties every database service's tables, restarts their identities, and inserts
/// the seed catalogue's products and stock again.
pub fn reset_sql() -> String {
    let catalog = catalog();
    let products: Vec<String> = catalog
        .iter()
        .map(|item| {
            format!(
                "({}, '{}', {})",
                item.id,
                item.name.replace('\'', "''"),
                item.stock
            )
        })
        .collect();
    let stock: Vec<String> = catalog
        .iter()
        .map(|item| format!("({}, {})", item.id, item.stock))
        .collect();
    format!(
        "TRUNCATE {USERS}.users RESTART IDENTITY;\n\
         TRUNCATE {PRODUCTS}.products;\n\
         INSERT INTO {PRODUCTS}.products (id, name, stock) VALUES\n{};\n\
         TRUNCATE {ORDERS}.orders RESTART IDENTITY;\n\
         TRUNCATE {INVENTORY}.reservations, {INVENTORY}.inventory_items;\n\
         INSERT INTO {INVENTORY}.inventory_items (product_id, stock) VALUES\n{};\n",
        products.join(",\n"),
        stock.join(",\n")
    )
}

/// Runs [`reset_sql`] on `db` as one transaction.
pub async fn reset(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::raw_sql(&reset_sql()).execute(&mut *tx).await?;
    tx.commit().await
}
