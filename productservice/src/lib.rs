//! The product service of S3: an update followed by a sequential fan-out.
//!
//! `PUT /products/{product_id}` commits the change, then tells the search, cache and analytics
//! services about it, one after another, each call awaited before the next starts. Only then does it
//! answer `200`. Its latency is the sum of four round trips: the fan-out S3 measures.
//!
//! An unknown product is `404` and calls nothing. If a fan-out target fails, the update stays
//! committed (the answer says so) and the targets after it are not called.

pub mod products;

use axum::{extract::State, Router};
use common::db::DbPool;
use common::{
    db::{self, DbSettings},
    downstream::Timeouts,
    openapi::{self, BadJson, DatabaseDown},
    product_event::ProductEvent,
    serve::{self, StartupError},
    ApiError, Downstream, ErrorBody, Failure, Json, Path,
};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::products::Product;

pub static MIGRATOR: Migrator = sqlx::migrate!();
pub const SCHEMA: &str = "productservice";

/// The services told about every change, in the order they are called.
#[derive(Clone)]
pub struct FanOut {
    pub search: Downstream,
    pub cache: Downstream,
    pub analytics: Downstream,
}

impl FanOut {
    fn calls(&self) -> [(&Downstream, &'static str); 3] {
        [
            (&self.search, "/reindex"),
            (&self.cache, "/invalidate_cache"),
            (&self.analytics, "/log_update"),
        ]
    }
}

/// What the service is started with: `main` reads it from the environment, the tests make their own.
pub struct Settings {
    pub db: DbSettings,
    pub fan_out: FanOut,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        let timeouts = Timeouts::from_env()?;
        let client = timeouts.client();
        Ok(Self {
            db: DbSettings::from_env()?,
            fan_out: FanOut {
                search: Downstream::from_env("searchservice", "SEARCH_SERVICE_URL", &client, timeouts)?,
                cache: Downstream::from_env("cacheservice", "CACHE_SERVICE_URL", &client, timeouts)?,
                analytics: Downstream::from_env(
                    "analyticsservice",
                    "ANALYTICS_SERVICE_URL",
                    &client,
                    timeouts,
                )?,
            },
        })
    }
}

pub async fn from_env() -> Result<Router, StartupError> {
    build(Settings::from_env()?).await
}

/// Connects to the database, adds the seed catalogue's missing products and returns the app.
pub async fn build(settings: Settings) -> Result<Router, StartupError> {
    let db = db::connect(&settings.db, SCHEMA, &MIGRATOR).await?;
    products::seed(&db).await?;
    let state = AppState {
        db,
        fan_out: settings.fan_out,
    };
    Ok(serve::app(
        openapi::router("productservice")
            .routes(routes!(update_product))
            .with_state(state),
    ))
}

#[derive(Clone)]
struct AppState {
    db: DbPool,
    fan_out: FanOut,
}

/// The fields to change; at least one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Adaptive Paradigm", "stock": 42}))]
struct ProductChanges {
    /// 1 to 200 characters, trimmed.
    name: Option<String>,
    /// Not negative.
    #[schema(minimum = 0)]
    stock: Option<i32>,
}

/// A fan-out that stopped: the update is committed (`product`), the targets after `service` were
/// not called.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FanOutStopped {
    detail: String,
    service: String,
    product: Product,
}

/// S3: updates the product, then calls the search, cache and analytics services one after another,
/// and answers when all three have.
#[utoipa::path(put, path = "/products/{product_id}",
    params(("product_id" = i32, Path, description = "The product's id", example = 1)),
    request_body = ProductChanges,
    responses(
        (status = 200, description = "Updated, and every fan-out target told", body = Product),
        (status = 404, description = "No such product; nothing was called", body = ErrorBody,
            example = json!({"detail": "product 999 does not exist"})),
        BadJson,
        (status = 502, description = "A fan-out target failed; the update stays committed",
            body = FanOutStopped, example = json!({
                "detail": "product 1 was updated, but the fan-out stopped: cacheservice could not be reached: connection refused",
                "service": "cacheservice",
                "product": {"id": 1, "name": "Adaptive Paradigm", "stock": 42}})),
        (status = 504, description = "A fan-out target did not answer in time; the update stays committed",
            body = FanOutStopped, example = json!({
                "detail": "product 1 was updated, but the fan-out stopped: searchservice did not answer within 10s",
                "service": "searchservice",
                "product": {"id": 1, "name": "Adaptive Paradigm", "stock": 42}})),
        DatabaseDown,
    ))]
async fn update_product(
    State(app): State<AppState>,
    Path(product_id): Path<i32>,
    Json(changes): Json<ProductChanges>,
) -> Result<Json<Product>, Failure<FanOutStopped>> {
    changes.validate()?;
    let name = changes.name.as_deref().map(str::trim);
    let product = products::update(&app.db, product_id, name, changes.stock)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("product {product_id} does not exist")))?;

    let event = ProductEvent { product_id };
    for (target, path) in app.fan_out.calls() {
        if let Err(err) = target.post_expecting_success(path, &event).await {
            return Err(Failure::Detailed {
                status: err.status(),
                body: FanOutStopped {
                    detail: format!("product {product_id} was updated, but the fan-out stopped: {err}"),
                    service: err.service().to_owned(),
                    product,
                },
            });
        }
    }
    Ok(Json(product))
}

impl ProductChanges {
    fn validate(&self) -> Result<(), ApiError> {
        if self.name.is_none() && self.stock.is_none() {
            return Err(ApiError::invalid("the body must set name, stock or both"));
        }
        if let Some(name) = &self.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(ApiError::invalid("name: must be 1 to 200 characters"));
            }
        }
        if self.stock.is_some_and(|stock| stock < 0) {
            return Err(ApiError::invalid("stock: must not be negative"));
        }
        Ok(())
    }
}
