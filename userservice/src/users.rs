//! The `users` table: each user and where their welcome stands.
//!
//! A welcome is claimed before the email is sent and marked done after it, so two registrations of
//! one email never send two welcomes, and a welcome that failed (or whose process died) is taken over
//! by the next registration of that email once its claim is released or its lease has run out.

use std::time::Duration;

use common::db::DbPool;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": 1, "email": "ada@example.org"}))]
pub struct User {
    pub id: i32,
    pub email: String,
}

/// Saves a new user, or takes over the welcome of a registered user who was never welcomed; `None`
/// when the email belongs to a user already welcomed (or being welcomed right now).
pub async fn claim_welcome(db: &DbPool, email: &str, lease: Duration) -> Result<Option<User>, sqlx::Error> {
    let created = sqlx::query_as::<_, User>(
        "INSERT INTO users (email, welcome_claimed_at) VALUES ($1, now())
         ON CONFLICT (email) DO NOTHING
         RETURNING id, email",
    )
    .bind(email)
    .fetch_optional(db)
    .await?;
    if created.is_some() {
        return Ok(created);
    }
    sqlx::query_as::<_, User>(
        "UPDATE users SET welcome_claimed_at = now()
         WHERE email = $1
           AND welcomed_at IS NULL
           AND (welcome_claimed_at IS NULL
                OR welcome_claimed_at < now() - make_interval(secs => $2))
         RETURNING id, email",
    )
    .bind(email)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await
}

/// Gives the welcome back to the next registration. Should this fail too, the claim's lease runs out.
pub async fn release_welcome(db: &DbPool, user_id: i32) {
    let released = sqlx::query("UPDATE users SET welcome_claimed_at = NULL WHERE id = $1")
        .bind(user_id)
        .execute(db)
        .await;
    if let Err(err) = released {
        tracing::warn!(user_id, error = %err, "could not release the welcome claim");
    }
}

pub async fn mark_welcomed(db: &DbPool, user_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET welcomed_at = now(), welcome_claimed_at = NULL WHERE id = $1")
        .bind(user_id)
        .execute(db)
        .await
        .map(drop)
}
