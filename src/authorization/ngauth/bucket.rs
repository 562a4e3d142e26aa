//! Who may read a bucket through `/gcs_token` (spec §3.6 step 4): decided from
//! Steward's own grants and TOS acceptances on the datasets that list the
//! bucket, never from the bucket's IAM policy (DSG `2ba1e5a` read IAM, and its
//! `/activate` wrote it). The loading is one query; the rule is a pure
//! function over it and the user's cached permission inputs.

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Int8, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use crate::dataset::permissions::{Inputs, Subject};

/// A dataset that lists the bucket, with the versions that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The dataset's id.
    pub dataset_id: i64,
    /// Its name (only ever shown to users it covers).
    pub name: String,
    /// `access_mode = public`.
    pub public: bool,
    /// Its general TOS document.
    pub general_tos: Option<i64>,
    /// Versions of it whose bucket set holds the bucket.
    pub versions: Vec<CandidateVersion>,
}

/// A version using the bucket, with its own TOS documents (no service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateVersion {
    /// The version's id.
    pub id: i64,
    /// Its name (`version=` of the TOS URL).
    pub name: String,
    /// Version-scoped TOS documents in force (a retired one cannot be accepted).
    pub tos: Vec<i64>,
}

/// Why a token is issued: the `reason` of the decision log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    /// Global admin (no TOS needed, as in check-access).
    Admin,
    /// A grant covers the bucket and its TOS are accepted.
    Covered,
    /// A public dataset (implicit `view`) with its TOS accepted.
    Public,
}

impl Issue {
    /// The log's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Issue::Admin => "admin",
            Issue::Covered => "covered",
            Issue::Public => "public",
        }
    }
}

/// The authorisation answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mint a token.
    Issue(Issue),
    /// Covered, but a TOS is unaccepted: the user is told where to accept it.
    TosRequired {
        /// The dataset's name.
        dataset: String,
        /// The version, when the coverage is through a version-scoped grant.
        version: Option<String>,
    },
    /// No dataset lists the bucket.
    UnknownBucket,
    /// Listed, but nothing covers this user (the body never names the dataset).
    NoCoverage,
}

/// The rule of spec §3.6 step 4 over the user's permission inputs.
pub fn decide(inputs: &Inputs, candidates: &[Candidate]) -> Decision {
    if candidates.is_empty() {
        return Decision::UnknownBucket;
    }
    if matches!(inputs.subject, Subject::User { admin: true, .. }) {
        return Decision::Issue(Issue::Admin);
    }
    if matches!(inputs.subject, Subject::ServiceAccount) {
        // ngauth tokens are minted for users only; refuse rather than guess.
        return Decision::NoCoverage;
    }
    let accepted = |tos: &i64| inputs.accepted_tos.contains(tos);
    let mut missing: Option<Decision> = None;
    for d in candidates {
        let general_ok = d.general_tos.as_ref().is_none_or(accepted);
        let grants = || inputs.grants.iter().filter(|g| g.dataset_id == d.dataset_id);
        // Dataset-wide coverage: a grant without version scope (when the bucket
        // is on no version, only such grants count), or the public `view`.
        let wide_grant = grants().any(|g| g.version_id.is_none());
        if wide_grant || d.public {
            if general_ok {
                return Decision::Issue(if wide_grant { Issue::Covered } else { Issue::Public });
            }
            missing.get_or_insert(Decision::TosRequired { dataset: d.name.clone(), version: None });
            continue;
        }
        // Coverage through a grant scoped to a version that uses the bucket.
        let covered_versions = d.versions.iter().filter(|v| grants().any(|g| g.version_id == Some(v.id)));
        for v in covered_versions {
            if general_ok && v.tos.iter().all(accepted) {
                return Decision::Issue(Issue::Covered);
            }
            missing.get_or_insert(Decision::TosRequired { dataset: d.name.clone(), version: Some(v.name.clone()) });
        }
    }
    missing.unwrap_or(Decision::NoCoverage)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Bool)]
    stands: bool,
    #[diesel(sql_type = Nullable<Int8>)]
    dataset_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    public: Option<bool>,
    #[diesel(sql_type = Nullable<Int8>)]
    general_tos: Option<i64>,
    #[diesel(sql_type = Nullable<Int8>)]
    version_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    version_name: Option<String>,
    #[diesel(sql_type = Nullable<Array<Int8>>)]
    version_tos: Option<Vec<i64>>,
}

/// The login token an ngauth token was minted from, as `/gcs_token` checks it.
#[derive(Debug, Clone, Copy)]
pub struct Credential {
    pub id: i64,
    pub user_id: i64,
}

/// The datasets listing `bucket`, each with the versions using it, by id;
/// `None` when `credential` no longer stands (revoked, expired, or its user
/// disabled). One statement for both, as `/gcs_token` asks on every call:
/// the credential's row always comes back, the candidates joined to it.
pub async fn candidates(
    conn: &mut AsyncPgConnection,
    credential: Credential,
    bucket: &str,
) -> diesel::QueryResult<Option<Vec<Candidate>>> {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT s.stands, c.* FROM \
           (SELECT EXISTS (SELECT 1 FROM api_tokens t JOIN users u ON u.id = t.user_id \
                           WHERE t.id = $1 AND t.user_id = $2 AND t.revoked_at IS NULL \
                           AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active) AS stands) s \
         LEFT JOIN ( \
           SELECT d.id AS dataset_id, d.name, d.access_mode = 'public' AS public, \
                  d.tos_document_id AS general_tos, v.id AS version_id, v.version AS version_name, \
                  COALESCE((SELECT array_agg(t.id ORDER BY t.id) FROM tos_documents t \
                            WHERE t.dataset_version_id = v.id AND t.service_id IS NULL \
                            AND t.effective_at <= now() \
                            AND (t.retired_at IS NULL OR t.retired_at > now())), '{}') AS version_tos \
           FROM dataset_buckets b \
           JOIN datasets d ON d.id = b.dataset_id \
           LEFT JOIN dataset_version_buckets vb ON vb.bucket_id = b.id \
           LEFT JOIN dataset_versions v ON v.id = vb.version_id \
           WHERE b.name = $3) c ON s.stands \
         ORDER BY c.dataset_id, c.version_id",
    )
    .bind::<Int8, _>(credential.id)
    .bind::<Int8, _>(credential.user_id)
    .bind::<Text, _>(bucket)
    .load(conn)
    .await?;
    if !rows.as_slice().first().is_some_and(|r| r.stands) {
        return Ok(None);
    }
    let mut out: Vec<Candidate> = Vec::new();
    for row in rows {
        let (Some(dataset_id), Some(name), Some(public)) = (row.dataset_id, row.name, row.public) else {
            continue; // the bucket is listed by no dataset
        };
        if out.last().is_none_or(|c| c.dataset_id != dataset_id) {
            out.push(Candidate { dataset_id, name, public, general_tos: row.general_tos, versions: Vec::new() });
        }
        if let (Some(id), Some(name), Some(last)) = (row.version_id, row.version_name, out.last_mut()) {
            last.versions.push(CandidateVersion { id, name, tos: row.version_tos.unwrap_or_default() });
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::dataset::permissions::{GrantInput, Level, Via};

    fn user(grants: Vec<GrantInput>, accepted: &[i64]) -> Inputs {
        Inputs {
            subject: Subject::User { admin: false, read_only: false },
            grants,
            datasets: BTreeMap::new(),
            accepted_tos: accepted.iter().copied().collect::<BTreeSet<_>>(),
            service_tos: Vec::new(),
        }
    }

    fn grant(dataset_id: i64, version_id: Option<i64>, via: Via) -> GrantInput {
        GrantInput { dataset_id, version_id, level: Level::View, via }
    }

    fn dataset(id: i64, public: bool, general_tos: Option<i64>, versions: Vec<CandidateVersion>) -> Candidate {
        Candidate { dataset_id: id, name: format!("d{id}"), public, general_tos, versions }
    }

    fn version(id: i64, tos: &[i64]) -> CandidateVersion {
        CandidateVersion { id, name: format!("v{id}"), tos: tos.to_vec() }
    }

    #[test]
    fn unknown_buckets_and_admins() {
        assert_eq!(decide(&user(vec![], &[]), &[]), Decision::UnknownBucket);
        let mut admin = user(vec![], &[]);
        admin.subject = Subject::User { admin: true, read_only: false };
        assert_eq!(decide(&admin, &[dataset(1, false, Some(5), vec![])]), Decision::Issue(Issue::Admin));
        assert_eq!(decide(&admin, &[]), Decision::UnknownBucket);
    }

    #[test]
    fn dataset_wide_grants_direct_or_group_cover_after_the_general_tos() {
        let d = [dataset(1, false, Some(5), vec![version(10, &[])])];
        for via in [Via::Direct, Via::Group] {
            let tos_missing = Decision::TosRequired { dataset: "d1".into(), version: None };
            assert_eq!(decide(&user(vec![grant(1, None, via)], &[]), &d), tos_missing);
            assert_eq!(decide(&user(vec![grant(1, None, via)], &[5]), &d), Decision::Issue(Issue::Covered));
        }
        assert_eq!(decide(&user(vec![grant(2, None, Via::Direct)], &[5]), &d), Decision::NoCoverage);
    }

    #[test]
    fn version_grants_cover_only_versions_using_the_bucket_and_need_their_tos() {
        let d = [dataset(1, false, None, vec![version(10, &[7]), version(11, &[])])];
        assert_eq!(
            decide(&user(vec![grant(1, Some(10), Via::Direct)], &[]), &d),
            Decision::TosRequired { dataset: "d1".into(), version: Some("v10".into()) }
        );
        assert_eq!(decide(&user(vec![grant(1, Some(10), Via::Direct)], &[7]), &d), Decision::Issue(Issue::Covered));
        assert_eq!(decide(&user(vec![grant(1, Some(11), Via::Group)], &[]), &d), Decision::Issue(Issue::Covered));
        // A grant on a version that does not use the bucket covers nothing.
        assert_eq!(decide(&user(vec![grant(1, Some(12), Via::Direct)], &[7]), &d), Decision::NoCoverage);
        // Without any version using the bucket, only dataset-wide grants count.
        let bare = [dataset(1, false, None, vec![])];
        assert_eq!(decide(&user(vec![grant(1, Some(10), Via::Direct)], &[]), &bare), Decision::NoCoverage);
    }

    #[test]
    fn public_datasets_cover_everyone_after_their_tos_and_public_versions_do_not() {
        let public = [dataset(1, true, None, vec![])];
        assert_eq!(decide(&user(vec![], &[]), &public), Decision::Issue(Issue::Public));
        let with_tos = [dataset(1, true, Some(5), vec![])];
        assert_eq!(
            decide(&user(vec![], &[]), &with_tos),
            Decision::TosRequired { dataset: "d1".into(), version: None }
        );
        assert_eq!(decide(&user(vec![], &[5]), &with_tos), Decision::Issue(Issue::Public));
        // A closed dataset (whatever its versions' is_public) gives nothing.
        assert_eq!(
            decide(&user(vec![], &[]), &[dataset(1, false, None, vec![version(10, &[])])]),
            Decision::NoCoverage
        );
    }

    #[test]
    fn any_satisfied_dataset_wins_over_one_missing_its_tos() {
        let d = [dataset(1, false, Some(5), vec![]), dataset(2, false, None, vec![])];
        let grants = vec![grant(1, None, Via::Direct), grant(2, None, Via::Direct)];
        assert_eq!(decide(&user(grants, &[]), &d), Decision::Issue(Issue::Covered));
    }
}
