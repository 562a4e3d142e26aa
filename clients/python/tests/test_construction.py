"""What a Client makes of its arguments before any call (no server needed):
URL forms and when they mean TLS, token checks, and the error classes."""

from __future__ import annotations

import grpc
import pytest

import steward_client


@pytest.mark.parametrize(
    ("url", "address", "secure"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", False),
        ("http://steward.example.org", "steward.example.org:80", False),
        ("https://steward.example.org", "steward.example.org:443", True),
        ("https://Steward.Example.org:8443/", "steward.example.org:8443", True),
        ("https://[2001:db8::1]:8443", "[2001:db8::1]:8443", True),
        # Bare host:port: plaintext only on loopback, so a token never leaves the machine in clear.
        ("127.0.0.1:8080", "127.0.0.1:8080", False),
        ("localhost:8080", "localhost:8080", False),
        ("[::1]:8080", "[::1]:8080", False),
        ("steward.example.org:443", "steward.example.org:443", True),
        ("10.1.2.3:8080", "10.1.2.3:8080", True),
    ],
)
def test_url_forms(url: str, address: str, secure: bool) -> None:
    client = steward_client.Client(url)
    try:
        assert (client.address, client.secure) == (address, secure)
    finally:
        client.close()


@pytest.mark.parametrize(
    "url",
    ["", "steward.example.org", "ftp://steward.example.org:21", "http://h:8080/api", "http://h:port", "http://user@h:1"],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        steward_client.Client(url)


@pytest.mark.parametrize("token", ["", "  \n", "two words", "tab\there"])
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        steward_client.Client("http://127.0.0.1:8080", token)


def test_repr_never_shows_the_token() -> None:
    with steward_client.Client("http://127.0.0.1:8080", "f" * 64) as client:
        assert "f" * 64 not in repr(client)
        assert "127.0.0.1:8080" in repr(client)


def test_private_roots_need_tls() -> None:
    with pytest.raises(ValueError, match="https"):
        steward_client.Client("http://127.0.0.1:8080", root_certificates=b"-----BEGIN CERTIFICATE-----")


def test_every_status_has_its_error_class() -> None:
    classes = {}
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        name = "".join(word.capitalize() for word in code.name.split("_"))
        cls = getattr(steward_client, name)
        assert issubclass(cls, steward_client.StewardError)
        assert cls.code is code
        classes[code] = cls
    assert len(set(classes.values())) == len(classes)
