//! S3's fan-out message: "product N changed", sent by the product service to the search, cache and
//! analytics services, one after another.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Json;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": 1}))]
pub struct ProductEvent {
    pub product_id: i32,
}

/// The answer of each fan-out target.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Acknowledged {
    pub status: &'static str,
}

/// What each fan-out target does with the event: nothing, at once (the brief's mock services).
pub async fn acknowledge(Json(event): Json<ProductEvent>) -> Json<Acknowledged> {
    tracing::debug!(product_id = event.product_id, "product event acknowledged");
    Json(Acknowledged { status: "ok" })
}
