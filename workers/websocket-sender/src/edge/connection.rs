//! One player's or moderator's socket: a reader that handles client
//! operations, a writer that drains the connection's [`Outbox`], heartbeats,
//! token expiry, and recoveries that replay what the client missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use parley_shared::action::ActionRequest;
use parley_shared::metrics::now_ms;
use parley_shared::publish::{PublishRequest, Refusal};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::abuse::FrameBudget;
use super::state::AppState;
use crate::auth::{now_secs, Grant};
use crate::fanout::outbox::{CloseReason, Outbox, Queued, ALERT};
use crate::fanout::registry::{Subscribed, Subscriber};
use crate::history::ReplayRange;
use crate::protocol::{
    code, error_frame, moderated_frame, pong_frame, publish_error_frame, published_frame,
    subscribed_alerts_frame, subscribed_frame, unsubscribed_frame, ClientOp, Pos,
};

/// How long a closing connection may take to flush its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest room id (docs/contracts.md).
const MAX_ROOM_ID: usize = 128;

/// Serves one upgraded socket until it closes.
pub async fn serve(socket: WebSocket, grant: Grant, app: Arc<AppState>) {
    let conn = app.next_conn();
    let grant = Arc::new(grant);
    let outbox = Arc::new(Outbox::new(app.limits.send_queue_bytes));
    let metrics = app.metrics.clone();
    metrics.connections.inc();
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(
        sink,
        Arc::clone(&outbox),
        app.clone(),
        app.limits.heartbeat,
    ));
    let mut session = Session {
        conn,
        grant: Arc::clone(&grant),
        subscriber: Subscriber {
            conn,
            outbox: Arc::clone(&outbox),
            sees_moderators: grant.sees_moderators(),
            user: Arc::from(grant.user.as_str()),
        },
        rooms: HashMap::new(),
        budget: FrameBudget::new(
            app.limits.client_frames_per_sec,
            app.limits.client_frame_burst,
            std::time::Instant::now(),
        ),
        unacked: Arc::new(AtomicUsize::new(0)),
        app: Arc::clone(&app),
    };
    // The first reason wins: a reason the server set meanwhile (a slow
    // reader, a failed recovery) stays.
    outbox.close(session.read_loop(stream).await);
    session.leave_all();
    let code = match tokio::time::timeout(CLOSE_TIMEOUT, writer).await {
        Ok(Ok(code)) => code,
        _ => outbox.closed().map_or(code::ABNORMAL, |r| r.code),
    };
    metrics
        .disconnects
        .with_label_values(&[&code::label(code)])
        .inc();
    metrics.connections.dec();
}

struct Session {
    conn: u64,
    grant: Arc<Grant>,
    subscriber: Subscriber,
    /// Subscribed rooms, with the task still recovering each (if any).
    rooms: HashMap<String, Option<JoinHandle<()>>>,
    /// Frames this client may still send.
    budget: FrameBudget,
    /// Publishes waiting for Kafka's acknowledgement.
    unacked: Arc<AtomicUsize>,
    app: Arc<AppState>,
}

impl Session {
    /// Reads client frames until the client leaves or the server closes it;
    /// returns why the connection ends.
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) -> CloseReason {
        let heartbeat = self.app.limits.heartbeat;
        let expires_in = Duration::from_secs(self.grant.expires_at.saturating_sub(now_secs()));
        let expiry = tokio::time::sleep(expires_in);
        tokio::pin!(expiry);
        // A peer silent for two heartbeats is gone (idle connections cost
        // no wake-ups: one timer, moved on activity).
        let silence = tokio::time::sleep(heartbeat * 2);
        tokio::pin!(silence);
        let outbox = Arc::clone(&self.subscriber.outbox);
        let mut shutdown = self.app.shutdown.clone();
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let now = Instant::now();
                    silence.as_mut().reset(now + heartbeat * 2);
                    if matches!(frame, Some(Ok(_))) && !self.budget.take(now.into_std()) {
                        self.app.metrics.refusals.with_label_values(&["rate"]).inc();
                        return CloseReason { code: code::TOO_MANY, reason: "rate limit" };
                    }
                    match frame {
                        Some(Ok(Message::Text(text))) => self.handle(text.as_str()),
                        Some(Ok(Message::Binary(_))) => {
                            self.reply(error_frame(code::BAD_REQUEST, "frames are JSON text", None));
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(frame))) => return CloseReason {
                            code: frame.map_or(code::NO_STATUS, |f| f.code),
                            reason: "client closed",
                        },
                        Some(Err(_)) | None => return CloseReason {
                            code: code::ABNORMAL,
                            reason: "connection lost",
                        },
                    }
                }
                () = &mut expiry => {
                    return CloseReason { code: code::TOKEN_EXPIRED, reason: "token expired" };
                }
                // Closed by the server meanwhile: that reason stays.
                () = outbox.wait_closed() => return CloseReason { code: code::ABNORMAL, reason: "" },
                () = &mut silence => {
                    return CloseReason { code: code::GOING_AWAY, reason: "heartbeat timeout" };
                }
                _ = shutdown.changed() => {
                    return CloseReason { code: code::GOING_AWAY, reason: "server shutting down" };
                }
            }
        }
    }

    fn reply(&self, frame: Utf8Bytes) {
        self.subscriber.outbox.push_forced(frame, 0);
    }

    fn refuse(&self, code: u16, reason: &str, room: Option<&str>, label: &str) {
        self.app.metrics.refusals.with_label_values(&[label]).inc();
        self.reply(error_frame(code, reason, room));
    }

    fn handle(&mut self, text: &str) {
        let op = match ClientOp::parse(text) {
            Ok(op) => op,
            Err(reason) => {
                if let Some(key) = ClientOp::client_msg_id_of(text) {
                    self.app
                        .metrics
                        .refusals
                        .with_label_values(&["bad_frame"])
                        .inc();
                    let refusal = Refusal::Invalid(reason);
                    return self.reply(publish_error_frame(&refusal, &key, None));
                }
                return self.refuse(code::BAD_REQUEST, &reason, None, "bad_frame");
            }
        };
        match op {
            ClientOp::Subscribe { room_id, since } => self.subscribe(room_id, since),
            ClientOp::Unsubscribe { room_id } => {
                if self.leave(&room_id) {
                    self.app.metrics.subscriptions.dec();
                }
                self.reply(unsubscribed_frame(&room_id));
            }
            ClientOp::SubscribeAlerts => {
                if !self.grant.sees_moderators() {
                    return self.refuse(
                        code::FORBIDDEN,
                        "alerts are for moderators",
                        None,
                        "alerts",
                    );
                }
                self.app.alerts.add(
                    self.conn,
                    Arc::clone(&self.subscriber.outbox),
                    Arc::clone(&self.grant),
                );
                self.reply(subscribed_alerts_frame());
            }
            ClientOp::Ping => self.reply(pong_frame()),
            ClientOp::Publish(request) => self.publish(*request),
            ClientOp::Moderate(request) => self.moderate(*request),
        }
    }

    /// Starts a publish now (publishes keep the client's order) and answers
    /// it from a task once Kafka acknowledged it.
    fn publish(&mut self, request: PublishRequest) {
        let key = request.client_msg_id.clone();
        let Some(room) = request.room_id.clone() else {
            let refusal = Refusal::Invalid("room_id is required".to_owned());
            return self.reply(publish_error_frame(&refusal, &key, None));
        };
        let publishing = Arc::clone(&self.app.publishing);
        if self.unacked.load(Ordering::Relaxed) >= publishing.limits().max_unacked {
            let refusal = Refusal::RateLimited {
                retry_after_ms: 100,
            };
            return self.reply(publish_error_frame(&refusal, &key, Some(&room)));
        }
        let started = publishing.start(&self.grant, &room, request);
        self.unacked.fetch_add(1, Ordering::Relaxed);
        let (outbox, unacked) = (
            Arc::clone(&self.subscriber.outbox),
            Arc::clone(&self.unacked),
        );
        tokio::spawn(async move {
            let frame = match publishing.finish(started).await {
                Ok(done) => published_frame(&key, &done.message_id, done.pos),
                Err(refusal) => publish_error_frame(&refusal, &key, Some(&room)),
            };
            unacked.fetch_sub(1, Ordering::Relaxed);
            outbox.push_forced(frame, 0);
        });
    }

    /// Takes a moderation action and answers `moderated` (or the refusal)
    /// from a task once Kafka acknowledged it.
    fn moderate(&mut self, request: ActionRequest) {
        let (acting, grant) = (Arc::clone(&self.app.acting), Arc::clone(&self.grant));
        let outbox = Arc::clone(&self.subscriber.outbox);
        let room = request.room_id.clone();
        tokio::spawn(async move {
            let frame = match acting.act(&grant, request).await {
                Ok(action_id) => moderated_frame(&action_id),
                Err(refusal) => error_frame(refusal.code(), &refusal.to_string(), Some(&room)),
            };
            outbox.push_forced(frame, 0);
        });
    }

    fn subscribe(&mut self, room_id: String, since: Option<String>) {
        let room = Some(room_id.as_str());
        if room_id.is_empty() || room_id.chars().count() > MAX_ROOM_ID {
            return self.refuse(
                code::BAD_REQUEST,
                "room_id must be 1–128 characters",
                room,
                "bad_frame",
            );
        }
        if !self.grant.allows_room(&room_id) {
            return self.refuse(code::FORBIDDEN, "room not allowed by token", room, "room");
        }
        if self
            .app
            .moderation
            .banned(&room_id, &self.grant.user, now_ms())
        {
            return self.refuse(code::FORBIDDEN, "banned from this room", room, "banned");
        }
        let since = match since.as_deref().map(str::parse::<Pos>).transpose() {
            Ok(since) => since,
            Err(reason) => return self.refuse(code::BAD_REQUEST, &reason, room, "bad_frame"),
        };
        if self.leave(&room_id) {
            self.app.metrics.subscriptions.dec();
        } else if self.rooms.len() >= self.app.limits.max_subscriptions {
            return self.refuse(code::TOO_MANY, "too many subscriptions", room, "limit");
        }
        self.app.metrics.subscriptions.inc();
        // The common case completes here; gaps and a not-yet-started
        // partition continue in a task.
        let subscribed = self
            .app
            .registry
            .subscribe(&room_id, &self.subscriber, since, true);
        let task = match subscribed {
            Subscribed::Live { .. } => {
                if since.is_some() {
                    self.app
                        .metrics
                        .recoveries
                        .with_label_values(&["buffer"])
                        .inc();
                }
                None
            }
            Subscribed::Gap { .. } | Subscribed::NotReady => Some(tokio::spawn(recover(
                Arc::clone(&self.app),
                room_id.clone(),
                self.subscriber.clone(),
                since,
                subscribed,
            ))),
        };
        self.rooms.insert(room_id, task);
    }

    /// Leaves a room; true if it was subscribed.
    fn leave(&mut self, room_id: &str) -> bool {
        match self.rooms.remove(room_id) {
            Some(task) => {
                if let Some(task) = task {
                    task.abort();
                }
                self.app.registry.unsubscribe(room_id, self.conn);
                true
            }
            None => false,
        }
    }

    fn leave_all(&mut self) {
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.leave(&room);
            self.app.metrics.subscriptions.dec();
        }
        self.app.alerts.remove(self.conn);
    }
}

/// Finishes a subscription the buffer could not serve at once: waits for
/// the live read to start, replays gaps from Kafka, then joins live.
async fn recover(
    app: Arc<AppState>,
    room: String,
    subscriber: Subscriber,
    mut since: Option<Pos>,
    mut state: Subscribed,
) {
    let outbox = Arc::clone(&subscriber.outbox);
    let deadline = Instant::now() + app.limits.recovery_timeout;
    let mut announced = false;
    let mut used_kafka = false;
    loop {
        match state {
            Subscribed::Live { .. } => {
                if since.is_some() {
                    let outcome = if used_kafka { "kafka" } else { "buffer" };
                    app.metrics.recoveries.with_label_values(&[outcome]).inc();
                }
                return;
            }
            Subscribed::NotReady => {
                if Instant::now() > deadline {
                    app.metrics.recoveries.with_label_values(&["failed"]).inc();
                    outbox.push_forced(
                        error_frame(code::RECOVERY_FAILED, "not ready; retry", Some(&room)),
                        0,
                    );
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Subscribed::Gap {
                partition,
                from,
                until,
            } => {
                if !announced {
                    match app.replay.low_watermark(partition).await {
                        Ok(low) if low > from => {
                            // Truly gone: say so, and go live from now.
                            app.metrics.recoveries.with_label_values(&["gone"]).inc();
                            since = None;
                            state = app.registry.subscribe(&room, &subscriber, None, true);
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => return fail(&app, &outbox, &room, &e.to_string()),
                    }
                    if let Some(since) = since {
                        outbox.push_forced(subscribed_frame(&room, true, since), 0);
                    }
                    announced = true;
                }
                used_kafka = true;
                let range = ReplayRange {
                    room: room.clone(),
                    partition,
                    from,
                    until,
                    sees_moderators: subscriber.sees_moderators,
                };
                if let Err(e) = app.replay.replay(range, Arc::clone(&outbox)).await {
                    return fail(&app, &outbox, &room, &e.to_string());
                }
                since = Some(Pos {
                    partition,
                    offset: until - 1,
                });
            }
        }
        state = app
            .registry
            .subscribe(&room, &subscriber, since, !announced);
    }
}

/// A recovery failed midway: the client must reconnect with the last `pos`
/// it saw (it loses nothing).
fn fail(app: &AppState, outbox: &Outbox, room: &str, reason: &str) {
    tracing::warn!(room, reason, "recovery failed");
    app.metrics.recoveries.with_label_values(&["failed"]).inc();
    outbox.close(CloseReason {
        code: code::RECOVERY_FAILED,
        reason: "recovery failed; reconnect with since",
    });
}

/// Writes queued frames and pings until the outbox closes; returns the
/// close code sent.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    app: Arc<AppState>,
    heartbeat: Duration,
) -> u16 {
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut batch: Vec<Queued> = Vec::new();
    loop {
        tokio::select! {
            () = outbox.ready() => {}
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return 1006;
                }
            }
        }
        if let Some(reason) = outbox.drain_into(&mut batch) {
            // After a client's close frame the reply is already queued and
            // a second one is refused: closing the sink flushes the reply.
            let frame = CloseFrame {
                code: reason.code,
                reason: Utf8Bytes::from_static(reason.reason),
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                if reason.on_wire() {
                    let _ = sink.send(Message::Close(Some(frame))).await;
                }
                let _ = sink.close().await;
            })
            .await;
            return reason.code;
        }
        if batch.is_empty() {
            continue;
        }
        let now = now_ms();
        let (mut messages, mut alerts, mut controls, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        for queued in batch.drain(..) {
            bytes += queued.frame.len() as u64;
            if queued.sent_at == ALERT {
                alerts += 1;
            } else if queued.sent_at <= 0 {
                controls += 1;
            } else {
                messages += 1;
                app.metrics
                    .delivery_latency
                    .observe((now - queued.sent_at).max(0) as f64 / 1000.0);
            }
            if sink.feed(Message::Text(queued.frame)).await.is_err() {
                return 1006;
            }
        }
        if sink.flush().await.is_err() {
            return 1006;
        }
        app.metrics.bytes.inc_by(bytes);
        let [message_frames, alert_frames, control_frames] = &app.metrics.frames_by_kind;
        message_frames.inc_by(messages);
        alert_frames.inc_by(alerts);
        control_frames.inc_by(controls);
    }
}
