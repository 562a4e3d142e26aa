//! DatasetGateway-compatible JSON documents (spec §3.0): rendered by Steward
//! with serde_json from structs whose field order is DSG's key order, compact,
//! ids as numbers, `null`s and bare arrays where DSG has them, and returned as
//! `google.api.HttpBody` so Envoy passes the bytes through unchanged.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};

use crate::auth::PrincipalKind;
use crate::auth::store::TokenRow;
use crate::dataset::lookup::UserInfo;
use crate::dataset::ops::Snapshot;
use crate::dataset::permissions::{self, Decision, LevelSet};
use crate::dataset::store::{DatasetRow, VersionRow};
use crate::proto::google::api::HttpBody;

/// A JSON object whose keys keep insertion order (serde_json's `Map` sorts them).
struct Ordered<V>(Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct UserCache<'a> {
    id: i64,
    parent_id: Option<i64>,
    service_account: bool,
    name: &'a str,
    email: &'a str,
    admin: bool,
    pi: &'a str,
    picture_url: &'a str,
    affiliations: &'a [String],
    groups: &'a [String],
    groups_admin: &'a [String],
    permissions: Ordered<u8>,
    permissions_v2: Ordered<Vec<&'static str>>,
    permissions_v2_ignore_tos: Ordered<Vec<&'static str>>,
    missing_tos: Vec<MissingTos<'a>>,
    datasets_admin: Vec<String>,
}

#[derive(Serialize)]
struct MissingTos<'a> {
    dataset_id: i64,
    dataset_name: &'a str,
    tos_id: i64,
    tos_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
}

/// `GET /api/v1/user/cache` (§3.2.1) for a snapshot, optionally through `service`.
pub fn user_cache(snapshot: &Snapshot, service: Option<&str>, now: DateTime<Utc>) -> Vec<u8> {
    let service_account = snapshot.profile.kind == PrincipalKind::ServiceAccount;
    // Service accounts have no service-specific TOS: `service` is ignored.
    let effective = permissions::effective(&snapshot.inputs, service.filter(|_| !service_account), now);
    let named = |map: &std::collections::BTreeMap<i64, LevelSet>| -> Vec<(String, LevelSet)> {
        map.iter().filter_map(|(id, set)| Some((snapshot.dataset_name(*id)?, *set))).collect()
    };
    let tos = named(&effective.tos);
    let profile = &snapshot.profile;
    let document = UserCache {
        id: profile.id,
        parent_id: None,
        service_account,
        name: &profile.name,
        email: &profile.email,
        admin: profile.admin,
        pi: &profile.pi,
        picture_url: &profile.picture_url,
        affiliations: &profile.affiliations,
        groups: &profile.groups,
        groups_admin: &profile.groups_admin,
        permissions: Ordered(tos.iter().filter_map(|(n, s)| Some((n.clone(), s.max()?.number()))).collect()),
        permissions_v2: Ordered(tos.iter().map(|(n, s)| (n.clone(), s.names())).collect()),
        permissions_v2_ignore_tos: Ordered(
            named(&effective.ignore_tos).into_iter().map(|(n, s)| (n, s.names())).collect(),
        ),
        missing_tos: effective
            .missing_tos
            .iter()
            .map(|m| MissingTos {
                dataset_id: m.dataset_id,
                dataset_name: &m.dataset_name,
                tos_id: m.tos.id,
                tos_name: &m.tos.name,
                service: m.service.as_deref(),
            })
            .collect(),
        datasets_admin: snapshot.datasets_admin(),
    };
    to_json(&document)
}

#[derive(Serialize)]
struct CheckAccess<'a> {
    allowed: bool,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tos_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tos_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
}

/// `POST /api/v1/check-access` (§3.4) for a decision.
pub fn check_access(decision: &Decision) -> Vec<u8> {
    let document = match decision {
        Decision::Allowed(reason) => CheckAccess { allowed: true, reason, tos_id: None, tos_name: None, service: None },
        Decision::Denied => {
            CheckAccess { allowed: false, reason: "no_permission", tos_id: None, tos_name: None, service: None }
        }
        Decision::TosRequired { tos, service } => CheckAccess {
            allowed: false,
            reason: "tos_required",
            tos_id: Some(tos.id),
            tos_name: Some(&tos.name),
            service: service.as_deref(),
        },
    };
    to_json(&document)
}

#[derive(Serialize)]
struct Dataset<'a> {
    id: i64,
    name: &'a str,
    description: &'a str,
    has_tos: bool,
}

/// `GET /api/v1/datasets` (§3.4): a bare array.
pub fn datasets(rows: &[DatasetRow]) -> Vec<u8> {
    let list: Vec<Dataset<'_>> = rows
        .iter()
        .map(|d| Dataset { id: d.id, name: &d.name, description: &d.description, has_tos: d.tos_document_id.is_some() })
        .collect();
    to_json(&list)
}

#[derive(Serialize)]
struct Version<'a> {
    id: i64,
    version: &'a str,
    buckets: &'a [String],
    is_public: bool,
}

/// `GET /api/v1/datasets/{dataset}/versions` (§3.4): a bare array.
pub fn versions(rows: &[(VersionRow, Vec<String>)]) -> Vec<u8> {
    let list: Vec<Version<'_>> = rows
        .iter()
        .map(|(v, buckets)| Version { id: v.id, version: &v.version, buckets, is_public: v.is_public })
        .collect();
    to_json(&list)
}

#[derive(Serialize)]
struct WhoAmI<'a> {
    id: i64,
    email: &'a str,
    name: &'a str,
    picture_url: &'a str,
    admin: bool,
    is_active: bool,
    groups: &'a [String],
    datasets_admin: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_account: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

/// `GET /api/v1/whoami` (§3.4): 8 keys for a user; service accounts add
/// `service_account` and `description`. `description` is the account's.
pub fn who_am_i(snapshot: &Snapshot, description: &str) -> Vec<u8> {
    let profile = &snapshot.profile;
    let service_account = profile.kind == PrincipalKind::ServiceAccount;
    let document = WhoAmI {
        id: profile.id,
        email: &profile.email,
        name: &profile.name,
        picture_url: &profile.picture_url,
        admin: profile.admin,
        // Disabled principals are refused before this point.
        is_active: true,
        groups: &profile.groups,
        datasets_admin: snapshot.datasets_admin(),
        service_account: service_account.then_some(true),
        description: service_account.then_some(description),
    };
    to_json(&document)
}

#[derive(Serialize)]
struct Username<'a> {
    id: i64,
    name: &'a str,
}

/// `GET /api/v1/username` (§3.2.3): a bare array in request order.
pub fn usernames(rows: &[(i64, String)]) -> Vec<u8> {
    to_json(&rows.iter().map(|(id, name)| Username { id: *id, name }).collect::<Vec<_>>())
}

#[derive(Serialize)]
struct User<'a> {
    id: i64,
    name: &'a str,
    email: &'a str,
    admin: bool,
    pi: &'a str,
    picture_url: &'a str,
}

/// `GET /api/v1/user` (§3.2.4): a bare array in request order.
pub fn users(rows: &[UserInfo]) -> Vec<u8> {
    let list: Vec<User<'_>> = rows
        .iter()
        .map(|u| User {
            id: u.id,
            name: &u.name,
            email: &u.email,
            admin: u.admin,
            pi: &u.pi,
            picture_url: &u.picture_url,
        })
        .collect();
    to_json(&list)
}

#[derive(Serialize)]
struct GroupUser<'a> {
    id: i64,
    name: &'a str,
    admin: bool,
}

/// `GET /api/v1/group/{id}/user` (§3.2.5): a bare array by user id.
pub fn group_users(rows: &[(i64, String, bool)]) -> Vec<u8> {
    to_json(&rows.iter().map(|(id, name, admin)| GroupUser { id: *id, name, admin: *admin }).collect::<Vec<_>>())
}

#[derive(Serialize)]
struct TokenInfo<'a> {
    id: i64,
    description: &'a str,
    created: String,
    last_used: Option<String>,
    user_id: Option<i64>,
    expires_at: Option<String>,
    kind: &'a str,
}

/// RFC 3339 UTC with microseconds and `Z`, as DSG's REST framework prints them.
fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `GET /api/v1/user/token` (§3.3): never the token itself.
pub fn tokens(rows: &[TokenRow]) -> Vec<u8> {
    let list: Vec<TokenInfo<'_>> = rows
        .iter()
        .map(|t| TokenInfo {
            id: t.id,
            description: &t.description,
            created: timestamp(t.created_at),
            last_used: t.last_used_at.map(timestamp),
            user_id: t.user_id,
            expires_at: t.expires_at.map(timestamp),
            kind: &t.kind,
        })
        .collect();
    to_json(&list)
}

/// `{"token":"…"}` (`long_lived_token` and its rotation).
pub fn token_object(token: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Token<'a> {
        token: &'a str,
    }
    to_json(&Token { token })
}

/// `refresh_token`'s fixed answer (§3.3).
pub const REFRESH_TOKEN_DEPRECATED: &str = r#"{"status":"deprecated","message":"Use /api/v1/create_token instead"}"#;

/// Any serializable value as compact JSON: bare strings, booleans and arrays included.
pub fn value(value: &impl Serialize) -> Vec<u8> {
    to_json(value)
}

/// Parses `root_all_public`'s body: a JSON array of integers, parsed exactly
/// (root ids exceed 2^53, so never through f64). `None` for anything else.
pub fn parse_root_ids(body: &[u8], max: usize) -> Option<Vec<i64>> {
    let ids: Vec<i64> = serde_json::from_slice(body).ok()?;
    (ids.len() <= max).then_some(ids)
}

/// The `description` of `create_token`'s optional JSON body (unknown keys and
/// a missing or non-object body ignored, as DSG did).
pub fn token_description(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get("description")?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no custom errors).
    serde_json::to_vec(value).unwrap_or_default()
}

/// An `application/json` HTTP body.
pub fn json_body(data: Vec<u8>) -> HttpBody {
    HttpBody { content_type: "application/json".into(), data, extensions: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::permissions::TosRef;
    use chrono::TimeZone as _;

    #[test]
    fn check_access_documents_keep_dsg_keys() {
        let s = |d: &Decision| String::from_utf8(check_access(d)).unwrap();
        assert_eq!(s(&Decision::Allowed("admin")), r#"{"allowed":true,"reason":"admin"}"#);
        assert_eq!(s(&Decision::Denied), r#"{"allowed":false,"reason":"no_permission"}"#);
        let tos = TosRef { id: 2, name: "Service TOS".into() };
        assert_eq!(
            s(&Decision::TosRequired { tos: tos.clone(), service: Some("celltyping".into()) }),
            r#"{"allowed":false,"reason":"tos_required","tos_id":2,"tos_name":"Service TOS","service":"celltyping"}"#
        );
        assert_eq!(
            s(&Decision::TosRequired { tos, service: None }),
            r#"{"allowed":false,"reason":"tos_required","tos_id":2,"tos_name":"Service TOS"}"#
        );
    }

    #[test]
    fn bare_values_and_bodies() {
        assert_eq!(value(&"fish2"), br#""fish2""#);
        assert_eq!(value(&true), b"true");
        assert_eq!(value(&vec![true, false]), b"[true,false]");
        assert_eq!(parse_root_ids(b"[1234567890123456789,2]", 10), Some(vec![1_234_567_890_123_456_789, 2]));
        assert_eq!(parse_root_ids(b"[]", 10), Some(vec![]));
        for bad in [&b"{}"[..], b"[1.5]", b"[\"1\"]", b"", b"1", b"[1,2,3]"] {
            assert_eq!(parse_root_ids(bad, 2), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(token_description(br#"{"description":"ci","x":1}"#).as_deref(), Some("ci"));
        assert_eq!(token_description(b""), None);
        assert_eq!(token_description(br#"{"description":""}"#), None);
        let t = Utc.with_ymd_and_hms(2026, 6, 23, 4, 5, 6).unwrap() + chrono::Duration::microseconds(123_456);
        assert_eq!(timestamp(t), "2026-06-23T04:05:06.123456Z");
    }

    #[test]
    fn ordered_maps_keep_insertion_order() {
        let m = Ordered(vec![("z".to_owned(), 1), ("a".to_owned(), 2)]);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"z":1,"a":2}"#);
    }
}
