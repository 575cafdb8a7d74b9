//! An implementation's contract: which answers count as accepted, per scenario (issue 29). This
//! system answers S1 with `201` once the welcome email is sent; a broker design answers `202` at
//! once and does the work later. Each design has one file, `k6-tests/contracts/<name>.json`
//! (`sync.json` is this system's, the brief's checks exactly; `broker.json` a broker design's); the
//! k6 script builds its checks and its expected statuses from it (its `CONTRACT`, described there and
//! in `docs/results.md`).
//!
//! `stack bench --contract NAME|PATH` picks one per side. It is read here before any load, so a
//! contract that lacks a selected scenario or has a misspelt rule fails at once, not as a k6 error
//! in the middle of a study; and the record names it with the SHA-256 of its bytes, so two records
//! judged by the same contract can be told from two judged by files of the same name.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use stack_record::ContractRecord;

use crate::scenario::Scenario;

/// Where the named contracts live, relative to the workspace.
pub const CONTRACTS_DIR: &str = "k6-tests/contracts";

/// The contract of this system, the default.
pub const DEFAULT_CONTRACT: &str = "sync";

/// A contract file as the script reads it; read here only to refuse a malformed one early.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    about: String,
    scenarios: BTreeMap<String, ScenarioTerms>,
}

/// What counts as an accepted answer of one scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioTerms {
    statuses: Vec<u16>,
    /// A number of ms, or `"REPORT_MS"`.
    #[serde(default)]
    slower_than_ms: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    answer: Option<String>,
    #[serde(default)]
    fields: Vec<FieldRule>,
    /// The answer only acknowledges work done later: a traced request's trace must show the work
    /// after the answer to count as completed.
    #[serde(default)]
    defers: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldRule {
    #[allow(dead_code)]
    path: String,
    is: FieldTest,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

/// The tests the script knows (its `FIELD_RULES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FieldTest {
    Sent,
    Equal,
    Above,
    Present,
    Match,
}

/// A contract chosen for a bench: its file, and what the record says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The file, absolute: what the script is given.
    pub path: PathBuf,
    pub record: ContractRecord,
}

impl Contract {
    /// The scenarios whose answers only acknowledge work done later.
    pub fn deferred(&self) -> Vec<Scenario> {
        self.record
            .defers
            .iter()
            .filter_map(|name| Scenario::parse(name))
            .collect()
    }

    /// `spec` is a contract's name (`sync`, `broker`: `k6-tests/contracts/<name>.json` under `root`)
    /// or a path to a contract file. It is read, checked to cover `scenarios`, and hashed.
    pub fn resolve(root: &Path, spec: &str, scenarios: &[Scenario]) -> Result<Self> {
        let is_name = !spec.is_empty()
            && spec
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let path = if is_name {
            root.join(CONTRACTS_DIR).join(format!("{spec}.json"))
        } else {
            std::path::absolute(spec).with_context(|| format!("--contract {spec}"))?
        };
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "--contract {spec}: reading {} (a name of {CONTRACTS_DIR}/ or a path to a contract file)",
                path.display()
            )
        })?;
        let file: ContractFile = serde_json::from_slice(&bytes)
            .with_context(|| format!("--contract {spec}: {} is not a contract", path.display()))?;
        file.check(scenarios)
            .with_context(|| format!("--contract {spec}: {}", path.display()))?;
        let file_text = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        Ok(Self {
            path,
            record: ContractRecord {
                name: file.name,
                file: file_text,
                sha256: sha256_hex(&bytes),
                defers: file
                    .scenarios
                    .iter()
                    .filter(|(_, terms)| terms.defers)
                    .map(|(name, _)| name.clone())
                    .collect(),
            },
        })
    }
}

impl ContractFile {
    /// Every scenario of `scenarios` has statuses, and every rule the value its test needs.
    fn check(&self, scenarios: &[Scenario]) -> Result<()> {
        for scenario in scenarios {
            let name = scenario.name();
            let Some(terms) = self.scenarios.get(name) else {
                bail!("it has no terms for {name}");
            };
            if terms.statuses.is_empty() {
                bail!("{name}: no statuses, so no answer could be accepted");
            }
            match &terms.slower_than_ms {
                None => {}
                Some(serde_json::Value::Number(_)) => {}
                Some(serde_json::Value::String(text)) if text == "REPORT_MS" => {}
                Some(other) => bail!("{name}: slower_than_ms is {other}: a number of ms or \"REPORT_MS\""),
            }
            for rule in &terms.fields {
                let needs_value = matches!(rule.is, FieldTest::Equal | FieldTest::Above | FieldTest::Match);
                if needs_value && rule.value.is_none() {
                    bail!(
                        "{name}: the rule on {:?} ({:?}) needs a value",
                        rule.path,
                        rule.is
                    );
                }
            }
        }
        Ok(())
    }
}

/// Lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn a_contract_is_found_by_its_name_and_recorded_with_its_hash() {
        // Given the committed broker contract
        let all = [
            Scenario::S1,
            Scenario::S2,
            Scenario::S3,
            Scenario::S4,
            Scenario::S5,
            Scenario::S6,
        ];
        // When it is chosen by name
        let contract = Contract::resolve(&root(), "broker", &all).expect("the broker contract");
        // Then the record names it, its file within the workspace, and the hash of its bytes
        assert_eq!(contract.record.name, "broker");
        assert_eq!(contract.record.file, "k6-tests/contracts/broker.json");
        let bytes = std::fs::read(&contract.path).expect("the file");
        assert_eq!(contract.record.sha256, sha256_hex(&bytes));
        assert_eq!(contract.record.sha256.len(), 64);
    }

    #[test]
    fn a_contract_without_a_selected_scenario_is_refused_before_any_load() {
        // Given a contract file that says nothing of S2
        let folder = std::env::temp_dir().join(format!("stack-contract-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("a folder");
        let path = folder.join("partial.json");
        std::fs::write(
            &path,
            r#"{"name": "partial", "scenarios": {"s1": {"statuses": [202]}}}"#,
        )
        .expect("written");
        // When a bench of S1 and S2 chooses it
        let found = Contract::resolve(
            &root(),
            path.to_str().expect("utf-8"),
            &[Scenario::S1, Scenario::S2],
        );
        // Then it is refused, naming the scenario
        let err = format!("{:#}", found.expect_err("S2 is missing"));
        assert!(err.contains("no terms for s2"), "{err}");
        let _ = std::fs::remove_dir_all(folder);
    }

    #[test]
    fn the_sha256_of_a_known_text_is_its_published_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
