"""DatasetService admin RPCs through Envoy's REST transcoding, as an admin
console or a script would call them: /v1/datasets (versions, grants),
/v1/service-accounts (tokens), /v1/tos-invites and /v1/audit-log — status
codes, JSON field names and the effect on the DSG-compatible user/cache."""

import os
import time
import uuid

import pytest

SUFFIX = uuid.uuid4().hex[:8]
DATASET = f"rest-admin-{SUFFIX}"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def admin():
    return bearer(os.environ["STEWARD_ADMIN_TOKEN"])


def eventually(fetch, done, seconds=5.0):
    """Polls `fetch` until `done(result)`; permission caches are evicted by NOTIFY."""
    deadline = time.monotonic() + seconds
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_dataset_lifecycle_grants_and_user_cache(http, envoy_url, admin, token, email):
    url = f"{envoy_url}/v1/datasets"
    body = {"name": DATASET, "description": "Fish", "access_mode": "ACCESS_MODE_CLOSED", "request_id": SUFFIX}
    created = http.post(url, json=body, headers=admin)
    assert created.status_code == 200, created.text
    dataset = created.json()["dataset"]
    assert (dataset["name"], dataset["access_mode"]) == (DATASET, "ACCESS_MODE_CLOSED")
    # A retry with the same request id returns the same dataset.
    assert http.post(url, json=body, headers=admin).json()["dataset"]["id"] == dataset["id"]

    # Refusals: a plain user, no credential, bad input, a duplicate.
    assert http.post(url, json={**body, "request_id": ""}, headers=bearer(token)).status_code == 403
    assert http.post(url, json={**body, "request_id": ""}).status_code == 401
    bad = http.post(url, json={**body, "name": "not a slug", "request_id": ""}, headers=admin)
    assert bad.status_code == 400 and "name must be a slug" in bad.json()["message"], bad.text
    assert http.post(url, json={**body, "request_id": ""}, headers=admin).status_code == 409
    assert http.get(f"{url}/{DATASET}", headers=bearer(token)).status_code == 404, "closed and ungranted"

    version = http.post(f"{url}/{DATASET}/versions", json={"version": "v1", "buckets": ["b1"]}, headers=admin)
    assert version.status_code == 200, version.text
    assert version.json()["version"]["buckets"] == ["b1"]

    # A grant through REST shows in the grantee's user/cache.
    grant = http.post(
        f"{url}/{DATASET}/grants", json={"user_email": email, "level": "ACCESS_LEVEL_EDIT"}, headers=admin
    )
    assert grant.status_code == 200, grant.text
    assert grant.json()["created"] is True
    grant_id = grant.json()["grant"]["id"]

    def cache():
        return http.get(f"{envoy_url}/api/v1/user/cache", headers=bearer(token)).json()

    seen = eventually(cache, lambda c: DATASET in c["permissions_v2"])
    assert seen["permissions_v2"][DATASET] == ["edit", "view"]
    listed = http.get(f"{url}/{DATASET}/grants", headers=admin).json()["grants"]
    assert [g["user_email"] for g in listed] == [email]
    assert http.get(f"{url}/{DATASET}/grants", headers=bearer(token)).status_code == 403

    # Public plus revoked: the implicit view remains.
    patched = http.patch(f"{url}/{DATASET}", json={"access_mode": "ACCESS_MODE_PUBLIC"}, headers=admin)
    assert patched.json()["dataset"]["access_mode"] == "ACCESS_MODE_PUBLIC"
    assert http.delete(f"{url}/{DATASET}/grants/{grant_id}", headers=admin).status_code == 200
    seen = eventually(cache, lambda c: c["permissions_v2"].get(DATASET) == ["view"])
    assert seen["permissions_v2"][DATASET] == ["view"]

    audit = http.get(
        f"{envoy_url}/v1/audit-log", params={"action": "dataset_created", "target_id": dataset["id"]}, headers=admin
    )
    assert audit.status_code == 200, audit.text
    (entry,) = audit.json()["entries"]
    assert (entry["actor"], entry["after_state"], entry["request_id"]) == (
        "admin@example.org",
        {"name": DATASET},
        SUFFIX,
    )
    assert http.get(f"{envoy_url}/v1/audit-log", headers=bearer(token)).status_code == 403


def test_service_account_token_shown_once_and_deletion_confirmed(http, envoy_url, admin):
    name = f"rest-bot-{SUFFIX}"
    url = f"{envoy_url}/v1/service-accounts"
    created = http.post(url, json={"name": name, "description": "e2e"}, headers=admin)
    assert created.status_code == 200, created.text
    assert created.json()["service_account"]["email"] == f"{name}@service-account.dsg.local"
    minted = http.post(f"{url}/{name}/tokens", json={"description": "ci"}, headers=admin)
    assert minted.status_code == 200, minted.text
    secret = minted.json()["token"]
    assert len(secret) == 64
    listed = http.get(f"{url}/{name}/tokens", headers=admin).json()["tokens"]
    assert [t["description"] for t in listed] == ["ci"] and "token" not in listed[0]
    whoami = http.get(f"{envoy_url}/api/v1/whoami", headers=bearer(secret))
    assert whoami.status_code == 200 and whoami.json()["service_account"] is True

    wrong = http.delete(f"{url}/{name}", params={"confirm_name": "nope"}, headers=admin)
    assert wrong.status_code == 400
    assert wrong.json()["message"] == "Confirmation name did not match. Service account NOT deleted."
    assert http.delete(f"{url}/{name}", params={"confirm_name": name}, headers=admin).status_code == 200
    refused = eventually(
        lambda: http.get(f"{envoy_url}/api/v1/whoami", headers=bearer(secret)), lambda r: r.status_code == 401
    )
    assert refused.status_code == 401


def test_tos_invite_is_readable_without_signing_in(http, envoy_url, admin):
    dataset = f"rest-tos-{SUFFIX}"
    made = http.post(
        f"{envoy_url}/v1/datasets", json={"name": dataset, "access_mode": "ACCESS_MODE_PUBLIC"}, headers=admin
    )
    assert made.status_code == 200, made.text
    doc = http.post(
        f"{envoy_url}/v1/tos-documents", json={"name": "Terms", "text": "Be nice.", "dataset": dataset}, headers=admin
    )
    assert doc.status_code == 200, doc.text
    invite = doc.json()["document"]["invite_token"]
    assert doc.json()["document"]["is_current"] is True
    anonymous = http.get(f"{envoy_url}/v1/tos-invites/{invite}")
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json()["document"]["text"] == "Be nice."
    assert http.get(f"{envoy_url}/v1/tos-invites/unknown-invite").status_code == 404
