//! Native `steward.donation.v1` messages ↔ the donation domain: requests into
//! validated inputs (ids, paging, queries), domain values into messages, and
//! the opaque page tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;

use super::catalogue::{self, DATA_TYPES, Source};
use super::error::{DonationError, Result};
use super::model::{self, Donation, Event, RawCreate, Stage, Status, TypeState, TypeStatus};
use super::ops::{DataPage, DataQuery};
use super::rows;
use crate::proto::donation::v1 as pb;
use crate::proto::timestamp;

/// Default and largest `ListDonations` / `ListDonationEvents` page.
pub const LIST_PAGE: (i64, i64) = (100, 1000);
/// Default `QueryDonationData` page (the largest is the configured query limit).
pub const QUERY_PAGE: i64 = 1000;

/// A donation id from a request; anything that cannot be one is simply not found.
pub fn donation_id(id: i64) -> Result<i32> {
    i32::try_from(id).ok().filter(|id| *id > 0).ok_or(DonationError::NotFound)
}

/// A page size: 0 means `default`, larger than `max` is clamped, negative refused.
pub fn page_size(size: i32, default: i64, max: i64) -> Result<i64> {
    match size {
        0 => Ok(default),
        n if n < 0 => Err(DonationError::invalid("page_size", "Must not be negative.")),
        n => Ok(i64::from(n).min(max)),
    }
}

/// The native create request as the shared validation reads it.
pub fn create_request(request: pb::CreateDonationRequest) -> RawCreate {
    let pb::CreateDonationRequest {
        source,
        data_start_date,
        data_end_date,
        requested_data_types,
        dataset,
        description,
        request_id,
    } = request;
    let source_type = match pb::DonationSource::try_from(source) {
        Ok(pb::DonationSource::Unspecified) => None,
        Ok(pb::DonationSource::GooglePortability) => Some(Source::Google.as_str().to_owned()),
        Ok(pb::DonationSource::TiktokPortability) => Some(Source::TikTok.as_str().to_owned()),
        Err(_) => Some(source.to_string()),
    };
    let given = |s: String| Some(s).filter(|s| !s.is_empty());
    RawCreate {
        source_type,
        data_start_date: given(data_start_date),
        data_end_date: given(data_end_date),
        requested_data_types: requested_data_types.into_iter().filter(|t| !t.is_empty()).collect(),
        dataset: given(dataset),
        description,
        request_id: given(request_id),
    }
}

/// A token naming where the next page starts; `kind` keeps tokens of
/// different lists apart, `filter` ties a token to the query that made it.
fn encode_token(kind: &str, position: i64, filter: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}:{}", filter_hash(filter)))
}

fn decode_token(kind: &str, token: &str, filter: &str) -> Result<i64> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || DonationError::invalid("page_token", "Invalid page token for this request.");
    let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next().and_then(|p| p.parse::<i64>().ok()), parts.next()) {
        (Some(k), Some(position), Some(hash)) if k == kind && position >= 0 && hash == filter_hash(filter) => {
            Ok(position)
        }
        _ => Err(invalid()),
    }
}

fn filter_hash(filter: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, filter.as_bytes());
    crate::auth::token::hex(&digest.as_ref()[..8])
}

/// The id after which a donations page starts.
pub fn list_after(token: &str, dataset: &str) -> Result<i32> {
    let after = decode_token("donations", token, dataset)?;
    i32::try_from(after).map_err(|_| DonationError::invalid("page_token", "Invalid page token for this request."))
}

/// The token of the donations page after id `last`.
pub fn list_token(last: i32, dataset: &str) -> String {
    encode_token("donations", i64::from(last), dataset)
}

/// The event id after which an events page starts.
pub fn events_after(token: &str, donation_id: i32) -> Result<i64> {
    decode_token("events", token, &donation_id.to_string())
}

/// The token of the events page after event `last`.
pub fn events_token(last: i64, donation_id: i32) -> String {
    encode_token("events", last, &donation_id.to_string())
}

/// A native data query: the donation, the rows to read, the filter key that
/// page tokens are bound to, and how the rows go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeQuery {
    pub id: i32,
    pub query: DataQuery,
    pub filter: String,
    pub format: RowFormat,
}

/// Checks a QueryDonationData request.
pub fn data_query(request: pb::QueryDonationDataRequest, max_limit: u32) -> Result<NativeQuery> {
    let pb::QueryDonationDataRequest {
        donation_id: id,
        data_type,
        start_date,
        end_date,
        page_size: size,
        page_token,
        row_format,
    } = request;
    let id = donation_id(id)?;
    let mut errors = model::FieldErrors::default();
    if data_type.is_empty() {
        errors.add("data_type", "This field is required.");
    }
    let start = model::filter_date(&mut errors, "start_date", &start_date);
    let end = model::filter_date(&mut errors, "end_date", &end_date);
    if !errors.is_empty() {
        return Err(DonationError::Invalid(errors));
    }
    model::check_date_order(start, end).map_err(DonationError::Invalid)?;
    let format = self::row_format(row_format)?;
    let limit = page_size(size, QUERY_PAGE.min(i64::from(max_limit)), i64::from(max_limit))?;
    let filter = format!("{id}\n{data_type}\n{start_date}\n{end_date}");
    let (offset, seek) = decode_rows_token(&page_token, &filter)?;
    Ok(NativeQuery { id, query: DataQuery { data_type, start, end, limit, offset, seek }, filter, format })
}

impl NativeQuery {
    /// The token of the page after `page` (empty after the last): read from
    /// the page's last row on when it has one, else by offset.
    pub fn next_page_token(&self, page: &DataPage) -> String {
        let end = self.query.offset.saturating_add(i64::try_from(page.rows.len()).unwrap_or(i64::MAX));
        match page.next {
            _ if page.rows.is_empty() || end >= page.count => String::new(),
            Some(after) => rows_seek_token(end, &self.filter, rows::Seek { count: page.count, after }),
            None => rows_token(end, &self.filter),
        }
    }
}

/// How rows go out: the request's `row_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// `google.protobuf.Struct`s in `rows`.
    Struct,
    /// The stored JSON texts as they are, in `json_rows`.
    Json,
}

/// Reads `row_format`; unset means Struct rows, as before the field existed.
pub fn row_format(value: i32) -> Result<RowFormat> {
    match pb::RowFormat::try_from(value) {
        Ok(pb::RowFormat::Unspecified | pb::RowFormat::Struct) => Ok(RowFormat::Struct),
        Ok(pb::RowFormat::Json) => Ok(RowFormat::Json),
        Err(_) => Err(DonationError::invalid(
            "row_format",
            format!("{value} is not a row format: use ROW_FORMAT_STRUCT or ROW_FORMAT_JSON."),
        )),
    }
}

impl RowFormat {
    /// Rows (stored JSON texts) as a response's `rows` and `json_rows`.
    pub fn render(self, texts: Vec<String>) -> Result<(Vec<prost_types::Struct>, Vec<String>)> {
        match self {
            Self::Struct => Ok((texts.iter().map(|t| row(t)).collect::<Result<_>>()?, Vec::new())),
            Self::Json => Ok((Vec::new(), texts)),
        }
    }
}

/// The token of the rows page starting at `offset`.
pub fn rows_token(offset: i64, filter: &str) -> String {
    encode_token("rows", offset, filter)
}

/// The token of the rows page starting at `offset`, right after `seek.after`:
/// it also carries the total and that row's order key, so the next page is
/// read from the key on instead of counting and skipping `offset` rows.
pub fn rows_seek_token(offset: i64, filter: &str, seek: rows::Seek) -> String {
    let rows::Cursor { ts, part_id, member_no, ordinal } = seek.after;
    let ts = ts.map_or_else(|| "-".to_owned(), |t| t.timestamp_micros().to_string());
    let base = format!("rows:{offset}:{}", filter_hash(filter));
    URL_SAFE_NO_PAD.encode(format!("{base}:{}:{ts}:{part_id}:{member_no}:{ordinal}", seek.count))
}

/// The offset of a rows token, and its seek when it has one.
fn decode_rows_token(token: &str, filter: &str) -> Result<(i64, Option<rows::Seek>)> {
    let invalid = || DonationError::invalid("page_token", "Invalid page token for this request.");
    let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    let fields: Vec<&str> = text.split(':').collect();
    let Some((base, seek)) = fields.split_at_checked(3).filter(|(_, seek)| seek.len() == 5) else {
        return Ok((decode_token("rows", token, filter)?, None));
    };
    let offset = decode_token("rows", &URL_SAFE_NO_PAD.encode(base.join(":")), filter)?;
    let number = |s: &str| s.parse::<i64>().map_err(|_| invalid());
    let ts = match seek[1] {
        "-" => None,
        micros => Some(DateTime::from_timestamp_micros(number(micros)?).ok_or_else(invalid)?),
    };
    let after = rows::Cursor {
        ts,
        part_id: number(seek[2])?,
        member_no: i32::try_from(number(seek[3])?).map_err(|_| invalid())?,
        ordinal: number(seek[4])?,
    };
    Ok((offset, Some(rows::Seek { count: number(seek[0])?, after })))
}

/// A stored row (a flat JSON object) as a `Struct`, deserialized straight
/// into it (no `serde_json::Value` in between: pages and exports convert
/// thousands of rows per message). Same values as [`json_value`] gives.
pub fn row(json: &str) -> Result<prost_types::Struct> {
    match serde_json::from_str::<RowStruct>(json) {
        Ok(RowStruct(row)) => Ok(row),
        Err(_) => Err(DonationError::Internal(anyhow::anyhow!("a stored row is not a JSON object"))),
    }
}

/// A JSON object as a `Struct`; anything else is an error.
struct RowStruct(prost_types::Struct);

/// Any JSON value as a protobuf `Value`.
struct RowValue(prost_types::Value);

impl<'de> serde::Deserialize<'de> for RowStruct {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(RowStructVisitor)
    }
}

struct RowStructVisitor;

impl<'de> serde::de::Visitor<'de> for RowStructVisitor {
    type Value = RowStruct;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<RowStruct, A::Error> {
        let mut fields = std::collections::BTreeMap::new();
        while let Some((key, RowValue(value))) = map.next_entry::<String, RowValue>()? {
            fields.insert(key, value);
        }
        Ok(RowStruct(prost_types::Struct { fields }))
    }
}

impl<'de> serde::Deserialize<'de> for RowValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use prost_types::value::Kind;
        struct Visitor;
        fn value(kind: Kind) -> RowValue {
            RowValue(prost_types::Value { kind: Some(kind) })
        }
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RowValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::NullValue(0)))
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::BoolValue(b)))
            }
            fn visit_i64<E>(self, n: i64) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::NumberValue(n as f64)))
            }
            fn visit_u64<E>(self, n: u64) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::NumberValue(n as f64)))
            }
            fn visit_f64<E>(self, n: f64) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::NumberValue(n)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::StringValue(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<RowValue, E> {
                Ok(value(Kind::StringValue(s)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<RowValue, A::Error> {
                let mut values = Vec::new();
                while let Some(RowValue(v)) = seq.next_element()? {
                    values.push(v);
                }
                Ok(value(Kind::ListValue(prost_types::ListValue { values })))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<RowValue, A::Error> {
                let RowStruct(s) = serde::de::Visitor::visit_map(RowStructVisitor, map)?;
                Ok(value(Kind::StructValue(s)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn json_struct(object: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct { fields: object.into_iter().map(|(k, v)| (k, json_value(v))).collect() }
}

fn json_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => {
            Kind::ListValue(prost_types::ListValue { values: a.into_iter().map(json_value).collect() })
        }
        serde_json::Value::Object(o) => Kind::StructValue(json_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A source as the enum.
pub fn source(s: Source) -> pb::DonationSource {
    match s {
        Source::Google => pb::DonationSource::GooglePortability,
        Source::TikTok => pb::DonationSource::TiktokPortability,
    }
}

fn status(s: Status) -> pb::DonationStatus {
    match s {
        Status::Pending => pb::DonationStatus::Pending,
        Status::Authorized => pb::DonationStatus::Authorized,
        Status::Processing => pb::DonationStatus::Processing,
        Status::Processed => pb::DonationStatus::Processed,
        Status::Error => pb::DonationStatus::Error,
    }
}

fn stage(s: Stage) -> pb::DonationStage {
    match s {
        Stage::Created => pb::DonationStage::Created,
        Stage::LinkOpened => pb::DonationStage::LinkOpened,
        Stage::TermsAccepted => pb::DonationStage::TermsAccepted,
        Stage::Authorized => pb::DonationStage::Authorized,
        Stage::ExportRequested => pb::DonationStage::ExportRequested,
        Stage::WaitingForProvider => pb::DonationStage::WaitingForProvider,
        Stage::Downloading => pb::DonationStage::Downloading,
        Stage::Parsing => pb::DonationStage::Parsing,
        Stage::Done => pb::DonationStage::Done,
        Stage::Failed => pb::DonationStage::Failed,
    }
}

fn type_state(s: TypeState) -> pb::DataTypeState {
    match s {
        TypeState::Requested => pb::DataTypeState::Requested,
        TypeState::Exporting => pb::DataTypeState::Exporting,
        TypeState::Downloading => pb::DataTypeState::Downloading,
        TypeState::Parsing => pb::DataTypeState::Parsing,
        TypeState::Available => pb::DataTypeState::Available,
        TypeState::Declined => pb::DataTypeState::Declined,
        TypeState::Failed => pb::DataTypeState::Failed,
    }
}

/// A donation with its types' states as the message.
pub fn donation(d: Donation, types: Vec<TypeStatus>) -> pb::Donation {
    let Donation {
        id,
        owner_id: _,
        dataset_id: _,
        dataset,
        source: src,
        status: st,
        stage: sg,
        data_start_date,
        data_end_date,
        requested_data_types,
        description,
        error_code,
        error_message,
        created_at,
        updated_at,
        terms_accepted_at,
        authorized_at,
        processed_at,
    } = d;
    let error = error_code.filter(|_| st == Status::Error).map(|code| {
        let (participant_can_fix, researcher_can_retry) = model::error_remedies(&code);
        pb::DonationError {
            code,
            message: error_message.unwrap_or_default(),
            participant_can_fix,
            researcher_can_retry,
        }
    });
    let data_types = types
        .into_iter()
        .map(|t| {
            let TypeStatus { data_type, state, rows, skipped_records, reason_code } = t;
            let status = pb::DataTypeStatus {
                state: type_state(state).into(),
                rows,
                skipped_records,
                reason_code: reason_code.unwrap_or_default(),
            };
            (data_type, status)
        })
        .collect();
    pb::Donation {
        id: i64::from(id),
        source: source(src).into(),
        status: status(st).into(),
        stage: stage(sg).into(),
        create_time: Some(timestamp(created_at)),
        update_time: Some(timestamp(updated_at)),
        data_start_date: data_start_date.map(model::format_date).unwrap_or_default(),
        data_end_date: data_end_date.map(model::format_date).unwrap_or_default(),
        requested_data_types,
        data_types,
        dataset: dataset.unwrap_or_default(),
        description,
        error,
        terms_accept_time: terms_accepted_at.map(timestamp),
        authorize_time: authorized_at.map(timestamp),
        process_time: processed_at.map(timestamp),
    }
}

/// An event as the message.
pub fn event(e: Event) -> pb::DonationEvent {
    let Event { id, kind, data_type, detail, created_at } = e;
    let details = match detail {
        serde_json::Value::Object(o) => Some(json_struct(o)),
        _ => None,
    };
    pb::DonationEvent {
        id,
        kind,
        create_time: Some(timestamp(created_at)),
        data_type: data_type.unwrap_or_default(),
        details,
    }
}

/// The catalogue, with whether this server accepts each source.
pub fn sources(enabled: impl Fn(Source) -> bool) -> Vec<pb::DataSource> {
    Source::ALL
        .into_iter()
        .map(|s| pb::DataSource {
            source: source(s).into(),
            source_type: s.as_str().to_owned(),
            provider_name: s.provider_name().to_owned(),
            enabled: enabled(s),
            data_types: DATA_TYPES
                .iter()
                .filter(|t| t.source == s)
                .map(|t| pb::DataTypeInfo {
                    name: t.name.to_owned(),
                    display_name: t.display_name.to_owned(),
                    description: t.description.to_owned(),
                    resources: t.resources.iter().map(|r| (*r).to_owned()).collect(),
                    scopes: match s {
                        Source::Google => t.resources.iter().map(|r| catalogue::google_scope(r)).collect(),
                        Source::TikTok => Vec::new(),
                    },
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_tokens_round_trip_and_are_bound_to_their_filter() {
        let filter = "1\nsearch\n\n";
        let ts = DateTime::from_timestamp_micros(1_700_000_000_123_000);
        for after in [
            rows::Cursor { ts, part_id: 3, member_no: 2, ordinal: 999 },
            rows::Cursor { ts: None, part_id: 4, member_no: 0, ordinal: 0 },
        ] {
            let seek = rows::Seek { count: 5000, after };
            let token = rows_seek_token(2000, filter, seek);
            assert_eq!(decode_rows_token(&token, filter).unwrap(), (2000, Some(seek)));
            assert!(decode_rows_token(&token, "1\nsearch\n2023-01-01\n").is_err());
        }
        assert_eq!(decode_rows_token(&rows_token(7, filter), filter).unwrap(), (7, None));
        assert_eq!(decode_rows_token("", filter).unwrap(), (0, None));
        let forged = URL_SAFE_NO_PAD.encode(format!("rows:7:{}:x:-:1:2:3", filter_hash(filter)));
        assert!(decode_rows_token(&forged, filter).is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_filter() {
        let token = rows_token(2000, "1\nsearch\n\n");
        assert_eq!(decode_token("rows", &token, "1\nsearch\n\n").unwrap(), 2000);
        assert!(decode_token("rows", &token, "1\nsearch\n2023-01-01\n").is_err());
        assert!(decode_token("events", &token, "1\nsearch\n\n").is_err());
        assert!(decode_token("rows", "not base64!", "").is_err());
        assert_eq!(list_after("", "").unwrap(), 0);
        assert_eq!(list_after(&list_token(7, "fish"), "fish").unwrap(), 7);
    }

    #[test]
    fn ids_and_page_sizes() {
        assert!(matches!(donation_id(0), Err(DonationError::NotFound)));
        assert!(matches!(donation_id(i64::MAX), Err(DonationError::NotFound)));
        assert_eq!(donation_id(5).unwrap(), 5);
        assert_eq!(page_size(0, 100, 1000).unwrap(), 100);
        assert_eq!(page_size(5000, 100, 1000).unwrap(), 1000);
        assert!(page_size(-1, 100, 1000).is_err());
    }

    #[test]
    fn rows_convert_as_through_a_json_value() {
        let json = r#"{"t":"caf\u00e9 \"x\"","n":null,"b":false,"i":-3,"u":18446744073709551615,"f":1.5,
            "l":[1,"a",null,{"k":[true]}],"o":{"z":{}},"dup":1,"dup":2}"#;
        let serde_json::Value::Object(object) = serde_json::from_str(json).unwrap() else { unreachable!() };
        assert_eq!(row(json).unwrap(), json_struct(object));
        for bad in ["[1]", "\"x\"", "{\"a\":}", "{} {}", ""] {
            assert!(row(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_become_structs_and_the_catalogue_lists_scopes() {
        let s = row(r#"{"title":"x","details":null,"ok":true}"#).unwrap();
        assert_eq!(s.fields.len(), 3);
        assert!(row("[1]").is_err());
        let sources = sources(|s| s == Source::Google);
        assert_eq!(sources.len(), 2);
        assert!(sources[0].enabled && !sources[1].enabled);
        assert_eq!(
            sources[0].data_types[0].scopes,
            ["https://www.googleapis.com/auth/dataportability.myactivity.youtube"]
        );
        assert!(sources[1].data_types[0].scopes.is_empty());
    }

    #[test]
    fn native_create_requests_map_enums_to_compat_spellings() {
        let raw = create_request(pb::CreateDonationRequest {
            source: pb::DonationSource::TiktokPortability.into(),
            data_start_date: String::new(),
            requested_data_types: vec!["likes".into(), String::new()],
            ..Default::default()
        });
        assert_eq!(raw.source_type.as_deref(), Some("tiktok_portability"));
        assert_eq!(raw.data_start_date, None);
        assert_eq!(raw.requested_data_types, ["likes"]);
        assert_eq!(create_request(pb::CreateDonationRequest::default()).source_type, None);
    }
}
