//! The benchmark's frames: a websocket-sender `message` frame padded to a
//! chosen size, with the sequence number and send time first so the client
//! reads them without a JSON parser (the client must stay cheaper than the
//! server it measures).

use axum::extract::ws::Utf8Bytes;

/// The frame a connection gets once it is in the broadcast.
pub const SUBSCRIBED: &str = r#"{"op":"subscribed","room_id":"bench","recovered":false}"#;

const SEQ_KEY: &str = r#"{"op":"message","seq":"#;
const SENT_KEY: &str = r#","sent_us":"#;

/// What the client reads from a message frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Sequence number of the broadcast (0, 1, 2…).
    pub seq: u64,
    /// When it was due to be sent, µs since the Unix epoch.
    pub sent_us: u64,
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Encodes message `stamp` as a frame of `size` bytes (longer if `size`
/// cannot hold the fixed fields), shaped like websocket-sender's.
pub fn encode(stamp: Stamp, size: usize) -> Utf8Bytes {
    let head = format!(
        r#"{SEQ_KEY}{seq}{SENT_KEY}{sent},"room_id":"bench","pos":"0:{seq}","message":{{"message_id":"0198c3a2-7d1e-7c4b-9f00-{seq:012}","game_id":"g1","room_id":"bench","user_id":"u42","visibility":"public","text":""#,
        seq = stamp.seq,
        sent = stamp.sent_us,
    );
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut out = String::with_capacity(head.len() + pad + tail.len());
    out.push_str(&head);
    // Chat-like text: words, not one repeated byte.
    const WORDS: &str = "gg wp nice shot lol that was close push mid ";
    out.extend(WORDS.chars().cycle().take(pad));
    out.push_str(tail);
    Utf8Bytes::from(out)
}

/// Reads the stamp of a message frame; `None` for any other frame.
pub fn decode(frame: &str) -> Option<Stamp> {
    let rest = frame.strip_prefix(SEQ_KEY)?;
    let (seq, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(SENT_KEY)?;
    let (sent_us, _) = leading_number(rest)?;
    Some(Stamp { seq, sent_us })
}

fn leading_number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let value = s.get(..end)?.parse().ok()?;
    Some((value, s.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_asked_size_and_are_valid_json() {
        let stamp = Stamp {
            seq: 12,
            sent_us: 1_763_000_000_000_000,
        };
        let frame = encode(stamp, 300);
        assert_eq!(frame.len(), 300);
        let value: serde_json::Value = serde_json::from_str(frame.as_str()).expect("JSON");
        assert_eq!(value["op"], "message");
        assert_eq!(value["seq"], 12);
        assert_eq!(decode(frame.as_str()), Some(stamp));
    }

    #[test]
    fn small_sizes_still_make_whole_frames() {
        let frame = encode(
            Stamp {
                seq: u64::MAX,
                sent_us: u64::MAX,
            },
            10,
        );
        assert!(serde_json::from_str::<serde_json::Value>(frame.as_str()).is_ok());
    }

    #[test]
    fn other_frames_have_no_stamp() {
        assert_eq!(decode(SUBSCRIBED), None);
        assert_eq!(decode(r#"{"op":"message","seq":x}"#), None);
        assert_eq!(decode(r#"{"op":"message","seq":1,"sent_us":}"#), None);
        assert_eq!(decode(""), None);
    }
}
