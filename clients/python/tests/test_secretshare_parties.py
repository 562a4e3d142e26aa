"""steward_client.secretshare.Parties against real Steward parties (spec
secretshare.md §4, scenarios 1, 2, 4, 12, 44, 54): three `steward serve`
processes of the binary under test (STEWARD_BIN), each with its own data dir
and embedded PostgreSQL, configured as parties 0, 1 and 2 of 3. Tokens are made
with the real CLI on each party, since each party is its own deployment."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Dict, Iterator, List, Sequence, Tuple

import pytest
from conftest import LocalServer
from local_party import LocalParty

import steward_client
from steward_client.secretshare import (
    IncompleteSubmission,
    Parties,
    SealError,
    SecretShareError,
    batch_digest,
    config_digest,
)

N = 3


class Stack:
    """The N parties and tokens on each of them, by (email, role)."""

    def __init__(self, parties: List[LocalParty]) -> None:
        self.parties = parties
        self.urls = [party.url for party in parties]
        self._tokens: Dict[Tuple[str, str], List[str]] = {}

    def tokens(self, email: str, role: str) -> List[str]:
        key = (email, role)
        if key not in self._tokens:
            self._tokens[key] = [party.token(email, role) for party in self.parties]
        return self._tokens[key]

    def as_role(self, email: str, role: str) -> Parties:
        return Parties(self.urls, token=self.tokens(email, role))

    def scientist_clients(self) -> List[steward_client.Client]:
        return [
            steward_client.Client(url, token)
            for url, token in zip(self.urls, self.tokens("sci@example.org", "scientist"))
        ]

    def pending(self, name: str) -> List[List[str]]:
        """Each party's pending ids, as its scientist sees them."""
        pending = []
        for client in self.scientist_clients():
            with client:
                pending.append(list(client.secretshare.list_pending_submissions(endpoint=name).submission_ids))
        return pending


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    binary = os.environ.get("STEWARD_BIN")
    if not binary:
        pytest.fail("STEWARD_BIN is not set: run these tests with `tests/e2e/run python`", pytrace=False)
    parties = [LocalParty(binary, index, N, name=f"party {index}") for index in range(N)]
    try:
        for party in parties:
            party.wait_healthy()
        yield Stack(parties)
    finally:
        for party in parties:
            party.stop()


def create(stack: Stack, **config: object) -> None:
    with stack.as_role("dev@example.org", "developer") as developer:
        developer.create_endpoint(**config)


def contribute(stack: Stack, name: str, rows: Sequence[Sequence[object]], first: int = 0) -> List[str]:
    """Each row submitted by its own contributor (c<first>, c<first+1>, ...)."""
    ids = []
    for number, row in enumerate(rows, start=first):
        with stack.as_role(f"c{number}@example.org", "contributor") as contributor:
            ids.append(contributor.submit(name, row))
    return ids


# --- configuration checks --------------------------------------------------------------


def test_check_puts_the_parties_in_index_order(stack: Stack) -> None:
    urls = [stack.urls[2], stack.urls[0], stack.urls[1]]
    with Parties(urls) as parties:  # GetPartyInfo needs no token
        infos = parties.check()
    assert [info.party_index for info in infos] == [0, 1, 2]
    assert all(info.party_count == N and info.modulus == "18446744069414584321" for info in infos)
    assert [info.party_name for info in infos] == ["party 0", "party 1", "party 2"]


def test_a_party_listed_twice_is_refused_and_nothing_is_sent(stack: Stack) -> None:
    """Scenario 54: two parties answering with the same party_index."""
    create(stack, name="twice", vector_length=1, encoding="integer", min_value=0, max_value=10, min_batch_size=2)
    urls = [stack.urls[0], stack.urls[0], stack.urls[2]]
    with Parties(urls, token=stack.tokens("c-twice@example.org", "contributor")) as parties:
        with pytest.raises(SecretShareError, match="both say they are party 0; two shares must never go to one party"):
            parties.submit("twice", [1])
    assert stack.pending("twice") == [[], [], []]


def test_fewer_parties_than_configured_are_refused(stack: Stack) -> None:
    """Scenario 44's client side: parties configured for N = 3, a client given 2."""
    with Parties(stack.urls[:2]) as parties:
        with pytest.raises(SecretShareError, match="says there are 3 parties, but 2 were configured here"):
            parties.check()


def test_different_configurations_are_refused_and_nothing_is_sent(stack: Stack) -> None:
    """Scenario 54: one party holds the endpoint with another vector length."""
    for index, (url, token) in enumerate(zip(stack.urls, stack.tokens("dev@example.org", "developer"))):
        with steward_client.Client(url, token) as client:
            client.secretshare.create_endpoint(
                endpoint={
                    "name": "split-brain",
                    "vector_length": 4 if index == 2 else 3,
                    "encoding": "VALUE_ENCODING_INTEGER",
                    "min_value": 0,
                    "max_value": 10,
                    "min_batch_size": 2,
                }
            )
    with stack.as_role("c-split@example.org", "contributor") as contributor:
        with pytest.raises(SecretShareError, match="parties 0 and 2 hold different configurations"):
            contributor.submit("split-brain", [1, 2, 3])
    assert stack.pending("split-brain") == [[], [], []]


def test_endpoint_checks_the_expected_fields(stack: Stack) -> None:
    create(stack, name="expected", vector_length=2, encoding="fixed_point", decimal_scale=1, min_value=-5, max_value=5)
    with stack.as_role("c-exp@example.org", "contributor") as parties:
        endpoint = parties.endpoint(
            "expected", expect={"vector_length": 2, "encoding": "fixed_point", "decimal_scale": 1}
        )
        assert endpoint.config_digest == config_digest(endpoint, N)
        assert endpoint.min_batch_size == 5  # the server's default
        with pytest.raises(SecretShareError, match="has decimal_scale = 1, expected 2"):
            parties.endpoint("expected", expect={"decimal_scale": 2})
    with stack.as_role("dev@example.org", "developer") as developer:
        # Creating is idempotent; the same name with another configuration is refused.
        again = developer.create_endpoint(
            name="expected", vector_length=2, encoding="fixed_point", decimal_scale=1, min_value=-5, max_value=5
        )
        assert again.config_digest == endpoint.config_digest
        with pytest.raises(SecretShareError, match=r"party 0 .* refused to create endpoint 'expected'") as refused:
            developer.create_endpoint(name="expected", vector_length=3, encoding="integer", min_value=0, max_value=5)
        assert isinstance(refused.value.__cause__, steward_client.AlreadyExists)


# --- submitting and summing ------------------------------------------------------------

ROWS: List[List[object]] = [
    ["12.5", "-1000", "0.01"],
    ["-0.25", "999.99", "-0.01"],
    [3, "-17.3", "1000"],
    [0.1, "0", "-999.99"],
    ["-42", "5.05", "7"],
    ["1000", "-1000", "-1000"],
    ["-333.33", "333.33", "0.5"],
    ["8", "-8", "-0.5"],
    ["0.07", "-0.07", "250"],
    ["-999.99", "1.5", "-250.25"],
]


def exact_sums(rows: Sequence[Sequence[object]]) -> List[Decimal]:
    return [
        sum((Decimal(repr(v) if isinstance(v, float) else str(v)) for v in column), Decimal(0)) for column in zip(*rows)
    ]


def test_three_parties_sum_fixed_point_values_exactly_in_disjoint_batches(stack: Stack) -> None:
    """Scenarios 2, 4 and 12: negatives and decimals sum exactly; two batches; resealing."""
    create(
        stack,
        name="survey",
        vector_length=3,
        encoding="fixed_point",
        decimal_scale=2,
        min_value=-100000,
        max_value=100000,
        min_batch_size=5,
    )
    ids = contribute(stack, "survey", ROWS[:6])
    assert all(set(ids) <= set(pending) for pending in stack.pending("survey"))

    with stack.as_role("sci@example.org", "scientist") as scientist:
        first = scientist.seal_and_sum("survey", n=5)
        assert first.sums == exact_sums(ROWS[:5])
        assert (first.submission_count, first.contributor_count) == (5, 5)
        assert list(first.submission_ids) == ids[:5]  # the oldest first
        assert first.batch_digest == batch_digest("survey", ids[:5])
        assert not first.already_sealed

        # One pending submission is below the minimum batch size.
        with pytest.raises(
            SecretShareError, match="only 1 submissions of endpoint 'survey' are pending on every party"
        ):
            scientist.seal_and_sum("survey")

        ids += contribute(stack, "survey", ROWS[6:], first=6)
        second = scientist.seal_and_sum("survey")
        assert second.sums == exact_sums(ROWS[5:])
        assert (second.submission_count, second.contributor_count) == (5, 5)
        assert list(second.submission_ids) == ids[5:]
        assert [a + b for a, b in zip(first.sums, second.sums)] == exact_sums(ROWS)

        # The same set again, in another order: the same batch, unchanged.
        again = scientist.seal_and_sum("survey", ids=list(reversed(first.submission_ids)))
        assert again.sums == first.sums and again.batch_digest == first.batch_digest and again.already_sealed

        # A set overlapping a sealed batch can never be sealed; nothing changes.
        with pytest.raises(SealError, match="nothing was sealed; this set cannot be sealed") as refused:
            scientist.seal_and_sum("survey", ids=[*first.submission_ids[:4], ids[5]])
        assert refused.value.permanent and refused.value.sealed_on == []
        # The server's machine-readable reason and the offending id travel with the error.
        cause = refused.value.__cause__
        assert isinstance(cause, steward_client.FailedPrecondition) and cause.reason == "BATCH_OVERLAP"
        assert ("submission_ids", first.submission_ids[0]) in cause.field_violations
    assert stack.pending("survey") == [[], [], []]


def test_sealing_without_the_scientist_role_is_refused_and_may_be_retried(stack: Stack) -> None:
    create(stack, name="guarded", vector_length=1, encoding="integer", min_value=0, max_value=10, min_batch_size=2)
    ids = contribute(stack, "guarded", [[1], [2]], first=100)
    with stack.as_role("c100@example.org", "contributor") as contributor:
        with pytest.raises(
            SealError, match=r"retrying seal_and_sum\('guarded', ids=error.submission_ids\) is safe"
        ) as refused:
            contributor.seal_and_sum("guarded", ids=ids)
    assert not refused.value.permanent and refused.value.submission_ids == ids
    assert isinstance(refused.value.__cause__, steward_client.PermissionDenied)
    with stack.as_role("sci@example.org", "scientist") as scientist:
        result = scientist.seal_and_sum("guarded", ids=refused.value.submission_ids)
    assert result.sums == [3] and result.contributor_count == 2


def test_a_refusal_by_the_first_party_leaves_nothing_anywhere(stack: Stack) -> None:
    """One submission per contributor by default: the second is refused by party 0."""
    create(stack, name="once", vector_length=1, encoding="integer", min_value=0, max_value=10, min_batch_size=2)
    with stack.as_role("c-once@example.org", "contributor") as contributor:
        first = contributor.submit("once", [1])
        with pytest.raises(SecretShareError, match=r"party 0 .* refused submission .*; no party holds it") as refused:
            contributor.submit("once", [2])
    assert isinstance(refused.value.__cause__, steward_client.AlreadyExists)
    assert stack.pending("once") == [[first]] * N


def test_a_refusal_by_a_later_party_withdraws_the_submission_from_the_others(stack: Stack) -> None:
    create(stack, name="withdrawn", vector_length=1, encoding="integer", min_value=0, max_value=10, min_batch_size=2)
    # Party 2 knows this person only as a scientist, so it refuses the share.
    tokens = [stack.parties[i].token("c-half@example.org", "contributor") for i in (0, 1)]
    tokens.append(stack.parties[2].token("c-half@example.org", "scientist"))
    with Parties(stack.urls, token=tokens) as contributor:
        with pytest.raises(
            SecretShareError, match=r"party 2 .* refused submission .*; it was withdrawn from parties \[0, 1\]"
        ) as refused:
            contributor.submit("withdrawn", [3])
    assert isinstance(refused.value.__cause__, steward_client.PermissionDenied)
    assert stack.pending("withdrawn") == [[], [], []]


def test_an_unreachable_party_keeps_the_shares_for_a_retry_with_the_same_id(stack: Stack) -> None:
    """A party behind a relay that goes away mid-submission; resuming sends the same shares."""
    create(stack, name="resumed", vector_length=2, encoding="integer", min_value=-10, max_value=10, min_batch_size=2)
    upstream = ("127.0.0.1", stack.parties[2].port)
    relays = [LocalServer("relay", upstream=upstream)]
    port = relays[0].port
    tokens = stack.tokens("c-resume@example.org", "contributor")
    urls = [*stack.urls[:2], f"http://127.0.0.1:{port}"]
    clients = [
        steward_client.Client(url, token, timeout=5.0, retries=1, backoff=0.05, max_backoff=0.1)
        for url, token in zip(urls, tokens)
    ]
    try:
        parties = Parties(clients, retries=1)
        parties.endpoint("resumed")
        relays.pop().close()
        with pytest.raises(IncompleteSubmission, match=r"party 2 .* could not be reached") as incomplete:
            parties.submit("resumed", [-4, 9])
        assert incomplete.value.acknowledged == [0, 1]
        submission_id = incomplete.value.submission_id
        message = f"{incomplete.value} {incomplete.value!r}"
        assert not any(str(element) in message for share in incomplete.value._shares for element in share)
        pending = stack.pending("resumed")
        assert pending[:2] == [[submission_id], [submission_id]] and pending[2] == []

        relays.append(LocalServer("relay", upstream=upstream, port=port))
        assert parties.resume(incomplete.value) == submission_id
        assert stack.pending("resumed") == [[submission_id]] * N
        # Resuming again is harmless: every party answers duplicate = true.
        incomplete.value.acknowledged = []
        assert parties.resume(incomplete.value) == submission_id
        assert stack.pending("resumed") == [[submission_id]] * N
    finally:
        for client in clients:
            client.close()
        for relay in relays:
            relay.close()


def test_a_batch_never_exceeds_the_decodable_size(stack: Stack) -> None:
    """Scenario 3 from the client's side: every contributor sends max_value; the batch
    chosen stops at max_decodable_batch_size and its sum decodes exactly."""
    top = (18446744069414584321 - 1) // 2 // 3  # three of these still decode, four would wrap
    create(stack, name="edge", vector_length=1, encoding="integer", min_value=0, max_value=top, min_batch_size=2)
    ids = contribute(stack, "edge", [[top]] * 4, first=200)
    with stack.as_role("sci@example.org", "scientist") as scientist:
        assert scientist.endpoint("edge").max_decodable_batch_size == 3
        result = scientist.seal_and_sum("edge")
    assert result.sums == [3 * top] and list(result.submission_ids) == ids[:3]
    assert stack.pending("edge") == [ids[3:]] * N


def test_a_submission_one_party_missed_stays_out_of_the_batch(stack: Stack) -> None:
    """A client reached parties 0 and 1 but not party 2: seal_and_sum seals only the
    submissions every party holds, and the incomplete one stays pending where it is."""
    from steward_client.secretshare import encode, new_submission_id, split

    create(stack, name="gaps", vector_length=1, encoding="integer", min_value=0, max_value=10, min_batch_size=2)
    complete = contribute(stack, "gaps", [[1], [2]], first=300)
    with stack.as_role("sci@example.org", "scientist") as scientist:
        endpoint = scientist.endpoint("gaps")
    shares = split(encode([7], endpoint), N)
    partial = new_submission_id()
    tokens = stack.tokens("c302@example.org", "contributor")
    for index in (0, 1):  # party 2 never hears of it
        with steward_client.Client(stack.urls[index], tokens[index]) as client:
            client.secretshare.submit_share(
                endpoint="gaps",
                submission_id=partial,
                party_index=index,
                config_digest=endpoint.config_digest,
                share=shares[index],
            )
    assert stack.pending("gaps") == [complete + [partial], complete + [partial], complete]
    with stack.as_role("sci@example.org", "scientist") as scientist:
        result = scientist.seal_and_sum("gaps")
    assert result.sums == [3] and list(result.submission_ids) == complete
    assert stack.pending("gaps") == [[partial], [partial], []]
