"""Bad input to REST routes through Envoy gets the right HTTP status and a
JSON error body ({"code": <gRPC code>, "message": ...}) a script can read.

Steward has no POST route with a JSON body yet, so these use
grpc.health.v1.Health/Check, which the transcoder maps (auto_mapping) to
POST /grpc.health.v1.Health/Check with a JSON body ({"service": "..."}).
"""

import json

CHECK = "/grpc.health.v1.Health/Check"
JSON = {"Content-Type": "application/json"}
LIMIT = 4 * 1024 * 1024  # envoy/run's default ENVOY_MAX_REQUEST_BYTES


def json_error(response, status):
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], int) and body["code"] != 0
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_a_json_post_route_works(http, envoy_url):
    # The baseline the cases below break: a well-formed call succeeds.
    response = http.post(envoy_url + CHECK, data=json.dumps({"service": ""}), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "SERVING"}


def test_a_grpc_error_keeps_its_status(http, envoy_url):
    response = http.post(envoy_url + CHECK, data=json.dumps({"service": "no.such.Service"}), headers=JSON)
    assert json_error(response, 404)["code"] == 5  # NOT_FOUND


def test_unknown_route_is_404_json(http, envoy_url):
    response = http.get(envoy_url + "/api/v1/no-such-route")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    response.json()


def test_syntax_error_is_400(http, envoy_url):
    response = http.post(envoy_url + CHECK, data='{"service": ', headers=JSON)
    assert json_error(response, 400)["code"] == 3  # INVALID_ARGUMENT


def test_wrong_field_type_is_400_naming_the_field(http, envoy_url):
    response = http.post(envoy_url + CHECK, data='{"service": 42}', headers=JSON)
    body = json_error(response, 400)
    assert body["code"] == 3
    assert "service" in body["message"]


def test_wrong_content_type_is_415(http, envoy_url):
    for content_type in ["text/plain", "application/xml", "application/x-www-form-urlencoded"]:
        response = http.post(envoy_url + CHECK, data='{"service": ""}', headers={"Content-Type": content_type})
        assert "application/json" in json_error(response, 415)["message"]


def test_json_content_type_variants_are_accepted(http, envoy_url):
    for content_type in ["application/json; charset=utf-8", "Application/JSON"]:
        response = http.post(envoy_url + CHECK, data='{"service": ""}', headers={"Content-Type": content_type})
        assert response.status_code == 200, (content_type, response.text)


def test_huge_body_is_413(http, envoy_url):
    body = json.dumps({"service": "x" * (LIMIT + 1)})
    response = http.post(envoy_url + CHECK, data=body, headers=JSON)
    assert str(LIMIT) in json_error(response, 413)["message"]


def test_body_just_under_the_limit_is_transcoded(http, envoy_url):
    # Reaches Steward (which knows no such service), so the limit is not too low.
    body = json.dumps({"service": "x" * (LIMIT - 100)})
    response = http.post(envoy_url + CHECK, data=body, headers=JSON)
    assert json_error(response, 404)["code"] == 5


def test_huge_chunked_body_is_refused(http, envoy_url):
    # No declared length, so Envoy cannot refuse it up front: Steward's message
    # limit does (RESOURCE_EXHAUSTED → 429); either way the caller gets JSON.
    def chunks():
        yield b'{"service": "'
        for _ in range(LIMIT // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    response = http.post(envoy_url + CHECK, data=chunks(), headers=JSON)
    assert response.status_code in (413, 429), response.text[:300]
    json_error(response, response.status_code)


def test_pass_through_paths_keep_their_content_types(http, envoy_url):
    # Not transcoded, so no 415 from Envoy: Steward itself answers (405 here).
    response = http.post(envoy_url + "/healthz", data="hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 405
