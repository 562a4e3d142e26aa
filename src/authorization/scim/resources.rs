//! SCIM JSON: the three resources (spec §3.7 "Resources"), their versions,
//! list envelopes, and the discovery documents (ServiceProviderConfig,
//! ResourceTypes, Schemas).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::store::{DatasetRow, GroupRef, GroupRow, MemberRef, UserRow};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const USER_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const DATASET_SCHEMA: &str = "urn:ietf:params:scim:schemas:neuroglancer:2.0:Dataset";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The three resource types: (name, endpoint, schema).
const RESOURCE_TYPES: [(&str, &str, &str); 3] =
    [("User", "/Users", USER_SCHEMA), ("Group", "/Groups", GROUP_SCHEMA), ("Dataset", "/Datasets", DATASET_SCHEMA)];

/// `W/"<updated_at with microseconds>"` (spec §3.7 "Versioning").
pub fn version(updated_at: DateTime<Utc>) -> String {
    format!("W/\"{}\"", updated_at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Whether an `If-Match`/`If-None-Match` value names `current` (or is `*`);
/// weak and strong forms of the same tag match.
pub fn etag_matches(header: &str, current: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let current = strip(current);
    header.split(',').any(|t| t.trim() == "*" || strip(t) == current)
}

fn meta(
    base: &str,
    kind: &str,
    endpoint: &str,
    id: uuid::Uuid,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Value {
    json!({
        "resourceType": kind,
        "created": created.to_rfc3339_opts(SecondsFormat::Micros, true),
        "lastModified": updated.to_rfc3339_opts(SecondsFormat::Micros, true),
        "version": version(updated),
        "location": format!("{base}/{endpoint}/{id}"),
    })
}

/// A user resource; `groups` are the user's groups by id.
pub fn user(base: &str, row: &UserRow, groups: &[GroupRef]) -> Value {
    let public = row.public_name();
    let admin = groups.iter().any(|(_, _, name)| name == "admin");
    let groups: Vec<Value> = groups
        .iter()
        .map(|(_, id, name)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/Groups/{id}")}))
        .collect();
    let mut out = json!({
        "schemas": [USER_SCHEMA, USER_EXTENSION],
        "id": row.scim_id.to_string(),
        "userName": row.email,
        "name": {"formatted": public, "givenName": row.name, "familyName": ""},
        "displayName": public,
        "emails": [{"value": row.email, "type": "work", "primary": true}],
        "active": row.is_active,
        "groups": groups,
        USER_EXTENSION: {"admin": admin, "pi": row.pi, "gdprConsent": row.gdpr_consent, "serviceAccount": false},
        "meta": meta(base, "User", "Users", row.scim_id, row.created_at, row.updated_at),
    });
    if let Some(external) = &row.external_id {
        out["externalId"] = json!(external);
    }
    out
}

/// A group resource with its members.
pub fn group(base: &str, row: &GroupRow, members: &[MemberRef]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|(_, id, name, _)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/Users/{id}")}))
        .collect();
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": row.scim_id.to_string(),
        "displayName": row.name,
        "meta": meta(base, "Group", "Groups", row.scim_id, row.created_at, row.updated_at),
    });
    if let Some(external) = &row.external_id {
        out["externalId"] = json!(external);
    }
    out["members"] = json!(members);
    out
}

/// A dataset resource with its service tables.
pub fn dataset(base: &str, row: &DatasetRow, tables: &[(String, String)]) -> Value {
    let tables: Vec<Value> = tables.iter().map(|(s, t)| json!({"serviceName": s, "tableName": t})).collect();
    let mut out = json!({
        "schemas": [DATASET_SCHEMA],
        "id": row.scim_id.to_string(),
        "name": row.name,
        "serviceTables": tables,
        "meta": meta(base, "Dataset", "Datasets", row.scim_id, row.created_at, row.updated_at),
    });
    if let Some(external) = &row.external_id {
        out["externalId"] = json!(external);
    }
    // An empty description is unassigned (RFC 7644 §3.5.2.2: a removed attribute is).
    if !row.description.is_empty() {
        out["description"] = json!(row.description);
    }
    if let Some(tos) = row.tos_document_id {
        out["tosId"] = json!(tos);
    }
    out
}

/// Which top-level attributes a list or read returns (`attributes` /
/// `excludedAttributes`); `schemas`, `id` and `meta` always stay.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl Projection {
    /// From the comma-separated query values.
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let names = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|a| {
                    // `name.givenName` keeps `name`; a schema-qualified name keeps its attribute.
                    let a = a.trim().to_ascii_lowercase();
                    let a = a.rsplit_once(':').map_or(a.as_str(), |(_, rest)| rest).to_owned();
                    a.split('.').next().unwrap_or_default().to_owned()
                })
                .filter(|a| !a.is_empty())
                .collect()
        };
        Projection {
            only: attributes.map(names).filter(|v| !v.is_empty()),
            excluded: excluded.map(names).unwrap_or_default(),
        }
    }

    /// `resource` with only the attributes asked for.
    pub fn apply(&self, mut resource: Value) -> Value {
        if let Value::Object(map) = &mut resource {
            map.retain(|key, _| {
                let k = key.to_ascii_lowercase();
                if matches!(k.as_str(), "schemas" | "id" | "meta") {
                    return true;
                }
                let k = k.rsplit_once(':').map_or(k.as_str(), |(_, rest)| rest).to_owned();
                // An extension object stays when any of its attributes is asked for.
                let is_extension = key.starts_with("urn:");
                match &self.only {
                    Some(only) => {
                        only.contains(&k)
                            || (is_extension
                                && only
                                    .iter()
                                    .any(|a| a == "admin" || a == "pi" || a == "gdprconsent" || a == "serviceaccount"))
                    }
                    None => !self.excluded.contains(&k),
                }
            });
        }
        resource
    }
}

/// A ListResponse envelope.
pub fn list(total: i64, start: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start,
        "Resources": resources,
    })
}

/// `GET /ServiceProviderConfig`. DSG sent `"documentationUri": ""`, which is
/// not a URI (RFC 7643 §5: an HTTP-addressable URL, OPTIONAL) and fails
/// clients that validate it (scim2-models), so it is left out.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": super::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Bearer token with admin privileges",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// Every resource type, in the spec's order.
pub fn resource_types(base: &str) -> Vec<Value> {
    RESOURCE_TYPES
        .iter()
        .map(|(name, endpoint, schema)| {
            let mut out = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": endpoint,
                "schema": schema,
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
            });
            if *name == "User" {
                out["schemaExtensions"] = json!([{"schema": USER_EXTENSION, "required": false}]);
            }
            out
        })
        .collect()
}

/// One RFC 7643 §7 attribute definition.
fn attribute(name: &str, kind: &str, multi: bool, required: bool, mutability: &str, sub: Vec<Value>) -> Value {
    let mut a = Map::new();
    a.insert("name".into(), json!(name));
    a.insert("type".into(), json!(kind));
    a.insert("multiValued".into(), json!(multi));
    a.insert("description".into(), json!(""));
    a.insert("required".into(), json!(required));
    if kind == "string" || kind == "reference" {
        a.insert("caseExact".into(), json!(false));
    }
    a.insert("mutability".into(), json!(mutability));
    a.insert("returned".into(), json!("default"));
    a.insert("uniqueness".into(), json!(if name == "userName" || name == "id" { "server" } else { "none" }));
    if kind == "reference" {
        a.insert(
            "referenceTypes".into(),
            json!(if name == "$ref" { json!(["User", "Group"]) } else { json!(["external"]) }),
        );
    }
    if !sub.is_empty() {
        a.insert("subAttributes".into(), json!(sub));
    }
    Value::Object(a)
}

fn string(name: &str) -> Value {
    attribute(name, "string", false, false, "readWrite", vec![])
}

fn read_only(name: &str) -> Value {
    attribute(name, "string", false, false, "readOnly", vec![])
}

fn member_refs(mutability: &str) -> Vec<Value> {
    vec![
        attribute("value", "string", false, false, mutability, vec![]),
        attribute("display", "string", false, false, "readOnly", vec![]),
        attribute("$ref", "reference", false, false, mutability, vec![]),
    ]
}

/// Every schema: (id, name, description, attributes).
pub fn schemas(base: &str) -> Vec<Value> {
    let user = vec![
        attribute("userName", "string", false, true, "readWrite", vec![]),
        attribute(
            "name",
            "complex",
            false,
            false,
            "readWrite",
            // Only givenName is stored: formatted is the public name and familyName always empty.
            vec![read_only("formatted"), string("givenName"), read_only("familyName")],
        ),
        string("displayName"),
        // The e-mail is userName; emails only mirrors it.
        attribute(
            "emails",
            "complex",
            true,
            false,
            "readOnly",
            vec![
                read_only("value"),
                read_only("type"),
                attribute("primary", "boolean", false, false, "readOnly", vec![]),
            ],
        ),
        attribute("active", "boolean", false, false, "readWrite", vec![]),
        attribute("groups", "complex", true, false, "readOnly", member_refs("readOnly")),
        string("externalId"),
    ];
    let extension = vec![
        attribute("admin", "boolean", false, false, "readWrite", vec![]),
        string("pi"),
        attribute("gdprConsent", "boolean", false, false, "readWrite", vec![]),
        attribute("serviceAccount", "boolean", false, false, "readOnly", vec![]),
    ];
    let group = vec![
        attribute("displayName", "string", false, true, "readWrite", vec![]),
        attribute("members", "complex", true, false, "readWrite", member_refs("immutable")),
        string("externalId"),
    ];
    let dataset = vec![
        attribute("name", "string", false, true, "readWrite", vec![]),
        string("description"),
        attribute("tosId", "integer", false, false, "readWrite", vec![]),
        attribute(
            "serviceTables",
            "complex",
            true,
            false,
            "readWrite",
            vec![string("serviceName"), string("tableName")],
        ),
        string("externalId"),
    ];
    [
        (USER_SCHEMA, "User", "User Account", user),
        (USER_EXTENSION, "Neuroglancer User Extension", "Neuroglancer user attributes", extension),
        (GROUP_SCHEMA, "Group", "Group", group),
        (DATASET_SCHEMA, "Dataset", "Neuroglancer Dataset schema", dataset),
    ]
    .into_iter()
    .map(|(id, name, description, attributes)| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_weak_and_strong_forms() {
        assert!(etag_matches("W/\"a\"", "W/\"a\""));
        assert!(etag_matches("\"a\"", "W/\"a\""));
        assert!(etag_matches("\"b\", W/\"a\"", "W/\"a\""));
        assert!(etag_matches("*", "W/\"a\""));
        assert!(!etag_matches("W/\"b\"", "W/\"a\""));
    }

    #[test]
    fn projection_keeps_schemas_id_and_meta() {
        let r = json!({"schemas": [], "id": "1", "meta": {}, "userName": "a", "displayName": "b", "name": {}});
        let only = Projection::new(Some("userName,name.givenName"), None).apply(r.clone());
        let keys: Vec<&String> = only.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        let without = Projection::new(None, Some("displayName")).apply(r);
        assert!(without.get("displayName").is_none() && without.get("userName").is_some());
    }
}
