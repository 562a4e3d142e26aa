"""Additive secret sharing over Steward parties (spec secretshare.md §2, §4).

A contributor's vector is encoded as integers, mapped into the field of
p = 2^64 - 2^32 + 1, split into N uniformly random shares that add up to it
modulo p, and share i is sent to party i (a Steward deployment of its own).
No party alone learns anything. A scientist seals the same set of submissions
on every party and adds the parties' aggregate shares to get the sums.

    from steward_client.secretshare import Parties

    with Parties(["https://party-a.example", "https://party-b.example"], token=token) as parties:
        parties.check()                               # indices 0..N-1, one each, N everywhere
        parties.endpoint("survey", expect={"vector_length": 3})
        parties.submit("survey", ["1.25", 3, "-0.5"])            # a contributor
        result = parties.seal_and_sum("survey")                  # a scientist
        print(result.sums, result.contributor_count)

The pure functions (`encode`, `decode`, `split`, `config_digest`,
`batch_digest`, `new_submission_id`, `max_decodable_batch_size`) need no server.
Randomness comes only from `secrets` (the OS CSPRNG). Nothing here logs shares
or values, and error messages never contain them.
"""

from __future__ import annotations

import hashlib
import numbers
import re
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, Union

from . import errors
from ._client import Client
from .proto.steward.secretshare.v1 import secretshare_service_pb2 as pb

__all__ = [
    "P",
    "AggregateResult",
    "EncodingError",
    "IncompleteSubmission",
    "Parties",
    "SealError",
    "SecretShareError",
    "batch_digest",
    "config_digest",
    "decode",
    "encode",
    "max_decodable_batch_size",
    "new_submission_id",
    "split",
]

#: The field modulus p = 2^64 - 2^32 + 1 (the VDAF "Field64").
P = 18446744069414584321
_HALF = (P - 1) // 2  # 9223372034707292160: the largest |integer| a field element stands for

_ENCODING_NAMES = {
    pb.VALUE_ENCODING_INTEGER: "integer",
    pb.VALUE_ENCODING_FIXED_POINT: "fixed_point",
}
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SUBMISSION_ID = re.compile(r"[0-9a-fA-F]{32}")
# Failures worth another try with the same request: the party was unreachable,
# slow, or (for SealBatch) lost a serialization race. Every other error is an answer.
_TRANSIENT: Tuple[Type[errors.StewardError], ...] = (errors.Unavailable, errors.DeadlineExceeded, errors.Aborted)


class SecretShareError(Exception):
    """A secret-share operation was refused, by this library or by a party.

    The message says what to do. When a party refused, the `StewardError` it
    raised is the exception's `__cause__`.
    """


class EncodingError(SecretShareError, ValueError):
    """A value cannot be encoded for the endpoint (too many fractional digits,
    out of range, wrong vector length, not finite)."""


class IncompleteSubmission(SecretShareError):
    """Some party could not be reached while submitting.

    The parties in `acknowledged` hold the submission; the others did not answer.
    Nothing was withdrawn: call `Parties.resume(error)` later to send the *same*
    shares under the same id (never new ones), or `Parties.withdraw(error)` to
    take the submission back from the parties that hold it. The shares are kept
    on this object (not in its message) until then.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        submission_id: str,
        acknowledged: Sequence[int],
        config_digest: str,
        shares: List[List[int]],
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.submission_id = submission_id
        self.acknowledged = list(acknowledged)
        self.config_digest = config_digest
        self._shares = shares

    def __repr__(self) -> str:  # never the shares
        return (
            f"IncompleteSubmission(endpoint={self.endpoint!r}, submission_id={self.submission_id!r}, "
            f"acknowledged={self.acknowledged!r})"
        )


@dataclass(frozen=True)
class AggregateResult:
    """The released sums of one sealed batch.

    Attributes:
        sums: one exact `Decimal` per vector element (scaled by 10^-d).
        submission_count: how many submissions the batch adds up.
        contributor_count: from how many distinct contributors (for means).
        batch_digest: the batch's identifier, equal on every party.
        submission_ids: the sealed ids, in the order they were chosen.
        already_sealed: every party had sealed this exact set before.
    """

    sums: List[Decimal]
    submission_count: int
    contributor_count: int
    batch_digest: str
    submission_ids: Tuple[str, ...] = ()
    already_sealed: bool = False


# --- pure functions ------------------------------------------------------------------


def max_decodable_batch_size(endpoint: pb.Endpoint) -> Optional[int]:
    """The largest batch whose sum decodes exactly (spec §2.2); None when both bounds are 0."""
    bound = max(abs(endpoint.min_value), abs(endpoint.max_value))
    return None if bound == 0 else _HALF // bound


def _scale(endpoint: pb.Endpoint) -> int:
    if endpoint.encoding == pb.VALUE_ENCODING_INTEGER:
        if endpoint.decimal_scale != 0:
            raise SecretShareError(
                f"endpoint {endpoint.name!r}: integer encoding with decimal_scale {endpoint.decimal_scale}"
            )
        return 0
    if endpoint.encoding == pb.VALUE_ENCODING_FIXED_POINT:
        return int(endpoint.decimal_scale)
    raise SecretShareError(f"endpoint {endpoint.name!r} has no value encoding; is it an Endpoint returned by a party?")


def _as_decimal(value: Any, position: int) -> Decimal:
    """A value as an exact Decimal: strings are parsed, floats read from their shortest repr."""
    if isinstance(value, bool):
        raise TypeError(f"value {position} is a bool; give a number")
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise EncodingError(f"value {position} is not a decimal number (e.g. '12', '-0.25', '1e3')")
        return Decimal(text)
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, float):
        # repr() is the shortest text that reads back as the same float, which
        # is what R and JavaScript print too; the float's binary expansion is not used.
        parsed = Decimal(repr(value))
    elif isinstance(value, numbers.Integral):
        parsed = Decimal(int(value))
    elif isinstance(value, numbers.Real):  # e.g. numpy.float32
        parsed = Decimal(repr(float(value)))
    else:
        raise TypeError(f"value {position} is a {type(value).__name__}; give a str, int, float or Decimal")
    if not parsed.is_finite():
        raise EncodingError(f"value {position} is not finite")
    return parsed


def _to_integer(value: Decimal, scale: int) -> Optional[int]:
    """value * 10^scale as an int, or None if that is not an integer (never rounds)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by _as_decimal
    text = "".join(map(str, digits)).lstrip("0")
    if not text:
        return 0
    stripped = text.rstrip("0")  # 2.50 at d=1 is 25: zeros past d change nothing
    shift = exponent + (len(text) - len(stripped)) + scale
    if shift < 0:
        return None
    if shift + len(stripped) > 40:  # far beyond any int64 bound; never build a huge integer
        integer = 10**40
    else:
        integer = int(stripped) * 10**shift
    return -integer if sign else integer


def encode(values: Iterable[Any], endpoint: pb.Endpoint) -> List[int]:
    """Encodes one submission's values as field elements (spec §2.2, §4.3).

    Each value is a `str` ("12.5", "-3", "1e2"), an `int`, a `Decimal` or a
    `float` (read from its shortest decimal form, so 0.1 is exactly 0.1). A
    value becomes `e = v * 10^d` for fixed-point endpoints (`e = v` for
    integer ones) and enters the field as `e mod p`.

    Raises:
        EncodingError: a value with more than `decimal_scale` nonzero fractional
            digits (nothing is rounded), outside [min_value, max_value] after
            scaling, not finite, or a vector whose length is not `vector_length`.
        TypeError: a bool or a value of another type.
    """
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    values = list(values)
    if len(values) != endpoint.vector_length:
        raise EncodingError(f"endpoint {endpoint.name!r} takes {endpoint.vector_length} values, got {len(values)}")
    scale = _scale(endpoint)
    encoded = []
    for position, value in enumerate(values):
        integer = _to_integer(_as_decimal(value, position), scale)
        if integer is None:
            raise EncodingError(
                f"value {position} has more than {scale} fractional digits, which endpoint "
                f"{endpoint.name!r} cannot hold; round it yourself first if that is what you mean"
            )
        if not endpoint.min_value <= integer <= endpoint.max_value:
            raise EncodingError(
                f"value {position} is outside the range [{_unscaled(endpoint.min_value, scale)}, "
                f"{_unscaled(endpoint.max_value, scale)}] of endpoint {endpoint.name!r}"
            )
        encoded.append(integer % P)
    return encoded


def _unscaled(integer: int, scale: int) -> Decimal:
    """integer / 10^scale, exactly (built from digits, whatever the decimal context)."""
    digits = tuple(int(c) for c in str(abs(integer)))
    return Decimal((1 if integer < 0 else 0, digits, -scale))


def decode(aggregate: Sequence[int], endpoint: pb.Endpoint) -> List[Decimal]:
    """Decodes summed field elements into exact decimals (spec §2.2).

    An element s > (p-1)/2 stands for the negative integer s - p; the integer is
    divided by 10^d exactly. Exact while the true sum's magnitude is at most
    (p-1)/2, which `max_decodable_batch_size` guarantees for honest contributors.
    """
    if len(aggregate) != endpoint.vector_length:
        raise SecretShareError(
            f"endpoint {endpoint.name!r} has {endpoint.vector_length} elements, got {len(aggregate)}"
        )
    scale = _scale(endpoint)
    sums = []
    for position, element in enumerate(aggregate):
        if isinstance(element, bool) or not isinstance(element, int) or not 0 <= element < P:
            raise SecretShareError(f"aggregate element {position} is not a field element (an int in [0, p))")
        sums.append(_unscaled(element - P if element > _HALF else element, scale))
    return sums


def split(encoded: Sequence[int], n: int) -> List[List[int]]:
    """Splits field elements into `n` additive shares: share i goes to party i.

    Shares 0..n-2 are drawn independently and uniformly from [0, p) with
    `secrets.randbelow` (the OS CSPRNG, by rejection sampling); the last one is
    `(f - sum of the others) mod p`, so the shares add up to `encoded` modulo p.
    Any n-1 of them are uniformly random and reveal nothing.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"need at least 2 parties, got {n!r}")
    for position, element in enumerate(encoded):
        if isinstance(element, bool) or not isinstance(element, int) or not 0 <= element < P:
            raise ValueError(f"element {position} is not a field element (an int in [0, p))")
    shares = [[secrets.randbelow(P) for _ in encoded] for _ in range(n - 1)]
    last = [(element - sum(share[j] for share in shares)) % P for j, element in enumerate(encoded)]
    shares.append(last)
    return shares


def config_digest(endpoint: pb.Endpoint, party_count: int) -> str:
    """The endpoint's config digest for `party_count` parties (spec §2.3): lowercase hex SHA-256."""
    if endpoint.field not in (pb.FIELD_UNSPECIFIED, pb.FIELD_FIELD64):
        raise SecretShareError(f"endpoint {endpoint.name!r} uses a field this client does not know ({endpoint.field})")
    encoding = _ENCODING_NAMES.get(endpoint.encoding)
    if encoding is None:
        raise SecretShareError(f"endpoint {endpoint.name!r} has no value encoding")
    if not endpoint.HasField("min_batch_size"):
        raise SecretShareError(
            f"endpoint {endpoint.name!r} has no min_batch_size; digest the Endpoint a party returned"
        )
    submissions = (
        endpoint.max_submissions_per_contributor if endpoint.HasField("max_submissions_per_contributor") else 1
    )
    text = (
        "steward-secretshare-endpoint/v1\n"
        f"name={endpoint.name}\n"
        f"party_count={int(party_count)}\n"
        "field=field64\n"
        f"modulus={P}\n"
        f"vector_length={endpoint.vector_length}\n"
        f"encoding={encoding}\n"
        f"decimal_scale={endpoint.decimal_scale}\n"
        f"min_value={endpoint.min_value}\n"
        f"max_value={endpoint.max_value}\n"
        f"min_batch_size={endpoint.min_batch_size}\n"
        f"max_submissions_per_contributor={submissions}\n"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _id_bytes(submission_id: str) -> bytes:
    if not isinstance(submission_id, str) or not _SUBMISSION_ID.fullmatch(submission_id):
        raise ValueError(f"submission id {submission_id!r} is not 32 hex digits")
    raw = bytes.fromhex(submission_id)
    if raw == bytes(16):
        raise ValueError("the all-zero submission id is not allowed")
    return raw


def batch_digest(name: str, ids: Sequence[str]) -> str:
    """The batch digest of endpoint `name` and a set of submission ids (spec §2.5).

    SHA-256 of "steward-secretshare-batch/v1\\n", the name, "\\n" and the
    16-byte binary ids sorted ascending; the order of `ids` does not matter.
    """
    raw = sorted(_id_bytes(i) for i in ids)
    if not raw:
        raise ValueError("a batch needs at least one submission id")
    if len(set(raw)) != len(raw):
        raise ValueError("a batch lists each submission id once")
    digest = hashlib.sha256(b"steward-secretshare-batch/v1\n" + name.encode("utf-8") + b"\n")
    for identifier in raw:
        digest.update(identifier)
    return digest.hexdigest()


def new_submission_id() -> str:
    """A fresh submission id: 16 CSPRNG bytes as 32 lowercase hex digits, never all zeros."""
    while True:
        raw = secrets.token_bytes(16)
        if raw != bytes(16):
            return raw.hex()


def _encoding_value(value: Any) -> int:
    """An encoding given as "integer", "fixed_point", the enum's name or number."""
    if isinstance(value, str):
        short = {"integer": pb.VALUE_ENCODING_INTEGER, "fixed_point": pb.VALUE_ENCODING_FIXED_POINT}
        if value.lower() in short:
            return short[value.lower()]
        return int(pb.ValueEncoding.Value(value))
    return int(value)


# --- talking to the parties ----------------------------------------------------------


class Parties:
    """All N parties of a secret-share deployment, in party order.

    Args:
        parties: one `steward_client.Client` or URL per party. Each party's URL
            must come from your own configuration, never from another party.
            The order does not matter: `check()` puts them in party-index order.
        token: the token for Clients made here from URLs: one for all parties
            (e.g. a JWT every party accepts), or a list with one per party, in
            the order of `parties` (Steward API tokens are issued by each party).
        retries: how many more times a call that found a party unreachable (or
            lost a race, for sealing) is repeated with the identical request,
            on top of the Client's own retries.
        **client_options: passed to `Client` for URLs (timeout, root_certificates, …).

    Clients made here from URLs are closed by `close()` (or the `with` block);
    Clients you pass in stay yours.
    """

    def __init__(
        self,
        parties: Sequence[Union[Client, str]],
        token: Union[str, Sequence[Optional[str]], None] = None,
        *,
        retries: int = 3,
        **client_options: Any,
    ) -> None:
        if isinstance(parties, (str, bytes)) or len(parties) < 2:
            raise SecretShareError("secret sharing needs at least 2 parties: give every party's Client or URL")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries!r}")
        for party in parties:
            if not isinstance(party, (Client, str)):
                raise TypeError(f"a party is a steward_client.Client or a URL, got {type(party).__name__}")
        if token is None or isinstance(token, str):
            tokens: List[Optional[str]] = [token] * len(parties)
        else:
            tokens = list(token)
            if len(tokens) != len(parties):
                raise ValueError(f"give one token per party: {len(parties)} parties, {len(tokens)} tokens")
        self._owned: List[Client] = []
        self._given: List[Client] = []
        try:
            for party, party_token in zip(parties, tokens):
                client = party if isinstance(party, Client) else Client(party, party_token, **client_options)
                if client is not party:
                    self._owned.append(client)
                self._given.append(client)
        except BaseException:
            self.close()
            raise
        self._retries = retries
        self._clients: Optional[List[Client]] = None  # by party index, after check()
        self._infos: List[pb.GetPartyInfoResponse] = []
        self._endpoints: Dict[str, pb.Endpoint] = {}

    @property
    def count(self) -> int:
        """N, the number of parties."""
        return len(self._given)

    # --- checks ---------------------------------------------------------------------

    def check(self) -> List[pb.GetPartyInfoResponse]:
        """Asks every party who it is and refuses unless they form parties 0..N-1.

        Each party's `GetPartyInfo` must report a distinct index in 0..N-1 and
        `party_count` N (N being the number of parties given here), the Field64
        modulus and field. Returns the answers in party order. Every other
        method calls this first, so nothing is ever sent to a misconfigured set.

        Raises:
            SecretShareError: the parties disagree with each other or with N.
        """
        n = self.count
        infos = [self._call(client, "get_party_info") for client in self._given]
        by_index: Dict[int, int] = {}
        for position, (client, info) in enumerate(zip(self._given, infos)):
            where = f"party {client.url}"
            if info.party_count != n:
                raise SecretShareError(
                    f"{where} says there are {info.party_count} parties, but {n} were configured here; "
                    "every party's URL must be given, and every party must be configured with the same count"
                )
            if info.modulus != str(P) or info.field != pb.FIELD_FIELD64:
                raise SecretShareError(
                    f"{where} uses field modulus {info.modulus!r}; this client knows only Field64 ({P})"
                )
            if info.party_index >= n:
                raise SecretShareError(f"{where} says it is party {info.party_index}, but there are only {n}")
            if info.party_index in by_index:
                other = self._given[by_index[info.party_index]]
                raise SecretShareError(
                    f"{where} and party {other.url} both say they are party {info.party_index}; "
                    "two shares must never go to one party, so nothing is sent"
                )
            by_index[info.party_index] = position
        self._clients = [self._given[by_index[i]] for i in range(n)]
        self._infos = [infos[by_index[i]] for i in range(n)]
        return list(self._infos)

    def _parties(self) -> List[Client]:
        if self._clients is None:
            self.check()
        assert self._clients is not None
        return self._clients

    def endpoint(self, name: str, expect: Optional[Mapping[str, Any]] = None) -> pb.Endpoint:
        """Reads endpoint `name` from every party and checks they hold the same one.

        All parties must return the same `config_digest`, equal to the digest
        recomputed here from the returned fields with this N, and each must
        say it is the party it was checked to be. `expect` maps Endpoint field
        names to the values you rely on, e.g. `{"vector_length": 10,
        "encoding": "fixed_point", "decimal_scale": 2}`.

        Returns party 0's Endpoint. Raises SecretShareError on any difference.
        """
        clients = self._parties()
        endpoints = []
        for index, client in enumerate(clients):
            response = self._call(client, "get_endpoint", name=name)
            if response.party_index != index:
                raise SecretShareError(
                    f"party {client.url} answered as party {response.party_index}, but it is party {index}"
                )
            endpoint: pb.Endpoint = response.endpoint
            endpoints.append(endpoint)
        self._verify(name, endpoints, expect)
        self._endpoints[name] = endpoints[0]
        return endpoints[0]

    def _verify(self, name: str, endpoints: Sequence[pb.Endpoint], expect: Optional[Mapping[str, Any]]) -> None:
        clients = self._parties()
        first = endpoints[0]
        for index, endpoint in enumerate(endpoints):
            if endpoint.name != name:
                raise SecretShareError(
                    f"party {index} ({clients[index].url}) returned endpoint {endpoint.name!r} for {name!r}"
                )
            if endpoint.config_digest != first.config_digest:
                raise SecretShareError(
                    f"parties 0 and {index} hold different configurations of endpoint {name!r} "
                    f"(config digests {first.config_digest} and {endpoint.config_digest}); nothing is sent"
                )
            local = config_digest(endpoint, self.count)
            if endpoint.config_digest != local:
                raise SecretShareError(
                    f"party {index} ({clients[index].url}) reports config digest {endpoint.config_digest} for "
                    f"endpoint {name!r}, but its fields with {self.count} parties give {local}; nothing is sent"
                )
        for field, value in (expect or {}).items():
            if field not in pb.Endpoint.DESCRIPTOR.fields_by_name:
                raise ValueError(f"expect names {field!r}, which is not an Endpoint field")
            actual = getattr(first, field)
            wanted = _encoding_value(value) if field == "encoding" else value
            if actual != wanted:
                raise SecretShareError(f"endpoint {name!r} has {field} = {actual!r}, expected {wanted!r}")

    def _verified(self, name: str) -> pb.Endpoint:
        endpoint = self._endpoints.get(name)
        return endpoint if endpoint is not None else self.endpoint(name)

    # --- developer --------------------------------------------------------------------

    def create_endpoint(self, **config: Any) -> pb.Endpoint:
        """Creates the same endpoint on every party (idempotent) and checks they agree.

        Keywords are Endpoint fields: `name`, `vector_length`, `encoding`
        ("integer", "fixed_point" or the enum), `decimal_scale`, `min_value`,
        `max_value` (in encoded units), and optionally `min_batch_size`,
        `max_submissions_per_contributor`, `description`, `dataset`. Calling
        it again after a partial failure is safe. Returns party 0's Endpoint.
        """
        if "encoding" in config:
            config["encoding"] = _encoding_value(config["encoding"])
        config.setdefault("field", pb.FIELD_FIELD64)
        wanted = pb.Endpoint(**{key: value for key, value in config.items() if value is not None})
        clients = self._parties()
        created = []
        for index, client in enumerate(clients):
            try:
                endpoint: pb.Endpoint = self._call(client, "create_endpoint", endpoint=wanted).endpoint
                created.append(endpoint)
            except errors.StewardError as error:
                done = f"; parties 0..{index - 1} have it, and creating it again is safe" if index else ""
                raise SecretShareError(
                    f"party {index} ({client.url}) refused to create endpoint {wanted.name!r}: {error}{done}"
                ) from error
        self._verify(wanted.name, created, None)
        self._endpoints[wanted.name] = created[0]
        return created[0]

    # --- contributor ------------------------------------------------------------------

    def submit(self, name: str, values: Iterable[Any]) -> str:
        """Encodes, splits and sends one submission; returns its id.

        The endpoint is checked on every party first (once per name, see
        `endpoint()`). Share i goes to party i under one fresh id, in party
        order. An unreachable party is retried with the same id and shares; if
        it stays unreachable, `IncompleteSubmission` is raised (resume or
        withdraw it). If a party refuses, the submission is withdrawn from the
        parties that accepted it and SecretShareError is raised.
        """
        endpoint = self._verified(name)
        clients = self._parties()
        shares = split(encode(values, endpoint), len(clients))
        return self._send(name, new_submission_id(), endpoint.config_digest, shares, acknowledged=[])

    def resume(self, incomplete: IncompleteSubmission) -> str:
        """Sends an IncompleteSubmission's same shares, under the same id, to the parties that lack it."""
        return self._send(
            incomplete.endpoint,
            incomplete.submission_id,
            incomplete.config_digest,
            incomplete._shares,
            list(incomplete.acknowledged),
        )

    def withdraw(self, incomplete: IncompleteSubmission) -> None:
        """Withdraws an IncompleteSubmission from the parties that acknowledged it."""
        failures = self._withdraw(incomplete.endpoint, incomplete.submission_id, incomplete.acknowledged)
        if failures:
            raise SecretShareError(
                f"could not withdraw submission {incomplete.submission_id} from {failures}; "
                "it stays pending there and is never sealed without the other parties"
            )
        incomplete.acknowledged = []

    def _send(
        self, name: str, submission_id: str, digest: str, shares: List[List[int]], acknowledged: List[int]
    ) -> str:
        clients = self._parties()
        for index, client in enumerate(clients):
            if index in acknowledged:
                continue
            request = pb.SubmitShareRequest(
                endpoint=name, submission_id=submission_id, party_index=index, config_digest=digest, share=shares[index]
            )
            try:
                self._call(client, "submit_share", request)
            except _TRANSIENT as error:
                raise IncompleteSubmission(
                    f"party {index} ({client.url}) could not be reached for submission {submission_id} "
                    f"({error}); parties {sorted(acknowledged)} hold it. Resume with parties.resume(error) "
                    "(the same shares) or take it back with parties.withdraw(error)",
                    endpoint=name,
                    submission_id=submission_id,
                    acknowledged=acknowledged,
                    config_digest=digest,
                    shares=shares,
                ) from error
            except errors.StewardError as error:
                failures = self._withdraw(name, submission_id, acknowledged)
                if not acknowledged:
                    after = "no party holds it"
                elif failures:
                    after = (
                        f"withdrawing it failed on {failures}, where it stays pending "
                        "(it is never sealed without every party)"
                    )
                else:
                    after = f"it was withdrawn from parties {sorted(acknowledged)}"
                raise SecretShareError(
                    f"party {index} ({client.url}) refused submission {submission_id}: {error}; {after}"
                ) from error
            acknowledged.append(index)
        return submission_id

    def _withdraw(self, name: str, submission_id: str, indices: Sequence[int]) -> List[str]:
        clients = self._parties()
        failures = []
        for index in sorted(indices):
            try:
                self._call(clients[index], "delete_submission", endpoint=name, submission_id=submission_id)
            except errors.NotFound:
                pass  # never stored there after all
            except errors.StewardError as error:
                failures.append(f"party {index} ({error})")
        return failures

    # --- scientist --------------------------------------------------------------------

    def pending(self, name: str) -> List[str]:
        """The ids pending on every party, in party 0's order of receipt (oldest first)."""
        clients = self._parties()
        lists = [self._list_pending(client, name) for client in clients]
        others = [set(ids) for ids in lists[1:]]
        return [i for i in lists[0] if all(i in other for other in others)]

    def _list_pending(self, client: Client, name: str) -> List[str]:
        ids: List[str] = []
        token = ""
        while True:
            page = self._call(client, "list_pending_submissions", endpoint=name, page_size=10000, page_token=token)
            ids.extend(i.lower() for i in page.submission_ids)
            token = page.next_page_token
            if not token:
                return ids

    def seal_and_sum(
        self, name: str, n: Optional[int] = None, *, ids: Optional[Sequence[str]] = None
    ) -> AggregateResult:
        """Seals the oldest pending submissions into one batch on every party and decodes the sum.

        Takes the ids pending on every party, oldest first, up to the smallest
        of `n`, the endpoint's decodable limit and each party's max batch
        size; or exactly `ids` (e.g. to retry a set after a partial failure).
        Every party's answer is checked (same batch digest as computed here,
        same counts and config digest, party indices 0..N-1, L elements) before
        the aggregate shares are added modulo p and decoded.

        Raises:
            SecretShareError: too few submissions pending everywhere, a party
                refused, or the answers disagree. If some parties sealed the set
                and another refused for good (e.g. BATCH_OVERLAP), the message
                says the set can never be released, which is safe: no party
                learns anything. Otherwise retrying with `ids=error.submission_ids` is safe.
        """
        endpoint = self.endpoint(name)
        clients = self._parties()
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"n must be a positive int, got {n!r}")
        if ids is None:
            limits = [n, max_decodable_batch_size(endpoint)] + [info.max_batch_size or None for info in self._infos]
            bounded = [limit for limit in limits if limit is not None]
            chosen = self.pending(name)[: min(bounded)] if bounded else self.pending(name)
            if len(chosen) < endpoint.min_batch_size:
                raise SecretShareError(
                    f"only {len(chosen)} submissions of endpoint {name!r} are pending on every party (and within the "
                    f"limit); a batch needs at least {endpoint.min_batch_size}"
                )
        else:
            chosen = [i.lower() for i in ids]
        digest = batch_digest(name, chosen)
        batches: List[pb.Batch] = []
        already = True
        for index, client in enumerate(clients):
            request = pb.SealBatchRequest(
                endpoint=name, submission_ids=chosen, config_digest=endpoint.config_digest, expected_batch_digest=digest
            )
            try:
                response = self._call(client, "seal_batch", request)
            except errors.StewardError as error:
                raise _seal_error(
                    name, digest, chosen, party=f"party {index} ({client.url})", index=index, error=error
                ) from error
            batches.append(response.batch)
            already = already and response.already_sealed
        return self._combine(endpoint, digest, chosen, batches, already)

    def _combine(
        self, endpoint: pb.Endpoint, digest: str, chosen: Sequence[str], batches: Sequence[pb.Batch], already: bool
    ) -> AggregateResult:
        n = self.count
        length = endpoint.vector_length
        first = batches[0]
        for index, batch in enumerate(batches):
            problem = None
            if batch.batch_digest != digest:
                problem = f"batch digest {batch.batch_digest}, computed here {digest}"
            elif batch.config_digest != endpoint.config_digest:
                problem = f"config digest {batch.config_digest}, checked {endpoint.config_digest}"
            elif batch.submission_count != len(chosen) or batch.submission_count != first.submission_count:
                problem = f"{batch.submission_count} submissions, {len(chosen)} sealed"
            elif batch.contributor_count != first.contributor_count:
                problem = f"{batch.contributor_count} contributors, party 0 {first.contributor_count}"
            elif batch.party_index != index or batch.party_count != n:
                problem = f"party {batch.party_index} of {batch.party_count}, expected {index} of {n}"
            elif len(batch.aggregate_share) != length or any(element >= P for element in batch.aggregate_share):
                problem = f"an aggregate share of {len(batch.aggregate_share)} elements, expected {length} below p"
            if problem:
                raise SecretShareError(
                    f"party {index} answered sealing batch {digest} of endpoint {endpoint.name!r} with {problem}; "
                    "the parties disagree, so no sum is computed"
                )
        total = [sum(batch.aggregate_share[j] for batch in batches) % P for j in range(length)]
        return AggregateResult(
            sums=decode(total, endpoint),
            submission_count=int(first.submission_count),
            contributor_count=int(first.contributor_count),
            batch_digest=digest,
            submission_ids=tuple(chosen),
            already_sealed=already,
        )

    # --- plumbing ---------------------------------------------------------------------

    def _call(self, client: Client, rpc: str, request: Any = None, **fields: Any) -> Any:
        """One RPC, repeated on transient failures with the identical request."""
        method = getattr(client.secretshare, rpc)
        attempt = 0
        while True:
            try:
                return method(request, **fields) if request is not None else method(**fields)
            except _TRANSIENT:
                attempt += 1
                if attempt > self._retries:
                    raise
                time.sleep(min(0.5 * 2**attempt, 8.0))

    def close(self) -> None:
        """Closes the Clients made here from URLs."""
        for client in self._owned:
            client.close()

    def __enter__(self) -> Parties:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<steward_client.secretshare.Parties {[client.url for client in self._given]!r}>"


class SealError(SecretShareError):
    """Sealing a batch failed. `submission_ids` and `batch_digest` name the set;
    `sealed_on` lists the parties that sealed it before the failure, and
    `permanent` says whether that set can never be released."""

    def __init__(
        self,
        message: str,
        *,
        submission_ids: Sequence[str],
        batch_digest: str,
        sealed_on: Sequence[int],
        permanent: bool,
    ) -> None:
        super().__init__(message)
        self.submission_ids = list(submission_ids)
        self.batch_digest = batch_digest
        self.sealed_on = list(sealed_on)
        self.permanent = permanent


_PERMANENT_SEAL_REASONS = frozenset(
    {"BATCH_OVERLAP", "UNKNOWN_SUBMISSION", "BATCH_TOO_SMALL", "BATCH_TOO_LARGE", "BATCH_DIGEST_MISMATCH"}
)


def _seal_error(
    name: str, digest: str, chosen: Sequence[str], *, party: str, index: int, error: errors.StewardError
) -> SealError:
    """The error for party `index` refusing to seal after parties 0..index-1 sealed the set."""
    sealed_on = list(range(index))
    # The same set fails the same way every time for these reasons; anything else
    # (unreachable, no permission yet, a misconfigured party) may pass later.
    permanent = error.reason in _PERMANENT_SEAL_REASONS
    what = f"{party} refused to seal batch {digest} of endpoint {name!r} ({len(chosen)} submissions): {error}"
    if permanent and sealed_on:
        advice = (
            f"parties {sealed_on} sealed this set, so it can never be released: its submissions are used up. "
            "That is safe (no party learned anything); seal other submissions next"
        )
    elif permanent:
        advice = "nothing was sealed; this set cannot be sealed, choose another"
    else:
        advice = (
            f"retrying seal_and_sum({name!r}, ids=error.submission_ids) is safe: sealing the same set is idempotent"
        )
    return SealError(
        f"{what}; {advice}", submission_ids=chosen, batch_digest=digest, sealed_on=sealed_on, permanent=permanent
    )
