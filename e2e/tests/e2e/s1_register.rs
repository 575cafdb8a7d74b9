//! S1: registration waits for the welcome email.

use std::time::Duration;

use common::downstream::Timeouts;
use common::Downstream;
use e2e::{spawn_system, spawn_system_with, Options, RunningService};
use serde_json::json;
use sqlx::Row;

use crate::helpers::{all_at_once, count_rows, unique_email};

#[tokio::test]
async fn register_saves_the_user_and_answers_201_after_the_welcome_email() {
    // Given
    let system = spawn_system().await;
    let email = unique_email();

    // When
    let reply = system
        .post(&system.user, "/register", json!({"email": email}))
        .await;

    // Then
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["email"], email);
    assert!(reply.body["id"].as_i64().is_some_and(|id| id > 0));
    assert!(
        reply.elapsed >= Duration::from_millis(500),
        "took {:?}",
        reply.elapsed
    );
    assert_eq!(
        system.calls.names(),
        ["userservice /register", "emailservice /send_welcome_email"]
    );
    let db = system.tables_of("userservice").await;
    let row = sqlx::query("SELECT email, welcomed_at IS NOT NULL AS welcomed FROM users")
        .fetch_one(&db)
        .await
        .expect("one user");
    assert_eq!(row.get::<String, _>("email"), email);
    assert!(row.get::<bool, _>("welcomed"));
}

#[tokio::test]
async fn the_welcome_call_ends_before_register_answers() {
    let system = spawn_system().await;

    system
        .post(&system.user, "/register", json!({"email": unique_email()}))
        .await;

    let calls = system.calls.calls();
    let register = calls
        .iter()
        .find(|call| call.service == "userservice")
        .expect("register");
    let welcome = calls
        .iter()
        .find(|call| call.service == "emailservice")
        .expect("welcome");
    assert!(welcome.started >= register.started && welcome.finished <= register.finished);
    assert!(welcome.finished - welcome.started >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_welcomed_email_registers_again_as_409() {
    let system = spawn_system().await;
    let email = unique_email();
    system
        .post(&system.user, "/register", json!({"email": email}))
        .await;

    let again = system
        .post(&system.user, "/register", json!({"email": email.to_uppercase()}))
        .await;

    assert_eq!(again.status, 409, "{:?}", again.body);
    assert!(again.body["detail"]
        .as_str()
        .is_some_and(|detail| detail.contains("already registered")));
    assert_eq!(system.calls.count("emailservice", "/send_welcome_email"), 1);
}

#[tokio::test]
async fn with_the_email_service_down_register_answers_502_and_keeps_the_user_unwelcomed() {
    let mut system = spawn_system().await;
    system.email.stop().await;
    let email = unique_email();

    let reply = system
        .post(&system.user, "/register", json!({"email": email}))
        .await;

    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "emailservice");
    assert_eq!(reply.body["welcomed"], false);
    assert!(reply.elapsed < Duration::from_secs(2), "took {:?}", reply.elapsed);
    let db = system.tables_of("userservice").await;
    let welcomed: Option<bool> =
        sqlx::query_scalar("SELECT welcomed_at IS NOT NULL FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db)
            .await
            .expect("users can be read");
    assert_eq!(welcomed, Some(false));
}

#[tokio::test]
async fn once_the_email_service_is_back_the_same_registration_completes_the_welcome() {
    let mut system = spawn_system().await;
    system.email.stop().await;
    let email = unique_email();
    let failed = system
        .post(&system.user, "/register", json!({"email": email}))
        .await;
    assert_eq!(failed.status, 502);

    system.email.restart().await;
    let retried = system
        .post(&system.user, "/register", json!({"email": email}))
        .await;

    assert_eq!(retried.status, 201, "{:?}", retried.body);
    assert_eq!(retried.body["id"], failed.body["user_id"]);
    assert_eq!(count_rows(&system, "userservice", "users").await, 1);
}

#[tokio::test]
async fn an_email_service_slower_than_the_timeout_gives_504_within_the_timeout() {
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        total: Duration::from_millis(200),
    };
    let system = spawn_system_with(Options {
        timeouts,
        ..Options::default()
    })
    .await;

    let reply = system
        .post(&system.user, "/register", json!({"email": unique_email()}))
        .await;

    assert_eq!(reply.status, 504, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "emailservice");
    assert!(
        reply.elapsed < Duration::from_millis(450),
        "took {:?}",
        reply.elapsed
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_user_and_one_welcome() {
    let system = spawn_system().await;
    let email = unique_email();

    let replies = all_at_once(20, |_| {
        system.post(&system.user, "/register", json!({"email": email}))
    })
    .await;

    let created = replies.iter().filter(|reply| reply.status == 201).count();
    let conflicts = replies.iter().filter(|reply| reply.status == 409).count();
    assert_eq!((created, conflicts), (1, 19));
    assert_eq!(count_rows(&system, "userservice", "users").await, 1);
    assert_eq!(system.calls.count("emailservice", "/send_welcome_email"), 1);
}

#[tokio::test]
async fn an_email_service_answering_an_unexpected_status_gives_502_with_that_status() {
    // Given a userservice whose EMAIL_SERVICE_URL points at a real service without that endpoint
    let system = spawn_system().await;
    let timeouts = system.options().timeouts;
    let misdirected = Downstream::new("emailservice", system.search.url(), timeouts.client(), timeouts);
    let settings = userservice::Settings {
        db: system.db_settings(),
        email: misdirected,
        timeouts,
    };
    let app = userservice::build(settings).await.expect("userservice started");
    let user = RunningService::start("userservice", app).await;

    // When a user registers
    let reply = system
        .post(&user, "/register", json!({"email": unique_email()}))
        .await;

    // Then the caller learns which service answered what
    assert_eq!(reply.status, 502, "{:?}", reply.body);
    assert_eq!(reply.body["service"], "emailservice");
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("404")),
        "{:?}",
        reply.body
    );
}
