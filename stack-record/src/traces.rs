//! What a run keeps of the traces the system exported while it was driven (issue 29): one
//! [`TraceSummary`] per trace, so that memory and the file stay bounded however many spans arrive.
//! `stack` receives the spans over OTLP during a run and folds them; a repeat's scenario folder
//! holds the summaries as `traces.csv` ([`TRACES_FILE`]), one row per trace, written and read here
//! only. A traced request's completion time is its trace's last span end minus the request's
//! intended start (`docs/results.md`).

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The trace summaries of one scenario in one repeat.
pub const TRACES_FILE: &str = "traces.csv";

/// A W3C trace id, as its 16 bytes.
pub type TraceId = [u8; 16];

/// All a run keeps of one trace: its first span start, its last span end, how many spans it had,
/// which services sent them, and when its last span was received (to tell a trace still receiving
/// spans at the end of a run's drain window).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceSummary {
    /// Earliest span start, Unix nanoseconds.
    pub first_start_unix_ns: u64,
    /// Latest span end, Unix nanoseconds.
    pub last_end_unix_ns: u64,
    pub spans: u64,
    /// `service.name` of each resource that sent spans of this trace, sorted, without repeats.
    pub services: Vec<String>,
    /// When the last of its spans was received by `stack`, Unix nanoseconds.
    pub last_received_unix_ns: u64,
}

/// How the wait for the last spans after a measured run (its drain) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrainEnd {
    /// No span arrived during the run or the quiet time after it.
    NothingReceived,
    /// No span arrived for the quiet time.
    Quiet,
    /// Spans were still arriving when the drain window closed: the traces that received one within
    /// the quiet time before [`RunTraces::drain_ended_unix_ns`] were still receiving spans.
    WindowClosed,
}

/// What `meta.json` records of one measured run's traces (`runs[].traces`): how many were kept in
/// its [`TRACES_FILE`], which services sent their spans, and how the drain after it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTraces {
    /// Traces summarised in the run's [`TRACES_FILE`].
    pub traces: u64,
    /// `service.name` of every service that sent spans of those traces, sorted.
    pub services: Vec<String>,
    pub drain_end: DrainEnd,
    /// How long the drain waited after the measured run, ms.
    pub drain_waited_ms: f64,
    /// When the drain ended, Unix nanoseconds.
    pub drain_ended_unix_ns: u64,
    /// The quiet time that ends a drain, and the window that bounds it, ms.
    pub quiet_ms: f64,
    pub window_ms: f64,
}

/// One row of [`TRACES_FILE`].
#[derive(Serialize, Deserialize)]
struct TraceRow {
    trace_id: String,
    first_start_unix_ns: u64,
    last_end_unix_ns: u64,
    spans: u64,
    /// Services joined by `;`.
    services: String,
    last_received_unix_ns: u64,
}

/// A trace id as the 32 lower-case hex digits W3C `traceparent` carries.
pub fn trace_id_hex(id: &TraceId) -> String {
    id.iter().fold(String::with_capacity(32), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The trace id written as 32 hex digits; an error for anything else.
pub fn parse_trace_id(hex: &str) -> Result<TraceId> {
    if hex.len() != 32 || !hex.is_ascii() {
        bail!("trace id {hex:?}: not 32 hex digits");
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .with_context(|| format!("trace id {hex:?}: not 32 hex digits"))?;
    }
    Ok(id)
}

/// Writes `traces` to `path` ([`TRACES_FILE`]).
pub fn write_traces(path: &Path, traces: &BTreeMap<TraceId, TraceSummary>) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for (id, trace) in traces {
        writer.serialize(TraceRow {
            trace_id: trace_id_hex(id),
            first_start_unix_ns: trace.first_start_unix_ns,
            last_end_unix_ns: trace.last_end_unix_ns,
            spans: trace.spans,
            services: trace.services.join(";"),
            last_received_unix_ns: trace.last_received_unix_ns,
        })?;
    }
    writer
        .flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads what [`write_traces`] wrote.
pub fn read_traces(path: &Path) -> Result<BTreeMap<TraceId, TraceSummary>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let mut traces = BTreeMap::new();
    for row in reader.deserialize::<TraceRow>() {
        let row = row.with_context(|| format!("reading {}", path.display()))?;
        let services = row
            .services
            .split(';')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        traces.insert(
            parse_trace_id(&row.trace_id)?,
            TraceSummary {
                first_start_unix_ns: row.first_start_unix_ns,
                last_end_unix_ns: row.last_end_unix_ns,
                spans: row.spans,
                services,
                last_received_unix_ns: row.last_received_unix_ns,
            },
        );
    }
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_summaries_read_back_as_written() {
        let folder = std::env::temp_dir().join(format!("stack-record-traces-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("a folder");
        let path = folder.join(TRACES_FILE);
        let mut traces = BTreeMap::new();
        traces.insert(
            [0xab; 16],
            TraceSummary {
                first_start_unix_ns: 1,
                last_end_unix_ns: 500_000_002,
                spans: 3,
                services: vec!["emailservice".into(), "userservice".into()],
                last_received_unix_ns: 600_000_000,
            },
        );
        write_traces(&path, &traces).expect("written");
        assert_eq!(read_traces(&path).expect("read"), traces);
        let _ = std::fs::remove_dir_all(folder);
    }

    #[test]
    fn a_trace_id_that_is_not_32_hex_digits_is_refused() {
        assert!(parse_trace_id("abc").is_err());
        assert!(parse_trace_id(&"zz".repeat(16)).is_err());
        assert_eq!(parse_trace_id(&"0a".repeat(16)).expect("hex"), [0x0a; 16]);
    }
}
