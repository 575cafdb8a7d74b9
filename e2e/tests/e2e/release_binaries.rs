//! The release binaries, run the way a user runs them: the whole system through `stack up`, and a
//! service stopped with SIGTERM while it is answering.

use std::{process::Stdio, time::Duration};

use e2e::{binaries::release_binary, TestDatabase};
use serde_json::{json, Value};
use stack_system::process::terminate;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

async fn post(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    match client.post(url).json(&body).send().await {
        Ok(response) => (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        ),
        Err(err) => panic!("POST {url}: {err}"),
    }
}

#[tokio::test]
async fn stack_up_runs_the_compose_wiring_as_release_binaries_and_stops_cleanly() {
    // Given the system started by `stack up`, on a fresh database
    let database = TestDatabase::create().await;
    let mut stack = Command::new(release_binary("stack"))
        .args(["up", "--no-build"])
        .env("DATABASE_URL", database.url())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("stack starts");
    let mut lines = BufReader::new(stack.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "stack up never said ready");

    // When each scenario is called at its published port
    let client = reqwest::Client::new();
    let email = format!("stack-{}@example.org", uuid::Uuid::new_v4().simple());
    let report = post(&client, "http://127.0.0.1:8004/generate_report", json!({}));
    let register = post(&client, "http://127.0.0.1:8001/register", json!({"email": email}));
    let payment = post(&client, "http://127.0.0.1:8002/process_payment", json!({}));
    let order = post(
        &client,
        "http://127.0.0.1:8005/create_order",
        json!({"product_id": 1, "quantity": 1}),
    );
    let click = post(
        &client,
        "http://127.0.0.1:8006/track_click",
        json!({"user_id": 1, "page": "home"}),
    );
    let update = async {
        match client
            .put("http://127.0.0.1:8003/products/1")
            .json(&json!({"stock": 9}))
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(err) => panic!("PUT /products/1: {err}"),
        }
    };
    let (report, register, payment, order, click, update) =
        tokio::join!(report, register, payment, order, click, update);

    // Then every one answers as the brief says, through compose's wiring
    assert_eq!(register.0, 201, "{register:?}");
    assert_eq!(payment.0, 200, "{payment:?}");
    assert_eq!(update, 200);
    assert_eq!(report.0, 200, "{report:?}");
    assert_eq!(
        (order.0, &order.1["status"]),
        (400, &json!("failed")),
        "{order:?}"
    );
    assert_eq!(click, (200, json!({"status": "tracked"})));

    // And SIGTERM stops everything cleanly
    terminate(&stack);
    let status = tokio::time::timeout(Duration::from_secs(30), stack.wait()).await;
    assert!(
        matches!(status, Ok(Ok(status)) if status.success()),
        "stack exited with {status:?}"
    );
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    // Given the email service binary, answering a welcome that takes 500 ms
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address").port()
    };
    let mut service = Command::new(release_binary("emailservice"))
        .env("PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("emailservice starts");
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/health");
    assert!(
        crate::helpers::eventually(10, || async { client.get(&health).send().await.is_ok() }).await,
        "emailservice never answered"
    );
    let url = format!("http://127.0.0.1:{port}/send_welcome_email");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { post(&client, &url, json!({"email": "a@b.example"})).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;

    // When it is sent SIGTERM
    terminate(&service);

    // Then the request completes, and the process exits 0
    let reply = in_flight.await.expect("the request task");
    assert_eq!(reply, (200, json!({"message": "Email sent"})));
    let status = tokio::time::timeout(Duration::from_secs(5), service.wait()).await;
    assert!(
        matches!(status, Ok(Ok(status)) if status.success()),
        "exited with {status:?}"
    );
}
