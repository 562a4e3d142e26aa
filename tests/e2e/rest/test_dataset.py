"""DatasetGateway's compat routes through Envoy, as CAVE services and scripts
call them: GET /api/v1/user/cache (and its /auth and /sticky_auth aliases),
POST /api/v1/check-access, GET /api/v1/datasets and .../versions — status
codes and exact response bytes.

Fixtures: a fresh user from `steward token create`, and datasets, grants and a
terms-of-service document written straight into the embedded PostgreSQL with
psql (there is no admin RPC for them yet); a NOTIFY makes every replica drop
cached permissions, as Steward's own writes do."""

import json
import os
import subprocess

import pytest

EMAIL = "dataset-e2e@example.org"
FISH = "rest-e2e-fish"
TOS_DS = "rest-e2e-tos"
UNKNOWN_TOKEN = "cd" * 32


def psql(sql):
    """Runs SQL in the stack's embedded database; returns stdout lines."""
    socket_dir = os.path.join(os.environ["STEWARD_DATA_DIR"], "run")
    assert os.path.exists(os.path.join(socket_dir, ".s.PGSQL.5432")), f"no embedded PostgreSQL socket in {socket_dir}"
    dsn = f"host={socket_dir} port=5432 user=steward dbname=steward"
    out = subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], check=True, capture_output=True, text=True
    )
    return out.stdout.split()


@pytest.fixture(scope="module")
def world():
    out = subprocess.run(
        [os.environ["STEWARD_BIN"], "token", "create", "--email", EMAIL, "--description", "dataset e2e"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "STEWARD_LOG": "warn"},
    )
    token = out.stdout.strip().splitlines()[-1]
    (user_id,) = psql(f"SELECT id FROM users WHERE email = '{EMAIL}'")
    (fish_id,) = psql(f"INSERT INTO datasets (name, description) VALUES ('{FISH}', 'Fish') RETURNING id")
    (tos_ds_id,) = psql(f"INSERT INTO datasets (name) VALUES ('{TOS_DS}') RETURNING id")
    (tos_id,) = psql(
        "INSERT INTO tos_documents (name, text, dataset_id, invite_token) "
        f"VALUES ('E2E TOS', 'Be nice.', {tos_ds_id}, 'rest-e2e-invite') RETURNING id"
    )
    psql(
        f"UPDATE datasets SET tos_document_id = {tos_id} WHERE id = {tos_ds_id};"
        f"INSERT INTO dataset_versions (dataset_id, version) VALUES ({fish_id}, 'v1');"
        f"INSERT INTO grants (dataset_id, level, user_id) VALUES ({fish_id}, 'edit', {user_id}), "
        f"({tos_ds_id}, 'view', {user_id});"
        "SELECT pg_notify('steward_auth', 'all');"
    )
    return {
        "token": token,
        "user_id": int(user_id),
        "fish_id": int(fish_id),
        "tos_ds_id": int(tos_ds_id),
        "tos_id": int(tos_id),
    }


def expected_cache(world):
    return (
        f'{{"id":{world["user_id"]},"parent_id":null,"service_account":false,"name":"dataset-e2e",'
        f'"email":"{EMAIL}","admin":false,"pi":"","picture_url":"","affiliations":[],"groups":[],'
        f'"groups_admin":[],"permissions":{{"{FISH}":2}},"permissions_v2":{{"{FISH}":["edit","view"]}},'
        f'"permissions_v2_ignore_tos":{{"{FISH}":["edit","view"],"{TOS_DS}":["view"]}},'
        f'"missing_tos":[{{"dataset_id":{world["tos_ds_id"]},"dataset_name":"{TOS_DS}",'
        f'"tos_id":{world["tos_id"]},"tos_name":"E2E TOS"}}],"datasets_admin":[]}}'
    )


def assert_json_bytes(response, expected):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content.decode() == expected


@pytest.mark.parametrize("prefix", ["", "/auth", "/sticky_auth"])
def test_user_cache_bytes_on_every_alias(http, envoy_url, world, prefix):
    response = http.get(f"{envoy_url}{prefix}/api/v1/user/cache", headers={"Authorization": f"Bearer {world['token']}"})
    assert_json_bytes(response, expected_cache(world))


def test_user_cache_by_cookie_and_query_token(http, envoy_url, world):
    url = envoy_url + "/api/v1/user/cache"
    assert_json_bytes(http.get(url, cookies={"dsg_token": world["token"]}), expected_cache(world))
    assert_json_bytes(http.get(url, params={"dsg_token": world["token"]}), expected_cache(world))
    # The query token is the lowest priority: a bad header still wins (401).
    response = http.get(url, params={"dsg_token": world["token"]}, headers={"Authorization": f"Token {UNKNOWN_TOKEN}"})
    assert response.status_code == 401


def test_user_cache_unknown_service_changes_nothing(http, envoy_url, world):
    response = http.get(
        envoy_url + "/api/v1/user/cache",
        params={"service": "no-such-service", "unknown": "1"},
        headers={"Authorization": f"Token {world['token']}"},
    )
    assert_json_bytes(response, expected_cache(world))


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": f"Bearer {UNKNOWN_TOKEN}"}, "Invalid or expired token."),
    ],
)
def test_user_cache_refusals_are_401(http, envoy_url, headers, message):
    response = http.get(envoy_url + "/api/v1/user/cache", headers=headers)
    assert response.status_code == 401, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (16, message)


def check(http, envoy_url, token, body, prefix=""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(f"{envoy_url}{prefix}/api/v1/check-access", json=body, headers=headers)


@pytest.mark.parametrize("prefix", ["", "/auth", "/sticky_auth"])
def test_check_access_decisions(http, envoy_url, world, prefix):
    token = world["token"]
    cases = [
        ({"dataset": FISH, "permission": "edit"}, {"allowed": True, "reason": "direct_grant"}),
        ({"dataset": FISH}, {"allowed": True, "reason": "direct_grant"}),
        ({"dataset": FISH, "version": "v1", "permission": "view", "extra": 1}, {"allowed": True, "reason": "direct_grant"}),
        ({"dataset": FISH, "permission": "manage"}, {"allowed": False, "reason": "no_permission"}),
        (
            {"dataset": TOS_DS, "permission": "view"},
            {"allowed": False, "reason": "tos_required", "tos_id": world["tos_id"], "tos_name": "E2E TOS"},
        ),
    ]
    for question, answer in cases:
        response = check(http, envoy_url, token, question, prefix)
        assert_json_bytes(response, json.dumps(answer, separators=(",", ":")))


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"permission": "view"}, 400, "dataset is required"),
        ({"dataset": FISH, "permission": "owner"}, 400, "invalid permission"),
        ({"dataset": "rest-e2e-nope"}, 404, "Dataset not found"),
    ],
)
def test_check_access_bad_questions(http, envoy_url, world, body, status, message):
    response = check(http, envoy_url, world["token"], body)
    assert response.status_code == status, response.text
    assert response.json()["message"] == message


def test_check_access_needs_a_credential(http, envoy_url, world):
    response = check(http, envoy_url, None, {"dataset": FISH})
    assert response.status_code == 401, response.text


def test_datasets_and_versions(http, envoy_url, world):
    auth = {"Authorization": f"Bearer {world['token']}"}
    response = http.get(envoy_url + "/api/v1/datasets", headers=auth)
    expected = (
        f'[{{"id":{world["fish_id"]},"name":"{FISH}","description":"Fish","has_tos":false}},'
        f'{{"id":{world["tos_ds_id"]},"name":"{TOS_DS}","description":"","has_tos":true}}]'
    )
    assert_json_bytes(response, expected)
    response = http.get(f"{envoy_url}/api/v1/datasets/{FISH}/versions", headers=auth)
    assert response.status_code == 200, response.text
    assert [(v["version"], v["buckets"], v["is_public"]) for v in response.json()] == [("v1", [], False)]
    response = http.get(envoy_url + "/api/v1/datasets/rest-e2e-nope/versions", headers=auth)
    assert response.status_code == 404, response.text
    assert response.json()["message"] == "Dataset not found"
