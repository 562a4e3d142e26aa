//! Google record shapes (spec §4.3.2, §6.4): one builder per My Activity
//! product with every variant the spec lists, in roughly its shares, and the
//! renderers for Google's pretty-printed JSON (with its `\u003d`/`\u0026`
//! escaping), the HTML rendering of `html_only`, and the Discover CSV rows.

use std::fmt::Write as _;

use super::gen_rng::{ID_CHARS, Rng};
use super::gen_time::push_rfc3339_ms;
use super::gen_vocab::{self as vocab, ADJECTIVES, NOUNS};

/// A My Activity product folder the generator can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Product {
    YouTube,
    Search,
    ImageSearch,
    VideoSearch,
    GoogleLens,
    Discover,
    PlayGames,
    PlayStore,
    /// Not a Steward data type: an extra member of `myactivity.play` that
    /// Steward must ignore.
    PlayBooks,
}

impl Product {
    /// The folder under `Portability/My Activity/`.
    pub(crate) fn folder(self) -> &'static str {
        match self {
            Product::YouTube => "YouTube",
            Product::Search => "Search",
            Product::ImageSearch => "Image Search",
            Product::VideoSearch => "Video Search",
            Product::GoogleLens => "Google Lens",
            Product::Discover => "Discover",
            Product::PlayGames => "Google Play Games",
            Product::PlayStore => "Google Play Store",
            Product::PlayBooks => "Google Play Books",
        }
    }

    /// The catalogue data type this folder feeds (`None` for Play Books).
    pub(crate) fn data_type(self) -> Option<&'static str> {
        match self {
            Product::YouTube => Some("youtube_history"),
            Product::Search => Some("search"),
            Product::ImageSearch => Some("image_search"),
            Product::VideoSearch => Some("video_search"),
            Product::GoogleLens => Some("google_lens"),
            Product::Discover => Some("discover"),
            Product::PlayGames => Some("google_play_games"),
            Product::PlayStore => Some("google_play_store"),
            Product::PlayBooks => None,
        }
    }

    /// Key of this product's random streams.
    pub(crate) fn key(self) -> &'static str {
        self.data_type().unwrap_or("google_play_books")
    }

    /// The variants of this product and their shares in percent (spec §6.4).
    pub(crate) fn variants(self) -> &'static [(&'static str, u32)] {
        match self {
            Product::YouTube => &[
                ("watched", 60),
                ("ad", 8),
                ("removed", 4),
                ("liked", 6),
                ("disliked", 2),
                ("saved", 2),
                ("searched", 8),
                ("subscribed", 3),
                ("viewed_post", 3),
                ("shared", 4),
            ],
            Product::Search => &[("searched", 60), ("visited", 20), ("viewed", 10), ("notification", 10)],
            Product::ImageSearch => &[("searched", 70), ("viewed_image", 30)],
            Product::VideoSearch => &[("watched_youtube", 55), ("watched_other", 25), ("searched", 20)],
            Product::GoogleLens => &[("lens_image", 50), ("lens_text", 25), ("searched_after_lens", 25)],
            Product::Discover => &[("cards", 80), ("one_card", 20)],
            Product::PlayGames => &[("played", 70), ("achievement", 30)],
            Product::PlayStore => {
                &[("used", 50), ("installed", 25), ("device_connected", 15), ("apps_notification", 10)]
            }
            Product::PlayBooks => &[("read", 70), ("purchased", 30)],
        }
    }
}

/// One My Activity record before rendering.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pub header: String,
    pub title: String,
    pub title_url: Option<String>,
    /// `(name, url)`.
    pub subtitles: Vec<(String, Option<String>)>,
    pub description: Option<String>,
    /// UTC milliseconds, or a garbled literal (`bad_records`).
    pub time: Time,
    pub products: &'static [&'static str],
    pub details: Vec<String>,
    pub activity_controls: &'static [&'static str],
    pub location: Option<Location>,
    pub image_file: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Time {
    At(i64),
    Garbled(&'static str),
}

impl Default for Time {
    fn default() -> Time {
        Time::At(0)
    }
}

#[derive(Debug)]
pub(crate) struct Location {
    pub name: &'static str,
    pub url: String,
    pub source: &'static str,
    pub source_url: Option<&'static str>,
}

const WEB_APP: &[&str] = &["Web & App Activity"];

/// Per-member pools of recurring things (a persona watches the same channels
/// and uses the same apps again and again).
pub(crate) struct Pools {
    channels: Vec<(String, String)>,
    apps: Vec<(String, String)>,
    games: Vec<String>,
    books: Vec<String>,
    home: (f64, f64),
}

impl Pools {
    pub(crate) fn new(rng: &mut Rng) -> Pools {
        let channels = (0..40)
            .map(|_| {
                let name = if rng.chance(0.5) {
                    format!("Channel {}", rng.pick(ADJECTIVES))
                } else {
                    format!("{} {} Studio", rng.pick(ADJECTIVES), rng.pick(NOUNS))
                };
                let mut id = String::from("UC");
                rng.push_chars(&mut id, 22, ID_CHARS);
                (name, id)
            })
            .collect();
        let apps = (0..30)
            .map(|_| {
                let name = if rng.chance(0.2) {
                    format!("{} {}", rng.pick(vocab::NON_ASCII), rng.pick(NOUNS))
                } else {
                    vocab::adjective_noun(rng)
                };
                let tld = rng.pick(&["com", "org", "net", "fi"]);
                let package = format!("{tld}.example.{}", vocab::slug(&name));
                (name, package)
            })
            .collect();
        let games =
            (0..12).map(|_| format!("{} {}", vocab::adjective_noun(rng), rng.pick(vocab::GAME_SUFFIXES))).collect();
        let books = (0..15).map(|_| format!("The {}", vocab::adjective_noun(rng))).collect();
        let home = (60.10 + rng.unit() * 0.2, 24.70 + rng.unit() * 0.4);
        Pools { channels, apps, games, books, home }
    }

    /// Favourites come up more often: index skewed towards the start.
    fn skewed<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
        let u = rng.unit();
        &items[((u * u) * items.len() as f64) as usize]
    }
}

fn video_id(rng: &mut Rng) -> String {
    let mut id = String::with_capacity(11);
    rng.push_chars(&mut id, 11, ID_CHARS);
    id
}

fn watch_url(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

fn google_url(target: &str, rng: &mut Rng) -> String {
    let mut usg = String::from("AOvVaw");
    rng.push_chars(&mut usg, 22, ID_CHARS);
    format!("https://www.google.com/url?q={target}&usg={usg}")
}

fn search_url(q: &str, extra: &str) -> String {
    format!("https://www.google.com/search?q={}{extra}", vocab::form_encode(q))
}

fn location(rng: &mut Rng, pools: &Pools) -> Location {
    let (lat, lng) = (pools.home.0 + (rng.unit() - 0.5) * 0.05, pools.home.1 + (rng.unit() - 0.5) * 0.1);
    let url = format!(
        "https://www.google.com/maps/@?api=1&map_action=map&center={lat:.6},{lng:.6}&zoom={}",
        rng.pick(&[11, 12, 13])
    );
    let (source, source_url) = *rng.pick(&[
        ("From your device", None),
        ("From your device", None),
        ("From your places (Home)", Some("https://support.google.com/websearch/answer/1696")),
        ("From your IP address", None),
    ]);
    Location { name: "At this general area", url, source, source_url }
}

/// Builds record `variant` of `product` at `time`. `lens_seq` numbers Lens
/// image files; it advances with every Lens image record.
pub(crate) fn build(
    product: Product,
    variant: usize,
    rng: &mut Rng,
    pools: &Pools,
    time: i64,
    lens_seq: &mut u32,
) -> Activity {
    let name = product.variants()[variant].0;
    let mut a = Activity { time: Time::At(time), activity_controls: WEB_APP, ..Activity::default() };
    match product {
        Product::YouTube => {
            a.header = "YouTube".into();
            a.products = &["YouTube"];
            a.activity_controls = &["YouTube watch history"];
            let id = video_id(rng);
            let (channel, channel_id) = Pools::skewed(rng, &pools.channels);
            let channel_url = format!("https://www.youtube.com/channel/{channel_id}");
            match name {
                "watched" | "liked" => {
                    let verb = if name == "watched" { "Watched" } else { "Liked" };
                    a.title = format!("{verb} {}", vocab::video_title(rng));
                    a.title_url = Some(watch_url(&id));
                    a.subtitles.push((channel.clone(), Some(channel_url)));
                }
                "ad" => {
                    a.title = format!(
                        "Watched Ad - {} {} Offer {}s",
                        rng.pick(ADJECTIVES),
                        rng.pick(NOUNS),
                        rng.pick(&[6, 15, 30])
                    );
                    a.title_url = Some(watch_url(&id));
                    a.details.push("From Google Ads".into());
                }
                "removed" => {
                    a.title = format!("Watched {}", watch_url(&id));
                    a.title_url = Some(watch_url(&id));
                }
                "disliked" | "saved" => {
                    let verb = if name == "disliked" { "Disliked" } else { "Saved" };
                    a.title = format!("{verb} {}", vocab::video_title(rng));
                    a.title_url = Some(watch_url(&id));
                }
                "searched" => {
                    let q = vocab::query(rng);
                    a.title = format!("Searched for {q}");
                    a.title_url =
                        Some(format!("https://www.youtube.com/results?search_query={}", vocab::form_encode(&q)));
                    a.activity_controls = &["YouTube search history"];
                }
                "subscribed" => {
                    a.title = format!("Subscribed to {channel}");
                    a.title_url = Some(channel_url);
                }
                "viewed_post" => {
                    let mut post = String::from("https://www.youtube.com/post/Ugkx");
                    rng.push_chars(&mut post, 32, ID_CHARS);
                    a.title = format!("Viewed {}", vocab::video_title(rng));
                    a.title_url = Some(post);
                    a.subtitles.push((channel.clone(), Some(channel_url)));
                }
                _ => {
                    a.title = "Shared video".into();
                    a.title_url = Some(watch_url(&id));
                    a.subtitles.push((format!("Shared URL: https://youtu.be/{id}"), None));
                }
            }
        }
        Product::Search | Product::ImageSearch | Product::VideoSearch => {
            a.header = match product {
                Product::Search => "Search",
                Product::ImageSearch => "Image Search",
                _ => "Video Search",
            }
            .into();
            a.products = match product {
                Product::Search => &["Search"],
                Product::ImageSearch => &["Image Search"],
                _ => &["Video Search"],
            };
            match name {
                "searched" => {
                    let q = vocab::query(rng);
                    a.title = format!("Searched for {q}");
                    let extra = match product {
                        Product::Search => "",
                        Product::ImageSearch => "&udm=2",
                        _ => "&tbm=vid",
                    };
                    a.title_url = Some(search_url(&q, extra));
                    if rng.chance(0.4) {
                        a.location = Some(location(rng, pools));
                    }
                }
                "visited" | "viewed" => {
                    let (title, url) = *rng.pick(vocab::SITES);
                    if name == "visited" {
                        a.title = format!("Visited {title}");
                        a.title_url = Some(google_url(url, rng));
                    } else {
                        a.title = format!("Viewed {} {}", vocab::adjective_noun(rng), rng.pick(&["news", "card"]));
                        a.title_url = Some(google_url(&format!("https://news.example.com/{}", rng.below(9999)), rng));
                    }
                }
                "notification" => {
                    let n = rng.range(1, 4);
                    a.title = if n == 1 { "1 notification".into() } else { format!("{n} notifications") };
                    a.subtitles.push(("Including topics:".into(), None));
                    for _ in 0..rng.range(1, 2) {
                        a.subtitles.push((rng.pick(vocab::TOPICS).to_string(), None));
                    }
                }
                "viewed_image" => {
                    let host = rng.pick(&["example.com", "photos.example.org", "images.example.net"]);
                    a.title = format!("Viewed image from {host}");
                    a.title_url = Some(google_url(&format!("https://{host}/img/{}.jpg", rng.below(99_999)), rng));
                }
                "watched_youtube" => {
                    let id = video_id(rng);
                    a.header = "youtube.com".into();
                    a.title = format!("Watched {}", vocab::video_title(rng));
                    a.title_url = Some(watch_url(&id));
                }
                _ => {
                    let host = *rng.pick(&["video.example.com", "clips.example.org", "media.example.net"]);
                    a.header = host.into();
                    a.title = format!("Watched {}", vocab::video_title(rng));
                    a.title_url = Some(google_url(&format!("https://{host}/watch/{}", rng.below(999_999)), rng));
                }
            }
        }
        Product::GoogleLens => {
            a.header = "Google Lens".into();
            a.products = &["Google Lens"];
            match name {
                "lens_image" => {
                    *lens_seq += 1;
                    a.title = "Searched with Google Lens".into();
                    a.image_file = Some(lens_file(*lens_seq));
                }
                "lens_text" => {
                    let q = vocab::query(rng);
                    a.title = format!("Searched with Google Lens + \"{q}\"");
                    a.title_url = Some(search_url(&q, "&udm=24"));
                }
                _ => {
                    let q = vocab::query(rng);
                    a.title = format!("Searched for {q}");
                    a.title_url = Some(search_url(&q, ""));
                }
            }
        }
        Product::Discover => {
            a.header = "Discover".into();
            a.products = &["Discover"];
            let cards = if name == "one_card" { 1 } else { rng.range(2, 12) };
            a.title = if cards == 1 { "1 card in your feed".into() } else { format!("{cards} cards in your feed") };
            for _ in 0..rng.range(1, 3).min(cards) {
                let topic = rng.pick(vocab::TOPICS);
                a.details.push(if rng.chance(0.4) { format!("{topic} - viewed") } else { topic.to_string() });
            }
        }
        Product::PlayGames => {
            a.header = "Google Play Games".into();
            a.products = &["Google Play Games"];
            let game = Pools::skewed(rng, &pools.games);
            a.title = if name == "played" {
                format!("Played {game}")
            } else {
                format!("Achievement unlocked: {game} - {}", rng.pick(vocab::ACHIEVEMENTS))
            };
        }
        Product::PlayStore => {
            a.products = &["Google Play Store"];
            let (app, package) = Pools::skewed(rng, &pools.apps);
            match name {
                "used" | "installed" => {
                    a.header = app.clone();
                    a.title = format!("{} {app}", if name == "used" { "Used" } else { "Installed" });
                    a.title_url = Some(format!("https://play.google.com/store/apps/details?id={package}"));
                    if name == "used" {
                        a.details.push(format!("Used for {} minutes", rng.range(1, 90)));
                    }
                }
                "device_connected" => {
                    a.header = "Google Play Store".into();
                    a.title = "Device connected".into();
                    a.subtitles.push(("Updated usage information for some apps".into(), None));
                    a.activity_controls = &["Play app usage"];
                }
                _ => {
                    a.header = "Google Play Store".into();
                    a.title = "Apps management notification shown".into();
                }
            }
        }
        Product::PlayBooks => {
            a.header = "Google Play Books".into();
            a.products = &["Google Play Books"];
            let book = Pools::skewed(rng, &pools.books);
            a.title = format!("{} {book}", if name == "read" { "Read" } else { "Purchased" });
            a.title_url = Some(format!("https://play.google.com/store/books/details?id={}", vocab::slug(book)));
        }
    }
    a
}

/// File name of the `n`-th Lens image (1-based), as `imageFile` spells it.
pub(crate) fn lens_file(n: u32) -> String {
    format!("lens-{n:04}.jpg")
}

/// Appends `s` as a JSON string the way Google's exporter (Gson with HTML-safe
/// escaping) writes it: `=`, `&`, `<`, `>` and `'` as `\u003d`, `\u0026`,
/// `\u003c`, `\u003e`, `\u0027`; other non-ASCII characters literally.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' | '&' | '<' | '>' | '\'' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Renders `a` as one element of `MyActivity.json`, pretty-printed like
/// Google's exports (two-space indent, inline arrays of strings).
pub(crate) fn render_json(out: &mut String, a: &Activity) {
    let field = |out: &mut String, key: &str| {
        out.push_str(",\n  \"");
        out.push_str(key);
        out.push_str("\": ");
    };
    out.push_str("{\n  \"header\": ");
    push_json_str(out, &a.header);
    field(out, "title");
    push_json_str(out, &a.title);
    if let Some(url) = &a.title_url {
        field(out, "titleUrl");
        push_json_str(out, url);
    }
    if !a.subtitles.is_empty() {
        field(out, "subtitles");
        out.push('[');
        for (i, (name, url)) in a.subtitles.iter().enumerate() {
            out.push_str(if i == 0 { "{\n    \"name\": " } else { ", {\n    \"name\": " });
            push_json_str(out, name);
            if let Some(url) = url {
                out.push_str(",\n    \"url\": ");
                push_json_str(out, url);
            }
            out.push_str("\n  }");
        }
        out.push(']');
    }
    if let Some(description) = &a.description {
        field(out, "description");
        push_json_str(out, description);
    }
    field(out, "time");
    match a.time {
        Time::At(ms) => {
            out.push('"');
            push_rfc3339_ms(out, ms);
            out.push('"');
        }
        Time::Garbled(s) => push_json_str(out, s),
    }
    field(out, "products");
    push_string_array(out, a.products);
    if !a.details.is_empty() {
        field(out, "details");
        out.push('[');
        for (i, name) in a.details.iter().enumerate() {
            out.push_str(if i == 0 { "{\n    \"name\": " } else { ", {\n    \"name\": " });
            push_json_str(out, name);
            out.push_str("\n  }");
        }
        out.push(']');
    }
    field(out, "activityControls");
    push_string_array(out, a.activity_controls);
    if let Some(loc) = &a.location {
        field(out, "locationInfos");
        out.push_str("[{\n    \"name\": ");
        push_json_str(out, loc.name);
        out.push_str(",\n    \"url\": ");
        push_json_str(out, &loc.url);
        out.push_str(",\n    \"source\": ");
        push_json_str(out, loc.source);
        if let Some(source_url) = loc.source_url {
            out.push_str(",\n    \"sourceUrl\": ");
            push_json_str(out, source_url);
        }
        out.push_str("\n  }]");
    }
    if let Some(file) = &a.image_file {
        field(out, "imageFile");
        push_json_str(out, file);
    }
    out.push_str("\n}");
}

fn push_string_array(out: &mut String, items: &[&str]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_str(out, item);
    }
    out.push(']');
}

/// Start of an `html_only` member.
pub(crate) const HTML_HEAD: &str = "<html><head><meta charset=\"UTF-8\"><title>My Activity</title></head>\
<body><div class=\"mdl-grid\">\n";
/// End of an `html_only` member.
pub(crate) const HTML_TAIL: &str = "</div></body></html>\n";

fn push_html_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Renders `a` as one cell of Google's HTML activity export.
pub(crate) fn render_html(out: &mut String, a: &Activity) {
    out.push_str(
        "<div class=\"outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp\"><div class=\"mdl-grid\">\
         <div class=\"header-cell mdl-cell mdl-cell--12-col\"><p class=\"mdl-typography--title\">",
    );
    push_html_text(out, &a.header);
    out.push_str("<br></p></div><div class=\"content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1\">");
    match &a.title_url {
        Some(url) => {
            out.push_str("<a href=\"");
            push_html_text(out, url);
            out.push_str("\">");
            push_html_text(out, &a.title);
            out.push_str("</a>");
        }
        None => push_html_text(out, &a.title),
    }
    out.push_str("<br>");
    for (name, _) in &a.subtitles {
        push_html_text(out, name);
        out.push_str("<br>");
    }
    if let Time::At(ms) = a.time {
        push_rfc3339_ms(out, ms);
    }
    out.push_str("<br></div></div></div>\n");
}

/// The elements `bad_records` adds to every `MyActivity.json` besides the
/// normal records: four that are not objects, one record over 2 MiB, three
/// with garbled `time` values. `time` is a plausible time for the oversized
/// record, which is otherwise well-formed.
pub(crate) fn bad_elements(product: Product, time: i64) -> Vec<String> {
    let mut out = vec!["42".to_string(), "\"not a record\"".to_string(), "null".to_string()];
    out.push("[\"header\", \"YouTube\"]".into());
    let mut big = Activity {
        header: product.folder().into(),
        title: format!("Viewed {}", "a very long page ".repeat(4)),
        time: Time::At(time),
        products: &["Search"],
        activity_controls: WEB_APP,
        ..Activity::default()
    };
    big.description = Some("lorem ipsum dolor sit amet ".repeat(2 * 1024 * 1024 / 27 + 1));
    let mut s = String::new();
    render_json(&mut s, &big);
    out.push(s);
    for garbled in ["2024-13-45T25:61:00.000Z", "yesterday at noon", "1700000000000"] {
        let a = Activity {
            header: product.folder().into(),
            title: "Searched for garbled time".into(),
            time: Time::Garbled(garbled),
            products: &["Search"],
            activity_controls: WEB_APP,
            ..Activity::default()
        };
        let mut s = String::new();
        render_json(&mut s, &a);
        out.push(s);
    }
    out
}

/// What `malformed_json` puts between two records: an object missing a comma.
pub(crate) const BROKEN_ELEMENT: &str = "{\n  \"header\": \"Search\"\n  \"title\": \"Searched for broken json\"\n}";

/// A 1×1 grey baseline JPEG (every marker a decoder needs, one-symbol
/// Huffman tables, one MCU with DC 0 and an immediate end of block): the
/// synthetic Lens attachment.
pub(crate) fn tiny_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8]; // SOI
    j.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]); // DQT, table 0, all ones
    j.extend_from_slice(&[1; 64]);
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]); // SOF0 1×1, 1 component
    for class in [0x00, 0x10] {
        // DHT: DC (class 0) and AC (class 1) table 0, one code of length 1 for symbol 0.
        j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
        j.extend_from_slice(&[0; 15]);
        j.push(0);
    }
    j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]); // SOS
    j.push(0x3F); // DC category 0 ("0"), EOB ("0"), padded with ones
    j.extend_from_slice(&[0xFF, 0xD9]); // EOI
    j
}

/// `Jan 15, 2024`, the date form of `Your Liked Content.csv`.
pub(crate) fn liked_date(utc_ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(utc_ms).unwrap_or_default();
    t.format("%b %-d, %Y").to_string()
}

/// Setting values of `Not Interested Setting.csv` and their shares.
pub(crate) const SETTINGS: &[(&str, u32)] = &[("NOT_INTERESTED", 60), ("NOT_PREFERRED", 25), ("BLOCKED", 15)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_like_google() {
        let mut s = String::new();
        push_json_str(&mut s, "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1 <b> 'q' \"x\" \\ Sää –\n");
        assert_eq!(
            s,
            r#""https://www.youtube.com/watch?v\u003ddQw4w9WgXcQ\u0026t\u003d1 \u003cb\u003e \u0027q\u0027 \"x\" \\ Sää –\n""#
        );
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1 <b> 'q' \"x\" \\ Sää –\n");
    }

    #[test]
    fn bad_elements_are_what_they_claim() {
        let bad = bad_elements(Product::Search, 1_700_000_000_000);
        assert_eq!(bad.len(), 8);
        let values: Vec<serde_json::Value> = bad.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
        assert_eq!(values.iter().filter(|v| !v.is_object()).count(), 4);
        assert!(bad[4].len() > 2 * 1024 * 1024);
        assert_eq!(values[4]["time"], "2023-11-14T22:13:20.000Z");
        for v in &values[5..] {
            assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_err());
        }
        assert!(serde_json::from_str::<serde_json::Value>(BROKEN_ELEMENT).is_err());
    }

    #[test]
    fn the_jpeg_is_well_formed() {
        let j = tiny_jpeg();
        assert_eq!(&j[..3], &[0xFF, 0xD8, 0xFF]);
        assert_eq!(&j[j.len() - 2..], &[0xFF, 0xD9]);
        // Walk the marker segments up to the scan: each length must land on the next marker.
        let mut i = 2;
        while j[i + 1] != 0xDA {
            assert_eq!(j[i], 0xFF, "marker at {i}");
            i += 2 + usize::from(u16::from_be_bytes([j[i + 2], j[i + 3]]));
        }
        assert_eq!(i + 2 + 8 + 1 + 2, j.len());
    }

    #[test]
    fn liked_dates_look_like_the_csv() {
        assert_eq!(liked_date(1_705_312_800_000), "Jan 15, 2024");
    }
}
