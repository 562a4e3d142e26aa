//! A user's own API tokens (spec §3.3, §4.3): `create_token`, the token list,
//! and the default long-lived token, which is *derived* from the keyring
//! (`HMAC(HKDF(key, info), "<user id>:<generation>")`) so it can be shown on
//! every call while the database holds only its hash. Each write is one
//! transaction with its audit row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::store::{self, NewToken, TokenRow};
use super::token;
use crate::crypto::Keyring;
use crate::dataset::audit::{self, Actor};
use crate::db::schema::{api_tokens, users};
use crate::error::{Error, Result};

/// HKDF `info` of the long-lived token key (spec §4.3); changing it changes every such token.
const LONG_LIVED_INFO: &[u8] = b"steward-long-lived-token-v1";
/// The description of a default long-lived token row (DSG's).
pub const LONG_LIVED_DESCRIPTION: &str = "Default long-lived API token";
/// The description `create_token` uses when the body names none.
pub const DEFAULT_DESCRIPTION: &str = "API token";

/// The long-lived token of `user_id` at `generation` under key `key_id`.
pub fn derive_long_lived(keyring: &Keyring, key_id: &str, user_id: i64, generation: i32) -> Result<String> {
    let key = keyring.derive_key(key_id, LONG_LIVED_INFO).map_err(Error::internal)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let tag = ring::hmac::sign(&key, format!("{user_id}:{generation}").as_bytes());
    Ok(token::hex(tag.as_ref()))
}

/// Mints an `api` token for a user (no expiry); returns the plain text, shown once.
pub async fn create_api_token(conn: &mut AsyncPgConnection, user_id: i64, description: &str) -> Result<String> {
    if description.len() > 1000 {
        return Err(Error::InvalidArgument("description must be at most 1000 characters".into()));
    }
    conn.transaction(async |conn| {
        let user = store::user_by_id(conn, user_id).await?.ok_or_else(|| Error::NotFound("User not found".into()))?;
        let (plain, hash) = token::generate();
        let id = insert(conn, &hash.0, "api", user_id, description, None).await?;
        let after = json!({"user": user.email, "description": description});
        audit::record(conn, Actor::User(user_id), "api_token_created", "APIKey", id, None, Some(after)).await?;
        Ok(plain)
    })
    .await
}

/// The user's live (not revoked, not expired) tokens, newest first.
pub async fn live_tokens(conn: &mut AsyncPgConnection, user_id: i64, now: DateTime<Utc>) -> Result<Vec<TokenRow>> {
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.is_null().or(api_tokens::expires_at.gt(now)))
        .select(TokenRow::as_select())
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .load(conn)
        .await?)
}

/// The user's default long-lived token, created on first call.
pub async fn long_lived_token(conn: &mut AsyncPgConnection, keyring: &Keyring, user_id: i64) -> Result<String> {
    conn.transaction(async |conn| {
        // Locking the user serialises concurrent first calls (one live row per user).
        let email = lock_user(conn, user_id).await?;
        let live: Option<(i64, Option<String>, Option<i32>)> = live_long_lived(conn, user_id).await?;
        match live {
            Some((_, Some(key_id), Some(generation))) if keyring.derive_key(&key_id, LONG_LIVED_INFO).is_ok() => {
                derive_long_lived(keyring, &key_id, user_id, generation)
            }
            // The row's key left the keyring: its token can never be shown again, so replace it.
            Some((id, _, _)) => {
                revoke(conn, id, user_id, &email, LONG_LIVED_DESCRIPTION).await?;
                mint_long_lived(conn, keyring, user_id, &email).await
            }
            None => mint_long_lived(conn, keyring, user_id, &email).await,
        }
    })
    .await
}

/// Revokes the default long-lived token (if any) and returns a new one, with
/// the revoked token's id (for evicting cached credentials).
pub async fn rotate_long_lived_token(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    user_id: i64,
) -> Result<(String, Option<i64>)> {
    conn.transaction(async |conn| {
        let email = lock_user(conn, user_id).await?;
        let revoked = match live_long_lived(conn, user_id).await? {
            Some((id, _, _)) => {
                revoke(conn, id, user_id, &email, LONG_LIVED_DESCRIPTION).await?;
                Some(id)
            }
            None => None,
        };
        Ok((mint_long_lived(conn, keyring, user_id, &email).await?, revoked))
    })
    .await
}

/// Revokes one of the user's own `api` or `long_lived` tokens (spec §5.6
/// `RevokeApiKey`). Someone else's id, a login token, or one already revoked is
/// "Token not found.", so ids of others' tokens cannot be probed.
pub async fn revoke_own_token(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> Result<()> {
    conn.transaction(async |conn| {
        let email = lock_user(conn, user_id).await?;
        let description: String = api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::kind.eq_any(["api", "long_lived"]))
            .filter(api_tokens::revoked_at.is_null())
            .select(api_tokens::description)
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::NotFound("Token not found.".into()))?;
        revoke(conn, id, user_id, &email, &description).await
    })
    .await
}

async fn lock_user(conn: &mut AsyncPgConnection, user_id: i64) -> Result<String> {
    users::table
        .find(user_id)
        .select(users::email)
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound("User not found".into()))
}

async fn live_long_lived(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Option<(i64, Option<String>, Option<i32>)>> {
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::kind.eq("long_lived"))
        .filter(api_tokens::revoked_at.is_null())
        .select((api_tokens::id, api_tokens::derivation_key_id, api_tokens::generation))
        .first(conn)
        .await
        .optional()?)
}

/// Bumps the user's generation (never decreases, so a revoked token is never
/// derived again) and stores the hash of the token it derives.
async fn mint_long_lived(conn: &mut AsyncPgConnection, keyring: &Keyring, user_id: i64, email: &str) -> Result<String> {
    let generation: i32 = diesel::update(users::table.find(user_id))
        .set(users::long_lived_generation.eq(users::long_lived_generation + 1))
        .returning(users::long_lived_generation)
        .get_result(conn)
        .await?;
    let key_id = keyring.current_key_id().to_owned();
    let plain = derive_long_lived(keyring, &key_id, user_id, generation)?;
    let hash = token::hash(&plain);
    let id = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::token_hash.eq(&hash.0[..]),
            api_tokens::kind.eq("long_lived"),
            api_tokens::user_id.eq(user_id),
            api_tokens::description.eq(LONG_LIVED_DESCRIPTION),
            api_tokens::derivation_key_id.eq(&key_id),
            api_tokens::generation.eq(generation),
        ))
        .returning(api_tokens::id)
        .get_result::<i64>(conn)
        .await?;
    let after = json!({"user": email, "description": LONG_LIVED_DESCRIPTION});
    audit::record(conn, Actor::User(user_id), "api_token_created", "APIKey", id, None, Some(after)).await?;
    Ok(plain)
}

async fn revoke(conn: &mut AsyncPgConnection, id: i64, user_id: i64, email: &str, description: &str) -> Result<()> {
    store::revoke_token(conn, id).await?;
    let before = json!({"user": email, "description": description});
    audit::record(conn, Actor::User(user_id), "api_token_revoked", "APIKey", id, Some(before), None).await?;
    // Every replica drops the cached credential.
    store::notify_auth_change(conn, &format!("token:{id}")).await?;
    Ok(())
}

async fn insert(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    kind: &str,
    user_id: i64,
    description: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<i64> {
    let new = NewToken {
        token_hash: hash,
        kind,
        user_id: Some(user_id),
        service_account_id: None,
        description,
        expires_at,
        created_by_user_id: None,
    };
    Ok(store::insert_token(conn, new).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lived_tokens_are_deterministic_per_user_and_generation() {
        let keyring = Keyring::generate();
        let k1 = keyring.current_key_id().to_owned();
        let k1 = k1.as_str();
        let a = derive_long_lived(&keyring, k1, 1, 1).unwrap();
        assert!(token::is_well_formed(&a), "{a}");
        assert_eq!(a, derive_long_lived(&keyring, k1, 1, 1).unwrap());
        assert_ne!(a, derive_long_lived(&keyring, k1, 2, 1).unwrap());
        assert_ne!(a, derive_long_lived(&keyring, k1, 1, 2).unwrap());
        // "1:12" and "11:2" must not collide: the separator keeps them apart.
        assert_ne!(derive_long_lived(&keyring, k1, 1, 12).unwrap(), derive_long_lived(&keyring, k1, 11, 2).unwrap());
        assert!(derive_long_lived(&keyring, "nope", 1, 1).is_err());
    }
}
