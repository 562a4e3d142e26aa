"""Every RPC of every service in the generated descriptors is a method of
`client.<service>` (the proto package's service segment), streaming RPCs
included, so a new RPC without a client method fails here. The streaming ones
are then called against the live Steward: UploadFile's stream of a header and
data in, DownloadFile's stream of the same bytes out, WatchMyDonation's refusal
of a caller without a participant's session."""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import time
from typing import List

import pytest

import steward_client
import steward_client.proto.steward as steward_protos
from steward_client import uploads
from steward_client._services import snake
from steward_client.proto.steward.upload.v1 import upload_service_pb2 as pb

MIB = 1 << 20
NO_ID = "00000000-0000-4000-8000-000000000000"  # a well-formed id nothing has


def service_descriptors() -> List[object]:
    found = []
    for module_info in pkgutil.walk_packages(steward_protos.__path__, steward_protos.__name__ + "."):
        if module_info.name.endswith("_pb2"):
            module = importlib.import_module(module_info.name)
            found.extend(module.DESCRIPTOR.services_by_name.values())
    return found


def test_every_rpc_of_every_service_is_a_method() -> None:
    services = service_descriptors()
    assert {service.full_name for service in services} >= {
        "steward.authorization.v1.AuthorizationService",
        "steward.dataset.v1.DatasetService",
        "steward.donation.v1.DonationService",
        "steward.secretshare.v1.SecretShareService",
        "steward.upload.v1.UploadService",
    }
    with steward_client.Client("http://127.0.0.1:1") as client:
        for service in services:
            attribute = getattr(client, service.file.package.split(".")[1])
            assert attribute.full_name == service.full_name
            names = [snake(method.name) for method in service.methods]
            assert attribute.rpcs == names, service.full_name
            for method, name in zip(service.methods, names):
                rpc = getattr(attribute, name)
                assert rpc.full_name == f"/{service.full_name}/{method.name}"
                assert callable(rpc) and rpc.__doc__


def test_a_client_stream_takes_requests_not_fields() -> None:
    with steward_client.Client("http://127.0.0.1:1") as client:
        with pytest.raises(TypeError, match="iterable of steward.upload.v1.UploadFileRequest"):
            client.upload.upload_file(header=pb.UploadFileHeader())
        with pytest.raises(TypeError, match="iterable"):
            client.upload.upload_file(pb.UploadFileRequest())


def test_upload_file_and_download_file_streams_round_trip(steward_url: str, token: str) -> None:
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, in two data messages
    digest = hashlib.sha256(data).hexdigest()
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = uploads.create_dropoff("pytest streams", client=owner)
        header = pb.UploadFileHeader(
            create=pb.CreateUploadRequest(
                dropoff_id=dropoff.dropoff_id, upload_code=code, name="streamed.bin", size=len(data)
            ),
            sha256=digest,
        )
        parts = [pb.UploadFileRequest(header=header), pb.UploadFileRequest(data=data[:MIB])]
        requests = iter([*parts, pb.UploadFileRequest(data=data[MIB:])])
        with steward_client.Client(steward_url) as uploader:  # the code, no token
            sent = uploader.upload.upload_file(requests).file
        assert sent.name == "streamed.bin" and sent.size == len(data)

        deadline = time.monotonic() + 60
        while (stored := owner.upload.get_file(file_id=sent.file_id).file).status != pb.FILE_STATUS_AVAILABLE:
            assert time.monotonic() < deadline, stored
            time.sleep(0.2)
        assert stored.sha256 == digest

        chunks = owner.upload.download_file(file_id=sent.file_id)
        assert b"".join(chunk.data for chunk in chunks) == data
        assert b"".join(chunk.data for chunk in owner.upload.download_file(file_id=sent.file_id, offset=MIB)) == data[MIB:]


def test_stream_failures_are_steward_errors(steward_url: str, token: str) -> None:
    with steward_client.Client(steward_url, token) as client:
        with pytest.raises(steward_client.NotFound):
            list(client.upload.download_file(file_id=NO_ID))
        with pytest.raises(steward_client.StewardError):
            next(iter(client.donation.watch_my_donation(donation_id=1)))
        nowhere = pb.CreateUploadRequest(dropoff_id=NO_ID, upload_code="00000-00000", name="x", size=1)
        with pytest.raises(steward_client.NotFound, match="there is no drop-off"):
            client.upload.upload_file([pb.UploadFileRequest(header=pb.UploadFileHeader(create=nowhere, sha256="0" * 64))])

