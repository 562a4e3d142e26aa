"""The Python half of secretshare scenario 53 for secretshare.test.mjs.

Starts three `steward serve` parties of the binary under test ($STEWARD_BIN),
each with its own data dir and embedded PostgreSQL, configured as parties 0, 1
and 2 of 3 (as clients/python/tests/test_secretshare_parties.py does). With
steward_client.secretshare.Parties it creates a fixed-point endpoint, submits one
vector per contributor, seals them and sums. Then it reads the batch back with
GetBatch from every party and prints one JSON object on stdout: the endpoint,
each party's Batch (64-bit numbers as decimal strings) and Python's decoded sums,
so the browser can decode the same batch and compare. Stops the parties on exit.

Usage: python secretshare_parties.py '<JSON list of value rows>'
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List

import steward_client
from steward_client.secretshare import Parties, config_digest

N = 3
NAME = "browser_cross_language"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Party:
    def __init__(self, binary: str, index: int) -> None:
        self.binary = binary
        self.index = index
        # Under /tmp and world-traversable: as root the embedded PostgreSQL runs as `postgres`.
        self.dir = tempfile.mkdtemp(prefix=f"ss-browser-party{index}-", dir="/tmp")
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
            STEWARD_SECRETSHARE_PARTY_COUNT=str(N),
        )
        self.log = open(os.path.join(self.dir, "steward.log"), "wb")
        self.process = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def tail(self) -> str:
        self.log.flush()
        with open(os.path.join(self.dir, "steward.log"), "rb") as log:
            return log.read()[-3000:].decode(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"party {self.index} exited: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"party {self.index} never became healthy: {self.tail()}")

    def token(self, email: str, role: str) -> str:
        result = subprocess.run(
            [self.binary, "token", "create", "--email", email, "--role", role, "--description", "browser e2e"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
        )
        if result.returncode != 0:
            raise SystemExit(f"party {self.index}: token create failed: {result.stderr}")
        return result.stdout.strip().splitlines()[-1]

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


def main() -> None:
    rows: List[List[str]] = json.loads(sys.argv[1])
    binary = os.environ.get("STEWARD_BIN")
    if not binary:
        raise SystemExit("STEWARD_BIN is not set: run this through tests/e2e/run browser")
    parties = [Party(binary, index) for index in range(N)]
    try:
        for party in parties:
            party.wait_healthy()
        urls = [party.url for party in parties]

        def tokens(email: str, role: str) -> List[str]:
            return [party.token(email, role) for party in parties]

        with Parties(urls, token=tokens("dev@example.org", "developer")) as developer:
            endpoint = developer.create_endpoint(
                name=NAME,
                vector_length=len(rows[0]),
                encoding="fixed_point",
                decimal_scale=2,
                min_value=-100000,
                max_value=100000,
                min_batch_size=len(rows),
            )
        for number, row in enumerate(rows):
            with Parties(urls, token=tokens(f"c{number}@example.org", "contributor")) as contributor:
                contributor.submit(NAME, row)
        scientist_tokens = tokens("sci@example.org", "scientist")
        with Parties(urls, token=scientist_tokens) as scientist:
            result = scientist.seal_and_sum(NAME)

        batches: List[Dict[str, object]] = []
        for url, token in zip(urls, scientist_tokens):
            with steward_client.Client(url, token) as client:
                batch = client.secretshare.get_batch(endpoint=NAME, batch_digest=result.batch_digest).batch
            batches.append(
                {
                    "endpoint": batch.endpoint,
                    "batchDigest": batch.batch_digest,
                    "submissionCount": str(batch.submission_count),
                    "contributorCount": str(batch.contributor_count),
                    "partyIndex": batch.party_index,
                    "partyCount": batch.party_count,
                    "configDigest": batch.config_digest,
                    "aggregateShare": [str(element) for element in batch.aggregate_share],
                }
            )
        print(
            json.dumps(
                {
                    "endpoint": {
                        "name": endpoint.name,
                        "vectorLength": endpoint.vector_length,
                        "field": endpoint.field,
                        "encoding": endpoint.encoding,
                        "decimalScale": endpoint.decimal_scale,
                        "minValue": str(endpoint.min_value),
                        "maxValue": str(endpoint.max_value),
                        "minBatchSize": endpoint.min_batch_size,
                        "maxSubmissionsPerContributor": endpoint.max_submissions_per_contributor,
                        "configDigest": endpoint.config_digest,
                    },
                    "pythonConfigDigest": config_digest(endpoint, N),
                    "batchDigest": result.batch_digest,
                    "submissionIds": list(result.submission_ids),
                    "contributorCount": result.contributor_count,
                    "sums": [format(value, "f") for value in result.sums],
                    "batches": batches,
                }
            )
        )
    finally:
        for party in parties:
            party.stop()


if __name__ == "__main__":
    main()
