//! The broadcast served with axum 0.8 `extract::ws` (tokio-tungstenite),
//! configured and driven as websocket-sender does: small read buffer,
//! `feed` every queued frame then one `flush`, a ping timer per writer.
//! websocket-sender sets no write buffer (`write_buffer_size(0)`), so each
//! `feed` is a write; `axum-buffered` gives it one, so a batch is one write.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::ws_crates::frame::SUBSCRIBED;
use crate::ws_crates::outbox::Outbox;
use crate::ws_crates::server::{Shared, MAX_CLIENT_FRAME};

/// Serves `/ws` on `listener` until the runtime stops, each socket with a
/// write buffer of `write_buffer` bytes.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    write_buffer: usize,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/ws", get(upgrade))
        .with_state((shared, write_buffer));
    // Same socket options as the fastwebsockets server.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn upgrade(
    State((shared, write_buffer)): State<(Arc<Shared>, usize)>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(write_buffer)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve_socket(socket, shared))
}

/// One connection: joins the broadcast, writes from its outbox, reads
/// until the client leaves.
async fn serve_socket(socket: WebSocket, shared: Arc<Shared>) {
    let outbox = Arc::new(Outbox::new(shared.queue_bytes));
    // The subscription reply goes first, then the connection joins.
    outbox.push(Utf8Bytes::from_static(SUBSCRIBED));
    let id = shared.hub.join(Arc::clone(&outbox));
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, Arc::clone(&outbox), shared.heartbeat));
    read_loop(stream).await;
    shared.hub.leave(id);
    outbox.close();
    let _ = writer.await;
}

async fn read_loop(mut stream: SplitStream<WebSocket>) {
    while let Some(Ok(message)) = stream.next().await {
        if let Message::Close(_) = message {
            break;
        }
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    heartbeat: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = outbox.ready() => {}
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
        if !outbox.drain_into(&mut batch) {
            let _ = sink.close().await;
            return;
        }
        if batch.is_empty() {
            continue;
        }
        for frame in batch.drain(..) {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
