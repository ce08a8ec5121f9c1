//! The words loadgen speaks: chat lines in several languages, names, and the
//! material of incidents (insults, spam, links). Pure data and small pickers.

use rand::seq::IndexedRandom;
use rand::Rng;

/// Game titles; game ids are their slugs.
pub const GAMES: &[&str] = &[
    "starfall",
    "dragon-keep",
    "neon-drift",
    "mythic-arena",
    "block-royale",
    "tidebreakers",
    "iron-legion",
    "skyforge",
    "pixel-pets",
    "void-runners",
    "crown-clash",
    "frostbite",
    "sunken-city",
    "rally-rush",
    "arcane-academy",
    "dune-raiders",
];

/// Room name stems, combined with a region and a number.
pub const ROOM_KINDS: &[&str] = &[
    "lobby", "match", "guild", "trade", "party", "global", "ranked",
];

/// Player regions.
pub const REGIONS: &[&str] = &["eu", "na", "sa", "asia", "oce"];

/// Ordinary chat, in several languages, with the odd emoji.
pub const CHAT_LINES: &[&str] = &[
    "gg",
    "gg wp",
    "glhf",
    "ez",
    "lol",
    "nice shot!",
    "who wants to duo?",
    "brb 2 min",
    "anyone up for ranked?",
    "need a healer",
    "push mid",
    "defend the base",
    "wait for me",
    "that was close 😅",
    "omg that play 🔥",
    "good game everyone",
    "rematch?",
    "lag is terrible today",
    "where do I find the blue key?",
    "can someone explain the new patch",
    "nerf the sniper pls",
    "my team is carrying me",
    "one more game then bed",
    "ty for the revive",
    "on my way",
    "let's go!!",
    "I'll take top lane",
    "cover me",
    "enemy behind you",
    "reloading",
    "anyone selling iron ore?",
    "wts 20 mana potions",
    "looking for guild",
    "just hit level 50 🎉",
    "that boss is impossible",
    "try the left path",
    "thanks team 🙏",
    "ok",
    "yes",
    "no",
    "hola a todos",
    "buena partida",
    "alguien para jugar?",
    "vamos equipo 💪",
    "qué lag",
    "boa partida",
    "bora jogar mais uma",
    "alguém do brasil?",
    "valeu galera",
    "gutes Spiel",
    "wer spielt mit?",
    "ich bin gleich zurück",
    "Achtung, hinter dir!",
    "bien joué",
    "quelqu'un pour une partie ?",
    "je reviens",
    "trop fort 😂",
    "хорошая игра",
    "кто со мной?",
    "давай ещё одну",
    "спасибо за помощь",
    "ナイス！",
    "おつかれさま",
    "もう一回やろう",
    "よろしくお願いします",
    "잘했어요",
    "한 판 더?",
    "수고하셨습니다",
    "ㅋㅋㅋㅋ",
    "打得好",
    "再来一局",
    "谁来组队",
    "加油 💪",
    "iyi oyundu",
    "kim gelir?",
    "dobra gra",
    "ktoś gra?",
    "grazie ragazzi",
    "bel colpo",
    "the new map looks amazing",
    "is the event still running?",
    "how do I join a clan",
    "who's streaming this?",
    "just got the legendary skin!",
    "afk 5",
    "back",
    "trade you 3 gems for the sword",
    "meet at the fountain",
    "follow me",
    "great teamwork everyone 👏",
    "why is the queue so long",
    "first win today 🥳",
    "check my clip https://clips.twitch.tv/BraveQuietLlama",
    "patch notes: https://www.youtube.com/watch?v=dQw4w9WgXcQ",
];

/// Words players put around a line now and then.
pub const EMOJI: &[&str] = &["😂", "🔥", "👍", "😭", "💀", "🎉", "❤️", "😎", "🤝", "⚔️"];

/// Name parts for display names.
const NAME_HEADS: &[&str] = &[
    "Shadow", "Pixel", "Nova", "Kestrel", "Frost", "Blaze", "Echo", "Viper", "Lumen", "Rook",
    "Zephyr", "Mochi", "Tank", "Quinn", "Ash", "Orbit", "Raven", "Sable", "Juno", "Bolt",
];
const NAME_TAILS: &[&str] = &[
    "Hunter", "Fox", "Knight", "Wolf", "Mage", "_x", "99", "Storm", "Byte", "Owl", "Rider",
    "Slayer", "Cat", "Smith", "TTV", "Lord", "Bee", "Gamer", "", "Prime",
];

/// Insults for toxic incidents; the detector must generalize beyond these.
pub const INSULTS: &[&str] = &[
    "idiot",
    "moron",
    "loser",
    "trash",
    "garbage",
    "stupid",
    "pathetic",
    "worthless",
    "braindead",
    "dumbass",
    "clown",
    "idiota",
    "imbécil",
    "Vollidiot",
    "connard",
    "дебил",
];

/// Templates for toxic lines; `{}` is an insult.
pub const TOXIC_TEMPLATES: &[&str] = &[
    "you are such a {}",
    "{} team",
    "uninstall the game you {}",
    "shut up {}",
    "what a {} lol",
    "report this {}",
    "{}",
    "go back to tutorial {}",
    "{} {} {}",
];

/// Copy-paste spam lines; `{}` is a spam domain.
pub const SPAM_TEMPLATES: &[&str] = &[
    "FREE SKINS 👉 {} claim now before it ends!!",
    "Selling gold cheap, fast delivery, visit {}",
    "Want free gems? go to {} and enter code WIN",
    "best boosting service in the game → {}",
    "Join my giveaway at {} 🎁🎁🎁",
];

/// Domains nobody should be sent to.
pub const SPAM_DOMAINS: &[&str] = &[
    "free-vbucks.xyz",
    "cheap-gold.shop",
    "skinz4free.ru",
    "gem-generator.top",
    "boost-elo.click",
    "giveaway-claim.info",
    "bit.ly/3xFr33",
];

/// Lines shouted in caps incidents (uppercased on use).
pub const SHOUTS: &[&str] = &[
    "why is nobody defending the base",
    "give me the loot now",
    "stop stealing my kills",
    "this game is rigged",
    "heal me you noobs",
    "everyone follow me now",
];

/// Lines raiders post together.
pub const RAID_LINES: &[&str] = &[
    "RAID RAID RAID 🚀",
    "we run this room now",
    "sent here by the big stream 🔥",
    "🐸🐸🐸🐸",
];

/// Picks one item; the slices above are never empty.
pub fn pick<'a, R: Rng + ?Sized>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// A display name such as `NovaFox`.
pub fn display_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("{}{}", pick(rng, NAME_HEADS), pick(rng, NAME_TAILS))
}

/// An ordinary chat line, sometimes with an emoji or two.
pub fn chat_line<R: Rng + ?Sized>(rng: &mut R) -> String {
    let line = pick(rng, CHAT_LINES);
    match rng.random_range(0..10) {
        0 => format!("{line} {}", pick(rng, EMOJI)),
        1 => format!("{} {line}", pick(rng, EMOJI)),
        _ => line.to_owned(),
    }
}

/// A toxic line, often disguised the way players evade filters.
pub fn toxic_line<R: Rng + ?Sized>(rng: &mut R) -> String {
    let template = pick(rng, TOXIC_TEMPLATES);
    let mut line = String::with_capacity(64);
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            let insult = pick(rng, INSULTS);
            line.push_str(&disguise(rng, insult));
        }
        line.push_str(part);
    }
    line
}

/// Applies one evasion: leetspeak, spacing, stretched letters, or case games.
pub fn disguise<R: Rng + ?Sized>(rng: &mut R, word: &str) -> String {
    match rng.random_range(0..6) {
        0 => word
            .chars()
            .map(|c| match c {
                'i' => '1',
                'o' => '0',
                'e' => '3',
                'a' => '4',
                's' => '$',
                other => other,
            })
            .collect(),
        1 => word.chars().map(String::from).collect::<Vec<_>>().join(" "),
        2 => {
            let mut out = String::new();
            for (i, c) in word.chars().enumerate() {
                out.push(c);
                if i == 1 {
                    out.push(c);
                    out.push(c);
                }
            }
            out
        }
        3 => word.to_uppercase(),
        4 => word.chars().map(String::from).collect::<Vec<_>>().join("."),
        _ => word.to_owned(),
    }
}

/// A copy-paste spam line.
pub fn spam_line<R: Rng + ?Sized>(rng: &mut R) -> String {
    pick(rng, SPAM_TEMPLATES).replace("{}", pick(rng, SPAM_DOMAINS))
}

/// A message carrying a link to a spam domain.
pub fn link_line<R: Rng + ?Sized>(rng: &mut R) -> String {
    let path: u32 = rng.random_range(1000..99_999);
    let domain = pick(rng, SPAM_DOMAINS);
    match rng.random_range(0..3) {
        0 => format!("https://{domain}/p/{path}"),
        1 => format!("check this out http://{domain}/{path} !!"),
        _ => format!("free stuff here www.{domain}"),
    }
}

/// A line shouted in capitals.
pub fn caps_line<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("{}!!!", pick(rng, SHOUTS).to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn generated_lines_are_within_limits() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1000 {
            for line in [
                chat_line(&mut rng),
                toxic_line(&mut rng),
                spam_line(&mut rng),
            ] {
                assert!(!line.is_empty() && line.len() < 256, "{line}");
            }
            assert!(link_line(&mut rng).contains('.'));
            let caps = caps_line(&mut rng);
            assert_eq!(caps, caps.to_uppercase());
        }
    }

    #[test]
    fn toxic_lines_carry_an_insult_in_some_form() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let line = toxic_line(&mut rng);
        assert!(!TOXIC_TEMPLATES.contains(&line.as_str()), "{line}");
    }
}
