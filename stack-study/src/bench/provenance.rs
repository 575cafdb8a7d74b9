//! What a run was made with, for `meta.json`: the commit, the tools' versions, the files that
//! shape the load and the machine (with what makes one machine run at different speeds: its load,
//! its frequency governor, whether its cores are SMT threads).

use std::{path::Path, process::Command};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use stack_record::{Git, Machine, ScriptFiles};

use crate::scenario::CAPACITY_FILE;

/// The k6 script every run is made with, under the workspace root.
pub const SCRIPT_FILE: &str = "k6-tests/script-sync.js";

fn output_of(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program).args(args).current_dir(dir).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub fn git(root: &Path) -> Git {
    Git {
        commit: output_of("git", &["rev-parse", "HEAD"], root),
        dirty: output_of("git", &["status", "--porcelain", "--untracked-files=no"], root)
            .map(|changes| !changes.is_empty()),
    }
}

/// `rustc 1.95.0 (...)` → `1.95.0`.
pub fn rustc(root: &Path) -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    output_of(&rustc, &["--version"], root)?
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
}

/// `k6 v1.1.0 (...)` → `1.1.0`.
pub fn k6(k6: &str, root: &Path) -> Option<String> {
    output_of(k6, &["version"], root)?
        .split_whitespace()
        .nth(1)
        .map(|version| version.trim_start_matches('v').to_owned())
}

pub fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
        memory_bytes: stack_system::proc::memory_total_bytes().unwrap_or(0),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        cpu_model: read("/proc/cpuinfo")
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_default(),
        load_average: Some(load_average()),
        frequency_governor: frequency_governor(Path::new(CPU_SYSFS)),
        smt_active: smt_active(Path::new(CPU_SYSFS)),
    }
}

/// Where the kernel describes the CPUs.
const CPU_SYSFS: &str = "/sys/devices/system/cpu";

/// `/proc/loadavg`'s three averages (zeros if unreadable).
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0.0));
    [
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
    ]
}

/// Each CPU's `cpufreq/scaling_governor` under `cpus` (`/sys/devices/system/cpu`): the one governor
/// they share, or the distinct ones joined by `,`; `None` where no CPU exposes one.
fn frequency_governor(cpus: &Path) -> Option<String> {
    let mut governors: Vec<String> = std::fs::read_dir(cpus)
        .ok()?
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("cpu")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("cpufreq/scaling_governor")).ok())
        .map(|governor| governor.trim().to_owned())
        .filter(|governor| !governor.is_empty())
        .collect();
    governors.sort();
    governors.dedup();
    (!governors.is_empty()).then(|| governors.join(","))
}

/// `smt/active` under `cpus`: `1` or `0`; `None` where the kernel does not say.
fn smt_active(cpus: &Path) -> Option<bool> {
    match std::fs::read_to_string(cpus.join("smt/active")).ok()?.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// The SHA-256 of the script and of the capacity plan under `root`.
pub fn script_files(root: &Path) -> Result<ScriptFiles> {
    let sha256 = |file: &str| -> Result<String> {
        let path = root.join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    };
    Ok(ScriptFiles {
        script_sha256: sha256(SCRIPT_FILE)?,
        capacity_sha256: sha256(CAPACITY_FILE)?,
    })
}

/// Now, RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `2026-11-25T13:00:00Z` → `20261125T130000Z`.
pub fn compact(rfc3339: &str) -> String {
    rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys/devices/system/cpu` with `governors` (one per CPU) and `smt` as `smt/active`.
    fn cpu_sysfs(name: &str, governors: &[&str], smt: Option<&str>) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("stack-cpu-sysfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (cpu, governor) in governors.iter().enumerate() {
            let cpufreq = dir.join(format!("cpu{cpu}/cpufreq"));
            std::fs::create_dir_all(&cpufreq).expect("a cpufreq folder");
            std::fs::write(cpufreq.join("scaling_governor"), format!("{governor}\n")).expect("written");
        }
        // Folders named like CPUs that are not one are not read.
        std::fs::create_dir_all(dir.join("cpufreq")).expect("a folder");
        if let Some(smt) = smt {
            std::fs::create_dir_all(dir.join("smt")).expect("an smt folder");
            std::fs::write(dir.join("smt/active"), format!("{smt}\n")).expect("written");
        }
        dir
    }

    #[test]
    fn cpus_sharing_a_governor_record_it_once_and_different_ones_record_each() {
        let same = cpu_sysfs("same", &["performance", "performance"], Some("1"));
        assert_eq!(frequency_governor(&same).as_deref(), Some("performance"));
        assert_eq!(smt_active(&same), Some(true));
        let mixed = cpu_sysfs("mixed", &["schedutil", "performance"], Some("0"));
        assert_eq!(
            frequency_governor(&mixed).as_deref(),
            Some("performance,schedutil")
        );
        assert_eq!(smt_active(&mixed), Some(false));
        for dir in [same, mixed] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn a_machine_without_cpufreq_or_smt_records_neither() {
        let bare = cpu_sysfs("bare", &[], None);
        assert_eq!(frequency_governor(&bare), None);
        assert_eq!(smt_active(&bare), None);
        let _ = std::fs::remove_dir_all(bare);
    }

    #[test]
    fn the_scripts_hashes_are_of_their_content() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = script_files(&root).expect("the script and the plan");
        let script = std::fs::read(root.join(SCRIPT_FILE)).expect("the script");
        assert_eq!(files.script_sha256, hex::encode(Sha256::digest(&script)));
        assert_eq!(files.script_sha256.len(), 64);
        assert_ne!(files.script_sha256, files.capacity_sha256);
    }
}
