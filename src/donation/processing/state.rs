//! Where a donation stands, derived from its exports (spec §1.4, §5.2): the
//! rules are pure functions; [`settle`] applies them under the donation lock.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::store::{self, ExportRow};
use crate::db::schema::{archive_parts, donation_types, donations};
use crate::donation::catalogue::Source;
use crate::donation::model::{Stage, Status, TypeState};
use crate::donation::store as donation_store;

/// An export's stored state.
pub const EXPORT_PENDING: &str = "pending";
pub const EXPORT_IN_PROGRESS: &str = "in_progress";
pub const EXPORT_COMPLETE: &str = "complete";
pub const EXPORT_FAILED: &str = "failed";
/// Not requested: the window lies in the future, or the scope was not granted.
pub const EXPORT_SKIPPED: &str = "skipped";

/// Why an export was skipped because its window lies in the future.
pub const WINDOW_IN_FUTURE: &str = "window_in_future";
/// Why an export was skipped because the grant lacks its scope.
pub const NOT_GRANTED: &str = "not_granted";

/// The state of a type that is not terminal yet, from the exports of the
/// groups it needs (`None`: no export row for that group yet). Terminal states
/// are never recomputed. Returns the state and, for `failed`, the reason.
pub fn type_state(groups: &[Option<&ExportRow>]) -> (TypeState, Option<String>) {
    if let Some(failed) = groups.iter().flatten().find(|e| e.state == EXPORT_FAILED) {
        return (TypeState::Failed, failed.reason_code.clone());
    }
    if groups.iter().flatten().any(|e| e.state == EXPORT_SKIPPED && e.reason_code.as_deref() == Some(NOT_GRANTED)) {
        return (TypeState::Declined, Some(NOT_GRANTED.into()));
    }
    // Until the provider accepted every group's request, the type is only requested.
    if groups.iter().any(|g| g.is_none_or(|e| e.state == EXPORT_PENDING)) {
        return (TypeState::Requested, None);
    }
    let exports: Vec<&ExportRow> = groups.iter().flatten().copied().collect();
    if exports.iter().any(|e| e.state == EXPORT_IN_PROGRESS) {
        (TypeState::Exporting, None)
    } else if exports.iter().all(|e| e.state == EXPORT_SKIPPED) {
        // Nothing could exist inside the window yet (spec §4.2.5).
        (TypeState::Available, None)
    } else {
        // Every needed export is complete: its parts come next.
        (TypeState::Downloading, None)
    }
}

/// Codes that concern the whole donation rather than one group.
const DONATION_LEVEL: [&str; 2] = ["provider_access_lost", "provider_auth_failed"];

/// What the donation becomes once its types are as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Nothing to change (still signing in, or already final).
    Keep,
    Stage(Stage),
    /// Every requested type declined: back to sign-in (not an error).
    NothingShared,
    Done,
    /// `error` with this code and message.
    Failed {
        code: String,
        message: String,
    },
}

/// The donation's status from its type states (spec §1.4): terminal once
/// every type is; otherwise the least-advanced unfinished type's stage.
/// `requested` lists types (name, state, reason) in request order;
/// `waiting` says the provider has been asked at least once how it goes.
pub fn target(status: Status, types: &[(String, TypeState, Option<String>)], waiting: bool) -> Target {
    if !matches!(status, Status::Authorized | Status::Processing) {
        return Target::Keep;
    }
    let terminal = |s: TypeState| matches!(s, TypeState::Available | TypeState::Declined | TypeState::Failed);
    if types.iter().all(|(_, s, _)| terminal(*s)) {
        let failed: Vec<_> = types.iter().filter(|(_, s, _)| *s == TypeState::Failed).collect();
        if let Some((_, _, first)) = <[_]>::first(&failed) {
            // A donation-level failure names the donation's error over a group's.
            let code = failed
                .iter()
                .filter_map(|(_, _, c)| c.as_deref())
                .find(|c| DONATION_LEVEL.contains(c))
                .map(str::to_owned)
                .or_else(|| first.clone())
                .unwrap_or_else(|| "internal".into());
            let message = failed
                .iter()
                .map(|(name, _, reason)| format!("{name}: {}", reason.as_deref().unwrap_or("internal")))
                .collect::<Vec<_>>()
                .join("; ");
            return Target::Failed { code, message };
        }
        if types.iter().any(|(_, s, _)| *s == TypeState::Available) {
            return Target::Done;
        }
        return Target::NothingShared;
    }
    let least = types.iter().filter(|(_, s, _)| !terminal(*s)).map(|(_, s, _)| rank(*s)).min().unwrap_or(0);
    let stage = match least {
        0 if status == Status::Authorized => return Target::Keep,
        0 | 1 if waiting => Stage::WaitingForProvider,
        0 | 1 => Stage::ExportRequested,
        2 => Stage::Downloading,
        _ => Stage::Parsing,
    };
    Target::Stage(stage)
}

fn rank(s: TypeState) -> u8 {
    match s {
        TypeState::Requested => 0,
        TypeState::Exporting => 1,
        TypeState::Downloading => 2,
        _ => 3,
    }
}

/// Recomputes the donation's unfinished types from its exports and then its
/// status/stage, appending an event when the status changes. Takes the
/// donation row lock; run it inside a transaction. A deleted donation is left alone.
pub async fn settle(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<()> {
    let Some(donation) = donation_store::find(conn, donation_id, true).await? else {
        return Ok(());
    };
    let exports = store::exports(conn, donation_id).await?;
    // Completed exports with a part still to download.
    let ids: Vec<i64> = exports.iter().map(|e| e.id).collect();
    let downloading: Vec<i64> = archive_parts::table
        .filter(archive_parts::export_id.eq_any(&ids))
        .filter(archive_parts::state.eq("pending"))
        .select(archive_parts::export_id)
        .distinct()
        .load(conn)
        .await?;
    let order = donation.requested_data_types.clone();
    let mut types = Vec::new();
    for t in donation_store::types(conn, donation_id, &order).await? {
        let (state, reason) = match t.state {
            TypeState::Available | TypeState::Declined | TypeState::Failed => (t.state, t.reason_code.clone()),
            _ => {
                let groups: Vec<Option<&ExportRow>> = needed_resources(donation.source, &t.data_type)
                    .iter()
                    .map(|r| exports.iter().find(|e| e.resource == *r))
                    .collect();
                let (mut state, reason) = type_state(&groups);
                // Every part downloaded: what remains is parsing.
                if state == TypeState::Downloading && groups.iter().flatten().all(|e| !downloading.contains(&e.id)) {
                    state = TypeState::Parsing;
                }
                if state != t.state {
                    set_type(conn, donation_id, &t.data_type, state, reason.as_deref()).await?;
                }
                (state, reason)
            }
        };
        types.push((t.data_type, state, reason));
    }
    let waiting = exports.iter().any(|e| e.state == EXPORT_IN_PROGRESS && e.polls > 0);
    let details: std::collections::HashMap<String, String> = donation_types::table
        .filter(donation_types::donation_id.eq(donation_id))
        .filter(donation_types::reason_detail.is_not_null())
        .select((donation_types::data_type, donation_types::reason_detail.assume_not_null()))
        .load::<(String, String)>(conn)
        .await?
        .into_iter()
        .collect();
    match target(donation.status, &types, waiting) {
        Target::Keep => Ok(()),
        Target::Stage(stage) if stage == donation.stage => Ok(()),
        Target::Stage(stage) => set_stage(conn, donation_id, stage, None).await,
        Target::Done => {
            set_stage(conn, donation_id, Stage::Done, None).await?;
            donation_store::add_event(conn, donation_id, "processed", None, json!({})).await
        }
        Target::NothingShared => {
            set_stage(conn, donation_id, Stage::TermsAccepted, None).await?;
            donation_store::add_event(conn, donation_id, "consent_declined", None, json!({"reason": "nothing_granted"}))
                .await
        }
        Target::Failed { code, .. } => fail(conn, donation_id, &code, &failure_message(&types, &details)).await,
    }
}

/// The researcher's `error_message` (spec §5.9): each failed type with its
/// code and, in parentheses, the cause (the member and what was wrong with
/// it, or what the provider did), e.g. `search: archive_invalid (invalid
/// JSON at byte 51 in My Activity/Search/MyActivity.json)`. Codes and archive
/// structure only: never personal data or provider response bodies.
pub fn failure_message(
    types: &[(String, TypeState, Option<String>)],
    details: &std::collections::HashMap<String, String>,
) -> String {
    types
        .iter()
        .filter(|(_, s, _)| *s == TypeState::Failed)
        .map(|(name, _, reason)| {
            let code = reason.as_deref().unwrap_or("internal");
            match details.get(name).map(String::as_str).or_else(|| cause(code)) {
                Some(why) => format!("{name}: {code} ({why})"),
                None => format!("{name}: {code}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a failure code means when nothing more specific was recorded.
fn cause(code: &str) -> Option<&'static str> {
    Some(match code {
        "provider_access_lost" => {
            "access ended before every part was downloaded; needs the participant to sign in again"
        }
        "provider_auth_failed" => "the provider refused Steward's client credentials",
        "export_failed" => "the provider's export job failed, was cancelled or was refused",
        "export_timeout" => "the provider did not finish the export by the deadline",
        "provider_unavailable" => "the provider kept failing or refusing the download links",
        "export_expired" => "the prepared data expired before it was downloaded",
        _ => return None,
    })
}

/// Puts the donation in `error` with `code` (the caller holds the lock or
/// runs in a transaction with [`settle`]).
pub async fn fail(conn: &mut AsyncPgConnection, donation_id: i32, code: &str, message: &str) -> QueryResult<()> {
    set_stage(conn, donation_id, Stage::Failed, Some((code, message))).await?;
    donation_store::add_event(conn, donation_id, "failed", None, json!({ "code": code })).await
}

async fn set_stage(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    stage: Stage,
    error: Option<(&str, &str)>,
) -> QueryResult<()> {
    let processed_at = (stage == Stage::Done).then(chrono::Utc::now);
    diesel::update(donations::table.find(donation_id))
        .set((
            donations::status.eq(stage.status().as_str()),
            donations::stage.eq(stage.as_str()),
            donations::error_code.eq(error.map(|e| e.0)),
            donations::error_message.eq(error.map(|e| e.1)),
            donations::processed_at.eq(processed_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Sets one type's state and reason.
pub async fn set_type(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    data_type: &str,
    state: TypeState,
    reason: Option<&str>,
) -> QueryResult<()> {
    diesel::update(donation_types::table.find((donation_id, data_type)))
        .set((donation_types::state.eq(state.as_str()), donation_types::reason_code.eq(reason)))
        .execute(conn)
        .await
        .map(drop)
}

/// The provider resources a type of `source` needs.
pub fn needed_resources(source: Source, data_type: &str) -> &'static [&'static str] {
    source.data_type(data_type).map_or(&[], |t| t.resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(state: &str, reason: Option<&str>) -> ExportRow {
        ExportRow {
            id: 1,
            donation_id: 1,
            resource: "myactivity.search".into(),
            job_id: None,
            state: state.into(),
            reason_code: reason.map(Into::into),
            retries: 0,
            polls: 0,
            next_poll_at: None,
            deadline_at: None,
        }
    }

    #[test]
    fn a_type_follows_its_least_advanced_group_and_fails_with_any() {
        let (done, running) = (export(EXPORT_COMPLETE, None), export(EXPORT_IN_PROGRESS, None));
        let failed = export(EXPORT_FAILED, Some("export_failed"));
        let future = export(EXPORT_SKIPPED, Some(WINDOW_IN_FUTURE));
        let refused = export(EXPORT_SKIPPED, Some(NOT_GRANTED));
        assert_eq!(type_state(&[Some(&done), Some(&running)]).0, TypeState::Exporting);
        assert_eq!(type_state(&[Some(&done), None]).0, TypeState::Requested);
        assert_eq!(type_state(&[Some(&running), Some(&export(EXPORT_PENDING, None))]).0, TypeState::Requested);
        assert_eq!(type_state(&[Some(&done), Some(&future)]).0, TypeState::Downloading);
        assert_eq!(type_state(&[Some(&future)]).0, TypeState::Available);
        assert_eq!(type_state(&[Some(&done), Some(&refused)]).0, TypeState::Declined);
        assert_eq!(type_state(&[Some(&running), Some(&failed)]), (TypeState::Failed, Some("export_failed".into())));
    }

    #[test]
    fn the_error_message_names_each_failed_type_its_code_and_cause() {
        let t = |name: &str, s: TypeState, r: Option<&str>| (name.to_owned(), s, r.map(Into::into));
        let types = [
            t("search", TypeState::Failed, Some("archive_invalid")),
            t("youtube_history", TypeState::Available, None),
            t("discover", TypeState::Failed, Some("export_failed")),
            t("google_lens", TypeState::Failed, Some("internal")),
        ];
        let details = std::collections::HashMap::from([(
            "search".to_owned(),
            "invalid JSON at byte 51 in My Activity/Search/MyActivity.json".to_owned(),
        )]);
        assert_eq!(
            failure_message(&types, &details),
            "search: archive_invalid (invalid JSON at byte 51 in My Activity/Search/MyActivity.json); \
             discover: export_failed (the provider's export job failed, was cancelled or was refused); \
             google_lens: internal"
        );
    }

    #[test]
    fn the_donation_is_final_only_when_every_type_is() {
        let t = |name: &str, s: TypeState, r: Option<&str>| (name.to_owned(), s, r.map(Into::into));
        let processing = Status::Processing;
        let open = [t("search", TypeState::Exporting, None), t("discover", TypeState::Failed, Some("export_failed"))];
        assert_eq!(target(processing, &open, false), Target::Stage(Stage::ExportRequested));
        assert_eq!(target(processing, &open, true), Target::Stage(Stage::WaitingForProvider));
        assert_eq!(target(Status::Authorized, &[t("search", TypeState::Requested, None)], false), Target::Keep);
        let failed = [t("search", TypeState::Available, None), t("discover", TypeState::Failed, Some("export_failed"))];
        assert_eq!(
            target(processing, &failed, false),
            Target::Failed { code: "export_failed".into(), message: "discover: export_failed".into() }
        );
        let done = [t("search", TypeState::Available, None), t("discover", TypeState::Declined, Some(NOT_GRANTED))];
        assert_eq!(target(processing, &done, false), Target::Done);
        assert_eq!(target(processing, &[t("search", TypeState::Declined, None)], false), Target::NothingShared);
        assert_eq!(target(Status::Processed, &done, false), Target::Keep);
        let downloading = [t("search", TypeState::Downloading, None), t("lens", TypeState::Available, None)];
        assert_eq!(target(processing, &downloading, true), Target::Stage(Stage::Downloading));
    }
}
