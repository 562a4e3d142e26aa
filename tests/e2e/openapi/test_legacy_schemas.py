"""The hand-written compat schemas (proto/steward/donation/v1/legacy_schemas.json)
against the golden compat bodies (tests/golden/donation/), which the
integration and REST suites prove byte-exact against the real server: each
golden body validates against the schema the document gives its route and
status, and the schemas refuse the near misses a script would trip over.
Validated with openapi-schema-validator's OAS31Validator (JSON Schema 2020-12
plus OpenAPI's vocabulary), the dialect /api/docs/ declares. Needs no stack."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from openapi_schema_validator import OAS31Validator

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden" / "donation"
OVERLAY = json.loads((REPO / "proto" / "steward" / "donation" / "v1" / "legacy_schemas.json").read_text())
RPC = "/steward.donation.v1.DonationService/"
TOKEN = "r38UUxBz3nit3SYahF67cj32ZfHYYkJaKPAnUJ_1IcI"
TIME = "2026-05-04T09:12:03.418220Z"

# Every golden file: (legacy RPC, HTTP status) that answers it.
GOLDENS = {
    "create": ("LegacyCreateDonation", "201"),
    "list": ("LegacyListDonations", "200"),
    "get": ("LegacyGetDonation", "200"),
    "data": ("LegacyQueryDonationData", "200"),
    "data_types": ("LegacyQueryDonationData", "200"),
    "errors/body_too_large": ("LegacyCreateDonation", "400"),
    "errors/description_too_long": ("LegacyCreateDonation", "400"),
    "errors/end_before_start": ("LegacyCreateDonation", "400"),
    "errors/expected_dictionary": ("LegacyCreateDonation", "400"),
    "errors/several_fields": ("LegacyCreateDonation", "400"),
    "errors/source_disabled": ("LegacyCreateDonation", "400"),
    "errors/source_invalid": ("LegacyCreateDonation", "400"),
    "errors/source_required": ("LegacyCreateDonation", "400"),
    "errors/start_date_format": ("LegacyCreateDonation", "400"),
    "errors/types_not_a_list": ("LegacyCreateDonation", "400"),
    "errors/unknown_dataset": ("LegacyCreateDonation", "400"),
    "errors/unknown_type": ("LegacyCreateDonation", "400"),
    "errors/request_id_used": ("LegacyCreateDonation", "409"),
    "errors/unsupported_media_type": ("LegacyCreateDonation", "415"),
    "errors/not_provided": ("LegacyListDonations", "403"),
    "errors/invalid_token_header": ("LegacyGetDonation", "403"),
    "errors/invalid_token": ("LegacyGetDonation", "403"),
    "errors/permission_denied": ("LegacyDeleteDonation", "403"),
    "errors/not_found": ("LegacyGetDonation", "404"),
    "errors/limit_invalid": ("LegacyQueryDonationData", "400"),
    "errors/limit_negative": ("LegacyQueryDonationData", "400"),
    "errors/limit_too_large": ("LegacyQueryDonationData", "400"),
    "errors/offset_negative": ("LegacyQueryDonationData", "400"),
    "errors/query_date_format": ("LegacyQueryDonationData", "400"),
    "errors/start_after_end": ("LegacyQueryDonationData", "400"),
}
# Answered by Steward's router for methods no route has, so it belongs to no
# operation: the document keeps it in components.responses.
METHOD_NOT_ALLOWED = "errors/method_not_allowed_put"


def golden(name):
    # create.json stands a placeholder for what changes per run.
    text = (GOLDEN / f"{name}.json").read_text().replace("<token>", TOKEN).replace("<time>", TIME)
    return json.loads(text)


def resolve(node):
    """A response object, following one `$ref` into components.responses."""
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/components/responses/"), ref
    return OVERLAY["components"]["responses"][ref.rsplit("/", 1)[1]]


def response_schema(rpc, status):
    response = resolve(OVERLAY["operations"][RPC + rpc]["operation"]["responses"][status])
    return response["content"]["application/json"]["schema"]


def validator(schema):
    # Refs point into #/components/schemas, as in the served document.
    return OAS31Validator({**schema, "components": OVERLAY["components"]})


def named(name):
    return validator({"$ref": f"#/components/schemas/{name}"})


def test_every_golden_body_is_covered():
    files = {str(p.relative_to(GOLDEN).with_suffix("")) for p in GOLDEN.rglob("*.json")}
    checked = set(GOLDENS) | {METHOD_NOT_ALLOWED}
    assert files == checked, f"goldens without a schema check: {files - checked}"


def test_the_schemas_are_valid_json_schema_2020_12():
    for name, schema in OVERLAY["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
        OAS31Validator.check_schema(schema)


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden_body_matches_its_documented_response(name):
    rpc, status = GOLDENS[name]
    validator(response_schema(rpc, status)).validate(golden(name))


def test_each_data_shape_is_exactly_one_branch():
    named("compat.DataTypes").validate(golden("data_types"))
    named("compat.DataPage").validate(golden("data"))
    assert not named("compat.DataPage").is_valid(golden("data_types"))
    assert not named("compat.DataTypes").is_valid(golden("data"))
    assert not named("compat.DataResponse").is_valid({"data_types": [], "count": 0, "data": []})


def test_the_schemas_refuse_near_misses():
    """What a script relies on: ids are numbers, keys are never missing,
    tokens appear only on create, rows are flat, errors are DRF's."""
    donation = golden("get")
    assert named("compat.Donation").is_valid(donation)

    def broken(change):
        copy_ = copy.deepcopy(donation)
        change(copy_)
        return copy_

    assert not named("compat.Donation").is_valid(broken(lambda d: d.update(id="1")))
    assert not named("compat.Donation").is_valid(broken(lambda d: d.pop("stage")))
    assert not named("compat.Donation").is_valid(broken(lambda d: d.update(status="PENDING")))
    assert not named("compat.Donation").is_valid(broken(lambda d: d.update(created_at="2026-05-04T09:12:03Z")))
    assert not named("compat.Donation").is_valid(broken(lambda d: d.update(extra=1)))
    # A stored donation has no token, so it is not a create answer.
    assert not named("compat.CreatedDonation").is_valid(donation)
    assert named("compat.CreatedDonation").is_valid(golden("create"))

    page = golden("data")
    page["data"][0]["nested"] = {"a": 1}
    assert not named("compat.DataPage").is_valid(page)
    page = golden("data")
    page["data"][0]["device_id"] = 1
    assert not named("compat.DataPage").is_valid(page)

    assert not named("compat.NotFound").is_valid({"detail": "Not found."})
    assert not named("compat.Forbidden").is_valid(golden("errors/not_found"))
    assert not named("compat.CreateErrors").is_valid({})
    assert not named("compat.CreateErrors").is_valid({"source_type": "This field is required."})
    assert not named("compat.MethodNotAllowed").is_valid({"detail": 'Method "put" not allowed.'})


def test_request_bodies_accept_what_upstream_scripts_send():
    json_body = named("compat.CreateDonationRequest")
    json_body.validate({
        "source_type": "google_portability",
        "data_start_date": "2023-01-01",
        "data_end_date": "2023-12-31",
        "requested_data_types": ["youtube_history", "search"],
    })
    json_body.validate({"source_type": "tiktok_portability", "data_start_date": None, "data_end_date": "",
                        "requested_data_types": None, "unknown": "ignored as DRF did"})
    assert not json_body.is_valid({"data_start_date": "2023-01-01"}), "source_type is required"
    assert not json_body.is_valid({"source_type": "banana"})
    assert not json_body.is_valid({"source_type": "google_portability", "requested_data_types": ["maps"]})
    form = named("compat.CreateDonationForm")
    form.validate({"source_type": "google_portability", "requested_data_types": ["search"], "data_end_date": ""})


def test_the_405_body_is_documented_for_other_methods():
    response = OVERLAY["components"]["responses"]["compat.MethodNotAllowed"]
    schema = response["content"]["application/json"]["schema"]
    validator(schema).validate(golden(METHOD_NOT_ALLOWED))


def test_required_lists_the_keys_in_the_order_steward_prints_them():
    # The served document's `properties` lose their order; `required` keeps it.
    keys = json.loads((GOLDEN / "get.json").read_text(), object_pairs_hook=lambda pairs: [k for k, _ in pairs])
    assert OVERLAY["components"]["schemas"]["compat.Donation"]["required"] == keys
