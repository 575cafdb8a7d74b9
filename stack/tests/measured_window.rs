//! A measured k6 run's window, with the real k6: it is bounded by sampler marks, the last taken once
//! k6 has exited but before it is reaped, so the CPU k6 used is all in the window's rows even when
//! the run is shorter than one of the sampler's ticks.

use std::collections::BTreeMap;

use stack_record::{ResourceRow, Window};
use stack_study::bench::{
    k6::{self, Invocation},
    sampler::{Sampler, INTERVAL},
};

/// The CPU seconds of this process's reaped children so far (getrusage(RUSAGE_CHILDREN), to the µs).
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage(2) writes only into `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(done, 0, "getrusage failed");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[tokio::test]
async fn a_k6_run_shorter_than_a_tick_has_all_its_cpu_in_its_window() {
    // Given a script whose one iteration does a fixed amount of work (about 0.4 s of one core here:
    // work, not a wall-clock spin, so that a busy machine makes it slower but not smaller, and the
    // test needs no core of its own), and a sampler watching k6, a little into its second tick
    let dir = std::env::temp_dir().join(format!("stack-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let script = dir.join("script.js");
    std::fs::write(
        &script,
        "export const options = { iterations: 1 };\n\
         export default function () { let x = 0;\n\
         for (let i = 0; i < 1500000; i++) { x += Math.sqrt(x + 1); } }\n",
    )
    .expect("the script");
    let k6 = k6::binary().expect("k6 is installed");
    let urls = BTreeMap::new();
    let go_runtime = k6::go_runtime(None);
    let invocation = Invocation {
        k6: &k6,
        script,
        profile: "baseline",
        urls: &urls,
        env: Vec::new(),
        cpus: None,
        go_runtime: &go_runtime,
    };
    let sampler = Sampler::start(vec![("k6".into(), None)], None);
    sampler.begin_repeat(1);
    tokio::time::sleep(INTERVAL + INTERVAL / 10).await;
    // When it is measured
    let before = children_cpu_seconds();
    let run = invocation
        .measure("s3", &dir.join("run"), false, &sampler)
        .await
        .expect("k6 ran");
    let used = children_cpu_seconds() - before;
    tokio::time::sleep(INTERVAL / 2).await;
    let readings = sampler.finish_all().readings;
    // Then the rows of its window hold the CPU k6 used (to a clock tick), and none lies outside it
    let window = Window {
        repeat: 1,
        start_s: run.start_s,
        end_s: run.end_s,
    };
    let k6_rows = || readings.iter().filter(|r| r.process == "k6");
    let inside: f64 = k6_rows()
        .filter(|r| window.holds(r))
        .map(ResourceRow::cpu_seconds)
        .sum();
    let outside: f64 = k6_rows()
        .filter(|r| !window.holds(r))
        .map(ResourceRow::cpu_seconds)
        .sum();
    assert!(run.status.success(), "k6 exited {}", run.status);
    assert!(used >= 0.2, "k6 used {used:.3} s");
    assert!(
        (inside - used).abs() <= 0.02,
        "{inside:.3} s in the window of k6's {used:.3} s: {readings:?}"
    );
    assert!(outside < 0.005, "{outside:.3} s outside: {readings:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
