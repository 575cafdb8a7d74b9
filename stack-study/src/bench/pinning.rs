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
use stack_record::pinning::cpu_list;
use stack_system::proc::{self, ProcessTable};

/// The CPUs this process may run on (its affinity, which a container or a `taskset` around `stack`
/// narrows), else every core the machine has: what `--cpus` may hand out.
pub fn allowed_cpus() -> Vec<u32> {
    proc::allowed_cpus(std::process::id())
        .and_then(|list| cpu_list(&list).ok())
        .unwrap_or_else(|| (0..super::provenance::machine().cores).collect())
}

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
        let pinning =
            CpuPinning::parse(&items(&["generator=0", "system=1-3"]), &[0, 1, 2, 3], true).expect("parses");
        assert_eq!(pinning.generator.as_deref(), Some("0"));
        assert_eq!(pinning.system.as_deref(), Some("1-3"));
        assert!(pinning.isolated());
    }

    #[test]
    fn a_cpu_given_to_both_sides_is_refused() {
        let err =
            CpuPinning::parse(&items(&["generator=0,1", "system=1"]), &[0, 1], true).expect_err("shared");
        assert!(format!("{err:#}").contains("CPU 1 is given to both"), "{err:#}");
    }

    #[test]
    fn a_cpu_the_machine_lacks_or_a_bad_list_is_refused() {
        let parse = |list: &[&str]| CpuPinning::parse(&items(list), &[0, 1], true);
        assert!(parse(&["system=2"]).is_err());
        assert!(parse(&["system=one"]).is_err());
        assert!(parse(&["disk=0"]).is_err());
        assert!(parse(&["generator=0", "generator=1"]).is_err());
        assert!(parse(&["auto", "generator=1"]).is_err());
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
        let pinning = CpuPinning::parse(&items(&["generator=0"]), &[0, 1], true).expect("parses");
        assert!(!pinning.isolated());
    }

    #[test]
    fn auto_gives_k6_the_last_allowed_cpu_and_a_local_system_the_rest() {
        // Given a process allowed on CPUs 2, 3 and 5
        let allowed = [2, 3, 5];
        // When --cpus auto is read for a system stack starts, and for one it does not
        let local = CpuPinning::parse(&items(&["auto"]), &allowed, true).expect("parses");
        let remote = CpuPinning::parse(&items(&["auto"]), &allowed, false).expect("parses");
        // Then k6 runs on 5 and the local system on 2 and 3, isolated; the other system is not pinned
        assert_eq!(
            (local.generator.as_deref(), local.system.as_deref()),
            (Some("5"), Some("2,3"))
        );
        assert!(local.isolated() && local.auto);
        assert_eq!((remote.generator.as_deref(), remote.system), (Some("5"), None));
    }

    #[test]
    fn auto_on_one_cpu_and_none_pin_nothing() {
        let one = CpuPinning::parse(&items(&["auto"]), &[0], true).expect("parses");
        let none = CpuPinning::parse(&items(&["none"]), &[0, 1], true).expect("parses");
        assert_eq!(one, CpuPinning::default());
        assert_eq!(none, CpuPinning::default());
    }
}
