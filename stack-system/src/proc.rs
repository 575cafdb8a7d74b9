//! The processes of this machine, as Linux's `/proc` tells them: the one place `stack` reads it, for
//! the sampler (CPU and memory of what it watches), the database's quieting (PostgreSQL's CPU), the
//! pinning (which processes to move) and the tests (which processes to stop).
//!
//! A [`ProcessTable`] is one pass over `/proc/<pid>/stat`: each process's parent, its own CPU time,
//! the CPU time of its children that have exited and been reaped (`cutime`/`cstime`, so a
//! postmaster carries its backends' CPU on after they are gone) and its resident pages. A
//! [`ProcessSet`] names processes by what stays true while they come and go: a tree under a root, a
//! command name, or a command line, and [`ProcessTable::members`] finds them in a table. Memory is
//! also read as proportional set size ([`pss_bytes`], `smaps_rollup`), which counts a multi-process
//! server's shared pages once. The parsing itself is `common::proc_stat`'s, which the services use for
//! their own `process_*` metrics.
//!
//! The names the processes go by are here too, once each: [`POSTGRES`] and [`K6`].

use std::collections::{HashMap, HashSet};

use common::proc_stat;
pub use common::proc_stat::ProcStat;

/// PostgreSQL: its compose service and container, its server processes' command name, and its
/// name in the record.
pub const POSTGRES: &str = "postgres";
/// The load generator: its command, and its name in the record.
pub const K6: &str = "k6";

/// Clock ticks per second when the kernel cannot be asked (Linux's `USER_HZ` on every architecture
/// `stack` runs on).
const DEFAULT_TICKS_PER_SECOND: f64 = 100.0;
const DEFAULT_PAGE_SIZE: u64 = 4096;

/// A regular expression over a process's command line: `/proc/<pid>/cmdline`, its arguments
/// joined by spaces.
#[derive(Debug, Clone)]
pub struct CommandPattern(regex::Regex);

impl CommandPattern {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(pattern).map(Self)
    }

    fn matches(&self, pid: u32) -> bool {
        command_line(pid).is_some_and(|line| !line.is_empty() && self.0.is_match(&line))
    }
}

impl PartialEq for CommandPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for CommandPattern {}

/// A set of processes on this machine, found again in each [`ProcessTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSet {
    /// This process and all its descendants.
    Tree(u32),
    /// Every process whose command name (`/proc/<pid>/comm`) is this.
    CommandName(String),
    /// Every process whose command line matches, and their descendants. The calling process never
    /// matches: its own command line may hold the pattern (`--watch`).
    CommandLine(CommandPattern),
}

impl ProcessSet {
    /// Its process ids now.
    pub fn members_now(&self) -> std::io::Result<Vec<u32>> {
        Ok(ProcessTable::read()?.members(self))
    }

    /// Its CPU time so far, in seconds: each member's own, plus that of the children it reaped (a
    /// postmaster's exited backends and autovacuum workers).
    pub fn cpu_seconds_now(&self) -> std::io::Result<f64> {
        let table = ProcessTable::read()?;
        Ok(table.cpu_seconds(&table.members(self)))
    }
}

/// Every process of the machine at one instant, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable(HashMap<u32, ProcStat>);

impl FromIterator<(u32, ProcStat)> for ProcessTable {
    fn from_iter<I: IntoIterator<Item = (u32, ProcStat)>>(processes: I) -> Self {
        Self(processes.into_iter().collect())
    }
}

impl ProcessTable {
    /// The processes running now. A process that exits while it is read is left out.
    pub fn read() -> std::io::Result<Self> {
        Ok(std::fs::read_dir("/proc")?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                Some((pid, proc_stat::parse(&text)?))
            })
            .collect())
    }

    pub fn get(&self, pid: u32) -> Option<&ProcStat> {
        self.0.get(&pid)
    }

    pub fn contains(&self, pid: u32) -> bool {
        self.0.contains_key(&pid)
    }

    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.keys().copied()
    }

    /// The processes of `set` in this table.
    pub fn members(&self, set: &ProcessSet) -> Vec<u32> {
        match set {
            ProcessSet::Tree(root) => self.trees(vec![*root]),
            ProcessSet::CommandName(name) => self
                .pids()
                .filter(|pid| command_name(*pid).is_some_and(|comm| comm == *name))
                .collect(),
            ProcessSet::CommandLine(pattern) => {
                let own = std::process::id();
                let roots = self
                    .pids()
                    .filter(|pid| *pid != own && pattern.matches(*pid))
                    .collect();
                self.trees(roots)
            }
        }
    }

    /// `roots` that are running and all their descendants, each once.
    pub fn trees(&self, roots: Vec<u32>) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (pid, stat) in &self.0 {
            if stat.ppid != *pid {
                children.entry(stat.ppid).or_default().push(*pid);
            }
        }
        let mut seen = HashSet::new();
        let mut tree: Vec<u32> = roots
            .into_iter()
            .filter(|pid| self.contains(*pid) && seen.insert(*pid))
            .collect();
        let mut index = 0;
        while index < tree.len() {
            for child in children.get(&tree[index]).into_iter().flatten() {
                if seen.insert(*child) {
                    tree.push(*child);
                }
            }
            index += 1;
        }
        tree
    }

    /// The CPU seconds `members` used so far: each one's own, plus that of the children it reaped.
    pub fn cpu_seconds(&self, members: &[u32]) -> f64 {
        let ticks: u64 = members
            .iter()
            .filter_map(|pid| self.get(*pid))
            .map(total_ticks)
            .sum();
        ticks as f64 / clock_ticks_per_second()
    }

    /// The ids of the running processes whose parent is `parent` and whose command name is one of
    /// `names` (as the kernel keeps it: its first 15 bytes, `analyticsservic`).
    pub fn children_named(&self, parent: u32, names: &[&str]) -> Vec<u32> {
        self.0
            .iter()
            .filter(|(_, stat)| stat.ppid == parent)
            .map(|(pid, _)| *pid)
            .filter(|pid| {
                command_name(*pid).is_some_and(|comm| {
                    names
                        .iter()
                        .any(|name| name.get(..name.len().min(15)) == Some(&comm))
                })
            })
            .collect()
    }
}

/// A process's own CPU ticks plus those of its children that have exited and been reaped.
pub fn total_ticks(stat: &ProcStat) -> u64 {
    stat.cpu_ticks + stat.exited_children_cpu_ticks
}

/// `/proc/<pid>/comm`, trimmed; `None` if the process is gone.
pub fn command_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|comm| comm.trim().to_owned())
}

/// `/proc/<pid>/cmdline`, its arguments joined by spaces; `None` if the process is gone.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim_end()
            .to_owned(),
    )
}

/// The proportional set size of process `pid` in bytes; `None` if it is gone or may not be read.
pub fn pss_bytes(pid: u32) -> Option<u64> {
    proc_stat::pss_bytes(pid)
}

/// The kernel's clock ticks per second, the unit of [`ProcStat::cpu_ticks`].
pub fn clock_ticks_per_second() -> f64 {
    proc_stat::clock_ticks_per_second().unwrap_or(DEFAULT_TICKS_PER_SECOND)
}

/// The size of a memory page in bytes, the unit of [`ProcStat::rss_pages`].
pub fn page_size() -> u64 {
    proc_stat::page_size().unwrap_or(DEFAULT_PAGE_SIZE)
}

/// `/proc/<pid>/cwd`: the folder process `pid` works in; `None` if it is gone or may not be read.
pub fn working_folder(pid: u32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// `MemTotal` of `/proc/meminfo`, in bytes; `None` where it cannot be read.
pub fn memory_total_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The memory limit of the cgroup (v2) this process runs in, `/sys/fs/cgroup/memory.max`, in bytes;
/// `None` where there is none (`max`) or it cannot be read.
pub fn cgroup_memory_limit_bytes() -> Option<u64> {
    std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Cpus_allowed_list` of `/proc/<pid>/status` (e.g. `0-1`): the CPUs process `pid` may run on;
/// `None` if it is gone.
pub fn allowed_cpus(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|list| list.trim().to_owned())
}

/// Whether process `pid` is running.
pub fn is_running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_a_member_of_its_own_tree() {
        // Given the machine's processes now
        let table = ProcessTable::read().expect("/proc");
        // When this process's tree is looked up
        let members = table.members(&ProcessSet::Tree(std::process::id()));
        // Then this process is in it, first
        assert_eq!(members.first(), Some(&std::process::id()));
    }

    #[test]
    fn a_tree_whose_root_is_gone_is_empty() {
        // Given a table with no process 0 of its own (the kernel's idle task is not listed)
        let table = ProcessTable::read().expect("/proc");
        // When the tree of a pid that does not exist is looked up
        // Then it has no member
        assert!(table.members(&ProcessSet::Tree(u32::MAX)).is_empty());
    }
}
