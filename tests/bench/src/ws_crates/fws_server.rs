//! The broadcast served with fastwebsockets over a bare hyper 1 HTTP/1
//! server, shaped like [`crate::ws_crates::axum_server`]: the same outbox, a reader
//! and a writer task per socket (fastwebsockets' `split`), the same ping
//! timer, the same limits. fastwebsockets writes each frame straight to
//! the socket (there is no `feed`), so a batch costs one write per frame;
//! with a write buffer (`fastwebsockets-buffered`) the batch is flushed in
//! one write, as tungstenite's `feed` + `flush` do.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use fastwebsockets::{upgrade, Frame, OpCode, Payload, WebSocketError, WebSocketRead};
use fastwebsockets::{WebSocket, WebSocketWrite};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, BufWriter, ReadHalf};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::ws_crates::frame::SUBSCRIBED;
use crate::ws_crates::outbox::Outbox;
use crate::ws_crates::server::{Shared, MAX_CLIENT_FRAME};

type Io = TokioIo<hyper::upgrade::Upgraded>;

/// Accepts connections on `listener` until the runtime stops; each socket
/// writes through a buffer of `write_buffer` bytes if given.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    write_buffer: Option<usize>,
) -> std::io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of fds or a reset during accept: wait a little, as
            // axum::serve does.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service =
                service_fn(move |req| upgrade_request(req, Arc::clone(&shared), write_buffer));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn upgrade_request(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    write_buffer: Option<usize>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if req.uri().path() != "/ws" || !upgrade::is_upgrade_request(&req) {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let (response, upgraded) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        if let Ok(socket) = upgraded.await {
            serve_socket(socket, shared, write_buffer).await;
        }
    });
    Ok(response)
}

/// One connection: joins the broadcast, writes from its outbox, reads
/// until the client leaves.
async fn serve_socket(mut socket: WebSocket<Io>, shared: Arc<Shared>, write_buffer: Option<usize>) {
    socket.set_max_message_size(MAX_CLIENT_FRAME);
    let outbox = Arc::new(Outbox::new(shared.queue_bytes));
    outbox.push(Utf8Bytes::from_static(SUBSCRIBED));
    let id = shared.hub.join(Arc::clone(&outbox));
    let (queue, heartbeat) = (Arc::clone(&outbox), shared.heartbeat);
    let (reader, writer) = match write_buffer {
        None => {
            let (reader, writer) = socket.split(tokio::io::split);
            (reader, tokio::spawn(write_loop(writer, queue, heartbeat)))
        }
        Some(capacity) => {
            let (reader, writer) = socket.split(|io| {
                let (r, w) = tokio::io::split(io);
                (r, BufWriter::with_capacity(capacity, w))
            });
            (reader, tokio::spawn(write_loop(writer, queue, heartbeat)))
        }
    };
    read_loop(reader).await;
    shared.hub.leave(id);
    outbox.close();
    let _ = writer.await;
}

async fn read_loop(mut reader: WebSocketRead<ReadHalf<Io>>) {
    // Replies the protocol obliges (pong, close echo) are skipped: the
    // benchmark's clients never ping, and a closing client is gone anyway.
    let mut obligated = |_frame: Frame<'_>| async { Ok::<(), WebSocketError>(()) };
    while let Ok(frame) = reader.read_frame(&mut obligated).await {
        if frame.opcode == OpCode::Close {
            break;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: WebSocketWrite<W>,
    outbox: Arc<Outbox>,
    heartbeat: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = outbox.ready() => {}
            _ = ping.tick() => {
                let frame = Frame::new(true, OpCode::Ping, None, Payload::Borrowed(&[]));
                if writer.write_frame(frame).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
        }
        if !outbox.drain_into(&mut batch) {
            let _ = writer.write_frame(Frame::close(1001, b"")).await;
            let _ = writer.flush().await;
            return;
        }
        if batch.is_empty() {
            continue;
        }
        for frame in batch.drain(..) {
            let text = Frame::text(Payload::Borrowed(frame.as_str().as_bytes()));
            if writer.write_frame(text).await.is_err() {
                return;
            }
        }
        // A no-op on the bare socket; one write per batch when buffered.
        if writer.flush().await.is_err() {
            return;
        }
    }
}
