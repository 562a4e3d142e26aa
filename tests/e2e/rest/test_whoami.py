"""GET /api/v1/whoami through Envoy's JSON transcoder: every way a script
presents its credential, the JSON it gets back, and the 401 without one."""

import pytest

WHOAMI = "/api/v1/whoami"
UNKNOWN_TOKEN = "ab" * 32  # well-formed (64 hex) but never issued


def assert_is_test_user(response, email):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["email"] == email
    assert "researcher" in body["roles"]
    assert body["is_active"] is True
    # Field names as the proto spells them (preserve_proto_field_names), and
    # fields at their default value still printed (always_print_primitive_fields).
    assert body["picture_url"] == ""
    assert body["service_account"] is False
    assert body["admin"] is False
    assert body["description"] == ""
    assert "pictureUrl" not in body and "serviceAccount" not in body
    # int64 is a JSON string in proto3 JSON.
    assert isinstance(body["id"], str) and int(body["id"]) > 0


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_authorization_header(http, envoy_url, token, email, scheme):
    response = http.get(envoy_url + WHOAMI, headers={"Authorization": f"{scheme} {token}"})
    assert_is_test_user(response, email)


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
    body = assert_json_error(http.get(envoy_url + WHOAMI), 401, 16)  # UNAUTHENTICATED
    # The message tells the caller how to authenticate.
    assert "authorization" in body["message"].lower()


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
    assert_json_error(http.get(envoy_url + WHOAMI, headers=headers, cookies=cookies), 401, 16)
