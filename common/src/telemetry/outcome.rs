//! How a call to another service ended: the one vocabulary the metrics' `outcome` label and the
//! spans' status share, kept apart so that neither has to name the other.

use axum::http::StatusCode;

/// How a call to another service ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any `2xx` or `3xx` answer.
    Ok,
    /// A `4xx` or `5xx` answer (S5's declined payment is one).
    ErrorStatus,
    /// No answer within the connect or total timeout.
    Timeout,
    /// No connection, or the connection failed before an answer.
    Connect,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ErrorStatus => "error_status",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
        }
    }

    pub fn of_status(status: StatusCode) -> Self {
        if status.is_client_error() || status.is_server_error() {
            Self::ErrorStatus
        } else {
            Self::Ok
        }
    }
}
