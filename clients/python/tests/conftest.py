"""Fixtures for the client tests: the live Steward that tests/e2e/run started
(STEWARD_URL, STEWARD_TEST_TOKEN, STEWARD_TEST_EMAIL, STEWARD_ADMIN_TOKEN, and
STEWARD_BIN with STEWARD_DATA_DIR to make users of their own) and small local TCP
servers to put between the client and it: a relay (optionally terminating TLS,
as a production proxy does), one that hangs up at once and one that never
answers. They are real sockets on 127.0.0.1, so the client's whole gRPC stack
runs as it does against a real deployment."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import threading
import uuid
from typing import Callable, Iterator, List, Optional, Set, Tuple
from urllib.parse import urlsplit

import pytest
import trustme


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with `tests/e2e/run python`, which starts Steward", pytrace=False)
    return value


@pytest.fixture(scope="session")
def steward_url() -> str:
    return _env("STEWARD_URL")


@pytest.fixture(scope="session")
def steward_addr(steward_url: str) -> Tuple[str, int]:
    parts = urlsplit(steward_url)
    assert parts.hostname and parts.port, steward_url
    return parts.hostname, parts.port


@pytest.fixture(scope="session")
def token() -> str:
    return _env("STEWARD_TEST_TOKEN")


@pytest.fixture(scope="session")
def email() -> str:
    return _env("STEWARD_TEST_EMAIL")


@pytest.fixture(scope="session")
def admin_token() -> str:
    """A global admin's token (admin@example.org)."""
    return _env("STEWARD_ADMIN_TOKEN")


@pytest.fixture
def new_user() -> Tuple[str, str]:
    """A user of its own, `(email, token)`, made with the real CLI: tests that grant
    and revoke must not change what the shared test user sees in other suites."""
    email = f"py-{uuid.uuid4().hex[:12]}@example.org"
    result = subprocess.run(
        [_env("STEWARD_BIN"), "token", "create", "--email", email, "--role", "researcher", "--description", "pytest"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STEWARD_DATA_DIR": _env("STEWARD_DATA_DIR")},
    )
    assert result.returncode == 0, result.stderr
    return email, result.stdout.strip().splitlines()[-1]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once by us, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """A TCP server on 127.0.0.1, served by an asyncio loop in its own thread.

    mode "relay" forwards every connection to `upstream` (after terminating TLS
    when `tls` is given); "hang-up" accepts and closes at once; "silent" accepts
    and never answers. `connections` counts accepted connections.
    """

    def __init__(
        self,
        mode: str,
        *,
        upstream: Optional[Tuple[str, int]] = None,
        tls: Optional[ssl.SSLContext] = None,
        port: int = 0,
    ) -> None:
        assert mode in ("relay", "hang-up", "silent")
        assert (mode == "relay") == (upstream is not None)
        self.mode = mode
        self.connections = 0
        self._upstream = upstream
        self._writers: Set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        # Failed TLS handshakes are expected in the certificate tests; keep them quiet.
        self._loop.set_exception_handler(lambda loop, context: None)
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"local-{mode}", daemon=True)
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", port, ssl=tls)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if self.mode == "hang-up":
                return
            if self.mode == "silent":
                await reader.read()  # until the client gives up and closes
                return
            assert self._upstream is not None
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            self._writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            writer.close()

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
def local_server() -> Iterator[Callable[..., LocalServer]]:
    """Starts LocalServers for a test and stops them after it."""
    servers: List[LocalServer] = []

    def start(mode: str, **kwargs: object) -> LocalServer:
        server = LocalServer(mode, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def private_ca() -> trustme.CA:
    """A throwaway certificate authority that no system trusts."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_context(private_ca: trustme.CA) -> ssl.SSLContext:
    """Server-side TLS for 127.0.0.1 and localhost, signed by private_ca, speaking h2 as gRPC requires."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.set_alpn_protocols(["h2"])
    return context
