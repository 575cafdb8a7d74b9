//! What `stack bench` drives: the system it starts itself (`local`), a system already running under
//! docker-compose or podman (`compose`), or six entrypoints given by URL (`urls`, any implementation
//! of the contract). The target decides the URLs k6 is given, which processes the sampler watches
//! (the local system's processes, every container of the compose project, or what `--watch` names
//! behind URLs), and how the database is returned to its seeded state between repeats.

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

use stack_record::{DbReset, TargetKind};
use stack_system::{
    compose::Compose,
    plan::{DatabaseSpec, CONTAINER_PORT},
    proc::{CommandPattern, ProcessSet, K6, POSTGRES},
    seed, System,
};

use crate::{bench::sampler::Source, scenario::Scenario};

/// The services k6 drives: each scenario's entry service.
pub fn entrypoints() -> impl Iterator<Item = &'static str> {
    Scenario::ALL.into_iter().map(|scenario| scenario.entry().service)
}

/// A target with the URLs of its entrypoints, by service name.
#[derive(Debug, Clone)]
pub enum Target {
    /// The services `stack` starts as local processes, on the ports compose publishes.
    Local { urls: BTreeMap<String, String> },
    /// Running under compose; `docker` is the container CLI (`docker` or `podman`).
    Compose {
        urls: BTreeMap<String, String>,
        docker: String,
        /// The system's services, as compose names their containers.
        services: Vec<String>,
        /// The credentials of its database container.
        database: DatabaseSpec,
    },
    /// Any implementation, by URL; `watch` is what the sampler reads of it (`--watch`), by name;
    /// `database` is its PostgreSQL (`--database`), when it has one `stack` may reset and quiesce.
    Urls {
        urls: BTreeMap<String, String>,
        watch: Vec<(String, Source)>,
        database: Option<String>,
    },
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
                services: compose.system_services(),
                database: DatabaseSpec::of(compose)?,
            },
            TargetKind::Urls => Self::from_url_list(url_list)?,
        })
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Self::Local { .. } => TargetKind::Local,
            Self::Compose { .. } => TargetKind::Compose,
            Self::Urls { .. } => TargetKind::Urls,
        }
    }

    /// Whether the system runs on this host, so that its spans are stamped by the clock k6 reads: a
    /// local system, compose's containers (they share the host's clock), or URLs that all name a
    /// loopback address. A system elsewhere has a clock of its own ([`crate::bench::clock`]).
    pub fn on_this_host(&self) -> bool {
        match self {
            Self::Local { .. } | Self::Compose { .. } => true,
            Self::Urls { urls, .. } => urls.values().all(|url| {
                reqwest::Url::parse(url).is_ok_and(|url| match url.host_str() {
                    Some("localhost") => true,
                    Some(host) => host
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback()),
                    None => false,
                })
            }),
        }
    }

    /// The entrypoints, by service name.
    pub fn urls(&self) -> &BTreeMap<String, String> {
        match self {
            Self::Local { urls } | Self::Compose { urls, .. } | Self::Urls { urls, .. } => urls,
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
        Ok(Self::Urls {
            urls,
            watch: Vec::new(),
            database: None,
        })
    }

    /// This target with `list` (`--watch NAME=pid:N|container:NAME|cmd:REGEX`) sampled too;
    /// `--target urls` only, each name once, `k6` being the generator's.
    pub fn with_watch(self, list: &[String]) -> Result<Self> {
        if list.is_empty() {
            return Ok(self);
        }
        let Self::Urls {
            urls,
            mut watch,
            database,
        } = self
        else {
            bail!("--watch is for --target urls (the other targets sample their own processes)");
        };
        for item in list {
            let (name, source) = watched_process(item)?;
            ensure!(
                name != K6 && watch.iter().all(|(other, _)| *other != name),
                "--watch {item:?}: the name {name} is taken (k6 is the generator's)"
            );
            watch.push((name, source));
        }
        Ok(Self::Urls {
            urls,
            watch,
            database,
        })
    }

    /// This target with its database at `url` (`--database postgres://...`; `--target urls` only):
    /// reset to the seed and quiesced before each measured run, as a local system's is. The
    /// implementation behind the URLs must keep the seeded tables (`seed::reset_sql`).
    pub fn with_database(self, url: Option<&str>) -> Result<Self> {
        let Some(url) = url else {
            return Ok(self);
        };
        let Self::Urls { urls, watch, .. } = self else {
            bail!("--database is for --target urls (the other targets reset their own database)");
        };
        ensure!(
            ["postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme)),
            "--database {url:?}: expected postgres://USER:PASSWORD@HOST:PORT/DB"
        );
        PgConnectOptions::from_str(url)
            .with_context(|| format!("--database {url:?}: not a PostgreSQL URL"))?;
        Ok(Self::Urls {
            urls,
            watch,
            database: Some(url.to_owned()),
        })
    }

    /// What `postgres` names among `--watch`, as the database's processes: the CPU quiescing waits on.
    pub fn watched_database(&self) -> Option<&Source> {
        match self {
            Self::Urls { watch, .. } => watch
                .iter()
                .find(|(name, _)| name == POSTGRES)
                .map(|(_, source)| source),
            _ => None,
        }
    }

    /// PostgreSQL's processes on this machine, chosen once for the sampler and the database's
    /// quieting: the local cluster's postmaster and its descendants, or the tree
    /// `--watch postgres=pid:N` names behind URLs; else every process called `postgres`, which can
    /// only make the wait for quiet longer, never shorter.
    pub fn database_processes(&self, system: Option<&System>) -> ProcessSet {
        let root = match self {
            Self::Local { .. } => system
                .and_then(|system| system.cluster.as_ref())
                .and_then(|cluster| cluster.postmaster_pid()),
            Self::Urls { .. } => match self.watched_database() {
                Some(Source::Processes(ProcessSet::Tree(pid))) => Some(*pid),
                _ => None,
            },
            Self::Compose { .. } => None,
        };
        root.map_or_else(|| ProcessSet::CommandName(POSTGRES.into()), ProcessSet::Tree)
    }

    /// How this target's database goes back to its seed: over SQL on the local system's database
    /// (or the one `--database` gives behind URLs), through the container CLI on compose's, not at
    /// all behind URLs without one.
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
            (Self::Compose { docker, database, .. }, _) => Resetter::ComposeExec {
                docker: docker.clone(),
                database: database.clone(),
            },
            (
                Self::Urls {
                    database: Some(url), ..
                },
                _,
            ) => Resetter::sql_url(url)?,
            _ => Resetter::None,
        })
    }

    /// What the sampler watches for this target: the ten services and `postgres` (local), every
    /// container of the compose project (compose), what `--watch` names (urls); and `k6`.
    pub fn watched(&self, system: Option<&System>) -> Vec<(String, Option<Source>)> {
        let mut watched: Vec<(String, Option<Source>)> = match (self, system) {
            (Self::Local { .. }, Some(system)) => {
                let pids = system.services.pids();
                let mut watched: Vec<(String, Option<Source>)> = system
                    .plan
                    .services
                    .iter()
                    .map(|service| {
                        let pid = pids
                            .iter()
                            .find(|(name, _)| *name == service.name)
                            .map(|(_, pid)| *pid);
                        (service.name.clone(), pid.map(Source::tree))
                    })
                    .collect();
                let postgres = Source::Processes(self.database_processes(Some(system)));
                watched.push((POSTGRES.into(), Some(postgres)));
                watched
            }
            (Self::Compose { docker, services, .. }, _) => match compose_project(docker) {
                Some(project) => vec![("compose".into(), Some(Source::ComposeProject(project)))],
                None => {
                    eprintln!(
                        "stack: {POSTGRES} has no compose project label: sampling the ten services' and {POSTGRES}'s containers only"
                    );
                    services
                        .iter()
                        .map(String::as_str)
                        .chain(std::iter::once(POSTGRES))
                        .map(|name| (name.to_owned(), Some(Source::Container(name.to_owned()))))
                        .collect()
                }
            },
            (Self::Urls { watch, .. }, _) => watch
                .iter()
                .map(|(name, source)| (name.clone(), Some(source.clone())))
                .collect(),
            _ => Vec::new(),
        };
        watched.push((K6.into(), None));
        watched
    }

    /// The container CLI the sampler reads containers with (compose, or a `--watch` container).
    pub fn docker(&self) -> Option<String> {
        match self {
            Self::Compose { docker, .. } => Some(docker.clone()),
            Self::Urls { watch, .. } if watch.iter().any(|(_, s)| matches!(s, Source::Container(_))) => {
                Some(Self::container_cli())
            }
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

/// `NAME=pid:N` (that process and its descendants), `NAME=container:NAME` or `NAME=cmd:REGEX` (the
/// processes whose command line matches, and their descendants, as they come and go).
pub fn watched_process(item: &str) -> Result<(String, Source)> {
    const FORMS: &str = "NAME=pid:N, NAME=container:NAME or NAME=cmd:REGEX";
    let (name, spec) = item
        .split_once('=')
        .with_context(|| format!("--watch {item:?}: expected {FORMS}"))?;
    ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "--watch {item:?}: the name must be letters, digits, '-', '_' or '.'"
    );
    let source = match spec.split_once(':') {
        Some(("pid", pid)) => Source::tree(
            pid.parse()
                .with_context(|| format!("--watch {item:?}: {pid:?} is not a process id"))?,
        ),
        Some(("container", container)) if !container.is_empty() => Source::Container(container.to_owned()),
        Some(("cmd", pattern)) if !pattern.is_empty() => Source::Processes(ProcessSet::CommandLine(
            CommandPattern::new(pattern)
                .with_context(|| format!("--watch {item:?}: not a regular expression"))?,
        )),
        _ => bail!("--watch {item:?}: expected {FORMS}"),
    };
    Ok((name.to_owned(), source))
}

/// The compose project of the running system: the `com.docker.compose.project` label of its
/// database's container.
fn compose_project(docker: &str) -> Option<String> {
    let output = Command::new(docker)
        .args([
            "inspect",
            "--format",
            "{{ index .Config.Labels \"com.docker.compose.project\" }}",
            POSTGRES,
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let project = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!project.is_empty() && project != "<no value>").then_some(project)
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
        database: DatabaseSpec,
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
            Self::ComposeExec { docker, database } => compose_exec_reset(docker, database),
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
            Self::ComposeExec { docker, database } => Command::new(docker)
                .args([
                    "exec",
                    POSTGRES,
                    "psql",
                    "-U",
                    database.user.as_str(),
                    "-d",
                    database.name.as_str(),
                ])
                .args(["-tAc", "SHOW server_version"])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned()),
            Self::None => None,
        }
    }
}

fn compose_exec_reset(docker: &str, database: &DatabaseSpec) -> Result<()> {
    let mut child = Command::new(docker)
        .args([
            "exec",
            "-i",
            POSTGRES,
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-q",
            "-U",
            database.user.as_str(),
            "-d",
            database.name.as_str(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {docker} exec {POSTGRES} psql"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(seed::reset_sql().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{docker} exec {POSTGRES} psql failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls_target() -> Target {
        let list: Vec<String> = entrypoints()
            .map(|name| format!("{name}=http://127.0.0.1:9000"))
            .collect();
        Target::from_url_list(&list).expect("six entrypoints")
    }

    #[test]
    fn urls_on_loopback_are_on_this_host_and_any_other_host_is_not() {
        // Given the six entrypoints on 127.0.0.1, and then one of them on another machine
        let here = urls_target();
        let mut list: Vec<String> = entrypoints()
            .map(|name| format!("{name}=http://[::1]:9000"))
            .collect();
        list[0] = format!(
            "{}=http://10.0.0.7:9000",
            entrypoints().next().expect("an entrypoint")
        );
        let elsewhere = Target::from_url_list(&list).expect("six entrypoints");
        // Then only the first is on this host's clock
        assert!(here.on_this_host());
        assert!(!elsewhere.on_this_host());
    }

    #[test]
    fn a_watch_reads_as_a_process_tree_a_container_or_a_command_line_pattern() {
        assert_eq!(
            watched_process("db=pid:42").expect("a pid"),
            ("db".into(), Source::tree(42))
        );
        assert_eq!(
            watched_process("broker=container:rabbitmq").expect("a container"),
            ("broker".into(), Source::Container("rabbitmq".into()))
        );
        assert_eq!(
            watched_process("orders=cmd:java .*orders=1").expect("a pattern"),
            (
                "orders".into(),
                Source::Processes(ProcessSet::CommandLine(
                    CommandPattern::new("java .*orders=1").expect("a regex")
                ))
            )
        );
    }

    #[test]
    fn a_malformed_watch_is_refused_naming_the_forms() {
        for bad in [
            "db",
            "db=pid:x",
            "db=container:",
            "db=cmd:(",
            "db=host:1",
            "=pid:1",
            "a b=pid:1",
        ] {
            let err = watched_process(bad).expect_err(bad);
            assert!(format!("{err:#}").contains("--watch"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn watched_names_are_sampled_beside_k6_on_a_urls_target() {
        // Given a target by URLs with two watched names
        let target = urls_target()
            .with_watch(&["db=pid:1".into(), "app=cmd:myapp".into()])
            .expect("two watches");
        // When the sampler's list is made
        let names: Vec<String> = target.watched(None).into_iter().map(|(name, _)| name).collect();
        // Then it holds them and the generator, and needs no container CLI
        assert_eq!(names, ["db", "app", "k6"]);
        assert_eq!(target.docker(), None);
    }

    // The pool behind a SQL resetter is made (lazily, unconnected) on a Tokio runtime.
    #[tokio::test]
    async fn a_urls_target_with_a_database_is_reset_over_sql_and_quiesced_on_its_watched_postmaster() {
        // Given a target by URLs whose database and postmaster are named
        let target = urls_target()
            .with_watch(&["postgres=pid:4242".into()])
            .and_then(|target| target.with_database(Some("postgres://u:p@127.0.0.1:55329/sync")))
            .expect("a watch and a database");
        // Then it resets over SQL, and its database's processes are that postmaster's tree
        let resetter = target.resetter(None).expect("a resetter");
        assert!(matches!(resetter.kind(), DbReset::Sql));
        assert_eq!(target.watched_database(), Some(&Source::tree(4242)));
        // while one without a database is not reset at all
        assert!(matches!(
            urls_target().resetter(None).expect("a resetter").kind(),
            DbReset::None
        ));
    }

    #[test]
    fn a_database_is_refused_for_the_targets_that_reset_their_own_and_when_it_is_no_postgres_url() {
        let compose = Compose::parse(include_str!("../../docker-compose-sync.yml")).expect("compose");
        let local = Target::new(TargetKind::Local, &compose, &[]).expect("local");
        let err = local
            .with_database(Some("postgres://127.0.0.1/sync"))
            .expect_err("local resets its own");
        assert!(format!("{err:#}").contains("--target urls"), "{err:#}");
        let err = urls_target()
            .with_database(Some("mysql://127.0.0.1/sync"))
            .expect_err("not PostgreSQL");
        assert!(format!("{err:#}").contains("--database"), "{err:#}");
    }

    #[test]
    fn a_watch_may_not_take_the_generators_name_or_one_twice() {
        assert!(urls_target().with_watch(&["k6=pid:1".into()]).is_err());
        assert!(urls_target()
            .with_watch(&["db=pid:1".into(), "db=pid:2".into()])
            .is_err());
    }
}
