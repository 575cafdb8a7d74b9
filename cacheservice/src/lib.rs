//! The cache service of S3: invalidating a product's cache entry is acknowledged at once.
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
    serve::app(openapi::router("cacheservice").routes(routes!(invalidate_cache)))
}

/// S3, fan-out: invalidating a product's cache entry, acknowledged at once.
#[utoipa::path(post, path = "/invalidate_cache", request_body = ProductEvent, responses(
    (status = 200, description = "Acknowledged", body = Acknowledged),
    BadJson,
))]
async fn invalidate_cache(event: Json<ProductEvent>) -> Json<Acknowledged> {
    product_event::acknowledge(event).await
}
