//! Reading the audit log (spec §5.8): global admins page through it newest
//! first, filtered by actor, action, target and time. Entries are written by
//! the operations themselves and are never edited or deleted.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::admin::{AdminCaller, PageRequest};
use crate::db::schema::{audit_log, service_accounts, users};
use crate::error::Result;

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user's e-mail or a service account's name.
    pub actor: Option<String>,
    /// An action name.
    pub action: Option<String>,
    /// A target type.
    pub target_type: Option<String>,
    /// A target id.
    pub target_id: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// One entry with its actor's name.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Its id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// User e-mail or service-account name; `None` for the CLI or system.
    pub actor: Option<String>,
    /// Action name.
    pub action: String,
    /// Target type.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// State before.
    pub before_state: Option<serde_json::Value>,
    /// State after.
    pub after_state: Option<serde_json::Value>,
    /// Client request id.
    pub request_id: Option<String>,
}

/// (id, created_at, user, service account, action, target_type, target_id, before, after, request_id).
#[derive(Debug, Queryable)]
struct Row {
    id: i64,
    created_at: DateTime<Utc>,
    actor_user_id: Option<i64>,
    actor_service_account_id: Option<i64>,
    action: String,
    target_type: String,
    target_id: String,
    before_state: Option<serde_json::Value>,
    after_state: Option<serde_json::Value>,
    request_id: Option<String>,
}

/// A filtered page of the audit log, newest first (global admins).
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<(Vec<AuditEntry>, String)> {
    caller.require_admin()?;
    let mut query = audit_log::table
        .select((
            audit_log::id,
            audit_log::created_at,
            audit_log::actor_user_id,
            audit_log::actor_service_account_id,
            audit_log::action,
            audit_log::target_type,
            audit_log::target_id,
            audit_log::before_state,
            audit_log::after_state,
            audit_log::request_id,
        ))
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .into_boxed();
    if let Some(actor) = &filter.actor {
        let user: Option<i64> = crate::auth::store::user_by_email(conn, actor).await?.map(|u| u.id);
        let account: Option<i64> = service_accounts::table
            .filter(service_accounts::name.eq(actor))
            .select(service_accounts::id)
            .first(conn)
            .await
            .optional()?;
        // An unknown actor matches nothing (both ids NULL never equal anything).
        query = query.filter(audit_log::actor_user_id.eq(user).or(audit_log::actor_service_account_id.eq(account)));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(target_type) = &filter.target_type {
        query = query.filter(audit_log::target_type.eq(target_type.clone()));
    }
    if let Some(target_id) = &filter.target_id {
        query = query.filter(audit_log::target_id.eq(target_id.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::created_at.lt(until));
    }
    let rows: Vec<Row> = query.offset(page.offset).limit(page.fetch()).load(conn).await?;
    let (rows, next) = page.finish(rows);
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let actor = match (row.actor_user_id, row.actor_service_account_id) {
            (Some(id), _) => users::table.find(id).select(users::email).first(conn).await.optional()?,
            (_, Some(id)) => {
                service_accounts::table.find(id).select(service_accounts::name).first(conn).await.optional()?
            }
            _ => None,
        };
        entries.push(AuditEntry {
            id: row.id,
            created_at: row.created_at,
            actor,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            before_state: row.before_state,
            after_state: row.after_state,
            request_id: row.request_id,
        });
    }
    Ok((entries, next))
}
