//! Donation rows and their reusable queries: the donation with its dataset's
//! name, visibility filters, per-type state and the event log. Sealed rows
//! live in [`super::rows`], data keys in [`super::keys`].

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::catalogue::Source;
use super::model::{Donation, Event, Stage, Status, TypeState, TypeStatus};
use crate::db::schema::{datasets, donation_events, donation_types, donations};

/// A `donations` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = donations)]
pub struct DonationRow {
    pub id: i32,
    pub owner_id: i64,
    pub dataset_id: Option<i64>,
    pub source: String,
    pub status: String,
    pub stage: String,
    pub data_start_date: Option<NaiveDate>,
    pub data_end_date: Option<NaiveDate>,
    pub requested_data_types: Vec<Option<String>>,
    pub description: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub terms_accepted_at: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl DonationRow {
    /// The domain donation; a spelling this build does not know is a bug (or
    /// a newer replica's state) and fails loudly rather than misreporting.
    pub fn into_donation(self, dataset: Option<String>) -> anyhow::Result<Donation> {
        let unknown = |what: &str, value: &str| anyhow::anyhow!("donation {}: unknown {what} {value:?}", self.id);
        Ok(Donation {
            id: self.id,
            owner_id: self.owner_id,
            dataset_id: self.dataset_id,
            dataset,
            source: Source::parse(&self.source).ok_or_else(|| unknown("source", &self.source))?,
            status: Status::parse(&self.status).ok_or_else(|| unknown("status", &self.status))?,
            stage: Stage::parse(&self.stage).ok_or_else(|| unknown("stage", &self.stage))?,
            data_start_date: self.data_start_date,
            data_end_date: self.data_end_date,
            requested_data_types: self.requested_data_types.iter().flatten().cloned().collect(),
            description: self.description.clone(),
            error_code: self.error_code.clone(),
            error_message: self.error_message.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            terms_accepted_at: self.terms_accepted_at,
            authorized_at: self.authorized_at,
            processed_at: self.processed_at,
        })
    }
}

/// A new donation.
#[derive(Debug, Insertable)]
#[diesel(table_name = donations)]
pub struct NewDonation<'a> {
    pub owner_id: i64,
    pub dataset_id: Option<i64>,
    pub source: &'a str,
    pub data_start_date: Option<NaiveDate>,
    pub data_end_date: Option<NaiveDate>,
    pub requested_data_types: Vec<&'a str>,
    pub description: &'a str,
    pub token_hash: &'a [u8],
    pub request_id: Option<&'a str>,
}

/// Whose donations a query may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Every donation (global admin).
    All,
    /// Donations the principal created without a dataset, and those of these datasets.
    Some { owner_id: i64, dataset_ids: Vec<i64> },
}

type Boxed<'a> = diesel::dsl::IntoBoxed<'a, diesel::dsl::LeftJoin<donations::table, datasets::table>, diesel::pg::Pg>;

fn visible_query(visible: &Visible) -> Boxed<'static> {
    let query = donations::table.left_join(datasets::table).into_boxed();
    match visible {
        Visible::All => query,
        Visible::Some { owner_id, dataset_ids } => query.filter(
            donations::dataset_id
                .is_null()
                .and(donations::owner_id.eq(*owner_id))
                .or(donations::dataset_id.eq_any(dataset_ids.clone())),
        ),
    }
}

fn into_donations(rows: Vec<(DonationRow, Option<String>)>) -> QueryResult<Vec<Donation>> {
    rows.into_iter()
        .map(|(row, dataset)| {
            row.into_donation(dataset).map_err(|e| diesel::result::Error::DeserializationError(e.into()))
        })
        .collect()
}

/// Locks donation `id` `FOR UPDATE`; false when it does not exist.
///
/// A processing transaction that ends in `state::settle` takes this lock
/// before anything else: inserting an event first takes a key-share lock on
/// the donation (its foreign key), and two such transactions upgrading to
/// `FOR UPDATE` in `settle` deadlock each other.
pub async fn lock(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    let locked: Option<i32> =
        donations::table.find(id).select(donations::id).for_update().first(conn).await.optional()?;
    Ok(locked.is_some())
}

/// One donation by id with its dataset's name and its owner, regardless of
/// who asks (callers check access), locked `FOR UPDATE` when `lock`.
pub async fn find(conn: &mut AsyncPgConnection, id: i32, lock: bool) -> QueryResult<Option<Donation>> {
    // FOR UPDATE cannot reach through the outer join: lock the row alone first.
    if lock && !self::lock(conn, id).await? {
        return Ok(None);
    }
    let rows = donations::table
        .left_join(datasets::table)
        .filter(donations::id.eq(id))
        .select((DonationRow::as_select(), datasets::name.nullable()))
        .load(conn)
        .await?;
    Ok(into_donations(rows)?.into_iter().next())
}

/// Up to `limit` visible donations with an id above `after`, by id;
/// `dataset` limits them to one dataset (by id).
pub async fn list(
    conn: &mut AsyncPgConnection,
    visible: &Visible,
    dataset: Option<i64>,
    after: i32,
    limit: i64,
) -> QueryResult<Vec<Donation>> {
    let mut query = visible_query(visible).filter(donations::id.gt(after));
    if let Some(dataset) = dataset {
        query = query.filter(donations::dataset_id.eq(dataset));
    }
    let rows = query
        .order(donations::id)
        .limit(limit)
        .select((DonationRow::as_select(), datasets::name.nullable()))
        .load(conn)
        .await?;
    into_donations(rows)
}

/// The donation a principal created with `request_id`, if any.
pub async fn find_by_request(
    conn: &mut AsyncPgConnection,
    owner_id: i64,
    request_id: &str,
) -> QueryResult<Option<DonationRow>> {
    donations::table
        .filter(donations::owner_id.eq(owner_id))
        .filter(donations::request_id.eq(request_id))
        .select(DonationRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The requested types' states, in request order (`order` is the resolved list).
pub async fn types(conn: &mut AsyncPgConnection, donation_id: i32, order: &[String]) -> QueryResult<Vec<TypeStatus>> {
    let mut rows = types_of(conn, &[donation_id]).await?.remove(&donation_id).unwrap_or_default();
    rows.sort_by_key(|t| order.iter().position(|o| *o == t.data_type).unwrap_or(usize::MAX));
    Ok(rows)
}

/// Type states of several donations (one query), by donation id.
pub async fn types_of(
    conn: &mut AsyncPgConnection,
    donation_ids: &[i32],
) -> QueryResult<std::collections::HashMap<i32, Vec<TypeStatus>>> {
    let rows: Vec<(i32, String, String, Option<String>, i64, i64)> = donation_types::table
        .filter(donation_types::donation_id.eq_any(donation_ids))
        .select((
            donation_types::donation_id,
            donation_types::data_type,
            donation_types::state,
            donation_types::reason_code,
            donation_types::rows,
            donation_types::skipped_records,
        ))
        .load(conn)
        .await?;
    let mut out: std::collections::HashMap<i32, Vec<TypeStatus>> = std::collections::HashMap::new();
    for (donation_id, data_type, state, reason_code, rows, skipped_records) in rows {
        let state = TypeState::parse(&state).ok_or_else(|| {
            diesel::result::Error::DeserializationError(format!("unknown data type state {state:?}").into())
        })?;
        out.entry(donation_id).or_default().push(TypeStatus { data_type, state, rows, skipped_records, reason_code });
    }
    Ok(out)
}

/// Names of the donation's types in state `available`.
pub async fn available_types(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<Vec<String>> {
    donation_types::table
        .filter(donation_types::donation_id.eq(donation_id))
        .filter(donation_types::state.eq(TypeState::Available.as_str()))
        .select(donation_types::data_type)
        .load(conn)
        .await
}

/// Creates the per-type rows of a new donation (state `requested`).
pub async fn insert_types(conn: &mut AsyncPgConnection, donation_id: i32, names: &[&str]) -> QueryResult<()> {
    let rows: Vec<_> = names
        .iter()
        .map(|name| (donation_types::donation_id.eq(donation_id), donation_types::data_type.eq(*name)))
        .collect();
    diesel::insert_into(donation_types::table).values(rows).execute(conn).await.map(drop)
}

/// Appends an event (counts and codes only).
pub async fn add_event(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    kind: &str,
    data_type: Option<&str>,
    detail: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(donation_events::table)
        .values((
            donation_events::donation_id.eq(donation_id),
            donation_events::kind.eq(kind),
            donation_events::data_type.eq(data_type),
            donation_events::detail.eq(detail),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A `donation_events` row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = donation_events)]
struct EventRow {
    id: i64,
    kind: String,
    data_type: Option<String>,
    detail: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// Up to `limit` events of a donation with an id above `after`, oldest first.
pub async fn events(conn: &mut AsyncPgConnection, donation_id: i32, after: i64, limit: i64) -> QueryResult<Vec<Event>> {
    let rows: Vec<EventRow> = donation_events::table
        .filter(donation_events::donation_id.eq(donation_id))
        .filter(donation_events::id.gt(after))
        .order(donation_events::id)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|EventRow { id, kind, data_type, detail, created_at }| Event { id, kind, data_type, detail, created_at })
        .collect())
}

/// The id of the dataset named `name`.
pub async fn dataset_id(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<i64>> {
    datasets::table.filter(datasets::name.eq(name)).select(datasets::id).first(conn).await.optional()
}
