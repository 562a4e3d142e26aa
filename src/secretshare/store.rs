//! SecretShareService's tables (spec secretshare.md §2.9): endpoints,
//! submissions and batches of this party, and the sealed party secret.
//! Plain reads and writes; the rules live in `ops`.
//!
//! Every id ever received stays in `secretshare_submissions` (replay and
//! limit checks); the shares of pending submissions live in
//! `secretshare_pending` until a seal or a withdrawal deletes them. A
//! submission is thus pending while it has a row there, withdrawn when
//! marked so, and sealed otherwise.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    datasets, sealed_secrets, secretshare_batches, secretshare_endpoints, secretshare_pending, secretshare_submissions,
};

#[diesel::declare_sql_function]
extern "SQL" {
    /// The batch-storing function of migration `2026-11-27-000001_secretshare_pending`.
    fn secretshare_submit(
        endpoint_names: Array<Text>,
        ids: Array<Bytea>,
        contributors: Array<Bytea>,
        share_bytes: Array<Bytea>,
        share_digests: Array<Bytea>,
        max_per_contributor: Array<BigInt>,
        lock_keys: Array<BigInt>,
    ) -> Array<Nullable<Timestamptz>>;
}

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

/// Where a submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Sealed,
    Withdrawn,
}

/// What is stored about a submission id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub contributor_key: Vec<u8>,
    pub share_sha256: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub state: State,
}

/// The submission `id` of `endpoint`, if any.
pub async fn submission(conn: &mut AsyncPgConnection, endpoint: &str, id: &[u8]) -> QueryResult<Option<Known>> {
    #[derive(Queryable)]
    struct Row {
        contributor_key: Vec<u8>,
        share_sha256: Vec<u8>,
        received_at: DateTime<Utc>,
        withdrawn: bool,
        pending: bool,
    }
    let pending = diesel::dsl::exists(secretshare_pending::table.find((endpoint, id)));
    let row: Option<Row> = secretshare_submissions::table
        .find((endpoint, id))
        .select((
            secretshare_submissions::contributor_key,
            secretshare_submissions::share_sha256,
            secretshare_submissions::received_at,
            secretshare_submissions::withdrawn,
            pending,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|row| Known {
        contributor_key: row.contributor_key,
        share_sha256: row.share_sha256,
        received_at: row.received_at,
        state: match (row.withdrawn, row.pending) {
            (true, _) => State::Withdrawn,
            (false, true) => State::Pending,
            (false, false) => State::Sealed,
        },
    }))
}

/// The contributor's pending and sealed submissions on `endpoint`.
pub async fn contributions(conn: &mut AsyncPgConnection, endpoint: &str, contributor: &[u8]) -> QueryResult<i64> {
    secretshare_submissions::table
        .filter(secretshare_submissions::endpoint.eq(endpoint))
        .filter(secretshare_submissions::contributor_key.eq(contributor))
        .filter(secretshare_submissions::withdrawn.eq(false))
        .count()
        .get_result(conn)
        .await
}

/// A submission to store, with the checks it needs.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub endpoint: String,
    pub submission_id: Vec<u8>,
    pub contributor_key: Vec<u8>,
    pub share: Vec<u8>,
    pub share_sha256: Vec<u8>,
    /// The endpoint's limit per contributor; 0 for none.
    pub limit: i64,
    /// The contributor's advisory lock key on the endpoint (used when `limit` > 0).
    pub lock: i64,
}

/// Stores submissions in one round trip and one transaction: each one if its
/// endpoint is active, its id is new and, when its `limit` > 0, the
/// contributor has fewer than `limit` pending or sealed submissions there
/// (counted under the advisory lock `lock`). Returns each one's receive
/// time, or `None` when one of those failed (the caller finds out which).
///
/// The batch must hold no (endpoint, id) twice and no limited lock key twice,
/// sorted by (endpoint, id) (see the migration's function). A prepared
/// statement, so neither it nor the function is parsed or planned each time.
pub async fn insert_submissions_checked(
    conn: &mut AsyncPgConnection,
    batch: &[&NewSubmission],
) -> QueryResult<Vec<Option<DateTime<Utc>>>> {
    let column = |f: fn(&NewSubmission) -> &[u8]| batch.iter().map(|n| f(n)).collect::<Vec<_>>();
    let endpoints: Vec<&str> = batch.iter().map(|n| n.endpoint.as_str()).collect();
    let stored: Vec<Option<DateTime<Utc>>> = diesel::select(secretshare_submit(
        endpoints,
        column(|n| &n.submission_id),
        column(|n| &n.contributor_key),
        column(|n| &n.share),
        column(|n| &n.share_sha256),
        batch.iter().map(|n| n.limit).collect::<Vec<_>>(),
        batch.iter().map(|n| n.lock).collect::<Vec<_>>(),
    ))
    .get_result(conn)
    .await?;
    if stored.len() != batch.len() {
        return Err(diesel::result::Error::DeserializationError(
            format!("secretshare_submit answered {} times for {} submissions", stored.len(), batch.len()).into(),
        ));
    }
    Ok(stored)
}

/// Withdraws a pending submission (deletes its share, marks it; call it in a
/// transaction so both happen or neither); whether it was pending.
pub async fn withdraw(conn: &mut AsyncPgConnection, endpoint: &str, id: &[u8]) -> QueryResult<bool> {
    let deleted = diesel::delete(secretshare_pending::table.find((endpoint, id))).execute(conn).await?;
    if deleted == 1 {
        diesel::update(secretshare_submissions::table.find((endpoint, id)))
            .set(secretshare_submissions::withdrawn.eq(true))
            .execute(conn)
            .await?;
    }
    Ok(deleted == 1)
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
    let mut query = secretshare_pending::table
        .filter(secretshare_pending::endpoint.eq(endpoint))
        .filter(secretshare_pending::seq.gt(after))
        .select((secretshare_pending::seq, secretshare_pending::submission_id))
        .order(secretshare_pending::seq)
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(secretshare_pending::received_at.lt(before));
    }
    query.load(conn).await
}

/// How many submissions of `endpoint` are pending.
pub async fn pending_count(conn: &mut AsyncPgConnection, endpoint: &str) -> QueryResult<i64> {
    secretshare_pending::table.filter(secretshare_pending::endpoint.eq(endpoint)).count().get_result(conn).await
}

/// Locks the endpoint's row against other seals (and archiving) until the
/// transaction ends. `FOR NO KEY UPDATE` leaves the key-share locks that
/// storing a submission takes unblocked.
pub async fn lock_for_seal(conn: &mut AsyncPgConnection, endpoint: &str) -> QueryResult<()> {
    secretshare_endpoints::table
        .find(endpoint)
        .select(secretshare_endpoints::name)
        .for_no_key_update()
        .first::<String>(conn)
        .await
        .map(drop)
}

/// A pending submission taken for a seal.
#[derive(Debug, Clone, Queryable)]
pub struct Taken {
    pub submission_id: Vec<u8>,
    pub contributor_key: Vec<u8>,
    pub share: Vec<u8>,
}

/// Deletes the named pending submissions' shares and returns them: the
/// read and the erasure of a seal in one statement.
pub async fn take_pending(conn: &mut AsyncPgConnection, endpoint: &str, ids: &[Vec<u8>]) -> QueryResult<Vec<Taken>> {
    diesel::delete(
        secretshare_pending::table
            .filter(secretshare_pending::endpoint.eq(endpoint))
            .filter(secretshare_pending::submission_id.eq_any(ids)),
    )
    .returning((secretshare_pending::submission_id, secretshare_pending::contributor_key, secretshare_pending::share))
    .get_results(conn)
    .await
}

/// Which of `ids` were ever received and not withdrawn (the rest are unknown to this party).
pub async fn received(conn: &mut AsyncPgConnection, endpoint: &str, ids: &[Vec<u8>]) -> QueryResult<Vec<Vec<u8>>> {
    secretshare_submissions::table
        .filter(secretshare_submissions::endpoint.eq(endpoint))
        .filter(secretshare_submissions::submission_id.eq_any(ids))
        .filter(secretshare_submissions::withdrawn.eq(false))
        .select(secretshare_submissions::submission_id)
        .load(conn)
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

/// The associated data a sealed secret is bound to: its name.
pub fn sealed_secret_aad(name: &str) -> Vec<u8> {
    format!("steward.sealed_secret.v1\n{name}").into_bytes()
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
