//! The search service of S3: reindexing a product is acknowledged at once.
//!
//! It is the brief's mock: it does no work, so the time the product service spends in its fan-out is
//! the cost of the calls themselves, made one after another.

use axum::{routing::post, Router};
use common::{product_event, serve, serve::StartupError};

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(Router::new().route("/reindex", post(product_event::acknowledge)))
}
