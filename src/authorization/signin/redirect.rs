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

/// The token hand-off (spec §4.5): services on another domain cannot read
/// Steward's cookie, so an `https` redirect target outside the cookie domain
/// gets the login token in a query parameter after sign-in. Plain `http`
/// targets never do (the token would cross the network in clear).
#[derive(Debug, Clone)]
pub struct TokenHandoff {
    /// The query parameter, e.g. `dsg_token`.
    param: String,
    /// Hosts the cookie reaches: Steward's own, and the cookie domain's
    /// (lowercase, no leading dot) with its subdomains.
    own_host: String,
    cookie_domain: Option<String>,
}

impl TokenHandoff {
    /// The hand-off through `param`, for Steward at `public_url` with the cookie's `Domain`.
    pub fn new(param: &str, public_url: &str, cookie_domain: Option<&str>) -> Self {
        Self {
            param: param.to_owned(),
            own_host: super::config::host_of(public_url),
            cookie_domain: cookie_domain.map(|d| d.trim_start_matches('.').to_ascii_lowercase()),
        }
    }

    /// `target` (an accepted redirect) with `<param>=<token>` in its query
    /// (replacing any value there) when it is `https` on a host the cookie
    /// does not reach; else `None`.
    pub fn apply(&self, target: &str, token: &str) -> Option<String> {
        let mut url = Url::parse(target).ok().filter(|u| u.scheme() == "https")?;
        let host = url.host_str()?.to_ascii_lowercase();
        let covered = host == self.own_host
            || self.cookie_domain.as_deref().is_some_and(|domain| {
                host == domain || host.strip_suffix(domain).is_some_and(|prefix| prefix.ends_with('.'))
            });
        if covered {
            return None;
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| *k != self.param)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept).append_pair(&self.param, token);
        Some(url.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_handed_only_to_https_hosts_the_cookie_misses() {
        let h = TokenHandoff::new("dsg_token", "https://steward.janelia.org", Some(".janelia.org"));
        assert_eq!(
            h.apply("https://cave.example.org/app?x=1&dsg_token=old#top", "T").as_deref(),
            Some("https://cave.example.org/app?x=1&dsg_token=T#top")
        );
        assert_eq!(h.apply("https://cave.example.org", "T").as_deref(), Some("https://cave.example.org/?dsg_token=T"));
        for kept in [
            "https://janelia.org/x",
            "https://clio.janelia.org/x",
            "https://steward.janelia.org/x",
            "http://cave.example.org/app",
            "/relative",
        ] {
            assert_eq!(h.apply(kept, "T"), None, "{kept}");
        }
        let host_only = TokenHandoff::new("t", "https://steward.example.org", None);
        assert_eq!(host_only.apply("https://steward.example.org/x", "T"), None);
        assert_eq!(
            host_only.apply("https://other.example.org/x", "T").as_deref(),
            Some("https://other.example.org/x?t=T")
        );
    }

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
