"""GET /api/v1/whoami through Envoy's JSON transcoder: every way a script
presents its credential, DSG's JSON shape it gets back (numeric id, exactly
eight keys for a user), the 401 without one, and the typed WhoAmI's own
REST route /v1/principal."""

import os

import pytest

WHOAMI = "/api/v1/whoami"
UNKNOWN_TOKEN = "ab" * 32  # well-formed (64 hex) but never issued


USER_KEYS = ["id", "email", "name", "picture_url", "admin", "is_active", "groups", "datasets_admin"]


def assert_is_test_user(response, email):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    # DSG's shape: these eight keys in this order, no `service_account` or `roles` for a user.
    assert list(body) == USER_KEYS, response.text
    assert body["email"] == email
    assert "researcher" in body["groups"]
    assert body["is_active"] is True
    assert body["picture_url"] == ""
    assert body["admin"] is False
    assert body["datasets_admin"] == []
    # The id is a JSON number (DSG's), not proto3 JSON's int64 string.
    assert isinstance(body["id"], int) and body["id"] > 0


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_authorization_header(http, envoy_url, token, email, scheme):
    response = http.get(envoy_url + WHOAMI, headers={"Authorization": f"{scheme} {token}"})
    assert_is_test_user(response, email)


@pytest.mark.parametrize("prefix", ["/auth", "/sticky_auth"])
def test_aliases(http, envoy_url, token, email, prefix):
    response = http.get(envoy_url + prefix + WHOAMI, headers={"Authorization": f"Bearer {token}"})
    assert_is_test_user(response, email)


def test_dsg_token_query_parameter_is_ignored(http, envoy_url, token):
    # Only user/cache takes ?dsg_token= (spec §4.1).
    assert http.get(envoy_url + WHOAMI, params={"dsg_token": token}).status_code == 401


def test_admin_is_true_for_a_global_admin(http, envoy_url):
    admin = os.environ["STEWARD_ADMIN_TOKEN"]
    body = http.get(envoy_url + WHOAMI, headers={"Authorization": f"Bearer {admin}"}).json()
    assert body["admin"] is True and "admin" in body["groups"]


def test_typed_principal_route(http, envoy_url, token, email):
    # The typed WhoAmI RPC (gRPC clients' view) keeps a REST route of its own, in proto3 JSON.
    response = http.get(envoy_url + "/v1/principal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == email and "researcher" in body["roles"]
    assert body["service_account"] is False and body["description"] == ""
    assert isinstance(body["id"], str) and int(body["id"]) > 0  # int64 is a string in proto3 JSON
    assert http.get(envoy_url + "/v1/principal").status_code == 401


def test_dsg_token_cookie(http, envoy_url, token, email):
    response = http.get(envoy_url + WHOAMI, cookies={"dsg_token": token})
    assert_is_test_user(response, email)


def test_header_beats_a_stale_cookie(http, envoy_url, token, email):
    response = http.get(
        envoy_url + WHOAMI,
        headers={"Authorization": f"Bearer {token}"},
        cookies={"dsg_token": UNKNOWN_TOKEN},
    )
    assert_is_test_user(response, email)


def test_unknown_query_parameters_are_ignored(http, envoy_url, token, email):
    response = http.get(
        envoy_url + WHOAMI, params={"format": "json", "x": "1"}, headers={"Authorization": f"Token {token}"}
    )
    assert_is_test_user(response, email)


def assert_json_error(response, status, grpc_code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == grpc_code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_without_credentials_is_401_with_a_json_error(http, envoy_url):
    response = http.get(envoy_url + WHOAMI)
    body = assert_json_error(response, 401, 16)  # UNAUTHENTICATED
    # DSG's message, verbatim.
    assert body["message"] == "Authentication credentials were not provided."
    # The challenge (RFC 6750) survives Envoy's transcoder.
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers, cookies",
    [
        ({"Authorization": f"Bearer {UNKNOWN_TOKEN}"}, {}),
        ({"Authorization": f"Token {UNKNOWN_TOKEN}"}, {}),
        ({}, {"dsg_token": UNKNOWN_TOKEN}),
        ({"Authorization": "Bearer not-a-token"}, {}),
    ],
    ids=["unknown-bearer", "unknown-token", "unknown-cookie", "malformed"],
)
def test_a_bad_credential_is_401(http, envoy_url, headers, cookies):
    response = http.get(envoy_url + WHOAMI, headers=headers, cookies=cookies)
    assert_json_error(response, 401, 16)
    assert response.headers["www-authenticate"] == "Bearer"
