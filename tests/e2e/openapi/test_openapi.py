"""OpenAPI at /api/docs/ through Envoy, as a REST user meets it: the document
is a valid OpenAPI 3.1 document, the page and JSON need no credentials, real
responses match the documented schemas (portability-server's routes
included, with their compat bodies per status), and schemathesis, run against
the document through Envoy with a researcher's token, finds no server error
and no answer the document does not describe. Also portability-server's
plain routes `/api/` and `/health/` beside DSG's `/health`.

Run by tests/e2e/suites/openapi under tests/e2e/run (ENVOY_URL, STEWARD_URL,
STEWARD_TEST_TOKEN, STEWARD_TEST_EMAIL, OPENAPI_ARTIFACTS)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

ENVOY = os.environ["ENVOY_URL"]
STEWARD = os.environ["STEWARD_URL"]
TOKEN = os.environ["STEWARD_TEST_TOKEN"]
EMAIL = os.environ.get("STEWARD_TEST_EMAIL", "researcher@example.org")
ARTIFACTS = Path(os.environ.get("OPENAPI_ARTIFACTS", "/tmp/steward-openapi"))
WHOAMI = "steward.authorization.v1.WhoAmIResponse"


@pytest.fixture(scope="module")
def doc():
    reply = requests.get(f"{ENVOY}/api/docs/openapi.json", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json()


def conforms(doc, name, instance):
    """Validates `instance` against components.schemas[name] (OpenAPI 3.1 dialect)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    OAS31Validator(schema).validate(instance)


def answers_as_documented(doc, path, method, reply):
    """`reply` has a status the operation documents, and a body matching its schema."""
    responses = doc["paths"][path][method]["responses"]
    status = str(reply.status_code)
    if status not in responses and not status.startswith("2"):
        status = "default"  # an operation's error answers may be documented once, as its default
    assert status in responses, f"{method.upper()} {path} answered {reply.status_code}, documented: {sorted(responses)}"
    response = responses[status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    if "content" not in response:
        assert reply.content == b"" and "content-type" not in reply.headers, reply.headers
        return
    schema = response["content"]["application/json"]["schema"]
    OAS31Validator({**schema, "components": doc["components"]}).validate(reply.json())


def test_the_document_is_valid_openapi_3_1(doc):
    OpenAPIV31SpecValidator(doc).validate()
    assert doc["openapi"] == "3.1.0"
    # Relative, so it works through Envoy wherever that is reached.
    assert doc["servers"][0]["url"] == "/"
    assert "Envoy" in doc["servers"][0]["description"]


def test_the_document_describes_whoami(doc):
    op = doc["paths"]["/v1/principal"]["get"]
    assert op["x-grpc-method"] == "/steward.authorization.v1.AuthorizationService/WhoAmI"
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{WHOAMI}"}
    fields = doc["components"]["schemas"][WHOAMI]["properties"]
    assert fields["id"]["type"] == "string", "int64 is a string in proto3 JSON"
    assert "e-mail" in fields["email"]["description"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["cookie"] == {**schemes["cookie"], "in": "cookie", "name": "dsg_token"}


def test_direct_and_through_envoy_serve_the_same_document(doc):
    direct = requests.get(f"{STEWARD}/api/docs/openapi.json", timeout=10)
    assert direct.json() == doc


def test_the_page_is_readable_html_without_scripts(doc):
    reply = requests.get(f"{ENVOY}/api/docs/", headers={"Accept": "text/html,*/*;q=0.8"}, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = reply.text
    assert 'href="/api/docs/openapi.json"' in page
    assert "<code>/api/v1/whoami</code>" in page
    assert doc["components"]["schemas"][WHOAMI]["properties"]["is_active"]["description"] in page
    assert "<script" not in page.lower()
    # Nothing loaded from elsewhere: every src/href is local or an in-page anchor.
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert url.startswith(("/", "#")), f"external reference {url}"


def test_scripts_reading_the_docs_route_get_the_document(doc):
    # portability-server's /api/docs/ answered JSON: `requests` sends */*.
    reply = requests.get(f"{ENVOY}/api/docs/", timeout=10)
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == doc


def test_docs_without_the_slash_lead_to_the_page():
    reply = requests.get(f"{ENVOY}/api/docs", timeout=10, allow_redirects=False)
    assert reply.status_code in (301, 302, 307, 308)
    assert reply.headers["location"] == "/api/docs/"
    assert requests.get(f"{ENVOY}/api/docs", timeout=10).url == f"{ENVOY}/api/docs/"


def test_real_answers_match_the_documented_schemas(doc):
    ok = requests.get(
        f"{ENVOY}/v1/principal", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert ok.status_code == 200, ok.text
    conforms(doc, WHOAMI, ok.json())
    assert ok.json()["email"] == EMAIL
    denied = requests.get(f"{ENVOY}/v1/principal", timeout=10)
    assert denied.status_code == 401
    error_ref = doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    conforms(doc, error_ref["$ref"].rsplit("/", 1)[1], denied.json())
    assert denied.json()["code"] == 16  # UNAUTHENTICATED


def test_portability_server_routes_answer_as_documented(doc):
    """Each legacy route and status, through Envoy with `Authorization: Token`."""
    token = {"Authorization": f"Token {TOKEN}"}
    base = f"{ENVOY}/api/donations/"
    created = requests.post(base, headers=token, timeout=10, json={
        "source_type": "google_portability", "requested_data_types": ["search"],
    })
    answers_as_documented(doc, "/api/donations/", "post", created)
    assert created.status_code == 201, created.text
    donation = created.json()["id"]
    form = requests.post(base, headers=token, timeout=10, data={"source_type": "google_portability"})
    answers_as_documented(doc, "/api/donations/", "post", form)
    assert form.status_code == 201, form.text
    refused = [
        (400, requests.post(base, headers=token, timeout=10, json={"source_type": "banana"})),
        (415, requests.post(base, headers={**token, "Content-Type": "text/plain"}, data=b"x", timeout=10)),
        (403, requests.post(base, timeout=10, json={"source_type": "google_portability"})),
    ]
    for status, reply in refused:
        assert reply.status_code == status, reply.text
        answers_as_documented(doc, "/api/donations/", "post", reply)
    answers_as_documented(doc, "/api/donations/", "get", requests.get(base, headers=token, timeout=10))
    one = f"{base}{donation}/"
    answers_as_documented(doc, "/api/donations/{id}/", "get", requests.get(one, headers=token, timeout=10))
    data = f"{one}data/"
    for params in [{}, {"data_type": "search", "limit": "5"}, {"limit": "-1"}]:
        reply = requests.get(data, headers=token, params=params, timeout=10)
        answers_as_documented(doc, "/api/donations/{id}/data/", "get", reply)
    deleted = requests.delete(one, headers=token, timeout=10)
    assert deleted.status_code == 204
    answers_as_documented(doc, "/api/donations/{id}/", "delete", deleted)
    for method in ["get", "delete"]:
        reply = requests.request(method, one, headers=token, timeout=10)
        assert reply.status_code == 404
        answers_as_documented(doc, "/api/donations/{id}/", method, reply)


def test_plain_portability_server_routes_through_envoy():
    root = requests.get(f"{ENVOY}/api/", timeout=10)
    assert root.status_code == 200
    assert root.json() == {"donations": f"{STEWARD}/api/donations/"}
    # portability-server's /health/ and DSG's /health are separate routes.
    for path in ["/health/", "/health"]:
        reply = requests.get(f"{ENVOY}{path}", timeout=10, allow_redirects=False)
        assert (reply.status_code, reply.content) == (200, b'{"status":"ok"}'), path
        assert reply.headers["content-type"] == "application/json"


def test_schemathesis_finds_no_server_error(doc, tmp_path):
    """Every documented operation, positive and negative inputs, through Envoy.

    Checks: no 5xx (the point), and the answers match the document — status
    codes, content types, body schemas — and a route needing a credential
    refuses a call without one. Left out: `unsupported_method` (an undocumented
    method on a REST path, e.g. TRACE /api/v1/whoami, falls through to
    Steward's 404 JSON, not 405), and `positive_data_acceptance` /
    `negative_data_rejection`, which judge input validation rather than the
    document and would fail on business rules (page-size bounds) or on Envoy
    ignoring unknown query parameters by design."""
    # A private directory: other e2e runs may share STEWARD_ARTIFACTS.
    junit = tmp_path / "schemathesis-junit.xml"
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{ENVOY}/api/docs/openapi.json",
        "--url", ENVOY,
        "-H", f"Authorization: Bearer {TOKEN}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,ignored_auth",
        "--max-examples", "50",
        "--seed", "1",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(junit),
        # Its examples would revoke the researcher token every later suite
        # uses (ids are small integers); test_revoking_an_api_key covers it.
        "--exclude-name", REVOKE_API_KEY,
    ]
    print("$", shlex.join(argv).replace(TOKEN, "$STEWARD_TEST_TOKEN"))
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis.log").write_text(run.stdout + run.stderr)
    if junit.exists():
        shutil.copy(junit, ARTIFACTS / junit.name)
    assert run.returncode == 0, run.stdout + run.stderr
    # It must have exercised every documented operation, not passed by testing nothing.
    cases = {case.get("name") for case in ET.parse(junit).iter("testcase")} | {REVOKE_API_KEY}
    for path, item in doc["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in cases, f"{method.upper()} {path} untested: {cases}"


REVOKE_API_KEY = "DELETE /v1/api-keys/{id}"


def test_revoking_an_api_key_answers_as_documented(doc):
    """RevokeApiKey through Envoy on a token made for this test: 200 and the
    token refused at once; the same id again, or another user's, 404."""
    researcher = {"Authorization": f"Bearer {TOKEN}"}
    made = requests.post(f"{ENVOY}/api/v1/create_token", headers=researcher, json={"description": "revoke me"}, timeout=10)
    assert made.status_code == 200, made.text
    fresh = {"Authorization": f"Bearer {made.json()}"}
    listed = requests.get(f"{ENVOY}/api/v1/user/token", headers=fresh, timeout=10).json()
    key = next(t["id"] for t in listed if t["description"] == "revoke me")
    revoked = requests.delete(f"{ENVOY}/v1/api-keys/{key}", headers=fresh, timeout=10)
    answers_as_documented(doc, "/v1/api-keys/{id}", "delete", revoked)
    assert revoked.status_code == 200, revoked.text
    assert requests.get(f"{ENVOY}/api/v1/user/token", headers=fresh, timeout=10).status_code == 401
    again = requests.delete(f"{ENVOY}/v1/api-keys/{key}", headers=researcher, timeout=10)
    assert again.status_code == 404, again.text
    answers_as_documented(doc, "/v1/api-keys/{id}", "delete", again)
    # The researcher's own token still works for the suites after this one.
    assert requests.get(f"{ENVOY}/api/v1/user/token", headers=researcher, timeout=10).status_code == 200
