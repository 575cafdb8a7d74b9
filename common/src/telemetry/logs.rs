//! Log lines for people (the default) or for machines (`LOG_FORMAT=json`), and the pool-wait probe.
//!
//! Both go to standard error, `info` and above unless `RUST_LOG` says otherwise. A line written while
//! a request is answered carries its trace id: the human format shows it as the `request{trace_id=…}`
//! span, the JSON format as `trace_id`. JSON is one object per line:
//! `{"timestamp", "level", "service", "target", "message", "fields", "trace_id"}`.
//!
//! The pool wait is measured from an event sqlx emits itself: a pool built by [`crate::db`] reports
//! every acquire's duration at `TRACE` level under `sqlx::pool::acquire`, and [`PoolWaitProbe`] (a
//! layer that sees only that target) records it against the request that waited. So the wait is
//! measured where sqlx measures it, with no wrapper around each query in the services.

use std::{fmt, io::IsTerminal, sync::OnceLock, time::Duration};

use serde_json::{Map, Value};
use tracing::{
    field::{Field, Visit},
    span, Event, Level, Subscriber,
};
use tracing_subscriber::{
    filter::{EnvFilter, Targets},
    fmt::{
        format::Writer,
        time::{FormatTime, SystemTime},
        FmtContext, FormatEvent, FormatFields,
    },
    layer::{Context, SubscriberExt},
    registry::LookupSpan,
    util::SubscriberInitExt,
    Layer,
};

use crate::config;

/// The target and field of sqlx's acquire-time event (the field's spelling is sqlx's).
const ACQUIRE_TARGET: &str = "sqlx::pool::acquire";
const ACQUIRE_FIELD: &str = "aquired_after_secs";

static SERVICE: OnceLock<&'static str> = OnceLock::new();

/// Logging for a process that runs no single service (the tests): no `service` in JSON lines.
pub fn init_logging() {
    init(None);
}

/// Installs the process's subscriber; a second call (tests start several services in one process)
/// keeps the first.
pub(crate) fn init(service: Option<&'static str>) {
    if let Some(service) = service {
        let _ = SERVICE.set(service);
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config::var("LOG_FORMAT").map(|f| f.trim().to_ascii_lowercase()) {
        Some(format) if format == "json" => true,
        Some(format) if format == "text" => false,
        Some(other) => {
            eprintln!("LOG_FORMAT={other:?} is neither json nor text; writing text");
            false
        }
        None => false,
    };
    let lines = if json {
        tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(json.then_some(TraceIdKeeper))
        .with(PoolWaitProbe.with_filter(Targets::new().with_target(ACQUIRE_TARGET, Level::TRACE)))
        .try_init();
}

/// A request span's trace id, kept where the JSON formatter finds it.
struct TraceId(String);

/// Keeps the `trace_id` field of each `request` span in the span's extensions.
struct TraceIdKeeper;

impl<S> Layer<S> for TraceIdKeeper
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = JsonFields::default();
        attrs.record(&mut fields);
        if let (Some(Value::String(trace_id)), Some(span)) = (fields.0.remove("trace_id"), ctx.span(id)) {
            span.extensions_mut().insert(TraceId(trace_id));
        }
    }
}

/// Records each acquire's wait against the request being answered.
struct PoolWaitProbe;

impl<S: Subscriber> Layer<S> for PoolWaitProbe {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut wait = AcquireWait(None);
        event.record(&mut wait);
        if let Some(seconds) = wait.0.filter(|s| s.is_finite() && *s >= 0.0) {
            super::observe_pool_wait(Duration::from_secs_f64(seconds));
        }
    }
}

struct AcquireWait(Option<f64>);

impl Visit for AcquireWait {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == ACQUIRE_FIELD {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

/// An event's or a span's fields as JSON values.
#[derive(Default)]
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

/// One JSON object per event.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or(Value::Null);
        let trace_id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<TraceId>().map(|id| id.0.clone()))
        });
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert(
            "service".into(),
            SERVICE.get().map_or(Value::Null, |s| (*s).into()),
        );
        line.insert("target".into(), metadata.target().into());
        line.insert("message".into(), message);
        line.insert("fields".into(), Value::Object(fields));
        line.insert("trace_id".into(), trace_id.map_or(Value::Null, Value::String));
        writeln!(writer, "{}", Value::Object(line))
    }
}
