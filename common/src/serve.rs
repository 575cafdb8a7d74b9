//! Running a service: the routes every service has, and the process around them.
//!
//! [`app`] wraps a service's own routes with what all ten share: `GET /health`, the OpenAPI document
//! (`GET /openapi.json`) and its docs (`GET /docs`), JSON answers for
//! unknown paths and methods, a body size limit, and a guard that turns a panic into a JSON `500`
//! instead of a dropped connection. [`run`] is a service binary's whole `main`: logging, the
//! `healthcheck` subcommand that compose's health checks call, start-up (which may wait for the
//! database), listening on `PORT`, and a graceful shutdown on SIGTERM or Ctrl-C that lets requests in
//! flight finish.

use std::{any::Any, future::Future, process::ExitCode, time::Duration};

use axum::{
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::{IntoResponse, Response},
    serve::ListenerExt,
    Router,
};
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{config, downstream::Timeouts, openapi, ApiError, Json};

/// Anything that stops a service from starting; it is printed and the process exits non-zero.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// The largest request body any endpoint accepts; the bodies of this study are a few dozen bytes.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A service's routes plus what every service has, its OpenAPI document and docs among them.
pub fn app(routes: OpenApiRouter) -> Router {
    let (routes, api) = routes.routes(routes!(health)).split_for_parts();
    routes
        .merge(openapi::docs(api))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The service is up and answering.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, body = Health, example = json!({"status": "ok"})),
))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
}

async fn unknown_path() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn unknown_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Small JSON answers on kept-alive connections must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The `main` of a service binary: `build` reads the environment and returns the service's app.
pub async fn run<F, Fut>(service: &'static str, build: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Router, StartupError>>,
{
    init_logging();
    let port = match config::port() {
        Ok(port) => port,
        Err(err) => return startup_failed(service, &err),
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(port).await;
    }
    let app = match build().await {
        Ok(app) => app,
        Err(err) => return startup_failed(service, &*err),
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(listener) => listener,
        Err(err) => return startup_failed(service, &err),
    };
    tracing::info!(service, port, "listening");
    match serve(listener, app, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!(service, "stopped");
            ExitCode::SUCCESS
        }
        Err(err) => startup_failed(service, &err),
    }
}

/// Logs to standard error, `info` and above unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests start several services in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn startup_failed(service: &str, err: &dyn std::error::Error) -> ExitCode {
    tracing::error!(service, error = %err, "could not start");
    eprintln!("{service}: could not start: {err}");
    ExitCode::FAILURE
}

/// Completes on SIGTERM (what `docker stop` sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `<service> healthcheck`: exits 0 when the service on this machine answers `/health`. Compose's
/// health checks call it, so the runtime image needs no curl.
async fn healthcheck(port: u16) -> ExitCode {
    let client = Timeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_secs(3),
    }
    .client();
    match client.get(format!("http://127.0.0.1:{port}/health")).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: /health answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: {err}");
            ExitCode::FAILURE
        }
    }
}
