//! TOS documents are Markdown (spec §3.5 "HTML pages render Markdown with raw
//! HTML escaped"): CommonMark with tables and strikethrough, where raw HTML
//! shows as the text it is and links only go to web, mail or relative places.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// `text` as HTML safe to place inside a page.
pub fn render(text: &str) -> String {
    let events =
        Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|event| match event {
            // A block of raw HTML becomes a paragraph of its text, inline HTML text.
            Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
            Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url), title, id })
            }
            other => other,
        });
    let mut out = String::with_capacity(text.len() * 5 / 4);
    html::push_html(&mut out, events);
    out
}

/// `url` when it is `http(s)`, `mailto` or has no scheme, else empty: the
/// writer escapes URLs but lets `javascript:` and `data:` through.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|s| !s.contains(['/', '?', '#']));
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        None | Some("http" | "https" | "mailto") => url,
        Some(_) => CowStr::Borrowed(""),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            render("# Terms\n\nBe **nice**, see [the rules](https://example.org/r?a=1&b=2).\n\n- one\n- two\n"),
            "<h1>Terms</h1>\n<p>Be <strong>nice</strong>, see <a href=\"https://example.org/r?a=1&amp;b=2\">the \
             rules</a>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        );
    }

    #[test]
    fn raw_html_is_text() {
        let html = render("<script>alert(1)</script>\n\nHi <b onclick=\"x()\">there</b> & <img src=x onerror=y>");
        assert_eq!(
            html,
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;\n</p>\n<p>Hi &lt;b onclick=\"x()\"&gt;there&lt;/b&gt; \
             &amp; &lt;img src=x onerror=y&gt;</p>\n"
        );
        assert!(!html.contains("<script") && !html.contains("<b ") && !html.contains("<img"));
    }

    #[test]
    fn only_safe_links_keep_their_target() {
        let html = render("[a](javascript:alert(1)) [b](JavaScript:x) [c](data:text/html,x) ![d](vbscript:y)");
        assert!(!html.to_ascii_lowercase().contains("script:") && !html.contains("data:"), "{html}");
        let html = render("[a](/web/tos/1/accept) [b](mailto:dsg@example.org) [c](page?x=a:b)");
        assert!(html.contains(r#"href="/web/tos/1/accept""#), "{html}");
        assert!(html.contains(r#"href="mailto:dsg@example.org""#), "{html}");
        assert!(html.contains(r#"href="page?x=a:b""#), "{html}");
    }
}
