//! S3: a product update, then three calls one after another.

use e2e::spawn_system;
use serde_json::json;
use sqlx::Row;

const FAN_OUT: [&str; 3] = [
    "searchservice /reindex",
    "cacheservice /invalidate_cache",
    "analyticsservice /log_update",
];

#[tokio::test]
async fn update_changes_the_product_and_answers_200_with_it() {
    let system = spawn_system().await;

    let reply = system
        .put(
            &system.product,
            "/products/1",
            json!({"name": "Renamed", "stock": 42}),
        )
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body, json!({"id": 1, "name": "Renamed", "stock": 42}));
    let db = system.tables_of("productservice").await;
    let row = sqlx::query("SELECT name, stock FROM products WHERE id = 1")
        .fetch_one(&db)
        .await
        .expect("product 1");
    assert_eq!(
        (row.get::<String, _>("name"), row.get::<i32, _>("stock")),
        ("Renamed".into(), 42)
    );
}

#[tokio::test]
async fn update_of_one_field_keeps_the_other() {
    let system = spawn_system().await;
    let before = system
        .put(&system.product, "/products/2", json!({"stock": 7}))
        .await;

    let after = system
        .put(&system.product, "/products/2", json!({"name": "Only the name"}))
        .await;

    assert_eq!(after.status, 200);
    assert_eq!(after.body["stock"], 7);
    assert_eq!(before.body["id"], after.body["id"]);
}

#[tokio::test]
async fn the_three_downstream_calls_are_made_in_order_each_after_the_last_ended() {
    let system = spawn_system().await;

    let reply = system
        .put(&system.product, "/products/3", json!({"stock": 5}))
        .await;

    assert_eq!(reply.status, 200);
    let mut expected = vec!["productservice /products/3".to_owned()];
    expected.extend(FAN_OUT.iter().map(|call| call.to_string()));
    assert_eq!(system.calls.names(), expected);
    let calls = system.calls.calls();
    let (update, fan_out) = (&calls[0], &calls[1..]);
    for pair in fan_out.windows(2) {
        assert!(
            pair[0].finished <= pair[1].started,
            "{} overlapped {}",
            pair[0].service,
            pair[1].service
        );
    }
    assert!(fan_out
        .iter()
        .all(|call| call.status == 200 && call.finished <= update.finished));
}

#[tokio::test]
async fn an_unknown_product_is_404_and_calls_nothing_downstream() {
    let system = spawn_system().await;

    let reply = system
        .put(&system.product, "/products/100000", json!({"stock": 1}))
        .await;

    assert_eq!(reply.status, 404, "{:?}", reply.body);
    assert!(reply.body["detail"].is_string());
    assert_eq!(system.calls.names(), ["productservice /products/100000"]);
}

#[tokio::test]
async fn a_dead_fan_out_target_gives_502_naming_it_and_the_update_stays_committed() {
    let mut system = spawn_system().await;
    system.cache.stop().await;

    let reply = system
        .put(&system.product, "/products/4", json!({"stock": 99}))
        .await;

    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "cacheservice");
    assert_eq!(reply.body["product"]["stock"], 99);
    assert!(reply.body["detail"]
        .as_str()
        .is_some_and(|detail| detail.contains("was updated")));
    assert_eq!(system.calls.count("searchservice", "/reindex"), 1);
    assert_eq!(
        system.calls.count("analyticsservice", "/log_update"),
        0,
        "the fan-out stops at the failure"
    );
    let db = system.tables_of("productservice").await;
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = 4")
        .fetch_one(&db)
        .await
        .expect("product 4");
    assert_eq!(stock, 99);
}

#[tokio::test]
async fn once_the_fan_out_target_is_back_updates_answer_200_again() {
    let mut system = spawn_system().await;
    system.search.stop().await;
    let failed = system
        .put(&system.product, "/products/5", json!({"stock": 1}))
        .await;
    assert_eq!(failed.status, 502);

    system.search.restart().await;
    let reply = system
        .put(&system.product, "/products/5", json!({"stock": 2}))
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn the_seed_catalogue_is_there_on_a_fresh_database_and_matches_the_inventory() {
    let system = spawn_system().await;

    let products = system.tables_of("productservice").await;
    let seeded: Vec<(i32, i32)> = sqlx::query_as("SELECT id, stock FROM products ORDER BY id")
        .fetch_all(&products)
        .await
        .expect("products");
    let inventory = system.tables_of("inventoryservice").await;
    let stocked: Vec<(i32, i32)> =
        sqlx::query_as("SELECT product_id, stock FROM inventory_items ORDER BY product_id")
            .fetch_all(&inventory)
            .await
            .expect("inventory");

    assert_eq!(seeded.len(), common::catalog::CATALOG_SIZE as usize);
    assert_eq!(seeded, stocked);
    // Seeding again (a restart, or a second replica) changes nothing.
    productservice::products::seed(&products)
        .await
        .expect("seeded again");
    assert_eq!(
        crate::helpers::count_rows(&system, "productservice", "products").await,
        seeded.len() as i64
    );
}
