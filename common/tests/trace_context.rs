//! Trace context without an exporter: what a caller's `traceparent` becomes on the way downstream.
//!
//! No exporter is configured in this process, so no span is recorded; what is left of tracing is the
//! ids, and they must still join one trace across services. Two real apps served by `common::serve`
//! over real HTTP: the entry app answers `POST /call` by calling the callee through a [`Downstream`],
//! and the callee answers with the `traceparent` it was sent.

use std::time::Duration;

use axum::{http::HeaderMap, routing::post};
use common::{
    downstream::Timeouts,
    limits::Limits,
    serve::{app, serve},
    Downstream, Json,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Serves `routes` with everything `common::serve::app` adds (telemetry included) on a free port.
async fn start(routes: OpenApiRouter) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(serve(
        listener,
        app(routes),
        Limits::default(),
        std::future::pending(),
    ));
    url
}

/// The `traceparent` the callee received when the entry app was called with `incoming`.
async fn traceparent_downstream(incoming: Option<&str>) -> String {
    let callee = start(OpenApiRouter::new().route(
        "/echo",
        post(|headers: HeaderMap| async move {
            let traceparent = headers
                .get("traceparent")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            Json(json!({ "traceparent": traceparent }))
        }),
    ))
    .await;
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_secs(5),
    };
    let downstream = Downstream::new(
        "callee",
        callee.parse().expect("the callee's URL"),
        timeouts.client(),
        timeouts,
    );
    let entry = start(OpenApiRouter::new().route(
        "/call",
        post(move || async move {
            let body = downstream
                .post_expecting_success("/echo", &json!({}))
                .await
                .expect("the callee answers");
            Json(body)
        }),
    ))
    .await;
    let mut request = reqwest::Client::new().post(format!("{entry}/call"));
    if let Some(traceparent) = incoming {
        request = request.header("traceparent", traceparent);
    }
    let answer: Value = request
        .send()
        .await
        .expect("the entry app answers")
        .json()
        .await
        .expect("a JSON answer");
    answer["traceparent"]
        .as_str()
        .expect("the callee was sent a traceparent")
        .to_owned()
}

/// `version-trace_id-span_id-flags` of a `traceparent`.
fn fields(traceparent: &str) -> [&str; 4] {
    let parts: Vec<&str> = traceparent.split('-').collect();
    parts
        .try_into()
        .unwrap_or_else(|parts| panic!("not a traceparent: {parts:?}"))
}

fn is_id(hex: &str, len: usize) -> bool {
    hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()) && hex.bytes().any(|b| b != b'0')
}

#[tokio::test]
async fn an_unsampled_callers_trace_goes_on_downstream_unsampled_under_a_new_span() {
    let sent = traceparent_downstream(Some(&format!("00-{TRACE_ID}-{SPAN_ID}-00"))).await;

    let [version, trace_id, span_id, flags] = fields(&sent);
    assert_eq!((version, trace_id, flags), ("00", TRACE_ID, "00"), "{sent}");
    assert!(is_id(span_id, 16) && span_id != SPAN_ID, "{sent}");
}

#[tokio::test]
async fn a_sampled_callers_decision_goes_on_downstream() {
    let sent = traceparent_downstream(Some(&format!("00-{TRACE_ID}-{SPAN_ID}-01"))).await;

    let [version, trace_id, span_id, flags] = fields(&sent);
    assert_eq!((version, trace_id, flags), ("00", TRACE_ID, "01"), "{sent}");
    assert!(is_id(span_id, 16) && span_id != SPAN_ID, "{sent}");
}

#[tokio::test]
async fn a_request_without_trace_context_starts_a_trace_that_goes_downstream() {
    let sent = traceparent_downstream(None).await;

    let [version, trace_id, span_id, flags] = fields(&sent);
    assert_eq!((version, flags), ("00", "00"), "{sent}");
    assert!(is_id(trace_id, 32) && is_id(span_id, 16), "{sent}");
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace() {
    let sent = traceparent_downstream(Some("00-not-a-trace-01")).await;

    let [_, trace_id, span_id, flags] = fields(&sent);
    assert_eq!(flags, "00", "{sent}");
    assert!(is_id(trace_id, 32) && is_id(span_id, 16), "{sent}");
}
