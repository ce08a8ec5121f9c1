//! HTTP ingest: `POST /v1/rooms/{room_id}/messages` (docs/contracts.md,
//! "Publishing"), the same publish path as the WebSocket `publish` op, and
//! `POST /v1/moderation/actions` ("Moderation actions"), the same action
//! path as the `moderate` op.
//! Answers 201 `{"message_id","pos"}` after Kafka's acknowledgement;
//! errors are JSON `{"code","reason"}` with the contract's status.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parley_shared::publish::{PublishRequest, Refusal};

use super::state::AppState;

/// Largest request body read (a bigger one is refused with 413 unread).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Handles one ingest request.
pub async fn post_message(
    State(app): State<Arc<AppState>>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let grant = match authenticated(&app, &headers) {
        Ok(grant) => grant,
        Err(response) => return *response,
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let refusal = Refusal::TooLarge(format!(
                "request body refused ({}); at most {MAX_BODY_BYTES} bytes",
                rejection.body_text()
            ));
            return refused(&refusal);
        }
    };
    let mut request: PublishRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return refused(&Refusal::Invalid(format!("invalid JSON body: {e}"))),
    };
    // The path names the room.
    request.room_id = None;
    match app.publishing.publish(&grant, &room_id, request).await {
        Ok(published) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "message_id": published.message_id,
                "pos": published.pos.to_string(),
            })),
        )
            .into_response(),
        Err(refusal) => refused(&refusal),
    }
}

/// Handles `POST /v1/moderation/actions`: 201 `{"action_id"}` after
/// Kafka's acknowledgement; refusals as for publishes (403 for a viewer).
pub async fn post_action(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let grant = match authenticated(&app, &headers) {
        Ok(grant) => grant,
        Err(response) => return *response,
    };
    let request = body
        .map_err(|rejection| {
            Refusal::TooLarge(format!("request body refused ({})", rejection.body_text()))
        })
        .and_then(|body| {
            std::str::from_utf8(&body)
                .map_err(|_| Refusal::Invalid("the body is not UTF-8 JSON".into()))
                .and_then(crate::moderation::Acting::parse)
        });
    let request = match request {
        Ok(request) => request,
        Err(refusal) => return refused(&refusal),
    };
    match app.acting.act(&grant, request).await {
        Ok(action_id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "action_id": action_id })),
        )
            .into_response(),
        Err(refusal) => refused(&refusal),
    }
}

/// The bearer token's grant, or the 401 answer (code 4401).
fn authenticated(app: &AppState, headers: &HeaderMap) -> Result<crate::auth::Grant, Box<Response>> {
    app.authenticate(headers, None).map_err(|e| {
        let mut response = error(StatusCode::UNAUTHORIZED, 4401, &e.to_string());
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Box::new(response)
    })
}

/// The response for a refused publish.
fn refused(refusal: &Refusal) -> Response {
    let status =
        StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error(status, refusal.code(), &refusal.to_string());
    if let Some(ms) = refusal.retry_after_ms() {
        let seconds = ms.div_ceil(1000).max(1);
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

fn error(status: StatusCode, code: u16, reason: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"code": code, "reason": reason})),
    )
        .into_response()
}
