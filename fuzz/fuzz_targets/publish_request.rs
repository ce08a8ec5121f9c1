//! Arbitrary bytes as a publish: the HTTP ingest body and the WebSocket
//! `publish` frame (the same text with an `op`), through the one builder
//! every edge uses, for a player and for a game server.
//!
//! Checks: no panic; a refusal has one of the contract's codes and
//! statuses and its `error` frame is JSON; a built message passes the
//! decoder every worker uses (same key, same fields back), carries the
//! token's identity for a player (never the body's), and its id is the
//! one derived from (`sub`, `client_msg_id`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::is_json;
use parley_shared::publish::{
    build_message, message_id_for, PublishRequest, Publisher, PublisherRole,
};
use parley_shared::{GameMessage, MessageKind, Visibility};
use websocket_sender::protocol::{publish_error_frame, ClientOp};

const CODES: [(u16, u16); 7] = [
    (4400, 400),
    (4400, 413),
    (4403, 403),
    (4422, 422),
    (4423, 423),
    (4429, 429),
    (4503, 503),
];

fn check(request: &PublishRequest, role: PublisherRole) {
    let publisher = Publisher {
        sub: "fuzz-user".to_owned(),
        game: Some("fuzz-game".to_owned()),
        role,
    };
    let room = request
        .room_id
        .clone()
        .unwrap_or_else(|| "room-1".to_owned());
    match build_message(&publisher, &room, request.clone(), 1_700_000_000_000) {
        Err(refusal) => {
            assert!(
                CODES.contains(&(refusal.code(), refusal.http_status())),
                "{refusal:?}"
            );
            let frame = publish_error_frame(&refusal, &request.client_msg_id, Some(&room));
            assert!(is_json(frame.as_str()));
        }
        Ok(message) => {
            assert_eq!(message.game_id, "fuzz-game");
            assert_eq!(
                message.message_id,
                message_id_for("fuzz-user", &request.client_msg_id)
            );
            if role == PublisherRole::Player {
                assert_eq!(message.user_id, "fuzz-user");
                assert_eq!(message.kind, MessageKind::Chat);
                assert_eq!(message.visibility, Visibility::All);
            }
            let Ok(json) = message.to_json() else {
                panic!("a built message does not encode: {message:?}");
            };
            match GameMessage::decode_record(Some(room.as_bytes()), Some(&json)) {
                Ok(back) => assert_eq!(back, message),
                Err(e) => panic!("a built message fails the decoder: {e}: {message:?}"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The HTTP body.
    if let Ok(request) = serde_json::from_str::<PublishRequest>(text) {
        check(&request, PublisherRole::Player);
        check(&request, PublisherRole::Service);
    }
    // The same text as a WebSocket frame.
    if let Ok(ClientOp::Publish(request)) = ClientOp::parse(text) {
        check(&request, PublisherRole::Player);
    }
});
