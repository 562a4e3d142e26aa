//! The `donation.parse` job (spec §5.1, §5.3, §5.5, §5.8): reads one stored
//! part through its source's archive parser (Google's or TikTok's) and copies
//! its rows in batches, each batch committed with the parse markers of its
//! members so a re-run resumes where the last one stopped; then records what
//! the part gave each type and deletes the part's blob.
//!
//! The batches go over a direct tokio-postgres connection of their own
//! (binary `COPY`, which diesel-async lacks: about twice as many rows a
//! second as an `INSERT`); the rest of the job uses the pooled connection.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::download::part_aad;
use super::{Error, Processing, store};
use crate::db::schema::{archive_parts, parse_progress, part_type_results};
use crate::donation::archive::{self, Limits, Outcome, PartRequest, Row, Window};
use crate::donation::catalogue::{DataType, Source};
use crate::donation::config::ArchiveLimits;
use crate::donation::keys;
use crate::donation::model::TypeState;
use crate::donation::rows::{self, NewRow, RowError, SealedBatch};
use crate::donation::store as donation_store;

/// Rows per COPY, each batch in its own transaction with its markers.
pub const BATCH: usize = 1000;

/// Advances the markers of a batch's members (never backwards), as [`mark`]
/// does one: `$1` the part, then the members' types, numbers and last ordinals.
const MARK_BATCH: &str = "INSERT INTO parse_progress (part_id, data_type, member_no, last_ordinal, done) \
     SELECT $1, t, m, o, false FROM unnest($2::text[], $3::int4[], $4::int8[]) AS u(t, m, o) \
     ON CONFLICT (part_id, data_type, member_no) DO UPDATE \
     SET last_ordinal = GREATEST(parse_progress.last_ordinal, excluded.last_ordinal)";

/// Parses part `part_id` once it is stored; a part already parsed or failed
/// (or of a deleted donation) is left alone. Returns whether this run parsed
/// it. `database_url` is the pool's database: the rows are copied over a
/// direct connection to it.
pub async fn parse(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    database_url: &str,
    part_id: i64,
) -> Result<bool, Error> {
    parse_until(processing, conn, database_url, part_id, &|| false).await
}

/// [`parse`], stopping after the batch during which `stopping` turned true
/// with [`Error::Interrupted`]; what was committed stays, and the next run
/// resumes after it (spec §5.3).
pub async fn parse_until(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    database_url: &str,
    part_id: i64,
    stopping: &(dyn Fn() -> bool + Sync),
) -> Result<bool, Error> {
    let Some(part) = store::part(conn, part_id).await? else {
        return Ok(false);
    };
    let (Some(object_key), "stored") = (part.object_key.clone(), part.state.as_str()) else {
        return Ok(false);
    };
    let donation_id = part.donation_id;
    let Some(donation) = donation_store::find(conn, donation_id, false).await? else {
        return Ok(false);
    };
    let types = open_types(conn, &donation, &part.resource).await?;
    let data_key = match keys::load(conn, &processing.keyring, donation_id).await {
        Ok(key) => key,
        Err(keys::KeyError::Missing(_)) => return Ok(false),
        Err(e) => return Err(Error::Other(e.into())),
    };
    let resume: HashMap<(String, u32), u64> = parse_progress::table
        .filter(parse_progress::part_id.eq(part_id))
        .filter(parse_progress::last_ordinal.ge(0))
        .select((parse_progress::data_type, parse_progress::member_no, parse_progress::last_ordinal))
        .load::<(String, i32, i64)>(conn)
        .await?
        .into_iter()
        .map(|(t, m, o)| ((t, m as u32), o as u64))
        .collect();
    let mut direct = crate::db::connect_direct(database_url, conn).await?;
    // A batch need not wait for its WAL flush: a crash loses it together
    // with its markers, so the re-run copies it again, and the part's final
    // (synchronous) commit on the pooled connection flushes every batch
    // before the blob goes.
    direct.batch_execute("SET synchronous_commit = off").await.map_err(direct_error)?;
    let marks = direct.prepare(MARK_BATCH).await.map_err(direct_error)?;

    // The parser thread also seals each batch, so the next one is parsed and
    // sealed while this one is copied.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, RowError>>(2);
    let (blobs, limits) = (processing.blobs.clone(), limits(&processing.config.archive_limits));
    let window = Window { start: donation.data_start_date, end: donation.data_end_date };
    let source = donation.source;
    let (key, aad, blob_key) = (data_key.clone(), part_aad(donation_id, part_id), object_key.clone());
    let parser = tokio::task::spawn_blocking(move || {
        let reader = blobs.open_reader(&blob_key, &key, &aad)?;
        let request = PartRequest { donation_id: i64::from(donation_id), data_types: &types, window, limits: &limits };
        let mut rows = Vec::with_capacity(BATCH);
        let send = |rows: &mut Vec<Row>| {
            let batch = Batch::seal(&key, donation_id, part_id, rows);
            rows.clear();
            let failed = batch.is_err();
            tx.blocking_send(batch).map_err(drop)?;
            if failed { Err(()) } else { Ok(()) }
        };
        let resumed = |t: &str, m: u32| resume.get(&(t.to_owned(), m)).copied();
        let sink = |row| {
            rows.push(row);
            if rows.len() == BATCH { send(&mut rows) } else { Ok(()) }
        };
        let report = match source {
            Source::Google => archive::parse_google_part(reader, &request, resumed, sink),
            Source::TikTok => archive::parse_tiktok_part(reader, &request, resumed, sink),
        };
        let report = match report {
            Ok(report) => report,
            Err(archive::ParseError::Source(e)) => return Err(anyhow::Error::new(e)),
            // The receiving side stopped, or sealing failed: reported there.
            Err(archive::ParseError::Sink(())) => return Ok(None),
        };
        if !rows.is_empty() && send(&mut rows).is_err() {
            return Ok(None);
        }
        Ok::<_, anyhow::Error>(Some(report))
    });

    let mut stored = Ok(());
    while let Some(batch) = rx.recv().await {
        stored = match batch {
            Ok(batch) => store_batch(&mut direct, &marks, part_id, batch).await,
            Err(e) => Err(Error::Other(e.into())),
        };
        if stored.is_ok() && stopping() {
            stored = Err(Error::Interrupted);
        }
        if stored.is_err() {
            break;
        }
    }
    drop((rx, direct));
    let report = parser.await.map_err(|e| Error::Other(e.into()))?;
    stored?;
    let Some(report) = report? else {
        return Err(Error::Other(anyhow::anyhow!("the parser stopped without a report")));
    };

    // What each type got is in `part_type_results`; finalize reports it
    // per type (`type_parsed`) once every part is in.
    let failed = report.failure.is_some();
    conn.transaction(async |conn| {
        for t in &report.types {
            let (outcome, reason, detail) = match &t.outcome {
                Outcome::Parsed => ("parsed", None, None),
                Outcome::Missing => ("missing", None, None),
                Outcome::Failed(f) => ("failed", Some(f.code.as_str()), Some(f.reason.as_str())),
            };
            diesel::insert_into(part_type_results::table)
                .values((
                    part_type_results::part_id.eq(part_id),
                    part_type_results::data_type.eq(t.data_type),
                    part_type_results::outcome.eq(outcome),
                    part_type_results::reason_code.eq(reason),
                    part_type_results::reason_detail.eq(detail),
                    part_type_results::rows.eq(count(t.rows)),
                    part_type_results::outside_window.eq(count(t.outside_window)),
                    part_type_results::no_timestamp.eq(count(t.no_timestamp)),
                    part_type_results::skipped_records.eq(count(t.skipped.total())),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            for m in &t.members {
                mark(conn, part_id, t.data_type, m.member_no, m.records.checked_sub(1), true).await?;
            }
        }
        let state = if failed { "failed" } else { "parsed" };
        diesel::update(archive_parts::table.find(part_id)).set(archive_parts::state.eq(state)).execute(conn).await?;
        // Finalize checks for itself that nothing else is unfinished.
        crate::jobs::enqueue(conn, super::finalize_job(&processing.config, donation_id)).await?;
        Ok::<_, Error>(())
    })
    .await?;
    // Raw archives are kept only until parsed (§5.8).
    processing.blobs.delete(&object_key).await?;
    diesel::update(archive_parts::table.find(part_id))
        .set(archive_parts::deleted_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(true)
}

/// The donation's requested types that need `resource`'s part and are still open.
async fn open_types(
    conn: &mut AsyncPgConnection,
    donation: &crate::donation::model::Donation,
    resource: &str,
) -> QueryResult<Vec<&'static DataType>> {
    Ok(donation_store::types(conn, donation.id, &donation.requested_data_types)
        .await?
        .iter()
        .filter(|t| !matches!(t.state, TypeState::Declined | TypeState::Failed | TypeState::Available))
        .filter_map(|t| donation.source.data_type(&t.data_type))
        .filter(|t| t.resources.contains(&resource))
        .collect())
}

/// The parse of part `part_id` failed its last attempt (spec §5.9: the
/// donation must not wait forever): the types still waiting for it fail with
/// `internal`, the part is `failed`, and finalize takes the donation to its
/// end state. RetryDonation can parse the part again.
pub async fn give_up(processing: &Processing, conn: &mut AsyncPgConnection, part_id: i64) -> Result<(), Error> {
    conn.transaction(async |conn| {
        let Some(part) = store::part(conn, part_id).await? else {
            return Ok(());
        };
        if part.state != "stored" {
            return Ok(());
        }
        let Some(donation) = donation_store::find(conn, part.donation_id, false).await? else {
            return Ok(());
        };
        for t in open_types(conn, &donation, &part.resource).await? {
            diesel::insert_into(part_type_results::table)
                .values((
                    part_type_results::part_id.eq(part_id),
                    part_type_results::data_type.eq(t.name),
                    part_type_results::outcome.eq("failed"),
                    part_type_results::reason_code.eq("internal"),
                    part_type_results::reason_detail.eq("the part could not be parsed; its attempts ran out"),
                    part_type_results::rows.eq(0),
                    part_type_results::outside_window.eq(0),
                    part_type_results::no_timestamp.eq(0),
                    part_type_results::skipped_records.eq(0),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        diesel::update(archive_parts::table.find(part_id)).set(archive_parts::state.eq("failed")).execute(conn).await?;
        crate::jobs::enqueue(conn, super::finalize_job(&processing.config, donation.id)).await?;
        Ok::<_, Error>(())
    })
    .await
}

/// The configured zip limits; record limits are the spec's.
fn limits(c: &ArchiveLimits) -> Limits {
    Limits {
        max_part_bytes: c.max_part_bytes,
        max_entries: c.max_entries,
        max_entry_bytes: c.max_entry_bytes,
        max_total_bytes: c.max_total_bytes,
        max_ratio: c.max_ratio,
        ..Limits::default()
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A batch of rows sealed for insertion, with the last ordinal it holds of
/// each member: the markers committed with it.
struct Batch {
    sealed: SealedBatch,
    last: HashMap<(&'static str, u32), u64>,
}

impl Batch {
    fn seal(key: &keys::DataKey, donation_id: i32, part_id: i64, rows: &[Row]) -> Result<Batch, RowError> {
        let new: Vec<NewRow<'_>> = rows.iter().map(NewRow::from).collect();
        let mut last = HashMap::new();
        for r in rows {
            let e = last.entry((r.data_type, r.member_no)).or_insert(r.ordinal);
            *e = (*e).max(r.ordinal);
        }
        Ok(Batch { sealed: rows::seal_batch(key, donation_id, part_id, &new)?, last })
    }
}

/// Copies a batch and advances its members' markers in one transaction on
/// the direct connection: both commit, or neither (dropping an unfinished
/// transaction rolls it back).
async fn store_batch(
    direct: &mut tokio_postgres::Client,
    marks: &tokio_postgres::Statement,
    part_id: i64,
    batch: Batch,
) -> Result<(), Error> {
    let (mut types, mut members, mut ordinals) = (Vec::new(), Vec::new(), Vec::new());
    for ((data_type, member_no), ordinal) in &batch.last {
        types.push(*data_type);
        members.push(i32::try_from(*member_no).map_err(|e| Error::Other(e.into()))?);
        ordinals.push(count(*ordinal));
    }
    let tx = direct.transaction().await.map_err(direct_error)?;
    rows::copy_sealed(&tx, batch.sealed).await.map_err(|e| Error::Other(e.into()))?;
    tokio_postgres::Transaction::execute(&tx, marks, &[&part_id, &types, &members, &ordinals])
        .await
        .map_err(direct_error)?;
    tx.commit().await.map_err(direct_error)
}

fn direct_error(e: tokio_postgres::Error) -> Error {
    Error::Other(anyhow::Error::new(e).context("the parse job's direct database connection"))
}

/// Advances a member's marker (never backwards); `done` is sticky.
async fn mark(
    conn: &mut AsyncPgConnection,
    part_id: i64,
    data_type: &str,
    member_no: u32,
    last_ordinal: Option<u64>,
    done: bool,
) -> Result<(), Error> {
    let member = i32::try_from(member_no).map_err(|e| Error::Other(e.into()))?;
    let last = last_ordinal.map_or(-1, count);
    diesel::insert_into(parse_progress::table)
        .values((
            parse_progress::part_id.eq(part_id),
            parse_progress::data_type.eq(data_type),
            parse_progress::member_no.eq(member),
            parse_progress::last_ordinal.eq(last),
            parse_progress::done.eq(done),
        ))
        .on_conflict((parse_progress::part_id, parse_progress::data_type, parse_progress::member_no))
        .do_update()
        .set((
            parse_progress::last_ordinal.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "GREATEST(parse_progress.last_ordinal, excluded.last_ordinal)",
            )),
            parse_progress::done
                .eq(diesel::dsl::sql::<diesel::sql_types::Bool>("parse_progress.done OR excluded.done")),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
