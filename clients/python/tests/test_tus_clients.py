"""A real tus client, tuspy 1.1.0, against Steward's `/files/` (spec upload.md
§3, scenarios 37 and 69): the drop-off id travels in the metadata key
`dropoff`, the code in the `Dropoff-Code` header; an upload cut off
mid-PATCH resumes from the committed offset and stores identical bytes."""

from __future__ import annotations

import hashlib
import os
import pathlib
import socket
import time
import urllib.parse

import pytest
import requests
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError

import steward_client
from steward_client import uploads
from steward_client.proto.steward.upload.v1 import upload_service_pb2 as pb

MiB = 1 << 20


def _settled(owner: steward_client.Client, dropoff_id: str, name: str) -> pb.File:
    """The drop-off's file `name` once it left UPLOADING/PROCESSING."""
    for _ in range(300):
        files = uploads.list_files(dropoff_id, client=owner)
        found = [f for f in files if f.name == name]
        if found and found[0].status not in (pb.FILE_STATUS_UPLOADING, pb.FILE_STATUS_PROCESSING):
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{name} did not settle")


def _head_offset(url: str, code: str) -> int:
    response = requests.head(url, headers={"Tus-Resumable": "1.0.0", "Dropoff-Code": code}, timeout=10)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def _cut_patch(url: str, code: str, offset: int, data: bytes, declared: int) -> None:
    """Sends a PATCH declaring `declared` bytes, writes only `data`, and drops the connection."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        head = (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
            f"Dropoff-Code: {code}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {declared}\r\n\r\n"
        )
        conn.sendall(head.encode() + data)
        time.sleep(0.5)


def test_tuspy_uploads_and_resumes_after_a_cut(steward_url: str, token: str, tmp_path: pathlib.Path) -> None:
    data = os.urandom(6 * MiB + 777)
    path = tmp_path / "survey.bin"
    path.write_bytes(data)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = uploads.create_dropoff("tuspy", client=owner)
        client = tus.TusClient(steward_url + "/files/", headers={"Dropoff-Code": code})
        metadata = {"dropoff": dropoff.dropoff_id, "filename": "survey.bin"}

        # The first PATCH carries 1 MiB; then a PATCH is cut off after 2 more MiB.
        first = client.uploader(str(path), chunk_size=MiB, metadata=metadata)
        first.upload(stop_at=MiB)
        assert first.url and first.offset == MiB
        _cut_patch(first.url, code, MiB, data[MiB : 3 * MiB], declared=len(data) - MiB)

        # HEAD reports what was committed once the server saw the connection go;
        # a new uploader continues from there.
        committed = _head_offset(first.url, code)
        for _ in range(100):
            if committed > MiB:
                break
            time.sleep(0.05)
            committed = _head_offset(first.url, code)
        assert MiB < committed <= 3 * MiB
        resumed = client.uploader(str(path), chunk_size=2 * MiB, metadata=metadata, url=first.url)
        assert resumed.offset == committed
        resumed.upload()
        file = _settled(owner, dropoff.dropoff_id, "survey.bin")
        assert file.status == pb.FILE_STATUS_AVAILABLE, file
        assert file.sha256 == hashlib.sha256(data).hexdigest()

        # With sha1 checksums on every PATCH (the protocol's mandatory algorithm).
        checked = client.uploader(
            str(path), chunk_size=MiB, upload_checksum=True, metadata={**metadata, "filename": "checked.bin"}
        )
        checked.upload()
        assert _settled(owner, dropoff.dropoff_id, "checked.bin").sha256 == hashlib.sha256(data).hexdigest()


def test_tuspy_without_the_dropoff_is_told_what_is_missing(steward_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"x" * 10)
    client = tus.TusClient(steward_url + "/files/", headers={"Dropoff-Code": "AAAAA-AAAAA"})
    with pytest.raises(TusCommunicationError) as refused:
        client.uploader(str(path), chunk_size=MiB).upload()
    assert refused.value.status_code == 400
    assert b"dropoff" in (refused.value.response_content or b""), refused.value.response_content

