//! The 1 Hz resource sampler: CPU (% of one core) and resident memory of every service, of
//! PostgreSQL (all its processes) and of k6, while a run is under way.
//!
//! It runs on a thread of its own. Local processes are read from `/proc`: one pass over
//! `/proc/<pid>/stat` per tick gives every process's CPU ticks, resident pages and parent, and each
//! watched name sums a process tree (a service and its children, the postmaster and its backends,
//! k6 and its children) or every process with a given command name (`postgres` on a server the stack
//! did not start). Containers are read from one `docker stats --no-stream` per tick. The sampler
//! measures its own cost: its thread's CPU time plus that of the `docker` commands it ran, over the
//! time it ran.

use std::{
    collections::{BTreeMap, HashMap},
    io::Read,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use common::proc_stat::{self, ProcStat};

use crate::study::record::ResourceRow;

pub const INTERVAL: Duration = Duration::from_secs(1);

/// Where a watched name's figures come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// This process and all its descendants.
    Tree(u32),
    /// Every process whose command name (`/proc/<pid>/comm`) is this.
    CommandName(String),
    /// A container, as `docker stats` names it.
    Container(String),
}

#[derive(Default)]
struct State {
    watched: BTreeMap<String, Option<Source>>,
    /// The repeat under way (0: none, nothing is recorded) and when it began.
    repeat: u32,
    repeat_start: Option<Instant>,
    rows: Vec<ResourceRow>,
}

pub struct Sampler {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<f64>>,
}

impl Sampler {
    /// Starts sampling `watched` (a name with no source yet, such as `k6` between runs, reads 0).
    /// `docker` is the container CLI for [`Source::Container`]s.
    pub fn start(watched: Vec<(String, Option<Source>)>, docker: Option<String>) -> Self {
        let state = Arc::new(Mutex::new(State {
            watched: watched.into_iter().collect(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || sample_until(&state, &stop, docker.as_deref()))
        };
        Self {
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts recording `repeat`: its `t_s` counts from now.
    pub fn begin_repeat(&self, repeat: u32) {
        if let Ok(mut state) = self.state.lock() {
            state.repeat = repeat;
            state.repeat_start = Some(Instant::now());
        }
    }

    /// Seconds since the start of the repeat under way (the `t_s` of `resources.csv`).
    pub fn t_s(&self) -> f64 {
        self.state
            .lock()
            .ok()
            .and_then(|state| state.repeat_start)
            .map_or(0.0, |start| start.elapsed().as_secs_f64())
    }

    /// Points `name` at a new source (k6's process of the current run), or none.
    pub fn watch(&self, name: &str, source: Option<Source>) {
        if let Ok(mut state) = self.state.lock() {
            state.watched.insert(name.to_owned(), source);
        }
    }

    /// Stops sampling; every row recorded, and the sampler's own cost in % of one core.
    pub fn finish(mut self) -> (Vec<ResourceRow>, f64) {
        self.stop.store(true, Ordering::SeqCst);
        let cost = self
            .thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or(0.0);
        let rows = self
            .state
            .lock()
            .map(|mut state| std::mem::take(&mut state.rows))
            .unwrap_or_default();
        (rows, cost)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The sampling loop; returns its own cost in % of one core.
fn sample_until(state: &Mutex<State>, stop: &AtomicBool, docker: Option<&str>) -> f64 {
    let started = Instant::now();
    let cpu_at_start = thread_cpu_seconds();
    let mut docker_cpu = 0.0;
    let mut previous: HashMap<u32, u64> = HashMap::new();
    let mut last = Instant::now();
    let mut next = Instant::now() + INTERVAL;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next += INTERVAL;
        let (watched, repeat, start) = match state.lock() {
            Ok(state) => (state.watched.clone(), state.repeat, state.repeat_start),
            Err(_) => break,
        };
        let processes = read_proc();
        let elapsed = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let containers = match docker {
            Some(docker) if watched.values().any(|s| matches!(s, Some(Source::Container(_)))) => {
                let (stats, cost) = docker_stats(docker);
                docker_cpu += cost;
                stats
            }
            _ => HashMap::new(),
        };
        let mut rows = Vec::new();
        if let Some(start) = start.filter(|_| repeat > 0) {
            let t_s = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            for (name, source) in &watched {
                let (cpu_percent, rss_bytes) = match source {
                    Some(Source::Container(container)) => {
                        containers.get(container).copied().unwrap_or((0.0, 0))
                    }
                    Some(Source::Tree(_)) | Some(Source::CommandName(_)) => {
                        figures(&processes, &members(&processes, source), &previous, elapsed)
                    }
                    None => (0.0, 0),
                };
                rows.push(ResourceRow {
                    repeat,
                    t_s,
                    process: name.clone(),
                    cpu_percent: (cpu_percent * 10.0).round() / 10.0,
                    rss_bytes,
                });
            }
        }
        previous = processes
            .iter()
            .map(|(pid, stat)| (*pid, stat.cpu_ticks))
            .collect();
        if let Ok(mut state) = state.lock() {
            state.rows.extend(rows);
        }
    }
    let own = thread_cpu_seconds() - cpu_at_start + docker_cpu;
    100.0 * own / started.elapsed().as_secs_f64().max(1e-3)
}

/// The processes a source covers.
fn members(processes: &HashMap<u32, ProcStat>, source: &Option<Source>) -> Vec<u32> {
    match source {
        Some(Source::Tree(root)) => {
            let mut tree = vec![*root];
            let mut index = 0;
            while index < tree.len() {
                let parent = tree[index];
                tree.extend(
                    processes
                        .iter()
                        .filter(|(_, stat)| stat.ppid == parent)
                        .map(|(pid, _)| *pid),
                );
                index += 1;
            }
            tree.retain(|pid| processes.contains_key(pid));
            tree
        }
        Some(Source::CommandName(name)) => processes
            .keys()
            .copied()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == name)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// CPU % of one core since the last tick and resident bytes, summed over `pids`. A process new
/// since the last tick counts all its CPU time (it began within the interval).
fn figures(
    processes: &HashMap<u32, ProcStat>,
    pids: &[u32],
    previous: &HashMap<u32, u64>,
    elapsed_s: f64,
) -> (f64, u64) {
    let (ticks_per_s, page) = (clock_ticks_per_second(), page_size());
    let mut cpu_ticks = 0;
    let mut rss = 0;
    for pid in pids {
        if let Some(stat) = processes.get(pid) {
            cpu_ticks += stat
                .cpu_ticks
                .saturating_sub(previous.get(pid).copied().unwrap_or(0));
            rss += stat.rss_pages * page;
        }
    }
    (100.0 * cpu_ticks as f64 / ticks_per_s / elapsed_s, rss)
}

/// Every process of the machine, from `/proc/<pid>/stat`.
fn read_proc() -> HashMap<u32, ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, proc_stat::parse(&text)?))
        })
        .collect()
}

fn clock_ticks_per_second() -> f64 {
    proc_stat::clock_ticks_per_second().unwrap_or(100.0)
}

fn page_size() -> u64 {
    proc_stat::page_size().unwrap_or(4096)
}

/// The CPU time of the calling thread, in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for clock_gettime to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) } == 0;
    if ok {
        time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
    } else {
        0.0
    }
}

/// One `docker stats --no-stream`: each container's CPU % (of one core, as docker counts it) and
/// memory, and the CPU seconds the command itself took.
fn docker_stats(docker: &str) -> (HashMap<String, (f64, u64)>, f64) {
    let Ok(mut child) = Command::new(docker)
        .args(["stats", "--no-stream", "--format", "{{json .}}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return (HashMap::new(), 0.0);
    };
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut output);
    }
    let cost = reap_cpu_seconds(&child);
    let stats = output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|stat| {
            let name = stat.get("Name")?.as_str()?.to_owned();
            let cpu = stat
                .get("CPUPerc")?
                .as_str()?
                .trim_end_matches('%')
                .trim()
                .parse()
                .ok()?;
            let memory = stat.get("MemUsage")?.as_str()?.split('/').next()?.trim();
            Some((name, (cpu, parse_bytes(memory)?)))
        })
        .collect();
    (stats, cost)
}

/// Waits for `child` and returns the CPU seconds it used (its own rusage, so that other children
/// of ours, such as k6, are not counted).
fn reap_cpu_seconds(child: &std::process::Child) -> f64 {
    let Ok(pid) = i32::try_from(child.id()) else {
        return 0.0;
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for wait4 to fill; the pid is our own child's, which
    // nothing else waits for.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `12.5MiB`, `1.2GB`, `512kB`, `100B` as bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let factor = match unit.trim() {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1e12,
        "TiB" => 1024f64.powi(4),
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_the_name_parses() {
        let line = "42 (tokio (worker) 1) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 1000000 300 18446744073709551615";
        let stat = proc_stat::parse(line).expect("parses");
        assert_eq!((stat.ppid, stat.cpu_ticks, stat.rss_pages), (7, 300, 300));
    }

    #[test]
    fn docker_memory_units_are_read_as_bytes() {
        assert_eq!(parse_bytes("12.5MiB"), Some(13_107_200));
        assert_eq!(parse_bytes("1.5GB"), Some(1_500_000_000));
        assert_eq!(parse_bytes("100B"), Some(100));
    }
}
