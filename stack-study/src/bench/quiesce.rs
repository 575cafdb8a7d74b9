//! Independent runs: every measured run starts from the same quiet database, and PostgreSQL's own
//! counters say what each run did to it.
//!
//! Resetting the seeded rows is not enough. The cluster keeps its WAL, its pending checkpoint and the
//! dead tuples of the last run's updates, so a run that follows S3's 50,000 updates meets an
//! autovacuum and a checkpoint that the one before it did not. After the reset, [`quiesce`] takes a
//! `CHECKPOINT`, `VACUUM (ANALYZE)`s the services' tables, and waits until the server is quiet: no
//! autovacuum worker on the study's database, and PostgreSQL under 2 % of a core for 3 s, measured
//! through [`PostgresCpu`] because only the caller knows where PostgreSQL runs (local processes read
//! from /proc, or a container). The wait is bounded, and its length recorded.
//!
//! [`PostgresSettings`] are the settings that shape performance, for `meta.json`; a
//! [`PostgresCounters`] snapshot before and after a run gives that run's [`DatabaseDeltas`]: WAL written,
//! checkpoints and buffers, and per table the rows changed, the dead tuples left and the (auto)vacuums
//! and analyzes. PostgreSQL 17 moved the checkpoint counters from `pg_stat_bgwriter` to
//! `pg_stat_checkpointer`; the snapshot reads whichever the server has. The counters are those
//! backends have flushed: a busy backend flushes at most once a second (and, since 15, an idle one
//! within 10 s), so the last second of a backend's activity may be missing from a run's deltas.
//!
//! [`TargetDatabase`] is what the bench holds: a connection to the target's database and where its
//! processes are, so that before each measured run it quiesces and reads the counters.

use std::{
    collections::{BTreeMap, VecDeque},
    future::Future,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, PgConnection, Row};

use stack_record::database::{
    BgwriterCounters, CheckpointCounters, DatabaseDeltas, PostgresSettings, QuiesceReport, QuietRuleRecord,
    TableDeltas, WaitForQuiet, WalCounters,
};
use stack_system::{proc::ProcessSet, seed};

/// The bench's hold on its target's database: a connection (made on first use, made again after an
/// error) and where the server's processes are.
pub struct TargetDatabase {
    connect: PgConnectOptions,
    processes: ProcessSet,
    rule: QuietRule,
    conn: Option<PgConnection>,
}

impl TargetDatabase {
    pub fn new(connect: PgConnectOptions, processes: ProcessSet, rule: QuietRule) -> Self {
        Self {
            connect,
            processes,
            rule,
            conn: None,
        }
    }

    pub fn rule(&self) -> &QuietRule {
        &self.rule
    }

    async fn conn(&mut self) -> Result<&mut PgConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self
                .connect
                .connect()
                .await
                .context("connecting to the target's database")?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Runs `work` on the connection; a connection that failed is not used again.
    async fn with_conn<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut PgConnection, &ProcessSet, &QuietRule) -> Result<T>,
    ) -> Result<T> {
        let (processes, rule) = (self.processes.clone(), self.rule);
        let outcome = work(self.conn().await?, &processes, &rule).await;
        if outcome.is_err() {
            self.conn = None;
        }
        outcome
    }

    pub async fn settings(&mut self) -> Result<PostgresSettings> {
        self.with_conn(async |conn, _, _| read_postgres_settings(conn).await)
            .await
    }

    /// `CHECKPOINT`, `VACUUM (ANALYZE)` of the services' tables, and the wait for quiet.
    pub async fn quiesce(&mut self) -> Result<QuiesceReport> {
        self.with_conn(async |conn, processes, rule| {
            let mut cpu = || processes.cpu_seconds_now().context("reading /proc");
            quiesce(conn, &seed::SCHEMAS, &mut cpu, rule).await
        })
        .await
    }

    /// The server's counters and those of the services' tables.
    pub async fn counters(&mut self) -> Result<PostgresCounters> {
        self.with_conn(async |conn, _, _| PostgresCounters::read(conn, &seed::SCHEMAS).await)
            .await
    }
}

/// When the database counts as quiet, and how long to wait for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuietRule {
    /// PostgreSQL's CPU, as a fraction of one core, below which it is idle.
    pub cpu_fraction: f64,
    /// How long it must stay idle, with no autovacuum worker.
    pub settle: Duration,
    /// The longest wait: past it the run starts anyway, and the record says so.
    pub bound: Duration,
    pub poll: Duration,
}

impl QuietRule {
    /// The rule as `meta.json` records it, for a run that was quiesced by it.
    pub fn recorded(&self) -> QuietRuleRecord {
        QuietRuleRecord {
            quiesced: true,
            why_not: None,
            cpu_percent_below: self.cpu_fraction * 100.0,
            settle_s: self.settle.as_secs_f64(),
            bound_s: self.bound.as_secs_f64(),
        }
    }
}

impl Default for QuietRule {
    fn default() -> Self {
        Self {
            cpu_fraction: 0.02,
            settle: Duration::from_secs(3),
            bound: Duration::from_secs(120),
            poll: Duration::from_millis(500),
        }
    }
}

/// PostgreSQL's CPU time so far: every process of the server together, in seconds of one core,
/// counting only up (processes that exited included where the platform tells: a cgroup, or the
/// postmaster's reaped children).
pub trait PostgresCpu {
    fn cpu_seconds(&mut self) -> impl Future<Output = Result<f64>> + Send;
}

/// A plain function can be the meter (reading /proc is not asynchronous).
impl<F: FnMut() -> Result<f64> + Send> PostgresCpu for F {
    fn cpu_seconds(&mut self) -> impl Future<Output = Result<f64>> + Send {
        std::future::ready(self())
    }
}

/// After the reset: `CHECKPOINT`, `VACUUM (ANALYZE)` of every table of `schemas`, then the wait for
/// a quiet database. `conn` must be a superuser's (or hold `pg_checkpoint`) and own the tables.
pub async fn quiesce(
    conn: &mut PgConnection,
    schemas: &[&str],
    cpu: &mut impl PostgresCpu,
    rule: &QuietRule,
) -> Result<QuiesceReport> {
    let started = Instant::now();
    sqlx::raw_sql("CHECKPOINT")
        .execute(&mut *conn)
        .await
        .context("CHECKPOINT")?;
    let checkpoint_ms = ms(started.elapsed());
    let tables = tables_of(conn, schemas).await?;
    let started = Instant::now();
    if !tables.is_empty() {
        // One statement (PostgreSQL 11+ takes a list), outside any transaction as VACUUM must be.
        let vacuum = format!("VACUUM (ANALYZE) {}", tables.join(", "));
        sqlx::raw_sql(&vacuum)
            .execute(&mut *conn)
            .await
            .with_context(|| vacuum.clone())?;
    }
    let vacuum_ms = ms(started.elapsed());
    let wait = wait_quiet(conn, cpu, rule).await?;
    Ok(QuiesceReport {
        checkpoint_ms,
        vacuum_ms,
        tables,
        wait,
    })
}

/// The tables of `schemas`, schema-qualified and quoted, in a stable order.
async fn tables_of(conn: &mut PgConnection, schemas: &[&str]) -> Result<Vec<String>> {
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables \
         WHERE schemaname = ANY($1) ORDER BY schemaname, relname",
    )
    .bind(&schemas)
    .fetch_all(&mut *conn)
    .await
    .context("listing the services' tables")
}

/// Waits until the database is quiet by `rule`, or the bound passes.
pub async fn wait_quiet(
    conn: &mut PgConnection,
    cpu: &mut impl PostgresCpu,
    rule: &QuietRule,
) -> Result<WaitForQuiet> {
    let started = Instant::now();
    let mut window = SettleWindow::new(rule);
    let mut workers_seen = 0;
    loop {
        let workers: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE backend_type = 'autovacuum worker' AND datname = current_database()",
        )
        .fetch_one(&mut *conn)
        .await
        .context("looking for autovacuum workers")?;
        let workers = u32::try_from(workers).unwrap_or(u32::MAX);
        workers_seen = workers_seen.max(workers);
        let cpu_seconds = cpu.cpu_seconds().await.context("reading PostgreSQL's CPU time")?;
        let elapsed = started.elapsed();
        let quiet = window.observe(elapsed.as_secs_f64(), cpu_seconds, workers);
        if quiet || elapsed >= rule.bound {
            return Ok(WaitForQuiet {
                waited_ms: ms(elapsed),
                timed_out: !quiet,
                cpu_percent: window.cpu_fraction().map(|f| (f * 1e5).round() / 1e3),
                autovacuum_workers_seen: workers_seen,
            });
        }
        tokio::time::sleep(rule.poll).await;
    }
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e4).round() / 10.0
}

/// The last `settle` seconds of observations: quiet when they span the whole window, none saw an
/// autovacuum worker, and the CPU used across them is under the limit.
#[derive(Debug)]
struct SettleWindow {
    settle_s: f64,
    cpu_fraction: f64,
    /// `(t in s, cumulative CPU s)`, oldest first, all since the last autovacuum worker.
    samples: VecDeque<(f64, f64)>,
}

impl SettleWindow {
    fn new(rule: &QuietRule) -> Self {
        Self {
            settle_s: rule.settle.as_secs_f64(),
            cpu_fraction: rule.cpu_fraction,
            samples: VecDeque::new(),
        }
    }

    /// Adds an observation; whether the database is quiet as of it.
    fn observe(&mut self, t_s: f64, cpu_s: f64, autovacuum_workers: u32) -> bool {
        if autovacuum_workers > 0 {
            self.samples.clear();
        }
        self.samples.push_back((t_s, cpu_s));
        // Keep one sample at or before the window's start as its anchor.
        while self.samples.len() > 1 && self.samples[1].0 <= t_s - self.settle_s {
            self.samples.pop_front();
        }
        autovacuum_workers == 0 && self.cpu_fraction().is_some_and(|f| f < self.cpu_fraction)
    }

    /// The CPU fraction over a full window, once one is covered.
    fn cpu_fraction(&self) -> Option<f64> {
        let (&(t0, cpu0), &(t1, cpu1)) = (self.samples.front()?, self.samples.back()?);
        (t1 - t0 >= self.settle_s && t1 > t0).then(|| (cpu1 - cpu0).max(0.0) / (t1 - t0))
    }
}

pub async fn read_postgres_settings(conn: &mut PgConnection) -> Result<PostgresSettings> {
    let rows =
        sqlx::query("SELECT name, setting, coalesce(unit, '') AS unit FROM pg_settings WHERE name = ANY($1)")
            .bind(
                [
                    "server_version",
                    "server_version_num",
                    "shared_buffers",
                    "max_connections",
                    "fsync",
                    "synchronous_commit",
                    "full_page_writes",
                    "wal_level",
                    "max_wal_size",
                    "checkpoint_timeout",
                    "autovacuum",
                    "autovacuum_max_workers",
                    "autovacuum_naptime",
                    "autovacuum_vacuum_threshold",
                    "autovacuum_vacuum_scale_factor",
                    "autovacuum_analyze_threshold",
                    "autovacuum_analyze_scale_factor",
                    "autovacuum_vacuum_cost_limit",
                    "autovacuum_vacuum_cost_delay",
                ]
                .map(String::from)
                .to_vec(),
            )
            .fetch_all(&mut *conn)
            .await
            .context("reading pg_settings")?;
    let settings: BTreeMap<String, (String, String)> = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get("name")?,
                (row.try_get("setting")?, row.try_get("unit")?),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let text = |name: &str| settings.get(name).map(|(s, _)| s.clone()).unwrap_or_default();
    let number = |name: &str| text(name).parse::<f64>().unwrap_or(0.0);
    let flag = |name: &str| text(name) == "on";
    let bytes = |name: &str| {
        settings
            .get(name)
            .and_then(|(setting, unit)| Some(setting.parse::<f64>().ok()? * unit_bytes(unit)?))
            .map_or(0, |b| b as u64)
    };
    let seconds = |name: &str| {
        settings
            .get(name)
            .and_then(|(setting, unit)| Some(setting.parse::<f64>().ok()? * unit_seconds(unit)?))
            .unwrap_or(0.0)
    };
    Ok(PostgresSettings {
        server_version: text("server_version"),
        server_version_num: number("server_version_num") as u32,
        shared_buffers_bytes: bytes("shared_buffers"),
        max_connections: number("max_connections") as u32,
        fsync: flag("fsync"),
        synchronous_commit: text("synchronous_commit"),
        full_page_writes: flag("full_page_writes"),
        wal_level: text("wal_level"),
        max_wal_size_bytes: bytes("max_wal_size"),
        checkpoint_timeout_s: seconds("checkpoint_timeout"),
        autovacuum: flag("autovacuum"),
        autovacuum_max_workers: number("autovacuum_max_workers") as u32,
        autovacuum_naptime_s: seconds("autovacuum_naptime"),
        autovacuum_vacuum_threshold: number("autovacuum_vacuum_threshold") as u64,
        autovacuum_vacuum_scale_factor: number("autovacuum_vacuum_scale_factor"),
        autovacuum_analyze_threshold: number("autovacuum_analyze_threshold") as u64,
        autovacuum_analyze_scale_factor: number("autovacuum_analyze_scale_factor"),
        autovacuum_vacuum_cost_limit: number("autovacuum_vacuum_cost_limit") as i64,
        autovacuum_vacuum_cost_delay_ms: seconds("autovacuum_vacuum_cost_delay") * 1000.0,
    })
}

/// The bytes in one unit of a `pg_settings` size.
fn unit_bytes(unit: &str) -> Option<f64> {
    Some(match unit {
        "B" => 1.0,
        "kB" => 1024.0,
        "8kB" => 8192.0,
        "16kB" => 16384.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// The seconds in one unit of a `pg_settings` time.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    })
}

/// One table's statistics (`pg_stat_user_tables`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableCounters {
    pub n_tup_ins: i64,
    pub n_tup_upd: i64,
    pub n_tup_hot_upd: i64,
    pub n_tup_del: i64,
    /// A gauge, not a counter.
    pub n_live_tup: i64,
    /// A gauge, not a counter.
    pub n_dead_tup: i64,
    pub vacuum_count: i64,
    pub autovacuum_count: i64,
    pub analyze_count: i64,
    pub autoanalyze_count: i64,
}

/// PostgreSQL's counters at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresCounters {
    /// `None` before PostgreSQL 14.
    pub wal: Option<WalCounters>,
    pub checkpoints: CheckpointCounters,
    pub bgwriter: BgwriterCounters,
    /// By `schema.table`.
    pub tables: BTreeMap<String, TableCounters>,
}

impl PostgresCounters {
    /// A snapshot of the server's counters and of the tables of `schemas`.
    pub async fn read(conn: &mut PgConnection, schemas: &[&str]) -> Result<Self> {
        let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut *conn)
            .await
            .context("reading the server's version")?;
        let wal = Self::read_wal(conn, version).await?;
        let checkpoints = Self::read_checkpoints(conn, version).await?;
        let bgwriter = Self::read_bgwriter(conn).await?;
        let tables = Self::read_tables(conn, schemas).await?;
        Ok(Self {
            wal,
            checkpoints,
            bgwriter,
            tables,
        })
    }

    /// The WAL's counters: their own view from PostgreSQL 14, none before.
    async fn read_wal(conn: &mut PgConnection, version: i32) -> Result<Option<WalCounters>> {
        if version < 140_000 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT wal_records, wal_fpi, wal_bytes::bigint AS wal_bytes, wal_buffers_full FROM pg_stat_wal",
        )
        .fetch_one(&mut *conn)
        .await
        .context("reading pg_stat_wal")?;
        Ok(Some(WalCounters {
            records: row.try_get("wal_records")?,
            full_page_images: row.try_get("wal_fpi")?,
            bytes: row.try_get("wal_bytes")?,
            buffers_full: row.try_get("wal_buffers_full")?,
        }))
    }

    /// The checkpointer's counters: in their own view from PostgreSQL 17, in the bgwriter's before.
    async fn read_checkpoints(conn: &mut PgConnection, version: i32) -> Result<CheckpointCounters> {
        let checkpoints_sql = if version >= 170_000 {
            "SELECT num_timed AS timed, num_requested AS requested, buffers_written, \
             write_time, sync_time FROM pg_stat_checkpointer"
        } else {
            "SELECT checkpoints_timed AS timed, checkpoints_req AS requested, \
             buffers_checkpoint AS buffers_written, checkpoint_write_time AS write_time, \
             checkpoint_sync_time AS sync_time FROM pg_stat_bgwriter"
        };
        let row = sqlx::query(checkpoints_sql)
            .fetch_one(&mut *conn)
            .await
            .context("reading the checkpointer's counters")?;
        Ok(CheckpointCounters {
            timed: row.try_get("timed")?,
            requested: row.try_get("requested")?,
            buffers_written: row.try_get("buffers_written")?,
            write_time_ms: row.try_get("write_time")?,
            sync_time_ms: row.try_get("sync_time")?,
        })
    }

    /// The background writer's own counters, apart from the checkpoints it reported before 17.
    async fn read_bgwriter(conn: &mut PgConnection) -> Result<BgwriterCounters> {
        let row = sqlx::query("SELECT buffers_clean, maxwritten_clean, buffers_alloc FROM pg_stat_bgwriter")
            .fetch_one(&mut *conn)
            .await
            .context("reading pg_stat_bgwriter")?;
        Ok(BgwriterCounters {
            buffers_clean: row.try_get("buffers_clean")?,
            maxwritten_clean: row.try_get("maxwritten_clean")?,
            buffers_alloc: row.try_get("buffers_alloc")?,
        })
    }

    /// The counters of the tables of `schemas`, by `schema.table`.
    async fn read_tables(
        conn: &mut PgConnection,
        schemas: &[&str],
    ) -> Result<BTreeMap<String, TableCounters>> {
        let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
        let rows = sqlx::query(
            "SELECT schemaname || '.' || relname AS name, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, \
             n_live_tup, n_dead_tup, vacuum_count, autovacuum_count, analyze_count, autoanalyze_count \
             FROM pg_stat_user_tables WHERE schemaname = ANY($1)",
        )
        .bind(&schemas)
        .fetch_all(&mut *conn)
        .await
        .context("reading pg_stat_user_tables")?;
        let tables = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("name")?,
                    TableCounters {
                        n_tup_ins: row.try_get("n_tup_ins")?,
                        n_tup_upd: row.try_get("n_tup_upd")?,
                        n_tup_hot_upd: row.try_get("n_tup_hot_upd")?,
                        n_tup_del: row.try_get("n_tup_del")?,
                        n_live_tup: row.try_get("n_live_tup")?,
                        n_dead_tup: row.try_get("n_dead_tup")?,
                        vacuum_count: row.try_get("vacuum_count")?,
                        autovacuum_count: row.try_get("autovacuum_count")?,
                        analyze_count: row.try_get("analyze_count")?,
                        autoanalyze_count: row.try_get("autoanalyze_count")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(tables)
    }

    /// What happened between `before` and this snapshot.
    pub fn since(&self, before: &Self) -> DatabaseDeltas {
        DatabaseDeltas {
            wal: match (self.wal, before.wal) {
                (Some(after), Some(before)) => Some(WalCounters {
                    records: after.records - before.records,
                    full_page_images: after.full_page_images - before.full_page_images,
                    bytes: after.bytes - before.bytes,
                    buffers_full: after.buffers_full - before.buffers_full,
                }),
                _ => None,
            },
            checkpoints: CheckpointCounters {
                timed: self.checkpoints.timed - before.checkpoints.timed,
                requested: self.checkpoints.requested - before.checkpoints.requested,
                buffers_written: self.checkpoints.buffers_written - before.checkpoints.buffers_written,
                write_time_ms: self.checkpoints.write_time_ms - before.checkpoints.write_time_ms,
                sync_time_ms: self.checkpoints.sync_time_ms - before.checkpoints.sync_time_ms,
            },
            bgwriter: BgwriterCounters {
                buffers_clean: self.bgwriter.buffers_clean - before.bgwriter.buffers_clean,
                maxwritten_clean: self.bgwriter.maxwritten_clean - before.bgwriter.maxwritten_clean,
                buffers_alloc: self.bgwriter.buffers_alloc - before.bgwriter.buffers_alloc,
            },
            tables: self
                .tables
                .iter()
                .map(|(name, after)| {
                    let before = before.tables.get(name).copied().unwrap_or_default();
                    (
                        name.clone(),
                        TableDeltas {
                            inserted: after.n_tup_ins - before.n_tup_ins,
                            updated: after.n_tup_upd - before.n_tup_upd,
                            hot_updated: after.n_tup_hot_upd - before.n_tup_hot_upd,
                            deleted: after.n_tup_del - before.n_tup_del,
                            dead_tuples_before: before.n_dead_tup,
                            dead_tuples_after: after.n_dead_tup,
                            vacuums: after.vacuum_count - before.vacuum_count,
                            autovacuums: after.autovacuum_count - before.autovacuum_count,
                            analyzes: after.analyze_count - before.analyze_count,
                            autoanalyzes: after.autoanalyze_count - before.autoanalyze_count,
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> QuietRule {
        QuietRule::default()
    }

    #[test]
    fn an_idle_server_is_quiet_once_a_whole_window_has_passed() {
        let mut window = SettleWindow::new(&rule());
        // 0.5 s polls, 0.001 s of CPU each: 0.2 % of a core
        let quiet: Vec<bool> = (0..8)
            .map(|i| window.observe(f64::from(i) * 0.5, f64::from(i) * 0.001, 0))
            .collect();
        assert_eq!(quiet, [false, false, false, false, false, false, true, true]);
    }

    #[test]
    fn a_busy_window_is_not_quiet_until_it_has_passed() {
        let mut window = SettleWindow::new(&rule());
        // 0.1 s of CPU in the first second (10 %), then nothing
        assert!(!window.observe(0.0, 0.0, 0));
        assert!(!window.observe(1.0, 0.1, 0));
        assert!(!window.observe(3.0, 0.1, 0));
        assert!(!window.observe(3.5, 0.1, 0));
        // The window from 1.0 s to 4.0 s used nothing.
        assert!(window.observe(4.0, 0.1, 0));
    }

    #[test]
    fn an_autovacuum_worker_starts_the_window_again() {
        let mut window = SettleWindow::new(&rule());
        assert!(!window.observe(0.0, 0.0, 0));
        assert!(window.observe(3.0, 0.0, 0));
        assert!(!window.observe(3.5, 0.0, 1));
        assert!(!window.observe(6.0, 0.0, 0));
        assert!(window.observe(6.5, 0.0, 0));
    }

    /// The CPU time of this process's children that have exited and been reaped, by the kernel's
    /// own account (`getrusage`), in seconds.
    fn reaped_children_cpu_s() -> f64 {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    #[test]
    fn a_child_that_burned_cpu_and_exited_still_counts_in_its_parents_tree() {
        // Given this process as the root of a tree, like a postmaster
        let tree = ProcessSet::Tree(std::process::id());
        let (before, children_before) = (tree.cpu_seconds_now().expect("/proc"), reaped_children_cpu_s());
        // When a child burns CPU, exits and is reaped
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        // Then the tree's CPU grew by at least what the kernel says the child used (to a tick)
        let burned = reaped_children_cpu_s() - children_before;
        let grown = tree.cpu_seconds_now().expect("/proc") - before;
        assert!(burned > 0.05, "the child burned {burned} s");
        assert!(
            grown >= burned - 0.02,
            "grew {grown} s, the child burned {burned} s"
        );
    }

    #[test]
    fn settings_units_convert_to_bytes_and_seconds() {
        assert_eq!(
            unit_bytes("8kB").map(|b| 16384.0 * b),
            Some(128.0 * 1024.0 * 1024.0)
        );
        assert_eq!(unit_seconds("min"), Some(60.0));
        assert_eq!(unit_bytes("furlong"), None);
    }
}
