//! Participant identity (spec §3.5): a pseudonymous participant known only
//! by the SHA-256 of the token in their participant link
//! (`<public>/participant/<token>/`). The raw token is returned once, when
//! it is created; nothing about the person is stored.

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{donations, participants};

/// Creates a participant with a fresh token: 32 random bytes, base64url
/// without padding, stored only as its SHA-256. Returns the id and the raw
/// token (show it once).
pub async fn create(conn: &mut AsyncPgConnection) -> QueryResult<(i64, String)> {
    let (token, hash) = new_token();
    let id = diesel::insert_into(participants::table)
        .values(participants::token_hash.eq(&hash[..]))
        .returning(participants::id)
        .get_result(conn)
        .await?;
    Ok((id, token))
}

/// The participant whose token `given` is: a full participant link
/// (`https://host/participant/<token>/`, with or without the trailing slash)
/// or the bare token, surrounding spaces ignored. `None` for anything else,
/// including well-formed tokens nobody holds.
pub async fn find_by_token(conn: &mut AsyncPgConnection, given: &str) -> QueryResult<Option<i64>> {
    let Some(token) = token_of(given) else {
        return Ok(None);
    };
    let hash = crate::auth::token::hash(token).0;
    participants::table
        .filter(participants::token_hash.eq(&hash[..]))
        .select(participants::id)
        .first(conn)
        .await
        .optional()
}

/// Links `donation_id` to `participant_id` (moving it from any earlier
/// participant). Returns whether the donation exists.
pub async fn link(conn: &mut AsyncPgConnection, donation_id: i32, participant_id: i64) -> QueryResult<bool> {
    let n = diesel::update(donations::table.find(donation_id))
        .set(donations::participant_id.eq(participant_id))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The participant's donations, newest first.
pub async fn donations_of(conn: &mut AsyncPgConnection, participant_id: i64) -> QueryResult<Vec<i32>> {
    donations::table
        .filter(donations::participant_id.eq(participant_id))
        .order((donations::created_at.desc(), donations::id.desc()))
        .select(donations::id)
        .load(conn)
        .await
}

/// "Create a new participant link" (spec §3.5): a new participant that takes
/// over this donation only; the previous participant keeps its other
/// donations. Returns the new raw token (show it once), or `NotFound` when
/// the donation does not exist.
pub async fn new_link_for_donation(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<String> {
    conn.transaction(async |conn| {
        let (participant_id, token) = create(conn).await?;
        if !link(conn, donation_id, participant_id).await? {
            return Err(diesel::result::Error::NotFound);
        }
        Ok(token)
    })
    .await
}

/// The participant link of `token`: `<public_url>/participant/<token>/`.
pub fn participant_url(public_url: &str, token: &str) -> String {
    format!("{}/participant/{token}/", public_url.trim_end_matches('/'))
}

/// The token inside a pasted link or bare token, if it looks like one.
fn token_of(given: &str) -> Option<&str> {
    let given = given.trim();
    let given = given.split(['?', '#']).next().unwrap_or_default();
    let token = match given.rfind("/participant/") {
        Some(at) => given[at + "/participant/".len()..].trim_end_matches('/'),
        None => given,
    };
    let well_formed =
        (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(token)
}

fn new_token() -> (String, [u8; 32]) {
    let (token, hash) = crate::auth::token::generate_url_safe();
    (token, hash.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_link_or_bare_token_gives_the_token() {
        let t = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
        assert_eq!(token_of(t), Some(t));
        assert_eq!(token_of(&format!("  {t}\n")), Some(t));
        assert_eq!(token_of(&format!("https://donate.example.org/participant/{t}/")), Some(t));
        assert_eq!(token_of(&format!("https://donate.example.org/participant/{t}")), Some(t));
        assert_eq!(token_of(&format!("http://127.0.0.1:8000/participant/{t}/?utm=x")), Some(t));
        assert_eq!(token_of(""), None);
        assert_eq!(token_of("https://donate.example.org/participant/"), None);
        assert_eq!(token_of("not a token"), None);
        assert_eq!(token_of("short"), None);
    }

    #[test]
    fn tokens_are_43_characters_and_links_are_absolute() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 43);
        assert_eq!(hash, crate::auth::token::hash(&token).0);
        assert_ne!(new_token().0, token);
        assert_eq!(participant_url("https://d.example.org/", "abc"), "https://d.example.org/participant/abc/");
        assert_eq!(participant_url("http://127.0.0.1:8000", "abc"), "http://127.0.0.1:8000/participant/abc/");
    }
}
