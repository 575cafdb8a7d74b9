//! What `meta.json` records of the database: its settings, how each measured run's database was made
//! quiet, and PostgreSQL's counters over each run (`stack-study`'s `bench::quiesce` reads them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether a run's measured runs were quiesced, by which rule, or why not; for `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuietRuleRecord {
    pub quiesced: bool,
    /// Why not, when not.
    pub why_not: Option<String>,
    /// [`QuietRule`]: PostgreSQL under this % of one core ...
    pub cpu_percent_below: f64,
    /// ... for this long with no autovacuum worker ...
    pub settle_s: f64,
    /// ... waited for at most this long.
    pub bound_s: f64,
}

impl QuietRuleRecord {
    pub fn not(why: impl Into<String>) -> Self {
        Self {
            why_not: Some(why.into()),
            ..Self::default()
        }
    }
}

/// What getting a run's database ready took; one per measured run in the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuiesceReport {
    pub checkpoint_ms: f64,
    /// `VACUUM (ANALYZE)` of `tables`.
    pub vacuum_ms: f64,
    pub tables: Vec<String>,
    pub wait: WaitForQuiet,
}

/// How the wait for a quiet database ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaitForQuiet {
    pub waited_ms: f64,
    /// The bound passed before the database was quiet: the run started anyway.
    pub timed_out: bool,
    /// PostgreSQL's CPU over the last settle window, % of one core (`None` before a window closed).
    pub cpu_percent: Option<f64>,
    /// The most autovacuum workers seen at once on the study's database during the wait.
    pub autovacuum_workers_seen: u32,
}

/// The server's settings that shape performance, for `meta.json`: sizes in bytes, times in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresSettings {
    pub server_version: String,
    pub server_version_num: u32,
    pub shared_buffers_bytes: u64,
    pub max_connections: u32,
    pub fsync: bool,
    pub synchronous_commit: String,
    pub full_page_writes: bool,
    pub wal_level: String,
    pub max_wal_size_bytes: u64,
    pub checkpoint_timeout_s: f64,
    pub autovacuum: bool,
    pub autovacuum_max_workers: u32,
    pub autovacuum_naptime_s: f64,
    pub autovacuum_vacuum_threshold: u64,
    pub autovacuum_vacuum_scale_factor: f64,
    pub autovacuum_analyze_threshold: u64,
    pub autovacuum_analyze_scale_factor: f64,
    /// −1: `vacuum_cost_limit` applies.
    pub autovacuum_vacuum_cost_limit: i64,
    pub autovacuum_vacuum_cost_delay_ms: f64,
}

/// WAL written (`pg_stat_wal`, PostgreSQL 14+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WalCounters {
    pub records: i64,
    /// Full-page images: many after a checkpoint.
    pub full_page_images: i64,
    pub bytes: i64,
    /// Times a backend had to write WAL because the WAL buffers were full.
    pub buffers_full: i64,
}

/// The checkpointer's counters (`pg_stat_bgwriter` up to 16, `pg_stat_checkpointer` from 17).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointCounters {
    pub timed: i64,
    pub requested: i64,
    pub buffers_written: i64,
    pub write_time_ms: f64,
    pub sync_time_ms: f64,
}

/// The background writer's counters (`pg_stat_bgwriter`, every version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BgwriterCounters {
    pub buffers_clean: i64,
    pub maxwritten_clean: i64,
    pub buffers_alloc: i64,
}

/// What one run did to the database: counters' differences, and the dead-tuple gauge at both ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseDeltas {
    pub wal: Option<WalCounters>,
    pub checkpoints: CheckpointCounters,
    pub bgwriter: BgwriterCounters,
    pub tables: BTreeMap<String, TableDeltas>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableDeltas {
    pub inserted: i64,
    pub updated: i64,
    pub hot_updated: i64,
    pub deleted: i64,
    pub dead_tuples_before: i64,
    pub dead_tuples_after: i64,
    pub vacuums: i64,
    pub autovacuums: i64,
    pub analyzes: i64,
    pub autoanalyzes: i64,
}

/// One measured run as `meta.json`'s `runs` lists it: where it came in its repeat, how its database
/// was made ready and what the run did to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRunEntry {
    pub repeat: u32,
    pub scenario: String,
    /// Its place in its repeat's order, from 1.
    pub position: u32,
    /// `None` when the run was not quiesced (`meta.json`'s `quiescing` says why).
    #[serde(default)]
    pub quiescence: Option<QuiesceReport>,
    /// PostgreSQL's counters over the measured run; `None` when the database could not be read.
    #[serde(default)]
    pub database: Option<DatabaseDeltas>,
    /// `--versus`: the other system's CPU over this measured run, in % of one core, to show it
    /// stayed idle; `None` outside a study or when its processes cannot be read here.
    #[serde(default)]
    pub idle_system_cpu_percent: Option<f64>,
    /// The traces received over the measured run and its drain (`None` in older records: not received).
    #[serde(default)]
    pub traces: Option<crate::traces::RunTraces>,
}
