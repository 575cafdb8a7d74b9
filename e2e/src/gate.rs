//! A TCP relay between the services and PostgreSQL that a test can cut and reconnect: the database
//! "lost while running" or "not up yet", without stopping the PostgreSQL server other tests share.
//! Cutting it closes the listener and every relayed connection, as a dead server would.

use std::net::SocketAddr;

use crate::running::bind;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub struct DbGate {
    addr: SocketAddr,
    upstream_port: u16,
    cut: Option<watch::Sender<bool>>,
}

impl DbGate {
    /// A gate on a free port, relaying to the PostgreSQL server on `upstream_port`.
    pub async fn open(upstream_port: u16) -> Self {
        let listener = bind("db gate", "127.0.0.1:0").await;
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("the gate has no address: {err}"),
        };
        let mut gate = Self {
            addr,
            upstream_port,
            cut: None,
        };
        gate.relay(listener);
        gate
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes the listener and every connection through it.
    pub fn cut(&mut self) {
        if let Some(cut) = self.cut.take() {
            let _ = cut.send(true);
        }
    }

    /// Listens again, on the same port.
    pub async fn reconnect(&mut self) {
        let listener = bind("db gate", &self.addr.to_string()).await;
        self.relay(listener);
    }

    fn relay(&mut self, listener: TcpListener) {
        let (cut, is_cut) = watch::channel(false);
        self.cut = Some(cut);
        let upstream = SocketAddr::from(([127, 0, 0, 1], self.upstream_port));
        tokio::spawn(async move {
            let mut until_cut = is_cut.clone();
            loop {
                tokio::select! {
                    _ = until_cut.changed() => return,
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(relay_connection(client, upstream, is_cut.clone()));
                        }
                    }
                }
            }
        });
    }
}

async fn relay_connection(mut client: TcpStream, upstream: SocketAddr, mut is_cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = is_cut.changed() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

impl Drop for DbGate {
    fn drop(&mut self) {
        self.cut();
    }
}
