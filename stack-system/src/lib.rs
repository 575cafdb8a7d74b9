//! `stack-system`: running a system. The ten services of `docker-compose-sync.yml` as local
//! processes for `stack up` and `stack bench`, and, when no `DATABASE_URL` is given, a private
//! PostgreSQL cluster under `target/stack/` on `STACK_PG_PORT`. It sits below the study, which drives
//! what it starts, and knows nothing of benches or records: a system is run the same way whether
//! anyone measures it.
//!
//! The parts it is made of: [`compose`] (the compose file, the single source of truth), [`plan`]
//! (from compose to local processes: ports, rewritten host names), [`postgres`] (the private
//! cluster), [`process`] (the services as child processes), [`proc`] (this machine's processes, the one
//! reader of `/proc`), [`observe`] (a local Prometheus) and [`seed`] (the database's seeded state).

pub mod compose;
pub mod observe;
pub mod plan;
pub mod postgres;
pub mod proc;
pub mod process;
pub mod seed;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result};

use self::{
    compose::Compose,
    observe::Prometheus,
    plan::{Database, Plan},
    postgres::Cluster,
    process::Services,
};

/// The private cluster's port unless `STACK_PG_PORT` says otherwise.
pub const DEFAULT_PG_PORT: u16 = 54329;

/// The folder with `docker-compose-sync.yml`: the current one or one above it, else this crate's workspace.
pub fn workspace_root() -> Result<PathBuf> {
    let here = std::env::current_dir()?;
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    here.ancestors()
        .chain(std::iter::once(built_from.as_path()))
        .find(|dir| dir.join("docker-compose-sync.yml").is_file())
        .map(Path::to_path_buf)
        .context("no docker-compose-sync.yml in this folder, any folder above it, or the workspace")
}

/// `DATABASE_URL` if it is set, else the private cluster.
pub fn configured_database() -> Database {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Database::Url(url),
        _ => Database::Local {
            port: std::env::var("STACK_PG_PORT")
                .ok()
                .and_then(|port| port.parse().ok())
                .unwrap_or(DEFAULT_PG_PORT),
        },
    }
}

/// The running system: the services and, if the stack started it, the private database.
pub struct System {
    pub services: Services,
    pub cluster: Option<Cluster>,
    pub plan: Plan,
}

impl System {
    /// Builds the service binaries (unless `no_build`), starts the database if it is ours, then
    /// every service, each after what it depends on. `port_offset` moves the whole system up, its
    /// private cluster included (into a folder of its own), so a second copy can run beside the
    /// first; a `DATABASE_URL` is used as given.
    pub async fn up(root: &Path, compose: &Compose, no_build: bool, port_offset: u16) -> Result<Self> {
        Self::up_with_env(root, compose, no_build, port_offset, &BTreeMap::new()).await
    }

    /// [`System::up`], with `extra_env` added to every service's environment over what compose and
    /// the caller give it (`stack bench` points the services' trace export at itself this way).
    pub async fn up_with_env(
        root: &Path,
        compose: &Compose,
        no_build: bool,
        port_offset: u16,
        extra_env: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let bin_dir = std::env::current_exe()?
            .parent()
            .context("the stack binary has no folder")?
            .to_path_buf();
        if !no_build {
            build_services(root)?;
        }
        let database = match configured_database() {
            Database::Local { port } => Database::Local {
                port: port.checked_add(port_offset).with_context(|| {
                    format!("the database's port {port} + offset {port_offset} is past 65535")
                })?,
            },
            given => given,
        };
        let mut plan = Plan::new(compose, &database, port_offset)?;
        for service in &mut plan.services {
            service.env.extend(extra_env.clone());
        }
        let cluster = match database {
            Database::Url(_) => None,
            Database::Local { port } => {
                eprintln!("stack: starting a private PostgreSQL on 127.0.0.1:{port} (set DATABASE_URL to use another)");
                let folder = match port_offset {
                    0 => "postgres".to_owned(),
                    _ => format!("postgres-{port}"),
                };
                Some(Cluster::start(
                    &root.join("target/stack").join(folder),
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

    /// A local Prometheus under `target/stack/prometheus`, scraping every service of this system.
    pub async fn observe(&self, root: &Path) -> Result<Prometheus> {
        let targets: Vec<(String, u16)> = self
            .plan
            .services
            .iter()
            .map(|service| (service.name.clone(), service.port))
            .collect();
        observe::start(&root.join("target/stack/prometheus"), &targets).await
    }

    pub fn print_table(&self) {
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
                "{:<18} 127.0.0.1:{:<14} private cluster{}",
                "postgres",
                cluster.port(),
                cluster
                    .postmaster_pid()
                    .map(|pid| format!(", postmaster pid {pid}"))
                    .unwrap_or_default()
            ),
            None => println!("{:<18} {:<24} DATABASE_URL", "postgres", "(given)"),
        }
    }

    /// Stops the services, then the private database; success if every service exited cleanly.
    pub async fn down(mut self) -> Result<ExitCode> {
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

    /// Runs until Ctrl-C or SIGTERM, then stops everything. A service that dies is reported, and
    /// the others keep running, as under compose: a failure experiment may stop one on purpose to
    /// watch what its callers do.
    pub async fn run_until_signal(mut self) -> Result<ExitCode> {
        let shutdown = async {
            common::serve::shutdown_signal().await;
            eprintln!("stack: stopping");
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return self.down().await,
                (name, status) = self.services.next_exit() => {
                    eprintln!("stack: WARNING: {name} exited ({status}); the others keep running without it");
                }
            }
        }
    }
}

/// `cargo run` builds only the stack itself; the service binaries are built beside it.
fn build_services(root: &Path) -> Result<()> {
    match std::env::var_os("CARGO") {
        Some(cargo) => process::build_release_binaries(root, &cargo),
        None => Ok(()),
    }
}
