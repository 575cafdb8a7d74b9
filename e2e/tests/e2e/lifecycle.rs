//! The database coming and going: services wait for it at start, answer 503 while it is lost, and
//! recover by themselves when it is back.

use std::time::Duration;

use e2e::{spawn_system_with, DbGate, Options, TestDatabase};
use serde_json::json;

use crate::helpers::{eventually, unique_email};

#[tokio::test]
async fn a_service_started_before_its_database_waits_and_starts_when_it_appears() {
    // Given no database yet behind the address the service is given
    let database = TestDatabase::create().await;
    let mut gate = DbGate::open(database.port()).await;
    gate.cut();
    let settings = database.settings_via(gate.port());
    let starting = tokio::spawn(async move {
        common::db::connect(&settings, userservice::SCHEMA, &userservice::MIGRATOR).await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!starting.is_finished(), "start-up did not wait for the database");

    // When the database appears
    gate.reconnect().await;

    // Then start-up completes
    let started = tokio::time::timeout(Duration::from_secs(10), starting).await;
    assert!(matches!(started, Ok(Ok(Ok(_)))), "start-up failed: {started:?}");
}

#[tokio::test]
async fn a_database_that_never_comes_stops_start_up_with_a_message_saying_so() {
    let database = TestDatabase::create().await;
    let mut gate = DbGate::open(database.port()).await;
    gate.cut();
    let mut settings = database.settings_via(gate.port());
    settings.startup_timeout = Duration::from_secs(1);

    let started = common::db::connect(&settings, userservice::SCHEMA, &userservice::MIGRATOR).await;

    let message = started.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(message.contains("did not answer within"), "{message}");
    assert!(message.contains(&gate.port().to_string()), "{message}");
}

#[tokio::test]
async fn losing_the_database_gives_503_with_a_detail_and_answers_resume_once_it_is_back() {
    // Given a running system whose database then goes away
    let mut system = spawn_system_with(Options {
        gated_database: true,
        ..Options::default()
    })
    .await;
    let before = system
        .post(&system.user, "/register", json!({"email": unique_email()}))
        .await;
    assert_eq!(before.status, 201);
    if let Some(gate) = system.gate.as_mut() {
        gate.cut();
    }

    // When requests arrive meanwhile
    let register = system
        .post(&system.user, "/register", json!({"email": unique_email()}))
        .await;
    let update = system
        .put(&system.product, "/products/1", json!({"stock": 3}))
        .await;
    let order = system
        .post(
            &system.order,
            "/create_order",
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;

    // Then each answers 503 with a JSON detail, and nothing downstream was called
    for reply in [&register, &update, &order] {
        assert_eq!(reply.status, 503, "{:?}", reply.body);
        assert!(reply.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("database")));
    }
    assert_eq!(system.calls.count("emailservice", "/send_welcome_email"), 1);
    assert_eq!(system.calls.count("searchservice", "/reindex"), 0);

    // And once the database is back, without a restart, they answer normally again
    if let Some(gate) = system.gate.as_mut() {
        gate.reconnect().await;
    }
    let recovered = eventually(15, || async {
        system
            .post(&system.user, "/register", json!({"email": unique_email()}))
            .await
            .status
            == 201
    })
    .await;
    assert!(recovered, "userservice did not recover");
    let update = system
        .put(&system.product, "/products/1", json!({"stock": 3}))
        .await;
    assert_eq!(update.status, 200, "{:?}", update.body);
}
