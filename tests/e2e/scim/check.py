"""Runs scim2-tester's checks against Steward's SCIM endpoint and fails on any
check that did not pass (ERROR or CRITICAL); the other outcomes are listed but
do not fail the run.

    STEWARD_URL=http://127.0.0.1:PORT ENVOY_URL=http://127.0.0.1:PORT STEWARD_ADMIN_TOKEN=... python check.py

Two values the tester cannot guess are fed to its generator
(`scim2_tester.filling.generate_random_value`, wrapped below); every other
value is the tester's own:
- `userName` must be an e-mail address (spec §3.7: it is the user's e-mail,
  400 invalidValue otherwise; RFC 7643 §4.1.1 leaves its format to the service
  provider), where the tester sends a bare UUID: a fresh address instead.
- a Dataset's `tosId` must name a terms-of-service document (spec §3.7, 400
  invalidValue otherwise), where the tester sends a random integer: the id of
  a document this script creates first through the REST API.

The client waits out a 429 for its `Retry-After` (RFC 6585 §4), as any client
of Steward's rate limit must.

LEFT_OUT lists, by resource type, check and attribute, the results not
counted, each with the reason.
"""

import os
import sys
import time
import uuid

import httpx2
import scim2_tester.checkers.patch_add
import scim2_tester.checkers.patch_replace
import scim2_tester.filling
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILED = {Status.ERROR, Status.CRITICAL}

EXT = "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User"

# The tester compares what it sent with the whole attribute returned, sub-attributes
# the server sets included. RFC 7643 §7 makes readOnly sub-attributes the service
# provider's to set, and RFC 7644 §3.5.2 answers PATCH with the resource as the server
# holds it: a group member's `display` (the user's name), `name.formatted` (the
# public name) and `familyName` (not stored), the extension's `serviceAccount`.
# For the extension object the tester also expects a `schemas` attribute inside it,
# which RFC 7643 §3.3 does not have (extension attributes sit under the URN alone).
_READ_ONLY_PARTS = "compares sub-attributes the server sets (RFC 7643 §7 readOnly, §3.3)"
# Steward's columns behind these are NOT NULL with defaults, and spec §3.7 fixes their
# representation for DatasetGateway's clients (`displayName` and `name.formatted` are
# the public name, falling back to the e-mail's local part; `active`, `admin`,
# `gdprConsent` are booleans; `pi` a string): removing one resets it to that default,
# which is then shown, where the tester expects the attribute to be absent.
_DEFAULTS = "a removed attribute shows Steward's default (spec §3.7 representation)"
LEFT_OUT = {
    ("User", "check_add_attribute", "name"): _READ_ONLY_PARTS,
    ("User", "check_replace_attribute", "name"): _READ_ONLY_PARTS,
    ("User", "check_add_attribute", EXT): _READ_ONLY_PARTS,
    ("User", "check_replace_attribute", EXT): _READ_ONLY_PARTS,
    ("Group", "check_add_attribute", "members"): _READ_ONLY_PARTS,
    ("Group", "check_replace_attribute", "members"): _READ_ONLY_PARTS,
    **{
        ("User", "check_remove_attribute", urn): _DEFAULTS
        for urn in ["name", "displayName", "active", EXT, f"{EXT}:admin", f"{EXT}:pi", f"{EXT}:gdprConsent"]
    },
}

_generate = scim2_tester.filling.generate_random_value
_tos_id: int | None = None


def _generate_steward_values(context, path, *args, **kwargs):
    value = _generate(context, path, *args, **kwargs)
    name = str(path).rsplit(":", 1)[-1].lower()
    if value is not None and name == "username":
        return f"{uuid.uuid4().hex}@example.org"
    if value is not None and name == "tosid":
        return _tos_id
    return value


# The checkers that generate values took their own reference at import.
for module in (scim2_tester.filling, scim2_tester.checkers.patch_add, scim2_tester.checkers.patch_replace):
    module.generate_random_value = _generate_steward_values


class _WaitOnRateLimit(httpx2.HTTPTransport):
    def handle_request(self, request):
        for _ in range(20):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            wait = response.headers.get("retry-after", "1")
            response.close()
            time.sleep(int(wait) if wait.isdigit() else 1)
        return response


def _create_tos_document(envoy: str, token: str) -> int:
    reply = httpx2.post(
        f"{envoy}/v1/tos-documents",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": f"scim2-tester {uuid.uuid4().hex[:8]}", "text": "Terms used by the SCIM compliance checks."},
        timeout=30,
    )
    reply.raise_for_status()
    return int(reply.json()["document"]["id"])


def _left_out(result) -> str | None:
    urn = result.data.get("urn") if isinstance(result.data, dict) else None
    return LEFT_OUT.get((result.resource_type, result.title, urn))


def main() -> int:
    base = os.environ["STEWARD_URL"].rstrip("/") + "/auth/scim/v2/"
    token = os.environ["STEWARD_ADMIN_TOKEN"]
    global _tos_id
    _tos_id = _create_tos_document(os.environ["ENVOY_URL"].rstrip("/"), token)
    http = httpx2.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30, transport=_WaitOnRateLimit()
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = []
    counts: dict[str, int] = {}
    for r in results:
        reason = _left_out(r) if r.status in FAILED else None
        name = "LEFT_OUT" if reason else r.status.name
        counts[name] = counts.get(name, 0) + 1
        if reason:
            print(f"  left out   {r.resource_type:8} {r.title} {r.data['urn']}: {reason}")
        elif r.status in FAILED:
            failed.append(r)
        elif r.status != Status.SUCCESS:
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
