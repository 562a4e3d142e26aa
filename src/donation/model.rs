//! The donation domain (spec §1.4, §2.2–§2.3, §5.9): status, stage and
//! per-type state with their compat spellings, the error codes and what each
//! lets the researcher or participant do, the donation as the API shows it,
//! and validation of a create request into field errors shaped like DRF's.

use chrono::{DateTime, NaiveDate, Utc};

use super::catalogue::{DataType, Source};

/// Coarse donation status (compat `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Authorized,
    Processing,
    Processed,
    Error,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Pending, Status::Authorized, Status::Processing, Status::Processed, Status::Error];

    /// The compat (and stored) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Authorized => "authorized",
            Status::Processing => "processing",
            Status::Processed => "processed",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Fine donation progress (compat `stage`, spec §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Created,
    LinkOpened,
    TermsAccepted,
    Authorized,
    ExportRequested,
    WaitingForProvider,
    Downloading,
    Parsing,
    Done,
    Failed,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::Created,
        Stage::LinkOpened,
        Stage::TermsAccepted,
        Stage::Authorized,
        Stage::ExportRequested,
        Stage::WaitingForProvider,
        Stage::Downloading,
        Stage::Parsing,
        Stage::Done,
        Stage::Failed,
    ];

    /// The compat (and stored) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Created => "created",
            Stage::LinkOpened => "link_opened",
            Stage::TermsAccepted => "terms_accepted",
            Stage::Authorized => "authorized",
            Stage::ExportRequested => "export_requested",
            Stage::WaitingForProvider => "waiting_for_provider",
            Stage::Downloading => "downloading",
            Stage::Parsing => "parsing",
            Stage::Done => "done",
            Stage::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The status this stage belongs to (the database checks the same pairing).
    pub fn status(self) -> Status {
        match self {
            Stage::Created | Stage::LinkOpened | Stage::TermsAccepted => Status::Pending,
            Stage::Authorized => Status::Authorized,
            Stage::ExportRequested | Stage::WaitingForProvider | Stage::Downloading | Stage::Parsing => {
                Status::Processing
            }
            Stage::Done => Status::Processed,
            Stage::Failed => Status::Error,
        }
    }
}

/// The state of one requested data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeState {
    Requested,
    Exporting,
    Downloading,
    Parsing,
    Available,
    Declined,
    Failed,
}

impl TypeState {
    pub const ALL: [TypeState; 7] = [
        TypeState::Requested,
        TypeState::Exporting,
        TypeState::Downloading,
        TypeState::Parsing,
        TypeState::Available,
        TypeState::Declined,
        TypeState::Failed,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeState::Requested => "requested",
            TypeState::Exporting => "exporting",
            TypeState::Downloading => "downloading",
            TypeState::Parsing => "parsing",
            TypeState::Available => "available",
            TypeState::Declined => "declined",
            TypeState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<TypeState> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What an error code lets each side do (spec §5.9): (participant can fix, researcher can retry).
/// Unknown codes (a newer replica's) are treated like `internal`.
pub fn error_remedies(code: &str) -> (bool, bool) {
    match code {
        "provider_access_lost" | "export_expired" => (true, false),
        _ => (false, true),
    }
}

/// A donation as the researcher API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Donation {
    pub id: i32,
    /// The creating principal.
    pub owner_id: i64,
    pub dataset_id: Option<i64>,
    /// The dataset's name, when it has one.
    pub dataset: Option<String>,
    pub source: Source,
    pub status: Status,
    pub stage: Stage,
    pub data_start_date: Option<NaiveDate>,
    pub data_end_date: Option<NaiveDate>,
    /// Resolved, in request order (or catalogue order when resolved from "all").
    pub requested_data_types: Vec<String>,
    pub description: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub terms_accepted_at: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// One requested type's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeStatus {
    pub data_type: String,
    pub state: TypeState,
    pub rows: i64,
    pub skipped_records: i64,
    pub reason_code: Option<String>,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub data_type: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The create fields in DRF's serializer order; errors are reported in it.
const FIELD_ORDER: [&str; 8] = [
    "source_type",
    "data_start_date",
    "data_end_date",
    "requested_data_types",
    "dataset",
    "description",
    "request_id",
    NON_FIELD_ERRORS,
];

/// The key DRF files cross-field errors under.
pub const NON_FIELD_ERRORS: &str = "non_field_errors";

/// DRF's message for a date that is not `YYYY-MM-DD`.
pub const DATE_FORMAT_MESSAGE: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

/// Longest participant-facing description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Validation failures by field, each with its messages (DRF's
/// `{"field": ["message", …]}`), kept in the serializer's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    /// Adds `message` under `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, messages)) => messages.push(message),
            None => {
                self.0.push((field.to_owned(), vec![message]));
                let rank = |f: &str| FIELD_ORDER.iter().position(|o| *o == f).unwrap_or(FIELD_ORDER.len());
                self.0.sort_by_key(|(f, _)| rank(f));
            }
        }
    }

    /// One error.
    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (field, messages) in report order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_slice()))
    }

    /// `field: message; …`, for gRPC status messages. `rename` maps compat
    /// field names to the native ones.
    pub fn summary(&self, rename: impl Fn(&str) -> &str) -> String {
        self.iter()
            .flat_map(|(field, messages)| messages.iter().map(move |m| (field, m)))
            .map(|(field, m)| if field == NON_FIELD_ERRORS { m.clone() } else { format!("{}: {m}", rename(field)) })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A create request before validation, whatever transport it came by.
/// Absent, `null` and `""` are all `None` for the optional text fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCreate {
    /// `None` when absent (required).
    pub source_type: Option<String>,
    pub data_start_date: Option<String>,
    pub data_end_date: Option<String>,
    /// Empty = all types of the source.
    pub requested_data_types: Vec<String>,
    pub dataset: Option<String>,
    pub description: String,
    pub request_id: Option<String>,
}

/// A validated create request; the dataset is still a name (the caller resolves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    pub source: Source,
    pub data_start_date: Option<NaiveDate>,
    pub data_end_date: Option<NaiveDate>,
    /// Resolved and de-duplicated.
    pub data_types: Vec<&'static DataType>,
    pub dataset: Option<String>,
    pub description: String,
    /// Normalized UUID (lowercase, hyphenated).
    pub request_id: Option<String>,
}

/// DRF's field-level checks (spec §2.3), adding to `errors` (which may hold
/// transport-level errors already, e.g. a list sent as a string). Returns the
/// parsed source and dates when their fields are valid.
pub fn check_fields(
    raw: &RawCreate,
    enabled: impl Fn(Source) -> bool,
    errors: &mut FieldErrors,
) -> (Option<Source>, Option<NaiveDate>, Option<NaiveDate>, Option<String>) {
    let source = match raw.source_type.as_deref() {
        None => {
            errors.add("source_type", "This field is required.");
            None
        }
        Some(name) => match Source::parse(name) {
            None => {
                errors.add("source_type", format!("\"{name}\" is not a valid choice."));
                None
            }
            Some(source) if !enabled(source) => {
                errors.add("source_type", format!("\"{name}\" is not enabled on this server."));
                None
            }
            Some(source) => Some(source),
        },
    };
    let mut date = |field: &str, value: Option<&str>| match value.map(parse_date) {
        Some(None) => {
            errors.add(field, DATE_FORMAT_MESSAGE);
            None
        }
        Some(Some(d)) => Some(d),
        None => None,
    };
    let start = date("data_start_date", raw.data_start_date.as_deref());
    let end = date("data_end_date", raw.data_end_date.as_deref());
    if raw.description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.add("description", format!("Ensure this field has no more than {MAX_DESCRIPTION_CHARS} characters."));
    }
    let request_id = match raw.request_id.as_deref().map(normalize_uuid) {
        Some(None) => {
            errors.add("request_id", "Must be a valid UUID.");
            None
        }
        Some(Some(id)) => Some(id),
        None => None,
    };
    (source, start, end, request_id)
}

/// The cross-field checks that DRF's `validate()` runs once every field is
/// valid: the window's order and the types of the source. Resolves "all types".
pub fn check_combination(
    raw: &RawCreate,
    source: Source,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    request_id: Option<String>,
) -> Result<CreateSpec, FieldErrors> {
    let mut errors = FieldErrors::default();
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        errors.add("data_end_date", "Must not be before data_start_date.");
    }
    let mut data_types: Vec<&'static DataType> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for name in &raw.requested_data_types {
        match source.data_type(name) {
            Some(t) if !data_types.iter().any(|d| std::ptr::eq(*d, t)) => data_types.push(t),
            Some(_) => {}
            None if !unknown.contains(&name.as_str()) => unknown.push(name),
            None => {}
        }
    }
    for name in unknown {
        errors.add(
            "requested_data_types",
            format!("\"{name}\" is not a data type of {source}. Valid: {}.", source.data_type_names().join(", ")),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if data_types.is_empty() {
        data_types = source.data_types().collect();
    }
    Ok(CreateSpec {
        source,
        data_start_date: start,
        data_end_date: end,
        data_types,
        dataset: raw.dataset.clone(),
        description: raw.description.clone(),
        request_id,
    })
}

/// An optional date filter field of a data query: `None` when empty; DRF's
/// date format error on `field` when it is not `YYYY-MM-DD`.
pub fn filter_date(errors: &mut FieldErrors, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    let parsed = parse_date(value);
    if parsed.is_none() {
        errors.add(field, DATE_FORMAT_MESSAGE);
    }
    parsed
}

/// A data query's `start_date` must not be after its `end_date`.
pub fn check_date_order(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Result<(), FieldErrors> {
    match (start, end) {
        (Some(start), Some(end)) if start > end => {
            Err(FieldErrors::one(NON_FIELD_ERRORS, "start_date must not be after end_date."))
        }
        _ => Ok(()),
    }
}

/// A strict `YYYY-MM-DD` calendar date (4-2-2 digits).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `YYYY-MM-DD`.
pub fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A UUID (hyphenated or 32 hex digits, any case) in its canonical form.
pub fn normalize_uuid(s: &str) -> Option<String> {
    let hex: String = if s.len() == 36 {
        let b = s.as_bytes();
        if [8, 13, 18, 23].iter().any(|i| b[*i] != b'-') {
            return None;
        }
        s.chars().filter(|c| *c != '-').collect()
    } else {
        s.to_owned()
    };
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(source: &str) -> RawCreate {
        RawCreate { source_type: Some(source.into()), ..RawCreate::default() }
    }

    fn validate(raw: &RawCreate) -> Result<CreateSpec, FieldErrors> {
        let mut errors = FieldErrors::default();
        let (source, start, end, request_id) = check_fields(raw, |_| true, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        check_combination(raw, source.unwrap(), start, end, request_id)
    }

    #[test]
    fn stages_belong_to_one_status_and_spellings_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        for state in TypeState::ALL {
            assert_eq!(TypeState::parse(state.as_str()), Some(state));
        }
        assert_eq!(Stage::LinkOpened.status(), Status::Pending);
        assert_eq!(Stage::Parsing.status(), Status::Processing);
        assert_eq!(Stage::Failed.status(), Status::Error);
        assert_eq!(error_remedies("provider_access_lost"), (true, false));
        assert_eq!(error_remedies("export_failed"), (false, true));
    }

    #[test]
    fn empty_types_resolve_to_the_whole_source_and_duplicates_go() {
        let spec = validate(&raw("google_portability")).unwrap();
        assert_eq!(spec.data_types.len(), 8);
        assert_eq!(spec.data_types[0].name, "youtube_history");
        let mut r = raw("google_portability");
        r.requested_data_types = vec!["search".into(), "youtube_history".into(), "search".into()];
        let names: Vec<_> = validate(&r).unwrap().data_types.iter().map(|t| t.name).collect();
        assert_eq!(names, ["search", "youtube_history"]);
        assert_eq!(validate(&raw("tiktok_portability")).unwrap().data_types.len(), 6);
    }

    #[test]
    fn field_errors_come_in_serializer_order_with_drf_messages() {
        let r = RawCreate {
            source_type: None,
            data_start_date: Some("2023/01/01".into()),
            description: "x".repeat(2001),
            request_id: Some("nope".into()),
            ..RawCreate::default()
        };
        let errors = validate(&r).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["source_type", "data_start_date", "description", "request_id"]);
        assert_eq!(errors.iter().next().unwrap().1, ["This field is required."]);
        assert_eq!(errors.iter().nth(1).unwrap().1, [DATE_FORMAT_MESSAGE]);
        assert_eq!(
            validate(&raw("banana")).unwrap_err(),
            FieldErrors::one("source_type", "\"banana\" is not a valid choice.")
        );
        let mut disabled = FieldErrors::default();
        check_fields(&raw("tiktok_portability"), |s| s == Source::Google, &mut disabled);
        assert_eq!(disabled, FieldErrors::one("source_type", "\"tiktok_portability\" is not enabled on this server."));
    }

    #[test]
    fn cross_field_checks_run_after_the_fields() {
        let mut r = raw("google_portability");
        r.data_start_date = Some("2023-02-01".into());
        r.data_end_date = Some("2023-01-31".into());
        r.requested_data_types = vec!["maps".into()];
        let errors = validate(&r).unwrap_err();
        assert_eq!(
            errors.iter().next().unwrap(),
            ("data_end_date", &["Must not be before data_start_date.".to_owned()][..])
        );
        assert_eq!(
            errors.iter().nth(1).unwrap().1,
            ["\"maps\" is not a data type of google_portability. Valid: youtube_history, discover, google_lens, \
              google_play_games, google_play_store, image_search, search, video_search."]
        );
        r.data_end_date = Some("2023-02-01".into());
        r.requested_data_types = vec![];
        assert!(validate(&r).is_ok(), "one-day windows are fine");
    }

    #[test]
    fn dates_are_strict_calendar_dates() {
        assert_eq!(parse_date("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
        for bad in ["2023-02-29", "2023-1-01", "23-01-01", "2023-01-01T00:00", "2023-13-01", "２０２３-01-01", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuids_are_normalized() {
        let id = "123E4567-E89B-12D3-A456-426614174000";
        assert_eq!(normalize_uuid(id).as_deref(), Some("123e4567-e89b-12d3-a456-426614174000"));
        assert_eq!(normalize_uuid("123e4567e89b12d3a456426614174000").as_deref(), normalize_uuid(id).as_deref());
        assert_eq!(normalize_uuid("123e4567-e89b-12d3-a456-42661417400"), None);
        assert_eq!(normalize_uuid("123e4567-e89b-12d3-a456_426614174000"), None);
    }

    #[test]
    fn summaries_rename_fields_for_the_native_api() {
        let mut errors = FieldErrors::one("source_type", "This field is required.");
        errors.add(NON_FIELD_ERRORS, "start_date must not be after end_date.");
        fn rename(f: &str) -> &str {
            if f == "source_type" { "source" } else { f }
        }
        assert_eq!(errors.summary(rename), "source: This field is required.; start_date must not be after end_date.");
    }
}
