//! The search service of S3: reindexing a product is acknowledged at once.
//!
//! It is the brief's mock: it does no work, so the time the product service spends in its fan-out is
//! the cost of the calls themselves, made one after another.

use axum::Router;
use common::{
    openapi::{self, BadJson},
    product_event::{self, Acknowledged, ProductEvent},
    serve::{self, StartupError},
    Json,
};
use utoipa_axum::routes;

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(openapi::router("searchservice").routes(routes!(reindex)))
}

/// S3, fan-out: reindexing a product, acknowledged at once.
#[utoipa::path(post, path = "/reindex", request_body = ProductEvent, responses(
    (status = 200, description = "Acknowledged", body = Acknowledged),
    BadJson,
))]
async fn reindex(event: Json<ProductEvent>) -> Json<Acknowledged> {
    product_event::acknowledge(event).await
}
