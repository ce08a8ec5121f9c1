//! The simulated world: games, rooms with a Zipf-like popularity, and users
//! who each belong to one game.

use rand::Rng;
use rand_distr::{Distribution, Zipf};

use crate::corpus;

/// Platforms a client reports in `meta`.
const PLATFORMS: &[&str] = &["pc", "ps5", "xbox", "switch", "ios", "android"];
/// Locales a client reports in `meta`.
const LOCALES: &[&str] = &[
    "en-US", "en-GB", "es-ES", "pt-BR", "de-DE", "fr-FR", "ru-RU", "ja-JP", "ko-KR", "zh-CN",
    "tr-TR", "pl-PL", "it-IT",
];

/// Errors in the world's shape.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// A count that must be positive was zero.
    #[error("--{0} must be at least 1")]
    Empty(&'static str),
    /// The popularity distribution could not be built.
    #[error("room popularity: {0}")]
    Zipf(String),
}

/// Games, rooms and users, fixed for a run.
#[derive(Debug)]
pub struct World {
    games: Vec<String>,
    rooms: Vec<Room>,
    users: u64,
    popularity: Zipf<f64>,
}

/// One room; its id embeds its game, region and a number.
#[derive(Debug)]
pub struct Room {
    /// The room id, also the Kafka key.
    pub id: String,
    /// Index into the game list.
    pub game: usize,
}

/// A user as a message needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable index; ids and names derive from it.
    pub index: u64,
}

impl User {
    /// The user id, `u-<index>`.
    pub fn id(&self) -> String {
        format!("u-{}", self.index)
    }

    /// A display name derived from the index, so it is stable across messages.
    pub fn name(&self) -> String {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(self.index);
        corpus::display_name(&mut rng)
    }
}

impl World {
    /// Builds `games` games sharing `rooms` rooms (round-robin) and `users` users.
    pub fn new(games: usize, rooms: usize, users: u64) -> Result<Self, WorldError> {
        if games == 0 {
            return Err(WorldError::Empty("games"));
        }
        if rooms == 0 {
            return Err(WorldError::Empty("rooms"));
        }
        if users == 0 {
            return Err(WorldError::Empty("users"));
        }
        let games: Vec<String> = (0..games)
            .map(|i| {
                let title = corpus::GAMES[i % corpus::GAMES.len()];
                match i / corpus::GAMES.len() {
                    0 => title.to_owned(),
                    n => format!("{title}-{n}"),
                }
            })
            .collect();
        let rooms = (0..rooms)
            .map(|i| {
                let game = i % games.len();
                let region = corpus::REGIONS[(i / games.len()) % corpus::REGIONS.len()];
                let kind = corpus::ROOM_KINDS[(i / 3) % corpus::ROOM_KINDS.len()];
                Room {
                    id: format!("{}:{region}-{kind}-{i}", games[game]),
                    game,
                }
            })
            .collect::<Vec<_>>();
        let popularity =
            Zipf::new(rooms.len() as f64, 1.07).map_err(|e| WorldError::Zipf(e.to_string()))?;
        Ok(World {
            games,
            rooms,
            users,
            popularity,
        })
    }

    /// The game ids.
    pub fn games(&self) -> &[String] {
        &self.games
    }

    /// The number of regular users (raiders get indices past it).
    pub fn user_count(&self) -> u64 {
        self.users
    }

    /// A room index, popular rooms far more often than quiet ones.
    pub fn pick_room<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let rank = self.popularity.sample(rng) as usize;
        rank.saturating_sub(1).min(self.rooms.len() - 1)
    }

    /// The room at an index.
    pub fn room(&self, index: usize) -> &Room {
        &self.rooms[index % self.rooms.len()]
    }

    /// Another room of the same game, for incidents that span rooms.
    pub fn sibling_room<R: Rng + ?Sized>(&self, rng: &mut R, room: usize) -> usize {
        let games = self.games.len();
        let same_game = self.rooms.len().div_ceil(games).max(1);
        let k = rng.random_range(0..same_game);
        let candidate = (room % games) + k * games;
        if candidate < self.rooms.len() {
            candidate
        } else {
            room
        }
    }

    /// A regular user of the room's game.
    pub fn pick_user<R: Rng + ?Sized>(&self, rng: &mut R, room: usize) -> User {
        let games = self.games.len() as u64;
        let game = self.room(room).game as u64;
        let per_game = (self.users / games).max(1);
        let index = (game + games * rng.random_range(0..per_game)) % self.users;
        User { index }
    }

    /// A `meta` object as a client would send it.
    pub fn meta_json<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        format!(
            r#"{{"platform":"{}","locale":"{}","client_version":"1.{}.{}"}}"#,
            corpus::pick(rng, PLATFORMS),
            corpus::pick(rng, LOCALES),
            rng.random_range(10..15),
            rng.random_range(0..9)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rooms_belong_to_their_game_and_popularity_is_skewed() {
        let world = World::new(4, 200, 10_000).expect("world");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut hits = vec![0u32; 200];
        for _ in 0..20_000 {
            let room = world.pick_room(&mut rng);
            hits[room] += 1;
            let user = world.pick_user(&mut rng, room);
            assert_eq!(user.index % 4, world.room(room).game as u64);
            let sibling = world.sibling_room(&mut rng, room);
            assert_eq!(world.room(sibling).game, world.room(room).game);
        }
        assert!(
            hits[0] > 20 * hits[150].max(1),
            "{} vs {}",
            hits[0],
            hits[150]
        );
        assert!(world.room(0).id.starts_with("starfall:"));
    }

    #[test]
    fn empty_worlds_are_refused() {
        assert!(World::new(0, 1, 1).is_err());
        assert!(World::new(1, 0, 1).is_err());
        assert!(World::new(1, 1, 0).is_err());
    }

    #[test]
    fn names_are_stable() {
        let user = User { index: 42 };
        assert_eq!(user.name(), user.name());
        assert_eq!(user.id(), "u-42");
    }
}
