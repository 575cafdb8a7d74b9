//! What every service of the synchronous baseline does the same way.
//!
//! A service's own crate holds only its routes, its state and its handlers; everything it shares with
//! the nine others lives here, once: reading its settings from the environment ([`config`]), its
//! PostgreSQL pool and migrations ([`db`]), the pooled HTTP client it calls other services with
//! ([`downstream`]), the JSON error contract ([`error`], [`extract`]), serving with `/health` and a
//! graceful shutdown ([`serve`]) within limits on slow clients and open connections ([`limits`]),
//! metrics, traces and logs ([`telemetry`]), its OpenAPI document and docs ([`openapi`]), and the
//! seed catalogue that the product and inventory services agree on ([`catalog`]).

pub mod catalog;
pub mod config;
pub mod db;
pub mod downstream;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod proc_stat;
pub mod product_event;
pub mod serve;
pub mod telemetry;
pub mod validate;

pub use downstream::{Downstream, DownstreamError};
pub use error::{ApiError, ErrorBody, Failure};
pub use extract::{Json, OptionalJson, Path};
