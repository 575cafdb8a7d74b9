//! `--cpus generator=0 system=1`: the load generator and the system on CPUs of their own.
//!
//! On a shared machine k6 and the system compete for the same cores, so a slow figure may be the
//! generator starved by the system or the system starved by the generator. Pinned apart, each has
//! its own. Pinning is by CPU affinity, with util-linux's `taskset`: k6 is started under
//! `taskset -c`, and every process of a local system (the ten services and every PostgreSQL process,
//! each with all its threads) is moved with `taskset -a -p -c` once the system is up. Threads and
//! processes created later inherit the affinity of their creator, so new backends of the postmaster
//! stay on the system's CPUs.
//!
//! Only a local system can be pinned by `stack`: a compose system's containers are pinned by their
//! own runtime (`docker update --cpuset-cpus`, outside `stack`), and a system behind URLs may be on
//! another machine. For those, `system=` is refused and `generator=` alone is allowed.

use anyhow::{bail, Context, Result};
use stack_system::proc::{self, ProcessTable};

/// Pins every process of `roots` and their descendants (all their threads) to `cpus`.
pub fn pin_trees(roots: &[u32], cpus: &str) -> Result<()> {
    let table = ProcessTable::read().context("reading /proc")?;
    let pids = table.trees(roots.to_vec());
    for pid in pids {
        let output = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &pid.to_string()])
            .output()
            .context("running taskset (util-linux)")?;
        // A process that exited since the scan has nothing left to pin.
        if !output.status.success() && proc::is_running(pid) {
            bail!(
                "taskset -a -p -c {cpus} {pid}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use stack_record::pinning::CpuPinning;
    use stack_system::proc::ProcessSet;

    use super::*;

    fn items(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_sides_parse_and_make_an_isolated_run() {
        let pinning = CpuPinning::parse(&items(&["generator=0", "system=1-3"]), 4).expect("parses");
        assert_eq!(pinning.generator.as_deref(), Some("0"));
        assert_eq!(pinning.system.as_deref(), Some("1-3"));
        assert!(pinning.isolated());
    }

    #[test]
    fn a_cpu_given_to_both_sides_is_refused() {
        let err = CpuPinning::parse(&items(&["generator=0,1", "system=1"]), 2).expect_err("shared");
        assert!(format!("{err:#}").contains("CPU 1 is given to both"), "{err:#}");
    }

    #[test]
    fn a_cpu_the_machine_lacks_or_a_bad_list_is_refused() {
        assert!(CpuPinning::parse(&items(&["system=2"]), 2).is_err());
        assert!(CpuPinning::parse(&items(&["system=one"]), 2).is_err());
        assert!(CpuPinning::parse(&items(&["disk=0"]), 2).is_err());
        assert!(CpuPinning::parse(&items(&["generator=0", "generator=1"]), 2).is_err());
    }

    fn allowed_cpus(pid: u32) -> String {
        stack_system::proc::allowed_cpus(pid).expect("the process's allowed CPUs")
    }

    #[test]
    fn pinning_a_tree_moves_the_process_and_its_children() {
        // Given a shell with a child of its own
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh runs");
        let root = shell.id();
        let mut members = Vec::new();
        for _ in 0..50 {
            members = ProcessSet::Tree(root).members_now().expect("/proc");
            if members.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(members.len() >= 2, "{members:?}");
        // When the tree is pinned to CPU 0
        let pinned = pin_trees(&[root], "0");
        // Then every member may run on CPU 0 only
        let allowed: Vec<String> = members.iter().map(|pid| allowed_cpus(*pid)).collect();
        for pid in &members {
            // SAFETY: kill only sends a signal, to processes this test started.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = shell.wait();
        pinned.expect("pinned");
        assert!(allowed.iter().all(|cpus| cpus == "0"), "{allowed:?}");
    }

    #[test]
    fn one_side_alone_is_not_isolated() {
        let pinning = CpuPinning::parse(&items(&["generator=0"]), 2).expect("parses");
        assert!(!pinning.isolated());
    }
}
