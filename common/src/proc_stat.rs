//! A process's CPU time, memory and parent, as Linux's `/proc/<pid>/` tells them: read by a service
//! for its own `process_*` metrics and by the bench's sampler for every process it watches.
//!
//! `stat` gives the CPU time a process spent itself and the CPU time of its children that have
//! exited and been waited for (`cutime`/`cstime`): a parent that reaps its short-lived workers, as
//! PostgreSQL's postmaster does, carries their CPU on after they are gone. `smaps_rollup` gives the
//! proportional set size (PSS), which splits each shared page between the processes mapping it, so
//! that summing it over a multi-process server counts its shared memory once.

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub ppid: u32,
    /// utime + stime, in clock ticks ([`clock_ticks_per_second`]).
    pub cpu_ticks: u64,
    /// cutime + cstime: the CPU of its children that have exited and been waited for, in clock ticks.
    pub exited_children_cpu_ticks: u64,
    /// In pages ([`page_size`]).
    pub rss_pages: u64,
}

/// `pid (comm) state ppid ...`: the command name may hold spaces and parentheses, so the fields are
/// counted from the last `)`.
pub fn parse(text: &str) -> Option<ProcStat> {
    let fields: Vec<&str> = text.get(text.rfind(')')? + 2..)?.split_whitespace().collect();
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21).
    Some(ProcStat {
        ppid: fields.get(1)?.parse().ok()?,
        cpu_ticks: number(11)? + number(12)?,
        exited_children_cpu_ticks: number(13)? + number(14)?,
        rss_pages: number(21)?,
    })
}

/// The `Pss:` line of `/proc/<pid>/smaps_rollup`, in bytes.
pub fn parse_pss(smaps_rollup: &str) -> Option<u64> {
    let line = smaps_rollup.lines().find(|line| line.starts_with("Pss:"))?;
    let kib: u64 = line
        .trim_start_matches("Pss:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The proportional set size of process `pid` in bytes; `None` if it is gone or may not be read.
pub fn pss_bytes(pid: u32) -> Option<u64> {
    parse_pss(&std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?)
}

/// The kernel's clock ticks per second, the unit of [`ProcStat::cpu_ticks`].
pub fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// The size of a memory page in bytes, the unit of [`ProcStat::rss_pages`].
pub fn page_size() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|size| *size > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_the_name_parses() {
        let line = "42 (tokio (worker) 1) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 4 0 100 1000000 300 18446744073709551615";
        let stat = parse(line).expect("parses");
        assert_eq!(
            (
                stat.ppid,
                stat.cpu_ticks,
                stat.exited_children_cpu_ticks,
                stat.rss_pages
            ),
            (7, 300, 50, 300)
        );
    }

    #[test]
    fn the_pss_line_of_smaps_rollup_is_read_in_bytes() {
        let rollup = "55d0c0a00000-7ffd1e7f3000 ---p 00000000 00:00 0    [rollup]\nRss:     10240 kB\nPss:      4100 kB\nPss_Anon:  100 kB\n";
        assert_eq!(parse_pss(rollup), Some(4100 * 1024));
    }
}
