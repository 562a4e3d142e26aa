//! Parsing whole parts built in memory with `zip::ZipWriter`: golden rows per
//! type, the window and resume rules, and every zip-safety rule of §5.5.

use std::cell::Cell;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;
use crate::donation::catalogue::Source as CatalogueSource;

const SEARCH: &str = "Portability/My Activity/Search/MyActivity.json";
const YOUTUBE: &str = "Portability/My Activity/YouTube/MyActivity.json";
const IMAGE_SEARCH: &str = "Portability/My Activity/Image Search/MyActivity.json";

fn deflate() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

pub(super) fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

/// A zip (deflate) with these entries, in order.
pub(super) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(entries, deflate())
}

pub(super) fn zip_with(entries: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn types(names: &[&str]) -> Vec<&'static DataType> {
    names.iter().map(|n| CatalogueSource::Google.data_type(n).unwrap()).collect()
}

struct Run {
    report: PartReport,
    rows: Vec<Row>,
}

impl Run {
    fn of(&self, data_type: &str) -> &TypeReport {
        self.report.types.iter().find(|t| t.data_type == data_type).unwrap()
    }
}

fn run_full(
    zip: &[u8],
    names: &[&str],
    window: Window,
    limits: &Limits,
    resume: impl Fn(&str, u32) -> Option<u64>,
) -> Run {
    let data_types = types(names);
    let request = PartRequest { donation_id: 42, data_types: &data_types, window, limits };
    let mut rows = Vec::new();
    let report = parse_google_part(Cursor::new(zip), &request, resume, |row| {
        rows.push(row);
        Ok::<_, ()>(())
    })
    .unwrap();
    Run { report, rows }
}

fn run(zip: &[u8], names: &[&str]) -> Run {
    run_full(zip, names, Window::default(), &Limits::default(), |_, _| None)
}

fn run_limited(zip: &[u8], names: &[&str], limits: &Limits) -> Run {
    run_full(zip, names, Window::default(), limits, |_, _| None)
}

/// The spec's pretty-printed examples without the whitespace between tokens.
pub(super) fn compact(pretty: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in pretty.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// A flat row's keys and values in document order.
pub(super) fn ordered(json: &str) -> Vec<(String, Value)> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_str(json).deserialize_map(V).unwrap()
}

pub(super) fn keys(json: &str) -> Vec<String> {
    ordered(json).into_iter().map(|(k, _)| k).collect()
}

fn parsed(t: &TypeReport) -> bool {
    t.outcome == Outcome::Parsed
}

fn failed_with(t: &TypeReport, code: FailureCode, reason_part: &str) -> bool {
    matches!(&t.outcome, Outcome::Failed(f) if f.code == code && f.reason.contains(reason_part))
}

fn assert_part_failed(run: &Run, code: FailureCode) {
    let failure = run.report.failure.as_ref().expect("part failure");
    assert_eq!(failure.code, code, "{failure:?}");
    assert!(run.report.types.iter().all(|t| matches!(&t.outcome, Outcome::Failed(f) if f == failure)));
}

fn record(time: &str, title: &str) -> String {
    format!(r#"{{"header": "Search", "title": "{title}", "time": "{time}", "products": ["Search"]}}"#)
}

fn array(records: &[String]) -> Vec<u8> {
    format!("[{}]", records.join(",\n")).into_bytes()
}

// --- Golden rows -------------------------------------------------------------

#[test]
fn youtube_rows_match_the_spec_example() {
    // The record as Google escapes it (§6.4), newest first, plus an ad and a
    // subtitle without a URL.
    let member = br#"[
      {"header": "YouTube", "title": "Watched Test Video Alpha", "titleUrl": "https://www.youtube.com/watch?v\u003ddQw4w9WgXcQ",
       "subtitles": [{"name": "Channel Alpha", "url": "https://www.youtube.com/channel/UC_alpha"}],
       "time": "2024-01-15T10:00:00.000Z", "products": ["YouTube"], "activityControls": ["YouTube watch history"]},
      {"header": "YouTube", "title": "Watched Ad - Buy Something 30s", "titleUrl": "https://www.youtube.com/watch?v\u003dAAAAAAAAAAA\u0026t\u003d1",
       "details": [{"name": "From Google Ads"}], "time": "2024-01-14T09:00:00.123456Z", "products": ["YouTube"]},
      {"header": "YouTube", "title": "Shared video", "subtitles": [{"name": "Shared URL: https://youtu.be/x"}],
       "time": "2024-01-13T08:00:00Z", "products": ["YouTube"]}
    ]"#;
    let run = self::run(&zip_of(&[(YOUTUBE, member)]), &["youtube_history"]);
    let want = r#"{"data_type": "youtube_history", "device_id": "42", "timestamp": "2024-01-15T10:00:00.000Z", "platform": "YouTube",
 "time": "2024-01-15T10:00:00.000Z", "header": "YouTube", "title": "Watched Test Video Alpha", "action": "Watched",
 "subject": "Test Video Alpha", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "description": null,
 "details": null, "products": "YouTube", "activity_controls": "YouTube watch history", "subtitles": "Channel Alpha",
 "video_id": "dQw4w9WgXcQ", "channel_name": "Channel Alpha", "channel_url": "https://www.youtube.com/channel/UC_alpha",
 "is_ad": false}"#;
    assert_eq!(run.rows[0].json, compact(want));
    let ad = r#"{"data_type":"youtube_history","device_id":"42","timestamp":"2024-01-14T09:00:00.123Z","platform":"YouTube",
      "time":"2024-01-14T09:00:00.123456Z","header":"YouTube","title":"Watched Ad - Buy Something 30s","action":"Watched",
      "subject":"Ad - Buy Something 30s","url":"https://www.youtube.com/watch?v=AAAAAAAAAAA&t=1","description":null,
      "details":"From Google Ads","products":"YouTube","activity_controls":null,"subtitles":null,
      "video_id":"AAAAAAAAAAA","channel_name":null,"channel_url":null,"is_ad":true}"#;
    assert_eq!(run.rows[1].json, compact(ad));
    let shared = ordered(&run.rows[2].json);
    assert_eq!(shared[3..].iter().find(|(k, _)| k == "subtitles").unwrap().1, "Shared URL: https://youtu.be/x");
    assert_eq!(shared.iter().find(|(k, _)| k == "channel_name").unwrap().1, Value::Null);
    assert_eq!(keys(&run.rows[2].json), keys(&run.rows[0].json));

    assert_eq!(run.rows[1].timestamp, Some("2024-01-14T09:00:00.123Z".parse().unwrap()));
    let r = &run.rows[0];
    assert_eq!((r.data_type, r.member_no, r.ordinal), ("youtube_history", 0, 0));
    assert_eq!(r.timestamp, Some("2024-01-15T10:00:00Z".parse().unwrap()));
    assert_eq!(run.rows.iter().map(|r| r.ordinal).collect::<Vec<_>>(), [0, 1, 2]);
    let t = run.of("youtube_history");
    assert!(parsed(t));
    assert_eq!((t.rows, t.members.len(), t.members[0].records), (3, 1, 3));
    assert_eq!(t.members[0].name, YOUTUBE);
}

#[test]
fn search_rows_match_the_spec_example() {
    let member = r#"[
      {"header": "Search", "title": "Searched for python tutorials", "titleUrl": "https://www.google.com/search?q\u003dpython+tutorials",
       "time": "2023-06-15T10:30:00.000Z", "products": ["Search"], "activityControls": ["Web \u0026 App Activity"]},
      {"header": "Search", "title": "Visited Python.org – Official Website",
       "titleUrl": "https://www.google.com/url?q\u003dhttps://www.python.org/\u0026usg\u003dAOvVaw123",
       "time": "2023-06-15T10:31:00.000Z", "products": ["Search"], "activityControls": ["Web \u0026 App Activity"]},
      {"header": "Search", "title": "Searched for weather", "time": "2025-06-15T10:30:00.000Z", "products": ["Search"],
       "locationInfos": [{"name": "At this general area", "url": "https://www.google.com/maps/@?api\u003d1\u0026map_action\u003dmap", "source": "From your device"},
                         {"name": "second", "url": "u2", "source": "s2"}]},
      {"header": "Search", "title": "1 notification", "subtitles": [{"name": "Including topics:"}, {"name": "Weather"}],
       "time": "2025-06-15T10:32:00.000Z", "products": ["Search"], "extra": {"nested": [1, 2]}}
    ]"#.as_bytes();
    let run = self::run(&zip_of(&[(SEARCH, member)]), &["search"]);
    // §2.7, verbatim.
    let example = r#"[
    {"data_type": "search", "device_id": "42", "timestamp": "2023-06-15T10:30:00.000Z", "platform": "Search",
     "time": "2023-06-15T10:30:00.000Z", "header": "Search", "title": "Searched for python tutorials",
     "action": "Searched", "subject": "python tutorials", "url": "https://www.google.com/search?q=python+tutorials",
     "description": null, "details": null, "products": "Search", "activity_controls": "Web & App Activity",
     "subtitles": null, "query": "python tutorials", "location_name": null, "location_url": null, "location_source": null},
    {"data_type": "search", "device_id": "42", "timestamp": "2023-06-15T10:31:00.000Z", "platform": "Search",
     "time": "2023-06-15T10:31:00.000Z", "header": "Search", "title": "Visited Python.org – Official Website",
     "action": "Visited", "subject": "Python.org – Official Website",
     "url": "https://www.google.com/url?q=https://www.python.org/&usg=AOvVaw123",
     "description": null, "details": null, "products": "Search", "activity_controls": "Web & App Activity",
     "subtitles": null, "query": null, "location_name": null, "location_url": null, "location_source": null}
  ]"#;
    assert_eq!(format!("[{},{}]", run.rows[0].json, run.rows[1].json), compact(example));
    let located = ordered(&run.rows[2].json);
    let get = |row: &[(String, Value)], k: &str| row.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get(&located, "location_name"), "At this general area");
    assert_eq!(get(&located, "location_url"), "https://www.google.com/maps/@?api=1&map_action=map");
    assert_eq!(get(&located, "location_source"), "From your device");
    let card = ordered(&run.rows[3].json);
    assert_eq!(get(&card, "subtitles"), "Including topics:, Weather");
    assert_eq!(get(&card, "url"), Value::Null);
    assert_eq!(get(&card, "query"), Value::Null);
}

#[test]
fn every_google_type_has_its_keys_in_order() {
    let common = "data_type device_id timestamp platform";
    let activity = "time header title action subject url description details products activity_controls subtitles";
    let search = "query location_name location_url location_source";
    /// Type, product folder, its extra keys, values to expect.
    type Case = (&'static str, &'static str, String, &'static [(&'static str, &'static str)]);
    let cases: [Case; 7] = [
        (
            "image_search",
            "Image Search",
            search.into(),
            &[("query", "tea"), ("url", "https://www.google.com/search?q=tea&udm=2")],
        ),
        (
            "video_search",
            "Video Search",
            format!("{search} video_id"),
            &[("video_id", "c2myHZYqlPM"), ("header", "youtube.com")],
        ),
        ("google_lens", "Google Lens", search.into(), &[("query", "types of succulent plants")]),
        ("google_play_games", "Google Play Games", String::new(), &[("subject", "Test Game One")]),
        (
            "google_play_store",
            "Google Play Store",
            "app_id".into(),
            &[("app_id", "fi.fmi.mobileweather"), ("details", "a, b")],
        ),
        ("search", "Search", search.into(), &[("query", "x")]),
        ("youtube_history", "YouTube", "video_id channel_name channel_url is_ad".into(), &[("action", "Watched")]),
    ];
    let records = [
        r#"[{"header": "Image Search", "title": "Searched for tea", "titleUrl": "https://www.google.com/search?q\u003dtea\u0026udm\u003d2", "time": "2024-01-01T00:00:00.000Z", "products": ["Image Search"]}]"#,
        r#"[{"header": "youtube.com", "title": "Watched Test Video Search One", "titleUrl": "https://www.youtube.com/watch?v\u003dc2myHZYqlPM", "time": "2024-01-01T00:00:00.000Z", "products": ["Video Search"]}]"#,
        r#"[{"header": "Google Lens", "title": "Searched with Google Lens + \"types of succulent plants\"", "time": "2024-01-01T00:00:00.000Z", "imageFile": "lens-0001.jpg"}]"#,
        r#"[{"header": "Google Play Games", "title": "Played Test Game One", "time": "2024-01-01T00:00:00.000Z"}]"#,
        r#"[{"header": "FMI Weather", "title": "Used FMI Weather", "titleUrl": "https://play.google.com/store/apps/details?id\u003dfi.fmi.mobileweather", "details": [{"name": "a"}, {"name": "b"}], "time": "2024-01-01T00:00:00.000Z"}]"#,
        r#"[{"header": "Search", "title": "Searched for x", "time": "2024-01-01T00:00:00.000Z"}]"#,
        r#"[{"header": "YouTube", "title": "Watched x", "time": "2024-01-01T00:00:00.000Z"}]"#,
    ];
    for ((name, folder, extra, expect), member) in cases.iter().zip(records) {
        let path = format!("Portability/My Activity/{folder}/MyActivity.json");
        let run = self::run(&zip_of(&[(&path, member.as_bytes())]), &[name]);
        assert_eq!(run.rows.len(), 1, "{name}");
        let row = ordered(&run.rows[0].json);
        let all_keys = format!("{common} {activity} {extra}");
        let want_keys: Vec<&str> = all_keys.split_whitespace().collect();
        assert_eq!(row.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), want_keys, "{name}");
        assert!(row.iter().all(|(_, v)| v.is_string() || v.is_boolean() || v.is_null()));
        assert_eq!(row[3].1, *folder, "{name} platform");
        for (k, v) in *expect {
            assert_eq!(row.iter().find(|(key, _)| key == k).unwrap().1, *v, "{name} {k}");
        }
    }
}

#[test]
fn discover_rows_from_activity_and_csvs() {
    let history = br#"[{"header": "Discover", "title": "5 cards in your feed", "details": [{"name": "Business"}, {"name": "Education - viewed"}],
        "time": "2024-01-16T08:00:00.000Z", "products": ["Discover"], "activityControls": ["Web \u0026 App Activity"]}]"#;
    let zip = zip_of(&[
        ("Portability/My Activity/Discover/MyActivity.json", history),
        (
            "Portability/Discover/Your Liked Content.csv",
            b"Content Url\tLiked Date\nhttps://example.com/content1\t\"Jan 15, 2024\"\n",
        ),
        ("Portability/Discover/Your Follows.csv", b"Followed Entity\nEntity Alpha\n"),
        (
            "Portability/Discover/Not Interested Setting.csv",
            b"Entity Name\tSetting Value\ntest topic one\tNOT_INTERESTED\n",
        ),
    ]);
    let run = self::run(&zip, &["discover"]);
    assert_eq!(run.rows.len(), 4);
    // §4.3.3, verbatim.
    let liked = r#"{"data_type": "discover", "device_id": "42", "timestamp": "2024-01-15T00:00:00.000Z", "platform": "Discover",
 "time": null, "header": null, "title": null, "action": null, "subject": null, "url": null, "description": null,
 "details": null, "products": null, "activity_controls": null, "subtitles": null,
 "subtype": "liked", "content_url": "https://example.com/content1", "liked_date": "2024-01-15",
 "followed_entity": null, "entity_name": null, "setting_value": null}"#;
    assert_eq!(run.rows[1].json, compact(liked));
    let history = r#"{"data_type":"discover","device_id":"42","timestamp":"2024-01-16T08:00:00.000Z","platform":"Discover",
      "time":"2024-01-16T08:00:00.000Z","header":"Discover","title":"5 cards in your feed","action":"5","subject":"cards in your feed",
      "url":null,"description":null,"details":"Business, Education - viewed","products":"Discover","activity_controls":"Web & App Activity",
      "subtitles":null,"subtype":"history","content_url":null,"liked_date":null,"followed_entity":null,"entity_name":null,"setting_value":null}"#;
    assert_eq!(run.rows[0].json, compact(history));
    let follows = r#"{"data_type":"discover","device_id":"42","timestamp":null,"platform":"Discover","time":null,"header":null,"title":null,
      "action":null,"subject":null,"url":null,"description":null,"details":null,"products":null,"activity_controls":null,"subtitles":null,
      "subtype":"follows","content_url":null,"liked_date":null,"followed_entity":"Entity Alpha","entity_name":null,"setting_value":null}"#;
    assert_eq!(run.rows[2].json, compact(follows));
    let not_interested = ordered(&run.rows[3].json);
    assert_eq!(
        &not_interested[15..],
        [
            ("subtype".into(), "not_interested".into()),
            ("content_url".into(), Value::Null),
            ("liked_date".into(), Value::Null),
            ("followed_entity".into(), Value::Null),
            ("entity_name".into(), "test topic one".into()),
            ("setting_value".into(), "NOT_INTERESTED".into()),
        ]
    );
    assert!(run.rows.iter().all(|r| keys(&r.json) == keys(&run.rows[0].json)));
    assert_eq!(run.rows.iter().map(|r| r.member_no).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let t = run.of("discover");
    assert!(parsed(t));
    assert_eq!(t.members.len(), 4);
}

#[test]
fn discover_csvs_accept_commas_underscores_and_either_date_form() {
    let zip = zip_of(&[
        ("x/your likes.csv", b"\xef\xbb\xbfcontent_url,LIKED_DATE\r\n\"https://e.com/a,b\",2024-02-01\r\nhttps://e.com/c,\"Feb 2, 2024\"\r\n"),
        ("Portability/Discover/Not Interested Setting.csv", b"entity_name,setting_value\n\"x, y\",BLOCKED\n"),
    ]);
    let run = self::run(&zip, &["discover"]);
    let got: Vec<Vec<(String, Value)>> = run.rows.iter().map(|r| ordered(&r.json)[15..].to_vec()).collect();
    assert_eq!(got[0][1].1, "https://e.com/a,b");
    assert_eq!(got[0][2].1, "2024-02-01");
    assert_eq!(got[1][2].1, "2024-02-02");
    assert_eq!(run.rows[1].timestamp, Some("2024-02-02T00:00:00Z".parse().unwrap()));
    assert_eq!((got[2][4].1.clone(), got[2][5].1.clone()), ("x, y".into(), "BLOCKED".into()));

    let no_column = zip_of(&[("Portability/Discover/Your Follows.csv", b"Something Else\nEntity\n")]);
    assert!(failed_with(
        run_limited(&no_column, &["discover"], &Limits::default()).of("discover"),
        FailureCode::ArchiveInvalid,
        "Followed Entity"
    ));
}

// --- Window, no timestamp, resume ------------------------------------------------

#[test]
fn the_window_keeps_the_whole_end_day() {
    let member = array(&[
        record("2024-01-09T23:59:59.999Z", "Searched for a"),
        record("2024-01-10T00:00:00.000Z", "Searched for b"),
        record("2024-01-15T23:59:59.999Z", "Searched for c"),
        record("2024-01-16T00:00:00.000Z", "Searched for d"),
        record("2024-01-16T01:00:00.000+02:00", "Searched for e"),
        r#"{"title": "Searched for f"}"#.to_string(),
        r#"{"title": "Searched for g", "time": null}"#.to_string(),
    ]);
    let zip = zip_of(&[
        (SEARCH, &member),
        ("Portability/Discover/Your Follows.csv", b"Followed Entity\nAlpha\n"),
        (
            "Portability/Discover/Your Liked Content.csv",
            b"Content Url\tLiked Date\nu1\t\"Jan 9, 2024\"\nu2\t\"Jan 15, 2024\"\nu3\t\n",
        ),
    ]);
    let window = Window { start: NaiveDate::from_ymd_opt(2024, 1, 10), end: NaiveDate::from_ymd_opt(2024, 1, 15) };
    let run = run_full(&zip, &["search", "discover"], window, &Limits::default(), |_, _| None);
    let search: Vec<&Row> = run.rows.iter().filter(|r| r.data_type == "search").collect();
    assert_eq!(search.iter().map(|r| r.ordinal).collect::<Vec<_>>(), [1, 2, 4]);
    assert_eq!(search[2].timestamp, Some("2024-01-15T23:00:00Z".parse().unwrap()));
    let t = run.of("search");
    assert_eq!((t.rows, t.outside_window, t.no_timestamp), (3, 2, 2));
    // Follows have no date by nature and stay; likes are dated events.
    let discover: Vec<&Row> = run.rows.iter().filter(|r| r.data_type == "discover").collect();
    assert_eq!(discover.len(), 2);
    assert_eq!(discover[0].timestamp, None);
    assert_eq!(discover[1].timestamp, Some("2024-01-15T00:00:00Z".parse().unwrap()));
    let d = run.of("discover");
    assert_eq!((d.rows, d.outside_window, d.no_timestamp), (2, 1, 1));

    // Open on one side.
    let from = Window { start: NaiveDate::from_ymd_opt(2024, 1, 16), end: None };
    let run2 = run_full(&zip, &["search"], from, &Limits::default(), |_, _| None);
    assert_eq!(run2.rows.iter().map(|r| r.ordinal).collect::<Vec<_>>(), [3]);

    // Without a window, records without a time are kept with a null timestamp.
    let open = self::run(&zip, &["search"]);
    assert_eq!(open.rows.len(), 7);
    assert_eq!(open.rows[5].timestamp, None);
    assert_eq!(ordered(&open.rows[5].json)[2].1, Value::Null);
    assert_eq!(open.of("search").no_timestamp, 0);
}

#[test]
fn window_contains_is_exact_at_both_ends() {
    let w = Window { start: NaiveDate::from_ymd_opt(2024, 1, 10), end: NaiveDate::from_ymd_opt(2024, 1, 10) };
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    assert!(w.contains(at("2024-01-10T00:00:00Z")));
    assert!(w.contains(at("2024-01-10T23:59:59.999Z")));
    assert!(!w.contains(at("2024-01-11T00:00:00Z")));
    assert!(!w.contains(at("2024-01-09T23:59:59.999Z")));
    assert!(Window::default().contains(at("1970-01-01T00:00:00Z")));
    assert!(!Window::default().is_bounded());
}

#[test]
fn a_resumed_run_hands_over_only_rows_after_the_recorded_ordinal() {
    let member = array(
        &(0..6).map(|i| record(&format!("2024-01-0{}T00:00:00.000Z", i + 1), "Searched for x")).collect::<Vec<_>>(),
    );
    let zip = zip_of(&[
        ("other.txt", b"x"),
        (SEARCH, &member),
        (IMAGE_SEARCH, &array(&[record("2024-01-01T00:00:00Z", "y")])),
    ]);
    let full = self::run(&zip, &["search", "image_search"]);
    let resumed = run_full(&zip, &["search", "image_search"], Window::default(), &Limits::default(), |t, m| {
        (t == "search" && m == 1).then_some(3)
    });
    let ordinals =
        |r: &Run, t: &str| r.rows.iter().filter(|row| row.data_type == t).map(|row| row.ordinal).collect::<Vec<_>>();
    assert_eq!(ordinals(&full, "search"), [0, 1, 2, 3, 4, 5]);
    assert_eq!(ordinals(&resumed, "search"), [4, 5]);
    assert_eq!(ordinals(&resumed, "image_search"), [0]);
    assert_eq!(resumed.rows[..2], full.rows[4..6]);
    // Counters cover the whole member either way.
    assert_eq!(resumed.report, full.report);
}

// --- Layout and matching ----------------------------------------------------------

#[test]
fn members_in_subdirectories_match_and_unrequested_ones_are_never_read() {
    // Build one part: unrelated entries first, the search member deep down,
    // and a damaged YouTube member.
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.add_directory("Takeout/", stored()).unwrap();
    w.start_file("Takeout/Portability/My Activity/Google Lens/lens-0001.jpg", stored()).unwrap();
    w.write_all(b"\xff\xd8\xff").unwrap();
    w.start_file(format!("Takeout/Deep/{SEARCH}"), deflate()).unwrap();
    w.write_all(&array(&[record("2024-01-01T00:00:00.000Z", "Searched for x")])).unwrap();
    w.start_file(YOUTUBE, stored()).unwrap();
    w.write_all(b"[{\"title\": \"Watched v\", \"time\": \"2024-01-01T00:00:00Z\"}]").unwrap();
    let mut zip = w.finish().unwrap().into_inner();
    let at = zip.windows(9).position(|w| w == b"Watched v").unwrap();
    zip[at] = b'w';

    let run = self::run(&zip, &["search"]);
    assert!(parsed(run.of("search")));
    assert_eq!(run.rows.len(), 1);
    assert_eq!(run.rows[0].member_no, 2, "index in the central directory");
    assert_eq!(run.of("search").members[0].name, format!("Takeout/Deep/{SEARCH}"));
    assert_eq!(run.report.entries, 4);
    assert_eq!(run.report.bytes_inflated, array(&[record("2024-01-01T00:00:00.000Z", "Searched for x")]).len() as u64);

    // Requested, the damaged member fails its type only.
    let both = self::run(&zip, &["search", "youtube_history"]);
    assert!(parsed(both.of("search")));
    assert!(failed_with(both.of("youtube_history"), FailureCode::ArchiveInvalid, "corrupt member"));
    assert!(both.report.failure.is_none());
}

#[test]
fn a_type_without_a_member_is_missing() {
    let zip = zip_of(&[(SEARCH, b"[]")]);
    let run = self::run(&zip, &["search", "youtube_history", "discover"]);
    assert!(parsed(run.of("search")));
    assert_eq!(run.of("youtube_history").outcome, Outcome::Missing);
    assert_eq!(run.of("discover").outcome, Outcome::Missing);
    // Reported in catalogue order whatever the request order.
    assert_eq!(
        run.report.types.iter().map(|t| t.data_type).collect::<Vec<_>>(),
        ["youtube_history", "discover", "search"]
    );
}

#[test]
fn unsafe_names_are_skipped_and_counted() {
    let good = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    let zip = zip_of(&[
        ("../../etc/passwd", b"root"),
        ("/abs/x.json", b"[]"),
        ("C:\\x.json", b"[]"),
        ("a/./b.json", b"[]"),
        (&format!("../{SEARCH}"), b"[{\"title\": \"evil\"}]"),
        (&format!("{}/x", "d/".repeat(40)), b""),
        (SEARCH, &good),
    ]);
    let run = self::run(&zip, &["search"]);
    assert_eq!(run.report.bad_names, 6);
    assert!(parsed(run.of("search")));
    assert_eq!(run.rows.len(), 1);
    assert_eq!(run.rows[0].member_no, 6);
}

#[test]
fn the_same_member_twice_fails_only_that_type() {
    let one = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    let zip =
        zip_of(&[(SEARCH, &one), ("Portability\\My Activity\\Search\\MyActivity.json", &one), (IMAGE_SEARCH, &one)]);
    let run = self::run(&zip, &["search", "image_search"]);
    assert!(failed_with(
        run.of("search"),
        FailureCode::ArchiveInvalid,
        "ambiguous member Portability/My Activity/Search/MyActivity.json"
    ));
    assert!(parsed(run.of("image_search")));
    assert!(run.rows.iter().all(|r| r.data_type == "image_search"));

    // Byte-identical names too (the zip writer refuses them, so rename one in place).
    let mut zip = zip_of(&[(SEARCH, &one), ("Portability/My Activity/Search/MyActivity.jsoX", &one)]);
    for _ in 0..2 {
        let at = zip.windows(5).position(|w| w == b".jsoX").unwrap();
        zip[at + 4] = b'n';
    }
    assert!(failed_with(self::run(&zip, &["search"]).of("search"), FailureCode::ArchiveInvalid, "ambiguous member"));

    // Distinct paths are distinct members: both are read.
    let zip = zip_of(&[(SEARCH, &one), (&format!("Other/{SEARCH}"), &one)]);
    let run = self::run(&zip, &["search"]);
    assert_eq!((run.rows.len(), run.of("search").members.len()), (2, 2));
}

#[test]
fn html_only_activity_fails_the_type() {
    let html_only = zip_of(&[("Portability/My Activity/YouTube/MyActivity.html", b"<html></html>")]);
    let run = self::run(&html_only, &["youtube_history"]);
    assert!(failed_with(run.of("youtube_history"), FailureCode::ArchiveInvalid, "HTML activity export not supported"));
    let both = zip_of(&[("Portability/My Activity/YouTube/MyActivity.html", b"<html></html>"), (YOUTUBE, b"[]")]);
    assert!(parsed(self::run(&both, &["youtube_history"]).of("youtube_history")));
}

#[test]
fn invalid_json_fails_only_its_type() {
    let good = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    for bad in [
        &b"[{\"title\": \"a\", \"time\": \"2024-01-01T00:00:00Z\"},"[..],
        b"<html>",
        b"[{\"a\": tru}]",
        b"",
        b"[{}] []",
    ] {
        let zip = zip_of(&[(SEARCH, bad), (IMAGE_SEARCH, &good)]);
        let run = self::run(&zip, &["search", "image_search"]);
        assert!(
            failed_with(run.of("search"), FailureCode::ArchiveInvalid, "invalid JSON"),
            "{bad:?}: {:?}",
            run.of("search")
        );
        assert!(parsed(run.of("image_search")));
        assert!(run.report.failure.is_none());
    }
}

#[test]
fn bad_records_are_skipped_and_counted() {
    let huge = format!(
        r#"{{"title": "Searched for x", "description": "{}", "time": "2024-01-01T00:00:00Z"}}"#,
        "d".repeat(100_000).repeat(21)
    );
    let long_string = format!(r#"{{"title": "{}", "time": "2024-01-01T00:00:00Z"}}"#, "s".repeat(300 << 10));
    let mut member = b"[42, \"text\", null, ".to_vec();
    member.extend_from_slice(huge.as_bytes());
    member.extend_from_slice(b", ");
    member.extend_from_slice(long_string.as_bytes());
    member.extend_from_slice(b", {\"title\": \"x\", \"time\": \"yesterday\"}, {\"title\": \"x\", \"time\": 5}, ");
    member.extend_from_slice(b"{\"title\": \"bad \xff utf8\", \"time\": \"2024-01-01T00:00:00Z\"}, ");
    member.extend_from_slice(br#"{"title": "lone \ud800 surrogate", "time": "2024-01-01T00:00:00Z"}, "#);
    member.extend_from_slice(
        br#"{"header": 7, "subtitles": "no", "title": "Searched for ok", "time": "2024-01-02T00:00:00.000Z"}]"#,
    );
    // Stored: 2 MiB of one letter would deflate past the ratio limit.
    let run = self::run(&zip_with(&[(SEARCH, &member)], stored()), &["search"]);
    let t = run.of("search");
    assert!(parsed(t), "{:?}", t.outcome);
    assert_eq!(t.skipped, SkippedRecords { not_object: 3, too_large: 2, invalid_utf8: 2, bad_time: 2 });
    assert_eq!(t.skipped.total(), 9);
    assert_eq!(run.rows.len(), 1);
    assert_eq!(run.rows[0].ordinal, 9);
    assert_eq!(t.members[0].records, 10);
    let row = ordered(&run.rows[0].json);
    assert_eq!(row[5].1, Value::Null, "a header of the wrong type is absent");
}

// --- Zip safety -------------------------------------------------------------------

/// Sets a central-directory field of the entry named `name` (offset from the
/// header signature) to `value`.
fn patch_central(zip: &mut [u8], name: &str, field: usize, value: &[u8]) {
    let mut at = 0;
    loop {
        let i = at + zip[at..].windows(4).position(|w| w == b"PK\x01\x02").expect("central header");
        let name_len = u16::from_le_bytes([zip[i + 28], zip[i + 29]]) as usize;
        if &zip[i + 46..i + 46 + name_len] == name.as_bytes() {
            zip[i + field..i + field + value.len()].copy_from_slice(value);
            return;
        }
        at = i + 4;
    }
}

fn streamed(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = ZipWriter::new_stream(&mut out);
    for (name, data) in entries {
        w.start_file(*name, deflate()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    out
}

#[test]
fn streamed_zips_with_data_descriptors_are_read() {
    let member = array(&[
        record("2024-01-01T00:00:00.000Z", "Searched for x"),
        record("2024-01-02T00:00:00.000Z", "Searched for y"),
    ]);
    let zip = streamed(&[("Portability/My Activity/Google Play Books/MyActivity.json", b"[]"), (SEARCH, &member)]);
    let run = self::run(&zip, &["search"]);
    assert!(parsed(run.of("search")));
    assert_eq!(run.rows.len(), 2);
    assert_eq!(run.rows[1].member_no, 1);
}

#[test]
fn a_declared_bomb_is_refused_before_reading() {
    let zeros = vec![b' '; 4 << 20];
    let zip = zip_of(&[(SEARCH, &zeros)]);
    let limits = Limits { max_entry_bytes: 1 << 20, ..Limits::default() };
    let run = run_limited(&zip, &["search", "youtube_history"], &limits);
    assert_part_failed(&run, FailureCode::ArchiveTooLarge);
    assert_eq!(run.report.bytes_inflated, 0);
    // The declared ratio alone (4 MiB of spaces deflate to a few KiB).
    let run = run_limited(&zip, &["search"], &Limits::default());
    assert_part_failed(&run, FailureCode::ArchiveTooLarge);
    assert!(run.report.failure.unwrap().reason.contains("ratio"));
    // Under 1 MiB the ratio is not held against a member.
    let mut small = b"[".to_vec();
    small.resize(1 << 19, b' ');
    small.push(b']');
    assert!(parsed(self::run(&zip_of(&[(SEARCH, &small)]), &["search"]).of("search")));
}

#[test]
fn a_bomb_lying_about_its_size_stops_at_the_ratio_limit() {
    let mut member = b"[".to_vec();
    member.resize(64 << 20, b' ');
    member.push(b']');
    let mut zip = streamed(&[(SEARCH, &member)]);
    // Claim 1000 bytes: the declared checks pass, the counted bytes do not.
    patch_central(&mut zip, SEARCH, 24, &1000u32.to_le_bytes());
    let run = self::run(&zip, &["search"]);
    assert_part_failed(&run, FailureCode::ArchiveTooLarge);
    assert!(run.report.failure.as_ref().unwrap().reason.contains("ratio"));
    assert!(run.report.bytes_inflated < 4 << 20, "stopped early: {}", run.report.bytes_inflated);
    assert!(run.rows.is_empty());

    // Same with the entry limit when the ratio is allowed.
    let limits = Limits { max_entry_bytes: 2 << 20, max_ratio: u64::MAX, ..Limits::default() };
    let run = run_limited(&zip, &["search"], &limits);
    assert_part_failed(&run, FailureCode::ArchiveTooLarge);
    assert!(run.report.bytes_inflated <= (2 << 20) + (128 << 10), "{}", run.report.bytes_inflated);

    // And the part total across members.
    let small = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    let zip = zip_of(&[(SEARCH, &small), (IMAGE_SEARCH, &small)]);
    let limits = Limits { max_total_bytes: small.len() as u64 + 10, ..Limits::default() };
    assert_part_failed(&run_limited(&zip, &["search", "image_search"], &limits), FailureCode::ArchiveTooLarge);
}

#[test]
fn an_inflated_size_different_from_the_declared_one_is_invalid() {
    let member = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    let mut zip = streamed(&[(SEARCH, &member)]);
    patch_central(&mut zip, SEARCH, 24, &(member.len() as u32 + 1).to_le_bytes());
    assert!(failed_with(self::run(&zip, &["search"]).of("search"), FailureCode::ArchiveInvalid, "size differs"));
}

#[test]
fn too_many_entries_fail_the_part() {
    let names: Vec<String> = (0..30).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), b"x" as &[u8])).collect();
    let zip = zip_with(&entries, stored());
    let limits = Limits { max_entries: 29, ..Limits::default() };
    assert_part_failed(&run_limited(&zip, &["search"], &limits), FailureCode::ArchiveTooLarge);
    let limits = Limits { max_entries: 30, ..Limits::default() };
    let run = run_limited(&zip, &["search"], &limits);
    assert!(run.report.failure.is_none());
    assert_eq!(run.report.entries, 30);

    let limits = Limits { max_part_bytes: zip.len() as u64 - 1, ..Limits::default() };
    assert_part_failed(&run_limited(&zip, &["search"], &limits), FailureCode::ArchiveTooLarge);
}

#[test]
fn corrupt_zips_are_invalid() {
    let zip = zip_of(&[(SEARCH, &array(&[record("2024-01-01T00:00:00Z", "Searched for x")]))]);
    let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let mut bad_header = zip.clone();
    bad_header[cd + 1] = b'X';
    let cases =
        [zip[..zip.len() - 10].to_vec(), zip[..cd + 20].to_vec(), bad_header, b"not a zip at all".to_vec(), Vec::new()];
    for bytes in cases {
        let run = self::run(&bytes, &["search"]);
        assert_part_failed(&run, FailureCode::ArchiveInvalid);
        assert!(run.rows.is_empty());
    }
}

#[test]
fn nested_archives_are_never_opened() {
    let inner = zip_of(&[(SEARCH, &array(&[record("2024-01-01T00:00:00Z", "Searched for x")]))]);
    let zip = zip_of(&[("Portability/inner.zip", &inner), ("Portability/more.tar.gz", b"\x1f\x8b")]);
    let run = self::run(&zip, &["search"]);
    assert_eq!(run.report.nested_archives, 2);
    assert_eq!(run.of("search").outcome, Outcome::Missing);
    assert!(run.rows.is_empty());

    // A needed member that is itself an archive is not opened either.
    let zip = zip_of(&[(SEARCH, &inner)]);
    let run = self::run(&zip, &["search"]);
    assert_eq!(run.report.nested_archives, 1);
    assert!(failed_with(run.of("search"), FailureCode::ArchiveInvalid, "is an archive"));
}

#[test]
fn encrypted_and_unsupported_members_fail_their_type_only_when_needed() {
    let member = array(&[record("2024-01-01T00:00:00Z", "Searched for x")]);
    let mut zip = zip_of(&[(SEARCH, &member), (IMAGE_SEARCH, &member), (YOUTUBE, b"[]")]);
    patch_central(&mut zip, SEARCH, 8, &1u16.to_le_bytes());
    patch_central(&mut zip, IMAGE_SEARCH, 10, &12u16.to_le_bytes());
    patch_central(&mut zip, YOUTUBE, 8, &1u16.to_le_bytes());
    let run = self::run(&zip, &["search", "image_search"]);
    assert!(failed_with(run.of("search"), FailureCode::ArchiveInvalid, "encrypted member"));
    assert!(failed_with(run.of("image_search"), FailureCode::ArchiveInvalid, "unsupported compression method 12"));
    let run = self::run(&zip, &["discover"]);
    assert!(run.report.failure.is_none());
    assert_eq!(run.of("discover").outcome, Outcome::Missing);
}

/// A reader that fails once `fail_after` bytes have been read.
struct Flaky {
    inner: Cursor<Vec<u8>>,
    fail_after: u64,
    read: Cell<u64>,
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.get() >= self.fail_after {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "object store timed out"));
        }
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

impl Seek for Flaky {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn source_and_sink_failures_are_errors_not_outcomes() {
    let member =
        array(&(0..2000).map(|i| record("2024-01-01T00:00:00Z", &format!("Searched for {i}"))).collect::<Vec<_>>());
    let zip = zip_with(&[(SEARCH, &member)], stored());
    let data_types = types(&["search"]);
    let limits = Limits::default();
    let request = PartRequest { donation_id: 42, data_types: &data_types, window: Window::default(), limits: &limits };
    for fail_after in [0, 5000] {
        let flaky = Flaky { inner: Cursor::new(zip.clone()), fail_after, read: Cell::new(0) };
        let result = parse_google_part(flaky, &request, |_, _| None, |_| Ok::<_, ()>(()));
        match result {
            Err(ParseError::Source(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    }
    let mut seen = 0;
    let result = parse_google_part(
        Cursor::new(&zip),
        &request,
        |_, _| None,
        |_| {
            seen += 1;
            if seen == 3 { Err("database down") } else { Ok(()) }
        },
    );
    assert!(matches!(result, Err(ParseError::Sink("database down"))));
    assert_eq!(seen, 3);
}

#[test]
fn only_google_types_are_parsed() {
    let zip = zip_of(&[(SEARCH, &array(&[record("2024-01-01T00:00:00Z", "Searched for x")]))]);
    let mut data_types = types(&["search"]);
    data_types.push(CatalogueSource::TikTok.data_type("watch_history").unwrap());
    data_types.push(CatalogueSource::Google.data_type("search").unwrap());
    let limits = Limits::default();
    let request = PartRequest { donation_id: 7, data_types: &data_types, window: Window::default(), limits: &limits };
    let mut rows = Vec::new();
    let report = parse_google_part(
        Cursor::new(&zip),
        &request,
        |_, _| None,
        |r| {
            rows.push(r);
            Ok::<_, ()>(())
        },
    )
    .unwrap();
    assert_eq!(report.types.len(), 1);
    assert_eq!(rows.len(), 1);
    assert_eq!(ordered(&rows[0].json)[1].1, "7");
}

// --- Round trip with the sandbox generator --------------------------------------

mod sandbox_round_trip {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::donation::sandbox::{
        BAD_RECORDS, GOOGLE_RESOURCES, GoogleExport, PATH_TRAVERSAL_NAMES, Scenario, google_manifest,
        google_part_count, write_google_part,
    };

    fn export(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> GoogleExport<'static> {
        let created_at = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        GoogleExport { resources: GOOGLE_RESOURCES, start_time: start, end_time: end, created_at }
    }

    /// Parses every part of the export with every Google type requested.
    fn parse_all(scenario: &Scenario, export: &GoogleExport<'_>, window: Window) -> Vec<Run> {
        let names = CatalogueSource::Google.data_type_names();
        (0..google_part_count(scenario, export.resources))
            .map(|part| {
                let mut zip = Vec::new();
                write_google_part(scenario, export, part, &mut zip).unwrap();
                run_full(&zip, &names, window, &Limits::default(), |_, _| None)
            })
            .collect()
    }

    /// Records the generator put in each type's members.
    fn generated(scenario: &Scenario, export: &GoogleExport<'_>) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for entry in google_manifest(scenario, export).unwrap() {
            if let Some(t) = entry.data_type {
                *out.entry(t).or_default() += entry.records.unwrap();
            }
        }
        out
    }

    fn sum(runs: &[Run], f: impl Fn(&TypeReport) -> u64) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for run in runs {
            for t in &run.report.types {
                *out.entry(t.data_type).or_default() += f(t);
            }
        }
        out
    }

    #[test]
    fn every_generated_record_becomes_a_row_with_the_documented_keys() {
        let scenario = Scenario::parse_query("failure=multi_part:3,split_member").unwrap();
        let export = export(None, None);
        let runs = parse_all(&scenario, &export, Window::default());
        assert_eq!(runs.len(), 3);
        for run in &runs {
            assert!(run.report.failure.is_none());
            assert!(
                run.report.types.iter().all(|t| t.skipped.total() == 0 && !matches!(t.outcome, Outcome::Failed(_)))
            );
        }
        let want = generated(&scenario, &export);
        assert_eq!(want.len(), 8);
        assert_eq!(sum(&runs, |t| t.rows), want);
        let mut first_keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for row in runs.iter().flat_map(|r| &r.rows) {
            let fields = ordered(&row.json);
            assert!(fields.iter().all(|(_, v)| v.is_string() || v.is_boolean() || v.is_null()));
            let keys: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(first_keys.entry(row.data_type).or_insert_with(|| keys.clone()), &keys, "{}", row.data_type);
            // Google's escapes are decoded.
            assert!(!row.json.contains("\\u003d") && !row.json.contains("\\u0026"));
        }
    }

    #[test]
    fn out_of_window_records_are_dropped_and_counted() {
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
        let scenario = Scenario::parse_query("failure=ignore_time_filter").unwrap();
        let export = export(Some(start), Some(end));
        let window = Window { start: NaiveDate::from_ymd_opt(2025, 3, 1), end: NaiveDate::from_ymd_opt(2025, 4, 30) };
        let runs = parse_all(&scenario, &export, window);
        let seen = sum(&runs, |t| t.rows + t.outside_window + t.no_timestamp);
        assert_eq!(seen, generated(&scenario, &export));
        assert!(sum(&runs, |t| t.outside_window)["youtube_history"] > 0);
        for row in runs.iter().flat_map(|r| &r.rows) {
            assert!(row.timestamp.is_none_or(|ts| start <= ts && ts < end), "{row:?}");
        }
    }

    #[test]
    fn bad_records_and_unsafe_names_are_counted() {
        let scenario = Scenario::parse_query("failure=bad_records&failure=path_traversal").unwrap();
        let export = export(None, None);
        let runs = parse_all(&scenario, &export, Window::default());
        assert_eq!(runs[0].report.bad_names, PATH_TRAVERSAL_NAMES.len() as u64);
        let skipped = sum(&runs, |t| t.skipped.not_object);
        assert_eq!(skipped["search"], BAD_RECORDS.non_object);
        assert_eq!(sum(&runs, |t| t.skipped.too_large)["youtube_history"], BAD_RECORDS.oversized);
        assert_eq!(sum(&runs, |t| t.skipped.bad_time)["google_lens"], BAD_RECORDS.bad_time);
        assert_eq!(sum(&runs, |t| t.rows), generated(&scenario, &export));
    }

    #[test]
    fn failure_modes_end_as_the_spec_says() {
        let export = export(None, None);
        let one = |query: &str| {
            let runs = parse_all(&Scenario::parse_query(query).unwrap(), &export, Window::default());
            runs.into_iter().next().unwrap()
        };
        assert_part_failed(&one("failure=zip_bomb"), FailureCode::ArchiveTooLarge);
        assert_part_failed(&one("failure=malformed_zip"), FailureCode::ArchiveInvalid);
        let nested = one("failure=nested_archive");
        assert!(nested.report.nested_archives >= 1);
        assert!(nested.report.types.iter().all(|t| t.outcome == Outcome::Missing));
        let html = one("failure=html_only:youtube_history");
        assert!(failed_with(html.of("youtube_history"), FailureCode::ArchiveInvalid, "HTML"));
        assert!(parsed(html.of("search")));
        let json = one("failure=malformed_json:search");
        assert!(failed_with(json.of("search"), FailureCode::ArchiveInvalid, "invalid JSON"));
        assert!(parsed(json.of("image_search")));
        let duplicate = one("failure=duplicate_member");
        assert!(duplicate.report.types.iter().any(|t| failed_with(t, FailureCode::ArchiveInvalid, "ambiguous member")));
        let missing = one("failure=missing_type:google_lens");
        assert_eq!(missing.of("google_lens").outcome, Outcome::Missing);
    }

    #[test]
    fn too_many_entries_fail_the_part() {
        let export = export(None, None);
        let runs = parse_all(&Scenario::parse_query("failure=too_many_entries").unwrap(), &export, Window::default());
        assert_part_failed(&runs[0], FailureCode::ArchiveTooLarge);
    }
}
