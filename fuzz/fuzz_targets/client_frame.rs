//! Arbitrary text as a WebSocket client frame through `ClientOp::parse`,
//! then what the connection does with the result: a refusal becomes an
//! `error` frame, a `since` is parsed as a `pos`, replies echo the room.
//!
//! Checks: no panic; a refusal reason is at most `MAX_REASON_BYTES`; every
//! frame built from client text is one JSON value; a `pos` that parses
//! prints back to itself. (`room_id` length, 1–128 characters, is checked by
//! the connection, not the parser, so any string may come out here.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::is_json;
use websocket_sender::protocol::{
    code, error_frame, message_frame, moderated_frame, published_frame, retract_frame,
    subscribed_frame, unsubscribed_frame, ClientOp, Pos, MAX_REASON_BYTES,
};

fuzz_target!(|data: &[u8]| {
    // The server only gets text frames as UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let op = match ClientOp::parse(text) {
        Ok(op) => op,
        Err(reason) => {
            assert!(
                reason.len() <= MAX_REASON_BYTES,
                "reason of {} bytes",
                reason.len()
            );
            assert!(is_json(
                error_frame(code::BAD_REQUEST, &reason, None).as_str()
            ));
            return;
        }
    };
    match op {
        ClientOp::Subscribe { room_id, since } => {
            let pos = match since.as_deref().map(str::parse::<Pos>).transpose() {
                Ok(pos) => pos.unwrap_or(Pos {
                    partition: 0,
                    offset: -1,
                }),
                Err(reason) => {
                    let frame = error_frame(code::BAD_REQUEST, &reason, Some(&room_id));
                    assert!(is_json(frame.as_str()));
                    return;
                }
            };
            assert_eq!(
                pos.to_string().parse::<Pos>(),
                Ok(pos),
                "pos does not print back"
            );
            assert!(is_json(subscribed_frame(&room_id, false, pos).as_str()));
            let Some(frame) = message_frame(&room_id, pos, br#"{"v":1}"#) else {
                panic!("no message frame for room {room_id:?}");
            };
            assert!(is_json(frame.as_str()));
        }
        ClientOp::Unsubscribe { room_id } => {
            assert!(is_json(unsubscribed_frame(&room_id).as_str()));
        }
        ClientOp::SubscribeAlerts | ClientOp::Ping => {}
        // A moderation request: its answers are JSON, and turning it into an
        // action either validates or says why not (never panics).
        ClientOp::Moderate(request) => {
            let room = request.room_id.clone();
            match request.into_action("fuzz-moderator", "a-1".to_owned(), 1_800_000_000_000) {
                Ok(action) => {
                    assert!(action.validate().is_ok());
                    assert!(is_json(moderated_frame(&action.action_id).as_str()));
                    assert!(is_json(
                        retract_frame(&room, action.message_id.as_deref().unwrap_or("m")).as_str()
                    ));
                }
                Err(e) => assert!(is_json(
                    error_frame(code::BAD_REQUEST, &e.to_string(), Some(&room)).as_str()
                )),
            }
        }
        // The publish path is fuzzed by `publish_request`; here only its
        // answer frames.
        ClientOp::Publish(request) => {
            let pos = Pos {
                partition: 0,
                offset: 0,
            };
            let frame = published_frame(&request.client_msg_id, "id", pos);
            assert!(is_json(frame.as_str()));
        }
    }
});
