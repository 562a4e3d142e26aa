//! Test scenarios of the sandbox providers (spec §6.3, §6.5, §6.6): what the
//! fake account holds, what the participant grants and which failures the
//! fake provider stages.
//!
//! A scenario is written like a URL query or form body
//! (`persona=medium&seed=7&failure=multi_part:3&failure=bad_records`); that
//! is the syntax of the consent page's "Advanced" fields and of
//! `STEWARD_SANDBOX_DEFAULT_SCENARIO`. [`Scenario::to_query`] renders only
//! the fields that differ from the built-in defaults, and
//! `Scenario::parse_query(&s.to_query()) == Ok(s)` for every scenario.
//!
//! Overlay rules ([`Scenario::apply_query`], [`Scenario::apply_pairs`]): a
//! field present in the input replaces the base's value; an empty value
//! (`records=`, `failure=`) resets that field to its built-in default;
//! `failure` and `grant` may repeat (their values accumulate, and each value
//! may also be a comma-separated list); any other field given twice is an
//! error, as is an unknown field.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};

use crate::donation::catalogue::{self, DATA_TYPES, DataType, Source};

pub use super::gen_time::Zone;

/// One sandbox scenario. Fields are public so a test can read them; build
/// one with [`Scenario::default`] and the builder methods of the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// How much data the fake account holds (§6.5).
    pub persona: Persona,
    /// Per-type record counts that override the persona, in catalogue order,
    /// one entry per type at most.
    pub records: Vec<(&'static DataType, u64)>,
    /// For [`Persona::Huge`]: uncompressed bytes of My Activity records per
    /// export (default 2 GiB).
    pub target_bytes: u64,
    /// Seed of every random choice: same scenario, same bytes.
    pub seed: u64,
    /// Period of generated activity.
    pub span: Span,
    /// Time zone of the persona's daily rhythm.
    pub tz: Zone,
    /// Which scopes the consent page's checkboxes grant.
    pub grant: Grant,
    /// Google's access choice on the consent page.
    pub access_type: AccessType,
    /// Staged failures (§6.6), in the order given.
    pub failures: Vec<Failure>,
    /// TikTok archive layout.
    pub tiktok_layout: TikTokLayout,
    /// Shape of TikTok's token response.
    pub tiktok_token_shape: TokenShape,
    /// Added to every sandbox API response; see [`Scenario::latency_ms_effective`].
    pub latency_ms: u64,
}

/// Largest accepted `latency_ms` / `latency:<ms>`: a minute keeps a mistyped
/// value from hanging a test run.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Largest accepted `multi_part:N`.
pub const MAX_PARTS: u32 = 100;
/// Default `target_bytes`.
pub const DEFAULT_TARGET_BYTES: u64 = 2 << 30;

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            persona: Persona::Small,
            records: Vec::new(),
            target_bytes: DEFAULT_TARGET_BYTES,
            seed: 1,
            span: Span::default(),
            tz: Zone::default(),
            grant: Grant::All,
            access_type: AccessType::OneTime,
            failures: Vec::new(),
            tiktok_layout: TikTokLayout::V2025,
            tiktok_token_shape: TokenShape::Flat,
            latency_ms: 0,
        }
    }
}

/// How much data the fake account holds (spec §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// 5 records per data type.
    Tiny,
    /// 50 records per data type.
    Small,
    /// 2,000 records per data type.
    Medium,
    /// 50,000 records per data type.
    Large,
    /// My Activity records until `target_bytes` uncompressed per export.
    Huge,
}

impl Persona {
    pub const ALL: [Persona; 5] = [Persona::Tiny, Persona::Small, Persona::Medium, Persona::Large, Persona::Huge];

    pub fn as_str(self) -> &'static str {
        match self {
            Persona::Tiny => "tiny",
            Persona::Small => "small",
            Persona::Medium => "medium",
            Persona::Large => "large",
            Persona::Huge => "huge",
        }
    }

    /// Records per data type, or `None` for `huge` (sized by bytes).
    pub fn records_per_type(self) -> Option<u64> {
        match self {
            Persona::Tiny => Some(5),
            Persona::Small => Some(50),
            Persona::Medium => Some(2_000),
            Persona::Large => Some(50_000),
            Persona::Huge => None,
        }
    }
}

/// The period of generated activity: whole UTC days, both ends inclusive
/// (`2023-01-01..2023-12-31`), or up to the export's creation (`..now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First day; `None` = three years before the end.
    pub start: Option<NaiveDate>,
    /// Last day; `None` = now (the export's creation time).
    pub end: Option<NaiveDate>,
}

impl Span {
    /// The half-open UTC interval this span covers for an export created at
    /// `now`; empty (`start >= end`) when the span starts after `now`.
    pub fn resolve(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        let end = match self.end {
            Some(day) => day.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, midnight),
            None => now,
        };
        let start = match self.start {
            Some(day) => midnight(day),
            None => end.checked_sub_months(Months::new(36)).unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        (start, end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(start) = self.start {
            write!(f, "{}", start.format("%Y-%m-%d"))?;
        }
        match self.end {
            Some(end) => write!(f, "..{}", end.format("%Y-%m-%d")),
            None => f.write_str("..now"),
        }
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Span, String> {
        let expected = "expected `YYYY-MM-DD..YYYY-MM-DD`, `YYYY-MM-DD..now` or `..now`";
        let (a, b) = s.split_once("..").ok_or_else(|| format!("`{s}`: {expected}"))?;
        let day = |d: &str| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| format!("`{d}` is not a date (YYYY-MM-DD); {expected}"))
        };
        let start = if a.is_empty() { None } else { Some(day(a)?) };
        let end = if b == "now" { None } else { Some(day(b)?) };
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(format!("`{s}` ends before it starts"));
        }
        Ok(Span { start, end })
    }
}

/// The consent page's scope checkboxes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grant {
    /// Every requested scope stays ticked.
    #[default]
    All,
    /// Only these scopes stay ticked (an empty list: the participant unticked
    /// everything). Google scopes are stored as resource groups
    /// (`myactivity.youtube`), TikTok scopes as TikTok spells them.
    Only(Vec<String>),
}

impl Grant {
    /// Whether `scope` stays ticked. Google scopes may be given as a
    /// resource group or as the full scope URL.
    pub fn allows(&self, scope: &str) -> bool {
        match self {
            Grant::All => true,
            Grant::Only(scopes) => {
                let scope = scope.strip_prefix(catalogue::GOOGLE_SCOPE_PREFIX).unwrap_or(scope);
                scopes.iter().any(|s| s == scope)
            }
        }
    }

    /// A scope name as stored, or why it is not one.
    fn normalize(scope: &str) -> Result<String, String> {
        let short = scope.strip_prefix(catalogue::GOOGLE_SCOPE_PREFIX).unwrap_or(scope);
        let google = Source::Google.data_types().flat_map(|t| t.resources.iter()).any(|r| *r == short);
        let tiktok = short == "user.info.basic"
            || short.strip_prefix("portability.").and_then(|rest| rest.split_once('.')).is_some_and(|(cat, mode)| {
                ["all", "activity", "postsandprofile", "directmessages"].contains(&cat)
                    && ["single", "ongoing"].contains(&mode)
            });
        if google || tiktok {
            Ok(short.to_owned())
        } else {
            Err(format!(
                "unknown scope `{scope}`; expected a Google resource group such as `myactivity.youtube` (or its \
                 scope URL), a TikTok scope such as `portability.activity.single`, or `none`"
            ))
        }
    }
}

/// Google's access choice on the consent page (spec §4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessType {
    OneTime,
    TimeBased30,
    TimeBased180,
}

impl AccessType {
    pub const ALL: [AccessType; 3] = [AccessType::OneTime, AccessType::TimeBased30, AccessType::TimeBased180];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::OneTime => "one_time",
            AccessType::TimeBased30 => "time_based_30",
            AccessType::TimeBased180 => "time_based_180",
        }
    }

    /// The `accessType` value of Google's API answers.
    pub fn api_value(self) -> &'static str {
        match self {
            AccessType::OneTime => "ACCESS_TYPE_ONE_TIME",
            AccessType::TimeBased30 | AccessType::TimeBased180 => "ACCESS_TYPE_TIME_BASED",
        }
    }

    /// How long time-based access lasts, in days.
    pub fn days(self) -> Option<u32> {
        match self {
            AccessType::OneTime => None,
            AccessType::TimeBased30 => Some(30),
            AccessType::TimeBased180 => Some(180),
        }
    }
}

/// TikTok archive layout (spec §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TikTokLayout {
    /// `user_data_tiktok.json` with the 2025 section names.
    V2025,
    /// `user_data.json` with the older `Activity` sections.
    Legacy,
}

impl TikTokLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            TikTokLayout::V2025 => "2025",
            TikTokLayout::Legacy => "legacy",
        }
    }
}

/// Shape of TikTok's token response (spec §4.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// Fields at the top level (TikTok's documented shape).
    Flat,
    /// The same fields under `"data"`.
    Nested,
}

impl TokenShape {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenShape::Flat => "flat",
            TokenShape::Nested => "nested",
        }
    }
}

/// A staged failure (spec §6.6). Modes about archive content are carried out
/// by the archive generator; the others tell the sandbox's HTTP endpoints
/// how to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `slow_archive[:polls=N]`: `IN_PROGRESS` for N polls (default 3).
    SlowArchive { polls: u32 },
    /// `never_ready`: always `IN_PROGRESS` / TikTok `pending`.
    NeverReady,
    /// `job_failed[:again=K]`: `FAILED`; each `:retry` job fails K more times (default 0).
    JobFailed { again: u32 },
    /// `job_cancelled`: `CANCELLED`.
    JobCancelled,
    /// `one_time_exhausted`: a second `initiate` for a group answers 429 `RESOURCE_EXHAUSTED`.
    OneTimeExhausted,
    /// `expired_token`: access tokens expire 1 s after issue.
    ExpiredToken,
    /// `refresh_revoked`: refresh answers `invalid_grant` once the export has started.
    RefreshRevoked,
    /// `revoked_consent[:after=N]`: from the N-th API call on (1-based,
    /// default 2: the first `initiate` still succeeds), every call 401 and
    /// refresh `invalid_grant`.
    RevokedConsent { after: u32 },
    /// `deny`: the consent decision behaves as Cancel.
    Deny,
    /// `rate_limited[:n=K]`: the first K API calls answer 429 with `Retry-After: 1` (default 1).
    RateLimited { n: u32 },
    /// `server_error[:n=K]`: the first K API calls answer 503 (default 1).
    ServerError { n: u32 },
    /// `url_expired[:n=K]`: the first K downloads answer 403, signature expired (default 1).
    UrlExpired { n: u32 },
    /// `truncated_download`: the first download closes the connection halfway.
    TruncatedDownload,
    /// `multi_part:N`: each Google export comes as N zips.
    MultiPart { parts: u32 },
    /// `split_member`: one member's records are split across two parts.
    SplitMember,
    /// `missing_type:<type>`: the type's members are left out.
    MissingType { data_type: &'static DataType },
    /// `html_only:<type>`: `MyActivity.html` instead of `MyActivity.json`.
    HtmlOnly { data_type: &'static DataType },
    /// `malformed_zip`: every part's central directory is cut short.
    MalformedZip,
    /// `malformed_json:<type>`: the type's `MyActivity.json` is not valid JSON.
    MalformedJson { data_type: &'static DataType },
    /// `bad_records`: non-object elements, a 2 MiB record and garbled `time`
    /// values in every `MyActivity.json`, besides the normal records.
    BadRecords,
    /// `zip_bomb`: a needed member inflates past the entry limit.
    ZipBomb,
    /// `too_many_entries`: 200,000 tiny extra entries.
    TooManyEntries,
    /// `path_traversal`: extra entries with unsafe names.
    PathTraversal,
    /// `nested_archive`: the members only inside an inner `.zip`.
    NestedArchive,
    /// `duplicate_member`: one member twice under the same normalized path.
    DuplicateMember,
    /// `ignore_time_filter`: My Activity records outside the window are kept.
    IgnoreTimeFilter,
    /// `tiktok_expired`: Check answers `expired`.
    TikTokExpired,
    /// `tiktok_cancelled`: Check answers `cancelled`.
    TikTokCancelled,
    /// `tiktok_region`: Add fails as for an account outside the EEA/UK.
    TikTokRegion,
    /// `tiktok_redirect[:n=K]`: the first K TikTok downloads answer 307 to
    /// the download path on the API host (default 1).
    TikTokRedirect { n: u32 },
    /// `tiktok_offsite_redirect`: every TikTok download answers 307 to a host
    /// other than the API host.
    TikTokOffsiteRedirect,
    /// `latency:<ms>`: same as `latency_ms`.
    Latency { ms: u64 },
}

/// Every failure mode name, in spec order (for help texts and errors).
pub const FAILURE_NAMES: &[&str] = &[
    "slow_archive",
    "never_ready",
    "job_failed",
    "job_cancelled",
    "one_time_exhausted",
    "expired_token",
    "refresh_revoked",
    "revoked_consent",
    "deny",
    "rate_limited",
    "server_error",
    "url_expired",
    "truncated_download",
    "multi_part",
    "split_member",
    "missing_type",
    "html_only",
    "malformed_zip",
    "malformed_json",
    "bad_records",
    "zip_bomb",
    "too_many_entries",
    "path_traversal",
    "nested_archive",
    "duplicate_member",
    "ignore_time_filter",
    "tiktok_expired",
    "tiktok_cancelled",
    "tiktok_region",
    "tiktok_redirect",
    "tiktok_offsite_redirect",
    "latency",
];

impl Failure {
    /// The mode's name as written before any `:`.
    pub fn name(&self) -> &'static str {
        match self {
            Failure::SlowArchive { .. } => "slow_archive",
            Failure::NeverReady => "never_ready",
            Failure::JobFailed { .. } => "job_failed",
            Failure::JobCancelled => "job_cancelled",
            Failure::OneTimeExhausted => "one_time_exhausted",
            Failure::ExpiredToken => "expired_token",
            Failure::RefreshRevoked => "refresh_revoked",
            Failure::RevokedConsent { .. } => "revoked_consent",
            Failure::Deny => "deny",
            Failure::RateLimited { .. } => "rate_limited",
            Failure::ServerError { .. } => "server_error",
            Failure::UrlExpired { .. } => "url_expired",
            Failure::TruncatedDownload => "truncated_download",
            Failure::MultiPart { .. } => "multi_part",
            Failure::SplitMember => "split_member",
            Failure::MissingType { .. } => "missing_type",
            Failure::HtmlOnly { .. } => "html_only",
            Failure::MalformedZip => "malformed_zip",
            Failure::MalformedJson { .. } => "malformed_json",
            Failure::BadRecords => "bad_records",
            Failure::ZipBomb => "zip_bomb",
            Failure::TooManyEntries => "too_many_entries",
            Failure::PathTraversal => "path_traversal",
            Failure::NestedArchive => "nested_archive",
            Failure::DuplicateMember => "duplicate_member",
            Failure::IgnoreTimeFilter => "ignore_time_filter",
            Failure::TikTokExpired => "tiktok_expired",
            Failure::TikTokCancelled => "tiktok_cancelled",
            Failure::TikTokRegion => "tiktok_region",
            Failure::TikTokRedirect { .. } => "tiktok_redirect",
            Failure::TikTokOffsiteRedirect => "tiktok_offsite_redirect",
            Failure::Latency { .. } => "latency",
        }
    }

    /// `missing_type:<name>` for a catalogue type of either source.
    /// # Panics
    /// When `name` is not in the catalogue (a bug in the calling test).
    pub fn missing_type(name: &str) -> Failure {
        Failure::MissingType { data_type: data_type(name).unwrap_or_else(|e| panic!("{e}")) }
    }

    /// `html_only:<name>`.
    /// # Panics
    /// When `name` is not in the catalogue (a bug in the calling test).
    pub fn html_only(name: &str) -> Failure {
        Failure::HtmlOnly { data_type: data_type(name).unwrap_or_else(|e| panic!("{e}")) }
    }

    /// `malformed_json:<name>`.
    /// # Panics
    /// When `name` is not in the catalogue (a bug in the calling test).
    pub fn malformed_json(name: &str) -> Failure {
        Failure::MalformedJson { data_type: data_type(name).unwrap_or_else(|e| panic!("{e}")) }
    }

    fn data_type_arg(&self) -> Option<&'static DataType> {
        match self {
            Failure::MissingType { data_type }
            | Failure::HtmlOnly { data_type }
            | Failure::MalformedJson { data_type } => Some(data_type),
            _ => None,
        }
    }

    fn parse(item: &str) -> Result<Failure, String> {
        let (name, arg) = match item.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (item, None),
        };
        // `name[:key=N]`, where the argument is optional and defaults.
        let counted = |key: &str, default: u32| -> Result<u32, String> {
            let Some(arg) = arg else { return Ok(default) };
            let value = arg
                .strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .ok_or_else(|| format!("`{item}`: expected `{name}:{key}=N`"))?;
            value.parse().map_err(|_| format!("`{item}`: `{value}` is not a whole number"))
        };
        let bare = |f: Failure| match arg {
            None => Ok(f),
            Some(_) => Err(format!("`{name}` takes no argument")),
        };
        let required = || arg.filter(|a| !a.is_empty()).ok_or_else(|| format!("`{name}` needs an argument"));
        let google_type = |what: &str| -> Result<&'static DataType, String> {
            let t = data_type(required()?)?;
            if t.source != Source::Google {
                return Err(format!("`{item}`: {what} applies to Google types only"));
            }
            Ok(t)
        };
        match name {
            "slow_archive" => Ok(Failure::SlowArchive { polls: counted("polls", 3)? }),
            "never_ready" => bare(Failure::NeverReady),
            "job_failed" => Ok(Failure::JobFailed { again: counted("again", 0)? }),
            "job_cancelled" => bare(Failure::JobCancelled),
            "one_time_exhausted" => bare(Failure::OneTimeExhausted),
            "expired_token" => bare(Failure::ExpiredToken),
            "refresh_revoked" => bare(Failure::RefreshRevoked),
            "revoked_consent" => match counted("after", 2)? {
                0 => Err(format!("`{item}`: calls are counted from 1")),
                after => Ok(Failure::RevokedConsent { after }),
            },
            "deny" => bare(Failure::Deny),
            "rate_limited" => Ok(Failure::RateLimited { n: counted("n", 1)? }),
            "server_error" => Ok(Failure::ServerError { n: counted("n", 1)? }),
            "url_expired" => Ok(Failure::UrlExpired { n: counted("n", 1)? }),
            "truncated_download" => bare(Failure::TruncatedDownload),
            "multi_part" => {
                let n = required()?;
                match n.parse::<u32>() {
                    Ok(parts @ 1..=MAX_PARTS) => Ok(Failure::MultiPart { parts }),
                    _ => Err(format!("`{item}`: the number of parts must be 1 to {MAX_PARTS}")),
                }
            }
            "split_member" => bare(Failure::SplitMember),
            "missing_type" => Ok(Failure::MissingType { data_type: data_type(required()?)? }),
            "html_only" => Ok(Failure::HtmlOnly { data_type: google_type("html_only")? }),
            "malformed_zip" => bare(Failure::MalformedZip),
            "malformed_json" => Ok(Failure::MalformedJson { data_type: data_type(required()?)? }),
            "bad_records" => bare(Failure::BadRecords),
            "zip_bomb" => bare(Failure::ZipBomb),
            "too_many_entries" => bare(Failure::TooManyEntries),
            "path_traversal" => bare(Failure::PathTraversal),
            "nested_archive" => bare(Failure::NestedArchive),
            "duplicate_member" => bare(Failure::DuplicateMember),
            "ignore_time_filter" => bare(Failure::IgnoreTimeFilter),
            "tiktok_expired" => bare(Failure::TikTokExpired),
            "tiktok_cancelled" => bare(Failure::TikTokCancelled),
            "tiktok_region" => bare(Failure::TikTokRegion),
            "tiktok_redirect" => Ok(Failure::TikTokRedirect { n: counted("n", 1)? }),
            "tiktok_offsite_redirect" => bare(Failure::TikTokOffsiteRedirect),
            "latency" => Ok(Failure::Latency { ms: parse_latency(required()?)? }),
            _ => Err(format!("unknown failure mode `{name}`; known: {}", FAILURE_NAMES.join(", "))),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Failure::SlowArchive { polls } => write!(f, ":polls={polls}"),
            Failure::JobFailed { again } => write!(f, ":again={again}"),
            Failure::RevokedConsent { after } => write!(f, ":after={after}"),
            Failure::RateLimited { n }
            | Failure::ServerError { n }
            | Failure::UrlExpired { n }
            | Failure::TikTokRedirect { n } => write!(f, ":n={n}"),
            Failure::MultiPart { parts } => write!(f, ":{parts}"),
            Failure::Latency { ms } => write!(f, ":{ms}"),
            _ => match self.data_type_arg() {
                Some(t) => write!(f, ":{}", t.name),
                None => Ok(()),
            },
        }
    }
}

impl FromStr for Failure {
    type Err = ScenarioError;

    fn from_str(s: &str) -> Result<Failure, ScenarioError> {
        Failure::parse(s.trim()).map_err(|message| ScenarioError::new("failure", message))
    }
}

/// A data type of either source by its compat name.
fn data_type(name: &str) -> Result<&'static DataType, String> {
    DATA_TYPES.iter().find(|t| t.name == name).ok_or_else(|| {
        let known: Vec<&str> = DATA_TYPES.iter().map(|t| t.name).collect();
        format!("unknown data type `{name}`; known: {}", known.join(", "))
    })
}

fn parse_latency(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(ms) if ms <= MAX_LATENCY_MS => Ok(ms),
        Ok(_) => Err(format!("`{s}` ms is too long; at most {MAX_LATENCY_MS}")),
        Err(_) => Err(format!("`{s}` is not a whole number of milliseconds")),
    }
}

/// A byte count with an optional binary or decimal unit: `2GiB`, `500 MB`, `1048576`.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let unit_size: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("`{s}`: unknown unit; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a byte count such as `2GiB` or `1048576`"))?;
    match n.checked_mul(unit_size) {
        Some(0) => Err("must be more than 0 bytes".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{s}` is too large")),
    }
}

fn render_bytes(n: u64) -> String {
    for (unit, size) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

/// Why a scenario string was refused: the field and a message meant for the
/// person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sandbox scenario field `{field}`: {message}")]
pub struct ScenarioError {
    pub field: String,
    pub message: String,
}

impl ScenarioError {
    fn new(field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError { field: field.to_owned(), message: message.into() }
    }
}

impl Scenario {
    /// The scenario field names, in the order [`Scenario::to_query`] writes them.
    pub const FIELDS: &'static [&'static str] = &[
        "persona",
        "records",
        "target_bytes",
        "seed",
        "span",
        "tz",
        "grant",
        "access_type",
        "failure",
        "tiktok_layout",
        "tiktok_token_shape",
        "latency_ms",
    ];

    /// Parses `query` (`application/x-www-form-urlencoded`, with or without
    /// a leading `?`) over the built-in defaults.
    pub fn parse_query(query: &str) -> Result<Scenario, ScenarioError> {
        Scenario::default().apply_query(query)
    }

    /// Parses `query` over `self` (e.g. the defaults from
    /// `STEWARD_SANDBOX_DEFAULT_SCENARIO`).
    pub fn apply_query(&self, query: &str) -> Result<Scenario, ScenarioError> {
        let query = query.trim().strip_prefix('?').unwrap_or(query.trim());
        let mut pairs = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let key = percent_decode(k).map_err(|e| ScenarioError::new(k, e))?;
            let value = percent_decode(v).map_err(|e| ScenarioError::new(&key, e))?;
            pairs.push((key, value));
        }
        self.apply_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Applies already-decoded `(field, value)` pairs over `self`, e.g. the
    /// scenario fields of the consent form (filter the form's other fields
    /// with [`Scenario::FIELDS`] first: unknown fields are refused).
    pub fn apply_pairs<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Scenario, ScenarioError> {
        let mut s = self.clone();
        let defaults = Scenario::default();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut failures: Option<Vec<Failure>> = None;
        // `None`: no `grant` field; `Some((scopes, false))`: only empty values (reset).
        let mut grants: Option<(Vec<String>, bool)> = None;
        for (key, value) in pairs {
            let Some(&field) = Scenario::FIELDS.iter().find(|f| **f == key) else {
                return Err(ScenarioError::new(key, format!("unknown field; known: {}", Scenario::FIELDS.join(", "))));
            };
            let err = |message: String| ScenarioError::new(field, message);
            let value = value.trim();
            if field == "failure" {
                let list = failures.get_or_insert_with(Vec::new);
                for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let failure = Failure::parse(item).map_err(err)?;
                    if let Some(old) = list.iter().find(|f| f.name() == failure.name()) {
                        let same_type = old.data_type_arg().zip(failure.data_type_arg()).map(|(a, b)| a == b);
                        if same_type != Some(false) {
                            return Err(err(format!("`{}` is given twice", failure.name())));
                        }
                    }
                    list.push(failure);
                }
                continue;
            }
            if field == "grant" {
                let (list, explicit) = grants.get_or_insert_with(|| (Vec::new(), false));
                for item in value.split([',', ' ']).map(str::trim).filter(|i| !i.is_empty()) {
                    // `none` stands for "every box unticked"; a form sends it
                    // as a hidden field next to the checkboxes, so it may come
                    // along with ticked scopes and then adds nothing.
                    *explicit = true;
                    if item != "none" {
                        let scope = Grant::normalize(item).map_err(err)?;
                        if !list.contains(&scope) {
                            list.push(scope);
                        }
                    }
                }
                continue;
            }
            if seen.contains(&field) {
                return Err(err("is given twice".into()));
            }
            seen.push(field);
            match (field, value.is_empty()) {
                ("persona", true) => s.persona = defaults.persona,
                ("persona", false) => {
                    s.persona = Persona::ALL.into_iter().find(|p| p.as_str() == value).ok_or_else(|| {
                        err(format!("unknown persona `{value}`; expected tiny, small, medium, large or huge"))
                    })?
                }
                ("records", _) => s.records = parse_records(value).map_err(err)?,
                ("target_bytes", true) => s.target_bytes = defaults.target_bytes,
                ("target_bytes", false) => s.target_bytes = parse_bytes(value).map_err(err)?,
                ("seed", true) => s.seed = defaults.seed,
                ("seed", false) => {
                    s.seed = value.parse().map_err(|_| err(format!("`{value}` is not a whole number 0 to 2^64-1")))?
                }
                ("span", true) => s.span = defaults.span,
                ("span", false) => s.span = value.parse().map_err(err)?,
                ("tz", true) => s.tz = defaults.tz,
                ("tz", false) => {
                    s.tz = Zone::parse(value).ok_or_else(|| {
                        err(format!(
                            "unknown time zone `{value}`; use a fixed offset such as `+02:00` or one of: {}",
                            Zone::known_names().collect::<Vec<_>>().join(", ")
                        ))
                    })?
                }
                ("access_type", true) => s.access_type = defaults.access_type,
                ("access_type", false) => {
                    s.access_type = AccessType::ALL.into_iter().find(|a| a.as_str() == value).ok_or_else(|| {
                        err(format!(
                            "unknown access type `{value}`; expected one_time, time_based_30 or time_based_180"
                        ))
                    })?
                }
                ("tiktok_layout", true) => s.tiktok_layout = defaults.tiktok_layout,
                ("tiktok_layout", false) => {
                    s.tiktok_layout = [TikTokLayout::V2025, TikTokLayout::Legacy]
                        .into_iter()
                        .find(|l| l.as_str() == value)
                        .ok_or_else(|| err(format!("unknown layout `{value}`; expected 2025 or legacy")))?
                }
                ("tiktok_token_shape", true) => s.tiktok_token_shape = defaults.tiktok_token_shape,
                ("tiktok_token_shape", false) => {
                    s.tiktok_token_shape = [TokenShape::Flat, TokenShape::Nested]
                        .into_iter()
                        .find(|t| t.as_str() == value)
                        .ok_or_else(|| err(format!("unknown token shape `{value}`; expected flat or nested")))?
                }
                ("latency_ms", true) => s.latency_ms = defaults.latency_ms,
                ("latency_ms", false) => s.latency_ms = parse_latency(value).map_err(err)?,
                _ => unreachable!("every field of FIELDS is handled"),
            }
        }
        if let Some(failures) = failures {
            s.failures = failures;
        }
        match grants {
            None => {}
            Some((_, false)) => s.grant = Grant::All,
            Some((scopes, true)) => s.grant = Grant::Only(scopes),
        }
        Ok(s)
    }

    /// The scenario as a query string: the fields that differ from the
    /// built-in defaults, in [`Scenario::FIELDS`] order, `failure` repeated.
    pub fn to_query(&self) -> String {
        let d = Scenario::default();
        let mut out: Vec<(&str, String)> = Vec::new();
        if self.persona != d.persona {
            out.push(("persona", self.persona.as_str().into()));
        }
        if !self.records.is_empty() {
            let items: Vec<String> = self.records.iter().map(|(t, n)| format!("{}:{n}", t.name)).collect();
            out.push(("records", items.join(",")));
        }
        if self.target_bytes != d.target_bytes {
            out.push(("target_bytes", render_bytes(self.target_bytes)));
        }
        if self.seed != d.seed {
            out.push(("seed", self.seed.to_string()));
        }
        if self.span != d.span {
            out.push(("span", self.span.to_string()));
        }
        if self.tz != d.tz {
            out.push(("tz", self.tz.to_string()));
        }
        match &self.grant {
            Grant::All => {}
            Grant::Only(scopes) if scopes.is_empty() => out.push(("grant", "none".into())),
            Grant::Only(scopes) => out.push(("grant", scopes.join(","))),
        }
        if self.access_type != d.access_type {
            out.push(("access_type", self.access_type.as_str().into()));
        }
        for failure in &self.failures {
            out.push(("failure", failure.to_string()));
        }
        if self.tiktok_layout != d.tiktok_layout {
            out.push(("tiktok_layout", self.tiktok_layout.as_str().into()));
        }
        if self.tiktok_token_shape != d.tiktok_token_shape {
            out.push(("tiktok_token_shape", self.tiktok_token_shape.as_str().into()));
        }
        if self.latency_ms != d.latency_ms {
            out.push(("latency_ms", self.latency_ms.to_string()));
        }
        let pairs: Vec<String> = out.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        pairs.join("&")
    }

    /// Records of `data_type` before any window: the `records=` override, else
    /// the persona's count; `None` when the persona sizes by bytes (`huge`).
    pub fn records_for(&self, data_type: &DataType) -> Option<u64> {
        match self.records.iter().find(|(t, _)| std::ptr::eq(*t, data_type) || t.name == data_type.name) {
            Some((_, n)) => Some(*n),
            None => self.persona.records_per_type(),
        }
    }

    /// Whether the failure mode `failure` (compared with its arguments) is staged.
    pub fn has(&self, failure: &Failure) -> bool {
        self.failures.contains(failure)
    }

    /// The first staged failure `pick` selects, e.g.
    /// `s.find_failure(|f| match f { Failure::SlowArchive { polls } => Some(*polls), _ => None })`.
    pub fn find_failure<T>(&self, pick: impl FnMut(&Failure) -> Option<T>) -> Option<T> {
        self.failures.iter().find_map(pick)
    }

    /// Response delay: `latency_ms`, or a larger `latency:<ms>` failure.
    pub fn latency_ms_effective(&self) -> u64 {
        let staged = self.find_failure(|f| match f {
            Failure::Latency { ms } => Some(*ms),
            _ => None,
        });
        self.latency_ms.max(staged.unwrap_or(0))
    }

    /// Number of zips per Google export requested by `multi_part:N` (1 without it).
    pub fn multi_part(&self) -> u32 {
        self.find_failure(|f| match f {
            Failure::MultiPart { parts } => Some(*parts),
            _ => None,
        })
        .unwrap_or(1)
    }

    // Builders, for tests: `Scenario::default().persona(Persona::Tiny).failure(Failure::ZipBomb)`.

    pub fn persona(mut self, persona: Persona) -> Scenario {
        self.persona = persona;
        self
    }

    /// Overrides the record count of `data_type` (catalogue name).
    /// # Panics
    /// When `data_type` is not in the catalogue (a bug in the calling test).
    pub fn records(mut self, data_type_name: &str, n: u64) -> Scenario {
        let t = data_type(data_type_name).unwrap_or_else(|e| panic!("{e}"));
        self.records.retain(|(old, _)| old.name != t.name);
        self.records.push((t, n));
        self.records.sort_by_key(|(t, _)| t.position());
        self
    }

    pub fn target_bytes(mut self, bytes: u64) -> Scenario {
        self.target_bytes = bytes;
        self
    }

    pub fn seed(mut self, seed: u64) -> Scenario {
        self.seed = seed;
        self
    }

    pub fn span(mut self, span: Span) -> Scenario {
        self.span = span;
        self
    }

    pub fn tz(mut self, tz: Zone) -> Scenario {
        self.tz = tz;
        self
    }

    pub fn grant(mut self, grant: Grant) -> Scenario {
        self.grant = grant;
        self
    }

    pub fn access_type(mut self, access_type: AccessType) -> Scenario {
        self.access_type = access_type;
        self
    }

    /// Adds a staged failure.
    pub fn failure(mut self, failure: Failure) -> Scenario {
        self.failures.push(failure);
        self
    }

    pub fn tiktok_layout(mut self, layout: TikTokLayout) -> Scenario {
        self.tiktok_layout = layout;
        self
    }

    pub fn tiktok_token_shape(mut self, shape: TokenShape) -> Scenario {
        self.tiktok_token_shape = shape;
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> Scenario {
        self.latency_ms = ms;
        self
    }
}

fn parse_records(value: &str) -> Result<Vec<(&'static DataType, u64)>, String> {
    let mut out: Vec<(&'static DataType, u64)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, n) =
            item.split_once(':').ok_or_else(|| format!("`{item}`: expected `type:count`, e.g. `search:200`"))?;
        let t = data_type(name.trim())?;
        let n: u64 = n.trim().parse().map_err(|_| format!("`{item}`: `{n}` is not a whole number"))?;
        if out.iter().any(|(old, _)| old.name == t.name) {
            return Err(format!("`{}` is given twice", t.name));
        }
        out.push((t, n));
    }
    out.sort_by_key(|(t, _)| t.position());
    Ok(out)
}

impl fmt::Display for Scenario {
    /// Same as [`Scenario::to_query`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_query())
    }
}

impl FromStr for Scenario {
    type Err = ScenarioError;

    /// Same as [`Scenario::parse_query`].
    fn from_str(s: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_query(s)
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("`{s}` has a bad percent escape"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8 once decoded"))
}

/// Encodes a value for a query string, leaving the characters scenario
/// values use (`:`, `,`, `/`, `.`) readable.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b',' | b'/' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(query: &str) -> ScenarioError {
        Scenario::parse_query(query).expect_err(query)
    }

    #[test]
    fn defaults_match_the_spec() {
        let s = Scenario::default();
        assert_eq!(s.persona, Persona::Small);
        assert_eq!(s.target_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!((s.seed, s.latency_ms), (1, 0));
        assert_eq!(s.tz.to_string(), "Europe/Helsinki");
        assert_eq!(s.grant, Grant::All);
        assert_eq!(s.access_type, AccessType::OneTime);
        assert_eq!((s.tiktok_layout, s.tiktok_token_shape), (TikTokLayout::V2025, TokenShape::Flat));
        assert!(s.failures.is_empty() && s.records.is_empty());
        assert_eq!(s.to_query(), "");
        assert_eq!(Scenario::parse_query(""), Ok(s.clone()));
        assert_eq!(Scenario::parse_query("?"), Ok(s));
        // Three years back to now.
        let now = "2025-06-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let (start, end) = Span::default().resolve(now);
        assert_eq!((start.to_rfc3339(), end), ("2022-06-01T12:00:00+00:00".to_string(), now));
    }

    #[test]
    fn every_field_parses_and_round_trips() {
        let q = "persona=huge&records=search:200,youtube_history:5000&target_bytes=512MiB&seed=18446744073709551615\
                 &span=2023-01-01..2023-12-31&tz=America/New_York&grant=myactivity.youtube&grant=discover.likes\
                 &access_type=time_based_180&failure=slow_archive:polls=5&failure=multi_part:3\
                 &failure=missing_type:google_lens&failure=missing_type:watch_history&failure=latency:250\
                 &tiktok_layout=legacy&tiktok_token_shape=nested&latency_ms=40";
        let s = Scenario::parse_query(q).unwrap();
        assert_eq!(s.persona, Persona::Huge);
        let records: Vec<(&str, u64)> = s.records.iter().map(|(t, n)| (t.name, *n)).collect();
        assert_eq!(records, [("youtube_history", 5000), ("search", 200)], "catalogue order");
        assert_eq!(s.target_bytes, 512 << 20);
        assert_eq!(s.seed, u64::MAX);
        assert_eq!(s.span.to_string(), "2023-01-01..2023-12-31");
        assert_eq!(s.tz, Zone::parse("America/New_York").unwrap());
        assert_eq!(s.grant, Grant::Only(vec!["myactivity.youtube".into(), "discover.likes".into()]));
        assert_eq!(s.access_type, AccessType::TimeBased180);
        assert_eq!(
            s.failures,
            [
                Failure::SlowArchive { polls: 5 },
                Failure::MultiPart { parts: 3 },
                Failure::missing_type("google_lens"),
                Failure::missing_type("watch_history"),
                Failure::Latency { ms: 250 },
            ]
        );
        assert_eq!(
            (s.tiktok_layout, s.tiktok_token_shape, s.latency_ms),
            (TikTokLayout::Legacy, TokenShape::Nested, 40)
        );
        assert_eq!(s.latency_ms_effective(), 250);
        assert_eq!(s.multi_part(), 3);
        assert_eq!(Scenario::parse_query(&s.to_query()), Ok(s.clone()));
        assert_eq!(s.to_string().parse::<Scenario>(), Ok(s));
    }

    #[test]
    fn every_failure_mode_parses_renders_and_round_trips() {
        for name in FAILURE_NAMES {
            let item = match *name {
                "multi_part" => "multi_part:2".to_string(),
                "missing_type" | "html_only" | "malformed_json" => format!("{name}:search"),
                "latency" => "latency:10".to_string(),
                _ => name.to_string(),
            };
            let failure: Failure = item.parse().unwrap_or_else(|e| panic!("{item}: {e}"));
            assert_eq!(failure.name(), *name);
            let rendered = failure.to_string();
            assert_eq!(rendered.parse::<Failure>().unwrap(), failure, "{rendered}");
            let s = Scenario::default().failure(failure);
            assert_eq!(Scenario::parse_query(&s.to_query()), Ok(s));
        }
        // Arguments and their defaults.
        assert_eq!("slow_archive".parse::<Failure>().unwrap(), Failure::SlowArchive { polls: 3 });
        assert_eq!("job_failed".parse::<Failure>().unwrap(), Failure::JobFailed { again: 0 });
        assert_eq!("job_failed:again=2".parse::<Failure>().unwrap(), Failure::JobFailed { again: 2 });
        assert_eq!("revoked_consent".parse::<Failure>().unwrap(), Failure::RevokedConsent { after: 2 });
        assert_eq!("rate_limited:n=4".parse::<Failure>().unwrap(), Failure::RateLimited { n: 4 });
        assert_eq!("server_error".parse::<Failure>().unwrap(), Failure::ServerError { n: 1 });
        assert_eq!("url_expired:n=2".parse::<Failure>().unwrap(), Failure::UrlExpired { n: 2 });
        assert_eq!("tiktok_redirect".parse::<Failure>().unwrap(), Failure::TikTokRedirect { n: 1 });
        assert_eq!("tiktok_redirect:n=3".parse::<Failure>().unwrap(), Failure::TikTokRedirect { n: 3 });
        assert_eq!(Failure::SlowArchive { polls: 3 }.to_string(), "slow_archive:polls=3");
        // A comma-separated list in one value, with spaces, as a person types it.
        let s = Scenario::parse_query("failure=bad_records, split_member").unwrap();
        assert_eq!(s.failures, [Failure::BadRecords, Failure::SplitMember]);
        assert!(s.has(&Failure::SplitMember));
        assert_eq!(s.find_failure(|f| matches!(f, Failure::BadRecords).then_some(())), Some(()));
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_message() {
        let cases: &[(&str, &str, &str)] = &[
            ("persona=big", "persona", "unknown persona `big`; expected tiny, small, medium, large or huge"),
            ("colour=blue", "colour", "unknown field; known: persona, records"),
            ("persona=tiny&persona=small", "persona", "is given twice"),
            ("records=search", "records", "`search`: expected `type:count`"),
            ("records=banana:5", "records", "unknown data type `banana`; known: youtube_history"),
            ("records=search:many", "records", "`many` is not a whole number"),
            ("records=search:1,search:2", "records", "`search` is given twice"),
            ("target_bytes=2 parsecs", "target_bytes", "unknown unit"),
            ("target_bytes=0", "target_bytes", "must be more than 0 bytes"),
            ("target_bytes=99999999999TiB", "target_bytes", "too large"),
            ("seed=-1", "seed", "`-1` is not a whole number"),
            ("span=2024-02-30..now", "span", "`2024-02-30` is not a date"),
            ("span=2024-01-01", "span", "expected `YYYY-MM-DD..YYYY-MM-DD`"),
            ("span=2024-05-01..2024-01-01", "span", "ends before it starts"),
            ("tz=Mars/Olympus", "tz", "unknown time zone `Mars/Olympus`; use a fixed offset"),
            ("grant=chrome.history", "grant", "unknown scope `chrome.history`"),
            ("access_type=forever", "access_type", "unknown access type `forever`"),
            ("failure=explode", "failure", "unknown failure mode `explode`; known: slow_archive"),
            ("failure=slow_archive:poll=3", "failure", "expected `slow_archive:polls=N`"),
            ("failure=slow_archive:polls=x", "failure", "`x` is not a whole number"),
            ("failure=never_ready:1", "failure", "`never_ready` takes no argument"),
            ("failure=multi_part", "failure", "`multi_part` needs an argument"),
            ("failure=multi_part:0", "failure", "the number of parts must be 1 to 100"),
            ("failure=missing_type:banana", "failure", "unknown data type `banana`"),
            ("failure=html_only:likes", "failure", "html_only applies to Google types only"),
            ("failure=revoked_consent:after=0", "failure", "calls are counted from 1"),
            ("failure=zip_bomb&failure=zip_bomb", "failure", "`zip_bomb` is given twice"),
            ("failure=missing_type:search,missing_type:search", "failure", "`missing_type` is given twice"),
            ("failure=latency:999999", "failure", "too long; at most 60000"),
            ("latency_ms=slow", "latency_ms", "`slow` is not a whole number of milliseconds"),
            ("tiktok_layout=2019", "tiktok_layout", "expected 2025 or legacy"),
            ("tiktok_token_shape=round", "tiktok_token_shape", "expected flat or nested"),
            ("seed=%ZZ", "seed", "bad percent escape"),
        ];
        for (query, field, message) in cases {
            let e = err(query);
            assert_eq!(e.field, *field, "{query}");
            assert!(e.message.contains(message), "{query}: got `{}`", e.message);
            assert!(e.to_string().starts_with(&format!("sandbox scenario field `{field}`: ")));
        }
    }

    #[test]
    fn overlays_replace_reset_and_accumulate() {
        let base = Scenario::parse_query("persona=tiny&seed=9&failure=zip_bomb&records=search:3").unwrap();
        // Present fields replace; absent ones keep the base.
        let s = base.apply_query("seed=10").unwrap();
        assert_eq!((s.persona, s.seed, s.failures.clone()), (Persona::Tiny, 10, vec![Failure::ZipBomb]));
        // A `failure` field replaces the base's list; an empty value clears it.
        assert_eq!(base.apply_query("failure=deny").unwrap().failures, [Failure::Deny]);
        assert!(base.apply_query("failure=").unwrap().failures.is_empty());
        // Empty values reset to the built-in default.
        let s = base.apply_query("persona=&records=&seed=").unwrap();
        assert_eq!((s.persona, s.seed, s.records.len()), (Persona::Small, 1, 0));
        // Decoded pairs from a form work the same.
        let s = base.apply_pairs([("persona", "large"), ("failure", "bad_records")]).unwrap();
        assert_eq!((s.persona, s.failures.clone()), (Persona::Large, vec![Failure::BadRecords]));
        assert!(Scenario::FIELDS.contains(&"tiktok_token_shape"));
    }

    #[test]
    fn grant_follows_the_checkboxes() {
        // Checkboxes plus the hidden `none`: the ticked ones.
        let s = Scenario::parse_query("grant=none&grant=myactivity.search&grant=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdataportability.myactivity.play").unwrap();
        assert_eq!(s.grant, Grant::Only(vec!["myactivity.search".into(), "myactivity.play".into()]));
        assert!(s.grant.allows("myactivity.search"));
        assert!(s.grant.allows("https://www.googleapis.com/auth/dataportability.myactivity.play"));
        assert!(!s.grant.allows("myactivity.youtube"));
        // Only the hidden field: everything unticked.
        let none = Scenario::parse_query("grant=none").unwrap();
        assert_eq!(none.grant, Grant::Only(vec![]));
        assert!(!none.grant.allows("myactivity.youtube"));
        assert_eq!(none.to_query(), "grant=none");
        assert_eq!(Scenario::parse_query(&none.to_query()), Ok(none.clone()));
        // An empty value resets to all ticked.
        assert_eq!(none.apply_query("grant=").unwrap().grant, Grant::All);
        // TikTok scopes, comma-separated as TikTok writes them.
        let t = Scenario::parse_query("grant=user.info.basic,portability.activity.single").unwrap();
        assert!(t.grant.allows("portability.activity.single") && !t.grant.allows("portability.all.single"));
        assert_eq!(Scenario::parse_query(&t.to_query()), Ok(t));
    }

    #[test]
    fn spans_bytes_and_records_parse_every_form() {
        let now = "2025-06-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let span: Span = "2023-01-01..2023-12-31".parse().unwrap();
        let (start, end) = span.resolve(now);
        assert_eq!(
            (start.to_rfc3339(), end.to_rfc3339()),
            ("2023-01-01T00:00:00+00:00".into(), "2024-01-01T00:00:00+00:00".into())
        );
        let open: Span = "2024-03-01..now".parse().unwrap();
        assert_eq!(open.resolve(now).1, now);
        assert_eq!(open.to_string(), "2024-03-01..now");
        let back: Span = "..2024-12-31".parse().unwrap();
        assert_eq!(back.resolve(now).0.to_rfc3339(), "2022-01-01T00:00:00+00:00");
        assert_eq!("..now".parse::<Span>().unwrap(), Span::default());
        for (text, bytes) in [("2GiB", 2u64 << 30), ("500 MB", 500_000_000), ("1048576", 1 << 20), ("3kib", 3 << 10)] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        assert_eq!(render_bytes(3 << 30), "3GiB");
        assert_eq!(render_bytes(1000), "1000");
        assert_eq!(
            Scenario::default().records("search", 7).records_for(Source::Google.data_type("search").unwrap()),
            Some(7)
        );
        let huge = Scenario::default().persona(Persona::Huge);
        assert_eq!(huge.records_for(Source::Google.data_type("search").unwrap()), None);
        // Percent-encoded and `+`-spaced values decode.
        let s =
            Scenario::parse_query("tz=Europe%2FBerlin&failure=slow_archive%3Apolls%3D2&target_bytes=2+GiB").unwrap();
        assert_eq!(
            (s.tz.to_string().as_str(), s.failures[0], s.target_bytes),
            ("Europe/Berlin", Failure::SlowArchive { polls: 2 }, 2 << 30)
        );
    }
}
