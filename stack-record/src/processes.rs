//! Whether each repeat ran on processes of its own: `meta.json`'s `repeat_processes`. A bench of the
//! local system restarts its services and its PostgreSQL between repeats (and between the rounds of a
//! study), so that the spread over repeats includes what varies from one launch to the next (memory
//! layout, the services' pools, PostgreSQL's caches), not only what varies within one launch. A
//! module of its own so that the record says it in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How the system's processes stood as one repeat (one round of a study) began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatProcesses {
    pub repeat: u32,
    /// The system's processes were started for this repeat: by the bench itself for the first, by a
    /// restart for the others. `false` when they were kept from the repeat before, or when `stack`
    /// cannot start them (a system behind URLs or under compose).
    pub fresh: bool,
    /// Wall milliseconds the restart before this repeat took: stopping the system, starting it again
    /// and its readiness. `None` for the first repeat and wherever nothing was restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_ms: Option<f64>,
    /// Why the processes were not fresh (`--keep-processes`, or a target `stack` does not start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// The process ids of the system's services, and of PostgreSQL's postmaster under `postgres`,
    /// as the repeat began; empty where `stack` did not start the system.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pids: BTreeMap<String, u32>,
}
