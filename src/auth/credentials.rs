//! Reading the caller's credential from request headers, in the order every
//! route shares: the `Authorization` header (`Bearer` or `Token` scheme), then
//! the `dsg_token` cookie. The first source present is the only one tried, so a
//! bad header is refused even when a valid cookie is also sent.

use http::HeaderMap;

/// The cookie that carries a browser's token.
pub const COOKIE_NAME: &str = "dsg_token";
/// Longer values are refused without a database lookup.
const MAX_CREDENTIAL_LEN: usize = 256;

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer …` or `Authorization: Token …`.
    Header,
    /// The `dsg_token` cookie.
    Cookie,
}

/// A presented credential, not yet validated.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Where it came from.
    pub source: Source,
    /// The token text.
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("source", &self.source).finish_non_exhaustive()
    }
}

/// Why the presented credential cannot even be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The `Authorization` header is not `Bearer <token>` or `Token <token>`.
    #[error("Malformed Authorization header: expected 'Bearer <token>' or 'Token <token>'.")]
    BadScheme,
    /// The credential is far too long to be a token.
    #[error("Invalid or expired token.")]
    TooLong,
}

/// The credential in `headers`, if any.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Credential>, CredentialError> {
    from_headers_named(headers, COOKIE_NAME)
}

/// [`from_headers`] with the cookie named `cookie_name` (`STEWARD_AUTH_COOKIE_NAME`).
pub fn from_headers_named(headers: &HeaderMap, cookie_name: &str) -> Result<Option<Credential>, CredentialError> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| CredentialError::BadScheme)?;
        return parse_authorization(value).map(Some);
    }
    for cookies in headers.get_all(http::header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        if let Some(token) = cookie_value(cookies, cookie_name) {
            if token.len() > MAX_CREDENTIAL_LEN {
                return Err(CredentialError::TooLong);
            }
            return Ok(Some(Credential { source: Source::Cookie, token: token.to_owned() }));
        }
    }
    Ok(None)
}

/// `Bearer <t>` or `Token <t>`: scheme case-insensitive, one space, value trimmed.
fn parse_authorization(value: &str) -> Result<Credential, CredentialError> {
    let (scheme, rest) = value.split_once(' ').ok_or(CredentialError::BadScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("token") {
        return Err(CredentialError::BadScheme);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(CredentialError::BadScheme);
    }
    if token.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::TooLong);
    }
    Ok(Credential { source: Source::Header, token: token.to_owned() })
}

/// The non-empty value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim() == name && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn schemes() {
        for v in ["Bearer abc", "bearer abc", "Token abc", "TOKEN   abc  "] {
            let c = from_headers(&headers(&[("authorization", v)])).unwrap().unwrap();
            assert_eq!(c.token, "abc");
            assert_eq!(c.source, Source::Header);
        }
        for v in ["Basic abc", "abc", "Bearer ", "Bearer"] {
            assert_eq!(from_headers(&headers(&[("authorization", v)])), Err(CredentialError::BadScheme), "{v}");
        }
    }

    #[test]
    fn cookie_is_read_when_no_header() {
        let c = from_headers(&headers(&[("cookie", "a=1; dsg_token=xyz; b=2")])).unwrap().unwrap();
        assert_eq!((c.source, c.token.as_str()), (Source::Cookie, "xyz"));
        assert_eq!(from_headers(&headers(&[("cookie", "dsg_token=")])).unwrap(), None);
        assert_eq!(from_headers(&headers(&[])).unwrap(), None);
    }

    #[test]
    fn header_beats_cookie_even_when_bad() {
        let h = headers(&[("authorization", "Bearer fromheader"), ("cookie", "dsg_token=fromcookie")]);
        assert_eq!(from_headers(&h).unwrap().unwrap().token, "fromheader");
        let h = headers(&[("authorization", "Basic x"), ("cookie", "dsg_token=fromcookie")]);
        assert!(from_headers(&h).is_err());
    }

    #[test]
    fn overlong_credentials_are_refused() {
        let long = format!("Bearer {}", "a".repeat(300));
        assert_eq!(from_headers(&headers(&[("authorization", &long)])), Err(CredentialError::TooLong));
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Credential { source: Source::Header, token: "secret-token".into() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
