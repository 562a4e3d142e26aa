//! The operator commands of spec §5.9, transport-free: `user seed` and the
//! three bulk imports (a CSV of users for one dataset, a Clio auth export, a
//! neuPrint auth file). Each takes the file's text, runs in ONE transaction,
//! and returns the DSG-style lines for the CLI to print (operators' scripts
//! grep them). An import that changed something writes one `bulk_import`
//! audit row (actor NULL) and the cache-eviction NOTIFY in that transaction;
//! a dry run does the same work and then rolls back, so it writes nothing,
//! records nothing and notifies no replica (NOTIFY is delivered on commit only).

use std::collections::{BTreeMap, BTreeSet};

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audit::{self, Actor};
use super::ops;
use super::permissions::Level;
use super::store::{self, NewGrant};
use crate::auth::Role;
use crate::auth::ops::validate_email;
use crate::auth::store::{self as auth_store, notify_auth_change};
use crate::error::{Error, Result};

/// The first line of a dry run's output.
pub const DRY_RUN_BANNER: &str = "DRY RUN — no changes will be made";
/// The groups `user seed` creates when none are named (DSG's reserved four).
pub const DEFAULT_GROUPS: [&str; 4] = ["admin", "sc", "team_lead", "user"];
/// The group every imported user joins.
const USER_GROUP: &str = "user";

/// What a command has to say: lines for stdout and for stderr.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Progress and summary lines.
    pub stdout: Vec<String>,
    /// Warnings (e.g. skipped entries).
    pub stderr: Vec<String>,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.stdout.push(line.into());
    }

    fn warn(&mut self, line: impl Into<String>) {
        self.stderr.push(line.into());
    }
}

/// Why an import's transaction ended without committing.
enum Abort {
    /// A real failure.
    Failed(Error),
    /// A dry run finished: roll back and report.
    DryRun(Report),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Failed(e.into())
    }
}

impl From<Error> for Abort {
    fn from(e: Error) -> Self {
        Abort::Failed(e)
    }
}

/// Commits a real run; turns a dry run's rollback into its report.
fn settle(result: std::result::Result<Report, Abort>) -> Result<Report> {
    match result {
        Ok(report) => Ok(report),
        Err(Abort::DryRun(mut report)) => {
            report.stdout.insert(0, DRY_RUN_BANNER.to_owned());
            Ok(report)
        }
        Err(Abort::Failed(e)) => Err(e),
    }
}

fn dry_run_or(dry_run: bool, report: Report) -> std::result::Result<Report, Abort> {
    if dry_run { Err(Abort::DryRun(report)) } else { Ok(report) }
}

/// What an import changed: decides its audit row and whose cache entries to evict.
#[derive(Default)]
struct Changes {
    users: BTreeSet<i64>,
    everyone: bool,
    any: bool,
}

impl Changes {
    fn user(&mut self, id: i64) {
        self.users.insert(id);
        self.any = true;
    }

    fn everyone(&mut self) {
        self.everyone = true;
        self.any = true;
    }

    fn other(&mut self) {
        self.any = true;
    }

    /// The audit row and the evictions; nothing for a run that changed nothing
    /// (a no-op repeat writes no audit row, spec §2.5).
    async fn record(self, conn: &mut AsyncPgConnection, command: &str, after: Value) -> Result<()> {
        if !self.any {
            return Ok(());
        }
        audit::record(conn, Actor::System, "bulk_import", "Command", command, None, Some(after)).await?;
        if self.everyone {
            notify_auth_change(conn, "all").await?;
        } else {
            for id in self.users {
                notify_auth_change(conn, &format!("user:{id}")).await?;
            }
        }
        Ok(())
    }
}

/// `steward user seed [GROUP …]`: creates the groups that are missing.
pub async fn seed(conn: &mut AsyncPgConnection, groups: &[String]) -> Result<Report> {
    let groups: Vec<String> =
        if groups.is_empty() { DEFAULT_GROUPS.iter().map(|g| (*g).to_owned()).collect() } else { groups.to_vec() };
    for group in &groups {
        validate_group(group)?;
    }
    conn.transaction(async |conn| {
        let mut report = Report::default();
        for group in &groups {
            if store::group_id_by_name(conn, group).await?.is_some() {
                report.say(format!("Group already exists: {group}"));
            } else {
                ops::create_group(conn, Actor::System, group).await?;
                report.say(format!("Created group: {group}"));
            }
        }
        Ok(report)
    })
    .await
}

/// One data row of an import CSV, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CsvUser {
    email: String,
    name: String,
    affiliation: String,
    notes: String,
}

/// `steward user import-csv FILE --dataset DS`: users of one dataset, each
/// given a dataset-wide `view` grant. `source` names the file in the audit row.
pub async fn import_csv(
    conn: &mut AsyncPgConnection,
    source: &str,
    text: &str,
    dataset: &str,
    dry_run: bool,
) -> Result<Report> {
    validate_dataset(dataset)?;
    let rows = parse_users_csv(text)?;
    let result = conn
        .transaction(async |conn| {
            let report = csv_rows(conn, source, &rows, dataset).await?;
            dry_run_or(dry_run, report)
        })
        .await;
    settle(result)
}

async fn csv_rows(conn: &mut AsyncPgConnection, source: &str, rows: &[CsvUser], dataset: &str) -> Result<Report> {
    let mut report = Report::default();
    let mut changes = Changes::default();
    let (ds, created) = store::ensure_dataset(conn, dataset).await?;
    if created {
        changes.other();
        report.say(format!("Created dataset: {dataset}"));
    }
    if store::ensure_group(conn, USER_GROUP).await?.1 {
        changes.other();
    }
    let (mut added, mut had, mut emails) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let (user_id, created, mut changed) = ensure_user(conn, &row.email, &row.name, &row.notes, None).await?;
        if !row.affiliation.is_empty() {
            changed |= store::insert_affiliation(conn, user_id, &row.affiliation).await?;
        }
        changed |= auth_store::add_to_group(conn, user_id, USER_GROUP).await?;
        if created {
            report.say(format!("Created user: {}", row.email));
        } else if changed {
            report.say(format!("Updated user: {}", row.email));
        }
        if created || changed {
            changes.user(user_id);
        }
        if insert_user_grant(conn, ds.id, user_id, Level::View).await? {
            changes.user(user_id);
            added.push(row.email.clone());
        } else {
            had.push(row.email.clone());
        }
        emails.push(row.email.clone());
    }
    if !added.is_empty() {
        report.say(format!("Added view grants: {}", added.join(", ")));
    }
    if !had.is_empty() {
        report.say(format!("Already had view grants: {}", had.join(", ")));
    }
    report.say(format!("Imported {} users for dataset {dataset}.", rows.len()));
    let after = json!({"source": source, "dataset": dataset, "users": emails, "grants_added": added.len()});
    changes.record(conn, "import_csv", after).await?;
    Ok(report)
}

/// Creates the user (e-mail compared case-insensitively) or fills in what an
/// import may change: a blank name, appended notes, and (when `active` is
/// given) the active flag. Returns (id, created, changed).
async fn ensure_user(
    conn: &mut AsyncPgConnection,
    email: &str,
    name: &str,
    notes: &str,
    active: Option<bool>,
) -> Result<(i64, bool, bool)> {
    let Some(user) = store::imported_user_by_email(conn, email).await? else {
        let id = store::insert_imported_user(conn, email, name, notes, active.unwrap_or(true)).await?;
        return Ok((id, true, false));
    };
    let new_name = if user.name.is_empty() { name } else { &user.name };
    let new_notes = append_notes(&user.notes, notes);
    let is_active = active.unwrap_or(user.is_active);
    let changed = new_name != user.name || new_notes != user.notes || is_active != user.is_active;
    if changed {
        store::update_imported_user(conn, user.id, new_name, &new_notes, is_active).await?;
    }
    Ok((user.id, false, changed))
}

/// `existing` with `notes` appended after a newline, unless it holds those
/// lines already (so a second run of the same file adds nothing).
fn append_notes(existing: &str, notes: &str) -> String {
    if notes.is_empty() || format!("\n{existing}\n").contains(&format!("\n{notes}\n")) {
        existing.to_owned()
    } else if existing.is_empty() {
        notes.to_owned()
    } else {
        format!("{existing}\n{notes}")
    }
}

/// A dataset-wide grant from an import; `false` if the identical grant exists.
async fn insert_user_grant(conn: &mut AsyncPgConnection, dataset_id: i64, user_id: i64, level: Level) -> Result<bool> {
    let grant = NewGrant {
        dataset_id,
        dataset_version_id: None,
        level: level.as_str(),
        user_id: Some(user_id),
        group_id: None,
        service_account_id: None,
        team_group_id: None,
        source: "import",
        granted_by_user_id: None,
    };
    Ok(store::insert_grant(conn, grant).await?.is_some())
}

/// The header (names matched case-insensitively after trimming) and the
/// rows with a non-blank e-mail, values trimmed.
fn parse_users_csv(text: &str) -> Result<Vec<CsvUser>> {
    let records = parse_csv(text)?;
    let Some((header, rows)) = records.split_first() else {
        return Err(Error::InvalidArgument("CSV must contain an 'email' column. Found: (no header row)".into()));
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let column = |name: &str| names.iter().position(|h| h == name);
    let Some(email_column) = column("email") else {
        let found: Vec<&str> = header.iter().map(|h| h.trim()).collect();
        return Err(Error::InvalidArgument(format!("CSV must contain an 'email' column. Found: {}", found.join(", "))));
    };
    let (name, affiliation, notes) = (column("name"), column("affiliation"), column("notes"));
    let mut users = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let value = |c: Option<usize>| c.and_then(|c| row.get(c)).map_or("", |v| v.trim()).to_owned();
        let email = value(Some(email_column));
        if email.is_empty() {
            continue;
        }
        // Row numbers count the header as line 1, as a spreadsheet shows them.
        let email =
            validate_email(&email).map_err(|e| Error::InvalidArgument(format!("CSV row {}: {e}", index + 2)))?;
        users.push(CsvUser { email, name: value(name), affiliation: value(affiliation), notes: value(notes) });
    }
    Ok(users)
}

/// RFC 4180 records: comma-separated, `"`-quoted fields with `""` escapes and
/// embedded newlines, LF or CRLF line ends, an optional UTF-8 BOM. Blank lines
/// are skipped.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut was_quoted) = (false, false);
    let mut chars = text.chars().peekable();
    let end_record =
        |record: &mut Vec<String>, field: &mut String, records: &mut Vec<Vec<String>>, quoted_field: bool| {
            record.push(std::mem::take(field));
            let record = std::mem::take(record);
            if !(record.len() == 1 && record[0].is_empty() && !quoted_field) {
                records.push(record);
            }
        };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_record(&mut record, &mut field, &mut records, was_quoted);
                was_quoted = false;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(Error::InvalidArgument("CSV has a quoted field that is never closed".into()));
    }
    if !field.is_empty() || !record.is_empty() || was_quoted {
        end_record(&mut record, &mut field, &mut records, was_quoted);
    }
    Ok(records)
}

/// A Clio auth export (`clio-store`'s users and datasets).
#[derive(Debug, Deserialize)]
struct ClioFile {
    #[serde(default)]
    datasets: BTreeMap<String, ClioDataset>,
    #[serde(default)]
    users: BTreeMap<String, ClioUser>,
}

#[derive(Debug, Deserialize)]
struct ClioDataset {
    #[serde(default)]
    public: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ClioUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    global_roles: Vec<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    datasets: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: Vec<String>,
}

/// `steward user import-clio-auth FILE`: Clio's users, roles, datasets and groups.
pub async fn import_clio_auth(conn: &mut AsyncPgConnection, source: &str, text: &str, dry_run: bool) -> Result<Report> {
    let file: ClioFile = parse_json(source, text)?;
    let mut datasets: BTreeSet<&str> = file.datasets.keys().map(String::as_str).collect();
    for (email, user) in &file.users {
        validate_email(email)?;
        datasets.extend(user.datasets.keys().map(String::as_str));
        for group in &user.groups {
            validate_group(group)?;
        }
    }
    for dataset in &datasets {
        validate_dataset(dataset)?;
    }
    let result = conn
        .transaction(async |conn| {
            let report = clio(conn, source, &file, &datasets).await?;
            dry_run_or(dry_run, report)
        })
        .await;
    settle(result)
}

async fn clio(
    conn: &mut AsyncPgConnection,
    source: &str,
    file: &ClioFile,
    datasets: &BTreeSet<&str>,
) -> Result<Report> {
    let mut report = Report::default();
    let mut changes = Changes::default();
    let mut ids = BTreeMap::new();
    for name in datasets {
        let (row, created) = store::ensure_dataset(conn, name).await?;
        if created {
            changes.other();
            report.say(format!("Created dataset: {name}"));
        }
        ids.insert(*name, row.id);
    }
    let (user_group, created) = store::ensure_group(conn, USER_GROUP).await?;
    if created {
        changes.other();
    }
    for (name, dataset) in &file.datasets {
        if dataset.public == Some(true) {
            let grant = NewGrant {
                dataset_id: ids[name.as_str()],
                dataset_version_id: None,
                level: Level::View.as_str(),
                user_id: None,
                group_id: Some(user_group),
                service_account_id: None,
                team_group_id: None,
                source: "import",
                granted_by_user_id: None,
            };
            if store::insert_grant(conn, grant).await?.is_some() {
                changes.everyone();
                report.say(format!("Added view grant on {name} to group {USER_GROUP}"));
            }
        }
    }
    for (email, user) in &file.users {
        let email = validate_email(email)?;
        let name = user.name.as_deref().unwrap_or_default().trim();
        let active = !user.disabled.unwrap_or(false);
        let (user_id, created, mut changed) = ensure_user(conn, &email, name, "", Some(active)).await?;
        // The user's own line goes first, once we know whether anything changed.
        let first_line = report.stdout.len();
        let mut levels: BTreeMap<&str, BTreeSet<Level>> = BTreeMap::new();
        for role in &user.global_roles {
            match role.as_str() {
                "admin" => {
                    if auth_store::add_to_group(conn, user_id, Role::Admin.as_str()).await? {
                        changed = true;
                        report.say(format!("Promoted {email} to admin."));
                    }
                }
                "clio_general" | "clio_write" => {
                    let level = if role == "clio_write" { Level::Edit } else { Level::View };
                    for dataset in datasets {
                        levels.entry(dataset).or_default().insert(level);
                    }
                }
                other => report.warn(format!("Unknown global role '{other}' for {email}, skipping")),
            }
        }
        for (dataset, roles) in &user.datasets {
            for role in roles {
                let level = match role.as_str() {
                    "clio_read" | "clio_general" => Level::View,
                    "clio_write" => Level::Edit,
                    "dataset_admin" => Level::Admin,
                    other => {
                        report.warn(format!("Unknown role '{other}' for {email} on {dataset}, skipping"));
                        continue;
                    }
                };
                levels.entry(dataset).or_default().insert(level);
            }
        }
        changed |= auth_store::add_to_group(conn, user_id, USER_GROUP).await?;
        let mut added = Vec::new();
        for (dataset, levels) in &levels {
            for level in levels {
                if insert_user_grant(conn, ids[dataset], user_id, *level).await? {
                    changed = true;
                    added.push(format!("{dataset} ({})", level.as_str()));
                }
            }
        }
        if !added.is_empty() {
            report.say(format!("Added grants for {email}: {}", added.join(", ")));
        }
        for group in &user.groups {
            if store::ensure_group(conn, group).await?.1 {
                report.say(format!("Created group: {group}"));
            }
            if auth_store::add_to_group(conn, user_id, group).await? {
                changed = true;
                report.say(format!("Added {email} to group {group}"));
            }
        }
        if created {
            report.stdout.insert(first_line, format!("Created user: {email}"));
        } else if changed {
            report.stdout.insert(first_line, format!("Updated user: {email}"));
        }
        if created || changed {
            changes.user(user_id);
        }
    }
    report.say(format!("Imported {} users and {} datasets.", file.users.len(), datasets.len()));
    let after = json!({"source": source, "users": file.users.keys().collect::<Vec<_>>(), "datasets": datasets});
    changes.record(conn, "import_clio_auth", after).await?;
    Ok(report)
}

/// A neuPrint level: a grant level on each dataset, or global admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NeuprintLevel {
    Grant(Level),
    Admin,
}

/// `steward user import-neuprint-auth FILE --datasets DS…`: neuPrint's
/// `{"<email>": "readonly" | "readwrite" | "admin"}` file.
pub async fn import_neuprint_auth(
    conn: &mut AsyncPgConnection,
    source: &str,
    text: &str,
    datasets: &[String],
    dry_run: bool,
) -> Result<Report> {
    if datasets.is_empty() {
        return Err(Error::InvalidArgument("at least one dataset is required (--datasets DS …)".into()));
    }
    for dataset in datasets {
        validate_dataset(dataset)?;
    }
    let file: BTreeMap<String, Value> = parse_json(source, text)?;
    let mut entries = Vec::new();
    for (email, value) in &file {
        let email = validate_email(email)?;
        let Value::String(value) = value else {
            return Err(Error::InvalidArgument(format!(
                "{source}: the level of {email} must be a string (readonly, readwrite or admin), not {value}"
            )));
        };
        let value = value.trim();
        let level = match value.to_lowercase().as_str() {
            "readonly" => Some(NeuprintLevel::Grant(Level::View)),
            "readwrite" => Some(NeuprintLevel::Grant(Level::Edit)),
            "admin" => Some(NeuprintLevel::Admin),
            _ => None,
        };
        entries.push((email, value.to_owned(), level));
    }
    let result = conn
        .transaction(async |conn| {
            let report = neuprint(conn, source, &entries, datasets).await?;
            dry_run_or(dry_run, report)
        })
        .await;
    settle(result)
}

async fn neuprint(
    conn: &mut AsyncPgConnection,
    source: &str,
    entries: &[(String, String, Option<NeuprintLevel>)],
    datasets: &[String],
) -> Result<Report> {
    let mut report = Report::default();
    let mut changes = Changes::default();
    let mut ids = Vec::new();
    for name in datasets {
        let (row, created) = store::ensure_dataset(conn, name).await?;
        if created {
            changes.other();
        }
        ids.push(row.id);
    }
    if store::ensure_group(conn, USER_GROUP).await?.1 {
        changes.other();
    }
    let mut added = vec![Vec::new(); datasets.len()];
    let mut existed = vec![Vec::new(); datasets.len()];
    let (mut admins_added, mut already_admin, mut skipped, mut users) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (email, value, level) in entries {
        let Some(level) = level else {
            report.warn(format!("Unknown level '{value}' for {email}, skipping"));
            skipped.push(email.clone());
            continue;
        };
        users.push(email.clone());
        let (user_id, created, _) = ensure_user(conn, email, "", "", None).await?;
        let joined = auth_store::add_to_group(conn, user_id, USER_GROUP).await?;
        if created || joined {
            changes.user(user_id);
        }
        match level {
            NeuprintLevel::Admin => {
                if auth_store::add_to_group(conn, user_id, Role::Admin.as_str()).await? {
                    changes.user(user_id);
                    admins_added.push(email.clone());
                } else {
                    already_admin.push(email.clone());
                }
            }
            NeuprintLevel::Grant(level) => {
                for (i, dataset_id) in ids.iter().enumerate() {
                    let entry = format!("{email} ({})", level.as_str());
                    if insert_user_grant(conn, *dataset_id, user_id, *level).await? {
                        changes.user(user_id);
                        added[i].push(entry);
                    } else {
                        existed[i].push(entry);
                    }
                }
            }
        }
    }
    for (i, dataset) in datasets.iter().enumerate() {
        report.say(format!("Dataset: {dataset}"));
        report.say(if added[i].is_empty() {
            "Added: (none)".to_owned()
        } else {
            format!("Added: {}", added[i].join(", "))
        });
        if !existed[i].is_empty() {
            report.say(format!("Already existed: {}", existed[i].join(", ")));
        }
    }
    for (label, list) in
        [("Set admin=True", &admins_added), ("Already admin", &already_admin), ("Skipped (unknown level)", &skipped)]
    {
        if !list.is_empty() {
            report.say(format!("{label}: {}", list.join(", ")));
        }
    }
    let after = json!({"source": source, "users": users, "datasets": datasets, "admins_added": admins_added,
        "skipped": skipped});
    changes.record(conn, "import_neuprint_auth", after).await?;
    Ok(report)
}

fn parse_json<T: serde::de::DeserializeOwned>(source: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::InvalidArgument(format!("{source} is not a valid auth file: {e}")))
}

fn validate_dataset(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("dataset name '{name}' must match ^[A-Za-z0-9_-]{{1,255}}$")))
    }
}

fn validate_group(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(Error::InvalidArgument(format!("group name '{name}' must be 1 to 255 characters without '/'")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_quotes_and_line_ends() {
        let text =
            "\u{feff}Email , Name,notes\r\n\"a@x.org\",\"Doe, \"\"Jo\"\"\",\"two\nlines\"\r\n\r\n b@x.org ,,\nc@x.org";
        let records = parse_csv(text).unwrap();
        assert_eq!(records.len(), 4, "{records:?}");
        assert_eq!(records[0], ["Email ", " Name", "notes"]);
        assert_eq!(records[1], ["a@x.org", "Doe, \"Jo\"", "two\nlines"]);
        assert_eq!(records[2], [" b@x.org ", "", ""]);
        assert_eq!(records[3], ["c@x.org"]);
        assert!(parse_csv("email\n\"open").is_err());
    }

    #[test]
    fn users_csv_needs_an_email_column_and_skips_blank_emails() {
        let users = parse_users_csv("EMAIL,Affiliation\n x@y.org ,Lab\n,ignored\n").unwrap();
        assert_eq!(
            users,
            [CsvUser { email: "x@y.org".into(), name: String::new(), affiliation: "Lab".into(), notes: String::new() }]
        );
        let err = parse_users_csv("name, notes\nA,B\n").unwrap_err().to_string();
        assert_eq!(err, "CSV must contain an 'email' column. Found: name, notes");
        let err = parse_users_csv("email\nnot-an-email\n").unwrap_err().to_string();
        assert!(err.starts_with("CSV row 2: "), "{err}");
    }

    #[test]
    fn notes_are_appended_once() {
        assert_eq!(append_notes("", "n"), "n");
        assert_eq!(append_notes("a", "n"), "a\nn");
        assert_eq!(append_notes("a\nn", "n"), "a\nn");
        assert_eq!(append_notes("an", "n"), "an\nn");
        assert_eq!(append_notes("a", ""), "a");
    }
}
