"""One `steward serve` of the binary under test, configured as secret-share
party `index` of `count`, with its own data dir and embedded PostgreSQL, and
tokens made with its own CLI (each party is its own deployment). Used by the
multi-party tests here and by the browser suite's cross-language script."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Mapping, Optional


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalParty:
    """Started on construction; `wait_healthy()` before use, `stop()` after.
    `env` adds server settings (e.g. STEWARD_CORS_ORIGINS for a browser page)."""

    def __init__(
        self, binary: str, index: int, count: int, name: str = "", env: Optional[Mapping[str, str]] = None
    ) -> None:
        self.binary = binary
        self.index = index
        # Under /tmp and world-traversable: as root the embedded PostgreSQL runs as `postgres`.
        self.dir = tempfile.mkdtemp(prefix=f"ss-party{index}-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("STEWARD_", "OAUTH2_")) and key not in ("SERVER_ID", "NUM_CLIENTS_TO_SUM")
        }
        self.env.update(
            STEWARD_DATA_DIR=os.path.join(self.dir, "var"),
            STEWARD_LISTEN=f"127.0.0.1:{self.port}",
            STEWARD_PUBLIC_URL=self.url,
            STEWARD_SECRETSHARE_PARTY_INDEX=str(index),
            STEWARD_SECRETSHARE_PARTY_COUNT=str(count),
            STEWARD_SECRETSHARE_PARTY_NAME=name,
        )
        self.env.update(env or {})
        self.log = open(os.path.join(self.dir, "steward.log"), "wb")  # closed in stop()
        self.process = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"party {self.index} exited: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"party {self.index} never became healthy: {self.tail()}")

    def token(self, email: str, role: str) -> str:
        result = subprocess.run(
            [self.binary, "token", "create", "--email", email, "--role", role, "--description", "secretshare test"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"party {self.index}: token create failed: {result.stderr}")
        return result.stdout.strip().splitlines()[-1]

    def tail(self) -> str:
        self.log.flush()
        with open(os.path.join(self.dir, "steward.log"), "rb") as log:
            return log.read()[-3000:].decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
