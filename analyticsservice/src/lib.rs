//! The analytics service: the last fan-out target of S3 (`/log_update`) and the ingestion endpoint of
//! S6 (`/track_click`).
//!
//! `/track_click` does the least work an honest endpoint can: it parses and checks the click, and
//! answers. What S6 measures is then the request–response round trip itself at high throughput.

use axum::Router;
use common::{
    openapi::{self, BadJson},
    product_event::{self, Acknowledged, ProductEvent},
    serve::{self, StartupError},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(
        openapi::router("analyticsservice")
            .routes(routes!(log_update))
            .routes(routes!(track_click)),
    )
}

/// S3, the last fan-out target: logging a product update, acknowledged at once.
#[utoipa::path(post, path = "/log_update", request_body = ProductEvent, responses(
    (status = 200, description = "Acknowledged", body = Acknowledged),
    BadJson,
))]
async fn log_update(event: Json<ProductEvent>) -> Json<Acknowledged> {
    product_event::acknowledge(event).await
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"user_id": 123, "page": "homepage"}))]
struct Click {
    user_id: i64,
    page: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "tracked"}))]
struct Tracked {
    status: &'static str,
}

/// S6: records a click and answers at once.
#[utoipa::path(post, path = "/track_click", request_body = Click, responses(
    (status = 200, description = "Tracked", body = Tracked),
    BadJson,
))]
async fn track_click(Json(click): Json<Click>) -> Json<Tracked> {
    tracing::trace!(user_id = click.user_id, page = %click.page, "click tracked");
    Json(Tracked { status: "tracked" })
}
