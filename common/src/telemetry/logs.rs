//! Log lines for people (the default) or for machines (`LOG_FORMAT=json`).
//!
//! Both go to standard error, `info` and above unless `RUST_LOG` says otherwise. A service writes them
//! without blocking: lines go to a bounded queue (`LOG_BUFFER_LINES`, [`BUFFER_LINES_DEFAULT`]) that a
//! thread of their own writes out, and a line that finds the queue full is dropped and counted
//! (the `log_lines_dropped` metric) rather than stalling the service's one worker
//! thread behind a slow or stalled standard error. Tests' logging is written directly. A line written while
//! a request is answered carries its trace id: the human format shows it as the `request{trace_id=…}`
//! span, the JSON format as `trace_id`. JSON is one object per line:
//! `{"timestamp", "level", "service", "target", "message", "fields", "trace_id"}`.
//!
//! The trace id is read from the request's telemetry scope when a line is written, not kept in a
//! `tracing` span made for every request: such a span (made, formatted, entered and left at every
//! poll, closed) cost a tenth of S6's instructions, for lines that are seldom written. So the human
//! format is written here, laid out as `tracing_subscriber`'s default (`Full`) one with the request
//! as its outermost span.

use std::{fmt, io::IsTerminal, sync::OnceLock};

use serde_json::{Map, Value};
use tracing::{
    field::{Field, Visit},
    Event, Level, Subscriber,
};
use tracing_subscriber::{
    filter::EnvFilter,
    fmt::{
        format::Writer,
        time::{FormatTime, SystemTime},
        writer::BoxMakeWriter,
        FmtContext, FormatEvent, FormatFields, FormattedFields,
    },
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
    Layer,
};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use crate::config;

static SERVICE: OnceLock<&'static str> = OnceLock::new();

/// `LOG_BUFFER_LINES`'s default: lines waiting to be written before more are dropped. Far more than a
/// service writes in the time a healthy terminal or log collector takes to read them.
pub const BUFFER_LINES_DEFAULT: usize = 8192;

/// Logging for a process that runs no single service (the tests): no `service` in JSON lines, and
/// written directly.
pub fn init_logging() {
    init(None);
}

/// Installs the process's subscriber; a second call (tests start several services in one process)
/// keeps the first. A service's lines are written by a thread of their own, which the returned guard
/// flushes and ends when dropped.
pub(crate) fn init(service: Option<&'static str>) -> Option<WorkerGuard> {
    let (writer, guard) = match service {
        Some(service) => {
            let _ = SERVICE.set(service);
            let lines = config::parse_or("LOG_BUFFER_LINES", BUFFER_LINES_DEFAULT).unwrap_or_else(|err| {
                eprintln!("{err}; buffering {BUFFER_LINES_DEFAULT} lines");
                BUFFER_LINES_DEFAULT
            });
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(lines)
                .thread_name("log-writer")
                .finish(std::io::stderr());
            super::metrics::count_dropped_log_lines(writer.error_counter());
            (BoxMakeWriter::new(writer), Some(guard))
        }
        None => (BoxMakeWriter::new(std::io::stderr), None),
    };
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
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .event_format(TextLines)
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .try_init();
    guard
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
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or(Value::Null);
        let trace_id = super::scope::current_trace_id().map(|id| id.to_string());
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

/// The human format: `tracing_subscriber`'s default layout (timestamp, level, spans, target, fields),
/// with the request being answered as the outermost span, `request{trace_id=…}:`.
struct TextLines;

/// The ANSI styles of `tracing_subscriber`'s default format.
const DIMMED: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}

/// `text` in `style` when the writer takes ANSI escapes, else as it is.
fn paint(writer: &mut Writer<'_>, style: &str, text: &dyn fmt::Display) -> fmt::Result {
    if writer.has_ansi_escapes() {
        write!(writer, "{style}{text}{RESET}")
    } else {
        write!(writer, "{text}")
    }
}

impl<S, N> FormatEvent<S, N> for TextLines
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
        let metadata = event.metadata();
        let mut timestamp = String::new();
        if SystemTime.format_time(&mut Writer::new(&mut timestamp)).is_err() {
            timestamp = "<unknown time>".into();
        }
        paint(&mut writer, DIMMED, &timestamp)?;
        writer.write_char(' ')?;
        let level = metadata.level();
        paint(
            &mut writer,
            level_colour(*level),
            &format_args!("{:>5}", level.as_str()),
        )?;
        writer.write_char(' ')?;
        let mut spans = false;
        if let Some(trace_id) = super::scope::current_trace_id() {
            paint(&mut writer, BOLD, &"request{")?;
            write!(writer, "trace_id={trace_id}")?;
            paint(&mut writer, BOLD, &"}")?;
            paint(&mut writer, DIMMED, &":")?;
            spans = true;
        }
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            paint(&mut writer, BOLD, &span.metadata().name())?;
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                if !fields.is_empty() {
                    paint(&mut writer, BOLD, &"{")?;
                    write!(writer, "{fields}")?;
                    paint(&mut writer, BOLD, &"}")?;
                }
            }
            paint(&mut writer, DIMMED, &":")?;
            spans = true;
        }
        if spans {
            writer.write_char(' ')?;
        }
        paint(&mut writer, DIMMED, &format_args!("{}:", metadata.target()))?;
        writer.write_char(' ')?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
