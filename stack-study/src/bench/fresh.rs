//! Repeats made apart (issue 30): by default a bench of the local system stops its services and its
//! PostgreSQL after each repeat and starts them again before the next (and between the rounds of a
//! `--versus` study), so that what differs from one launch to the next (where the allocator put
//! things, the services' connection pools, PostgreSQL's shared buffers and caches) is part of the
//! spread over repeats that the intervals are drawn from, as it would be between two benches. The
//! database is still returned to its seed before every measured run, and every scenario's warm-up
//! still runs before its measured run, so a restarted system is warmed again before it is measured.
//! `--keep-processes` keeps one launch for the whole bench, for quick runs. A system `stack` did not
//! start (compose's containers, one behind URLs) cannot be restarted by it: the record says so.

use std::{collections::BTreeMap, path::Path, process::ExitCode, time::Instant};

use anyhow::{Context, Result};

use stack_record::{processes::RepeatProcesses, TargetKind};
use stack_system::{compose::Compose, proc::POSTGRES, System};

use super::pinning;

/// How the system's processes are to stand as a repeat begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatStart {
    /// The first repeat of a local system: the bench started it just before.
    Started,
    /// A later repeat of a local system: stopped and started again first.
    Restart,
    /// The processes of the repeat before, and why.
    Kept(&'static str),
}

/// Why `--keep-processes` left a repeat on the processes of the one before.
pub const KEPT: &str = "--keep-processes kept the processes of the repeat before";
const NOT_UNDER_COMPOSE: &str = "stack does not start a system under compose, so it cannot restart it";
const NOT_BEHIND_URLS: &str = "stack does not start a system behind URLs, so it cannot restart it";

impl RepeatStart {
    /// How repeat `repeat` (from 1) of a target of `kind` begins; `keep` is `--keep-processes`.
    pub fn of(kind: TargetKind, keep: bool, repeat: u32) -> Self {
        match kind {
            TargetKind::Local if repeat <= 1 => Self::Started,
            TargetKind::Local if keep => Self::Kept(KEPT),
            TargetKind::Local => Self::Restart,
            TargetKind::Compose => Self::Kept(NOT_UNDER_COMPOSE),
            TargetKind::Urls => Self::Kept(NOT_BEHIND_URLS),
        }
    }

    /// What `meta.json` records of it for `repeat`: `system` as the repeat begins, `restart_ms` what
    /// the restart before it took.
    pub fn recorded(self, repeat: u32, system: Option<&System>, restart_ms: Option<f64>) -> RepeatProcesses {
        let (fresh, why_not) = match self {
            Self::Started | Self::Restart => (true, None),
            Self::Kept(why) => (false, Some(why.to_owned())),
        };
        RepeatProcesses {
            repeat,
            fresh,
            restart_ms: restart_ms.map(|ms| ms.round()),
            why_not,
            pids: system.map(pids_of).unwrap_or_default(),
        }
    }
}

/// Stops `system` (its services, then its PostgreSQL) and starts it again on the same ports from
/// the binaries already built, with the extra environment `env` it was first started with (where
/// its traces go), pinned again where `cpus` (`--cpus system=`) says; the wall
/// milliseconds it took, up to the new system's readiness. The system is `None` while it is down,
/// so that whoever holds it stops only what runs.
pub async fn restart(
    system: &mut Option<System>,
    root: &Path,
    compose: &Compose,
    cpus: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<f64> {
    let began = Instant::now();
    if let Some(old) = system.take() {
        if old.down().await? != ExitCode::SUCCESS {
            eprintln!(
                "stack: a service did not exit cleanly when the system was restarted (its output is above)"
            );
        }
    }
    let started = System::up_with_env(root, compose, true, 0, env)
        .await
        .context("starting the system again between repeats")?;
    let restarted = system.insert(started);
    if let Some(cpus) = cpus {
        let roots: Vec<u32> = pids_of(restarted).into_values().collect();
        pinning::pin_trees(&roots, cpus)
            .with_context(|| format!("pinning the restarted system to CPUs {cpus}"))?;
    }
    Ok(began.elapsed().as_secs_f64() * 1000.0)
}

/// The process id of each service, and of the postmaster under `postgres`: the roots of a local
/// system's process trees.
pub fn pids_of(system: &System) -> BTreeMap<String, u32> {
    let mut pids: BTreeMap<String, u32> = system.services.pids().into_iter().collect();
    if let Some(postmaster) = system
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.postmaster_pid())
    {
        pids.insert(POSTGRES.to_owned(), postmaster);
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_system_is_restarted_before_every_repeat_but_the_first() {
        assert_eq!(RepeatStart::of(TargetKind::Local, false, 1), RepeatStart::Started);
        assert_eq!(RepeatStart::of(TargetKind::Local, false, 2), RepeatStart::Restart);
        assert_eq!(RepeatStart::of(TargetKind::Local, false, 7), RepeatStart::Restart);
    }

    #[test]
    fn keeping_the_processes_leaves_every_repeat_after_the_first_on_the_same_launch() {
        // Given --keep-processes on a local system
        // Then the first repeat is still fresh (the bench started it), the others are kept
        let first = RepeatStart::of(TargetKind::Local, true, 1).recorded(1, None, None);
        assert!(first.fresh);
        let second = RepeatStart::of(TargetKind::Local, true, 2).recorded(2, None, None);
        assert!(!second.fresh);
        assert_eq!(second.why_not.as_deref(), Some(KEPT));
    }

    #[test]
    fn a_system_stack_did_not_start_records_that_it_could_not_restart_it() {
        for kind in [TargetKind::Compose, TargetKind::Urls] {
            for repeat in [1, 2] {
                let recorded = RepeatStart::of(kind, false, repeat).recorded(repeat, None, None);
                assert!(!recorded.fresh, "{kind:?} repeat {repeat}");
                let why = recorded.why_not.unwrap_or_default();
                assert!(why.contains("cannot restart"), "{kind:?}: {why}");
                assert!(recorded.pids.is_empty());
            }
        }
    }

    #[test]
    fn a_restart_records_what_it_took_to_the_millisecond() {
        let recorded = RepeatStart::Restart.recorded(2, None, Some(1234.56));
        assert!(recorded.fresh);
        assert_eq!(recorded.restart_ms, Some(1235.0));
        assert_eq!(recorded.why_not, None);
    }
}
