//! S3's fan-out message: "product N changed", sent by the product service to the search, cache and
//! analytics services, one after another.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::Json;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEvent {
    pub product_id: i32,
}

/// What each fan-out target does with the event: nothing, at once (the brief's mock services).
pub async fn acknowledge(Json(event): Json<ProductEvent>) -> Json<Value> {
    tracing::debug!(product_id = event.product_id, "product event acknowledged");
    Json(json!({"status": "ok"}))
}
