"""The Python half of secretshare scenario 53 for secretshare.test.mjs.

Starts three `steward serve` parties of the binary under test ($STEWARD_BIN),
each with its own data dir and embedded PostgreSQL, configured as parties 0, 1
and 2 of 3 (with clients/python/tests/local_party.py, as the Python client's tests do). With
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
import sys
from pathlib import Path
from typing import Dict, List

import steward_client
from steward_client.secretshare import Parties, config_digest

# The party launcher of the Python client's multi-party tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "clients" / "python" / "tests"))
from local_party import LocalParty  # noqa: E402

N = 3
NAME = "browser_cross_language"


def main() -> None:
    rows: List[List[str]] = json.loads(sys.argv[1])
    binary = os.environ.get("STEWARD_BIN")
    if not binary:
        raise SystemExit("STEWARD_BIN is not set: run this through tests/e2e/run browser")
    parties = [LocalParty(binary, index, N) for index in range(N)]
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
