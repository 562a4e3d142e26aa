//! Effective permissions (spec authorization_dataset.md §2.4) as pure functions
//! over loaded inputs: level expansion, `read_only` stripping, the general and
//! service terms-of-service filters, the implicit `view` on public datasets,
//! `missing_tos`, and the `check-access` decision table (§3.4). Every route
//! that answers "what may this principal do" goes through here, so the rules
//! live in one place and are unit-tested without a database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

/// An access level; declaration order is the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Read.
    View,
    /// Write.
    Edit,
    /// Manage grants below admin.
    Manage,
    /// Everything on the dataset.
    Admin,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::View, Level::Edit, Level::Manage, Level::Admin];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Edit => "edit",
            Level::Manage => "manage",
            Level::Admin => "admin",
        }
    }

    /// The level with this name.
    pub fn parse(name: &str) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// DSG's numeric level in `user/cache` `permissions`.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of levels (already expanded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelSet(u8);

impl LevelSet {
    /// `level` and every level below it.
    pub fn expanded(level: Level) -> LevelSet {
        LevelSet(Level::ALL.into_iter().filter(|l| *l <= level).map(Level::bit).fold(0, |a, b| a | b))
    }

    /// Whether `level` is in the set.
    pub fn contains(self, level: Level) -> bool {
        self.0 & level.bit() != 0
    }

    /// The union of two sets.
    pub fn union(self, other: LevelSet) -> LevelSet {
        LevelSet(self.0 | other.0)
    }

    /// The set without `level`.
    pub fn without(self, level: Level) -> LevelSet {
        LevelSet(self.0 & !level.bit())
    }

    /// The highest level in the set.
    pub fn max(self) -> Option<Level> {
        Level::ALL.into_iter().rev().find(|l| self.contains(*l))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Level names sorted alphabetically, as DSG prints them (`admin, edit, manage, view`).
    pub fn names(self) -> Vec<&'static str> {
        let mut names: Vec<_> = Level::ALL.into_iter().filter(|l| self.contains(*l)).map(Level::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// How a grant reaches the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A grant to the user or service account itself.
    Direct,
    /// A grant to one of the user's groups.
    Group,
}

/// One grant row that applies to the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInput {
    /// The dataset granted on.
    pub dataset_id: i64,
    /// `None` = every version.
    pub version_id: Option<i64>,
    /// The granted level (before expansion).
    pub level: Level,
    /// Direct or through a group.
    pub via: Via,
}

/// A terms-of-service document, as the documents name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TosRef {
    /// `tos_id`.
    pub id: i64,
    /// `tos_name`.
    pub name: String,
}

/// A dataset as the permission rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    /// Its id (documents are ordered by it).
    pub id: i64,
    /// Its name (the key in documents).
    pub name: String,
    /// `access_mode = public`: every active user holds an implicit `view`.
    pub public: bool,
    /// The general TOS (`datasets.tos_document_id`), whatever its dates.
    pub general_tos: Option<TosRef>,
}

/// A service-specific TOS document on a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTos {
    /// The dataset it guards.
    pub dataset_id: i64,
    /// The service's name.
    pub service: String,
    /// The document.
    pub tos: TosRef,
    /// Active from.
    pub effective_at: DateTime<Utc>,
    /// Active until (exclusive), if retired.
    pub retired_at: Option<DateTime<Utc>>,
}

impl ServiceTos {
    /// `effective_at <= now AND (retired_at IS NULL OR retired_at > now)`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.effective_at <= now && self.retired_at.is_none_or(|r| r > now)
    }
}

/// Whose permissions these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A person: TOS apply, groups and public datasets count.
    User {
        /// Member of the reserved `admin` group.
        admin: bool,
        /// `read_only`: `edit` is stripped from every expanded set.
        read_only: bool,
    },
    /// A service account: its own grants only, no TOS.
    ServiceAccount,
}

/// Everything §2.4 needs for one principal; loaded once, cached, and reused
/// for every `?service=` variant and every `check-access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// User (with flags) or service account.
    pub subject: Subject,
    /// Grants to the principal and (users) to its groups.
    pub grants: Vec<GrantInput>,
    /// Every dataset a grant names, plus (users) every public dataset, by id.
    pub datasets: BTreeMap<i64, DatasetRef>,
    /// TOS documents the user accepted.
    pub accepted_tos: BTreeSet<i64>,
    /// Service TOS documents on the datasets above (active or not; filtered at use).
    pub service_tos: Vec<ServiceTos>,
}

/// One `missing_tos` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTos {
    /// The dataset.
    pub dataset_id: i64,
    /// Its name.
    pub dataset_name: String,
    /// The unaccepted document.
    pub tos: TosRef,
    /// Set for service TOS entries.
    pub service: Option<String>,
}

/// The result of §2.4 for one principal and optional service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// Expanded levels per dataset id, ignoring every TOS (`permissions_v2_ignore_tos`).
    pub ignore_tos: BTreeMap<i64, LevelSet>,
    /// The same after the general TOS and service TOS filters (`permissions_v2`).
    pub tos: BTreeMap<i64, LevelSet>,
    /// Unaccepted TOS, general entries by dataset id, then service entries by dataset id and TOS id.
    pub missing_tos: Vec<MissingTos>,
}

impl Inputs {
    /// Ids of datasets where the principal holds a direct `admin` grant (any version), ascending.
    pub fn datasets_admin(&self) -> Vec<i64> {
        let ids: BTreeSet<i64> = self
            .grants
            .iter()
            .filter(|g| g.via == Via::Direct && g.level == Level::Admin)
            .map(|g| g.dataset_id)
            .collect();
        match self.subject {
            Subject::User { .. } => ids.into_iter().collect(),
            // DSG's service-account document lists no dataset admin rights.
            Subject::ServiceAccount => Vec::new(),
        }
    }

    fn accepted(&self, tos: &TosRef) -> bool {
        self.accepted_tos.contains(&tos.id)
    }

    /// Expanded levels on `dataset_id` from grants matching `keep`, with
    /// `read_only` applied; TOS ignored.
    fn levels(&self, dataset_id: i64, keep: impl Fn(&GrantInput) -> bool) -> LevelSet {
        let set = self
            .grants
            .iter()
            .filter(|g| g.dataset_id == dataset_id && keep(g))
            .fold(LevelSet::default(), |set, g| set.union(LevelSet::expanded(g.level)));
        self.strip(set)
    }

    fn strip(&self, set: LevelSet) -> LevelSet {
        match self.subject {
            Subject::User { read_only: true, .. } => set.without(Level::Edit),
            _ => set,
        }
    }

    fn public_view(&self, dataset: &DatasetRef) -> bool {
        matches!(self.subject, Subject::User { .. }) && dataset.public
    }

    /// Active service TOS of `service` on `dataset_id` the user has not accepted, by id.
    fn unaccepted_service_tos<'a>(
        &'a self,
        dataset_id: i64,
        service: &'a str,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &'a ServiceTos> + 'a {
        let mut docs: Vec<&ServiceTos> = self
            .service_tos
            .iter()
            .filter(move |s| {
                s.dataset_id == dataset_id && s.service == service && s.is_active(now) && !self.accepted(&s.tos)
            })
            .collect();
        docs.sort_by_key(|s| s.tos.id);
        docs.into_iter()
    }
}

/// §2.4 for `inputs`, optionally through `service`, at `now`.
pub fn effective(inputs: &Inputs, service: Option<&str>, now: DateTime<Utc>) -> Effective {
    let mut out = Effective::default();
    let user = matches!(inputs.subject, Subject::User { .. });
    for dataset in inputs.datasets.values() {
        let mut set = inputs.levels(dataset.id, |_| true);
        if inputs.public_view(dataset) {
            set = set.union(inputs.strip(LevelSet::expanded(Level::View)));
        }
        let granted = inputs.grants.iter().any(|g| g.dataset_id == dataset.id);
        if user
            && (granted || dataset.public)
            && let Some(tos) = dataset.general_tos.as_ref().filter(|t| !inputs.accepted(t))
        {
            out.missing_tos.push(MissingTos {
                dataset_id: dataset.id,
                dataset_name: dataset.name.clone(),
                tos: tos.clone(),
                service: None,
            });
        }
        if set.is_empty() {
            continue;
        }
        out.ignore_tos.insert(dataset.id, set);
        if !user {
            out.tos.insert(dataset.id, set);
            continue;
        }
        let general_ok = dataset.general_tos.as_ref().is_none_or(|t| inputs.accepted(t));
        let service_ok = service.is_none_or(|s| inputs.unaccepted_service_tos(dataset.id, s, now).next().is_none());
        if general_ok && service_ok {
            out.tos.insert(dataset.id, set);
        }
    }
    if let (true, Some(service)) = (user, service) {
        for dataset in inputs.datasets.values() {
            let granted = inputs.grants.iter().any(|g| g.dataset_id == dataset.id);
            if !(granted || dataset.public) {
                continue;
            }
            for doc in inputs.unaccepted_service_tos(dataset.id, service, now) {
                out.missing_tos.push(MissingTos {
                    dataset_id: dataset.id,
                    dataset_name: dataset.name.clone(),
                    tos: doc.tos.clone(),
                    service: Some(service.to_owned()),
                });
            }
        }
    }
    out
}

/// What `check-access` asks about one (existing) dataset.
#[derive(Debug, Clone)]
pub struct AccessQuery<'a> {
    /// The dataset, looked up by name.
    pub dataset: &'a DatasetRef,
    /// The version asked about: `Some(id)` for a known version, `Some(None)`
    /// for an unknown one (matches dataset-wide grants only), `None` when not asked.
    pub version: Option<Option<i64>>,
    /// TOS documents scoped to that version (no service), by id.
    pub version_tos: &'a [TosRef],
    /// The level asked for.
    pub level: Level,
    /// The service the access goes through, if any.
    pub service: Option<&'a str>,
}

/// The `check-access` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `{"allowed":true,"reason":…}`.
    Allowed(&'static str),
    /// `{"allowed":false,"reason":"no_permission"}`.
    Denied,
    /// `{"allowed":false,"reason":"tos_required","tos_id":…,"tos_name":…[,"service":…]}`.
    TosRequired {
        /// The first document to accept.
        tos: TosRef,
        /// Set when it is a service TOS.
        service: Option<String>,
    },
}

/// The decision table of §3.4 `check-access`, rows evaluated in order.
pub fn check_access(inputs: &Inputs, query: &AccessQuery<'_>, now: DateTime<Utc>) -> Decision {
    let dataset_id = query.dataset.id;
    // Without `version`, every grant counts (as in §2.4); with one, dataset-wide
    // grants and grants scoped to that version.
    let in_scope = |g: &GrantInput| match query.version {
        None => true,
        Some(version) => g.version_id.is_none() || g.version_id == version,
    };
    let levels = |via: Via| inputs.levels(dataset_id, |g| g.via == via && in_scope(g));
    let admin = match inputs.subject {
        Subject::ServiceAccount => {
            return if levels(Via::Direct).contains(query.level) {
                Decision::Allowed("service_account_grant")
            } else {
                Decision::Denied
            };
        }
        // read_only is applied inside `levels`.
        Subject::User { admin, .. } => admin,
    };
    if admin {
        return Decision::Allowed("admin");
    }
    let direct_admin =
        inputs.grants.iter().any(|g| g.dataset_id == dataset_id && g.via == Via::Direct && g.level == Level::Admin);
    if direct_admin {
        return Decision::Allowed("dataset_admin");
    }
    let (group, direct) = (levels(Via::Group), levels(Via::Direct));
    let public = query.level == Level::View && query.dataset.public;
    let qualifies = group.contains(query.level) || direct.contains(query.level) || public;
    if !qualifies {
        return Decision::Denied;
    }
    let unaccepted = |t: &&TosRef| !inputs.accepted(t);
    if let Some(tos) = query.dataset.general_tos.as_ref().filter(unaccepted) {
        return Decision::TosRequired { tos: tos.clone(), service: None };
    }
    if let Some(tos) = query.version_tos.iter().find(unaccepted) {
        return Decision::TosRequired { tos: tos.clone(), service: None };
    }
    if let Some(service) = query.service
        && let Some(doc) = inputs.unaccepted_service_tos(dataset_id, service, now).next()
    {
        return Decision::TosRequired { tos: doc.tos.clone(), service: Some(service.to_owned()) };
    }
    if group.contains(query.level) {
        Decision::Allowed("group_permission")
    } else if direct.contains(query.level) {
        Decision::Allowed("direct_grant")
    } else {
        Decision::Allowed("public")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    fn ds(id: i64, name: &str) -> DatasetRef {
        DatasetRef { id, name: name.into(), public: false, general_tos: None }
    }

    fn tos(id: i64, name: &str) -> TosRef {
        TosRef { id, name: name.into() }
    }

    fn grant(dataset_id: i64, level: Level, via: Via) -> GrantInput {
        GrantInput { dataset_id, version_id: None, level, via }
    }

    fn user(grants: Vec<GrantInput>, datasets: Vec<DatasetRef>) -> Inputs {
        Inputs {
            subject: Subject::User { admin: false, read_only: false },
            grants,
            datasets: datasets.into_iter().map(|d| (d.id, d)).collect(),
            accepted_tos: BTreeSet::new(),
            service_tos: Vec::new(),
        }
    }

    fn names(e: &BTreeMap<i64, LevelSet>, id: i64) -> Vec<&'static str> {
        e.get(&id).map(|s| s.names()).unwrap_or_default()
    }

    #[test]
    fn levels_expand_and_sort_alphabetically() {
        let expect: [(Level, &[&str]); 4] = [
            (Level::Admin, &["admin", "edit", "manage", "view"]),
            (Level::Manage, &["edit", "manage", "view"]),
            (Level::Edit, &["edit", "view"]),
            (Level::View, &["view"]),
        ];
        for (level, names) in expect {
            assert_eq!(LevelSet::expanded(level).names(), names);
            assert_eq!(LevelSet::expanded(level).max(), Some(level));
            assert_eq!(Level::parse(level.as_str()), Some(level));
        }
        assert_eq!(Level::parse("owner"), None);
        assert_eq!([Level::View, Level::Edit, Level::Manage, Level::Admin].map(Level::number), [1, 2, 3, 4]);
    }

    #[test]
    fn grants_merge_across_direct_and_group() {
        let i = user(vec![grant(1, Level::View, Via::Group), grant(1, Level::Edit, Via::Direct)], vec![ds(1, "a")]);
        let e = effective(&i, None, now());
        assert_eq!(names(&e.tos, 1), ["edit", "view"]);
        assert_eq!(e.tos.get(&1).unwrap().max(), Some(Level::Edit));
    }

    #[test]
    fn read_only_strips_edit_only() {
        let mut i = user(
            vec![
                grant(1, Level::Manage, Via::Direct),
                grant(2, Level::Edit, Via::Direct),
                grant(3, Level::Admin, Via::Group),
            ],
            vec![ds(1, "a"), ds(2, "b"), ds(3, "c")],
        );
        i.subject = Subject::User { admin: false, read_only: true };
        let e = effective(&i, None, now());
        assert_eq!(names(&e.tos, 1), ["manage", "view"]);
        assert_eq!(names(&e.tos, 2), ["view"]);
        assert_eq!(names(&e.tos, 3), ["admin", "manage", "view"]);
        assert_eq!(names(&e.ignore_tos, 1), ["manage", "view"]);
    }

    #[test]
    fn version_scoped_grants_count_for_the_dataset() {
        let mut g = grant(1, Level::Edit, Via::Direct);
        g.version_id = Some(9);
        let e = effective(&user(vec![g], vec![ds(1, "a")]), None, now());
        assert_eq!(names(&e.tos, 1), ["edit", "view"]);
    }

    #[test]
    fn general_tos_hides_until_accepted_and_is_listed_missing() {
        let mut d = ds(2, "tos-ds");
        d.general_tos = Some(tos(1, "Dataset TOS"));
        let mut i = user(vec![grant(2, Level::View, Via::Direct)], vec![d]);
        let e = effective(&i, None, now());
        assert!(e.tos.is_empty());
        assert_eq!(names(&e.ignore_tos, 2), ["view"]);
        assert_eq!(e.missing_tos.len(), 1);
        assert_eq!((e.missing_tos[0].tos.id, e.missing_tos[0].service.as_deref()), (1, None));
        i.accepted_tos.insert(1);
        let e = effective(&i, None, now());
        assert_eq!(names(&e.tos, 2), ["view"]);
        assert!(e.missing_tos.is_empty());
    }

    #[test]
    fn service_tos_applies_only_when_active_and_asked() {
        let doc = |id, service: &str, from: &str, until: Option<&str>| ServiceTos {
            dataset_id: 3,
            service: service.into(),
            tos: tos(id, "Service TOS"),
            effective_at: from.parse().unwrap(),
            retired_at: until.map(|u| u.parse().unwrap()),
        };
        let mut i = user(vec![grant(3, Level::View, Via::Direct)], vec![ds(3, "svc-ds")]);
        i.service_tos = vec![
            doc(4, "celltyping", "2026-01-01T00:00:00Z", None),
            doc(2, "celltyping", "2026-01-01T00:00:00Z", None),
            doc(5, "celltyping", "2027-01-01T00:00:00Z", None),
            doc(6, "celltyping", "2025-01-01T00:00:00Z", Some("2026-01-01T00:00:00Z")),
            doc(7, "neuprint", "2026-01-01T00:00:00Z", None),
        ];
        let plain = effective(&i, None, now());
        assert_eq!(names(&plain.tos, 3), ["view"]);
        assert!(plain.missing_tos.is_empty());
        let through = effective(&i, Some("celltyping"), now());
        assert!(through.tos.is_empty());
        assert_eq!(names(&through.ignore_tos, 3), ["view"]);
        let ids: Vec<_> = through.missing_tos.iter().map(|m| m.tos.id).collect();
        assert_eq!(ids, [2, 4], "active ones only, by id");
        assert!(through.missing_tos.iter().all(|m| m.service.as_deref() == Some("celltyping")));
        i.accepted_tos.extend([2, 4]);
        assert_eq!(names(&effective(&i, Some("celltyping"), now()).tos, 3), ["view"]);
        assert_eq!(names(&effective(&i, Some("unknown"), now()).tos, 3), ["view"]);
    }

    #[test]
    fn public_datasets_give_users_an_implicit_view() {
        let mut p = ds(5, "open");
        p.public = true;
        p.general_tos = Some(tos(8, "Open TOS"));
        let mut q = ds(6, "open-no-tos");
        q.public = true;
        let i = user(vec![], vec![p.clone(), q.clone()]);
        let e = effective(&i, None, now());
        assert_eq!(names(&e.ignore_tos, 5), ["view"]);
        assert!(!e.tos.contains_key(&5), "TOS still applies");
        assert_eq!(names(&e.tos, 6), ["view"]);
        assert_eq!(e.missing_tos.iter().map(|m| m.dataset_id).collect::<Vec<_>>(), [5], "listed without a grant");
        let mut sa = user(vec![], vec![p, q]);
        sa.subject = Subject::ServiceAccount;
        assert_eq!(effective(&sa, None, now()), Effective::default(), "service accounts get no implicit view");
    }

    #[test]
    fn service_accounts_ignore_tos_and_services() {
        let mut d = ds(1, "a");
        d.general_tos = Some(tos(1, "T"));
        let mut i = user(vec![grant(1, Level::Manage, Via::Direct)], vec![d]);
        i.subject = Subject::ServiceAccount;
        i.service_tos = vec![ServiceTos {
            dataset_id: 1,
            service: "s".into(),
            tos: tos(2, "S"),
            effective_at: "2020-01-01T00:00:00Z".parse().unwrap(),
            retired_at: None,
        }];
        let e = effective(&i, Some("s"), now());
        assert_eq!(names(&e.tos, 1), ["edit", "manage", "view"]);
        assert_eq!(e.tos, e.ignore_tos);
        assert!(e.missing_tos.is_empty());
        i.grants.push(grant(1, Level::Admin, Via::Direct));
        assert!(i.datasets_admin().is_empty());
    }

    #[test]
    fn ordering_is_by_dataset_id_and_missing_general_before_service() {
        let mut a = ds(2, "a-second");
        a.general_tos = Some(tos(10, "G2"));
        let mut b = ds(1, "z-first");
        b.general_tos = Some(tos(11, "G1"));
        let mut i = user(vec![grant(2, Level::View, Via::Direct), grant(1, Level::View, Via::Direct)], vec![a, b]);
        i.service_tos = vec![ServiceTos {
            dataset_id: 1,
            service: "s".into(),
            tos: tos(3, "S"),
            effective_at: "2020-01-01T00:00:00Z".parse().unwrap(),
            retired_at: None,
        }];
        let e = effective(&i, Some("s"), now());
        assert_eq!(e.ignore_tos.keys().copied().collect::<Vec<_>>(), [1, 2]);
        let order: Vec<_> = e.missing_tos.iter().map(|m| (m.dataset_id, m.tos.id, m.service.is_some())).collect();
        assert_eq!(order, [(1, 11, false), (2, 10, false), (1, 3, true)]);
    }

    #[test]
    fn datasets_admin_needs_a_direct_admin_grant() {
        let mut scoped = grant(3, Level::Admin, Via::Direct);
        scoped.version_id = Some(1);
        let i = user(
            vec![grant(1, Level::Admin, Via::Group), grant(2, Level::Manage, Via::Direct), scoped],
            vec![ds(1, "a"), ds(2, "b"), ds(3, "c")],
        );
        assert_eq!(i.datasets_admin(), [3]);
    }

    fn ask<'a>(d: &'a DatasetRef, level: Level) -> AccessQuery<'a> {
        AccessQuery { dataset: d, version: None, version_tos: &[], level, service: None }
    }

    #[test]
    fn check_access_applies_the_hierarchy_and_read_only() {
        let d = ds(1, "a");
        let mut i = user(vec![grant(1, Level::Manage, Via::Direct)], vec![d.clone()]);
        assert_eq!(check_access(&i, &ask(&d, Level::View), now()), Decision::Allowed("direct_grant"));
        assert_eq!(check_access(&i, &ask(&d, Level::Edit), now()), Decision::Allowed("direct_grant"));
        assert_eq!(check_access(&i, &ask(&d, Level::Admin), now()), Decision::Denied);
        i.subject = Subject::User { admin: false, read_only: true };
        assert_eq!(check_access(&i, &ask(&d, Level::Edit), now()), Decision::Denied);
        assert_eq!(check_access(&i, &ask(&d, Level::Manage), now()), Decision::Allowed("direct_grant"));
    }

    #[test]
    fn check_access_rows_in_order() {
        let mut d = ds(1, "a");
        d.general_tos = Some(tos(1, "Terms v1"));
        // Admin and dataset admin win before any TOS.
        let mut i = user(vec![grant(1, Level::Admin, Via::Direct)], vec![d.clone()]);
        assert_eq!(check_access(&i, &ask(&d, Level::Admin), now()), Decision::Allowed("dataset_admin"));
        i.subject = Subject::User { admin: true, read_only: false };
        assert_eq!(check_access(&i, &ask(&d, Level::Admin), now()), Decision::Allowed("admin"));
        // No access at all: no_permission, not tos_required (DSG defect fixed).
        let none = user(vec![], vec![d.clone()]);
        assert_eq!(check_access(&none, &ask(&d, Level::View), now()), Decision::Denied);
        // Qualifies, general TOS unaccepted.
        let mut g = user(vec![grant(1, Level::Edit, Via::Group), grant(1, Level::View, Via::Direct)], vec![d.clone()]);
        let tos_required = Decision::TosRequired { tos: tos(1, "Terms v1"), service: None };
        assert_eq!(check_access(&g, &ask(&d, Level::View), now()), tos_required);
        g.accepted_tos.insert(1);
        // Version TOS, then service TOS.
        let version_tos = [tos(7, "Version TOS")];
        let mut q = ask(&d, Level::View);
        q.version = Some(Some(3));
        q.version_tos = &version_tos;
        assert_eq!(check_access(&g, &q, now()), Decision::TosRequired { tos: tos(7, "Version TOS"), service: None });
        g.service_tos = vec![ServiceTos {
            dataset_id: 1,
            service: "celltyping".into(),
            tos: tos(2, "Service TOS"),
            effective_at: "2020-01-01T00:00:00Z".parse().unwrap(),
            retired_at: None,
        }];
        let mut q = ask(&d, Level::View);
        q.service = Some("celltyping");
        assert_eq!(
            check_access(&g, &q, now()),
            Decision::TosRequired { tos: tos(2, "Service TOS"), service: Some("celltyping".into()) }
        );
        // Group before direct.
        assert_eq!(check_access(&g, &ask(&d, Level::View), now()), Decision::Allowed("group_permission"));
        assert_eq!(check_access(&g, &ask(&d, Level::Edit), now()), Decision::Allowed("group_permission"));
        let direct = GrantInput { via: Via::Direct, ..grant(1, Level::Manage, Via::Direct) };
        g.grants.push(direct);
        assert_eq!(check_access(&g, &ask(&d, Level::Manage), now()), Decision::Allowed("direct_grant"));
    }

    #[test]
    fn check_access_public_and_versions_and_service_accounts() {
        let mut p = ds(1, "open");
        p.public = true;
        let i = user(vec![], vec![p.clone()]);
        assert_eq!(check_access(&i, &ask(&p, Level::View), now()), Decision::Allowed("public"));
        assert_eq!(check_access(&i, &ask(&p, Level::Edit), now()), Decision::Denied);
        let d = ds(2, "v");
        let mut scoped = grant(2, Level::Edit, Via::Direct);
        scoped.version_id = Some(5);
        let i = user(vec![scoped], vec![d.clone()]);
        let at = |v: Option<Option<i64>>| {
            let mut q = ask(&d, Level::Edit);
            q.version = v;
            check_access(&i, &q, now())
        };
        assert_eq!(at(Some(Some(5))), Decision::Allowed("direct_grant"));
        assert_eq!(at(Some(Some(6))), Decision::Denied);
        assert_eq!(at(Some(None)), Decision::Denied, "an unknown version matches dataset-wide grants only");
        let mut sa = user(vec![grant(2, Level::Edit, Via::Direct)], vec![d.clone(), p.clone()]);
        sa.subject = Subject::ServiceAccount;
        assert_eq!(check_access(&sa, &ask(&d, Level::View), now()), Decision::Allowed("service_account_grant"));
        assert_eq!(check_access(&sa, &ask(&d, Level::Manage), now()), Decision::Denied);
        assert_eq!(check_access(&sa, &ask(&p, Level::View), now()), Decision::Denied);
    }
}
