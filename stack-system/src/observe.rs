//! `stack up --observe`: a real Prometheus beside the local services, for machines without Docker.
//!
//! Compose's `observability` profile runs Prometheus, Grafana and Jaeger in containers. Here there
//! are no containers, so this starts the `prometheus` binary of Debian's package (`apt-get install
//! prometheus`) on 127.0.0.1:9090, with a configuration written for the services' local ports and
//! its data under the stack's own folder, and stops it with the services. Its targets carry the same
//! `service` label as in compose, so the same queries (and Grafana's dashboard) work on both.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::{process::Child, process::Command, time::Instant};

use crate::process::terminate;

/// Where the local Prometheus listens.
pub const LISTEN: &str = "127.0.0.1:9090";
/// How often it scrapes: often enough to follow a 30 s scenario.
pub const SCRAPE_INTERVAL: &str = "5s";

/// How to get Prometheus when it is not installed.
pub const INSTALL_HINT: &str =
    "Prometheus is not installed: on Debian or Ubuntu run `apt-get install prometheus` \
     (it provides /usr/bin/prometheus and promtool), or set PROMETHEUS to its binary; \
     or run `stack up` without --observe";

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
}

impl Prometheus {
    pub fn url(&self) -> String {
        format!("http://{LISTEN}")
    }

    /// SIGTERM, then waits for it to write its data and exit.
    pub async fn stop(&mut self) {
        terminate(&self.child);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The binary: `PROMETHEUS`, else `prometheus` on the `PATH`, else Debian's `/usr/bin/prometheus`.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/prometheus")).filter(|path| path.is_file()))
}

/// The configuration that scrapes `targets` (service name, local port) every few seconds.
pub fn config(targets: &[(String, u16)]) -> serde_json::Value {
    let static_configs: Vec<_> = targets
        .iter()
        .map(|(service, port)| {
            json!({"targets": [format!("127.0.0.1:{port}")], "labels": {"service": service}})
        })
        .collect();
    json!({
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [{"job_name": "services", "static_configs": static_configs}],
    })
}

/// Starts Prometheus with its configuration and data under `dir`, scraping `targets`, and waits
/// until it is ready.
pub async fn start(dir: &Path, targets: &[(String, u16)]) -> Result<Prometheus> {
    let binary = binary().context(INSTALL_HINT)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config_file = dir.join("prometheus.yml");
    // JSON is YAML, so the configuration needs no YAML writer.
    std::fs::write(&config_file, serde_json::to_string_pretty(&config(targets))?)
        .with_context(|| format!("writing {}", config_file.display()))?;
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={LISTEN}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} ({INSTALL_HINT})", binary.display()))?;
    let mut prometheus = Prometheus { child };
    if let Err(err) = wait_until_ready(&mut prometheus).await {
        prometheus.stop().await;
        return Err(err);
    }
    Ok(prometheus)
}

async fn wait_until_ready(prometheus: &mut Prometheus) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ready = format!("{}/-/ready", prometheus.url());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = prometheus.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = prometheus.child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            let last: Vec<&str> = stderr.lines().rev().take(5).collect();
            bail!(
                "Prometheus exited with {status} (is {LISTEN} in use?): {}",
                last.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if matches!(client.get(&ready).send().await, Ok(response) if response.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("Prometheus did not get ready on {LISTEN} within 30 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_scrapes_each_service_at_its_local_port_with_its_name() {
        let config = config(&[("productservice".into(), 8003), ("searchservice".into(), 8008)]);
        let targets = &config["scrape_configs"][0]["static_configs"];
        assert_eq!(targets[0]["targets"][0], "127.0.0.1:8003");
        assert_eq!(targets[1]["labels"]["service"], "searchservice");
    }
}
