//! The test harness: the ten real services, in this process, on free loopback ports, wired to each
//! other over real HTTP and to a fresh PostgreSQL database that is dropped afterwards.
//!
//! [`spawn_system`] is the `spawn_app` of these tests. Each service's router is the one its binary
//! serves, wrapped in a layer that writes down each request it receives ([`CallLog`]), so that a test
//! can tell which services were called, in what order, and whether one call ended before the next
//! began, without putting anything between the services. A service can be stopped and started again
//! on the same port ([`RunningService`]), and the database can be cut off and reconnected
//! ([`DbGate`]), to see what the others do meanwhile.

pub mod binaries;
pub mod db;
pub mod gate;
pub mod running;
pub mod service_process;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    Router,
};
use common::{db::DbSettings, downstream::Timeouts};
use orderservice::compensation::Recovery;
use sqlx::PgPool;

pub use crate::{db::TestDatabase, gate::DbGate, running::RunningService};

/// One request as the service that received it saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: &'static str,
    pub path: String,
    pub started: Instant,
    pub finished: Instant,
    pub status: u16,
}

/// Every request received by any service of one system, in the order they arrived.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// Every call, in the order they arrived (they are written down as they end).
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.0.lock().map(|calls| calls.clone()).unwrap_or_default();
        calls.sort_by_key(|call| call.started);
        calls
    }

    /// `service path` of each call except health checks, in order of arrival.
    pub fn names(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|call| call.path != "/health")
            .map(|call| format!("{} {}", call.service, call.path))
            .collect()
    }

    pub fn count(&self, service: &str, path: &str) -> usize {
        self.calls()
            .iter()
            .filter(|call| call.service == service && call.path == path)
            .count()
    }

    fn record(&self, call: Call) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(call);
        }
    }

    /// `app`, writing each request it answers into this log under `service`.
    pub fn wrap(&self, service: &'static str, app: Router) -> Router {
        app.layer(middleware::from_fn_with_state(
            (self.clone(), service),
            record_call,
        ))
    }
}

async fn record_call(
    State((log, service)): State<(CallLog, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    log.record(Call {
        service,
        path,
        started,
        finished: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

/// What a test may change about the system it starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeouts: Timeouts,
    pub report_duration: Duration,
    pub recovery: Recovery,
    /// Put a [`DbGate`] between the services and the database.
    pub gated_database: bool,
    /// The payment endpoint the order saga calls (`PAYMENT_PATH`).
    pub payment_path: &'static str,
    /// The PostgreSQL server of the test's database (`postgres://...`, no database): by default the
    /// one the tests share.
    pub database_server: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        let timeouts = Timeouts {
            connect: Duration::from_millis(500),
            total: Duration::from_secs(5),
        };
        Self {
            timeouts,
            report_duration: Duration::from_millis(1500),
            recovery: Recovery {
                interval: Duration::from_millis(200),
                idle_after: Duration::from_secs(60),
            },
            gated_database: false,
            payment_path: orderservice::DECLINING_PAYMENT_PATH,
            database_server: None,
        }
    }
}

/// The ten services, their database and what the test needs to watch them.
pub struct System {
    pub user: RunningService,
    pub email: RunningService,
    pub payment: RunningService,
    pub product: RunningService,
    pub report: RunningService,
    pub order: RunningService,
    pub analytics: RunningService,
    pub search: RunningService,
    pub cache: RunningService,
    pub inventory: RunningService,
    pub calls: CallLog,
    pub http: reqwest::Client,
    pub gate: Option<DbGate>,
    pub database: TestDatabase,
    settings: DbSettings,
    options: Options,
}

pub async fn spawn_system() -> System {
    spawn_system_with(Options::default()).await
}

pub async fn spawn_system_with(options: Options) -> System {
    common::telemetry::init_logging();
    let database = match &options.database_server {
        Some(url) => TestDatabase::create_on(url.clone()).await,
        None => TestDatabase::create().await,
    };
    let gate = if options.gated_database {
        Some(DbGate::open(database.port()).await)
    } else {
        None
    };
    let settings = match &gate {
        Some(gate) => database.settings_via(gate.port()),
        None => database.settings(),
    };
    let calls = CallLog::default();
    let start = |name: &'static str, app: Router| RunningService::start(name, calls.wrap(name, app));

    // The services nobody else depends on start first, so their addresses can be handed on.
    let email = start("emailservice", emailservice::app()).await;
    let payment = start("paymentservice", paymentservice::app()).await;
    let search = start("searchservice", searchservice::app()).await;
    let cache = start("cacheservice", cacheservice::app()).await;
    let analytics = start("analyticsservice", analyticsservice::app()).await;
    let report = start("reportservice", reportservice::app(options.report_duration)).await;
    let inventory = start(
        "inventoryservice",
        built(
            "inventoryservice",
            inventoryservice::build(inventoryservice::Settings { db: settings.clone() }),
        )
        .await,
    )
    .await;

    let client = options.timeouts.client();
    let to = |service: &RunningService| service.as_downstream(&client, options.timeouts);
    let user_settings = userservice::Settings {
        db: settings.clone(),
        email: to(&email),
        timeouts: options.timeouts,
    };
    let user = start(
        "userservice",
        built("userservice", userservice::build(user_settings)).await,
    )
    .await;
    let product_settings = productservice::Settings {
        db: settings.clone(),
        fan_out: productservice::FanOut {
            search: to(&search),
            cache: to(&cache),
            analytics: to(&analytics),
        },
    };
    let product = start(
        "productservice",
        built("productservice", productservice::build(product_settings)).await,
    )
    .await;
    let order_app = start_order_service(&settings, &inventory, &payment, &options).await;
    let order = start("orderservice", order_app).await;

    System {
        user,
        email,
        payment,
        product,
        report,
        order,
        analytics,
        search,
        cache,
        inventory,
        calls,
        http: reqwest::Client::new(),
        gate,
        database,
        settings,
        options,
    }
}

/// The order service, built as its binary builds it: a fresh process's start-up, recovery included.
async fn start_order_service(
    settings: &DbSettings,
    inventory: &RunningService,
    payment: &RunningService,
    options: &Options,
) -> Router {
    let client = options.timeouts.client();
    let order_settings = orderservice::Settings {
        db: settings.clone(),
        inventory: inventory.as_downstream(&client, options.timeouts),
        payment: orderservice::Payment {
            gateway: payment.as_downstream(&client, options.timeouts),
            path: options.payment_path.to_owned(),
        },
        recovery: options.recovery,
    };
    built("orderservice", orderservice::build(order_settings)).await
}

/// The app a service's `build` returned, which is what its binary serves.
async fn built(
    service: &str,
    build: impl std::future::Future<Output = Result<Router, common::serve::StartupError>>,
) -> Router {
    match build.await {
        Ok(app) => app,
        Err(err) => panic!("{service} could not start: {err}"),
    }
}

impl System {
    /// `POST {service}{path}` with a JSON body.
    pub async fn post(&self, service: &RunningService, path: &str, body: serde_json::Value) -> Reply {
        send(self.http.post(service.url_for(path)).json(&body)).await
    }

    /// `PUT {service}{path}` with a JSON body.
    pub async fn put(&self, service: &RunningService, path: &str, body: serde_json::Value) -> Reply {
        send(self.http.put(service.url_for(path)).json(&body)).await
    }

    /// Every service, in the order of the brief.
    pub fn services(&self) -> [&RunningService; 10] {
        [
            &self.user,
            &self.email,
            &self.payment,
            &self.product,
            &self.report,
            &self.order,
            &self.analytics,
            &self.search,
            &self.cache,
            &self.inventory,
        ]
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> &RunningService {
        match self.services().into_iter().find(|service| service.name() == name) {
            Some(service) => service,
            None => panic!("there is no service called {name}"),
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// How the system's services reach its database.
    pub fn db_settings(&self) -> DbSettings {
        self.settings.clone()
    }

    /// A pool that sees `schema`'s tables, for checking what a scenario wrote.
    pub async fn tables_of(&self, schema: &str) -> PgPool {
        self.database.pool_for(schema).await
    }

    /// A fresh order-service process, as after a crash: a new app on the same database and port.
    pub async fn restart_order_service(&mut self) {
        self.order.stop().await;
        let app = start_order_service(&self.settings, &self.inventory, &self.payment, &self.options).await;
        self.order
            .restart_with(self.calls.wrap("orderservice", app))
            .await;
    }
}

/// An answer, with how long it took.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub elapsed: Duration,
}

/// Sends a request built by the test (for what `post` cannot express: no body, not JSON, ...) and
/// reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let started = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => panic!("the request failed: {err}"),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Reply {
        status,
        body,
        elapsed: started.elapsed(),
    }
}
