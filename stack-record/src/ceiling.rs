//! `results/generator-ceiling.json`: the rates k6 on this machine offers on time, as `stack calibrate`
//! writes it and `stack bench` records it in `meta.json` (`stack-study`'s `bench::generator`
//! measures them), and k6's lag floor per scenario, which judges whether a run's lag is the
//! generator's (issue 30; `stack-study`'s `bench::generator::judge_lag`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::machine::Machine;

/// Where `stack calibrate` writes the ceiling and `bench` reads it, under the repository root.
pub const CEILING_FILE: &str = "results/generator-ceiling.json";

/// The version of [`CeilingFile`] this code writes and the highest it reads. Version 2 adds each
/// scenario's [`ScenarioCeiling::floor_probe`]; a version-1 file reads with none.
pub const CEILING_FORMAT_VERSION: u32 = 2;

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
    /// Version 2: k6 offering the scenario's iterations at a low rate, long enough for its lag p99
    /// to rest on twice the samples the record's n-rule asks of a p99 (`needed_samples`): the lag
    /// k6 shows with nothing but its own work to do. A run's lag above it is judged against the
    /// latency it would distort, where it is usable (`stack-study`'s `usable_floor`; else runs are
    /// judged by `lag_limit_ms`). `None` in version-1 files.
    #[serde(default)]
    pub floor_probe: Option<Probe>,
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
        let ceiling = match self.ceiling_per_s {
            Some(rate) => format!(
                "{}{rate}/s within lag p99 <= {} ms ({floor})",
                if self.at_least { "at least " } else { "" },
                self.lag_limit_ms
            ),
            None => format!(
                "no ceiling: no rate probed was on time within lag p99 <= {} ms ({floor})",
                self.lag_limit_ms
            ),
        };
        match &self.floor_probe {
            Some(probe) => format!(
                "{ceiling}; floor lag p50 {:.3} ms, p99 {:.3} ms at {}/s ({} iterations)",
                probe.lag_p50_ms, probe.lag_p99_ms, probe.rate_per_s, probe.iterations
            ),
            None => format!("{ceiling}; no floor measured"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 file as `stack calibrate` wrote it on 2026-12-05: no `floor_probe`.
    const VERSION_1: &str = r#"{
      "format_version": 1, "measured_at": "2026-12-05T12:17:28Z",
      "machine": {"cores": 2, "memory_bytes": 25000000000, "kernel": "6.1", "cpu_model": "EPYC"},
      "k6": "k6 v1.1.0", "probe_s": 2.0,
      "load_average_before": [1.5, 1.0, 0.5], "load_average_after": [0.4, 0.8, 0.5],
      "scenarios": {"s6": {"lag_limit_ms": 1.25, "ceiling_per_s": 250.0, "at_least": false,
        "lag_floor_ms": 1.23, "probes": [{"rate_per_s": 250.0, "iterations": 1001, "dropped": 0,
        "lag_p50_ms": 0.66, "lag_p99_ms": 1.23, "lag_max_ms": 4.6, "k6_cpu_percent": 17.5,
        "on_time": true}]}}
    }"#;

    #[test]
    fn a_version_1_ceiling_file_reads_with_no_floor_probe() {
        // Given a version-1 ceiling file under a repository root
        let root = std::env::temp_dir().join(format!("ceiling-v1-{}", std::process::id()));
        let path = root.join(CEILING_FILE);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("the folder is made");
        std::fs::write(&path, VERSION_1).expect("the file is written");
        // When it is read
        let file = CeilingFile::read(&root).expect("reads").expect("a file");
        let _ = std::fs::remove_dir_all(&root);
        // Then its ceiling is as written and it has no floor probe, so runs are judged by the SLO's
        // lag limit
        let s6 = &file.scenarios["s6"];
        assert_eq!((s6.ceiling_per_s, s6.lag_floor_ms), (Some(250.0), Some(1.23)));
        assert_eq!(s6.floor_probe, None);
        assert!(s6.summary().ends_with("no floor measured"), "{}", s6.summary());
    }
}
