//! What `common::serve` puts around every service's routes, over real HTTP: the panic guard, the
//! body size limit with the connection limits off, the request metrics, and the client's rule that
//! a call is one request (no redirect followed).
//!
//! These layers go on in one `Router::layer` call and the body deadline wraps the whole router
//! (docs/performance.md, round 4); each test pins one behaviour that arrangement must keep.

use std::time::Duration;

use axum::{
    http::{header::LOCATION, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use common::{
    downstream::Timeouts,
    limits::{Limits, BODY_LIMIT_BYTES},
    serve::{app, serve},
    Json,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

/// Serves `routes` with everything `common::serve::app` adds, within `limits`, on a free port.
async fn spawn_app(routes: OpenApiRouter, limits: Limits) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(serve(listener, app(routes), limits, std::future::pending()));
    url
}

fn client() -> reqwest::Client {
    Timeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_secs(5),
    }
    .client()
}

/// `GET url` with the services' client.
async fn answer_to_get(url: String) -> reqwest::Response {
    client().get(url).send().await.expect("an answer")
}

/// `POST url` with `body` as JSON, with the services' client.
async fn answer_to_post(url: String, body: Value) -> reqwest::Response {
    client().post(url).json(&body).send().await.expect("an answer")
}

async fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(body)
}

#[tokio::test]
async fn a_panicking_handler_is_answered_500_with_a_json_detail_and_the_service_goes_on() {
    // Given a service with a handler that panics
    let routes = OpenApiRouter::new().route(
        "/panic",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("a bug in a handler");
            }
            "unreachable"
        }),
    );
    let url = spawn_app(routes, Limits::default()).await;

    // When it is called
    let answer = answer_to_get(format!("{url}/panic")).await;

    // Then the answer is a JSON 500, and the service still answers the next request
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = answer.json().await.expect("a JSON body");
    assert_eq!(body, json!({"detail": "internal error"}));
    let health = answer_to_get(format!("{url}/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_the_limits_off_a_body_over_the_size_limit_is_still_413() {
    // Given a service with its connection limits off (no body deadline reads the body first)
    let url = spawn_app(OpenApiRouter::new().route("/echo", post(echo)), Limits::off()).await;
    let over = format!("{{\"padding\": \"{}\"}}", "x".repeat(BODY_LIMIT_BYTES));

    // When a JSON body over the size limit is posted
    let answer = client()
        .post(format!("{url}/echo"))
        .header("content-type", "application/json")
        .body(over)
        .send()
        .await
        .expect("an answer");

    // Then it is refused with 413, and a body within the limit is still echoed
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let within = answer_to_post(format!("{url}/echo"), json!({"padding": "x"})).await;
    assert_eq!(within.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_is_counted_under_its_route_in_the_metrics() {
    // Given a service with metrics on (the default)
    let url = spawn_app(OpenApiRouter::new().route("/echo", post(echo)), Limits::default()).await;

    // When a route is called twice
    for _ in 0..2 {
        let answer = answer_to_post(format!("{url}/echo"), json!({"n": 1})).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }

    // Then /metrics counts both under the route's template
    let metrics = answer_to_get(format!("{url}/metrics"))
        .await
        .text()
        .await
        .expect("a text body");
    let count = metrics
        .lines()
        .find(|line| {
            line.starts_with("http_server_request_duration_seconds_count")
                && line.contains("route=\"/echo\"")
                && line.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no count for /echo in:\n{metrics}"));
    assert!(count.ends_with(" 2"), "{count}");
}

#[tokio::test]
async fn a_call_answered_with_a_redirect_gets_the_redirect_not_its_target() {
    // Given a service whose route answers 307 to another route
    let routes = OpenApiRouter::new()
        .route(
            "/moved",
            get(|| async { (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, "/target")]).into_response() }),
        )
        .route("/target", get(|| async { "followed" }));
    let url = spawn_app(routes, Limits::default()).await;

    // When the services' client calls it
    let answer = answer_to_get(format!("{url}/moved")).await;

    // Then the caller gets the callee's own answer, the redirect
    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        answer
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok()),
        Some("/target")
    );
}
