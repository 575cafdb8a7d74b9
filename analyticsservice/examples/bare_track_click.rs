//! The floor S6 is measured against: `POST /track_click` on bare axum, nothing of `common` but
//! its allocator.
//!
//! The same route, body and answer as the analytics service, on the same single-threaded runtime
//! with `TCP_NODELAY`, served by `axum::serve`: no metrics, traces, logs, connection bound, body
//! deadline, panic guard or OpenAPI. What the service costs per request above this is what those
//! features cost (docs/performance.md, "Round 4"). `k6-tests/cost-per-request.py` runs it in
//! the analytics service's place:
//!
//!   cargo build --release --example bare_track_click
//!   mkdir /tmp/bare && ln -s "$PWD"/target/release/*service /tmp/bare/
//!   ln -sf "$PWD"/target/release/examples/bare_track_click /tmp/bare/analyticsservice

// Linked for its `#[global_allocator]`: the services' mimalloc, so the allocator is not a difference.
extern crate common;

use axum::{routing::post, Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

// Parsed as the service parses it, and not used.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Click {
    user_id: i64,
    page: String,
}

#[derive(Serialize)]
struct Tracked {
    status: &'static str,
}

async fn track_click(Json(_click): Json<Click>) -> Json<Tracked> {
    Json(Tracked { status: "tracked" })
}

async fn health() -> Json<Tracked> {
    Json(Tracked { status: "ok" })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(8006);
    let listener = TcpListener::bind(("0.0.0.0", port)).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new()
        .route("/track_click", post(track_click))
        .route("/health", axum::routing::get(health));
    axum::serve(listener, app).await
}
