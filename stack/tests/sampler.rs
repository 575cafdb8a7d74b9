//! The resource sampler against processes of known load: one busy on a core, one asleep, one
//! holding a known amount of memory, a child that works and exits between two ticks, two processes
//! sharing memory, and another implementation's processes watched by command line and by pid
//! (`--watch`).

use std::{
    os::unix::process::CommandExt,
    process::{Child, Command},
    time::Duration,
};

use stack_record::{ResourceRow, Window};
use stack_study::{
    bench::sampler::{Sampler, Source, INTERVAL},
    target::watched_process,
};
use stack_system::proc;

/// A child, in a process group of its own, whose whole group is killed when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on our own child's process group, which it leads.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Running {
    match Command::new(program).args(args).process_group(0).spawn() {
        Ok(child) => Running(child),
        Err(err) => panic!("could not start {program}: {err}"),
    }
}

/// Samples `processes` for about four seconds; the rows after the first (which has no interval).
fn sample(processes: &[(&str, &Running)]) -> Vec<ResourceRow> {
    let sampler = Sampler::start(
        processes
            .iter()
            .map(|(name, child)| (name.to_string(), Some(Source::tree(child.0.id()))))
            .collect(),
        None,
    );
    sampler.begin_repeat(1);
    std::thread::sleep(Duration::from_millis(4_300));
    let (rows, _) = sampler.finish();
    rows.into_iter().filter(|row| row.t_s >= 1.5).collect()
}

fn of<'a>(rows: &'a [ResourceRow], name: &str) -> Vec<&'a ResourceRow> {
    rows.iter().filter(|row| row.process == name).collect()
}

#[test]
fn a_busy_process_reads_near_a_full_core_and_a_sleeping_one_near_zero() {
    // Given a process spinning on one core and one asleep
    let busy = spawn("sh", &["-c", "while :; do :; done"]);
    let asleep = spawn("sleep", &["30"]);
    // When both are sampled
    let rows = sample(&[("busy", &busy), ("asleep", &asleep)]);
    // Then the busy one reads up to a core (100 % on an idle machine; on our shared two cores, with
    // other builds running, it gets its share of them: 15 % at a load average of 13), the sleeping
    // one next to nothing
    let busy_cpu = of(&rows, "busy")
        .iter()
        .map(|r| r.cpu_percent)
        .fold(0.0, f64::max);
    let asleep_cpu = of(&rows, "asleep")
        .iter()
        .map(|r| r.cpu_percent)
        .fold(0.0, f64::max);
    assert!(!of(&rows, "busy").is_empty(), "no rows: {rows:?}");
    assert!((5.0..=110.0).contains(&busy_cpu), "busy read {busy_cpu} %");
    assert!(asleep_cpu < 1.0, "asleep read {asleep_cpu} %");
}

#[test]
fn a_process_holding_memory_reads_at_least_that_resident() {
    // Given a process that writes 200 MiB and keeps it
    const HELD: u64 = 200 * 1024 * 1024;
    let holder = spawn(
        "python3",
        &[
            "-c",
            &format!("import time\nb = b'\\x01' * {HELD}\ntime.sleep(30)"),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    // When it is sampled
    let rows = sample(&[("holder", &holder)]);
    // Then its resident memory is at least what it holds, and not wildly more
    let rss = of(&rows, "holder").iter().map(|r| r.rss_bytes).max().unwrap_or(0);
    assert!((HELD..HELD * 2).contains(&rss), "read {rss} bytes");
}

const MIB: u64 = 1024 * 1024;

/// Samples `root`'s process tree for `seconds`; every reading of it.
fn readings_of(root: &Running, seconds: f64) -> Vec<ResourceRow> {
    let sampler = Sampler::start(vec![("tree".into(), Some(Source::tree(root.0.id())))], None);
    sampler.begin_repeat(1);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    sampler.finish_all().readings
}

#[test]
fn a_child_that_burns_half_a_second_and_exits_mid_interval_is_counted() {
    // Given a shell that, a little after a tick, runs a child burning 0.5 s of CPU, reaps it, and
    // then writes the CPU time the child reported for itself to a file
    let done = std::env::temp_dir().join(format!("sampler-child-{}", std::process::id()));
    let _ = std::fs::remove_file(&done);
    // It burns by the clock it reports (`os.times`, in the kernel's ticks, as /proc counts them):
    // `process_time` is finer and read 0.5 s where `os.times` still said 0.49.
    let burn = "import os\ndef cpu():\n    t = os.times()\n    return t.user + t.system\n\
                while cpu() < 0.5: pass\nprint(cpu())";
    let shell = spawn(
        "sh",
        &[
            "-c",
            &format!(
                "sleep 1.3; python3 -c '{burn}' > {done}.part; mv {done}.part {done}; sleep 30",
                done = done.display()
            ),
        ],
    );
    // When the shell's tree is sampled until a tick after the child is gone (on a shared machine the
    // half second of CPU may take several seconds to get)
    let sampler = Sampler::start(vec![("tree".into(), Some(Source::tree(shell.0.id())))], None);
    sampler.begin_repeat(1);
    let waited = std::time::Instant::now();
    while !done.exists() && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(INTERVAL + INTERVAL / 4);
    let readings = sampler.finish_all().readings;
    let child_cpu: f64 = std::fs::read_to_string(&done)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("the child did not report its CPU time in {}", done.display()));
    let _ = std::fs::remove_file(&done);
    // Then the CPU the rows account for (each row's % of a core over its interval) holds all of the
    // child's, including what it used after the last tick that saw it alive, which the tree holds
    // only as the shell's reaped-children time; the shell, `sleep` and `mv` add a few ticks at most
    let counted: f64 = readings.iter().map(ResourceRow::cpu_seconds).sum();
    assert!(child_cpu >= 0.5, "the child reported {child_cpu} s");
    assert!(
        counted >= child_cpu - 0.02 && counted <= child_cpu + 0.15,
        "counted {counted:.3} s of CPU for a child that used {child_cpu:.3} s: {readings:?}"
    );
}

#[test]
fn two_processes_sharing_memory_sum_to_it_once_in_pss_and_twice_in_rss() {
    // Given a process that fills 100 MiB of shared memory, then forks, both reading every page of it
    // (a child maps a shared page only once it touches it) and keeping it mapped
    let share = spawn(
        "python3",
        &[
            "-c",
            &format!(
                "import mmap, os, time\nm = mmap.mmap(-1, {size}, flags=mmap.MAP_SHARED)\n\
                 chunk = b'\\x01' * {MIB}\nfor i in range(0, {size}, {MIB}): m[i:i + {MIB}] = chunk\n\
                 os.fork()\nsum(m[i] for i in range(0, {size}, 4096))\ntime.sleep(30)",
                size = 100 * MIB
            ),
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    // When the two are sampled as one tree
    let readings = readings_of(&share, 2.5);
    let last = readings.last().unwrap_or_else(|| panic!("no readings"));
    // Then their PSS is about the 100 MiB (plus two small interpreters), their RSS twice that
    let pss = last.pss_bytes.unwrap_or(0);
    assert!((100 * MIB..125 * MIB).contains(&pss), "PSS {} MiB", pss / MIB);
    assert!(last.rss_bytes >= 200 * MIB, "RSS {} MiB", last.rss_bytes / MIB);
}

#[test]
fn every_row_carries_its_measured_interval_and_starts_where_the_last_one_ended() {
    // Given a sleeping process
    let asleep = spawn("sleep", &["30"]);
    // When it is sampled for a few ticks
    let readings = readings_of(&asleep, 3.6);
    // Then each row's interval is about the sampler's (but the last, which the finish closes), the
    // first starts at the repeat's start and each next one where the last ended
    assert!(readings.len() >= 4, "{readings:?}");
    assert!(readings[0].t_s < 0.1, "{readings:?}");
    for pair in readings.windows(2) {
        let ends = pair[0].t_s + pair[0].interval_s;
        assert!((ends - pair[1].t_s).abs() < 1e-9, "{readings:?}");
    }
    for reading in &readings[..readings.len() - 1] {
        let off = (reading.interval_s - INTERVAL.as_secs_f64()).abs();
        assert!(off < 0.25, "{readings:?}");
    }
}

#[tokio::test]
async fn a_run_shorter_than_a_tick_between_two_marks_gets_the_cpu_measured_in_it() {
    // Given the sampler watching this test's own process, which is idle and then, between two marks
    // well inside one tick's interval, burns about 0.3 s of CPU
    let sampler = Sampler::start(
        vec![("self".into(), Some(Source::tree(std::process::id())))],
        None,
    );
    sampler.begin_repeat(1);
    tokio::time::sleep(INTERVAL + INTERVAL / 10).await;
    let start_s = sampler.mark().await;
    let before = cpu_seconds_of(std::process::id());
    let burning = std::time::Instant::now();
    while cpu_seconds_of(std::process::id()) - before < 0.3 && burning.elapsed() < Duration::from_secs(30) {
        std::hint::black_box((0..10_000u64).sum::<u64>());
    }
    let end_s = sampler.mark().await;
    let burned = cpu_seconds_of(std::process::id()) - before;
    tokio::time::sleep(INTERVAL / 2).await;
    // When the sampler is finished
    let readings = sampler.finish_all().readings;
    // Then rows begin and end exactly at the marks, the rows between them hold the CPU burned
    // (to a clock tick or two), and the rows outside hold next to none of it
    let window = Window {
        repeat: 1,
        start_s,
        end_s,
    };
    assert!(end_s > start_s, "marks at {start_s} and {end_s}");
    assert!(readings.iter().any(|r| r.t_s == start_s), "{readings:?}");
    assert!(readings.iter().any(|r| r.t_s == end_s), "{readings:?}");
    let whole_or_none = |share: f64| !(1e-9..=1.0 - 1e-9).contains(&share);
    assert!(
        readings.iter().all(|r| whole_or_none(window.share_of(r))),
        "{readings:?}"
    );
    let inside: f64 = readings
        .iter()
        .filter(|r| window.holds(r))
        .map(ResourceRow::cpu_seconds)
        .sum();
    let outside: f64 = readings
        .iter()
        .filter(|r| !window.holds(r))
        .map(ResourceRow::cpu_seconds)
        .sum();
    assert!(burned >= 0.3, "burned {burned} s");
    assert!(
        (inside - burned).abs() <= 0.03,
        "{inside:.3} s counted of {burned:.3} s: {readings:?}"
    );
    assert!(outside < 0.1, "{outside:.3} s outside: {readings:?}");
}

/// The CPU time `pid` has used so far itself, in s, from its `/proc/<pid>/stat`.
fn cpu_seconds_of(pid: u32) -> f64 {
    let table = proc::ProcessTable::read().expect("/proc");
    let stat = table.get(pid).unwrap_or_else(|| panic!("process {pid} is gone"));
    stat.cpu_ticks as f64 / proc::clock_ticks_per_second()
}

/// A shell spinning on a core, with `marker` in its command line.
fn burner(marker: &str) -> Running {
    spawn("sh", &["-c", "while :; do :; done", marker])
}

/// Stops `process` (SIGSTOP), has `sampler` take a tick there and then (a mark), and kills it: the
/// CPU time it used in all, all of it seen by that tick whenever the sampler's own ticks land. (A
/// process that its unwatched parent reaps at once loses what it used after the last tick: the
/// sampler cannot read a process that is gone.)
fn stop(process: Running, sampler: &Sampler) -> f64 {
    if let Ok(pid) = i32::try_from(process.0.id()) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(sampler.mark());
    let used = cpu_seconds_of(process.0.id());
    drop(process);
    used
}

#[test]
fn processes_watched_by_command_line_are_followed_as_they_come_and_go() {
    // Given a watch by command line, and two CPU burners with that pattern in their command line
    // that start and stop at different times while it is sampled
    let marker = format!("sampler-watch-{}", std::process::id());
    let watch = watched_process(&format!("app=cmd:^sh -c .* {marker}$")).expect("a watch");
    let sampler = Sampler::start(vec![(watch.0, Some(watch.1))], None);
    sampler.begin_repeat(1);
    std::thread::sleep(INTERVAL + INTERVAL / 5);
    let first = burner(&marker);
    std::thread::sleep(INTERVAL + INTERVAL / 5);
    let second = burner(&marker);
    std::thread::sleep(INTERVAL + INTERVAL / 5);
    let first_cpu = stop(first, &sampler);
    let second_cpu = stop(second, &sampler);
    let stopped_at = sampler.t_s();
    std::thread::sleep(INTERVAL * 2 + INTERVAL / 2);
    // When the sampler is finished
    let rows = sampler.finish_all().readings;
    // Then the name has a row every interval, nothing before the first burner, nothing once both
    // are gone, and between them exactly the CPU the two used (to a couple of ticks each)
    let counted: f64 = rows.iter().map(ResourceRow::cpu_seconds).sum();
    let used = first_cpu + second_cpu;
    assert!(
        rows.len() >= 6 && rows.iter().all(|r| r.process == "app"),
        "{rows:?}"
    );
    assert!(rows[0].cpu_percent < 1.0, "before the burners: {rows:?}");
    assert!(
        rows.iter()
            .filter(|r| r.t_s > stopped_at + 0.1)
            .all(|r| r.cpu_percent < 1.0 && r.rss_bytes == 0),
        "after the burners: {rows:?}"
    );
    assert!(used > 0.05, "the burners got {used} s of CPU");
    assert!(
        (counted - used).abs() <= 0.04,
        "counted {counted:.3} s, the burners used {used:.3} s: {rows:?}"
    );
}

#[test]
fn a_process_watched_by_pid_is_sampled_with_its_descendants() {
    // Given a shell whose child spins on a core, watched by the shell's pid
    let shell = spawn("sh", &["-c", "sh -c 'while :; do :; done' & sleep 30"]);
    let watch = watched_process(&format!("app=pid:{}", shell.0.id())).expect("a watch");
    // When it is sampled
    let sampler = Sampler::start(vec![(watch.0, Some(watch.1))], None);
    sampler.begin_repeat(1);
    std::thread::sleep(INTERVAL * 3 + INTERVAL / 2);
    let rows = sampler.finish_all().readings;
    // Then every row is the watched name's, with the child's CPU and both processes' memory in it
    assert!(
        rows.len() >= 3 && rows.iter().all(|r| r.process == "app"),
        "{rows:?}"
    );
    let counted: f64 = rows.iter().map(ResourceRow::cpu_seconds).sum();
    assert!(counted > 0.1, "counted {counted:.3} s: {rows:?}");
    assert!(rows.iter().all(|r| r.rss_bytes > 0), "{rows:?}");
}
