//! Parsing TikTok parts built in memory with `zip::ZipWriter` (spec §4.5):
//! both layouts give the same rows, key spellings, dates, the window and
//! resume, what never becomes a row, and the archive-level failures.

use std::io::Cursor;

use serde_json::Value;

use super::tests::{compact, keys, ordered, stored, zip_of, zip_with};
use super::*;
use crate::donation::catalogue::Source as CatalogueSource;

const ALL: [&str; 6] = ["watch_history", "search_history", "likes", "favorites", "comments", "shares"];

/// Data that must never reach a row (§6.4).
const PRIVATE: [&str; 9] = [
    "alex@example.test",
    "+358 40 0000000",
    "01-Jan-1990",
    "hello friend",
    "friend_one",
    "192.0.2.7",
    "Pixel Test",
    "TestCarrier",
    "sample_user",
];

fn profile_dm_login_2025() -> &'static str {
    r#""Direct Message": {"Direct Messages": {"ChatHistory": {"Chat History with friend_one:": [
          {"Date": "2024-01-01 00:00:00", "From": "sample_user", "Content": "hello friend"}]}}},
      "Profile And Settings": {"Profile Info": {"ProfileMap": {"userName": "sample_user", "displayName": "Sample",
          "emailAddress": "alex@example.test", "telephoneNumber": "+358 40 0000000", "birthDate": "01-Jan-1990",
          "bioDescription": "bio", "likesReceived": "7"}}},
      "TikTok Live": null, "TikTok Shop": [], "Income+ Wallet": {}"#
}

/// A 2025-layout document with one or two records of every type.
fn doc_2025() -> String {
    format!(
        r#"{{
      "Comment": {{"Comments": {{"CommentsList": [
          {{"comment": "nice video", "date": "2024-01-02 10:00:00", "photo": "N/A", "url": "", "video": "video-alpha"}}]}}}},
      {private},
      "Likes and Favorites": {{
          "Like List": {{"ItemFavoriteList": [
              {{"date": "2024-01-05 08:00:00", "link": "https://www.tiktokv.com/share/video/7000000000000000005/"}}]}},
          "Favorite Videos": {{"FavoriteVideoList": [
              {{"Date": "2024-01-04 10:00:00", "Link": "https://www.tiktokv.com/share/video/7000000000000000004/"}}]}},
          "Favorite Collection": {{"FavoriteCollectionList": [{{"Date": "2024-01-03 10:00:00", "FavoriteCollection": "Recipes"}}]}},
          "Favorite Sounds": {{"FavoriteSoundList": [{{"Date": "2024-01-03 11:00:00", "Link": "https://www.tiktok.com/music/sound-1"}}]}},
          "Favorite Effects": {{"FavoriteEffectsList": [{{"Date": "2024-01-03 12:00:00", "EffectLink": "https://www.tiktok.com/effect/e-1"}}]}},
          "Favorite Hashtags": {{"FavoriteHashtagList": [{{"Date": "2024-01-03 13:00:00", "Link": "https://www.tiktok.com/tag/coffee"}}]}}}},
      "Your Activity": {{
          "Login History": {{"LoginHistoryList": [{{"Date": "2024-01-01 00:00:00", "IP": "192.0.2.7",
              "DeviceModel": "Pixel Test", "DeviceSystem": "Android 14", "NetworkType": "Wi-Fi", "Carrier": "TestCarrier"}}]}},
          "Watch History": {{"VideoList": [
              {{"Date": "2024-04-20 23:17:46", "Link": "https://www.tiktokv.com/share/video/7359012345678901234/"}},
              {{"Date": "2024-02-01 09:00:00 UTC", "VideoLink": "https://www.tiktokv.com/share/video/7000000000000000011/"}}]}},
          "Searches": {{"SearchList": [{{"Date": "2024-02-02 10:00:00", "SearchTerm": "coffee"}}]}},
          "Share History": {{"ShareHistoryList": [{{"Date": "2024-01-10 18:00:00",
              "Link": "https://www.tiktokv.com/share/video/7000000000000000012/", "Method": "Copy Link", "SharedContent": "video"}}]}}}}
    }}"#,
        private = profile_dm_login_2025()
    )
}

/// The same records in the older layout: `Activity ›` names, capitalised keys.
fn doc_legacy() -> String {
    r#"{
      "Activity": {
          "Video Browsing History": {"VideoList": [
              {"Date": "2024-04-20 23:17:46", "Link": "https://www.tiktokv.com/share/video/7359012345678901234/"},
              {"Date": "2024-02-01 09:00:00 UTC", "VideoLink": "https://www.tiktokv.com/share/video/7000000000000000011/"}]},
          "Search History": {"SearchList": [{"Date": "2024-02-02 10:00:00", "SearchTerm": "coffee"}]},
          "Like List": {"ItemFavoriteList": [
              {"Date": "2024-01-05 08:00:00", "Link": "https://www.tiktokv.com/share/video/7000000000000000005/"}]},
          "Favorite Videos": {"FavoriteVideoList": [
              {"Date": "2024-01-04 10:00:00", "Link": "https://www.tiktokv.com/share/video/7000000000000000004/"}]},
          "Favorite Collection": {"FavoriteCollectionList": [{"Date": "2024-01-03 10:00:00", "FavoriteCollection": "Recipes"}]},
          "Favorite Sounds": {"FavoriteSoundList": [{"Date": "2024-01-03 11:00:00", "Link": "https://www.tiktok.com/music/sound-1"}]},
          "Favorite Effects": {"FavoriteEffectsList": [{"Date": "2024-01-03 12:00:00", "EffectLink": "https://www.tiktok.com/effect/e-1"}]},
          "Favorite Hashtags": {"FavoriteHashtagList": [{"Date": "2024-01-03 13:00:00", "Link": "https://www.tiktok.com/tag/coffee"}]},
          "Login History": {"LoginHistoryList": [{"Date": "2024-01-01 00:00:00", "IP": "192.0.2.7", "DeviceModel": "Pixel Test",
              "Carrier": "TestCarrier"}]},
          "Share History": {"ShareHistoryList": [{"Date": "2024-01-10 18:00:00",
              "Link": "https://www.tiktokv.com/share/video/7000000000000000012/", "Method": "Copy Link", "SharedContent": "video"}]}},
      "Comment": {"Comments": {"CommentsList": [
          {"Comment": "nice video", "Date": "2024-01-02 10:00:00", "photo": "N/A", "url": "", "video": "video-alpha"}]}},
      "Profile": {"Profile Information": {"ProfileMap": {"userName": "sample_user", "emailAddress": "alex@example.test",
          "telephoneNumber": "+358 40 0000000", "birthDate": "01-Jan-1990"}}},
      "Direct Messages": {"Chat History": {"ChatHistory": {"Chat History with friend_one:": [
          {"Date": "2024-01-01 00:00:00", "From": "sample_user", "Content": "hello friend"}]}}}
    }"#
    .to_string()
}

fn types(names: &[&str]) -> Vec<&'static DataType> {
    names.iter().map(|n| CatalogueSource::TikTok.data_type(n).unwrap()).collect()
}

struct Run {
    report: PartReport,
    rows: Vec<Row>,
}

impl Run {
    fn of(&self, data_type: &str) -> &TypeReport {
        self.report.types.iter().find(|t| t.data_type == data_type).unwrap()
    }

    fn rows_of(&self, data_type: &str) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.data_type == data_type).collect()
    }
}

fn run_full(zip: &[u8], names: &[&str], window: Window, resume: impl Fn(&str, u32) -> Option<u64>) -> Run {
    let data_types = types(names);
    let limits = Limits::default();
    let request = PartRequest { donation_id: 57, data_types: &data_types, window, limits: &limits };
    let mut rows = Vec::new();
    let report = parse_tiktok_part(Cursor::new(zip), &request, resume, |row| {
        rows.push(row);
        Ok::<_, ()>(())
    })
    .unwrap();
    Run { report, rows }
}

fn run(zip: &[u8]) -> Run {
    run_full(zip, &ALL, Window::default(), |_, _| None)
}

fn failed_with(t: &TypeReport, reason_part: &str) -> bool {
    matches!(&t.outcome, Outcome::Failed(f) if f.code == FailureCode::ArchiveInvalid && f.reason.contains(reason_part))
}

fn assert_nothing_private(rows: &[Row]) {
    for row in rows {
        for private in PRIVATE {
            assert!(!row.json.contains(private), "{private} in {}", row.json);
        }
    }
}

#[test]
fn both_layouts_give_the_same_rows_for_all_six_types() {
    let new = run(&zip_of(&[("user_data_tiktok.json", doc_2025().as_bytes())]));
    let old = run(&zip_of(&[("TikTok/user_data.json", doc_legacy().as_bytes())]));
    for run in [&new, &old] {
        assert!(run.report.failure.is_none());
        for t in ALL {
            let tr = run.of(t);
            assert_eq!(tr.outcome, Outcome::Parsed, "{t}");
            assert_eq!(tr.members.len(), 1, "{t}");
            assert_eq!(tr.members[0].member_no, 0);
        }
        assert_eq!(run.of("favorites").rows, 5);
        assert_eq!(run.of("favorites").members[0].records, 5);
        assert_eq!(run.of("watch_history").rows, 2);
        assert_nothing_private(&run.rows);
    }
    assert_eq!(new.report.types.iter().map(|t| t.data_type).collect::<Vec<_>>(), ALL);
    // Document order differs between the layouts; per type the rows are the same.
    for t in ALL {
        let a: Vec<_> = new.rows_of(t).iter().map(|r| (r.ordinal, r.timestamp, r.json.clone())).collect();
        let b: Vec<_> = old.rows_of(t).iter().map(|r| (r.ordinal, r.timestamp, r.json.clone())).collect();
        assert_eq!(a, b, "{t}");
        assert!(!a.is_empty());
    }

    // The spec's example (§4.5.3).
    let want = r#"{"data_type": "watch_history", "device_id": "57", "timestamp": "2024-04-20T23:17:46.000Z", "platform": "TikTok",
 "date": "2024-04-20 23:17:46", "url": "https://www.tiktokv.com/share/video/7359012345678901234/",
 "video_id": "7359012345678901234"}"#;
    let watch = new.rows_of("watch_history");
    assert_eq!(watch[0].json, compact(want));
    assert_eq!(watch[0].timestamp, Some("2024-04-20T23:17:46Z".parse().unwrap()));
    // "VideoLink" and a " UTC" suffix: `date` verbatim, the timestamp parsed.
    let second = ordered(&watch[1].json);
    assert_eq!(second[2].1, "2024-02-01T09:00:00.000Z");
    assert_eq!(second[4], ("date".to_string(), Value::from("2024-02-01 09:00:00 UTC")));
    assert_eq!(second[6].1, "7000000000000000011");
    assert_eq!(watch[1].ordinal, 1);

    let only = |t: &str| new.rows_of(t)[0].json.clone();
    assert_eq!(
        only("search_history"),
        r#"{"data_type":"search_history","device_id":"57","timestamp":"2024-02-02T10:00:00.000Z","platform":"TikTok","date":"2024-02-02 10:00:00","search_term":"coffee"}"#
    );
    assert_eq!(
        only("likes"),
        r#"{"data_type":"likes","device_id":"57","timestamp":"2024-01-05T08:00:00.000Z","platform":"TikTok","date":"2024-01-05 08:00:00","url":"https://www.tiktokv.com/share/video/7000000000000000005/","video_id":"7000000000000000005"}"#
    );
    // "N/A" and "" become null.
    assert_eq!(
        only("comments"),
        r#"{"data_type":"comments","device_id":"57","timestamp":"2024-01-02T10:00:00.000Z","platform":"TikTok","date":"2024-01-02 10:00:00","comment":"nice video","url":null,"photo":null,"video":"video-alpha"}"#
    );
    assert_eq!(
        only("shares"),
        r#"{"data_type":"shares","device_id":"57","timestamp":"2024-01-10T18:00:00.000Z","platform":"TikTok","date":"2024-01-10 18:00:00","url":"https://www.tiktokv.com/share/video/7000000000000000012/","video_id":"7000000000000000012","method":"Copy Link","shared_content":"video"}"#
    );
    let favorites: Vec<Vec<(String, Value)>> = new.rows_of("favorites").iter().map(|r| ordered(&r.json)).collect();
    let field = |row: &Vec<(String, Value)>, k: &str| row.iter().find(|(key, _)| key == k).unwrap().1.clone();
    let kinds: Vec<Value> = favorites.iter().map(|r| field(r, "favorite_kind")).collect();
    assert_eq!(kinds, ["video", "collection", "sound", "effect", "hashtag"].map(Value::from));
    assert_eq!(field(&favorites[0], "video_id"), "7000000000000000004");
    assert_eq!(field(&favorites[1], "name"), "Recipes");
    assert_eq!(field(&favorites[1], "url"), Value::Null);
    assert_eq!(field(&favorites[2], "video_id"), Value::Null);
    assert_eq!(field(&favorites[3], "url"), "https://www.tiktok.com/effect/e-1");
    assert_eq!(new.rows_of("favorites").iter().map(|r| r.ordinal).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(
        keys(&new.rows_of("favorites")[0].json),
        ["data_type", "device_id", "timestamp", "platform", "date", "favorite_kind", "url", "video_id", "name"]
    );
}

#[test]
fn section_and_field_names_match_case_insensitively_after_exact_ones() {
    // Lowercase paths and keys are found; where an exact spelling is also
    // there, only its section counts (whichever comes first).
    let doc = r#"{"your activity": {"watch history": {"videolist": [{"date": "2024-01-01 00:00:00", "LINK": "https://x/video/1/"}]},
                  "Searches": {"searchlist": [{"Date": "2024-01-01 00:00:00", "SearchTerm": "loose"}],
                               "SearchList": [{"Date": "2024-01-01 00:00:00", "SearchTerm": "exact"}],
                               "SEARCHLIST": [{"Date": "2024-01-01 00:00:00", "SearchTerm": "loose again"}]}},
                 "Likes and Favorites": {"Like List": {"ItemFavoriteList": [
                     {"Date": "2024-01-01 00:00:00", "date": "2023-01-01 00:00:00", "Link": "https://x/video/2/", "link": "https://x/video/3/"}]}}}"#;
    let run = run(&zip_of(&[("user_data_tiktok.json", doc.as_bytes())]));
    let watch = run.rows_of("watch_history");
    assert_eq!(watch.len(), 1);
    assert!(watch[0].json.ends_with(r#""date":"2024-01-01 00:00:00","url":"https://x/video/1/","video_id":"1"}"#));
    let searches: Vec<String> = run.rows_of("search_history").iter().map(|r| r.json.clone()).collect();
    assert_eq!(searches.len(), 1);
    assert!(searches[0].contains(r#""search_term":"exact""#), "{searches:?}");
    // Within a record, a key given twice in listed spellings keeps the last one.
    let like = run.rows_of("likes");
    assert!(like[0].json.contains(r#""date":"2023-01-01 00:00:00""#), "{}", like[0].json);
    assert!(like[0].json.contains(r#""video_id":"3""#));
    assert_eq!(run.of("comments").outcome, Outcome::Missing);
}

#[test]
fn the_window_and_resume_work_per_type_and_member() {
    let doc = r#"{"Your Activity": {"Watch History": {"VideoList": [
            {"Date": "2024-01-31 23:59:59", "Link": "https://x/video/1/"},
            {"Date": "2024-02-01 00:00:00", "Link": "https://x/video/2/"},
            {"Link": "https://x/video/3/"},
            {"Date": "yesterday", "Link": "https://x/video/4/"},
            {"Date": "2024-02-29 23:59:59 UTC", "Link": "https://x/video/5/"},
            {"Date": "2024-03-01 00:00:00", "Link": "https://x/video/6/"}]}},
        "Likes and Favorites": {
            "Favorite Videos": {"FavoriteVideoList": [{"Date": "2024-02-02 00:00:00", "Link": "https://x/video/7/"}]},
            "Favorite Sounds": {"FavoriteSoundList": [{"Date": "2024-02-03 00:00:00", "Link": "https://x/music/8"}]}}}"#;
    let zip = zip_of(&[("README.txt", b"not json"), ("user_data_tiktok.json", doc.as_bytes())]);
    let february = Window { start: NaiveDate::from_ymd_opt(2024, 2, 1), end: NaiveDate::from_ymd_opt(2024, 2, 29) };
    let run = run_full(&zip, &["watch_history", "favorites"], february, |_, _| None);
    let watch = run.of("watch_history");
    assert_eq!((watch.rows, watch.outside_window, watch.no_timestamp, watch.clone().left_out().bad_time), (2, 2, 1, 1));
    assert_eq!(run.rows_of("watch_history").iter().map(|r| r.ordinal).collect::<Vec<_>>(), [1, 4]);
    assert_eq!(watch.members, [MemberReport { member_no: 1, name: "user_data_tiktok.json".into(), records: 6 }]);
    // Without a window a record without a date is kept with a null timestamp.
    let open = run_full(&zip, &["watch_history"], Window::default(), |_, _| None);
    let undated = open.rows_of("watch_history")[2];
    assert_eq!((undated.ordinal, undated.timestamp), (2, None));
    assert!(undated.json.contains(r#""timestamp":null"#) && undated.json.contains(r#""date":null"#));

    // Resume: rows up to the stored ordinal of (type, member) are counted, not handed over again.
    let resumed = run_full(&zip, &["watch_history", "favorites"], Window::default(), |t, m| {
        assert_eq!(m, 1);
        match t {
            "watch_history" => Some(3),
            "favorites" => Some(0),
            _ => None,
        }
    });
    assert_eq!(resumed.rows_of("watch_history").iter().map(|r| r.ordinal).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(resumed.of("watch_history").rows, 5);
    // Favorites number their records across sections: the sound is ordinal 1.
    let favorites = resumed.rows_of("favorites");
    assert_eq!(favorites.len(), 1);
    assert_eq!(favorites[0].ordinal, 1);
    assert!(favorites[0].json.contains(r#""favorite_kind":"sound""#));
}

#[test]
fn only_requested_types_are_read_and_unknown_sections_give_no_rows() {
    let doc = r#"{"Your Activity": {"Watch History": {"VideoList": [{"Date": "2024-01-01 00:00:00", "Link": "https://x/video/1/"}]},
                  "Favorite Ads": {"AdList": [{"Date": "2024-01-01 00:00:00", "Link": "https://x/video/9/"}]},
                  "Watch Later": {"VideoList": [{"Date": "2024-01-01 00:00:00", "Link": "https://x/video/8/"}]}},
                 "Ads and data": {"Watch History": {"VideoList": [{"Date": "2024-01-01 00:00:00", "Link": "https://x/video/7/"}]}},
                 "Post": {"Posts": {"VideoList": [{"Date": "2024-01-01 00:00:00", "Link": "https://x/video/6/"}]}},
                 "Comment": {"Comments": {"CommentsList": [{"comment": "c", "date": "2024-01-01 00:00:00"}]}}}"#;
    let zip = zip_of(&[("user_data_tiktok.json", doc.as_bytes())]);
    let run = run_full(&zip, &["watch_history"], Window::default(), |_, _| None);
    assert_eq!(run.report.types.len(), 1);
    assert_eq!(run.rows.len(), 1);
    assert!(run.rows[0].json.contains("video/1/"));
    let everything = self::run(&zip);
    assert_eq!(everything.rows.len(), 2);
    assert_eq!(everything.of("likes").outcome, Outcome::Missing);
    // Google types asked of a TikTok part are not reported.
    let google = [CatalogueSource::Google.data_type("search").unwrap(), types(&["likes"])[0]];
    let limits = Limits::default();
    let request = PartRequest { donation_id: 1, data_types: &google, window: Window::default(), limits: &limits };
    let report = parse_tiktok_part(Cursor::new(&zip), &request, |_, _| None, |_| Ok::<_, ()>(())).unwrap();
    assert_eq!(report.types.iter().map(|t| t.data_type).collect::<Vec<_>>(), ["likes"]);
}

#[test]
fn empty_sections_give_no_rows_and_other_values_fail_their_type() {
    let doc = r#"{"Your Activity": {"Watch History": {"VideoList": null}, "Searches": {"SearchList": []},
                  "Share History": {"ShareHistoryList": {}}},
                 "Likes and Favorites": {"Like List": {"ItemFavoriteList": {"0": {"Date": "2024-01-01 00:00:00"}}},
                     "Favorite Videos": {"FavoriteVideoList": "none"}},
                 "Comment": {"Comments": null}}"#;
    let run = run(&zip_of(&[("user_data_tiktok.json", doc.as_bytes())]));
    assert!(run.rows.is_empty());
    for t in ["watch_history", "search_history", "shares"] {
        let tr = run.of(t);
        assert_eq!(tr.outcome, Outcome::Parsed, "{t}");
        assert_eq!((tr.rows, tr.members[0].records), (0, 0));
    }
    assert!(failed_with(run.of("likes"), "Like List › ItemFavoriteList is not a list"));
    assert!(failed_with(run.of("favorites"), "is not a list"));
    assert_eq!(run.of("comments").outcome, Outcome::Missing);
}

#[test]
fn bad_records_are_left_out_and_counted() {
    let long = "x".repeat(300 << 10);
    let doc = format!(
        r#"{{"Your Activity": {{"Searches": {{"SearchList": [
            {{"Date": "2024-01-01 00:00:00", "SearchTerm": "ok"}}, 7, "text", [1],
            {{"Date": "2024-01-01 00:00:00", "SearchTerm": "{long}"}},
            {{"Date": 20240101, "SearchTerm": "numeric date"}},
            {{"Date": "2024-01-01 00:00:00", "SearchTerm": "\ud800"}},
            {{"Date": "2024-01-01 00:00:00", "SearchTerm": 5}}]}}}}}}"#
    );
    let run = run(&zip_of(&[("user_data_tiktok.json", doc.as_bytes())]));
    let tr = run.of("search_history");
    assert_eq!(tr.outcome, Outcome::Parsed);
    let s = *tr.clone().left_out();
    assert_eq!((s.not_object, s.too_large, s.bad_time, s.invalid_utf8), (3, 1, 1, 1));
    assert_eq!(run.rows.iter().map(|r| r.ordinal).collect::<Vec<_>>(), [0, 7]);
    assert!(run.rows[1].json.ends_with(r#""search_term":null}"#));
}

#[test]
fn malformed_json_fails_the_types_without_rows() {
    for (doc, why) in [
        (
            r#"{"Your Activity": {"Watch History": {"VideoList": [{"Date": "2024-01-01 00:00:00"}]}}"#,
            "invalid JSON at byte",
        ),
        (
            r#"{"Your Activity": {"Watch History": {"VideoList": [{"Date": "2024-01-01 00:00:00",}]}}}"#,
            "invalid JSON in record 0",
        ),
        (
            r#"{"Your Activity": {"Watch History": {"VideoList": [{"Date": "x"}]}}, "Profile": tru}"#,
            "invalid JSON at byte",
        ),
        (r#"{"Your Activity": {"Watch History": {"VideoList": []}}} {}"#, "invalid JSON at byte"),
    ] {
        let run = run(&zip_of(&[("user_data_tiktok.json", doc.as_bytes())]));
        assert!(run.rows.is_empty(), "{doc}");
        for t in ALL {
            assert!(failed_with(run.of(t), why), "{doc}: {:?}", run.of(t).outcome);
            assert!(failed_with(run.of(t), "in user_data_tiktok.json"));
        }
    }
    // Nested deeper than the limit outside any section.
    let deep = format!(r#"{{"Profile": {}1{}, "Comment": null}}"#, "[".repeat(70), "]".repeat(70));
    let run = run(&zip_of(&[("user_data.json", deep.as_bytes())]));
    assert!(failed_with(run.of("comments"), "nested deeper than 64 levels"));
    // A broken stray file does not fail types another entry carries.
    let good = r#"{"Comment": {"Comments": {"CommentsList": [{"comment": "c", "date": "2024-01-01 00:00:00"}]}}}"#;
    let run = self::run(&zip_of(&[("extra/broken.json", b"{\"a\": "), ("user_data_tiktok.json", good.as_bytes())]));
    assert_eq!(run.of("comments").outcome, Outcome::Parsed);
    assert_eq!(run.rows.len(), 1);
    assert!(failed_with(run.of("likes"), "in extra/broken.json"));
}

#[test]
fn an_archive_without_known_sections_fails_every_type_naming_entries() {
    let zip = zip_of(&[
        ("notes.txt", b"hello"),
        ("data/profile.json", br#"{"Profile": {"userName": "sample_user"}}"#),
        ("list.json", b"[1, 2]"),
    ]);
    let run = run(&zip);
    assert!(run.rows.is_empty());
    for t in ALL {
        let tr = run.of(t);
        assert!(failed_with(tr, "no known TikTok sections"), "{:?}", tr.outcome);
        let Outcome::Failed(f) = &tr.outcome else { unreachable!() };
        assert!(
            f.reason.contains("data/profile.json") && f.reason.contains("notes.txt") && f.reason.contains("list.json")
        );
        assert!(!f.reason.contains("sample_user"));
    }
    let empty = run_full(&zip_of(&[]), &["likes"], Window::default(), |_, _| None);
    assert!(failed_with(empty.of("likes"), "no known TikTok sections (the archive has no entries)"));
}

#[test]
fn the_same_entry_name_twice_is_ambiguous_and_other_entries_all_contribute() {
    let a = r#"{"Your Activity": {"Searches": {"SearchList": [{"Date": "2024-01-01 00:00:00", "SearchTerm": "a"}]}}}"#;
    let b = r#"{"Comment": {"Comments": {"CommentsList": [{"comment": "b", "date": "2024-01-01 00:00:00"}]}},
               "Your Activity": {"Searches": {"SearchList": [{"Date": "2024-01-01 00:00:00", "SearchTerm": "b"}]}}}"#;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in [("user_data_tiktok.json", a), ("x/user_data.json", a), ("user_data_tiktok.json", b)] {
        // The zip writer refuses duplicate names: the second copy is renamed in the bytes below.
        let name = if name == "user_data_tiktok.json" && data == b { "user_data_tiktok.jsoo" } else { name };
        w.start_file(name, stored()).unwrap();
        std::io::Write::write_all(&mut w, data.as_bytes()).unwrap();
    }
    let mut zip = w.finish().unwrap().into_inner();
    let renamed = b"user_data_tiktok.jsoo";
    while let Some(at) = zip.windows(renamed.len()).position(|w| w == renamed) {
        zip[at + renamed.len() - 1] = b'n';
    }
    let run = run(&zip);
    assert!(failed_with(run.of("search_history"), "ambiguous member user_data_tiktok.json"));
    assert!(run.rows_of("search_history").is_empty());
    // Comments come from one of them only: not ambiguous.
    assert_eq!(run.of("comments").outcome, Outcome::Parsed);
    assert_eq!(run.rows_of("comments").len(), 1);

    // Different names: both contribute, each under its own member_no.
    let run = self::run(&zip_with(
        &[("user_data_tiktok.json", a.as_bytes()), ("old/user_data.json", b.as_bytes())],
        stored(),
    ));
    let rows = run.rows_of("search_history");
    assert_eq!(rows.iter().map(|r| (r.member_no, r.ordinal)).collect::<Vec<_>>(), [(0, 0), (1, 0)]);
    assert_eq!(run.of("search_history").members.len(), 2);
}

#[test]
fn encrypted_and_nested_entries_are_never_read() {
    let good = r#"{"Comment": {"Comments": {"CommentsList": [{"comment": "c", "date": "2024-01-01 00:00:00"}]}}}"#;
    let inner = zip_of(&[("user_data_tiktok.json", good.as_bytes())]);
    let run = run(&zip_of(&[("user_data_tiktok.json", &inner), ("inner.zip", &inner)]));
    assert!(run.rows.is_empty());
    assert_eq!(run.report.nested_archives, 2);
    assert!(failed_with(run.of("comments"), "user_data_tiktok.json is an archive, not opened"));
}

/// A part with `entries` records in one watch-history section, compressed
/// while written so the document is never whole in memory; and its size.
fn large_zip(entries: usize) -> (Vec<u8>, usize) {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("user_data_tiktok.json", zip::write::SimpleFileOptions::default()).unwrap();
    let head = r#"{"Profile And Settings": {"Profile Info": {"ProfileMap": {"userName": "sample_user"}}},
        "Your Activity": {"Watch History": {"VideoList": ["#;
    let mut written = head.len();
    w.write_all(head.as_bytes()).unwrap();
    let mut record = String::new();
    for i in 0..entries {
        record.clear();
        if i > 0 {
            record.push(',');
        }
        let (d, h, m) = (1 + i % 28, i / 60 % 24, i % 60);
        record.push_str(&format!(
            r#"{{"Date": "2024-02-{d:02} {h:02}:{m:02}:00", "Link": "https://www.tiktokv.com/share/video/7{i:018}/"}}"#
        ));
        written += record.len();
        w.write_all(record.as_bytes()).unwrap();
    }
    w.write_all(b"]}}}").unwrap();
    (w.finish().unwrap().into_inner(), written + 4)
}

/// The measured half of [`a_large_section_streams_in_bounded_memory`].
fn large_section_child() {
    const ENTRIES: usize = 200_000;
    let (zip, uncompressed) = large_zip(ENTRIES);
    let before = peak_rss_kib();
    let data_types = types(&["watch_history"]);
    let limits = Limits::default();
    let request = PartRequest { donation_id: 1, data_types: &data_types, window: Window::default(), limits: &limits };
    let (mut rows, mut next) = (0u64, 0u64);
    let report = parse_tiktok_part(
        Cursor::new(&zip),
        &request,
        |_, _| None,
        |row| {
            assert_eq!(row.ordinal, next);
            next += 1;
            rows += 1;
            Ok::<_, ()>(())
        },
    )
    .unwrap();
    assert_eq!(rows, ENTRIES as u64);
    assert_eq!(report.types[0].rows, ENTRIES as u64);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    // About 18 MiB of JSON and 200,000 rows of about 220 bytes: none of it is held.
    assert!(uncompressed > 17 << 20, "{uncompressed}");
    assert!(grown_mib < 8, "peak resident memory grew by {grown_mib} MiB");
    println!("tiktok-large-child-ok (peak grew {grown_mib} MiB)");
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs itself again in a fresh process of this test binary, where the
/// measurement runs alone.
#[test]
#[cfg(target_os = "linux")]
fn a_large_section_streams_in_bounded_memory() {
    if std::env::var_os("STEWARD_TIKTOK_MEMORY_CHILD").is_some() {
        large_section_child();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "donation::archive::tiktok_tests::a_large_section_streams_in_bounded_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STEWARD_TIKTOK_MEMORY_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("tiktok-large-child-ok"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Archives of the sandbox TikTok generator (spec §6.4) through the parser.
mod sandbox_round_trip {
    use chrono::TimeZone as _;

    use super::*;
    use crate::donation::sandbox::{
        Failure, Persona, Scenario, TIKTOK_TYPES, TikTokLayout, tiktok_manifest, write_tiktok_archive,
    };

    fn created() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn archive(scenario: &Scenario) -> Vec<u8> {
        let mut out = Vec::new();
        write_tiktok_archive(scenario, created(), &mut out).unwrap();
        out
    }

    #[test]
    fn every_generated_record_becomes_a_row_in_both_layouts() {
        let mut by_layout = Vec::new();
        for layout in [TikTokLayout::V2025, TikTokLayout::Legacy] {
            let scenario = Scenario::default().persona(Persona::Small).seed(7).tiktok_layout(layout);
            let manifest = tiktok_manifest(&scenario, created());
            let run = run(&archive(&scenario));
            assert!(run.report.failure.is_none());
            for t in TIKTOK_TYPES {
                let tr = run.of(t);
                assert_eq!(tr.outcome, Outcome::Parsed, "{t} {layout:?}");
                assert_eq!(Some(tr.rows), manifest.records_of(t), "{t} {layout:?}");
                assert_eq!(tr.clone().left_out().total(), 0, "{t}");
                let rows = run.rows_of(t);
                assert!(rows.iter().all(|r| r.timestamp.is_some()), "{t}");
                let first = keys(&rows[0].json);
                assert!(rows.iter().all(|r| keys(&r.json) == first), "{t}");
                assert_eq!(&first[..5], ["data_type", "device_id", "timestamp", "platform", "date"]);
            }
            assert_nothing_private(&run.rows);
            by_layout.push(run.rows.iter().map(|r| (r.data_type, r.json.clone())).collect::<Vec<_>>());
        }
        // The generator's watch links sometimes say "VideoLink": every row has its video id.
        let v2025 = &by_layout[0];
        assert!(
            v2025
                .iter()
                .filter(|(t, _)| *t == "watch_history")
                .all(|(_, json)| ordered(json).iter().any(|(k, v)| k == "video_id" && v.is_string()))
        );
    }

    #[test]
    fn content_failures_end_as_the_spec_says() {
        let tiny = Scenario::default().persona(Persona::Tiny).seed(3);
        // A nested archive is never opened: nothing is found.
        let run = run(&archive(&tiny.clone().failure(Failure::NestedArchive)));
        assert!(run.rows.is_empty());
        assert!(run.report.nested_archives >= 1);
        assert!(failed_with(run.of("likes"), "no known TikTok sections"));
        // Traversal names are never read; the real file still is.
        let run =
            run_full(&archive(&tiny.clone().failure(Failure::PathTraversal)), &ALL, Window::default(), |_, _| None);
        assert!(run.report.bad_names > 0);
        let manifest = tiktok_manifest(&tiny, created());
        assert_eq!(Some(run.of("watch_history").rows), manifest.records_of("watch_history"));
        // A zip bomb breaks the ratio limit: the part fails.
        let run = self::run(&archive(&tiny.clone().failure(Failure::ZipBomb)));
        assert_eq!(run.report.failure.as_ref().map(|f| f.code), Some(FailureCode::ArchiveTooLarge));
        // A cut zip is invalid.
        let run = self::run(&archive(&tiny.clone().failure(Failure::MalformedZip)));
        assert!(run.report.types.iter().all(|t| failed_with(t, "corrupt zip")));
    }
}
