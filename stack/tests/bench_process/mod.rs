//! `stack bench` and `stack respond` as a user runs them, for the tests that judge a whole run on
//! real processes: the release binary, started in a folder of its own (the repository's compose file
//! and k6 scripts linked in) so that each test's record lands in its own `results/` and is read back
//! with `stack_record`.
//!
//! A test that starts the local system binds 127.0.0.1:8001-8010: the nextest group `whole-runs` runs
//! those one at a time (`.config/nextest.toml`), and by hand they run under
//! `flock /tmp/stack-ports.lock`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
};

use stack_record::{Results, RunRecord, META_FILE};
use stack_study::scenario::Scenario;
use stack_system::proc::ProcessTable;

/// The repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `stack` release binary this test was built with.
pub fn stack_binary() -> &'static str {
    env!("CARGO_BIN_EXE_stack")
}

/// The ten services' binaries, built beside `stack` (a no-op when they are up to date), so that a
/// bench run of the local system can start them with `--no-build` from its own folder.
pub fn build_services() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    stack_system::process::build_release_binaries(&root(), &cargo)
        .unwrap_or_else(|err| panic!("the services do not build: {err:#}"));
}

/// A folder a bench run works in: the repository's compose file and `k6-tests/` linked in, its own
/// `results/`; removed on drop.
pub struct BenchFolder {
    pub dir: PathBuf,
}

impl BenchFolder {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stack-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for the run");
        for shared in ["docker-compose-sync.yml", "k6-tests"] {
            std::os::unix::fs::symlink(root().join(shared), dir.join(shared)).expect("linked in");
        }
        Self { dir }
    }

    /// `stack bench <args>` in this folder, with `env` beside the caller's environment.
    pub fn bench(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(stack_binary());
        command
            .arg("bench")
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        command
    }

    /// Runs `stack bench <args>` to its end; its exit status.
    pub fn run_bench(&self, args: &[&str], env: &[(&str, &str)]) -> ExitStatus {
        self.bench(args, env).status().expect("stack bench starts")
    }

    /// The record of the one run made in this folder.
    pub fn record(&self) -> RunRecord {
        let runs: Vec<PathBuf> = std::fs::read_dir(self.dir.join("results"))
            .expect("a results folder")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.join(META_FILE).is_file())
            .collect();
        assert_eq!(runs.len(), 1, "one run recorded: {runs:?}");
        RunRecord::read(&runs[0]).unwrap_or_else(|err| panic!("the record reads: {err:#}"))
    }

    /// The results of the one run made in this folder.
    pub fn results(&self) -> Results {
        self.record().results.expect("the run wrote its results")
    }

    /// A `K6` for `stack bench`: k6 (`K6`, else on the `PATH`) pinned to `core` by `taskset`.
    pub fn k6_pinned_to(&self, core: u32) -> PathBuf {
        let k6 = std::env::var("K6").unwrap_or_else(|_| "k6".into());
        let path = self.dir.join("k6-pinned");
        std::fs::write(
            &path,
            format!("#!/bin/sh\nexec taskset -c {core} '{k6}' \"$@\"\n"),
        )
        .expect("the wrapper written");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("the wrapper made executable");
        path
    }
}

impl Drop for BenchFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed (by its own id) when the test ends, however it ends.
pub struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A busy loop pinned to `core`, until the test ends.
pub fn burn_core(core: u32) -> Owned {
    Owned(
        Command::new("taskset")
            .args(["-c", &core.to_string(), "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .expect("taskset starts a busy loop"),
    )
}

/// `stack respond --delay-ms <delay_ms>` on a free port, and its URL.
pub fn respond(delay_ms: f64) -> (Owned, String) {
    respond_with(&["--delay-ms", &delay_ms.to_string()], &[])
}

/// `stack respond <args>` on a free port, with `env` beside the caller's environment, and its URL.
pub fn respond_with(args: &[&str], env: &[(&str, &str)]) -> (Owned, String) {
    let mut child = Command::new(stack_binary())
        .arg("respond")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("stack respond starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("its output");
    let read = BufReader::new(stdout).read_line(&mut line);
    let child = Owned(child);
    read.expect("stack respond prints its URL");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, url)
}

/// `stack respond --defer-ms <defer_ms> --workers <workers>` on a free port, exporting its spans to
/// the OTLP endpoint `otlp`, and its URL. Its batches leave after 200 ms rather than the SDK's 5 s,
/// so the test waits less.
pub fn deferring_stand_in(otlp: &str, defer_ms: u64, workers: u32) -> (Owned, String) {
    respond_with(
        &[
            "--defer-ms",
            &defer_ms.to_string(),
            "--workers",
            &workers.to_string(),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
}

/// A free port of 127.0.0.1, for the bench's receiver, which a stand-in must know before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `--target urls` with every entrypoint at `url`.
pub fn urls_at(url: &str) -> Vec<String> {
    let mut args = vec!["--target".to_owned(), "urls".to_owned()];
    args.extend(entrypoints_at("--url", url));
    args
}

/// `--versus urls` with every entrypoint of the second system at `url`.
pub fn versus_urls_at(url: &str) -> Vec<String> {
    let mut args = vec!["--versus".to_owned(), "urls".to_owned()];
    args.extend(entrypoints_at("--versus-url", url));
    args
}

/// `flag SERVICE=url` for each scenario's entrypoint.
fn entrypoints_at(flag: &str, url: &str) -> Vec<String> {
    Scenario::ALL
        .iter()
        .flat_map(|scenario| [flag.to_owned(), format!("{}={url}", scenario.entry().service)])
        .collect()
}

/// Reads `stderr` line by line (each passed on to this test's own), until `wanted` is one of them;
/// the rest is passed on by a thread of its own.
pub fn wait_for_line(stderr: ChildStderr, wanted: impl Fn(&str) -> bool) {
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("stderr reads");
        eprintln!("{line}");
        if wanted(&line) {
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    eprintln!("{line}");
                }
            });
            return;
        }
    }
    panic!("the process ended before it said what was waited for");
}

/// The ids of the running processes whose parent is `parent` and whose name is one of `names`.
pub fn children_named(parent: u32, names: &[&str]) -> Vec<i32> {
    let table = ProcessTable::read().expect("/proc");
    let found = table.children_named(parent, names);
    found
        .into_iter()
        .filter_map(|pid| i32::try_from(pid).ok())
        .collect()
}

/// S2's capacity profile, steps of `step_s` seconds, against a responder answering every request
/// after `delay_ms` (standing for every entrypoint), benched in a folder named for `test`: its
/// results.
pub fn s2_capacity_against_a_responder(test: &str, delay_ms: f64, step_s: &str) -> Results {
    let (_responder, url) = respond(delay_ms);
    let folder = BenchFolder::new(test);
    let mut args = vec!["--profile", "capacity", "--scenarios", "s2", "--warmup", "0"];
    let urls = urls_at(&url);
    args.extend(urls.iter().map(String::as_str));
    folder.run_bench(&args, &[("CAPACITY_STEP_S", step_s)]);
    folder.results()
}
