//! Distributed traces: the release binaries, each its own process exporting OTLP/HTTP to a receiver
//! in the test that decodes the real protocol messages. One scenario request must arrive as one
//! trace, with a span from every service it went through, each callee's span a child of its
//! caller's call.

use std::{
    collections::BTreeSet,
    process::Stdio,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode},
    routing::post,
    Router,
};
use e2e::{binaries::release_binary, TestDatabase};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
    trace::v1::span::SpanKind,
};
use prost::Message;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::eventually;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// An OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) on a free port.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ReceivedSpan>>>);

impl Receiver {
    async fn start(&self) -> String {
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.0.lock().map(|spans| spans.clone()).unwrap_or_default()
    }

    /// The spans of the one trace whose server span is `entry` (e.g. `PUT /products/{product_id}`).
    fn trace_of(&self, entry: &str) -> Vec<ReceivedSpan> {
        let spans = self.spans();
        let Some(root) = spans.iter().find(|span| span.name == entry) else {
            return Vec::new();
        };
        spans
            .iter()
            .filter(|span| span.trace_id == root.trace_id)
            .cloned()
            .collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            b"not an ExportTraceServiceRequest".to_vec(),
        );
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|attribute| attribute.key == "service.name")
            .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            received.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                kind: span.kind,
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
            });
        }
    }
    if let Ok(mut spans) = receiver.0.lock() {
        spans.extend(received);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// A service binary on a free port, exporting its spans to `otlp`.
struct Binary {
    url: String,
    _child: Child,
}

async fn start(name: &str, otlp: &str, env: &[(&str, String)]) -> Binary {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(release_binary(name))
        .env("PORT", port.to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        // Export every 100 ms rather than every 5 s, so the test need not wait.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_SDK_DISABLED")
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("{name} starts: {err}"));
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let health = format!("{url}/health");
    assert!(
        eventually(30, || async { client.get(&health).send().await.is_ok() }).await,
        "{name} never answered"
    );
    Binary { url, _child: child }
}

/// Every callee's server span is the child of a client span of its caller, all in one trace.
fn assert_connected(trace: &[ReceivedSpan]) {
    let trace_ids: BTreeSet<&Vec<u8>> = trace.iter().map(|span| &span.trace_id).collect();
    assert_eq!(trace_ids.len(), 1);
    let servers: Vec<&ReceivedSpan> = trace
        .iter()
        .filter(|span| span.kind == SpanKind::Server as i32)
        .collect();
    let roots = servers
        .iter()
        .filter(|span| span.parent_span_id.is_empty())
        .count();
    assert_eq!(roots, 1, "one server span starts the trace: {trace:#?}");
    for server in servers.iter().filter(|span| !span.parent_span_id.is_empty()) {
        let parent = trace.iter().find(|span| span.span_id == server.parent_span_id);
        assert!(
            parent.is_some_and(
                |parent| parent.kind == SpanKind::Client as i32 && parent.service != server.service
            ),
            "{} {} is not the child of a call from another service: {trace:#?}",
            server.service,
            server.name
        );
    }
}

fn services_of(trace: &[ReceivedSpan]) -> BTreeSet<&str> {
    trace.iter().map(|span| span.service.as_str()).collect()
}

#[tokio::test]
async fn one_product_update_is_one_trace_across_product_search_cache_and_analytics() {
    // Given the four services of S3 as processes, exporting to the receiver
    let receiver = Receiver::default();
    let otlp = receiver.start().await;
    let database = TestDatabase::create().await;
    let search = start("searchservice", &otlp, &[]).await;
    let cache = start("cacheservice", &otlp, &[]).await;
    let analytics = start("analyticsservice", &otlp, &[]).await;
    let product = start(
        "productservice",
        &otlp,
        &[
            ("DATABASE_URL", database.url()),
            ("SEARCH_SERVICE_URL", search.url.clone()),
            ("CACHE_SERVICE_URL", cache.url.clone()),
            ("ANALYTICS_SERVICE_URL", analytics.url.clone()),
        ],
    )
    .await;

    // When one product is updated
    let reply = reqwest::Client::new()
        .put(format!("{}/products/1", product.url))
        .json(&json!({"stock": 3}))
        .send()
        .await
        .expect("the update is answered");
    assert_eq!(reply.status(), 200);

    // Then one trace arrives with spans from all four services, each call a child of the product
    // service's call to it
    let expected = BTreeSet::from([
        "analyticsservice",
        "cacheservice",
        "productservice",
        "searchservice",
    ]);
    let arrived = eventually(15, || async {
        services_of(&receiver.trace_of("PUT /products/{product_id}")) == expected
            && receiver.trace_of("PUT /products/{product_id}").len() >= 7
    })
    .await;
    let trace = receiver.trace_of("PUT /products/{product_id}");
    assert!(arrived, "the trace did not arrive whole: {trace:#?}");
    assert_connected(&trace);
}

#[tokio::test]
async fn one_order_is_one_trace_across_order_inventory_and_payment() {
    // Given the three services of S5 as processes, exporting to the receiver
    let receiver = Receiver::default();
    let otlp = receiver.start().await;
    let database = TestDatabase::create().await;
    let inventory = start("inventoryservice", &otlp, &[("DATABASE_URL", database.url())]).await;
    let payment = start("paymentservice", &otlp, &[]).await;
    let order = start(
        "orderservice",
        &otlp,
        &[
            ("DATABASE_URL", database.url()),
            ("INVENTORY_SERVICE_URL", inventory.url.clone()),
            ("PAYMENT_SERVICE_URL", payment.url.clone()),
        ],
    )
    .await;

    // When one order is placed (and declined, as in S5)
    let reply = reqwest::Client::new()
        .post(format!("{}/create_order", order.url))
        .json(&json!({"product_id": 1, "quantity": 1}))
        .send()
        .await
        .expect("the order is answered");
    assert_eq!(reply.status(), 400);

    // Then one trace arrives with spans from the three services: reserve, pay, compensate
    let expected = BTreeSet::from(["inventoryservice", "orderservice", "paymentservice"]);
    let arrived = eventually(15, || async {
        services_of(&receiver.trace_of("POST /create_order")) == expected
            && receiver.trace_of("POST /create_order").len() >= 7
    })
    .await;
    let trace = receiver.trace_of("POST /create_order");
    assert!(arrived, "the trace did not arrive whole: {trace:#?}");
    assert_connected(&trace);
}
