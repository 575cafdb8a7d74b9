//! The email service of S1: sending a welcome email takes half a second.
//!
//! The user service waits for this answer before it answers its own client, which is the coupling S1
//! measures: a task the user does not need to wait for still sits in the path of their request.

use std::time::Duration;

use axum::{routing::post, Router};
use common::{serve, serve::StartupError, Json};
use serde::Deserialize;
use serde_json::{json, Value};

/// The brief's `time.sleep(0.5)`: the answer waits, the server does not.
pub const SEND_DELAY: Duration = Duration::from_millis(500);

pub async fn from_env() -> Result<Router, StartupError> {
    Ok(app())
}

pub fn app() -> Router {
    serve::app(Router::new().route("/send_welcome_email", post(send_welcome_email)))
}

#[derive(Deserialize)]
struct WelcomeEmail {
    email: String,
}

async fn send_welcome_email(Json(message): Json<WelcomeEmail>) -> Json<Value> {
    tokio::time::sleep(SEND_DELAY).await;
    tracing::debug!(email = %message.email, "welcome email sent");
    Json(json!({"message": "Email sent"}))
}
