"""Drop-offs (spec upload.md §2): resumable uploads with a link and a code, downloads for owners.

An owner creates a drop-off and sends its link and code to the uploaders;
an uploader needs no account, only both:

    from steward_client import Client, uploads

    with Client("https://steward.example.org", token) as client:             # the owner
        dropoff, code = uploads.create_dropoff("Interview recordings", client=client)
        print(dropoff.upload_url, code)                                     # the code is shown only once

    uploads.upload("interviews.zip", dropoff.upload_url, code)            # an uploader, anywhere
    # ... interrupted? Run the same line again: it continues where it stopped.

    with Client("https://steward.example.org", token) as client:             # the owner again
        for file in uploads.list_files(dropoff, client=client, status="AVAILABLE"):
            uploads.download(file, file.name, client=client)

`upload` streams the file in chunks (never reading it whole) with WriteChunk,
hashing it as it goes, then FinalizeUpload with the SHA-256 and waits until
Steward has verified and sealed the file. Its upload id follows from the
drop-off, the file's absolute path, size and modification time, so running it
again after an interruption finds the same upload and sends only the bytes
Steward has not committed. `download` streams DownloadFile into a partial file
next to the target (resumed when it exists), checks the SHA-256 Steward
recorded, and only then renames it into place.

Failures of calls raise `steward_client.StewardError` subclasses; the upload
code is never put in a message, a log line or a progress bar.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import mimetypes
import os
import random
import re
import stat as _stat
import time
from typing import IO, Any, Callable, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import grpc
from google.protobuf import timestamp_pb2
from tqdm import tqdm

from . import errors
from ._client import Client
from .proto.steward.upload.v1 import upload_service_pb2 as pb

__all__ = [
    "MAX_CHUNK_BYTES",
    "TransferError",
    "UploadFailed",
    "FileChanged",
    "ChecksumMismatch",
    "upload",
    "download",
    "create_dropoff",
    "list_dropoffs",
    "list_files",
]

# The largest WriteChunk Steward takes (spec upload.md §2.5); OpenDropOff says so too.
MAX_CHUNK_BYTES = 4 << 20
# Bytes read at a time when only hashing (a resumed upload's committed prefix, a partial download).
_READ_BYTES = 1 << 20
# Statuses after which an upload takes no more bytes: a new run starts a new upload.
_TOMBSTONES = (pb.FILE_STATUS_FAILED, pb.FILE_STATUS_EXPIRED, pb.FILE_STATUS_TERMINATED, pb.FILE_STATUS_DELETED)
# Refusals of a write that a pause and a fresh look at the committed offset cure.
_RETRY_REASONS = ("UPLOAD_LOCKED", "UPLOAD_INTERRUPTED")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")

DropOffRef = Union[str, pb.DropOff]
FileRef = Union[str, pb.File]
ClientRef = Union[Client, str, None]


class TransferError(Exception):
    """An upload or download did not complete, for a reason other than a refused call."""


class UploadFailed(TransferError):
    """Steward received every byte but did not keep the file.

    Attributes:
        file: the `File` message as Steward reported it (status FAILED, or
            another end state).
        failure_reason: why, e.g. "SHA256_MISMATCH" (the file changed while it
            was uploaded) or "STORAGE_ERROR"; empty when Steward gave none.
    """

    def __init__(self, message: str, file: pb.File) -> None:
        super().__init__(message)
        self.file = file
        self.failure_reason = file.failure_reason


class FileChanged(TransferError):
    """The local file changed (size, modification time or contents) while it was being uploaded."""


class ChecksumMismatch(TransferError):
    """A downloaded file's SHA-256 is not the one Steward recorded; the partial file was removed."""


# --- uploaders ---------------------------------------------------------------------------


def upload(
    path: Union[str, "os.PathLike[str]"],
    dropoff: DropOffRef,
    code: str,
    *,
    client: ClientRef = None,
    name: Optional[str] = None,
    content_type: Optional[str] = None,
    relative_path: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    chunk_size: int = MAX_CHUNK_BYTES,
    progress: bool = True,
    wait: bool = True,
    wait_timeout: float = 600.0,
    retries: int = 8,
    on_chunk: Optional[Callable[[int, int], None]] = None,
) -> pb.File:
    """Uploads a file into a drop-off, resuming an earlier interrupted run of the same upload.

    Args:
        path: the file to send. It is read in chunks, never whole, and must
            not change while it is sent.
        dropoff: the drop-off: its upload link (`https://…/upload/<id>`), its
            id, or a `DropOff` message.
        code: the drop-off's upload code, as the owner gave it (`ABCDE-FGHJK`;
            case, spaces and hyphens do not matter).
        client: a `Client`, or the URL of Steward's gRPC endpoint; by default
            the scheme, host and port of the upload link. Uploading needs no token.
        name: the file name the owner sees; default: the file's own name.
        content_type: `type/subtype`; default: guessed from the name, else
            `application/octet-stream`.
        relative_path: a folder path to show the owner (e.g. "site-a/2024").
        metadata: free key/value pairs shown to the owner (at most 32, 8 KiB).
        chunk_size: bytes per WriteChunk, at most 4 MiB.
        progress: show a tqdm progress bar (on stderr).
        wait: wait until Steward has verified and stored the file (AVAILABLE);
            False returns once it is finalized (PROCESSING).
        wait_timeout: seconds to wait for that.
        retries: how often one chunk is tried again after the server was
            unreachable, busy with another writer of the same upload, or too
            slow; each retry first asks Steward how far the upload got.
        on_chunk: called as `on_chunk(start, end)` each time Steward has
            committed the bytes `[start, end)` in this run (raise from it to stop).

    Returns:
        The `File` message: `.file_id`, `.name`, `.size`, `.sha256`, `.status`
        (`FILE_STATUS_AVAILABLE`, or `FILE_STATUS_PROCESSING` with wait=False), …

    Raises:
        PermissionDenied: the code is not valid for this drop-off (reason CODE_INVALID).
        NotFound: there is no such drop-off.
        FailedPrecondition: the drop-off is closed or expired (DROPOFF_CLOSED).
        InvalidArgument: the file is larger than the drop-off takes, or its type is not allowed.
        ResourceExhausted: the drop-off's quota is used up (QUOTA_EXCEEDED), or
            too many wrong codes were tried (TOO_MANY_ATTEMPTS).
        UploadFailed: Steward got every byte but refused the file (e.g. SHA256_MISMATCH).
        FileChanged: the file changed while it was sent.
        TimeoutError: Steward did not finish storing the file within `wait_timeout`.
    """
    if not 1 <= chunk_size <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk_size must be 1 to {MAX_CHUNK_BYTES} bytes, got {chunk_size!r}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries!r}")
    if not isinstance(code, str) or not code.strip():
        raise ValueError("code must be the drop-off's upload code (a string such as 'ABCDE-FGHJK')")
    path = os.path.abspath(os.fspath(path))
    dropoff_id = _dropoff_id(dropoff)
    name = name if name is not None else os.path.basename(path)
    if content_type is None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    rpc_client, owned = _uploader_client(client, dropoff)
    try:
        with open(path, "rb") as source:
            stat = os.fstat(source.fileno())
            if not _stat.S_ISREG(stat.st_mode):
                raise ValueError(f"{path} is not a regular file")
            opened = _call(rpc_client, "OpenDropOff", pb.OpenDropOffRequest(dropoff_id=dropoff_id, upload_code=code))
            chunk = min(chunk_size, opened.max_chunk_bytes or MAX_CHUNK_BYTES)
            transfer = _Upload(rpc_client, code, source, stat, retries)
            # A later upload under the same key after one ended without the file
            # (failed, expired, cancelled, deleted) gets the next generation's id.
            for generation in range(1, 101):
                created = _call(
                    rpc_client,
                    "CreateUpload",
                    pb.CreateUploadRequest(
                        dropoff_id=dropoff_id,
                        upload_code=code,
                        name=name,
                        size=stat.st_size,
                        content_type=content_type,
                        metadata=dict(metadata or {}),
                        request_id=_request_id(dropoff_id, path, stat, generation),
                        relative_path=relative_path or "",
                    ),
                )
                file = transfer.get(created.upload_id)
                if file.status not in _TOMBSTONES:
                    break
            else:
                raise TransferError(f"{path}: 100 earlier uploads of this file ended without it; rename or touch it")
            if file.status == pb.FILE_STATUS_UPLOADING:
                with tqdm(
                    total=stat.st_size,
                    initial=file.offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=name,
                    disable=not progress,
                ) as bar:
                    transfer.send(file.file_id, file.offset, chunk, bar, on_chunk)
                file = transfer.finalize(file.file_id)
        if wait and file.status != pb.FILE_STATUS_AVAILABLE:
            file = transfer.wait(file.file_id, wait_timeout)
        if file.status in _TOMBSTONES:
            raise UploadFailed(_ended(file), file)
        return file
    finally:
        if owned:
            rpc_client.close()


class _Upload:
    """One upload's calls, and the source file read once, in order, through one SHA-256."""

    def __init__(self, client: Client, code: str, source: IO[bytes], stat: os.stat_result, retries: int) -> None:
        self.client = client
        self.code = code
        self.source = source
        self.stat = stat
        self.size = stat.st_size
        self.retries = retries
        self.sha = hashlib.sha256()
        self.position = 0  # bytes of `source` read and hashed

    def get(self, upload_id: str) -> pb.File:
        return _call(self.client, "GetUpload", pb.GetUploadRequest(upload_id=upload_id, upload_code=self.code)).file

    def send(
        self,
        upload_id: str,
        offset: int,
        chunk: int,
        bar: Any,
        on_chunk: Optional[Callable[[int, int], None]],
    ) -> None:
        """Writes the bytes from `offset` (Steward's committed offset) to the end."""
        start, data = 0, b""  # the bytes last read: source[start:start + len(data)]
        failures = 0
        while offset < self.size:
            if not start <= offset < start + len(data):
                self._hash_to(offset)
                start, data = offset, self._read(min(chunk, self.size - offset))
            request = pb.WriteChunkRequest(
                upload_id=upload_id, upload_code=self.code, offset=offset, data=data[offset - start :]
            )
            try:
                committed = self.client._unary(self.client._upload.WriteChunk, request).offset
                failures = 0
            except errors.StewardError as error:
                if _is_offset_mismatch(error):
                    committed, failures = self._committed(upload_id, failures)
                elif _is_transient(error) and failures < self.retries:
                    committed, failures = self._committed(upload_id, failures + 1)
                else:
                    raise
            if committed > offset:
                bar.update(committed - offset)
                if on_chunk is not None:
                    on_chunk(offset, committed)
            elif committed < offset:
                bar.reset(total=self.size)
                bar.update(committed)
            offset = committed

    def _committed(self, upload_id: str, failures: int) -> Tuple[int, int]:
        """Steward's committed offset after a refused or lost write (pausing first when `failures`),
        asking again while Steward stays unreachable, up to `retries` failures in all."""
        while True:
            if failures:
                time.sleep(_pause(failures))
            try:
                return self.get(upload_id).offset, failures
            except errors.StewardError as error:
                if not _is_transient(error) or failures >= self.retries:
                    raise
                failures += 1

    def finalize(self, upload_id: str) -> pb.File:
        """FinalizeUpload with the SHA-256 of the whole file (the unread rest is hashed first)."""
        self._hash_to(self.size)
        self._check_unchanged()
        request = pb.FinalizeUploadRequest(upload_id=upload_id, upload_code=self.code, sha256=self.sha.hexdigest())
        failures = 0
        while True:
            try:
                return _call(self.client, "FinalizeUpload", request).file
            except errors.StewardError as error:
                # Finalizing again with the same digest answers the current state.
                if _is_transient(error) and failures < self.retries:
                    failures += 1
                    time.sleep(_pause(failures))
                    continue
                raise

    def wait(self, upload_id: str, timeout: float) -> pb.File:
        """GetUpload until the file is AVAILABLE or ended; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.1
        while True:
            file = self.get(upload_id)
            if file.status not in (pb.FILE_STATUS_UPLOADING, pb.FILE_STATUS_PROCESSING):
                return file
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Steward did not finish storing upload {upload_id} within {timeout:g} s "
                    f"(it is {pb.FileStatus.Name(file.status)}); run upload() again to keep waiting"
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _read(self, n: int) -> bytes:
        data = self.source.read(n)
        if len(data) != n:
            raise FileChanged(f"{self.source.name} is shorter than the {self.size} bytes it had when the upload began")
        self.sha.update(data)
        self.position += n
        return data

    def _hash_to(self, offset: int) -> None:
        """Moves the read position to `offset`, hashing what lies before it (from the start if behind)."""
        if offset < self.position:
            self.source.seek(0)
            self.sha = hashlib.sha256()
            self.position = 0
        while self.position < offset:
            self._read(min(_READ_BYTES, offset - self.position))

    def _check_unchanged(self) -> None:
        now = os.fstat(self.source.fileno())
        if (now.st_size, now.st_mtime_ns) != (self.stat.st_size, self.stat.st_mtime_ns):
            raise FileChanged(f"{self.source.name} changed while it was uploaded; run upload() again to send it anew")


def _request_id(dropoff_id: str, path: str, stat: os.stat_result, generation: int) -> str:
    """The same id for the same file in the same drop-off, so that a rerun resumes (at most 128 chars)."""
    key = "\0".join((dropoff_id, path, str(stat.st_size), str(stat.st_mtime_ns), str(generation)))
    return "py-upload-" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


# --- owners ------------------------------------------------------------------------------


def create_dropoff(
    title: str,
    *,
    client: Client,
    description: str = "",
    recipient_emails: Iterable[str] = (),
    max_file_bytes: Optional[int] = None,
    max_total_bytes: Optional[int] = None,
    allowed_types: Iterable[str] = (),
    expire_time: Optional[_dt.datetime] = None,
    dataset: Optional[str] = None,
) -> Tuple[pb.DropOff, str]:
    """Creates a drop-off; returns it and its upload code, which Steward shows only this once.

    Args:
        title: what uploaders see, 1-200 characters.
        client: a `Client` with the token of a researcher or admin.
        description: plain text for the uploaders, at most 4000 characters.
        recipient_emails: up to 20 addresses told when files arrive; none means you.
        max_file_bytes, max_total_bytes: limits per file and for all files
            together; default: the server's maximum.
        allowed_types: MIME types (`text/csv`), wildcards (`image/*`) or
            extensions (`.csv`); none allows every type.
        expire_time: when uploads stop (an aware `datetime`); default 30 days from now.
        dataset: file the drop-off under this dataset, whose grants then decide
            who sees its files (needs `edit` on it).

    Returns:
        `(dropoff, code)`: the `DropOff` message (`.dropoff_id`, `.upload_url`
        to send to the uploaders, …) and the code to send them by another channel.

    Raises:
        PermissionDenied: no researcher role, or no `edit` on `dataset`.
        InvalidArgument: a field breaks a rule; the message names it.
    """
    dropoff = pb.DropOff(
        title=title,
        description=description,
        recipient_emails=list(_strings(recipient_emails, "recipient_emails")),
        allowed_types=list(_strings(allowed_types, "allowed_types")),
        max_file_bytes=max_file_bytes or 0,
        max_total_bytes=max_total_bytes or 0,
        dataset=dataset or "",
    )
    if expire_time is not None:
        if expire_time.tzinfo is None:
            raise ValueError("expire_time must be an aware datetime (e.g. with tzinfo=datetime.timezone.utc)")
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(expire_time)
        dropoff.expire_time.CopyFrom(stamp)
    created = _call(client, "CreateDropOff", pb.CreateDropOffRequest(dropoff=dropoff))
    return created.dropoff, created.upload_code


def list_dropoffs(*, client: Client, all: bool = False, page_size: int = 200) -> List[pb.DropOff]:
    """Every drop-off you may view, newest first (all pages); `all=True` (admins) lists everyone's."""
    if not 1 <= page_size <= 200:
        raise ValueError(f"page_size must be 1 to 200, got {page_size!r}")
    request = pb.ListDropOffsRequest(page_size=page_size, all=all)
    dropoffs: List[pb.DropOff] = []
    while True:
        page = _call(client, "ListDropOffs", request)
        dropoffs.extend(page.dropoffs)
        if not page.next_page_token:
            return dropoffs
        request.page_token = page.next_page_token


def list_files(
    dropoff: DropOffRef,
    *,
    client: Client,
    status: Union[str, int, None] = None,
    page_size: int = 1000,
) -> List[pb.File]:
    """Every file of a drop-off, newest first (all pages), optionally of one status.

    `status` is a `FileStatus` name ("AVAILABLE" or "FILE_STATUS_AVAILABLE") or number.
    """
    if not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be 1 to 1000, got {page_size!r}")
    request = pb.ListFilesRequest(dropoff_id=_dropoff_id(dropoff), page_size=page_size, status=_status(status))
    files: List[pb.File] = []
    while True:
        page = _call(client, "ListFiles", request)
        files.extend(page.files)
        if not page.next_page_token:
            return files
        request.page_token = page.next_page_token


def download(
    file: FileRef,
    path: Union[str, "os.PathLike[str]"],
    *,
    client: Client,
    progress: bool = True,
    retries: int = 8,
) -> pb.File:
    """Downloads an AVAILABLE file to `path`, checking its SHA-256; resumes an interrupted download.

    The bytes go to `<dir>/.<name>.<file_id>.part` first; a partial file left
    by an earlier attempt is continued from its end. Once every byte is in and
    its SHA-256 is the one Steward recorded, the partial file is renamed to
    `path` (replacing a file there).

    Args:
        file: the file's id or its `File` message.
        path: where to put it.
        client: a `Client` whose token may view the drop-off.
        progress: show a tqdm progress bar (on stderr).
        retries: how often the stream is resumed after the server became
            unreachable or too slow in the middle of it.

    Returns:
        The `File` message, as GetFile gave it.

    Raises:
        NotFound: no such file, or not one you may view.
        FailedPrecondition: the file is not AVAILABLE (still uploading, failed, …).
        DataLoss: Steward found the stored file damaged.
        ChecksumMismatch: the bytes received are not the ones Steward hashed.
    """
    file_id = file.file_id if isinstance(file, pb.File) else str(file)
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries!r}")
    info = _call(client, "GetFile", pb.GetFileRequest(file_id=file_id)).file
    target = os.path.abspath(os.fspath(path))
    partial = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{info.file_id}.part")
    size = info.size
    sha = hashlib.sha256()
    offset = 0
    if os.path.exists(partial) and os.path.getsize(partial) <= size:
        with open(partial, "rb") as existing:
            while True:
                block = existing.read(_READ_BYTES)
                if not block:
                    break
                sha.update(block)
                offset += len(block)
    with open(partial, "r+b" if offset else "wb") as sink, tqdm(
        total=size,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=info.name,
        disable=not progress,
    ) as bar:
        sink.seek(offset)
        sink.truncate()
        failures = 0
        while offset < size:
            try:
                for message in _stream(client, pb.DownloadFileRequest(file_id=info.file_id, offset=offset)):
                    if offset + len(message.data) > size:
                        raise ChecksumMismatch(f"Steward sent more than the {size} bytes of file {info.file_id}")
                    sink.write(message.data)
                    sha.update(message.data)
                    offset += len(message.data)
                    bar.update(len(message.data))
                    failures = 0
            except errors.StewardError as error:
                if _is_transient(error) and failures < retries:
                    failures += 1
                    time.sleep(_pause(failures))
                    continue
                raise
            if offset < size:
                raise TransferError(f"the download of file {info.file_id} ended at byte {offset} of {size}")
        sink.flush()
        os.fsync(sink.fileno())
    if sha.hexdigest() != info.sha256:
        os.remove(partial)
        raise ChecksumMismatch(
            f"file {info.file_id} arrived with SHA-256 {sha.hexdigest()}, but Steward recorded {info.sha256}; "
            "the partial file was removed, download it again"
        )
    os.replace(partial, target)
    return info


# --- helpers -----------------------------------------------------------------------------


def _call(client: Client, rpc: str, request: Any) -> Any:
    """One unary UploadService call through `Client._unary` (credentials, deadline, retries, errors)."""
    return client._unary(getattr(client._upload, rpc), request)


def _stream(client: Client, request: pb.DownloadFileRequest) -> Iterable[Any]:
    """DownloadFile's messages, with gRPC failures raised as StewardError subclasses."""
    if client.closed:
        raise ValueError("this steward_client.Client is closed")
    # No deadline: a large file may take long; a dead connection ends the stream with UNAVAILABLE.
    call = client._upload.DownloadFile(request, metadata=client._metadata)
    try:
        yield from call
    except grpc.RpcError as rpc_error:
        error = errors.error_from_rpc(rpc_error, address=client.address, attempts=1)
    else:
        return
    finally:
        call.cancel()  # a no-op once the stream ended; frees it when the caller stopped early
    raise error


def _is_transient(error: errors.StewardError) -> bool:
    if isinstance(error, (errors.Unavailable, errors.DeadlineExceeded)):
        return True
    return isinstance(error, errors.Aborted) and error.reason in _RETRY_REASONS


def _is_offset_mismatch(error: errors.StewardError) -> bool:
    return isinstance(error, errors.Aborted) and error.reason == "OFFSET_MISMATCH"


def _pause(failures: int) -> float:
    """Seconds before retry number `failures`: 0.25 s doubling to 8 s, with jitter."""
    delay = min(0.25 * 2 ** (failures - 1), 8.0)
    return random.uniform(delay / 2, delay)


def _ended(file: pb.File) -> str:
    status = pb.FileStatus.Name(file.status).replace("FILE_STATUS_", "")
    why = f" ({file.failure_reason})" if file.failure_reason else ""
    hint = ""
    if file.failure_reason == "SHA256_MISMATCH":
        hint = ": the bytes Steward received are not the file's; did it change? Run upload() again"
    return f"upload {file.file_id} of {file.name!r} ended {status}{why}{hint}"


def _dropoff_id(dropoff: DropOffRef) -> str:
    """The drop-off id of a DropOff message, an id, or an upload link `…/upload/<id>`."""
    if isinstance(dropoff, pb.DropOff):
        return dropoff.dropoff_id
    if not isinstance(dropoff, str):
        raise TypeError(f"dropoff must be an upload link, a drop-off id or a DropOff, got {type(dropoff).__name__}")
    text = dropoff.strip()
    if "://" in text:
        parts = urlsplit(text)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) >= 2 and segments[-2] == "upload" and _UUID.match(segments[-1]):
            return segments[-1].lower()
        raise ValueError(f"{dropoff!r} is not an upload link (…/upload/<drop-off id>)")
    if not _UUID.match(text):
        raise ValueError(f"{dropoff!r} is not a drop-off id (a UUID) or an upload link")
    return text.lower()


def _uploader_client(client: ClientRef, dropoff: DropOffRef) -> Tuple[Client, bool]:
    """The Client to upload with, and whether this call made it (and so closes it)."""
    if isinstance(client, Client):
        return client, False
    if isinstance(client, str):
        return Client(client), True
    if client is not None:
        raise TypeError(f"client must be a steward_client.Client or a URL, got {type(client).__name__}")
    link = dropoff.upload_url if isinstance(dropoff, pb.DropOff) else dropoff
    if isinstance(link, str) and "://" in link:
        parts = urlsplit(link.strip())
        return Client(f"{parts.scheme}://{parts.netloc}"), True
    raise ValueError("give client= (a Client or Steward's URL), or the drop-off as its upload link")


def _status(status: Union[str, int, None]) -> int:
    if status is None:
        return pb.FILE_STATUS_UNSPECIFIED
    if isinstance(status, bool):
        raise TypeError("status must be a FileStatus name or number")
    if isinstance(status, int):
        pb.FileStatus.Name(status)  # raises ValueError for an unknown number
        return status
    name = status.strip().upper()
    if not name.startswith("FILE_STATUS_"):
        name = "FILE_STATUS_" + name
    try:
        return pb.FileStatus.Value(name)
    except ValueError:
        known = ", ".join(n.replace("FILE_STATUS_", "") for n in pb.FileStatus.keys()[1:])
        raise ValueError(f"unknown file status {status!r}; one of {known}") from None


def _strings(values: Iterable[str], field: str) -> Iterable[str]:
    if isinstance(values, str):
        return [values]
    values = list(values)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{field} must be strings")
    return values
