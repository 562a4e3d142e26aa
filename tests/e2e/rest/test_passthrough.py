"""What else Envoy's one port carries to Steward: gRPC-web (translated by
Envoy's grpc_web filter), plain HTTP paths untouched, and Steward's CORS
answers for browser pages served from Envoy's origin."""

from urllib.parse import unquote

from wire import grpc_web_frame, grpc_web_frames, grpc_web_trailers, proto_fields

WHOAMI_RPC = "/steward.authorization.v1.AuthorizationService/WhoAmI"
GRPC_WEB = {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "Accept": "application/grpc-web+proto"}


def test_grpc_web_whoami(http, envoy_url, token, email):
    response = http.post(
        envoy_url + WHOAMI_RPC,
        data=grpc_web_frame(b""),  # WhoAmIRequest has no fields
        headers={**GRPC_WEB, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/grpc-web")
    frames = grpc_web_frames(response.content)
    data = [payload for flag, payload in frames if flag == 0x00]
    trailers = [payload for flag, payload in frames if flag & 0x80]
    assert len(data) == 1 and len(trailers) == 1, frames
    assert grpc_web_trailers(trailers[0])["grpc-status"] == "0"
    fields = proto_fields(data[0])
    assert fields[2] == [email.encode()]  # WhoAmIResponse.email
    assert fields[1][0] > 0  # WhoAmIResponse.id


def test_grpc_web_without_credentials_is_unauthenticated(http, envoy_url):
    response = http.post(envoy_url + WHOAMI_RPC, data=grpc_web_frame(b""), headers=GRPC_WEB)
    assert response.status_code == 200  # gRPC-web carries the error in grpc-status
    status = response.headers.get("grpc-status")
    message = response.headers.get("grpc-message")
    if status is None:  # not trailers-only: the status is in the trailer frame
        trailers = grpc_web_trailers([p for f, p in grpc_web_frames(response.content) if f & 0x80][0])
        status, message = trailers["grpc-status"], trailers.get("grpc-message", "")
    assert status == "16"
    assert "authorization" in unquote(message).lower()


def test_healthz_reaches_steward(http, envoy_url):
    response = http.get(envoy_url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["server"] == "envoy"  # it did go through Envoy


def test_metrics_reach_steward(http, envoy_url):
    response = http.get(envoy_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE steward_" in response.text


def test_request_id_is_passed_and_echoed(http, envoy_url, token):
    # A caller's id reaches Steward unchanged (so its logs can be matched);
    # without one, every answer still names the id Steward logged it under.
    for path in ["/healthz", "/api/v1/whoami"]:
        response = http.get(envoy_url + path, headers={"X-Request-Id": "edge-test-4711", "Authorization": f"Bearer {token}"})
        assert response.headers["x-request-id"] == "edge-test-4711"
        first = http.get(envoy_url + path, headers={"Authorization": f"Bearer {token}"}).headers["x-request-id"]
        second = http.get(envoy_url + path, headers={"Authorization": f"Bearer {token}"}).headers["x-request-id"]
        assert first and second and first != second


def test_cors_preflight_for_a_rest_route(http, envoy_url):
    # tests/e2e/run allows ENVOY_URL's origin in STEWARD_CORS_ORIGINS.
    response = http.options(
        envoy_url + "/api/v1/whoami",
        headers={
            "Origin": envoy_url,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == envoy_url
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_cors_on_a_transcoded_answer(http, envoy_url, token):
    response = http.get(
        envoy_url + "/api/v1/whoami", headers={"Origin": envoy_url, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    # Exactly one allow-origin value (requests would join duplicates with ", ").
    assert response.headers["access-control-allow-origin"] == envoy_url


def test_cors_refuses_an_unknown_origin(http, envoy_url, token):
    response = http.get(
        envoy_url + "/api/v1/whoami",
        headers={"Origin": "http://evil.example", "Authorization": f"Bearer {token}"},
    )
    assert "access-control-allow-origin" not in response.headers
