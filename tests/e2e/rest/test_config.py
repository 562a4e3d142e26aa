"""envoy/run's other settings render a configuration Envoy accepts
(`envoy --mode validate`): the stack under test only exercises the defaults."""

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[3]


def validate(**env):
    result = subprocess.run(
        [str(REPO / "envoy" / "run"), "validate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " OK" in result.stdout
    return result


def test_admin_port_hostname_upstream_and_limits():
    validate(
        ENVOY_PORT="18099",
        ENVOY_ADMIN_PORT="18098",
        STEWARD_UPSTREAM="localhost:8080",
        ENVOY_MAX_REQUEST_BYTES="1048576",
        ENVOY_MAX_RESPONSE_BYTES="8388608",
    )
    rendered = (pathlib.Path.home() / ".cache/steward/envoy/18099/envoy.yaml").read_text()
    assert "port_value: 18098" in rendered  # the admin interface
    assert "type: STRICT_DNS" in rendered  # a host name is resolved, an IP is STATIC
    assert "start: 1048577" in rendered


def test_every_service_of_the_descriptor_is_transcoded():
    result = validate(ENVOY_PORT="18099")
    listed = result.stderr.split("envoy/run: transcoding ", 1)[1].splitlines()[0].split(", ")
    assert "steward.authorization.v1.AuthorizationService" in listed
    assert "grpc.health.v1.Health" in listed
