//! A `message_id` kept in detection state as evidence: a canonical UUID
//! (lowercase, hyphenated) or ULID (Crockford base32, uppercase) is held in
//! 16 inline bytes, anything else as a boxed string. Either way it reads
//! back exactly as it arrived, without a heap allocation per message for
//! the usual ids.

use std::fmt;

/// Crockford's base32 alphabet (ULID).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Byte positions of the hyphens of a canonical UUID.
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// A message id as evidence (24 bytes, no allocation for UUIDs and ULIDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// A canonical lowercase hyphenated UUID.
    Uuid([u8; 16]),
    /// A canonical uppercase ULID.
    Ulid([u8; 16]),
    /// Any other id, as sent.
    Other(Box<str>),
}

impl MessageRef {
    /// Keeps `id`, compactly when it is a canonical UUID or ULID.
    pub fn new(id: &str) -> MessageRef {
        if let Some(bytes) = parse_uuid(id.as_bytes()) {
            return MessageRef::Uuid(bytes);
        }
        if let Some(bytes) = parse_ulid(id.as_bytes()) {
            return MessageRef::Ulid(bytes);
        }
        MessageRef::Other(id.into())
    }
}

impl MessageRef {
    /// The id as it arrived (one exact-size allocation).
    pub fn to_id(&self) -> String {
        match self {
            MessageRef::Uuid(bytes) => ascii(&uuid_text(bytes)),
            MessageRef::Ulid(bytes) => ascii(&ulid_text(bytes)),
            MessageRef::Other(id) => id.to_string(),
        }
    }
}

impl fmt::Display for MessageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_id())
    }
}

/// ASCII bytes as a string.
fn ascii(text: &[u8]) -> String {
    text.iter().map(|&b| char::from(b)).collect()
}

/// A UUID's canonical text.
fn uuid_text(bytes: &[u8; 16]) -> [u8; 36] {
    let mut out = [b'-'; 36];
    let mut pos = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            pos += 1;
        }
        out[pos] = hex_digit(byte >> 4);
        out[pos + 1] = hex_digit(byte & 0x0f);
        pos += 2;
    }
    out
}

/// A ULID's canonical text.
fn ulid_text(bytes: &[u8; 16]) -> [u8; 26] {
    let value = u128::from_be_bytes(*bytes);
    let mut out = [0u8; 26];
    for (i, c) in out.iter_mut().enumerate() {
        let shift = 5 * (25 - i);
        *c = CROCKFORD[((value >> shift) & 0x1f) as usize];
    }
    out
}

fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    }
}

/// Value of each byte as a lowercase hex digit (`NONE` if it is not one).
const HEX: [u8; 256] = digit_table(b"0123456789abcdef");
/// Value of each byte as a Crockford base32 digit (`NONE` if it is not one).
const BASE32: [u8; 256] = digit_table(CROCKFORD);
/// Not a digit.
const NONE: u8 = 0xff;

const fn digit_table(digits: &[u8]) -> [u8; 256] {
    let mut table = [NONE; 256];
    let mut i = 0;
    while i < digits.len() {
        table[digits[i] as usize] = i as u8;
        i += 1;
    }
    table
}

/// The 16 bytes of a canonical lowercase hyphenated UUID.
fn parse_uuid(id: &[u8]) -> Option<[u8; 16]> {
    if id.len() != 36 || UUID_HYPHENS.iter().any(|&i| id[i] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut bad = 0u8;
    let mut pos = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            pos += 1;
        }
        let (hi, lo) = (HEX[usize::from(id[pos])], HEX[usize::from(id[pos + 1])]);
        bad |= (hi | lo) & 0xf0;
        *byte = (hi << 4) | (lo & 0x0f);
        pos += 2;
    }
    (bad == 0).then_some(out)
}

/// The 128 bits of a canonical uppercase ULID.
fn parse_ulid(id: &[u8]) -> Option<[u8; 16]> {
    // 26 characters of 5 bits: the first carries only 3 (0–7).
    if id.len() != 26 || id[0] > b'7' {
        return None;
    }
    let mut value: u128 = 0;
    for &c in id {
        let digit = BASE32[usize::from(c)];
        if digit == NONE {
            return None;
        }
        value = (value << 5) | u128::from(digit);
    }
    Some(value.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(id: &str) -> MessageRef {
        let kept = MessageRef::new(id);
        assert_eq!(kept.to_id(), id);
        assert_eq!(kept.to_string(), id);
        kept
    }

    #[test]
    fn uuids_and_ulids_are_inline_and_read_back_exactly() {
        assert!(matches!(
            round_trip("0190f3a2-7c4b-7d2e-9a1b-2c3d4e5f6a7b"),
            MessageRef::Uuid(_)
        ));
        assert!(matches!(
            round_trip("00000000-0000-0000-0000-000000000000"),
            MessageRef::Uuid(_)
        ));
        assert!(matches!(
            round_trip("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            MessageRef::Uuid(_)
        ));
        assert!(matches!(
            round_trip("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            MessageRef::Ulid(_)
        ));
        assert!(matches!(
            round_trip("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            MessageRef::Ulid(_)
        ));
    }

    #[test]
    fn anything_else_is_kept_as_sent() {
        for id in [
            "m-1",
            "",
            "0190F3A2-7C4B-7D2E-9A1B-2C3D4E5F6A7B",
            "0190f3a2x7c4b-7d2e-9a1b-2c3d4e5f6a7b",
            "0190f3a27c4b7d2e9a1b2c3d4e5f6a7b",
            "01arz3ndektsv4rrffq69g5fav",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "0190f3a2-7c4b-7d2e-9a1b-2c3d4e5f6a7é",
        ] {
            assert!(matches!(round_trip(id), MessageRef::Other(_)), "{id}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_id_reads_back_exactly(id in "\\PC{0,40}") {
            proptest::prop_assert_eq!(MessageRef::new(&id).to_id(), id);
        }

        #[test]
        fn every_uuid_and_ulid_is_inline(bits: u128) {
            let uuid = uuid::Uuid::from_u128(bits).to_string();
            proptest::prop_assert!(matches!(round_trip(&uuid), MessageRef::Uuid(_)));
            let ulid = ascii(&ulid_text(&bits.to_be_bytes()));
            proptest::prop_assert!(matches!(round_trip(&ulid), MessageRef::Ulid(_)));
        }
    }

    #[test]
    fn is_three_words() {
        assert_eq!(std::mem::size_of::<MessageRef>(), 24);
    }
}
