//! The `server` role: the crate under test on its own runtime (one thread by
//! default), driven by the `bench` parent over stdin/stdout lines:
//!
//! - child → `ready <port>` once listening on 127.0.0.1;
//! - parent → `go`: broadcast at the configured rate and duration, then
//!   child → `sent <messages> <seconds> <dropped> <members>`;
//! - parent → `quit` (or closing stdin): exit.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

use crate::ws_crates::config::{ServerKind, Settings};
use crate::ws_crates::error::BenchError;
use crate::ws_crates::hub::Hub;
use crate::ws_crates::{axum_server, fws_server};

/// Largest client frame accepted (websocket-sender's limit).
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Write buffer of the `-buffered` variants, per connection (tokio's
/// `BufWriter` default).
pub const WRITE_BUFFER: usize = 8 * 1024;
/// Pending connections the listener queues during the ramp.
const BACKLOG: u32 = 4096;
/// The child exits by itself after this long, whatever the parent does.
const LIFETIME_BEYOND_RUN: Duration = Duration::from_secs(600);

/// What the socket code of either crate shares.
#[derive(Debug)]
pub struct Shared {
    /// The broadcast.
    pub hub: Hub,
    /// Per-connection queue bound in bytes.
    pub queue_bytes: usize,
    /// Ping interval.
    pub heartbeat: Duration,
}

/// The runtime of the server: current-thread for 1 thread (everything on
/// one core), else a multi-thread runtime with exactly `threads` workers.
pub fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, BenchError> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .build()
        .map_err(BenchError::setup("build the runtime"))
}

/// Runs the server role until told to quit.
pub fn run(settings: &Settings) -> Result<(), BenchError> {
    let runtime = runtime(settings.server_threads)?;
    let result = runtime.block_on(serve_and_obey(settings));
    // The stdin reader is a blocking thread that may never return.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

fn listen() -> Result<TcpListener, BenchError> {
    let socket = TcpSocket::new_v4().map_err(BenchError::setup("open a socket"))?;
    socket
        .set_reuseaddr(true)
        .map_err(BenchError::setup("set SO_REUSEADDR"))?;
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(BenchError::setup("bind 127.0.0.1"))?;
    socket
        .listen(BACKLOG)
        .map_err(BenchError::setup("listen on 127.0.0.1"))
}

fn say(line: &str) -> Result<(), BenchError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(BenchError::setup("write to the parent"))
}

async fn serve_and_obey(settings: &Settings) -> Result<(), BenchError> {
    let listener = listen()?;
    let port = listener
        .local_addr()
        .map_err(BenchError::setup("read the bound port"))?
        .port();
    let shared = Arc::new(Shared {
        hub: Hub::new(),
        queue_bytes: settings.queue_bytes,
        heartbeat: settings.heartbeat,
    });
    let server = match settings.server {
        ServerKind::Axum => tokio::spawn(axum_server::serve(listener, Arc::clone(&shared), 0)),
        ServerKind::AxumBuffered => tokio::spawn(axum_server::serve(
            listener,
            Arc::clone(&shared),
            WRITE_BUFFER,
        )),
        ServerKind::Fastwebsockets => {
            tokio::spawn(fws_server::serve(listener, Arc::clone(&shared), None))
        }
        ServerKind::FastwebsocketsBuffered => tokio::spawn(fws_server::serve(
            listener,
            Arc::clone(&shared),
            Some(WRITE_BUFFER),
        )),
    };
    say(&format!("ready {port}"))?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let lifetime = tokio::time::sleep(settings.duration * 4 + LIFETIME_BEYOND_RUN);
    tokio::pin!(lifetime);
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            () = &mut lifetime => break,
        };
        match line.as_ref().map(|l| l.as_deref().map(str::trim)) {
            Ok(Some("go")) => {
                let sent = shared
                    .hub
                    .broadcast(settings.rate, settings.duration, settings.payload_bytes)
                    .await;
                say(&format!(
                    "sent {} {:.6} {} {}",
                    sent.messages, sent.seconds, sent.dropped, sent.members
                ))?;
            }
            Ok(Some("quit")) | Ok(None) | Err(_) => break,
            Ok(Some(_)) => {}
        }
    }
    server.abort();
    Ok(())
}
