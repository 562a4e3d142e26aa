//! The upload tables (migration `2026-11-28-000001_upload`): drop-offs,
//! files with their writer lease, and failed code checks. Rules live in `ops`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _};
use uuid::Uuid;

use crate::db::schema::{datasets, upload_code_failures, upload_dropoffs, upload_files, users};

/// A drop-off as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = upload_dropoffs, check_for_backend(diesel::pg::Pg))]
pub struct DropOffRow {
    pub id: Uuid,
    pub owner_user_id: i64,
    pub dataset_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub recipient_emails: Vec<Option<String>>,
    pub max_file_bytes: i64,
    pub max_total_bytes: i64,
    pub allowed_types: Vec<Option<String>>,
    pub expire_time: DateTime<Utc>,
    pub code_hash: Vec<u8>,
    pub closed_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DropOffRow {
    /// The recipient addresses.
    pub fn recipients(&self) -> Vec<String> {
        self.recipient_emails.iter().flatten().cloned().collect()
    }

    /// The allowed-type entries.
    pub fn allowed(&self) -> Vec<String> {
        self.allowed_types.iter().flatten().cloned().collect()
    }
}

/// A drop-off with what its listing shows beside the row.
#[derive(Debug, Clone)]
pub struct DropOffView {
    pub row: DropOffRow,
    pub owner_email: String,
    pub dataset: Option<String>,
    pub used_bytes: i64,
    pub file_count: i64,
    pub notifications: super::notify::Summary,
}

/// A file (or upload in progress) as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = upload_files, check_for_backend(diesel::pg::Pg))]
pub struct FileRow {
    pub id: Uuid,
    pub dropoff_id: Uuid,
    pub name: String,
    pub relative_path: String,
    pub size: Option<i64>,
    pub committed_offset: i64,
    pub content_type: String,
    pub metadata: serde_json::Value,
    pub protocol: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub sha256: Option<String>,
    pub expected_sha256: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub key_id: String,
    pub request_id: Option<String>,
    pub writer_id: Option<String>,
    pub writer_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_write_at: DateTime<Utc>,
    pub expire_time: DateTime<Utc>,
    pub complete_time: Option<DateTime<Utc>>,
}

/// A new drop-off.
#[derive(Debug, Insertable)]
#[diesel(table_name = upload_dropoffs)]
pub struct NewDropOff {
    pub id: Uuid,
    pub owner_user_id: i64,
    pub dataset_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub recipient_emails: Vec<Option<String>>,
    pub max_file_bytes: i64,
    pub max_total_bytes: i64,
    pub allowed_types: Vec<Option<String>>,
    pub expire_time: DateTime<Utc>,
    pub code_hash: Vec<u8>,
}

/// A new file row.
#[derive(Debug, Insertable)]
#[diesel(table_name = upload_files)]
pub struct NewFile {
    pub id: Uuid,
    pub dropoff_id: Uuid,
    pub name: String,
    pub relative_path: String,
    pub size: Option<i64>,
    pub content_type: String,
    pub metadata: serde_json::Value,
    pub protocol: String,
    pub expected_sha256: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub key_id: String,
    pub request_id: Option<String>,
    pub expire_time: DateTime<Utc>,
}

/// File statuses whose bytes count against the drop-off's total.
pub const COUNTED: [&str; 4] = ["uploading", "processing", "available", "external"];

pub async fn insert_dropoff(conn: &mut AsyncPgConnection, new: &NewDropOff) -> QueryResult<DropOffRow> {
    diesel::insert_into(upload_dropoffs::table).values(new).returning(DropOffRow::as_returning()).get_result(conn).await
}

/// A drop-off that is not deleted.
pub async fn dropoff(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<DropOffRow>> {
    upload_dropoffs::table
        .find(id)
        .filter(upload_dropoffs::deleted_at.is_null())
        .select(DropOffRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// [`dropoff`], locked for the rest of the transaction (quota checks).
pub async fn dropoff_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<DropOffRow>> {
    upload_dropoffs::table
        .find(id)
        .filter(upload_dropoffs::deleted_at.is_null())
        .select(DropOffRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Bytes counted against a drop-off's total, and how many files count.
pub async fn usage(conn: &mut AsyncPgConnection, dropoff_id: Uuid) -> QueryResult<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Usage {
        #[diesel(sql_type = BigInt)]
        bytes: i64,
        #[diesel(sql_type = BigInt)]
        files: i64,
    }
    let usage: Usage = diesel::sql_query(
        "SELECT coalesce(sum(coalesce(size, committed_offset)), 0)::int8 AS bytes, count(*) AS files
         FROM upload_files WHERE dropoff_id = $1 AND status = ANY($2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff_id)
    .bind::<diesel::sql_types::Array<Text>, _>(COUNTED.to_vec())
    .get_result(conn)
    .await?;
    Ok((usage.bytes, usage.files))
}

/// The owner's e-mail and the dataset's name of a drop-off.
pub async fn names(conn: &mut AsyncPgConnection, row: &DropOffRow) -> QueryResult<(String, Option<String>)> {
    let email = users::table.find(row.owner_user_id).select(users::email).first(conn).await?;
    let dataset = match row.dataset_id {
        Some(id) => Some(datasets::table.find(id).select(datasets::name).first(conn).await?),
        None => None,
    };
    Ok((email, dataset))
}

/// The drop-off with its owner, dataset and usage.
pub async fn view(conn: &mut AsyncPgConnection, row: DropOffRow) -> QueryResult<DropOffView> {
    let (owner_email, dataset) = names(conn, &row).await?;
    let (used_bytes, file_count) = usage(conn, row.id).await?;
    let notifications = super::notify::summary(conn, row.id).await?;
    Ok(DropOffView { row, owner_email, dataset, used_bytes, file_count, notifications })
}

/// A dataset's id by name.
pub async fn dataset_id(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<i64>> {
    datasets::table.filter(datasets::name.eq(name)).select(datasets::id).first(conn).await.optional()
}

/// Drop-offs (not deleted) owned by `owner` or bound to one of `datasets`
/// (every drop-off when both are `None`), newest first, after `before`.
pub async fn list_dropoffs(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    datasets: Option<&[i64]>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<DropOffRow>> {
    let mut query = upload_dropoffs::table
        .filter(upload_dropoffs::deleted_at.is_null())
        .select(DropOffRow::as_select())
        .order((upload_dropoffs::created_at.desc(), upload_dropoffs::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(owner) = owner {
        let datasets = datasets.unwrap_or(&[]).to_vec();
        query = query.filter(
            upload_dropoffs::owner_user_id
                .eq(owner)
                .or(upload_dropoffs::dataset_id.nullable().eq_any(datasets.into_iter().map(Some).collect::<Vec<_>>())),
        );
    }
    if let Some((created, id)) = before {
        query = query.filter(
            upload_dropoffs::created_at
                .lt(created)
                .or(upload_dropoffs::created_at.eq(created).and(upload_dropoffs::id.lt(id))),
        );
    }
    query.load(conn).await
}

pub async fn insert_file(conn: &mut AsyncPgConnection, new: &NewFile) -> QueryResult<FileRow> {
    diesel::insert_into(upload_files::table).values(new).returning(FileRow::as_returning()).get_result(conn).await
}

pub async fn file(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<FileRow>> {
    upload_files::table.find(id).select(FileRow::as_select()).first(conn).await.optional()
}

pub async fn file_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<FileRow>> {
    upload_files::table.find(id).select(FileRow::as_select()).for_no_key_update().first(conn).await.optional()
}

pub async fn file_by_request(
    conn: &mut AsyncPgConnection,
    dropoff_id: Uuid,
    request_id: &str,
) -> QueryResult<Option<FileRow>> {
    upload_files::table
        .filter(upload_files::dropoff_id.eq(dropoff_id).and(upload_files::request_id.eq(request_id)))
        .select(FileRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A drop-off's files, newest first, after `before`, optionally of one status.
pub async fn list_files(
    conn: &mut AsyncPgConnection,
    dropoff_id: Uuid,
    status: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<FileRow>> {
    let mut query = upload_files::table
        .filter(upload_files::dropoff_id.eq(dropoff_id))
        .select(FileRow::as_select())
        .order((upload_files::created_at.desc(), upload_files::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(upload_files::status.eq(status.to_owned()));
    }
    if let Some((created, id)) = before {
        query = query.filter(
            upload_files::created_at.lt(created).or(upload_files::created_at.eq(created).and(upload_files::id.lt(id))),
        );
    }
    query.load(conn).await
}

/// Takes the writer lease of an uploading file for `writer` when it is free,
/// already ours, or stale; `None` when another writer holds it.
pub async fn take_lease(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    writer: &str,
    stale_after: Duration,
) -> QueryResult<Option<FileRow>> {
    let stale: DateTime<Utc> = Utc::now() - chrono::Duration::from_std(stale_after).unwrap_or_default();
    let writer = writer.to_owned();
    conn.transaction(async move |conn| {
        conn.batch_execute(RELAXED).await?;
        diesel::update(upload_files::table.find(id))
            .filter(upload_files::status.eq("uploading"))
            .filter(
                upload_files::writer_id
                    .is_null()
                    .or(upload_files::writer_id.eq(&writer))
                    .or(upload_files::writer_seen_at.lt(stale)),
            )
            .set((upload_files::writer_id.eq(&writer), upload_files::writer_seen_at.eq(Utc::now())))
            .returning(FileRow::as_returning())
            .get_result(conn)
            .await
            .optional()
    })
    .await
}

/// Records `offset` as committed by the lease holder `writer` (refreshing the
/// lease, or giving it up with `release`, and sliding the expiry); `None`
/// when the lease was lost.
pub async fn commit_offset(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    writer: &str,
    commit: Commit,
) -> QueryResult<Option<FileRow>> {
    let now = Utc::now();
    let (holder, seen) = if commit.release { (None, None) } else { (Some(writer), Some(now)) };
    diesel::update(upload_files::table.find(id))
        .filter(upload_files::writer_id.eq(writer).and(upload_files::status.eq("uploading")))
        .set((
            upload_files::committed_offset.eq(commit.offset),
            upload_files::size.eq(commit.size),
            upload_files::last_write_at.eq(now),
            upload_files::writer_id.eq(holder),
            upload_files::writer_seen_at.eq(seen),
            upload_files::expire_time.eq(commit.expire_time),
        ))
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// What [`commit_offset`] records.
#[derive(Debug, Clone, Copy)]
pub struct Commit {
    pub offset: i64,
    pub size: Option<i64>,
    pub expire_time: DateTime<Utc>,
    /// The request is done: give up the lease in the same statement.
    pub release: bool,
}

/// Gives up the lease if `writer` holds it.
pub async fn release_lease(conn: &mut AsyncPgConnection, id: Uuid, writer: &str) -> QueryResult<()> {
    let writer = writer.to_owned();
    conn.transaction(async move |conn| {
        conn.batch_execute(RELAXED).await?;
        diesel::update(upload_files::table.find(id))
            .filter(upload_files::writer_id.eq(&writer))
            .set((upload_files::writer_id.eq(None::<String>), upload_files::writer_seen_at.eq(None::<DateTime<Utc>>)))
            .execute(conn)
            .await
    })
    .await?;
    Ok(())
}

/// Makes the lease's transactions not wait for their WAL to reach the disk:
/// losing the lease's last change in a database crash leaves at worst a lease
/// that goes stale, while a durable commit would cost a WAL flush twice per
/// WriteChunk.
const RELAXED: &str = "SET LOCAL synchronous_commit TO OFF";

/// Moves an uploading file to `processing` with the digest to check.
pub async fn mark_processing(conn: &mut AsyncPgConnection, id: Uuid, expected: Option<&str>) -> QueryResult<bool> {
    let updated = diesel::update(upload_files::table.find(id))
        .filter(upload_files::status.eq("uploading"))
        .set((
            upload_files::status.eq("processing"),
            upload_files::expected_sha256.eq(expected),
            upload_files::writer_id.eq(None::<String>),
            upload_files::writer_seen_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Sets a file's status from one of `from`; `false` when it was in none of them.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    from: &[&str],
    to: &str,
    failure_reason: Option<&str>,
) -> QueryResult<bool> {
    let erase_key = matches!(to, "deleted" | "failed" | "expired" | "terminated");
    let query = diesel::update(upload_files::table.find(id))
        .filter(upload_files::status.eq_any(from.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()));
    let updated = if erase_key {
        query
            .set((
                upload_files::status.eq(to),
                upload_files::failure_reason.eq(failure_reason),
                upload_files::wrapped_key.eq(None::<Vec<u8>>),
                upload_files::writer_id.eq(None::<String>),
            ))
            .execute(conn)
            .await?
    } else {
        query.set((upload_files::status.eq(to), upload_files::failure_reason.eq(failure_reason))).execute(conn).await?
    };
    Ok(updated == 1)
}

/// Marks a processing file available with its digest.
pub async fn mark_available(conn: &mut AsyncPgConnection, id: Uuid, sha256: &str) -> QueryResult<bool> {
    let updated = diesel::update(upload_files::table.find(id))
        .filter(upload_files::status.eq("processing"))
        .set((
            upload_files::status.eq("available"),
            upload_files::sha256.eq(sha256),
            upload_files::complete_time.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Counts a failed code check and says whether the pair or the drop-off is
/// now over its limit: failures of (drop-off, address) in the last
/// `pair_window`, and of the drop-off in the last `dropoff_window`.
pub async fn code_failures(
    conn: &mut AsyncPgConnection,
    dropoff_id: Uuid,
    client_addr: &str,
    pair_window: Duration,
    dropoff_window: Duration,
) -> QueryResult<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        pair: i64,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let now = Utc::now();
    let pair_since = now - chrono::Duration::from_std(pair_window).unwrap_or_default();
    let total_since = now - chrono::Duration::from_std(dropoff_window).unwrap_or_default();
    let counts: Counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE client_addr = $2 AND failed_at >= $3) AS pair,
                count(*) FILTER (WHERE failed_at >= $4) AS total
         FROM upload_code_failures WHERE dropoff_id = $1 AND failed_at >= least($3, $4)",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff_id)
    .bind::<Text, _>(client_addr)
    .bind::<Timestamptz, _>(pair_since)
    .bind::<Timestamptz, _>(total_since)
    .get_result(conn)
    .await?;
    Ok((counts.pair, counts.total))
}

pub async fn record_code_failure(conn: &mut AsyncPgConnection, dropoff_id: Uuid, client_addr: &str) -> QueryResult<()> {
    diesel::insert_into(upload_code_failures::table)
        .values((upload_code_failures::dropoff_id.eq(dropoff_id), upload_code_failures::client_addr.eq(client_addr)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Uploading files whose expiry has passed.
pub async fn expired_uploads(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Uuid>> {
    upload_files::table
        .filter(upload_files::status.eq("uploading").and(upload_files::expire_time.lt(Utc::now())))
        .select(upload_files::id)
        .limit(limit)
        .load(conn)
        .await
}

/// Which of `ids` are files in one of `statuses`.
pub async fn ids_in_status(conn: &mut AsyncPgConnection, ids: &[Uuid], statuses: &[&str]) -> QueryResult<Vec<Uuid>> {
    upload_files::table
        .filter(upload_files::id.eq_any(ids.to_vec()))
        .filter(upload_files::status.eq_any(statuses.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()))
        .select(upload_files::id)
        .load(conn)
        .await
}

/// Forgets code failures older than `age`.
pub async fn prune_code_failures(conn: &mut AsyncPgConnection, age: Duration) -> QueryResult<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
    diesel::delete(upload_code_failures::table.filter(upload_code_failures::failed_at.lt(cutoff))).execute(conn).await
}
