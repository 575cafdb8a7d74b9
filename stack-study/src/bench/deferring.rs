//! The deferred work of `stack respond --defer-ms N --workers K` (issue 29): a stand-in for a design
//! that acknowledges a request at once (`202 Accepted`) and does its work later, as a broker's
//! consumers would. Each accepted request becomes an item of an in-process queue; K workers each take
//! one item at a time and finish it N ms after taking it, so the stand-in completes at most
//! K × 1000 / N items a second whatever rate it accepts, and its backlog grows past that.
//!
//! Its traces are what `stack bench` reads completion from. A request whose W3C `traceparent` is
//! sampled gets, under that context, one span for the answer and a child span for its work item,
//! which ends when the item is done; both are exported over OTLP/HTTP protobuf to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` by the provider the services use ([`common::telemetry::traces`]),
//! sampling parent-based with roots off. A request without a sampled `traceparent` makes no span at
//! all, so that untraced requests cost no more than the answer and the queue.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _},
    Context,
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracer, SdkTracerProvider},
};
use tokio::{
    sync::{mpsc, Mutex},
    task::JoinHandle,
};

use crate::scenario::Scenario;

/// The name the stand-in's spans carry as `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
pub const STAND_IN_SERVICE: &str = "stack-respond";

/// How the stand-in defers: the requests of `scenarios` (those its contract marks `defers`; the
/// others are answered as this system answers them), each item finished `defer` after a worker takes
/// it, by `workers` workers at once.
#[derive(Debug, Clone)]
pub struct Deferral {
    pub defer: Duration,
    pub workers: u32,
    pub scenarios: Vec<Scenario>,
}

/// One accepted request waiting for a worker, with its trace context when it was sampled.
struct WorkItem {
    scenario: Scenario,
    trace: Option<Context>,
}

/// The queue and its workers, until dropped.
pub struct DeferredWork {
    scenarios: Vec<Scenario>,
    queue: mpsc::UnboundedSender<WorkItem>,
    tracer: Option<SdkTracer>,
    provider: Option<SdkTracerProvider>,
    workers: Vec<JoinHandle<()>>,
}

impl DeferredWork {
    /// Starts the workers (within a tokio runtime) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
    /// traces one) is set, the exporter.
    pub fn start(deferral: Deferral) -> Arc<Self> {
        let provider = common::telemetry::traces::otlp_provider(
            STAND_IN_SERVICE,
            Some(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
        );
        let tracer = provider.as_ref().map(|provider| provider.tracer("stack-respond"));
        let (queue, items) = mpsc::unbounded_channel();
        let items = Arc::new(Mutex::new(items));
        let workers = (0..deferral.workers.max(1))
            .map(|_| tokio::spawn(work(items.clone(), deferral.defer, tracer.clone())))
            .collect();
        Arc::new(Self {
            scenarios: deferral.scenarios,
            queue,
            tracer,
            provider,
            workers,
        })
    }

    /// Whether `scenario`'s requests are acknowledged and their work deferred.
    pub fn defers(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// Queues `scenario`'s work; under `traceparent`, when it is sampled, its answer's span is made
    /// and ended, and the work item will be its child.
    pub fn accept(&self, scenario: Scenario, traceparent: Option<&str>) {
        let trace = match (&self.tracer, traceparent) {
            (Some(tracer), Some(traceparent)) => answer_span(tracer, scenario, traceparent),
            _ => None,
        };
        if let Some(answer) = &trace {
            answer.span().end();
        }
        // The receiving end lives as long as the workers, which live as long as `self`.
        let _ = self.queue.send(WorkItem { scenario, trace });
    }
}

impl Drop for DeferredWork {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.abort();
        }
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.shutdown() {
                eprintln!("stack respond: could not flush the last spans: {err}");
            }
        }
    }
}

/// The `traceparent` header alone, for the propagator.
struct TraceparentOnly<'a>(&'a str);

impl Extractor for TraceparentOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The answer's span under `traceparent`, as a context for the work item; `None` unless the caller
/// sampled the trace (roots are off).
fn answer_span(tracer: &SdkTracer, scenario: Scenario, traceparent: &str) -> Option<Context> {
    let parent = TraceContextPropagator::new().extract(&TraceparentOnly(traceparent));
    if !parent.span().span_context().is_sampled() {
        return None;
    }
    let entry = scenario.entry();
    let span = tracer
        .span_builder(format!("{} {}", entry.method, entry.route))
        .with_kind(SpanKind::Server)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// One worker: takes an item, works `defer` on it, ends its span, and again.
async fn work(
    items: Arc<Mutex<mpsc::UnboundedReceiver<WorkItem>>>,
    defer: Duration,
    tracer: Option<SdkTracer>,
) {
    loop {
        let item = items.lock().await.recv().await;
        let Some(item) = item else {
            return;
        };
        let span = match (&tracer, &item.trace) {
            (Some(tracer), Some(answer)) => Some(
                tracer
                    .span_builder(format!("work {}", item.scenario.name()))
                    .with_kind(SpanKind::Consumer)
                    .start_with_context(tracer, answer),
            ),
            _ => None,
        };
        tokio::time::sleep(defer).await;
        if let Some(mut span) = span {
            span.end();
        }
    }
}
