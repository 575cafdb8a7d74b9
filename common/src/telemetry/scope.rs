//! The request a task is answering: its metrics and its trace context, carried as a task-local so
//! that anything the handler awaits (a downstream call, a pool wait, a log line) is counted and
//! traced as that request's, even when the tests run ten services in one process.

use std::sync::Arc;

use opentelemetry::{
    trace::{TraceContextExt, TraceId},
    Context,
};

use super::metrics::Metrics;

/// The telemetry of the request being answered, reachable from anything its handler awaits.
#[derive(Clone)]
pub(crate) struct Scope {
    pub metrics: Option<Arc<Metrics>>,
    pub trace: Context,
}

tokio::task_local! {
    pub(super) static SCOPE: Scope;
}

/// The scope of the request this task is answering, if any (a background task has none).
pub(crate) fn current_scope() -> Option<Scope> {
    SCOPE.try_with(Scope::clone).ok()
}

/// The trace id of the request this task is answering, for its log lines.
pub(super) fn current_trace_id() -> Option<TraceId> {
    SCOPE
        .try_with(|scope| scope.trace.span().span_context().trace_id())
        .ok()
}
