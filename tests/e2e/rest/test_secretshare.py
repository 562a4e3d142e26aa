"""SecretShareService through a real Envoy (spec secretshare.md §3.3, §3.4,
acceptance scenarios 48-52): the native REST bindings under
/api/secretshare/v1 with field elements as decimal strings, and Privacy
Guardian's kept paths (get_permissions, create_endpoint answering HTML, the
user post now a share submission) and dropped ones (410). The stack's
Steward is party 0 of 2 (tests/e2e/run)."""

import os
import secrets
import subprocess

import pytest

P = 18446744069414584321


def mint(email, role=None):
    """A new token from the CLI (the stack's own database)."""
    argv = [os.environ["STEWARD_BIN"], "token", "create", "--email", email, "--description", "secretshare e2e"]
    if role:
        argv += ["--role", role]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, "STEWARD_LOG": "warn"})
    return out.stdout.strip().splitlines()[-1]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def developer():
    return bearer(mint("ss-dev@example.org", "developer"))


@pytest.fixture(scope="module")
def scientist():
    return bearer(mint("ss-sci@example.org", "scientist"))


@pytest.fixture(scope="module")
def contributors():
    return [bearer(mint(f"ss-contributor{i}@example.org", "contributor")) for i in range(6)]


def test_party_info_is_open_and_elements_are_decimal_strings(http, envoy_url):
    info = http.get(f"{envoy_url}/api/secretshare/v1/party")
    assert info.status_code == 200, info.text
    assert info.json() == {
        "party_index": 0,
        "party_count": 2,
        "party_name": "",
        "protocol": "steward-secretshare/v1",
        "field": "FIELD_FIELD64",
        "modulus": str(P),
        "max_vector_length": 4096,
        "max_batch_size": 100000,
        "party_urls": [],
    }


def test_native_routes_create_submit_list_and_map_errors_to_http(http, envoy_url, developer, scientist, contributors):
    name = f"rest-{secrets.token_hex(4)}"
    config = {"name": name, "vector_length": 2, "encoding": "VALUE_ENCODING_INTEGER", "min_value": "0", "max_value": "100"}
    created = http.post(f"{envoy_url}/api/secretshare/v1/endpoints", json=config, headers=developer)
    assert created.status_code == 200, created.text
    endpoint = created.json()["endpoint"]
    assert endpoint["name"] == name and len(endpoint["config_digest"]) == 64
    assert endpoint["min_batch_size"] == 5 and endpoint["state"] == "ENDPOINT_STATE_ACTIVE"

    # The same name with another configuration: 409.
    changed = http.post(f"{envoy_url}/api/secretshare/v1/endpoints", json={**config, "vector_length": 3}, headers=developer)
    assert changed.status_code == 409, changed.text
    # A bad field: 400 naming it; no credential: 401; the wrong role: 403; unknown: 404.
    bad = http.post(f"{envoy_url}/api/secretshare/v1/endpoints", json={**config, "vector_length": 0}, headers=developer)
    assert bad.status_code == 400 and "vector_length" in bad.json()["message"], bad.text
    assert http.get(f"{envoy_url}/api/secretshare/v1/endpoints/{name}").status_code == 401
    denied = http.post(f"{envoy_url}/api/secretshare/v1/endpoints", json=config, headers=scientist)
    assert denied.status_code == 403, denied.text
    assert http.get(f"{envoy_url}/api/secretshare/v1/endpoints/nope", headers=scientist).status_code == 404

    # Submissions with elements as decimal strings (JavaScript cannot hold them as numbers).
    ids = []
    for person in contributors[:5]:
        submission_id = secrets.token_hex(16)
        share = [str(secrets.randbelow(P)), str(P - 1)]
        body = {"submission_id": submission_id, "party_index": 0, "config_digest": endpoint["config_digest"], "share": share}
        reply = http.post(f"{envoy_url}/api/secretshare/v1/endpoints/{name}/submissions", json=body, headers=person)
        assert reply.status_code == 200, reply.text
        assert reply.json()["submission_id"] == submission_id and reply.json()["duplicate"] is False
        ids.append(submission_id)
    # An element equal to p: 400 naming its position; the wrong party: 400 (FAILED_PRECONDITION).
    body = {"submission_id": secrets.token_hex(16), "party_index": 0, "config_digest": endpoint["config_digest"], "share": ["1", str(P)]}
    too_big = http.post(f"{envoy_url}/api/secretshare/v1/endpoints/{name}/submissions", json=body, headers=contributors[5])
    assert too_big.status_code == 400 and "share[1]" in too_big.json()["message"], too_big.text
    wrong = http.post(
        f"{envoy_url}/api/secretshare/v1/endpoints/{name}/submissions",
        json={**body, "share": ["1", "2"], "party_index": 1},
        headers=contributors[5],
    )
    assert wrong.status_code == 400 and "party 1" in wrong.json()["message"], wrong.text
    # The same contributor again: 409 (one submission each by default).
    again = http.post(
        f"{envoy_url}/api/secretshare/v1/endpoints/{name}/submissions",
        json={**body, "submission_id": secrets.token_hex(16), "share": ["1", "2"]},
        headers=contributors[0],
    )
    assert again.status_code == 409, again.text

    pending = http.get(f"{envoy_url}/api/secretshare/v1/endpoints/{name}/submissions", headers=scientist)
    assert pending.status_code == 200, pending.text
    assert pending.json()["submission_ids"] == ids and pending.json()["total_pending"] == "5"
    sealed = http.post(
        f"{envoy_url}/api/secretshare/v1/endpoints/{name}/batches",
        json={"submission_ids": ids, "config_digest": endpoint["config_digest"]},
        headers=scientist,
    )
    assert sealed.status_code == 200, sealed.text
    batch = sealed.json()["batch"]
    assert batch["submission_count"] == "5" and len(batch["aggregate_share"]) == 2
    assert all(isinstance(e, str) and 0 <= int(e) < P for e in batch["aggregate_share"])
    got = http.get(f"{envoy_url}/api/secretshare/v1/endpoints/{name}/batches/{batch['batch_digest']}", headers=scientist)
    assert got.status_code == 200 and got.json()["batch"] == batch


def test_legacy_routes_keep_their_paths_with_real_shares(http, envoy_url, developer, scientist, contributors):
    # Scenario 48: create_endpoint answers the old HTML, then "already exists"; a bad task is 400.
    name = f"post_eta_data_{secrets.token_hex(3)}"
    body = {"endpoint": name, "task": "post_eta_data"}
    first = http.post(f"{envoy_url}/api/dev/create_endpoint", json=body, headers=developer)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/html") and first.text == "<h1> Success </h1>"
    second = http.post(f"{envoy_url}/api/dev/create_endpoint", json={**body, "task": "get_eta_data"}, headers=developer)
    assert second.status_code == 200 and second.text == "<h1> This endpoint already exists </h1>", second.text
    bad = http.post(f"{envoy_url}/api/dev/create_endpoint", json={**body, "task": "x"}, headers=developer)
    assert bad.status_code == 400, bad.text

    # Scenario 49: a post is one party's share of a submission with a client-chosen id.
    data = [str(secrets.randbelow(P)) for _ in range(10)]
    submission_id = secrets.token_hex(16)
    posted = http.post(
        f"{envoy_url}/api/user/{name}",
        json={"data": data, "submission_id": submission_id, "client_id": "x_r_client"},
        headers=contributors[0],
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"message": "Data received successfully", "submission_id": submission_id, "duplicate": False}
    replay = http.post(f"{envoy_url}/api/user/{name}", json={"data": data, "submission_id": submission_id}, headers=contributors[0])
    assert replay.status_code == 200 and replay.json()["duplicate"] is True, replay.text
    missing_id = http.post(f"{envoy_url}/api/user/{name}", json={"data": data}, headers=contributors[1])
    assert missing_id.status_code == 400 and "submission_id" in missing_id.json()["message"], missing_id.text
    floats = http.post(
        f"{envoy_url}/api/user/{name}",
        json={"data": ["2.5"] + data[1:], "submission_id": secrets.token_hex(16)},
        headers=contributors[1],
    )
    assert floats.status_code == 400, floats.text
    short = http.post(f"{envoy_url}/api/user/{name}", json={"data": ["50"], "submission_id": secrets.token_hex(16)}, headers=contributors[1])
    assert short.status_code == 400 and "expects 10" in short.json()["message"], short.text

    # Scenario 50: get_permissions keeps its exact keys.
    permissions = http.get(f"{envoy_url}/api/all/get_permissions", headers=scientist)
    assert permissions.status_code == 200, permissions.text
    assert permissions.json() == {"message": "Successful", "permissions": ["get:eta-data"], "status": 200}

    # Scenario 52: no token is 401, a token without the permission 403.
    assert http.post(f"{envoy_url}/api/dev/create_endpoint", json=body).status_code == 401
    assert http.post(f"{envoy_url}/api/dev/create_endpoint", json=body, headers=scientist).status_code == 403
    assert http.post(f"{envoy_url}/api/user/{name}", json={"data": data, "submission_id": secrets.token_hex(16)}, headers=scientist).status_code == 403


def test_dropped_routes_answer_410_saying_what_replaces_them(http, envoy_url, scientist):
    sums = http.get(f"{envoy_url}/api/scientist/get_eta_data", headers=scientist)
    assert sums.status_code == 410, sums.text
    assert sums.json()["message"].startswith("Running sums are no longer available. Seal a batch with SealBatch")
    clear = http.post(f"{envoy_url}/api/admin/clear", headers=scientist)
    assert clear.status_code == 410, clear.text
    assert "archive the endpoint" in clear.json()["message"]
