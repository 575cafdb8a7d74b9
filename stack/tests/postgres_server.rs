//! The private PostgreSQL that `stack` starts (`system/postgres.rs`), seen from outside while it
//! runs: which files the server holds open.

use std::{
    fs::File,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use stack_system::{plan::DatabaseSpec, postgres::Cluster};

/// The files a process holds open, by its `/proc/<pid>/fd` links.
fn open_files(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .collect()
}

#[test]
fn a_started_server_holds_none_of_the_files_its_caller_left_inheritable() {
    // Given a file open without close-on-exec, as `flock FILE command` hands its lock to the command
    // (CI's port lock, which the tests' cluster once kept held after the tests ended).
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("postgres-inherited-files");
    std::fs::create_dir_all(&dir).expect("the test's folder");
    let held_path = dir.join("held.lock");
    let held = File::create(&held_path).expect("the held file");
    // SAFETY: fcntl on a descriptor that `held` keeps open; flags 0 only clears FD_CLOEXEC.
    let cleared = unsafe { libc::fcntl(held.as_raw_fd(), libc::F_SETFD, 0) };
    assert_eq!(cleared, 0, "clearing close-on-exec");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let spec = DatabaseSpec {
        user: "postgres".into(),
        password: "postgres".into(),
        name: "postgres".into(),
    };

    // When a cluster is started and left running.
    let cluster = Cluster::start(&dir.join("cluster"), port, &spec).expect("the cluster started");
    let pid = cluster.postmaster_pid().expect("the postmaster's pid");
    let open = open_files(pid);
    cluster.stop().expect("the cluster stopped");

    // Then the server holds its own log, and not the caller's file.
    let log = dir
        .join("cluster/postgres.log")
        .canonicalize()
        .expect("the server's log");
    assert!(open.contains(&log), "the server's log is not among {open:?}");
    let held_path = held_path.canonicalize().expect("the held file's path");
    assert!(
        !open.contains(&held_path),
        "the server holds {}: {open:?}",
        held_path.display()
    );
}
