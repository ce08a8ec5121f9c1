//! The public listener: `/ws` (token checked before the upgrade, then
//! [`super::connection`] serves the socket), history over HTTP, and the
//! browser console at `/`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::{ConnectInfo, Path, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::state::AppState;
use crate::auth::AuthError;
use crate::history::{HistoryQuery, DEFAULT_LIMIT, MAX_LIMIT};

/// The console loads only its own script and style, and talks only to
/// this server.
const CONSOLE_CSP: &str =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'";

/// Largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Frames a writer drains at once are gathered up to this size and written
/// with one `write()` at the flush that ends the batch (not one per frame).
const WRITE_BUFFER: usize = 8 * 1024;

/// The routes of the public listener.
pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(console_page))
        .route("/console.js", get(console_script))
        .route("/console.css", get(console_style))
        .route("/ws", get(upgrade))
        .route("/rooms/{room_id}/messages", get(history))
        .route(
            "/v1/rooms/{room_id}/messages",
            post(super::ingest::post_message)
                .layer(DefaultBodyLimit::max(super::ingest::MAX_BODY_BYTES)),
        )
        .route(
            "/v1/moderation/actions",
            post(super::ingest::post_action).layer(DefaultBodyLimit::max(
                crate::moderation::acting::MAX_REQUEST_BYTES,
            )),
        )
        .with_state(app)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn unauthorized(e: &AuthError) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(serde_json::json!({"error": e.to_string()})),
    )
        .into_response()
}

async fn upgrade(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let grant = match app.authenticate(&headers, query.token.as_deref()) {
        Ok(grant) => grant,
        Err(e) => return unauthorized(&e),
    };
    let Some(place) = app.addresses.admit(peer.ip()) else {
        app.metrics.refusals.with_label_values(&["address"]).inc();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(serde_json::json!({"error": "too many connections from this address"})),
        )
            .into_response();
    };
    // Small buffers: most connections are idle most of the time (the write
    // buffer is only allocated once something is written).
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            super::connection::serve(socket, grant, app).await;
            drop(place);
        })
}

async fn history(
    State(app): State<Arc<AppState>>,
    Path(room_id): Path<String>,
    Query(query): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Response {
    let grant = match app.authenticate(&headers, query.token.as_deref()) {
        Ok(grant) => grant,
        Err(e) => return unauthorized(&e),
    };
    if !grant.allows_room(&room_id) {
        app.metrics.refusals.with_label_values(&["room"]).inc();
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": "room not allowed by token", "code": 4403})),
        )
            .into_response();
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let before = query.before.unwrap_or(i64::MAX);
    match app
        .history
        .page(
            &room_id,
            before,
            query.before_id.as_deref(),
            limit,
            grant.sees_moderators(),
            |id| {
                app.moderation
                    .is_deleted(&room_id, crate::fanout::registry::id_hash(id))
            },
        )
        .await
    {
        Ok(page) => {
            app.metrics.history.with_label_values(&["ok"]).inc();
            Json(page).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "history query failed");
            app.metrics.history.with_label_values(&["error"]).inc();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"error": "history unavailable"})),
            )
                .into_response()
        }
    }
}

async fn console_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../console/index.html"),
    )
}

async fn console_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../console/console.js"),
    )
}

async fn console_style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../console/console.css"),
    )
}
