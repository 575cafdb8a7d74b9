//! One service served in the test process, which the test can stop and start again on its port.

use std::{net::SocketAddr, time::Duration};

use axum::Router;
use common::{downstream::Timeouts, Downstream};
use reqwest::Url;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub struct RunningService {
    name: &'static str,
    addr: SocketAddr,
    app: Router,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningService {
    /// Serves `app` on a free loopback port.
    pub async fn start(name: &'static str, app: Router) -> Self {
        let listener = bind(name, "127.0.0.1:0").await;
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("{name} has no address: {err}"),
        };
        let mut service = Self {
            name,
            addr,
            app,
            shutdown: None,
            task: None,
        };
        service.serve(listener);
        service
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn url(&self) -> Url {
        match Url::parse(&format!("http://{}/", self.addr)) {
            Ok(url) => url,
            Err(err) => panic!("{}: {err}", self.addr),
        }
    }

    pub fn url_for(&self, path: &str) -> Url {
        match self.url().join(path) {
            Ok(url) => url,
            Err(err) => panic!("bad path {path}: {err}"),
        }
    }

    /// How another service calls this one.
    pub fn as_downstream(&self, client: &reqwest::Client, timeouts: Timeouts) -> Downstream {
        Downstream::new(self.name, self.url(), client.clone(), timeouts)
    }

    /// Stops accepting, lets requests in flight finish, and closes the port.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(15), task).await.is_err() {
                panic!("{} did not stop within 15 s", self.name);
            }
        }
    }

    /// Serves the same app again on the same port.
    pub async fn restart(&mut self) {
        let app = self.app.clone();
        self.restart_with(app).await;
    }

    /// Serves `app` in this service's place, on its port.
    pub async fn restart_with(&mut self, app: Router) {
        self.stop().await;
        self.app = app;
        let listener = bind(self.name, &self.addr.to_string()).await;
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        self.shutdown = Some(shutdown);
        self.task = Some(tokio::spawn(common::serve::serve(
            listener,
            self.app.clone(),
            common::limits::Limits::default(),
            stopped,
        )));
    }
}

/// Listens on `addr`; a port this process just released may need a moment before it can be bound again.
pub(crate) async fn bind(name: &str, addr: &str) -> TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} could not listen on {addr}");
}
