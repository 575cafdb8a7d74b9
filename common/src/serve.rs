//! Running a service: the routes every service has, and the process around them.
//!
//! [`app`] wraps a service's own routes with what all ten share: `GET /health`, the OpenAPI document
//! (`GET /openapi.json`) and its docs (`GET /docs`), JSON answers for unknown paths and methods, a
//! body size limit, a guard that turns a panic into a JSON `500` instead of a dropped connection, a
//! deadline on each request's handler (a JSON `504` when it passes; [`ROUTE_DEADLINE_DEFAULT`], or
//! what [`app_within`] is given for a route whose own work takes longer), and request metrics and
//! traces with `GET /metrics`. [`run`] is a service binary's whole `main`:
//! logging and tracing ([`telemetry`]), the `healthcheck` subcommand that compose's health checks
//! call, start-up (which may wait for the database), listening on `PORT` within the
//! [`limits`](crate::limits) on slow clients and open connections, and a graceful shutdown on SIGTERM
//! or Ctrl-C that lets requests in flight finish, then closes the database pools.

use std::{any::Any, future::Future, process::ExitCode, time::Duration};

use axum::{
    extract::{DefaultBodyLimit, Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use serde::Serialize;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    config, db,
    downstream::Timeouts,
    limits::{self, EverySecond, Limits, BODY_LIMIT_BYTES},
    openapi,
    telemetry::{self, Instrumentation},
    ApiError, Json,
};

/// The allocator of every process built with `common` (the services, and with them `stack` and the
/// tests): mimalloc. glibc's malloc kept the pages a burst of connections had freed (productservice
/// held 30 MiB after the capacity profile, 7 MiB at idle), and its small allocations, of which a
/// request makes dozens, cost more instructions (docs/performance.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Anything that stops a service from starting; it is printed and the process exits non-zero.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// How long a handler may work before its request is answered `504`: longer than any one database
/// statement may take (acquire plus statement bound, `common::db`) and than one downstream call's
/// total timeout, so those answer first with their own `503`/`504`, and no longer than the 10 s that
/// S3's and S5's callers are promised (docs/reliability.md).
pub const ROUTE_DEADLINE_DEFAULT: Duration = Duration::from_secs(10);

/// A service's routes plus what every service has, its OpenAPI document and docs among them, each
/// request within [`ROUTE_DEADLINE_DEFAULT`].
pub fn app(routes: OpenApiRouter) -> Router {
    app_within(routes, ROUTE_DEADLINE_DEFAULT)
}

/// [`app`], each request's handler given `deadline` (sized from the service's own work).
pub fn app_within(routes: OpenApiRouter, deadline: Duration) -> Router {
    let (routes, api) = routes.routes(routes!(health)).split_for_parts();
    let app = routes
        .merge(openapi::docs(api))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_method);
    // All in one `layer` call: each call wraps every route in one more box, which every request
    // then clones and polls through.
    let guards = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(deadline, within_deadline))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES));
    match Instrumentation::from_env() {
        Some(instrumentation) => instrumentation.serve_metrics(app).layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    instrumentation,
                    telemetry::observe,
                ))
                .layer(guards),
        ),
        None => app.layer(guards),
    }
}

/// The service is up and answering.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "The service is up and answering.", body = Health, example = json!({"status": "ok"})),
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

/// Answers `504` when the handler has not answered by `deadline`. The handler's future is dropped
/// there: its database statement, if any, is cut off and its connection closed (`common::db`), and
/// its downstream call abandoned.
async fn within_deadline(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request was not answered within its deadline of {} ms",
                deadline.as_millis()
            ),
        )
        .into_response(),
    }
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets requests in
/// flight finish.
///
/// The accept loop is hyper's HTTP/1 connection served with the router, one task per connection,
/// each watched by hyper-util's graceful shutdown: on `shutdown` the listener closes, idle
/// connections close, and a connection answering a request closes once its answer is sent.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `with_state` turns every handler into its finished, layered route once. A router served
    // as it is rebuilds the handler's route, each layer boxed anew, on every request (axum's
    // `MethodEndpoint::BoxedHandler`); `axum::serve` calls `with_state(())` too, once per
    // connection.
    let app = limits.on_request_bodies(app.with_state(()));
    let http = limits.http1();
    let mut open = limits.open_connections();
    let mut accept_errors = EverySecond::default();
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    limits::after_accept_error(&err, &mut accept_errors).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Past the bound the connection is dropped, that is closed, before anything is read.
        let Some(slot) = open.admit() else { continue };
        // Small JSON answers on kept-alive connections must not wait for Nagle's algorithm.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The `main` of a service binary: the runtime, then [`run`].
///
/// The runtime is tokio's single-threaded one: a service's handlers only await (the report
/// service's hashing runs on a blocking thread), so one thread answers every request of a service
/// with no hand-over between worker threads. Ten services, PostgreSQL and k6 share two cores here;
/// a second worker per service only adds wake-ups. `WORKER_THREADS=n` runs n worker threads instead,
/// to measure the difference.
pub fn main<F, Fut>(service: &'static str, build: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Router, StartupError>>,
{
    let runtime = match config::parse_or("WORKER_THREADS", 0_usize) {
        Ok(0) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Ok(workers) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
        Err(err) => return startup_failed(service, &err),
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(service, build)),
        Err(err) => startup_failed(service, &err),
    }
}

/// Runs the service on the current runtime: `build` reads the environment and returns its app.
pub async fn run<F, Fut>(service: &'static str, build: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Router, StartupError>>,
{
    let _telemetry = telemetry::init(service);
    let port = match config::port() {
        Ok(port) => port,
        Err(err) => return startup_failed(service, &err),
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(port).await;
    }
    let limits = match Limits::from_env() {
        Ok(limits) => limits,
        Err(err) => return startup_failed(service, &err),
    };
    let app = match build().await {
        Ok(app) => app,
        Err(err) => return startup_failed(service, &*err),
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(listener) => listener,
        Err(err) => return startup_failed(service, &err),
    };
    tracing::info!(service, port, "listening");
    limits.log();
    let served = serve(listener, app, limits, shutdown_signal()).await;
    db::close_all().await;
    match served {
        Ok(()) => {
            tracing::info!(service, "stopped");
            ExitCode::SUCCESS
        }
        Err(err) => startup_failed(service, &err),
    }
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
