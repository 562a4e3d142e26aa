"""Runs scim2-tester's checks against Steward's SCIM endpoint and fails on any
check that did not pass (ERROR or CRITICAL); the other outcomes are listed but
do not fail the run.

    STEWARD_URL=http://127.0.0.1:PORT STEWARD_ADMIN_TOKEN=... python check.py
"""

import os
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILED = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    base = os.environ["STEWARD_URL"].rstrip("/") + "/auth/scim/v2/"
    token = os.environ["STEWARD_ADMIN_TOKEN"]
    http = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = [r for r in results if r.status in FAILED]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
        if r.status not in FAILED and r.status != Status.SUCCESS:
            print(f"  {r.status.name:10} {r.resource_type or '-':8} {r.title}: {r.reason}")
    for r in failed:
        print(f"FAILED {r.status.name} {r.resource_type or '-'} {r.title}: {r.reason}", file=sys.stderr)
    print("scim2-tester:", ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items())))
    if not results:
        print("scim2-tester ran no checks", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
