//! A private, throwaway PostgreSQL cluster under `target/stack/`, for a machine that has the server
//! installed but no database to give the stack.
//!
//! It is made with the installed `initdb` and run with `pg_ctl`, on 127.0.0.1 at its own port, with
//! compose's user and database, trust authentication (it listens on loopback only) and a socket in
//! its own folder. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (or
//! `nobody`), which then owns the folder.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::system::plan::DatabaseSpec;

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
}

impl Cluster {
    /// Creates the cluster in `dir` if it is not there, and starts it on `port`.
    pub fn start(dir: &Path, port: u16, spec: &DatabaseSpec) -> Result<Self> {
        let bin = server_binaries()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let cluster = Self {
            bin,
            dir,
            port,
            owner: unprivileged_owner()?,
        };
        cluster.hand_over(&cluster.dir)?;
        if !cluster.data().join("PG_VERSION").exists() {
            cluster.run(
                "initdb",
                &[
                    "-D".as_ref(),
                    cluster.data().as_os_str(),
                    "-U".as_ref(),
                    spec.user.as_ref(),
                    "--auth=trust".as_ref(),
                    "--encoding=UTF8".as_ref(),
                    "--no-sync".as_ref(),
                ],
            )?;
        }
        if !cluster.is_running() {
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c max_connections=200",
                cluster.dir.display()
            );
            cluster.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    cluster.data().as_os_str(),
                    "-l".as_ref(),
                    cluster.dir.join("postgres.log").as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            )?;
        }
        cluster.create_database(spec)?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id (the first line of `postmaster.pid`), whose children are the
    /// rest of the server.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
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

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("status")
            .output()
            .is_ok_and(|output| output.status.success())
    }

    fn create_database(&self, spec: &DatabaseSpec) -> Result<()> {
        let output = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                &spec.user,
                &spec.name,
            ])
            .output()
            .context("running createdb")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() || stderr.contains("already exists") {
            Ok(())
        } else {
            bail!("createdb {} failed: {stderr}", spec.name)
        }
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
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
        command.current_dir(&self.dir).env_remove("PGDATA");
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Gives `path` and everything in it to the user the server runs as.
    fn hand_over(&self, path: &Path) -> Result<()> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                self.hand_over(&entry?.path())?;
            }
        }
        Ok(())
    }
}

/// The folder of `initdb`, `pg_ctl` and `createdb`: `PG_BIN_DIR`, else the `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout, which keeps them off the `PATH`).
fn server_binaries() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|dir| {
        dir.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    on_path
        .into_iter()
        .chain(debian.into_iter().rev())
        .find(|dir| {
            ["initdb", "pg_ctl", "createdb"]
                .iter()
                .all(|tool| dir.join(tool).is_file())
        })
        .context(
            "no PostgreSQL server binaries (initdb, pg_ctl, createdb) found: install PostgreSQL \
             (apt-get install postgresql), set PG_BIN_DIR, or set DATABASE_URL to a running server",
        )
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
