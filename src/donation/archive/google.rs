//! Google archive members and rows (spec §4.3): which zip entries carry which
//! data type, how a My Activity record or a Discover CSV record becomes a
//! normalized row, and the window and record rules applied on the way
//! (§5.5 record-level problems, §5.6 filtering).

use std::io::BufRead;

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, SubsecRound, Timelike as _, Utc};

use super::activity::{Activity, Record, Time};
use super::csv::{self, CsvError, CsvReader, header_key};
use super::json::{ArrayReader, Element, JsonError};
use super::{Limits, Row, TypeReport, Window};
use crate::donation::catalogue::DataType;

/// My Activity product folders and the data type each feeds (§4.3.1). The
/// folder names are observed, not documented: corrections go here.
const PRODUCTS: [(&str, &str); 8] = [
    ("youtube_history", "YouTube"),
    ("discover", "Discover"),
    ("google_lens", "Google Lens"),
    ("google_play_games", "Google Play Games"),
    ("google_play_store", "Google Play Store"),
    ("image_search", "Image Search"),
    ("search", "Search"),
    ("video_search", "Video Search"),
];

/// What kind of member an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Member {
    /// `My Activity/<folder>/MyActivity.json` (or `.html`).
    Activity(&'static str),
    Likes,
    Follows,
    NotInterested,
}

/// A zip entry recognized as a member of a Google data type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub data_type: &'static str,
    pub member: Member,
    /// `MyActivity.html`: never parsed, only noticed (HTML-only exports fail).
    pub html: bool,
}

/// Recognizes a normalized entry name (§4.3.1 matching rules).
pub(super) fn classify(name: &str) -> Option<Found> {
    let mut segments = name.rsplit('/');
    let file = segments.next()?;
    let csv = match file.to_lowercase().as_str() {
        // "Your Likes" is Google's name for the object (unverified).
        "your liked content.csv" | "your likes.csv" => Some(Member::Likes),
        "your follows.csv" => Some(Member::Follows),
        "not interested setting.csv" => Some(Member::NotInterested),
        _ => None,
    };
    if let Some(member) = csv {
        return Some(Found { data_type: "discover", member, html: false });
    }
    let html = match file {
        "MyActivity.json" => false,
        "MyActivity.html" => true,
        _ => return None,
    };
    let folder = segments.next()?;
    if segments.next()? != "My Activity" {
        return None;
    }
    let &(data_type, folder) = PRODUCTS.iter().find(|(_, f)| *f == folder)?;
    Some(Found { data_type, member: Member::Activity(folder), html })
}

/// Why a member could not be read to its end.
pub(super) enum MemberError<E> {
    /// Not valid JSON/CSV: the type fails with `archive_invalid`.
    Invalid(String),
    /// Reading failed: a corrupt entry, a limit, or the source (told apart by the meter).
    Io(std::io::Error),
    /// The member's content is an archive: never opened.
    Nested,
    Sink(E),
}

impl<E> From<JsonError> for MemberError<E> {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Io(e) => MemberError::Io(e),
            JsonError::Syntax(at) => MemberError::Invalid(format!("invalid JSON at byte {at}")),
        }
    }
}

impl<E> From<CsvError> for MemberError<E> {
    fn from(e: CsvError) -> Self {
        match e {
            CsvError::Io(e) => MemberError::Io(e),
            CsvError::Unterminated => MemberError::Invalid("invalid CSV: unclosed quote".into()),
            CsvError::BadHeader => MemberError::Invalid("invalid CSV header".into()),
        }
    }
}

/// How a record's time relates to the window (§5.6).
pub(super) enum Stamp {
    /// An event: with a time, or none (dropped when a window is set).
    Event(Option<DateTime<Utc>>),
    /// A state without a date by nature: always kept.
    State,
}

/// Applies the window and resume point to one member's records and hands
/// kept rows to the sink.
pub(super) struct Emitter<'a, E> {
    pub data_type: &'static DataType,
    pub device_id: &'a str,
    pub member_no: u32,
    /// Rows up to this ordinal were stored by an earlier run.
    pub resume_after: Option<u64>,
    pub window: Window,
    pub counts: &'a mut TypeReport,
    pub sink: &'a mut dyn FnMut(Row) -> Result<(), E>,
}

impl<E> Emitter<'_, E> {
    pub(super) fn offer(
        &mut self,
        ordinal: u64,
        stamp: Stamp,
        build: impl FnOnce(&mut RowWriter),
    ) -> Result<(), MemberError<E>> {
        let timestamp = match stamp {
            Stamp::Event(Some(ts)) if !self.window.contains(ts) => {
                self.counts.outside_window += 1;
                return Ok(());
            }
            Stamp::Event(None) if self.window.is_bounded() => {
                self.counts.no_timestamp += 1;
                return Ok(());
            }
            // Rows carry milliseconds; `ts` is stored as the row shows it.
            Stamp::Event(ts) => ts.map(|ts| ts.trunc_subsecs(3)),
            Stamp::State => None,
        };
        self.counts.rows += 1;
        if self.resume_after.is_some_and(|last| ordinal <= last) {
            return Ok(());
        }
        let mut w = RowWriter::new();
        w.str("data_type", Some(self.data_type.name));
        w.str("device_id", Some(self.device_id));
        w.timestamp("timestamp", timestamp);
        w.str("platform", Some(self.data_type.platform));
        build(&mut w);
        let row =
            Row { data_type: self.data_type.name, member_no: self.member_no, ordinal, timestamp, json: w.finish() };
        (self.sink)(row).map_err(MemberError::Sink)
    }
}

/// Parses a `MyActivity.json` array; returns the number of records (ordinals) seen.
pub(super) fn parse_activity<E>(
    r: impl BufRead,
    limits: &Limits,
    em: &mut Emitter<'_, E>,
) -> Result<u64, MemberError<E>> {
    let mut array = ArrayReader::new(r, limits.max_record_bytes, limits.max_string_bytes, limits.max_json_depth);
    let mut buf = Vec::new();
    let mut ordinal = 0u64;
    while let Some(element) = array.next(&mut buf)? {
        let this = ordinal;
        ordinal += 1;
        if element == Element::TooLarge {
            em.counts.skipped.too_large += 1;
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            em.counts.skipped.invalid_utf8 += 1;
            continue;
        };
        let activity = match serde_json::from_str::<Record>(text) {
            Ok(Record(Some(activity))) => activity,
            Ok(Record(None)) => {
                em.counts.skipped.not_object += 1;
                continue;
            }
            // A lone surrogate escape is text that cannot be decoded, not
            // broken JSON (serde_json's messages for it: "lone leading
            // surrogate in hex escape", "unexpected end of hex escape").
            Err(e) if is_lone_surrogate(&e) => {
                em.counts.skipped.invalid_utf8 += 1;
                continue;
            }
            Err(e) => {
                return Err(MemberError::Invalid(format!(
                    "invalid JSON in record {this} (line {}, column {})",
                    e.line(),
                    e.column()
                )));
            }
        };
        let Ok(ts) = timestamp(&activity) else {
            em.counts.skipped.bad_time += 1;
            continue;
        };
        let data_type = em.data_type.name;
        em.offer(this, Stamp::Event(ts), |w| write_activity_row(w, data_type, &activity))?;
    }
    Ok(ordinal)
}

pub(super) fn is_lone_surrogate(e: &serde_json::Error) -> bool {
    let message = e.to_string();
    message.contains("surrogate") || message.contains("end of hex escape")
}

/// Parses one Discover CSV; returns the number of records (ordinals) seen.
pub(super) fn parse_discover_csv<E>(
    r: impl BufRead,
    member: Member,
    limits: &Limits,
    em: &mut Emitter<'_, E>,
) -> Result<u64, MemberError<E>> {
    let Some((mut reader, header)) = CsvReader::open(r, limits.max_csv_line_bytes)? else {
        return Ok(0);
    };
    let keys: Vec<String> = header.iter().map(|h| header_key(h)).collect();
    let column = |name: &str| keys.iter().position(|k| k == name);
    let required = |name: &str, shown: &str| {
        column(name).ok_or_else(|| MemberError::<E>::Invalid(format!("invalid CSV: no {shown} column")))
    };
    let (first, second) = match member {
        Member::Likes => (required("content url", "Content Url")?, column("liked date")),
        Member::Follows => (required("followed entity", "Followed Entity")?, None),
        Member::NotInterested => (required("entity name", "Entity Name")?, column("setting value")),
        Member::Activity(_) => return Err(MemberError::Invalid("not a CSV member".into())),
    };
    let mut ordinal = 0u64;
    while let Some(record) = reader.next()? {
        let this = ordinal;
        ordinal += 1;
        let fields = match record {
            csv::Record::Fields(fields) => fields,
            csv::Record::TooLong => {
                em.counts.skipped.too_large += 1;
                continue;
            }
            csv::Record::InvalidUtf8 => {
                em.counts.skipped.invalid_utf8 += 1;
                continue;
            }
        };
        let value = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|v| v.trim()).filter(|v| !v.is_empty());
        let (a, b) = (value(Some(first)), value(second));
        match member {
            Member::Likes => {
                let date = match b.map(parse_liked_date) {
                    None => None,
                    Some(Some(date)) => Some(date),
                    Some(None) => {
                        em.counts.skipped.bad_time += 1;
                        continue;
                    }
                };
                let ts = date.map(|d| d.and_time(NaiveTime::MIN).and_utc());
                let liked = date.map(|d| d.format("%Y-%m-%d").to_string());
                em.offer(this, Stamp::Event(ts), |w| {
                    write_discover_csv_row(w, "liked", [a, liked.as_deref(), None, None, None])
                })?;
            }
            Member::Follows => {
                em.offer(this, Stamp::State, |w| write_discover_csv_row(w, "follows", [None, None, a, None, None]))?;
            }
            Member::NotInterested => {
                em.offer(this, Stamp::State, |w| {
                    write_discover_csv_row(w, "not_interested", [None, None, None, a, b])
                })?;
            }
            Member::Activity(_) => unreachable!("handled above"),
        }
    }
    Ok(ordinal)
}

/// `"Jan 15, 2024"` (English month, abbreviated or not) or `2024-01-15`.
fn parse_liked_date(s: &str) -> Option<NaiveDate> {
    ["%b %d, %Y", "%B %d, %Y", "%Y-%m-%d"].iter().find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// A record's time: `Ok(None)` without one, `Err` for one that does not parse.
fn timestamp(a: &Activity<'_>) -> Result<Option<DateTime<Utc>>, ()> {
    match &a.time {
        Time::Missing => Ok(None),
        Time::Text(s) => DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| ()),
        Time::Other => Err(()),
    }
}

fn time_text<'b>(a: &'b Activity<'_>) -> Option<&'b str> {
    match &a.time {
        Time::Text(s) => Some(s),
        _ => None,
    }
}

/// The eleven My Activity keys, in order; all `null` without a record.
fn write_activity_keys(w: &mut RowWriter, a: Option<&Activity<'_>>) {
    let title = a.and_then(|a| a.title.as_deref());
    w.str("time", a.and_then(time_text));
    w.str("header", a.and_then(|a| a.header.as_deref()));
    w.str("title", title);
    w.str("action", title.and_then(action));
    w.str("subject", title.and_then(subject));
    w.str("url", a.and_then(|a| a.title_url.as_deref()));
    w.str("description", a.and_then(|a| a.description.as_deref()));
    w.joined("details", a.into_iter().flat_map(|a| a.details.iter().map(AsRef::as_ref)));
    w.joined("products", a.into_iter().flat_map(|a| a.products.iter().map(AsRef::as_ref)));
    w.joined("activity_controls", a.into_iter().flat_map(|a| a.activity_controls.iter().map(AsRef::as_ref)));
    w.joined("subtitles", a.into_iter().flat_map(|a| a.subtitles.iter().filter_map(|s| s.name.as_deref())));
}

fn write_activity_row(w: &mut RowWriter, data_type: &str, a: &Activity<'_>) {
    write_activity_keys(w, Some(a));
    let url = a.title_url.as_deref();
    let search_keys = |w: &mut RowWriter| {
        let location = a.location.as_ref();
        w.str("query", a.title.as_deref().and_then(query));
        w.str("location_name", location.and_then(|l| l.name.as_deref()));
        w.str("location_url", location.and_then(|l| l.url.as_deref()));
        w.str("location_source", location.and_then(|l| l.source.as_deref()));
    };
    match data_type {
        "youtube_history" => {
            // The channel comes from the first subtitle, and only when it links somewhere.
            let channel = a.subtitles.first().filter(|s| s.url.is_some());
            w.str("video_id", url.and_then(video_id));
            w.str("channel_name", channel.and_then(|s| s.name.as_deref()));
            w.str("channel_url", channel.and_then(|s| s.url.as_deref()));
            w.bool("is_ad", a.details.iter().any(|d| d == "From Google Ads"));
        }
        "search" | "image_search" | "google_lens" => search_keys(w),
        "video_search" => {
            search_keys(w);
            w.str("video_id", url.and_then(video_id));
        }
        "google_play_store" => w.str("app_id", url.and_then(app_id)),
        "discover" => {
            w.str("subtype", Some("history"));
            for k in ["content_url", "liked_date", "followed_entity", "entity_name", "setting_value"] {
                w.str(k, None);
            }
        }
        _ => {} // google_play_games: no extra keys
    }
}

/// `[content_url, liked_date, followed_entity, entity_name, setting_value]`.
fn write_discover_csv_row(w: &mut RowWriter, subtype: &str, values: [Option<&str>; 5]) {
    write_activity_keys(w, None);
    w.str("subtype", Some(subtype));
    for (k, v) in
        ["content_url", "liked_date", "followed_entity", "entity_name", "setting_value"].into_iter().zip(values)
    {
        w.str(k, v);
    }
}

/// The first whitespace-separated word of a title.
fn action(title: &str) -> Option<&str> {
    title.split_whitespace().next()
}

/// The title without its verb, and without a following "to"/"for".
fn subject(title: &str) -> Option<&str> {
    let title = title.trim();
    let rest = title[title.find(char::is_whitespace)?..].trim_start();
    let rest = ["to", "for"]
        .iter()
        .find_map(|w| {
            let after = rest.strip_prefix(w)?;
            (after.is_empty() || after.starts_with(char::is_whitespace)).then(|| after.trim_start())
        })
        .unwrap_or(rest);
    (!rest.is_empty()).then_some(rest)
}

/// What was searched for: `Searched for X`, or `Searched with Google Lens + "X"`.
fn query(title: &str) -> Option<&str> {
    if let Some(q) = title.strip_prefix("Searched for ") {
        return (!q.is_empty()).then_some(q);
    }
    let quoted = title.strip_prefix("Searched with Google Lens + ")?;
    let q = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .or_else(|| quoted.strip_prefix('“').and_then(|q| q.strip_suffix('”')))?;
    (!q.is_empty()).then_some(q)
}

/// The query parameters of a URL (before any fragment).
fn query_params(url: &str) -> impl Iterator<Item = &str> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('#').next().unwrap_or("").split('&')
}

/// A YouTube video id: the 11 characters after `v=`.
fn video_id(url: &str) -> Option<&str> {
    let value = query_params(url).find_map(|p| p.strip_prefix("v="))?;
    let id = value.get(..11)?;
    id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_').then_some(id)
}

/// The `id` parameter of a `play.google.com/store/apps/details` URL.
fn app_id(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let path = rest.split(['?', '#']).next()?;
    if path.trim_end_matches('/') != "play.google.com/store/apps/details" {
        return None;
    }
    query_params(url).find_map(|p| p.strip_prefix("id=")).filter(|id| !id.is_empty())
}

/// A flat JSON object written key by key, so keys keep the spec's order
/// (`serde_json::Map` would sort them).
pub(super) struct RowWriter {
    out: String,
}

impl RowWriter {
    fn new() -> Self {
        // Room for a typical row: no reallocation while it is written.
        let mut out = String::with_capacity(512);
        out.push('{');
        RowWriter { out }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_json_string(&mut self.out, key);
        self.out.push(':');
    }

    pub(super) fn str(&mut self, key: &str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(v) => push_json_string(&mut self.out, v),
            None => self.out.push_str("null"),
        }
    }

    /// RFC 3339 UTC with milliseconds, as rows carry timestamps.
    fn timestamp(&mut self, key: &str, ts: Option<DateTime<Utc>>) {
        self.key(key);
        let Some(ts) = ts else {
            self.out.push_str("null");
            return;
        };
        let (date, time) = (ts.date_naive(), ts.time());
        if (0..=9999).contains(&date.year()) {
            // Digit by digit: chrono's formatter interprets its pattern on every call.
            let millis = time.nanosecond() / 1_000_000 % 1000;
            let fields = [(date.year() as u32, 4), (date.month(), 2), (date.day(), 2)];
            let clock = [(time.hour(), 2), (time.minute(), 2), (time.second(), 2), (millis, 3)];
            self.out.push('"');
            for (i, (n, width)) in fields.into_iter().chain(clock).enumerate() {
                self.out.push_str(["", "-", "-", "T", ":", ":", "."][i]);
                push_digits(&mut self.out, n, width);
            }
            self.out.push_str("Z\"");
        } else {
            push_json_string(&mut self.out, &ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }

    /// `items` as one string, `", "` between them; `null` without any.
    fn joined<'s>(&mut self, key: &str, items: impl IntoIterator<Item = &'s str>) {
        self.key(key);
        let mut items = items.into_iter();
        let Some(first) = items.next() else {
            self.out.push_str("null");
            return;
        };
        self.out.push('"');
        push_escaped(&mut self.out, first);
        for item in items {
            self.out.push_str(", ");
            push_escaped(&mut self.out, item);
        }
        self.out.push('"');
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
}

/// `s` as the inside of a JSON string: runs that need no escape are copied whole.
fn push_escaped(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_timestamps_are_written_as_serde_json_and_chrono_write_them() {
        for s in ["plain", "a\"b\\c\nd\re\tf", "\u{1}\u{1f}x", "é ü 😀", ""] {
            let mut out = String::new();
            push_json_string(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
        for ts in ["2024-02-29T23:59:59.999Z", "0001-01-01T00:00:00Z", "1999-12-31T05:06:07.123456+02:00"] {
            let t = DateTime::parse_from_rfc3339(ts).unwrap().with_timezone(&Utc);
            let mut w = RowWriter::new();
            w.timestamp("t", Some(t));
            assert_eq!(w.finish(), format!("{{\"t\":\"{}\"}}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")));
        }
    }

    #[test]
    fn members_are_recognized_by_path() {
        let f = classify("Portability/My Activity/Search/MyActivity.json").unwrap();
        assert_eq!((f.data_type, f.member, f.html), ("search", Member::Activity("Search"), false));
        let f = classify("Takeout/x/My Activity/Google Lens/MyActivity.html").unwrap();
        assert_eq!((f.data_type, f.html), ("google_lens", true));
        assert_eq!(classify("My Activity/YouTube/MyActivity.json").unwrap().data_type, "youtube_history");
        assert_eq!(classify("a/your likes.CSV").unwrap().member, Member::Likes);
        assert_eq!(classify("Portability/Discover/Your Liked Content.csv").unwrap().member, Member::Likes);
        assert_eq!(classify("Your Follows.csv").unwrap().member, Member::Follows);
        assert_eq!(classify("x/NOT INTERESTED SETTING.csv").unwrap().member, Member::NotInterested);
        for ignored in [
            "Portability/My Activity/Google Play Books/MyActivity.json",
            "Portability/My Activity/search/MyActivity.json",
            "Portability/My Activity/Google Lens/lens-0001.jpg",
            "Portability/Activity/Search/MyActivity.json",
            "Portability/My Activity/Search/myactivity.json",
        ] {
            assert!(classify(ignored).is_none(), "{ignored}");
        }
    }

    #[test]
    fn title_derivations() {
        assert_eq!(action("Watched Test Video Alpha"), Some("Watched"));
        assert_eq!(subject("Watched Test Video Alpha"), Some("Test Video Alpha"));
        assert_eq!(subject("Subscribed to Channel Beta"), Some("Channel Beta"));
        assert_eq!(subject("Searched for python tutorials"), Some("python tutorials"));
        assert_eq!(subject("Visited Python.org – Official Website"), Some("Python.org – Official Website"));
        assert_eq!(subject("Watched tomato soup"), Some("tomato soup"));
        assert_eq!(subject("Searched"), None);
        assert_eq!(subject("Subscribed to"), None);
        assert_eq!(query("Searched for python tutorials"), Some("python tutorials"));
        assert_eq!(
            query("Searched with Google Lens + \"types of succulent plants\""),
            Some("types of succulent plants")
        );
        assert_eq!(query("Searched with Google Lens"), None);
        assert_eq!(query("Visited Python.org"), None);
    }

    #[test]
    fn url_derivations() {
        assert_eq!(video_id("https://www.youtube.com/watch?v=dQw4w9WgXcQ"), Some("dQw4w9WgXcQ"));
        assert_eq!(video_id("https://www.youtube.com/watch?feature=x&v=c2myHZYqlPM&t=3s"), Some("c2myHZYqlPM"));
        assert_eq!(video_id("https://www.youtube.com/post/Ugkxabc"), None);
        assert_eq!(video_id("https://www.youtube.com/watch?dev=dQw4w9WgXcQ"), None);
        assert_eq!(video_id("https://www.youtube.com/watch?v=short"), None);
        assert_eq!(
            app_id("https://play.google.com/store/apps/details?id=fi.fmi.mobileweather"),
            Some("fi.fmi.mobileweather")
        );
        assert_eq!(app_id("https://play.google.com/store/apps/details?hl=en&id=a.b"), Some("a.b"));
        assert_eq!(app_id("https://example.com/store/apps/details?id=a.b"), None);
        assert_eq!(app_id("https://play.google.com/store/apps/details"), None);
    }

    #[test]
    fn liked_dates_in_both_forms() {
        let d = NaiveDate::from_ymd_opt(2024, 1, 15);
        assert_eq!(parse_liked_date("Jan 15, 2024"), d);
        assert_eq!(parse_liked_date("January 15, 2024"), d);
        assert_eq!(parse_liked_date("2024-01-15"), d);
        assert_eq!(parse_liked_date("Jan 5, 2024"), NaiveDate::from_ymd_opt(2024, 1, 5));
        assert_eq!(parse_liked_date("yesterday"), None);
    }

    #[test]
    fn strings_are_escaped() {
        let mut w = RowWriter::new();
        w.str("a", Some("q\"\\\n\u{1}–"));
        w.str("b", None);
        w.bool("c", true);
        let json = w.finish();
        assert_eq!(json, "{\"a\":\"q\\\"\\\\\\n\\u0001–\",\"b\":null,\"c\":true}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["a"], "q\"\\\n\u{1}–");
    }
}
