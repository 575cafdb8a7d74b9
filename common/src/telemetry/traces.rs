//! W3C trace context on every request and every downstream call, and OTLP export when asked for.
//!
//! A request continues the `traceparent` it came with or starts a trace; each downstream call is a
//! child span whose `traceparent` goes out with it, so one S3 or S5 request is one trace across the
//! services it touches. The spans are made by the OpenTelemetry SDK: with no exporter configured
//! the sampler records nothing (`parentbased_always_off`: only the ids are made and passed on, and a
//! caller's decision to sample is still honoured). A span that cannot be recorded (no exporter, and
//! a caller that did not sample) is made here as the SDK would make it, ids and trace state only,
//! without the name and attributes nobody reads: on the hot path of an unsampled request, tracing
//! costs two random numbers and the `traceparent` header. The same holds when exporting with
//! `OTEL_TRACES_SAMPLER=parentbased_always_off` (as `stack bench` runs the services): a request whose
//! caller did not sample takes that path too.
//!
//! Export follows the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP over HTTP with
//! protobuf, to `<endpoint>/v1/traces`, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is),
//! `OTEL_SERVICE_NAME` (default: the service's name), `OTEL_TRACES_SAMPLER` and its `_ARG`
//! (default: `parentbased_always_on`), `OTEL_TRACES_EXPORTER=none` to keep the endpoint but not
//! export, and `OTEL_SDK_DISABLED=true` to take trace context out altogether.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    OnceLock,
};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, Tracer, TracerProvider as _},
    Context, KeyValue,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{IdGenerator, RandomIdGenerator, Sampler, SdkTracer, SdkTracerProvider},
    Resource,
};

use super::outcome::Outcome;
use crate::config;

const SCOPE_NAME: &str = "sync-baseline";

/// Whether trace context is on at all (`OTEL_SDK_DISABLED=true` turns it off).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        !config::var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    })
}

/// Whether the environment asks for spans to be exported.
pub fn export_requested() -> bool {
    let endpoint = config::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| config::var("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let exporter_off =
        config::var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
    enabled() && endpoint.is_some() && !exporter_off
}

/// The process's tracer: the one [`init`] made, or else one that only makes ids.
fn tracer() -> &'static SdkTracer {
    TRACER.get_or_init(|| ids_only().tracer(SCOPE_NAME))
}

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether [`TRACER`] is [`init`]'s exporting tracer (else it only makes ids).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether the exporting tracer samples no root (`OTEL_TRACES_SAMPLER=parentbased_always_off`, as
/// `stack bench` runs the services): then a request whose caller did not sample takes the cheap
/// unrecorded path, as without an exporter.
static ROOTS_OFF: AtomicBool = AtomicBool::new(false);

fn ids_only() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build()
}

/// Keeps the exporting provider; dropping it exports what is still buffered.
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(err) = provider.shutdown() {
                eprintln!("could not flush the last spans: {err}");
            }
        }
    }
}

/// Sets up the process's tracer for `service` from the `OTEL_*` variables.
pub fn init(service: &'static str) -> Guard {
    let Some(provider) = otlp_provider(service, None) else {
        return Guard(None);
    };
    ROOTS_OFF.store(
        config::var("OTEL_TRACES_SAMPLER").is_some_and(|v| v.trim() == "parentbased_always_off"),
        Ordering::Release,
    );
    if TRACER.set(provider.tracer(SCOPE_NAME)).is_ok() {
        EXPORTING.store(true, Ordering::Release);
    } else {
        tracing::warn!("a tracer was already set up; spans keep going there");
    }
    Guard(Some(provider))
}

/// A provider exporting over OTLP http/protobuf as the `OTEL_*` variables say, as `service` (unless
/// `OTEL_SERVICE_NAME` names it), sampling with `sampler` (`None`: as `OTEL_TRACES_SAMPLER` says);
/// `None` when no export is asked for or the exporter cannot be built. The services' [`init`] and
/// any other program of the workspace that exports spans (`stack respond --defer-ms`) share it.
pub fn otlp_provider(service: &str, sampler: Option<Sampler>) -> Option<SdkTracerProvider> {
    if !export_requested() {
        return None;
    }
    let protocol = config::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| config::var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if protocol.as_deref().is_some_and(|p| p.trim() != "http/protobuf") {
        tracing::warn!(protocol, "only OTLP http/protobuf is built in; exporting with it");
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            tracing::error!(error = %err, "traces are not exported: the OTLP exporter could not be built");
            return None;
        }
    };
    let name = config::var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned());
    // Without a sampler given, the SDK's default reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
    let mut builder = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name.clone()).build());
    if let Some(sampler) = sampler {
        builder = builder.with_sampler(sampler);
    }
    tracing::info!(service_name = name, "exporting traces over OTLP");
    Some(builder.build())
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// The span of a request being answered, child of the caller's `traceparent` when it sent one.
pub(crate) fn server_span(headers: &HeaderMap, method: &Method, route: &str) -> Context {
    if !enabled() {
        return Context::new();
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if !may_record(&parent) {
        return unrecorded_child(&parent);
    }
    let tracer = tracer();
    let span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route.to_owned()),
        ])
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// Whether a span started under `parent` may be recorded. With an exporter the sampler decides, unless
/// it samples no root; without one (`parentbased_always_off`) only the child of a caller that sampled
/// is recorded.
fn may_record(parent: &Context) -> bool {
    parent.span().span_context().is_sampled()
        || (EXPORTING.load(Ordering::Acquire) && !ROOTS_OFF.load(Ordering::Acquire))
}

/// The span the SDK makes under `parent` when its sampler drops it: a new span id, the caller's trace
/// id (or a new one) and trace state, no flags, nothing recorded.
fn unrecorded_child(parent: &Context) -> Context {
    let ids = RandomIdGenerator::default();
    let caller = parent.span();
    let trace_id = if parent.has_active_span() {
        caller.span_context().trace_id()
    } else {
        ids.new_trace_id()
    };
    let span = SpanContext::new(
        trace_id,
        ids.new_span_id(),
        TraceFlags::default(),
        false,
        caller.span_context().trace_state().clone(),
    );
    parent.with_remote_span_context(span)
}

pub(crate) fn end_server(trace: &Context, status: StatusCode) {
    let span = trace.span();
    if !span.is_recording() {
        return span.end();
    }
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
    span.end();
}

/// The span of a call to `server`, child of `parent`.
pub(crate) fn client_span(parent: &Context, server: &'static str, route: &str) -> Context {
    if !enabled() {
        return Context::new();
    }
    if !may_record(parent) {
        return unrecorded_child(parent);
    }
    let tracer = tracer();
    let span = tracer
        .span_builder(format!("POST {route}"))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("server.address", server),
            KeyValue::new("url.path", route.to_owned()),
        ])
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

pub(crate) fn end_client(trace: &Context, outcome: Outcome, status: Option<StatusCode>) {
    let span = trace.span();
    if !span.is_recording() {
        return span.end();
    }
    if let Some(status) = status {
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
    }
    if outcome != Outcome::Ok {
        span.set_status(Status::error(outcome.as_str()));
    }
    span.end();
}

/// `traceparent` (and `tracestate`) for a call made within `trace`.
pub(crate) fn inject(trace: &Context) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if trace.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(trace, &mut HeaderInjector(&mut headers));
    }
    headers
}
