//! Seeing inside a request: logs, Prometheus metrics and distributed traces.
//!
//! The study asks where the time of a synchronous chain goes, and k6 only sees the edge. So every
//! request a service answers is timed by route ([`metrics`]), every call it makes to another service
//! is timed by target, and the wait for a database connection is timed too; `GET /metrics` serves
//! those to Prometheus. Every request also belongs to a W3C trace ([`traces`]): it continues the
//! caller's `traceparent` or starts one, hands it on to every downstream call, and puts the trace id
//! on its log lines ([`logs`]); spans are exported over OTLP only when the standard `OTEL_*`
//! variables ask for it.
//!
//! What is measured is per service, not per process: each app has its own [`Instrumentation`] and
//! registry, and the request's [`Scope`] travels with the request's task, so that a downstream call
//! or a pool wait is counted by the service whose handler made it, even when the tests run ten
//! services in one process. `METRICS=off` and `OTEL_SDK_DISABLED=true` take the instrumentation
//! out, for measuring what it costs.

pub mod logs;
pub mod metrics;
mod outcome;
mod scope;
pub mod traces;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    middleware::Next,
    response::Response,
    routing::get,
    Router,
};
use opentelemetry::Context;

use self::metrics::Route;
pub(crate) use self::scope::current_scope;
use self::scope::{Scope, SCOPE};
pub use self::{logs::init_logging, metrics::Metrics, outcome::Outcome};
use crate::config;

/// The route of the Prometheus scrape: neither counted nor traced.
pub const METRICS_ROUTE: &str = "/metrics";

/// What a running service keeps of its telemetry; dropping it flushes the spans not yet exported and
/// the log lines not yet written.
#[must_use = "dropping the guard stops the span export"]
pub struct Guard {
    _traces: traces::Guard,
    _logs: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Logging and tracing for the process of the service `service`, from the environment.
pub fn init(service: &'static str) -> Guard {
    let logs = logs::init(Some(service));
    Guard {
        _traces: traces::init(service),
        _logs: logs,
    }
}

/// Whether request metrics are collected (`METRICS=off` turns them off, for measuring their cost).
fn metrics_enabled() -> bool {
    !config::var("METRICS").is_some_and(|value| value.eq_ignore_ascii_case("off"))
}

/// What the request middleware of one app shares between its requests: its metrics, if any.
pub(crate) struct Instrumentation {
    metrics: Option<Arc<Metrics>>,
}

impl Instrumentation {
    /// The instrumentation of one app, from the environment; `None` when `METRICS=off` and
    /// `OTEL_SDK_DISABLED=true` leave nothing to observe.
    pub(crate) fn from_env() -> Option<Arc<Self>> {
        let metrics = metrics_enabled().then(|| Arc::new(Metrics::new()));
        if metrics.is_none() && !traces::enabled() {
            return None;
        }
        Some(Arc::new(Self { metrics }))
    }

    /// `app` with `GET /metrics`, when metrics are collected.
    pub(crate) fn serve_metrics(&self, app: Router) -> Router {
        match &self.metrics {
            Some(metrics) => {
                let metrics = Arc::clone(metrics);
                app.route(METRICS_ROUTE, get(move || std::future::ready(metrics.render())))
            }
            None => app,
        }
    }
}

/// The request middleware (`common::serve::app` layers it on every route): times and traces the
/// request, and runs it in its [`Scope`].
pub(crate) async fn observe(
    State(instrumentation): State<Arc<Instrumentation>>,
    request: Request,
    next: Next,
) -> Response {
    let route = Route::of(&request);
    if route.as_str() == METRICS_ROUTE {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let started = Instant::now();
    let trace = traces::server_span(request.headers(), &method, route.as_str());
    let scope = Scope {
        metrics: instrumentation.metrics.clone(),
        trace: trace.clone(),
    };
    let response = SCOPE.scope(scope, next.run(request)).await;
    if let Some(metrics) = &instrumentation.metrics {
        metrics.observe_server(&method, route, response.status(), started.elapsed());
    }
    traces::end_server(&trace, response.status());
    response
}

/// One call to another service, from the moment it is sent until its answer is read.
pub struct OutboundCall {
    server: &'static str,
    route: String,
    started: Instant,
    scope: Option<Scope>,
    trace: Context,
}

impl OutboundCall {
    /// Starts timing `POST {route}` to `server`, as a child span of the request being answered.
    pub fn start(server: &'static str, route: &str) -> Self {
        let scope = current_scope();
        let parent = scope
            .as_ref()
            .map_or_else(Context::new, |scope| scope.trace.clone());
        let trace = traces::client_span(&parent, server, route);
        Self {
            server,
            route: route.to_owned(),
            started: Instant::now(),
            scope,
            trace,
        }
    }

    /// The headers that carry the trace to the called service (`traceparent`).
    pub fn propagation_headers(&self) -> HeaderMap {
        traces::inject(&self.trace)
    }

    /// Stops the clock: records the call's duration under its outcome and ends its span.
    pub fn finish(self, outcome: Outcome, status: Option<StatusCode>) {
        let elapsed: Duration = self.started.elapsed();
        if let Some(metrics) = self.scope.as_ref().and_then(|scope| scope.metrics.as_ref()) {
            metrics.observe_client(self.server, self.route, outcome, elapsed);
        }
        traces::end_client(&self.trace, outcome, status);
    }
}

/// Records a wait for a database connection against the request being answered.
pub(crate) fn observe_pool_wait(wait: Duration) {
    let _ = SCOPE.try_with(|scope| {
        if let Some(metrics) = &scope.metrics {
            metrics.observe_pool_wait(wait);
        }
    });
}
