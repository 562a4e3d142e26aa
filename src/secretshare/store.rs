//! SecretShareService's tables (spec secretshare.md §2.9): endpoints,
//! submissions and batches of this party, and the sealed party secret.
//! Plain reads and writes; the rules live in `ops`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bytea, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    datasets, sealed_secrets, secretshare_batches, secretshare_endpoints, secretshare_submissions,
};

/// A stored endpoint, with its dataset's name (read through a left join).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = secretshare_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct EndpointRow {
    pub name: String,
    pub description: String,
    pub vector_length: i32,
    pub encoding: String,
    pub decimal_scale: i32,
    pub min_value: i64,
    pub max_value: i64,
    pub min_batch_size: i32,
    pub max_submissions_per_contributor: i32,
    pub dataset_id: Option<i64>,
    pub config_digest: String,
    pub created_at: DateTime<Utc>,
    pub creator: String,
    pub archived_at: Option<DateTime<Utc>>,
    #[diesel(
        select_expression = datasets::name.nullable(),
        select_expression_type = diesel::dsl::Nullable<datasets::name>
    )]
    pub dataset: Option<String>,
}

/// An endpoint to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = secretshare_endpoints)]
pub struct NewEndpoint<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub vector_length: i32,
    pub encoding: &'a str,
    pub decimal_scale: i32,
    pub min_value: i64,
    pub max_value: i64,
    pub min_batch_size: i32,
    pub max_submissions_per_contributor: i32,
    pub dataset_id: Option<i64>,
    pub config_digest: &'a str,
    pub creator: &'a str,
}

/// Inserts an endpoint unless the name is taken; `false` when it was.
pub async fn insert_endpoint(conn: &mut AsyncPgConnection, new: &NewEndpoint<'_>) -> QueryResult<bool> {
    let inserted =
        diesel::insert_into(secretshare_endpoints::table).values(new).on_conflict_do_nothing().execute(conn).await?;
    Ok(inserted == 1)
}

/// The endpoint called `name`.
pub async fn endpoint(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<EndpointRow>> {
    secretshare_endpoints::table
        .left_join(datasets::table)
        .filter(secretshare_endpoints::name.eq(name))
        .select(EndpointRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Up to `limit` endpoints named after `after`, by name.
pub async fn endpoints(
    conn: &mut AsyncPgConnection,
    after: &str,
    limit: i64,
    include_archived: bool,
) -> QueryResult<Vec<EndpointRow>> {
    let mut query = secretshare_endpoints::table
        .left_join(datasets::table)
        .filter(secretshare_endpoints::name.gt(after))
        .select(EndpointRow::as_select())
        .order(secretshare_endpoints::name)
        .limit(limit)
        .into_boxed();
    if !include_archived {
        query = query.filter(secretshare_endpoints::archived_at.is_null());
    }
    query.load(conn).await
}

/// Archives the endpoint (keeps the first archive time).
pub async fn archive(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<()> {
    diesel::update(secretshare_endpoints::table.find(name))
        .set(secretshare_endpoints::archived_at.eq(Some(Utc::now())))
        .filter(secretshare_endpoints::archived_at.is_null())
        .execute(conn)
        .await
        .map(drop)
}

/// The id of a dataset by name.
pub async fn dataset_id(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<i64>> {
    datasets::table.filter(datasets::name.eq(name)).select(datasets::id).first(conn).await.optional()
}

/// What is stored about a submission id.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Known {
    pub contributor_key: Vec<u8>,
    pub share_sha256: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub state: String,
}

/// The submission `id` of `endpoint`, if any.
pub async fn submission(conn: &mut AsyncPgConnection, endpoint: &str, id: &[u8]) -> QueryResult<Option<Known>> {
    secretshare_submissions::table
        .find((endpoint, id))
        .select((
            secretshare_submissions::contributor_key,
            secretshare_submissions::share_sha256,
            secretshare_submissions::received_at,
            secretshare_submissions::state,
        ))
        .first(conn)
        .await
        .optional()
}

/// The contributor's pending and sealed submissions on `endpoint`.
pub async fn contributions(conn: &mut AsyncPgConnection, endpoint: &str, contributor: &[u8]) -> QueryResult<i64> {
    secretshare_submissions::table
        .filter(secretshare_submissions::endpoint.eq(endpoint))
        .filter(secretshare_submissions::contributor_key.eq(contributor))
        .filter(secretshare_submissions::state.ne("withdrawn"))
        .count()
        .get_result(conn)
        .await
}

/// A submission to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = secretshare_submissions)]
pub struct NewSubmission<'a> {
    pub endpoint: &'a str,
    pub submission_id: &'a [u8],
    pub contributor_key: &'a [u8],
    pub share: &'a [u8],
    pub share_sha256: &'a [u8],
}

/// Inserts a submission in one statement if its endpoint is active, its id
/// is new and, when `limit` > 0, the contributor has fewer than `limit`
/// pending or sealed submissions there; its receive time when inserted.
/// `None` says one of those failed (the caller finds out which). The count
/// is exact only under the caller's per-contributor lock, taken in an
/// earlier statement so this one's snapshot sees every committed insert.
pub async fn insert_submission_checked(
    conn: &mut AsyncPgConnection,
    new: &NewSubmission<'_>,
    limit: i64,
) -> QueryResult<Option<DateTime<Utc>>> {
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        received_at: DateTime<Utc>,
    }
    let inserted: Option<Inserted> = diesel::sql_query(
        "INSERT INTO secretshare_submissions (endpoint, submission_id, contributor_key, share, share_sha256) \
         SELECT $1, $2, $3, $4, $5 \
         WHERE EXISTS (SELECT 1 FROM secretshare_endpoints WHERE name = $1 AND archived_at IS NULL) \
         AND ($6 = 0 OR (SELECT count(*) FROM secretshare_submissions \
                         WHERE endpoint = $1 AND contributor_key = $3 AND state <> 'withdrawn') < $6) \
         ON CONFLICT DO NOTHING RETURNING received_at",
    )
    .bind::<Text, _>(new.endpoint)
    .bind::<Bytea, _>(new.submission_id)
    .bind::<Bytea, _>(new.contributor_key)
    .bind::<Bytea, _>(new.share)
    .bind::<Bytea, _>(new.share_sha256)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .get_result(conn)
    .await
    .optional()?;
    Ok(inserted.map(|i| i.received_at))
}

/// Withdraws the contributor's pending submission; whether one was.
pub async fn withdraw(conn: &mut AsyncPgConnection, endpoint: &str, id: &[u8]) -> QueryResult<bool> {
    let changed = diesel::update(secretshare_submissions::table.find((endpoint, id)))
        .filter(secretshare_submissions::state.eq("pending"))
        .set((secretshare_submissions::state.eq("withdrawn"), secretshare_submissions::share.eq(None::<Vec<u8>>)))
        .execute(conn)
        .await?;
    Ok(changed == 1)
}

/// Up to `limit` pending ids after receipt number `after`, in order of
/// receipt (received before `before` when given), with their receipt numbers.
pub async fn pending(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    after: i64,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    let mut query = secretshare_submissions::table
        .filter(secretshare_submissions::endpoint.eq(endpoint))
        .filter(secretshare_submissions::state.eq("pending"))
        .filter(secretshare_submissions::seq.gt(after))
        .select((secretshare_submissions::seq, secretshare_submissions::submission_id))
        .order(secretshare_submissions::seq)
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(secretshare_submissions::received_at.lt(before));
    }
    query.load(conn).await
}

/// How many submissions of `endpoint` are pending.
pub async fn pending_count(conn: &mut AsyncPgConnection, endpoint: &str) -> QueryResult<i64> {
    secretshare_submissions::table
        .filter(secretshare_submissions::endpoint.eq(endpoint))
        .filter(secretshare_submissions::state.eq("pending"))
        .count()
        .get_result(conn)
        .await
}

/// A submission named in a seal, locked for the transaction.
#[derive(Debug, Clone, QueryableByName)]
pub struct Locked {
    #[diesel(sql_type = Bytea)]
    pub submission_id: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    pub contributor_key: Vec<u8>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Bytea>)]
    pub share: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub batch_digest: Option<String>,
}

/// Locks the named submissions that exist, in id order (so concurrent seals
/// lock in the same order and cannot deadlock).
pub async fn lock(conn: &mut AsyncPgConnection, endpoint: &str, ids: &[Vec<u8>]) -> QueryResult<Vec<Locked>> {
    diesel::sql_query(
        "SELECT submission_id, contributor_key, share, state, batch_digest FROM secretshare_submissions \
         WHERE endpoint = $1 AND submission_id = ANY($2) ORDER BY submission_id FOR UPDATE",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Array<Bytea>, _>(ids)
    .load(conn)
    .await
}

/// Marks the submissions sealed into `digest` and erases their shares.
pub async fn mark_sealed(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    ids: &[Vec<u8>],
    digest: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE secretshare_submissions SET state = 'sealed', batch_digest = $3, share = NULL \
         WHERE endpoint = $1 AND submission_id = ANY($2) AND state = 'pending'",
    )
    .bind::<Text, _>(endpoint)
    .bind::<Array<Bytea>, _>(ids)
    .bind::<Text, _>(digest)
    .execute(conn)
    .await
}

/// A stored batch.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = secretshare_batches)]
pub struct BatchRow {
    pub endpoint: String,
    pub batch_digest: String,
    pub submission_count: i64,
    pub contributor_count: i64,
    pub aggregate_share: Vec<u8>,
    pub sealed_at: DateTime<Utc>,
    pub sealed_by: String,
}

/// Inserts a batch.
pub async fn insert_batch(conn: &mut AsyncPgConnection, batch: &BatchRow) -> QueryResult<()> {
    diesel::insert_into(secretshare_batches::table).values(batch).execute(conn).await.map(drop)
}

/// The batch `digest` of `endpoint`.
pub async fn batch(conn: &mut AsyncPgConnection, endpoint: &str, digest: &str) -> QueryResult<Option<BatchRow>> {
    secretshare_batches::table.find((endpoint, digest)).select(BatchRow::as_select()).first(conn).await.optional()
}

/// Up to `limit` batches sealed after batch number `after`, oldest first, with their numbers.
pub async fn batches(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, BatchRow)>> {
    secretshare_batches::table
        .filter(secretshare_batches::endpoint.eq(endpoint))
        .filter(secretshare_batches::seq.gt(after))
        .order(secretshare_batches::seq)
        .limit(limit)
        .select((secretshare_batches::seq, BatchRow::as_select()))
        .load(conn)
        .await
}

/// The sealed secret `name`, stored by the first caller when absent
/// (`make` gives the sealed value to store); every caller gets the stored one.
pub async fn sealed_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    make: impl FnOnce() -> Vec<u8>,
) -> QueryResult<Vec<u8>> {
    diesel::insert_into(sealed_secrets::table)
        .values((sealed_secrets::name.eq(name), sealed_secrets::sealed.eq(make())))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    sealed_secrets::table.find(name).select(sealed_secrets::sealed).first(conn).await
}
