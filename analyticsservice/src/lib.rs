//! The analytics service: the last fan-out target of S3 (`/log_update`) and the ingestion endpoint of
//! S6 (`/track_click`).
//!
//! `/track_click` does the least work an honest endpoint can: it parses and checks the click, and
//! answers. What S6 measures is then the request–response round trip itself at high throughput.

use axum::{routing::post, Router};
use common::{product_event, serve, serve::StartupError, Json};
use serde::{Deserialize, Serialize};

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(
        Router::new()
            .route("/log_update", post(product_event::acknowledge))
            .route("/track_click", post(track_click)),
    )
}

#[derive(Deserialize)]
struct Click {
    user_id: i64,
    page: String,
}

#[derive(Serialize)]
struct Tracked {
    status: &'static str,
}

async fn track_click(Json(click): Json<Click>) -> Json<Tracked> {
    tracing::trace!(user_id = click.user_id, page = %click.page, "click tracked");
    Json(Tracked { status: "tracked" })
}
