//! The Prometheus metrics of one service, in the names of the OpenTelemetry HTTP and database
//! semantic conventions as Prometheus writes them.
//!
//! - `http_server_request_duration_seconds{method, route, status}`: every request but the scrape;
//! - `http_client_request_duration_seconds{server, route, outcome}`: every call to another service;
//! - `db_client_connection_wait_time_seconds`: how long a request waited for a pool connection;
//! - `db_client_connection_count{pool_name, state="used"|"idle"}`: the pools, read at scrape time;
//! - `process_cpu_seconds_total`, `process_resident_memory_bytes`: the process, from `/proc`.
//!
//! `prometheus-client` keeps them and writes the text format. A [`Metrics`] belongs to one app (not
//! to the process), so that ten services in one test process each serve their own; the pools and the
//! process are the process's, and every app of a process reports them.
//!
//! The pools are known here only as [`PoolGauges`]: whoever builds a pool registers it
//! ([`register_pool`], which `crate::db` calls), so these metrics depend on no database type and
//! the database module may use telemetry without a cycle between the two.

use std::{
    hash::{Hash, Hasher},
    sync::{Mutex, OnceLock},
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request},
    http::{header, Method, StatusCode},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    collector::Collector,
    encoding::{
        text::encode, DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
    },
    metrics::{counter::ConstCounter, family::Family, gauge::ConstGauge, histogram::Histogram, MetricType},
    registry::{Registry, Unit},
};

use tracing_appender::non_blocking::ErrorCounter;

use super::outcome::Outcome;
use crate::proc_stat;

/// Upper bounds of the duration buckets, in seconds: 0.25 ms to 30 s, so that S6's sub-millisecond
/// round trip, S3's few milliseconds, S1's 500 ms, S2's 2 s and S4's 10 s each fall inside, with
/// several buckets around each (the bench's p99 is interpolated within them). The brief's floors
/// (500 ms, 2 s, 10 s) get narrow buckets just above them, where those scenarios' answers land: a
/// p99 interpolated in a 500-750 ms bucket would say nothing about a 507 ms answer.
pub const DURATION_BUCKETS: [f64; 41] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.007_5, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.3,
    0.5, 0.505, 0.51, 0.525, 0.55, 0.6, 0.75, 1.0, 2.0, 2.01, 2.025, 2.05, 2.1, 2.25, 2.5, 3.0, 5.0, 7.5,
    10.0, 10.05, 10.1, 10.25, 10.5, 12.5, 20.0, 30.0,
];

/// Upper bounds for the pool wait: usually microseconds, seconds only when the pool is exhausted.
pub const POOL_WAIT_BUCKETS: [f64; 20] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
    0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0,
];

/// The route template a request matched (`/products/{product_id}`), so that the label set stays
/// small. It holds the router's own shared string, so labelling a request allocates nothing.
#[derive(Debug, Clone)]
pub(crate) struct Route(Option<MatchedPath>);

impl Route {
    pub(crate) fn of(request: &Request) -> Self {
        Self(request.extensions().get::<MatchedPath>().cloned())
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        self.as_str().encode(encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    server: &'static str,
    route: String,
    outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn durations() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The metrics one service app records and serves.
pub struct Metrics {
    registry: Registry,
    server: Histograms<ServerLabels>,
    client: Histograms<ClientLabels>,
    pool_wait: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let server: Histograms<ServerLabels> = Family::new_with_constructor(durations);
        let client: Histograms<ClientLabels> = Family::new_with_constructor(durations);
        let pool_wait = Histogram::new(POOL_WAIT_BUCKETS);
        let mut registry = Registry::default();
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of the HTTP requests this service answered",
            Unit::Seconds,
            server.clone(),
        );
        registry.register_with_unit(
            "http_client_request_duration",
            "Duration of the HTTP calls this service made to other services",
            Unit::Seconds,
            client.clone(),
        );
        registry.register_with_unit(
            "db_client_connection_wait_time",
            "Time a request waited to obtain a connection from the database pool",
            Unit::Seconds,
            pool_wait.clone(),
        );
        registry.register_collector(Box::new(PoolCollector));
        registry.register_collector(Box::new(ProcessCollector));
        registry.register_collector(Box::new(DroppedLogLines));
        Self {
            registry,
            server,
            client,
            pool_wait,
        }
    }

    pub(crate) fn observe_server(
        &self,
        method: &Method,
        route: Route,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let labels = ServerLabels {
            method: method_label(method),
            route,
            status: status.as_u16(),
        };
        self.server.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub(crate) fn observe_client(
        &self,
        server: &'static str,
        route: String,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let labels = ClientLabels {
            server,
            route,
            outcome: outcome.as_str(),
        };
        self.client.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub(crate) fn observe_pool_wait(&self, wait: Duration) {
        self.pool_wait.observe(wait.as_secs_f64());
    }

    /// The text exposition of everything above.
    pub fn render(&self) -> Response {
        let mut body = String::new();
        if let Err(err) = encode(&mut body, &self.registry) {
            tracing::error!(error = %err, "could not encode the metrics");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response()
    }
}

/// The semantic conventions' method values: the known methods as they are, anything else `_OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// A connection pool as its gauges read it at each scrape.
pub trait PoolGauges: Send + Sync {
    /// The connections open, and how many of them are idle.
    fn open_and_idle(&self) -> (usize, usize);
    /// A closed pool is reported no more, and forgotten at the next registration.
    fn is_closed(&self) -> bool;
}

type RegisteredPools = Mutex<Vec<(&'static str, Box<dyn PoolGauges>)>>;

/// The database pools of this process, by schema, for the connection gauges.
fn pools() -> &'static RegisteredPools {
    static POOLS: OnceLock<RegisteredPools> = OnceLock::new();
    POOLS.get_or_init(Mutex::default)
}

/// Reports `pool`'s connections under `pool_name` from now on.
pub fn register_pool(pool_name: &'static str, pool: impl PoolGauges + 'static) {
    if let Ok(mut pools) = pools().lock() {
        pools.retain(|(_, known)| !known.is_closed());
        pools.push((pool_name, Box::new(pool)));
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool_name: &'static str,
    state: &'static str,
}

#[derive(Debug)]
struct PoolCollector;

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts: Vec<(&'static str, u32, u32)> = match pools().lock() {
            Ok(pools) => pools
                .iter()
                .filter(|(_, pool)| !pool.is_closed())
                .map(|(name, pool)| {
                    let (open, idle) = pool.open_and_idle();
                    let gauge = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
                    (*name, gauge(open.saturating_sub(idle)), gauge(idle))
                })
                .collect(),
            Err(_) => return Ok(()),
        };
        if counts.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "db_client_connection_count",
            "Connections of the database pool, by state",
            None,
            MetricType::Gauge,
        )?;
        for (pool_name, used, idle) in counts {
            for (state, value) in [("used", used), ("idle", idle)] {
                let labels = PoolLabels { pool_name, state };
                ConstGauge::new(i64::from(value)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Log lines dropped because the log queue was full (`telemetry::logs`), read at scrape time.
#[derive(Debug)]
struct DroppedLogLines;

impl Collector for DroppedLogLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = encoder.encode_descriptor(
            "log_lines_dropped",
            "Log lines dropped because the queue to standard error was full",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(dropped_log_lines()).encode(dropped)?;
        Ok(())
    }
}

/// The counter of the log lines dropped because the queue was full, once a service's writer exists
/// ([`super::logs`] hands it over).
static DROPPED_LOG_LINES: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps `counter` as the source of `log_lines_dropped`; the first writer's counter stays.
pub(super) fn count_dropped_log_lines(counter: ErrorCounter) {
    let _ = DROPPED_LOG_LINES.set(counter);
}

/// Lines dropped so far because the log queue was full.
pub fn dropped_log_lines() -> u64 {
    DROPPED_LOG_LINES.get().map_or(0, |counter| {
        u64::try_from(counter.dropped_lines()).unwrap_or(u64::MAX)
    })
}

/// CPU time and resident memory of this process, read from `/proc/self/stat` at scrape time.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(usage) = process_usage() else {
            return Ok(());
        };
        let cpu = encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        ConstCounter::new(usage.cpu_seconds).encode(cpu)?;
        let memory = encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size",
            Some(&Unit::Bytes),
            MetricType::Gauge,
        )?;
        ConstGauge::new(usage.resident_bytes).encode(memory)?;
        Ok(())
    }
}

struct ProcessUsage {
    cpu_seconds: f64,
    resident_bytes: i64,
}

/// `utime`, `stime` (clock ticks) and `rss` (pages) of `proc(5)`'s `/proc/self/stat`.
fn process_usage() -> Option<ProcessUsage> {
    let stat = proc_stat::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let (ticks_per_second, page_size) = (proc_stat::clock_ticks_per_second()?, proc_stat::page_size()?);
    Some(ProcessUsage {
        cpu_seconds: stat.cpu_ticks as f64 / ticks_per_second,
        resident_bytes: i64::try_from(stat.rss_pages.saturating_mul(page_size)).unwrap_or(i64::MAX),
    })
}
