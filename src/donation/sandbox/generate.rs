//! Google portability archives for the sandbox (spec §4.3.1, §6.4–§6.6),
//! and the public entry to the TikTok ones ([`write_tiktok_archive`],
//! [`tiktok_manifest`]; generated in `gen_tiktok`, whose module doc lists the
//! layouts, record shapes and content failures).
//!
//! An export is one `initiate` call: a set of resource groups, an optional
//! `[startTime, endTime)` window and the time it was created. The export
//! comes as [`google_part_count`] zips; [`write_google_part`] streams one of
//! them into any [`Write`] while generating it, so a `huge` archive needs
//! neither memory nor disk, and writes the same bytes every time for the
//! same scenario and export (serve a `Range` by discarding the first bytes).
//!
//! What an export holds, per resource group, under `Portability/`:
//!
//! | Group | Members (in this order) |
//! |---|---|
//! | `myactivity.youtube` | `My Activity/YouTube/MyActivity.json` |
//! | `myactivity.search` | `My Activity/{Search, Image Search, Video Search, Google Lens, Discover}/MyActivity.json`, Lens images `My Activity/Google Lens/lens-NNNN.jpg` |
//! | `myactivity.play` | `My Activity/{Google Play Games, Google Play Store, Google Play Books}/MyActivity.json` |
//! | `discover.likes` | `Discover/Your Liked Content.csv` |
//! | `discover.follows` | `Discover/Your Follows.csv` |
//! | `discover.not_interested` | `Discover/Not Interested Setting.csv` |
//!
//! Sizes: each data type gets its persona's record count (or its `records=`
//! override) over the scenario's span; My Activity records outside the
//! export's window are then left out, as Google does. `discover`'s count is
//! shared by its four members ([`discover_split`]); Play Books uses the
//! persona's count. With `huge`, the My Activity members of an export share
//! `target_bytes` (records are generated newest first until a member's share
//! is reached, so they cover the recent part of the span) and the Discover
//! CSVs are sized as for `large`.
//!
//! Multi-part exports (`multi_part:N`) deal whole members out to the parts
//! in turn (member `i` goes to part `i mod N`, Lens images with their
//! member), so a part can be an empty zip. `split_member` splits the first
//! My Activity member (the first member if there is none) into two files of
//! the same path: the newer half of its records in its own part, the older
//! half in the next part (there are then at least two parts).
//!
//! The other content failures (spec §6.6): `missing_type:<t>` leaves out
//! every member of `t`; `html_only:<t>` writes `t`'s My Activity as
//! `MyActivity.html`; `malformed_json:<t>` puts an object with a missing
//! comma after the third record of `t`'s `MyActivity.json`; `bad_records`
//! adds [`BAD_RECORDS`] to every `MyActivity.json`, interleaved with the
//! first records; `zip_bomb` replaces the export's first My Activity member
//! with a deflate stream of [`ZIP_BOMB_BYTES`]; `duplicate_member` writes
//! that member a second time with `\` for `/`; `nested_archive` puts every
//! member of a part into [`NESTED_ARCHIVE_NAME`]; `path_traversal`
//! ([`PATH_TRAVERSAL_NAMES`]) and `too_many_entries` ([`TOO_MANY_ENTRIES`])
//! add entries to the first part; `malformed_zip` cuts every part's central
//! directory in half, leaving no end record.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::donation::catalogue::{DataType, Source};

use super::gen_google::{self as google, Activity, Pools, Product};
use super::gen_rng::Rng;
use super::gen_time::{Timeline, millis};
use super::gen_vocab as vocab;
use super::gen_zip::{Archive, Bomb, LARGE_MEMBER, Method, inner_zip};
use super::scenario::{Failure, Persona, Scenario};

pub use super::gen_tiktok::{
    FavoritesSplit, TIKTOK_FILE_2025, TIKTOK_FILE_LEGACY, TIKTOK_NESTED_ARCHIVE_NAME, TIKTOK_TYPES, TikTokManifest,
    favorites_split, tiktok_manifest, write_tiktok_archive,
};

/// One Google export: what `portabilityArchive:initiate` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoogleExport<'a> {
    /// Resource groups of the export, e.g. `["myactivity.search"]`.
    pub resources: &'a [&'a str],
    /// `startTime` of the initiate call.
    pub start_time: Option<DateTime<Utc>>,
    /// `endTime` of the initiate call.
    pub end_time: Option<DateTime<Utc>>,
    /// When the export was created. It stands for "now" in the scenario's
    /// span (`..now`) and dates the zip entries, so pass the same instant for
    /// every download of the export: the archive is then byte-identical.
    pub created_at: DateTime<Utc>,
}

/// The resource groups the generator knows (every Google group of the catalogue).
pub const GOOGLE_RESOURCES: &[&str] = &[
    "myactivity.youtube",
    "myactivity.search",
    "myactivity.play",
    "discover.likes",
    "discover.follows",
    "discover.not_interested",
];

/// Entry names `path_traversal` adds to the first part (spec §6.6).
pub const PATH_TRAVERSAL_NAMES: [&str; 4] = ["../../etc/passwd", "/abs/x.json", "C:\\x.json", "a/./b.json"];

/// Extra tiny entries `too_many_entries` adds to the first part.
pub const TOO_MANY_ENTRIES: u32 = 200_000;

/// With `nested_archive`, every member of a part is inside this entry (a
/// stored zip) and none at the top level.
pub const NESTED_ARCHIVE_NAME: &str = "Portability/nested.zip";

/// Length-258 matches of the zip bomb.
pub(crate) const BOMB_MATCHES: u64 = ((8 << 30) + (1 << 20)) / 258;

/// Uncompressed size of the `zip_bomb` member: about 1 MiB past the default
/// per-entry limit of 8 GiB (spec §5.5). It is about 8 MiB on the wire.
pub const ZIP_BOMB_BYTES: u64 = 3 + 258 * BOMB_MATCHES;

/// What `bad_records` adds to every `MyActivity.json`, besides its normal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecordCounts {
    /// Array elements that are not objects (`42`, a string, `null`, an array).
    pub non_object: u64,
    /// Records over 2 MiB (otherwise well-formed, with a valid `time`).
    pub oversized: u64,
    /// Records whose `time` is not a timestamp.
    pub bad_time: u64,
}

pub const BAD_RECORDS: BadRecordCounts = BadRecordCounts { non_object: 4, oversized: 1, bad_time: 3 };

/// How the `discover` record count is shared among its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoverSplit {
    /// `My Activity/Discover/MyActivity.json` records (before the window).
    pub history: u64,
    /// Rows of `Your Liked Content.csv`.
    pub liked: u64,
    /// Rows of `Your Follows.csv`.
    pub follows: u64,
    /// Rows of `Not Interested Setting.csv`.
    pub not_interested: u64,
}

/// `n` discover records: a fifth liked, a tenth each followed and not
/// interested, the rest feed history.
pub fn discover_split(n: u64) -> DiscoverSplit {
    let (liked, follows, not_interested) = (n / 5, n / 10, n / 10);
    DiscoverSplit { history: n - liked - follows - not_interested, liked, follows, not_interested }
}

/// One data member of a part, as [`google_manifest`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// 0-based part number.
    pub part: u32,
    /// Entry name.
    pub path: String,
    /// `Some(NESTED_ARCHIVE_NAME)` when the entry is inside the nested zip.
    pub inside: Option<&'static str>,
    /// The data type the member feeds (`None` for Play Books).
    pub data_type: Option<&'static str>,
    /// Records in the member (My Activity: inside the window unless
    /// `ignore_time_filter`; bad records and the broken element not counted),
    /// `None` when sized by bytes (`huge`) or replaced by the zip bomb.
    pub records: Option<u64>,
}

/// Zips per export: `multi_part:N`, at least 2 with `split_member`.
pub fn google_part_count(scenario: &Scenario, _resources: &[&str]) -> u32 {
    let parts = scenario.multi_part();
    if scenario.has(&Failure::SplitMember) { parts.max(2) } else { parts }
}

/// Writes part `part` (0-based) of `export` into `out` and returns the bytes
/// written. Errors: an unknown resource group or part number
/// (`InvalidInput`), or a write error of `out`.
pub fn write_google_part<W: Write>(
    scenario: &Scenario,
    export: &GoogleExport<'_>,
    part: u32,
    out: W,
) -> io::Result<u64> {
    let plan = Plan::new(scenario, export)?;
    if part >= plan.parts {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("part {part} of an export with {} parts", plan.parts),
        ));
    }
    let time = zip_time(export.created_at);
    let mine: Vec<&Member> = plan.members.iter().filter(|m| m.part == part).collect();
    let first = part == 0;
    let raw = mine.iter().any(|m| m.bomb) || (first && scenario.has(&Failure::TooManyEntries));
    let mut archive = if raw { Archive::raw(out, time) } else { Archive::stream(out, time) };
    if first && scenario.has(&Failure::PathTraversal) {
        write_path_traversal(&mut archive, export.created_at)?;
    }
    for m in mine.iter().filter(|m| m.bomb) {
        archive.bomb(&m.path, &Bomb { matches: BOMB_MATCHES })?;
    }
    let normal: Vec<&Member> = mine.iter().copied().filter(|m| !m.bomb).collect();
    if scenario.has(&Failure::NestedArchive) && !normal.is_empty() {
        let large = normal.iter().any(|m| m.large);
        archive.entry(NESTED_ARCHIVE_NAME, Method::Stored, large, &mut |w| {
            inner_zip(w, time, &mut |inner| write_members(inner, &plan, &normal))
        })?;
    } else {
        write_members(&mut archive, &plan, &normal)?;
    }
    if first && scenario.has(&Failure::TooManyEntries) {
        for i in 0..TOO_MANY_ENTRIES {
            let name = format!("Portability/Filler/{i:06}.txt");
            archive.entry(&name, Method::Stored, false, &mut |w| w.write_all(b"x\n"))?;
        }
    }
    archive.finish(scenario.has(&Failure::MalformedZip))
}

/// The data members of every part of `export`, with their record counts
/// where they are known without rendering (for tests and the sandbox page).
pub fn google_manifest(scenario: &Scenario, export: &GoogleExport<'_>) -> io::Result<Vec<ManifestEntry>> {
    let plan = Plan::new(scenario, export)?;
    let nested = scenario.has(&Failure::NestedArchive);
    let mut out = Vec::new();
    for m in &plan.members {
        let records = if m.bomb { None } else { plan.count(m) };
        let entry = ManifestEntry {
            part: m.part,
            path: m.path.clone(),
            inside: (nested && !m.bomb).then_some(NESTED_ARCHIVE_NAME),
            data_type: m.data_type.map(|t| t.name),
            records,
        };
        if m.duplicate {
            out.push(ManifestEntry { path: m.path.replace('/', "\\"), ..entry.clone() });
        }
        out.push(entry);
    }
    out.sort_by_key(|e| e.part);
    Ok(out)
}

/// What a member holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Activity(Product),
    Liked,
    Follows,
    NotInterested,
}

/// Which records of a member a file holds (`split_member`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slice {
    All,
    Newer,
    Older,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// This many records before the window.
    Count(u64),
    /// Records until this many bytes of them are inside the window.
    Bytes(u64),
}

#[derive(Debug)]
struct Member {
    content: Content,
    data_type: Option<&'static DataType>,
    path: String,
    part: u32,
    slice: Slice,
    budget: Budget,
    html: bool,
    malformed: bool,
    /// Replaced by the zip bomb.
    bomb: bool,
    /// Written a second time under a name that normalizes to the same path.
    duplicate: bool,
    /// May pass 4 GiB.
    large: bool,
}

/// The members of every part of one export, and the settings their
/// generators share.
struct Plan<'s> {
    scenario: &'s Scenario,
    members: Vec<Member>,
    parts: u32,
    /// Scenario span for this export, UTC milliseconds.
    span: (i64, i64),
    /// Records outside are left out of My Activity members.
    window: (i64, i64),
}

impl<'s> Plan<'s> {
    fn new(scenario: &'s Scenario, export: &GoogleExport<'_>) -> io::Result<Plan<'s>> {
        let mut contents: Vec<Content> = Vec::new();
        for &resource in export.resources {
            let group: &[Content] = match resource {
                "myactivity.youtube" => &[Content::Activity(Product::YouTube)],
                "myactivity.search" => &[
                    Content::Activity(Product::Search),
                    Content::Activity(Product::ImageSearch),
                    Content::Activity(Product::VideoSearch),
                    Content::Activity(Product::GoogleLens),
                    Content::Activity(Product::Discover),
                ],
                "myactivity.play" => &[
                    Content::Activity(Product::PlayGames),
                    Content::Activity(Product::PlayStore),
                    Content::Activity(Product::PlayBooks),
                ],
                "discover.likes" => &[Content::Liked],
                "discover.follows" => &[Content::Follows],
                "discover.not_interested" => &[Content::NotInterested],
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unknown Google resource group `{other}`"),
                    ));
                }
            };
            for c in group {
                if !contents.contains(c) {
                    contents.push(*c);
                }
            }
        }
        let data_type = |c: &Content| -> Option<&'static DataType> {
            let name = match c {
                Content::Activity(p) => p.data_type()?,
                _ => "discover",
            };
            Source::Google.data_type(name)
        };
        contents.retain(|c| {
            let t = data_type(c);
            !scenario.failures.iter().any(|f| matches!(f, Failure::MissingType { data_type } if Some(*data_type) == t))
        });

        let (span_start, span_end) = scenario.span.resolve(export.created_at);
        let window = if scenario.has(&Failure::IgnoreTimeFilter) {
            (i64::MIN, i64::MAX)
        } else {
            (export.start_time.map_or(i64::MIN, millis), export.end_time.map_or(i64::MAX, millis))
        };
        let activity_members = contents.iter().filter(|c| matches!(c, Content::Activity(_))).count().max(1) as u64;
        let dealt = scenario.multi_part();
        let parts = google_part_count(scenario, export.resources);
        let first_activity = contents.iter().position(|c| matches!(c, Content::Activity(_))).unwrap_or(0);
        let staged = |t: Option<&'static DataType>, pick: fn(&Failure) -> Option<&'static DataType>| {
            t.is_some() && scenario.failures.iter().any(|f| pick(f) == t)
        };

        let mut members = Vec::new();
        for (i, content) in contents.iter().enumerate() {
            let t = data_type(content);
            let budget = budget(scenario, *content, t, activity_members);
            let part = i as u32 % dealt;
            let is_activity = matches!(content, Content::Activity(_));
            let html = is_activity
                && staged(t, |f| match f {
                    Failure::HtmlOnly { data_type } => Some(*data_type),
                    _ => None,
                });
            let path = match content {
                Content::Activity(p) => {
                    let file = if html { "MyActivity.html" } else { "MyActivity.json" };
                    format!("Portability/My Activity/{}/{file}", p.folder())
                }
                Content::Liked => "Portability/Discover/Your Liked Content.csv".into(),
                Content::Follows => "Portability/Discover/Your Follows.csv".into(),
                Content::NotInterested => "Portability/Discover/Not Interested Setting.csv".into(),
            };
            let member = Member {
                content: *content,
                data_type: t,
                html,
                // An HTML rendering is not JSON to begin with.
                malformed: is_activity
                    && !html
                    && staged(t, |f| match f {
                        Failure::MalformedJson { data_type } => Some(*data_type),
                        _ => None,
                    }),
                path,
                part,
                slice: Slice::All,
                budget,
                bomb: i == first_activity && scenario.has(&Failure::ZipBomb),
                duplicate: i == first_activity && scenario.has(&Failure::DuplicateMember),
                large: matches!(budget, Budget::Bytes(b) if b >= LARGE_MEMBER),
            };
            if i == first_activity && scenario.has(&Failure::SplitMember) {
                let older = Member {
                    part: (part + 1) % parts,
                    slice: Slice::Older,
                    bomb: false,
                    duplicate: false,
                    path: member.path.clone(),
                    ..member
                };
                members.push(Member { slice: Slice::Newer, ..member });
                members.push(older);
            } else {
                members.push(member);
            }
        }
        Ok(Plan { scenario, members, parts, span: (millis(span_start), millis(span_end)), window })
    }

    fn activity_spec(&self, m: &Member, product: Product) -> ActivitySpec {
        ActivitySpec {
            product,
            seed: self.scenario.seed,
            zone: self.scenario.tz,
            span: self.span,
            window: self.window,
            budget: m.budget,
            slice: m.slice,
            html: m.html,
            malformed: m.malformed,
            bad_records: self.scenario.has(&Failure::BadRecords) && !m.html,
        }
    }

    fn csv_spec(&self, m: &Member) -> CsvSpec {
        let n = match m.budget {
            Budget::Count(n) => n,
            Budget::Bytes(_) => 0,
        };
        CsvSpec {
            content: m.content,
            seed: self.scenario.seed,
            zone: self.scenario.tz,
            span: self.span,
            n,
            slice: m.slice,
        }
    }

    /// Records of member `m`, when known without rendering.
    fn count(&self, m: &Member) -> Option<u64> {
        match m.content {
            Content::Activity(product) => self.activity_spec(m, product).count(),
            _ => {
                let spec = self.csv_spec(m);
                Some(match spec.slice {
                    Slice::All => spec.n,
                    Slice::Newer => spec.n / 2,
                    Slice::Older => spec.n - spec.n / 2,
                })
            }
        }
    }
}

fn budget(scenario: &Scenario, content: Content, t: Option<&'static DataType>, activity_members: u64) -> Budget {
    let count = match t {
        Some(t) => scenario.records_for(t),
        None => scenario.persona.records_per_type(),
    };
    match (content, count) {
        (Content::Activity(Product::Discover), Some(n)) => Budget::Count(discover_split(n).history),
        (Content::Activity(_), Some(n)) => Budget::Count(n),
        (Content::Activity(_), None) => Budget::Bytes((scenario.target_bytes / activity_members).max(1)),
        (csv, count) => {
            let n = count.or(Persona::Large.records_per_type()).unwrap_or(0);
            let split = discover_split(n);
            Budget::Count(match csv {
                Content::Liked => split.liked,
                Content::Follows => split.follows,
                _ => split.not_interested,
            })
        }
    }
}

/// Zip entry time of an export created at `t` (the DOS range is 1980–2107).
pub(crate) fn zip_time(t: DateTime<Utc>) -> zip::DateTime {
    let year = t.year().clamp(1980, 2107) as u16;
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

fn write_members<W: Write>(archive: &mut Archive<W>, plan: &Plan<'_>, members: &[&Member]) -> io::Result<()> {
    for m in members {
        let names: Vec<String> =
            if m.duplicate { vec![m.path.clone(), m.path.replace('/', "\\")] } else { vec![m.path.clone()] };
        for name in &names {
            match m.content {
                Content::Activity(product) => {
                    let spec = plan.activity_spec(m, product);
                    let mut images = Vec::new();
                    archive.entry(name, Method::Deflate, m.large, &mut |w| {
                        images = spec.write(w)?;
                        Ok(())
                    })?;
                    if product == Product::GoogleLens && name == &m.path {
                        if images.is_empty() {
                            images.push(google::lens_file(1));
                        }
                        let jpeg = google::tiny_jpeg();
                        for image in images {
                            let path = format!("Portability/My Activity/Google Lens/{image}");
                            archive.entry(&path, Method::Stored, false, &mut |w| w.write_all(&jpeg))?;
                        }
                    }
                }
                _ => {
                    let spec = plan.csv_spec(m);
                    archive.entry(name, Method::Deflate, false, &mut |w| spec.write(w))?;
                }
            }
        }
    }
    Ok(())
}

fn write_path_traversal<W: Write>(archive: &mut Archive<W>, created_at: DateTime<Utc>) -> io::Result<()> {
    let probe = Activity {
        header: "Search".into(),
        title: "Searched for path traversal probe".into(),
        time: google::Time::At(millis(created_at) - 60_000),
        products: &["Search"],
        activity_controls: &["Web & App Activity"],
        ..Activity::default()
    };
    let mut json = String::from("[");
    google::render_json(&mut json, &probe);
    json.push(']');
    for name in PATH_TRAVERSAL_NAMES {
        let body: &[u8] =
            if name.ends_with("passwd") { b"root:x:0:0:sandbox:/root:/bin/sh\n" } else { json.as_bytes() };
        archive.entry(name, Method::Deflate, false, &mut |w| w.write_all(body))?;
    }
    Ok(())
}

/// Everything a My Activity member's generator needs.
struct ActivitySpec {
    product: Product,
    seed: u64,
    zone: super::gen_time::Zone,
    span: (i64, i64),
    window: (i64, i64),
    budget: Budget,
    slice: Slice,
    html: bool,
    malformed: bool,
    bad_records: bool,
}

/// Records of a `huge` member's time line per byte of budget: records are
/// longer than 150 bytes, so the time line never runs out first.
const BYTES_PER_PLANNED_RECORD: u64 = 150;
/// Records a file collects in memory before passing them on.
const FLUSH_BYTES: usize = 64 * 1024;
/// Lens images written per Lens member at most.
const MAX_LENS_IMAGES: usize = 3;

impl ActivitySpec {
    /// Records of the time line (before the window).
    fn planned(&self) -> u64 {
        match self.budget {
            Budget::Count(n) => n,
            Budget::Bytes(b) => b / BYTES_PER_PLANNED_RECORD + 16,
        }
    }

    fn timeline(&self) -> Timeline {
        let rng = Rng::new(self.seed, self.product.key(), "time");
        Timeline::new(rng, self.zone, self.span.0, self.span.1, self.planned())
    }

    fn in_window(&self, t: i64) -> bool {
        (self.window.0..self.window.1).contains(&t)
    }

    /// Whether record `k` of the time line, with `before` bytes of in-window
    /// records ahead of it, belongs to this file.
    fn in_slice(&self, k: u64, before: u64) -> bool {
        let (position, middle) = match self.budget {
            Budget::Count(n) => (k, n / 2),
            Budget::Bytes(b) => (before, b / 2),
        };
        match self.slice {
            Slice::All => true,
            Slice::Newer => position < middle,
            Slice::Older => position >= middle,
        }
    }

    fn count(&self) -> Option<u64> {
        match self.budget {
            Budget::Bytes(_) => None,
            Budget::Count(_) => Some(
                self.timeline().enumerate().filter(|&(k, t)| self.in_window(t) && self.in_slice(k as u64, 0)).count()
                    as u64,
            ),
        }
    }

    /// Positions in the time line that get variant 0, 1, 2, … once each, so
    /// every variant occurs as soon as there are as many records as
    /// variants; the other positions draw variants by their shares.
    fn designated(&self) -> Vec<u64> {
        let variants = self.product.variants().len() as u64;
        let mut rng = Rng::new(self.seed, self.product.key(), "variants");
        match self.budget {
            Budget::Count(n) if n >= variants => {
                (0..variants).map(|i| ((i as f64 + rng.unit()) * n as f64 / variants as f64) as u64).collect()
            }
            Budget::Count(n) => (0..n).collect(),
            Budget::Bytes(_) => (0..variants).map(|i| i * 7).collect(),
        }
    }

    /// Writes the member and returns the Lens image files its records name.
    fn write(&self, w: &mut dyn Write) -> io::Result<Vec<String>> {
        let weights: Vec<u32> = self.product.variants().iter().map(|v| v.1).collect();
        let designated = self.designated();
        let key = self.product.key();
        let mut content = Rng::new(self.seed, key, "content");
        let pools = Pools::new(&mut Rng::new(self.seed, key, "pools"));
        let mut out = String::with_capacity(FLUSH_BYTES * 2);
        let mut rec = String::with_capacity(4096);
        let mut images = Vec::new();
        let (mut lens_seq, mut written, mut before) = (0u32, 0u64, 0u64);
        let mut bad: Option<Vec<String>> = None;
        let mut bad_next = 0;
        let mut broken = false;
        // Whether the array has an element yet (HTML cells need no separator).
        let mut any = false;
        let element = |out: &mut String, any: &mut bool, text: &str| {
            if *any && !self.html {
                out.push(',');
            }
            out.push_str(text);
            *any = true;
        };
        out.push_str(if self.html { google::HTML_HEAD } else { "[" });
        for (k, t) in self.timeline().enumerate() {
            let k = k as u64;
            let variant = match designated.iter().position(|&p| p == k) {
                Some(v) => v,
                None => content.weighted(&weights),
            };
            let a = google::build(self.product, variant, &mut content, &pools, t, &mut lens_seq);
            if !self.in_window(t) {
                continue;
            }
            rec.clear();
            if self.html {
                google::render_html(&mut rec, &a);
            } else {
                google::render_json(&mut rec, &a);
            }
            let start = before;
            before += rec.len() as u64;
            if matches!(self.budget, Budget::Bytes(b) if start >= b) {
                break;
            }
            if !self.in_slice(k, start) {
                continue;
            }
            element(&mut out, &mut any, &rec);
            written += 1;
            if let Some(image) = a.image_file
                && images.len() < MAX_LENS_IMAGES
            {
                images.push(image);
            }
            if self.bad_records {
                let bad = bad.get_or_insert_with(|| google::bad_elements(self.product, t));
                if let Some(text) = bad.get(bad_next) {
                    element(&mut out, &mut any, text);
                    bad_next += 1;
                }
            }
            if self.malformed && !broken && written == 3 {
                element(&mut out, &mut any, google::BROKEN_ELEMENT);
                broken = true;
            }
            if out.len() >= FLUSH_BYTES {
                w.write_all(out.as_bytes())?;
                out.clear();
            }
        }
        if self.bad_records {
            let time = self.window.0.max(self.span.0);
            let bad = bad.get_or_insert_with(|| google::bad_elements(self.product, time));
            for text in &bad[bad_next..] {
                element(&mut out, &mut any, text);
            }
        }
        if self.malformed && !broken {
            element(&mut out, &mut any, google::BROKEN_ELEMENT);
        }
        out.push_str(if self.html { google::HTML_TAIL } else { "]" });
        w.write_all(out.as_bytes())?;
        Ok(images)
    }
}

/// Everything a Discover CSV's generator needs.
struct CsvSpec {
    content: Content,
    seed: u64,
    zone: super::gen_time::Zone,
    span: (i64, i64),
    n: u64,
    slice: Slice,
}

impl CsvSpec {
    fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        let (stream, header) = match self.content {
            Content::Liked => ("liked", "Content Url\tLiked Date\n"),
            Content::Follows => ("follows", "Followed Entity\n"),
            _ => ("not_interested", "Entity Name\tSetting Value\n"),
        };
        let mut rng = Rng::new(self.seed, "discover", stream);
        let times =
            Timeline::new(Rng::new(self.seed, "discover", "liked_time"), self.zone, self.span.0, self.span.1, self.n);
        let weights: Vec<u32> = google::SETTINGS.iter().map(|s| s.1).collect();
        let mut out = String::with_capacity(FLUSH_BYTES * 2);
        out.push_str(header);
        let middle = self.n / 2;
        for (k, t) in times.enumerate() {
            let k = k as u64;
            let line = match self.content {
                Content::Liked => {
                    let url = if rng.chance(0.6) {
                        format!("https://example.com/content{}", rng.range(1, 99_999))
                    } else {
                        format!("https://news.example.org/{}", vocab::slug(&vocab::adjective_noun(&mut rng)))
                    };
                    format!("{url}\t\"{}\"\n", google::liked_date(t))
                }
                Content::Follows => match rng.below(3) {
                    0 => format!("Entity {}\n", rng.pick(vocab::ADJECTIVES)),
                    1 => format!("{}\n", vocab::adjective_noun(&mut rng)),
                    _ => format!("{}\n", rng.pick(vocab::TOPICS)),
                },
                _ => {
                    let setting =
                        if (k as usize) < google::SETTINGS.len() { k as usize } else { rng.weighted(&weights) };
                    let name = vocab::adjective_noun(&mut rng).to_lowercase();
                    format!("{name}\t{}\n", google::SETTINGS[setting].0)
                }
            };
            let keep = match self.slice {
                Slice::All => true,
                Slice::Newer => k < middle,
                Slice::Older => k >= middle,
            };
            if keep {
                out.push_str(&line);
            }
            if out.len() >= FLUSH_BYTES {
                w.write_all(out.as_bytes())?;
                out.clear();
            }
        }
        w.write_all(out.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{Cursor, Read as _};

    use chrono::TimeZone as _;
    use serde_json::Value;

    use super::*;
    use crate::donation::sandbox::gen_test::{CountingSink, entries, in_fresh_process, proc_status_bytes};
    use crate::donation::sandbox::scenario::Span;

    const ALL: &[&str] = GOOGLE_RESOURCES;

    fn created() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    fn export(resources: &'static [&'static str]) -> GoogleExport<'static> {
        GoogleExport { resources, start_time: None, end_time: None, created_at: created() }
    }

    fn part(scenario: &Scenario, export: &GoogleExport<'_>, part: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_google_part(scenario, export, part, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    fn member(entries: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
        let found = entries.iter().find(|(n, _)| n == name);
        found.unwrap_or_else(|| panic!("no {name} among {:?}", names(entries))).1.clone()
    }

    fn names(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
        entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn records(json: &[u8]) -> Vec<Value> {
        serde_json::from_slice(json).unwrap()
    }

    fn activity(folder: &str) -> String {
        format!("Portability/My Activity/{folder}/MyActivity.json")
    }

    fn time_ms(record: &Value) -> i64 {
        DateTime::parse_from_rfc3339(record["time"].as_str().unwrap()).unwrap().timestamp_millis()
    }

    /// The variant of a record, read back from its shape alone.
    fn classify(product: Product, r: &Value) -> &'static str {
        let title = r["title"].as_str().unwrap();
        let header = r["header"].as_str().unwrap();
        let starts = |p: &str| title.starts_with(p);
        match product {
            Product::YouTube if starts("Watched Ad - ") => "ad",
            Product::YouTube if starts("Watched https://www.youtube.com/watch?v=") => "removed",
            Product::YouTube if starts("Watched ") => "watched",
            Product::YouTube if starts("Liked ") => "liked",
            Product::YouTube if starts("Disliked ") => "disliked",
            Product::YouTube if starts("Saved ") => "saved",
            Product::YouTube if starts("Searched for ") => "searched",
            Product::YouTube if starts("Subscribed to ") => "subscribed",
            Product::YouTube if starts("Viewed ") => "viewed_post",
            Product::YouTube if title == "Shared video" => "shared",
            Product::Search | Product::ImageSearch if starts("Searched for ") => "searched",
            Product::Search if starts("Visited ") => "visited",
            Product::Search if starts("Viewed ") => "viewed",
            Product::Search if title.ends_with("notification") || title.ends_with("notifications") => "notification",
            Product::ImageSearch if starts("Viewed image from ") => "viewed_image",
            Product::VideoSearch if starts("Searched for ") => "searched",
            Product::VideoSearch if header == "youtube.com" => "watched_youtube",
            Product::VideoSearch if starts("Watched ") => "watched_other",
            Product::GoogleLens if title == "Searched with Google Lens" => "lens_image",
            Product::GoogleLens if starts("Searched with Google Lens + \"") => "lens_text",
            Product::GoogleLens if starts("Searched for ") => "searched_after_lens",
            Product::Discover if title == "1 card in your feed" => "one_card",
            Product::Discover if title.ends_with(" cards in your feed") => "cards",
            Product::PlayGames if starts("Played ") => "played",
            Product::PlayGames if starts("Achievement unlocked: ") => "achievement",
            Product::PlayStore if starts("Used ") => "used",
            Product::PlayStore if starts("Installed ") => "installed",
            Product::PlayStore if title == "Device connected" => "device_connected",
            Product::PlayStore if title == "Apps management notification shown" => "apps_notification",
            Product::PlayBooks if starts("Read ") => "read",
            Product::PlayBooks if starts("Purchased ") => "purchased",
            _ => panic!("unrecognised {product:?} record {r}"),
        }
    }

    const PRODUCTS: [Product; 9] = [
        Product::YouTube,
        Product::Search,
        Product::ImageSearch,
        Product::VideoSearch,
        Product::GoogleLens,
        Product::Discover,
        Product::PlayGames,
        Product::PlayStore,
        Product::PlayBooks,
    ];

    /// All members of an export of every group, by name.
    fn everything(scenario: &Scenario, export: &GoogleExport<'_>) -> Vec<(String, Vec<u8>)> {
        (0..google_part_count(scenario, export.resources)).flat_map(|p| entries(&part(scenario, export, p))).collect()
    }

    #[test]
    fn same_scenario_same_bytes_and_another_seed_other_bytes() {
        let s = Scenario::default().persona(Persona::Tiny);
        let e = export(ALL);
        let a = part(&s, &e, 0);
        assert_eq!(a, part(&s, &e, 0));
        assert_ne!(a, part(&s.clone().seed(2), &e, 0));
        // Other data types and the zip timestamps stay put when only the window changes.
        let windowed = GoogleExport { start_time: Some(created() - chrono::Days::new(200)), ..e };
        assert_ne!(a, part(&s, &windowed, 0));
    }

    #[test]
    fn members_are_where_the_spec_puts_them_in_fixed_order() {
        let s = Scenario::default().persona(Persona::Tiny);
        let all = everything(&s, &export(ALL));
        let lens_image = |n: &&str| n.starts_with("Portability/My Activity/Google Lens/lens-") && n.ends_with(".jpg");
        let mut got = names(&all);
        let images: Vec<&str> = got.iter().copied().filter(lens_image).collect();
        assert!((1..=3).contains(&images.len()));
        got.retain(|n| !lens_image(n) || *n == images[0]);
        assert_eq!(
            got,
            [
                "Portability/My Activity/YouTube/MyActivity.json",
                "Portability/My Activity/Search/MyActivity.json",
                "Portability/My Activity/Image Search/MyActivity.json",
                "Portability/My Activity/Video Search/MyActivity.json",
                "Portability/My Activity/Google Lens/MyActivity.json",
                "Portability/My Activity/Google Lens/lens-0001.jpg",
                "Portability/My Activity/Discover/MyActivity.json",
                "Portability/My Activity/Google Play Games/MyActivity.json",
                "Portability/My Activity/Google Play Store/MyActivity.json",
                "Portability/My Activity/Google Play Books/MyActivity.json",
                "Portability/Discover/Your Liked Content.csv",
                "Portability/Discover/Your Follows.csv",
                "Portability/Discover/Not Interested Setting.csv",
            ]
        );
        let youtube_only = everything(&s, &export(&["myactivity.youtube"]));
        assert_eq!(names(&youtube_only), ["Portability/My Activity/YouTube/MyActivity.json"]);
        let err = write_google_part(&s, &export(&["chrome.history"]), 0, Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(write_google_part(&s, &export(ALL), 1, Vec::new()).is_err());
        // Every Google resource group of the catalogue can be generated.
        for t in Source::Google.data_types() {
            assert!(t.resources.iter().all(|r| GOOGLE_RESOURCES.contains(r)), "{}", t.name);
        }
    }

    #[test]
    fn records_have_the_documented_shape_newest_first() {
        let s = Scenario::default();
        let all = everything(&s, &export(ALL));
        for product in PRODUCTS {
            let list = records(&member(&all, &activity(product.folder())));
            let expected = if product == Product::Discover { discover_split(50).history } else { 50 };
            assert_eq!(list.len() as u64, expected, "{product:?}");
            let mut previous = i64::MAX;
            for r in &list {
                let obj = r.as_object().unwrap();
                for key in obj.keys() {
                    assert!(
                        [
                            "header",
                            "title",
                            "titleUrl",
                            "subtitles",
                            "description",
                            "time",
                            "products",
                            "details",
                            "activityControls",
                            "locationInfos",
                            "imageFile"
                        ]
                        .contains(&key.as_str()),
                        "{key}"
                    );
                }
                assert!(r["header"].is_string() && r["title"].is_string());
                let time = r["time"].as_str().unwrap();
                assert_eq!((time.len(), &time[19..20], &time[23..]), (24, ".", "Z"), "{time}");
                let t = time_ms(r);
                assert!(t <= previous, "newest first");
                previous = t;
                assert_eq!(r["products"], serde_json::json!([product.folder()]));
                assert!(r["activityControls"].as_array().unwrap().iter().all(Value::is_string));
                for sub in r["subtitles"].as_array().into_iter().flatten() {
                    assert!(sub["name"].is_string());
                    assert!(sub.get("url").is_none_or(Value::is_string));
                }
                for d in r["details"].as_array().into_iter().flatten() {
                    assert!(d["name"].is_string());
                }
                for loc in r["locationInfos"].as_array().into_iter().flatten() {
                    assert_eq!(loc["name"], "At this general area");
                    assert!(loc["url"].as_str().unwrap().starts_with("https://www.google.com/maps/@?api=1&"));
                    assert!(loc["source"].is_string());
                }
                if let Some(url) = r.get("titleUrl") {
                    assert!(url.as_str().unwrap().starts_with("https://"), "{url}");
                }
            }
        }
        // YouTube specifics steward's parser relies on (spec §4.3.3).
        for r in records(&member(&all, &activity("YouTube"))) {
            let url = r.get("titleUrl").and_then(Value::as_str).unwrap_or("");
            if let Some(id) = url.strip_prefix("https://www.youtube.com/watch?v=") {
                assert_eq!(id.len(), 11);
                assert!(id.bytes().all(|b| crate::donation::sandbox::gen_rng::ID_CHARS.contains(&b)));
            }
            if let Some(channel) = r["subtitles"][0]["url"].as_str() {
                let id = channel.strip_prefix("https://www.youtube.com/channel/").unwrap();
                assert!(id.starts_with("UC") && id.len() == 24, "{id}");
            }
            let ad = r["details"][0]["name"] == "From Google Ads";
            assert_eq!(ad, classify(Product::YouTube, &r) == "ad");
        }
        let store = records(&member(&all, &activity("Google Play Store")));
        assert!(store.iter().any(|r| {
            r["titleUrl"].as_str().is_some_and(|u| u.starts_with("https://play.google.com/store/apps/details?id="))
        }));
    }

    #[test]
    fn small_has_every_variant_and_medium_keeps_the_shares() {
        let small = everything(&Scenario::default(), &export(ALL));
        for product in PRODUCTS {
            let seen: BTreeSet<&str> =
                records(&member(&small, &activity(product.folder()))).iter().map(|r| classify(product, r)).collect();
            let all: BTreeSet<&str> = product.variants().iter().map(|v| v.0).collect();
            assert_eq!(seen, all, "{product:?}");
        }
        let youtube = records(&member(&small, &activity("YouTube")));
        assert!(youtube.iter().any(|r| r.get("subtitles").is_some()));
        assert!(youtube.iter().any(|r| r.get("subtitles").is_none()));
        // Even `tiny` has YouTube entries with and without subtitles (upstream crashed otherwise).
        let tiny = everything(&Scenario::default().persona(Persona::Tiny), &export(&["myactivity.youtube"]));
        let tiny = records(&member(&tiny, &activity("YouTube")));
        assert!(tiny.iter().any(|r| r.get("subtitles").is_some()) && tiny.iter().any(|r| r.get("subtitles").is_none()));

        let medium = Scenario::default().persona(Persona::Medium);
        let list = records(&member(&everything(&medium, &export(&["myactivity.youtube"])), &activity("YouTube")));
        assert_eq!(list.len(), 2000);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &list {
            *counts.entry(classify(Product::YouTube, r)).or_default() += 1;
        }
        for (variant, share) in Product::YouTube.variants() {
            let observed = counts[variant] as f64 * 100.0 / 2000.0;
            assert!((observed - f64::from(*share)).abs() < 2.5, "{variant}: {observed}% for {share}%");
        }
        let searches = records(&member(&everything(&medium, &export(&["myactivity.search"])), &activity("Search")));
        let searched: Vec<&Value> = searches.iter().filter(|r| classify(Product::Search, r) == "searched").collect();
        let located = searched.iter().filter(|r| r.get("locationInfos").is_some()).count() as f64;
        assert!((located / searched.len() as f64 - 0.4).abs() < 0.06, "{located}");
    }

    #[test]
    fn strings_are_escaped_like_google_and_utf8_stays_literal() {
        let s = Scenario::default().persona(Persona::Medium);
        let all = everything(&s, &export(&["myactivity.youtube", "myactivity.search"]));
        let raw = String::from_utf8(member(&all, &activity("YouTube"))).unwrap();
        assert!(raw.contains("\"https://www.youtube.com/watch?v\\u003d"));
        assert!(!raw.contains('='), "every = inside strings is escaped, and JSON has no other");
        let search = String::from_utf8(member(&all, &activity("Search"))).unwrap();
        assert!(search.contains("\"Web \\u0026 App Activity\""));
        assert!(!search.contains('&'));
        assert!(search.contains("\\u003d1\\u0026map_action\\u003dmap"));
        // Non-ASCII text is written as UTF-8, never as \u escapes.
        assert!(search.contains("Sää") || search.contains('–'));
        assert!(!search.contains("\\u00e4"));
        // Decoding restores the characters.
        let decoded = records(search.as_bytes());
        assert!(decoded.iter().any(|r| r["activityControls"][0] == "Web & App Activity"));
        // Google's pretty-printing: one key per line, records joined by "},{".
        assert!(raw.starts_with("[{\n  \"header\": \"YouTube\",\n  \"title\": "));
        assert!(raw.contains("\n},{\n"));
        assert!(raw.ends_with("\n}]"));
    }

    #[test]
    fn the_window_applies_to_my_activity_only_and_ignore_time_filter_lifts_it() {
        let (start, end) =
            (Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap());
        let e = GoogleExport {
            start_time: Some(start),
            end_time: Some(end),
            ..export(&["myactivity.search", "discover.likes"])
        };
        let s = Scenario::default().persona(Persona::Medium);
        let all = everything(&s, &e);
        let search = records(&member(&all, &activity("Search")));
        assert!(!search.is_empty() && search.len() < 2000);
        let window = millis(start)..millis(end);
        assert!(search.iter().all(|r| window.contains(&time_ms(r))));
        let manifest = google_manifest(&s, &e).unwrap();
        let listed = manifest.iter().find(|m| m.path == activity("Search")).unwrap();
        assert_eq!(listed.records, Some(search.len() as u64));
        // Discover CSVs ignore the window.
        let liked = String::from_utf8(member(&all, "Portability/Discover/Your Liked Content.csv")).unwrap();
        assert_eq!(liked.lines().count() as u64, 1 + discover_split(2000).liked);
        assert!(liked.lines().skip(1).any(|l| !l.ends_with(", 2024\"")));

        let ignoring = s.clone().failure(Failure::IgnoreTimeFilter);
        let all = everything(&ignoring, &e);
        let search = records(&member(&all, &activity("Search")));
        assert_eq!(search.len(), 2000);
        assert!(search.iter().any(|r| !window.contains(&time_ms(r))));
        // The span (three years back from the export's creation) bounds everything.
        let (span_start, span_end) = Span::default().resolve(created());
        assert!(search.iter().all(|r| (millis(span_start)..millis(span_end)).contains(&time_ms(r))));
    }

    #[test]
    fn discover_csvs_are_tab_separated_with_lf() {
        let s = Scenario::default();
        let e = export(&["discover.likes", "discover.follows", "discover.not_interested"]);
        let all = everything(&s, &e);
        let split = discover_split(50);
        let liked = String::from_utf8(member(&all, "Portability/Discover/Your Liked Content.csv")).unwrap();
        let mut lines = liked.lines();
        assert_eq!(lines.next(), Some("Content Url\tLiked Date"));
        for line in lines.clone() {
            let (url, date) = line.split_once('\t').unwrap();
            assert!(url.starts_with("https://"));
            assert!(chrono::NaiveDate::parse_from_str(date.trim_matches('"'), "%b %-d, %Y").is_ok(), "{date}");
        }
        assert_eq!(lines.count() as u64, split.liked);
        assert!(!liked.contains('\r'));
        let follows = String::from_utf8(member(&all, "Portability/Discover/Your Follows.csv")).unwrap();
        assert_eq!(follows.lines().next(), Some("Followed Entity"));
        assert_eq!(follows.lines().count() as u64, 1 + split.follows);
        let not = String::from_utf8(member(&all, "Portability/Discover/Not Interested Setting.csv")).unwrap();
        assert_eq!(not.lines().next(), Some("Entity Name\tSetting Value"));
        let settings: BTreeSet<&str> = not.lines().skip(1).map(|l| l.split_once('\t').unwrap().1).collect();
        assert_eq!(settings, BTreeSet::from(["BLOCKED", "NOT_INTERESTED", "NOT_PREFERRED"]));
    }

    #[test]
    fn lens_images_exist_and_are_referenced() {
        let all = everything(&Scenario::default(), &export(&["myactivity.search"]));
        let lens = records(&member(&all, &activity("Google Lens")));
        let referenced: Vec<&str> = lens.iter().filter_map(|r| r["imageFile"].as_str()).collect();
        assert!(!referenced.is_empty());
        let image = member(&all, &format!("Portability/My Activity/Google Lens/{}", referenced[0]));
        assert_eq!(&image[..2], &[0xFF, 0xD8]);
    }

    #[test]
    fn records_override_the_persona_and_discover_shares_its_count() {
        let s = Scenario::default().persona(Persona::Tiny).records("youtube_history", 123).records("discover", 20);
        let manifest = google_manifest(&s, &export(ALL)).unwrap();
        let count = |path: &str| manifest.iter().find(|m| m.path == path).unwrap().records;
        assert_eq!(count(&activity("YouTube")), Some(123));
        assert_eq!(count(&activity("Search")), Some(5));
        assert_eq!(count(&activity("Google Play Books")), Some(5));
        assert_eq!(count(&activity("Discover")), Some(discover_split(20).history));
        assert_eq!(count("Portability/Discover/Your Liked Content.csv"), Some(4));
        let d = discover_split(20);
        assert_eq!(d.history + d.liked + d.follows + d.not_interested, 20);
        let all = everything(&s, &export(ALL));
        for entry in &manifest {
            if entry.path.ends_with(".json") {
                assert_eq!(records(&member(&all, &entry.path)).len() as u64, entry.records.unwrap(), "{}", entry.path);
            }
        }
    }

    #[test]
    fn multi_part_deals_members_out_and_split_member_halves_one() {
        let s = Scenario::default().failure(Failure::MultiPart { parts: 3 });
        let e = export(&["myactivity.search"]);
        assert_eq!(google_part_count(&s, e.resources), 3);
        let parts: Vec<Vec<String>> =
            (0..3).map(|p| entries(&part(&s, &e, p)).into_iter().map(|(n, _)| n).collect()).collect();
        assert_eq!(parts[0][..2], [activity("Search"), activity("Google Lens")]);
        assert!(parts[0][2..].iter().all(|n| n.starts_with("Portability/My Activity/Google Lens/lens-")));
        assert_eq!(parts[1], [activity("Image Search"), activity("Discover")]);
        assert_eq!(parts[2], [activity("Video Search")]);

        let youtube = export(&["myactivity.youtube"]);
        let whole = records(&member(&entries(&part(&Scenario::default(), &youtube, 0)), &activity("YouTube")));
        let split = Scenario::default().failure(Failure::SplitMember);
        assert_eq!(google_part_count(&split, youtube.resources), 2);
        let newer = records(&member(&entries(&part(&split, &youtube, 0)), &activity("YouTube")));
        let older = records(&member(&entries(&part(&split, &youtube, 1)), &activity("YouTube")));
        assert_eq!((newer.len(), older.len()), (25, 25));
        assert_eq!([newer, older].concat(), whole);
    }

    #[test]
    fn missing_html_and_malformed_json_touch_only_their_type() {
        let s = Scenario::default()
            .failure(Failure::missing_type("image_search"))
            .failure(Failure::html_only("search"))
            .failure(Failure::malformed_json("google_lens"))
            .failure(Failure::missing_type("discover"));
        let all = everything(&s, &export(&["myactivity.search", "discover.likes"]));
        let got = names(&all);
        assert!(!got.contains(&activity("Image Search").as_str()));
        assert!(!got.iter().any(|n| n.contains("Discover")), "{got:?}");
        assert!(!got.contains(&activity("Search").as_str()));
        let html = String::from_utf8(member(&all, "Portability/My Activity/Search/MyActivity.html")).unwrap();
        assert!(html.starts_with("<html>") && html.contains("outer-cell") && html.trim_end().ends_with("</html>"));
        let lens = member(&all, &activity("Google Lens"));
        let err = serde_json::from_slice::<Value>(&lens).unwrap_err();
        assert!(err.is_syntax(), "{err}");
        assert_eq!(records(&member(&all, &activity("Video Search"))).len(), 50);
    }

    #[test]
    fn bad_records_come_on_top_of_the_normal_ones() {
        let s = Scenario::default().failure(Failure::BadRecords);
        let all = everything(&s, &export(&["myactivity.youtube"]));
        let list = records(&member(&all, &activity("YouTube")));
        let BadRecordCounts { non_object, oversized, bad_time } = BAD_RECORDS;
        assert_eq!(list.len() as u64, 50 + non_object + oversized + bad_time);
        assert_eq!(list.iter().filter(|r| !r.is_object()).count() as u64, non_object);
        let objects: Vec<&Value> = list.iter().filter(|r| r.is_object()).collect();
        let big = objects.iter().filter(|r| r.to_string().len() > 2 << 20).count() as u64;
        assert_eq!(big, oversized);
        let garbled =
            objects.iter().filter(|r| DateTime::parse_from_rfc3339(r["time"].as_str().unwrap()).is_err()).count();
        assert_eq!(garbled as u64, bad_time);
        // Interleaved, not appended: the first record is followed by a bad element.
        assert!(!list[1].is_object());
    }

    #[test]
    fn malformed_zip_cannot_be_opened() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::MalformedZip);
        let bytes = part(&s, &export(ALL), 0);
        assert!(zip::ZipArchive::new(Cursor::new(&bytes)).is_err());
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let fine = part(&Scenario::default().persona(Persona::Tiny), &export(ALL), 0);
        assert!(bytes.len() < fine.len() && bytes[..] == fine[..bytes.len()]);
    }

    #[test]
    fn zip_bomb_is_small_on_the_wire_and_huge_inflated() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::ZipBomb);
        let bytes = part(&s, &export(&["myactivity.youtube"]), 0);
        assert!(bytes.len() < 9 << 20, "{} bytes", bytes.len());
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let mut bomb = archive.by_name(&activity("YouTube")).unwrap();
        assert_eq!(bomb.size(), ZIP_BOMB_BYTES);
        assert!(bomb.size() > 8 << 30 && bomb.compressed_size() < 9 << 20);
        let mut head = vec![0u8; 4 << 20];
        bomb.read_exact(&mut head).unwrap();
        assert_eq!(head[0], b'[');
        assert!(head[1..].iter().all(|&b| b == b' '));
    }

    #[test]
    fn too_many_entries_and_path_traversal_add_what_they_say() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::PathTraversal);
        let all = entries(&part(&s, &export(&["myactivity.youtube"]), 0));
        for name in PATH_TRAVERSAL_NAMES {
            assert!(names(&all).contains(&name), "{name} missing from {:?}", names(&all));
        }
        assert_eq!(records(&member(&all, &activity("YouTube"))).len(), 5);

        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::TooManyEntries);
        let bytes = part(&s, &export(&["myactivity.youtube"]), 0);
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(archive.len() as u32, TOO_MANY_ENTRIES + 1);
        let mut youtube = Vec::new();
        archive.by_name(&activity("YouTube")).unwrap().read_to_end(&mut youtube).unwrap();
        assert_eq!(records(&youtube).len(), 5);
        assert!(bytes.len() < 40 << 20, "tiny entries: {} bytes", bytes.len());
    }

    #[test]
    fn nested_archive_and_duplicate_member() {
        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::NestedArchive);
        let outer = entries(&part(&s, &export(&["myactivity.youtube"]), 0));
        assert_eq!(names(&outer), [NESTED_ARCHIVE_NAME]);
        let inner = entries(&outer[0].1);
        assert_eq!(records(&member(&inner, &activity("YouTube"))).len(), 5);

        let s = Scenario::default().persona(Persona::Tiny).failure(Failure::DuplicateMember);
        let all = entries(&part(&s, &export(&["myactivity.youtube"]), 0));
        assert_eq!(names(&all), [activity("YouTube"), activity("YouTube").replace('/', "\\")]);
        assert_eq!(all[0].1, all[1].1);
    }

    const MEMORY_CHILD: &str = "STEWARD_SANDBOX_MEMORY_CHILD_MIB";
    const SELF_TEST: &str = "donation::sandbox::generate::tests::huge_archives_stream_without_buffering";

    // Memory bound (spec §5.4, §6.4): a `huge` archive of 48 MiB uncompressed
    // streams through with resident memory growing by less than a quarter of
    // that; a generator that buffered a member would grow by all of it.
    #[test]
    fn huge_archives_stream_without_buffering() {
        match std::env::var(MEMORY_CHILD).ok().and_then(|v| v.parse().ok()) {
            Some(target_mib) => huge_archive_memory_child(target_mib),
            // Again in a fresh process, whose peak memory is the generator's alone.
            None => in_fresh_process(SELF_TEST, MEMORY_CHILD, "48"),
        }
    }

    /// The measured half, in the child process.
    fn huge_archive_memory_child(target_mib: u64) {
        let target = target_mib << 20;
        let s = Scenario::default().persona(Persona::Huge).target_bytes(target);
        let baseline = proc_status_bytes("VmRSS:");
        let mut sink = CountingSink::default();
        let written = write_google_part(&s, &export(&["myactivity.youtube"]), 0, &mut sink).unwrap();
        assert_eq!(written, sink.bytes);
        // JSON deflates about tenfold; the archive really holds ~target bytes.
        assert!(written > target / 30 && written < target / 2, "{written} bytes for {target}");
        assert!(sink.writes > 100, "streamed in many writes");
        if let (Some(baseline), Some(peak)) = (baseline, proc_status_bytes("VmHWM:")) {
            let growth = peak.saturating_sub(baseline);
            println!("sandbox huge archive: {target_mib} MiB uncompressed, resident memory grew by {growth} bytes");
            assert!(growth < target / 4, "resident memory grew by {growth} bytes for {target} uncompressed bytes");
        }
    }

    #[test]
    fn huge_uncompressed_size_reaches_the_target() {
        let target = 4 << 20;
        let s = Scenario::default().persona(Persona::Huge).target_bytes(target);
        let e = export(&["myactivity.play"]);
        let all = everything(&s, &e);
        let json: u64 = all.iter().filter(|(n, _)| n.ends_with(".json")).map(|(_, c)| c.len() as u64).sum();
        assert!(json >= target && json < target + (64 << 10), "{json}");
        assert!(google_manifest(&s, &e).unwrap().iter().all(|m| m.records.is_none()));
    }
}
