"""A CAVE-style Flask service protected by the real middle-auth-client
decorators, with Steward (through Envoy's /auth and /sticky_auth aliases) as
its auth server: who gets in, who is refused and how (the package's own
401/403/302 answers), terms of service, table-scoped permissions via the
service-table lookup, the admin check, and the service token reading another
user's permissions. Requests go through Flask's test client; the package's
calls to Steward are real."""

import flask
import pytest
import requests
from conftest import ENVOY, bearer
from middle_auth_client import (
    auth_required,
    auth_requires_admin,
    auth_requires_permission,
    decorators,
)


@pytest.fixture(scope="module")
def app(world):
    """The service: routes decorated the way CAVE services (materialization,
    annotation, pychunkedgraph) decorate theirs."""
    app = flask.Flask("cave-e2e")
    app.config["AUTH_TOKEN"] = world["service_token"]
    app.config["AUTH_SERVICE_NAMESPACE"] = world["namespace"]

    @app.route("/fish/view")
    @auth_requires_permission("view", dataset=world["fish"])
    def fish_view():
        return {"user": flask.g.auth_user["email"]}

    @app.route("/fish/edit", methods=["POST"])
    @auth_requires_permission("edit", dataset=world["fish"])
    def fish_edit():
        return {"user": flask.g.auth_user["email"]}

    @app.route("/tos/view")
    @auth_requires_permission("view", dataset=world["tos_ds"])
    def tos_view():
        return {"user": flask.g.auth_user["email"]}

    @app.route("/table/<table_id>/view")
    @auth_requires_permission("view", table_arg="table_id")
    def table_view(table_id):
        return {"table": table_id}

    @app.route("/table/<table_id>/edit", methods=["POST"])
    @auth_requires_permission("edit", table_arg="table_id")
    def table_edit(table_id):
        return {"table": table_id}

    @app.route("/admin")
    @auth_requires_admin
    def admin_only():
        return {"admin": True}

    @app.route("/user/<int:user_id>/datasets")
    @auth_required
    def peer_datasets(user_id):
        # As CAVE services do for users_share_common_group: the service's
        # own AUTH_TOKEN reads another user's permissions.
        return {"permissions_v2": decorators.user_id_to_user_cache_http(user_id)["permissions_v2"]}

    return app


@pytest.fixture
def client(app):
    return app.test_client()


def test_view_grant_lets_in_and_no_grant_is_refused(client, world, auth_calls):
    ok = client.get("/fish/view", headers=bearer(world["tokens"]["viewer"]))
    assert ok.status_code == 200, ok.text
    assert ok.json == {"user": world["emails"]["viewer"]}
    assert "/auth/api/v1/user/cache" in auth_calls, auth_calls

    refused = client.get("/fish/view", headers=bearer(world["tokens"]["stranger"]))
    assert refused.status_code == 403, refused.text
    assert refused.json["error"] == "missing_permission"
    assert refused.json["data"] == {"required_permission": "view", "auth_dataset": world["fish"]}


def test_edit_needs_edit(client, world):
    refused = client.post("/fish/edit", headers=bearer(world["tokens"]["viewer"]))
    assert refused.status_code == 403, refused.text
    assert refused.json["error"] == "missing_permission"
    assert refused.json["data"]["required_permission"] == "edit"

    ok = client.post("/fish/edit", headers=bearer(world["tokens"]["editor"]))
    assert ok.status_code == 200, ok.text
    assert ok.json == {"user": world["emails"]["editor"]}


def test_missing_or_bad_credentials(client, world):
    # A script (X-Requested-With or Authorization present) gets 401 JSON.
    none = client.get("/fish/view", headers={"X-Requested-With": "python"})
    assert none.status_code == 401, none.text
    assert none.json["error"] == "no_token"
    assert none.headers["WWW-Authenticate"] == f'Bearer realm="https://{ENVOY.netloc}/sticky_auth/api/v1/authorize"'

    unknown = client.get("/fish/view", headers=bearer("ab" * 32))
    assert unknown.status_code == 401, unknown.text
    assert unknown.json["error"] == "invalid_token"

    # A browser without a token is sent to Steward's sign-in.
    browser = client.get("/fish/view")
    assert browser.status_code == 302
    assert browser.headers["Location"].startswith(
        f"https://{ENVOY.netloc}/sticky_auth/api/v1/authorize?redirect=http%3A//localhost/fish/view"
    ), browser.headers["Location"]


def test_token_as_cookie_and_query_parameter(client, world):
    client.set_cookie("middle_auth_token", world["tokens"]["viewer"])
    ok = client.get("/fish/view", headers={"X-Requested-With": "python"})
    assert ok.status_code == 200, ok.text
    client.delete_cookie("middle_auth_token")

    # A browser link carrying ?middle_auth_token= moves it into a cookie.
    moved = client.get(f"/fish/view?middle_auth_token={world['tokens']['viewer']}")
    assert moved.status_code == 302 and moved.headers["Location"] == "http://localhost/fish/view"
    assert client.get_cookie("middle_auth_token").value == world["tokens"]["viewer"]


def test_unaccepted_terms_of_service_then_accepted(client, world):
    token = world["tokens"]["viewer"]
    pending = client.get("/tos/view", headers=bearer(token))
    assert pending.status_code == 403, pending.text
    assert pending.json["error"] == "missing_tos"
    assert pending.json["data"] == {
        "tos_id": int(world["tos_id"]),
        "tos_name": world["tos_name"],
        "tos_form_url": f"https://{ENVOY.netloc}/sticky_auth/api/v1/tos/{world['tos_id']}/accept",
    }
    # A browser is redirected to the acceptance form instead.
    client.set_cookie("middle_auth_token", token)
    browser = client.get("/tos/view")
    client.delete_cookie("middle_auth_token")
    assert browser.status_code == 302
    assert browser.headers["Location"].startswith(pending.json["data"]["tos_form_url"] + "?redirect=")

    # A user without a grant on the closed dataset is not offered the TOS.
    stranger = client.get("/tos/view", headers=bearer(world["tokens"]["stranger"]))
    assert stranger.status_code == 403 and stranger.json["error"] == "missing_permission", stranger.text

    accepted = requests.post(
        f"{ENVOY.scheme}://{ENVOY.netloc}/v1/tos-documents/{world['tos_id']}:accept",
        json={},
        headers=bearer(token),
        timeout=10,
    )
    assert accepted.status_code == 200, accepted.text
    # The package's cached user data is stale; on refusal it refetches once,
    # and Steward's cache was already evicted by the acceptance's NOTIFY.
    ok = client.get("/tos/view", headers=bearer(token))
    assert ok.status_code == 200, ok.text


def test_table_scoped_permission(client, world, auth_calls):
    table = world["table"]
    viewer, editor, stranger = (world["tokens"][w] for w in ("viewer", "editor", "stranger"))
    assert client.get(f"/table/{table}/view", headers=bearer(viewer)).status_code == 200
    assert f"/auth/api/v1/service/{world['namespace']}/table/{table}/dataset" in auth_calls, auth_calls

    refused = client.get(f"/table/{table}/view", headers=bearer(stranger))
    assert refused.status_code == 403, refused.text
    assert refused.json["data"] == {"required_permission": "view", "auth_dataset": world["fish"]}
    assert client.post(f"/table/{table}/edit", headers=bearer(viewer)).status_code == 403
    assert client.post(f"/table/{table}/edit", headers=bearer(editor)).status_code == 200

    unknown = client.get("/table/no_such_table/view", headers=bearer(viewer))
    assert unknown.status_code == 400, unknown.text
    assert unknown.json["error"] == "invalid_table_id"


def test_admin_only(client, world):
    assert client.get("/admin", headers=bearer(world["admin_token"])).status_code == 200
    refused = client.get("/admin", headers=bearer(world["tokens"]["editor"]))
    assert refused.status_code == 403
    assert refused.text == "Requires superadmin privilege."


def test_service_token_reads_another_users_permissions(client, world):
    me = requests.get(
        f"{ENVOY.scheme}://{ENVOY.netloc}/api/v1/user/cache", headers=bearer(world["tokens"]["editor"]), timeout=10
    )
    assert me.status_code == 200, me.text
    editor_id = me.json()["id"]
    seen = client.get(f"/user/{editor_id}/datasets", headers=bearer(world["tokens"]["viewer"]))
    assert seen.status_code == 200, seen.text
    assert seen.json["permissions_v2"] == {world["fish"]: ["edit", "view"]}
