//! The product service of S3: an update followed by a sequential fan-out.
//!
//! `PUT /products/{product_id}` commits the change, then tells the search, cache and analytics
//! services about it, one after another, each call awaited before the next starts. Only then does it
//! answer `200`. Its latency is the sum of four round trips: the fan-out S3 measures.
//!
//! An unknown product is `404` and calls nothing. If a fan-out target fails, the update stays
//! committed (the answer says so) and the targets after it are not called.

pub mod reset;

use axum::{extract::State, routing::put, Router};
use common::{
    catalog::catalog,
    db::{self, DbSettings},
    downstream::Timeouts,
    product_event::ProductEvent,
    serve::{self, StartupError},
    ApiError, Downstream, Json, Path,
};
use serde::{Deserialize, Serialize};
use sqlx::{migrate::Migrator, PgPool};

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

pub async fn from_env() -> Result<Router, StartupError> {
    let timeouts = Timeouts::from_env()?;
    let client = timeouts.client();
    let fan_out = FanOut {
        search: Downstream::from_env("searchservice", "SEARCH_SERVICE_URL", &client, timeouts)?,
        cache: Downstream::from_env("cacheservice", "CACHE_SERVICE_URL", &client, timeouts)?,
        analytics: Downstream::from_env("analyticsservice", "ANALYTICS_SERVICE_URL", &client, timeouts)?,
    };
    let db = db::connect(&DbSettings::from_env()?, SCHEMA, &MIGRATOR).await?;
    seed(&db).await?;
    Ok(app(db, fan_out))
}

/// Inserts the seed catalogue's products that are not there yet.
pub async fn seed(db: &PgPool) -> Result<(), sqlx::Error> {
    let (ids, (names, stocks)): (Vec<i32>, (Vec<String>, Vec<i32>)) = catalog()
        .into_iter()
        .map(|item| (item.id, (item.name, item.stock)))
        .unzip();
    sqlx::query(
        "INSERT INTO products (id, name, stock)
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::int[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(names)
    .bind(stocks)
    .execute(db)
    .await
    .map(drop)
}

pub fn app(db: PgPool, fan_out: FanOut) -> Router {
    let state = AppState { db, fan_out };
    serve::app(
        Router::new()
            .route("/products/{product_id}", put(update_product))
            .with_state(state),
    )
}

#[derive(Clone)]
struct AppState {
    db: PgPool,
    fan_out: FanOut,
}

/// The fields to change; at least one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductChanges {
    name: Option<String>,
    stock: Option<i32>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Product {
    id: i32,
    name: String,
    stock: i32,
}

async fn update_product(
    State(app): State<AppState>,
    Path(product_id): Path<i32>,
    Json(changes): Json<ProductChanges>,
) -> Result<Json<Product>, ApiError> {
    changes.validate()?;
    let product = sqlx::query_as::<_, Product>(
        "UPDATE products SET name = COALESCE($2, name), stock = COALESCE($3, stock)
         WHERE id = $1
         RETURNING id, name, stock",
    )
    .bind(product_id)
    .bind(changes.name.as_deref().map(str::trim))
    .bind(changes.stock)
    .fetch_optional(&app.db)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("product {product_id} does not exist")))?;

    let event = ProductEvent { product_id };
    for (target, path) in app.fan_out.calls() {
        if let Err(err) = target.post_expecting_success(path, &event).await {
            let detail = format!("product {product_id} was updated, but the fan-out stopped: {err}");
            return Err(ApiError::from(err)
                .with("detail", detail)
                .with("product", &product));
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
