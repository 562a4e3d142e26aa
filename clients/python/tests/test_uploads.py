"""steward_client.uploads against the live Steward: a researcher's drop-off, an
uploader interrupted mid-file who runs the same call again and sends only the
rest, the owner's download with the server's SHA-256 checked, and refusals
that say what is wrong."""

from __future__ import annotations

import hashlib
import os
import pathlib
import threading
from typing import List, Tuple

import pytest
from conftest import LocalServer

import steward_client
from steward_client import uploads
from steward_client.proto.steward.upload.v1 import upload_service_pb2 as pb

MiB = 1 << 20


class Interrupted(Exception):
    """Stands in for a lost connection or a Ctrl-C in the middle of an upload."""


def _file(directory: pathlib.Path, name: str, size: int) -> Tuple[pathlib.Path, bytes]:
    data = os.urandom(size)
    path = directory / name
    path.write_bytes(data)
    return path, data


def _dropoff(client: steward_client.Client, title: str) -> Tuple[pb.DropOff, str]:
    dropoff, code = uploads.create_dropoff(title, client=client, description="from pytest")
    assert dropoff.dropoff_id and dropoff.upload_url.endswith("/upload/" + dropoff.dropoff_id)
    assert len(code.replace("-", "")) == 10
    return dropoff, code


def test_an_interrupted_upload_resumes_and_downloads_identical(
    steward_url: str, token: str, tmp_path: pathlib.Path
) -> None:
    size = 10 * MiB + 12345
    path, data = _file(tmp_path, "measurements.bin", size)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest resumable upload")

        # The first run stops after three 1 MiB chunks were committed.
        first: List[Tuple[int, int]] = []

        def stop_after_three(start: int, end: int) -> None:
            first.append((start, end))
            if len(first) == 3:
                raise Interrupted()

        # No client given: the upload link says where Steward is.
        with pytest.raises(Interrupted):
            uploads.upload(path, dropoff.upload_url, code, chunk_size=MiB, on_chunk=stop_after_three)
        assert first == [(0, MiB), (MiB, 2 * MiB), (2 * MiB, 3 * MiB)]

        [pending] = uploads.list_files(dropoff, client=owner)
        assert pending.status == pb.FILE_STATUS_UPLOADING
        assert pending.name == "measurements.bin" and pending.size == size
        # What the uploader's next run learns from GetUpload (with the code, no token).
        with steward_client.Client(steward_url) as uploader:
            resumed_at = uploader.upload.get_upload(upload_id=pending.file_id, upload_code=code).file.offset
        assert resumed_at == 3 * MiB

        # The same call again continues from there: only the rest is sent.
        second: List[Tuple[int, int]] = []
        done = uploads.upload(
            path, dropoff.upload_url, code, chunk_size=MiB, on_chunk=lambda s, e: second.append((s, e))
        )
        assert done.file_id == pending.file_id, "the rerun found the same upload"
        assert second[0][0] == resumed_at
        assert second[-1][1] == size
        assert sum(end - start for start, end in second) == size - resumed_at < size
        assert done.status == pb.FILE_STATUS_AVAILABLE
        assert done.sha256 == hashlib.sha256(data).hexdigest()
        assert done.size == size

        [stored] = uploads.list_files(dropoff, client=owner, status="AVAILABLE")
        assert stored.file_id == done.file_id
        assert uploads.list_files(dropoff, client=owner, status="UPLOADING") == []
        assert dropoff.dropoff_id in [d.dropoff_id for d in uploads.list_dropoffs(client=owner)]

        # A third run has nothing left to send and answers the stored file.
        third: List[Tuple[int, int]] = []
        again = uploads.upload(
            path, dropoff.dropoff_id, code, client=steward_url, on_chunk=lambda s, e: third.append((s, e))
        )
        assert third == []
        assert again.file_id == done.file_id and again.status == pb.FILE_STATUS_AVAILABLE

        target = tmp_path / "downloaded.bin"
        got = uploads.download(done, target, client=owner)
        assert got.sha256 == done.sha256
        assert target.read_bytes() == data
        assert hashlib.sha256(target.read_bytes()).hexdigest() == done.sha256
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_an_upload_rides_out_a_lost_connection(
    local_server, closed_port: int, steward_addr: tuple, steward_url: str, token: str, tmp_path: pathlib.Path
) -> None:
    """The uploader reaches Steward through a relay that goes away after two chunks and comes back
    a second later: the chunk is retried after asking Steward how far the upload got."""
    path, data = _file(tmp_path, "field-notes.bin", 4 * MiB + 99)
    port = closed_port
    # The first relay is ours to close (the fixture closes only the ones it started).
    relays = [LocalServer("relay", upstream=steward_addr, port=port)]
    ranges: List[Tuple[int, int]] = []
    closed: List[bool] = []
    reopen = threading.Timer(1.0, lambda: relays.append(local_server("relay", upstream=steward_addr, port=port)))

    def cut_after_two(start: int, end: int) -> None:
        ranges.append((start, end))
        if len(ranges) == 2:
            relays[0].close()
            closed.append(True)
            reopen.start()

    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest lost connection")
        try:
            with steward_client.Client(f"127.0.0.1:{port}", retries=0, backoff=0.05, max_backoff=0.05) as uploader:
                done = uploads.upload(
                    path, dropoff, code, client=uploader, chunk_size=MiB, progress=False, on_chunk=cut_after_two
                )
        finally:
            if closed:
                reopen.join()
            else:
                relays[0].close()
    assert len(relays) == 2 and relays[1].connections >= 1, "the rest went through the new relay"
    assert [start for start, _ in ranges] == [0, MiB, 2 * MiB, 3 * MiB, 4 * MiB]
    assert done.status == pb.FILE_STATUS_AVAILABLE
    assert done.sha256 == hashlib.sha256(data).hexdigest()


def test_a_partial_download_is_continued_and_a_damaged_one_refused(
    steward_url: str, token: str, tmp_path: pathlib.Path
) -> None:
    path, data = _file(tmp_path, "table.csv", 3 * MiB + 7)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest partial download")
        done = uploads.upload(path, dropoff, code, client=owner, progress=False)
        assert done.content_type == "text/csv"

        target = tmp_path / "copy.csv"
        partial = tmp_path / f".copy.csv.{done.file_id}.part"
        # An earlier download stopped after 1 MiB: only the rest is fetched.
        partial.write_bytes(data[:MiB])
        uploads.download(done.file_id, target, client=owner, progress=False)
        assert target.read_bytes() == data
        assert not partial.exists()

        # A partial file whose bytes are not the file's: refused, removed, and the next try is clean.
        partial.write_bytes(b"\0" * MiB)
        target.unlink()
        with pytest.raises(uploads.ChecksumMismatch, match="SHA-256"):
            uploads.download(done.file_id, target, client=owner, progress=False)
        assert not partial.exists() and not target.exists()
        uploads.download(done.file_id, target, client=owner, progress=False)
        assert target.read_bytes() == data


def test_a_wrong_code_is_refused_by_name(steward_url: str, token: str, tmp_path: pathlib.Path) -> None:
    path, _ = _file(tmp_path, "notes.txt", 1000)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest wrong code")
        wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
        with pytest.raises(steward_client.PermissionDenied) as raised:
            uploads.upload(path, dropoff.upload_url, wrong, progress=False)
        error = raised.value
        assert error.reason == "CODE_INVALID"
        assert "upload code is not valid" in str(error)
        assert wrong not in str(error) and wrong.replace("-", "") not in str(error)
        assert uploads.list_files(dropoff, client=owner) == [], "nothing was created"


def test_files_of_a_drop_off_are_hidden_from_others(
    steward_url: str, token: str, new_user: Tuple[str, str], tmp_path: pathlib.Path
) -> None:
    path, _ = _file(tmp_path, "private.bin", 2048)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest hidden")
        done = uploads.upload(path, dropoff, code, client=owner, progress=False)
    with steward_client.Client(steward_url, new_user[1]) as stranger:
        with pytest.raises(steward_client.NotFound):
            uploads.list_files(dropoff, client=stranger)
        with pytest.raises(steward_client.NotFound):
            uploads.download(done.file_id, tmp_path / "stolen.bin", client=stranger, progress=False)
        assert dropoff.dropoff_id not in [d.dropoff_id for d in uploads.list_dropoffs(client=stranger)]
    assert not (tmp_path / "stolen.bin").exists()


def test_a_file_that_changes_while_it_is_sent_is_not_finalized(
    steward_url: str, token: str, tmp_path: pathlib.Path
) -> None:
    path, _ = _file(tmp_path, "growing.log", 2 * MiB)
    with steward_client.Client(steward_url, token) as owner:
        dropoff, code = _dropoff(owner, "pytest changing file")

        def append(start: int, end: int) -> None:
            with open(path, "ab") as log:
                log.write(b"one more line\n")

        with pytest.raises(uploads.FileChanged, match="changed while it was uploaded"):
            uploads.upload(path, dropoff, code, client=owner, chunk_size=MiB, progress=False, on_chunk=append)
        [file] = uploads.list_files(dropoff, client=owner)
        assert file.status == pb.FILE_STATUS_UPLOADING, "never finalized with a digest of other bytes"


def test_arguments_are_checked_before_anything_is_sent(tmp_path: pathlib.Path) -> None:
    path, _ = _file(tmp_path, "x.bin", 10)
    with pytest.raises(ValueError, match="not an upload link"):
        uploads.upload(path, "https://steward.example.org/dropoffs/abc", "ABCDE-FGHJK")
    with pytest.raises(ValueError, match="give client="):
        uploads.upload(path, "0b7c6f7e-5d7a-4c1e-9a53-7d1f0c1e2a3b", "ABCDE-FGHJK")
    with pytest.raises(ValueError, match="chunk_size"):
        uploads.upload(path, "0b7c6f7e-5d7a-4c1e-9a53-7d1f0c1e2a3b", "ABCDE-FGHJK", chunk_size=5 * MiB)
    with pytest.raises(ValueError, match="unknown file status"):
        uploads._status("DONE")
