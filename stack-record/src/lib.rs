//! `stack-record`: the run record of `stack bench`, the one reader and writer of a
//! `results/<run-id>/` directory. It is a crate of its own, at the bottom, so that the format can be
//! read by any tool without the bench that writes it: it holds the format's types, their reading,
//! writing and versions, and nothing of how the figures are measured.
//!
//! A run directory holds `meta.json` (what was run, where, with what), `results.json` (the headline
//! figures), `resources.csv` (1 Hz CPU and memory of every process) and, per repeat and scenario,
//! k6's own summary, raw samples and text output. `docs/results.md` documents every field; the types
//! here ([`order`], [`database`], [`pinning`] and [`ceiling`] for parts of `meta.json`) are that
//! documentation in Rust. Whoever reads a record goes through [`RunRecord::read`], and whoever writes one
//! through the writers below: nobody else parses the files.
//!
//! Every JSON file carries `format_version`. A reader refuses a higher version than
//! [`FORMAT_VERSION`] with a clear error and reads every lower one: fields added later are optional
//! (`#[serde(default)]`), so an old record still reads. Version 2 made the percentiles optional
//! (withheld where too few samples support them, [`needed_samples`]); a version-1 record is read with
//! that rule applied to what it holds ([`Results::withhold_unsupported`]).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub mod ceiling;
pub mod database;
mod machine;
pub mod order;
pub mod pinning;
pub mod processes;
pub mod traces;
pub mod work;

pub use machine::Machine;
pub use work::{BacklogPoint, StepCompletion};

/// The version this code writes and the highest it reads.
pub const FORMAT_VERSION: u32 = 2;

pub const META_FILE: &str = "meta.json";
pub const RESULTS_FILE: &str = "results.json";
pub const RESOURCES_FILE: &str = "resources.csv";
/// The header of `resources.csv`, exactly.
pub const RESOURCES_HEADER: &str = "repeat,t_s,process,cpu_percent,rss_bytes,pss_bytes,interval_s";
/// The header of the first `resources.csv`s, which still read: each row a 1 s interval, no PSS.
pub const RESOURCES_HEADER_V1: &str = "repeat,t_s,process,cpu_percent,rss_bytes";

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
    /// The order the scenarios of each repeat ran in, and its seed (`None` in older records: s1 ... s6).
    #[serde(default)]
    pub order: Option<order::ScenarioOrder>,
    /// Whether each measured run was quiesced, by which rule, or why not (`None` in older records: not).
    #[serde(default)]
    pub quiescing: Option<database::QuietRuleRecord>,
    /// The PostgreSQL settings that shape performance; `None` when the database could not be read.
    #[serde(default)]
    pub postgres_settings: Option<database::PostgresSettings>,
    /// Each measured run in the order it ran: its quiescing and PostgreSQL's counters over it.
    #[serde(default)]
    pub runs: Vec<database::MetaRunEntry>,
    /// The CPUs k6 and the system were pinned to (`--cpus`; `None` in older records: unknown).
    #[serde(default)]
    pub cpus: Option<pinning::CpuPinning>,
    /// The Go runtime settings k6 ran with (`GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`), as `stack` set them
    /// or found them set; a setting absent here was Go's default (`None` in older records: Go's
    /// defaults, GC at `GOGC=100` and one thread per allowed CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_runtime: Option<std::collections::BTreeMap<String, String>>,
    /// `results/generator-ceiling.json` as the run began: the rates k6 on this machine offers on
    /// time (`stack calibrate`); `None` if it was not calibrated.
    #[serde(default)]
    pub generator_ceiling: Option<ceiling::CeilingFile>,
    /// Per repeat (per round of a study), whether the system's processes were started for it, what
    /// the restart took, and their ids (empty in older records: the processes were shared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeat_processes: Vec<processes::RepeatProcesses>,
    /// The k6 script and the capacity plan the runs were made with, by content (`None` in older
    /// records): two records made from different files measured different things.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_files: Option<ScriptFiles>,
}

/// The files that shape the load, by the SHA-256 of their content (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptFiles {
    /// `k6-tests/script-sync.js`.
    pub script_sha256: String,
    /// `k6-tests/capacity.json` (the SLOs and the capacity steps, read by the script and the bench).
    pub capacity_sha256: String,
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
    /// `capacity` only: the run kept only this many steps of each scenario's ladder, from the lowest
    /// (`CAPACITY_STEPS`); `None` for every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_steps: Option<u32>,
    /// The arrival-rate VU pool's multiple of rate × SLO (`VU_MARGIN`), where not the script's 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vu_margin: Option<f64>,
    /// Which answers counted as accepted (`--contract`, the script's `CONTRACT`); `None` in records
    /// older than contracts, whose checks were this system's (`sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractRecord>,
    /// The fraction of iterations whose request carried a sampled `traceparent` (`--trace-sample`,
    /// the script's `TRACE_SAMPLE`); `None` in records older than it (none traced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_sample: Option<f64>,
}

/// The implementation's contract a run was judged by: a file of `k6-tests/contracts/`, or any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractRecord {
    /// The contract's own `name` (`sync`, `broker`, ...).
    pub name: String,
    /// The file, relative to the workspace where it lies within it.
    pub file: String,
    /// SHA-256 of the file's bytes, lower-case hex: two records name the same contract only if equal.
    pub sha256: String,
    /// The scenarios whose answer the contract calls an acknowledgement (`defers`): their work is done
    /// later, so only their completion says when. Empty (or absent, in older records) for this
    /// system's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defers: Vec<String>,
}

/// One line of `resources.csv`: one watched name over one sampling interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub repeat: u32,
    /// The *start* of the row's interval, in seconds since the start of that repeat.
    pub t_s: f64,
    /// A service name, `postgres` (all its processes summed) or `k6`.
    pub process: String,
    /// Mean % of one core over the interval (up to 100 × cores).
    pub cpu_percent: f64,
    /// Summed resident set size at the end of the interval.
    pub rss_bytes: u64,
    /// Summed proportional set size at the end of the interval; `None` (an empty field) where it was
    /// not measured: a container, or a record older than the column.
    #[serde(default)]
    pub pss_bytes: Option<u64>,
    /// The interval's measured length, in s (1 in records older than the column).
    #[serde(default = "one_second")]
    pub interval_s: f64,
}

impl ResourceRow {
    /// The CPU time the row accounts for, in s.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_percent / 100.0 * self.interval_s
    }
}

fn one_second() -> f64 {
    1.0
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
    /// Requests answered as expected per second: over the scheduled duration for an open-loop
    /// scenario, over the first request's start to the last response for a closed-loop one.
    pub rate_per_s: Stat,
    /// `None` when a repeat has fewer samples than the percentile needs (see `withheld`).
    pub p50_ms: Option<Stat>,
    pub p90_ms: Option<Stat>,
    pub p99_ms: Option<Stat>,
    pub p999_ms: Option<Stat>,
    pub max_ms: Stat,
    /// Each percentile of this scenario (plain, lag, corrected) left out for want of samples.
    #[serde(default)]
    pub withheld: Vec<Withheld>,
    /// Arrival-rate scenarios (version 2): schedule lag, corrected latency and the accounting.
    #[serde(default)]
    pub open_loop: Option<OpenLoop>,
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
    /// CPU per completed request over the measured windows; `None` in older records and where
    /// nothing was sampled or no request completed.
    #[serde(default)]
    pub cost: Option<Cost>,
    /// The time until the work of a traced request was done, from its trace (issue 29); `None`
    /// where no request was traced or no repeat has its `traces.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<Completion>,
    /// Per second of each repeat with traces: accepted answers, completed work and their
    /// difference, estimated from the traced requests ([`BacklogPoint`], `docs/results.md`,
    /// "Backlog"). Empty where no request was traced, and in older records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backlog: Vec<BacklogPoint>,
}

/// What became of a scenario's traced requests whose answer was accepted, and how long their work
/// took to be done: each one's completion time is its trace's last span end minus its intended start
/// (`docs/results.md`, "Completion"). Counts and rates are one run per repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Traced requests whose answer was accepted.
    pub traced: Stat,
    /// Of them, those whose trace reached no service (no span of it was received).
    pub untraced: Stat,
    /// Of them, those whose trace had stopped receiving spans by the end of the drain.
    pub completed: Option<Stat>,
    /// `completed` ÷ `traced`.
    pub completed_fraction: Option<Stat>,
    /// Accepted answers per second (the scenario's `rate_per_s`) × the rate the traced requests
    /// were completed at ÷ the rate they were accepted at (`docs/results.md`).
    pub completions_per_s: Option<Stat>,
    /// `None` where withheld: for too few traced requests (the scenario's `withheld` names
    /// `completion_p50_ms`), or by `withheld_because`.
    pub p50_ms: Option<Stat>,
    pub p99_ms: Option<Stat>,
    /// The percentiles (`p50_ms`, `p99_ms`) that fell, in some repeat, at or above a trace still
    /// receiving spans at the end of the drain: the work took at least that long.
    #[serde(default)]
    pub at_least: Vec<String>,
    /// Why every figure but the counts is withheld (more than 1 % of the traced requests untraced:
    /// the system did not pass the trace context on).
    #[serde(default)]
    pub withheld_because: Option<String>,
    /// How the spans' times and k6's were set on one clock.
    pub clock: String,
    /// The interval the offset of the spans' clock from k6's lies in, over the repeats (the widest
    /// low and high), from the traces (`docs/results.md`); `None` in older records or without traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<ClockOffset>,
}

/// Where the offset of one clock from another lies, ms: the system's clock minus k6's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    pub low_ms: f64,
    pub high_ms: f64,
}

impl ClockOffset {
    pub fn middle_ms(&self) -> f64 {
        (self.low_ms + self.high_ms) / 2.0
    }

    pub fn half_width_ms(&self) -> f64 {
        (self.high_ms - self.low_ms) / 2.0
    }
}

/// CPU-µs per completed request over a scenario's measured windows (`bench/cost.rs`), one run per
/// repeat. The system is its services and its database together; the generator is k6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub system_us: Stat,
    pub services_us: Stat,
    pub database_us: Stat,
    pub generator_us: Stat,
    /// By watched name (`resources.csv`'s `process`).
    pub by_process: BTreeMap<String, Stat>,
    /// The components whose CPU in their smallest run was under [`CPU_TICKS_NEEDED`] clock ticks,
    /// with that count: `services`, `database` and `generator` for the parts, a watched name for a
    /// process. Their figures above are mostly rounding (one tick is 10 ms), and are shown as "under
    /// 100 ticks", never as a number. Empty in older records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub under_ticks: BTreeMap<String, u64>,
}

impl Cost {
    /// The names of the three parts in [`Cost::under_ticks`].
    pub const SERVICES: &'static str = "services";
    pub const DATABASE: &'static str = "database";
    pub const GENERATOR: &'static str = "generator";

    /// Whether `component`'s figure rests on fewer than [`CPU_TICKS_NEEDED`] ticks in some run.
    pub fn is_under_ticks(&self, component: &str) -> bool {
        self.under_ticks.contains_key(component)
    }
}

/// A figure not reported because too little lies behind it: `figure` had `samples` of its
/// `basis` in its smallest repeat (or step), fewer than `needed`. A percentile (`p99_ms`,
/// `corrected_p999_ms`, ...) counts requests against [`needed_samples`]; the cost per request
/// (`cost`) counts the system's CPU clock ticks against [`CPU_TICKS_NEEDED`]; a corrected
/// percentile may also be withheld for the arrivals left unanswered ([`Basis::Answered`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    pub figure: String,
    pub samples: u64,
    pub needed: u64,
    #[serde(default, skip_serializing_if = "Basis::is_requests")]
    pub basis: Basis,
}

/// What a [`Withheld`] figure's `samples` count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Requests (latency samples): a percentile's basis.
    #[default]
    Requests,
    /// Clock ticks of CPU time (`/proc` counts CPU in ticks of 1/100 s): the cost's basis.
    CpuTicks,
    /// Arrivals answered, of those scheduled: a corrected percentile's basis in an open-loop run
    /// (or step). A dropped or interrupted arrival has a latency bounded below only, so a
    /// percentile q is defined only while they are at most 1 − q of the schedule: `samples` is the
    /// arrivals answered in the repeat (or step) that had the fewest to spare, `needed` the
    /// arrivals q × scheduled (rounded up) that the percentile needs answered ([`answered_enough`]).
    Answered,
    /// The clocks' agreement, for a completion percentile of a system on another host: `needed` is
    /// the half-width of the interval its clock's offset lies in (`Completion::clock_offset_ms`), µs,
    /// and `samples` 1 % of the figure, µs, which the half-width must not exceed.
    ClockOffset,
}

impl Basis {
    fn is_requests(&self) -> bool {
        *self == Basis::Requests
    }
}

/// The clock ticks of CPU (1/100 s each) the system must have spent in every measured run of a
/// scenario for its cost per request to be reported. `/proc` truncates each process's CPU time to
/// whole ticks, so each process's CPU over a window is off by up to a tick: at 100 ticks a dozen
/// processes are within an eighth at worst, and their independent errors mostly cancel. Below it, a
/// smoke run's handful of requests reads 0 µs (issue 18's figure must not say that).
pub const CPU_TICKS_NEEDED: u64 = 100;

/// `/proc`'s clock ticks per second (USER_HZ, 100 on Linux whatever the kernel's own tick rate).
pub const CPU_TICKS_PER_SECOND: f64 = 100.0;

/// The cost per request's name in a scenario's `withheld`.
pub const COST_FIGURE: &str = "cost";

/// The samples a percentile `q` (0-100) needs to be reported: 10 / (1 − q/100), so that at least ten
/// samples lie beyond it (p50 20, p90 100, p99 1,000, p99.9 10,000). Below that the figure is the
/// few largest samples, or the maximum itself.
pub fn needed_samples(q: f64) -> u64 {
    (10.0 / (1.0 - q / 100.0)).round() as u64
}

/// A percentile of `samples` if they support it; else `None` and the reason in `withheld`.
pub fn supported<T>(
    figure: &str,
    q: f64,
    samples: u64,
    value: impl FnOnce() -> T,
    withheld: &mut Vec<Withheld>,
) -> Option<T> {
    let needed = needed_samples(q);
    if samples >= needed {
        Some(value())
    } else {
        withheld.push(Withheld {
            figure: figure.to_owned(),
            samples,
            needed,
            basis: Basis::Requests,
        });
        None
    }
}

/// Whether an open-loop run (or step) answered enough of its `scheduled` arrivals for the
/// corrected percentile `q` (0-100) to be defined: its unanswered arrivals (dropped and interrupted)
/// are at most 1 − q/100 of the schedule. If not, the reason goes in `withheld` ([`Basis::Answered`]).
/// Issue 30: an unanswered arrival is a latency with no upper bound, so beyond that fraction the
/// percentile lies among them and is undefined.
pub fn answered_enough(
    figure: &str,
    q: f64,
    unanswered: u64,
    scheduled: u64,
    withheld: &mut Vec<Withheld>,
) -> bool {
    let defined = unanswered as f64 <= (1.0 - q / 100.0) * scheduled as f64;
    if !defined {
        withheld.push(Withheld {
            figure: figure.to_owned(),
            samples: scheduled.saturating_sub(unanswered),
            needed: (q / 100.0 * scheduled as f64).ceil() as u64,
            basis: Basis::Answered,
        });
    }
    defined
}

/// What an arrival-rate scenario's generator did: how late it started each iteration behind its
/// plan (schedule lag), the latency counted from the intended start (corrected, wrk2's measure), and
/// where every scheduled arrival went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLoop {
    /// max(1 ms, 5 % of the scenario's p99 SLO): a lag p99 above it is the generator's limit.
    pub lag_limit_ms: f64,
    pub lag_p50_ms: Option<Stat>,
    pub lag_p99_ms: Option<Stat>,
    pub lag_max_ms: Stat,
    /// The corrected percentiles count every scheduled arrival: a dropped or interrupted one at its
    /// lower bound (docs/results.md, "Unanswered arrivals"), and each is withheld where too few
    /// samples support it or too many arrivals went unanswered ([`answered_enough`]).
    pub corrected_p50_ms: Option<Stat>,
    /// Issue 30: the corrected p90, for the headline table (absent in older records).
    #[serde(default)]
    pub corrected_p90_ms: Option<Stat>,
    pub corrected_p99_ms: Option<Stat>,
    pub corrected_p999_ms: Option<Stat>,
    /// Each repeat's arrivals, in repeat order.
    pub accounting: Vec<Accounting>,
    /// Some repeat's lag p99 (its maximum where the p99 is withheld) exceeded the lag it was
    /// allowed: `lag_limit_ms`, or, where `lag_judgement` says so, its floor plus 5 % of its
    /// corrected p99.
    pub generator_limited: bool,
    /// Issue 30: the rule that judged the generator and the floor it used. `None` in older
    /// records, which judged by `lag_limit_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_judgement: Option<LagJudgement>,
}

impl OpenLoop {
    /// The lag p99 a repeat may show before it is the generator's: the smallest allowed over the
    /// repeats, `lag_limit_ms` in a record without a [`LagJudgement`].
    pub fn allowed_lag_ms(&self) -> f64 {
        self.lag_judgement
            .as_ref()
            .and_then(|judgement| judgement.allowed_lag_p99_ms.iter().copied().reduce(f64::min))
            .unwrap_or(self.lag_limit_ms)
    }
}

/// How a run's (or a capacity step's) generator was judged (issue 30): by which rule, against which
/// floor, and the lag p99 each repeat was allowed. docs/generator.md, "The rule".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagJudgement {
    pub rule: LagRule,
    /// k6's lag p50 and p99 offering this scenario's iterations to a responder that answers at
    /// once (`stack calibrate`'s floor probe, [`ceiling::ScenarioCeiling::floor_probe`]); `None` under
    /// [`LagRule::SloLimit`].
    pub floor_p50_ms: Option<f64>,
    pub floor_p99_ms: Option<f64>,
    /// The arrivals per second the floor was measured at.
    pub floor_rate_per_s: Option<f64>,
    /// The latency p99 the lag would distort, per repeat (one for a step): the corrected p99, or
    /// the slowest corrected latency where the p99 is withheld.
    pub judged_p99_ms: Vec<f64>,
    /// The lag p99 allowed, per repeat (one for a step): `floor_p99_ms` + 5 % of `judged_p99_ms`
    /// under [`LagRule::AboveFloor`], max(1 ms, 5 % of the SLO) under [`LagRule::SloLimit`]. A
    /// repeat's lag p99 (its maximum where the p99 is withheld) above it is the generator's.
    pub allowed_lag_p99_ms: Vec<f64>,
}

/// Which rule judged a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagRule {
    /// The lag above k6's calibrated floor against 5 % of the latency it would distort.
    AboveFloor,
    /// No floor known (no calibration, or one older than the floor): the lag against
    /// max(1 ms, 5 % of the scenario's p99 SLO).
    SloLimit,
}

/// Where the arrivals of one open-loop run (or capacity step) went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    pub repeat: u32,
    /// rate × duration, as the k6 script plans it.
    pub scheduled: u64,
    /// The plan's duration, in s: what open-loop rates divide by.
    pub scheduled_s: f64,
    /// Answered as expected.
    pub completed: u64,
    /// Answered unexpectedly (`http_req_failed`), or not at all (a timeout).
    pub failed: u64,
    /// Never started: no VU was free (`dropped_iterations`).
    pub dropped: u64,
    /// Started but cut off by the end of the step or run before their answer.
    pub interrupted: u64,
}

impl Accounting {
    /// Arrivals never answered: dropped or interrupted.
    pub fn unanswered(&self) -> u64 {
        self.dropped + self.interrupted
    }

    /// How long past its plan k6 may go on starting arrivals: it ends an arrival-rate executor on a
    /// timer of its own, which runs a little behind the plan's clock, and starts the arrivals due in
    /// that gap (two extra, 2 ms' worth, at 1,000/s on our machine: S6 of an A/A study of
    /// 2026-12-05). They are real requests, answered and counted.
    pub const END_SKEW_S: f64 = 0.01;

    /// Whether the parts add up to the plan: every scheduled arrival is accounted for, plus at most
    /// the arrivals due within [`Self::END_SKEW_S`] after it (one at least).
    pub fn closes(&self) -> bool {
        let parts = self.completed + self.failed + self.dropped + self.interrupted;
        let rate = if self.scheduled_s > 0.0 {
            self.scheduled as f64 / self.scheduled_s
        } else {
            0.0
        };
        let beyond = ((rate * Self::END_SKEW_S).ceil() as u64).max(1);
        (self.scheduled..=self.scheduled + beyond).contains(&parts)
    }
}

/// The percentiles of [`ScenarioResult::distribution`].
pub const PERCENTILE_LADDER: [f64; 18] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
    100.0,
];

/// A measured run's span within its repeat, on the clock of `resources.csv`'s `t_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub repeat: u32,
    pub start_s: f64,
    pub end_s: f64,
}

impl Window {
    /// The share of `row`'s interval that lies within this window, 0 to 1. A run's window is
    /// bounded by sampler marks, so its rows lie wholly inside (1) or outside (0); a window cut
    /// from within a run (a capacity step) can straddle a row.
    pub fn share_of(&self, row: &ResourceRow) -> f64 {
        if row.repeat != self.repeat || row.interval_s <= 0.0 {
            return 0.0;
        }
        let overlap = (row.t_s + row.interval_s).min(self.end_s) - row.t_s.max(self.start_s);
        (overlap / row.interval_s).clamp(0.0, 1.0)
    }

    /// Whether most of `row`'s interval lies within this window.
    pub fn holds(&self, row: &ResourceRow) -> bool {
        self.share_of(row) > 0.5
    }
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
    /// `None` in a second with fewer samples than a p99 needs: then `max_ms` is the figure.
    pub p99_ms: Option<f64>,
    /// The slowest request of the second (version 2).
    #[serde(default)]
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessResources {
    pub cpu_mean_percent: Stat,
    pub cpu_max_percent: Stat,
    pub rss_max_bytes: Stat,
    /// Peak proportional set size: each shared page split between the processes that map it, so
    /// that a multi-process server's shared memory (PostgreSQL's shared buffers) counts once, where
    /// summed RSS counts it in every backend. `None` where a window had no PSS reading (a container,
    /// a record older than the figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_max_bytes: Option<Stat>,
}

/// The `capacity` profile's steps of one scenario and the rate it sustained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub slo_p99_ms: f64,
    /// Every step of every repeat, in order.
    pub steps: Vec<Step>,
    /// The highest step rate that is ok with every lower step ok, the lowest over the repeats;
    /// `None` if the first step already failed (or could not be measured).
    pub sustained_rate: Option<f64>,
    /// Issue 30: the sustained rate is a lower bound. The step after it, in the repeat that set it,
    /// was not measurable here (generator-limited) rather than failed, so the system may sustain
    /// more than this machine's generator could show. `false` in older records.
    #[serde(default)]
    pub sustained_at_least: bool,
    /// Each repeat's own sustained rate.
    #[serde(default)]
    pub sustained_per_repeat: Vec<Option<f64>>,
    /// Whether any step was limited by the load generator rather than the system.
    pub generator_limited: bool,
    /// The highest rate k6 offered this scenario on time on this machine (`stack calibrate`), when
    /// the run knew it.
    #[serde(default)]
    pub generator_ceiling_per_s: Option<f64>,
    /// The sustained rate reached the generator's ceiling: the system sustains at least that much,
    /// beyond what this machine's generator offers; it is not the system's limit.
    #[serde(default)]
    pub beyond_generator: bool,
    /// Issue 30: per step rate, lowest first, how many repeats ran it and in how many it was ok: the
    /// support of the sustained rate. Empty in older records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed_by_rate: Vec<RatePassed>,
}

/// How the repeats fared at one step rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatePassed {
    pub rate: f64,
    /// Repeats that ran a step at this rate.
    pub repeats: u32,
    /// Of them, those whose step was ok.
    pub ok: u32,
    /// Of them, those whose step was not measurable here.
    pub not_measurable: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default = "first_repeat")]
    pub repeat: u32,
    /// Requested arrivals per second.
    pub rate: f64,
    /// Requests answered as expected ÷ the step's scheduled duration.
    pub achieved_per_s: f64,
    /// `None` when the step has fewer than 1,000 samples (see `withheld`).
    pub p99_ms: Option<f64>,
    /// The step's slowest request (version 2).
    #[serde(default)]
    pub max_ms: Option<f64>,
    pub unexpected_failures: u64,
    pub dropped_iterations: u64,
    /// Version 2: the step's schedule lag and corrected latency.
    #[serde(default)]
    pub schedule: Option<StepSchedule>,
    /// Version 2: where the step's arrivals went.
    #[serde(default)]
    pub accounting: Option<Accounting>,
    #[serde(default)]
    pub withheld: Vec<Withheld>,
    /// The most VUs k6 had in use during the step.
    pub max_vus: u64,
    pub k6_cpu_percent: f64,
    /// Its lag p99 (its maximum where the p99 is withheld) exceeded the lag allowed it
    /// (`lag_judgement`; max(1 ms, 5 % of the SLO) in older records).
    pub generator_limited: bool,
    /// Issue 30: the rule that judged the generator, the floor it used and the lag allowed;
    /// `None` in older records and in a step that is not open-loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_judgement: Option<LagJudgement>,
    /// The step's verdict is [`StepVerdict::Ok`]. (Before issue 30: p99 within the SLO, the
    /// maximum where the p99 is withheld, no unexpected failure, no dropped and no interrupted
    /// iteration, whatever the generator's lag.)
    pub ok: bool,
    /// Issue 30: ok, failed, or not measurable here; `None` in older records ([`Step::verdict`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<StepVerdict>,
    /// Issue 30: which latency the verdict judged ([`JudgedLatency`]); `None` in older records,
    /// which judged k6's plain latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_on: Option<JudgedLatency>,
    /// Issue 29: the completion of the step's traced requests and the backlog's trend over it, for a
    /// scenario the run's contract `defers`; `None` otherwise, and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<StepCompletion>,
    /// Why a step is not measurable here (the generator was late; a deferred step without
    /// completion figures). `None` for an ok or failed step, and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_measurable_because: Option<String>,
    /// When the step's arrivals were planned, in the repeat's `t_s`: its first to its last second.
    /// `None` where unknown (older records, a step without lag samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<[f64; 2]>,
}

impl Step {
    /// The step's verdict: as recorded, or, in a record older than issue 30, from `ok`.
    pub fn verdict(&self) -> StepVerdict {
        self.verdict.unwrap_or(if self.ok {
            StepVerdict::Ok
        } else {
            StepVerdict::Failed
        })
    }

    /// The latency the step was judged on, ms: the corrected p99 where judged on corrected latency,
    /// else k6's p99, and the completion p99 where judged on completion; where that percentile is
    /// withheld, the slowest (which bounds it).
    pub fn judged_p99_ms(&self) -> Option<f64> {
        if self.judged_on == Some(JudgedLatency::Completion) {
            return self.completion.as_ref().and_then(StepCompletion::judged_ms);
        }
        match (self.judged_on, self.schedule) {
            (Some(JudgedLatency::Corrected), Some(schedule)) => schedule.judged_p99_ms(),
            _ => self.p99_ms.or(self.max_ms),
        }
    }
}

/// What a capacity step says of the system at its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// The judged p99 (the slowest, where too few samples support a p99) within the SLO, no
    /// unexpected failure, no dropped and no interrupted arrival, the generator on time.
    Ok,
    /// Any of those not met, the generator on time.
    Failed,
    /// The generator was late (`generator_limited`): the system was not offered the step's rate on
    /// time, so the step says nothing of it, neither ok nor failed. Issue 29: also a step of a
    /// scenario the contract `defers` whose work could not be seen (no traces, too many untraced, too
    /// few seconds for the backlog's trend); `Step::not_measurable_because` says which.
    NotMeasurable,
}

/// Which latency a verdict judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgedLatency {
    /// From each arrival's intended start, unanswered arrivals counted (open-loop runs).
    Corrected,
    /// k6's `http_req_duration`, from when the request was sent.
    Plain,
    /// Issue 29: the completion of the step's traced requests, from each one's intended start to its
    /// trace's last span end (a scenario the contract `defers`: its answer is an acknowledgement).
    Completion,
}

/// One step's schedule lag and corrected latency, in ms; percentiles `None` when withheld.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSchedule {
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
    pub lag_max_ms: f64,
    pub corrected_p50_ms: Option<f64>,
    pub corrected_p99_ms: Option<f64>,
    pub corrected_p999_ms: Option<f64>,
    /// Issue 30: the slowest corrected latency, unanswered arrivals at their lower bound: what a
    /// step with too few samples for a corrected p99 is judged by. `None` in older records.
    #[serde(default)]
    pub corrected_max_ms: Option<f64>,
}

impl StepSchedule {
    /// The corrected p99, or where it is withheld the slowest corrected latency, which bounds it.
    pub fn judged_p99_ms(&self) -> Option<f64> {
        self.corrected_p99_ms.or(self.corrected_max_ms)
    }
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
    /// The bucket it was interpolated in: the true p99 lies somewhere in it (absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_bucket: Option<Bucket>,
}

/// A histogram bucket, in ms: from its lower bound (the next bucket down's upper bound, or 0) to its
/// upper bound (`None` for the top, unbounded bucket).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub from_ms: f64,
    pub to_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamHop {
    pub server: String,
    pub route: String,
    pub count: u64,
    pub mean_ms: f64,
    pub p99_ms: f64,
    /// The bucket `p99_ms` was interpolated in (absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_bucket: Option<Bucket>,
    /// Calls by outcome (`ok`, `error_status`, `timeout`, `connect`).
    #[serde(default)]
    pub outcome: BTreeMap<String, u64>,
}

impl Results {
    /// Applies version 2's rule to a version-1 record, which printed every percentile: a percentile
    /// whose smallest repeat had fewer requests than it needs is withheld. (A version-1 step or
    /// timeline second did not record its sample count; its p99 is kept as it was written.)
    pub fn withhold_unsupported(&mut self) {
        for scenario in self.scenarios.values_mut() {
            let samples = scenario
                .requests
                .runs
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let samples = if samples.is_finite() { samples as u64 } else { 0 };
            let mut withheld = std::mem::take(&mut scenario.withheld);
            for (figure, q, stat) in [
                ("p50_ms", 50.0, &mut scenario.p50_ms),
                ("p90_ms", 90.0, &mut scenario.p90_ms),
                ("p99_ms", 99.0, &mut scenario.p99_ms),
                ("p999_ms", 99.9, &mut scenario.p999_ms),
            ] {
                if stat.is_some() {
                    *stat = supported(figure, q, samples, || stat.take(), &mut withheld).flatten();
                }
            }
            scenario.withheld = withheld;
        }
    }
}

/// A run directory, read.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub dir: PathBuf,
    pub meta: Meta,
    /// `None` while the run is under way, or if it stopped before its end.
    pub results: Option<Results>,
    pub resources: Vec<ResourceRow>,
}

impl RunRecord {
    /// Reads the run in `dir`: `meta.json` must be there; `results.json` and `resources.csv` may not
    /// be yet.
    pub fn read(dir: &Path) -> Result<Self> {
        let meta: Meta = read_json(&dir.join(META_FILE))?;
        let results_path = dir.join(RESULTS_FILE);
        let results = if results_path.exists() {
            let mut results: Results = read_json(&results_path)?;
            if results.format_version < 2 {
                results.withhold_unsupported();
            }
            Some(results)
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

/// Writes `resources.csv` with exactly [`RESOURCES_HEADER`] (the field order of [`ResourceRow`]).
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

/// Reads `resources.csv` under [`RESOURCES_HEADER`] or [`RESOURCES_HEADER_V1`].
fn read_resources(path: &Path) -> Result<Vec<ResourceRow>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let header = reader.headers()?.iter().collect::<Vec<_>>().join(",");
    if header != RESOURCES_HEADER && header != RESOURCES_HEADER_V1 {
        bail!(
            "{}: header {header:?}, expected {RESOURCES_HEADER:?} (or, in older records, {RESOURCES_HEADER_V1:?})",
            path.display()
        );
    }
    reader
        .deserialize()
        .collect::<Result<Vec<ResourceRow>, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

/// `study.json`: the file of an interleaved study (`stack bench --versus`).
pub const STUDY_FILE: &str = "study.json";
/// The version of `study.json` this code writes and the highest it reads.
pub const STUDY_FORMAT_VERSION: u32 = 1;

/// An interleaved study: `<study>/study.json` beside two complete run records, `<study>/<a>/` and
/// `<study>/<b>/`, whose repeat r is round r.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Study {
    pub format_version: u32,
    /// The seed of the rounds' order and of both sides' scenario orders.
    pub seed: u64,
    /// Per round, the sides in the order they ran (`["a", "b"]` or `["b", "a"]`).
    pub rounds: Vec<Vec<String>>,
    /// The folder of side A's record, within the study.
    pub a: String,
    /// The folder of side B's record, within the study.
    pub b: String,
}

pub fn write_study(dir: &Path, study: &Study) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_json(&dir.join(STUDY_FILE), study)
}

/// Reads `<dir>/study.json`, refusing a newer version of it.
pub fn read_study(dir: &Path) -> Result<Study> {
    let path = dir.join(STUDY_FILE);
    let study: Study = read_json(&path)?;
    if study.format_version > STUDY_FORMAT_VERSION {
        bail!(
            "{} is study format_version {}, newer than this stack reads ({STUDY_FORMAT_VERSION}): use a newer stack",
            path.display(),
            study.format_version
        );
    }
    Ok(study)
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

    fn at_1000_per_s_for_30_s(parts: u64) -> Accounting {
        Accounting {
            repeat: 1,
            scheduled: 30_000,
            scheduled_s: 30.0,
            completed: parts,
            failed: 0,
            dropped: 0,
            interrupted: 0,
        }
    }

    #[test]
    fn arrivals_k6_starts_within_its_end_skew_still_close_the_plan() {
        assert!(at_1000_per_s_for_30_s(30_000).closes());
        assert!(at_1000_per_s_for_30_s(30_002).closes());
        assert!(at_1000_per_s_for_30_s(30_010).closes());
    }

    #[test]
    fn an_arrival_missing_or_many_beyond_the_plan_leave_it_open() {
        assert!(!at_1000_per_s_for_30_s(29_999).closes());
        assert!(!at_1000_per_s_for_30_s(30_011).closes());
    }

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
                load_average: None,
                frequency_governor: None,
                smt_active: None,
            },
            sampler: Sampling {
                interval_s: 1.0,
                cpu_percent_of_one_core: Some(0.4),
            },
            options: ScriptOptions::default(),
            order: None,
            quiescing: None,
            postgres_settings: None,
            runs: Vec::new(),
            cpus: None,
            generator_runtime: None,
            generator_ceiling: None,
            repeat_processes: Vec::new(),
            script_files: None,
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
            p50_ms: Some(s.clone()),
            p90_ms: Some(s.clone()),
            p99_ms: Some(s.clone()),
            p999_ms: None,
            withheld: vec![Withheld {
                figure: "p999_ms".into(),
                samples: 20,
                needed: 10_000,
                basis: Basis::Requests,
            }],
            open_loop: None,
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
                p99_ms: None,
                max_ms: Some(3.0),
            }],
            resources: BTreeMap::from([(
                "k6".into(),
                ProcessResources {
                    cpu_mean_percent: s.clone(),
                    cpu_max_percent: s.clone(),
                    rss_max_bytes: s.clone(),
                    pss_max_bytes: None,
                },
            )]),
            hops: None,
            cost: Some(Cost {
                system_us: s.clone(),
                services_us: s.clone(),
                database_us: s.clone(),
                generator_us: s.clone(),
                by_process: BTreeMap::from([("postgres".into(), s.clone())]),
                under_ticks: BTreeMap::new(),
            }),
            completion: Some(completion(&s)),
            backlog: vec![BacklogPoint {
                repeat: 1,
                t_s: 1.0,
                accepted: 10.0,
                completed: 8.0,
                backlog: 2.0,
            }],
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

    fn completion(s: &Stat) -> Completion {
        Completion {
            traced: s.clone(),
            untraced: s.clone(),
            completed: Some(s.clone()),
            completed_fraction: Some(s.clone()),
            completions_per_s: Some(s.clone()),
            p50_ms: Some(s.clone()),
            p99_ms: None,
            at_least: vec!["p50_ms".into()],
            withheld_because: None,
            clock: "one host".into(),
            clock_offset_ms: None,
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
            pss_bytes: Some(512),
            interval_s: 1.002,
        }];
        write_meta(&dir, &meta()).expect("meta");
        write_results(&dir, &results()).expect("results");
        write_resources(&dir, &rows).expect("resources");
        // When it is read
        let run = RunRecord::read(&dir).expect("the run reads");
        // Then every file reads back as written, and the CSV has the documented header
        assert_eq!(run.meta, meta());
        assert_eq!(run.results, Some(results()));
        assert_eq!(run.resources, rows);
        let csv = fs::read_to_string(dir.join(RESOURCES_FILE)).expect("csv");
        assert_eq!(csv.lines().next(), Some(RESOURCES_HEADER));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_resources_csv_of_the_first_format_reads_as_one_second_rows_without_pss() {
        // Given a run whose resources.csv has the first format's header
        let dir = temp_dir("resources-v1");
        write_meta(&dir, &meta()).expect("meta");
        let csv = format!("{RESOURCES_HEADER_V1}\n1,2.0,postgres,3.0,211402752\n");
        fs::write(dir.join(RESOURCES_FILE), csv).expect("csv");
        // When it is read
        let run = RunRecord::read(&dir).expect("the run reads");
        // Then its row covers one second and has no PSS
        assert_eq!(
            run.resources,
            vec![ResourceRow {
                repeat: 1,
                t_s: 2.0,
                process: "postgres".into(),
                cpu_percent: 3.0,
                rss_bytes: 211_402_752,
                pss_bytes: None,
                interval_s: 1.0,
            }]
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn percentiles_need_ten_samples_beyond_them() {
        assert_eq!(
            [50.0, 90.0, 99.0, 99.9].map(needed_samples),
            [20, 100, 1_000, 10_000]
        );
    }

    #[test]
    fn a_newer_format_version_is_refused_with_a_clear_error() {
        let dir = temp_dir("newer");
        let mut newer = meta();
        newer.format_version = FORMAT_VERSION + 1;
        write_meta(&dir, &newer).expect("meta");
        let err = RunRecord::read(&dir).expect_err("a newer record is refused");
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
        let run = RunRecord::read(&dir).expect("the run reads");
        assert!(run.results.is_none() && run.resources.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
