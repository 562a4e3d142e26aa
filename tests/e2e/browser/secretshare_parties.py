"""The R and Python halves of secretshare scenario 53, for secretshare.test.mjs.

Starts three `steward serve` parties of the binary under test ($STEWARD_BIN),
each with its own data dir and embedded PostgreSQL, configured as parties 0, 1
and 2 of 3 (with clients/python/tests/local_party.py, as the Python client's
tests do), each letting the browser test's page origin call it (CORS). Then:

1. a developer creates the endpoint on every party (steward_client.secretshare);
2. R (Rscript secretshare_submit.R, the R client in clients/r) encodes, splits
   and submits every contributor's values, one contributor and token each;
3. Python, as a scientist, lists what is pending on every party, checks that it
   is exactly what R submitted, seals that intersection on every party, sums
   and decodes.

Prints one JSON line on stdout (the endpoint's name, the parties' URLs and a
scientist's token on each, what R and Python computed), then keeps the parties
running until stdin closes, so the browser can fetch the same batch from them.

Usage: python secretshare_parties.py '<JSON: {"rows": [[...]], "endpoint": {...}, "origin": ...}>'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

from steward_client.secretshare import Parties, config_digest

HERE = Path(__file__).resolve().parent
# The party launcher of the Python client's multi-party tests.
sys.path.insert(0, str(HERE.parents[2] / "clients" / "python" / "tests"))
from local_party import LocalParty  # noqa: E402

N = 3
NAME = "cross_language_53"


def main() -> None:
    spec: Dict[str, Any] = json.loads(sys.argv[1])
    rows: List[List[str]] = spec["rows"]
    config: Dict[str, Any] = spec["endpoint"]
    binary = os.environ.get("STEWARD_BIN")
    if not binary:
        raise SystemExit("STEWARD_BIN is not set: run this through tests/e2e/run browser")
    parties = [LocalParty(binary, index, N, env={"STEWARD_CORS_ORIGINS": spec["origin"]}) for index in range(N)]
    try:
        for party in parties:
            party.wait_healthy()
        urls = [party.url for party in parties]

        def tokens(email: str, role: str) -> List[str]:
            return [party.token(email, role) for party in parties]

        with Parties(urls, token=tokens("dev@example.org", "developer")) as developer:
            # Bounds beyond 2^53 cross JSON as decimal strings.
            bounds = {key: int(config[key]) for key in ("min_value", "max_value")}
            endpoint = developer.create_endpoint(name=NAME, min_batch_size=len(rows), **{**config, **bounds})

        # R submits: the parties in another order than their indices, so R must sort them.
        order = [2, 0, 1]
        contributors = []
        for number, row in enumerate(rows):
            mine = tokens(f"c{number}@example.org", "contributor")
            contributors.append({"tokens": [mine[i] for i in order], "values": row})
        r_input = {
            "urls": [urls[i] for i in order],
            "endpoint": NAME,
            "expect": {**config, "min_batch_size": len(rows)},
            "contributors": contributors,
        }
        submitted = subprocess.run(
            ["Rscript", str(HERE / "secretshare_submit.R")],
            input=json.dumps(r_input),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if submitted.returncode != 0:
            raise SystemExit(f"secretshare_submit.R failed ({submitted.returncode}): {submitted.stderr[-3000:]}")
        r = json.loads(submitted.stdout.strip().splitlines()[-1])

        with Parties(urls, token=tokens("sci@example.org", "scientist")) as scientist:
            pending = scientist.pending(NAME)
            if sorted(pending) != sorted(r["submissionIds"]):
                raise SystemExit(f"pending on every party: {pending}; R submitted {r['submissionIds']}")
            result = scientist.seal_and_sum(NAME)
            left = scientist.pending(NAME)

        # The browser's own token on each party, made after sealing: it has only fetched.
        browser_tokens = tokens("browser@example.org", "scientist")
        print(
            json.dumps(
                {
                    "endpoint": NAME,
                    "parties": [{"url": url, "token": token} for url, token in zip(urls, browser_tokens)],
                    "configDigest": endpoint.config_digest,
                    "pythonConfigDigest": config_digest(endpoint, N),
                    "r": r,
                    "pendingBeforeSeal": pending,
                    "pendingAfterSeal": left,
                    "batchDigest": result.batch_digest,
                    "submissionIds": list(result.submission_ids),
                    "submissionCount": result.submission_count,
                    "contributorCount": result.contributor_count,
                    "sums": [format(value, "f") for value in result.sums],
                }
            ),
            flush=True,
        )
        sys.stdin.read()
    finally:
        for party in parties:
            party.stop()


if __name__ == "__main__":
    main()
