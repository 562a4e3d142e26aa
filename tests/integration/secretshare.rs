//! SecretShareService across real parties (spec secretshare.md §5): two or
//! three Steward servers, each on its own database, and an honest client
//! written here the way the spec's §4 asks (encode, split with a CSPRNG,
//! submit share i to party i, seal the same set everywhere, add, decode).
//! Roles come from Steward groups; each person has an account (and a token)
//! on every party.

use diesel::sql_types::{Bytea, Text};
use diesel_async::RunQueryDsl as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use steward::auth::Role;
use steward::auth::jwt::sandbox::{MintOptions, SandboxIssuer};
use steward::crypto::Keyring;
use steward::proto::secretshare::v1 as pb;
use steward::proto::secretshare::v1::secret_share_service_client::SecretShareServiceClient;
use steward::secretshare::field::{P, SubmissionId, batch_digest};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::common::{TestApp, TestDb, with_bearer};

const HALF: u64 = (P - 1) / 2;

/// The audience the parties' JWTs are minted for.
const AUDIENCE: &str = "steward-secretshare";

/// A person with an account on every party.
#[derive(Clone)]
struct Person {
    tokens: Vec<String>,
}

/// N parties, each its own server and database.
struct Parties {
    apps: Vec<TestApp>,
    /// Each party's keyring, so a restarted party opens its party secret again.
    keys: Vec<String>,
    clients: Vec<SecretShareServiceClient<Channel>>,
    developer: Person,
    scientist: Person,
    admin: Person,
    /// The external OIDC issuer every party trusts, when started with one.
    issuer: Option<SandboxIssuer>,
}

impl Parties {
    async fn start(n: usize, extra: &[(&str, &str)]) -> Parties {
        let (mut apps, mut keys) = (Vec::new(), Vec::new());
        for i in 0..n {
            let key = Keyring::generate().to_spec();
            apps.push(start_party(TestDb::new().await, i, n, &key, extra).await);
            keys.push(key);
        }
        let mut clients = Vec::new();
        for app in &apps {
            clients.push(SecretShareServiceClient::new(app.channel().await));
        }
        let mut parties = Parties {
            apps,
            keys,
            clients,
            developer: Person { tokens: vec![] },
            scientist: Person { tokens: vec![] },
            admin: Person { tokens: vec![] },
            issuer: None,
        };
        parties.developer = parties.person("dev@example.org", Role::Developer).await;
        parties.scientist = parties.person("sci@example.org", Role::Scientist).await;
        parties.admin = parties.person("root@example.org", Role::Admin).await;
        parties
    }

    /// N parties that all trust one sandbox OIDC issuer's JWTs.
    async fn start_trusting_jwts(n: usize) -> Parties {
        let (issuer, _task) = SandboxIssuer::start_local(None).await.unwrap();
        let vars = [("STEWARD_JWT_ISSUER", issuer.issuer().to_owned()), ("STEWARD_JWT_AUDIENCE", AUDIENCE.to_owned())];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut parties = Parties::start(n, &vars).await;
        parties.issuer = Some(issuer);
        parties
    }

    /// A person known only to the external issuer: the same JWT at every party.
    fn jwt_person(&self, subject: &str, permissions: &[&str]) -> Person {
        let issuer = self.issuer.as_ref().expect("parties started with an issuer");
        let claims = serde_json::json!({"sub": subject, "aud": AUDIENCE, "permissions": permissions});
        Person { tokens: vec![issuer.mint(claims, MintOptions::default()); self.n()] }
    }

    /// A token of the parties' issuer with these claims.
    fn mint(&self, claims: serde_json::Value, options: MintOptions) -> String {
        self.issuer.as_ref().expect("parties started with an issuer").mint(claims, options)
    }

    async fn person(&self, email: &str, role: Role) -> Person {
        let mut tokens = Vec::new();
        for app in &self.apps {
            tokens.push(app.db.token(email, Some(role)).await);
        }
        Person { tokens }
    }

    async fn contributors(&self, n: usize) -> Vec<Person> {
        let mut people = Vec::new();
        for i in 0..n {
            people.push(self.person(&format!("contributor{i}@example.org"), Role::Contributor).await);
        }
        people
    }

    fn n(&self) -> usize {
        self.apps.len()
    }

    /// Creates the endpoint on every party; returns it (from party 0) after
    /// checking every party holds the same digest.
    async fn create(&mut self, endpoint: pb::Endpoint) -> pb::Endpoint {
        let mut created = Vec::new();
        for i in 0..self.n() {
            let request = pb::CreateEndpointRequest { endpoint: Some(endpoint.clone()) };
            let reply = self.clients[i].create_endpoint(with_bearer(request, &self.developer.tokens[i])).await;
            created.push(reply.expect("creating the endpoint").into_inner().endpoint.unwrap());
        }
        assert!(created.iter().all(|e| e.config_digest == created[0].config_digest), "one digest on every party");
        created.remove(0)
    }

    /// An honest client's submission: encodes, splits, and sends share i to party i.
    async fn submit(&mut self, endpoint: &pb::Endpoint, person: &Person, values: &[i64]) -> String {
        let id = new_id();
        let shares = split(&values.iter().map(|&v| encode(v)).collect::<Vec<_>>(), self.n());
        for (i, share) in shares.into_iter().enumerate() {
            let request = pb::SubmitShareRequest {
                endpoint: endpoint.name.clone(),
                submission_id: id.clone(),
                party_index: i as u32,
                config_digest: endpoint.config_digest.clone(),
                share,
            };
            let reply = self.clients[i].submit_share(with_bearer(request, &person.tokens[i])).await;
            assert!(!reply.expect("submitting a share").into_inner().duplicate);
        }
        id
    }

    /// SealBatch on every party; the answers, checked against each other.
    async fn seal(&mut self, endpoint: &pb::Endpoint, ids: &[String]) -> Result<Vec<pb::SealBatchResponse>, Status> {
        let mut answers = Vec::new();
        for i in 0..self.n() {
            answers.push(self.seal_on(i, endpoint, ids).await?);
        }
        for (i, answer) in answers.iter().enumerate() {
            let batch = answer.batch.as_ref().unwrap();
            assert_eq!(batch.party_index, i as u32);
            assert_eq!(batch.party_count, self.n() as u32);
            assert_eq!(batch.batch_digest, answers[0].batch.as_ref().unwrap().batch_digest);
            assert_eq!(batch.submission_count, ids.len() as u64);
            assert_eq!(batch.config_digest, endpoint.config_digest);
            assert_eq!(batch.aggregate_share.len(), endpoint.vector_length as usize);
        }
        Ok(answers)
    }

    async fn seal_on(
        &mut self,
        i: usize,
        endpoint: &pb::Endpoint,
        ids: &[String],
    ) -> Result<pb::SealBatchResponse, Status> {
        let request = pb::SealBatchRequest {
            endpoint: endpoint.name.clone(),
            submission_ids: ids.to_vec(),
            config_digest: endpoint.config_digest.clone(),
            expected_batch_digest: client_batch_digest(&endpoint.name, ids),
        };
        Ok(self.clients[i].seal_batch(with_bearer(request, &self.scientist.tokens[i])).await?.into_inner())
    }

    /// The pending ids of party `i`, oldest first, through every page.
    async fn pending(&mut self, i: usize, endpoint: &str, page_size: i32) -> Vec<String> {
        let (mut ids, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = pb::ListPendingSubmissionsRequest {
                endpoint: endpoint.into(),
                page_size,
                page_token,
                received_before: None,
            };
            let page = self.clients[i]
                .list_pending_submissions(with_bearer(request, &self.scientist.tokens[i]))
                .await
                .unwrap()
                .into_inner();
            ids.extend(page.submission_ids);
            if page.next_page_token.is_empty() {
                return ids;
            }
            page_token = page.next_page_token;
        }
    }
}

async fn start_party(db: TestDb, index: usize, count: usize, key: &str, extra: &[(&str, &str)]) -> TestApp {
    let (index, count) = (index.to_string(), count.to_string());
    let mut vars = vec![
        ("STEWARD_SECRETSHARE_PARTY_INDEX", index.as_str()),
        ("STEWARD_SECRETSHARE_PARTY_COUNT", count.as_str()),
        ("STEWARD_ENCRYPTION_KEYS", key),
        ("STEWARD_RATE_LIMIT", "off"),
    ];
    vars.extend_from_slice(extra);
    TestApp::start_with(db, &vars).await.0
}

fn config_of(name: &str, length: u32, (min, max): (i64, i64)) -> pb::Endpoint {
    pb::Endpoint {
        name: name.into(),
        vector_length: length,
        encoding: pb::ValueEncoding::Integer.into(),
        min_value: min,
        max_value: max,
        ..Default::default()
    }
}

/// 16 random bytes as 32 hex digits.
fn new_id() -> String {
    let mut id = [0u8; 16];
    SystemRandom::new().fill(&mut id).unwrap();
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A uniformly random field element: 8 random bytes, rejected until below p.
fn random_element() -> u64 {
    loop {
        let mut bytes = [0u8; 8];
        SystemRandom::new().fill(&mut bytes).unwrap();
        let candidate = u64::from_le_bytes(bytes);
        if candidate < P {
            return candidate;
        }
    }
}

fn encode(v: i64) -> u64 {
    (i128::from(v).rem_euclid(i128::from(P))) as u64
}

fn decode(s: u64) -> i64 {
    if s <= HALF { s as i64 } else { -((P - s) as i64) }
}

/// N additive shares of `vector`: N − 1 uniformly random, the last makes the sum.
fn split(vector: &[u64], n: usize) -> Vec<Vec<u64>> {
    let mut shares: Vec<Vec<u64>> = (0..n - 1).map(|_| vector.iter().map(|_| random_element()).collect()).collect();
    let last = vector
        .iter()
        .enumerate()
        .map(|(j, &f)| {
            let others: u128 = shares.iter().map(|s| u128::from(s[j])).sum();
            ((u128::from(f) + u128::from(P) * n as u128 - others) % u128::from(P)) as u64
        })
        .collect();
    shares.push(last);
    shares
}

/// The parties' aggregate shares added modulo p and decoded.
fn sums(answers: &[pb::SealBatchResponse]) -> Vec<i64> {
    let length = answers[0].batch.as_ref().unwrap().aggregate_share.len();
    (0..length)
        .map(|j| {
            let total: u128 = answers.iter().map(|a| u128::from(a.batch.as_ref().unwrap().aggregate_share[j])).sum();
            decode((total % u128::from(P)) as u64)
        })
        .collect()
}

fn client_batch_digest(name: &str, ids: &[String]) -> String {
    let ids: Vec<SubmissionId> = ids.iter().map(|id| SubmissionId::parse(id).unwrap()).collect();
    batch_digest(name, &ids)
}

/// The status's `ErrorInfo` reason.
fn reason(status: &Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, why: &str) -> Status {
    let status = result.expect_err("the call should be refused");
    assert_eq!(status.code(), code, "{status:?}");
    if !why.is_empty() {
        assert_eq!(reason(&status), why, "{status:?}");
    }
    status
}

/// A deterministic spread of values in `min..=max`.
fn values(seed: u64, length: usize, (min, max): (i64, i64)) -> Vec<i64> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..length)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            min + ((state >> 33) % (max - min + 1) as u64) as i64
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parties_sum_a_thousand_contributors_exactly_and_disjoint_batches_add_up() {
    // A thousand people known to the OIDC issuer both parties trust, one submission each.
    let mut parties = Parties::start_trusting_jwts(2).await;
    let range = (0, 1000);
    let endpoint = parties.create(config_of("eta", 10, range)).await;
    let people: Vec<Person> = (0..1000).map(|k| parties.jwt_person(&format!("user-{k}"), &["post:eta-data"])).collect();

    let mut expected_first = vec![0i64; 10];
    let mut expected_total = vec![0i64; 10];
    let mut ids = Vec::new();
    for k in 0..1000u64 {
        let vector = values(k, 10, range);
        let id = parties.submit(&endpoint, &people[k as usize], &vector).await;
        for j in 0..10 {
            expected_total[j] += vector[j];
            if k < 400 {
                expected_first[j] += vector[j];
            }
        }
        ids.push(id);
    }
    // Pending ids, in order of receipt, through pages of 300, on both parties.
    assert_eq!(parties.pending(0, "eta", 300).await, ids);
    assert_eq!(parties.pending(1, "eta", 300).await, ids);

    let first = parties.seal(&endpoint, &ids[..400]).await.unwrap();
    assert_eq!(sums(&first), expected_first);
    assert_eq!(first[0].batch.as_ref().unwrap().contributor_count, 400);
    let second = parties.seal(&endpoint, &ids[400..]).await.unwrap();
    let together: Vec<i64> = sums(&first).iter().zip(sums(&second)).map(|(a, b)| a + b).collect();
    assert_eq!(together, expected_total, "two disjoint batches add up to the total");
    assert!(parties.pending(0, "eta", 1000).await.is_empty());

    // One party alone holds nothing but uniformly random numbers: its
    // aggregate is not the sum (with overwhelming probability).
    let alone: Vec<i64> = first[0].batch.as_ref().unwrap().aggregate_share.iter().map(|&s| decode(s)).collect();
    assert_ne!(alone, expected_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parties_sum_fixed_point_values_with_negatives_exactly() {
    let mut parties = Parties::start_trusting_jwts(3).await;
    // d = 2 in [−1000.00, 1000.00]: encoded in hundredths.
    let range = (-100_000, 100_000);
    let config = pb::Endpoint {
        encoding: pb::ValueEncoding::FixedPoint.into(),
        decimal_scale: 2,
        ..config_of("temperatures", 4, range)
    };
    let endpoint = parties.create(config).await;
    let people: Vec<Person> = (0..1000).map(|k| parties.jwt_person(&format!("user-{k}"), &["post:eta-data"])).collect();
    let mut expected = vec![0i64; 4];
    let mut ids = Vec::new();
    for k in 0..1000u64 {
        let vector = values(k + 7, 4, range);
        ids.push(parties.submit(&endpoint, &people[k as usize], &vector).await);
        for j in 0..4 {
            expected[j] += vector[j];
        }
    }
    assert!(expected.iter().any(|&s| s < 0) || values(3, 4, range).iter().any(|&v| v < 0), "negative values occur");
    let answers = parties.seal(&endpoint, &ids).await.unwrap();
    assert_eq!(sums(&answers), expected, "exact sums in hundredths");
}

/// One party's stored shares of the same value are uniformly distributed:
/// a chi-square test over 16 equal parts of [0, p) for 2,000 shares of the value 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partys_shares_of_one_value_are_uniform() {
    let mut parties = Parties::start(2, &[]).await;
    let config = pb::Endpoint { max_submissions_per_contributor: Some(0), ..config_of("same", 1, (0, 100)) };
    let endpoint = parties.create(config).await;
    let person = parties.contributors(1).await.remove(0);
    for _ in 0..2000 {
        parties.submit(&endpoint, &person, &[7]).await;
    }
    #[derive(diesel::QueryableByName)]
    struct Share {
        #[diesel(sql_type = Bytea)]
        share: Vec<u8>,
    }
    let stored: Vec<Share> = diesel::sql_query("SELECT share FROM secretshare_pending WHERE endpoint = $1")
        .bind::<Text, _>("same")
        .load(&mut parties.apps[1].db.conn().await)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2000);
    let mut buckets = [0f64; 16];
    for s in &stored {
        let element = u64::from_le_bytes(s.share[..8].try_into().unwrap());
        buckets[((u128::from(element) * 16) / u128::from(P)) as usize] += 1.0;
    }
    let expected = 2000.0 / 16.0;
    let chi2: f64 = buckets.iter().map(|&o| (o - expected) * (o - expected) / expected).sum();
    // The 0.999 quantile of chi-square with 15 degrees of freedom.
    assert!(chi2 < 37.7, "shares are not uniform: chi-square {chi2:.1}, buckets {buckets:?}");
    // And nothing of the value is visible: no stored share equals 7.
    assert!(stored.iter().all(|s| u64::from_le_bytes(s.share[..8].try_into().unwrap()) != 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_rules_threshold_overlap_unknown_ids_and_idempotence() {
    let mut parties = Parties::start(2, &[]).await;
    let endpoint = parties.create(config_of("eta", 3, (0, 1000))).await;
    assert_eq!(endpoint.min_batch_size, Some(5), "the default minimum batch");
    let people = parties.contributors(8).await;
    let mut ids = Vec::new();
    for (k, person) in people.iter().enumerate() {
        ids.push(parties.submit(&endpoint, person, &[k as i64, 1, 2]).await);
    }

    // Below the minimum on every party; the ids stay pending.
    for i in 0..2 {
        refused(parties.seal_on(i, &endpoint, &ids[..4]).await, Code::FailedPrecondition, "BATCH_TOO_SMALL");
    }
    assert_eq!(parties.pending(0, "eta", 100).await.len(), 8);

    // Duplicates, an empty set, malformed ids, a wrong expected digest.
    let twice = vec![ids[0].clone(), ids[0].clone()];
    refused(parties.seal_on(0, &endpoint, &twice).await, Code::InvalidArgument, "");
    refused(parties.seal_on(0, &endpoint, &[]).await, Code::InvalidArgument, "");
    let request = pb::SealBatchRequest {
        endpoint: "eta".into(),
        submission_ids: ids[..5].to_vec(),
        config_digest: endpoint.config_digest.clone(),
        expected_batch_digest: "0".repeat(64),
    };
    let wrong = parties.clients[0].seal_batch(with_bearer(request.clone(), &parties.scientist.tokens[0])).await;
    refused(wrong, Code::InvalidArgument, "BATCH_DIGEST_MISMATCH");
    let stale = pb::SealBatchRequest { config_digest: "f".repeat(64), expected_batch_digest: String::new(), ..request };
    let stale = parties.clients[0].seal_batch(with_bearer(stale, &parties.scientist.tokens[0])).await;
    refused(stale, Code::FailedPrecondition, "CONFIG_MISMATCH");

    // An unknown id is named; nothing is sealed.
    let mut with_unknown = ids[..5].to_vec();
    let stranger = new_id();
    with_unknown.push(stranger.clone());
    let status =
        refused(parties.seal_on(0, &endpoint, &with_unknown).await, Code::FailedPrecondition, "UNKNOWN_SUBMISSION");
    let named = status.get_error_details().bad_request().map(|b| b.field_violations.clone()).unwrap_or_default();
    assert_eq!(named.iter().map(|v| v.description.as_str()).collect::<Vec<_>>(), [stranger.as_str()]);
    assert_eq!(parties.pending(0, "eta", 100).await.len(), 8);

    // Seal five; the same set again, in another order, is the same batch.
    let first = parties.seal(&endpoint, &ids[..5]).await.unwrap();
    assert!(!first[0].already_sealed);
    let mut reversed = ids[..5].to_vec();
    reversed.reverse();
    let again = parties.seal(&endpoint, &reversed).await.unwrap();
    assert!(again.iter().all(|a| a.already_sealed));
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.batch, b.batch, "same digest, aggregate and seal time");
    }
    assert_eq!(first[0].batch.as_ref().unwrap().batch_digest, client_batch_digest("eta", &ids[..5]));

    // Overlapping by one id: refused, naming it; the others stay pending.
    let overlapping = ids[4..].to_vec();
    let status = refused(parties.seal_on(0, &endpoint, &overlapping).await, Code::FailedPrecondition, "BATCH_OVERLAP");
    assert!(status.message().contains(&ids[4]), "{}", status.message());
    assert_eq!(parties.pending(0, "eta", 100).await, ids[5..].to_vec());

    // Sealed shares are erased (shares live only among the pending); the ids
    // and their digests stay for replay checks.
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        known: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        shares: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM secretshare_submissions WHERE endpoint = 'eta' AND NOT withdrawn) AS known, \
                (SELECT count(*) FROM secretshare_pending WHERE endpoint = 'eta') AS shares",
    )
    .get_result(&mut parties.apps[0].db.conn().await)
    .await
    .unwrap();
    assert_eq!((counts.known, counts.shares), (ids.len() as i64, ids.len() as i64 - 5));

    // Batches can be read back and listed.
    let digest = first[0].batch.as_ref().unwrap().batch_digest.clone();
    let request = pb::GetBatchRequest { endpoint: "eta".into(), batch_digest: digest };
    let got = parties.clients[1].get_batch(with_bearer(request, &parties.scientist.tokens[1])).await.unwrap();
    assert_eq!(got.into_inner().batch, first[1].batch);
    let request = pb::ListBatchesRequest { endpoint: "eta".into(), ..Default::default() };
    let listed = parties.clients[0].list_batches(with_bearer(request, &parties.scientist.tokens[0])).await.unwrap();
    assert_eq!(listed.into_inner().batches, vec![first[0].batch.clone().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_count_distinct_contributors_and_stop_at_the_decodable_size() {
    let mut parties = Parties::start(2, &[]).await;
    // Three submissions each allowed; five from two people are not a batch of five.
    let config = pb::Endpoint { max_submissions_per_contributor: Some(3), ..config_of("few", 1, (0, 10)) };
    let few = parties.create(config).await;
    let people = parties.contributors(2).await;
    let mut ids = Vec::new();
    for k in 0..5 {
        ids.push(parties.submit(&few, &people[k % 2], &[1]).await);
    }
    let status = refused(parties.seal_on(0, &few, &ids).await, Code::FailedPrecondition, "BATCH_TOO_SMALL");
    assert!(status.message().contains("come from 2"), "{}", status.message());

    // L = 1, every value max_value, a batch of max_decodable_batch_size decodes exactly.
    let max_value = (HALF / 6) as i64;
    let config = pb::Endpoint {
        min_batch_size: Some(2),
        max_submissions_per_contributor: Some(0),
        ..config_of("wide", 1, (0, max_value))
    };
    let wide = parties.create(config).await;
    assert_eq!(wide.max_decodable_batch_size, 6);
    let mut ids = Vec::new();
    for k in 0..7 {
        ids.push(parties.submit(&wide, &people[k % 2], &[max_value]).await);
    }
    refused(parties.seal_on(0, &wide, &ids).await, Code::FailedPrecondition, "BATCH_TOO_LARGE");
    let answers = parties.seal(&wide, &ids[..6]).await.unwrap();
    assert_eq!(sums(&answers), vec![6 * max_value]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_checked_replays_recognised_and_ids_never_reused() {
    let mut parties = Parties::start(2, &[]).await;
    let endpoint = parties.create(config_of("eta", 3, (0, 1000))).await;
    let people = parties.contributors(2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let submit = |share: Vec<u64>, id: &str, party_index: u32, digest: &str| pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: id.into(),
        party_index,
        config_digest: digest.into(),
        share,
    };
    let digest = endpoint.config_digest.clone();
    let id = new_id();
    let share = vec![random_element(), random_element(), random_element()];

    // Wrong party, stale digest, lengths, elements not below p, bad ids: nothing stored.
    let c = &mut parties.clients[0];
    let t = &alice.tokens[0];
    refused(
        c.submit_share(with_bearer(submit(share.clone(), &id, 1, &digest), t)).await,
        Code::FailedPrecondition,
        "WRONG_PARTY",
    );
    refused(
        c.submit_share(with_bearer(submit(share.clone(), &id, 0, &"a".repeat(64)), t)).await,
        Code::FailedPrecondition,
        "CONFIG_MISMATCH",
    );
    let short = refused(
        c.submit_share(with_bearer(submit(share[..2].to_vec(), &id, 0, &digest), t)).await,
        Code::InvalidArgument,
        "",
    );
    assert_eq!(short.message(), "share has 2 elements, endpoint expects 3");
    let long = refused(
        c.submit_share(with_bearer(submit(vec![1, 2, 3, 4], &id, 0, &digest), t)).await,
        Code::InvalidArgument,
        "",
    );
    assert_eq!(long.message(), "share has 4 elements, endpoint expects 3");
    for (bad, position) in [(vec![1, P, 2], 1), (vec![1, 2, u64::MAX], 2)] {
        let status =
            refused(c.submit_share(with_bearer(submit(bad, &id, 0, &digest), t)).await, Code::InvalidArgument, "");
        assert!(status.message().starts_with(&format!("share[{position}] is ")), "{}", status.message());
    }
    for bad_id in ["a".repeat(31), format!("{}x", "a".repeat(31)), "0".repeat(32)] {
        refused(
            c.submit_share(with_bearer(submit(share.clone(), &bad_id, 0, &digest), t)).await,
            Code::InvalidArgument,
            "",
        );
    }
    let unknown = pb::SubmitShareRequest { endpoint: "nope".into(), ..submit(share.clone(), &id, 0, &digest) };
    refused(c.submit_share(with_bearer(unknown, t)).await, Code::NotFound, "");
    assert!(parties.pending(0, "eta", 10).await.is_empty(), "nothing was stored");

    // Stored once; the identical share again is a duplicate, any other use of the id is not.
    let c = &mut parties.clients[0];
    let first = c.submit_share(with_bearer(submit(share.clone(), &id, 0, &digest), t)).await.unwrap().into_inner();
    assert!(!first.duplicate);
    let again = c.submit_share(with_bearer(submit(share.clone(), &id, 0, &digest), t)).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.receive_time, first.receive_time);
    let other = vec![share[0], share[1], (share[2] + 1) % P];
    refused(
        c.submit_share(with_bearer(submit(other, &id, 0, &digest), t)).await,
        Code::AlreadyExists,
        "SUBMISSION_ID_REUSED",
    );
    let by_bob = c.submit_share(with_bearer(submit(share.clone(), &id, 0, &digest), &bob.tokens[0])).await;
    refused(by_bob, Code::AlreadyExists, "SUBMISSION_ID_REUSED");
    assert_eq!(parties.pending(0, "eta", 10).await, vec![id.clone()]);

    // One submission per contributor by default.
    let second = parties.clients[0].submit_share(with_bearer(submit(share.clone(), &new_id(), 0, &digest), t)).await;
    refused(second, Code::AlreadyExists, "CONTRIBUTION_LIMIT_REACHED");

    // Unlimited: ten from one person are all taken.
    let config = pb::Endpoint { max_submissions_per_contributor: Some(0), ..config_of("many", 1, (0, 9)) };
    let many = parties.create(config).await;
    for k in 0..10 {
        parties.submit(&many, alice, &[k]).await;
    }
    assert_eq!(parties.pending(1, "many", 100).await.len(), 10);

    // A replay still counts as a duplicate after the submission is sealed.
    let mut ids = parties.pending(0, "many", 100).await;
    ids.truncate(5);
    let config = pb::Endpoint {
        min_batch_size: Some(2),
        max_submissions_per_contributor: Some(0),
        ..config_of("pair", 1, (0, 9))
    };
    let pair = parties.create(config).await;
    let a = new_id();
    let shares = split(&[3], 2);
    for (i, share) in shares.iter().enumerate() {
        let request = pb::SubmitShareRequest {
            endpoint: "pair".into(),
            submission_id: a.clone(),
            party_index: i as u32,
            config_digest: pair.config_digest.clone(),
            share: share.clone(),
        };
        parties.clients[i].submit_share(with_bearer(request, &alice.tokens[i])).await.unwrap();
    }
    let b = parties.submit(&pair, bob, &[4]).await;
    let sealed = parties.seal(&pair, &[a.clone(), b]).await.unwrap();
    assert_eq!(sums(&sealed), vec![7]);
    let replay = pb::SubmitShareRequest {
        endpoint: "pair".into(),
        submission_id: a.clone(),
        party_index: 0,
        config_digest: pair.config_digest.clone(),
        share: shares[0].clone(),
    };
    assert!(
        parties.clients[0].submit_share(with_bearer(replay, &alice.tokens[0])).await.unwrap().into_inner().duplicate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contributors_withdraw_their_own_pending_submissions_only() {
    let mut parties = Parties::start(2, &[]).await;
    let config = pb::Endpoint { min_batch_size: Some(2), ..config_of("eta", 1, (0, 9)) };
    let endpoint = parties.create(config).await;
    let people = parties.contributors(3).await;
    let ids = [
        parties.submit(&endpoint, &people[0], &[1]).await,
        parties.submit(&endpoint, &people[1], &[2]).await,
        parties.submit(&endpoint, &people[2], &[3]).await,
    ];
    let withdraw = |id: &str| pb::DeleteSubmissionRequest { endpoint: "eta".into(), submission_id: id.into() };

    // Someone else's: as if it did not exist.
    let others = parties.clients[0].delete_submission(with_bearer(withdraw(&ids[0]), &people[1].tokens[0])).await;
    refused(others, Code::NotFound, "");
    // One's own pending one: gone from pending, the id reserved.
    parties.clients[0].delete_submission(with_bearer(withdraw(&ids[0]), &people[0].tokens[0])).await.unwrap();
    assert_eq!(parties.pending(0, "eta", 10).await, ids[1..].to_vec());
    let reuse = pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: ids[0].clone(),
        party_index: 0,
        config_digest: endpoint.config_digest.clone(),
        share: vec![5],
    };
    refused(
        parties.clients[0].submit_share(with_bearer(reuse, &people[0].tokens[0])).await,
        Code::AlreadyExists,
        "SUBMISSION_ID_REUSED",
    );
    // A set with the withdrawn id is refused as unknown.
    refused(parties.seal_on(0, &endpoint, &ids).await, Code::FailedPrecondition, "UNKNOWN_SUBMISSION");
    // A sealed one cannot be withdrawn.
    parties.seal(&endpoint, &ids[1..]).await.unwrap();
    let sealed = parties.clients[0].delete_submission(with_bearer(withdraw(&ids[1]), &people[1].tokens[0])).await;
    refused(sealed, Code::FailedPrecondition, "SUBMISSION_SEALED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overlapping_seals_let_exactly_one_win() {
    let mut parties = Parties::start(2, &[]).await;
    let config = pb::Endpoint {
        min_batch_size: Some(2),
        max_submissions_per_contributor: Some(0),
        ..config_of("eta", 1, (0, 9))
    };
    let endpoint = parties.create(config).await;
    let people = parties.contributors(2).await;
    let mut ids = Vec::new();
    for k in 0..40 {
        ids.push(parties.submit(&endpoint, &people[k % 2], &[1]).await);
    }
    // Eight seals of overlapping sets race on party 0.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let mut client = parties.clients[0].clone();
        let request = pb::SealBatchRequest {
            endpoint: "eta".into(),
            submission_ids: ids[t * 3..t * 3 + 10].to_vec(),
            config_digest: endpoint.config_digest.clone(),
            expected_batch_digest: String::new(),
        };
        let token = parties.scientist.tokens[0].clone();
        tasks.push(tokio::spawn(async move { client.seal_batch(with_bearer(request, &token)).await }));
    }
    let mut sealed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(answer) => sealed.push(answer.into_inner().batch.unwrap()),
            // Seals of one endpoint run one at a time: a loser sees the winner's ids sealed.
            Err(status) => assert_eq!(reason(&status), "BATCH_OVERLAP", "{status:?}"),
        }
    }
    assert!(!sealed.is_empty(), "at least one seal wins");
    // The winners never share an id: 10 ids each, all distinct, all gone from pending.
    let pending = parties.pending(0, "eta", 100).await;
    assert_eq!(pending.len(), 40 - 10 * sealed.len());
}

/// A share of `endpoint` for party 0.
fn share_for_party_0(endpoint: &pb::Endpoint, submission_id: String, share: Vec<u64>) -> pb::SubmitShareRequest {
    pb::SubmitShareRequest {
        endpoint: endpoint.name.clone(),
        submission_id,
        party_index: 0,
        config_digest: endpoint.config_digest.clone(),
        share,
    }
}

/// `requests` sent by `person` to party 0 all at once; the answers in order.
async fn submit_at_once(
    parties: &Parties,
    person: &Person,
    requests: Vec<pb::SubmitShareRequest>,
) -> Vec<Result<pb::SubmitShareResponse, Status>> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let (mut client, token) = (parties.clients[0].clone(), person.tokens[0].clone());
            tokio::spawn(async move { client.submit_share(with_bearer(request, &token)).await.map(|r| r.into_inner()) })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contributors_concurrent_submissions_stop_exactly_at_the_limit() {
    let mut parties = Parties::start(2, &[]).await;
    let config = pb::Endpoint { max_submissions_per_contributor: Some(3), ..config_of("eta", 1, (0, 9)) };
    let endpoint = parties.create(config).await;
    let person = parties.contributors(1).await.remove(0);
    // Twenty different submissions of one contributor race on party 0.
    let requests = (0..20).map(|_| share_for_party_0(&endpoint, new_id(), vec![5])).collect();
    let mut stored = 0;
    for answer in submit_at_once(&parties, &person, requests).await {
        match answer {
            Ok(_) => stored += 1,
            Err(status) => assert_eq!(reason(&status), "CONTRIBUTION_LIMIT_REACHED", "{status:?}"),
        }
    }
    assert_eq!(stored, 3, "exactly the limit is stored");
    assert_eq!(parties.pending(0, "eta", 100).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_submission_store_it_once() {
    let mut parties = Parties::start(2, &[]).await;
    let endpoint = parties.create(config_of("eta", 1, (0, 9))).await;
    let person = parties.contributors(1).await.remove(0);
    let request = share_for_party_0(&endpoint, new_id(), vec![5]);
    let answers = submit_at_once(&parties, &person, vec![request.clone(); 12]).await;
    let duplicates: Vec<bool> = answers.into_iter().map(|a| a.expect("a retry is accepted").duplicate).collect();
    assert_eq!(duplicates.iter().filter(|d| !**d).count(), 1, "stored once: {duplicates:?}");
    assert_eq!(parties.pending(0, "eta", 100).await, [request.submission_id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_validated_idempotent_immutable_and_archivable() {
    let mut parties = Parties::start(2, &[("NUM_CLIENTS_TO_SUM", "7")]).await;
    let created = parties.create(config_of("eta", 10, (0, 100))).await;
    assert_eq!(created.min_batch_size, Some(7), "NUM_CLIENTS_TO_SUM is the default minimum");
    assert_eq!(created.max_submissions_per_contributor, Some(1));
    assert_eq!(created.state, i32::from(pb::EndpointState::Active));
    assert_eq!(created.creator, "dev@example.org");
    // The same configuration again: the same endpoint.
    let again = parties.create(config_of("eta", 10, (0, 100))).await;
    assert_eq!(again.config_digest, created.config_digest);
    assert_eq!(again.create_time, created.create_time);
    // The same name with L changed.
    let changed = pb::CreateEndpointRequest { endpoint: Some(config_of("eta", 11, (0, 100))) };
    let status = parties.clients[0].create_endpoint(with_bearer(changed, &parties.developer.tokens[0])).await;
    refused(status, Code::AlreadyExists, "ENDPOINT_EXISTS");

    // Every bad field is named.
    for (bad, field) in [
        (pb::Endpoint { min_batch_size: Some(1), ..config_of("b", 10, (0, 1)) }, "min_batch_size"),
        (config_of("b", 0, (0, 1)), "vector_length"),
        (config_of("b", 4097, (0, 1)), "vector_length"),
        (config_of("b", 1, (5, 4)), "min_value"),
        (
            pb::Endpoint {
                encoding: pb::ValueEncoding::FixedPoint.into(),
                decimal_scale: 13,
                ..config_of("b", 1, (0, 1))
            },
            "decimal_scale",
        ),
        (config_of("1bad", 1, (0, 1)), "name"),
    ] {
        let request = pb::CreateEndpointRequest { endpoint: Some(bad) };
        let status = refused(
            parties.clients[0].create_endpoint(with_bearer(request, &parties.developer.tokens[0])).await,
            Code::InvalidArgument,
            "",
        );
        let violations =
            status.get_error_details().bad_request().map(|b| b.field_violations.clone()).unwrap_or_default();
        assert_eq!(<[_]>::first(&violations).map(|v| v.field.as_str()), Some(field), "{status:?}");
    }

    // Listing, reading, archiving.
    let list = pb::ListEndpointsRequest::default();
    let listed = parties.clients[1].list_endpoints(with_bearer(list, &parties.scientist.tokens[1])).await.unwrap();
    assert_eq!(listed.into_inner().endpoints.len(), 1);
    let people = parties.contributors(1).await;
    parties.submit(&created, &people[0], &[1; 10]).await;
    let request = pb::ArchiveEndpointRequest { name: "eta".into() };
    let denied = parties.clients[0].archive_endpoint(with_bearer(request.clone(), &parties.developer.tokens[0])).await;
    refused(denied, Code::PermissionDenied, "");
    let archived = parties.clients[0].archive_endpoint(with_bearer(request, &parties.admin.tokens[0])).await.unwrap();
    assert_eq!(archived.into_inner().endpoint.unwrap().state, i32::from(pb::EndpointState::Archived));
    let late = pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: new_id(),
        party_index: 0,
        config_digest: created.config_digest.clone(),
        share: vec![0; 10],
    };
    let other = parties.contributors(2).await.remove(1);
    refused(
        parties.clients[0].submit_share(with_bearer(late, &other.tokens[0])).await,
        Code::FailedPrecondition,
        "ENDPOINT_ARCHIVED",
    );
    // Archived endpoints are listed only when asked for.
    let list = pb::ListEndpointsRequest::default();
    let active = parties.clients[0].list_endpoints(with_bearer(list, &parties.scientist.tokens[0])).await.unwrap();
    assert!(active.into_inner().endpoints.is_empty());
    let list = pb::ListEndpointsRequest { include_archived: true, ..Default::default() };
    let all = parties.clients[0].list_endpoints(with_bearer(list, &parties.scientist.tokens[0])).await.unwrap();
    assert_eq!(all.into_inner().endpoints.len(), 1);
    // Still readable by the scientist; pending ids remain sealable.
    assert_eq!(parties.pending(0, "eta", 10).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_is_checked() {
    let mut parties = Parties::start(2, &[]).await;
    let endpoint = parties.create(config_of("eta", 1, (0, 9))).await;
    let contributor = parties.contributors(1).await.remove(0);
    let researcher = parties.person("res@example.org", Role::Researcher).await;
    let c = &mut parties.clients[0];

    // Creating: contributors and scientists may not.
    for token in [&contributor.tokens[0], &parties.scientist.tokens[0]] {
        let request = pb::CreateEndpointRequest { endpoint: Some(endpoint_of("x")) };
        refused(c.create_endpoint(with_bearer(request, token)).await, Code::PermissionDenied, "");
    }
    // Submitting: scientists may not.
    let submit = pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: new_id(),
        party_index: 0,
        config_digest: endpoint.config_digest.clone(),
        share: vec![1],
    };
    refused(c.submit_share(with_bearer(submit, &parties.scientist.tokens[0])).await, Code::PermissionDenied, "");
    // Pending, sealing and batches: contributors and researchers may not.
    for token in [&contributor.tokens[0], &researcher.tokens[0]] {
        let list = pb::ListPendingSubmissionsRequest { endpoint: "eta".into(), ..Default::default() };
        refused(c.list_pending_submissions(with_bearer(list, token)).await, Code::PermissionDenied, "");
        let seal = pb::SealBatchRequest {
            endpoint: "eta".into(),
            config_digest: endpoint.config_digest.clone(),
            ..Default::default()
        };
        refused(c.seal_batch(with_bearer(seal, token)).await, Code::PermissionDenied, "");
        let get = pb::GetBatchRequest { endpoint: "eta".into(), batch_digest: "0".repeat(64) };
        refused(c.get_batch(with_bearer(get, token)).await, Code::PermissionDenied, "");
    }
    // Anonymous callers: party info only.
    assert_eq!(c.get_party_info(pb::GetPartyInfoRequest {}).await.unwrap().into_inner().party_count, 2);
    let anonymous = c.get_endpoint(pb::GetEndpointRequest { name: "eta".into() }).await;
    refused(anonymous, Code::Unauthenticated, "");
    // Any signed-in user may read endpoints and their own legacy permissions.
    let read = c.get_endpoint(with_bearer(pb::GetEndpointRequest { name: "eta".into() }, &researcher.tokens[0])).await;
    assert_eq!(read.unwrap().into_inner().endpoint.unwrap().config_digest, endpoint.config_digest);
    let permissions = c.get_permissions(with_bearer(pb::GetPermissionsRequest {}, &parties.scientist.tokens[0])).await;
    let permissions = permissions.unwrap().into_inner();
    assert_eq!(
        (permissions.message.as_str(), permissions.permissions, permissions.status),
        ("Successful", vec!["get:eta-data".to_owned()], 200)
    );
    let admin = c.get_permissions(with_bearer(pb::GetPermissionsRequest {}, &parties.admin.tokens[0])).await.unwrap();
    assert_eq!(admin.into_inner().permissions.len(), 4);
}

fn endpoint_of(name: &str) -> pb::Endpoint {
    config_of(name, 1, (0, 9))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_report_who_they_are_and_digests_differ_by_party_count() {
    let two = Parties::start(2, &[]).await;
    let urls = "https://a.example,https://b.example,https://c.example";
    let mut three =
        Parties::start(3, &[("STEWARD_SECRETSHARE_PARTY_NAME", "Lab"), ("STEWARD_SECRETSHARE_PARTY_URLS", urls)]).await;
    let info = three.clients[2].get_party_info(pb::GetPartyInfoRequest {}).await.unwrap().into_inner();
    assert_eq!((info.party_index, info.party_count, info.party_name.as_str()), (2, 3, "Lab"));
    assert_eq!((info.protocol.as_str(), info.modulus.as_str()), ("steward-secretshare/v1", "18446744069414584321"));
    assert_eq!(info.field, i32::from(pb::Field::Field64));
    assert_eq!(info.party_urls, ["https://a.example", "https://b.example", "https://c.example"]);
    let mut two = two;
    let a = two.create(config_of("eta", 1, (0, 9))).await;
    let b = three.create(config_of("eta", 1, (0, 9))).await;
    assert_ne!(a.config_digest, b.config_digest, "N is part of the digest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_no_party_says_so_on_every_rpc() {
    let app = TestApp::start().await;
    let token = app.db.token("dev@example.org", Some(Role::Developer)).await;
    let mut c = SecretShareServiceClient::new(app.channel().await);
    refused(c.get_party_info(pb::GetPartyInfoRequest {}).await, Code::FailedPrecondition, "PARTY_NOT_CONFIGURED");
    let request = pb::CreateEndpointRequest { endpoint: Some(endpoint_of("eta")) };
    let status = refused(
        c.create_endpoint(with_bearer(request, &token)).await,
        Code::FailedPrecondition,
        "PARTY_NOT_CONFIGURED",
    );
    assert_eq!(status.message(), "this server is not configured as a secret-share party");
    refused(
        c.list_endpoints(with_bearer(pb::ListEndpointsRequest::default(), &token)).await,
        Code::FailedPrecondition,
        "PARTY_NOT_CONFIGURED",
    );
    refused(c.get_permissions(pb::GetPermissionsRequest {}).await, Code::FailedPrecondition, "PARTY_NOT_CONFIGURED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_party_keeps_endpoints_submissions_and_batches() {
    let mut parties = Parties::start(2, &[]).await;
    let config = pb::Endpoint { min_batch_size: Some(2), ..config_of("eta", 2, (0, 9)) };
    let endpoint = parties.create(config).await;
    let people = parties.contributors(4).await;
    let mut ids = Vec::new();
    for (k, person) in people.iter().enumerate() {
        ids.push(parties.submit(&endpoint, person, &[k as i64, 1]).await);
    }
    let first = parties.seal(&endpoint, &ids[..2]).await.unwrap();

    // Party 1 restarts on its database.
    let app = parties.apps.remove(1);
    let db = app.stop().await;
    let app = start_party(db, 1, 2, &parties.keys[1], &[]).await;
    parties.clients[1] = SecretShareServiceClient::new(app.channel().await);
    parties.apps.insert(1, app);

    assert_eq!(parties.pending(1, "eta", 10).await, ids[2..].to_vec());
    let again = parties.seal(&endpoint, &ids[..2]).await.unwrap();
    assert_eq!(again[1].batch, first[1].batch, "the same stored batch");
    assert!(again[1].already_sealed);
    // Ids stay reserved across the restart.
    let reuse = pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: ids[3].clone(),
        party_index: 1,
        config_digest: endpoint.config_digest.clone(),
        share: vec![1, 2],
    };
    refused(
        parties.clients[1].submit_share(with_bearer(reuse, &people[3].tokens[1])).await,
        Code::AlreadyExists,
        "SUBMISSION_ID_REUSED",
    );
    let rest = parties.seal(&endpoint, &ids[2..]).await.unwrap();
    assert_eq!(sums(&rest), vec![5, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_jwts_carry_roles_in_their_permission_claim() {
    let mut parties = Parties::start_trusting_jwts(2).await;
    let developer = parties.jwt_person("dev-1", &["create:endpoint"]);
    let request = pb::CreateEndpointRequest { endpoint: Some(config_of("eta", 1, (0, 9))) };
    let created = parties.clients[0].create_endpoint(with_bearer(request, &developer.tokens[0])).await.unwrap();
    let endpoint = created.into_inner().endpoint.unwrap();
    assert_eq!(endpoint.creator, "dev-1");
    parties.create(config_of("eta", 1, (0, 9))).await;

    // No permissions claim: no roles, a readable refusal (not an internal error); reading still works.
    let bare = parties.mint(serde_json::json!({"sub": "nobody", "aud": AUDIENCE}), MintOptions::default());
    let submit = pb::SubmitShareRequest {
        endpoint: "eta".into(),
        submission_id: new_id(),
        party_index: 0,
        config_digest: endpoint.config_digest.clone(),
        share: vec![1],
    };
    let mut c = parties.clients[0].clone();
    refused(c.submit_share(with_bearer(submit.clone(), &bare)).await, Code::PermissionDenied, "");
    let read = c.get_endpoint(with_bearer(pb::GetEndpointRequest { name: "eta".into() }, &bare)).await;
    assert_eq!(read.unwrap().into_inner().endpoint.unwrap().config_digest, endpoint.config_digest);
    let mine = c.get_permissions(with_bearer(pb::GetPermissionsRequest {}, &developer.tokens[0])).await.unwrap();
    assert_eq!(mine.into_inner().permissions, vec!["create:endpoint".to_owned()]);

    // One person is one contributor, whichever token they present (issuer and subject).
    let first = parties.jwt_person("alice", &["post:eta-data"]);
    let second = parties.jwt_person("alice", &["post:eta-data", "get:eta-data"]);
    parties.submit(&endpoint, &first, &[1]).await;
    let again = pb::SubmitShareRequest { submission_id: new_id(), ..submit.clone() };
    refused(
        c.submit_share(with_bearer(again, &second.tokens[0])).await,
        Code::AlreadyExists,
        "CONTRIBUTION_LIMIT_REACHED",
    );

    // admin:tasks archives endpoints, and is no Steward-wide admin.
    let tasks = parties.jwt_person("ops", &["admin:tasks"]);
    let archive = pb::ArchiveEndpointRequest { name: "eta".into() };
    let archived = c.archive_endpoint(with_bearer(archive, &tasks.tokens[0])).await.unwrap().into_inner();
    assert_eq!(archived.endpoint.unwrap().state, i32::from(pb::EndpointState::Archived));
    let mut datasets =
        steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient::new(parties.apps[0].channel().await);
    let create = steward::proto::dataset::v1::CreateDatasetRequest { name: "study".into(), ..Default::default() };
    let status = datasets.create_dataset(with_bearer(create, &tasks.tokens[0])).await.unwrap_err();
    assert!(matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied), "{status:?}");

    // Refused tokens say why, and never echo the token.
    let expired = parties.mint(
        serde_json::json!({"sub": "late", "aud": AUDIENCE, "exp": chrono::Utc::now().timestamp() - 3600, "permissions": ["post:eta-data"]}),
        MintOptions::default(),
    );
    let status = refused(c.submit_share(with_bearer(submit.clone(), &expired)).await, Code::Unauthenticated, "");
    assert!(status.message().contains("expired") && !status.message().contains(&expired), "{}", status.message());
    let elsewhere = parties.mint(serde_json::json!({"sub": "x", "aud": "another-service"}), MintOptions::default());
    let status = refused(c.submit_share(with_bearer(submit.clone(), &elsewhere)).await, Code::Unauthenticated, "");
    assert!(status.message().contains("wrong audience"), "{}", status.message());
    let hmac = parties.mint(
        serde_json::json!({"sub": "x", "aud": AUDIENCE}),
        MintOptions { alg: steward::auth::jwt::sandbox::SandboxAlg::Unsigned, kid: None },
    );
    refused(c.submit_share(with_bearer(submit, &hmac)).await, Code::Unauthenticated, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_that_trusts_no_issuer_refuses_jwts_clearly() {
    let (issuer, _task) = SandboxIssuer::start_local(None).await.unwrap();
    let mut parties = Parties::start(2, &[]).await;
    let token = issuer.mint(
        serde_json::json!({"sub": "a", "aud": AUDIENCE, "permissions": ["get:eta-data"]}),
        MintOptions::default(),
    );
    let status = parties.clients[0].list_endpoints(with_bearer(pb::ListEndpointsRequest::default(), &token)).await;
    let status = refused(status, Code::Unauthenticated, "");
    assert!(status.message().contains("STEWARD_JWT_ISSUER"), "{}", status.message());
}

/// The id of the user with `email` on party `i`.
async fn user_id(parties: &Parties, i: usize, email: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let row: Id = diesel::sql_query("SELECT id FROM users WHERE email = $1")
        .bind::<Text, _>(email)
        .get_result(&mut parties.apps[i].db.conn().await)
        .await
        .unwrap();
    row.id
}

/// Scenario 42: for an endpoint bound to a dataset, the dataset's grants
/// (not the global scientist role) decide who lists, seals and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_bound_endpoint_is_governed_by_the_datasets_grants() {
    use steward::dataset::audit::Actor;
    use steward::dataset::ops::{self as dataset_ops, GrantSpec, Grantee};
    use steward::dataset::permissions::Level;

    let mut parties = Parties::start(2, &[]).await;
    let viewer = parties.person("viewer@example.org", Role::Contributor).await;
    let editor = parties.person("editor@example.org", Role::Contributor).await;
    let outsider_developer = parties.person("dev2@example.org", Role::Developer).await;
    let mut grants = Vec::new();
    for (email, level) in
        [("dev@example.org", Level::Manage), ("viewer@example.org", Level::View), ("editor@example.org", Level::Edit)]
    {
        grants.push((user_id(&parties, 0, email).await, level));
    }
    {
        let mut conn = parties.apps[0].db.conn().await;
        let study = dataset_ops::create_dataset(&mut conn, Actor::System, "study", "", false).await.unwrap();
        for (user, level) in grants {
            let spec = GrantSpec {
                dataset_id: study.id,
                version_id: None,
                level,
                grantee: Grantee::User(user),
                source: "manual",
            };
            dataset_ops::grant(&mut conn, Actor::System, spec).await.unwrap();
        }
    }
    let bound = pb::Endpoint { dataset: "study".into(), min_batch_size: Some(2), ..config_of("eta", 1, (0, 9)) };
    let c = &mut parties.clients[0];
    // Binding needs manage on the dataset; an unknown dataset is named.
    let request = pb::CreateEndpointRequest { endpoint: Some(bound.clone()) };
    refused(c.create_endpoint(with_bearer(request, &outsider_developer.tokens[0])).await, Code::PermissionDenied, "");
    let unknown =
        pb::CreateEndpointRequest { endpoint: Some(pb::Endpoint { dataset: "nope".into(), ..bound.clone() }) };
    let status =
        refused(c.create_endpoint(with_bearer(unknown, &parties.developer.tokens[0])).await, Code::InvalidArgument, "");
    assert!(status.message().contains("dataset"), "{}", status.message());
    let request = pb::CreateEndpointRequest { endpoint: Some(bound) };
    let endpoint = c.create_endpoint(with_bearer(request, &parties.developer.tokens[0])).await.unwrap().into_inner();
    let endpoint = endpoint.endpoint.unwrap();
    assert_eq!(endpoint.dataset, "study");

    let mut ids = Vec::new();
    for person in [&viewer, &editor] {
        let id = new_id();
        let request = pb::SubmitShareRequest {
            endpoint: "eta".into(),
            submission_id: id.clone(),
            party_index: 0,
            config_digest: endpoint.config_digest.clone(),
            share: vec![random_element()],
        };
        c.submit_share(with_bearer(request, &person.tokens[0])).await.unwrap();
        ids.push(id);
    }
    let list = || pb::ListPendingSubmissionsRequest { endpoint: "eta".into(), ..Default::default() };
    let seal = || pb::SealBatchRequest {
        endpoint: "eta".into(),
        submission_ids: ids.clone(),
        config_digest: endpoint.config_digest.clone(),
        expected_batch_digest: String::new(),
    };
    // view: no listing or sealing; the global scientist without a grant: nothing.
    refused(c.list_pending_submissions(with_bearer(list(), &viewer.tokens[0])).await, Code::PermissionDenied, "");
    let status = refused(c.seal_batch(with_bearer(seal(), &viewer.tokens[0])).await, Code::PermissionDenied, "");
    assert!(status.message().contains("dataset 'study'") && status.message().contains("edit"), "{}", status.message());
    refused(
        c.list_pending_submissions(with_bearer(list(), &parties.scientist.tokens[0])).await,
        Code::PermissionDenied,
        "",
    );
    // edit: lists and seals.
    assert_eq!(
        c.list_pending_submissions(with_bearer(list(), &editor.tokens[0])).await.unwrap().into_inner().submission_ids,
        ids
    );
    let sealed = c.seal_batch(with_bearer(seal(), &editor.tokens[0])).await.unwrap().into_inner().batch.unwrap();
    // view reads the batch; the global scientist still may not.
    let get = || pb::GetBatchRequest { endpoint: "eta".into(), batch_digest: sealed.batch_digest.clone() };
    assert_eq!(c.get_batch(with_bearer(get(), &viewer.tokens[0])).await.unwrap().into_inner().batch.unwrap(), sealed);
    refused(c.get_batch(with_bearer(get(), &parties.scientist.tokens[0])).await, Code::PermissionDenied, "");
    // Admins may do everything.
    assert!(c.get_batch(with_bearer(get(), &parties.admin.tokens[0])).await.is_ok());
}

/// Privacy Guardian's post: `party_index` and `config_digest` are optional
/// there, each checked when given; `submission_id` is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_posts_check_the_party_and_digest_only_when_given() {
    let mut parties = Parties::start(2, &[]).await;
    let endpoint = parties.create(config_of("eta", 2, (0, 9))).await;
    let people = parties.contributors(4).await;
    let post = |party_index: Option<u32>, config_digest: &str| pb::SubmitLegacyShareRequest {
        endpoint: "eta".into(),
        data: vec![random_element(), random_element()],
        submission_id: new_id(),
        client_id: "x_r_client".into(),
        party_index,
        config_digest: config_digest.into(),
    };
    let c = &mut parties.clients[0];
    let plain = c.submit_legacy_share(with_bearer(post(None, ""), &people[0].tokens[0])).await.unwrap().into_inner();
    assert_eq!((plain.message.as_str(), plain.duplicate), ("Data received successfully", false));
    let indexed = c.submit_legacy_share(with_bearer(post(Some(0), ""), &people[1].tokens[0])).await;
    assert!(indexed.is_ok(), "a party index without a digest: {indexed:?}");
    let checked = c.submit_legacy_share(with_bearer(post(None, &endpoint.config_digest), &people[2].tokens[0])).await;
    assert!(checked.is_ok(), "{checked:?}");
    let wrong = c.submit_legacy_share(with_bearer(post(Some(1), ""), &people[3].tokens[0])).await;
    refused(wrong, Code::FailedPrecondition, "WRONG_PARTY");
    let stale = c.submit_legacy_share(with_bearer(post(None, &"0".repeat(64)), &people[3].tokens[0])).await;
    refused(stale, Code::FailedPrecondition, "CONFIG_MISMATCH");
    let no_id = pb::SubmitLegacyShareRequest { submission_id: String::new(), ..post(None, "") };
    let status =
        refused(c.submit_legacy_share(with_bearer(no_id, &people[3].tokens[0])).await, Code::InvalidArgument, "");
    assert!(status.message().contains("submission_id"), "{}", status.message());
    assert_eq!(parties.pending(0, "eta", 10).await.len(), 3);
}
