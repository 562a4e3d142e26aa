//! Where sign-in and logout may send the browser afterwards (spec §4.5): a
//! relative path on this host, or an absolute `http(s)` URL whose host is
//! Steward's own or on the allow-list. Anything else falls back to `/`, so a
//! crafted link cannot turn Steward into an open redirect.

use reqwest::Url;

/// Checks redirect targets against Steward's host and the allow-list.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    /// Steward's own public host (lowercase).
    own_host: String,
    /// Allowed hosts: each matches itself and its subdomains.
    allowed: Vec<String>,
}

impl RedirectPolicy {
    /// A policy for Steward at `public_url` with `allowed` hosts (lowercase, no leading dot).
    pub fn new(public_url: &str, allowed: &[String]) -> Self {
        Self { own_host: super::config::host_of(public_url), allowed: allowed.to_vec() }
    }

    /// `value` when it is an acceptable target, else `None`.
    pub fn accept<'a>(&self, value: &'a str) -> Option<&'a str> {
        // Browsers drop tabs and newlines and read `\` as `/` in URLs, so any of
        // them could turn an innocent-looking value into another host.
        if value.is_empty() || value.chars().any(|c| c.is_control() || c == '\\' || c == ' ') {
            return None;
        }
        if value.starts_with('/') {
            return (!value.starts_with("//")).then_some(value);
        }
        let url = Url::parse(value).ok()?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        // `http:/host` or `https:host` parse, but are not what they look like.
        let scheme_len = url.scheme().len();
        if !value[scheme_len..].starts_with("://") {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        self.host_allowed(&host).then_some(value)
    }

    /// `value` when acceptable, else `/`.
    pub fn or_root(&self, value: Option<&str>) -> String {
        value.and_then(|v| self.accept(v)).unwrap_or("/").to_owned()
    }

    fn host_allowed(&self, host: &str) -> bool {
        host == self.own_host
            || self.allowed.iter().any(|allowed| {
                host == allowed || host.strip_suffix(allowed.as_str()).is_some_and(|prefix| prefix.ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new("https://steward.example.org", &["janelia.org".to_owned()])
    }

    #[test]
    fn relative_paths_and_allowed_hosts_pass() {
        let p = policy();
        for ok in [
            "/",
            "/login?origin=https://x.org",
            "/web/tos/service-check/?next=https%3A%2F%2Fa",
            "http://janelia.org/path",
            "https://service.janelia.org/path?x=1#result",
            "https://a.b.janelia.org:8443/",
            "https://steward.example.org/x",
            "https://STEWARD.example.org/x",
        ] {
            assert_eq!(p.accept(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let p = policy();
        for bad in [
            "",
            "//service.janelia.org/x",
            "/\\evil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "https://example.org/x",
            "https://evil-janelia.org/x",
            "https://janelia.org.evil.example/x",
            "https://user:password@service.janelia.org/x",
            "https://user@service.janelia.org/x",
            "https://service.janelia.org/x\n",
            "/x\r\nSet-Cookie: a=b",
            "/x\ty",
            "javascript:alert(1)",
            "data:text/html,<script>",
            "ftp://janelia.org/x",
            "https:/janelia.org.evil.example",
            "https:evil.example",
            "http:\\\\evil.example",
            "evil.example/x",
            "relative/path",
            " https://janelia.org/",
        ] {
            assert_eq!(p.accept(bad), None, "{bad:?}");
        }
        assert_eq!(p.or_root(Some("https://evil.example/steal")), "/");
        assert_eq!(p.or_root(None), "/");
    }
}
