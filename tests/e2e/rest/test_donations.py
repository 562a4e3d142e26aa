"""portability-server's REST routes through a real Envoy (spec donation.md
§2, acceptance scenarios 1, 3, 8, 12-13, 15-18, 20-25, 30, 32, 35, 45): the
legacy RPCs' HTTP status travels in x-steward-http-status and Envoy's Lua
filter applies it, so scripts see 201, 204, 400, 403, 404, 405 and 415 with
byte-exact DRF bodies (the golden files of tests/golden/donation/), with and
without the trailing slash. Also the native /v1 routes beside them."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "donation"
GOLDEN_PUBLIC_URL = "https://donate.example.org"
KEYS = [
    "id", "token", "source_type", "status", "created_at", "data_start_date", "data_end_date",
    "requested_data_types", "donation_url", "dataset", "description", "stage", "error_code",
    "error_message", "updated_at",
]


def golden(name):
    return (GOLDEN / f"{name}.json").read_text().rstrip("\n")


def token_header(token):
    return {"Authorization": f"Token {token}"}


def mint(email, role=None):
    """A new token from the CLI (the stack's own database)."""
    argv = [os.environ["STEWARD_BIN"], "token", "create", "--email", email, "--description", "donations e2e"]
    if role:
        argv += ["--role", role]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, "STEWARD_LOG": "warn"})
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def researcher(token):
    return token_header(token)


@pytest.fixture(scope="module")
def plain():
    return token_header(mint("donations-plain@example.org"))


@pytest.fixture(scope="module")
def other():
    return token_header(mint("donations-other@example.org", "researcher"))


def create(http, envoy_url, headers, **kwargs):
    return http.post(f"{envoy_url}/api/donations/", headers=headers, **kwargs)


def test_create_answers_201_with_the_exact_compat_object(http, envoy_url, researcher):
    body = {
        "source_type": "google_portability",
        "data_start_date": "2023-01-01",
        "data_end_date": "2023-12-31",
        "requested_data_types": ["youtube_history", "search"],
    }
    reply = create(http, envoy_url, researcher, json=body)
    assert reply.status_code == 201, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert "x-steward-http-status" not in reply.headers
    assert "location" not in reply.headers
    obj = json.loads(reply.text, object_pairs_hook=lambda pairs: pairs)
    assert [k for k, _ in obj] == KEYS
    created = dict(obj)
    assert len(created["token"]) == 43
    public_url = os.environ["STEWARD_URL"]
    assert created["donation_url"] == f"{public_url}/donate/{created['token']}/"
    expected = (
        golden("create")
        .replace('"id":1,', f'"id":{created["id"]},')
        .replace("<token>", created["token"])
        .replace("<time>", created["created_at"])
        .replace(GOLDEN_PUBLIC_URL, public_url)
    )
    assert reply.text == expected
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["created_at"])


def test_tiktok_and_every_body_format_create(http, envoy_url, researcher):
    tiktok = create(http, envoy_url, researcher, json={"source_type": "tiktok_portability"})
    assert tiktok.status_code == 201, tiktok.text
    assert tiktok.json()["source_type"] == "tiktok_portability"
    assert len(tiktok.json()["requested_data_types"]) == 6
    expected = ["search", "youtube_history"]
    form = create(http, envoy_url, researcher,
                  data={"source_type": "google_portability", "requested_data_types": expected})
    assert form.status_code == 201, form.text
    assert form.json()["requested_data_types"] == expected
    numbered = create(http, envoy_url, researcher, data={
        "source_type": "google_portability",
        "requested_data_types[0]": "search",
        "requested_data_types[1]": "youtube_history",
    })
    assert numbered.json()["requested_data_types"] == expected
    # R's httr sends multipart by default.
    multipart = create(http, envoy_url, researcher, files=[
        ("source_type", (None, "google_portability")),
        ("requested_data_types", (None, "search")),
        ("requested_data_types", (None, "youtube_history")),
    ])
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["requested_data_types"] == expected


@pytest.mark.parametrize("body, expected", [
    ({"source_type": "banana"}, "source_invalid"),
    ({}, "source_required"),
    ({"source_type": "google_portability", "data_start_date": "2023/01/01"}, "start_date_format"),
    ({"source_type": "google_portability", "data_start_date": "2023-02-01", "data_end_date": "2023-01-31"},
     "end_before_start"),
    ({"source_type": "google_portability", "requested_data_types": ["maps"]}, "unknown_type"),
    (["source_type"], "expected_dictionary"),
])
def test_validation_errors_are_400_with_drf_bodies(http, envoy_url, researcher, body, expected):
    reply = create(http, envoy_url, researcher, json=body)
    assert (reply.status_code, reply.text) == (400, golden(f"errors/{expected}"))


def test_unparseable_and_unsupported_bodies(http, envoy_url, researcher):
    broken = create(http, envoy_url, {**researcher, "Content-Type": "application/json"}, data="{")
    assert broken.status_code == 400
    assert broken.text.startswith('{"detail":"JSON parse error - ')
    plain = create(http, envoy_url, {**researcher, "Content-Type": "text/plain"}, data="hello")
    assert (plain.status_code, plain.text) == (415, golden("errors/unsupported_media_type"))
    big = {"source_type": "google_portability", "description": "a" * 70_000}
    too_large = create(http, envoy_url, researcher, json=big)
    assert (too_large.status_code, too_large.text) == (400, golden("errors/body_too_large"))


def test_credentials_are_checked_like_drf(http, envoy_url, researcher, plain):
    made = create(http, envoy_url, researcher, json={"source_type": "google_portability"}).json()
    routes = [
        ("POST", "/api/donations/"),
        ("GET", "/api/donations/"),
        ("GET", f"/api/donations/{made['id']}/"),
        ("DELETE", f"/api/donations/{made['id']}/"),
        ("GET", f"/api/donations/{made['id']}/data/"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}):
            reply = http.request(method, f"{envoy_url}{path}", headers=headers, json={})
            assert (reply.status_code, reply.text) == (403, golden("errors/not_provided")), (method, path)
    for value, expected in [("Token a b", "invalid_token_header"), (f"Token {'0' * 64}", "invalid_token")]:
        reply = http.get(f"{envoy_url}/api/donations/", headers={"Authorization": value})
        assert (reply.status_code, reply.text) == (403, golden(f"errors/{expected}"))
    # Lower-case keyword and Bearer authenticate too.
    value = researcher["Authorization"].split(" ", 1)[1]
    for header in (f"token {value}", f"Bearer {value}"):
        assert http.get(f"{envoy_url}/api/donations/{made['id']}/", headers={"Authorization": header}).status_code == 200
    denied = create(http, envoy_url, plain, json={"source_type": "google_portability"})
    assert (denied.status_code, denied.text) == (403, golden("errors/permission_denied"))


def test_get_and_list_with_and_without_the_slash(http, envoy_url, researcher, other):
    mine = create(http, envoy_url, researcher, json={"source_type": "google_portability"}).json()
    theirs = create(http, envoy_url, other, json={"source_type": "google_portability"}).json()
    for suffix in ("/", "", "/?format=json"):
        reply = http.get(f"{envoy_url}/api/donations/{mine['id']}{suffix}", headers=researcher)
        assert reply.status_code == 200, suffix
        got = reply.json()
        assert (got["id"], got["token"], got["donation_url"], got["stage"]) == (mine["id"], None, None, "created")
    for suffix in ("/", "?format=json", ""):
        listed = http.get(f"{envoy_url}/api/donations{suffix}", headers=researcher)
        assert listed.status_code == 200
        ids = [d["id"] for d in listed.json()]
        assert mine["id"] in ids and theirs["id"] not in ids
        assert ids == sorted(ids)
        assert all(d["token"] is None and d["donation_url"] is None for d in listed.json())
    for id_ in (theirs["id"], 999999, "abc"):
        for suffix in ("/", ""):
            reply = http.get(f"{envoy_url}/api/donations/{id_}{suffix}", headers=researcher)
            assert (reply.status_code, reply.text) == (404, golden("errors/not_found")), (id_, suffix)


def test_unsupported_methods_answer_405(http, envoy_url, researcher):
    made = create(http, envoy_url, researcher, json={"source_type": "google_portability"}).json()
    for method in ("PUT", "PATCH"):
        reply = http.request(method, f"{envoy_url}/api/donations/{made['id']}/", headers=researcher, json={})
        assert reply.status_code == 405, reply.text
        assert reply.text == golden("errors/method_not_allowed_put").replace("PUT", method)
        assert reply.headers["allow"] == "GET, DELETE, HEAD, OPTIONS"
    post = http.post(f"{envoy_url}/api/donations/{made['id']}/", headers=researcher, json={})
    assert (post.status_code, post.text) == (405, '{"detail":"Method \\"POST\\" not allowed."}')


def test_delete_answers_204_and_then_404(http, envoy_url, researcher, other):
    made = create(http, envoy_url, researcher, json={"source_type": "google_portability"}).json()
    refused = http.delete(f"{envoy_url}/api/donations/{made['id']}/", headers=other)
    assert (refused.status_code, refused.text) == (404, golden("errors/not_found"))
    deleted = http.delete(f"{envoy_url}/api/donations/{made['id']}/", headers=researcher)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers
    for path in (f"/api/donations/{made['id']}/", f"/api/donations/{made['id']}/data/"):
        reply = http.get(f"{envoy_url}{path}", headers=researcher)
        assert (reply.status_code, reply.text) == (404, golden("errors/not_found"))
    again = http.delete(f"{envoy_url}/api/donations/{made['id']}", headers=researcher)
    assert again.status_code == 404


def test_data_route_shapes_and_parameter_errors(http, envoy_url, researcher):
    made = create(http, envoy_url, researcher, json={"source_type": "google_portability"}).json()
    url = f"{envoy_url}/api/donations/{made['id']}/data/"
    for suffix in ("", "?format=json"):
        types = http.get(url + suffix, headers=researcher)
        assert (types.status_code, types.text) == (200, '{"data_types":[]}')
    for data_type in ("search", "maps"):
        rows = http.get(url, headers=researcher, params={"data_type": data_type})
        assert (rows.status_code, rows.text) == (200, '{"count":0,"data":[]}')
    no_slash = http.get(url.rstrip("/"), headers=researcher, params={"data_type": "search", "limit": "0"})
    assert no_slash.text == '{"count":0,"data":[]}'
    for params, expected in [
        ({"limit": "10001"}, "limit_too_large"),
        ({"limit": "-1"}, "limit_negative"),
        ({"limit": "abc"}, "limit_invalid"),
        ({"offset": "-1"}, "offset_negative"),
        ({"start_date": "2023-06-16", "end_date": "2023-06-15"}, "start_after_end"),
    ]:
        reply = http.get(url, headers=researcher, params={"data_type": "search", **params})
        assert (reply.status_code, reply.text) == (400, golden(f"errors/{expected}")), params


def test_native_routes_beside_the_legacy_ones(http, envoy_url, token):
    bearer = {"Authorization": f"Bearer {token}"}
    created = http.post(f"{envoy_url}/v1/donations", headers=bearer,
                        json={"source": "DONATION_SOURCE_GOOGLE_PORTABILITY", "requested_data_types": ["search"]})
    assert created.status_code == 200, created.text
    donation = created.json()["donation"]
    assert donation["status"] == "DONATION_STATUS_PENDING"
    assert donation["data_types"]["search"]["state"] == "DATA_TYPE_STATE_REQUESTED"
    got = http.get(f"{envoy_url}/v1/donations/{donation['id']}", headers=bearer)
    assert got.json()["donation"]["id"] == donation["id"]
    missing = http.get(f"{envoy_url}/v1/donations/999999", headers=bearer)
    assert missing.status_code == 404 and missing.json()["code"] == 5
    anonymous = http.get(f"{envoy_url}/v1/donations")
    assert anonymous.status_code == 401
    sources = http.get(f"{envoy_url}/v1/donationSources")
    assert sources.status_code == 200
    assert [s["source_type"] for s in sources.json()["sources"]] == ["google_portability", "tiktok_portability"]
    assert http.delete(f"{envoy_url}/v1/donations/{donation['id']}", headers=bearer).status_code == 200
