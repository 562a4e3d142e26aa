"""The admin RPCs (`client.dataset.*`), the compat RPCs (`client.authorization.*`),
`user_cache()` and `check_access()` against the live Steward: what an admin's
script and a CAVE-style service do with the client (spec §8 scenarios 1, 11,
50, 52 and 56 as seen from Python)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Iterator, Tuple

import grpc
import pytest

import steward_client
from steward_client.proto.steward.authorization.v1 import authorization_service_pb2
from steward_client.proto.steward.dataset.v1 import dataset_service_pb2


def settled(read: Callable[[], Any], wanted: Callable[[Any], bool], within: float = 1.0) -> Any:
    """`read()` once `wanted` holds of it, or its last value after `within` seconds.

    Steward evicts permission caches on NOTIFY, which every replica (the one that
    wrote, too) receives asynchronously; the spec promises the change everywhere
    within one second (§8 scenario 20), so a script may see it that much later.
    """
    deadline = time.monotonic() + within
    while True:
        value = read()
        if wanted(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def admin(steward_url: str, admin_token: str) -> Iterator[steward_client.Client]:
    with steward_client.Client(steward_url, admin_token) as client:
        yield client


@pytest.fixture
def dataset(admin: steward_client.Client) -> str:
    """A closed dataset of this test's own."""
    name = f"py-{uuid.uuid4().hex[:12]}"
    created = admin.dataset.create_dataset(name=name, description="from pytest", access_mode="ACCESS_MODE_CLOSED")
    assert isinstance(created, dataset_service_pb2.CreateDatasetResponse)
    assert created.dataset.name == name
    assert created.dataset.access_mode == dataset_service_pb2.ACCESS_MODE_CLOSED
    return name


def test_grant_shows_in_user_cache_and_check_access_until_revoked(
    admin: steward_client.Client, dataset: str, new_user: Tuple[str, str], steward_url: str
) -> None:
    email, token = new_user
    with steward_client.Client(steward_url, token) as user:
        before = user.user_cache()
        assert before["email"] == email
        assert dataset not in before["permissions_v2"]
        assert user.check_access(dataset) == {"allowed": False, "reason": "no_permission"}

        grant = admin.dataset.create_grant(dataset=dataset, user_email=email, level="ACCESS_LEVEL_VIEW")
        assert grant.created
        assert grant.grant.user_email == email
        assert grant.grant.level == dataset_service_pb2.ACCESS_LEVEL_VIEW
        listed = admin.dataset.list_grants(dataset=dataset)
        assert [g.id for g in listed.grants] == [grant.grant.id]

        cache = settled(user.user_cache, lambda c: dataset in c["permissions_v2"])
        assert cache["permissions_v2"][dataset] == ["view"]
        assert cache["permissions"][dataset] == 1
        assert list(cache)[:5] == ["id", "parent_id", "service_account", "name", "email"], "DSG's key order"
        assert user.check_access(dataset) == {"allowed": True, "reason": "direct_grant"}
        # The level hierarchy: view does not give edit.
        assert user.check_access(dataset, permission="edit") == {"allowed": False, "reason": "no_permission"}

        admin.dataset.delete_grant(dataset=dataset, grant_id=grant.grant.id)
        revoked = settled(lambda: user.check_access(dataset), lambda d: not d["allowed"])
        assert revoked == {"allowed": False, "reason": "no_permission"}
        assert dataset not in user.user_cache()["permissions_v2"]
    assert list(admin.dataset.list_grants(dataset=dataset).grants) == []


def test_version_scoped_grant_answers_per_version(
    admin: steward_client.Client, dataset: str, new_user: Tuple[str, str], steward_url: str
) -> None:
    email, token = new_user
    for version in ("v1", "v2"):
        admin.dataset.create_dataset_version(dataset=dataset, version=version)
    admin.dataset.create_grant(dataset=dataset, user_email=email, level="ACCESS_LEVEL_EDIT", version="v1")
    with steward_client.Client(steward_url, token) as user:
        assert user.check_access(dataset, "edit", version="v1")["allowed"] is True
        assert user.check_access(dataset, "edit", version="v2") == {"allowed": False, "reason": "no_permission"}


def test_service_terms_apply_only_with_service(
    admin: steward_client.Client, dataset: str, new_user: Tuple[str, str], steward_url: str
) -> None:
    email, token = new_user
    service = f"svc-{uuid.uuid4().hex[:8]}"
    admin.dataset.create_service(name=service, display_name="pytest service")
    tos = admin.dataset.create_tos_document(name="Service terms", text="Be nice.", dataset=dataset, service=service)
    admin.dataset.create_grant(dataset=dataset, user_email=email, level="ACCESS_LEVEL_VIEW")
    with steward_client.Client(steward_url, token) as user:
        assert user.user_cache()["permissions_v2"][dataset] == ["view"]
        cache = user.user_cache(service=service)
        assert dataset not in cache["permissions_v2"]
        assert cache["permissions_v2_ignore_tos"][dataset] == ["view"]
        assert {
            "dataset_name": dataset,
            "tos_id": tos.document.id,
            "tos_name": "Service terms",
            "service": service,
        }.items() <= cache["missing_tos"][-1].items()
        assert user.check_access(dataset)["reason"] == "direct_grant"
        assert user.check_access(dataset, service=service) == {
            "allowed": False,
            "reason": "tos_required",
            "tos_id": tos.document.id,
            "tos_name": "Service terms",
            "service": service,
        }


def test_plain_user_is_refused_admin_rpcs(steward_url: str, token: str, dataset: str) -> None:
    with steward_client.Client(steward_url, token) as user:
        with pytest.raises(steward_client.PermissionDenied) as raised:
            user.dataset.create_dataset(name=f"py-{uuid.uuid4().hex[:12]}", access_mode="ACCESS_MODE_PUBLIC")
        assert raised.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert raised.value.message
        with pytest.raises(steward_client.PermissionDenied):
            user.dataset.list_datasets()
        with pytest.raises(steward_client.PermissionDenied):
            user.dataset.create_grant(dataset=dataset, user_email="someone@example.org", level="ACCESS_LEVEL_VIEW")
        with pytest.raises(steward_client.PermissionDenied):
            user.dataset.list_audit_log()


def test_bad_input_is_invalid_argument(admin: steward_client.Client) -> None:
    with pytest.raises(steward_client.InvalidArgument):
        admin.dataset.create_dataset(name="not a slug!", access_mode="ACCESS_MODE_CLOSED")
    with pytest.raises(steward_client.InvalidArgument):
        admin.dataset.create_dataset(name=f"py-{uuid.uuid4().hex[:12]}")  # access mode unspecified
    # check-access's 400 and 404 (scenario 56) and an unknown level.
    with pytest.raises(steward_client.InvalidArgument, match="dataset is required"):
        admin.check_access("")
    with pytest.raises(steward_client.InvalidArgument, match="invalid permission"):
        admin.check_access("anything", permission="owner")
    with pytest.raises(steward_client.NotFound):
        admin.check_access(f"no-such-{uuid.uuid4().hex[:8]}")


def test_global_admin_is_allowed_everywhere(admin: steward_client.Client, dataset: str) -> None:
    assert admin.check_access(dataset, "admin") == {"allowed": True, "reason": "admin"}
    assert admin.user_cache()["admin"] is True
    assert admin.dataset.get_dataset(name=dataset).dataset.name == dataset
    names = []
    page = admin.dataset.list_datasets(page_size=200)
    names.extend(d.name for d in page.datasets)
    while page.next_page_token:
        page = admin.dataset.list_datasets(page_size=200, page_token=page.next_page_token)
        names.extend(d.name for d in page.datasets)
    assert dataset in names


def test_compat_rpcs_return_decoded_json(admin: steward_client.Client, dataset: str, new_user: Tuple[str, str]) -> None:
    email, _ = new_user
    admin.dataset.create_grant(dataset=dataset, user_email=email, level="ACCESS_LEVEL_VIEW")
    datasets = admin.authorization.list_accessible_datasets()
    assert isinstance(datasets, list)
    assert dataset in [d["name"] for d in datasets]
    me = admin.authorization.who_am_i_json()
    assert me["email"] == "admin@example.org"
    user_id = admin.user_cache()["id"]
    assert admin.authorization.get_usernames(id=str(user_id)) == [{"id": user_id, "name": me["name"]}]


def test_http_body_requests_take_json_values(admin: steward_client.Client, dataset: str) -> None:
    table = f"{dataset}_v1"
    added = admin.dataset.add_service_table(dataset=dataset, service_name="pychunkedgraph", table_name=table)
    root = 2**62 + 1  # beyond 2^53: must travel exactly
    admin.dataset.add_public_root(dataset=dataset, service_table_id=added.service_table.id, root_id=root)
    assert admin.authorization.get_table_dataset(namespace="pychunkedgraph", table_id=table) == dataset
    assert admin.authorization.get_table_has_public(table_id=table) is True
    assert admin.authorization.get_roots_are_public(table_id=table, body=[root, root - 1]) == [True, False]


def test_user_cache_needs_a_token(steward_url: str) -> None:
    with steward_client.Client(steward_url) as anonymous:
        with pytest.raises(steward_client.Unauthenticated):
            anonymous.user_cache()
        with pytest.raises(steward_client.Unauthenticated):
            anonymous.check_access("anything")


def test_every_rpc_is_a_method() -> None:
    with steward_client.Client("http://127.0.0.1:1") as client:
        for service, module, name in (
            (client.dataset, dataset_service_pb2, "DatasetService"),
            (client.authorization, authorization_service_pb2, "AuthorizationService"),
        ):
            methods = module.DESCRIPTOR.services_by_name[name].methods
            assert len(service.rpcs) == len(methods)
            assert all(callable(getattr(service, rpc)) for rpc in service.rpcs)
        assert "create_dataset" in dir(client.dataset)
        assert "who_am_i" in client.authorization.rpcs


def test_unknown_field_and_mixed_arguments_are_refused_before_sending() -> None:
    with steward_client.Client("http://127.0.0.1:1") as client:
        with pytest.raises(TypeError, match="nmae"):
            client.dataset.create_dataset(nmae="typo")
        with pytest.raises(TypeError, match="not both"):
            client.dataset.get_dataset(dataset_service_pb2.GetDatasetRequest(name="x"), name="y")
        with pytest.raises(TypeError, match="GetDatasetRequest"):
            client.dataset.get_dataset(dataset_service_pb2.ListDatasetsRequest())


def test_generated_methods_retry_unavailable(closed_port: int) -> None:
    with steward_client.Client(f"127.0.0.1:{closed_port}", "f" * 64, retries=2, backoff=0.05) as client:
        with pytest.raises(steward_client.Unavailable) as raised:
            client.dataset.list_datasets()
        assert raised.value.attempts == 3
        with pytest.raises(steward_client.Unavailable) as raised:
            client.user_cache()
        assert raised.value.attempts == 3
