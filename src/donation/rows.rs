//! The donated rows (spec §5.7): each normalized row's flat JSON sealed
//! individually with the donation's data key, its associated data binding it
//! to `(donation, type, part, member, ordinal)`. `ts` stays clear so counts,
//! date filters and paging run in the database on the
//! `(donation_id, data_type, ts, part_id, member_no, ordinal)` index.
//!
//! The parse job copies its batches in (binary `COPY` on a direct
//! connection, [`copy_sealed`]), each with its parse markers, so a retried
//! job writes only the rows after them; the order index is unique and holds
//! the row's identity, so a row written twice fails its batch instead of
//! doubling. Queries return each row's JSON text as it was stored, for the
//! compat body to splice in unchanged.

use bytes::BufMut as _;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::SinkExt as _;

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
    /// A timestamp beyond `timestamptz`'s range.
    #[error("row timestamp {0} out of range")]
    Timestamp(DateTime<Utc>),
    /// A value longer than a COPY field can hold.
    #[error("row value of {0} bytes too large")]
    TooLarge(usize),
    /// A copied row was stored already: the batch's rows and the parse
    /// markers disagree, so nothing of the batch is kept.
    #[error("a row of the batch is stored already (the parse markers and the rows disagree)")]
    AlreadyStored(#[source] tokio_postgres::Error),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    /// The database failed on the direct connection.
    #[error(transparent)]
    Direct(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for RowError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            RowError::AlreadyStored(e)
        } else {
            RowError::Direct(e)
        }
    }
}

/// Seals and inserts a batch of rows of one archive part (`part_id`; 0 when
/// the rows come from no part) over a pooled connection, passing over rows
/// already stored; returns how many were new. For fixtures and small writes:
/// the parse job copies its batches with [`seal_batch`] and [`copy_sealed`].
pub async fn insert_batch(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    donation_id: i32,
    part_id: i64,
    rows: &[NewRow<'_>],
) -> Result<usize, RowError> {
    let (mut types, mut members, mut ordinals, mut stamps, mut aads) = (vec![], vec![], vec![], vec![], vec![]);
    for row in rows {
        let (member_no, ordinal) = position(row)?;
        types.push(row.data_type);
        members.push(member_no);
        ordinals.push(ordinal);
        stamps.push(row.timestamp);
        aads.push(row_aad(Position { donation_id, data_type: row.data_type, part_id, member_no, ordinal }));
    }
    let sealed = key.seal_all(rows.iter().map(|r| r.json.as_bytes()).zip(aads));
    // One statement with one array per column: far fewer bind parameters
    // (and parse work) than a multi-row VALUES list.
    let inserted = diesel::sql_query(
        "INSERT INTO donation_rows (donation_id, data_type, part_id, member_no, ordinal, ts, sealed) \
         SELECT $1, t, $2, m, o, ts, s FROM unnest($3, $4, $5, $6, $7) AS u(t, m, o, ts, s) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Integer, _>(donation_id)
    .bind::<BigInt, _>(part_id)
    .bind::<Array<Text>, _>(&types)
    .bind::<Array<Integer>, _>(&members)
    .bind::<Array<BigInt>, _>(&ordinals)
    .bind::<Array<Nullable<Timestamptz>>, _>(&stamps)
    .bind::<Array<Bytea>, _>(&sealed)
    .execute(conn)
    .await?;
    Ok(inserted)
}

/// A row's member number and ordinal as the columns hold them.
fn position(row: &NewRow<'_>) -> Result<(i32, i64), RowError> {
    let out_of_range = || RowError::OutOfRange { member_no: row.member_no, ordinal: row.ordinal };
    let member_no = i32::try_from(row.member_no).map_err(|_| out_of_range())?;
    let ordinal = i64::try_from(row.ordinal).map_err(|_| out_of_range())?;
    Ok((member_no, ordinal))
}

/// The statement [`copy_sealed`] feeds; the columns in [`seal_batch`]'s order.
const COPY_ROWS: &str = "COPY donation_rows (donation_id, data_type, part_id, member_no, ordinal, ts, sealed) \
                         FROM STDIN (FORMAT binary)";

/// Binary COPY's signature, flags (none) and header extension length (none).
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Fields per COPY tuple.
const COPY_FIELDS: i16 = 7;

/// A batch of rows sealed and encoded as the data of one binary `COPY`:
/// [`seal_batch`] is CPU work that runs apart from the database (the parse
/// job seals and encodes the next batch on its parser thread while this one
/// is copied), and the copy itself sends one buffer.
#[derive(Debug)]
pub struct SealedBatch {
    rows: usize,
    data: bytes::Bytes,
}

impl SealedBatch {
    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether it holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// Seals `rows` for [`copy_sealed`].
pub fn seal_batch(key: &DataKey, donation_id: i32, part_id: i64, rows: &[NewRow<'_>]) -> Result<SealedBatch, RowError> {
    let mut columns = Vec::with_capacity(rows.len());
    let mut aads = Vec::with_capacity(rows.len());
    for row in rows {
        let (member_no, ordinal) = position(row)?;
        let ts = row.timestamp.map(pg_timestamp).transpose()?;
        columns.push((member_no, ordinal, ts));
        aads.push(row_aad(Position { donation_id, data_type: row.data_type, part_id, member_no, ordinal }));
    }
    let sealed = key.seal_all(rows.iter().map(|r| r.json.as_bytes()).zip(aads));
    let size: usize =
        rows.iter().zip(&sealed).map(|(r, s)| 2 + 7 * 4 + 4 + 8 + 4 + 8 + 8 + r.data_type.len() + s.len()).sum();
    let mut data = bytes::BytesMut::with_capacity(COPY_HEADER.len() + size + 2);
    data.put_slice(COPY_HEADER);
    for ((row, (member_no, ordinal, ts)), sealed) in rows.iter().zip(columns).zip(&sealed) {
        data.put_i16(COPY_FIELDS);
        data.put_i32(4);
        data.put_i32(donation_id);
        put_bytes(&mut data, row.data_type.as_bytes())?;
        data.put_i32(8);
        data.put_i64(part_id);
        data.put_i32(4);
        data.put_i32(member_no);
        data.put_i32(8);
        data.put_i64(ordinal);
        match ts {
            Some(micros) => {
                data.put_i32(8);
                data.put_i64(micros);
            }
            None => data.put_i32(-1),
        }
        put_bytes(&mut data, sealed)?;
    }
    data.put_i16(-1);
    Ok(SealedBatch { rows: rows.len(), data: data.freeze() })
}

/// A length-prefixed field.
fn put_bytes(data: &mut bytes::BytesMut, value: &[u8]) -> Result<(), RowError> {
    data.put_i32(i32::try_from(value.len()).map_err(|_| RowError::TooLarge(value.len()))?);
    data.put_slice(value);
    Ok(())
}

/// A `timestamptz` as PostgreSQL's binary format holds it: microseconds from
/// 2000-01-01 00:00Z (as diesel writes it).
fn pg_timestamp(ts: DateTime<Utc>) -> Result<i64, RowError> {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default().and_time(NaiveTime::MIN);
    ts.naive_utc().signed_duration_since(epoch).num_microseconds().ok_or(RowError::Timestamp(ts))
}

/// Copies a sealed batch into `donation_rows` with one binary `COPY` in the
/// caller's transaction; returns how many rows went in. The caller writes
/// only rows after its parse markers, so a row already stored is a bug: it
/// fails the whole batch with [`RowError::AlreadyStored`] instead of being
/// passed over.
pub async fn copy_sealed(tx: &tokio_postgres::Transaction<'_>, batch: SealedBatch) -> Result<u64, RowError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let sink = tx.copy_in::<_, bytes::Bytes>(COPY_ROWS).await?;
    let mut sink = std::pin::pin!(sink);
    sink.send(batch.data).await?;
    Ok(sink.finish().await?)
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

    /// The binary COPY data PostgreSQL expects: header, one 7-field tuple
    /// per row (a NULL `ts` as length −1), the trailer; each sealed value
    /// opens with its own position.
    #[test]
    fn sealed_batches_are_binary_copy_data() {
        let key = DataKey::from_bytes(&[7; 32]);
        let at = DateTime::parse_from_rfc3339("2000-01-02T00:00:00.000001Z").unwrap().to_utc();
        let rows = [
            NewRow { data_type: "likes", member_no: 1, ordinal: 5, timestamp: Some(at), json: r#"{"a":1}"# },
            NewRow { data_type: "search", member_no: 2, ordinal: 9, timestamp: None, json: "{}" },
        ];
        let batch = seal_batch(&key, 3, 4, &rows).unwrap();
        assert_eq!(batch.len(), 2);
        let mut data = &batch.data[..];
        let mut take = |n: usize| {
            let (head, rest) = data.split_at(n);
            data = rest;
            head.to_vec()
        };
        assert_eq!(take(19), COPY_HEADER);
        for (row, ts) in rows.iter().zip([Some(86_400_000_001_i64), None]) {
            let int = |b: Vec<u8>| i64::from_be_bytes(b.try_into().unwrap());
            assert_eq!(take(2), 7_i16.to_be_bytes());
            assert_eq!((take(4), take(4)), (4_i32.to_be_bytes().to_vec(), 3_i32.to_be_bytes().to_vec()));
            assert_eq!(take(4), (row.data_type.len() as i32).to_be_bytes());
            assert_eq!(take(row.data_type.len()), row.data_type.as_bytes());
            assert_eq!((take(4), int(take(8))), (8_i32.to_be_bytes().to_vec(), 4));
            assert_eq!(
                (take(4), take(4)),
                (4_i32.to_be_bytes().to_vec(), (row.member_no as i32).to_be_bytes().to_vec())
            );
            assert_eq!((take(4), int(take(8))), (8_i32.to_be_bytes().to_vec(), row.ordinal as i64));
            match ts {
                Some(micros) => assert_eq!((take(4), int(take(8))), (8_i32.to_be_bytes().to_vec(), micros)),
                None => assert_eq!(take(4), (-1_i32).to_be_bytes()),
            }
            let len = i32::from_be_bytes(take(4).try_into().unwrap()) as usize;
            let position = Position {
                donation_id: 3,
                data_type: row.data_type,
                part_id: 4,
                member_no: row.member_no as i32,
                ordinal: row.ordinal as i64,
            };
            assert_eq!(key.open(&take(len), &row_aad(position)).unwrap(), row.json.as_bytes());
        }
        assert_eq!(take(2), (-1_i16).to_be_bytes());
        assert!(data.is_empty());
    }

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
