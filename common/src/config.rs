//! Settings read from the environment.
//!
//! Every setting has a default that is right inside Docker Compose (for example
//! `http://emailservice:8000`), so a service started by compose needs no configuration at all, and a
//! service started anywhere else is pointed elsewhere by its variables. A variable that is set but
//! cannot be parsed stops the service at start-up with a message naming it, rather than being ignored.

use std::{fmt::Display, str::FromStr, time::Duration};

use reqwest::Url;

#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    name: String,
    value: String,
    reason: String,
}

impl ConfigError {
    pub fn invalid(name: &str, value: &str, reason: impl Display) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// The variable's value, or `None` when it is unset or empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The variable parsed as `T`, or `default` when it is unset.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match var(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|err: T::Err| ConfigError::invalid(name, &value, err)),
    }
}

/// A duration given in whole milliseconds.
pub fn millis_or(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    parse_or(name, default_ms).map(Duration::from_millis)
}

/// The base URL of another service, `default` being its address inside compose.
pub fn service_url(name: &str, default: &str) -> Result<Url, ConfigError> {
    let value = var(name).unwrap_or_else(|| default.to_owned());
    match Url::parse(&value) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => Ok(url),
        Ok(_) => Err(ConfigError::invalid(
            name,
            &value,
            "the scheme must be http or https",
        )),
        Err(err) => Err(ConfigError::invalid(name, &value, err)),
    }
}

/// The port the service listens on: 8000, as in every container, unless `PORT` says otherwise.
pub fn port() -> Result<u16, ConfigError> {
    parse_or("PORT", 8000)
}
