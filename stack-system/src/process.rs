//! The services as child processes: started in dependency order, each awaited until `/health`
//! answers (compose's `service_healthy`), their output prefixed with their name, and stopped with
//! SIGTERM so they finish what is in flight, as `docker compose stop` does.
//! [`build_release_binaries`] builds the binaries they run, for the stack and for the tests alike.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    time::{sleep, Instant},
};

use crate::plan::{LocalService, Plan};

/// How long a service may take to answer `/health` after it starts (it may be waiting for the database).
const HEALTHY_WITHIN: Duration = Duration::from_secs(90);
/// How long a service may take to finish its requests in flight after SIGTERM.
const STOPPED_WITHIN: Duration = Duration::from_secs(15);

/// Variables of the caller's environment that the services still see, with every `OTEL_*` one (so
/// telemetry is configured as for any OpenTelemetry program); everything else comes from the
/// compose file, so a run here sees what a container would.
const INHERITED: [&str; 6] = [
    "PATH",
    "HOME",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "LOG_FORMAT",
    "METRICS",
];

fn inherited(name: &str) -> bool {
    INHERITED.contains(&name) || name.starts_with("OTEL_")
}

pub struct Services {
    children: Vec<(String, Child)>,
    /// Polls `/health` while each service starts.
    health: reqwest::Client,
}

impl Services {
    /// Starts every service of `plan` from the binaries in `bin_dir`.
    pub async fn start(plan: &Plan, bin_dir: &Path) -> Result<Self> {
        let mut services = Self {
            children: Vec::new(),
            health: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
        };
        for service in &plan.services {
            if let Err(err) = services.start_one(service, bin_dir).await {
                services.stop().await;
                return Err(err);
            }
        }
        Ok(services)
    }

    async fn start_one(&mut self, service: &LocalService, bin_dir: &Path) -> Result<()> {
        // Someone else's service on our port would answer our health check, and every request.
        if std::net::TcpListener::bind(("127.0.0.1", service.port)).is_err() {
            bail!(
                "127.0.0.1:{} is already in use (another stack up or bench?): {} cannot listen there",
                service.port,
                service.name
            );
        }
        let binary = bin_dir.join(&service.name);
        let mut command = Command::new(&binary);
        command.env_clear();
        command.envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(inherited)));
        command
            .envs(&service.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe, so it may run between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Should the stack itself be killed outright, its services go with it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = command.spawn().with_context(|| {
            format!(
                "starting {} (build it with cargo build --release)",
                binary.display()
            )
        })?;
        forward(&service.name, child.stdout.take());
        forward(&service.name, child.stderr.take());
        self.children.push((service.name.clone(), child));
        let (_, child) = self.children.last_mut().context("the child just started")?;
        wait_until_healthy(&self.health, service, child).await
    }

    /// Each running service's name and process id.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(name, child)| Some((name.clone(), child.id()?)))
            .collect()
    }

    /// Waits until one of the services exits by itself, and forgets it; its name and how it exited.
    /// With none left, waits forever.
    pub async fn next_exit(&mut self) -> (String, String) {
        loop {
            for index in 0..self.children.len() {
                if let Ok(Some(status)) = self.children[index].1.try_wait() {
                    let (name, _) = self.children.remove(index);
                    return (name, status.to_string());
                }
            }
            sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGTERM to every service, newest first; waits for each, killing one that does not stop.
    /// Whether all of them exited cleanly.
    pub async fn stop(&mut self) -> bool {
        let mut clean = true;
        for (name, child) in self.children.iter_mut().rev() {
            terminate(child);
            match tokio::time::timeout(STOPPED_WITHIN, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    eprintln!("stack: {name} exited with {status}");
                    clean = false;
                }
                Ok(Err(err)) => {
                    eprintln!("stack: waiting for {name}: {err}");
                    clean = false;
                }
                Err(_) => {
                    eprintln!("stack: {name} did not stop within {STOPPED_WITHIN:?}; killing it");
                    let _ = child.kill().await;
                    clean = false;
                }
            }
        }
        self.children.clear();
        clean
    }
}

/// Sends SIGTERM to `child`, as `docker stop` does: it finishes what is in flight, then exits.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

/// `cargo build --release --workspace --bins` in the workspace at `root`, with the given `cargo`.
pub fn build_release_binaries(root: &Path, cargo: &std::ffi::OsStr) -> Result<()> {
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release --workspace --bins failed");
    }
    Ok(())
}

async fn wait_until_healthy(
    client: &reqwest::Client,
    service: &LocalService,
    child: &mut Child,
) -> Result<()> {
    let url = format!("http://127.0.0.1:{}/health", service.port);
    let deadline = Instant::now() + HEALTHY_WITHIN;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited with {status} before it was healthy (its output is above)",
                service.name
            );
        }
        if let Ok(response) = client.get(&url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{} did not answer {url} within {HEALTHY_WITHIN:?}", service.name);
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Copies a child's output to ours, each line behind the service's name.
fn forward(name: &str, output: Option<impl AsyncRead + Unpin + Send + 'static>) {
    let Some(output) = output else { return };
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{name:>16} | {line}");
        }
    });
}
