//! The resource sampler against processes of known load: one busy on a core, one asleep, one
//! holding a known amount of memory.

use std::{
    process::{Child, Command},
    time::Duration,
};

use stack::study::{
    bench::sampler::{Sampler, Source},
    record::ResourceRow,
};

/// A child that is killed when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Running {
    match Command::new(program).args(args).spawn() {
        Ok(child) => Running(child),
        Err(err) => panic!("could not start {program}: {err}"),
    }
}

/// Samples `processes` for about four seconds; the rows after the first (which has no interval).
fn sample(processes: &[(&str, &Running)]) -> Vec<ResourceRow> {
    let sampler = Sampler::start(
        processes
            .iter()
            .map(|(name, child)| (name.to_string(), Some(Source::Tree(child.0.id()))))
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
    // other builds running, it gets less of one), the sleeping one next to nothing
    let busy_cpu = of(&rows, "busy")
        .iter()
        .map(|r| r.cpu_percent)
        .fold(0.0, f64::max);
    let asleep_cpu = of(&rows, "asleep")
        .iter()
        .map(|r| r.cpu_percent)
        .fold(0.0, f64::max);
    assert!(!of(&rows, "busy").is_empty(), "no rows: {rows:?}");
    assert!((20.0..=110.0).contains(&busy_cpu), "busy read {busy_cpu} %");
    assert!(asleep_cpu < 5.0, "asleep read {asleep_cpu} %");
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
