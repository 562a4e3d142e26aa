//! ExportDonationData (spec §2.9, §5.4): a donation's rows streamed in
//! batches, for pulls too large to page through comfortably.
//!
//! Same visibility as QueryDonationData (creator, `view` on the dataset,
//! admin; otherwise NOT_FOUND). Each available type is read with keyset
//! pages of [`BATCH`] rows in QueryDonationData's order ([`rows::page_after`]),
//! so every batch costs the same however deep it is, and at most
//! [`BUFFERED`] batches wait for a slow client (one more is being converted
//! on a blocking thread while the next is read): memory does not grow with
//! the donation's size. A producer task feeds the response stream and stops
//! as soon as the client goes away (its receiver is dropped). Before each
//! batch it checks that the donation still has its data key, so a donation
//! deleted during an export stops being served at that commit.

use std::pin::Pin;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::convert::{self, RowFormat};
use super::error::{DonationError, Result};
use super::grpc::{DonationApi, Reply_};
use super::keys::DataKey;
use super::ops::{self, Viewer};
use super::{keys, model, rows, store};
use crate::db::PooledConn;
use crate::db::schema::donation_keys;
use crate::proto::donation::v1 as pb;

/// Rows per streamed message.
pub const BATCH: i64 = 1_000;

/// Batches read ahead of the client.
pub const BUFFERED: usize = 2;

/// The stream of export batches.
pub type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportDonationDataResponse, Status>> + Send>>;

type Batches = mpsc::Sender<Result<pb::ExportDonationDataResponse, Status>>;

/// A validated export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub donation_id: i32,
    /// One type, or `None` for every available type.
    pub data_type: Option<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub format: RowFormat,
    /// JSON rows as one newline-delimited text a batch (`json_lines`).
    pub json_lines: bool,
}

/// Checks the request's shape: the dates' format and order, the row format.
pub fn export_spec(request: pb::ExportDonationDataRequest) -> Result<ExportSpec> {
    let pb::ExportDonationDataRequest { donation_id, data_type, start_date, end_date, row_format, json_lines } =
        request;
    let donation_id = convert::donation_id(donation_id)?;
    let mut errors = model::FieldErrors::default();
    let start = model::filter_date(&mut errors, "start_date", &start_date);
    let end = model::filter_date(&mut errors, "end_date", &end_date);
    if !errors.is_empty() {
        return Err(DonationError::Invalid(errors));
    }
    model::check_date_order(start, end).map_err(DonationError::Invalid)?;
    let format = convert::row_format(row_format)?;
    let data_type = Some(data_type).filter(|t| !t.is_empty());
    let json_lines = json_lines && format == RowFormat::Json;
    Ok(ExportSpec { donation_id, data_type, start, end, format, json_lines })
}

/// The types to export, in catalogue order: NOT_FOUND when the viewer may
/// not see the donation, INVALID_ARGUMENT for a type its source does not
/// have; a type of the source that is not available has no rows.
pub async fn export_types(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    spec: &ExportSpec,
) -> Result<Vec<&'static str>> {
    let donation = ops::get(conn, viewer, spec.donation_id).await?;
    let source = donation.source;
    let wanted: Vec<&'static str> = match &spec.data_type {
        None => source.data_type_names(),
        Some(name) => match source.data_type(name) {
            Some(t) => vec![t.name],
            None => {
                let valid = source.data_type_names().join(", ");
                return Err(DonationError::invalid(
                    "data_type",
                    format!("\"{name}\" is not a data type of {source}. Valid: {valid}."),
                ));
            }
        },
    };
    let available = store::available_types(conn, spec.donation_id).await?;
    Ok(wanted.into_iter().filter(|t| available.iter().any(|a| a == t)).collect())
}

/// Streams the rows of the donation's available types (or of one type).
pub async fn export_donation_data(
    api: &DonationApi,
    request: Request<pb::ExportDonationDataRequest>,
) -> Reply_<ExportStream> {
    let viewer = api.native_viewer(&request).await?;
    let spec = export_spec(request.into_inner())?;
    let mut conn = api.conn().await?;
    let types = export_types(&mut conn, &viewer, &spec).await?;
    let (tx, rx) = mpsc::channel(BUFFERED);
    if !types.is_empty() {
        let key = keys::load(&mut conn, &api.keyring, spec.donation_id).await.map_err(DonationError::from)?;
        tokio::spawn(produce(conn, key, spec, types, tx));
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(Response::new(Box::pin(stream)))
}

/// Feeds the batches into `tx`; a failure ends the stream with its status.
async fn produce(mut conn: PooledConn, key: DataKey, spec: ExportSpec, types: Vec<&'static str>, tx: Batches) {
    if let Err(e) = send_batches(&mut conn, &key, &spec, &types, &tx).await {
        let _ = tx.send(Err(e.into())).await;
    }
}

async fn send_batches(
    conn: &mut AsyncPgConnection,
    key: &DataKey,
    spec: &ExportSpec,
    types: &[&'static str],
    tx: &Batches,
) -> Result<()> {
    // One batch is opened and converted on a blocking thread while the next
    // is read from the database; batches are sent in order.
    let mut converting: Option<Converting> = None;
    for &data_type in types {
        let filter = rows::RowFilter { donation_id: spec.donation_id, data_type, start: spec.start, end: spec.end };
        let mut after = None;
        loop {
            // The client went away: nothing more to read.
            if tx.is_closed() {
                return Ok(());
            }
            let exists = diesel::select(diesel::dsl::exists(donation_keys::table.find(spec.donation_id)));
            if !exists.get_result::<bool>(conn).await? {
                return Err(DonationError::NotFound);
            }
            let page = rows::sealed_after(conn, &filter, after, BATCH).await?;
            if let Some(previous) = converting.take()
                && !send(previous, tx).await?
            {
                return Ok(());
            }
            if page.rows.is_empty() {
                break;
            }
            let (key, format, lines) = (key.clone(), spec.format, spec.json_lines);
            converting = Some(tokio::task::spawn_blocking(move || {
                let texts = rows::open_rows(&key, &filter, page.rows)?;
                let data_type = data_type.to_owned();
                if lines {
                    return Ok(pb::ExportDonationDataResponse {
                        data_type,
                        json_lines: json_lines(texts),
                        ..Default::default()
                    });
                }
                let (rows, json_rows) = format.render(texts)?;
                Ok(pb::ExportDonationDataResponse { data_type, rows, json_rows, json_lines: Vec::new() })
            }));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    if let Some(last) = converting {
        send(last, tx).await?;
    }
    Ok(())
}

/// The rows' JSON texts as one text, each followed by a newline: the stored
/// texts have no raw newline (JSON escapes it in strings).
fn json_lines(texts: Vec<String>) -> Vec<u8> {
    let mut lines = Vec::with_capacity(texts.iter().map(|t| t.len() + 1).sum());
    for text in texts {
        lines.extend_from_slice(text.as_bytes());
        lines.push(b'\n');
    }
    lines
}

/// A batch being opened and converted.
type Converting = tokio::task::JoinHandle<Result<pb::ExportDonationDataResponse>>;

/// Sends a converted batch; `false` once the client is gone.
async fn send(batch: Converting, tx: &Batches) -> Result<bool> {
    let batch = batch.await.map_err(|e| DonationError::Internal(e.into()))??;
    Ok(tx.send(Ok(batch)).await.is_ok())
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn request(start: &str, end: &str) -> pb::ExportDonationDataRequest {
        pb::ExportDonationDataRequest {
            donation_id: 7,
            data_type: String::new(),
            start_date: start.into(),
            end_date: end.into(),
            row_format: 0,
            json_lines: false,
        }
    }

    #[test]
    fn dates_are_checked_before_anything_is_read() {
        let spec = export_spec(request("2024-01-01", "2024-01-31")).unwrap();
        assert_eq!(spec.start, NaiveDate::from_ymd_opt(2024, 1, 1));
        assert_eq!(spec.end, NaiveDate::from_ymd_opt(2024, 1, 31));
        assert_eq!(spec.data_type, None);
        assert_eq!(spec.format, RowFormat::Struct, "unset means Struct rows");

        let bad = Status::from(export_spec(request("2024-13-01", "")).unwrap_err());
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(bad.message().contains("start_date"), "{}", bad.message());
        assert!(bad.message().contains("YYYY-MM-DD"), "{}", bad.message());

        let reversed = Status::from(export_spec(request("2024-02-01", "2024-01-01")).unwrap_err());
        assert_eq!(reversed.code(), Code::InvalidArgument);
        assert_eq!(reversed.message(), "start_date must not be after end_date.");
    }

    #[test]
    fn the_row_format_is_checked() {
        let json = pb::ExportDonationDataRequest { row_format: pb::RowFormat::Json.into(), ..request("", "") };
        assert_eq!(export_spec(json.clone()).unwrap().format, RowFormat::Json);
        assert!(!export_spec(json.clone()).unwrap().json_lines);
        let lines = pb::ExportDonationDataRequest { json_lines: true, ..json };
        assert!(export_spec(lines.clone()).unwrap().json_lines);
        let structs = pb::ExportDonationDataRequest { row_format: pb::RowFormat::Struct.into(), ..lines };
        assert!(!export_spec(structs).unwrap().json_lines, "only JSON rows come as lines");
        let unknown =
            Status::from(export_spec(pb::ExportDonationDataRequest { row_format: 9, ..request("", "") }).unwrap_err());
        assert_eq!(unknown.code(), Code::InvalidArgument);
        assert!(unknown.message().contains("ROW_FORMAT_JSON"), "{}", unknown.message());
    }

    #[test]
    fn a_donation_id_out_of_range_is_not_found() {
        let request = pb::ExportDonationDataRequest { donation_id: -1, ..request("", "") };
        assert_eq!(Status::from(export_spec(request).unwrap_err()).code(), Code::NotFound);
    }
}
