//! Viewer origins (spec §3.6): the syntactic check every ngauth route applies
//! before the allowlist, so a value that is not exactly `scheme://host[:port]`
//! is never echoed into a header or a page.

use super::config::NgauthConfig;

/// What an `Origin` (or `?origin=`) value is to ngauth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCheck {
    /// Not `http(s)://host[:port]` with DNS-label hosts.
    Invalid,
    /// Well formed, not on `STEWARD_NGAUTH_ALLOWED_ORIGINS`.
    NotAllowed,
    /// Well formed and allowed.
    Allowed,
}

/// Classifies `origin` against `config`'s allowlist.
pub fn check(config: &NgauthConfig, origin: &str) -> OriginCheck {
    if !is_well_formed(origin) {
        OriginCheck::Invalid
    } else if config.allowed_origins.is_match(origin) {
        OriginCheck::Allowed
    } else {
        OriginCheck::NotAllowed
    }
}

/// Exactly `http(s)://host[:port]`: host of DNS labels (`[A-Za-z0-9]`, inner
/// `-`, at most 63 characters, no trailing dot), port 1–65535, nothing else.
pub fn is_well_formed(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    port_ok && !host.is_empty() && host.split('.').all(is_dns_label)
}

fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_origins() {
        for ok in [
            "https://neuroglancer-demo.appspot.com",
            "http://localhost:8000",
            "http://127.0.0.1:1",
            "https://a.b-c.d:65535",
        ] {
            assert!(is_well_formed(ok), "{ok}");
        }
    }

    #[test]
    fn malformed_origins_of_the_spec() {
        let long = format!("https://{}.org", "a".repeat(64));
        for bad in [
            "notaurl",
            "https://host/path",
            "https://a\"b",
            "https://host:99999",
            "https://user:pw@host",
            "https://host.",
            "https://-host",
            "https://host?q=1",
            "https://host#f",
            "ftp://host",
            " https://host",
            "https://host:0",
            "https://host:",
            "https://host:+80",
            "https://",
            "https://a..b",
            "https://[::1]",
            long.as_str(),
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }
}
