//! The part of `docker-compose-sync.yml` that says how the services are wired: their environment,
//! their published ports and what they wait for. Anchors and `<<` merge keys are resolved as compose
//! resolves them (by serde-saphyr's deserializer, which reads the YAML straight into these types), and
//! `${NAME:-default}` in an environment value is filled from this process's environment as compose
//! fills it from the shell's, so `REPORT_SECONDS=1 stack up` shortens the reports as it would
//! under `docker compose up`.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use serde::{de::IgnoredAny, Deserialize};

use crate::proc::POSTGRES;

#[derive(Debug, Deserialize)]
pub struct Compose {
    pub services: BTreeMap<String, Service>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    pub image: Option<String>,
    pub build: Option<Build>,
    pub container_name: Option<String>,
    pub environment: Environment,
    pub ports: Vec<String>,
    pub depends_on: DependsOn,
    /// Compose starts a service with profiles only when one of them is asked for; so does not `stack`.
    pub profiles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Build {
    Context(String),
    Full {
        #[serde(default)]
        args: BTreeMap<String, String>,
    },
}

/// `environment:` as a map or as a list of `KEY=value`.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Environment {
    #[default]
    None,
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

/// An environment value: YAML may write `5432`, `"5432"` or `true`; compose passes each as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
}

/// `depends_on:` as a list of names or a map of names to conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    #[default]
    None,
    List(Vec<String>),
    Map(BTreeMap<String, IgnoredAny>),
}

impl Compose {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The services of the system, by name: every service but the database.
    pub fn system_services(&self) -> Vec<String> {
        self.services
            .keys()
            .filter(|name| *name != POSTGRES)
            .cloned()
            .collect()
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut compose: Self = serde_saphyr::from_str(text)?;
        compose.services.retain(|_, service| service.profiles.is_empty());
        Ok(compose)
    }
}

impl Service {
    /// The environment as compose would pass it, values as strings, variables substituted. A variable
    /// without a value is the caller's own, or absent when the caller has none, as in compose.
    pub fn environment(&self) -> Result<BTreeMap<String, String>> {
        let entries: Vec<(&str, Option<String>)> = match &self.environment {
            Environment::None => Vec::new(),
            Environment::Map(map) => map
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_ref().map(Scalar::to_string)))
                .collect(),
            Environment::List(list) => list
                .iter()
                .map(|item| match item.split_once('=') {
                    Some((key, value)) => (key, Some(value.to_owned())),
                    None => (item.as_str(), None),
                })
                .collect(),
        };
        let mut environment = BTreeMap::new();
        for (key, value) in entries {
            let value = match value {
                Some(value) => substitute(&value, |name| std::env::var(name).ok())
                    .with_context(|| format!("environment variable {key}"))?,
                None => match std::env::var(key) {
                    Ok(caller) => caller,
                    Err(_) => continue,
                },
            };
            environment.insert(key.to_owned(), value);
        }
        Ok(environment)
    }

    /// The host side of each `"host:container"` port.
    pub fn published_ports(&self) -> Result<Vec<(u16, u16)>> {
        self.ports
            .iter()
            .map(|port| {
                let (host, container) = port
                    .rsplit_once(':')
                    .with_context(|| format!("port {port:?} is not host:container"))?;
                let host = host.rsplit(':').next().unwrap_or(host);
                Ok((host.parse()?, container.parse()?))
            })
            .collect()
    }

    pub fn depends_on(&self) -> Vec<String> {
        match &self.depends_on {
            DependsOn::None => Vec::new(),
            DependsOn::List(names) => names.clone(),
            DependsOn::Map(map) => map.keys().cloned().collect(),
        }
    }

    /// The `SERVICE` build argument: which binary the image runs.
    pub fn binary(&self) -> Option<&str> {
        match &self.build {
            Some(Build::Full { args }) => args.get("SERVICE").map(String::as_str),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(flag) => flag.fmt(f),
            Self::Integer(number) => number.fmt(f),
            Self::Float(number) => number.fmt(f),
            Self::Text(text) => text.fmt(f),
        }
    }
}

/// Compose's variable substitution: `${NAME}`, `$NAME`, `${NAME:-default}` (the default when unset or
/// empty), `${NAME-default}` (the default when unset), and `$$` for a `$`. An unset variable without
/// a default is empty, as in compose.
fn substitute(value: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                bail!("unclosed ${{ in {value:?}");
            };
            let expression = &braced[..end];
            rest = &braced[end + 1..];
            let (name, fallback) = match (expression.split_once(":-"), expression.split_once('-')) {
                (Some((name, default)), _) => (name, Some((default, true))),
                (None, Some((name, default))) => (name, Some((default, false))),
                (None, None) => (expression, None),
            };
            if name.is_empty() || !name.chars().all(is_name) {
                bail!("${{{expression}}} in {value:?} is not a substitution this runner understands");
            }
            let found = lookup(name);
            out.push_str(&match (found, fallback) {
                (Some(found), Some((default, true))) if found.is_empty() => default.to_owned(),
                (Some(found), _) => found,
                (None, Some((default, _))) => default.to_owned(),
                (None, None) => String::new(),
            });
        } else {
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            out.push_str(&lookup(&rest[..end]).unwrap_or_default());
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_report_seconds(name: &str) -> Option<String> {
        (name == "REPORT_SECONDS").then(|| "0.5".to_owned())
    }

    #[test]
    fn a_set_variable_wins_over_the_default() {
        let value = substitute("${REPORT_SECONDS:-10}", with_report_seconds).ok();
        assert_eq!(value.as_deref(), Some("0.5"));
    }

    #[test]
    fn an_unset_variable_takes_the_default() {
        let value = substitute("${UNSET_HERE:-10}s", with_report_seconds).ok();
        assert_eq!(value.as_deref(), Some("10s"));
    }

    #[test]
    fn a_doubled_dollar_is_a_dollar() {
        let value = substitute("pa$$word $REPORT_SECONDS", with_report_seconds).ok();
        assert_eq!(value.as_deref(), Some("pa$word 0.5"));
    }

    #[test]
    fn an_unclosed_brace_is_an_error() {
        assert!(substitute("${REPORT_SECONDS", with_report_seconds).is_err());
    }

    const FILE: &str = r#"
services:
  app:
    environment:
      PATH:
      STACK_TEST_SURELY_UNSET_VARIABLE:
      FIXED: "1"
  prometheus:
    image: prom/prometheus
    profiles: [observability]
"#;

    #[test]
    fn a_service_with_a_profile_is_left_out_as_compose_does_without_it() {
        let compose = Compose::parse(FILE).expect("valid compose file");
        assert_eq!(compose.services.keys().collect::<Vec<_>>(), ["app"]);
    }

    #[test]
    fn a_variable_without_a_value_is_the_callers_own_or_absent() {
        let compose = Compose::parse(FILE).expect("valid compose file");
        let env = compose.services["app"].environment().expect("scalar values");
        assert_eq!(env.get("PATH"), std::env::var("PATH").ok().as_ref());
        assert_eq!(env.get("STACK_TEST_SURELY_UNSET_VARIABLE"), None);
        assert_eq!(env.get("FIXED").map(String::as_str), Some("1"));
    }
}
