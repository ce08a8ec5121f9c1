//! The chat-script input of the `evaluate_rules` target: text, one event a
//! line, so seeds are written by hand and crash inputs read as a story.
//!
//! ```text
//! # ROOM [GAME/]USER KIND[@ROLE] GAP_MS[xTIMES] TEXT
//! lobby alice chat 0 hello all
//! lobby bob chat@moderator +1500 be nice
//! lobby spammer chat 200x15 buy cheap gold
//! lobby carol join -3000
//! tick
//! skew -60000
//! ```
//!
//! `GAP_MS` is the time since the previous message (negative: out of
//! order); `xTIMES` sends the line 1–64 times, `GAP_MS` apart; `\n` in TEXT
//! is a newline; `tick` runs the periodic pruning and incident timers;
//! `skew MS` moves the detector's clock away from the newest event time.
//! Lines that do not parse are skipped; numbers out of range are clamped.

use arbitrary::{Arbitrary, Unstructured};
use parley_shared::message::{Meta, MAX_CONTENT_BYTES};
use parley_shared::{GameMessage, MessageKind, Visibility};

/// Event time of the first message (ms since the epoch).
pub const T0: i64 = 1_800_000_000_000;
/// Largest gap or skew, either way (a day).
const MAX_GAP_MS: i64 = 86_400_000;
/// Most copies of one line.
const MAX_TIMES: u32 = 64;
/// Game of a user written without `GAME/`.
const DEFAULT_GAME: &str = "g1";

/// A parsed script.
#[derive(Debug, Default)]
pub struct Script {
    /// Its lines, in order.
    pub lines: Vec<Line>,
}

/// One line of a script.
#[derive(Debug)]
pub enum Line {
    /// A message, sent one or more times.
    Event(Event),
    /// Periodic work: pruning and incident timers.
    Tick,
    /// Detector clock minus newest event time, from now on (ms).
    Skew(i64),
}

/// A message line.
#[derive(Debug)]
pub struct Event {
    /// `room_id`.
    pub room: String,
    /// `game_id`.
    pub game: String,
    /// `user_id`.
    pub user: String,
    /// `kind`.
    pub kind: MessageKind,
    /// `meta.role`, if any.
    pub role: Option<String>,
    /// Time since the previous message (ms).
    pub gap_ms: i64,
    /// Copies sent (1–64).
    pub times: u32,
    /// `content`.
    pub text: String,
}

impl Script {
    /// Parses script text; lines that do not parse are skipped.
    pub fn parse(text: &str) -> Script {
        let lines = text.split('\n').filter_map(parse_line).collect();
        Script { lines }
    }
}

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let bytes = u.bytes(u.len())?;
        Ok(Script::parse(&String::from_utf8_lossy(bytes)))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Script::parse(&String::from_utf8_lossy(u.take_rest())))
    }
}

impl Event {
    /// The GameMessage for copy number `index` at `sent_at`, if it is a
    /// valid one (the decoder would refuse the others).
    pub fn message(&self, index: usize, sent_at: i64) -> Option<GameMessage> {
        let meta = match &self.role {
            Some(role) => {
                let json = serde_json::json!({ "role": role, "platform": "pc" });
                Some(Meta::from_json(&json.to_string()).ok()?)
            }
            None => None,
        };
        let message = GameMessage {
            v: 1,
            message_id: format!("m{index}"),
            game_id: self.game.clone(),
            room_id: self.room.clone(),
            user_id: self.user.clone(),
            user_name: None,
            kind: self.kind.clone(),
            content: truncate(&self.text, MAX_CONTENT_BYTES).to_owned(),
            sent_at,
            visibility: Visibility::All,
            meta,
        };
        message.validate().ok()?;
        Some(message)
    }
}

fn parse_line(line: &str) -> Option<Line> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    if line.trim() == "tick" {
        return Some(Line::Tick);
    }
    if let Some(ms) = line.strip_prefix("skew ") {
        return Some(Line::Skew(clamp_ms(ms.trim().parse().unwrap_or(0))));
    }
    let mut fields = line.splitn(5, ' ');
    let mut field = || fields.next();
    let (room, who, kind, gap) = (field()?, field()?, field()?, field()?);
    let text = field().unwrap_or("").replace("\\n", "\n");
    let (game, user) = who.split_once('/').unwrap_or((DEFAULT_GAME, who));
    let (kind, role) = match kind.split_once('@') {
        Some((kind, role)) => (kind, Some(role.to_owned())),
        None => (kind, None),
    };
    let (gap, times) = match gap.split_once('x') {
        Some((gap, times)) => (gap, times.parse().unwrap_or(1)),
        None => (gap, 1),
    };
    Some(Line::Event(Event {
        room: room.to_owned(),
        game: game.to_owned(),
        user: user.to_owned(),
        kind: MessageKind::from(kind),
        role,
        gap_ms: clamp_ms(gap.trim_start_matches('+').parse().unwrap_or(0)),
        times: times.clamp(1, MAX_TIMES),
        text,
    }))
}

fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(-MAX_GAP_MS, MAX_GAP_MS)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
