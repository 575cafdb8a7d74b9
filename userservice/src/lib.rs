//! The user service of S1: registration that waits for a welcome email.
//!
//! `POST /register` saves the user, then calls the email service and waits for it (half a second)
//! before answering `201`. The welcome is not needed to register, yet it sits in the path of every
//! registration: that is the coupling S1 measures.
//!
//! A failed or timed-out welcome answers `502`/`504` naming `emailservice` and keeps the user, marked
//! as not yet welcomed; registering the same email again completes the welcome and answers `201`.
//! Only a user who has been welcomed registers again as `409`.

pub mod users;

use std::time::Duration;

use axum::{extract::State, http::StatusCode, Router};
use common::db::DbPool;
use common::{
    db::{self, DbSettings},
    downstream::Timeouts,
    openapi::{self, BadJson, DatabaseDown},
    serve::{self, StartupError},
    ApiError, Downstream, ErrorBody, Failure, Json,
};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::users::User;

pub static MIGRATOR: Migrator = sqlx::migrate!();
pub const SCHEMA: &str = "userservice";

/// What the service is started with: `main` reads it from the environment, the tests make their own.
pub struct Settings {
    pub db: DbSettings,
    pub email: Downstream,
    pub timeouts: Timeouts,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        let timeouts = Timeouts::from_env()?;
        Ok(Self {
            db: DbSettings::from_env()?,
            email: Downstream::from_env("emailservice", "EMAIL_SERVICE_URL", &timeouts.client(), timeouts)?,
            timeouts,
        })
    }
}

pub async fn from_env() -> Result<Router, StartupError> {
    build(Settings::from_env()?).await
}

/// Connects to the database and returns the app.
pub async fn build(settings: Settings) -> Result<Router, StartupError> {
    let db = db::connect(&settings.db, SCHEMA, &MIGRATOR).await?;
    let state = AppState {
        db,
        email: settings.email,
        // A welcome in progress for longer than the email call may take has been abandoned.
        welcome_lease: settings.timeouts.total + Duration::from_secs(5),
    };
    Ok(serve::app(
        openapi::router("userservice")
            .routes(routes!(register))
            .with_state(state),
    ))
}

#[derive(Clone)]
struct AppState {
    db: DbPool,
    email: Downstream,
    welcome_lease: Duration,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.org"}))]
struct Registration {
    /// `local@domain.tld`, at most 254 characters; trimmed and lower-cased.
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// A welcome that failed: the user is saved, not yet welcomed, and the next registration of the same
/// email sends the welcome again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WelcomeFailed {
    detail: String,
    service: String,
    user_id: i32,
    welcomed: bool,
}

/// S1: saves the user, waits for the welcome email (500 ms), then answers `201`.
#[utoipa::path(post, path = "/register", request_body = Registration, responses(
    (status = 201, description = "Registered and welcomed", body = User),
    (status = 409, description = "The email belongs to a user already welcomed", body = ErrorBody,
        example = json!({"detail": "ada@example.org is already registered"})),
    BadJson,
    (status = 502, description = "The email service failed; the user is saved, not yet welcomed",
        body = WelcomeFailed, example = json!({
            "detail": "emailservice could not be reached: connection refused",
            "service": "emailservice", "user_id": 1, "welcomed": false})),
    (status = 504, description = "The email service did not answer in time; the user is saved, not yet welcomed",
        body = WelcomeFailed, example = json!({
            "detail": "emailservice did not answer within 10s",
            "service": "emailservice", "user_id": 1, "welcomed": false})),
    DatabaseDown,
))]
async fn register(
    State(app): State<AppState>,
    Json(registration): Json<Registration>,
) -> Result<(StatusCode, Json<User>), Failure<WelcomeFailed>> {
    let email = normalize_email(&registration.email)?;
    let user = users::claim_welcome(&app.db, &email, app.welcome_lease)
        .await?
        .ok_or_else(|| ApiError::conflict(format!("{email} is already registered")))?;

    let welcome = Welcome { email: &user.email };
    if let Err(err) = app
        .email
        .post_expecting_success("/send_welcome_email", &welcome)
        .await
    {
        users::release_welcome(&app.db, user.id).await;
        return Err(Failure::Detailed {
            status: err.status(),
            body: WelcomeFailed {
                detail: err.to_string(),
                service: err.service().to_owned(),
                user_id: user.id,
                welcomed: false,
            },
        });
    }

    users::mark_welcomed(&app.db, user.id).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The email service's `/send_welcome_email` body.
#[derive(Serialize)]
struct Welcome<'a> {
    email: &'a str,
}

/// The address, trimmed and lower-cased so that one mailbox is one user, if it is plausible:
/// `local@domain.tld`, no spaces, at most 254 characters (RFC 5321's limit).
fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let plausible = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && domain.split('.').all(|label| !label.is_empty())
            }
            None => false,
        };
    if plausible {
        Ok(email)
    } else {
        Err(ApiError::invalid(format!(
            "email: {raw:?} is not a valid email address"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  Ada@Example.ORG ").ok().as_deref(),
            Some("ada@example.org")
        );
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for raw in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "ada@example",
            "ada@@example.org",
            "a da@example.org",
            "ada@example..org",
        ] {
            assert!(normalize_email(raw).is_err(), "{raw:?} was accepted");
        }
    }
}
