//! The database goes back to its seeded state between repeats: on a real PostgreSQL, with every
//! database service's migrations and seed applied, a run's worth of changes is undone by the reset.

// Each test binary compiles the shared support and uses its own part of it.
#[allow(dead_code)]
mod support;

use common::catalog::catalog;
use common::db::DbPool;
use stack_study::target::Resetter;
use support::ServicesDatabase;

/// A fresh database with the four database services' schemas as each service creates them at
/// start-up (migrations, then seed).
async fn seeded_database(name: &str) -> ServicesDatabase {
    let database = ServicesDatabase::create(name).await;
    database.seed().await;
    database
}

async fn count(pool: &DbPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_reset_returns_users_orders_stock_and_reservations_to_the_seed() {
    let name = format!("stack_reset_{}", std::process::id());
    let database = seeded_database(&name).await;
    let [users, products, orders, inventory] = &database.pools;
    let options = database.options();

    // Given a database after a run: users registered, orders placed, products changed, stock reserved
    for email in ["a@example.org", "b@example.org"] {
        sqlx::query("INSERT INTO users (email) VALUES ($1)")
            .bind(email)
            .execute(users)
            .await
            .expect("a user");
    }
    sqlx::query("UPDATE products SET name = 'Changed', stock = 1 WHERE id <= 10")
        .execute(products)
        .await
        .expect("products changed");
    sqlx::query(
        "INSERT INTO orders (product_id, quantity, status) VALUES (1, 1, 'reserved'), (2, 1, 'failed')",
    )
    .execute(orders)
    .await
    .expect("orders");
    sqlx::query("UPDATE inventory_items SET reserved = 1, stock = stock - 5 WHERE product_id = 1")
        .execute(inventory)
        .await
        .expect("a reservation");
    sqlx::query("INSERT INTO reservations (order_id, product_id, quantity, state) VALUES (1, 1, 1, 'reserved'), (2, 2, 1, 'released')")
        .execute(inventory)
        .await
        .expect("reservation rows");

    // When the database is reset
    Resetter::sql(options).reset().await.expect("the reset");

    // Then every table is as after a fresh start
    assert_eq!(count(users, "users").await, 0);
    assert_eq!(count(orders, "orders").await, 0);
    assert_eq!(count(inventory, "reservations").await, 0);
    let seeded: Vec<(i32, String, i32)> = catalog()
        .into_iter()
        .map(|item| (item.id, item.name, item.stock))
        .collect();
    let products_now: Vec<(i32, String, i32)> =
        sqlx::query_as("SELECT id, name, stock FROM products ORDER BY id")
            .fetch_all(products)
            .await
            .expect("products");
    assert_eq!(products_now, seeded);
    let stock_now: Vec<(i32, i32, i32)> =
        sqlx::query_as("SELECT product_id, stock, reserved FROM inventory_items ORDER BY product_id")
            .fetch_all(inventory)
            .await
            .expect("inventory");
    let stock_seeded: Vec<(i32, i32, i32)> = catalog()
        .into_iter()
        .map(|item| (item.id, item.stock, 0))
        .collect();
    assert_eq!(stock_now, stock_seeded);
    // and identities start again from 1, as on a fresh database
    let first: i32 = sqlx::query_scalar("INSERT INTO users (email) VALUES ('c@example.org') RETURNING id")
        .fetch_one(users)
        .await
        .expect("a new user");
    assert_eq!(first, 1);
}

#[tokio::test]
async fn a_reset_that_fails_part_way_changes_nothing() {
    let name = format!("stack_reset_atomic_{}", std::process::id());
    let database = seeded_database(&name).await;
    let [users, _, _, inventory] = &database.pools;
    let options = database.options();

    // Given a registered user, and a database whose last reset step cannot run
    sqlx::query("INSERT INTO users (email) VALUES ('a@example.org')")
        .execute(users)
        .await
        .expect("a user");
    sqlx::query("DROP TABLE reservations")
        .execute(inventory)
        .await
        .expect("the table dropped");

    // When the database is reset
    let reset = Resetter::sql(options).reset().await;

    // Then the reset fails as a whole: the user, emptied first, is still there
    assert!(reset.is_err(), "the reset succeeded without its table");
    assert_eq!(count(users, "users").await, 1);
}
