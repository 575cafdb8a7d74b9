//! The 1 Hz resource sampler: CPU (% of one core) and memory of every service, of PostgreSQL (all
//! its processes) and of k6, while a run is under way.
//!
//! It runs on a thread of its own. Local processes are read from `/proc`: one pass over
//! `/proc/<pid>/stat` per tick gives every process's CPU ticks, resident pages and parent, and each
//! watched name sums a process tree (a service and its children, the postmaster and its backends,
//! k6 and its children), every process with a given command name (`postgres` on a server the stack
//! did not start), or every process whose command line matches a pattern, with its descendants
//! (another implementation's processes, `--watch`), found again at each tick. Containers are read
//! from one `docker stats --no-stream` per tick; a compose project's containers are listed again at
//! each tick (`docker ps`), so one that starts later is sampled too. The sampler measures its own
//! cost: its thread's CPU time plus that of the `docker` commands it ran, over the time it ran.
//!
//! What a row says, exactly:
//! - **CPU** of a process tree is the growth, over the row's interval, of its members' own CPU time
//!   plus the CPU time of their children that have exited and been reaped (`cutime`/`cstime`): a
//!   worker that lives and dies between two ticks (a PostgreSQL backend, autovacuum) is still counted,
//!   through the parent that reaped it. A member new since the last tick counts all its CPU time (it
//!   began within the interval).
//! - **Memory** is read at the end of the interval, as resident set size (RSS, summed: what a single
//!   process's figure is compared by) and as proportional set size (PSS, from `smaps_rollup`, which
//!   splits each shared page between the processes mapping it, so a multi-process server's shared
//!   buffers count once).
//! - **Time**: a row's `t_s` is the *start* of its interval, in seconds since its repeat began (the
//!   convention of the latency timeline, whose buckets are stamped with their start too), and
//!   `interval_s` is the interval's measured length. A new repeat starts a fresh interval. A tick
//!   that comes late (a stalled machine, a slow `docker stats`) is taken once and the ones it missed
//!   are skipped, never fired back to back; the measured intervals are reported
//!   ([`Cadence`]).
//! - **Edges**: a run's window is bounded by [`Sampler::mark`], which takes a tick there and then,
//!   so a window is made of whole rows and its CPU is what was measured in it, never a share of a
//!   row that straddles its edge (a run shorter than a tick would otherwise fall inside one row
//!   and get a proportion of CPU spent mostly outside it). The interval under way when a repeat
//!   ends, or the sampler stops, is recorded too, under the repeat it began in.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::Read,
    process::{Command, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use stack_record::ResourceRow;
use stack_system::proc::{self, ProcessSet, ProcessTable};

pub const INTERVAL: Duration = Duration::from_secs(1);

/// Where a watched name's figures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Processes of this machine, read from `/proc`, found again at each tick (so processes that
    /// start and stop are followed).
    Processes(ProcessSet),
    /// A container, as `docker stats` names it.
    Container(String),
    /// Every running container of this compose project (its `com.docker.compose.project` label),
    /// found again at each tick, each under its own container name.
    ComposeProject(String),
}

impl Source {
    /// This process and all its descendants.
    pub fn tree(pid: u32) -> Self {
        Self::Processes(ProcessSet::Tree(pid))
    }
}

/// One watched name over one interval: a row of `resources.csv`.
pub type Reading = ResourceRow;

/// How regularly the sampler ticked: the measured intervals of the rows it recorded, and how many
/// ticks it skipped because it was late.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cadence {
    pub intervals: u64,
    pub mean_interval_s: f64,
    pub max_interval_s: f64,
    pub skipped_ticks: u64,
}

/// Everything a finished sampler measured.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub readings: Vec<Reading>,
    pub cadence: Cadence,
    /// The sampler's own CPU cost over its life, in % of one core.
    pub cost_percent: f64,
}

#[derive(Default)]
struct State {
    watched: BTreeMap<String, Option<Source>>,
    /// The repeat under way (0: none, nothing is recorded) and when it began.
    repeat: u32,
    repeat_start: Option<Instant>,
    /// A repeat has begun: start a fresh interval now.
    realign: bool,
    /// Marks asked for and taken ([`Sampler::mark`]); a tick is due while they differ.
    marks_asked: u64,
    marks_taken: u64,
    /// When the last tick was taken, in seconds since the repeat under way began.
    last_tick_t_s: f64,
    stop: bool,
    readings: Vec<Reading>,
    skipped_ticks: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<f64>>,
}

impl Sampler {
    /// Starts sampling `watched` (a name with no source yet, such as `k6` between runs, reads 0).
    /// `docker` is the container CLI for [`Source::Container`]s.
    pub fn start(watched: Vec<(String, Option<Source>)>, docker: Option<String>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                watched: watched.into_iter().collect(),
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || sample_until_stopped(&shared, docker.as_deref()))
        };
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Starts recording `repeat`: its `t_s` counts from now, and its first interval starts now.
    pub fn begin_repeat(&self, repeat: u32) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.repeat = repeat;
            state.repeat_start = Some(Instant::now());
            state.realign = true;
        }
        self.shared.wake.notify_all();
    }

    /// Seconds since the start of the repeat under way (the `t_s` of `resources.csv`).
    pub fn t_s(&self) -> f64 {
        self.shared
            .state
            .lock()
            .ok()
            .and_then(|state| state.repeat_start)
            .map_or(0.0, |start| start.elapsed().as_secs_f64())
    }

    /// Takes a tick now, ending one interval and starting the next, and returns when it was taken
    /// in seconds since the repeat under way began (the `t_s` of `resources.csv`): a window
    /// between two marks is made of whole rows.
    pub async fn mark(&self) -> f64 {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.mark())
            .await
            .unwrap_or(0.0)
    }

    /// Points `name` at a new source (k6's process of the current run), or none.
    pub fn watch(&self, name: &str, source: Option<Source>) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.watched.insert(name.to_owned(), source);
        }
    }

    /// Stops sampling; every row recorded, and the sampler's own cost in % of one core.
    pub fn finish(self) -> (Vec<ResourceRow>, f64) {
        let finished = self.finish_all();
        (finished.readings, finished.cost_percent)
    }

    /// Stops sampling; every reading with its interval and PSS, the cadence, and the cost.
    pub fn finish_all(mut self) -> Finished {
        self.stop();
        let cost_percent = self
            .thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or(0.0);
        let (readings, skipped_ticks) = self
            .shared
            .state
            .lock()
            .map(|mut state| (std::mem::take(&mut state.readings), state.skipped_ticks))
            .unwrap_or_default();
        Finished {
            cadence: cadence(&readings, skipped_ticks),
            readings,
            cost_percent,
        }
    }

    fn stop(&self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.stop = true;
        }
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn mark(&self) -> f64 {
        let Ok(mut state) = self.state.lock() else {
            return 0.0;
        };
        state.marks_asked += 1;
        let asked = state.marks_asked;
        self.wake.notify_all();
        // A tick reads /proc (milliseconds) or runs `docker stats` (a second or two); the bound
        // only keeps a wedged sampler from hanging the run.
        let deadline = Instant::now() + 10 * INTERVAL;
        while state.marks_taken < asked && !state.stop && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            state = match self.wake.wait_timeout(state, wait) {
                Ok((state, _)) => state,
                Err(_) => return 0.0,
            };
        }
        state.last_tick_t_s
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cadence of `readings`: one interval per tick (all names of a tick share it).
fn cadence(readings: &[Reading], skipped_ticks: u64) -> Cadence {
    let mut ticks: Vec<(u32, u64, f64)> = readings
        .iter()
        .map(|r| (r.repeat, (r.t_s * 1e6).round() as u64, r.interval_s))
        .collect();
    ticks.sort_by_key(|t| (t.0, t.1));
    ticks.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
    let intervals: Vec<f64> = ticks.iter().map(|t| t.2).collect();
    Cadence {
        intervals: intervals.len() as u64,
        mean_interval_s: if intervals.is_empty() {
            0.0
        } else {
            intervals.iter().sum::<f64>() / intervals.len() as f64
        },
        max_interval_s: intervals.iter().copied().fold(0.0, f64::max),
        skipped_ticks,
    }
}

/// The next tick after one taken at `now` that was due at `due`: one interval later, or, if that
/// too has passed, the first one still ahead; and how many were skipped to get there.
fn next_tick(due: Instant, now: Instant, interval: Duration) -> (Instant, u64) {
    let mut next = due + interval;
    let mut skipped = 0;
    while next <= now {
        next += interval;
        skipped += 1;
    }
    (next, skipped)
}

/// The members a watched name had at the last tick, and from which source.
struct Previous {
    source: Source,
    members: Vec<u32>,
}

/// The sampling loop; returns its own cost in % of one core.
fn sample_until_stopped(shared: &Shared, docker: Option<&str>) -> f64 {
    let started = Instant::now();
    let cpu_at_start = thread_cpu_seconds();
    let mut docker_cpu = 0.0;
    let mut previous: HashMap<String, Previous> = HashMap::new();
    let mut scanned = ProcessTable::read().unwrap_or_default();
    let mut interval_start = Instant::now();
    let mut due = interval_start + INTERVAL;
    // The repeat the interval under way began in, and when that repeat began: its rows are its.
    let mut recording: Option<(u32, Instant)> = None;
    let Ok(mut state) = shared.state.lock() else {
        return 0.0;
    };
    loop {
        state = match wait_for_tick(shared, state, due) {
            Some(state) => state,
            None => return 0.0,
        };
        let watched = state.watched.clone();
        let (stopping, realign, marks) = (state.stop, state.realign, state.marks_asked);
        state.realign = false;
        drop(state);

        let now = Instant::now();
        let processes = ProcessTable::read().unwrap_or_default();
        let (watched, listing_cost) = expand_projects(watched, docker);
        docker_cpu += listing_cost;
        let (containers, stats_cost) = container_stats(&watched, docker);
        docker_cpu += stats_cost;
        let tick = Tick {
            processes: &processes,
            scanned: &scanned,
            containers: &containers,
            interval_start,
            now,
            interval_s: (now - interval_start).as_secs_f64().max(1e-3),
        };
        let readings = tick.readings(&watched, &mut previous, recording);
        interval_start = now;
        scanned = processes;
        let skipped;
        // A tick taken before it was due (a repeat begun, a mark) starts the cadence again from here.
        (due, skipped) = if now < due {
            (now + INTERVAL, 0)
        } else {
            next_tick(due, Instant::now(), INTERVAL)
        };
        state = match shared.state.lock() {
            Ok(state) => state,
            Err(_) => break,
        };
        state.readings.extend(readings);
        state.skipped_ticks += skipped;
        if realign {
            recording = state
                .repeat_start
                .filter(|_| state.repeat > 0)
                .map(|start| (state.repeat, start));
        }
        state.last_tick_t_s = recording.map_or(0.0, |(_, start)| stamp(now, start));
        state.marks_taken = marks;
        shared.wake.notify_all();
        if stopping {
            break;
        }
    }
    let own = thread_cpu_seconds() - cpu_at_start + docker_cpu;
    100.0 * own / started.elapsed().as_secs_f64().max(1e-3)
}

/// Waits until a tick is due: its time has come, a repeat has begun, a mark is asked for, or the
/// sampler is stopping. `None` when the lock is poisoned: the loop can only end.
fn wait_for_tick<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
    due: Instant,
) -> Option<MutexGuard<'a, State>> {
    while !state.stop && !state.realign && state.marks_asked == state.marks_taken && Instant::now() < due {
        let wait = due.saturating_duration_since(Instant::now());
        state = shared.wake.wait_timeout(state, wait).ok()?.0;
    }
    Some(state)
}

/// `docker stats` by container (CPU %, RSS bytes) and the CPU seconds it took, read only when a
/// container is watched: the listing costs CPU that the measured run shares.
fn container_stats(
    watched: &BTreeMap<String, Option<Source>>,
    docker: Option<&str>,
) -> (HashMap<String, (f64, u64)>, f64) {
    match docker {
        Some(docker) if watched.values().any(|s| matches!(s, Some(Source::Container(_)))) => {
            docker_stats(docker)
        }
        _ => (HashMap::new(), 0.0),
    }
}

/// One tick's view of the machine, against which each watched name is measured.
struct Tick<'t> {
    /// This tick's process table, and the previous tick's: a process's CPU is what grew between.
    processes: &'t ProcessTable,
    scanned: &'t ProcessTable,
    /// `docker stats` by container: (CPU %, RSS bytes).
    containers: &'t HashMap<String, (f64, u64)>,
    /// The interval's edges, and its length in s.
    interval_start: Instant,
    now: Instant,
    interval_s: f64,
}

impl Tick<'_> {
    /// A row per watched name while a repeat is recorded, each name's processes kept in `previous`
    /// for the next tick: the work of one tick between two waits.
    fn readings(
        &self,
        watched: &BTreeMap<String, Option<Source>>,
        previous: &mut HashMap<String, Previous>,
        recording: Option<(u32, Instant)>,
    ) -> Vec<Reading> {
        let mut readings = Vec::new();
        for (name, source) in watched {
            let earlier = previous
                .remove(name)
                .filter(|p| Some(&p.source) == source.as_ref());
            let (cpu_seconds, rss_bytes, pss_bytes, members) =
                self.read_source(source.as_ref(), earlier.as_ref());
            if let (Some(source), Some(members)) = (source, members) {
                previous.insert(
                    name.clone(),
                    Previous {
                        source: source.clone(),
                        members,
                    },
                );
            }
            if let Some((repeat, start)) = recording {
                // Both edges stamped the same way, so one row ends exactly where the next begins
                // (and where a mark said it would).
                readings.push(Reading {
                    repeat,
                    t_s: stamp(self.interval_start, start),
                    interval_s: round(stamp(self.now, start) - stamp(self.interval_start, start), 1e3),
                    process: name.clone(),
                    cpu_percent: round(100.0 * cpu_seconds / self.interval_s, 10.0),
                    rss_bytes,
                    pss_bytes,
                });
            }
        }
        readings
    }

    /// A watched name's CPU seconds over the interval, RSS, PSS and, for processes, its members now
    /// (whose CPU the next tick counts from): each source read its own way.
    fn read_source(
        &self,
        source: Option<&Source>,
        earlier: Option<&Previous>,
    ) -> (f64, u64, Option<u64>, Option<Vec<u32>>) {
        match source {
            Some(Source::Container(container)) => {
                let (cpu, rss) = self.containers.get(container).copied().unwrap_or((0.0, 0));
                (cpu / 100.0 * self.interval_s, rss, None, None)
            }
            Some(Source::ComposeProject(_)) => (0.0, 0, None, None),
            Some(Source::Processes(set)) => {
                let members = self.processes.members(set);
                let before = earlier.map_or(&[][..], |p| &p.members[..]);
                let cpu = cpu_ticks_grown(self.processes, self.scanned, &members, before) as f64
                    / proc::clock_ticks_per_second();
                let (rss, pss) = memory(self.processes, &members);
                (cpu, rss, pss, Some(members))
            }
            None => (0.0, 0, None, None),
        }
    }
}

/// `at` in seconds since the repeat began at `start`, to the millisecond: the `t_s` of a row and of a
/// mark.
fn stamp(at: Instant, start: Instant) -> f64 {
    round(at.saturating_duration_since(start).as_secs_f64(), 1e3)
}

fn round(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).round() / per_unit
}

/// `watched` with each compose project replaced by its running containers, and the CPU seconds the
/// listing took.
fn expand_projects(
    watched: BTreeMap<String, Option<Source>>,
    docker: Option<&str>,
) -> (BTreeMap<String, Option<Source>>, f64) {
    let mut cost = 0.0;
    let mut expanded = BTreeMap::new();
    for (name, source) in watched {
        match (source, docker) {
            (Some(Source::ComposeProject(project)), Some(docker)) => {
                let (containers, listing_cost) = project_containers(docker, &project);
                cost += listing_cost;
                for container in containers {
                    expanded.insert(container.clone(), Some(Source::Container(container)));
                }
            }
            (Some(Source::ComposeProject(_)), None) => {}
            (source, _) => {
                expanded.insert(name, source);
            }
        }
    }
    (expanded, cost)
}

/// The running containers of compose project `project`, by name, and the CPU seconds the listing
/// took.
fn project_containers(docker: &str, project: &str) -> (Vec<String>, f64) {
    let filter = format!("label=com.docker.compose.project={project}");
    let (output, cost) = run_measured(docker, &["ps", "--filter", &filter, "--format", "{{.Names}}"]);
    let names = output
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    (names, cost)
}

/// The CPU ticks a source's processes used since the last scan (`before`): the growth of their own
/// plus reaped children's CPU time.
///
/// A member counts its growth since the last scan, or all it has if it is new to the machine (it
/// began within the interval). A member that has exited since took its last reading with it into the
/// reaped-children time of its parent: when that parent (or the nearest ancestor still alive) is a
/// member, the last reading is taken back, so that only what the interval added is counted. A member
/// reaped outside the source (an orphan adopted by init) loses what it used after the last scan.
fn cpu_ticks_grown(
    now: &ProcessTable,
    before: &ProcessTable,
    members: &[u32],
    members_before: &[u32],
) -> u64 {
    let mut grown: i128 = 0;
    for pid in members {
        if let Some(stat) = now.get(*pid) {
            grown += i128::from(proc::total_ticks(stat))
                - i128::from(before.get(*pid).map_or(0, proc::total_ticks));
        }
    }
    let current: HashSet<u32> = members.iter().copied().collect();
    for pid in members_before.iter().filter(|pid| !now.contains(**pid)) {
        let Some(last) = before.get(*pid) else { continue };
        let mut ancestor = last.ppid;
        while !now.contains(ancestor) {
            match before.get(ancestor) {
                Some(stat) if stat.ppid != ancestor => ancestor = stat.ppid,
                _ => break,
            }
        }
        if current.contains(&ancestor) {
            grown -= i128::from(proc::total_ticks(last));
        }
    }
    u64::try_from(grown.max(0)).unwrap_or(0)
}

/// Summed RSS and summed PSS of `members` (PSS `None` if any could not be read).
fn memory(table: &ProcessTable, members: &[u32]) -> (u64, Option<u64>) {
    let page = proc::page_size();
    let mut rss = 0;
    let mut pss = Some(0);
    for pid in members {
        if let Some(stat) = table.get(*pid) {
            rss += stat.rss_pages * page;
            pss = pss.zip(proc::pss_bytes(*pid)).map(|(sum, one)| sum + one);
        }
    }
    (rss, pss)
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

/// Runs `program` with `args`: its standard output (empty if it could not run) and the CPU seconds
/// it took.
fn run_measured(program: &str, args: &[&str]) -> (String, f64) {
    let Ok(mut child) = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return (String::new(), 0.0);
    };
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut output);
    }
    let cost = reap_cpu_seconds(&child);
    (output, cost)
}

/// One `docker stats --no-stream`: each container's CPU % (of one core, as docker counts it) and
/// memory, and the CPU seconds the command itself took.
fn docker_stats(docker: &str) -> (HashMap<String, (f64, u64)>, f64) {
    let (output, cost) = run_measured(docker, &["stats", "--no-stream", "--format", "{{json .}}"]);
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
    use stack_system::proc::ProcStat;

    use super::*;

    fn stat(ppid: u32, cpu_ticks: u64, exited_children_cpu_ticks: u64) -> ProcStat {
        ProcStat {
            ppid,
            cpu_ticks,
            exited_children_cpu_ticks,
            rss_pages: 0,
        }
    }

    #[test]
    fn a_child_reaped_within_the_tree_counts_what_it_used_since_the_last_tick_once() {
        // Given a parent (10 ticks) and its child (30 ticks) at the last tick; since then the child
        // used 20 more ticks, exited and was reaped (the parent now carries its 50), and the parent
        // used 5 itself
        let before = ProcessTable::from_iter([(1, stat(0, 10, 0)), (2, stat(1, 30, 0))]);
        let now = ProcessTable::from_iter([(1, stat(0, 15, 50))]);
        // When the tree's growth is taken
        let grown = cpu_ticks_grown(&now, &before, &[1], &[1, 2]);
        // Then it is the parent's 5 and the child's last 20
        assert_eq!(grown, 25);
    }

    #[test]
    fn a_process_new_to_the_machine_counts_all_its_time_and_an_old_one_its_growth() {
        let before = ProcessTable::from_iter([(1, stat(0, 100, 0))]);
        let now = ProcessTable::from_iter([(1, stat(0, 104, 0)), (7, stat(1, 12, 0))]);
        assert_eq!(cpu_ticks_grown(&now, &before, &[1, 7], &[]), 16);
    }

    #[test]
    fn a_late_tick_skips_the_ticks_it_missed_instead_of_firing_them_back_to_back() {
        // Given a tick due at 0 that was taken 3.4 intervals late
        let due = Instant::now();
        let taken = due + INTERVAL * 3 + INTERVAL / 2 - INTERVAL / 10;
        // When the next tick is planned
        let (next, skipped) = next_tick(due, taken, INTERVAL);
        // Then it is the first one still ahead, the three missed ones skipped
        assert_eq!((next - due, skipped), (INTERVAL * 4, 3));
        // and an on-time tick plans the next one an interval on
        assert_eq!(next_tick(due, due, INTERVAL), (due + INTERVAL, 0));
    }

    #[test]
    fn docker_memory_units_are_read_as_bytes() {
        assert_eq!(parse_bytes("12.5MiB"), Some(13_107_200));
        assert_eq!(parse_bytes("1.5GB"), Some(1_500_000_000));
        assert_eq!(parse_bytes("100B"), Some(100));
    }
}
