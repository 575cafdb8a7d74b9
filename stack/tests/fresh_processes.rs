//! Repeats made apart, on the real system: a bench of the local system restarts its services and
//! its PostgreSQL between repeats, so each repeat runs on processes of its own, and the record says
//! so with their ids. Runs the real system (127.0.0.1:8001-8010, PostgreSQL on 54329).

#[allow(dead_code)]
mod bench_process;

use bench_process::{build_services, BenchFolder};

#[test]
fn a_two_repeat_local_bench_runs_each_repeat_on_fresh_processes_with_other_pids() {
    // Given the local system and S2's smoke load, twice, with no warm-up
    build_services();
    let folder = BenchFolder::new("fresh-processes");
    // When it is benched with the default (no --keep-processes)
    let status = folder.run_bench(
        &[
            "--profile",
            "smoke",
            "--scenarios",
            "s2",
            "--repeat",
            "2",
            "--warmup",
            "0",
            "--no-build",
        ],
        &[],
    );
    assert!(status.success(), "stack bench: {status}");
    // Then each repeat is recorded as fresh, the second with the time its restart took
    let meta = folder.record().meta;
    let repeats = &meta.repeat_processes;
    assert_eq!(repeats.len(), 2, "{repeats:?}");
    assert!(repeats.iter().all(|repeat| repeat.fresh), "{repeats:?}");
    assert_eq!(repeats[0].restart_ms, None);
    let restart_ms = repeats[1].restart_ms.expect("the restart's time");
    eprintln!("the restart before repeat 2 took {restart_ms} ms");
    // and every service and the postmaster ran under another process id in each
    assert_eq!(
        repeats[0].pids.len(),
        11,
        "ten services and postgres: {:?}",
        repeats[0].pids
    );
    assert_eq!(
        repeats[0].pids.keys().collect::<Vec<_>>(),
        repeats[1].pids.keys().collect::<Vec<_>>()
    );
    for (name, pid) in &repeats[0].pids {
        assert_ne!(repeats[1].pids[name], *pid, "{name} kept its process");
    }
    // and the second repeat was measured, and sampled, on the new processes
    let s2 = &folder.results().scenarios["s2"];
    assert!(s2.requests.runs.iter().all(|n| *n > 0.0), "{:?}", s2.requests);
    for process in ["postgres", "paymentservice"] {
        let memory = &s2.resources[process].rss_max_bytes.runs;
        assert!(memory.iter().all(|bytes| *bytes > 0.0), "{process}: {memory:?}");
    }
}
