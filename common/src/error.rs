//! The errors handlers return, each answered as a body of a documented type.
//!
//! Every error leaves a service as JSON with the status that names its cause and at least a `detail`
//! for a person to read. Faults of the client are `4xx`; a `5xx` always means the database or another
//! service failed, and says which.
//!
//! The body of an answer is always a value of a Rust type that derives both `Serialize` and
//! utoipa's `ToSchema`, so the OpenAPI document's schema of it is derived from the very type that is
//! sent and the two cannot drift. [`ApiError`] is the plain error: its body is [`ErrorBody`], only
//! `detail`. An error that tells the caller more (how much stock is `available`, the `order_id` and
//! `status` of an order, the user or product already saved before a later step failed) is
//! [`Failure::Detailed`], with a body of the handler's own type that the route's documented
//! responses name. Each body type refuses fields it does not declare (`additionalProperties: false`),
//! so a document whose example or answer carries a field its schema lacks fails the error-schema test
//! (e2e `error_schemas`).

use axum::{
    extract::rejection::{JsonRejection, PathRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;

/// The body of a plain error: what went wrong, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"detail": "Not Found"}))]
pub struct ErrorBody {
    /// What went wrong, for a person to read.
    pub detail: String,
}

/// A plain error: a status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                detail: detail.into(),
            },
        }
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

    /// The status this error answers with, for a handler that answers the same cause with a body
    /// of its own ([`Failure::Detailed`]).
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        answer(self.status, self.body)
    }
}

/// A handler's error: a plain [`ApiError`], or one with a documented body `B` that tells the caller
/// more than `detail` (what was already done, what is left).
#[derive(Debug)]
pub enum Failure<B> {
    Plain(ApiError),
    Detailed { status: StatusCode, body: B },
}

impl<B: Serialize + ToSchema + std::fmt::Debug> IntoResponse for Failure<B> {
    fn into_response(self) -> Response {
        match self {
            Self::Plain(err) => err.into_response(),
            Self::Detailed { status, body } => answer(status, body),
        }
    }
}

/// The one place an error becomes an answer: a body whose type has a schema, logged when it is the
/// service's fault.
fn answer<B: Serialize + ToSchema + std::fmt::Debug>(status: StatusCode, body: B) -> Response {
    if status.is_server_error() {
        tracing::warn!(%status, ?body, "request failed");
    }
    (status, axum::Json(body)).into_response()
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

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    #[tokio::test]
    async fn a_plain_error_answers_only_its_detail() {
        let response = ApiError::conflict("taken").into_response();

        let status = response.status();
        let body = to_bytes(response.into_body(), 1024).await.ok();

        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body.as_deref(), Some(&br#"{"detail":"taken"}"#[..]));
    }
}
