//! Built-in synthetic word lists (spec §6.4): no real people, channels,
//! brands or copyrighted titles. A few entries carry non-ASCII letters, `&`
//! or `=` on purpose, so generated archives exercise Google's escaping and
//! literal UTF-8.

use super::gen_rng::Rng;

pub(crate) const ADJECTIVES: &[&str] = &[
    "Amber", "Brisk", "Cedar", "Dusky", "Ember", "Fern", "Golden", "Hazel", "Indigo", "Jade", "Kindly", "Lunar",
    "Misty", "Nimble", "Olive", "Pebble", "Quiet", "Russet", "Silver", "Tidal", "Umber", "Velvet", "Willow", "Zesty",
    "Crimson", "Frosty", "Gentle", "Hollow", "Sunny", "Rapid",
];

pub(crate) const NOUNS: &[&str] = &[
    "Harbor", "Kettle", "Lantern", "Meadow", "Orchard", "Pine", "Quarry", "River", "Saddle", "Thistle", "Valley",
    "Wharf", "Garden", "Falcon", "Beacon", "Canyon", "Delta", "Echo", "Forest", "Glacier", "Island", "Juniper",
    "Koala", "Lagoon", "Maple", "Nebula", "Otter", "Prairie", "Sparrow", "Tundra",
];

/// Words with letters beyond ASCII, mixed into titles.
pub(crate) const NON_ASCII: &[&str] = &["Sää", "Café", "Jäätelö", "Smørrebrød", "Crème", "Ñandú", "Øresund", "Straße"];

pub(crate) const VIDEO_SUFFIXES: &[&str] = &[
    "Walkthrough",
    "Review",
    "Tutorial",
    "Highlights",
    "Vlog",
    "Explained",
    "in 10 Minutes",
    "Live Session",
    "Unboxing",
    "Recipe",
    "Compilation",
    "– Part 2",
    "(Teaser)",
    "Q&A",
];

pub(crate) const QUERY_TEMPLATES: &[&str] = &[
    "{n} recipes",
    "how to fix a {n}",
    "{a} {n} meaning",
    "{n} near me",
    "best {n} 2024",
    "sää {p}",
    "weather {p}",
    "{n} & {n} difference",
    "x = {n} formula",
    "python tutorials",
    "pasta recipes",
    "types of succulent plants",
    "{p} opening hours",
    "{a} {n} lyrics",
    "café {p}",
];

/// Synthetic place names for queries and weather.
pub(crate) const PLACES: &[&str] =
    &["Northvale", "Eastbrook", "Lakemoor", "Riverton", "Pinecrest", "Ashford", "Kivikylä", "Sjöby"];

pub(crate) const TOPICS: &[&str] = &[
    "Business",
    "Education",
    "Weather",
    "Technology",
    "Sports",
    "Science",
    "Travel",
    "Food & Drink",
    "Health",
    "Entertainment",
    "Finance",
    "Gaming",
];

pub(crate) const ACHIEVEMENTS: &[&str] =
    &["Victory", "First Steps", "Collector", "Speedrunner", "Perfectionist", "Explorer", "Night Owl"];

pub(crate) const GAME_SUFFIXES: &[&str] = &["Quest", "Rush", "Legends", "Puzzle", "Tycoon", "Run"];

/// Sites a search result may lead to: (page title, URL).
pub(crate) const SITES: &[(&str, &str)] = &[
    ("Example Docs – Official Website", "https://docs.example.org/"),
    ("Sää Helsinki – Example Weather", "https://weather.example.fi/helsinki"),
    ("Amber Kitchen – Recipes & Tips", "https://kitchen.example.com/recipes"),
    ("Northvale Library", "https://library.example.net/northvale"),
    ("Pebble Garden Forum", "https://forum.example.org/garden?topic=42&page=2"),
    ("Tidal Transit – Timetables", "https://transit.example.com/timetables"),
];

pub(crate) fn adjective_noun(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS))
}

/// A video or post title, sometimes with a non-ASCII word.
pub(crate) fn video_title(rng: &mut Rng) -> String {
    if rng.chance(0.15) {
        format!("{} {} {}", rng.pick(NON_ASCII), rng.pick(NOUNS), rng.pick(VIDEO_SUFFIXES))
    } else {
        format!("{} {} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS), rng.pick(VIDEO_SUFFIXES))
    }
}

/// A search query from the templates (`{a}` adjective, `{n}` noun, `{p}` place; lower case).
pub(crate) fn query(rng: &mut Rng) -> String {
    let template = *rng.pick(QUERY_TEMPLATES);
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let word = match &rest[i..i + 3] {
            "{a}" => rng.pick(ADJECTIVES).to_lowercase(),
            "{n}" => rng.pick(NOUNS).to_lowercase(),
            _ => rng.pick(PLACES).to_string(),
        };
        out.push_str(&word);
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// `application/x-www-form-urlencoded` encoding of a query value, as Google
/// writes it into `titleUrl` (spaces as `+`).
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Lower-case ASCII letters of `s`, for package names and slugs.
pub(crate) fn slug(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_fill_every_placeholder() {
        let mut rng = Rng::new(1, "vocab", "q");
        for _ in 0..500 {
            let q = query(&mut rng);
            assert!(!q.contains('{') && !q.contains('}'), "{q}");
        }
        assert_eq!(form_encode("salt & pepper = 1"), "salt+%26+pepper+%3D+1");
        assert_eq!(form_encode("sää"), "s%C3%A4%C3%A4");
        assert_eq!(slug("Amber Notes!"), "ambernotes");
    }
}
