//! `stack bench`: the study's instrument. It drives the target through the selected scenarios of a
//! profile, `--repeat` times, and leaves a complete record under `results/<run-id>/`
//! (`docs/results.md`).
//!
//! Each repeat starts from the seeded database; each scenario runs a warm-up (excluded), then its
//! measured run, one k6 invocation of its own, while the sampler records every process's CPU and
//! memory. At the end the figures are computed from k6's raw samples ([`analysis`]).

pub mod analysis;
pub mod generator;
pub mod k6;
pub mod provenance;
pub mod quiesce;
pub mod responder;
pub mod sampler;
pub mod stats;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    time::SystemTime,
};

use anyhow::{Context, Result};
use clap::ValueEnum;

use self::{
    analysis::{Inputs, Measured},
    sampler::Sampler,
};
use crate::{
    scenario::{CapacityPlan, Scenario},
    study::{
        hops::{self, Snapshot},
        record::{
            self, DrivenTarget, Meta, Results, Sampling, ScriptOptions, Versions, Window, FORMAT_VERSION,
        },
        warning::{self, Warning},
    },
    system::{compose::Compose, target::Target, System},
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
    pub dashboard: bool,
    pub no_build: bool,
    pub target: Target,
    pub implementation: String,
    /// The command line, for `meta.json`.
    pub command: Vec<String>,
}

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

impl Bench {
    /// Starts the system if the target is local, measures, stops it, and writes the record and its
    /// report under `root/results/`.
    pub async fn run(&self, root: &Path, compose: &Compose) -> Result<ExitCode> {
        let session = Session::begin(self, root)?;
        let system = match self.target {
            Target::Local { .. } => {
                let system = System::up(root, compose, self.no_build).await?;
                system.print_table();
                Some(system)
            }
            _ => None,
        };
        let outcome = session.measure(system.as_ref()).await;
        let stopped = match system {
            Some(system) => system.down().await,
            None => Ok(ExitCode::SUCCESS),
        };
        let results = outcome?;
        println!("\nresults: {}", session.dir.display());
        print_summary(&results);
        match crate::study::report::write_report(&session.dir) {
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
struct Session<'a> {
    bench: &'a Bench,
    root: &'a Path,
    dir: PathBuf,
    run_id: String,
    started_at: String,
    k6: String,
    capacity: CapacityPlan,
    /// `capacity` only: seconds per step.
    step_s: Option<f64>,
}

impl<'a> Session<'a> {
    /// Finds k6 and the capacity plan, and makes the run directory.
    fn begin(bench: &'a Bench, root: &'a Path) -> Result<Self> {
        let k6 = k6::binary()?;
        let capacity = CapacityPlan::read(root)?;
        let step_s = (bench.profile == Profile::Capacity)
            .then(|| capacity_step_s(&capacity))
            .transpose()?;
        let started_at = provenance::now_rfc3339();
        let run_id = format!("{}-{}", provenance::compact(&started_at), bench.profile.name());
        let dir = root.join("results").join(&run_id);
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
        })
    }

    /// Every repeat of every scenario, then the record; the results written.
    async fn measure(&self, system: Option<&System>) -> Result<Results> {
        let (bench, root, dir, step_s) = (self.bench, self.root, self.dir.as_path(), self.step_s);
        let resetter = bench.target.resetter(system)?;
        let mut meta = Meta {
            format_version: FORMAT_VERSION,
            run_id: self.run_id.clone(),
            implementation: bench.implementation.clone(),
            started_at: self.started_at.clone(),
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
                k6: provenance::k6(&self.k6, root),
                postgres: resetter.server_version().await,
            },
            machine: provenance::machine(),
            sampler: Sampling {
                interval_s: sampler::INTERVAL.as_secs_f64(),
                cpu_percent_of_one_core: None,
            },
            options: ScriptOptions {
                s4_reports: bench.s4_reports,
                capacity_step_s: step_s,
            },
            generator_ceiling: generator::CeilingFile::read(root)?,
        };
        record::write_meta(dir, &meta)?;

        let sampler = Sampler::start(bench.target.watched(system), bench.target.docker());
        let urls = bench.target.urls();
        let mut env = Vec::new();
        if let Some(reports) = bench.s4_reports {
            env.push(("S4_REPORTS".to_owned(), reports.to_string()));
        }
        if let Some(step_s) = step_s {
            env.push(("CAPACITY_STEP_S".to_owned(), step_s.to_string()));
        }
        let invocation = k6::Invocation {
            k6: &self.k6,
            script: root.join("k6-tests/script-sync.js"),
            profile: bench.profile.name(),
            urls,
            env,
        };
        let metrics_urls = hops::metrics_urls(urls);
        let mut measured = Vec::new();
        // Per scenario, the services' metrics just before and just after each measured run: their
        // difference is that run's traffic, hop by hop.
        let mut scrapes: BTreeMap<Scenario, Vec<(Snapshot, Snapshot)>> = BTreeMap::new();
        for repeat in 1..=bench.repeat {
            resetter
                .reset()
                .await
                .with_context(|| format!("returning the database to its seed before repeat {repeat}"))?;
            sampler.begin_repeat(repeat);
            let repeat_start_ms = unix_ms();
            for scenario in &bench.scenarios {
                let name = scenario.name();
                if bench.warmup_s > 0.0 {
                    eprintln!(
                        "stack: repeat {repeat}/{}: {name} warm-up ({} s)",
                        bench.repeat, bench.warmup_s
                    );
                    invocation.warm_up(name, bench.warmup_s, &sampler).await?;
                }
                eprintln!("stack: repeat {repeat}/{}: {name} measured", bench.repeat);
                let before = scrape_for_hops(*scenario, &metrics_urls).await;
                let start_s = sampler.t_s();
                let status = invocation
                    .measure(
                        name,
                        &record::scenario_dir(dir, repeat, name),
                        bench.dashboard,
                        &sampler,
                    )
                    .await?;
                let end_s = sampler.t_s();
                if let Some(before) = before {
                    let after = Snapshot::scrape(&metrics_urls).await;
                    scrapes.entry(*scenario).or_default().push((before, after));
                }
                if !status.success() && status.code() != Some(k6::THRESHOLDS_CROSSED) {
                    anyhow::bail!("k6 failed on {name} in repeat {repeat} ({status}); its output is above");
                }
                measured.push(Measured {
                    scenario: *scenario,
                    window: Window {
                        repeat,
                        start_s: (start_s * 10.0).round() / 10.0,
                        end_s: (end_s * 10.0).round() / 10.0,
                    },
                    repeat_start_ms,
                    thresholds_crossed: !status.success(),
                });
            }
        }
        let (rows, sampler_cost) = sampler.finish();
        record::write_resources(dir, &rows)?;
        let mut results = analysis::results(&Inputs {
            dir,
            repeats: bench.repeat,
            measured: &measured,
            resources: &rows,
            s4_reports: bench.s4_reports,
            capacity: step_s.map(|step_s| (&self.capacity.scenarios, step_s)),
        })?;
        for (scenario, runs) in &scrapes {
            let pairs: Vec<_> = runs.iter().map(|(before, after)| (before, after)).collect();
            if let Some(figures) = results.scenarios.get_mut(scenario.name()) {
                figures.hops = hops::breakdown_pooled(*scenario, &pairs);
            }
        }
        meta.ended_at = Some(provenance::now_rfc3339());
        meta.sampler.cpu_percent_of_one_core = Some((sampler_cost * 1000.0).round() / 1000.0);
        results.warnings = warning::of_record(&meta, Some(&results), &rows)
            .iter()
            .map(Warning::to_string)
            .collect();
        record::write_results(dir, &results)?;
        record::write_meta(dir, &meta)?;
        Ok(results)
    }
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

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The headline figures, one line per scenario: mean ± half the 95 % interval.
fn print_summary(results: &Results) {
    let show = |stat: &record::Stat| match stat.ci95 {
        Some([low, high]) => format!("{:.2} ±{:.2}", stat.mean, (high - low) / 2.0),
        None => format!("{:.2}", stat.mean),
    };
    println!(
        "\n{:<4} {:>16} {:>16} {:>16} {:>16} {:>16} {:>8} {:>8}",
        "", "requests", "rate/s", "p50 ms", "p99 ms", "p99.9 ms", "failed", "dropped"
    );
    for (name, scenario) in &results.scenarios {
        println!(
            "{name:<4} {:>16} {:>16} {:>16} {:>16} {:>16} {:>8} {:>8}",
            show(&scenario.requests),
            show(&scenario.rate_per_s),
            show(&scenario.p50_ms),
            show(&scenario.p99_ms),
            show(&scenario.p999_ms),
            scenario.unexpected_failures.runs.iter().sum::<f64>(),
            scenario.dropped_iterations.runs.iter().sum::<f64>(),
        );
    }
    if let Some(capacity) = &results.capacity {
        for (name, figures) in capacity {
            println!(
                "{name}: sustained {} /s within p99 <= {} ms{}",
                figures
                    .sustained_rate
                    .map_or("no step".to_owned(), |rate| format!("{rate}")),
                figures.slo_p99_ms,
                if figures.generator_limited {
                    " (generator-limited steps)"
                } else {
                    ""
                }
            );
        }
    }
    for warning in &results.warnings {
        println!("warning: {warning}");
    }
}
