//! Proto ↔ domain conversions for `DatasetService`: requests are validated
//! into the admin operations' specs (INVALID_ARGUMENT naming the field), and
//! their views are rendered as proto messages.

use chrono::{DateTime, Utc};

use super::admin::{DatasetChanges, DatasetView, NewDatasetSpec, NewVersionSpec, VersionChanges, VersionView};
use super::audit_log::{AuditEntry, AuditFilter};
use super::grants::{GrantRequest, GrantView, GranteeName, GranteeSpec, GroupView, MemberView, TeamGrantRequest};
use super::middleauth::MiddleauthAppRow;
use super::permissions::Level;
use super::service_accounts::{ServiceAccountView, TokenView};
use super::services::ServiceRow;
use super::tables::ServiceTableView;
use super::tos::{AcceptanceView, NewTosSpec, TosChanges, TosKey, TosView};
use crate::error::{Error, Result};
use crate::proto::dataset::v1 as pb;
use crate::proto::timestamp;

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// A slug `^[A-Za-z0-9_-]{1,255}$`.
pub fn slug(field: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(format!("{field} must be a slug: 1 to 255 letters, digits, '-' or '_'")))
    }
}

/// A non-empty name of at most 255 characters.
fn bounded(field: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.chars().count() > 255 {
        return Err(invalid(format!("{field} must be 1 to 255 characters")));
    }
    Ok(value.to_owned())
}

/// A middleauth app's name: 1–255 characters, control characters refused.
pub fn app_name(value: &str) -> Result<String> {
    let name = bounded("name", value.trim())?;
    if name.chars().any(char::is_control) {
        return Err(invalid("name must not contain control characters".into()));
    }
    Ok(name)
}

/// A middleauth app's URL: absolute `https` (also `http` when `allow_http`,
/// outside production, like the other URL settings), with a host, no
/// credentials, fragment, spaces or control characters, at most 2048 bytes.
/// Kept as given: Neuroglancer compares it with the app's URL as a string.
pub fn app_url(value: &str, allow_http: bool) -> Result<String> {
    let refused = || {
        let schemes = if allow_http { "an absolute https or http URL" } else { "an absolute https URL" };
        invalid(format!("url must be {schemes}, e.g. https://cave.example.org/pcg"))
    };
    if value.is_empty() || value.len() > 2048 || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refused());
    }
    let url = reqwest::Url::parse(value).map_err(|_| refused())?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    // `https:host` parses too, but is not what it looks like.
    if !scheme_ok || !plain || url.host_str().is_none() || !value[url.scheme().len()..].starts_with("://") {
        return Err(refused());
    }
    Ok(value.to_owned())
}

/// A group name: 1–255 characters without '/'.
fn group_name(field: &str, value: &str) -> Result<String> {
    let name = bounded(field, value)?;
    if name.contains('/') {
        return Err(invalid(format!("{field} must not contain '/'")));
    }
    Ok(name)
}

/// An e-mail address (not a service account's).
fn email(field: &str, value: &str) -> Result<String> {
    crate::auth::ops::validate_email(value).map_err(|e| invalid(format!("{field}: {e}")))
}

/// An optional retry key.
fn request_id(value: String) -> Result<Option<String>> {
    if value.len() > 255 {
        return Err(invalid("request_id must be at most 255 characters".into()));
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

/// A level; UNSPECIFIED and unknown values are refused.
fn level(field: &str, value: i32) -> Result<Level> {
    match pb::AccessLevel::try_from(value) {
        Ok(pb::AccessLevel::View) => Ok(Level::View),
        Ok(pb::AccessLevel::Edit) => Ok(Level::Edit),
        Ok(pb::AccessLevel::Manage) => Ok(Level::Manage),
        Ok(pb::AccessLevel::Admin) => Ok(Level::Admin),
        Ok(pb::AccessLevel::Unspecified) | Err(_) => {
            Err(invalid(format!("{field} is required (view, edit, manage or admin)")))
        }
    }
}

fn level_to_proto(level: Level) -> pb::AccessLevel {
    match level {
        Level::View => pb::AccessLevel::View,
        Level::Edit => pb::AccessLevel::Edit,
        Level::Manage => pb::AccessLevel::Manage,
        Level::Admin => pb::AccessLevel::Admin,
    }
}

/// `true` for public; UNSPECIFIED and unknown values are refused.
fn access_mode(value: i32) -> Result<bool> {
    match pb::AccessMode::try_from(value) {
        Ok(pb::AccessMode::Closed) => Ok(false),
        Ok(pb::AccessMode::Public) => Ok(true),
        Ok(pb::AccessMode::Unspecified) | Err(_) => Err(invalid("access_mode is required (closed or public)".into())),
    }
}

impl TryFrom<pb::CreateDatasetRequest> for NewDatasetSpec {
    type Error = Error;

    fn try_from(r: pb::CreateDatasetRequest) -> Result<Self> {
        let pb::CreateDatasetRequest { name, description, access_mode: mode, request_id: rid } = r;
        Ok(NewDatasetSpec {
            name: slug("name", &name)?,
            description,
            public: access_mode(mode)?,
            request_id: request_id(rid)?,
        })
    }
}

impl TryFrom<pb::UpdateDatasetRequest> for (String, DatasetChanges) {
    type Error = Error;

    fn try_from(r: pb::UpdateDatasetRequest) -> Result<Self> {
        let pb::UpdateDatasetRequest { name, description, access_mode: mode, tos_document_id } = r;
        let changes = DatasetChanges {
            description,
            public: mode.map(access_mode).transpose()?,
            tos_document_id: match tos_document_id {
                None => None,
                Some(0) => Some(None),
                Some(id) if id > 0 => Some(Some(id)),
                Some(_) => return Err(invalid("tos_document_id must be positive (0 clears it)".into())),
            },
        };
        Ok((name, changes))
    }
}

impl TryFrom<pb::CreateDatasetVersionRequest> for (String, NewVersionSpec) {
    type Error = Error;

    fn try_from(r: pb::CreateDatasetVersionRequest) -> Result<Self> {
        let pb::CreateDatasetVersionRequest { dataset, version, prefix, is_public, buckets, request_id: rid } = r;
        let spec = NewVersionSpec {
            version: bounded("version", &version)?,
            prefix,
            is_public,
            buckets: buckets.iter().map(|b| bounded("buckets", b)).collect::<Result<_>>()?,
            request_id: request_id(rid)?,
        };
        Ok((dataset, spec))
    }
}

impl TryFrom<pb::UpdateDatasetVersionRequest> for (String, String, VersionChanges) {
    type Error = Error;

    fn try_from(r: pb::UpdateDatasetVersionRequest) -> Result<Self> {
        let pb::UpdateDatasetVersionRequest { dataset, version, prefix, is_public, buckets } = r;
        let buckets = match buckets {
            None => None,
            Some(pb::BucketSet { names }) => {
                Some(names.iter().map(|b| bounded("buckets.names", b)).collect::<Result<_>>()?)
            }
        };
        Ok((dataset, version, VersionChanges { prefix, is_public, buckets }))
    }
}

/// A bucket name from a request.
pub fn bucket(value: &str) -> Result<String> {
    bounded("bucket", value)
}

impl TryFrom<pb::CreateGrantRequest> for GrantRequest {
    type Error = Error;

    fn try_from(r: pb::CreateGrantRequest) -> Result<Self> {
        let pb::CreateGrantRequest { dataset, grantee, level: l, version, request_id: rid } = r;
        let grantee = match grantee {
            Some(pb::create_grant_request::Grantee::UserEmail(e)) => GranteeSpec::UserEmail(email("user_email", &e)?),
            Some(pb::create_grant_request::Grantee::Group(g)) => GranteeSpec::Group(group_name("group", &g)?),
            Some(pb::create_grant_request::Grantee::ServiceAccount(s)) => {
                GranteeSpec::ServiceAccount(slug("service_account", &s)?)
            }
            None => return Err(invalid("grantee is required: user_email, group or service_account".into())),
        };
        Ok(GrantRequest {
            dataset,
            grantee,
            level: level("level", l)?,
            version: Some(version).filter(|v| !v.is_empty()),
            request_id: request_id(rid)?,
        })
    }
}

impl TryFrom<pb::CreateTeamGrantRequest> for TeamGrantRequest {
    type Error = Error;

    fn try_from(r: pb::CreateTeamGrantRequest) -> Result<Self> {
        let pb::CreateTeamGrantRequest { group, user_email, dataset, level: l, request_id: rid } = r;
        Ok(TeamGrantRequest {
            group,
            user_email: email("user_email", &user_email)?,
            dataset,
            level: level("level", l)?,
            request_id: request_id(rid)?,
        })
    }
}

/// A user e-mail from a request.
pub fn user_email(value: &str) -> Result<String> {
    email("user_email", value)
}

/// A new group name from a request.
pub fn new_group_name(field: &str, value: &str) -> Result<String> {
    group_name(field, value)
}

impl From<DatasetView> for pb::Dataset {
    fn from(v: DatasetView) -> Self {
        let DatasetView { row, buckets } = v;
        let mode = if row.access_mode == "public" { pb::AccessMode::Public } else { pb::AccessMode::Closed };
        pb::Dataset {
            id: row.id,
            name: row.name,
            description: row.description,
            access_mode: mode.into(),
            tos_document_id: row.tos_document_id,
            buckets,
            create_time: Some(timestamp(row.created_at)),
            update_time: Some(timestamp(row.updated_at)),
        }
    }
}

impl From<VersionView> for pb::DatasetVersion {
    fn from(v: VersionView) -> Self {
        let VersionView { row, dataset, buckets } = v;
        pb::DatasetVersion {
            id: row.id,
            dataset,
            version: row.version,
            prefix: row.prefix,
            is_public: row.is_public,
            buckets,
        }
    }
}

impl From<GrantView> for pb::Grant {
    fn from(v: GrantView) -> Self {
        let GrantView { id, dataset, version, level, grantee, team_group, source, granted_by, created_at } = v;
        let grantee = match grantee {
            GranteeName::User(e) => pb::grant::Grantee::UserEmail(e),
            GranteeName::Group(g) => pb::grant::Grantee::Group(g),
            GranteeName::ServiceAccount(s) => pb::grant::Grantee::ServiceAccount(s),
        };
        let source = match source.as_str() {
            "manual" => pb::GrantSource::Manual,
            "self_service" => pb::GrantSource::SelfService,
            "import" => pb::GrantSource::Import,
            _ => pb::GrantSource::Unspecified,
        };
        pb::Grant {
            id,
            dataset,
            version: version.unwrap_or_default(),
            level: level_to_proto(level).into(),
            grantee: Some(grantee),
            team_group: team_group.unwrap_or_default(),
            source: source.into(),
            granted_by: granted_by.unwrap_or_default(),
            create_time: Some(timestamp(created_at)),
        }
    }
}

impl From<GroupView> for pb::Group {
    fn from(v: GroupView) -> Self {
        let GroupView { id, name, member_count, created_at } = v;
        pb::Group { id, name, member_count, create_time: Some(timestamp(created_at)) }
    }
}

impl From<MemberView> for pb::GroupMember {
    fn from(v: MemberView) -> Self {
        let MemberView { user_id, email, is_admin } = v;
        pb::GroupMember { user_id, email, is_admin }
    }
}

/// A service-account name (DSG's message, prefixed with the field).
pub fn service_account_name(value: &str) -> Result<String> {
    slug("name", value)
        .map_err(|_| invalid("name: Name must be a slug (letters, numbers, hyphens, underscores).".into()))
}

/// A required token description.
pub fn token_description(value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("description: Description is required.".into()));
    }
    if value.chars().count() > 1000 {
        return Err(invalid("description must be at most 1000 characters".into()));
    }
    Ok(value.to_owned())
}

/// An optional retry key from a request.
pub fn optional_request_id(value: String) -> Result<Option<String>> {
    request_id(value)
}

impl From<ServiceAccountView> for pb::ServiceAccount {
    fn from(v: ServiceAccountView) -> Self {
        let email = v.email();
        let ServiceAccountView { id, name, description, is_active, token_count, grant_count, created_by, created_at } =
            v;
        pb::ServiceAccount {
            id,
            name,
            email,
            description,
            is_active,
            token_count,
            grant_count,
            created_by: created_by.unwrap_or_default(),
            create_time: Some(timestamp(created_at)),
        }
    }
}

impl From<TokenView> for pb::ServiceAccountToken {
    fn from(v: TokenView) -> Self {
        let TokenView { id, description, created_at, last_used_at, expires_at } = v;
        pb::ServiceAccountToken {
            id,
            description,
            create_time: Some(timestamp(created_at)),
            last_used_time: last_used_at.map(timestamp),
            expire_time: expires_at.map(timestamp),
        }
    }
}

/// A point in time from a request.
fn from_timestamp(field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>> {
    t.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| invalid(format!("{field} is not a valid timestamp")))
    })
    .transpose()
}

/// An optional name: empty means none.
fn optional(value: String) -> Option<String> {
    Some(value).filter(|v| !v.is_empty())
}

impl TryFrom<pb::CreateTosDocumentRequest> for NewTosSpec {
    type Error = Error;

    fn try_from(r: pb::CreateTosDocumentRequest) -> Result<Self> {
        let pb::CreateTosDocumentRequest {
            name,
            text,
            dataset,
            version,
            service,
            effective_time,
            retire_time,
            make_current,
            request_id: rid,
        } = r;
        if text.trim().is_empty() {
            return Err(invalid("text is required".into()));
        }
        Ok(NewTosSpec {
            name: bounded("name", &name)?,
            text,
            dataset: optional(dataset),
            version: optional(version),
            service: optional(service).map(|s| slug("service", &s)).transpose()?,
            effective_at: from_timestamp("effective_time", effective_time)?,
            retired_at: from_timestamp("retire_time", retire_time)?,
            make_current,
            request_id: request_id(rid)?,
        })
    }
}

impl TryFrom<pb::UpdateTosDocumentRequest> for (i64, TosChanges) {
    type Error = Error;

    fn try_from(r: pb::UpdateTosDocumentRequest) -> Result<Self> {
        let pb::UpdateTosDocumentRequest { id, name, text, effective_time, retire_time } = r;
        if text.as_ref().is_some_and(|t| t.trim().is_empty()) {
            return Err(invalid("text must not be empty".into()));
        }
        let changes = TosChanges {
            name: name.map(|n| bounded("name", &n)).transpose()?,
            text,
            effective_at: from_timestamp("effective_time", effective_time)?,
            retired_at: from_timestamp("retire_time", retire_time)?,
        };
        Ok((id, changes))
    }
}

/// The document a Get request names.
pub fn tos_key_get(document: Option<pb::get_tos_document_request::Document>) -> Result<TosKey> {
    match document {
        Some(pb::get_tos_document_request::Document::Id(id)) => Ok(TosKey::Id(id)),
        Some(pb::get_tos_document_request::Document::InviteToken(t)) if !t.is_empty() => Ok(TosKey::InviteToken(t)),
        _ => Err(invalid("id or invite_token is required".into())),
    }
}

/// The document an Accept request names.
pub fn tos_key_accept(document: Option<pb::accept_tos_request::Document>) -> Result<TosKey> {
    match document {
        Some(pb::accept_tos_request::Document::Id(id)) => Ok(TosKey::Id(id)),
        Some(pb::accept_tos_request::Document::InviteToken(t)) if !t.is_empty() => Ok(TosKey::InviteToken(t)),
        _ => Err(invalid("id or invite_token is required".into())),
    }
}

impl From<TosView> for pb::TosDocument {
    fn from(v: TosView) -> Self {
        let TosView { row, dataset, version, service, is_current, acceptance_count } = v;
        pb::TosDocument {
            id: row.id,
            name: row.name,
            text: row.text,
            text_sha256: crate::auth::token::hex(&row.text_sha256),
            dataset: dataset.unwrap_or_default(),
            version: version.unwrap_or_default(),
            service: service.unwrap_or_default(),
            invite_token: row.invite_token,
            effective_time: Some(timestamp(row.effective_at)),
            retire_time: row.retired_at.map(timestamp),
            is_current,
            acceptance_count,
            create_time: Some(timestamp(row.created_at)),
        }
    }
}

impl From<AcceptanceView> for pb::TosAcceptance {
    fn from(v: AcceptanceView) -> Self {
        let AcceptanceView { user_email, accepted_at, text_sha256, user_agent } = v;
        pb::TosAcceptance {
            user_email,
            accept_time: Some(timestamp(accepted_at)),
            text_sha256: crate::auth::token::hex(&text_sha256),
            user_agent: user_agent.unwrap_or_default(),
        }
    }
}

impl From<ServiceTableView> for pb::ServiceTable {
    fn from(v: ServiceTableView) -> Self {
        let ServiceTableView { id, dataset, service_name, table_name, public_root_count, created_at } = v;
        pb::ServiceTable {
            id,
            dataset,
            service_name,
            table_name,
            public_root_count,
            create_time: Some(timestamp(created_at)),
        }
    }
}

impl TryFrom<pb::ListAuditLogRequest> for (AuditFilter, super::admin::PageRequest) {
    type Error = Error;

    fn try_from(r: pb::ListAuditLogRequest) -> Result<Self> {
        let pb::ListAuditLogRequest { actor, action, target_type, target_id, since, until, page_size, page_token } = r;
        let filter = AuditFilter {
            actor: optional(actor),
            action: optional(action),
            target_type: optional(target_type),
            target_id: optional(target_id),
            since: from_timestamp("since", since)?,
            until: from_timestamp("until", until)?,
        };
        Ok((filter, super::admin::PageRequest::parse(page_size, &page_token)?))
    }
}

/// A JSON value as a protobuf `Value`.
fn json_value(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
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

fn json_struct(o: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct { fields: o.into_iter().map(|(k, v)| (k, json_value(v))).collect() }
}

/// An audit state (a JSON object) as a `Struct`; other JSON is wrapped as `{"value": …}`.
fn state(v: Option<serde_json::Value>) -> Option<prost_types::Struct> {
    v.map(|v| match v {
        serde_json::Value::Object(o) => json_struct(o),
        other => json_struct(serde_json::Map::from_iter([("value".to_owned(), other)])),
    })
}

impl From<AuditEntry> for pb::AuditEntry {
    fn from(v: AuditEntry) -> Self {
        let AuditEntry { id, created_at, actor, action, target_type, target_id, before_state, after_state, request_id } =
            v;
        pb::AuditEntry {
            id,
            create_time: Some(timestamp(created_at)),
            actor: actor.unwrap_or_default(),
            action,
            target_type,
            target_id,
            before_state: state(before_state),
            after_state: state(after_state),
            request_id: request_id.unwrap_or_default(),
        }
    }
}

impl From<ServiceRow> for pb::Service {
    fn from(v: ServiceRow) -> Self {
        let ServiceRow { id, name, display_name, base_url, created_at } = v;
        pb::Service { id, name, display_name, base_url, create_time: Some(timestamp(created_at)) }
    }
}

impl From<MiddleauthAppRow> for pb::MiddleauthApp {
    fn from(v: MiddleauthAppRow) -> Self {
        let MiddleauthAppRow { id, name, url, created_at } = v;
        pb::MiddleauthApp { id, name, url, create_time: Some(timestamp(created_at)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middleauth_app_urls_are_absolute_https_unless_development() {
        for ok in ["https://cave.example.org/pcg", "https://cave.example.org", "https://a.example.org:8443/x?y=1"] {
            assert_eq!(app_url(ok, false).unwrap(), ok);
        }
        for bad in [
            "",
            "http://cave.example.org/pcg",
            "/pcg",
            "cave.example.org/pcg",
            "https:cave.example.org",
            "https://user:pw@cave.example.org/",
            "https://cave.example.org/#x",
            "https://cave.example.org/ x",
            "javascript:alert(1)",
            "ftp://cave.example.org/",
        ] {
            assert!(app_url(bad, false).is_err(), "{bad:?}");
        }
        assert!(app_url("http://127.0.0.1:8000/pcg", true).is_ok());
        assert!(app_url("ftp://cave.example.org/", true).is_err());
        assert!(app_name(" ").is_err());
        assert!(app_name("a\u{7}b").is_err());
        assert_eq!(app_name(" PCG ").unwrap(), "PCG");
    }

    #[test]
    fn invalid_input_names_the_field() {
        let bad = pb::CreateDatasetRequest {
            name: "a b".into(),
            description: String::new(),
            access_mode: pb::AccessMode::Closed.into(),
            request_id: String::new(),
        };
        let err = NewDatasetSpec::try_from(bad).unwrap_err().to_string();
        assert!(err.starts_with("name must be a slug"), "{err}");
        let unspecified = pb::CreateDatasetRequest {
            name: "ok".into(),
            description: String::new(),
            access_mode: 0,
            request_id: String::new(),
        };
        assert!(NewDatasetSpec::try_from(unspecified).unwrap_err().to_string().starts_with("access_mode"));
        assert!(level("level", 0).is_err());
        assert!(level("level", 99).is_err());
        assert_eq!(level("level", pb::AccessLevel::Manage.into()).unwrap(), Level::Manage);
        assert!(user_email("x").unwrap_err().to_string().starts_with("user_email"));
        assert!(new_group_name("name", "a/b").is_err());
        assert!(service_account_name("a b").unwrap_err().to_string().contains("Name must be a slug"));
        assert!(token_description("  ").unwrap_err().to_string().contains("Description is required."));
    }
}
