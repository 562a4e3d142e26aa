//! Parsing portability archives, Google's (spec §4.3) and TikTok's (§4.5),
//! with the rules of §5.4–§5.6: pure domain
//! code, no database, synchronous so a parse job runs it in `spawn_blocking`
//! over a seekable reader of one part (a file, or the decrypting reader over
//! the sealed blob).
//!
//! [`parse_google_part`] reads the part's central directory, selects the
//! members of the requested (and granted) data types, and streams each one:
//! `MyActivity.json` arrays one element at a time, Discover CSVs record by
//! record. Every record gets an `ordinal` (its position in the member before
//! filtering); records outside the [`Window`] and bad records are counted,
//! kept ones become [`Row`]s in the spec's exact key order and go to the
//! caller's sink. Rows up to the resume point of `(data_type, member_no)` are
//! parsed and counted but not handed over again, so a re-run inserts nothing
//! twice. Memory stays bounded by the [`Limits`], whatever the archive size.
//!
//! The [`PartReport`] says, per data type, what was found and kept and its
//! [`Outcome`]; archive problems are outcomes, not errors. [`ParseError`] is
//! only for the source reader or the sink failing (the job retries those).
//! Reasons never contain record content: at most names of known members.
//!
//! A parse job would call it like this (rows batched by the sink, progress
//! markers from `parse_progress`):
//!
//! ```text
//! let report = tokio::task::spawn_blocking(move || {
//!     let request = PartRequest { donation_id, data_types: &types, window, limits: &limits };
//!     parse_google_part(blob_reader, &request, |t, m| markers.last_ordinal(t, m), |row| batch.push(row))
//! }).await??;
//! ```
//!
//! Which entries feed which type (the observed, undocumented layout of
//! §4.3.1) is decided in one place, `google::classify`.
//!
//! Two readings of the spec: an unparseable `time` skips the record as a
//! record-level problem (§5.5) whether or not a window is set, while a
//! missing one follows the no-timestamp rule (§5.6); Discover likes are
//! events (dated), follows and not-interested settings are states.
//!
//! [`parse_tiktok_part`] has the same contract for TikTok parts: every
//! `.json` entry is walked as a stream, only the known sections of the
//! requested types are read, record by record (see `tiktok` for its rules).

mod activity;
mod container;
mod csv;
mod google;
mod json;
mod tiktok;

use std::collections::HashSet;
use std::io::{self, BufReader, Cursor, Read, Seek};
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::donation::catalogue::{DataType, Source};
use container::{Entry, Meter, Metered, Source as CountingSource};
use google::{Emitter, Found, Member, MemberError};
pub use tiktok::parse_tiktok_part;

/// Zip and record limits (spec §5.5); `Default` gives the spec's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Compressed size of one part.
    pub max_part_bytes: u64,
    /// Entries in the central directory.
    pub max_entries: u64,
    /// Decompressed bytes read from one entry.
    pub max_entry_bytes: u64,
    /// Decompressed bytes read from one part.
    pub max_total_bytes: u64,
    /// Decompressed : compressed, per entry.
    pub max_ratio: u64,
    /// The ratio is checked once an entry has inflated this far.
    pub ratio_check_after: u64,
    /// Entry names: bytes and path segments.
    pub max_name_bytes: usize,
    pub max_name_segments: usize,
    /// One JSON record: nesting depth, bytes, and bytes of any string in it.
    pub max_json_depth: usize,
    pub max_record_bytes: usize,
    pub max_string_bytes: usize,
    /// One CSV record.
    pub max_csv_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        Limits {
            max_part_bytes: 16 * GIB,
            max_entries: 100_000,
            max_entry_bytes: 8 * GIB,
            max_total_bytes: 32 * GIB,
            max_ratio: 200,
            ratio_check_after: MIB,
            max_name_bytes: 1024,
            max_name_segments: 32,
            max_json_depth: 64,
            max_record_bytes: MIB as usize,
            max_string_bytes: 256 * KIB as usize,
            max_csv_line_bytes: MIB as usize,
        }
    }
}

/// The study's date window (spec §5.6): `start 00:00:00Z <= ts < (end + 1
/// day) 00:00:00Z`, so the whole end day counts; a missing bound is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// `data_start_date`.
    pub start: Option<NaiveDate>,
    /// `data_end_date`, included.
    pub end: Option<NaiveDate>,
}

impl Window {
    /// Whether either bound is set (rows without a time are then dropped).
    pub fn is_bounded(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }

    /// Whether a row with this timestamp is kept.
    pub fn contains(&self, ts: DateTime<Utc>) -> bool {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        self.start.is_none_or(|s| ts >= midnight(s))
            && self.end.is_none_or(|e| e.succ_opt().is_none_or(|next| ts < midnight(next)))
    }
}

/// One kept row. Its identity is `(part, data_type, member_no, ordinal)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub data_type: &'static str,
    /// The member's index in the part's zip central directory.
    pub member_no: u32,
    /// The record's position in its member, before filtering.
    pub ordinal: u64,
    pub timestamp: Option<DateTime<Utc>>,
    /// The flat JSON object, keys in the spec's order (§4.3.3).
    pub json: String,
}

/// What to parse from one part.
#[derive(Debug, Clone, Copy)]
pub struct PartRequest<'a> {
    /// Becomes `device_id` (as upstream did).
    pub donation_id: i64,
    /// Requested and granted types; types of other sources are ignored.
    pub data_types: &'a [&'static DataType],
    pub window: Window,
    pub limits: &'a Limits,
}

/// Why a type or a part failed, in the spec's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    ArchiveInvalid,
    ArchiveTooLarge,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::ArchiveInvalid => "archive_invalid",
            FailureCode::ArchiveTooLarge => "archive_too_large",
        }
    }
}

/// A failure with a reason free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: FailureCode,
    pub reason: String,
}

/// How a data type fared in one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every member of the type in this part was read to its end.
    Parsed,
    /// No member of the type in this part (available with 0 rows if no part has one).
    Missing,
    Failed(Failure),
}

/// Records skipped by reason (spec §5.5 record-level problems).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkippedRecords {
    pub not_object: u64,
    /// Over the record, string or nesting limit (or the CSV line limit).
    pub too_large: u64,
    pub invalid_utf8: u64,
    /// A `time` (or liked date) that does not parse.
    pub bad_time: u64,
}

impl SkippedRecords {
    pub fn total(&self) -> u64 {
        self.not_object + self.too_large + self.invalid_utf8 + self.bad_time
    }
}

/// A member read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberReport {
    pub member_no: u32,
    /// The normalized entry name (a known member path).
    pub name: String,
    /// Records seen, kept or not (the next ordinal).
    pub records: u64,
}

/// One data type in one part. Counters cover whole members, including rows a
/// resumed run did not hand over again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeReport {
    pub data_type: &'static str,
    pub members: Vec<MemberReport>,
    /// Rows kept (inside the window, or without a time when no window is set).
    pub rows: u64,
    pub outside_window: u64,
    pub no_timestamp: u64,
    pub skipped: SkippedRecords,
    pub outcome: Outcome,
}

impl TypeReport {
    /// The counts of records left out, by reason.
    fn left_out(&mut self) -> &mut SkippedRecords {
        &mut self.skipped
    }
}

/// The result of parsing one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReport {
    /// Central-directory entries seen.
    pub entries: u64,
    /// Entries skipped for unsafe or malformed names.
    pub bad_names: u64,
    /// Nested archives (by name, or a needed member's content), never opened.
    pub nested_archives: u64,
    /// Decompressed bytes read.
    pub bytes_inflated: u64,
    /// A part-level failure: the part is abandoned and every requested type
    /// fails with it; rows already handed over belong to failed types.
    pub failure: Option<Failure>,
    /// Requested Google types, in catalogue order.
    pub types: Vec<TypeReport>,
}

impl PartReport {
    /// A report for `types`, none of them seen yet.
    fn new(types: &[&'static DataType]) -> Self {
        PartReport {
            entries: 0,
            bad_names: 0,
            nested_archives: 0,
            bytes_inflated: 0,
            failure: None,
            types: types
                .iter()
                .map(|t| TypeReport {
                    data_type: t.name,
                    members: Vec::new(),
                    rows: 0,
                    outside_window: 0,
                    no_timestamp: 0,
                    skipped: SkippedRecords::default(),
                    outcome: Outcome::Missing,
                })
                .collect(),
        }
    }

    /// The part failed while reading its central directory: the source's
    /// error, or the report with every type failed.
    fn directory_failed<E>(self, e: container::DirError, meter: &Meter) -> Result<Self, ParseError<E>> {
        match e {
            container::DirError::Source => Err(source_error(meter)),
            container::DirError::TooLarge(reason) => Ok(self.fail(FailureCode::ArchiveTooLarge, reason)),
            container::DirError::Invalid(reason) => {
                Ok(self.fail(FailureCode::ArchiveInvalid, format!("corrupt zip: {reason}")))
            }
        }
    }

    fn fail(mut self, code: FailureCode, reason: String) -> Self {
        let failure = Failure { code, reason };
        for t in &mut self.types {
            t.outcome = Outcome::Failed(failure.clone());
        }
        self.failure = Some(failure);
        self
    }
}

/// Failures that are not the archive's fault.
#[derive(Debug, thiserror::Error)]
pub enum ParseError<E> {
    /// The part's reader failed (storage, decryption): retry the job.
    #[error("reading the archive part failed: {0}")]
    Source(#[source] io::Error),
    /// The sink refused a row.
    #[error("storing a row failed")]
    Sink(E),
}

/// Parses one Google archive part (spec §4.3): see the module doc.
///
/// `resume(data_type, member_no)` gives the last ordinal an earlier run
/// stored for that member; `sink` receives kept rows in archive order.
pub fn parse_google_part<R: Read + Seek, E>(
    reader: R,
    request: &PartRequest<'_>,
    resume: impl Fn(&str, u32) -> Option<u64>,
    mut sink: impl FnMut(Row) -> Result<(), E>,
) -> Result<PartReport, ParseError<E>> {
    let limits = request.limits;
    let types = requested_types(request, Source::Google);
    let mut report = PartReport::new(&types);

    let meter = Rc::new(Meter::default());
    let mut src = CountingSource::new(reader, meter.clone());
    let requested = |f: &Found| types.iter().any(|t| t.name == f.data_type);
    let (stats, selected) =
        match container::read_directory(&mut src, limits, |name| google::classify(name).filter(requested)) {
            Ok(found) => found,
            Err(e) => return report.directory_failed(e, &meter),
        };
    report.entries = stats.entries;
    report.bad_names = stats.bad_names;
    report.nested_archives = stats.nested_archives;

    // Decide per type before reading anything, so a type known to fail hands
    // over no rows.
    for (t, tr) in types.iter().zip(&mut report.types) {
        let members: Vec<&(Entry, Found)> = selected.iter().filter(|(_, f)| f.data_type == t.name).collect();
        if let Some(reason) = precheck(&members) {
            tr.outcome = Outcome::Failed(Failure { code: FailureCode::ArchiveInvalid, reason });
        }
    }
    let mut to_read: Vec<(usize, &(Entry, Found))> = Vec::new();
    for entry_and_found @ (_, found) in selected.iter().filter(|(_, f)| !f.html) {
        let Some(ti) = types.iter().position(|t| t.name == found.data_type) else { continue };
        if matches!(report.types[ti].outcome, Outcome::Failed(_)) {
            continue;
        }
        to_read.push((ti, entry_and_found));
    }
    if let Some(reason) = declared_too_large(to_read.iter().map(|(_, (e, _))| e), limits) {
        return Ok(report.fail(FailureCode::ArchiveTooLarge, reason));
    }

    let device_id = request.donation_id.to_string();
    let sink: &mut dyn FnMut(Row) -> Result<(), E> = &mut sink;
    for (ti, (entry, found)) in to_read {
        if matches!(report.types[ti].outcome, Outcome::Failed(_)) {
            continue;
        }
        let tr = &mut report.types[ti];
        let mut emitter = Emitter {
            data_type: types[ti],
            device_id: &device_id,
            member_no: entry.index,
            resume_after: resume(types[ti].name, entry.index),
            window: request.window,
            counts: tr,
            sink: &mut *sink,
        };
        let result = read_member(&mut src, entry, found.member, limits, &mut emitter);
        let tr = &mut report.types[ti];
        match result {
            Ok(records) => {
                tr.members.push(MemberReport { member_no: entry.index, name: entry.name.clone(), records });
                tr.outcome = Outcome::Parsed;
            }
            Err(MemberError::Sink(e)) => return Err(ParseError::Sink(e)),
            Err(MemberError::Io(e)) => {
                if let Some(e) = meter.take_source_error() {
                    return Err(ParseError::Source(e));
                }
                if let Some(reason) = meter.take_limit() {
                    report.bytes_inflated = meter.inflated();
                    return Ok(report.fail(FailureCode::ArchiveTooLarge, reason));
                }
                tr.outcome = Outcome::Failed(Failure {
                    code: FailureCode::ArchiveInvalid,
                    reason: format!("corrupt member {} ({})", entry.name, e.kind()),
                });
            }
            Err(MemberError::Invalid(reason)) => {
                tr.outcome = Outcome::Failed(Failure {
                    code: FailureCode::ArchiveInvalid,
                    reason: format!("{reason} in {}", entry.name),
                });
            }
            Err(MemberError::Nested) => {
                report.nested_archives += 1;
                tr.outcome = Outcome::Failed(Failure {
                    code: FailureCode::ArchiveInvalid,
                    reason: format!("{} is an archive, not opened", entry.name),
                });
            }
        }
    }
    report.bytes_inflated = meter.inflated();
    Ok(report)
}

/// The requested types of `source`, in catalogue order, each once.
fn requested_types(request: &PartRequest<'_>, source: Source) -> Vec<&'static DataType> {
    let mut types: Vec<&'static DataType> = request.data_types.iter().copied().filter(|t| t.source == source).collect();
    types.sort_by_key(|t| t.position());
    types.dedup_by_key(|t| t.name);
    types
}

/// Declared sizes are checked before anything is read (and never trusted
/// after): one entry over the entry or ratio limit, or all of them together
/// over the part limit.
fn declared_too_large<'e>(entries: impl IntoIterator<Item = &'e Entry>, limits: &Limits) -> Option<String> {
    let mut declared = 0u64;
    for entry in entries {
        if entry.size > limits.max_entry_bytes {
            return Some(format!("{} declares {} bytes (limit {})", entry.name, entry.size, limits.max_entry_bytes));
        }
        if entry.size > limits.ratio_check_after && entry.size > entry.compressed_size.saturating_mul(limits.max_ratio)
        {
            return Some(format!("{} declares a compression ratio over {}:1", entry.name, limits.max_ratio));
        }
        declared = declared.saturating_add(entry.size);
    }
    (declared > limits.max_total_bytes)
        .then(|| format!("members declare {declared} bytes (limit {})", limits.max_total_bytes))
}

fn source_error<E>(meter: &Meter) -> ParseError<E> {
    ParseError::Source(meter.take_source_error().unwrap_or_else(|| io::Error::other("archive source failed")))
}

/// Problems that fail a type before any of its members is read: an
/// HTML-only product, the same member twice, an encrypted member or one
/// compressed with an unsupported method.
fn precheck(members: &[&(Entry, Found)]) -> Option<String> {
    let data: Vec<&(Entry, Found)> = members.iter().copied().filter(|(_, f)| !f.html).collect();
    let with_data: HashSet<Member> = data.iter().map(|(_, f)| f.member).collect();
    if members.iter().any(|(_, f)| f.html && !with_data.contains(&f.member)) {
        return Some("HTML activity export not supported".into());
    }
    let mut names = HashSet::new();
    for (entry, _) in &data {
        if !names.insert(entry.name.as_str()) {
            return Some(format!("ambiguous member {}", entry.name));
        }
    }
    for (entry, _) in &data {
        if entry.encrypted() {
            return Some(format!("encrypted member {}", entry.name));
        }
        if !entry.method_supported() {
            return Some(format!("unsupported compression method {} in {}", entry.method, entry.name));
        }
    }
    None
}

/// Reads one member to its end: refuses nested archives by content, checks
/// the CRC (at the end of the stream) and the size against the central
/// directory; returns the number of records seen.
fn read_member<R: Read + Seek, E>(
    src: &mut CountingSource<R>,
    entry: &Entry,
    member: Member,
    limits: &Limits,
    emitter: &mut Emitter<'_, E>,
) -> Result<u64, MemberError<E>> {
    let mut metered = container::open_entry(src, entry, limits).map_err(MemberError::Io)?;
    let mut head = Vec::with_capacity(container::SNIFF_LEN);
    (&mut metered).take(container::SNIFF_LEN as u64).read_to_end(&mut head).map_err(MemberError::Io)?;
    if container::is_archive_magic(&head) {
        return Err(MemberError::Nested);
    }
    let mut reader = BufReader::with_capacity(64 << 10, Cursor::new(head).chain(metered));
    let records = match member {
        Member::Activity(_) => google::parse_activity(&mut reader, limits, emitter)?,
        csv_member => google::parse_discover_csv(&mut reader, csv_member, limits, emitter)?,
    };
    if reader.read(&mut [0u8; 1]).map_err(MemberError::Io)? != 0 {
        return Err(MemberError::Invalid("data after the end".into()));
    }
    let metered: Metered<_> = reader.into_inner().into_inner().1;
    if metered.out() != entry.size {
        return Err(MemberError::Invalid("size differs from the central directory".into()));
    }
    Ok(records)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tiktok_tests;
