//! S2: a slow payment gateway, and one that declines at once.

use std::time::Duration;

use e2e::spawn_system;
use serde_json::json;

#[tokio::test]
async fn process_payment_answers_success_after_two_seconds() {
    let system = spawn_system().await;

    let reply = system
        .post(&system.payment, "/process_payment", json!({"amount": 10}))
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "success");
    assert!(reply.body["transaction_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert!(
        reply.elapsed >= Duration::from_secs(2),
        "took {:?}",
        reply.elapsed
    );
}

#[tokio::test]
async fn concurrent_payments_wait_side_by_side_and_get_unique_transaction_ids() {
    let system = spawn_system().await;

    let started = std::time::Instant::now();
    let replies = crate::helpers::all_at_once(10, |_| {
        system.post(&system.payment, "/process_payment", json!({}))
    })
    .await;

    // The two-second wait is a timer, not a blocked worker: ten payments take two seconds, not twenty.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let mut ids: Vec<&str> = replies
        .iter()
        .filter_map(|reply| reply.body["transaction_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}

#[tokio::test]
async fn process_payment_accepts_no_body_at_all() {
    let system = spawn_system().await;

    let reply = e2e::send(system.http.post(system.payment.url_for("/process_payment"))).await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "success");
}

#[tokio::test]
async fn process_payment_fail_declines_at_once_with_400() {
    let system = spawn_system().await;

    let reply = system
        .post(&system.payment, "/process_payment_fail", json!({"order_id": 1}))
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["status"], "failed");
    assert_eq!(reply.body["reason"], "Insufficient funds");
    assert!(
        reply.elapsed < Duration::from_millis(500),
        "took {:?}",
        reply.elapsed
    );
}
