//! Sign-in's database work: used OAuth states, the user a sign-in names
//! (created or refreshed), and login tokens — one per browser, at most
//! `STEWARD_LOGIN_TOKENS_MAX` live per user, expired ones deleted (spec §3.5
//! step 2; DSG before `0c26c66` kept one per user). Token strings are random,
//! shown once in the cookie, and stored only as hashes (`crate::auth::token`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::oidc::Identity;
use crate::auth::store::{self, NewToken};
use crate::auth::token;
use crate::dataset::audit::{self, Actor};
use crate::db::schema::{api_tokens, signin_used_states, tos_acceptances, tos_documents, users};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// The description of login tokens (DSG's, kept for imported rows and lists).
pub const LOGIN_DESCRIPTION: &str = "OAuth login token";

/// Records `state_hash` as used until `expires_at`; `false` when it was
/// used before (a replayed callback). Forgets states past their expiry.
pub async fn consume_state(
    conn: &mut AsyncPgConnection,
    state_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::delete(signin_used_states::table.filter(signin_used_states::expires_at.lt(Utc::now())))
        .execute(conn)
        .await?;
    let inserted = diesel::insert_into(signin_used_states::table)
        .values((signin_used_states::state_hash.eq(state_hash), signin_used_states::expires_at.eq(expires_at)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The e-mail of the user owning `token` when it is known and not revoked
/// (expired is fine): the provider's `login_hint`.
pub async fn hint_for(conn: &mut AsyncPgConnection, token: &str) -> QueryResult<Option<String>> {
    if !token::is_well_formed(token) {
        return Ok(None);
    }
    let Some(row) = store::find_token(conn, &token::hash(token).0).await? else { return Ok(None) };
    match (row.revoked_at, row.user_id) {
        (None, Some(user_id)) => Ok(store::user_by_id(conn, user_id).await?.map(|u| u.email)),
        _ => Ok(None),
    }
}

/// What a completed sign-in produced.
#[derive(Debug)]
pub enum SignIn {
    /// A new login token; `revoked` lists the token ids this sign-in ended
    /// (the browser's previous token and those over the cap).
    Issued { user_id: i64, token: String, expires_at: DateTime<Utc>, revoked: Vec<i64> },
    /// The user is disabled: no token.
    Disabled,
}

/// Creates or refreshes the user `identity` (with its verified `email`)
/// names and issues a login token, in one transaction. `presented` is the
/// browser's current cookie, replaced when it is a login token of this user.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    identity: &Identity,
    email: &str,
    presented: Option<&str>,
    lifetime: chrono::Duration,
    max_tokens: usize,
) -> QueryResult<SignIn> {
    let identity = identity.clone();
    let (email, presented) = (email.to_owned(), presented.map(str::to_owned));
    conn.transaction(async move |conn| {
        let user_id = upsert_user(conn, &identity, &email).await?;
        let active: bool = users::table.find(user_id).select(users::is_active).first(conn).await?;
        if !active {
            return Ok(SignIn::Disabled);
        }
        let now = Utc::now();
        let mine = api_tokens::table.filter(api_tokens::user_id.eq(user_id)).filter(api_tokens::kind.eq("login"));
        diesel::delete(mine.filter(api_tokens::expires_at.le(now))).execute(conn).await?;

        let mut revoked = Vec::new();
        if let Some(presented) = presented.filter(|p| token::is_well_formed(p)) {
            let hash = token::hash(&presented);
            let same_browser: Option<i64> = mine
                .filter(api_tokens::token_hash.eq(&hash.0[..]))
                .filter(api_tokens::revoked_at.is_null())
                .select(api_tokens::id)
                .first(conn)
                .await
                .optional()?;
            if let Some(id) = same_browser {
                store::revoke_token(conn, id).await?;
                revoked.push(id);
            }
        }

        let (plain, hash) = token::generate();
        let expires_at = now + lifetime;
        store::insert_token(
            conn,
            NewToken {
                token_hash: &hash.0,
                kind: "login",
                user_id: Some(user_id),
                service_account_id: None,
                description: LOGIN_DESCRIPTION,
                expires_at: Some(expires_at),
                created_by_user_id: None,
            },
        )
        .await?;

        let live: Vec<i64> = mine
            .filter(api_tokens::revoked_at.is_null())
            .select(api_tokens::id)
            .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
            .load(conn)
            .await?;
        // Newest first: everything past the cap is the oldest.
        for &id in live.get(max_tokens..).unwrap_or_default() {
            store::revoke_token(conn, id).await?;
            revoked.push(id);
        }
        for id in &revoked {
            store::notify_auth_change(conn, &format!("token:{id}")).await?;
        }
        Ok(SignIn::Issued { user_id, token: plain, expires_at, revoked })
    })
    .await
}

/// The user with `email` (case-insensitively), created when new; its name,
/// picture and OIDC subject refreshed from the ID token. `display_name` is
/// only filled when empty, so a name set by SCIM or an admin stays.
async fn upsert_user(conn: &mut AsyncPgConnection, identity: &Identity, email: &str) -> QueryResult<i64> {
    let name = identity.name.clone().unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let existing: Option<(i64, String)> = users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select((users::id, users::display_name))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    // The subject moves to this account if another one held it (its e-mail changed at the provider).
    let holder =
        users::table.filter(users::oidc_issuer.eq(&identity.issuer)).filter(users::oidc_subject.eq(&identity.subject));
    match existing {
        Some((id, display_name)) => {
            diesel::update(holder.filter(users::id.ne(id)))
                .set((users::oidc_issuer.eq(None::<String>), users::oidc_subject.eq(None::<String>)))
                .execute(conn)
                .await?;
            let display_name = if display_name.is_empty() { name.clone() } else { display_name };
            diesel::update(users::table.find(id))
                .set((
                    users::name.eq(&name),
                    users::display_name.eq(&display_name),
                    users::oidc_issuer.eq(&identity.issuer),
                    users::oidc_subject.eq(&identity.subject),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            if let Some(picture) = &identity.picture {
                diesel::update(users::table.find(id)).set(users::picture_url.eq(picture)).execute(conn).await?;
            }
            // Cached principals and permission snapshots show the name.
            store::notify_auth_change(conn, &format!("user:{id}")).await?;
            Ok(id)
        }
        None => {
            diesel::update(holder)
                .set((users::oidc_issuer.eq(None::<String>), users::oidc_subject.eq(None::<String>)))
                .execute(conn)
                .await?;
            let id: i64 = diesel::insert_into(users::table)
                .values((
                    users::email.eq(email),
                    users::name.eq(&name),
                    users::display_name.eq(&name),
                    users::picture_url.eq(identity.picture.as_deref().unwrap_or_default()),
                    users::oidc_issuer.eq(&identity.issuer),
                    users::oidc_subject.eq(&identity.subject),
                ))
                .returning(users::id)
                .get_result(conn)
                .await?;
            let after = json!({"email": email, "name": name, "admin": false});
            audit::record(conn, Actor::System, "user_created", "User", id, None, Some(after)).await?;
            Ok(id)
        }
    }
}

/// Whether TOS document `tos_id` exists and `user_id` has not accepted it.
pub async fn tos_unaccepted(conn: &mut AsyncPgConnection, user_id: i64, tos_id: i64) -> QueryResult<bool> {
    let exists: i64 = tos_documents::table.filter(tos_documents::id.eq(tos_id)).count().get_result(conn).await?;
    let accepted: i64 = tos_acceptances::table
        .filter(tos_acceptances::user_id.eq(user_id))
        .filter(tos_acceptances::tos_document_id.eq(tos_id))
        .count()
        .get_result(conn)
        .await?;
    Ok(exists == 1 && accepted == 0)
}

/// Revokes those of `tokens` that are live login tokens (logout never ends
/// API or long-lived tokens); returns the revoked ids.
pub async fn revoke_login_tokens(conn: &mut AsyncPgConnection, tokens: &[String]) -> QueryResult<Vec<i64>> {
    let hashes: Vec<Vec<u8>> =
        tokens.iter().filter(|t| token::is_well_formed(t)).map(|t| token::hash(t).0.to_vec()).collect();
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    conn.transaction(async move |conn| {
        let ids: Vec<i64> = diesel::update(
            api_tokens::table
                .filter(api_tokens::token_hash.eq_any(&hashes))
                .filter(api_tokens::kind.eq("login"))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(Some(Utc::now())))
        .returning(api_tokens::id)
        .get_results(conn)
        .await?;
        for id in &ids {
            store::notify_auth_change(conn, &format!("token:{id}")).await?;
        }
        Ok(ids)
    })
    .await
}
