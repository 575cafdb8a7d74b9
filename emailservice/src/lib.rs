//! The email service of S1: sending a welcome email takes half a second.
//!
//! The user service waits for this answer before it answers its own client, which is the coupling S1
//! measures: a task the user does not need to wait for still sits in the path of their request.

use std::time::Duration;

use axum::Router;
use common::{
    openapi::{self, BadJson},
    serve::{self, StartupError},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

/// The brief's `time.sleep(0.5)`: the answer waits, the server does not.
pub const SEND_DELAY: Duration = Duration::from_millis(500);

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(openapi::router("emailservice").routes(routes!(send_welcome_email)))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.org"}))]
struct WelcomeEmail {
    email: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"message": "Email sent"}))]
struct EmailSent {
    message: &'static str,
}

/// S1: sends the welcome email, which takes 500 ms.
#[utoipa::path(post, path = "/send_welcome_email", request_body = WelcomeEmail, responses(
    (status = 200, description = "Sent, after 500 ms", body = EmailSent),
    BadJson,
))]
async fn send_welcome_email(Json(message): Json<WelcomeEmail>) -> Json<EmailSent> {
    tokio::time::sleep(SEND_DELAY).await;
    tracing::debug!(email = %message.email, "welcome email sent");
    Json(EmailSent {
        message: "Email sent",
    })
}
