//! Labelled incidents: scripted bursts of messages that moderators want to
//! hear about, planned up front and interleaved with ordinary traffic.

use std::fmt;
use std::str::FromStr;

use parley_shared::MessageKind;
use rand::Rng;

use crate::corpus;
use crate::world::{User, World};

/// The incident kinds loadgen injects; the names are Alert v1 categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// One user posts many messages in a short time.
    Flood,
    /// One user posts the same line again and again.
    Repetition,
    /// Many users paste the same advertisement across rooms of a game.
    Spam,
    /// One user posts links to spam domains.
    Links,
    /// One user shouts in capitals.
    Caps,
    /// One user insults others, often disguised.
    Toxicity,
    /// A burst of first-seen users joins one room and posts the same text.
    Raid,
}

impl IncidentKind {
    /// Every kind, in a fixed order.
    pub const ALL: [IncidentKind; 7] = [
        Self::Flood,
        Self::Repetition,
        Self::Spam,
        Self::Links,
        Self::Caps,
        Self::Toxicity,
        Self::Raid,
    ];

    /// The label written to the truth file (an Alert v1 category).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Repetition => "repetition",
            Self::Spam => "spam",
            Self::Links => "links",
            Self::Caps => "caps",
            Self::Toxicity => "toxicity",
            Self::Raid => "raid",
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for IncidentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.label() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.label()).collect();
                format!(
                    "unknown incident kind {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `--incident KIND=RATE`: RATE incidents of KIND per 10,000 records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncidentRate {
    /// Which incident.
    pub kind: IncidentKind,
    /// Incidents started per 10,000 records.
    pub per_10k: f64,
}

impl FromStr for IncidentRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rate) = s
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=RATE (per 10,000 records), got {s:?}"))?;
        let per_10k: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("rate {rate:?} is not a number"))?;
        if !(0.0..=10_000.0).contains(&per_10k) {
            return Err(format!("rate {per_10k} must be between 0 and 10000"));
        }
        Ok(IncidentRate {
            kind: kind.trim().parse()?,
            per_10k,
        })
    }
}

/// One planned message of an incident.
#[derive(Debug, Clone)]
pub struct PlannedMessage {
    /// Room index.
    pub room: usize,
    /// Author.
    pub user: User,
    /// Event kind.
    pub kind: MessageKind,
    /// Text.
    pub content: String,
}

/// An incident under way: its id, kind and the messages still to send.
#[derive(Debug)]
pub struct Incident {
    /// `inc-<n>`, written to the truth file.
    pub id: String,
    /// What kind of incident.
    pub kind: IncidentKind,
    remaining: Vec<PlannedMessage>,
}

impl Incident {
    /// Plans an incident of `kind` in a popular room; raiders get user indices
    /// from `next_new_user`, which is advanced past them.
    pub fn plan<R: Rng + ?Sized>(
        rng: &mut R,
        world: &World,
        kind: IncidentKind,
        id: String,
        next_new_user: &mut u64,
    ) -> Self {
        let room = world.pick_room(rng);
        let offender = world.pick_user(rng, room);
        let chat = |room, user: &User, content: String| PlannedMessage {
            room,
            user: user.clone(),
            kind: MessageKind::Chat,
            content,
        };
        let mut plan = Vec::new();
        match kind {
            IncidentKind::Flood => {
                for _ in 0..rng.random_range(15..40) {
                    plan.push(chat(room, &offender, corpus::chat_line(rng)));
                }
            }
            IncidentKind::Repetition => {
                let line = corpus::chat_line(rng);
                for _ in 0..rng.random_range(5..10) {
                    plan.push(chat(room, &offender, line.clone()));
                }
            }
            IncidentKind::Spam => {
                let line = corpus::spam_line(rng);
                for _ in 0..rng.random_range(5..15) {
                    let target = world.sibling_room(rng, room);
                    let spammer = world.pick_user(rng, target);
                    plan.push(chat(target, &spammer, line.clone()));
                }
            }
            IncidentKind::Links => {
                for _ in 0..rng.random_range(3..6) {
                    plan.push(chat(room, &offender, corpus::link_line(rng)));
                }
            }
            IncidentKind::Caps => {
                for _ in 0..rng.random_range(3..6) {
                    plan.push(chat(room, &offender, corpus::caps_line(rng)));
                }
            }
            IncidentKind::Toxicity => {
                for _ in 0..rng.random_range(1..4) {
                    plan.push(chat(room, &offender, corpus::toxic_line(rng)));
                }
            }
            IncidentKind::Raid => {
                let line = corpus::pick(rng, corpus::RAID_LINES).to_owned();
                for _ in 0..rng.random_range(30..80) {
                    let raider = User {
                        index: *next_new_user,
                    };
                    *next_new_user += 1;
                    plan.push(PlannedMessage {
                        room,
                        user: raider.clone(),
                        kind: MessageKind::Join,
                        content: String::new(),
                    });
                    plan.push(chat(room, &raider, line.clone()));
                }
            }
        }
        plan.reverse();
        Incident {
            id,
            kind,
            remaining: plan,
        }
    }

    /// The next message, or `None` when the incident is over.
    pub fn next_message(&mut self) -> Option<PlannedMessage> {
        self.remaining.pop()
    }

    /// True when every message has been sent.
    pub fn is_done(&self) -> bool {
        self.remaining.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rates_parse_with_clear_errors() {
        let rate: IncidentRate = "flood=2.5".parse().expect("valid");
        assert_eq!(rate.kind, IncidentKind::Flood);
        assert_eq!(rate.per_10k, 2.5);
        assert!("flood".parse::<IncidentRate>().is_err());
        let err = "nope=1".parse::<IncidentRate>().expect_err("unknown kind");
        assert!(err.contains("expected one of"), "{err}");
        assert!("raid=-1".parse::<IncidentRate>().is_err());
    }

    #[test]
    fn every_kind_plans_a_nonempty_burst() {
        let world = World::new(2, 50, 1000).expect("world");
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut next_new = 1000;
        for kind in IncidentKind::ALL {
            let mut incident =
                Incident::plan(&mut rng, &world, kind, "inc-1".into(), &mut next_new);
            let mut messages = Vec::new();
            while let Some(m) = incident.next_message() {
                messages.push(m);
            }
            assert!(!messages.is_empty(), "{kind}");
            assert!(incident.is_done());
            if kind == IncidentKind::Raid {
                assert!(messages.iter().all(|m| m.user.index >= 1000));
            }
        }
    }
}
