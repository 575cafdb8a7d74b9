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
        Ok(serde_yaml::from_value(value)?)
    }
}

impl Service {
    /// The environment as compose would pass it, values as strings.
    pub fn environment(&self) -> Result<BTreeMap<String, String>> {
        match &self.environment {
            Environment::None => Ok(BTreeMap::new()),
            Environment::Map(map) => map
                .iter()
                .map(|(key, value)| Ok((key.clone(), scalar(value.as_ref())?)))
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
