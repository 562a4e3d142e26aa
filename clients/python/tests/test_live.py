"""The client against the live Steward (and local relays in front of it): results,
credentials, errors, retries, timeouts and TLS as a user of the package meets them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import grpc
import pytest

import steward_client
from steward_client.proto.steward.authorization.v1 import authorization_service_pb2


def test_whoami_returns_the_user_with_roles(steward_url: str, token: str, email: str) -> None:
    with steward_client.Client(steward_url, token) as client:
        me = client.whoami()
    assert isinstance(me, authorization_service_pb2.WhoAmIResponse)
    assert me.email == email
    assert "researcher" in me.roles
    assert me.id > 0
    assert me.is_active
    assert not me.service_account


def test_bare_loopback_address_is_plaintext(steward_addr: tuple, token: str, email: str) -> None:
    host, port = steward_addr
    with steward_client.Client(f"{host}:{port}", token) as client:
        assert not client.secure
        assert client.whoami().email == email


def test_token_read_with_a_trailing_newline_works(steward_url: str, token: str, email: str) -> None:
    with steward_client.Client(steward_url, token + "\n") as client:
        assert client.whoami().email == email


@pytest.mark.parametrize("bad_token", ["0" * 64, "not-a-steward-token"])
def test_bad_token_raises_unauthenticated(steward_url: str, bad_token: str) -> None:
    started = time.monotonic()
    with steward_client.Client(steward_url, bad_token) as client:
        with pytest.raises(steward_client.Unauthenticated) as raised:
            client.whoami()
    error = raised.value
    assert isinstance(error, steward_client.StewardError)
    assert error.code is grpc.StatusCode.UNAUTHENTICATED
    assert error.message
    assert str(error).startswith("UNAUTHENTICATED: ")
    assert error.request_id, "the server's request id is there to quote in a report"
    # Only UNAVAILABLE is retried.
    assert error.attempts == 1
    assert time.monotonic() - started < 5


def test_no_token_raises_unauthenticated(steward_url: str) -> None:
    with steward_client.Client(steward_url) as client:
        with pytest.raises(steward_client.Unauthenticated) as raised:
            client.whoami()
    assert raised.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.message
    assert raised.value.attempts == 1


def test_closed_client_refuses_calls(steward_url: str, token: str) -> None:
    with steward_client.Client(steward_url, token) as client:
        client.whoami()
    assert client.closed
    with pytest.raises(ValueError, match="closed"):
        client.whoami()
    client.close()  # idempotent


def test_unreachable_address_raises_unavailable_naming_it(closed_port: int) -> None:
    address = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with steward_client.Client(address, retries=1, backoff=0.05) as client:
        with pytest.raises(steward_client.Unavailable) as raised:
            client.whoami()
    error = raised.value
    assert time.monotonic() - started < 5
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert error.address == address
    assert f"Steward at {address} is unavailable after 2 attempts" in str(error)
    assert error.request_id is None


def test_unreachable_address_fails_with_one_clear_line(closed_port: int) -> None:
    """What a script's user sees: our error alone, not gRPC's internals."""
    address = f"127.0.0.1:{closed_port}"
    script = f"import steward_client; steward_client.Client({address!r}, retries=0).whoami()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        f"steward_client.errors.Unavailable: UNAVAILABLE: Steward at {address} is unavailable after 1 attempt: "
    ), result.stderr
    assert "During handling" not in result.stderr
    assert "_InactiveRpcError" not in result.stderr


def test_unavailable_is_retried_with_backoff(closed_port: int) -> None:
    address = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with steward_client.Client(address, retries=3, backoff=0.1) as client:
        with pytest.raises(steward_client.Unavailable) as raised:
            client.whoami()
    elapsed = time.monotonic() - started
    assert raised.value.attempts == 4
    # Pauses of at least 0.05 + 0.1 + 0.2 s (jitter keeps each in [delay/2, delay]).
    assert 0.35 <= elapsed < 10


def test_retries_ride_out_a_server_restart(
    local_server, closed_port: int, steward_addr: tuple, token: str, email: str
) -> None:
    """Steward comes back (here: its port opens) while the client is retrying."""
    port = closed_port
    relays = []
    opener = threading.Timer(0.6, lambda: relays.append(local_server("relay", upstream=steward_addr, port=port)))
    opener.start()
    try:
        with steward_client.Client(f"127.0.0.1:{port}", token, retries=8, backoff=0.1) as client:
            assert client.whoami().email == email
    finally:
        opener.join()
    assert relays and relays[0].connections >= 1


def test_timeout_raises_deadline_exceeded(local_server) -> None:
    silent = local_server("silent")
    started = time.monotonic()
    with steward_client.Client(silent.address, timeout=0.5, retries=3) as client:
        with pytest.raises(steward_client.DeadlineExceeded) as raised:
            client.whoami()
    assert time.monotonic() - started < 3
    assert raised.value.attempts == 1
    assert silent.address in str(raised.value)


def test_https_with_a_private_ca(local_server, tls_server_context, private_ca, steward_addr: tuple, token: str, email: str) -> None:
    terminator = local_server("relay", upstream=steward_addr, tls=tls_server_context)
    roots = private_ca.cert_pem.bytes()
    with steward_client.Client(f"https://127.0.0.1:{terminator.port}", token, root_certificates=roots) as client:
        assert client.secure
        assert client.whoami().email == email


def test_https_refuses_a_certificate_the_system_does_not_trust(
    local_server, tls_server_context, steward_addr: tuple, token: str
) -> None:
    terminator = local_server("relay", upstream=steward_addr, tls=tls_server_context)
    with steward_client.Client(f"https://127.0.0.1:{terminator.port}", token, retries=0) as client:
        with pytest.raises(steward_client.Unavailable) as raised:
            client.whoami()
    assert terminator.address in str(raised.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
