//! The run record of `stack bench`: the one reader and writer of a `results/<run-id>/` directory.
//!
//! A run directory holds `meta.json` (what was run, where, with what), `results.json` (the headline
//! figures), `resources.csv` (1 Hz CPU and memory of every process) and, per repeat and scenario,
//! k6's own summary, raw samples and text output. `docs/results.md` documents every field; the types
//! here are that documentation in Rust. The report, the comparison, the per-hop breakdown and the
//! container target all go through [`Run::read`] and the writers below: nobody else parses the files.
//!
//! Every JSON file carries `format_version`. A reader refuses a higher version than
//! [`FORMAT_VERSION`] with a clear error and reads every lower one: fields added later are optional
//! (`#[serde(default)]`), so an old record still reads.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The version this code writes and the highest it reads.
pub const FORMAT_VERSION: u32 = 1;

pub const META_FILE: &str = "meta.json";
pub const RESULTS_FILE: &str = "results.json";
pub const RESOURCES_FILE: &str = "resources.csv";
/// The header of `resources.csv`, exactly.
pub const RESOURCES_HEADER: &str = "repeat,t_s,process,cpu_percent,rss_bytes";

/// What was run, where and with what: written when a run starts, completed when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    pub run_id: String,
    /// Which system was driven: free text ("sync", "broker", ...).
    pub implementation: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `None` while the run is under way (or if it was cut short).
    pub ended_at: Option<String>,
    pub command: Vec<String>,
    pub profile: String,
    pub scenarios: Vec<String>,
    pub repeats: u32,
    /// Seconds of warm-up per scenario before each measured run, excluded from every figure.
    pub warmup_s: f64,
    pub db_reset: DbReset,
    pub target: DrivenTarget,
    pub git: Git,
    pub versions: Versions,
    pub machine: Machine,
    pub sampler: Sampling,
    #[serde(default)]
    pub options: ScriptOptions,
    /// `results/generator-ceiling.json` as the run began: the rates k6 on this machine offers on
    /// time (`stack calibrate`); `None` if it was not calibrated.
    #[serde(default)]
    pub generator_ceiling: Option<crate::study::bench::generator::CeilingFile>,
}

/// How the database was returned to its seeded state before each repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbReset {
    /// Over SQL, by `stack`'s one definition of the seeded state, in one transaction.
    Sql,
    /// The same SQL through `docker exec postgres psql`.
    ComposeExec,
    /// Not reset: repeats after the first start from the previous repeat's data.
    None,
}

/// The target a run drove: its kind and its entrypoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrivenTarget {
    pub kind: TargetKind,
    /// The six entrypoints driven, by service name.
    pub urls: BTreeMap<String, String>,
}

/// What `stack bench` drove (`--target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// Start the services as local processes (and a private PostgreSQL unless DATABASE_URL is set).
    Local,
    /// A system already running under docker-compose or podman, entrypoints on 127.0.0.1:8001-8006.
    Compose,
    /// Six entrypoints given with --url.
    Urls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Git {
    /// `None` outside a git checkout.
    pub commit: Option<String>,
    /// Whether tracked files differed from the commit; `None` when unknown.
    pub dirty: Option<bool>,
}

/// Versions of the tools, `None` when a tool could not be asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub rustc: Option<String>,
    pub k6: Option<String>,
    pub postgres: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u32,
    pub memory_bytes: u64,
    pub kernel: String,
    pub cpu_model: String,
}

/// The resource sampler and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub interval_s: f64,
    /// The sampler's own CPU time over the run, in % of one core; `None` until the run ends.
    pub cpu_percent_of_one_core: Option<f64>,
}

/// Options handed to the k6 script.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptOptions {
    /// Fixed-work S4: exactly this many reports (`S4_REPORTS=n`).
    #[serde(default)]
    pub s4_reports: Option<u32>,
    /// `capacity` only: seconds per step (`CAPACITY_STEP_S`).
    #[serde(default)]
    pub capacity_step_s: Option<f64>,
}

/// One line of `resources.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub repeat: u32,
    /// Seconds since the start of that repeat.
    pub t_s: f64,
    /// A service name, `postgres` (all its processes summed) or `k6`.
    pub process: String,
    /// % of one core (up to 100 × cores).
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

/// The headline figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub format_version: u32,
    pub repeats: u32,
    /// By scenario name (`s1` ... `s6`).
    pub scenarios: BTreeMap<String, ScenarioResult>,
    /// `capacity` profile only: by scenario name.
    #[serde(default)]
    pub capacity: Option<BTreeMap<String, Capacity>>,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A figure over the repeats: their mean, the 95 % confidence interval of that mean (Student's t,
/// n-1 degrees of freedom; `None` with one repeat), and each repeat's own value in repeat order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub ci95: Option<[f64; 2]>,
    pub runs: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Each measured run's time window, in `resources.csv`'s `t_s` of its repeat.
    pub window: Vec<Window>,
    /// Completed requests in the measured run.
    pub requests: Stat,
    /// Completed requests / measured duration.
    pub rate_per_s: Stat,
    pub p50_ms: Stat,
    pub p90_ms: Stat,
    pub p99_ms: Stat,
    pub p999_ms: Stat,
    pub max_ms: Stat,
    /// Requests k6 counted in `http_req_failed` (S5's 400 is expected, so not counted).
    pub unexpected_failures: Stat,
    /// Iterations an arrival-rate executor could not start (0 for closed-loop executors).
    pub dropped_iterations: Stat,
    pub checks_failed: Stat,
    /// S4 with `S4_REPORTS=n`: the time to complete exactly n reports.
    #[serde(default)]
    pub fixed_work: Option<FixedWork>,
    /// Latency percentiles pooled over the repeats, on [`PERCENTILE_LADDER`].
    pub distribution: Vec<Percentile>,
    /// Per second of each measured run: throughput and p99.
    pub timeline: Vec<TimelinePoint>,
    /// By process: CPU and memory within this scenario's windows.
    pub resources: BTreeMap<String, ProcessResources>,
    /// Per-hop breakdown from the services' metrics (filled by the telemetry of issue 11).
    #[serde(default)]
    pub hops: Option<Hops>,
}

/// The percentiles of [`ScenarioResult::distribution`].
pub const PERCENTILE_LADDER: [f64; 18] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
    100.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub repeat: u32,
    pub start_s: f64,
    pub end_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedWork {
    pub reports: u32,
    pub seconds: Stat,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub repeat: u32,
    /// The start of the one-second bucket, in `resources.csv`'s `t_s`.
    pub t_s: f64,
    pub requests: u64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessResources {
    pub cpu_mean_percent: Stat,
    pub cpu_max_percent: Stat,
    pub rss_max_bytes: Stat,
}

/// The `capacity` profile's steps of one scenario and the rate it sustained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub slo_p99_ms: f64,
    /// Every step of every repeat, in order.
    pub steps: Vec<Step>,
    /// The highest step rate that is ok with every lower step ok, the lowest over the repeats;
    /// `None` if the first step already failed.
    pub sustained_rate: Option<f64>,
    /// Each repeat's own sustained rate.
    #[serde(default)]
    pub sustained_per_repeat: Vec<Option<f64>>,
    /// Whether any step was limited by the load generator rather than the system.
    pub generator_limited: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default = "first_repeat")]
    pub repeat: u32,
    /// Requested arrivals per second.
    pub rate: f64,
    pub achieved_per_s: f64,
    pub p99_ms: f64,
    pub unexpected_failures: u64,
    pub dropped_iterations: u64,
    /// The most VUs k6 had in use during the step.
    pub max_vus: u64,
    pub k6_cpu_percent: f64,
    pub generator_limited: bool,
    /// p99 within the SLO, no unexpected failure, no dropped iteration.
    pub ok: bool,
}

fn first_repeat() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Whether all of k6's thresholds passed in every measured run.
    pub passed: bool,
    /// `<scenario> repeat <n>: <threshold>` of each that failed.
    pub failed: Vec<String>,
}

/// Where the time of one entry request went, from the services' metrics before and after the
/// scenario (issue 11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hops {
    /// The entry service.
    pub service: String,
    /// Server-side duration of the entry route.
    pub end_to_end: HopFigure,
    pub downstream: Vec<DownstreamHop>,
    #[serde(default)]
    pub pool_wait: Option<HopFigure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopFigure {
    pub count: u64,
    /// From the `_sum`/`_count` deltas.
    pub mean_ms: f64,
    /// Interpolated within the histogram buckets of the delta.
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamHop {
    pub server: String,
    pub route: String,
    pub count: u64,
    pub mean_ms: f64,
    pub p99_ms: f64,
    /// Calls by outcome (`ok`, `error_status`, `timeout`, `connect`).
    #[serde(default)]
    pub outcome: BTreeMap<String, u64>,
}

/// A run directory, read.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub meta: Meta,
    /// `None` while the run is under way, or if it stopped before its end.
    pub results: Option<Results>,
    pub resources: Vec<ResourceRow>,
}

impl Run {
    /// Reads the run in `dir`: `meta.json` must be there; `results.json` and `resources.csv` may not
    /// be yet.
    pub fn read(dir: &Path) -> Result<Self> {
        let meta: Meta = read_json(&dir.join(META_FILE))?;
        let results_path = dir.join(RESULTS_FILE);
        let results = if results_path.exists() {
            Some(read_json(&results_path)?)
        } else {
            None
        };
        let resources_path = dir.join(RESOURCES_FILE);
        let resources = if resources_path.exists() {
            read_resources(&resources_path)?
        } else {
            Vec::new()
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            results,
            resources,
        })
    }

    /// k6's `--summary-export` of one measured run, as k6 wrote it.
    pub fn k6_summary(&self, repeat: u32, scenario: &str) -> Result<serde_json::Value> {
        let path = scenario_dir(&self.dir, repeat, scenario).join(SUMMARY_FILE);
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    }
}

/// k6's `--summary-export` of a measured run.
pub const SUMMARY_FILE: &str = "summary.json";
/// k6's raw samples (`--out csv=...gz`), compressed by k6.
pub const SAMPLES_FILE: &str = "samples.csv.gz";
/// The text summary k6 printed.
pub const K6_TEXT_FILE: &str = "k6.txt";

/// `<run>/repeats/<repeat>/<scenario>/`: the files of one measured run.
pub fn scenario_dir(run: &Path, repeat: u32, scenario: &str) -> PathBuf {
    run.join("repeats").join(repeat.to_string()).join(scenario)
}

pub fn write_meta(dir: &Path, meta: &Meta) -> Result<()> {
    write_json(&dir.join(META_FILE), meta)
}

pub fn write_results(dir: &Path, results: &Results) -> Result<()> {
    write_json(&dir.join(RESULTS_FILE), results)
}

/// Writes `resources.csv` with exactly [`RESOURCES_HEADER`].
pub fn write_resources(dir: &Path, rows: &[ResourceRow]) -> Result<()> {
    let path = dir.join(RESOURCES_FILE);
    let mut writer = csv::Writer::from_path(&path).with_context(|| format!("creating {}", path.display()))?;
    if rows.is_empty() {
        writer.write_record(RESOURCES_HEADER.split(','))?;
    }
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

fn read_resources(path: &Path) -> Result<Vec<ResourceRow>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let header = reader.headers()?.iter().collect::<Vec<_>>().join(",");
    if header != RESOURCES_HEADER {
        bail!(
            "{}: header {header:?}, expected {RESOURCES_HEADER:?}",
            path.display()
        );
    }
    reader
        .deserialize()
        .collect::<Result<Vec<ResourceRow>, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    // Written aside and renamed, so a reader never sees half a file.
    let partial = path.with_extension("json.partial");
    fs::write(&partial, text + "\n").with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// Reads a JSON file of the record, refusing one written by a newer format.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .with_context(|| format!("{} has no format_version: not a run record", path.display()))?;
    if version > u64::from(FORMAT_VERSION) {
        bail!(
            "{} is format_version {version}, newer than this stack reads ({FORMAT_VERSION}): use a newer stack",
            path.display()
        );
    }
    serde_json::from_value(value).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(runs: &[f64]) -> Stat {
        Stat {
            mean: runs.iter().sum::<f64>() / runs.len() as f64,
            ci95: Some([1.0, 2.0]),
            runs: runs.to_vec(),
        }
    }

    fn meta() -> Meta {
        Meta {
            format_version: FORMAT_VERSION,
            run_id: "20261125T130000Z-smoke".into(),
            implementation: "sync".into(),
            started_at: "2026-11-25T13:00:00Z".into(),
            ended_at: Some("2026-11-25T13:02:10Z".into()),
            command: vec!["stack".into(), "bench".into()],
            profile: "smoke".into(),
            scenarios: vec!["s3".into()],
            repeats: 2,
            warmup_s: 5.0,
            db_reset: DbReset::Sql,
            target: DrivenTarget {
                kind: TargetKind::Local,
                urls: BTreeMap::from([("productservice".into(), "http://127.0.0.1:8003".into())]),
            },
            git: Git {
                commit: Some("abc".into()),
                dirty: Some(false),
            },
            versions: Versions {
                rustc: Some("1.95.0".into()),
                k6: Some("1.1.0".into()),
                postgres: None,
            },
            machine: Machine {
                cores: 2,
                memory_bytes: 1 << 30,
                kernel: "6.1".into(),
                cpu_model: "cpu".into(),
            },
            sampler: Sampling {
                interval_s: 1.0,
                cpu_percent_of_one_core: Some(0.4),
            },
            options: ScriptOptions::default(),
            generator_ceiling: None,
        }
    }

    fn results() -> Results {
        let s = stat(&[1.0, 2.0]);
        let scenario = ScenarioResult {
            window: vec![Window {
                repeat: 1,
                start_s: 1.0,
                end_s: 2.0,
            }],
            requests: s.clone(),
            rate_per_s: s.clone(),
            p50_ms: s.clone(),
            p90_ms: s.clone(),
            p99_ms: s.clone(),
            p999_ms: s.clone(),
            max_ms: s.clone(),
            unexpected_failures: s.clone(),
            dropped_iterations: s.clone(),
            checks_failed: s.clone(),
            fixed_work: None,
            distribution: vec![Percentile {
                percentile: 50.0,
                ms: 2.5,
            }],
            timeline: vec![TimelinePoint {
                repeat: 1,
                t_s: 1.0,
                requests: 10,
                p99_ms: 3.0,
            }],
            resources: BTreeMap::from([(
                "k6".into(),
                ProcessResources {
                    cpu_mean_percent: s.clone(),
                    cpu_max_percent: s.clone(),
                    rss_max_bytes: s.clone(),
                },
            )]),
            hops: None,
        };
        Results {
            format_version: FORMAT_VERSION,
            repeats: 2,
            scenarios: BTreeMap::from([("s3".into(), scenario)]),
            capacity: None,
            thresholds: Thresholds {
                passed: true,
                failed: vec![],
            },
            warnings: vec![],
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stack-record-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a temporary folder");
        dir
    }

    #[test]
    fn a_written_run_reads_back_the_same() {
        // Given a run written by the writers
        let dir = temp_dir("roundtrip");
        let rows = vec![ResourceRow {
            repeat: 1,
            t_s: 0.5,
            process: "postgres".into(),
            cpu_percent: 12.5,
            rss_bytes: 1024,
        }];
        write_meta(&dir, &meta()).expect("meta");
        write_results(&dir, &results()).expect("results");
        write_resources(&dir, &rows).expect("resources");
        // When it is read
        let run = Run::read(&dir).expect("the run reads");
        // Then every file reads back as written, and the CSV has the documented header
        assert_eq!(run.meta, meta());
        assert_eq!(run.results, Some(results()));
        assert_eq!(run.resources, rows);
        let csv = fs::read_to_string(dir.join(RESOURCES_FILE)).expect("csv");
        assert_eq!(csv.lines().next(), Some(RESOURCES_HEADER));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_format_version_is_refused_with_a_clear_error() {
        let dir = temp_dir("newer");
        let mut newer = meta();
        newer.format_version = FORMAT_VERSION + 1;
        write_meta(&dir, &newer).expect("meta");
        let err = Run::read(&dir).expect_err("a newer record is refused");
        assert!(
            format!("{err:#}").contains("newer than this stack reads"),
            "{err:#}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_under_way_reads_without_results() {
        let dir = temp_dir("under-way");
        let mut running = meta();
        running.ended_at = None;
        write_meta(&dir, &running).expect("meta");
        let run = Run::read(&dir).expect("the run reads");
        assert!(run.results.is_none() && run.resources.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
