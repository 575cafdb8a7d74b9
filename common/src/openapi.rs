//! Each service's OpenAPI 3.1 document, and the interactive documentation that shows it.
//!
//! A service lists its routes with `utoipa_axum::routes!` over handlers annotated with
//! `#[utoipa::path]`, so the document is derived from the same handlers and request and response
//! types that serve the requests and cannot drift from them. [`router`] starts a service's routes with
//! the document's title and the error contract; [`docs`] serves the finished document at
//! `GET /openapi.json` and Swagger UI at `GET /docs`. Swagger UI's files are compiled into the binary
//! from the `utoipa-swagger-ui-vendored` crate, so the page works offline and loads nothing from a CDN.
//!
//! The response sets below ([`BadJson`], [`BodyRefused`], [`DatabaseDown`]) are the statuses that the
//! shared plumbing answers on a service's behalf, so a route lists each in one word. Their bodies are
//! [`ErrorBody`], the type [`crate::ApiError`] sends; a route's own error bodies are declared beside
//! its handler, as the types its [`crate::Failure::Detailed`] sends.

use std::marker::PhantomData;

use axum::Router;
use utoipa::{
    openapi::{schema::AnyOfBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Schema},
    IntoResponses, PartialSchema, ToSchema,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ErrorBody;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// Where Swagger UI is served (`/docs` redirects to `/docs/`, whose relative links find its files).
pub const DOCS_PATH: &str = "/docs";

const CONTRACT: &str = "Every error is JSON, `{\"detail\": \"...\"}`, with the status that names its \
cause; where a route says more (`available`, `service`, `order_id`, `status`), its response names the \
body that carries those fields. A path that does not exist answers \
`404` and a method the path does not take answers `405`, both with the same JSON error.";

/// A service's routes, to be documented under `title` (the service's name).
pub fn router<S>(title: &str) -> OpenApiRouter<S>
where
    S: Send + Sync + Clone + 'static,
{
    let info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(CONTRACT))
        .build();
    OpenApiRouter::with_openapi(OpenApiBuilder::new().info(info).build())
}

/// `GET /openapi.json` and `GET /docs` for the document `api`.
pub fn docs(api: OpenApi) -> Router {
    SwaggerUi::new(DOCS_PATH).url(DOCUMENT_PATH, api).into()
}

/// What a route with a JSON body answers to a body it cannot use; nothing has been done then.
#[derive(IntoResponses)]
pub enum BadJson {
    /// The body is not well-formed JSON.
    #[response(status = 400, example = json!({"detail": "Failed to parse the request body as JSON: expected value at line 1 column 1"}))]
    Malformed(#[to_schema] ErrorBody),
    /// The body is larger than 64 KiB.
    #[response(status = 413, example = json!({"detail": "Failed to buffer the request body: length limit exceeded"}))]
    TooLarge(#[to_schema] ErrorBody),
    /// The body is not declared as `application/json`.
    #[response(status = 415, example = json!({"detail": "Expected request with `Content-Type: application/json`"}))]
    NotJson(#[to_schema] ErrorBody),
    /// A field is missing, unknown, of the wrong type or out of range.
    #[response(status = 422, example = json!({"detail": "Failed to deserialize the JSON body into the target type: missing field `email`"}))]
    Invalid(#[to_schema] ErrorBody),
}

/// What a route that takes any JSON body, or none, answers to a body it cannot read; a body that is
/// not well-formed JSON is its `400`, which such a route lists itself.
#[derive(IntoResponses)]
pub enum BodyRefused {
    /// The body is larger than 64 KiB.
    #[response(status = 413, example = json!({"detail": "Failed to buffer the request body: length limit exceeded"}))]
    TooLarge(#[to_schema] ErrorBody),
    /// The body is declared as something other than JSON.
    #[response(status = 415, example = json!({"detail": "Expected request with `Content-Type: application/json`"}))]
    NotJson(#[to_schema] ErrorBody),
}

/// What a route that owns tables answers while the database cannot be reached.
#[derive(IntoResponses)]
pub enum DatabaseDown {
    /// The database did not give a connection within `DB_ACQUIRE_TIMEOUT_MS`; nothing was written.
    #[response(status = 503, example = json!({"detail": "the database is unavailable: pool timed out while waiting for an open connection"}))]
    Unavailable(#[to_schema] ErrorBody),
}

/// A body of either shape: for a status with two causes, such as S5's `400`, which is a declined
/// payment or a malformed body. utoipa's macros take it through a type alias
/// (`type DeclinedOrMalformed = Either<Declined, ErrorBody>;`), as they take generic types only
/// through their own derive.
pub struct Either<A, B>(PhantomData<(A, B)>);

impl<A: PartialSchema, B: PartialSchema> PartialSchema for Either<A, B> {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new().item(A::schema()).item(B::schema()).into()
    }
}

impl<A: PartialSchema, B: PartialSchema> ToSchema for Either<A, B> {}
