//! What `stack bench` drives: the system it starts itself (`local`), a system already running under
//! docker-compose or podman (`compose`), or six entrypoints given by URL (`urls`, any implementation
//! of the contract). The target decides the URLs k6 is given, which processes the sampler watches,
//! and how the database is returned to its seeded state between repeats.

use std::{
    collections::BTreeMap,
    io::Write,
    process::{Command, Stdio},
    str::FromStr,
};

use anyhow::{bail, ensure, Context, Result};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use super::{compose::Compose, plan::CONTAINER_PORT, seed, System};
use crate::{
    scenario::Scenario,
    study::{
        bench::sampler::Source,
        record::{DbReset, TargetKind},
    },
};

/// The services k6 drives: each scenario's entry service.
pub fn entrypoints() -> impl Iterator<Item = &'static str> {
    Scenario::ALL.into_iter().map(|scenario| scenario.entry().service)
}

/// Every service of the system, as the sampler names them.
pub const SERVICES: [&str; 10] = [
    "userservice",
    "paymentservice",
    "productservice",
    "reportservice",
    "orderservice",
    "analyticsservice",
    "emailservice",
    "searchservice",
    "cacheservice",
    "inventoryservice",
];

/// The compose container of the database.
pub const POSTGRES_CONTAINER: &str = "postgres";

/// A target with the URLs of its entrypoints, by service name.
#[derive(Debug, Clone)]
pub enum Target {
    /// The services `stack` starts as local processes, on the ports compose publishes.
    Local {
        urls: BTreeMap<String, String>,
    },
    /// Running under compose; `docker` is the container CLI (`docker` or `podman`).
    Compose {
        urls: BTreeMap<String, String>,
        docker: String,
    },
    Urls(BTreeMap<String, String>),
}

impl Target {
    /// The target of `kind`; `url_list` (`--url service=url`) is for [`TargetKind::Urls`] only.
    pub fn new(kind: TargetKind, compose: &Compose, url_list: &[String]) -> Result<Self> {
        ensure!(
            url_list.is_empty() || kind == TargetKind::Urls,
            "--url is for --target urls"
        );
        Ok(match kind {
            TargetKind::Local => Self::Local {
                urls: published(compose)?,
            },
            TargetKind::Compose => Self::Compose {
                urls: published(compose)?,
                docker: Self::container_cli(),
            },
            TargetKind::Urls => Self::from_url_list(url_list)?,
        })
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Self::Local { .. } => TargetKind::Local,
            Self::Compose { .. } => TargetKind::Compose,
            Self::Urls(_) => TargetKind::Urls,
        }
    }

    /// The entrypoints, by service name.
    pub fn urls(&self) -> &BTreeMap<String, String> {
        match self {
            Self::Local { urls } | Self::Compose { urls, .. } | Self::Urls(urls) => urls,
        }
    }

    /// `name=url` for each of the six entrypoints, every one exactly once.
    pub fn from_url_list(list: &[String]) -> Result<Self> {
        let mut urls = BTreeMap::new();
        for item in list {
            let (name, url) = item
                .split_once('=')
                .with_context(|| format!("--url {item:?}: expected service=http://host:port"))?;
            ensure!(
                entrypoints().any(|entry| entry == name),
                "--url {item:?}: {name} is not one of the entrypoints {:?}",
                entrypoints().collect::<Vec<_>>()
            );
            reqwest::Url::parse(url).with_context(|| format!("--url {item:?}: not a URL"))?;
            ensure!(
                urls.insert(name.to_owned(), url.trim_end_matches('/').to_owned())
                    .is_none(),
                "--url {name} given twice"
            );
        }
        let missing: Vec<&str> = entrypoints().filter(|name| !urls.contains_key(*name)).collect();
        ensure!(missing.is_empty(), "--target urls needs --url for {missing:?}");
        Ok(Self::Urls(urls))
    }

    /// How this target's database goes back to its seed: over SQL on the local system's database,
    /// through the container CLI on compose's, not at all behind URLs.
    pub fn resetter(&self, system: Option<&System>) -> Result<Resetter> {
        Ok(match (self, system) {
            (Self::Local { .. }, Some(system)) => match &system.cluster {
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
            (Self::Compose { docker, .. }, _) => Resetter::ComposeExec {
                docker: docker.clone(),
            },
            _ => Resetter::None,
        })
    }

    /// What the sampler watches for this target: the ten services, `postgres` and `k6` (k6 only for
    /// `urls`: the services may be anywhere).
    pub fn watched(&self, system: Option<&System>) -> Vec<(String, Option<Source>)> {
        let mut watched: Vec<(String, Option<Source>)> = match (self, system) {
            (Self::Local { .. }, Some(system)) => {
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
            (Self::Compose { .. }, _) => SERVICES
                .iter()
                .chain(std::iter::once(&POSTGRES_CONTAINER))
                .map(|name| (name.to_string(), Some(Source::Container(name.to_string()))))
                .collect(),
            _ => Vec::new(),
        };
        watched.push(("k6".into(), None));
        watched
    }

    /// The container CLI the sampler reads containers with (compose only).
    pub fn docker(&self) -> Option<String> {
        match self {
            Self::Compose { docker, .. } => Some(docker.clone()),
            _ => None,
        }
    }

    /// The container CLI for `compose`: `STACK_DOCKER`, else `docker` or `podman`, whichever is on
    /// the `PATH`.
    pub fn container_cli() -> String {
        if let Ok(cli) = std::env::var("STACK_DOCKER") {
            return cli;
        }
        let on_path = |tool: &str| {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        };
        if !on_path("docker") && on_path("podman") {
            "podman".into()
        } else {
            "docker".into()
        }
    }
}

/// Each entrypoint at the host port compose publishes it on.
fn published(compose: &Compose) -> Result<BTreeMap<String, String>> {
    entrypoints()
        .map(|name| {
            let service = compose
                .services
                .get(name)
                .with_context(|| format!("the compose file has no {name}"))?;
            let port = match service.published_ports()?.as_slice() {
                [(host, CONTAINER_PORT)] => *host,
                other => bail!("{name}: expected one published port to {CONTAINER_PORT}, found {other:?}"),
            };
            Ok((name.to_owned(), format!("http://127.0.0.1:{port}")))
        })
        .collect()
}

/// How the database goes back to its seeded state between repeats.
pub enum Resetter {
    /// Over SQL, with [`seed::reset_sql`] in one transaction, on this database.
    Sql(PgPool),
    /// `docker exec -i postgres psql --single-transaction` with the same SQL.
    ComposeExec {
        docker: String,
    },
    None,
}

impl Resetter {
    /// A resetter of the database at `connect` (connected lazily).
    pub fn sql(connect: PgConnectOptions) -> Self {
        Self::Sql(PgPoolOptions::new().max_connections(1).connect_lazy_with(connect))
    }

    /// A resetter of the database at `url`.
    pub fn sql_url(url: &str) -> Result<Self> {
        Ok(Self::sql(
            PgConnectOptions::from_str(url).context("DATABASE_URL is not a PostgreSQL URL")?,
        ))
    }

    pub fn kind(&self) -> DbReset {
        match self {
            Self::Sql(_) => DbReset::Sql,
            Self::ComposeExec { .. } => DbReset::ComposeExec,
            Self::None => DbReset::None,
        }
    }

    pub async fn reset(&self) -> Result<()> {
        match self {
            Self::Sql(pool) => Ok(seed::reset(pool).await?),
            Self::ComposeExec { docker } => compose_exec_reset(docker),
            Self::None => Ok(()),
        }
    }

    /// The server's `server_version`, when it can be asked.
    pub async fn server_version(&self) -> Option<String> {
        match self {
            Self::Sql(pool) => sqlx::query_scalar::<_, String>("SHOW server_version")
                .fetch_one(pool)
                .await
                .ok(),
            Self::ComposeExec { docker } => Command::new(docker)
                .args([
                    "exec",
                    POSTGRES_CONTAINER,
                    "psql",
                    "-U",
                    "postgres",
                    "-tAc",
                    "SHOW server_version",
                ])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned()),
            Self::None => None,
        }
    }
}

fn compose_exec_reset(docker: &str) -> Result<()> {
    let mut child = Command::new(docker)
        .args([
            "exec",
            "-i",
            POSTGRES_CONTAINER,
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-q",
            "-U",
            "postgres",
            "-d",
            "sync",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {docker} exec {POSTGRES_CONTAINER} psql"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(seed::reset_sql().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{docker} exec {POSTGRES_CONTAINER} psql failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
