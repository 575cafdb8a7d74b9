//! The part of `docker-compose-sync.yml` that says how the services are wired: their environment,
//! their published ports and what they wait for. Anchors and `<<` merge keys are resolved as compose
//! resolves them.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

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
    Map(BTreeMap<String, Option<serde_yaml::Value>>),
    List(Vec<String>),
}

/// `depends_on:` as a list of names or a map of names to conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    #[default]
    None,
    List(Vec<String>),
    Map(BTreeMap<String, serde_yaml::Value>),
}

impl Compose {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut value: serde_yaml::Value = serde_yaml::from_str(text)?;
        value.apply_merge()?;
        if let Some(services) = value.get_mut("services").and_then(|s| s.as_mapping_mut()) {
            for (_, service) in services.iter_mut() {
                service.apply_merge()?;
                for key in ["environment", "depends_on"] {
                    if let Some(inner) = service.get_mut(key) {
                        inner.apply_merge()?;
                    }
                }
            }
        }
        let mut compose: Self = serde_yaml::from_value(value)?;
        compose.services.retain(|_, service| service.profiles.is_empty());
        Ok(compose)
    }
}

impl Service {
    /// The environment as compose would pass it, values as strings. A variable without a value is
    /// the caller's own, or absent when the caller has none, as in compose.
    pub fn environment(&self) -> Result<BTreeMap<String, String>> {
        match &self.environment {
            Environment::None => Ok(BTreeMap::new()),
            Environment::Map(map) => map
                .iter()
                .filter_map(|(key, value)| match value {
                    None => std::env::var(key).ok().map(|caller| Ok((key.clone(), caller))),
                    Some(value) => Some(scalar(Some(value)).map(|value| (key.clone(), value))),
                })
                .collect(),
            Environment::List(list) => Ok(list
                .iter()
                .map(|item| match item.split_once('=') {
                    Some((key, value)) => (key.to_owned(), value.to_owned()),
                    None => (item.clone(), String::new()),
                })
                .collect()),
        }
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

fn scalar(value: Option<&serde_yaml::Value>) -> Result<String> {
    Ok(match value {
        None | Some(serde_yaml::Value::Null) => String::new(),
        Some(serde_yaml::Value::String(text)) => text.clone(),
        Some(serde_yaml::Value::Number(number)) => number.to_string(),
        Some(serde_yaml::Value::Bool(flag)) => flag.to_string(),
        Some(other) => bail!("environment value {other:?} is not a scalar"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
