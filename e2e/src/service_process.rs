//! One service's release binary run as its own process, as compose runs it: on a free port, with the
//! environment a test gives it and, if asked, under an open-file limit, as a container's `ulimit`.
//! It is killed when dropped.

use std::{net::SocketAddr, time::Duration};

use tokio::process::{Child, Command};

use crate::binaries::release_binary;

pub struct ServiceProcess {
    addr: SocketAddr,
    _child: Child,
}

impl ServiceProcess {
    /// Starts `name` with `env` and waits until it answers `/health`.
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_open_files(name, env, None).await
    }

    /// Starts `name` with `env`, its open-file limit (soft and hard) set to `open_files`.
    pub async fn start_with_open_files(name: &str, env: &[(&str, &str)], open_files: Option<u64>) -> Self {
        let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(err) => panic!("no free port: {err}"),
        };
        let mut command = Command::new(release_binary(name));
        command
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .kill_on_drop(true);
        if let Some(open_files) = open_files {
            // SAFETY: setrlimit is async-signal-safe, so it may run between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: open_files,
                        rlim_max: open_files,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => panic!("{name} did not start: {err}"),
        };
        let service = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _child: child,
        };
        service.wait_until_healthy(name).await;
        service
    }

    async fn wait_until_healthy(&self, name: &str) {
        let client = reqwest::Client::new();
        let health = self.url("/health");
        for _ in 0..100 {
            if client.get(&health).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} never answered {health}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Raises this process's soft open-file limit to at least `wanted`, so a test can hold more sockets
/// than the service it attacks may: within the hard limit, or beyond it when the process may raise
/// that too (as root). Returns the soft limit it ends with.
pub fn raise_own_open_file_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are handed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            panic!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if limit.rlim_cur >= wanted {
            return limit.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return wanted;
        }
        limit.rlim_cur = wanted.min(limit.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            panic!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    limit.rlim_cur
}
