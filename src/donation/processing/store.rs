//! Storage of grants, exports and archive parts (tables of migration
//! `2026-11-23-000003_processing`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{archive_parts, provider_exports, provider_grants};

/// A `provider_grants` row (tokens still sealed).
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = provider_grants)]
pub struct GrantRow {
    pub id: i64,
    pub donation_id: i32,
    pub provider: String,
    pub access_token_sealed: Vec<u8>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_token_sealed: Option<Vec<u8>>,
    pub granted_resources: Vec<Option<String>>,
    pub access_type: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for GrantRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantRow")
            .field("id", &self.id)
            .field("donation_id", &self.donation_id)
            .field("provider", &self.provider)
            .field("access_expires_at", &self.access_expires_at)
            .field("granted_resources", &self.granted_resources)
            .field("released_at", &self.released_at)
            .finish_non_exhaustive()
    }
}

impl GrantRow {
    /// The granted resources.
    pub fn resources(&self) -> Vec<String> {
        self.granted_resources.iter().flatten().cloned().collect()
    }
}

/// The donation's grant, locked `FOR UPDATE` when `lock`.
pub async fn grant(conn: &mut AsyncPgConnection, donation_id: i32, lock: bool) -> QueryResult<Option<GrantRow>> {
    let query =
        provider_grants::table.filter(provider_grants::donation_id.eq(donation_id)).select(GrantRow::as_select());
    if lock { query.for_update().first(conn).await.optional() } else { query.first(conn).await.optional() }
}

/// A `provider_exports` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provider_exports)]
pub struct ExportRow {
    pub id: i64,
    pub donation_id: i32,
    pub resource: String,
    pub job_id: Option<String>,
    pub state: String,
    pub reason_code: Option<String>,
    pub retries: i32,
    pub polls: i32,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub deadline_at: Option<DateTime<Utc>>,
}

/// The donation's exports, by id.
pub async fn exports(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<Vec<ExportRow>> {
    provider_exports::table
        .filter(provider_exports::donation_id.eq(donation_id))
        .order(provider_exports::id)
        .select(ExportRow::as_select())
        .load(conn)
        .await
}

/// One export.
pub async fn export(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ExportRow>> {
    provider_exports::table.find(id).select(ExportRow::as_select()).first(conn).await.optional()
}

/// Creates the export rows of `resources` that do not exist yet.
pub async fn ensure_exports(conn: &mut AsyncPgConnection, donation_id: i32, resources: &[&str]) -> QueryResult<()> {
    let rows: Vec<_> = resources
        .iter()
        .map(|r| (provider_exports::donation_id.eq(donation_id), provider_exports::resource.eq(*r)))
        .collect();
    diesel::insert_into(provider_exports::table).values(rows).on_conflict_do_nothing().execute(conn).await.map(drop)
}

/// Records the provider's job id of a pending export, in its own statement;
/// false when another run recorded one first.
pub async fn record_job(
    conn: &mut AsyncPgConnection,
    export_id: i64,
    job_id: &str,
    next_poll_at: DateTime<Utc>,
    deadline_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(provider_exports::table.find(export_id).filter(provider_exports::job_id.is_null()))
        .set((
            provider_exports::job_id.eq(job_id),
            provider_exports::state.eq(super::state::EXPORT_IN_PROGRESS),
            provider_exports::polls.eq(0),
            provider_exports::next_poll_at.eq(next_poll_at),
            provider_exports::deadline_at.eq(deadline_at),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Ends an export in a terminal `state` with `reason`.
pub async fn end_export(
    conn: &mut AsyncPgConnection,
    export_id: i64,
    state: &str,
    reason: Option<&str>,
) -> QueryResult<()> {
    diesel::update(provider_exports::table.find(export_id))
        .set((
            provider_exports::state.eq(state),
            provider_exports::reason_code.eq(reason),
            provider_exports::next_poll_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Counts one poll and sets the next one.
pub async fn polled(conn: &mut AsyncPgConnection, export_id: i64, polls: i32, next: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(provider_exports::table.find(export_id))
        .set((provider_exports::polls.eq(polls), provider_exports::next_poll_at.eq(next)))
        .execute(conn)
        .await
        .map(drop)
}

/// Replaces a failed job by its `:retry` successor.
pub async fn retried(
    conn: &mut AsyncPgConnection,
    export_id: i64,
    job_id: &str,
    retries: i32,
    next: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(provider_exports::table.find(export_id))
        .set((
            provider_exports::job_id.eq(job_id),
            provider_exports::retries.eq(retries),
            provider_exports::polls.eq(0),
            provider_exports::next_poll_at.eq(next),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// In-progress exports whose next poll is due.
pub async fn due_exports(conn: &mut AsyncPgConnection, now: DateTime<Utc>, limit: i64) -> QueryResult<Vec<i64>> {
    provider_exports::table
        .filter(provider_exports::state.eq(super::state::EXPORT_IN_PROGRESS))
        .filter(provider_exports::next_poll_at.le(now))
        .order(provider_exports::next_poll_at)
        .limit(limit)
        .select(provider_exports::id)
        .load(conn)
        .await
}

/// One `archive_parts` row per URL of a completed export (part numbers in
/// the provider's order); a repeat inserts nothing.
pub async fn record_parts(conn: &mut AsyncPgConnection, export_id: i64, count: usize) -> QueryResult<()> {
    let rows: Vec<_> =
        (0..count).map(|n| (archive_parts::export_id.eq(export_id), archive_parts::part_no.eq(n as i32))).collect();
    diesel::insert_into(archive_parts::table).values(rows).on_conflict_do_nothing().execute(conn).await.map(drop)
}

/// A part as recorded: (export, part number, state).
pub async fn parts(conn: &mut AsyncPgConnection, export_id: i64) -> QueryResult<Vec<(i32, String)>> {
    archive_parts::table
        .filter(archive_parts::export_id.eq(export_id))
        .order(archive_parts::part_no)
        .select((archive_parts::part_no, archive_parts::state))
        .load(conn)
        .await
}

/// An `archive_parts` row with what a download needs of its export.
#[derive(Debug, Clone, Queryable)]
pub struct PartRow {
    pub id: i64,
    pub export_id: i64,
    pub part_no: i32,
    pub state: String,
    pub object_key: Option<String>,
    pub donation_id: i32,
    pub resource: String,
    pub job_id: Option<String>,
    pub export_state: String,
}

/// One part and its export.
pub async fn part(conn: &mut AsyncPgConnection, part_id: i64) -> QueryResult<Option<PartRow>> {
    archive_parts::table
        .inner_join(provider_exports::table)
        .filter(archive_parts::id.eq(part_id))
        .select((
            archive_parts::id,
            archive_parts::export_id,
            archive_parts::part_no,
            archive_parts::state,
            archive_parts::object_key,
            provider_exports::donation_id,
            provider_exports::resource,
            provider_exports::job_id,
            provider_exports::state,
        ))
        .first(conn)
        .await
        .optional()
}

/// The ids of an export's parts still waiting for their download.
pub async fn pending_parts(conn: &mut AsyncPgConnection, export_id: i64) -> QueryResult<Vec<i64>> {
    archive_parts::table
        .filter(archive_parts::export_id.eq(export_id))
        .filter(archive_parts::state.eq("pending"))
        .order(archive_parts::part_no)
        .select(archive_parts::id)
        .load(conn)
        .await
}

/// Commits a downloaded part in one statement: its object key, size and
/// digest, state `stored`. False when the part was no longer pending (another
/// run stored it first), so the caller's blob is an orphan.
pub async fn part_stored(
    conn: &mut AsyncPgConnection,
    part_id: i64,
    object_key: &str,
    bytes: u64,
    sha256: &[u8; 32],
) -> QueryResult<bool> {
    let n = diesel::update(archive_parts::table.find(part_id).filter(archive_parts::state.eq("pending")))
        .set((
            archive_parts::state.eq("stored"),
            archive_parts::object_key.eq(object_key),
            archive_parts::bytes.eq(i64::try_from(bytes).unwrap_or(i64::MAX)),
            archive_parts::sha256.eq(&sha256[..]),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Marks a part that will never be stored or parsed.
pub async fn part_failed(conn: &mut AsyncPgConnection, part_id: i64) -> QueryResult<()> {
    diesel::update(archive_parts::table.find(part_id))
        .set(archive_parts::state.eq("failed"))
        .execute(conn)
        .await
        .map(drop)
}

#[derive(QueryableByName)]
struct DonationId {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

/// Donations still `processing` with nothing left to export, download or
/// parse and no finalize queued or running: what only `finalize` can move on.
pub async fn unfinalized(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<i32>> {
    let rows: Vec<DonationId> = diesel::sql_query(
        "SELECT d.id FROM donations d \
         WHERE d.status = 'processing' \
           AND NOT EXISTS (SELECT 1 FROM provider_exports e \
                           WHERE e.donation_id = d.id AND e.state IN ('pending', 'in_progress')) \
           AND NOT EXISTS (SELECT 1 FROM archive_parts p JOIN provider_exports e ON e.id = p.export_id \
                           WHERE e.donation_id = d.id AND p.state IN ('pending', 'stored')) \
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dedup_key = 'finalize:' || d.id::text \
                           AND j.state <> 'failed') \
         ORDER BY d.id LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
