"""Points the real middle-auth-client at the stack's Envoy before it is
imported (it reads AUTH_URL, STICKY_AUTH_URL and TOKEN_NAME at import time),
and sets up the fixtures a CAVE deployment has: datasets, a service table,
grants, a terms-of-service document, a service account whose token is the
Flask service's own AUTH_TOKEN, and users with tokens from `steward token
create`. Everything is created through the DatasetService admin REST routes
with the admin token, as an operator would."""

import os
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

ENVOY = urlsplit(os.environ["ENVOY_URL"])
# CAVE deployments set these to "<host>/auth" and "<host>/sticky_auth"; the
# package prepends https:// itself.
os.environ["AUTH_URL"] = f"{ENVOY.netloc}/auth"
os.environ["AUTH_URI"] = f"{ENVOY.netloc}/auth"
os.environ["STICKY_AUTH_URL"] = f"{ENVOY.netloc}/sticky_auth"
os.environ["TOKEN_NAME"] = "middle_auth_token"

from middle_auth_client import decorators  # noqa: E402  (must follow the env above)

SUFFIX = uuid.uuid4().hex[:8]


class PlainHttpToEnvoy(HTTPAdapter):
    """middle-auth-client always calls https://AUTH_URL; production puts TLS on
    Envoy, the test stack's Envoy listens in plain HTTP. This adapter sends the
    package's real requests to that listener unchanged except for the scheme,
    and records the paths so tests can check which Steward routes were used."""

    def __init__(self):
        super().__init__()
        self.paths = []

    def send(self, request, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        self.paths.append(urlsplit(request.url).path)
        return super().send(request, **kwargs)


@pytest.fixture(scope="session")
def auth_calls():
    adapter = PlainHttpToEnvoy()
    # requests picks the longest matching prefix: the package mounted its
    # retrying adapter on https://AUTH_URI, so replace that one as well.
    for prefix in (f"https://{ENVOY.netloc}/", f"https://{os.environ['AUTH_URI']}"):
        decorators.session.mount(prefix, adapter)
    return adapter.paths


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class Admin:
    """The DatasetService admin REST routes through Envoy, as the admin."""

    def __init__(self):
        self.url = os.environ["ENVOY_URL"]
        self.headers = bearer(os.environ["STEWARD_ADMIN_TOKEN"])

    def post(self, path, body):
        response = requests.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=10)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        return response.json()


def user_token(email):
    """A researcher token for `email` (the user is created if new)."""
    out = subprocess.run(
        [os.environ["STEWARD_BIN"], "token", "create", "--email", email, "--role", "researcher", "--description", "cave e2e"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def world(auth_calls):
    """Datasets `cave-fish-*` (closed; table `fish_v1` of service namespace
    `cave-pcg-*` maps to it) and `cave-tos-*` (closed, with a current TOS);
    users viewer (view on both), editor (edit on fish), stranger (nothing)."""
    admin = Admin()
    fish, tos_ds = f"cave-fish-{SUFFIX}", f"cave-tos-{SUFFIX}"
    namespace, table = f"cave-pcg-{SUFFIX}", f"fish_v1_{SUFFIX}"
    emails = {who: f"cave-{who}-{SUFFIX}@example.org" for who in ("viewer", "editor", "stranger")}
    tokens = {who: user_token(email) for who, email in emails.items()}

    for name in (fish, tos_ds):
        admin.post("/v1/datasets", {"name": name, "access_mode": "ACCESS_MODE_CLOSED"})
    admin.post("/v1/services", {"name": namespace, "display_name": "PyChunkedGraph"})
    admin.post(f"/v1/datasets/{fish}/service-tables", {"dataset": fish, "service_name": namespace, "table_name": table})
    for dataset, who, level in (
        (fish, "viewer", "ACCESS_LEVEL_VIEW"),
        (tos_ds, "viewer", "ACCESS_LEVEL_VIEW"),
        (fish, "editor", "ACCESS_LEVEL_EDIT"),
    ):
        admin.post(f"/v1/datasets/{dataset}/grants", {"user_email": emails[who], "level": level})
    tos = admin.post("/v1/tos-documents", {"name": f"CAVE terms {SUFFIX}", "text": "Cite us.", "dataset": tos_ds})

    # The CAVE service's own identity (AUTH_TOKEN): a service account.
    account = f"cave-service-{SUFFIX}"
    admin.post("/v1/service-accounts", {"name": account, "description": "CAVE e2e service"})
    service_token = admin.post(f"/v1/service-accounts/{account}/tokens", {"description": "AUTH_TOKEN"})["token"]

    return {
        "fish": fish,
        "tos_ds": tos_ds,
        "tos_id": tos["document"]["id"],
        "tos_name": tos["document"]["name"],
        "namespace": namespace,
        "table": table,
        "emails": emails,
        "tokens": tokens,
        "admin_token": os.environ["STEWARD_ADMIN_TOKEN"],
        "service_token": service_token,
    }
