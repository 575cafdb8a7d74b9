//! `stack bench`: the study's instrument. It drives the target through the selected scenarios of a
//! profile, `--repeat` times, and leaves a complete record under `results/<run-id>/`
//! (`docs/results.md`).
//!
//! Every measured run is made independent of the ones before it. Each scenario of each repeat runs
//! its warm-up (excluded, and allowed to dirty the database), then the database goes back to its
//! seed, is checkpointed, vacuumed and waited on until quiet ([`quiesce`]), and only then does the
//! measured run start: one k6 invocation of its own, while the sampler records every process's CPU
//! and memory and PostgreSQL's counters are read on both sides of it. The scenarios of a repeat run
//! in a shuffled order from a recorded seed ([`order`]). At the end the figures are computed from
//! k6's raw samples ([`analysis`]).

pub mod analysis;
pub mod backlog;
pub mod clock;
pub mod completion;
pub mod contract;
pub mod cost;
pub mod deferring;
pub mod fresh;
pub mod generator;
pub mod k6;
pub mod memory;
pub mod order;
pub mod pinning;
pub mod provenance;
pub mod quiesce;
pub mod responder;
pub mod sampler;
pub mod stats;
pub mod traces;
pub mod versus;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::{ensure, Context, Result};
use clap::ValueEnum;
use sqlx::postgres::PgConnectOptions;

use stack_record::{
    self as record,
    database::{MetaRunEntry, PostgresSettings, QuiesceReport, QuietRuleRecord},
    order::{OrderKind, ScenarioOrder},
    pinning::CpuPinning,
    traces::{write_traces, DrainEnd, RunTraces, TRACES_FILE},
    DrivenTarget, Meta, Results, Sampling, ScriptOptions, TargetKind, Versions, Window, FORMAT_VERSION,
};
use stack_system::{
    compose::Compose,
    plan::DatabaseSpec,
    proc::{ProcessSet, POSTGRES},
    System,
};

use self::{
    analysis::{Inputs, MeasuredRun},
    quiesce::{QuietRule, TargetDatabase},
    sampler::Sampler,
    traces::TraceReceiver,
};
use crate::{
    hops::{self, Snapshot},
    scenario::{CapacityPlan, Scenario},
    target::{Resetter, Target},
    warning::{self, Warning},
};

/// The load shapes of `k6-tests/script-sync.js`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// A few iterations of each scenario: a correctness check.
    Smoke,
    /// The brief's closed-loop shape: a handful of VUs per scenario, S6 at 500/s, 30 s each.
    Baseline,
    /// More VUs, S6 at 2000/s, 60 s each.
    Load,
    /// VUs and click rate ramping up.
    Stress,
    /// Every scenario open-loop at a fixed arrival rate.
    Open,
    /// Each scenario's arrival rate in steps; reports the highest rate sustained within its SLO.
    Capacity,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Baseline => "baseline",
            Self::Load => "load",
            Self::Stress => "stress",
            Self::Open => "open",
            Self::Capacity => "capacity",
        }
    }

    /// Seconds of warm-up per scenario unless `--warmup` says otherwise.
    pub fn default_warmup_s(self) -> f64 {
        match self {
            Self::Smoke => 2.0,
            _ => 5.0,
        }
    }
}

/// Everything `stack bench` was asked to do; [`Bench::run`] does it.
#[derive(Debug, Clone)]
pub struct Bench {
    pub profile: Profile,
    pub scenarios: Vec<Scenario>,
    pub repeat: u32,
    pub warmup_s: f64,
    pub s4_reports: Option<u32>,
    /// The arrival-rate VU pool's multiple of rate × SLO, where not the script's default.
    pub vu_margin: Option<f64>,
    pub dashboard: bool,
    pub no_build: bool,
    pub target: Target,
    pub implementation: String,
    /// The command line, for `meta.json`.
    pub command: Vec<String>,
    /// The order of the scenarios within a repeat, and the seed of its shuffle.
    pub order: OrderKind,
    pub seed: u64,
    /// `--cpus`: where k6 and the system may run.
    pub cpus: CpuPinning,
    /// `--keep-processes`: one launch of a local system for every repeat, instead of a restart
    /// before each ([`fresh`]).
    pub keep_processes: bool,
    /// `--contract`: which answers count as accepted.
    pub contract: contract::Contract,
    /// `--trace-sample`: the fraction of iterations whose request carries a sampled `traceparent`.
    pub trace_sample: f64,
    /// `--otlp-listen`: where the bench receives the system's traces (port 0: any free one).
    pub otlp_listen: SocketAddr,
}

/// The fraction of iterations traced unless `--trace-sample` says otherwise: enough traced requests
/// for a completion p50 in a 30 s open run at 10/s (30 of the 20 it needs), while the system
/// exports spans for one request in ten only (its roots unsampled otherwise).
pub const DEFAULT_TRACE_SAMPLE: f64 = 0.1;

/// The step length of the capacity profile: `CAPACITY_STEP_S`, else the plan's default.
fn capacity_step_s(plan: &CapacityPlan) -> Result<f64> {
    match std::env::var("CAPACITY_STEP_S") {
        Ok(value) => value
            .parse::<f64>()
            .ok()
            .filter(|s| *s >= 1.0)
            .with_context(|| format!("CAPACITY_STEP_S={value:?}: a number of seconds, at least 1")),
        Err(_) => Ok(plan.default_step_s),
    }
}

/// `capacity` only: `CAPACITY_STEPS`, the number of each ladder's lowest steps to run (a short
/// check, a test); `None` when unset, for every step.
fn capacity_steps_kept() -> Result<Option<u32>> {
    match std::env::var("CAPACITY_STEPS") {
        Ok(value) => value
            .parse::<u32>()
            .ok()
            .filter(|steps| *steps >= 1)
            .map(Some)
            .with_context(|| format!("CAPACITY_STEPS={value:?}: a number of steps, at least 1")),
        Err(_) => Ok(None),
    }
}

impl Bench {
    /// Starts the system if the target is local, measures, stops it, and writes the record and its
    /// report under `root/results/`.
    pub async fn run(&self, root: &Path, compose: &Compose) -> Result<ExitCode> {
        ensure!(
            self.cpus.system.is_none() || matches!(self.target, Target::Local { .. }),
            "--cpus system= pins a local system only: pin compose's containers with \
             `docker update --cpuset-cpus`, and a system behind URLs where it runs; \
             --cpus generator= alone pins k6"
        );
        let receiver = start_trace_receiver(self, &[&self.target]).await?;
        let bench_run = BenchRun::begin(self, root, receiver.clone())?;
        let mut system = match self.target {
            Target::Local { .. } => {
                let env = trace_export_env(&receiver);
                let system = System::up_with_env(root, compose, self.no_build, 0, &env).await?;
                system.print_table();
                Some(system)
            }
            _ => None,
        };
        let pinned = match (&system, &self.cpus.system) {
            (Some(system), Some(cpus)) => pinning::pin_trees(&system_roots(system), cpus)
                .with_context(|| format!("pinning the system to CPUs {cpus}")),
            _ => Ok(()),
        };
        let outcome = match pinned {
            Ok(()) => bench_run.run_repeats(&mut system, compose).await,
            Err(err) => Err(err),
        };
        let stopped = match system {
            Some(system) => system.down().await,
            None => Ok(ExitCode::SUCCESS),
        };
        let results = outcome?;
        println!("\nresults: {}", bench_run.dir.display());
        print_summary(&results);
        match crate::report::write_report(&bench_run.dir) {
            Ok(report) => println!("report: {}", report.display()),
            Err(err) => eprintln!("stack: the report could not be written: {err:#}"),
        }
        if !results.thresholds.passed {
            eprintln!(
                "stack: k6 reported crossed thresholds: {:?}",
                results.thresholds.failed
            );
            return Ok(ExitCode::FAILURE);
        }
        stopped
    }
}

/// One bench run under way: what it was asked, where its record goes, and what it runs with.
struct BenchRun<'a> {
    bench: &'a Bench,
    root: &'a Path,
    dir: PathBuf,
    run_id: String,
    started_at: String,
    k6: String,
    capacity: CapacityPlan,
    /// `capacity` only: seconds per step.
    step_s: Option<f64>,
    /// `capacity` only: the lowest steps kept of each ladder (`CAPACITY_STEPS`), `capacity` cut to them.
    steps_kept: Option<u32>,
    /// The Go runtime settings every k6 of the run gets, and its record keeps ([`k6::go_runtime`]).
    go_runtime: BTreeMap<String, String>,
    /// Receives the system's traces during the bench run.
    traces: Arc<TraceReceiver>,
}

impl<'a> BenchRun<'a> {
    /// Finds k6 and the capacity plan, and makes the run directory, `results/<run-id>/`.
    fn begin(bench: &'a Bench, root: &'a Path, traces: Arc<TraceReceiver>) -> Result<Self> {
        let started_at = provenance::now_rfc3339();
        let run_id = format!("{}-{}", provenance::compact(&started_at), bench.profile.name());
        Self::begin_in(bench, root, root.join("results").join(&run_id), run_id, traces)
    }

    /// The same, with the record in `dir` under the id `run_id`.
    fn begin_in(
        bench: &'a Bench,
        root: &'a Path,
        dir: PathBuf,
        run_id: String,
        traces: Arc<TraceReceiver>,
    ) -> Result<Self> {
        let k6 = k6::binary()?;
        let mut capacity = CapacityPlan::read(root)?;
        let step_s = (bench.profile == Profile::Capacity)
            .then(|| capacity_step_s(&capacity))
            .transpose()?;
        let steps_kept = if bench.profile == Profile::Capacity {
            capacity_steps_kept()?
        } else {
            None
        };
        if let Some(kept) = steps_kept {
            for plan in capacity.scenarios.values_mut() {
                plan.steps.truncate(kept as usize);
            }
        }
        let started_at = provenance::now_rfc3339();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            bench,
            root,
            dir,
            run_id,
            started_at,
            k6,
            capacity,
            step_s,
            steps_kept,
            go_runtime: k6::go_runtime(bench.cpus.generator.as_deref()),
            traces,
        })
    }

    /// Every repeat of every scenario, a local system restarted before each but the first (unless
    /// `--keep-processes`), then the record; the results written.
    async fn run_repeats(&self, system: &mut Option<System>, compose: &Compose) -> Result<Results> {
        let mut under_way = RecordUnderWay::start(self, system.as_ref(), compose).await?;
        for repeat in 1..=self.bench.repeat {
            let mut restart_ms = None;
            if self.restart_due(repeat, system.as_ref()) {
                under_way.pause_sampling().await;
                restart_ms = Some(self.restart(repeat, system, compose).await?);
                under_way.renew(system.as_ref(), compose).await?;
            }
            under_way.note_processes(repeat, system.as_ref(), restart_ms);
            under_way.repeat(repeat, None).await?;
        }
        under_way.finish()
    }

    /// Whether the local system, if there is one, is to be restarted before `repeat`
    /// ([`fresh::RepeatStart`]).
    fn restart_due(&self, repeat: u32, system: Option<&System>) -> bool {
        system.is_some()
            && fresh::RepeatStart::of(TargetKind::Local, self.bench.keep_processes, repeat)
                == fresh::RepeatStart::Restart
    }

    /// Restarts the local system before `repeat`; what the restart took, in ms.
    async fn restart(&self, repeat: u32, system: &mut Option<System>, compose: &Compose) -> Result<f64> {
        eprintln!("stack: repeat {repeat}: restarting the system (--keep-processes keeps one launch)");
        let cpus = self.bench.cpus.system.as_deref();
        let env = trace_export_env(&self.traces);
        let ms = fresh::restart(system, self.root, compose, cpus, &env).await?;
        eprintln!(
            "stack: repeat {repeat}: the system restarted in {:.1} s",
            ms / 1000.0
        );
        Ok(ms)
    }
}

/// One record's measured runs under way: its meta, its sampler, its hold on the database, and what
/// it has measured so far. [`RecordUnderWay::repeat`] runs one repeat, so that two records can take turns
/// (`--versus`).
struct RecordUnderWay<'s> {
    bench_run: &'s BenchRun<'s>,
    resetter: Resetter,
    target_db: Option<TargetDatabase>,
    order: ScenarioOrder,
    meta: Meta,
    sampler: Sampler,
    invocation: k6::Invocation<'s>,
    metrics_urls: BTreeMap<String, reqwest::Url>,
    measured: Vec<MeasuredRun>,
    /// Per scenario, the services' metrics just before and just after each measured run: their
    /// difference is that run's traffic, hop by hop.
    scrapes: BTreeMap<Scenario, Vec<(Snapshot, Snapshot)>>,
}

impl<'s> RecordUnderWay<'s> {
    /// Reaches the database, draws the order, writes the first `meta.json` and starts the sampler.
    async fn start(bench_run: &'s BenchRun<'s>, system: Option<&System>, compose: &Compose) -> Result<Self> {
        let bench = bench_run.bench;
        let resetter = bench.target.resetter(system)?;
        let order = order::drawn(bench.order, bench.seed, &bench.scenarios, bench.repeat);
        let (target_db, quiescing, postgres_settings) =
            target_database_for(&bench.target, system, compose, &resetter).await;
        if let Some(why) = &quiescing.why_not {
            eprintln!("stack: the measured runs will not be quiesced: {why}");
        }
        let meta = Self::first_meta(bench_run, &resetter, &order, quiescing, postgres_settings).await?;
        record::write_meta(&bench_run.dir, &meta)?;

        let sampler = Sampler::start(bench.target.watched(system), bench.target.docker());
        Ok(Self {
            bench_run,
            resetter,
            target_db,
            order,
            meta,
            sampler,
            invocation: Self::invocation(bench_run),
            metrics_urls: hops::metrics_urls(bench.target.urls()),
            measured: Vec::new(),
            scrapes: BTreeMap::new(),
        })
    }

    /// The `meta.json` written before the first run: what is measured, how, and on what, so that
    /// a bench run that stops early still says what it was.
    async fn first_meta(
        bench_run: &BenchRun<'_>,
        resetter: &Resetter,
        order: &ScenarioOrder,
        quiescing: QuietRuleRecord,
        postgres_settings: Option<PostgresSettings>,
    ) -> Result<Meta> {
        let (bench, root) = (bench_run.bench, bench_run.root);
        Ok(Meta {
            format_version: FORMAT_VERSION,
            run_id: bench_run.run_id.clone(),
            implementation: bench.implementation.clone(),
            started_at: bench_run.started_at.clone(),
            ended_at: None,
            command: bench.command.clone(),
            profile: bench.profile.name().to_owned(),
            scenarios: bench.scenarios.iter().map(|s| s.name().to_owned()).collect(),
            repeats: bench.repeat,
            warmup_s: bench.warmup_s,
            db_reset: resetter.kind(),
            target: DrivenTarget {
                kind: bench.target.kind(),
                urls: bench.target.urls().clone(),
            },
            git: provenance::git(root),
            versions: Versions {
                rustc: provenance::rustc(root),
                k6: provenance::k6(&bench_run.k6, root),
                postgres: resetter.server_version().await,
            },
            machine: provenance::machine(),
            sampler: Sampling {
                interval_s: sampler::INTERVAL.as_secs_f64(),
                cpu_percent_of_one_core: None,
            },
            options: ScriptOptions {
                s4_reports: bench.s4_reports,
                capacity_step_s: bench_run.step_s,
                capacity_steps: bench_run.steps_kept,
                vu_margin: bench.vu_margin,
                contract: Some(bench.contract.record.clone()),
                trace_sample: Some(bench.trace_sample),
            },
            order: Some(order.clone()),
            quiescing: Some(quiescing),
            postgres_settings,
            runs: Vec::new(),
            cpus: Some(bench.cpus.clone()),
            generator_runtime: Some(bench_run.go_runtime.clone()),
            generator_ceiling: stack_record::ceiling::CeilingFile::read(root)?,
            repeat_processes: Vec::new(),
            script_files: Some(provenance::script_files(root)?),
        })
    }

    /// Stops recording until the next repeat begins, once the interval under way is recorded: a
    /// restart between repeats is not measured, and its processes going down do not read as a crash
    /// of the repeat before.
    async fn pause_sampling(&self) {
        self.sampler.begin_repeat(0);
        self.sampler.mark().await;
    }

    /// After a restart of the local system: the database's resetter and the bench's hold on it
    /// (whose connection died with the old server), and the sampler's sources (new process ids).
    async fn renew(&mut self, system: Option<&System>, compose: &Compose) -> Result<()> {
        let target = &self.bench_run.bench.target;
        self.resetter = target.resetter(system)?;
        let (target_db, quiescing, _) = target_database_for(target, system, compose, &self.resetter).await;
        if let Some(why) = &quiescing.why_not {
            eprintln!("stack: after the restart, the measured runs will not be quiesced: {why}");
        }
        self.target_db = target_db;
        for (name, source) in target.watched(system) {
            if name != stack_system::proc::K6 {
                self.sampler.watch(&name, source);
            }
        }
        Ok(())
    }

    /// Records how the system's processes stood as `repeat` began ([`fresh`]): `system` as it is
    /// now, the restart before it if there was one.
    fn note_processes(&mut self, repeat: u32, system: Option<&System>, restart_ms: Option<f64>) {
        let bench = self.bench_run.bench;
        let start = fresh::RepeatStart::of(bench.target.kind(), bench.keep_processes, repeat);
        let system = system.filter(|_| bench.target.kind() == TargetKind::Local);
        self.meta
            .repeat_processes
            .push(start.recorded(repeat, system, restart_ms));
    }

    /// How k6 is run for every measured run of the bench run: one place for the script's options.
    fn invocation(bench_run: &'s BenchRun<'s>) -> k6::Invocation<'s> {
        let bench = bench_run.bench;
        let mut env = Vec::new();
        if let Some(reports) = bench.s4_reports {
            env.push(("S4_REPORTS".to_owned(), reports.to_string()));
        }
        if let Some(step_s) = bench_run.step_s {
            env.push(("CAPACITY_STEP_S".to_owned(), step_s.to_string()));
        }
        if let Some(kept) = bench_run.steps_kept {
            env.push(("CAPACITY_STEPS".to_owned(), kept.to_string()));
        }
        if let Some(margin) = bench.vu_margin {
            env.push(("VU_MARGIN".to_owned(), margin.to_string()));
        }
        env.push(("CONTRACT".to_owned(), bench.contract.path.display().to_string()));
        env.push(("TRACE_SAMPLE".to_owned(), bench.trace_sample.to_string()));
        k6::Invocation {
            k6: &bench_run.k6,
            script: bench_run.root.join(provenance::SCRIPT_FILE),
            profile: bench.profile.name(),
            urls: bench.target.urls(),
            env,
            cpus: bench.cpus.generator.clone(),
            go_runtime: &bench_run.go_runtime,
        }
    }

    /// Repeat `repeat`: each scenario in its drawn order, warmed up, its database made ready, measured.
    /// `idle`: another system that is up meanwhile; its CPU over each measured run is recorded.
    async fn repeat(&mut self, repeat: u32, idle: Option<&[ProcessSet]>) -> Result<()> {
        let (bench, dir) = (self.bench_run.bench, self.bench_run.dir.as_path());
        self.sampler.begin_repeat(repeat);
        let repeat_start_ms = unix_ms();
        for (position, scenario) in order::scenarios_of_repeat(&self.order, repeat)
            .into_iter()
            .enumerate()
        {
            let name = scenario.name();
            let run = format!("{name} in repeat {repeat}/{}", bench.repeat);
            if bench.warmup_s > 0.0 {
                eprintln!("stack: {run}: warm-up ({} s)", bench.warmup_s);
                self.invocation
                    .warm_up(name, bench.warmup_s, &self.sampler)
                    .await
                    .with_context(|| format!("{run}: the run stops"))?;
            }
            let prepared = prepare(&self.resetter, self.target_db.as_mut())
                .await
                .with_context(|| format!("{run}: making the database ready"))?;
            eprintln!("stack: {run}: measured{}", prepared.said());
            let before = scrape_for_hops(scenario, &self.metrics_urls).await;
            let idle_before = idle.map(IdleMeter::start);
            let k6_run = self
                .invocation
                .measure(
                    name,
                    &record::scenario_dir(dir, repeat, name),
                    bench.dashboard,
                    &self.sampler,
                )
                .await?;
            let status = k6_run.status;
            let idle_cpu_percent = idle_before.and_then(IdleMeter::percent);
            let database = match (self.target_db.as_mut(), prepared.counters) {
                (Some(target_db), Some(before)) => Some(
                    target_db
                        .counters()
                        .await
                        .with_context(|| format!("{run}: reading PostgreSQL's counters after it"))?
                        .since(&before),
                ),
                _ => None,
            };
            if let Some(before) = before {
                let after = Snapshot::scrape(&self.metrics_urls).await;
                self.scrapes.entry(scenario).or_default().push((before, after));
            }
            ensure!(
                !k6::failed(status),
                "k6 failed on {run} ({status}); its output is above"
            );
            let traces = self.keep_traces(scenario, repeat).await?;
            self.measured.push(MeasuredRun {
                scenario,
                window: Window {
                    repeat,
                    start_s: k6_run.start_s,
                    end_s: k6_run.end_s,
                },
                repeat_start_ms,
                thresholds_crossed: !status.success(),
                // When its traces.csv was cut: a trace still receiving spans then is not completed.
                drain_end_unix_ns: Some(traces.drain_ended_unix_ns),
            });
            self.meta.runs.push(MetaRunEntry {
                repeat,
                scenario: name.to_owned(),
                position: position as u32 + 1,
                quiescence: prepared.quiescence,
                database,
                idle_system_cpu_percent: idle_cpu_percent,
                traces: Some(traces),
            });
            // Written as it goes: a run cut short still says how far it got.
            record::write_meta(dir, &self.meta)?;
        }
        Ok(())
    }

    /// After `scenario`'s measured run in `repeat`: waits for the system's last spans ([`drain_window`]),
    /// then writes the traces received since the run before as this run's `traces.csv`.
    async fn keep_traces(&self, scenario: Scenario, repeat: u32) -> Result<RunTraces> {
        let receiver = &self.bench_run.traces;
        let window = drain_window(self.bench_run.capacity.scenarios.get(&scenario));
        let started = std::time::Instant::now();
        let drain_end = receiver.drain(TRACE_QUIET, window).await;
        let drain_waited_ms = started.elapsed().as_secs_f64() * 1000.0;
        let drain_ended_unix_ns = traces::unix_ns_now();
        let summaries = receiver.take();
        let folder = record::scenario_dir(&self.bench_run.dir, repeat, scenario.name());
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        write_traces(&folder.join(TRACES_FILE), &summaries)?;
        let services: std::collections::BTreeSet<&String> =
            summaries.values().flat_map(|trace| &trace.services).collect();
        if drain_end == DrainEnd::WindowClosed {
            eprintln!(
                "stack: spans were still arriving {:.1} s after the run: the traces still receiving them count as not completed",
                window.as_secs_f64()
            );
        }
        Ok(RunTraces {
            traces: summaries.len() as u64,
            services: services.into_iter().cloned().collect(),
            drain_end,
            drain_waited_ms: (drain_waited_ms * 10.0).round() / 10.0,
            drain_ended_unix_ns,
            quiet_ms: TRACE_QUIET.as_secs_f64() * 1000.0,
            window_ms: window.as_secs_f64() * 1000.0,
        })
    }

    /// Stops the sampler, computes the figures and writes the finished record.
    fn finish(mut self) -> Result<Results> {
        let (bench, dir, step_s) = (
            self.bench_run.bench,
            self.bench_run.dir.as_path(),
            self.bench_run.step_s,
        );
        let (rows, sampler_cost) = self.sampler.finish();
        record::write_resources(dir, &rows)?;
        let mut results = analysis::results(&Inputs {
            dir,
            repeats: bench.repeat,
            measured: &self.measured,
            resources: &rows,
            s4_reports: bench.s4_reports,
            plans: &self.bench_run.capacity.scenarios,
            capacity_step_s: step_s,
            ceiling: self.meta.generator_ceiling.as_ref(),
            spans_on_this_host: bench.target.on_this_host(),
            defers: &bench.contract.record.defers,
        })?;
        for (scenario, runs) in &self.scrapes {
            let pairs: Vec<_> = runs.iter().map(|(before, after)| (before, after)).collect();
            if let Some(figures) = results.scenarios.get_mut(scenario.name()) {
                figures.hops = hops::breakdown_pooled(*scenario, &pairs);
            }
        }
        self.meta.ended_at = Some(provenance::now_rfc3339());
        self.meta.sampler.cpu_percent_of_one_core = Some((sampler_cost * 1000.0).round() / 1000.0);
        results.warnings = warning::of_record(&self.meta, Some(&results), &rows)
            .iter()
            .map(Warning::to_string)
            .collect();
        record::write_results(dir, &results)?;
        record::write_meta(dir, &self.meta)?;
        Ok(results)
    }
}

/// The CPU of an idle system (all its process sets) over one measured run of the other side.
struct IdleMeter<'p> {
    processes: &'p [ProcessSet],
    started: std::time::Instant,
    cpu_s: Option<f64>,
}

impl<'p> IdleMeter<'p> {
    fn start(processes: &'p [ProcessSet]) -> Self {
        Self {
            processes,
            started: std::time::Instant::now(),
            cpu_s: Self::cpu_seconds(processes),
        }
    }

    fn cpu_seconds(processes: &[ProcessSet]) -> Option<f64> {
        processes.iter().map(|set| set.cpu_seconds_now().ok()).sum()
    }

    /// % of one core since the start; `None` when `/proc` could not be read.
    fn percent(self) -> Option<f64> {
        let used = Self::cpu_seconds(self.processes)? - self.cpu_s?;
        let elapsed = self.started.elapsed().as_secs_f64();
        (elapsed > 0.0).then(|| (used / elapsed * 1e5).round() / 1e3)
    }
}

/// A database made ready for a measured run: how, and its counters as the run starts.
struct Prepared {
    quiescence: Option<QuiesceReport>,
    counters: Option<quiesce::PostgresCounters>,
}

impl Prepared {
    /// What the bench prints about it: how long the quiet wait took.
    fn said(&self) -> String {
        match &self.quiescence {
            Some(q) if q.wait.timed_out => format!(
                " (the database was still busy after {:.1} s: started anyway)",
                q.wait.waited_ms / 1000.0
            ),
            Some(q) => format!(" (database quiet after {:.1} s)", q.wait.waited_ms / 1000.0),
            None => String::new(),
        }
    }
}

/// After the warm-up and before the measured run: the seed restored, then, where the database can
/// be reached, the checkpoint, the vacuum, the wait for quiet and the counters.
async fn prepare(resetter: &Resetter, target_db: Option<&mut TargetDatabase>) -> Result<Prepared> {
    resetter
        .reset()
        .await
        .context("returning the database to its seed")?;
    let Some(target_db) = target_db else {
        return Ok(Prepared {
            quiescence: None,
            counters: None,
        });
    };
    let quiescence = target_db.quiesce().await.context("quiescing the database")?;
    let counters = target_db
        .counters()
        .await
        .context("reading PostgreSQL's counters")?;
    Ok(Prepared {
        quiescence: Some(quiescence),
        counters: Some(counters),
    })
}

/// The longest the bench waits to reach a database before it records the runs as not quiesced.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How the bench reaches the target's database to quiesce it, and the settings it read there; or
/// why it cannot (then the runs are recorded as not quiesced, and go on).
async fn target_database_for(
    target: &Target,
    system: Option<&System>,
    compose: &Compose,
    resetter: &Resetter,
) -> (Option<TargetDatabase>, QuietRuleRecord, Option<PostgresSettings>) {
    let found = match (target, resetter) {
        (Target::Local { .. }, Resetter::Sql(pool)) => {
            let processes = target.database_processes(system);
            Ok((pool.connect_options().as_ref().clone(), processes))
        }
        (Target::Compose { docker, .. }, _) => compose_database(docker, compose),
        (Target::Urls { .. }, Resetter::Sql(pool)) => {
            let processes = target.database_processes(system);
            Ok((pool.connect_options().as_ref().clone(), processes))
        }
        _ => Err(anyhow::anyhow!(
            "stack has no access to the database behind --target urls (give it with --database)"
        )),
    };
    let connected = match found {
        Ok((connect, processes)) => {
            let mut target_db = TargetDatabase::new(connect, processes, QuietRule::default());
            match tokio::time::timeout(CONNECT_TIMEOUT, target_db.settings()).await {
                Ok(Ok(settings)) => Ok((target_db, settings)),
                Ok(Err(err)) => Err(err),
                Err(_) => Err(anyhow::anyhow!(
                    "the database did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )),
            }
        }
        Err(err) => Err(err),
    };
    match connected {
        Ok((target_db, settings)) => {
            let quiescing = target_db.rule().recorded();
            (Some(target_db), quiescing, Some(settings))
        }
        Err(err) => (None, QuietRuleRecord::not(format!("{err:#}")), None),
    }
}

/// Compose's database container: its address on its container network (which Docker Engine on
/// Linux routes from the host, so the compose file need publish no port), the credentials the
/// compose file gives it, and its processes as this machine's `/proc` sees them.
fn compose_database(docker: &str, compose: &Compose) -> Result<(PgConnectOptions, ProcessSet)> {
    let output = std::process::Command::new(docker)
        .args([
            "inspect",
            "--format",
            "{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            POSTGRES,
        ])
        .output()
        .with_context(|| format!("running {docker} inspect {POSTGRES}"))?;
    ensure!(
        output.status.success(),
        "{docker} inspect {POSTGRES}: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let pid = fields
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
        .filter(|pid| *pid > 0)
        .with_context(|| format!("{POSTGRES} is not running"))?;
    let address = fields
        .next()
        .with_context(|| format!("{POSTGRES} has no address on a container network"))?;
    let database = DatabaseSpec::of(compose)?;
    let connect = PgConnectOptions::new_without_pgpass()
        .host(address)
        .port(5432)
        .username(&database.user)
        .password(&database.password)
        .database(&database.name);
    Ok((connect, ProcessSet::Tree(pid)))
}

/// The roots of a local system's process trees: each service and the postmaster.
fn system_roots(system: &System) -> Vec<u32> {
    fresh::pids_of(system).into_values().collect()
}

/// A scrape of the services' metrics before a measured run of a scenario that is a chain of calls;
/// `None` for the others, which have no hops to break down.
async fn scrape_for_hops(scenario: Scenario, urls: &BTreeMap<String, reqwest::Url>) -> Option<Snapshot> {
    if scenario.has_hops() {
        Some(Snapshot::scrape(urls).await)
    } else {
        None
    }
}

/// How long no span may arrive before a drain ends: twice the export delay the bench gives the
/// local services ([`EXPORT_DELAY_MS`]), so that one batch still on its way is waited for.
const TRACE_QUIET: Duration = Duration::from_millis(1000);

/// `OTEL_BSP_SCHEDULE_DELAY` for the local services (the SDK's default is 5 s): how long a span waits
/// at most in its exporter's batch.
const EXPORT_DELAY_MS: u64 = 500;

/// The longest a drain waits after a measured run: twice the scenario's SLO (`capacity.json`), and at
/// least 5 s; a system still exporting then has traces still receiving spans.
fn drain_window(plan: Option<&crate::scenario::CapacitySteps>) -> Duration {
    let slo_ms = plan.map_or(0.0, |plan| plan.slo_p99_ms);
    Duration::from_secs_f64((2.0 * slo_ms / 1000.0).max(5.0))
}

/// The receiver of the bench's traces, on `--otlp-listen`. For a system `stack` does not start, it
/// says where and how to export.
async fn start_trace_receiver(bench: &Bench, targets: &[&Target]) -> Result<Arc<TraceReceiver>> {
    let receiver = TraceReceiver::start(bench.otlp_listen).await?;
    // Every system `stack` does not start (either side of a study) must be told where to export.
    if targets
        .iter()
        .any(|target| !matches!(target, Target::Local { .. }))
    {
        // The variables the local services get, so the two cannot drift apart.
        let variables: Vec<String> = trace_export_env(&receiver)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        println!(
            "stack: receiving traces (OTLP/HTTP) at {}: have the system export to it with {} (a container \
             reaches it with --otlp-listen 0.0.0.0:PORT)",
            receiver.endpoint(),
            variables.join(" ")
        );
    }
    Ok(Arc::new(receiver))
}

/// What the local services are started with so that they export to `receiver`: only the spans of
/// requests whose `traceparent` is sampled (roots off), batched for at most [`EXPORT_DELAY_MS`].
fn trace_export_env(receiver: &TraceReceiver) -> BTreeMap<String, String> {
    let endpoint = receiver.endpoint();
    BTreeMap::from([
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_owned(),
            format!("{endpoint}{}", traces::TRACES_PATH),
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint),
        ("OTEL_TRACES_EXPORTER".to_owned(), "otlp".to_owned()),
        (
            "OTEL_TRACES_SAMPLER".to_owned(),
            "parentbased_always_off".to_owned(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), EXPORT_DELAY_MS.to_string()),
    ])
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The headline figures ([`crate::report::summary`]).
fn print_summary(results: &Results) {
    print!("{}", crate::report::summary(results));
}
