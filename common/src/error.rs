//! The errors handlers return.
//!
//! Every error leaves a service as JSON, `{"detail": "..."}`, with the status that names its cause, plus
//! any fields that help the caller (the failed `service`, the `order_id`, ...). Faults of the client
//! are `4xx`; a `5xx` always means the database or another service failed, and says which.
//!
//! [`ApiError`] is the plain error. A handler that calls other services may also fail part-way, after
//! it committed something: [`Failure::PartWay`] then answers with a body of the handler's own
//! documented type, which says what was already done (the saved user, the committed product, the
//! order's status), so the OpenAPI document and the answer are the same type and cannot drift.

use axum::{
    extract::rejection::{JsonRejection, PathRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::db;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("detail".into(), Value::String(detail.into()));
        Self { status, body }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// `422`: the JSON was well formed but a value is missing, of the wrong type or out of range.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// Adds a field beside `detail`.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.body.insert(key.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, body = ?self.body, "request failed");
        }
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A handler's error: a plain [`ApiError`], or a failure part-way with a documented body `B`.
#[derive(Debug)]
pub enum Failure<B> {
    Plain(ApiError),
    PartWay { status: StatusCode, body: B },
}

impl<B: Serialize + std::fmt::Debug> IntoResponse for Failure<B> {
    fn into_response(self) -> Response {
        match self {
            Self::Plain(err) => err.into_response(),
            Self::PartWay { status, body } => {
                if status.is_server_error() {
                    tracing::warn!(%status, ?body, "request failed part-way");
                }
                (status, axum::Json(body)).into_response()
            }
        }
    }
}

impl<B> From<ApiError> for Failure<B> {
    fn from(err: ApiError) -> Self {
        Self::Plain(err)
    }
}

impl<B> From<sqlx::Error> for Failure<B> {
    fn from(err: sqlx::Error) -> Self {
        Self::Plain(err.into())
    }
}

/// Malformed JSON is `400`, a body that is not JSON `415`, a value of the wrong shape `422`, a body
/// over the limit `413`: axum already tells these apart, and its message says what was wrong.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }
}

/// A path parameter of the wrong type (`/products/abc`) is a value of the wrong type: `422`.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if db::is_unavailable(&err) {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the database is unavailable: {err}"),
            )
        } else {
            tracing::error!(error = %err, "database error");
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal database error")
        }
    }
}
