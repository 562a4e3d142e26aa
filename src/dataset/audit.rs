//! The audit log writer (spec §2.5): one row per change, written inside the
//! change's own transaction so a change never lands without its record (DSG
//! swallowed audit-write failures; Steward rolls the change back instead).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::audit_log;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The CLI, an import, or the system itself (both actor columns NULL).
    System,
    /// A signed-in user.
    User(i64),
    /// A service account.
    ServiceAccount(i64),
}

/// Appends one audit record; call it inside the transaction of the change.
pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> QueryResult<()> {
    record_with_request(conn, actor, action, target_type, target_id, before, after, None).await
}

/// [`record`] for a change made by an RPC that carries a request id.
#[expect(clippy::too_many_arguments, reason = "one argument per audit column")]
pub async fn record_with_request(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<&str>,
) -> QueryResult<()> {
    let (user, service_account) = match actor {
        Actor::System => (None, None),
        Actor::User(id) => (Some(id), None),
        Actor::ServiceAccount(id) => (None, Some(id)),
    };
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_user_id.eq(user),
            audit_log::actor_service_account_id.eq(service_account),
            audit_log::action.eq(action),
            audit_log::target_type.eq(target_type),
            audit_log::target_id.eq(target_id.to_string()),
            audit_log::before_state.eq(before),
            audit_log::after_state.eq(after),
            audit_log::request_id.eq(request_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// One audit row as tests and (later) the listing RPC read it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub actor_user_id: Option<i64>,
    pub actor_service_account_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before_state: Option<serde_json::Value>,
    pub after_state: Option<serde_json::Value>,
}

/// Every audit row, newest first.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AuditRow>> {
    audit_log::table
        .select(AuditRow::as_select())
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .load(conn)
        .await
}
