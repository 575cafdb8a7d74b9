//! Returns the service's tables to their state on a fresh database, for `stack bench` between
//! repeats: the seed catalogue's stock, nothing reserved, no reservation or release marks.
//!
//! [`sql`] is the one statement list, schema-qualified so that it runs on any connection to the
//! database (`stack` over sqlx, or `psql` inside a container); [`reset`] runs it.

use common::catalog::catalog;
use sqlx::PgPool;

use crate::SCHEMA;

/// The SQL that empties the service's tables and inserts the seed stock again.
pub fn sql() -> String {
    let rows: Vec<String> = catalog()
        .iter()
        .map(|item| format!("({}, {})", item.id, item.stock))
        .collect();
    format!(
        "TRUNCATE {SCHEMA}.reservations, {SCHEMA}.inventory_items;\n\
         INSERT INTO {SCHEMA}.inventory_items (product_id, stock) VALUES\n{};\n",
        rows.join(",\n")
    )
}

/// Runs [`sql`] as one transaction.
pub async fn reset(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::raw_sql(&sql()).execute(&mut *tx).await?;
    tx.commit().await
}
