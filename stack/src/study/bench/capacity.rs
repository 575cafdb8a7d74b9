//! The `capacity` profile's steps and SLOs, from `k6-tests/capacity.json`, the file the k6 script
//! reads too, so the two never disagree.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct CapacityPlan {
    pub default_step_s: f64,
    pub scenarios: BTreeMap<String, ScenarioSteps>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioSteps {
    pub slo_p99_ms: f64,
    /// `1s` or `1m`: what a step's rate counts arrivals per.
    pub time_unit: String,
    pub grace_s: f64,
    pub min_step_s: f64,
    /// `[arrivals per time_unit, preAllocatedVUs, maxVUs]`.
    pub steps: Vec<(f64, u64, u64)>,
}

impl CapacityPlan {
    pub fn read(root: &Path) -> Result<Self> {
        let path = root.join("k6-tests/capacity.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }
}

impl ScenarioSteps {
    /// Seconds in one `time_unit`.
    pub fn unit_s(&self) -> f64 {
        if self.time_unit == "1m" {
            60.0
        } else {
            1.0
        }
    }

    /// How long each step lasts with `CAPACITY_STEP_S = step_s`.
    pub fn step_duration_s(&self, step_s: f64) -> f64 {
        step_s.max(self.min_step_s)
    }
}
