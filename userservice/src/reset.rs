//! Returns the service's tables to their state on a fresh database, for `stack bench` between
//! repeats: no users, identities from 1.
//!
//! [`sql`] is the one statement list, schema-qualified so that it runs on any connection to the
//! database (`stack` over sqlx, or `psql` inside a container); [`reset`] runs it.

use sqlx::PgPool;

use crate::SCHEMA;

/// The SQL that empties the service's tables.
pub fn sql() -> String {
    format!("TRUNCATE {SCHEMA}.users RESTART IDENTITY;\n")
}

/// Runs [`sql`] as one transaction.
pub async fn reset(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::raw_sql(&sql()).execute(&mut *tx).await?;
    tx.commit().await
}
