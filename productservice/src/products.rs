//! The `products` table: the seed catalogue, and the updates of S3.

use common::catalog::catalog;
use common::db::DbPool;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": 1, "name": "Adaptive Paradigm", "stock": 42}))]
pub struct Product {
    pub id: i32,
    pub name: String,
    pub stock: i32,
}

/// Inserts the seed catalogue's products that are not there yet.
pub async fn seed(db: impl sqlx::PgExecutor<'_>) -> Result<(), sqlx::Error> {
    let (ids, (names, stocks)): (Vec<i32>, (Vec<String>, Vec<i32>)) = catalog()
        .into_iter()
        .map(|item| (item.id, (item.name, item.stock)))
        .unzip();
    sqlx::query(
        "INSERT INTO products (id, name, stock)
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::int[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(names)
    .bind(stocks)
    .execute(db)
    .await
    .map(drop)
}

/// Sets the fields given (`None` keeps a field as it is); `None` when there is no such product.
pub async fn update(
    db: &DbPool,
    product_id: i32,
    name: Option<&str>,
    stock: Option<i32>,
) -> Result<Option<Product>, sqlx::Error> {
    sqlx::query_as::<_, Product>(
        "UPDATE products SET name = COALESCE($2, name), stock = COALESCE($3, stock)
         WHERE id = $1
         RETURNING id, name, stock",
    )
    .bind(product_id)
    .bind(name)
    .bind(stock)
    .fetch_optional(db)
    .await
}
