//! A process's CPU time, resident memory and parent, as Linux's `/proc/<pid>/stat` tells them: read by
//! a service for its own `process_*` metrics and by the bench's sampler for every process it watches.

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub ppid: u32,
    /// utime + stime, in clock ticks ([`clock_ticks_per_second`]).
    pub cpu_ticks: u64,
    /// In pages ([`page_size`]).
    pub rss_pages: u64,
}

/// `pid (comm) state ppid ...`: the command name may hold spaces and parentheses, so the fields are
/// counted from the last `)`.
pub fn parse(text: &str) -> Option<ProcStat> {
    let fields: Vec<&str> = text.get(text.rfind(')')? + 2..)?.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) ... rss(21).
    Some(ProcStat {
        ppid: fields.get(1)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
        rss_pages: fields.get(21)?.parse().ok()?,
    })
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
