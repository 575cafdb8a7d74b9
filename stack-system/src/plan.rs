//! From the compose file to local processes: which binary each service runs, on which port, with
//! which environment.
//!
//! Inside compose a service is `http://<service>:8000` and the database is `postgres:5432`. Here
//! every service is a process on 127.0.0.1: the six entrypoints keep their published ports
//! (8001-8006), the four internal services get the fixed ports below, and every value in the
//! environment that names a compose host is rewritten to its local address. Nothing else is
//! invented: a service that compose forgets to wire keeps its compose default (`emailservice`),
//! which does not resolve here, so a mistake in the compose file fails the local run too.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};
use reqwest::Url;

use crate::{compose::Compose, proc::POSTGRES};

/// The port every service listens on inside its container.
pub const CONTAINER_PORT: u16 = 8000;

/// Local ports of the services that compose does not publish.
pub const INTERNAL_PORTS: [(&str, u16); 4] = [
    ("emailservice", 8007),
    ("searchservice", 8008),
    ("cacheservice", 8009),
    ("inventoryservice", 8010),
];

/// Where the services' database really is.
#[derive(Debug, Clone)]
pub enum Database {
    /// A server given by `DATABASE_URL`; the database services are handed that URL.
    Url(String),
    /// A server on 127.0.0.1 at this port (the private cluster), reached with compose's credentials.
    Local { port: u16 },
}

#[derive(Debug, Clone)]
pub struct LocalService {
    pub name: String,
    pub port: u16,
    /// Published by compose, so the k6 script reaches it.
    pub published: bool,
    pub env: BTreeMap<String, String>,
}

/// The database compose asks for: its user, password and database name.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub user: String,
    pub password: String,
    pub name: String,
}

impl DatabaseSpec {
    /// The credentials compose gives its database service, the one place they are read: what
    /// PostgreSQL's image makes of `POSTGRES_USER`, `POSTGRES_PASSWORD` and `POSTGRES_DB`.
    pub fn of(compose: &Compose) -> Result<Self> {
        let postgres = compose
            .services
            .get(POSTGRES)
            .with_context(|| format!("the compose file has no {POSTGRES} service"))?;
        let env = postgres.environment()?;
        let user = env
            .get("POSTGRES_USER")
            .cloned()
            .unwrap_or_else(|| "postgres".into());
        Ok(Self {
            password: env.get("POSTGRES_PASSWORD").cloned().unwrap_or_default(),
            name: env.get("POSTGRES_DB").cloned().unwrap_or_else(|| user.clone()),
            user,
        })
    }
}

#[derive(Debug)]
pub struct Plan {
    /// In an order where each service starts after everything it depends on.
    pub services: Vec<LocalService>,
    pub database: DatabaseSpec,
}

impl Plan {
    /// The plan with every service's port moved up by `port_offset` (0: the compose file's ports),
    /// so that a second copy of the system can run beside the first.
    pub fn new(compose: &Compose, database: &Database, port_offset: u16) -> Result<Self> {
        let spec = DatabaseSpec::of(compose)?;

        let ports = local_ports(compose, port_offset)?;
        let mut services = Vec::new();
        for name in start_order(compose)? {
            let service = &compose.services[&name];
            ensure!(
                service.container_name.as_deref() == Some(name.as_str()),
                "{name}: container_name must be {name:?}, so that http://{name}:8000 resolves in compose"
            );
            ensure!(
                service.binary() == Some(name.as_str()),
                "{name}: its build argument SERVICE must be {name:?}, or its image runs another service"
            );
            let mut env = BTreeMap::new();
            for (key, value) in service.environment()? {
                let local = rewrite(&key, &value, &ports, database)?;
                env.insert(key, local);
            }
            if env.get("POSTGRES_HOST").map(String::as_str) == Some("127.0.0.1") {
                match database {
                    Database::Local { port } => {
                        env.insert("POSTGRES_PORT".into(), port.to_string());
                    }
                    Database::Url(url) => {
                        env.insert("DATABASE_URL".into(), url.clone());
                    }
                }
            }
            env.insert("PORT".into(), ports[&name].to_string());
            let published = !service.ports.is_empty();
            services.push(LocalService {
                port: ports[&name],
                name,
                published,
                env,
            });
        }
        Ok(Self {
            services,
            database: spec,
        })
    }
}

/// Each service's local port: its published host port, or its fixed internal one, plus `offset`.
fn local_ports(compose: &Compose, offset: u16) -> Result<BTreeMap<String, u16>> {
    let mut ports = BTreeMap::new();
    for (name, service) in &compose.services {
        if name == POSTGRES {
            continue;
        }
        let published = service.published_ports()?;
        let port = match published.as_slice() {
            [] => INTERNAL_PORTS
                .iter()
                .find(|(internal, _)| internal == name)
                .map(|(_, port)| *port)
                .with_context(|| {
                    format!("{name} publishes no port and has no local port in INTERNAL_PORTS")
                })?,
            [(host, CONTAINER_PORT)] => *host,
            other => bail!("{name}: expected one published port to {CONTAINER_PORT}, found {other:?}"),
        };
        let port = port
            .checked_add(offset)
            .with_context(|| format!("{name}: port {port} + offset {offset} is past 65535"))?;
        ports.insert(name.clone(), port);
    }
    Ok(ports)
}

/// The services (not the database) with each after what it depends on.
fn start_order(compose: &Compose) -> Result<Vec<String>> {
    let mut order: Vec<String> = Vec::new();
    let mut remaining: Vec<String> = compose.system_services();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut index = 0;
        while index < remaining.len() {
            let name = &remaining[index];
            let dependencies = compose.services[name].depends_on();
            for dependency in &dependencies {
                ensure!(
                    compose.services.contains_key(dependency),
                    "{name} depends on unknown {dependency}"
                );
            }
            if dependencies.iter().all(|d| d == POSTGRES || order.contains(d)) {
                order.push(name.clone());
                remaining.remove(index);
            } else {
                index += 1;
            }
        }
        ensure!(
            remaining.len() < before,
            "depends_on has a cycle among {remaining:?}"
        );
    }
    Ok(order)
}

/// A compose value with compose host names replaced by local addresses: a `*_HOST` variable that
/// names the database, or a URL whose host is a compose service.
fn rewrite(key: &str, value: &str, ports: &BTreeMap<String, u16>, database: &Database) -> Result<String> {
    if key.ends_with("_HOST") && value == POSTGRES {
        return Ok("127.0.0.1".into());
    }
    let Ok(mut url) = Url::parse(value) else {
        return Ok(value.to_owned());
    };
    let Some(host) = url.host_str().map(str::to_owned) else {
        return Ok(value.to_owned());
    };
    let target = if host == POSTGRES {
        match database {
            Database::Local { port } => *port,
            Database::Url(real) => return Ok(real.clone()),
        }
    } else if let Some(port) = ports.get(&host) {
        ensure!(
            url.port_or_known_default() == Some(CONTAINER_PORT),
            "{value}: {host} listens on {CONTAINER_PORT} in compose"
        );
        *port
    } else {
        return Ok(value.to_owned());
    };
    let local = url.set_host(Some("127.0.0.1")).is_ok() && url.set_port(Some(target)).is_ok();
    ensure!(local, "cannot rewrite {value} to a local address");
    Ok(url.as_str().trim_end_matches('/').to_owned() + if value.ends_with('/') { "/" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(yaml: &str) -> Result<Plan> {
        Plan::new(&Compose::parse(yaml)?, &Database::Local { port: 5555 }, 0)
    }

    const FILE: &str = include_str!("../../docker-compose-sync.yml");

    #[test]
    fn the_compose_file_plans_all_ten_services_on_their_local_ports() {
        let plan = plan_of(FILE).expect("a plan");
        let ports: BTreeMap<&str, u16> = plan.services.iter().map(|s| (s.name.as_str(), s.port)).collect();
        assert_eq!(ports.len(), 10);
        assert_eq!(
            [
                ports["userservice"],
                ports["paymentservice"],
                ports["productservice"]
            ],
            [8001, 8002, 8003]
        );
        assert_eq!(
            [
                ports["reportservice"],
                ports["orderservice"],
                ports["analyticsservice"]
            ],
            [8004, 8005, 8006]
        );
    }

    #[test]
    fn every_service_gets_the_allocator_settings_that_give_memory_back() {
        // Local runs and containers must hold memory alike (docs/performance.md, round 3).
        let plan = plan_of(FILE).expect("a plan");
        for service in &plan.services {
            for key in ["MIMALLOC_PURGE_DELAY", "MIMALLOC_ARENA_EAGER_COMMIT"] {
                assert_eq!(
                    service.env.get(key).map(String::as_str),
                    Some("0"),
                    "{} {key}",
                    service.name
                );
            }
        }
    }

    #[test]
    fn compose_hosts_are_rewritten_to_local_addresses() {
        let plan = plan_of(FILE).expect("a plan");
        let user = plan
            .services
            .iter()
            .find(|s| s.name == "userservice")
            .expect("userservice");
        assert_eq!(user.env["EMAIL_SERVICE_URL"], "http://127.0.0.1:8007");
        assert_eq!(user.env["POSTGRES_HOST"], "127.0.0.1");
        assert_eq!(user.env["POSTGRES_PORT"], "5555");
        assert_eq!(user.env["PORT"], "8001");
        assert_eq!(
            user.env["POSTGRES_USER"], "postgres",
            "only host names are rewritten"
        );
    }

    #[test]
    fn a_port_offset_moves_every_service_and_every_address_of_one() {
        // Given the compose file, planned 1,000 ports up
        let plan = Plan::new(
            &Compose::parse(FILE).expect("the compose file"),
            &Database::Local { port: 5555 },
            1000,
        )
        .expect("a plan");
        // Then each service listens 1,000 up and calls the others 1,000 up; the database is as given
        let user = plan
            .services
            .iter()
            .find(|s| s.name == "userservice")
            .expect("userservice");
        assert_eq!(user.port, 9001);
        assert_eq!(user.env["PORT"], "9001");
        assert_eq!(user.env["EMAIL_SERVICE_URL"], "http://127.0.0.1:9007");
        assert_eq!(user.env["POSTGRES_PORT"], "5555");
        let mut ports: Vec<u16> = plan.services.iter().map(|s| s.port).collect();
        ports.sort_unstable();
        assert_eq!(ports, (9001..=9010).collect::<Vec<u16>>());
    }

    #[test]
    fn a_port_offset_past_the_last_port_is_refused() {
        let compose = Compose::parse(FILE).expect("the compose file");
        let err = Plan::new(&compose, &Database::Local { port: 5555 }, 60_000)
            .expect_err("8001 + 60,000 is no port");
        assert!(format!("{err:#}").contains("past 65535"), "{err:#}");
    }

    #[test]
    fn every_service_starts_after_what_it_depends_on() {
        let plan = plan_of(FILE).expect("a plan");
        let position = |name: &str| plan.services.iter().position(|s| s.name == name);
        assert!(position("emailservice") < position("userservice"));
        assert!(position("inventoryservice") < position("orderservice"));
        assert!(position("cacheservice") < position("productservice"));
    }

    #[test]
    fn a_variable_compose_names_without_a_value_is_passed_from_the_caller() {
        let yaml = FILE.replace("  MAX_CONNECTIONS:\n", "  STACK_PLAN_TEST_PASSED:\n");
        std::env::set_var("STACK_PLAN_TEST_PASSED", "700");
        let plan = plan_of(&yaml).expect("a plan");
        assert!(plan.services.iter().all(|service| service
            .env
            .get("STACK_PLAN_TEST_PASSED")
            .map(String::as_str)
            == Some("700")));
    }

    #[test]
    fn a_url_to_the_wrong_port_is_refused() {
        let broken = FILE.replace("http://emailservice:8000", "http://emailservice:9000");
        assert!(plan_of(&broken).is_err());
    }

    #[test]
    fn a_container_name_other_than_the_service_is_refused() {
        let broken = FILE.replace("container_name: cacheservice", "container_name: cache");
        assert!(plan_of(&broken).is_err());
    }
}
