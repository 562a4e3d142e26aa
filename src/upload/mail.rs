//! The upload notification message (spec upload.md §2.10): plain-text UTF-8,
//! one per recipient, built with lettre so headers are encoded (RFC 2047) and
//! nothing a title or file name contains can start a header line.
//!
//! A message names the drop-off and each file (name, size, SHA-256,
//! completion time) and links the owner page. It never carries the upload
//! code, file contents, uploader addresses or free-text metadata: the
//! [`Content`] it is built from has no field for them.

use chrono::{DateTime, SecondsFormat, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder};
use ring::digest;

/// One file of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    /// Sanitised display name.
    pub name: String,
    /// Bytes; `None` only for an external file whose length tusd never told.
    pub size: Option<i64>,
    /// Lowercase hex SHA-256 of the plaintext, when Steward computed it.
    pub sha256: Option<String>,
    /// When the file was completed.
    pub complete_time: Option<DateTime<Utc>>,
}

/// What a notification says: everything a message is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The notification's id (part of the `Message-ID`).
    pub notification_id: i64,
    /// The drop-off (its owner page is linked).
    pub dropoff_id: uuid::Uuid,
    /// The drop-off's title.
    pub title: String,
    /// The files, in completion order.
    pub files: Vec<FileLine>,
}

/// Why a message could not be built for a recipient.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The stored address does not parse (it was validated when saved, so
    /// this is permanent for that recipient).
    #[error("not a valid e-mail address")]
    Address,
    /// lettre refused the message.
    #[error("building the message failed: {0}")]
    Message(#[from] lettre::error::Error),
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no vacation replies, please.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");

/// Removes control characters (C0, DEL, C1) and bidirectional overrides and
/// isolates; a title or name is shown on one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c))
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `[Steward] 3 new files in "<title>"`.
pub fn subject(title: &str, files: usize) -> String {
    let noun = if files == 1 { "file" } else { "files" };
    format!("[Steward] {files} new {noun} in \"{}\"", one_line(title))
}

/// `1.5 MiB` (binary units, one decimal above bytes).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The `Message-ID` of notification `notification_id` to `email`: the same
/// on every attempt, so a message resent after a crash between the server's
/// acceptance and our marking it sent can be recognised as a duplicate. The
/// per-recipient part is derived from the address (case-folded), so adding
/// a recipient never renumbers the others.
pub fn message_id(notification_id: i64, email: &str, host: &str) -> String {
    let digest = digest::digest(&digest::SHA256, email.to_lowercase().as_bytes());
    let n = crate::auth::token::hex(&digest.as_ref()[..6]);
    format!("<upload-notification-{notification_id}-{n}@{host}>")
}

/// The plain-text body.
pub fn body(content: &Content, public_url: &str) -> String {
    let title = one_line(&content.title);
    let count = content.files.len();
    let mut text = String::new();
    let noun = if count == 1 { "file was" } else { "files were" };
    text.push_str(&format!("{count} new {noun} uploaded to the drop-off \"{title}\".\n\n"));
    for file in &content.files {
        text.push_str(&format!("* {}\n", one_line(&file.name)));
        match file.size {
            Some(size) => {
                let size = u64::try_from(size).unwrap_or(0);
                text.push_str(&format!("  Size:      {} ({size} bytes)\n", human_size(size)));
            }
            None => text.push_str("  Size:      unknown\n"),
        }
        match &file.sha256 {
            Some(sha256) => text.push_str(&format!("  SHA-256:   {sha256}\n")),
            None => text.push_str("  SHA-256:   not computed (kept in external storage)\n"),
        }
        if let Some(at) = file.complete_time {
            text.push_str(&format!("  Completed: {}\n", at.to_rfc3339_opts(SecondsFormat::Secs, true)));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "See and download the files (sign-in required):\n{}/dropoffs/{}\n\n",
        public_url.trim_end_matches('/'),
        content.dropoff_id
    ));
    text.push_str("You get this message because you are a recipient of this drop-off in Steward.\n");
    text
}

/// The message for one recipient.
pub fn build(
    content: &Content,
    from: &Mailbox,
    email: &str,
    public_url: &str,
    host: &str,
) -> Result<Message, BuildError> {
    let to = email.parse::<lettre::Address>().map_err(|_| BuildError::Address)?;
    let message = MessageBuilder::new()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject(&content.title, content.files.len()))
        .message_id(Some(message_id(content.notification_id, email, host)))
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".to_owned()))
        .header(ContentType::TEXT_PLAIN)
        .body(body(content, public_url))?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(title: &str, names: &[&str]) -> Content {
        Content {
            notification_id: 42,
            dropoff_id: uuid::Uuid::from_u128(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd),
            title: title.to_owned(),
            files: names
                .iter()
                .map(|name| FileLine {
                    name: (*name).to_owned(),
                    size: Some(1536),
                    sha256: Some("ab".repeat(32)),
                    complete_time: Some(DateTime::from_timestamp(1_790_000_000, 0).unwrap()),
                })
                .collect(),
        }
    }

    #[test]
    fn subjects_count_files_and_lose_control_characters() {
        assert_eq!(subject("Survey 2026", 1), "[Steward] 1 new file in \"Survey 2026\"");
        assert_eq!(subject("Survey\r\nBcc: x@example.org", 3), "[Steward] 3 new files in \"SurveyBcc: x@example.org\"");
        assert_eq!(subject("a\u{202e}b\u{0}c\u{85}d", 2), "[Steward] 2 new files in \"abcd\"");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * (1 << 30)), "10.0 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn message_ids_are_stable_per_recipient() {
        let a = message_id(7, "Ann@Example.org", "data.example.org");
        assert_eq!(a, message_id(7, "ann@example.org", "data.example.org"));
        assert_ne!(a, message_id(7, "bob@example.org", "data.example.org"));
        assert_ne!(a, message_id(8, "ann@example.org", "data.example.org"));
        assert!(a.starts_with("<upload-notification-7-") && a.ends_with("@data.example.org>"), "{a}");
    }

    #[test]
    fn the_body_lists_each_file_and_links_the_owner_page() {
        let text = body(&content("Survey", &["a.csv", "b\r\nX-Evil: 1.csv"]), "https://data.example.org/");
        assert!(text.starts_with("2 new files were uploaded to the drop-off \"Survey\"."), "{text}");
        assert!(text.contains("* a.csv\n  Size:      1.5 KiB (1536 bytes)\n"), "{text}");
        assert!(text.contains("* bX-Evil: 1.csv\n"), "{text}");
        assert!(text.contains(&format!("  SHA-256:   {}\n", "ab".repeat(32))), "{text}");
        assert!(text.contains("  Completed: 2026-09-21T"), "{text}");
        assert!(text.contains("https://data.example.org/dropoffs/01234567-89ab-4cde-8f01-23456789abcd\n"), "{text}");
    }

    #[test]
    fn titles_and_names_cannot_add_headers() {
        let from: Mailbox = "Steward <steward@data.example.org>".parse().unwrap();
        let message = build(
            &content("T\r\nBcc: evil@example.org\r\n", &["x\r\nX-Injected: yes"]),
            &from,
            "ann@example.org",
            "https://data.example.org",
            "data.example.org",
        )
        .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        let (headers, _) = raw.split_once("\r\n\r\n").unwrap();
        let names: Vec<&str> = headers
            .split("\r\n")
            .filter(|line| !line.starts_with([' ', '\t']))
            .map(|line| line.split(':').next().unwrap())
            .collect();
        for name in &names {
            assert!(
                [
                    "From",
                    "To",
                    "Subject",
                    "Message-ID",
                    "Auto-Submitted",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "Date",
                    "MIME-Version"
                ]
                .contains(name),
                "unexpected header {name} in\n{headers}"
            );
        }
        assert!(headers.contains("Auto-Submitted: auto-generated"), "{headers}");
        assert!(headers.contains("To: ann@example.org"), "{headers}");
        assert!(!raw.contains("evil@example.org\r\n"), "{raw}");
    }

    #[test]
    fn invalid_addresses_are_refused() {
        let from: Mailbox = "steward@data.example.org".parse().unwrap();
        let err = build(&content("T", &["a"]), &from, "not an address", "https://d", "d").unwrap_err();
        assert!(matches!(err, BuildError::Address));
    }
}
