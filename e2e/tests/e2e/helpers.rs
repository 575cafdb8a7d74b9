//! Small reads of what the scenarios wrote, shared by the test modules.

use e2e::System;
use serde_json::json;
use sqlx::Row;

/// `(stock, reserved)` of a product in the inventory service's tables.
pub async fn inventory_of(system: &System, product_id: i32) -> (i32, i32) {
    let db = system.tables_of("inventoryservice").await;
    let row = sqlx::query("SELECT stock, reserved FROM inventory_items WHERE product_id = $1")
        .bind(product_id)
        .fetch_one(&db)
        .await
        .expect("the product has an inventory row");
    (row.get("stock"), row.get("reserved"))
}

/// The status of every order, by id.
pub async fn order_statuses(system: &System) -> Vec<(i32, String)> {
    let db = system.tables_of("orderservice").await;
    sqlx::query_as("SELECT id, status FROM orders ORDER BY id")
        .fetch_all(&db)
        .await
        .expect("orders can be read")
}

/// How many rows a table of `schema` holds.
pub async fn count_rows(system: &System, schema: &str, table: &str) -> i64 {
    let db = system.tables_of(schema).await;
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&db)
        .await
        .expect("the table can be counted")
}

/// Waits up to `seconds` for `condition` to hold, checking every 100 ms.
pub async fn eventually<F, Fut>(seconds: u64, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

pub fn unique_email() -> String {
    format!("user-{}@example.org", uuid::Uuid::new_v4().simple())
}

/// Sends `n` requests at once (the `i`th built by `request(i)`) and collects their replies in order.
pub async fn all_at_once<F, Fut>(n: usize, request: F) -> Vec<e2e::Reply>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = e2e::Reply>,
{
    futures::future::join_all((0..n).map(request)).await
}

/// An order saved by the order-service process whose lease is `owner`, `pending` with its stock
/// reserved, as a saga in flight on that process leaves it after step 2. Returns its id.
pub async fn in_flight_order_of(system: &System, owner: i32, product_id: i32, quantity: i32) -> i32 {
    let orders = system.tables_of("orderservice").await;
    let order_id: i32 = sqlx::query_scalar(
        "INSERT INTO orders (product_id, quantity, status, owner) VALUES ($1, $2, 'pending', $3) RETURNING id",
    )
    .bind(product_id)
    .bind(quantity)
    .bind(owner)
    .fetch_one(&orders)
    .await
    .expect("an order row");
    let reserved = system
        .post(
            &system.inventory,
            "/reserve_stock",
            json!({"order_id": order_id, "product_id": product_id, "quantity": quantity}),
        )
        .await;
    assert_eq!(reserved.status, 200, "{:?}", reserved.body);
    order_id
}
