//! TikTok "Download your data" archives for the sandbox (spec §4.5, §6.4–§6.6).
//!
//! One zip with one JSON file, generated deterministically and streamed while
//! it is written: [`write_tiktok_archive`] writes the same bytes every time
//! for the same scenario and `created_at`, and its memory does not grow with
//! the number of records (the JSON is written record by record into a
//! streaming zip entry), so `huge` personas and `records=watch_history:1000000`
//! need neither memory nor disk. [`tiktok_manifest`] says how many records of
//! each data type the archive holds, without generating it.
//!
//! Layouts (`tiktok_layout`):
//! - `2025`: [`TIKTOK_FILE_2025`] at the zip root with every top-level
//!   section of the current export (`Comment`, `Direct Message`,
//!   `Income+ Wallet`, `Likes and Favorites`, `Location Review`, `Post`,
//!   `Profile And Settings`, `TikTok Live`, `TikTok Shop`, `Your Activity`);
//!   likes and comments with lowercase keys.
//! - `legacy`: [`TIKTOK_FILE_LEGACY`] with the older `Activity › …` paths,
//!   `Comment`, `Profile` and `Direct Messages`; capitalised keys.
//!
//! Record paths (2025 / legacy), all newest first, dates
//! `YYYY-MM-DD HH:MM:SS` UTC with about 5 % followed by ` UTC`:
//!
//! | Type | 2025 | legacy | Record |
//! |---|---|---|---|
//! | `watch_history` | `Your Activity › Watch History › VideoList` | `Activity › Video Browsing History › VideoList` | `Date`, `Link` (10 % `VideoLink`) |
//! | `search_history` | `Your Activity › Searches › SearchList` | `Activity › Search History › SearchList` | `Date`, `SearchTerm` |
//! | `likes` | `Likes and Favorites › Like List › ItemFavoriteList` | `Activity › Like List › ItemFavoriteList` | `date`, `link` / `Date`, `Link` |
//! | `favorites` | `Likes and Favorites › Favorite {Videos, Collection, Sounds, Effects, Hashtags} › Favorite{Video,Collection,Sound,Effects,Hashtag}List` | same under `Activity` | `Date`, `Link` / `FavoriteCollection` / `EffectLink` |
//! | `comments` | `Comment › Comments › CommentsList` | same | `comment`, `date` / `Comment`, `Date`; `photo`, `url`, `video` (`"N/A"` and `""` occur) |
//! | `shares` | `Your Activity › Share History › ShareHistoryList` | `Activity › Share History › ShareHistoryList` | `Date`, `Link`, `Method`, `SharedContent` |
//!
//! Also present, so tests can prove Steward never keeps them: the profile
//! (`ProfileMap` with e-mail, phone number and birth date), direct messages
//! (`ChatHistory`), login history (`LoginHistoryList` with IP addresses from
//! 192.0.2.0/24), followers and following; and empty sections as `null`,
//! `[]` and `{}`. Video ids have 19 digits; links are
//! `https://www.tiktokv.com/share/video/<id>/`; every word is synthetic.
//!
//! Sizes: each type gets its persona's count or its `records=` override
//! ([`favorites_split`] shares the favorites count among its five lists);
//! with `huge` the six types share `target_bytes` of records.
//!
//! Content failures (spec §6.6): `missing_type:<t>` leaves `t`'s section(s)
//! out; `malformed_json:<t>` (any TikTok type) puts an element with a missing
//! comma after the third record of `t`'s (first) list, so the one JSON file is
//! invalid; `bad_records` adds [`super::BAD_RECORDS`] to the first list of
//! every type; `zip_bomb` replaces the JSON file with a deflate stream of
//! [`super::ZIP_BOMB_BYTES`]; `too_many_entries` adds
//! [`super::TOO_MANY_ENTRIES`] tiny entries; `path_traversal` adds
//! [`super::PATH_TRAVERSAL_NAMES`]; `nested_archive` puts the JSON file only
//! inside [`TIKTOK_NESTED_ARCHIVE_NAME`]; `malformed_zip` cuts the central
//! directory in half.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::gen_rng::Rng;
use super::gen_time::{Timeline, millis};
use super::gen_vocab as vocab;
use super::gen_zip::{Archive, Bomb, LARGE_MEMBER, Method, inner_zip};
use super::generate::{BAD_RECORDS, BOMB_MATCHES, PATH_TRAVERSAL_NAMES, TOO_MANY_ENTRIES, zip_time};
use super::scenario::{Failure, Scenario, TikTokLayout};
use crate::donation::catalogue::{DataType, Source};

/// The JSON file of layout `2025`, at the zip root.
pub const TIKTOK_FILE_2025: &str = "user_data_tiktok.json";
/// The JSON file of layout `legacy`, at the zip root.
pub const TIKTOK_FILE_LEGACY: &str = "user_data.json";
/// With `nested_archive`, the JSON file is only inside this entry (a stored zip).
pub const TIKTOK_NESTED_ARCHIVE_NAME: &str = "nested.zip";

/// TikTok's data types in catalogue order.
pub const TIKTOK_TYPES: [&str; 6] = ["watch_history", "search_history", "likes", "favorites", "comments", "shares"];

/// How a favorites count is shared among its five lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FavoritesSplit {
    pub videos: u64,
    pub collections: u64,
    pub sounds: u64,
    pub effects: u64,
    pub hashtags: u64,
}

impl FavoritesSplit {
    pub fn total(&self) -> u64 {
        self.videos + self.collections + self.sounds + self.effects + self.hashtags
    }
}

/// `n` favorites: a tenth each (at least one from 5 on) collections, sounds,
/// effects and hashtags; the rest videos.
pub fn favorites_split(n: u64) -> FavoritesSplit {
    let minor = if n >= 5 { (n / 10).max(1) } else { 0 };
    FavoritesSplit { videos: n - 4 * minor, collections: minor, sounds: minor, effects: minor, hashtags: minor }
}

/// What [`write_tiktok_archive`] writes for a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TikTokManifest {
    /// The JSON entry: [`TIKTOK_FILE_2025`] or [`TIKTOK_FILE_LEGACY`].
    pub path: &'static str,
    /// `Some(TIKTOK_NESTED_ARCHIVE_NAME)` when the entry is inside the nested zip.
    pub inside: Option<&'static str>,
    /// Records per data type in [`TIKTOK_TYPES`] order (bad records and the
    /// broken element not counted; 0 for a `missing_type`); `None` when
    /// sized by bytes (`huge`) or when the JSON file is the zip bomb.
    pub records: Vec<(&'static str, Option<u64>)>,
    /// The favorites count per list, when known.
    pub favorites: Option<FavoritesSplit>,
}

impl TikTokManifest {
    /// Records of data type `name` (`None`: unknown name or sized by bytes).
    pub fn records_of(&self, name: &str) -> Option<u64> {
        self.records.iter().find(|(t, _)| *t == name).and_then(|(_, n)| *n)
    }
}

/// The records [`write_tiktok_archive`] writes for `scenario`, per data type.
pub fn tiktok_manifest(scenario: &Scenario, created_at: DateTime<Utc>) -> TikTokManifest {
    let plan = Plan::new(scenario, created_at);
    let records = TIKTOK_TYPES
        .iter()
        .map(|&name| {
            let n = if plan.bomb {
                None
            } else if plan.missing(name) {
                Some(0)
            } else {
                plan.count(name)
            };
            (name, n)
        })
        .collect();
    let favorites = match (plan.bomb, plan.missing("favorites"), plan.count("favorites")) {
        (false, false, Some(_)) => Some(plan.favorites_split()),
        (false, true, _) => Some(FavoritesSplit::default()),
        _ => None,
    };
    TikTokManifest {
        path: plan.file(),
        inside: (scenario.has(&Failure::NestedArchive) && !plan.bomb).then_some(TIKTOK_NESTED_ARCHIVE_NAME),
        records,
        favorites,
    }
}

/// Writes the TikTok archive of `scenario` into `out` and returns the bytes
/// written. `created_at` is the request's apply time: it stands for "now" in
/// the scenario's span (`..now`) and dates the zip entry, so pass the same
/// instant every time to get byte-identical archives. Errors are `out`'s.
///
/// ```text
/// let scenario = Scenario::default().records("watch_history", 1_000_000);
/// let bytes = write_tiktok_archive(&scenario, created_at, std::io::sink())?;
/// assert_eq!(tiktok_manifest(&scenario, created_at).records_of("watch_history"), Some(1_000_000));
/// ```
pub fn write_tiktok_archive<W: Write>(scenario: &Scenario, created_at: DateTime<Utc>, out: W) -> io::Result<u64> {
    let plan = Plan::new(scenario, created_at);
    let time = zip_time(created_at);
    let many = scenario.has(&Failure::TooManyEntries);
    let mut archive = if plan.bomb || many { Archive::raw(out, time) } else { Archive::stream(out, time) };
    if scenario.has(&Failure::PathTraversal) {
        write_path_traversal(&mut archive, &plan)?;
    }
    if plan.bomb {
        archive.bomb(plan.file(), &Bomb { matches: BOMB_MATCHES })?;
    } else if scenario.has(&Failure::NestedArchive) {
        archive.entry(TIKTOK_NESTED_ARCHIVE_NAME, Method::Stored, plan.large(), &mut |w| {
            inner_zip(w, time, &mut |inner| {
                inner.entry(plan.file(), Method::Deflate, plan.large(), &mut |w| plan.write_json(w))
            })
        })?;
    } else {
        archive.entry(plan.file(), Method::Deflate, plan.large(), &mut |w| plan.write_json(w))?;
    }
    if many {
        for i in 0..TOO_MANY_ENTRIES {
            let name = format!("filler/{i:06}.txt");
            archive.entry(&name, Method::Stored, false, &mut |w| w.write_all(b"x\n"))?;
        }
    }
    archive.finish(scenario.has(&Failure::MalformedZip))
}

/// The entries `path_traversal` adds: a tiny TikTok JSON with one watch
/// record (a parser that opened them would count a row) and a passwd file.
fn write_path_traversal<W: Write>(archive: &mut Archive<W>, plan: &Plan<'_>) -> io::Result<()> {
    let mut json = String::from("{\"Your Activity\":{\"Watch History\":{\"VideoList\":[{\"Date\":\"");
    push_date(&mut json, plan.span.1 - 60_000);
    json.push_str("\",\"Link\":\"https://www.tiktokv.com/share/video/7000000000000000001/\"}]}}}");
    for name in PATH_TRAVERSAL_NAMES {
        let body: &[u8] =
            if name.ends_with("passwd") { b"root:x:0:0:sandbox:/root:/bin/sh\n" } else { json.as_bytes() };
        archive.entry(name, Method::Deflate, false, &mut |w| w.write_all(body))?;
    }
    Ok(())
}

// --- Lists and their records.

/// One list of records in the JSON file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Watch,
    Search,
    Like,
    FavVideo,
    FavCollection,
    FavSound,
    FavEffect,
    FavHashtag,
    Comment,
    Share,
}

impl List {
    const ALL: [List; 10] = [
        List::Watch,
        List::Search,
        List::Like,
        List::FavVideo,
        List::FavCollection,
        List::FavSound,
        List::FavEffect,
        List::FavHashtag,
        List::Comment,
        List::Share,
    ];

    fn data_type(self) -> &'static str {
        match self {
            List::Watch => "watch_history",
            List::Search => "search_history",
            List::Like => "likes",
            List::FavVideo | List::FavCollection | List::FavSound | List::FavEffect | List::FavHashtag => "favorites",
            List::Comment => "comments",
            List::Share => "shares",
        }
    }

    /// The random stream key of the list.
    fn key(self) -> &'static str {
        match self {
            List::Watch => "tiktok/watch",
            List::Search => "tiktok/search",
            List::Like => "tiktok/like",
            List::FavVideo => "tiktok/favorite_video",
            List::FavCollection => "tiktok/favorite_collection",
            List::FavSound => "tiktok/favorite_sound",
            List::FavEffect => "tiktok/favorite_effect",
            List::FavHashtag => "tiktok/favorite_hashtag",
            List::Comment => "tiktok/comment",
            List::Share => "tiktok/share",
        }
    }

    /// Whether bad records and the broken element go into this list (the
    /// first list of its type).
    fn first_of_type(self) -> bool {
        !matches!(self, List::FavCollection | List::FavSound | List::FavEffect | List::FavHashtag)
    }

    /// Appends one record at `t` (UTC ms).
    fn render(self, out: &mut String, rng: &mut Rng, t: i64, layout: TikTokLayout) {
        let legacy = layout == TikTokLayout::Legacy;
        let date = |out: &mut String, rng: &mut Rng, key: &str| {
            out.push('"');
            out.push_str(key);
            out.push_str("\":\"");
            push_date(out, t);
            if rng.chance(0.05) {
                out.push_str(" UTC");
            }
            out.push('"');
        };
        let field = |out: &mut String, key: &str, value: &str| {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            push_str(out, value);
        };
        out.push('{');
        match self {
            List::Watch => {
                date(out, rng, "Date");
                let key = if rng.chance(0.10) { "VideoLink" } else { "Link" };
                field(out, key, &video_link(rng));
            }
            List::Search => {
                date(out, rng, "Date");
                field(out, "SearchTerm", &vocab::query(rng));
            }
            List::Like => {
                date(out, rng, if legacy { "Date" } else { "date" });
                field(out, if legacy { "Link" } else { "link" }, &video_link(rng));
            }
            List::FavVideo => {
                date(out, rng, "Date");
                field(out, "Link", &video_link(rng));
            }
            List::FavCollection => {
                date(out, rng, "Date");
                let name =
                    if rng.chance(0.5) { (*rng.pick(COLLECTIONS)).to_owned() } else { vocab::adjective_noun(rng) };
                field(out, "FavoriteCollection", &name);
            }
            List::FavSound => {
                date(out, rng, "Date");
                field(out, "Link", &format!("https://www.tiktokv.com/share/music/{}/", video_id(rng)));
            }
            List::FavEffect => {
                date(out, rng, "Date");
                field(out, "EffectLink", &format!("https://www.tiktokv.com/share/effect/{}/", video_id(rng)));
            }
            List::FavHashtag => {
                date(out, rng, "Date");
                let tag = vocab::slug(&vocab::adjective_noun(rng));
                field(out, "Link", &format!("https://www.tiktok.com/tag/{tag}"));
            }
            List::Comment => {
                // Keys in the export's order: `comment` before `date` (2025).
                out.push_str(if legacy { "\"Comment\":" } else { "\"comment\":" });
                push_str(out, &comment_text(rng));
                out.push(',');
                date(out, rng, if legacy { "Date" } else { "date" });
                let photo = if rng.chance(0.7) {
                    "N/A".to_owned()
                } else {
                    format!("https://p16-sign.tiktokcdn.example/photo-{}.jpeg", video_id(rng))
                };
                field(out, "photo", &photo);
                let url = if rng.chance(0.6) { String::new() } else { video_link(rng) };
                field(out, "url", &url);
                let video = if rng.chance(0.3) {
                    String::new()
                } else {
                    format!("video-{}", rng.pick(vocab::NOUNS).to_lowercase())
                };
                field(out, "video", &video);
            }
            List::Share => {
                date(out, rng, "Date");
                field(out, "Link", &video_link(rng));
                let (method, shared): (&&str, &&str) = (rng.pick(SHARE_METHODS), rng.pick(SHARED_CONTENT));
                field(out, "Method", method);
                field(out, "SharedContent", shared);
            }
        }
        out.push('}');
    }
}

const COLLECTIONS: &[&str] = &["Recipes", "Travel ideas", "Workouts", "Crème desserts", "Garden tips", "Sää & weather"];
const SHARE_METHODS: &[&str] = &["Copy Link", "WhatsApp", "Messenger", "Instagram", "Download", "SMS"];
const SHARED_CONTENT: &[&str] = &["video", "video", "video", "live", "profile", "sound"];
const COMMENT_OPENERS: &[&str] =
    &["nice video", "love this", "so good", "haha", "where is this?", "need the recipe", "täydellinen", "wow"];

fn comment_text(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => (*rng.pick(COMMENT_OPENERS)).to_owned(),
        1 => format!("{} {}", rng.pick(COMMENT_OPENERS), vocab::adjective_noun(rng).to_lowercase()),
        _ => format!("the {} \"{}\" part", rng.pick(vocab::NOUNS).to_lowercase(), rng.pick(vocab::NON_ASCII)),
    }
}

/// A 19-digit TikTok id (starts with 7, as current ids do).
fn video_id(rng: &mut Rng) -> String {
    format!("7{:018}", rng.below(1_000_000_000_000_000_000))
}

fn video_link(rng: &mut Rng) -> String {
    format!("https://www.tiktokv.com/share/video/{}/", video_id(rng))
}

/// `YYYY-MM-DD HH:MM:SS` of a UTC instant in ms.
fn push_date(out: &mut String, utc_ms: i64) {
    use std::fmt::Write as _;
    let t = DateTime::from_timestamp_millis(utc_ms).unwrap_or_default().naive_utc();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// A JSON string literal (non-ASCII stays literal UTF-8).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

// --- The plan: sizes per list and the document tree.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Count(u64),
    /// Records until this many bytes of them are written.
    Bytes(u64),
}

/// Records of a `huge` list's time line per byte of budget: no record is
/// shorter than 40 bytes, so the time line never runs out first.
const BYTES_PER_PLANNED_RECORD: u64 = 40;
/// Bytes collected before they are passed on.
const FLUSH_BYTES: usize = 64 * 1024;
/// An element with a missing comma (`malformed_json`).
const BROKEN_ELEMENT: &str = "{\"Date\": \"2024-01-01 00:00:00\" \"Link\": \"broken json\"}";

struct Plan<'s> {
    scenario: &'s Scenario,
    /// Span of activity, UTC ms.
    span: (i64, i64),
    bomb: bool,
}

impl<'s> Plan<'s> {
    fn new(scenario: &'s Scenario, created_at: DateTime<Utc>) -> Plan<'s> {
        let (start, end) = scenario.span.resolve(created_at);
        Plan { scenario, span: (millis(start), millis(end)), bomb: scenario.has(&Failure::ZipBomb) }
    }

    fn file(&self) -> &'static str {
        match self.scenario.tiktok_layout {
            TikTokLayout::V2025 => TIKTOK_FILE_2025,
            TikTokLayout::Legacy => TIKTOK_FILE_LEGACY,
        }
    }

    fn data_type(name: &str) -> &'static DataType {
        Source::TikTok.data_type(name).expect("every TikTok list's type is in the catalogue")
    }

    fn missing(&self, name: &str) -> bool {
        let t = Plan::data_type(name);
        self.scenario
            .failures
            .iter()
            .any(|f| matches!(f, Failure::MissingType { data_type } if data_type.name == t.name))
    }

    fn malformed(&self, name: &str) -> bool {
        self.scenario
            .failures
            .iter()
            .any(|f| matches!(f, Failure::MalformedJson { data_type } if data_type.name == name))
    }

    /// Records of a data type before any split; `None` when sized by bytes.
    fn count(&self, name: &str) -> Option<u64> {
        let n = self.scenario.records_for(Plan::data_type(name))?;
        Some(if self.span.0 < self.span.1 { n } else { 0 })
    }

    fn favorites_split(&self) -> FavoritesSplit {
        favorites_split(self.count("favorites").unwrap_or(0))
    }

    fn budget(&self, list: List) -> Budget {
        let name = list.data_type();
        match self.count(name) {
            Some(n) if name == "favorites" => {
                let s = favorites_split(n);
                Budget::Count(match list {
                    List::FavVideo => s.videos,
                    List::FavCollection => s.collections,
                    List::FavSound => s.sounds,
                    List::FavEffect => s.effects,
                    _ => s.hashtags,
                })
            }
            Some(n) => Budget::Count(n),
            None => {
                let per_type = (self.scenario.target_bytes / TIKTOK_TYPES.len() as u64).max(1);
                Budget::Bytes(match list {
                    List::FavVideo => per_type - 4 * (per_type / 10),
                    List::FavCollection | List::FavSound | List::FavEffect | List::FavHashtag => (per_type / 10).max(1),
                    _ => per_type,
                })
            }
        }
    }

    /// Whether the JSON file may pass 4 GiB (the zip needs ZIP64 headers up front).
    fn large(&self) -> bool {
        let estimate: u64 = List::ALL
            .iter()
            .map(|l| match self.budget(*l) {
                Budget::Count(n) => n.saturating_mul(400),
                Budget::Bytes(b) => b,
            })
            .fold(0, u64::saturating_add);
        estimate >= LARGE_MEMBER
    }

    fn write_json(&self, w: &mut dyn Write) -> io::Result<()> {
        let tree = self.tree();
        let mut out = Out { w, buf: String::with_capacity(FLUSH_BYTES * 2) };
        self.write_node(&mut out, &tree)?;
        out.flush()
    }

    fn write_node(&self, out: &mut Out<'_>, node: &Node) -> io::Result<()> {
        match node {
            Node::Raw(text) => out.push(text),
            Node::List(list) => self.write_list(out, *list),
            Node::Obj(fields) => {
                out.push("{")?;
                let mut first = true;
                for (key, value) in fields {
                    if matches!(value, Node::Absent) {
                        continue;
                    }
                    if !first {
                        out.push(",")?;
                    }
                    first = false;
                    let mut k = String::new();
                    push_str(&mut k, key);
                    k.push(':');
                    out.push(&k)?;
                    self.write_node(out, value)?;
                }
                out.push("}")
            }
            Node::Absent => Ok(()),
        }
    }

    fn write_list(&self, out: &mut Out<'_>, list: List) -> io::Result<()> {
        let budget = self.budget(list);
        let planned = match budget {
            Budget::Count(n) => n,
            Budget::Bytes(b) => b / BYTES_PER_PLANNED_RECORD + 16,
        };
        let layout = self.scenario.tiktok_layout;
        let mut content = Rng::new(self.scenario.seed, list.key(), "content");
        let timeline = Timeline::new(
            Rng::new(self.scenario.seed, list.key(), "time"),
            self.scenario.tz,
            self.span.0,
            self.span.1,
            planned,
        );
        let bad = list.first_of_type() && self.scenario.has(&Failure::BadRecords);
        let mut bad_elements = bad.then(|| bad_elements(list, self.span));
        let mut bad_next = 0;
        let malformed = list.first_of_type() && self.malformed(list.data_type());
        let mut broken = false;
        let mut rec = String::with_capacity(256);
        let (mut written, mut bytes) = (0u64, 0u64);
        out.push("[")?;
        let mut any = false;
        let mut element = |out: &mut Out<'_>, text: &str| -> io::Result<()> {
            if any {
                out.push(",")?;
            }
            any = true;
            out.push(text)
        };
        for t in timeline {
            if matches!(budget, Budget::Bytes(b) if bytes >= b) {
                break;
            }
            rec.clear();
            list.render(&mut rec, &mut content, t, layout);
            bytes += rec.len() as u64;
            element(out, &rec)?;
            written += 1;
            if let Some(bad) = &bad_elements
                && let Some(text) = bad.get(bad_next)
            {
                element(out, text)?;
                bad_next += 1;
            }
            if malformed && !broken && written == 3 {
                element(out, BROKEN_ELEMENT)?;
                broken = true;
            }
        }
        if let Some(bad) = bad_elements.take() {
            for text in &bad[bad_next..] {
                element(out, text)?;
            }
        }
        if malformed && !broken {
            element(out, BROKEN_ELEMENT)?;
        }
        out.push("]")
    }

    /// The document of the scenario's layout, lists as placeholders.
    fn tree(&self) -> Node {
        let list = |l: List| if self.missing(l.data_type()) { Node::Absent } else { Node::List(l) };
        let wrap = |key: &'static str, l: List| match list(l) {
            Node::Absent => Node::Absent,
            node => Node::Obj(vec![(key, node)]),
        };
        let favorites = [
            ("Favorite Collection", "FavoriteCollectionList", List::FavCollection),
            ("Favorite Effects", "FavoriteEffectsList", List::FavEffect),
            ("Favorite Hashtags", "FavoriteHashtagList", List::FavHashtag),
            ("Favorite Sounds", "FavoriteSoundList", List::FavSound),
            ("Favorite Videos", "FavoriteVideoList", List::FavVideo),
        ];
        let private = Private::new(self.scenario.seed, self.span);
        let comments = Node::Obj(vec![("Comments", wrap("CommentsList", List::Comment))]);
        match self.scenario.tiktok_layout {
            TikTokLayout::V2025 => {
                let mut likes: Vec<(&'static str, Node)> =
                    favorites.iter().map(|(section, key, l)| (*section, wrap(key, *l))).collect();
                likes.push(("Like List", wrap("ItemFavoriteList", List::Like)));
                Node::Obj(vec![
                    ("Comment", comments),
                    (
                        "Direct Message",
                        Node::Obj(vec![("Direct Messages", Node::Obj(vec![("ChatHistory", Node::Raw(private.chats))]))]),
                    ),
                    ("Income+ Wallet", Node::Raw("null".into())),
                    ("Likes and Favorites", Node::Obj(likes)),
                    ("Location Review", Node::Raw("{\"Location Reviews\":{\"LocationReviewList\":null}}".into())),
                    ("Post", Node::Raw("{\"Posts\":{\"VideoList\":[]}}".into())),
                    (
                        "Profile And Settings",
                        Node::Obj(vec![
                            ("Block List", Node::Raw("{\"BlockList\":[]}".into())),
                            ("Profile Info", Node::Obj(vec![("ProfileMap", Node::Raw(private.profile))])),
                            ("Settings", Node::Raw("{\"SettingsMap\":{\"Allow DownLoad\":\"Enabled\",\"Private Account\":\"Disabled\"}}".into())),
                        ]),
                    ),
                    ("TikTok Live", Node::Raw("{\"Go Live History\":{\"GoLiveList\":null},\"Watch Live History\":{\"WatchLiveMap\":{}}}".into())),
                    ("TikTok Shop", Node::Raw("{\"Order History\":{\"OrderHistories\":null},\"Product Browsing History\":{\"ProductBrowsingHistories\":[]}}".into())),
                    (
                        "Your Activity",
                        Node::Obj(vec![
                            ("Follower", Node::Raw(format!("{{\"FansList\":{}}}", private.followers))),
                            ("Following", Node::Raw(format!("{{\"Following\":{}}}", private.following))),
                            ("Login History", Node::Raw(format!("{{\"LoginHistoryList\":{}}}", private.logins))),
                            ("Purchases", Node::Raw("{\"BuyGifts\":null}".into())),
                            ("Searches", wrap("SearchList", List::Search)),
                            ("Share History", wrap("ShareHistoryList", List::Share)),
                            ("Watch History", wrap("VideoList", List::Watch)),
                        ]),
                    ),
                ])
            }
            TikTokLayout::Legacy => {
                let mut activity: Vec<(&'static str, Node)> =
                    favorites.iter().map(|(section, key, l)| (*section, wrap(key, *l))).collect();
                activity.extend([
                    ("Follower List", Node::Raw(format!("{{\"FansList\":{}}}", private.followers))),
                    ("Following List", Node::Raw(format!("{{\"Following\":{}}}", private.following))),
                    ("Like List", wrap("ItemFavoriteList", List::Like)),
                    ("Login History", Node::Raw(format!("{{\"LoginHistoryList\":{}}}", private.logins))),
                    ("Search History", wrap("SearchList", List::Search)),
                    ("Share History", wrap("ShareHistoryList", List::Share)),
                    ("Video Browsing History", wrap("VideoList", List::Watch)),
                ]);
                Node::Obj(vec![
                    ("Activity", Node::Obj(activity)),
                    ("Ads and data", Node::Raw("null".into())),
                    ("App Settings", Node::Raw("{\"Block List\":{\"BlockList\":[]}}".into())),
                    ("Comment", comments),
                    (
                        "Direct Messages",
                        Node::Obj(vec![("Chat History", Node::Obj(vec![("ChatHistory", Node::Raw(private.chats))]))]),
                    ),
                    (
                        "Profile",
                        Node::Obj(vec![(
                            "Profile Information",
                            Node::Obj(vec![("ProfileMap", Node::Raw(private.profile))]),
                        )]),
                    ),
                    ("Tiktok Live", Node::Raw("{}".into())),
                    ("Video", Node::Raw("{\"Videos\":{\"VideoList\":null}}".into())),
                ])
            }
        }
    }
}

/// A piece of the document.
enum Node {
    Obj(Vec<(&'static str, Node)>),
    List(List),
    /// Literal JSON.
    Raw(String),
    /// Left out (its object key too).
    Absent,
}

/// The writer with a buffer passed on every [`FLUSH_BYTES`].
struct Out<'w> {
    w: &'w mut dyn Write,
    buf: String,
}

impl Out<'_> {
    fn push(&mut self, text: &str) -> io::Result<()> {
        self.buf.push_str(text);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.write_all(self.buf.as_bytes())?;
        self.buf.clear();
        Ok(())
    }
}

/// What `bad_records` adds to a list: non-object elements, one record over
/// 2 MiB with a valid date, and records whose date is not a date.
fn bad_elements(list: List, span: (i64, i64)) -> Vec<String> {
    let mut out = vec!["42".to_string(), "\"not a record\"".to_string(), "null".to_string(), "[\"Date\"]".to_string()];
    debug_assert_eq!(out.len() as u64, BAD_RECORDS.non_object);
    let mut big = String::from("{\"Date\":\"");
    push_date(&mut big, span.0.max(span.1 - 3_600_000));
    big.push_str("\",\"Link\":\"https://www.tiktokv.com/share/video/7000000000000000002/\",\"Note\":\"");
    big.push_str(&"a".repeat((2 << 20) + 1024));
    big.push_str("\"}");
    out.push(big);
    let date_key = if matches!(list, List::Like | List::Comment) { "date" } else { "Date" };
    for garbled in ["yesterday", "2024-13-45 25:61:00", ""] {
        out.push(format!(
            "{{\"{date_key}\":\"{garbled}\",\"Link\":\"https://www.tiktokv.com/share/video/7000000000000000003/\"}}"
        ));
    }
    debug_assert_eq!(out.len() as u64, BAD_RECORDS.non_object + BAD_RECORDS.oversized + BAD_RECORDS.bad_time);
    out
}

/// The data Steward must never keep: profile, messages, logins, followers.
struct Private {
    profile: String,
    chats: String,
    logins: String,
    followers: String,
    following: String,
}

impl Private {
    fn new(seed: u64, span: (i64, i64)) -> Private {
        let mut rng = Rng::new(seed, "tiktok/private", "content");
        let (start, end) = span;
        let mut when = |rng: &mut Rng| {
            let mut s = String::new();
            let t = if end > start { start + rng.below((end - start) as u64) as i64 } else { end };
            push_date(&mut s, t);
            s
        };
        let profile = "{\"bioDescription\":\"Coffee, cedar forests and café mornings\",\"birthDate\":\"01-Jan-1990\",\
             \"displayName\":\"Alex Example\",\"emailAddress\":\"alex@example.test\",\"followerCount\":12,\
             \"followingCount\":34,\"likesReceived\":\"7\",\"profilePhoto\":\"https://p16-sign.tiktokcdn.example/avatar.jpeg\",\
             \"telephoneNumber\":\"+358 40 0000000\",\"userName\":\"alex_example\"}"
            .to_owned();
        let mut chats = String::from("{");
        for (i, friend) in ["friend_one", "friend_two"].iter().enumerate() {
            if i > 0 {
                chats.push(',');
            }
            chats.push_str(&format!("\"Chat History with {friend}:\":["));
            for k in 0..3 {
                if k > 0 {
                    chats.push(',');
                }
                let from = if k % 2 == 0 { "sample_user" } else { friend };
                let content =
                    if k == 0 { "hello friend".to_owned() } else { vocab::adjective_noun(&mut rng).to_lowercase() };
                chats.push_str(&format!(
                    "{{\"Date\":\"{}\",\"From\":\"{from}\",\"Content\":\"{content}\"}}",
                    when(&mut rng)
                ));
            }
            chats.push(']');
        }
        chats.push('}');
        let mut logins = String::from("[");
        for k in 0..6 {
            if k > 0 {
                logins.push(',');
            }
            logins.push_str(&format!(
                "{{\"Date\":\"{}\",\"IP\":\"192.0.2.{}\",\"DeviceModel\":\"{}\",\"DeviceSystem\":\"{}\",\
                 \"NetworkType\":\"{}\",\"Carrier\":\"Example Mobile\"}}",
                when(&mut rng),
                rng.range(1, 254),
                rng.pick(&["Pixel Example 8", "Phone Example 15", "Tablet Example"]),
                rng.pick(&["Android 14", "iOS 17.4", "Android 13"]),
                rng.pick(&["Wi-Fi", "4G", "5G"]),
            ));
        }
        logins.push(']');
        let people = |rng: &mut Rng, when: &mut dyn FnMut(&mut Rng) -> String| {
            let mut s = String::from("[");
            for k in 0..4 {
                if k > 0 {
                    s.push(',');
                }
                let name = vocab::slug(&vocab::adjective_noun(rng));
                s.push_str(&format!("{{\"Date\":\"{}\",\"UserName\":\"{name}_{}\"}}", when(rng), rng.below(100)));
            }
            s.push(']');
            s
        };
        let followers = people(&mut rng, &mut when);
        let following = people(&mut rng, &mut when);
        Private { profile, chats, logins, followers, following }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::sandbox::Persona;
    use crate::donation::sandbox::gen_test::{CountingSink, entries, in_fresh_process, proc_status_bytes};
    use serde_json::Value;
    use std::io::Cursor;

    fn created() -> DateTime<Utc> {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn archive(s: &Scenario) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_tiktok_archive(s, created(), &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    fn document(s: &Scenario) -> Value {
        let all = entries(&archive(s));
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, tiktok_manifest(s, created()).path);
        serde_json::from_slice(&all[0].1).unwrap()
    }

    fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(v, |v, k| &v[*k])
    }

    fn list<'a>(v: &'a Value, path: &[&str]) -> &'a Vec<Value> {
        at(v, path).as_array().unwrap_or_else(|| panic!("{path:?} is not a list"))
    }

    const PATHS_2025: [(&str, &[&str]); 6] = [
        ("watch_history", &["Your Activity", "Watch History", "VideoList"]),
        ("search_history", &["Your Activity", "Searches", "SearchList"]),
        ("likes", &["Likes and Favorites", "Like List", "ItemFavoriteList"]),
        ("favorites", &["Likes and Favorites", "Favorite Videos", "FavoriteVideoList"]),
        ("comments", &["Comment", "Comments", "CommentsList"]),
        ("shares", &["Your Activity", "Share History", "ShareHistoryList"]),
    ];

    fn is_date(s: &str) -> bool {
        let s = s.strip_suffix(" UTC").unwrap_or(s);
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
    }

    #[test]
    fn the_2025_layout_has_every_section_and_record_shape() {
        let s = Scenario::default().persona(Persona::Medium);
        let doc = document(&s);
        let top: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            top,
            [
                "Comment",
                "Direct Message",
                "Income+ Wallet",
                "Likes and Favorites",
                "Location Review",
                "Post",
                "Profile And Settings",
                "TikTok Live",
                "TikTok Shop",
                "Your Activity"
            ]
        );
        let manifest = tiktok_manifest(&s, created());
        let split = favorites_split(2000);
        for (name, path) in PATHS_2025 {
            let records = list(&doc, path);
            let expected = if name == "favorites" { split.videos } else { 2000 };
            assert_eq!(records.len() as u64, expected, "{name}");
            assert_eq!(manifest.records_of(name), Some(2000), "{name}");
        }
        let watch = list(&doc, PATHS_2025[0].1);
        let video_links = watch.iter().filter(|r| r.get("VideoLink").is_some()).count();
        assert!((100..300).contains(&video_links), "{video_links} of 2000 use VideoLink");
        let utc = watch.iter().filter(|r| r["Date"].as_str().unwrap().ends_with(" UTC")).count();
        assert!((40..200).contains(&utc), "{utc} of 2000 dates end in UTC");
        for r in watch {
            assert!(is_date(r["Date"].as_str().unwrap()), "{r}");
            let link = r.get("Link").or(r.get("VideoLink")).unwrap().as_str().unwrap();
            let id = link.strip_prefix("https://www.tiktokv.com/share/video/").unwrap().strip_suffix('/').unwrap();
            assert!(id.len() == 19 && id.bytes().all(|b| b.is_ascii_digit()), "{link}");
        }
        // Newest first.
        let dates: Vec<&str> = watch.iter().map(|r| &r["Date"].as_str().unwrap()[..19]).collect();
        assert!(dates.windows(2).all(|w| w[0] >= w[1]));
        let like = &list(&doc, PATHS_2025[2].1)[0];
        assert!(like.get("date").is_some() && like.get("link").is_some() && like.get("Date").is_none());
        let comments = list(&doc, PATHS_2025[4].1);
        assert!(comments.iter().any(|c| c["photo"] == "N/A") && comments.iter().any(|c| c["url"] == ""));
        assert!(comments.iter().all(|c| c["comment"].is_string() && is_date(c["date"].as_str().unwrap())));
        let share = &list(&doc, PATHS_2025[5].1)[0];
        assert!(share["Method"].is_string() && share["SharedContent"].is_string());
        let lf = &doc["Likes and Favorites"];
        assert_eq!(list(lf, &["Favorite Collection", "FavoriteCollectionList"]).len() as u64, split.collections);
        assert!(list(lf, &["Favorite Collection", "FavoriteCollectionList"])[0]["FavoriteCollection"].is_string());
        assert!(list(lf, &["Favorite Effects", "FavoriteEffectsList"])[0]["EffectLink"].is_string());
        assert_eq!(list(lf, &["Favorite Sounds", "FavoriteSoundList"]).len() as u64, split.sounds);
        assert_eq!(list(lf, &["Favorite Hashtags", "FavoriteHashtagList"]).len() as u64, split.hashtags);
        assert_eq!(split.total(), 2000);
        // What Steward must never keep is there.
        let profile = at(&doc, &["Profile And Settings", "Profile Info", "ProfileMap"]);
        assert_eq!(profile["emailAddress"], "alex@example.test");
        assert_eq!(profile["telephoneNumber"], "+358 40 0000000");
        assert_eq!(profile["birthDate"], "01-Jan-1990");
        assert_eq!(profile["likesReceived"], "7");
        let chat = at(&doc, &["Direct Message", "Direct Messages", "ChatHistory", "Chat History with friend_one:"]);
        assert_eq!(chat[0]["Content"], "hello friend");
        let logins = list(&doc, &["Your Activity", "Login History", "LoginHistoryList"]);
        assert!(logins.iter().all(|l| l["IP"].as_str().unwrap().starts_with("192.0.2.")));
        // Empty sections as null, [] and {}.
        assert!(doc["Income+ Wallet"].is_null());
        assert_eq!(at(&doc, &["Post", "Posts", "VideoList"]), &Value::Array(vec![]));
        assert_eq!(at(&doc, &["TikTok Live", "Watch Live History", "WatchLiveMap"]), &serde_json::json!({}));
    }

    #[test]
    fn the_legacy_layout_uses_the_older_paths() {
        let s = Scenario::default().tiktok_layout(TikTokLayout::Legacy);
        assert_eq!(tiktok_manifest(&s, created()).path, TIKTOK_FILE_LEGACY);
        let doc = document(&s);
        assert_eq!(list(&doc, &["Activity", "Video Browsing History", "VideoList"]).len(), 50);
        assert_eq!(list(&doc, &["Activity", "Search History", "SearchList"]).len(), 50);
        let likes = list(&doc, &["Activity", "Like List", "ItemFavoriteList"]);
        assert!(likes[0]["Date"].is_string() && likes[0]["Link"].is_string());
        assert_eq!(list(&doc, &["Activity", "Share History", "ShareHistoryList"]).len(), 50);
        let comments = list(&doc, &["Comment", "Comments", "CommentsList"]);
        assert!(comments[0]["Comment"].is_string() && comments[0]["Date"].is_string());
        assert_eq!(
            list(&doc, &["Activity", "Favorite Videos", "FavoriteVideoList"]).len() as u64,
            favorites_split(50).videos
        );
        assert_eq!(at(&doc, &["Profile", "Profile Information", "ProfileMap", "emailAddress"]), "alex@example.test");
        assert!(at(&doc, &["Direct Messages", "Chat History", "ChatHistory"]).is_object());
        assert!(doc.get("Your Activity").is_none());
    }

    #[test]
    fn archives_are_byte_identical_per_seed() {
        let s = Scenario::default().persona(Persona::Tiny);
        assert_eq!(archive(&s), archive(&s));
        assert_ne!(archive(&s), archive(&s.clone().seed(2)));
        let manifest = tiktok_manifest(&s, created());
        assert!(manifest.records.iter().all(|(_, n)| *n == Some(5)));
        let split = manifest.favorites.unwrap();
        assert_eq!((split.videos, split.collections, split.hashtags), (1, 1, 1));
    }

    #[test]
    fn records_override_and_missing_type() {
        let s = Scenario::default()
            .persona(Persona::Tiny)
            .records("watch_history", 321)
            .failure(Failure::missing_type("search_history"))
            .failure(Failure::missing_type("favorites"));
        let doc = document(&s);
        assert_eq!(list(&doc, PATHS_2025[0].1).len(), 321);
        assert!(doc["Your Activity"].get("Searches").is_none());
        assert!(doc["Likes and Favorites"].get("Favorite Videos").is_none());
        assert!(doc["Likes and Favorites"].get("Like List").is_some());
        let m = tiktok_manifest(&s, created());
        assert_eq!((m.records_of("watch_history"), m.records_of("search_history")), (Some(321), Some(0)));
        assert_eq!(m.favorites, Some(FavoritesSplit::default()));
    }

    #[test]
    fn malformed_json_and_bad_records() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::malformed_json("likes"));
        let all = entries(&archive(&s));
        let err = serde_json::from_slice::<Value>(&all[0].1).unwrap_err();
        assert!(err.is_syntax(), "{err}");

        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::BadRecords);
        let doc = document(&s);
        let extra = BAD_RECORDS.non_object + BAD_RECORDS.oversized + BAD_RECORDS.bad_time;
        for (name, path) in PATHS_2025 {
            let base = if name == "favorites" { favorites_split(5).videos } else { 5 };
            let records = list(&doc, path);
            assert_eq!(records.len() as u64, base + extra, "{name}");
            assert_eq!(records.iter().filter(|r| !r.is_object()).count() as u64, BAD_RECORDS.non_object);
            assert!(records.iter().any(|r| r.to_string().len() > 2 << 20));
        }
    }

    #[test]
    fn archive_failures_change_the_zip() {
        let tiny = Scenario::default().persona(Persona::Tiny);
        let cut = archive(&tiny.clone().failure(Failure::MalformedZip));
        assert!(zip::ZipArchive::new(Cursor::new(&cut)).is_err() && cut.starts_with(b"PK\x03\x04"));

        let nested = entries(&archive(&tiny.clone().failure(Failure::NestedArchive)));
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].0, TIKTOK_NESTED_ARCHIVE_NAME);
        let inner = entries(&nested[0].1);
        assert_eq!(inner[0].0, TIKTOK_FILE_2025);

        let traversal = entries(&archive(&tiny.clone().failure(Failure::PathTraversal)));
        let names: Vec<&str> = traversal.iter().map(|(n, _)| n.as_str()).collect();
        for name in PATH_TRAVERSAL_NAMES {
            assert!(names.contains(&name), "{name}");
        }
        assert!(names.contains(&TIKTOK_FILE_2025));

        let bomb = archive(&tiny.clone().failure(Failure::ZipBomb));
        assert!(bomb.len() < 9 << 20);
        let mut zip = zip::ZipArchive::new(Cursor::new(&bomb)).unwrap();
        assert_eq!(zip.by_name(TIKTOK_FILE_2025).unwrap().size(), super::super::ZIP_BOMB_BYTES);
        assert_eq!(tiktok_manifest(&tiny.clone().failure(Failure::ZipBomb), created()).records[0].1, None);
    }

    #[test]
    fn too_many_entries_adds_tiny_entries() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::TooManyEntries);
        let bytes = archive(&s);
        let zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(zip.len() as u32, TOO_MANY_ENTRIES + 1);
    }

    #[test]
    fn huge_fills_the_target_bytes() {
        let target = 3 << 20;
        let s = Scenario::default().persona(Persona::Huge).target_bytes(target);
        let all = entries(&archive(&s));
        let len = all[0].1.len() as u64;
        assert!(len >= target && len < target + (256 << 10), "{len}");
        assert!(tiktok_manifest(&s, created()).records.iter().all(|(_, n)| n.is_none()));
        serde_json::from_slice::<Value>(&all[0].1).unwrap();
    }

    const MEMORY_CHILD: &str = "STEWARD_SANDBOX_TIKTOK_MEMORY_CHILD_RECORDS";
    const SELF_TEST: &str = "donation::sandbox::gen_tiktok::tests::many_records_stream_without_buffering";

    // Memory bound (spec §5.4, §6.4): 400,000 watch records (about 40 MiB of
    // JSON) stream through with resident memory growing by less than a
    // quarter of that; a generator that buffered the document would grow by
    // all of it. Measured in a fresh process of this test binary, so tests
    // running alongside do not count.
    #[test]
    fn many_records_stream_without_buffering() {
        let Some(records) = std::env::var(MEMORY_CHILD).ok().and_then(|v| v.parse::<u64>().ok()) else {
            return in_fresh_process(SELF_TEST, MEMORY_CHILD, "400000");
        };
        let s = Scenario::default().persona(Persona::Tiny).records("watch_history", records);
        assert_eq!(tiktok_manifest(&s, created()).records_of("watch_history"), Some(records));
        let baseline = proc_status_bytes("VmRSS:");
        let mut sink = CountingSink::default();
        let written = write_tiktok_archive(&s, created(), &mut sink).unwrap();
        assert_eq!(written, sink.bytes);
        let json_bytes = records * 90;
        assert!(written > json_bytes / 30 && written < json_bytes, "{written} bytes for {records} records");
        if let (Some(baseline), Some(peak)) = (baseline, proc_status_bytes("VmHWM:")) {
            let growth = peak.saturating_sub(baseline);
            println!("sandbox TikTok archive: {records} records, resident memory grew by {growth} bytes");
            assert!(growth < json_bytes / 4, "resident memory grew by {growth} bytes for {records} records");
        }
    }
}
