"""steward_client.secretshare without a server: encoding, splitting, decoding and
the digests every party must agree on (spec secretshare.md §2.2-§2.5, §4,
scenarios 5 and 6)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from decimal import Decimal
from typing import Any, Dict, List, cast

import pytest

import steward_client
from steward_client.proto.steward.secretshare.v1 import secretshare_service_pb2 as pb
from steward_client.secretshare import (
    EncodingError,
    P,
    Parties,
    SecretShareError,
    batch_digest,
    config_digest,
    decode,
    encode,
    max_decodable_batch_size,
    new_submission_id,
    split,
)

HALF = (P - 1) // 2


def fixed_point(**overrides: object) -> pb.Endpoint:
    """An endpoint as a party returns it: 3 values, d = 2, range -100.00 .. 100.00."""
    fields: Dict[str, object] = {
        "name": "survey-1",
        "vector_length": 3,
        "field": pb.FIELD_FIELD64,
        "encoding": pb.VALUE_ENCODING_FIXED_POINT,
        "decimal_scale": 2,
        "min_value": -10000,
        "max_value": 10000,
        "min_batch_size": 5,
    }
    fields.update(overrides)
    endpoint: pb.Endpoint = pb.Endpoint(**cast(Dict[str, Any], fields))
    return endpoint


def integers(length: int = 3, low: int = 0, high: int = 1000) -> pb.Endpoint:
    return pb.Endpoint(
        name="counts",
        vector_length=length,
        field=pb.FIELD_FIELD64,
        encoding=pb.VALUE_ENCODING_INTEGER,
        min_value=low,
        max_value=high,
        min_batch_size=2,
    )


def recombine(shares: List[List[int]]) -> List[int]:
    return [sum(column) % P for column in zip(*shares)]


# --- the field and encoding ------------------------------------------------------------


def test_the_modulus_is_field64() -> None:
    assert P == 2**64 - 2**32 + 1
    assert hex(P) == "0xffffffff00000001"
    assert str(P) == "18446744069414584321"


def test_fixed_point_values_become_scaled_integers_mod_p() -> None:
    endpoint = fixed_point()
    assert encode(["1.25", -3, Decimal("0.07")], endpoint) == [125, P - 300, 7]
    # Floats are read from their shortest decimal form: 0.1 is 10, not 10.000000000000000555…
    assert encode([0.1, -99.99, 1.1], endpoint) == [10, P - 9999, 110]
    # Exponents and surrounding blanks in strings; trailing zeros beyond d change nothing.
    assert encode(["1e1", " -2.5E-1 ", "2.500"], endpoint) == [1000, P - 25, 250]
    # The bounds themselves are inside the range.
    assert encode(["100", "-100.00", "0"], endpoint) == [10000, P - 10000, 0]


def test_integer_values_enter_the_field_as_they_are() -> None:
    endpoint = integers(low=-5, high=4294967295)
    assert encode([0, 4294967295, -5], endpoint) == [0, 4294967295, P - 5]
    assert encode(["7", 7.0, Decimal("7")], endpoint) == [7, 7, 7]


@pytest.mark.parametrize(
    "value",
    ["1.234", Decimal("0.001"), 0.125, 0.1 + 0.2, "1e-3", "-0.005"],
    ids=["str", "Decimal", "float", "float-sum", "exponent", "negative"],
)
def test_more_fractional_digits_than_the_scale_are_refused_never_rounded(value: object) -> None:
    with pytest.raises(EncodingError, match="value 1 has more than 2 fractional digits"):
        encode([0, value, 0], fixed_point())


def test_an_integer_endpoint_refuses_fractions() -> None:
    with pytest.raises(EncodingError, match="value 0 has more than 0 fractional digits"):
        encode(["2.5", 1, 1], integers())


@pytest.mark.parametrize("value", ["100.01", "-100.01", 101, "1e3", "1e1000000", -1e300])
def test_values_outside_the_range_after_scaling_are_refused(value: object) -> None:
    with pytest.raises(EncodingError, match=r"value 2 is outside the range \[-100.00, 100.00\] of endpoint 'survey-1'"):
        encode([1, 2, value], fixed_point())


def test_a_vector_of_the_wrong_length_is_refused() -> None:
    for values in ([1, 2], [1, 2, 3, 4], []):
        with pytest.raises(EncodingError, match=f"endpoint 'survey-1' takes 3 values, got {len(values)}"):
            encode(values, fixed_point())


def test_bools_and_other_types_are_refused() -> None:
    with pytest.raises(TypeError, match="value 0 is a bool"):
        encode([True, 1, 1], integers())
    with pytest.raises(TypeError, match="value 1 is a bool"):
        encode([1, False, 1], fixed_point())
    with pytest.raises(TypeError, match="value 2 is a NoneType"):
        encode([1, 1, None], fixed_point())
    with pytest.raises(TypeError, match="values must be a list"):
        encode("123", integers())


@pytest.mark.parametrize(
    "value", ["nan", "inf", float("nan"), float("-inf"), Decimal("NaN"), "1_000", "0x10", "", "1.2.3"]
)
def test_non_numbers_and_non_finite_values_are_refused(value: object) -> None:
    with pytest.raises(EncodingError, match="value 0 is not"):
        encode([value, 1, 1], fixed_point())


# --- decoding (scenario 6) -------------------------------------------------------------


def test_p_minus_5_decodes_to_minus_5_and_to_minus_0_05_with_two_decimals() -> None:
    assert decode([P - 5], integers(length=1)) == [Decimal(-5)]
    assert decode([P - 5], fixed_point(vector_length=1)) == [Decimal("-0.05")]
    assert str(decode([P - 5], fixed_point(vector_length=1))[0]) == "-0.05"


def test_decoding_splits_the_field_at_half() -> None:
    endpoint = integers(length=4)
    assert decode([0, HALF, HALF + 1, P - 1], endpoint) == [0, HALF, HALF + 1 - P, -1]
    assert decode([12345, 0, 1, P - 12345], fixed_point(vector_length=4, decimal_scale=3)) == [
        Decimal("12.345"),
        Decimal("0"),
        Decimal("0.001"),
        Decimal("-12.345"),
    ]


def test_decoding_is_exact_whatever_the_decimal_context() -> None:
    import decimal

    with decimal.localcontext() as context:
        context.prec = 3
        assert decode([HALF, P - 1], fixed_point(vector_length=2, decimal_scale=12)) == [
            Decimal("9223372.034707292160"),
            Decimal("-0.000000000001"),
        ]


def test_decoding_refuses_elements_outside_the_field_and_wrong_lengths() -> None:
    with pytest.raises(SecretShareError, match="aggregate element 1 is not a field element"):
        decode([0, P], integers(length=2))
    with pytest.raises(SecretShareError, match="has 2 elements, got 1"):
        decode([0], integers(length=2))


def test_encode_then_decode_round_trips() -> None:
    endpoint = fixed_point()
    values = ["-100", "0.01", "99.99"]
    assert decode(encode(values, endpoint), endpoint) == [Decimal(v) for v in values]


def test_sums_up_to_the_decodable_batch_size_decode_exactly() -> None:
    endpoint = integers(length=1, low=-3, high=1000)
    limit = max_decodable_batch_size(endpoint)
    assert limit == HALF // 1000
    (top,) = encode([1000], endpoint)
    assert decode([top * limit % P], endpoint) == [1000 * limit]
    # One more and the sum would wrap past (p-1)/2: why batches never exceed the limit.
    assert decode([top * (limit + 1) % P], endpoint) != [1000 * (limit + 1)]
    assert max_decodable_batch_size(integers(low=-HALF, high=0)) == 1
    assert max_decodable_batch_size(integers(low=0, high=0)) is None


# --- splitting (scenario 5) ------------------------------------------------------------


@pytest.mark.parametrize("parties", [2, 3, 5])
def test_shares_recombine_to_the_encoded_vector(parties: int) -> None:
    endpoint = fixed_point()
    encoded = encode(["-100", "0", "42.42"], endpoint)
    shares = split(encoded, parties)
    assert len(shares) == parties
    assert all(len(share) == 3 and all(0 <= element < P for element in share) for share in shares)
    assert recombine(shares) == encoded
    assert decode(recombine(shares), endpoint) == [Decimal("-100"), Decimal("0"), Decimal("42.42")]


def test_two_splits_of_the_same_value_differ_in_every_share() -> None:
    encoded = encode([7, 7, 7], integers())
    first, second = split(encoded, 3), split(encoded, 3)
    for a, b in zip(first, second):
        assert a != b
    # Elements of one share are drawn independently: equal values get different shares.
    assert len(set(first[0])) == 3


def test_splitting_does_not_use_the_random_module() -> None:
    encoded = [1, 2, 3]
    random.seed(1234)
    first = split(encoded, 2)
    random.seed(1234)
    assert split(encoded, 2) != first


def test_first_shares_are_uniform_over_the_field() -> None:
    """Chi-square over 16 buckets (the top 4 bits) of 20,000 first shares of one value."""
    draws = 20_000
    buckets = [0] * 16
    for _ in range(draws):
        buckets[split([5], 2)[0][0] >> 60] += 1
    # Bucket k holds [k*2^60, (k+1)*2^60) ∩ [0, p): all full except the last.
    sizes = [2**60] * 15 + [P - 15 * 2**60]
    statistic = sum((count - draws * size / P) ** 2 / (draws * size / P) for count, size in zip(buckets, sizes))
    # 37.697 is the 0.999 quantile of chi-square with 15 degrees of freedom.
    assert statistic < 37.697, (statistic, buckets)


def test_split_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2 parties"):
        split([1], 1)
    with pytest.raises(ValueError, match="element 0 is not a field element"):
        split([P], 2)
    with pytest.raises(ValueError, match="element 1 is not a field element"):
        split([0, -1], 2)


# --- digests ---------------------------------------------------------------------------


def test_config_digest_is_sha256_of_the_specified_text() -> None:
    endpoint = fixed_point(max_submissions_per_contributor=3, description="not digested", dataset="not digested")
    text = (
        "steward-secretshare-endpoint/v1\n"
        "name=survey-1\n"
        "party_count=3\n"
        "field=field64\n"
        "modulus=18446744069414584321\n"
        "vector_length=3\n"
        "encoding=fixed_point\n"
        "decimal_scale=2\n"
        "min_value=-10000\n"
        "max_value=10000\n"
        "min_batch_size=5\n"
        "max_submissions_per_contributor=3\n"
    )
    assert config_digest(endpoint, 3) == hashlib.sha256(text.encode()).hexdigest()

    counts = integers(length=10, low=0, high=4294967295)
    text = (
        "steward-secretshare-endpoint/v1\nname=counts\nparty_count=2\nfield=field64\n"
        "modulus=18446744069414584321\nvector_length=10\nencoding=integer\ndecimal_scale=0\n"
        "min_value=0\nmax_value=4294967295\nmin_batch_size=2\nmax_submissions_per_contributor=1\n"
    )
    assert config_digest(counts, 2) == hashlib.sha256(text.encode()).hexdigest()


def test_config_digest_covers_what_matters_and_nothing_else() -> None:
    base = config_digest(fixed_point(), 2)
    # Unset max_submissions_per_contributor means 1.
    assert config_digest(fixed_point(max_submissions_per_contributor=1), 2) == base
    assert config_digest(fixed_point(max_submissions_per_contributor=0), 2) != base
    # Scenario 44: the same endpoint under N = 2 and N = 3 parties.
    assert config_digest(fixed_point(), 3) != base
    changes: List[Dict[str, object]] = [
        {"min_value": -9999},
        {"decimal_scale": 3},
        {"min_batch_size": 6},
        {"name": "survey-2"},
        {"encoding": pb.VALUE_ENCODING_INTEGER, "decimal_scale": 0},
    ]
    for change in changes:
        assert config_digest(fixed_point(**change), 2) != base
    # Mutable and descriptive fields are not covered.
    unchanged: List[Dict[str, object]] = [
        {"description": "x"},
        {"dataset": "fish2"},
        {"state": pb.ENDPOINT_STATE_ARCHIVED},
        {"creator": "a"},
        {"max_decodable_batch_size": 7},
    ]
    for change in unchanged:
        assert config_digest(fixed_point(**change), 2) == base
    with pytest.raises(SecretShareError, match="no min_batch_size"):
        config_digest(pb.Endpoint(name="x", vector_length=1, encoding=pb.VALUE_ENCODING_INTEGER), 2)
    with pytest.raises(SecretShareError, match="no value encoding"):
        config_digest(fixed_point(encoding=pb.VALUE_ENCODING_UNSPECIFIED), 2)


def test_batch_digest_hashes_the_sorted_binary_ids() -> None:
    a = "ff" + "00" * 15
    b = "0f" + "00" * 14 + "01"
    expected = hashlib.sha256(
        b"steward-secretshare-batch/v1\nsurvey-1\n" + bytes.fromhex(b) + bytes.fromhex(a)
    ).hexdigest()
    assert batch_digest("survey-1", [a, b]) == expected
    assert batch_digest("survey-1", [b, a]) == expected
    # Input case does not matter (uppercase hex would sort differently as text).
    assert batch_digest("survey-1", ["FF" + "00" * 15, b]) == expected
    assert batch_digest("survey-2", [a, b]) != expected


def test_batch_digest_is_independent_of_order() -> None:
    ids = [new_submission_id() for _ in range(50)]
    shuffled = list(ids)
    random.shuffle(shuffled)
    assert batch_digest("e", ids) == batch_digest("e", shuffled) == batch_digest("e", sorted(ids, reverse=True))
    assert batch_digest("e", ids[:-1]) != batch_digest("e", ids)


def test_batch_digest_refuses_malformed_sets() -> None:
    good = new_submission_id()
    for bad, message in (
        ([], "at least one"),
        ([good, good.upper()], "each submission id once"),
        (["0" * 32], "all-zero"),
        (["a" * 31], "not 32 hex digits"),
        (["g" * 32], "not 32 hex digits"),
    ):
        with pytest.raises(ValueError, match=message):
            batch_digest("e", bad)


def test_submission_ids_are_fresh_lowercase_hex() -> None:
    ids = {new_submission_id() for _ in range(1000)}
    assert len(ids) == 1000
    for identifier in ids:
        assert len(identifier) == 32 and identifier == identifier.lower() and int(identifier, 16) != 0


# --- the client side of the parties, without servers -----------------------------------


def test_parties_need_at_least_two() -> None:
    with pytest.raises(SecretShareError, match="at least 2 parties"):
        Parties(["http://127.0.0.1:1"])
    with pytest.raises(TypeError, match=r"a party is a steward_client\.Client or a URL, got int"):
        Parties(cast(List[Any], ["http://127.0.0.1:1", 42]))
    with pytest.raises(ValueError, match="one token per party: 2 parties, 3 tokens"):
        Parties(["http://127.0.0.1:1", "http://127.0.0.1:2"], token=["a", "b", "c"])


def test_every_client_reaches_the_secretshare_service() -> None:
    with steward_client.Client("http://127.0.0.1:1") as client:
        assert client.secretshare.full_name == "steward.secretshare.v1.SecretShareService"
        for rpc in (
            "get_party_info",
            "get_endpoint",
            "submit_share",
            "delete_submission",
            "list_pending_submissions",
            "seal_batch",
        ):
            assert rpc in client.secretshare.rpcs


def test_the_module_needs_no_pandas() -> None:
    code = "import sys; sys.modules['pandas'] = None; import steward_client.secretshare as s; print(s.P)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(P)
