//! The secret-share rules (spec secretshare.md §2.3–§2.6): who may do what,
//! and each operation's checks in the spec's order, over `store` inside the
//! transactions that make them hold across replicas of one party.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{DateTime, SubsecRound as _, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use ring::hmac;
use tokio::sync::OnceCell;

use super::caller::ShareCaller;
use super::config::{Party, SecretShareConfig};
use super::endpoint::{Encoding, EndpointConfig, RawEndpoint};
use super::error::{LISTED_IDS, Result, ShareError};
use super::field::{self, Aggregate, SubmissionId};
use super::intake::Intake;
use super::store::{self, BatchRow, EndpointRow, State};
use crate::auth::{PrincipalKind, Resolver};
use crate::crypto::Keyring;
use crate::dataset::audit::{self, Actor};
use crate::dataset::permissions::{self, Level};
use crate::db::{Pool, PooledConn};

/// The sealed secret keying contributor pseudonyms.
const PARTY_SECRET: &str = "secretshare_party";

/// One party: its configuration and what its rules need.
#[derive(Clone)]
pub struct SecretShare {
    pool: Pool,
    keyring: Arc<Keyring>,
    resolver: Arc<Resolver>,
    pub settings: SecretShareConfig,
    /// The party secret's HMAC key, loaded (or made) on first use.
    pseudonyms: Arc<OnceCell<hmac::Key>>,
    /// Active endpoints as last read, for SubmitShare (endpoints never change
    /// but for archiving, which the storing statement checks itself).
    active_endpoints: Arc<RwLock<HashMap<String, Endpoint>>>,
    /// SubmitShare's batched storing, started on first use.
    intake: Arc<OnceLock<Intake>>,
}

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretShare").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// A stored endpoint with its configuration read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub config: EndpointConfig,
    pub row: EndpointRow,
}

impl Endpoint {
    fn from_row(row: EndpointRow) -> Result<Self> {
        let encoding = Encoding::parse(&row.encoding).ok_or_else(|| {
            ShareError::Internal(anyhow::anyhow!("endpoint {} has encoding {}", row.name, row.encoding))
        })?;
        let number = |v: i32| u32::try_from(v).map_err(|_| ShareError::Internal(anyhow::anyhow!("negative column")));
        let config = EndpointConfig {
            name: row.name.clone(),
            vector_length: number(row.vector_length)?,
            encoding,
            decimal_scale: number(row.decimal_scale)?,
            min_value: row.min_value,
            max_value: row.max_value,
            min_batch_size: number(row.min_batch_size)?,
            max_submissions_per_contributor: number(row.max_submissions_per_contributor)?,
        };
        Ok(Self { config, row })
    }

    pub fn archived(&self) -> bool {
        self.row.archived_at.is_some()
    }
}

/// One share of one submission, as received.
#[derive(Debug, Clone)]
pub struct Submission {
    pub endpoint: String,
    pub id: String,
    /// `None` only on the legacy route, where it is optional.
    pub party_index: Option<u32>,
    /// Empty only on the legacy route, where it is optional.
    pub config_digest: String,
    pub share: Vec<u64>,
    /// The share's field name in errors (`share`, or the legacy `data`).
    pub share_field: &'static str,
}

/// What a stored submission answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: SubmissionId,
    pub received_at: DateTime<Utc>,
    pub duplicate: bool,
}

/// A sealed batch and whether it was sealed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub batch: BatchRow,
    pub already_sealed: bool,
}

/// What a dataset-bound endpoint's caller needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// List pending ids and seal: `edit`.
    Seal,
    /// Read batches: `view`.
    Read,
}

impl SecretShare {
    pub fn new(pool: Pool, keyring: Arc<Keyring>, resolver: Arc<Resolver>, settings: SecretShareConfig) -> Self {
        Self {
            pool,
            keyring,
            resolver,
            settings,
            pseudonyms: Arc::new(OnceCell::new()),
            active_endpoints: Arc::default(),
            intake: Arc::default(),
        }
    }

    /// This party, or PARTY_NOT_CONFIGURED.
    pub fn party(&self) -> Result<&Party> {
        self.settings.party.as_ref().ok_or(ShareError::NotConfigured)
    }

    pub async fn conn(&self) -> Result<PooledConn> {
        Ok(self.pool.get().await?)
    }

    /// HMAC-SHA-256 of the caller's identity under the party secret.
    async fn contributor_key(&self, caller: &ShareCaller) -> Result<Vec<u8>> {
        let key = self
            .pseudonyms
            .get_or_try_init(|| async {
                let aad = store::sealed_secret_aad(PARTY_SECRET);
                let sealed = store::sealed_secret(&mut *self.conn().await?, PARTY_SECRET, || {
                    let mut secret = [0u8; 32];
                    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                        .expect("the system RNG works");
                    self.keyring.seal(&secret, &aad)
                })
                .await?;
                let secret = self.keyring.open(&sealed, &aad).map_err(|e| ShareError::Internal(e.into()))?;
                Ok::<_, ShareError>(hmac::Key::new(hmac::HMAC_SHA256, &secret))
            })
            .await?;
        Ok(hmac::sign(key, caller.identity.as_bytes()).as_ref().to_vec())
    }

    /// Whether `caller` holds `level` on dataset `dataset_id` through a grant.
    async fn dataset_level(&self, caller: &ShareCaller, dataset_id: i64, level: Level) -> Result<bool> {
        let Some(principal) = &caller.principal else {
            return Ok(false);
        };
        let snapshot = self.resolver.permissions().snapshot(&self.pool, principal.kind, principal.id).await?;
        // Like donated data, aggregates of a study need a real grant: a public
        // dataset's implicit `view` for everyone does not count.
        let levels = permissions::effective(&snapshot.inputs, None, Utc::now()).tos;
        let granted = snapshot.inputs.grants.iter().any(|g| g.dataset_id == dataset_id);
        Ok(granted && levels.get(&dataset_id).is_some_and(|l| l.contains(level)))
    }

    /// Scientists (or, for a dataset-bound endpoint, the dataset's grants) and admins.
    async fn require_reader(&self, caller: &ShareCaller, endpoint: &Endpoint, need: Need) -> Result<()> {
        if caller.admin {
            return Ok(());
        }
        let (level, what) = match need {
            Need::Seal => (Level::Edit, "list pending submissions and seal batches"),
            Need::Read => (Level::View, "read batches"),
        };
        let what = what.to_owned();
        let allowed = match endpoint.row.dataset_id {
            None => caller.scientist,
            Some(dataset) => self.dataset_level(caller, dataset, level).await?,
        };
        if allowed {
            return Ok(());
        }
        Err(ShareError::PermissionDenied(match &endpoint.row.dataset {
            None => format!("only scientists may {what} (permission get:eta-data or the 'scientist' group)"),
            Some(dataset) => {
                format!("this endpoint belongs to dataset '{dataset}': to {what} you need {} on it", level.as_str())
            }
        }))
    }

    /// The endpoint, or NOT_FOUND.
    pub async fn endpoint(&self, conn: &mut AsyncPgConnection, name: &str) -> Result<Endpoint> {
        let row = store::endpoint(conn, name)
            .await?
            .ok_or_else(|| ShareError::NotFound(format!("no endpoint '{}' on this party", shown(name))))?;
        Endpoint::from_row(row)
    }

    /// CreateEndpoint (§2.3): idempotent for an identical configuration;
    /// whether this call created it.
    pub async fn create_endpoint(
        &self,
        caller: &ShareCaller,
        raw: RawEndpoint,
        dataset: &str,
    ) -> Result<(Endpoint, bool)> {
        let party = self.party()?;
        if !caller.developer {
            return Err(ShareError::PermissionDenied(
                "only developers may create endpoints (permission create:endpoint or the 'developer' group)".into(),
            ));
        }
        let (config, description) =
            raw.validate(&self.settings).map_err(|e| ShareError::invalid(e.field, e.message))?;
        let mut conn = self.conn().await?;
        let dataset_id = match dataset {
            "" => None,
            name => {
                let id = store::dataset_id(&mut conn, name)
                    .await?
                    .ok_or_else(|| ShareError::invalid("dataset", format!("no dataset '{}'", shown(name))))?;
                if !caller.admin && !self.dataset_level(caller, id, Level::Manage).await? {
                    return Err(ShareError::PermissionDenied(format!(
                        "binding an endpoint to dataset '{name}' needs manage on it"
                    )));
                }
                Some(id)
            }
        };
        let digest = config.digest(party.count);
        let new = store::NewEndpoint {
            name: &config.name,
            description: &description,
            vector_length: config.vector_length as i32,
            encoding: config.encoding.as_str(),
            decimal_scale: config.decimal_scale as i32,
            min_value: config.min_value,
            max_value: config.max_value,
            min_batch_size: config.min_batch_size as i32,
            max_submissions_per_contributor: config.max_submissions_per_contributor as i32,
            dataset_id,
            config_digest: &digest,
            creator: &caller.display,
        };
        let actor = actor(caller);
        let created = conn
            .transaction(async |conn| {
                let created = store::insert_endpoint(conn, &new).await?;
                if created {
                    let after =
                        serde_json::json!({"config_digest": digest, "dataset_id": dataset_id, "by": caller.display});
                    audit::record(
                        conn,
                        actor,
                        "secretshare_endpoint_created",
                        "secretshare_endpoint",
                        &config.name,
                        None,
                        Some(after),
                    )
                    .await?;
                }
                Ok::<_, ShareError>(created)
            })
            .await?;
        let existing = self.endpoint(&mut conn, &config.name).await?;
        if !created && (existing.row.config_digest != digest || existing.row.dataset_id != dataset_id) {
            return Err(ShareError::AlreadyExists {
                reason: "ENDPOINT_EXISTS",
                message: format!(
                    "endpoint '{}' exists with another configuration (digest {}); endpoints never change: create one with a new name",
                    config.name, existing.row.config_digest
                ),
            });
        }
        Ok((existing, created))
    }

    /// GetEndpoint: any authenticated caller.
    pub async fn get_endpoint(&self, name: &str) -> Result<Endpoint> {
        self.party()?;
        self.endpoint(&mut *self.conn().await?, name).await
    }

    /// ListEndpoints: by name after `after`.
    pub async fn list_endpoints(&self, after: &str, limit: i64, include_archived: bool) -> Result<Vec<Endpoint>> {
        self.party()?;
        let rows = store::endpoints(&mut *self.conn().await?, after, limit, include_archived).await?;
        rows.into_iter().map(Endpoint::from_row).collect()
    }

    /// ArchiveEndpoint: admin, `admin:tasks`, or `admin` on the endpoint's dataset.
    pub async fn archive_endpoint(&self, caller: &ShareCaller, name: &str) -> Result<Endpoint> {
        self.party()?;
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, name).await?;
        let allowed = caller.archiver
            || match endpoint.row.dataset_id {
                Some(dataset) => self.dataset_level(caller, dataset, Level::Admin).await?,
                None => false,
            };
        if !allowed {
            return Err(ShareError::PermissionDenied(
                "only admins may archive endpoints (permission admin:tasks, or admin on the endpoint's dataset)".into(),
            ));
        }
        let actor = actor(caller);
        conn.transaction(async |conn| {
            store::archive(conn, name).await?;
            let after = serde_json::json!({"by": caller.display});
            audit::record(
                conn,
                actor,
                "secretshare_endpoint_archived",
                "secretshare_endpoint",
                name,
                None,
                Some(after),
            )
            .await?;
            Ok::<_, ShareError>(())
        })
        .await?;
        self.endpoint(&mut conn, name).await
    }

    /// SubmitShare (§2.4), its checks in the spec's order.
    ///
    /// The fast path stores the submission through the intake (batched with
    /// concurrent ones) if the endpoint is active, the id is new and (under
    /// the contributor's lock) the limit allows it; no connection is held
    /// meanwhile. Only when it stores nothing are the causes looked up, in the
    /// spec's order. The endpoint's immutable configuration comes from a cache
    /// of active endpoints; archiving needs no invalidation, since storing
    /// itself refuses an archived endpoint (and any refusal of checks 3-5 is
    /// made again against a fresh read, so ENDPOINT_ARCHIVED keeps coming
    /// first).
    pub async fn submit(&self, caller: &ShareCaller, submission: Submission) -> Result<Received> {
        let party = self.party()?.clone();
        if !caller.contributor {
            return Err(ShareError::PermissionDenied(
                "only contributors may submit (permission post:eta-data or the 'contributor' group)".into(),
            ));
        }
        let cached = self.active_endpoints.read().expect("endpoint cache").get(&submission.endpoint).cloned();
        let (endpoint, id) = match cached.map(|e| check_submission(&party, &e, &submission).map(|id| (e, id))) {
            Some(Ok(checked)) => checked,
            // Not cached, or refused: refusals are rare, answer them from a fresh read.
            _ => self.fresh_submission_endpoint(&mut *self.conn().await?, &party, &submission).await?,
        };
        let share = field::share_bytes(&submission.share);
        let contributor = self.contributor_key(caller).await?;
        let limit = endpoint.config.max_submissions_per_contributor;
        let name = endpoint.config.name.as_str();
        let new = store::NewSubmission {
            endpoint: name.to_owned(),
            submission_id: id.0.to_vec(),
            share_sha256: field::share_digest(&share),
            share,
            limit: i64::from(limit),
            // One contributor's submissions to an endpoint are counted one at a time.
            lock: if limit > 0 { contributor_lock(name, &contributor) } else { 0 },
            contributor_key: contributor,
        };
        let intake = self.intake.get_or_init(|| Intake::start(self.pool.clone()));
        match intake.store(new.clone()).await? {
            Some(received_at) => Ok(Received { id, received_at, duplicate: false }),
            None => self.refused_submission(&mut *self.conn().await?, &new, id, limit).await,
        }
    }

    /// The endpoint read afresh and checks 2-5 against it; caches it while active.
    async fn fresh_submission_endpoint(
        &self,
        conn: &mut AsyncPgConnection,
        party: &Party,
        submission: &Submission,
    ) -> Result<(Endpoint, SubmissionId)> {
        let endpoint = self.endpoint(conn, &submission.endpoint).await?;
        if endpoint.archived() {
            self.active_endpoints.write().expect("endpoint cache").remove(&endpoint.config.name);
            return Err(archived(&endpoint));
        }
        self.active_endpoints.write().expect("endpoint cache").insert(endpoint.config.name.clone(), endpoint.clone());
        let id = check_submission(party, &endpoint, submission)?;
        Ok((endpoint, id))
    }

    /// Why the checked insert stored nothing, in the spec's order: the
    /// endpoint was archived, the id is known (a retry, or reused), or the
    /// contributor reached the limit.
    async fn refused_submission(
        &self,
        conn: &mut AsyncPgConnection,
        new: &store::NewSubmission,
        id: SubmissionId,
        limit: u32,
    ) -> Result<Received> {
        let endpoint = self.endpoint(conn, &new.endpoint).await?;
        if endpoint.archived() {
            self.active_endpoints.write().expect("endpoint cache").remove(&new.endpoint);
            return Err(archived(&endpoint));
        }
        if let Some(known) = store::submission(conn, &new.endpoint, &new.submission_id).await? {
            return replay(id, &known, &new.contributor_key, &new.share_sha256);
        }
        if limit > 0 && store::contributions(conn, &new.endpoint, &new.contributor_key).await? >= i64::from(limit) {
            return Err(ShareError::AlreadyExists {
                reason: "CONTRIBUTION_LIMIT_REACHED",
                message: format!(
                    "you have made the {limit} submission(s) endpoint '{}' allows per contributor",
                    new.endpoint
                ),
            });
        }
        // A withdrawal or a concurrent request changed what the insert saw.
        Err(ShareError::Aborted("the submission changed while it was stored; retry".into()))
    }

    /// DeleteSubmission: the caller's own pending submission.
    pub async fn withdraw(&self, caller: &ShareCaller, endpoint: &str, id: &str) -> Result<()> {
        self.party()?;
        if !caller.contributor {
            return Err(ShareError::PermissionDenied(
                "only contributors may withdraw submissions (permission post:eta-data or the 'contributor' group)"
                    .into(),
            ));
        }
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, endpoint).await?;
        let id = SubmissionId::parse(id).map_err(|m| ShareError::invalid("submission_id", m))?;
        let contributor = self.contributor_key(caller).await?;
        let not_found =
            || ShareError::NotFound(format!("you have no submission {id} on endpoint '{}'", endpoint.config.name));
        let known = store::submission(&mut conn, &endpoint.config.name, &id.0).await?.ok_or_else(not_found)?;
        if known.contributor_key != contributor {
            return Err(not_found());
        }
        let sealed = || {
            ShareError::precondition(
                "SUBMISSION_SEALED",
                format!("submission {id} is sealed in a batch and can no longer be withdrawn"),
            )
        };
        match known.state {
            State::Sealed => Err(sealed()),
            // Withdrawing twice changes nothing.
            State::Withdrawn => Ok(()),
            State::Pending => {
                let name = &endpoint.config.name;
                // A withdrawal takes the share out in one transaction with the
                // mark; a seal that took it first wins.
                let withdrawn = conn.transaction(async |conn| store::withdraw(conn, name, &id.0).await).await?;
                if withdrawn { Ok(()) } else { Err(sealed()) }
            }
        }
    }

    /// ListPendingSubmissions: ids after receipt number `after`, and the pending total.
    pub async fn pending(
        &self,
        caller: &ShareCaller,
        endpoint: &str,
        after: i64,
        before: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<(Vec<(i64, SubmissionId)>, i64)> {
        self.party()?;
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, endpoint).await?;
        self.require_reader(caller, &endpoint, Need::Seal).await?;
        let rows = store::pending(&mut conn, &endpoint.config.name, after, before, limit).await?;
        let total = store::pending_count(&mut conn, &endpoint.config.name).await?;
        let ids = rows
            .into_iter()
            .map(|(seq, id)| SubmissionId::from_slice(&id).map(|id| (seq, id)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ShareError::Internal(anyhow::anyhow!("a stored submission id is not 16 bytes")))?;
        Ok((ids, total))
    }

    /// SealBatch (§2.5), in one transaction that locks the named submissions.
    pub async fn seal(
        &self,
        caller: &ShareCaller,
        endpoint: &str,
        ids: &[String],
        config_digest: &str,
        expected_digest: &str,
    ) -> Result<Sealed> {
        self.party()?;
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, endpoint).await?;
        self.require_reader(caller, &endpoint, Need::Seal).await?;
        if config_digest != endpoint.row.config_digest {
            return Err(ShareError::precondition(
                "CONFIG_MISMATCH",
                format!(
                    "config_digest does not match endpoint '{}' on this party ({})",
                    endpoint.config.name, endpoint.row.config_digest
                ),
            ));
        }
        if ids.is_empty() {
            return Err(ShareError::invalid("submission_ids", "name at least one submission id"));
        }
        let mut parsed = Vec::with_capacity(ids.len());
        let mut seen = HashSet::with_capacity(ids.len());
        for (i, text) in ids.iter().enumerate() {
            let id = SubmissionId::parse(text).map_err(|m| ShareError::invalid(format!("submission_ids[{i}]"), m))?;
            if !seen.insert(id) {
                return Err(ShareError::invalid(format!("submission_ids[{i}]"), format!("{id} is listed twice")));
            }
            parsed.push(id);
        }
        let name = endpoint.config.name.clone();
        let digest = field::batch_digest(&name, &parsed);
        if !expected_digest.is_empty() && !expected_digest.eq_ignore_ascii_case(&digest) {
            return Err(ShareError::Invalid {
                field: "expected_batch_digest".into(),
                message: format!("expected_batch_digest does not match: this party computes {digest} for these ids"),
                reason: Some("BATCH_DIGEST_MISMATCH"),
            });
        }
        let keys: Vec<Vec<u8>> = parsed.iter().map(|id| id.0.to_vec()).collect();
        let limit = endpoint.config.batch_limit(&self.settings);
        let (min, length) = (endpoint.config.min_batch_size, endpoint.config.vector_length as usize);
        let sealed_by = caller.display.clone();
        let actor = actor(caller);
        conn.transaction(async |conn| {
            // Seals of one endpoint run one at a time: each sees the others'
            // outcome whole, and overlapping sets cannot deadlock.
            store::lock_for_seal(conn, &name).await?;
            // The digest names the exact id set, so a batch under it is this set sealed before.
            if let Some(batch) = store::batch(conn, &name, &digest).await? {
                return Ok(Sealed { batch, already_sealed: true });
            }
            let taken = store::take_pending(conn, &name, &keys).await?;
            if taken.len() < keys.len() {
                // An error rolls the transaction back: nothing is taken.
                let pending: HashSet<&[u8]> = taken.iter().map(|t| t.submission_id.as_slice()).collect();
                let missing: Vec<Vec<u8>> =
                    keys.iter().filter(|k| !pending.contains(k.as_slice())).cloned().collect();
                let sealed: HashSet<Vec<u8>> = store::received(conn, &name, &missing).await?.into_iter().collect();
                let named = |ids: &mut dyn Iterator<Item = &Vec<u8>>| -> Vec<String> {
                    ids.filter_map(|k| SubmissionId::from_slice(k).map(|id| id.to_string())).collect()
                };
                let unknown = named(&mut missing.iter().filter(|k| !sealed.contains(*k)));
                if !unknown.is_empty() {
                    return Err(listed("UNKNOWN_SUBMISSION", "are not pending submissions of this party (unknown or withdrawn)", unknown));
                }
                let mut overlap: Vec<&Vec<u8>> = sealed.iter().collect();
                overlap.sort();
                return Err(listed("BATCH_OVERLAP", "are already sealed in another batch", named(&mut overlap.into_iter())));
            }
            let contributors = taken.iter().map(|t| t.contributor_key.as_slice()).collect::<HashSet<_>>().len();
            if taken.len() < min as usize || contributors < min as usize {
                return Err(ShareError::precondition(
                    "BATCH_TOO_SMALL",
                    format!(
                        "a batch needs at least {min} submissions from {min} distinct contributors; \
                         these {} come from {contributors}",
                        taken.len()
                    ),
                ));
            }
            if taken.len() as u64 > limit {
                return Err(ShareError::precondition(
                    "BATCH_TOO_LARGE",
                    format!("a batch of this endpoint holds at most {limit} submissions (its sum must decode exactly); this one has {}", taken.len()),
                ));
            }
            let mut aggregate = Aggregate::new(length);
            for submission in &taken {
                if submission.share.len() != length * 8 {
                    return Err(ShareError::Internal(anyhow::anyhow!("a pending share of the wrong length")));
                }
                aggregate.add_bytes(&submission.share);
            }
            let batch = BatchRow {
                endpoint: name.clone(),
                batch_digest: digest.clone(),
                submission_count: taken.len() as i64,
                contributor_count: contributors as i64,
                aggregate_share: field::share_bytes(&aggregate.finish()),
                // As PostgreSQL stores it, so a later read is identical.
                sealed_at: Utc::now().trunc_subsecs(6),
                sealed_by: sealed_by.clone(),
            };
            store::insert_batch(conn, &batch).await?;
            let after = serde_json::json!({
                "endpoint": name,
                "submission_count": batch.submission_count,
                "contributor_count": batch.contributor_count,
                "by": sealed_by,
            });
            audit::record(conn, actor, "secretshare_batch_sealed", "secretshare_batch", &digest, None, Some(after)).await?;
            Ok(Sealed { batch, already_sealed: false })
        })
        .await
    }

    /// GetBatch.
    pub async fn batch(&self, caller: &ShareCaller, endpoint: &str, digest: &str) -> Result<(Endpoint, BatchRow)> {
        self.party()?;
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, endpoint).await?;
        self.require_reader(caller, &endpoint, Need::Read).await?;
        let batch =
            store::batch(&mut conn, &endpoint.config.name, &digest.to_ascii_lowercase()).await?.ok_or_else(|| {
                ShareError::NotFound(format!("no batch {} of endpoint '{}'", shown(digest), endpoint.config.name))
            })?;
        Ok((endpoint, batch))
    }

    /// ListBatches: sealed after batch number `after`, oldest first.
    pub async fn batches(
        &self,
        caller: &ShareCaller,
        endpoint: &str,
        after: i64,
        limit: i64,
    ) -> Result<(Endpoint, Vec<(i64, BatchRow)>)> {
        self.party()?;
        let mut conn = self.conn().await?;
        let endpoint = self.endpoint(&mut conn, endpoint).await?;
        self.require_reader(caller, &endpoint, Need::Read).await?;
        let batches = store::batches(&mut conn, &endpoint.config.name, after, limit).await?;
        Ok((endpoint, batches))
    }
}

/// Checks 3-5 of SubmitShare (§2.4) against an active endpoint: the party,
/// the config digest, the id, the length and the elements.
fn check_submission(party: &Party, endpoint: &Endpoint, submission: &Submission) -> Result<SubmissionId> {
    if let Some(index) = submission.party_index
        && index != party.index
    {
        return Err(ShareError::precondition(
            "WRONG_PARTY",
            format!(
                "this share is for party {index}, but this is party {} of {}: nothing was stored",
                party.index, party.count
            ),
        ));
    }
    // Always given on the native RPC (grpc.rs requires it); optional on the legacy route.
    if !submission.config_digest.is_empty() && submission.config_digest != endpoint.row.config_digest {
        return Err(ShareError::precondition(
            "CONFIG_MISMATCH",
            format!(
                "config_digest does not match endpoint '{}' on this party ({}): check the endpoint on every party",
                endpoint.config.name, endpoint.row.config_digest
            ),
        ));
    }
    let id = SubmissionId::parse(&submission.id).map_err(|m| ShareError::invalid("submission_id", m))?;
    let length = endpoint.config.vector_length as usize;
    if submission.share.len() != length {
        return Err(ShareError::invalid(
            submission.share_field,
            format!("share has {} elements, endpoint expects {length}", submission.share.len()),
        ));
    }
    if let Err(message) = field::check_elements(&submission.share, submission.share_field) {
        let position = submission.share.iter().position(|&e| e >= field::P).unwrap_or_default();
        return Err(ShareError::invalid(format!("{}[{position}]", submission.share_field), message));
    }
    Ok(id)
}

fn archived(endpoint: &Endpoint) -> ShareError {
    ShareError::precondition(
        "ENDPOINT_ARCHIVED",
        format!("endpoint '{}' is archived and takes no new submissions", endpoint.config.name),
    )
}

/// The advisory lock key of one contributor on one endpoint: the first 8
/// bytes of SHA-256 over both (the contributor key is already an HMAC).
fn contributor_lock(endpoint: &str, contributor: &[u8]) -> i64 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"steward-secretshare-contributor-lock\n");
    context.update(endpoint.as_bytes());
    context.update(b"\n");
    context.update(contributor);
    let digest = context.finish();
    i64::from_le_bytes(digest.as_ref()[..8].try_into().expect("8 bytes"))
}

/// A known id sent again: the same contributor with the byte-identical
/// share is a harmless retry (pending or sealed); anything else reuses the id.
fn replay(id: SubmissionId, known: &store::Known, contributor: &[u8], share_sha256: &[u8]) -> Result<Received> {
    let same = known.contributor_key == contributor && known.share_sha256 == share_sha256;
    if same && known.state != State::Withdrawn {
        return Ok(Received { id, received_at: known.received_at, duplicate: true });
    }
    Err(ShareError::AlreadyExists {
        reason: "SUBMISSION_ID_REUSED",
        message: format!("submission id {id} is already used on this endpoint: draw a fresh id for a new submission"),
    })
}

/// FAILED_PRECONDITION listing up to [`LISTED_IDS`] offending ids.
fn listed(reason: &'static str, what: &str, mut ids: Vec<String>) -> ShareError {
    let count = ids.len();
    ids.truncate(LISTED_IDS);
    let shown = ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    let more = if count > 3 { format!(" and {} more", count - 3) } else { String::new() };
    ShareError::Precondition { reason, message: format!("{count} submission id(s) {what}: {shown}{more}"), ids }
}

fn actor(caller: &ShareCaller) -> Actor {
    match &caller.principal {
        Some(p) if p.kind == PrincipalKind::User => Actor::User(p.id),
        Some(p) => Actor::ServiceAccount(p.id),
        // External JWT subjects are named in the record's `by`.
        None => Actor::System,
    }
}

/// A caller's text, cut short for an error message.
fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}
