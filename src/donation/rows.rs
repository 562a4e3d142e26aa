//! The donated rows (spec §5.7): each normalized row's flat JSON sealed
//! individually with the donation's data key, its associated data binding it
//! to `(donation, type, part, member, ordinal)`. `ts` stays clear so counts,
//! date filters and paging run in the database on the
//! `(donation_id, data_type, ts, part_id, member_no, ordinal)` index.
//!
//! Inserts are idempotent: the order index is unique and holds the row's
//! identity, so a retried parse job never duplicates rows. Queries return each row's JSON
//! text as it was stored, for the compat body to splice in unchanged.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::keys::{DataKey, KeyError};
use crate::db::schema::donation_rows;

/// Associated-data prefix of a sealed row.
const ROW_CONTEXT: &[u8] = b"steward.donation.row.v1";

/// Rows deleted per statement by [`purge_batch`].
pub const PURGE_BATCH: i64 = 10_000;

/// One normalized row to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRow<'a> {
    /// Its data type's name.
    pub data_type: &'a str,
    /// The archive member it came from.
    pub member_no: u32,
    /// Its position in that member before filtering.
    pub ordinal: u64,
    /// Its timestamp, if it has one.
    pub timestamp: Option<DateTime<Utc>>,
    /// The flat JSON object, exactly as the API returns it.
    pub json: &'a str,
}

/// Where a row sits; sealed values are bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position<'a> {
    pub donation_id: i32,
    pub data_type: &'a str,
    pub part_id: i64,
    pub member_no: i32,
    pub ordinal: i64,
}

/// `"steward.donation.row.v1" ‖ donation ‖ type ‖ part ‖ member ‖ ordinal`,
/// fixed-width integers and a length-prefixed type, so no two positions share it.
pub fn row_aad(p: Position<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(ROW_CONTEXT.len() + 8 + 2 + p.data_type.len() + 8 + 4 + 8);
    aad.extend_from_slice(ROW_CONTEXT);
    aad.extend_from_slice(&i64::from(p.donation_id).to_be_bytes());
    aad.extend_from_slice(&u16::try_from(p.data_type.len()).unwrap_or(u16::MAX).to_be_bytes());
    aad.extend_from_slice(p.data_type.as_bytes());
    aad.extend_from_slice(&p.part_id.to_be_bytes());
    aad.extend_from_slice(&p.member_no.to_be_bytes());
    aad.extend_from_slice(&p.ordinal.to_be_bytes());
    aad
}

impl<'a> From<&'a crate::donation::archive::Row> for NewRow<'a> {
    fn from(r: &'a crate::donation::archive::Row) -> Self {
        NewRow {
            data_type: r.data_type,
            member_no: r.member_no,
            ordinal: r.ordinal,
            timestamp: r.timestamp,
            json: &r.json,
        }
    }
}

/// Why rows cannot be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// A member number or ordinal beyond the columns' range.
    #[error("row position out of range (member {member_no}, ordinal {ordinal})")]
    OutOfRange { member_no: u32, ordinal: u64 },
    /// Sealing or opening failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Seals and inserts a batch of rows of one archive part (`part_id`; 0 when
/// the rows come from no part), skipping rows already stored. Returns how many
/// were new. Run it in the transaction that also advances the parse marker.
pub async fn insert_batch(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    donation_id: i32,
    part_id: i64,
    rows: &[NewRow<'_>],
) -> Result<usize, RowError> {
    insert_sealed(conn, &seal_batch(key, donation_id, part_id, rows)?).await
}

/// A batch of rows sealed and laid out as the insert's columns, one array
/// each: [`seal_batch`] is CPU work that can run apart from the database
/// (the parse job seals the next batch while this one is inserted).
#[derive(Debug)]
pub struct SealedBatch {
    donation_id: i32,
    part_id: i64,
    types: Vec<String>,
    members: Vec<i32>,
    ordinals: Vec<i64>,
    stamps: Vec<Option<DateTime<Utc>>>,
    sealed: Vec<Vec<u8>>,
}

/// Seals `rows` for [`insert_sealed`].
pub fn seal_batch(key: &DataKey, donation_id: i32, part_id: i64, rows: &[NewRow<'_>]) -> Result<SealedBatch, RowError> {
    let mut members = Vec::with_capacity(rows.len());
    let mut ordinals = Vec::with_capacity(rows.len());
    let mut aads = Vec::with_capacity(rows.len());
    for row in rows {
        let out_of_range = || RowError::OutOfRange { member_no: row.member_no, ordinal: row.ordinal };
        let member_no = i32::try_from(row.member_no).map_err(|_| out_of_range())?;
        let ordinal = i64::try_from(row.ordinal).map_err(|_| out_of_range())?;
        members.push(member_no);
        ordinals.push(ordinal);
        aads.push(row_aad(Position { donation_id, data_type: row.data_type, part_id, member_no, ordinal }));
    }
    Ok(SealedBatch {
        donation_id,
        part_id,
        sealed: key.seal_all(rows.iter().map(|r| r.json.as_bytes()).zip(aads)),
        types: rows.iter().map(|r| r.data_type.to_owned()).collect(),
        members,
        ordinals,
        stamps: rows.iter().map(|r| r.timestamp).collect(),
    })
}

/// Inserts a sealed batch, skipping rows already stored; returns how many were new.
pub async fn insert_sealed(conn: &mut AsyncPgConnection, batch: &SealedBatch) -> Result<usize, RowError> {
    if batch.sealed.is_empty() {
        return Ok(0);
    }
    // A plain insert first: rows already stored are rare (a parse resumes
    // after its markers), and ON CONFLICT's speculative insertion costs about
    // as much again per row. When some are there, the savepoint is rolled
    // back and the batch goes in again, skipping them.
    let plain = conn.transaction(async |conn| insert(conn, batch, "").await).await;
    let inserted = match plain {
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            insert(conn, batch, " ON CONFLICT DO NOTHING").await?
        }
        other => other?,
    };
    Ok(inserted)
}

async fn insert(conn: &mut AsyncPgConnection, c: &SealedBatch, on_conflict: &str) -> QueryResult<usize> {
    // One statement with one array per column: far fewer bind parameters
    // (and parse work) than a multi-row VALUES list.
    diesel::sql_query(format!(
        "INSERT INTO donation_rows (donation_id, data_type, part_id, member_no, ordinal, ts, sealed) \
         SELECT $1, t, $2, m, o, ts, s FROM unnest($3, $4, $5, $6, $7) AS u(t, m, o, ts, s){on_conflict}"
    ))
    .bind::<Integer, _>(c.donation_id)
    .bind::<BigInt, _>(c.part_id)
    .bind::<Array<Text>, _>(&c.types)
    .bind::<Array<Integer>, _>(&c.members)
    .bind::<Array<BigInt>, _>(&c.ordinals)
    .bind::<Array<Nullable<Timestamptz>>, _>(&c.stamps)
    .bind::<Array<Bytea>, _>(&c.sealed)
    .execute(conn)
    .await
}

/// Which rows of one type a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowFilter<'a> {
    pub donation_id: i32,
    pub data_type: &'a str,
    /// Keeps rows with `ts >= start 00:00Z`.
    pub start: Option<NaiveDate>,
    /// Keeps rows with `ts < (end + 1 day) 00:00Z`: the whole end day.
    pub end: Option<NaiveDate>,
}

type Filtered<'a> = donation_rows::BoxedQuery<'a, diesel::pg::Pg>;

impl RowFilter<'_> {
    fn query(&self) -> Filtered<'static> {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        let mut query = donation_rows::table
            .filter(donation_rows::donation_id.eq(self.donation_id))
            .filter(donation_rows::data_type.eq(self.data_type.to_owned()))
            .into_boxed();
        // A bound never matches a NULL ts, so rows without a timestamp drop out.
        if let Some(start) = self.start {
            query = query.filter(donation_rows::ts.ge(midnight(start)));
        }
        if let Some(end) = self.end {
            match end.succ_opt() {
                Some(next) => query = query.filter(donation_rows::ts.lt(midnight(next))),
                None => query = query.filter(donation_rows::ts.is_not_null()),
            }
        }
        query
    }
}

/// How many rows match.
pub async fn count(conn: &mut AsyncPgConnection, filter: &RowFilter<'_>) -> QueryResult<i64> {
    filter.query().count().get_result(conn).await
}

/// Up to `limit` matching rows from `offset`, in timestamp order (rows without
/// one last, ties by archive position), opened: each row's JSON text.
pub async fn page(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    filter: &RowFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<String>, RowError> {
    Ok(page_at(conn, key, filter, limit, offset).await?.rows)
}

/// [`page`] with the order key of its last row (`next`, when the page is
/// full), so the page after it can be read with [`page_after`].
pub async fn page_at(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    filter: &RowFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<KeysetPage, RowError> {
    if limit <= 0 {
        return Ok(KeysetPage::default());
    }
    let sealed: Vec<Sealed> = ordered(filter.query()).limit(limit).offset(offset).load(conn).await?;
    opened(key, filter, sealed, limit)
}

/// Where a paging session continues without `OFFSET`: the total the first
/// page counted (rows of an available type never change) and the order key
/// of the last row handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seek {
    pub count: i64,
    pub after: Cursor,
}

/// Where a keyset page stopped: the order key of its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub ts: Option<DateTime<Utc>>,
    pub part_id: i64,
    pub member_no: i32,
    pub ordinal: i64,
}

/// A keyset page: the rows' JSON texts and where to continue (`None` at the end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysetPage {
    pub rows: Vec<String>,
    pub next: Option<Cursor>,
}

/// Up to `limit` matching rows after `after` (from the first without), in
/// [`page`]'s order, opened. Unlike [`page`] it never skips rows with
/// `OFFSET`: each page starts at its cursor in the order index, so reading a
/// whole type costs the same per page however deep it is.
///
/// Rows with a timestamp are read first, by `(ts, part_id, member_no,
/// ordinal)`; rows without one (only when no date bound is set) follow, by
/// archive position. Each phase is one index range, so neither sorts.
pub async fn page_after(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    filter: &RowFilter<'_>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<KeysetPage, RowError> {
    let SealedPage { rows, next } = sealed_after(conn, filter, after, limit).await?;
    Ok(KeysetPage { rows: open_rows(key, filter, rows)?, next })
}

/// A keyset page as stored, not yet opened ([`open_rows`] opens it, e.g. on
/// a blocking thread while the next page is read).
#[derive(Debug, Default)]
pub struct SealedPage {
    pub rows: SealedRows,
    pub next: Option<Cursor>,
}

/// Sealed rows with their positions.
#[derive(Debug, Default)]
pub struct SealedRows(Vec<Sealed>);

impl SealedRows {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// [`page_after`] without opening the rows.
pub async fn sealed_after(
    conn: &mut AsyncPgConnection,
    filter: &RowFilter<'_>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<SealedPage, RowError> {
    if limit <= 0 {
        return Ok(SealedPage::default());
    }
    let mut sealed = Vec::new();
    if after.is_none_or(|c| c.ts.is_some()) {
        let mut query = filter.query().filter(donation_rows::ts.is_not_null());
        if let Some(Cursor { ts: Some(ts), part_id, member_no, ordinal }) = after {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("(ts, part_id, member_no, ordinal) > (")
                    .bind::<Timestamptz, _>(ts)
                    .sql(", ")
                    .bind::<BigInt, _>(part_id)
                    .sql(", ")
                    .bind::<Integer, _>(member_no)
                    .sql(", ")
                    .bind::<BigInt, _>(ordinal)
                    .sql(")"),
            );
        }
        sealed = ordered(query).limit(limit).load(conn).await?;
    }
    let unbounded = filter.start.is_none() && filter.end.is_none();
    let short = i64::try_from(sealed.len()).unwrap_or(i64::MAX) < limit;
    if unbounded && short {
        let mut query = filter.query().filter(donation_rows::ts.is_null());
        if let Some(Cursor { ts: None, part_id, member_no, ordinal }) = after {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("(part_id, member_no, ordinal) > (")
                    .bind::<BigInt, _>(part_id)
                    .sql(", ")
                    .bind::<Integer, _>(member_no)
                    .sql(", ")
                    .bind::<BigInt, _>(ordinal)
                    .sql(")"),
            );
        }
        let rest = limit - i64::try_from(sealed.len()).unwrap_or(0);
        sealed.extend(ordered(query).limit(rest).load::<Sealed>(conn).await?);
    }
    let next = next_cursor(&sealed, limit);
    Ok(SealedPage { rows: SealedRows(sealed), next })
}

/// Opens sealed rows of `filter`'s donation and type: each row's JSON text.
pub fn open_rows(key: &DataKey, filter: &RowFilter<'_>, rows: SealedRows) -> Result<Vec<String>, RowError> {
    rows.0
        .into_iter()
        .map(|(_, part_id, member_no, ordinal, sealed)| open_row(key, filter, part_id, member_no, ordinal, &sealed))
        .collect()
}

/// The last row's key when the page is full (more rows may follow).
fn next_cursor(sealed: &[Sealed], limit: i64) -> Option<Cursor> {
    let full = i64::try_from(sealed.len()).unwrap_or(i64::MAX) >= limit;
    sealed.last().filter(|_| full).map(|(ts, part_id, member_no, ordinal, _)| Cursor {
        ts: *ts,
        part_id: *part_id,
        member_no: *member_no,
        ordinal: *ordinal,
    })
}

/// Opens a page's rows; `next` is its last row's key when it is full.
fn opened(key: &DataKey, filter: &RowFilter<'_>, sealed: Vec<Sealed>, limit: i64) -> Result<KeysetPage, RowError> {
    let next = next_cursor(&sealed, limit);
    Ok(KeysetPage { rows: open_rows(key, filter, SealedRows(sealed))?, next })
}

/// `(ts, part_id, member_no, ordinal, sealed)` of a stored row.
type Sealed = (Option<DateTime<Utc>>, i64, i32, i64, Vec<u8>);

type SealedQuery =
    donation_rows::BoxedQuery<'static, diesel::pg::Pg, (Nullable<Timestamptz>, BigInt, Integer, BigInt, Bytea)>;

/// `query` in timestamp order (rows without one last, ties by archive
/// position), selecting the order key and the sealed value.
fn ordered(query: Filtered<'static>) -> SealedQuery {
    query
        .order((
            donation_rows::ts.asc().nulls_last(),
            donation_rows::part_id,
            donation_rows::member_no,
            donation_rows::ordinal,
        ))
        .select((
            donation_rows::ts,
            donation_rows::part_id,
            donation_rows::member_no,
            donation_rows::ordinal,
            donation_rows::sealed,
        ))
}

fn open_row(
    key: &DataKey,
    filter: &RowFilter<'_>,
    part_id: i64,
    member_no: i32,
    ordinal: i64,
    sealed: &[u8],
) -> Result<String, RowError> {
    let position =
        Position { donation_id: filter.donation_id, data_type: filter.data_type, part_id, member_no, ordinal };
    let plain = key.open(sealed, &row_aad(position))?;
    String::from_utf8(plain).map_err(|_| RowError::Key(KeyError::Open))
}

/// Deletes up to [`PURGE_BATCH`] rows of a donation; returns how many went.
pub async fn purge_batch(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM donation_rows WHERE ctid = ANY(ARRAY( \
             SELECT ctid FROM donation_rows WHERE donation_id = $1 LIMIT $2))",
    )
    .bind::<Integer, _>(donation_id)
    .bind::<BigInt, _>(PURGE_BATCH)
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_give_distinct_associated_data() {
        let p = Position { donation_id: 1, data_type: "search", part_id: 2, member_no: 3, ordinal: 4 };
        let base = row_aad(p);
        assert!(base.starts_with(b"steward.donation.row.v1"));
        for other in [
            Position { donation_id: 2, ..p },
            Position { data_type: "searc", ..p },
            Position { part_id: 3, ..p },
            Position { member_no: 4, ..p },
            Position { ordinal: 5, ..p },
        ] {
            assert_ne!(row_aad(other), base, "{other:?}");
        }
    }
}
