//! The sandbox providers' rows (`sandbox_*` tables, spec §6.1): grants with
//! their bound scenario and failure counters, authorization codes, tokens,
//! archive jobs, part sizes and the call log. Codes and tokens are looked up
//! by SHA-256, as a real provider would keep them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{sandbox_calls, sandbox_codes, sandbox_grants, sandbox_jobs, sandbox_parts, sandbox_tokens};

/// One consent decision.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sandbox_grants)]
pub struct Grant {
    pub id: i64,
    pub provider: String,
    pub client_id: String,
    /// The bound scenario in its query syntax.
    pub scenario: String,
    pub scopes: Vec<Option<String>>,
    pub api_calls: i32,
    pub downloads: i32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Grant {
    /// Whether the grant includes `scope` (a Google resource group).
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().flatten().any(|s| s == scope)
    }

    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().flatten().map(String::as_str)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sandbox_grants)]
pub struct NewGrant<'a> {
    pub provider: &'a str,
    pub client_id: &'a str,
    pub scenario: &'a str,
    pub scopes: Vec<&'a str>,
}

/// An authorization code.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sandbox_codes)]
pub struct Code {
    pub code_hash: Vec<u8>,
    pub grant_id: i64,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sandbox_codes)]
pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub grant_id: i64,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// An archive job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sandbox_jobs)]
pub struct Job {
    pub id: String,
    pub grant_id: i64,
    pub resources: Vec<Option<String>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub generation: i32,
    pub state: String,
    pub polls: i32,
    pub created_at: DateTime<Utc>,
}

impl Job {
    pub fn resources(&self) -> Vec<&str> {
        self.resources.iter().flatten().map(String::as_str).collect()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sandbox_jobs)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub grant_id: i64,
    pub resources: Vec<&'a str>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub generation: i32,
}

/// One call-log entry, secrets already redacted.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sandbox_calls)]
pub struct Call {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub provider: String,
    pub method: String,
    pub path: String,
    pub query: Option<serde_json::Value>,
    pub body: Option<serde_json::Value>,
    pub auth_header: Option<String>,
    pub status: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sandbox_calls)]
pub struct NewCall<'a> {
    pub provider: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<serde_json::Value>,
    pub body: Option<serde_json::Value>,
    pub auth_header: Option<&'a str>,
    pub status: i32,
}

/// Records a consent decision and its authorization code (`code.grant_id`
/// is filled in) in one transaction.
pub async fn create_grant_with_code(
    conn: &mut AsyncPgConnection,
    grant: &NewGrant<'_>,
    code: NewCode<'_>,
) -> QueryResult<i64> {
    conn.transaction(async |conn| {
        let id: i64 = diesel::insert_into(sandbox_grants::table)
            .values(grant)
            .returning(sandbox_grants::id)
            .get_result(conn)
            .await?;
        diesel::insert_into(sandbox_codes::table).values(&NewCode { grant_id: id, ..code }).execute(conn).await?;
        Ok(id)
    })
    .await
}

pub async fn grant(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Grant> {
    sandbox_grants::table.find(id).select(Grant::as_select()).first(conn).await
}

/// The code with this hash and its grant, used or not.
pub async fn find_code(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<(Code, Grant)>> {
    sandbox_codes::table
        .inner_join(sandbox_grants::table)
        .filter(sandbox_codes::code_hash.eq(hash))
        .select((Code::as_select(), Grant::as_select()))
        .first(conn)
        .await
        .optional()
}

/// Marks the code used, once: false when it was used or expired meanwhile.
pub async fn consume_code(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<bool> {
    let now = diesel::dsl::now;
    diesel::update(
        sandbox_codes::table
            .filter(sandbox_codes::code_hash.eq(hash))
            .filter(sandbox_codes::used_at.is_null())
            .filter(sandbox_codes::expires_at.gt(now)),
    )
    .set(sandbox_codes::used_at.eq(now))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

pub async fn create_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    grant_id: i64,
    kind: TokenKind,
    expires_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::insert_into(sandbox_tokens::table)
        .values((
            sandbox_tokens::token_hash.eq(hash),
            sandbox_tokens::grant_id.eq(grant_id),
            sandbox_tokens::kind.eq(kind.as_str()),
            sandbox_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The grant of a live token of `kind`: not expired, its grant not revoked.
pub async fn token_grant(conn: &mut AsyncPgConnection, hash: &[u8], kind: TokenKind) -> QueryResult<Option<Grant>> {
    sandbox_tokens::table
        .inner_join(sandbox_grants::table)
        .filter(sandbox_tokens::token_hash.eq(hash))
        .filter(sandbox_tokens::kind.eq(kind.as_str()))
        .filter(sandbox_tokens::expires_at.is_null().or(sandbox_tokens::expires_at.gt(diesel::dsl::now)))
        .filter(sandbox_grants::revoked_at.is_null())
        .select(Grant::as_select())
        .first(conn)
        .await
        .optional()
}

/// Removes a token of `kind`, once: false when it was gone already. TikTok
/// rotates refresh tokens: the one a refresh used never works again, and of
/// two refreshes racing with it only one wins.
pub async fn delete_token(conn: &mut AsyncPgConnection, hash: &[u8], kind: TokenKind) -> QueryResult<bool> {
    diesel::delete(
        sandbox_tokens::table
            .filter(sandbox_tokens::token_hash.eq(hash))
            .filter(sandbox_tokens::kind.eq(kind.as_str())),
    )
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Counts one API call of the grant; returns its number (1 for the first).
pub async fn count_api_call(conn: &mut AsyncPgConnection, grant_id: i64) -> QueryResult<i32> {
    diesel::update(sandbox_grants::table.find(grant_id))
        .set(sandbox_grants::api_calls.eq(sandbox_grants::api_calls + 1))
        .returning(sandbox_grants::api_calls)
        .get_result(conn)
        .await
}

/// Counts one download of the grant's archives; returns its number.
pub async fn count_download(conn: &mut AsyncPgConnection, grant_id: i64) -> QueryResult<i32> {
    diesel::update(sandbox_grants::table.find(grant_id))
        .set(sandbox_grants::downloads.eq(sandbox_grants::downloads + 1))
        .returning(sandbox_grants::downloads)
        .get_result(conn)
        .await
}

/// Kills every token of the grant.
pub async fn revoke_grant(conn: &mut AsyncPgConnection, grant_id: i64) -> QueryResult<()> {
    diesel::update(sandbox_grants::table.find(grant_id).filter(sandbox_grants::revoked_at.is_null()))
        .set(sandbox_grants::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn has_jobs(conn: &mut AsyncPgConnection, grant_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(sandbox_jobs::table.filter(sandbox_jobs::grant_id.eq(grant_id))))
        .get_result(conn)
        .await
}

/// Why an initiate is refused as a repeat (spec §4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// A one-time grant already exported one of the groups.
    Exhausted,
    /// A time-based grant exported one of the groups less than 24 hours ago.
    TooSoon,
}

/// Creates an initiated job unless it repeats an earlier initiate of the
/// grant for one of its groups; the grant row is locked meanwhile, so two
/// concurrent calls cannot both pass. `one_time` selects the repeat rule.
pub async fn initiate_job(
    conn: &mut AsyncPgConnection,
    job: &NewJob<'_>,
    one_time: bool,
) -> QueryResult<Result<Job, Repeat>> {
    conn.transaction(async |conn| {
        sandbox_grants::table.find(job.grant_id).select(sandbox_grants::id).for_update().first::<i64>(conn).await?;
        let earlier: Vec<DateTime<Utc>> = sandbox_jobs::table
            .filter(sandbox_jobs::grant_id.eq(job.grant_id))
            .filter(sandbox_jobs::generation.eq(0))
            .filter(sandbox_jobs::resources.overlaps_with(&job.resources))
            .select(sandbox_jobs::created_at)
            .load(conn)
            .await?;
        let day_ago = Utc::now() - chrono::Duration::hours(24);
        if one_time && !earlier.is_empty() {
            return Ok(Err(Repeat::Exhausted));
        }
        if earlier.iter().any(|t| *t > day_ago) {
            return Ok(Err(Repeat::TooSoon));
        }
        insert_job(conn, job).await.map(Ok)
    })
    .await
}

/// Creates a TikTok data request (kept as a job whose id is the request
/// id) unless `single` and the grant already made one: `.single` scopes allow
/// one Add per grant. The grant row is locked meanwhile, so two concurrent
/// Adds cannot both pass.
pub async fn add_request(conn: &mut AsyncPgConnection, job: &NewJob<'_>, single: bool) -> QueryResult<Option<Job>> {
    conn.transaction(async |conn| {
        sandbox_grants::table.find(job.grant_id).select(sandbox_grants::id).for_update().first::<i64>(conn).await?;
        if single && has_jobs(conn, job.grant_id).await? {
            return Ok(None);
        }
        insert_job(conn, job).await.map(Some)
    })
    .await
}

pub async fn insert_job(conn: &mut AsyncPgConnection, job: &NewJob<'_>) -> QueryResult<Job> {
    diesel::insert_into(sandbox_jobs::table).values(job).returning(Job::as_returning()).get_result(conn).await
}

/// The job and its grant.
pub async fn find_job(conn: &mut AsyncPgConnection, id: &str) -> QueryResult<Option<(Job, Grant)>> {
    sandbox_jobs::table
        .inner_join(sandbox_grants::table)
        .filter(sandbox_jobs::id.eq(id))
        .select((Job::as_select(), Grant::as_select()))
        .first(conn)
        .await
        .optional()
}

/// Counts a state poll; returns the job as it now stands.
pub async fn count_poll(conn: &mut AsyncPgConnection, id: &str) -> QueryResult<Job> {
    diesel::update(sandbox_jobs::table.find(id))
        .set(sandbox_jobs::polls.eq(sandbox_jobs::polls + 1))
        .returning(Job::as_returning())
        .get_result(conn)
        .await
}

/// Moves the job from `from` to `to`; false when it was not in `from`.
pub async fn transition_job(conn: &mut AsyncPgConnection, id: &str, from: &str, to: &str) -> QueryResult<bool> {
    diesel::update(sandbox_jobs::table.find(id).filter(sandbox_jobs::state.eq(from)))
        .set(sandbox_jobs::state.eq(to))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

pub async fn part_size(conn: &mut AsyncPgConnection, job_id: &str, part: i32) -> QueryResult<Option<i64>> {
    sandbox_parts::table.find((job_id, part)).select(sandbox_parts::bytes).first(conn).await.optional()
}

pub async fn record_part_size(conn: &mut AsyncPgConnection, job_id: &str, part: i32, bytes: i64) -> QueryResult<()> {
    diesel::insert_into(sandbox_parts::table)
        .values((sandbox_parts::job_id.eq(job_id), sandbox_parts::part.eq(part), sandbox_parts::bytes.eq(bytes)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

pub async fn record_call(conn: &mut AsyncPgConnection, call: &NewCall<'_>) -> QueryResult<()> {
    diesel::insert_into(sandbox_calls::table).values(call).execute(conn).await.map(drop)
}

/// Calls after `since`, oldest first, at most `limit`.
pub async fn calls_since(conn: &mut AsyncPgConnection, since: i64, limit: i64) -> QueryResult<Vec<Call>> {
    sandbox_calls::table
        .filter(sandbox_calls::seq.gt(since))
        .order(sandbox_calls::seq)
        .limit(limit)
        .select(Call::as_select())
        .load(conn)
        .await
}

/// Forgets everything the sandbox issued and was asked.
pub async fn reset(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "TRUNCATE sandbox_calls, sandbox_parts, sandbox_jobs, sandbox_tokens, sandbox_codes, sandbox_grants \
         RESTART IDENTITY",
    )
    .execute(conn)
    .await
    .map(drop)
}
