"""The rest of DatasetGateway's /api/v1 surface through Envoy, as CAVE
services and scripts call it: token routes (create_token, long_lived_token,
user/token, refresh_token), the CAVE lookups (username, user, user/{id}/
permissions, group members, table → dataset, public roots) and GET /health —
exact bytes, bare JSON values, status codes, and every path alias.

Fixtures are written with psql into the stack's embedded database (as in
test_dataset.py); a service account is inserted with a token hash, because
no admin RPC for it is part of this suite."""

import hashlib
import os
import subprocess

import pytest

from test_dataset import psql

PREFIXES = ["", "/auth", "/sticky_auth"]
DENIED = "You do not have permission to perform this action."
BOT_TOKEN = "be" * 32
ROOT_BIG = 1234567890123456789  # beyond 2^53: must compare exactly


def mint(email):
    out = subprocess.run(
        [os.environ["STEWARD_BIN"], "token", "create", "--email", email, "--description", "compat e2e"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "STEWARD_LOG": "warn"},
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def world():
    alice = mint("compat-alice@example.org")
    bob = mint("compat-bob@example.org")
    (alice_id,) = psql("SELECT id FROM users WHERE email = 'compat-alice@example.org'")
    (bob_id,) = psql("SELECT id FROM users WHERE email = 'compat-bob@example.org'")
    (dataset_id,) = psql("INSERT INTO datasets (name) VALUES ('compat-fish') RETURNING id")
    (group_id,) = psql("INSERT INTO groups (name) VALUES ('compat-team') RETURNING id")
    (bot_id,) = psql("INSERT INTO service_accounts (name, description) VALUES ('compat-bot', 'CI') RETURNING id")
    (table_id,) = psql(
        "INSERT INTO service_tables (service_name, table_name, dataset_id) "
        f"VALUES ('pychunkedgraph', 'compat_fish_v1', {dataset_id}) RETURNING id"
    )
    bot_hash = hashlib.sha256(BOT_TOKEN.encode()).hexdigest()
    psql(
        f"INSERT INTO group_memberships (user_id, group_id) VALUES ({alice_id}, {group_id}), ({bob_id}, {group_id});"
        f"INSERT INTO grants (dataset_id, level, user_id) VALUES ({dataset_id}, 'view', {alice_id});"
        f"INSERT INTO public_roots (service_table_id, root_id) VALUES ({table_id}, 100), ({table_id}, 200), "
        f"({table_id}, {ROOT_BIG});"
        "INSERT INTO api_tokens (token_hash, kind, service_account_id, description) "
        f"VALUES ('\\x{bot_hash}', 'service_account', {bot_id}, 'e2e');"
        "SELECT pg_notify('steward_auth', 'all');"
    )
    return {
        "alice": alice,
        "bob": bob,
        "alice_id": int(alice_id),
        "bob_id": int(bob_id),
        "bot_id": int(bot_id),
        "group_id": int(group_id),
    }


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_bytes(response, expected):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content.decode() == expected


def assert_refused(response, status, message):
    assert response.status_code == status, response.text
    assert response.json()["message"] == message


# --- token routes -------------------------------------------------------------


def test_create_token_returns_a_bare_string_that_works(http, envoy_url, world):
    first = http.post(envoy_url + "/api/v1/create_token", headers=bearer(world["alice"]))
    second = http.post(envoy_url + "/api/v1/create_token", json={"description": "ci"}, headers=bearer(world["alice"]))
    for response in (first, second):
        assert response.status_code == 200, response.text
        assert response.content.startswith(b'"') and len(response.json()) == 64
    assert first.json() != second.json()
    me = http.get(envoy_url + "/api/v1/whoami", headers=bearer(first.json()))
    assert me.json()["email"] == "compat-alice@example.org"
    # The browser path: GET with only the cookie.
    cookie = http.get(envoy_url + "/auth/api/v1/create_token", cookies={"dsg_token": world["alice"]})
    assert cookie.status_code == 200 and len(cookie.json()) == 64


def test_user_token_lists_without_the_token(http, envoy_url, world):
    response = http.get(envoy_url + "/api/v1/user/token", headers=bearer(world["alice"]))
    assert response.status_code == 200, response.text
    rows = response.json()
    assert rows and all(list(r) == ["id", "description", "created", "last_used", "user_id", "expires_at", "kind"] for r in rows)
    assert world["alice"] not in response.text and '"token"' not in response.text
    used = [r for r in rows if r["description"] == "compat e2e"]
    assert used and used[0]["last_used"] is not None and used[0]["created"].endswith("Z")
    assert all(r["user_id"] == world["alice_id"] for r in rows)


def test_long_lived_token_is_stable_and_rotates(http, envoy_url, world):
    url = envoy_url + "/api/v1/long_lived_token"
    first = http.get(url, headers=bearer(world["bob"]))
    assert first.status_code == 200, first.text
    token = first.json()["token"]
    assert first.content.decode() == f'{{"token":"{token}"}}'
    assert http.get(url, headers=bearer(world["bob"])).json() == {"token": token}
    assert token != world["bob"]
    assert psql(
        f"SELECT count(*) FROM api_tokens WHERE user_id = {world['bob_id']} AND kind = 'long_lived'"
    ) == ["1"]
    rotated = http.post(url + "/rotate", headers=bearer(token))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token"] != token
    assert http.get(envoy_url + "/api/v1/whoami", headers=bearer(token)).status_code == 401
    assert http.get(envoy_url + "/api/v1/whoami", headers=bearer(world["bob"])).status_code == 200


def test_refresh_token_is_a_deprecated_stub(http, envoy_url, world):
    for prefix in PREFIXES:
        response = http.get(f"{envoy_url}{prefix}/api/v1/refresh_token", headers=bearer(world["alice"]))
        assert_bytes(response, '{"status":"deprecated","message":"Use /api/v1/create_token instead"}')


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/create_token"),
        ("get", "/api/v1/long_lived_token"),
        ("post", "/api/v1/long_lived_token/rotate"),
        ("get", "/api/v1/user/token"),
        ("get", "/api/v1/refresh_token"),
    ],
)
def test_token_routes_refuse_service_accounts_and_anonymous(http, envoy_url, world, method, path):
    before = psql("SELECT count(*) FROM api_tokens")
    assert_refused(getattr(http, method)(envoy_url + path, headers=bearer(BOT_TOKEN)), 403, DENIED)
    assert psql("SELECT count(*) FROM api_tokens") == before
    assert getattr(http, method)(envoy_url + path).status_code == 401


# --- whoami for a service account ----------------------------------------------


def test_whoami_for_a_service_account(http, envoy_url, world):
    assert_bytes(
        http.get(envoy_url + "/api/v1/whoami", headers=bearer(BOT_TOKEN)),
        f'{{"id":{world["bot_id"]},"email":"compat-bot@service-account.dsg.local","name":"compat-bot",'
        '"picture_url":"","admin":false,"is_active":true,"groups":[],"datasets_admin":[],'
        '"service_account":true,"description":"CI"}',
    )


# --- CAVE lookups ---------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_usernames_in_request_order(http, envoy_url, world, prefix):
    url = f"{envoy_url}{prefix}/api/v1/username"
    ids = f"{world['bob_id']},{world['alice_id']},{world['bot_id']},999999"
    assert_bytes(
        http.get(url, params={"id": ids}, headers=bearer(world["alice"])),
        f'[{{"id":{world["bob_id"]},"name":"compat-bob"}},{{"id":{world["alice_id"]},"name":"compat-alice"}},'
        f'{{"id":{world["bot_id"]},"name":"compat-bot"}}]',
    )
    assert_bytes(http.get(url, params={"id": ""}, headers=bearer(world["alice"])), "[]")
    assert_refused(http.get(url, params={"id": "abc"}, headers=bearer(world["alice"])), 400, "Invalid user IDs")
    assert http.get(url, params={"id": "1"}).status_code == 401


@pytest.mark.parametrize("prefix", PREFIXES)
def test_users_need_some_admin(http, envoy_url, world, prefix):
    url = f"{envoy_url}{prefix}/api/v1/user"
    expected = (
        f'[{{"id":{world["alice_id"]},"name":"compat-alice","email":"compat-alice@example.org","admin":false,'
        '"pi":"","picture_url":""}]'
    )
    assert_bytes(http.get(url, params={"id": world["alice_id"]}, headers=bearer(BOT_TOKEN)), expected)
    admin = os.environ["STEWARD_ADMIN_TOKEN"]
    assert_bytes(http.get(url, params={"id": world["alice_id"]}, headers=bearer(admin)), expected)
    assert_refused(http.get(url, params={"id": world["alice_id"]}, headers=bearer(world["alice"])), 403, DENIED)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_user_permissions_need_some_admin(http, envoy_url, world, prefix):
    url = f"{envoy_url}{prefix}/api/v1/user/{world['alice_id']}/permissions"
    response = http.get(url, headers=bearer(BOT_TOKEN))
    assert response.status_code == 200, response.text
    assert response.text.startswith(f'{{"id":{world["alice_id"]},"parent_id":null,"service_account":false')
    assert response.json()["permissions_v2"] == {"compat-fish": ["view"]}
    assert_refused(http.get(url, headers=bearer(world["bob"])), 403, DENIED)
    missing = http.get(f"{envoy_url}{prefix}/api/v1/user/999999/permissions", headers=bearer(BOT_TOKEN))
    assert_refused(missing, 404, "User not found")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_group_members_and_users(http, envoy_url, world, prefix):
    members = f"{envoy_url}{prefix}/api/v1/groups/compat-team/members"
    expected = '["compat-alice@example.org","compat-bob@example.org"]'
    assert_bytes(http.get(members, headers=bearer(world["alice"])), expected)
    assert_bytes(http.get(members, headers=bearer(BOT_TOKEN)), expected)
    outsider = mint("compat-carol@example.org")
    assert_refused(http.get(members, headers=bearer(outsider)), 403, DENIED)
    missing = http.get(f"{envoy_url}{prefix}/api/v1/groups/compat-nope/members", headers=bearer(BOT_TOKEN))
    assert_refused(missing, 404, "Group not found")
    users = f"{envoy_url}{prefix}/api/v1/group/{world['group_id']}/user"
    assert_bytes(
        http.get(users, headers=bearer(BOT_TOKEN)),
        f'[{{"id":{world["alice_id"]},"name":"compat-alice","admin":false}},'
        f'{{"id":{world["bob_id"]},"name":"compat-bob","admin":false}}]',
    )
    assert_refused(http.get(users, headers=bearer(world["alice"])), 403, DENIED)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_table_dataset_is_a_bare_string(http, envoy_url, world, prefix):
    url = f"{envoy_url}{prefix}/api/v1/service/pychunkedgraph/table/compat_fish_v1/dataset"
    response = http.get(url, headers=bearer(world["bob"]))
    assert_bytes(response, '"compat-fish"')
    assert response.json() == "compat-fish"  # what middle-auth-client does with it
    missing = http.get(f"{envoy_url}{prefix}/api/v1/service/pychunkedgraph/table/nope/dataset", headers=bearer(world["bob"]))
    assert_refused(missing, 404, "Table not found")
    assert http.get(url).status_code == 401


@pytest.mark.parametrize("prefix", PREFIXES)
def test_public_roots_for_anonymous_callers(http, envoy_url, world, prefix):
    base = f"{envoy_url}{prefix}/api/v1/table"
    assert_bytes(http.get(f"{base}/compat_fish_v1/has_public"), "true")
    assert_bytes(http.get(f"{base}/compat_other/has_public"), "false")
    assert_bytes(http.get(f"{base}/compat_fish_v1/root/100/is_public"), "true")
    assert_bytes(http.get(f"{base}/compat_fish_v1/root/300/is_public"), "false")
    assert_bytes(http.get(f"{base}/compat_fish_v1/root/{ROOT_BIG}/is_public"), "true")
    url = f"{base}/compat_fish_v1/root_all_public"
    assert_bytes(http.post(url, json=[100, 200, 300]), "[true,true,false]")
    assert_bytes(http.post(url, json=[300, 100]), "[false,true]")
    assert_bytes(http.post(url, json=[]), "[]")
    assert_bytes(http.post(url, json=[ROOT_BIG, ROOT_BIG - 1]), "[true,false]")
    assert_refused(http.post(url, json={}), 400, "Expected JSON array of root IDs")
    # A presented bad credential is never downgraded to anonymous.
    assert http.get(f"{base}/compat_fish_v1/has_public", headers=bearer("ab" * 32)).status_code == 401


def test_health(http, envoy_url):
    for base in (envoy_url, os.environ["STEWARD_URL"]):
        response = http.get(base + "/health")
        assert response.status_code == 200
        assert response.content == b'{"status":"ok"}'


def test_openapi_marks_only_the_public_routes_as_anonymous(http, envoy_url):
    paths = http.get(envoy_url + "/api/docs/openapi.json").json()["paths"]
    anonymous = sorted(p for p, ops in paths.items() for op in ops.values() if op.get("security") == [])
    expected = [
        f"{prefix}/api/v1/table/{{table_id}}/{rest}"
        for prefix in PREFIXES
        for rest in ["has_public", "root/{root_id}/is_public", "root_all_public"]
    ]
    # DonationService's catalogue of sources and data types (spec §2.9.1).
    expected.append("/v1/donationSources")
    # SecretShareService's party info (spec secretshare.md §2.6: anyone).
    expected.append("/api/secretshare/v1/party")
    assert anonymous == sorted(expected)


def test_dataset_prefix_redirects_and_requests_follows(http, envoy_url, world, token, email):
    url = envoy_url + "/fish2/cave/api/v1/user/cache"
    first = http.get(url, params={"service": "x"}, headers=bearer(token), allow_redirects=False)
    assert first.status_code == 308
    assert first.headers["location"] == "/api/v1/user/cache?service=x"
    followed = http.get(url, headers=bearer(token))
    assert followed.status_code == 200, followed.text
    assert followed.json()["email"] == email
    assert [r.status_code for r in followed.history] == [308]
    # A POST keeps its method and body across the 308.
    check = http.post(envoy_url + "/fish2/cave/api/v1/check-access", json={"dataset": "compat-fish"}, headers=bearer(token))
    assert check.status_code == 200 and check.json() == {"allowed": False, "reason": "no_permission"}


def test_aliases_are_real_routes_not_redirects(http, envoy_url, world):
    for prefix in ["/auth", "/sticky_auth"]:
        response = http.get(f"{envoy_url}{prefix}/api/v1/table/compat_fish_v1/has_public", allow_redirects=False)
        assert response.status_code == 200 and response.history == []
