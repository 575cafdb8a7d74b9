//! `stack bench`: the study's instrument. It drives the target through the selected scenarios of a
//! profile, `--repeat` times, and leaves a complete record under `results/<run-id>/`
//! (`docs/results.md`).
//!
//! Each repeat starts from the seeded database; each scenario runs a warm-up (excluded), then its
//! measured run, one k6 invocation of its own, while the sampler records every process's CPU and
//! memory. At the end the figures are computed from k6's raw samples ([`analysis`]).

pub mod analysis;
pub mod capacity;
pub mod k6;
pub mod provenance;
pub mod quiesce;
pub mod sampler;
pub mod stats;

use std::{collections::BTreeMap, path::Path, process::ExitCode, time::SystemTime};

use anyhow::{Context, Result};
use clap::ValueEnum;
use sqlx::postgres::PgConnectOptions;

use self::{
    analysis::{Inputs, Measured},
    capacity::CapacityPlan,
    sampler::{Sampler, Source},
};
use crate::{
    study::{
        hops::{self, Snapshot},
        record::{self, Meta, Options, Results, Sampler as SamplerMeta, Versions, Window, FORMAT_VERSION},
    },
    system::{
        compose::Compose,
        target::{Resetter, Target, SERVICES},
        System,
    },
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

/// The six scenarios of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [Self::S1, Self::S2, Self::S3, Self::S4, Self::S5, Self::S6];

    pub fn name(self) -> &'static str {
        match self {
            Self::S1 => "s1",
            Self::S2 => "s2",
            Self::S3 => "s3",
            Self::S4 => "s4",
            Self::S5 => "s5",
            Self::S6 => "s6",
        }
    }
}

/// Everything `stack bench` was asked to do.
#[derive(Debug, Clone)]
pub struct BenchOptions {
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

pub async fn run(root: &Path, compose: &Compose, options: &BenchOptions) -> Result<ExitCode> {
    let k6 = k6::binary()?;
    let capacity_plan = CapacityPlan::read(root)?;
    let step_s = (options.profile == Profile::Capacity)
        .then(|| capacity_step_s(&capacity_plan))
        .transpose()?;
    let started_at = provenance::now_rfc3339();
    let run_id = format!("{}-{}", provenance::compact(&started_at), options.profile.name());
    let dir = root.join("results").join(&run_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let system = match options.target {
        Target::Local => {
            let system = System::up(root, compose, options.no_build).await?;
            system.print_table();
            Some(system)
        }
        _ => None,
    };
    let outcome = measure(
        root,
        &dir,
        &run_id,
        started_at,
        &k6,
        &capacity_plan,
        step_s,
        options,
        system.as_ref(),
    )
    .await;
    let stopped = match system {
        Some(system) => system.down().await,
        None => Ok(ExitCode::SUCCESS),
    };
    let results = outcome?;
    println!("\nresults: {}", dir.display());
    print_summary(&results);
    match crate::study::report::write_report(&dir) {
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

/// Every repeat of every scenario, then the record; the results written.
#[allow(clippy::too_many_arguments)]
async fn measure(
    root: &Path,
    dir: &Path,
    run_id: &str,
    started_at: String,
    k6: &str,
    capacity_plan: &CapacityPlan,
    step_s: Option<f64>,
    options: &BenchOptions,
    system: Option<&System>,
) -> Result<Results> {
    let resetter = resetter(&options.target, system)?;
    let mut meta = Meta {
        format_version: FORMAT_VERSION,
        run_id: run_id.to_owned(),
        implementation: options.implementation.clone(),
        started_at,
        ended_at: None,
        command: options.command.clone(),
        profile: options.profile.name().to_owned(),
        scenarios: options.scenarios.iter().map(|s| s.name().to_owned()).collect(),
        repeats: options.repeat,
        warmup_s: options.warmup_s,
        db_reset: resetter.kind(),
        target: record::Target {
            kind: options.target.kind(),
            urls: options.target.urls(),
        },
        git: provenance::git(root),
        versions: Versions {
            rustc: provenance::rustc(root),
            k6: provenance::k6(k6, root),
            postgres: resetter.server_version().await,
        },
        machine: provenance::machine(),
        sampler: SamplerMeta {
            interval_s: sampler::INTERVAL.as_secs_f64(),
            cpu_percent_of_one_core: None,
        },
        options: Options {
            s4_reports: options.s4_reports,
            capacity_step_s: step_s,
        },
    };
    record::write_meta(dir, &meta)?;

    let sampler = Sampler::start(watched(&options.target, system), docker_of(&options.target));
    let urls = options.target.urls();
    let mut env = Vec::new();
    if let Some(reports) = options.s4_reports {
        env.push(("S4_REPORTS".to_owned(), reports.to_string()));
    }
    if let Some(step_s) = step_s {
        env.push(("CAPACITY_STEP_S".to_owned(), step_s.to_string()));
    }
    let invocation = k6::Invocation {
        k6,
        script: root.join("k6-tests/script-sync.js"),
        profile: options.profile.name(),
        urls: &urls,
        env,
    };
    let metrics_urls = hops::metrics_urls(&urls);
    let mut measured = Vec::new();
    // Per scenario, the services' metrics just before and just after each measured run: their
    // difference is that run's traffic, hop by hop.
    let mut scrapes: BTreeMap<&str, Vec<(Snapshot, Snapshot)>> = BTreeMap::new();
    for repeat in 1..=options.repeat {
        resetter
            .reset()
            .await
            .with_context(|| format!("returning the database to its seed before repeat {repeat}"))?;
        sampler.begin_repeat(repeat);
        let repeat_start_ms = unix_ms();
        for scenario in &options.scenarios {
            let name = scenario.name();
            if options.warmup_s > 0.0 {
                eprintln!(
                    "stack: repeat {repeat}/{}: {name} warm-up ({} s)",
                    options.repeat, options.warmup_s
                );
                invocation.warm_up(name, options.warmup_s, &sampler).await?;
            }
            eprintln!("stack: repeat {repeat}/{}: {name} measured", options.repeat);
            let before = scrape_for_hops(name, &metrics_urls).await;
            let start_s = sampler.t_s();
            let status = invocation
                .measure(
                    name,
                    &record::scenario_dir(dir, repeat, name),
                    options.dashboard,
                    &sampler,
                )
                .await?;
            let end_s = sampler.t_s();
            if let Some(before) = before {
                let after = Snapshot::scrape(&metrics_urls).await;
                scrapes.entry(name).or_default().push((before, after));
            }
            if !status.success() && status.code() != Some(k6::THRESHOLDS_CROSSED) {
                anyhow::bail!("k6 failed on {name} in repeat {repeat} ({status}); its output is above");
            }
            measured.push(Measured {
                scenario: name.to_owned(),
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
        repeats: options.repeat,
        measured: &measured,
        resources: &rows,
        s4_reports: options.s4_reports,
        capacity: step_s.map(|step_s| (&capacity_plan.scenarios, step_s)),
    })?;
    for (scenario, runs) in &scrapes {
        let pairs: Vec<_> = runs.iter().map(|(before, after)| (before, after)).collect();
        if let Some(figures) = results.scenarios.get_mut(*scenario) {
            figures.hops = hops::breakdown_pooled(scenario, &pairs);
        }
    }
    if resetter.kind() == record::DbReset::None && options.repeat > 1 {
        results
            .warnings
            .push("the database was not reset between repeats (db_reset: none)".into());
    }
    if sampler_cost > 1.0 {
        results.warnings.push(format!(
            "the sampler used {sampler_cost:.2} % of a core, above its 1 % budget"
        ));
    }
    record::write_results(dir, &results)?;
    meta.ended_at = Some(provenance::now_rfc3339());
    meta.sampler.cpu_percent_of_one_core = Some((sampler_cost * 1000.0).round() / 1000.0);
    record::write_meta(dir, &meta)?;
    Ok(results)
}

/// A scrape of the services' metrics before a measured run of a scenario that is a chain of calls;
/// `None` for the others, which have no hops to break down.
async fn scrape_for_hops(scenario: &str, urls: &BTreeMap<String, reqwest::Url>) -> Option<Snapshot> {
    if hops::has_hops(scenario) {
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

/// How this target's database goes back to its seed.
fn resetter(target: &Target, system: Option<&System>) -> Result<Resetter> {
    Ok(match (target, system) {
        (Target::Local, Some(system)) => match &system.cluster {
            Some(cluster) => Resetter::sql(
                PgConnectOptions::new_without_pgpass()
                    .host("127.0.0.1")
                    .port(cluster.port())
                    .username(&system.plan.database.user)
                    .password(&system.plan.database.password)
                    .database(&system.plan.database.name),
            ),
            None => Resetter::sql_url(&std::env::var("DATABASE_URL").unwrap_or_default())?,
        },
        (Target::Compose { docker }, _) => Resetter::ComposeExec {
            docker: docker.clone(),
        },
        _ => Resetter::None,
    })
}

/// What the sampler watches for this target: the ten services, `postgres` and `k6` (k6 only for
/// `urls`: the services may be anywhere).
fn watched(target: &Target, system: Option<&System>) -> Vec<(String, Option<Source>)> {
    let mut watched: Vec<(String, Option<Source>)> = match (target, system) {
        (Target::Local, Some(system)) => {
            let pids = system.services.pids();
            let mut watched: Vec<(String, Option<Source>)> = SERVICES
                .iter()
                .map(|name| {
                    let pid = pids
                        .iter()
                        .find(|(service, _)| service == name)
                        .map(|(_, pid)| *pid);
                    (name.to_string(), pid.map(Source::Tree))
                })
                .collect();
            let postgres = match system
                .cluster
                .as_ref()
                .and_then(|cluster| cluster.postmaster_pid())
            {
                Some(pid) => Source::Tree(pid),
                None => Source::CommandName("postgres".into()),
            };
            watched.push(("postgres".into(), Some(postgres)));
            watched
        }
        (Target::Compose { .. }, _) => SERVICES
            .iter()
            .chain(std::iter::once(&"postgres"))
            .map(|name| (name.to_string(), Some(Source::Container(name.to_string()))))
            .collect(),
        _ => Vec::new(),
    };
    watched.push(("k6".into(), None));
    watched
}

fn docker_of(target: &Target) -> Option<String> {
    match target {
        Target::Compose { docker } => Some(docker.clone()),
        _ => None,
    }
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
