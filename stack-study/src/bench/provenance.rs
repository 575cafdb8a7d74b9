//! What a run was made with, for `meta.json`: the commit, the tools' versions and the machine.

use std::{path::Path, process::Command};

use stack_record::{Git, Machine};

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
    let memory_kb: u64 = read("/proc/meminfo")
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
        memory_bytes: memory_kb * 1024,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        cpu_model: read("/proc/cpuinfo")
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// Now, RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `2026-11-25T13:00:00Z` → `20261125T130000Z`.
pub fn compact(rfc3339: &str) -> String {
    rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect()
}
