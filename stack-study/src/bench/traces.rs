//! The bench's OTLP/HTTP trace receiver (issue 29): while a bench runs, the system exports its spans
//! here, and each span is folded at once into its trace's [`TraceSummary`] (first start, last end,
//! span count, services, last receipt), so memory grows with the number of traces, never with the
//! number of spans. After a scenario's measured run and its drain ([`TraceReceiver::drain`]), the
//! bench takes the summaries ([`TraceReceiver::take`]) and writes them as that run's `traces.csv`.
//!
//! It speaks OTLP/HTTP as its specification says: `POST /v1/traces` with an
//! `ExportTraceServiceRequest` in protobuf (`application/x-protobuf`) or OTLP JSON
//! (`application/json`, hex ids), gzip-compressed (`Content-Encoding: gzip`) or not; `200` with an
//! `ExportTraceServiceResponse` in the request's encoding; `400` with a `google.rpc.Status` for a body
//! that does not decode; `415` for any other content type or encoding. The messages are the
//! `opentelemetry-proto` crate's, decoded by prost and by its serde support: nothing here decodes
//! OTLP by hand.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::Read as _,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value,
    resource::v1::Resource,
};
use prost::Message as _;
use stack_record::traces::{DrainEnd, TraceId, TraceSummary};
use tokio::{net::TcpListener, task::JoinHandle};

/// The path OTLP/HTTP exporters send traces to, under the endpoint.
pub const TRACES_PATH: &str = "/v1/traces";

/// The largest body taken, compressed or not: an exporter's batch (512 spans by default) is far less.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The receiver, listening until dropped.
pub struct TraceReceiver {
    addr: SocketAddr,
    store: Arc<TraceStore>,
    server: JoinHandle<()>,
}

/// What the receiver has folded so far.
#[derive(Default)]
struct TraceStore {
    folded: Mutex<Folded>,
}

#[derive(Default)]
struct Folded {
    traces: HashMap<TraceId, TraceSummary>,
    /// Every `service.name` that sent a span since the receiver started (not cleared by `take`).
    services: BTreeSet<String>,
    /// When the last span arrived, to tell when the system has stopped exporting.
    last_received: Option<Instant>,
}

impl TraceStore {
    /// The folded state; a panic elsewhere while it was held leaves the summaries as they were.
    fn lock(&self) -> MutexGuard<'_, Folded> {
        self.folded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TraceReceiver {
    /// Listens on `listen` (port 0: any free one).
    pub async fn start(listen: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the trace receiver to {listen}"))?;
        let addr = listener.local_addr()?;
        let store = Arc::new(TraceStore::default());
        let app = Router::new()
            .route(TRACES_PATH, post(receive))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(store.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("stack: the trace receiver stopped: {err}");
            }
        });
        Ok(Self { addr, store, server })
    }

    /// The OTLP endpoint to give a system (`OTEL_EXPORTER_OTLP_ENDPOINT`): `http://<addr>`, to which
    /// exporters add [`TRACES_PATH`].
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The summaries of the traces received since the last `take`, which forgets them.
    pub fn take(&self) -> BTreeMap<TraceId, TraceSummary> {
        std::mem::take(&mut self.store.lock().traces)
            .into_iter()
            .collect()
    }

    /// Every service that has sent a span since the receiver started.
    pub fn services(&self) -> BTreeSet<String> {
        self.store.lock().services.clone()
    }

    /// How many traces are held now (to measure memory).
    pub fn held(&self) -> usize {
        self.store.lock().traces.len()
    }

    /// Waits until no span has arrived for `quiet` (counted from the later of the last span and the
    /// call, so that spans still in an exporter's batch are waited for), at most `window`.
    pub async fn drain(&self, quiet: Duration, window: Duration) -> DrainEnd {
        let started = Instant::now();
        loop {
            let (any, last) = {
                let folded = self.store.lock();
                (!folded.traces.is_empty(), folded.last_received)
            };
            let since = last.map_or(started, |last| last.max(started));
            if since.elapsed() >= quiet {
                return if any {
                    DrainEnd::Quiet
                } else {
                    DrainEnd::NothingReceived
                };
            }
            if started.elapsed() >= window {
                return DrainEnd::WindowClosed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TraceReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let media = content_type.split(';').next()?.trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Self::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error: its code and message (its details are not
/// used). A prost message, so that protobuf encodes it.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's code INVALID_ARGUMENT, which OTLP/HTTP's 400 carries.
const INVALID_ARGUMENT: i32 = 3;

async fn receive(State(store): State<Arc<TraceStore>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(encoding) = Encoding::of(&headers) else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OTLP/HTTP takes application/x-protobuf or application/json",
        )
            .into_response();
    };
    let body = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(body.to_vec()),
        Some(Ok(coding)) if coding.trim().eq_ignore_ascii_case("identity") => Ok(body.to_vec()),
        Some(Ok(coding)) if coding.trim().eq_ignore_ascii_case("gzip") => gunzip(&body),
        _ => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "OTLP/HTTP bodies are gzip-compressed or not compressed",
            )
                .into_response()
        }
    };
    let request = body.and_then(|body| decode(encoding, &body));
    match request {
        Ok(request) => {
            fold(&store, &request);
            encoded(StatusCode::OK, encoding, &ExportTraceServiceResponse::default())
        }
        Err(message) => encoded(
            StatusCode::BAD_REQUEST,
            encoding,
            &RpcStatus {
                code: INVALID_ARGUMENT,
                message,
            },
        ),
    }
}

/// The body decompressed, at most [`BODY_LIMIT`] bytes of it.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(BODY_LIMIT as u64)
        .read_to_end(&mut out)
        .map_err(|err| format!("the body is not gzip: {err}"))?;
    Ok(out)
}

fn decode(encoding: Encoding, body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|err| format!("not an ExportTraceServiceRequest in protobuf: {err}")),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|err| format!("not an ExportTraceServiceRequest in OTLP JSON: {err}")),
    }
}

/// `message` in `encoding`, with its content type.
fn encoded<M: prost::Message + serde::Serialize>(
    status: StatusCode,
    encoding: Encoding,
    message: &M,
) -> Response {
    let body = match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
    };
    (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}

/// The resource's `service.name`, if it has one as a string.
fn service_name(resource: Option<&Resource>) -> Option<&str> {
    resource?
        .attributes
        .iter()
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
            Value::StringValue(name) => Some(name.as_str()),
            _ => None,
        })
}

/// Now, Unix nanoseconds.
pub fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// Folds every span of `request` into its trace's summary. A span whose trace id is not 16 bytes
/// belongs to no trace and is skipped.
fn fold(store: &TraceStore, request: &ExportTraceServiceRequest) {
    let received = unix_ns_now();
    let mut folded = store.lock();
    let mut any = false;
    for resource_spans in &request.resource_spans {
        let service = service_name(resource_spans.resource.as_ref());
        if let Some(service) = service {
            if !folded.services.contains(service) {
                folded.services.insert(service.to_owned());
            }
        }
        for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
            let Ok(id) = TraceId::try_from(span.trace_id.as_slice()) else {
                continue;
            };
            any = true;
            let trace = folded.traces.entry(id).or_insert_with(|| TraceSummary {
                first_start_unix_ns: u64::MAX,
                ..TraceSummary::default()
            });
            trace.first_start_unix_ns = trace.first_start_unix_ns.min(span.start_time_unix_nano);
            trace.last_end_unix_ns = trace.last_end_unix_ns.max(span.end_time_unix_nano);
            trace.spans += 1;
            trace.last_received_unix_ns = received;
            if let Some(service) = service {
                if let Err(at) = trace.services.binary_search_by(|s| s.as_str().cmp(service)) {
                    trace.services.insert(at, service.to_owned());
                }
            }
        }
    }
    if any {
        folded.last_received = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, KeyValue},
        trace::v1::{ResourceSpans, ScopeSpans, Span},
    };

    use super::*;

    fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(service.into())),
                    }),
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    fn span(trace: u8, start: u64, end: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![1; 8],
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Span::default()
        }
    }

    /// Two services' spans of trace 0xaa (100..300 and 150..900) and one span of trace 0xbb.
    fn request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![
                resource_spans("userservice", vec![span(0xaa, 100, 300), span(0xbb, 5, 6)]),
                resource_spans("emailservice", vec![span(0xaa, 150, 900)]),
            ],
        }
    }

    async fn post(
        receiver: &TraceReceiver,
        content_type: &str,
        gzip: bool,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut post = reqwest::Client::new()
            .post(format!("{}{TRACES_PATH}", receiver.endpoint()))
            .header("content-type", content_type);
        let body = if gzip {
            post = post.header("content-encoding", "gzip");
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body).expect("compressed");
            encoder.finish().expect("compressed")
        } else {
            body
        };
        post.body(body).send().await.expect("the receiver answers")
    }

    /// This process's resident memory (`VmRSS`), for the report: the test asserts the count.
    fn resident_kb() -> String {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:").map(|kb| kb.trim().to_owned()))
            })
            .unwrap_or_else(|| "?".into())
    }

    async fn receiver() -> TraceReceiver {
        TraceReceiver::start("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("listens")
    }

    /// What [`request`] folds to.
    fn assert_folded(traces: &BTreeMap<TraceId, TraceSummary>) {
        assert_eq!(traces.len(), 2);
        let traced = &traces[&[0xaa; 16]];
        assert_eq!(
            (traced.first_start_unix_ns, traced.last_end_unix_ns, traced.spans),
            (100, 900, 2)
        );
        assert_eq!(traced.services, ["emailservice", "userservice"]);
        assert!(traced.last_received_unix_ns > 0);
        assert_eq!(traces[&[0xbb; 16]].services, ["userservice"]);
    }

    #[tokio::test]
    async fn a_protobuf_export_is_answered_in_protobuf_and_folded_per_trace() {
        // Given a receiver
        let receiver = receiver().await;
        // When an export arrives in protobuf
        let answer = post(
            &receiver,
            "application/x-protobuf",
            false,
            request().encode_to_vec(),
        )
        .await;
        // Then it is answered 200 with an ExportTraceServiceResponse, and each trace is summarised
        assert_eq!(answer.status(), 200);
        let body = answer.bytes().await.expect("a body");
        assert!(ExportTraceServiceResponse::decode(body).is_ok());
        assert_folded(&receiver.take());
        assert_eq!(
            receiver.services(),
            BTreeSet::from(["emailservice".into(), "userservice".into()])
        );
        assert!(receiver.take().is_empty(), "take forgets what it took");
    }

    #[tokio::test]
    async fn a_json_export_with_hex_ids_is_answered_in_json_and_folded_per_trace() {
        // Given a receiver, and the export as OTLP JSON (hex ids, times as strings), checked as such
        let receiver = receiver().await;
        let json = serde_json::to_vec(&request()).expect("JSON");
        let text = String::from_utf8_lossy(&json);
        assert!(
            text.contains(&"aa".repeat(16)),
            "ids are hex in OTLP JSON: {text}"
        );
        // When it arrives as application/json
        let answer = post(&receiver, "application/json", false, json).await;
        // Then it is answered 200 in JSON, and folded as the protobuf one is
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["content-type"], "application/json");
        answer.json::<serde_json::Value>().await.expect("a JSON body");
        assert_folded(&receiver.take());
    }

    #[tokio::test]
    async fn a_gzip_compressed_export_is_decompressed_and_folded() {
        // Given a receiver
        let receiver = receiver().await;
        // When the export arrives compressed, once in protobuf and once in JSON
        let protobuf = post(
            &receiver,
            "application/x-protobuf",
            true,
            request().encode_to_vec(),
        )
        .await;
        assert_eq!(protobuf.status(), 200);
        assert_folded(&receiver.take());
        let json = serde_json::to_vec(&request()).expect("JSON");
        let json = post(&receiver, "application/json", true, json).await;
        // Then both are folded
        assert_eq!(json.status(), 200);
        assert_folded(&receiver.take());
    }

    #[tokio::test]
    async fn an_undecodable_body_gets_400_with_a_status_and_another_content_type_415() {
        // Given a receiver
        let receiver = receiver().await;
        // When a body that is no export arrives, in each encoding, and one as text/plain
        let protobuf = post(&receiver, "application/x-protobuf", false, vec![0xff; 7]).await;
        let json = post(
            &receiver,
            "application/json",
            false,
            b"{\"resourceSpans\": 7}".to_vec(),
        )
        .await;
        let text = post(&receiver, "text/plain", false, b"hello".to_vec()).await;
        // Then each export is refused with a google.rpc.Status in its encoding, and text with 415
        assert_eq!(protobuf.status(), 400);
        let status = RpcStatus::decode(protobuf.bytes().await.expect("a body")).expect("a Status");
        assert_eq!(status.code, INVALID_ARGUMENT);
        assert_eq!(json.status(), 400);
        let status: serde_json::Value = json.json().await.expect("a JSON Status");
        assert_eq!(status["code"], INVALID_ARGUMENT);
        assert_eq!(text.status(), 415);
        assert!(receiver.take().is_empty());
    }

    #[tokio::test]
    async fn a_drain_ends_after_the_quiet_time_saying_whether_anything_arrived() {
        // Given a receiver that got nothing, and one that got an export
        let (idle, busy) = (receiver().await, receiver().await);
        post(&busy, "application/x-protobuf", false, request().encode_to_vec()).await;
        let (quiet, window) = (Duration::from_millis(200), Duration::from_secs(5));
        // When each drains
        let started = Instant::now();
        let idle_end = idle.drain(quiet, window).await;
        let busy_end = busy.drain(quiet, window).await;
        // Then each waited its quiet time, no longer than the window, and says what it saw
        assert!(started.elapsed() >= quiet);
        assert!(started.elapsed() < window);
        assert_eq!((idle_end, busy_end), (DrainEnd::NothingReceived, DrainEnd::Quiet));
    }

    #[tokio::test]
    async fn a_hundred_thousand_spans_of_a_thousand_traces_leave_a_thousand_summaries() {
        // Given a receiver
        let receiver = receiver().await;
        eprintln!("resident memory before: {}", resident_kb());
        // When 100,000 spans of 1,000 traces arrive, in 100 exports of 1,000 spans (one per trace)
        for export in 0..100u64 {
            let spans = (0..1000u64)
                .map(|trace| Span {
                    trace_id: [trace.to_be_bytes(), [0; 8]].concat(),
                    span_id: vec![1; 8],
                    start_time_unix_nano: 1_000 + export,
                    end_time_unix_nano: 2_000 + export,
                    ..Span::default()
                })
                .collect();
            let request = ExportTraceServiceRequest {
                resource_spans: vec![resource_spans("stack-respond", spans)],
            };
            let answer = post(
                &receiver,
                "application/x-protobuf",
                false,
                request.encode_to_vec(),
            )
            .await;
            assert_eq!(answer.status(), 200);
            if export == 9 {
                eprintln!("resident memory after 10,000 spans: {}", resident_kb());
            }
        }
        // Then 1,000 summaries are held, each of 100 spans from 1,000 to 2,099
        assert_eq!(receiver.held(), 1000);
        eprintln!("resident memory after 100,000 spans: {}", resident_kb());
        let traces = receiver.take();
        assert_eq!(traces.len(), 1000);
        for trace in traces.values() {
            assert_eq!(
                (trace.spans, trace.first_start_unix_ns, trace.last_end_unix_ns),
                (100, 1_000, 2_099)
            );
        }
    }
}
