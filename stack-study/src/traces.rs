//! What `stack` keeps of the traces a system exports while it is driven (issue 29): OTLP/HTTP spans
//! are received during a run and folded, per trace, into one [`TraceSummary`], so that memory stays
//! bounded however many spans arrive. A traced request's completion time is its trace's last span
//! end minus the request's intended start (`docs/results.md`).

use std::collections::BTreeSet;

/// A W3C trace id, as its 16 bytes.
pub type TraceId = [u8; 16];

/// All `stack` keeps of one trace: its first span start, its last span end, how many spans it had,
/// which services sent them, and when its last span was received (to tell a trace still receiving
/// spans at the end of a run's drain window).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceSummary {
    /// Earliest span start, Unix nanoseconds.
    pub first_start_unix_ns: u64,
    /// Latest span end, Unix nanoseconds.
    pub last_end_unix_ns: u64,
    pub spans: u64,
    /// `service.name` of each resource that sent spans of this trace.
    pub services: BTreeSet<String>,
    /// When the last of its spans was received by `stack`, Unix nanoseconds.
    pub last_received_unix_ns: u64,
}
