//! S5: the order saga, its compensation, and its recovery.

use std::time::Duration;

use e2e::{spawn_system, spawn_system_with, Options, System};
use orderservice::{compensation::Recovery, lease::LEASE_CLASS};
use serde_json::json;

use crate::helpers::{all_at_once, count_rows, eventually, in_flight_order_of, inventory_of, order_statuses};

async fn create_order(system: &System, product_id: i32, quantity: i32) -> e2e::Reply {
    system
        .post(
            &system.order,
            "/create_order",
            json!({"product_id": product_id, "quantity": quantity}),
        )
        .await
}

#[tokio::test]
async fn an_order_fails_on_payment_and_answers_400() {
    let system = spawn_system().await;

    let reply = create_order(&system, 1, 1).await;

    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.body["message"], "Order failed due to payment issue");
    assert_eq!(reply.body["status"], "failed");
    assert!(reply.body["detail"]
        .as_str()
        .is_some_and(|detail| detail.contains("Insufficient funds")));
}

#[tokio::test]
async fn the_saga_reserves_pays_and_compensates_in_that_order() {
    let system = spawn_system().await;

    create_order(&system, 1, 1).await;

    assert_eq!(
        system.calls.names(),
        [
            "orderservice /create_order",
            "inventoryservice /reserve_stock",
            "paymentservice /process_payment_fail",
            "inventoryservice /compensate_stock",
        ]
    );
    let calls = system.calls.calls();
    for pair in calls[1..].windows(2) {
        assert!(
            pair[0].finished <= pair[1].started,
            "{} overlapped {}",
            pair[0].path,
            pair[1].path
        );
    }
}

#[tokio::test]
async fn after_a_failed_order_the_order_is_failed_and_reserved_is_back_where_it_started() {
    let system = spawn_system().await;
    let (_, reserved_before) = inventory_of(&system, 2).await;

    let reply = create_order(&system, 2, 3).await;

    assert_eq!(reply.status, 400);
    assert_eq!(
        order_statuses(&system).await,
        [(
            reply.body["order_id"].as_i64().unwrap_or(0) as i32,
            "failed".into()
        )]
    );
    assert_eq!(inventory_of(&system, 2).await.1, reserved_before);
}

#[tokio::test]
async fn two_hundred_concurrent_orders_all_fail_cleanly_and_leave_reserved_unchanged() {
    let system = spawn_system().await;
    let (_, reserved_before) = inventory_of(&system, 1).await;

    let replies = all_at_once(200, |_| create_order(&system, 1, 1)).await;

    let statuses: Vec<u16> = replies
        .iter()
        .map(|reply| reply.status)
        .filter(|status| *status != 400)
        .collect();
    assert!(statuses.is_empty(), "not every order answered 400: {statuses:?}");
    let orders = order_statuses(&system).await;
    assert_eq!(orders.len(), 200);
    assert!(orders.iter().all(|(_, status)| status == "failed"));
    assert_eq!(inventory_of(&system, 1).await.1, reserved_before);
}

#[tokio::test]
async fn an_order_for_more_than_the_stock_is_409_and_payment_is_never_called() {
    let system = spawn_system().await;
    let (stock, reserved_before) = inventory_of(&system, 3).await;

    let reply = create_order(&system, 3, stock + 1).await;

    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert!(reply.body["detail"]
        .as_str()
        .is_some_and(|detail| detail.contains("insufficient stock")));
    assert_eq!(system.calls.count("paymentservice", "/process_payment_fail"), 0);
    assert_eq!(order_statuses(&system).await[0].1, "failed");
    assert_eq!(inventory_of(&system, 3).await.1, reserved_before);
}

#[tokio::test]
async fn concurrent_orders_for_the_whole_stock_never_reserve_beyond_it() {
    let system = spawn_system().await;
    let (stock, _) = inventory_of(&system, 4).await;
    // Every order asks for a bit over a third of the stock: at most two can hold it at the same time.
    let quantity = stock / 3 + 1;

    let replies = all_at_once(30, |_| create_order(&system, 4, quantity)).await;

    assert!(replies
        .iter()
        .all(|reply| reply.status == 400 || reply.status == 409));
    let (stock_after, reserved_after) = inventory_of(&system, 4).await;
    assert_eq!((stock_after, reserved_after), (stock, 0));
}

#[tokio::test]
async fn an_unknown_product_is_404_and_leaves_no_order() {
    let system = spawn_system().await;

    let reply = create_order(&system, 100_000, 1).await;

    assert_eq!(reply.status, 404, "{:?}", reply.body);
    assert_eq!(
        count_rows(&system, "orderservice", "orders").await,
        0,
        "orders {:?} after calls {:?}",
        order_statuses(&system).await,
        system.calls.names()
    );
    assert_eq!(count_rows(&system, "inventoryservice", "reservations").await, 0);
    assert_eq!(system.calls.count("paymentservice", "/process_payment_fail"), 0);
}

#[tokio::test]
async fn with_the_payment_service_down_the_order_answers_502_and_is_compensated() {
    let mut system = spawn_system().await;
    system.payment.stop().await;
    let (_, reserved_before) = inventory_of(&system, 5).await;

    let reply = create_order(&system, 5, 2).await;

    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "paymentservice");
    assert_eq!(reply.body["status"], "failed");
    assert_eq!(inventory_of(&system, 5).await.1, reserved_before);
}

fn quick_recovery() -> Options {
    Options {
        recovery: Recovery {
            interval: Duration::from_millis(200),
            idle_after: Duration::from_millis(500),
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn with_the_inventory_down_the_order_answers_502_quickly() {
    let mut system = spawn_system().await;
    system.inventory.stop().await;

    let reply = create_order(&system, 1, 1).await;

    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "inventoryservice");
    assert!(reply.elapsed < Duration::from_secs(3), "took {:?}", reply.elapsed);
}

#[tokio::test]
async fn an_order_whose_compensation_failed_stays_compensating_until_recovery_finishes_it() {
    // Given the inventory is down, so neither the reservation nor its compensation can be made
    let mut system = spawn_system_with(quick_recovery()).await;
    let (_, reserved_before) = inventory_of(&system, 6).await;
    system.inventory.stop().await;
    let reply = create_order(&system, 6, 2).await;
    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "compensating");
    let order_id = reply.body["order_id"].as_i64().expect("an order id") as i32;

    // When the inventory comes back
    system.inventory.restart().await;

    // Then recovery compensates the order, and its reservation can never land afterwards
    assert!(
        eventually(10, || async {
            order_statuses(&system).await == [(order_id, "failed".to_owned())]
        })
        .await
    );
    assert_eq!(inventory_of(&system, 6).await.1, reserved_before);
    let late = system
        .post(
            &system.inventory,
            "/reserve_stock",
            json!({"order_id": order_id, "product_id": 6, "quantity": 2}),
        )
        .await;
    assert_eq!(late.status, 409, "{:?}", late.body);
}

/// Puts the system in the state a crash after step 2 leaves: an order still `pending` with its stock
/// held, the saga gone. The order was touched just now, so it is not idle. While it is made, a
/// session holds the lease of the order's owner, as the process running its saga would, so the live
/// order service's recovery leaves it alone; the lease then ends with its session (the crash), which
/// is what makes the order abandoned. Returns the order's id.
async fn reserve_behind_the_order_service(system: &System, product_id: i32, quantity: i32) -> i32 {
    const CRASHED_OWNER: i32 = 7_700_001;
    let orders = system.tables_of("orderservice").await;
    let mut lease = orders.acquire().await.expect("a connection for the lease");
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LEASE_CLASS)
        .bind(CRASHED_OWNER)
        .execute(&mut *lease)
        .await
        .expect("the crashed process's lease");
    let order_id = in_flight_order_of(system, CRASHED_OWNER, product_id, quantity).await;
    // The crash: the lease's session ends.
    lease.close().await.expect("the lease's session ends");
    order_id
}

#[tokio::test]
async fn a_crash_after_the_reservation_leaves_nothing_reserved_once_the_order_service_is_back() {
    let mut system = spawn_system().await;
    let (_, reserved_before) = inventory_of(&system, 7).await;
    let order_id = reserve_behind_the_order_service(&system, 7, 3).await;
    assert_eq!(inventory_of(&system, 7).await.1, reserved_before + 3);

    system.restart_order_service().await;

    assert!(
        eventually(10, || async {
            order_statuses(&system).await == [(order_id, "failed".to_owned())]
        })
        .await
    );
    assert_eq!(inventory_of(&system, 7).await.1, reserved_before);
}

#[tokio::test]
async fn a_crash_before_the_reservation_landed_keeps_the_late_reservation_out() {
    // Given a pending order whose reservation request is still on its way when the service crashes
    let mut system = spawn_system().await;
    let (_, reserved_before) = inventory_of(&system, 8).await;
    let orders = system.tables_of("orderservice").await;
    let order_id: i32 =
        sqlx::query_scalar("INSERT INTO orders (product_id, quantity) VALUES (8, 1) RETURNING id")
            .fetch_one(&orders)
            .await
            .expect("an order row");

    // When the service is back and recovers the order
    system.restart_order_service().await;
    assert!(
        eventually(10, || async {
            order_statuses(&system).await == [(order_id, "failed".to_owned())]
        })
        .await
    );

    // Then the late reservation is refused
    let late = system
        .post(
            &system.inventory,
            "/reserve_stock",
            json!({"order_id": order_id, "product_id": 8, "quantity": 1}),
        )
        .await;
    assert_eq!(late.status, 409, "{:?}", late.body);
    assert_eq!(inventory_of(&system, 8).await.1, reserved_before);
}

#[tokio::test]
async fn a_repeated_reservation_for_one_order_counts_once() {
    let system = spawn_system().await;
    let (_, before) = inventory_of(&system, 9).await;
    let reservation = json!({"order_id": 4242, "product_id": 9, "quantity": 5});

    let first = system
        .post(&system.inventory, "/reserve_stock", reservation.clone())
        .await;
    let second = system
        .post(&system.inventory, "/reserve_stock", reservation.clone())
        .await;

    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(inventory_of(&system, 9).await.1, before + 5);
}

#[tokio::test]
async fn a_repeated_compensation_for_one_order_counts_once() {
    let system = spawn_system().await;
    let (_, before) = inventory_of(&system, 10).await;
    let order = json!({"order_id": 4343, "product_id": 10, "quantity": 4});
    system
        .post(&system.inventory, "/reserve_stock", order.clone())
        .await;

    let release = json!({"order_id": 4343, "product_id": 10});
    let first = system
        .post(&system.inventory, "/compensate_stock", release.clone())
        .await;
    let second = system
        .post(&system.inventory, "/compensate_stock", release.clone())
        .await;

    assert_eq!(
        (first.body["released"].clone(), second.body["released"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(inventory_of(&system, 10).await.1, before);
}

#[tokio::test]
async fn with_an_approving_payment_endpoint_the_order_completes_and_keeps_its_stock() {
    // Given the saga pointed at the gateway's approving endpoint (PAYMENT_PATH=/process_payment)
    let system = spawn_system_with(Options {
        payment_path: "/process_payment",
        ..Options::default()
    })
    .await;
    let (_, reserved_before) = inventory_of(&system, 11).await;

    // When an order is placed
    let reply = create_order(&system, 11, 2).await;

    // Then it waits for the two-second payment, completes, and its stock stays reserved
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "completed");
    assert_eq!(reply.body["payment"]["status"], "success");
    assert!(
        reply.elapsed >= Duration::from_secs(2),
        "took {:?}",
        reply.elapsed
    );
    let order_id = reply.body["order_id"].as_i64().expect("an order id") as i32;
    assert_eq!(
        order_statuses(&system).await,
        [(order_id, "completed".to_owned())]
    );
    assert_eq!(inventory_of(&system, 11).await.1, reserved_before + 2);
    assert_eq!(system.calls.count("inventoryservice", "/compensate_stock"), 0);
}
