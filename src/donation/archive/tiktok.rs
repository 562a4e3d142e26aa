//! TikTok archive parts (spec §4.5): which sections of TikTok's JSON export
//! feed which data type, the walk that finds them, and how a record becomes
//! a normalized row.
//!
//! Every `.json` entry of the part is read twice, as a stream both times:
//!
//! 1. A scan checks the whole document's syntax and finds the known sections
//!    (§4.5.2, 2025 and older names) in its top-level object, validating
//!    each record of a requested section; nothing is kept but the position
//!    of each section's key. Key lookup is case-sensitive first: in one
//!    object, a key spelled exactly as the table wins over one that matches
//!    only case-insensitively, and of equal matches the last one counts (as
//!    a parsed JSON object keeps it).
//! 2. For entries holding requested sections, a second pass follows those
//!    positions and reads the sections one record at a time.
//!
//! So outcomes are decided before any row is handed over, and every other
//! value (profile, direct messages, login history, …) is only ever passed
//! over: never built, parsed into rows, stored or logged. Memory does not
//! grow with the archive: one record at a time, at most one key per
//! known-path object remembered.
//!
//! Decisions where the spec leaves room:
//! - Rows of one type in one entry share its `member_no` (the entry's
//!   central-directory position, as for Google); `favorites`, fed by up to
//!   five sections (and both layouts' names may appear together), numbers
//!   its records across them in document order, so `(type, member_no,
//!   ordinal)` stays unique and resume is per `(type, member)`.
//! - Several entries carrying the same type all contribute (as Google
//!   parts do), each under its own `member_no`; two entries with the same
//!   normalized name carrying it make the type fail (`archive_invalid`,
//!   "ambiguous member", §5.5).
//! - A `.json` entry that cannot be read (invalid JSON, nested deeper than
//!   the limit, encrypted, an unsupported method, an archive inside) may hold
//!   any type: a requested type found in no readable entry fails with that
//!   entry's reason instead of being missing. With no unreadable entry and
//!   no known section anywhere, every requested type fails with "no known
//!   TikTok sections" and the entry names (never content).
//! - A section that is `null`, `[]` or `{}` gives no rows; any other
//!   non-list value fails its type ("not a list").
//! - A record's `Date`: absent or `null` follows the no-timestamp rule
//!   (§5.6); any other value that is not `YYYY-MM-DD HH:MM:SS` (optionally
//!   followed by ` UTC`) drops the record as a bad time (§5.5).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek};
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use zip::read::ZipFile;

use super::activity::{Key, other_scalars, other_strings};
use super::container::{self, Entry, Meter, Metered, Source as CountingSource};
use super::google::{Emitter, MemberError, RowWriter, Stamp, is_lone_surrogate};
use super::json::{Element, JsonError, Passed, Scanner};
use super::{
    Failure, FailureCode, Limits, MemberReport, Outcome, ParseError, PartReport, PartRequest, Row, declared_too_large,
    requested_types,
};
use crate::donation::catalogue::{DataType, Source};

/// What a section's records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Watch,
    Search,
    Like,
    /// `favorite_kind`: video, sound, effect, hashtag or collection.
    Favorite(&'static str),
    Comment,
    Share,
}

/// A known section: its type, record kind and path from the top-level object.
struct Section {
    data_type: &'static str,
    kind: Kind,
    path: [&'static str; 3],
}

const fn section(data_type: &'static str, kind: Kind, path: [&'static str; 3]) -> Section {
    Section { data_type, kind, path }
}

/// The known sections (§4.5.2), 2025 layout first, then the older names.
/// Names marked unverified in the spec are guesses: corrections go here.
const SECTIONS: [Section; 19] = [
    section("watch_history", Kind::Watch, ["Your Activity", "Watch History", "VideoList"]),
    section("watch_history", Kind::Watch, ["Activity", "Video Browsing History", "VideoList"]),
    section("search_history", Kind::Search, ["Your Activity", "Searches", "SearchList"]),
    section("search_history", Kind::Search, ["Activity", "Search History", "SearchList"]),
    section("likes", Kind::Like, ["Likes and Favorites", "Like List", "ItemFavoriteList"]),
    section("likes", Kind::Like, ["Activity", "Like List", "ItemFavoriteList"]),
    section("favorites", Kind::Favorite("video"), ["Likes and Favorites", "Favorite Videos", "FavoriteVideoList"]),
    section(
        "favorites",
        Kind::Favorite("collection"),
        ["Likes and Favorites", "Favorite Collection", "FavoriteCollectionList"],
    ),
    section("favorites", Kind::Favorite("sound"), ["Likes and Favorites", "Favorite Sounds", "FavoriteSoundList"]),
    section("favorites", Kind::Favorite("effect"), ["Likes and Favorites", "Favorite Effects", "FavoriteEffectsList"]),
    section(
        "favorites",
        Kind::Favorite("hashtag"),
        ["Likes and Favorites", "Favorite Hashtags", "FavoriteHashtagList"],
    ),
    section("favorites", Kind::Favorite("video"), ["Activity", "Favorite Videos", "FavoriteVideoList"]),
    section("favorites", Kind::Favorite("collection"), ["Activity", "Favorite Collection", "FavoriteCollectionList"]),
    section("favorites", Kind::Favorite("sound"), ["Activity", "Favorite Sounds", "FavoriteSoundList"]),
    section("favorites", Kind::Favorite("effect"), ["Activity", "Favorite Effects", "FavoriteEffectsList"]),
    section("favorites", Kind::Favorite("hashtag"), ["Activity", "Favorite Hashtags", "FavoriteHashtagList"]),
    section("comments", Kind::Comment, ["Comment", "Comments", "CommentsList"]),
    section("shares", Kind::Share, ["Your Activity", "Share History", "ShareHistoryList"]),
    section("shares", Kind::Share, ["Activity", "Share History", "ShareHistoryList"]),
];

/// Sections as a bit set over [`SECTIONS`].
type Sections = u32;
const ALL_SECTIONS: Sections = (1 << SECTIONS.len()) - 1;

/// Longest key compared with a section name; longer keys match nothing.
const MAX_KEY: usize = 256;

/// Entry names shown in a "no known TikTok sections" reason.
const NAMES_SHOWN: usize = 20;

fn is_json(name: &str) -> bool {
    name.len() >= 5 && same_but_case(&name.as_bytes()[name.len() - 5..], b".json")
}

/// Equal but for the case of ASCII letters.
fn same_but_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| x == y || (x.is_ascii_alphabetic() && x ^ 0x20 == y))
}

/// A key of a known-path object chosen by the scan, and what is under it.
#[derive(Debug)]
struct Chosen {
    /// Its position among the object's keys.
    occurrence: u64,
    /// Spelled exactly as the table (else it matched case-insensitively).
    exact: bool,
    node: Node,
}

#[derive(Debug)]
enum Node {
    /// An object on a known path, with its chosen keys.
    Object(Vec<Chosen>),
    /// A section (index into [`SECTIONS`]).
    Section(usize, Shape),
}

/// What a section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `null`, `{}` or `[]` (or a section of a type not asked for).
    Empty,
    /// A list of this many records.
    List(u64),
    /// Some other value.
    NotList,
}

/// The sections an entry holds, in document order.
fn sections(tree: &[Chosen]) -> Vec<(usize, Shape)> {
    // Depth first in key order, as the document has them.
    fn visit(chosen: &[Chosen], out: &mut Vec<(usize, Shape)>) {
        let mut sorted: Vec<&Chosen> = chosen.iter().collect();
        sorted.sort_by_key(|c| c.occurrence);
        for c in sorted {
            match &c.node {
                Node::Object(children) => visit(children, out),
                Node::Section(index, shape) => out.push((*index, *shape)),
            }
        }
    }
    let mut out = Vec::new();
    visit(tree, &mut out);
    out
}

/// Why an entry could not be read.
enum EntryError<E> {
    /// Invalid JSON, nested too deep, …: the entry is unreadable.
    Invalid(String),
    /// Reading failed: a corrupt entry, a limit, or the source (told apart by the meter).
    Io(io::Error),
    /// The content is an archive: never opened.
    Nested,
    Sink(E),
}

impl<E> From<JsonError> for EntryError<E> {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Io(e) => EntryError::Io(e),
            JsonError::Syntax(at) => EntryError::Invalid(format!("invalid JSON at byte {at}")),
        }
    }
}

impl<E> From<MemberError<E>> for EntryError<E> {
    fn from(e: MemberError<E>) -> Self {
        match e {
            MemberError::Invalid(reason) => EntryError::Invalid(reason),
            MemberError::Io(e) => EntryError::Io(e),
            MemberError::Nested => EntryError::Nested,
            MemberError::Sink(e) => EntryError::Sink(e),
        }
    }
}

/// One `.json` entry after the scan.
struct Scanned {
    entry: Entry,
    /// The chosen keys of its top-level object, or why it is unreadable.
    tree: Result<Vec<Chosen>, String>,
}

/// Parses one TikTok archive part (spec §4.5): see the module doc. The
/// contract is [`parse_google_part`](super::parse_google_part)'s.
pub fn parse_tiktok_part<R: Read + Seek, E>(
    reader: R,
    request: &PartRequest<'_>,
    resume: impl Fn(&str, u32) -> Option<u64>,
    mut sink: impl FnMut(Row) -> Result<(), E>,
) -> Result<PartReport, ParseError<E>> {
    let limits = request.limits;
    let types = requested_types(request, Source::TikTok);
    let mut report = PartReport::new(&types);
    // The sections of requested types: only these are read record by record.
    let wanted: Sections = (0..SECTIONS.len())
        .filter(|&i| types.iter().any(|t| t.name == SECTIONS[i].data_type))
        .fold(0, |set, i| set | 1 << i);

    let meter = Rc::new(Meter::default());
    let mut src = CountingSource::new(reader, meter.clone());
    let (mut other_names, mut others) = (Vec::new(), 0u64);
    let directory = container::read_directory(&mut src, limits, |name| {
        if is_json(name) {
            return Some(());
        }
        others += 1;
        if other_names.len() < NAMES_SHOWN {
            other_names.push(name.to_owned());
        }
        None
    });
    let (stats, selected) = match directory {
        Ok(found) => found,
        Err(e) => return report.directory_failed(e, &meter),
    };
    report.entries = stats.entries;
    report.bad_names = stats.bad_names;
    report.nested_archives = stats.nested_archives;
    let readable = |e: &Entry| !e.encrypted() && e.method_supported();
    if let Some(reason) = declared_too_large(selected.iter().map(|(e, ())| e).filter(|e| readable(e)), limits) {
        return Ok(report.fail(FailureCode::ArchiveTooLarge, reason));
    }

    // 1. Scan every JSON entry.
    let mut scanned = Vec::with_capacity(selected.len());
    for (entry, ()) in selected {
        let tree = if entry.encrypted() {
            Err(format!("encrypted entry {}", entry.name))
        } else if !entry.method_supported() {
            Err(format!("unsupported compression method {} in {}", entry.method, entry.name))
        } else {
            match scan_entry::<_, E>(&mut src, &entry, limits, wanted) {
                Ok(tree) => Ok(tree),
                Err(EntryError::Invalid(reason)) => Err(format!("{reason} in {}", entry.name)),
                Err(EntryError::Nested) => {
                    report.nested_archives += 1;
                    Err(format!("{} is an archive, not opened", entry.name))
                }
                Err(EntryError::Io(e)) => {
                    if let Some(e) = meter.take_source_error() {
                        return Err(ParseError::Source(e));
                    }
                    if let Some(reason) = meter.take_limit() {
                        report.bytes_inflated = meter.inflated();
                        return Ok(report.fail(FailureCode::ArchiveTooLarge, reason));
                    }
                    Err(format!("corrupt entry {} ({})", entry.name, e.kind()))
                }
                Err(EntryError::Sink(_)) => unreachable!("the scan hands over no rows"),
            }
        };
        scanned.push(Scanned { entry, tree });
    }

    // 2. Decide each type's outcome before any row is handed over.
    let found: Vec<Vec<(usize, Shape)>> =
        scanned.iter().map(|s| s.tree.as_ref().map(|t| sections(t)).unwrap_or_default()).collect();
    let unreadable = scanned.iter().find_map(|s| s.tree.as_ref().err());
    let any_known = found.iter().any(|f| !f.is_empty());
    let invalid = |reason: String| Outcome::Failed(Failure { code: FailureCode::ArchiveInvalid, reason });
    for tr in &mut report.types {
        let carriers: Vec<usize> = (0..scanned.len())
            .filter(|&i| found[i].iter().any(|(s, _)| SECTIONS[*s].data_type == tr.data_type))
            .collect();
        let not_list = carriers
            .iter()
            .flat_map(|&i| &found[i])
            .find(|(s, shape)| SECTIONS[*s].data_type == tr.data_type && *shape == Shape::NotList);
        let duplicate = carriers.iter().enumerate().find_map(|(n, &i)| {
            let name = &scanned[i].entry.name;
            carriers[..n].iter().any(|&j| &scanned[j].entry.name == name).then_some(name)
        });
        tr.outcome = if let Some(name) = duplicate {
            invalid(format!("ambiguous member {name}"))
        } else if let Some((s, _)) = not_list {
            invalid(format!("section {} is not a list", SECTIONS[*s].path.join(" › ")))
        } else if !carriers.is_empty() {
            Outcome::Parsed
        } else if let Some(reason) = unreadable {
            invalid(reason.clone())
        } else if !any_known {
            let mut names: Vec<&str> = scanned.iter().map(|s| s.entry.name.as_str()).collect();
            names.extend(other_names.iter().map(String::as_str));
            names.truncate(NAMES_SHOWN);
            let total = scanned.len() as u64 + others;
            let more = total.saturating_sub(names.len() as u64);
            let reason = if names.is_empty() {
                "no known TikTok sections (the archive has no entries)".to_string()
            } else if more > 0 {
                format!("no known TikTok sections (entries: {} and {more} more)", names.join(", "))
            } else {
                format!("no known TikTok sections (entries: {})", names.join(", "))
            };
            invalid(reason)
        } else {
            Outcome::Missing
        };
    }

    // 3. Read the requested sections of each entry, one record at a time.
    let device_id = request.donation_id.to_string();
    let sink: &mut dyn FnMut(Row) -> Result<(), E> = &mut sink;
    for (s, found) in scanned.iter().zip(&found) {
        let Ok(tree) = &s.tree else { continue };
        // The types this entry feeds, by their index in the report.
        let mut feeds: Vec<usize> = Vec::new();
        for (section, _) in found {
            let Some(ti) = types.iter().position(|t| t.name == SECTIONS[*section].data_type) else { continue };
            if report.types[ti].outcome == Outcome::Parsed && !feeds.contains(&ti) {
                feeds.push(ti);
            }
        }
        if feeds.is_empty() {
            continue;
        }
        let has_records = found.iter().any(|(section, shape)| {
            matches!(shape, Shape::List(_)) && feeds.iter().any(|&ti| types[ti].name == SECTIONS[*section].data_type)
        });
        let mut ordinals = vec![0u64; types.len()];
        let result = if has_records {
            let mut walk = Walk {
                types: &types,
                feeds: &feeds,
                report: &mut report,
                ordinals: &mut ordinals,
                resume: &resume,
                device_id: &device_id,
                member_no: s.entry.index,
                request,
                sink: &mut *sink,
                buf: Vec::new(),
                key: Vec::new(),
            };
            read_entry(&mut src, &s.entry, limits, tree, &mut walk)
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                for &ti in &feeds {
                    let records = ordinals[ti];
                    report.types[ti].members.push(MemberReport {
                        member_no: s.entry.index,
                        name: s.entry.name.clone(),
                        records,
                    });
                }
            }
            Err(EntryError::Sink(e)) => return Err(ParseError::Sink(e)),
            Err(EntryError::Io(e)) => {
                if let Some(e) = meter.take_source_error() {
                    return Err(ParseError::Source(e));
                }
                if let Some(reason) = meter.take_limit() {
                    report.bytes_inflated = meter.inflated();
                    return Ok(report.fail(FailureCode::ArchiveTooLarge, reason));
                }
                for &ti in &feeds {
                    report.types[ti].outcome = invalid(format!("corrupt entry {} ({})", s.entry.name, e.kind()));
                }
            }
            Err(EntryError::Invalid(reason)) => {
                for &ti in &feeds {
                    report.types[ti].outcome = invalid(format!("{reason} in {}", s.entry.name));
                }
            }
            Err(EntryError::Nested) => {
                for &ti in &feeds {
                    report.types[ti].outcome = invalid(format!("{} is an archive, not opened", s.entry.name));
                }
            }
        }
    }
    report.bytes_inflated = meter.inflated();
    Ok(report)
}

/// An entry's decompressed bytes, after the sniff for archive content.
type EntryReader<'a, R> = BufReader<io::Chain<Cursor<Vec<u8>>, Metered<ZipFile<'a, CountingSource<R>>>>>;

fn open<'a, R: Read + Seek, E>(
    src: &'a mut CountingSource<R>,
    entry: &Entry,
    limits: &Limits,
) -> Result<EntryReader<'a, R>, EntryError<E>> {
    let mut metered = container::open_entry(src, entry, limits).map_err(EntryError::Io)?;
    let mut head = Vec::with_capacity(container::SNIFF_LEN);
    (&mut metered).take(container::SNIFF_LEN as u64).read_to_end(&mut head).map_err(EntryError::Io)?;
    if container::is_archive_magic(&head) {
        return Err(EntryError::Nested);
    }
    Ok(BufReader::with_capacity(64 << 10, Cursor::new(head).chain(metered)))
}

/// The scan (pass 1): the document's syntax, end and size checked; the
/// known sections of its top-level object found; records of `wanted`
/// sections validated.
fn scan_entry<R: Read + Seek, E>(
    src: &mut CountingSource<R>,
    entry: &Entry,
    limits: &Limits,
    wanted: Sections,
) -> Result<Vec<Chosen>, EntryError<E>> {
    let mut sc = Scanner::new(open(src, entry, limits)?)?;
    let mut scan = Scan { limits, wanted, key: Vec::new(), buf: Vec::new() };
    let tree = if sc.peek()? == Some(b'{') {
        sc.bump();
        scan.object(&mut sc, ALL_SECTIONS, 0)?
    } else {
        scan.pass(&mut sc, 0)?;
        Vec::new()
    };
    sc.end()?;
    let metered = sc.into_inner().into_inner().into_inner().1;
    if metered.out() != entry.size {
        return Err(EntryError::Invalid("size differs from the central directory".into()));
    }
    Ok(tree)
}

struct Scan<'l> {
    limits: &'l Limits,
    wanted: Sections,
    key: Vec<u8>,
    buf: Vec<u8>,
}

impl Scan<'_> {
    /// Passes over a value inside `level` containers.
    fn pass<R: BufRead, E>(&mut self, sc: &mut Scanner<R>, level: usize) -> Result<(), EntryError<E>> {
        match sc.pass_value(self.limits.max_json_depth.saturating_sub(level))? {
            Passed::Done => Ok(()),
            Passed::TooDeep => Err(too_deep(self.limits)),
        }
    }

    /// An object on a known path (its `{` consumed), `level` deep (0: the
    /// top-level object), where `candidates` are the sections below it.
    fn object<R: BufRead, E>(
        &mut self,
        sc: &mut Scanner<R>,
        candidates: Sections,
        level: usize,
    ) -> Result<Vec<Chosen>, EntryError<E>> {
        // The names sections continue with here, each with its best key so far.
        let mut targets: Vec<(&'static str, Option<Chosen>)> = Vec::new();
        for (i, s) in SECTIONS.iter().enumerate() {
            if candidates & 1 << i != 0 && !targets.iter().any(|(name, _)| *name == s.path[level]) {
                targets.push((s.path[level], None));
            }
        }
        let mut first = true;
        let mut occurrence = 0u64;
        while let Some(fits) = sc.next_key(&mut first, &mut self.key, MAX_KEY)? {
            let this = occurrence;
            occurrence += 1;
            let key = &self.key[..];
            let hit = if !fits {
                None
            } else if let Some(t) = targets.iter().position(|(name, _)| key == name.as_bytes()) {
                Some((t, true))
            } else {
                targets.iter().position(|(name, _)| same_but_case(key, name.as_bytes())).map(|t| (t, false))
            };
            // A case-insensitive match never replaces an exact one.
            let Some((t, exact)) = hit.filter(|&(t, exact)| exact || targets[t].1.as_ref().is_none_or(|c| !c.exact))
            else {
                self.pass(sc, level + 1)?;
                continue;
            };
            let name = targets[t].0;
            let below: Sections = (0..SECTIONS.len())
                .filter(|&i| candidates & 1 << i != 0 && SECTIONS[i].path[level] == name)
                .fold(0, |set, i| set | 1 << i);
            let node = if level + 1 < 3 {
                if sc.peek()? == Some(b'{') {
                    sc.bump();
                    Node::Object(self.object(sc, below, level + 1)?)
                } else {
                    self.pass(sc, level + 1)?;
                    Node::Object(Vec::new())
                }
            } else {
                let index = below.trailing_zeros() as usize;
                Node::Section(index, self.section(sc, index, level + 1)?)
            };
            targets[t].1 = Some(Chosen { occurrence: this, exact, node });
        }
        Ok(targets.into_iter().filter_map(|(_, chosen)| chosen).collect())
    }

    /// A section's value, `level` containers deep.
    fn section<R: BufRead, E>(
        &mut self,
        sc: &mut Scanner<R>,
        index: usize,
        level: usize,
    ) -> Result<Shape, EntryError<E>> {
        if self.wanted & 1 << index == 0 {
            self.pass(sc, level)?;
            return Ok(Shape::Empty);
        }
        match sc.peek()? {
            Some(b'[') => {
                sc.bump();
                let mut first = true;
                let mut records = 0u64;
                while sc.next_element(&mut first)? {
                    if sc.element(&mut self.buf, record_limits(self.limits))? == Element::Complete
                        && !record_syntax_ok(&self.buf)
                    {
                        return Err(EntryError::Invalid(format!(
                            "invalid JSON in record {records} of {}",
                            SECTIONS[index].path.join(" › ")
                        )));
                    }
                    records += 1;
                }
                Ok(if records == 0 { Shape::Empty } else { Shape::List(records) })
            }
            Some(b'{') => {
                sc.bump();
                if sc.peek()? == Some(b'}') {
                    sc.bump();
                    return Ok(Shape::Empty);
                }
                match sc.pass_rest(b'{', self.limits.max_json_depth.saturating_sub(level))? {
                    Passed::Done => Ok(Shape::NotList),
                    Passed::TooDeep => Err(too_deep(self.limits)),
                }
            }
            Some(b'n') => {
                self.pass(sc, level)?;
                Ok(Shape::Empty)
            }
            _ => {
                self.pass(sc, level)?;
                Ok(Shape::NotList)
            }
        }
    }
}

/// Whether a record's text is JSON; text that is not UTF-8, or has a lone
/// surrogate escape, is a record-level problem for the second pass.
fn record_syntax_ok(record: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(record) else { return true };
    match serde_json::from_str::<Value>(text) {
        Ok(_) => true,
        Err(e) => is_lone_surrogate(&e),
    }
}

fn too_deep<E>(limits: &Limits) -> EntryError<E> {
    EntryError::Invalid(format!("JSON nested deeper than {} levels", limits.max_json_depth))
}

fn record_limits(limits: &Limits) -> (usize, usize, usize) {
    (limits.max_record_bytes, limits.max_string_bytes, limits.max_json_depth)
}

/// What the second pass over one entry needs.
struct Walk<'w, 'r, E> {
    types: &'w [&'static DataType],
    /// Indices (into `types` and the report) of the types this entry feeds.
    feeds: &'w [usize],
    report: &'w mut PartReport,
    /// The next ordinal of each type in this entry.
    ordinals: &'w mut [u64],
    resume: &'w dyn Fn(&str, u32) -> Option<u64>,
    device_id: &'w str,
    member_no: u32,
    request: &'w PartRequest<'r>,
    sink: &'w mut dyn FnMut(Row) -> Result<(), E>,
    buf: Vec<u8>,
    key: Vec<u8>,
}

/// The second pass: follows the scan's chosen keys to the sections of the
/// types this entry feeds and hands their rows over.
fn read_entry<R: Read + Seek, E>(
    src: &mut CountingSource<R>,
    entry: &Entry,
    limits: &Limits,
    tree: &[Chosen],
    walk: &mut Walk<'_, '_, E>,
) -> Result<(), EntryError<E>> {
    let mut sc = Scanner::new(open(src, entry, limits)?)?;
    if sc.peek()? != Some(b'{') {
        return Err(EntryError::Invalid("the document changed between reads".into()));
    }
    sc.bump();
    walk.object(&mut sc, tree, true)
}

impl<E> Walk<'_, '_, E> {
    /// An object on a known path, its `{` consumed. The top-level one is
    /// left once its last chosen key is read: nothing after it is needed.
    fn object<R: BufRead>(&mut self, sc: &mut Scanner<R>, chosen: &[Chosen], top: bool) -> Result<(), EntryError<E>> {
        let mut first = true;
        let mut occurrence = 0u64;
        let last = chosen.iter().map(|c| c.occurrence).max().filter(|_| top);
        while sc.next_key(&mut first, &mut self.key, MAX_KEY)?.is_some() {
            let this = occurrence;
            occurrence += 1;
            match chosen.iter().find(|c| c.occurrence == this).map(|c| &c.node) {
                Some(Node::Object(children)) if sc.peek()? == Some(b'{') => {
                    sc.bump();
                    self.object(sc, children, false)?;
                }
                Some(&Node::Section(index, Shape::List(_))) if self.feeds_section(index) => {
                    self.section(sc, index)?;
                }
                _ => {
                    if sc.pass_value(usize::MAX)? == Passed::TooDeep {
                        return Err(too_deep(self.request.limits));
                    }
                }
            }
            if Some(this) == last {
                return Ok(());
            }
        }
        Ok(())
    }

    fn feeds_section(&self, index: usize) -> bool {
        self.feeds.iter().any(|&ti| self.types[ti].name == SECTIONS[index].data_type)
    }

    /// A section's records, its `[` next.
    fn section<R: BufRead>(&mut self, sc: &mut Scanner<R>, index: usize) -> Result<(), EntryError<E>> {
        let section = &SECTIONS[index];
        let ti = self.types.iter().position(|t| t.name == section.data_type).expect("a fed type");
        let data_type = self.types[ti];
        if sc.peek()? != Some(b'[') {
            return Err(EntryError::Invalid("the document changed between reads".into()));
        }
        sc.bump();
        let mut emitter = Emitter {
            data_type,
            device_id: self.device_id,
            member_no: self.member_no,
            resume_after: (self.resume)(data_type.name, self.member_no),
            window: self.request.window,
            counts: &mut self.report.types[ti],
            sink: &mut *self.sink,
        };
        let limits = record_limits(self.request.limits);
        let mut first = true;
        while sc.next_element(&mut first)? {
            let element = sc.element(&mut self.buf, limits)?;
            let ordinal = self.ordinals[ti];
            self.ordinals[ti] += 1;
            emit(&mut emitter, section.kind, ordinal, element, &self.buf)?;
        }
        Ok(())
    }
}

/// One record of a section: left out and counted, or offered as a row.
fn emit<E>(
    em: &mut Emitter<'_, E>,
    kind: Kind,
    ordinal: u64,
    element: Element,
    buf: &[u8],
) -> Result<(), MemberError<E>> {
    if element == Element::TooLarge {
        em.counts.left_out().too_large += 1;
        return Ok(());
    }
    let Ok(text) = std::str::from_utf8(buf) else {
        em.counts.left_out().invalid_utf8 += 1;
        return Ok(());
    };
    let fields = match serde_json::from_str::<Record>(text) {
        Ok(Record(Some(fields))) => fields,
        Ok(Record(None)) => {
            em.counts.left_out().not_object += 1;
            return Ok(());
        }
        Err(e) if is_lone_surrogate(&e) => {
            em.counts.left_out().invalid_utf8 += 1;
            return Ok(());
        }
        Err(e) => {
            return Err(MemberError::Invalid(format!(
                "invalid JSON in record {ordinal} (line {}, column {})",
                e.line(),
                e.column()
            )));
        }
    };
    let (ts, date) = match fields.get(Field::Date) {
        Value::Absent | Value::Null => (None, None),
        Value::Text(date) => match parse_date(date) {
            Some(ts) => (Some(ts), Some(date.as_ref())),
            None => {
                em.counts.left_out().bad_time += 1;
                return Ok(());
            }
        },
        Value::Other => {
            em.counts.left_out().bad_time += 1;
            return Ok(());
        }
    };
    em.offer(ordinal, Stamp::Event(ts), |w| {
        w.str("date", date);
        write_keys(w, kind, &fields);
    })
}

/// The keys after `date` (§4.5.3).
fn write_keys(w: &mut RowWriter, kind: Kind, f: &Fields<'_>) {
    let text = |field: Field| f.get(field).text();
    let link = || text(Field::Link);
    let url_keys = |w: &mut RowWriter, url: Option<&str>| {
        w.str("url", url);
        w.str("video_id", url.and_then(video_id));
    };
    match kind {
        Kind::Watch => url_keys(w, link().or_else(|| text(Field::VideoLink))),
        Kind::Search => w.str("search_term", text(Field::SearchTerm)),
        Kind::Like => url_keys(w, link()),
        Kind::Favorite(favorite_kind) => {
            w.str("favorite_kind", Some(favorite_kind));
            let url = if favorite_kind == "effect" { text(Field::EffectLink).or_else(link) } else { link() };
            url_keys(w, url);
            w.str("name", text(Field::FavoriteCollection));
        }
        Kind::Comment => {
            // TikTok writes "N/A" or "" for what a comment does not have.
            let given = |field: Field| text(field).filter(|v| !matches!(*v, "N/A" | ""));
            w.str("comment", given(Field::Comment));
            w.str("url", given(Field::Url));
            w.str("photo", given(Field::Photo));
            w.str("video", given(Field::Video));
        }
        Kind::Share => {
            url_keys(w, link());
            w.str("method", text(Field::Method));
            w.str("shared_content", text(Field::SharedContent));
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS`, UTC, optionally followed by ` UTC`.
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.strip_suffix(" UTC").unwrap_or(s).as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    Some(date.and_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)?.and_utc())
}

/// The digits after `/video/` in a TikTok link.
fn video_id(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("/video/")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| &rest[..digits])
}

/// The record fields rows use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Date,
    Link,
    VideoLink,
    EffectLink,
    FavoriteCollection,
    SearchTerm,
    Comment,
    Photo,
    Url,
    Video,
    Method,
    SharedContent,
}

const FIELDS: usize = 12;

/// Each field's spellings in the spec's table (an exact match), the first
/// also compared case-insensitively.
const SPELLINGS: [(Field, &[&str]); FIELDS] = [
    (Field::Date, &["Date", "date"]),
    (Field::Link, &["Link", "link"]),
    (Field::VideoLink, &["VideoLink"]),
    (Field::EffectLink, &["EffectLink"]),
    (Field::FavoriteCollection, &["FavoriteCollection"]),
    (Field::SearchTerm, &["SearchTerm"]),
    (Field::Comment, &["comment", "Comment"]),
    (Field::Photo, &["photo"]),
    (Field::Url, &["url"]),
    (Field::Video, &["video"]),
    (Field::Method, &["Method"]),
    (Field::SharedContent, &["SharedContent"]),
];

/// A field's value in a record.
#[derive(Debug, Default)]
enum Value<'a> {
    #[default]
    Absent,
    Null,
    Text(Cow<'a, str>),
    /// A number, boolean, list or object (whose content is read but not kept).
    Other,
}

impl Value<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A record's fields: exact spellings, and keys matching only case-insensitively.
#[derive(Default)]
struct Fields<'a> {
    exact: [Value<'a>; FIELDS],
    loose: [Value<'a>; FIELDS],
}

impl Fields<'_> {
    fn get(&self, field: Field) -> &Value<'_> {
        let i = field as usize;
        match &self.exact[i] {
            Value::Absent => &self.loose[i],
            given => given,
        }
    }
}

/// A record: an object's fields, or `None` for another JSON value.
struct Record<'a>(Option<Fields<'a>>);

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Fields::default();
                while let Some(Key(key)) = map.next_key()? {
                    let exact = SPELLINGS.iter().position(|(_, names)| names.contains(&key.as_ref()));
                    let slot = match exact {
                        Some(i) => &mut fields.exact[i],
                        None => match SPELLINGS
                            .iter()
                            .position(|(_, names)| same_but_case(names[0].as_bytes(), key.as_bytes()))
                        {
                            Some(i) => &mut fields.loose[i],
                            None => {
                                map.next_value::<Value>()?;
                                continue;
                            }
                        },
                    };
                    *slot = map.next_value()?;
                }
                Ok(Record(Some(fields)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Value>()?.is_some() {}
                Ok(Record(None))
            }
            other_strings!(Record(None));
            other_scalars!(Record(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<Er>(self, v: &'de str) -> Result<Self::Value, Er> {
                Ok(Value::Text(Cow::Borrowed(v)))
            }
            fn visit_str<Er>(self, v: &str) -> Result<Self::Value, Er> {
                Ok(Value::Text(Cow::Owned(v.to_owned())))
            }
            other_scalars!(Value::Other, Value::Null);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Value>()?.is_some() {}
                Ok(Value::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<Key, Value>()?.is_some() {}
                Ok(Value::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_with_and_without_the_utc_suffix() {
        let want = Some("2024-04-20T23:17:46Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(parse_date("2024-04-20 23:17:46"), want);
        assert_eq!(parse_date("2024-04-20 23:17:46 UTC"), want);
        for bad in ["2024-04-20T23:17:46", "2024-04-20 23:17", "2024-02-30 00:00:00", "2024-04-20 23:17:46 CET", ""] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn video_ids_are_the_digits_after_video() {
        assert_eq!(video_id("https://www.tiktokv.com/share/video/7359012345678901234/"), Some("7359012345678901234"));
        assert_eq!(video_id("https://www.tiktok.com/@x/video/123?lang=en"), Some("123"));
        assert_eq!(video_id("https://www.tiktok.com/music/sound-1"), None);
        assert_eq!(video_id("https://www.tiktokv.com/share/video/abc/"), None);
    }

    #[test]
    fn section_paths_are_unique() {
        for (i, a) in SECTIONS.iter().enumerate() {
            assert!(SECTIONS[i + 1..].iter().all(|b| b.path != a.path), "{:?}", a.path);
        }
    }

    #[test]
    fn exact_spellings_win_over_case_insensitive_ones() {
        fn fields(json: &str) -> Fields<'_> {
            serde_json::from_str::<Record>(json).unwrap().0.unwrap()
        }
        let f = fields(r#"{"DATE": "a", "Date": "b", "LINK": "x"}"#);
        assert_eq!(f.get(Field::Date).text(), Some("b"));
        assert_eq!(f.get(Field::Link).text(), Some("x"));
        let f = fields(r#"{"date": "a", "Date": "b", "Link": 3, "searchterm": "q"}"#);
        assert_eq!(f.get(Field::Date).text(), Some("b"));
        assert!(matches!(f.get(Field::Link), Value::Other));
        assert_eq!(f.get(Field::SearchTerm).text(), Some("q"));
        assert!(serde_json::from_str::<Record>("[1]").unwrap().0.is_none());
    }
}
