//! Visits (spec §3.1): a server-side row behind the `steward_visit` cookie.
//! The cookie holds 32 random bytes (base64url); the row is keyed by the
//! SHA-256 of that text, so a database dump cannot be turned into cookies.
//! A visit holds the donations it may act on (the one whose link was opened,
//! or every donation of the participant it knows), the current donation, the
//! participant's token sealed while it may still be shown once, the secret
//! its CSRF tokens come from, and its lifetimes: idle (extended on every
//! use) and absolute, both fixed from the configuration when it opens.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::db::schema::{donations, visit_donations, visits};

/// The cookie's name.
pub const COOKIE: &str = "steward_visit";

/// A live visit.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = visits)]
pub struct Visit {
    pub id: i64,
    /// The participant this visit knows, if any.
    pub participant_id: Option<i64>,
    /// The donation the pages show.
    pub current_donation: Option<i32>,
    /// A donation link was opened in this visit.
    pub donation_link_used: bool,
    /// The participant token, sealed, while the status page may show it once.
    pub participant_token_sealed: Option<Vec<u8>>,
    csrf_secret: Vec<u8>,
    /// The chosen language, when the participant picked one.
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl Visit {
    /// The CSRF token of this visit's forms: an HMAC of a fixed label under
    /// the visit's secret, so it is bound to the visit and never stored.
    pub fn csrf_token(&self) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.csrf_secret);
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, CSRF_LABEL).as_ref())
    }

    /// Whether `given` is this visit's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(given.trim()) else {
            return false;
        };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.csrf_secret);
        ring::hmac::verify(&key, CSRF_LABEL, &tag).is_ok()
    }
}

const CSRF_LABEL: &[u8] = b"steward.visit.csrf.v1";

/// The `steward_visit` value from the request's `Cookie` headers.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The `Set-Cookie` value for a visit: `HttpOnly; SameSite=Lax; Path=/`, and
/// `Secure` unless `secure` is false (plain-HTTP loopback outside production).
/// No `Max-Age`: the server decides when the visit ends.
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/{secure}")
}

/// Whether the cookie may go without `Secure`: only for a plain-HTTP
/// loopback public URL outside production (spec §3.1).
pub fn cookie_secure(public_url: &str, production: bool) -> bool {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|prefix| {
        public_url
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
    });
    production || !loopback
}

fn hash(value: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes()).as_ref().to_vec()
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("system random source failed");
    bytes
}

/// Opens a new visit with the given lifetimes; returns it and the cookie value.
pub async fn open(conn: &mut AsyncPgConnection, idle: Duration, max: Duration) -> QueryResult<(Visit, String)> {
    // Visits past their absolute lifetime are never found again; opening one
    // is a good moment to drop them (their attempts' visit becomes NULL).
    delete_expired(conn).await?;
    let value = crate::auth::token::random_url_safe();
    let idle_seconds = i32::try_from(idle.as_secs().max(1)).unwrap_or(i32::MAX);
    let max = chrono::TimeDelta::from_std(max).unwrap_or(chrono::TimeDelta::days(7));
    let visit = diesel::insert_into(visits::table)
        .values((
            visits::cookie_hash.eq(hash(&value)),
            visits::csrf_secret.eq(random32().to_vec()),
            visits::idle_ttl_seconds.eq(idle_seconds),
            visits::absolute_expires_at.eq(Utc::now() + max),
        ))
        .returning(Visit::as_returning())
        .get_result(conn)
        .await?;
    Ok((visit, value))
}

/// The live visit of `cookie_value` (by the SHA-256 of the value), with its
/// last use moved to now. An idle or too old visit is not found.
pub async fn find(conn: &mut AsyncPgConnection, cookie_value: &str) -> QueryResult<Option<Visit>> {
    diesel::update(visits::table)
        .filter(visits::cookie_hash.eq(hash(cookie_value)))
        .filter(visits::absolute_expires_at.gt(diesel::dsl::now))
        .filter(sql::<Bool>("last_seen_at + make_interval(secs => idle_ttl_seconds) > now()"))
        .set(visits::last_seen_at.eq(diesel::dsl::now))
        .returning(Visit::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Whether the visit may act on `donation_id`: it was added to the visit, or
/// it belongs to the participant the visit knows.
pub async fn holds(conn: &mut AsyncPgConnection, visit: &Visit, donation_id: i32) -> QueryResult<bool> {
    Ok(donations(conn, visit).await?.contains(&donation_id))
}

/// The donations the visit may act on, newest first.
pub async fn donations(conn: &mut AsyncPgConnection, visit: &Visit) -> QueryResult<Vec<i32>> {
    let added =
        visit_donations::table.filter(visit_donations::visit_id.eq(visit.id)).select(visit_donations::donation_id);
    let mut query = donations::table.filter(donations::id.eq_any(added)).into_boxed();
    if let Some(participant) = visit.participant_id {
        query = query.or_filter(donations::participant_id.eq(participant));
    }
    query.order((donations::created_at.desc(), donations::id.desc())).select(donations::id).load(conn).await
}

/// Lets the visit act on `donation_id` and makes it the current donation.
pub async fn add_donation(conn: &mut AsyncPgConnection, visit: &Visit, donation_id: i32) -> QueryResult<()> {
    diesel::insert_into(visit_donations::table)
        .values((visit_donations::visit_id.eq(visit.id), visit_donations::donation_id.eq(donation_id)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    set_current(conn, visit, donation_id).await
}

/// Makes `donation_id` the donation the pages show (callers check [`holds`]).
pub async fn set_current(conn: &mut AsyncPgConnection, visit: &Visit, donation_id: i32) -> QueryResult<()> {
    diesel::update(visits::table.find(visit.id))
        .set(visits::current_donation.eq(donation_id))
        .execute(conn)
        .await
        .map(drop)
}

/// Records that a donation link was opened in this visit.
pub async fn mark_donation_link(conn: &mut AsyncPgConnection, visit: &Visit) -> QueryResult<()> {
    diesel::update(visits::table.find(visit.id)).set(visits::donation_link_used.eq(true)).execute(conn).await.map(drop)
}

/// The visit now knows `participant_id` (and so every donation of theirs).
pub async fn set_participant(conn: &mut AsyncPgConnection, visit: &Visit, participant_id: i64) -> QueryResult<()> {
    diesel::update(visits::table.find(visit.id))
        .set(visits::participant_id.eq(participant_id))
        .execute(conn)
        .await
        .map(drop)
}

/// Forgets the participant (and their token); donations opened by their own
/// link stay in the visit. The current donation is dropped unless it is one of those.
pub async fn forget_participant(conn: &mut AsyncPgConnection, visit: &Visit) -> QueryResult<()> {
    let keep: Option<i32> = match visit.current_donation {
        Some(current) => visit_donations::table
            .filter(visit_donations::visit_id.eq(visit.id))
            .filter(visit_donations::donation_id.eq(current))
            .select(visit_donations::donation_id)
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    diesel::update(visits::table.find(visit.id))
        .set((
            visits::participant_id.eq(None::<i64>),
            visits::participant_token_sealed.eq(None::<Vec<u8>>),
            visits::current_donation.eq(keep),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Keeps (or, with `None`, forgets) the sealed participant token the status
/// page shows once.
pub async fn set_participant_token(
    conn: &mut AsyncPgConnection,
    visit: &Visit,
    sealed: Option<Vec<u8>>,
) -> QueryResult<()> {
    diesel::update(visits::table.find(visit.id))
        .set(visits::participant_token_sealed.eq(sealed))
        .execute(conn)
        .await
        .map(drop)
}

/// Remembers the language the participant chose.
pub async fn set_language(conn: &mut AsyncPgConnection, visit: &Visit, language: &str) -> QueryResult<()> {
    diesel::update(visits::table.find(visit.id)).set(visits::language.eq(language)).execute(conn).await.map(drop)
}

/// Associated data of a participant token sealed in a visit: it cannot be
/// moved to another visit.
pub fn token_aad(visit_id: i64) -> Vec<u8> {
    format!("steward.visit.participant_token.v1\0{visit_id}").into_bytes()
}

/// Deletes visits past their absolute lifetime (they are never found again).
pub async fn delete_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(visits::table.filter(visits::absolute_expires_at.lt(diesel::dsl::now))).execute(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_among_others_and_set_with_the_spec_flags() {
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::COOKIE, "a=1; steward_visitor=x".parse().unwrap());
        headers.append(http::header::COOKIE, "b=2; steward_visit=abc_-9 ; c=3".parse().unwrap());
        assert_eq!(cookie_value(&headers).as_deref(), Some("abc_-9"));
        assert_eq!(cookie_value(&http::HeaderMap::new()), None);
        assert_eq!(set_cookie("v", true), "steward_visit=v; HttpOnly; SameSite=Lax; Path=/; Secure");
        assert_eq!(set_cookie("v", false), "steward_visit=v; HttpOnly; SameSite=Lax; Path=/");
    }

    #[test]
    fn secure_is_left_out_only_for_plain_http_loopback_outside_production() {
        assert!(!cookie_secure("http://127.0.0.1:8000", false));
        assert!(!cookie_secure("http://localhost", false));
        assert!(cookie_secure("http://127.0.0.1:8000", true));
        assert!(cookie_secure("http://127.0.0.1.example.org", false));
        assert!(cookie_secure("https://donate.example.org", false));
        assert!(cookie_secure("http://donate.example.org", false));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_visit_secret() {
        let visit = |secret: u8| Visit {
            id: 1,
            participant_id: None,
            current_donation: None,
            donation_link_used: false,
            participant_token_sealed: None,
            csrf_secret: vec![secret; 32],
            language: None,
            created_at: Utc::now(),
            absolute_expires_at: Utc::now(),
            last_seen_at: Utc::now(),
        };
        let token = visit(1).csrf_token();
        assert!(visit(1).csrf_ok(&token));
        assert!(!visit(2).csrf_ok(&token));
        assert!(!visit(1).csrf_ok(""));
        assert!(!visit(1).csrf_ok("not base64!"));
    }
}
