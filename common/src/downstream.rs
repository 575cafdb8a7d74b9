//! Calls from one service to another.
//!
//! The brief's services call each other with blocking `requests.post`; here a handler awaits each
//! call to completion before it goes on, which is the same coupling without tying up a thread. Each
//! service builds one [`reqwest::Client`] at start-up and shares it between its [`Downstream`]s, so
//! connections are pooled and kept alive: a slow answer in a measurement is the callee's, not a
//! fresh TCP handshake's.
//!
//! Every call has a connect timeout and a total timeout. A failure is one of three things, each
//! naming the service that failed: it could not be reached, it did not answer in time, or it answered
//! with a status the caller did not expect. [`DownstreamError::status`] is then `502` or `504`, and
//! the caller's documented error body names [`DownstreamError::service`].
//!
//! Every call is timed into `http_client_request_duration_seconds` of the calling service, labelled
//! with the called service, the path and the outcome, and carries the request's `traceparent`
//! ([`crate::telemetry`]).

use std::{
    collections::HashMap,
    error::Error as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::StatusCode;
use reqwest::{Client, Url};
use serde::Serialize;
use serde_json::Value;

use crate::{
    config::{self, ConfigError},
    telemetry::{OutboundCall, Outcome},
};

/// The timeouts of every outbound call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// `DOWNSTREAM_CONNECT_TIMEOUT_MS` and `DOWNSTREAM_TIMEOUT_MS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            connect: config::millis_or("DOWNSTREAM_CONNECT_TIMEOUT_MS", defaults.connect)?,
            total: config::millis_or("DOWNSTREAM_TIMEOUT_MS", defaults.total)?,
        })
    }

    /// The one pooled client a service calls every other service with.
    pub fn client(self) -> Client {
        Client::builder()
            .connect_timeout(self.connect)
            .timeout(self.total)
            .tcp_nodelay(true)
            // A call is one request and its answer is the callee's: no redirect followed, no retry
            // behind the caller's back (reqwest's default retries cloned every request, in case),
            // and no proxy between two services (the proxy match ran on every call).
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .no_proxy()
            // Well inside the callee's keep-alive idle limit, so a call never picks a pooled connection
            // at the moment the callee closes it.
            .pool_idle_timeout(crate::limits::HEADER_READ_DEFAULT / 2)
            .build()
            .unwrap_or_else(|err| {
                // Building fails only when the TLS backend or the system resolver cannot be set up;
                // neither is used here (no TLS features are compiled in).
                tracing::error!(error = %err, "falling back to a default HTTP client");
                Client::new()
            })
    }
}

/// Another service, as seen by its caller.
#[derive(Debug, Clone)]
pub struct Downstream {
    name: &'static str,
    base_url: Url,
    /// `base_url` joined with each path called so far. A join parses the whole URL again, host and
    /// IDNA mapping included (a twentieth of productservice's instructions for S3's three calls);
    /// the paths are the callers' constants, a handful per service.
    endpoints: Arc<Mutex<HashMap<String, Url>>>,
    client: Client,
    timeouts: Timeouts,
}

/// What a downstream service answered, whatever the status.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// What the reply says went wrong: its `detail` (or `reason`), else the whole body.
    pub fn detail(&self) -> String {
        self.body
            .get("detail")
            .or_else(|| self.body.get("reason"))
            .and_then(Value::as_str)
            .map_or_else(|| self.body.to_string(), str::to_owned)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DownstreamError {
    #[error("{service} could not be reached: {reason}")]
    Unreachable { service: &'static str, reason: String },
    #[error("{service} did not answer within {after:?}")]
    Timeout { service: &'static str, after: Duration },
    #[error("{service} answered {status}: {body}")]
    UnexpectedStatus {
        service: &'static str,
        status: StatusCode,
        body: Value,
    },
}

impl DownstreamError {
    /// The answer's status: `504` when the service did not answer in time, `502` otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn service(&self) -> &'static str {
        match self {
            Self::Unreachable { service, .. }
            | Self::Timeout { service, .. }
            | Self::UnexpectedStatus { service, .. } => service,
        }
    }
}

impl Downstream {
    pub fn new(name: &'static str, base_url: Url, client: Client, timeouts: Timeouts) -> Self {
        Self {
            name,
            base_url,
            endpoints: Arc::default(),
            client,
            timeouts,
        }
    }

    /// `{base}{path}`, joined once per path.
    fn endpoint(&self, path: &str) -> Result<Url, DownstreamError> {
        if let Some(url) = self
            .endpoints
            .lock()
            .ok()
            .and_then(|known| known.get(path).cloned())
        {
            return Ok(url);
        }
        let url = self
            .base_url
            .join(path)
            .map_err(|err| DownstreamError::Unreachable {
                service: self.name,
                reason: format!("invalid path {path}: {err}"),
            })?;
        if let Ok(mut known) = self.endpoints.lock() {
            known.insert(path.to_owned(), url.clone());
        }
        Ok(url)
    }

    /// The service `name`, at the URL in the variable `url_var`, or else at `http://{name}:8000`.
    pub fn from_env(
        name: &'static str,
        url_var: &str,
        client: &Client,
        timeouts: Timeouts,
    ) -> Result<Self, ConfigError> {
        let url = config::service_url(url_var, &format!("http://{name}:8000"))?;
        Ok(Self::new(name, url, client.clone(), timeouts))
    }

    /// `POST {base}{path}` with a JSON body; any status is a [`Reply`], only a failed exchange is an error.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Reply, DownstreamError> {
        let url = self.endpoint(path)?;
        let call = OutboundCall::start(self.name, path);
        let result = self.exchange(url, &call, body).await;
        match &result {
            Ok(reply) => call.finish(Outcome::of_status(reply.status), Some(reply.status)),
            Err(DownstreamError::Timeout { .. }) => call.finish(Outcome::Timeout, None),
            Err(_) => call.finish(Outcome::Connect, None),
        }
        result
    }

    async fn exchange(
        &self,
        url: Url,
        call: &OutboundCall,
        body: &impl Serialize,
    ) -> Result<Reply, DownstreamError> {
        let response = self
            .client
            .post(url)
            .headers(call.propagation_headers())
            .json(body)
            .send()
            .await
            .map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        // The body is read to the end even when it is not wanted, so the connection goes back to the pool.
        let bytes = response.bytes().await.map_err(|err| self.transport_error(&err))?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Reply { status, body })
    }

    /// Like [`post`](Self::post), but a status other than `2xx` is an error too.
    pub async fn post_expecting_success(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Value, DownstreamError> {
        let reply = self.post(path, body).await?;
        if reply.status.is_success() {
            Ok(reply.body)
        } else {
            Err(self.unexpected(reply))
        }
    }

    /// The error for a reply whose status the caller has no answer to.
    pub fn unexpected(&self, reply: Reply) -> DownstreamError {
        DownstreamError::UnexpectedStatus {
            service: self.name,
            status: reply.status,
            body: reply.body,
        }
    }

    fn transport_error(&self, err: &reqwest::Error) -> DownstreamError {
        if err.is_timeout() {
            let after = if err.is_connect() {
                self.timeouts.connect
            } else {
                self.timeouts.total
            };
            return DownstreamError::Timeout {
                service: self.name,
                after,
            };
        }
        // reqwest's own message is only "error sending request"; the cause is further down the chain.
        let mut reason = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        DownstreamError::Unreachable {
            service: self.name,
            reason,
        }
    }
}
