//! A TCP proxy a test puts between Steward and a server it calls (e.g.
//! `STEWARD_SANDBOX_INTERNAL_URL` pointing at the proxy instead of the
//! sandbox), to stage network outages the server cannot produce itself:
//!
//! - [`TcpProxy::forward`]: connections are passed through to the upstream;
//! - [`TcpProxy::refuse`]: the port is closed, so connecting is refused, and
//!   every open connection is cut;
//! - [`TcpProxy::hold`]: connections are accepted and then left unanswered
//!   (the caller's timeout runs out); open connections are cut.
//!
//! Leaving `hold` cuts the held connections too. The proxy listens on the
//! same port throughout (rebinding it after `refuse`), so the URL stays valid.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Refuse,
    Hold,
}

struct Shared {
    upstream: Mutex<Option<SocketAddr>>,
    mode: Mutex<Mode>,
    /// Open connections (forwarded or held), cut on a mode change.
    connections: Mutex<Vec<JoinHandle<()>>>,
    accepted: AtomicU64,
    held: AtomicU64,
    /// Held connections the caller closed before the proxy did: it gave up waiting.
    given_up: AtomicU64,
}

/// The proxy; stops listening and cuts every connection when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// A proxy on a fresh loopback port, forwarding once [`TcpProxy::upstream`] is set.
    pub async fn start() -> TcpProxy {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(None),
            mode: Mutex::new(Mode::Forward),
            connections: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            held: AtomicU64::new(0),
            given_up: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        TcpProxy { addr, shared, listener: Mutex::new(Some(task)) }
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where connections are forwarded to.
    pub fn upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = Some(upstream);
    }

    /// Passes connections through again (listening again after [`TcpProxy::refuse`]).
    pub async fn forward(&self) {
        self.switch(Mode::Forward).await;
    }

    /// Closes the port (connecting is refused) and cuts open connections.
    pub async fn refuse(&self) {
        self.switch(Mode::Refuse).await;
    }

    /// Accepts connections and never answers them; cuts open connections.
    pub async fn hold(&self) {
        self.switch(Mode::Hold).await;
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections held unanswered so far.
    pub fn held(&self) -> u64 {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Held connections their caller closed (its timeout ran out).
    pub fn given_up(&self) -> u64 {
        self.shared.given_up.load(Ordering::SeqCst)
    }

    async fn switch(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        for connection in self.shared.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
        let mut listener = self.listener.lock().unwrap().take();
        match (mode, listener.take()) {
            (Mode::Refuse, Some(task)) => {
                task.abort();
                let _ = task.await;
            }
            (Mode::Refuse, None) => {}
            (_, Some(task)) => listener = Some(task),
            (_, None) => {
                let bound = bind(self.addr).await;
                listener = Some(tokio::spawn(accept(bound, self.shared.clone())));
            }
        }
        *self.listener.lock().unwrap() = listener;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().unwrap().take() {
            task.abort();
        }
        for connection in self.shared.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

/// Binds `addr` with `SO_REUSEADDR`, retrying briefly while the old socket lets go.
async fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        match socket.bind(addr).and_then(|()| socket.listen(128)) {
            Ok(listener) => return listener,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "rebinding the proxy on {addr}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let mode = *shared.mode.lock().unwrap();
        let upstream = *shared.upstream.lock().unwrap();
        let connection = match (mode, upstream) {
            (Mode::Forward, Some(upstream)) => tokio::spawn(pass(client, upstream)),
            (Mode::Hold, _) => {
                shared.held.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(hold(client, shared.clone()))
            }
            // No upstream yet, or refusing (a connection that raced the close).
            _ => continue,
        };
        let mut connections = shared.connections.lock().unwrap();
        connections.retain(|c| !c.is_finished());
        connections.push(connection);
    }
}

async fn pass(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// Reads and discards what the caller sends, answering nothing, until it closes.
async fn hold(mut client: TcpStream, shared: Arc<Shared>) {
    let mut buffer = [0u8; 4096];
    loop {
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                shared.given_up.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(_) => {}
        }
    }
}
