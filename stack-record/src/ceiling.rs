//! `results/generator-ceiling.json`: the rates k6 on this machine offers on time, as `stack calibrate`
//! writes it and `stack bench` records it in `meta.json` (`stack-study`'s `bench::generator`
//! measures them).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::machine::Machine;

/// Where `stack calibrate` writes the ceiling and `bench` reads it, under the repository root.
pub const CEILING_FILE: &str = "results/generator-ceiling.json";

/// The version of [`CeilingFile`] this code writes and the highest it reads.
pub const CEILING_FORMAT_VERSION: u32 = 1;

/// `results/generator-ceiling.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CeilingFile {
    pub format_version: u32,
    /// RFC 3339, UTC.
    pub measured_at: String,
    pub machine: Machine,
    pub k6: Option<String>,
    /// Seconds each probe offered its rate.
    pub probe_s: f64,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the calibration began and ended: the machine is shared.
    pub load_average_before: [f64; 3],
    pub load_average_after: [f64; 3],
    pub scenarios: BTreeMap<String, ScenarioCeiling>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioCeiling {
    pub lag_limit_ms: f64,
    /// The highest rate probed that k6 offered on time; `None` if not even the lowest was.
    pub ceiling_per_s: Option<f64>,
    /// The search stopped at its cap with k6 still on time: the ceiling is higher than this.
    pub at_least: bool,
    /// The lowest lag p99 of any probe, in ms: the best k6 on this machine did. Above
    /// `lag_limit_ms`, no rate is on time and `ceiling_per_s` is `None` because of k6's floor, not
    /// its speed. `None` in files written before it was recorded.
    #[serde(default)]
    pub lag_floor_ms: Option<f64>,
    pub probes: Vec<Probe>,
}

impl ScenarioCeiling {
    /// The probe with the lowest lag p99, whose figure is [`Self::lag_floor_ms`].
    pub fn floor(probes: &[Probe]) -> Option<&Probe> {
        probes.iter().min_by(|a, b| a.lag_p99_ms.total_cmp(&b.lag_p99_ms))
    }

    /// One line for a person: the ceiling, or why there is none.
    pub fn summary(&self) -> String {
        let floor = Self::floor(&self.probes).map_or("no probe".to_owned(), |probe| {
            format!(
                "lag floor p99 {:.3} ms at {}/s",
                probe.lag_p99_ms, probe.rate_per_s
            )
        });
        match self.ceiling_per_s {
            Some(rate) => format!(
                "{}{rate}/s within lag p99 <= {} ms ({floor})",
                if self.at_least { "at least " } else { "" },
                self.lag_limit_ms
            ),
            None => format!(
                "no ceiling: no rate probed was on time within lag p99 <= {} ms ({floor})",
                self.lag_limit_ms
            ),
        }
    }
}

/// One rate offered to the responder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub rate_per_s: f64,
    pub iterations: u64,
    pub dropped: u64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// k6's mean CPU over the probe, in % of one core.
    pub k6_cpu_percent: f64,
    /// Lag p99 within the limit and no dropped iteration.
    pub on_time: bool,
}

impl CeilingFile {
    /// The ceiling file under `root`, if `stack calibrate` has written one.
    pub fn read(root: &Path) -> Result<Option<Self>> {
        let path = root.join(CEILING_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let file: Self =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        if file.format_version > CEILING_FORMAT_VERSION {
            bail!(
                "{}: format_version {}, newer than this stack reads ({CEILING_FORMAT_VERSION}): use a newer stack",
                path.display(),
                file.format_version
            );
        }
        Ok(Some(file))
    }

    pub fn write(&self, root: &Path) -> Result<PathBuf> {
        let path = root.join(CEILING_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
