//! SCIM 2.0 provisioning at `/auth/scim/v2` (spec authorization_dataset.md
//! §3.7): discovery (ServiceProviderConfig, ResourceTypes, Schemas), Users,
//! Groups and the Datasets extension resource over the dataset store. Only a
//! global admin's `Bearer` token is accepted; every answer, refusals
//! included, is `application/scim+json` in the SCIM error format.
//!
//! `filter` parses filters, `query` turns them into SQL, `store` reads and
//! writes rows, `ops` applies POST/PUT/PATCH/DELETE, `resources` renders JSON;
//! the handlers here only read the request and shape the response.

mod error;
pub mod filter;
pub mod ops;
pub mod query;
pub mod resources;
pub mod store;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::Value;
use uuid::Uuid;

pub use error::ScimError;
use filter::{Filter, caseless_eq};
use ops::{Ctx, DatasetChange, GroupChange, Rendered, UserChange};
use resources::Projection;
use store::Window;

use crate::app::AppState;
use crate::auth::{AuthError, Caller, PrincipalKind};
use crate::dataset::audit::Actor;
use crate::db::PooledConn;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";
/// The most resources one list answer carries.
pub const MAX_COUNT: i64 = 1000;
/// Resources per page when `count` is not given.
const DEFAULT_COUNT: i64 = 100;
/// Where the SCIM routes live.
pub const PREFIX: &str = "/auth/scim/v2";

/// The SCIM routes, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/ServiceProviderConfig"), get(service_provider_config))
        .route(&format!("{PREFIX}/ResourceTypes"), get(resource_types))
        .route(&format!("{PREFIX}/ResourceTypes/{{id}}"), get(resource_type))
        .route(&format!("{PREFIX}/Schemas"), get(schemas))
        .route(&format!("{PREFIX}/Schemas/{{id}}"), get(schema))
        .route(&format!("{PREFIX}/Users"), get(list_users).post(create_user))
        .route(&format!("{PREFIX}/Users/{{id}}"), get(get_user).put(put_user).patch(patch_user).delete(delete_user))
        .route(&format!("{PREFIX}/Groups"), get(list_groups).post(create_group))
        .route(
            &format!("{PREFIX}/Groups/{{id}}"),
            get(get_group).put(put_group).patch(patch_group).delete(delete_group),
        )
        .route(&format!("{PREFIX}/Datasets"), get(list_datasets).post(create_dataset))
        .route(
            &format!("{PREFIX}/Datasets/{{id}}"),
            get(get_dataset).put(put_dataset).patch(patch_dataset).delete(delete_dataset),
        )
        .route(&format!("{PREFIX}/.search"), axum::routing::post(search_all))
        .route(PREFIX, any(unknown))
        .route(&format!("{PREFIX}/{{*rest}}"), any(unknown))
}

/// An active global admin user presenting `Authorization: Bearer …` (spec
/// §3.7 "Auth"): no header or another scheme → 401, a refused token → 401,
/// anyone else → 403.
pub struct Admin {
    actor: Actor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ScimError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .is_some_and(|(scheme, _)| caseless_eq(scheme, "bearer"));
        let unauthorized = |detail: String| ScimError::new(StatusCode::UNAUTHORIZED, detail);
        if !bearer {
            return Err(unauthorized(
                "Authentication credentials were not provided: send 'Authorization: Bearer <admin token>'.".into(),
            ));
        }
        // The auth layer resolved the header (it wins over a cookie).
        match parts.extensions.get::<Caller>() {
            Some(Caller::Principal(p)) if p.kind == PrincipalKind::User && p.is_admin() => {
                Ok(Admin { actor: Actor::User(p.id) })
            }
            Some(Caller::Principal(_)) => {
                Err(ScimError::new(StatusCode::FORBIDDEN, "SCIM access requires admin privileges."))
            }
            Some(Caller::Refused(AuthError::Unavailable)) => {
                Err(ScimError::new(StatusCode::SERVICE_UNAVAILABLE, AuthError::Unavailable.to_string()))
            }
            Some(Caller::Refused(e)) => Err(unauthorized(e.to_string())),
            Some(Caller::Anonymous) | None => Err(unauthorized("Invalid or expired token.".into())),
        }
    }
}

fn base(state: &AppState) -> String {
    format!("{}{PREFIX}", state.config.public_url)
}

fn ctx(state: &AppState, admin: &Admin) -> Ctx {
    Ctx { actor: admin.actor, base: base(state) }
}

async fn conn(state: &AppState) -> Result<PooledConn, ScimError> {
    state.pool.get().await.map_err(|e| ScimError::from(crate::error::Error::from(e)))
}

/// A SCIM JSON answer.
fn answer(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response()
}

/// A single resource with its `ETag` (and `Location` when created).
fn resource(status: StatusCode, rendered: Rendered, projection: &Projection) -> Response {
    let location = rendered.body["meta"]["location"].as_str().map(str::to_owned);
    let mut response = answer(status, &projection.apply(rendered.body));
    if let Ok(tag) = HeaderValue::from_str(&rendered.version) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The JSON body of a write: `application/scim+json` or `application/json`, else 415.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimError> {
    if let Some(content_type) = header_str(headers, header::CONTENT_TYPE) {
        let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if media != SCIM_JSON && media != "application/json" {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as application/scim+json or application/json",
            ));
        }
    }
    serde_json::from_slice(body).map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not JSON: {e}")))
}

fn parse_id(id: &str, not_found: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| ScimError::not_found(not_found))
}

/// The query parameters of a list or read.
struct ListQuery {
    filter: Option<Filter>,
    window: Window,
    projection: Projection,
}

fn list_query(raw: Option<&str>) -> Result<ListQuery, ScimError> {
    let pairs = crate::http::form_pairs(raw.unwrap_or_default());
    let get = |name: &str| pairs.iter().find(|(k, _)| caseless_eq(k, name)).map(|(_, v)| v.as_str());
    let filter = get("filter").filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose()?;
    let start = get("startIndex").and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(1).max(1);
    let count = get("count").and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT);
    let projection = Projection::new(get("attributes"), get("excludedAttributes"));
    Ok(ListQuery { filter, window: Window { start, count }, projection })
}

/// A read answered 304 when `If-None-Match` names the current version.
fn read(headers: &HeaderMap, raw: Option<&str>, rendered: Rendered) -> Result<Response, ScimError> {
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|tag| resources::etag_matches(tag, &rendered.version)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(tag) = HeaderValue::from_str(&rendered.version) {
            response.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(response);
    }
    Ok(resource(StatusCode::OK, rendered, &list_query(raw)?.projection))
}

fn list_answer(query: &ListQuery, total: i64, resources: Vec<Value>) -> Response {
    let resources = resources.into_iter().map(|r| query.projection.apply(r)).collect();
    answer(StatusCode::OK, &resources::list(total, query.window.start, resources))
}

async fn unknown(_admin: Admin) -> ScimError {
    ScimError::not_found("Endpoint not found")
}

/// Searching several resource types at once is not offered (RFC 7644 §3.4.3 lets a server answer 501).
async fn search_all(_admin: Admin) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "search across resource types is not supported; use /Users, /Groups or /Datasets",
    )
}

async fn service_provider_config(State(state): State<AppState>, _admin: Admin) -> Response {
    answer(StatusCode::OK, &resources::service_provider_config(&base(&state)))
}

async fn resource_types(State(state): State<AppState>, _admin: Admin) -> Response {
    let all = resources::resource_types(&base(&state));
    answer(StatusCode::OK, &resources::list(all.len() as i64, 1, all))
}

async fn resource_type(State(state): State<AppState>, _admin: Admin, Path(id): Path<String>) -> Response {
    match resources::resource_types(&base(&state)).into_iter().find(|r| r["id"] == id.as_str()) {
        Some(found) => answer(StatusCode::OK, &found),
        None => ScimError::not_found("Resource type not found").into_response(),
    }
}

async fn schemas(State(state): State<AppState>, _admin: Admin) -> Response {
    let all = resources::schemas(&base(&state));
    answer(StatusCode::OK, &resources::list(all.len() as i64, 1, all))
}

async fn schema(State(state): State<AppState>, _admin: Admin, Path(id): Path<String>) -> Response {
    match resources::schemas(&base(&state)).into_iter().find(|r| r["id"] == id.as_str()) {
        Some(found) => answer(StatusCode::OK, &found),
        None => ScimError::not_found("Schema not found").into_response(),
    }
}

async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let query = list_query(raw.as_deref())?;
    let mut conn = conn(&state).await?;
    let page = store::list_users(&mut conn, query.filter.as_ref(), query.window).await?;
    let resources = ops::render_users(&mut conn, &base(&state), &page.rows).await?;
    Ok(list_answer(&query, page.total, resources))
}

async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let rendered = ops::create_user(&mut *conn(&state).await?, &ctx(&state, &admin), &body).await?;
    Ok(resource(StatusCode::CREATED, rendered, &Projection::default()))
}

async fn get_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User not found")?;
    let rendered = ops::get_user(&mut *conn(&state).await?, &base(&state), id).await?;
    read(&headers, raw.as_deref(), rendered)
}

async fn put_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User not found")?;
    let body = json_body(&headers, &body)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered =
        ops::update_user(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match, UserChange::Replace(&body))
            .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn patch_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User not found")?;
    let operations = ops::patch_ops(&json_body(&headers, &body)?)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered =
        ops::update_user(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match, UserChange::Patch(operations))
            .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn delete_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User not found")?;
    let if_match = header_str(&headers, header::IF_MATCH);
    ops::delete_user(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let query = list_query(raw.as_deref())?;
    let mut conn = conn(&state).await?;
    let page = store::list_groups(&mut conn, query.filter.as_ref(), query.window).await?;
    let resources = ops::render_groups(&mut conn, &base(&state), &page.rows).await?;
    Ok(list_answer(&query, page.total, resources))
}

async fn create_group(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let rendered = ops::create_group(&mut *conn(&state).await?, &ctx(&state, &admin), &body).await?;
    Ok(resource(StatusCode::CREATED, rendered, &Projection::default()))
}

async fn get_group(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group not found")?;
    let rendered = ops::get_group(&mut *conn(&state).await?, &base(&state), id).await?;
    read(&headers, raw.as_deref(), rendered)
}

async fn put_group(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group not found")?;
    let body = json_body(&headers, &body)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered =
        ops::update_group(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match, GroupChange::Replace(&body))
            .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn patch_group(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group not found")?;
    let operations = ops::patch_ops(&json_body(&headers, &body)?)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered = ops::update_group(
        &mut *conn(&state).await?,
        &ctx(&state, &admin),
        id,
        if_match,
        GroupChange::Patch(operations),
    )
    .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn delete_group(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group not found")?;
    let if_match = header_str(&headers, header::IF_MATCH);
    ops::delete_group(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_datasets(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let query = list_query(raw.as_deref())?;
    let mut conn = conn(&state).await?;
    let page = store::list_datasets(&mut conn, query.filter.as_ref(), query.window).await?;
    let resources = ops::render_datasets(&mut conn, &base(&state), &page.rows).await?;
    Ok(list_answer(&query, page.total, resources))
}

async fn create_dataset(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let rendered = ops::create_dataset(&mut *conn(&state).await?, &ctx(&state, &admin), &body).await?;
    Ok(resource(StatusCode::CREATED, rendered, &Projection::default()))
}

async fn get_dataset(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Dataset not found")?;
    let rendered = ops::get_dataset(&mut *conn(&state).await?, &base(&state), id).await?;
    read(&headers, raw.as_deref(), rendered)
}

async fn put_dataset(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Dataset not found")?;
    let body = json_body(&headers, &body)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered = ops::update_dataset(
        &mut *conn(&state).await?,
        &ctx(&state, &admin),
        id,
        if_match,
        DatasetChange::Replace(&body),
    )
    .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn patch_dataset(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Dataset not found")?;
    let operations = ops::patch_ops(&json_body(&headers, &body)?)?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let rendered = ops::update_dataset(
        &mut *conn(&state).await?,
        &ctx(&state, &admin),
        id,
        if_match,
        DatasetChange::Patch(operations),
    )
    .await?;
    Ok(resource(StatusCode::OK, rendered, &Projection::default()))
}

async fn delete_dataset(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Dataset not found")?;
    let if_match = header_str(&headers, header::IF_MATCH);
    ops::delete_dataset(&mut *conn(&state).await?, &ctx(&state, &admin), id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
