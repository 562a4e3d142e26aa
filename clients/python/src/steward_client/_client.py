"""Client: one gRPC channel to Steward, the token on every call, retries on UNAVAILABLE.

Every RPC is reachable as `client.<service>.<rpc_in_snake_case>(**fields)`
(`_services.py` builds those from the stubs); the few calls people make most
also get a small hand-written method here with plain Python arguments. Both
hand their request, with the stub's method, to `Client._unary`, which owns the
cross-cutting behaviour (closed check, deadline, credentials, retries, error
mapping).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import random
import ssl
import time
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence, Tuple, Type, TypeVar
from urllib.parse import urlsplit

import grpc

from ._donations import DonationMethods
from ._services import Service
from ._version import __version__
from .errors import error_from_rpc
from .proto.steward.authorization.v1 import authorization_service_pb2 as authorization_pb2
from .proto.steward.authorization.v1 import authorization_service_pb2_grpc as authorization_grpc
from .proto.steward.dataset.v1 import dataset_service_pb2 as dataset_pb2
from .proto.steward.dataset.v1 import dataset_service_pb2_grpc as dataset_grpc
from .proto.steward.donation.v1 import donation_service_pb2 as donation_pb2
from .proto.steward.donation.v1 import donation_service_pb2_grpc as donation_grpc
from .proto.steward.secretshare.v1 import secretshare_service_pb2 as secretshare_pb2
from .proto.steward.secretshare.v1 import secretshare_service_pb2_grpc as secretshare_grpc
from .proto.steward.upload.v1 import upload_service_pb2 as upload_pb2
from .proto.steward.upload.v1 import upload_service_pb2_grpc as upload_grpc

Response = TypeVar("Response")

# Where Linux distributions and macOS keep the system's trusted CA bundle, for
# when Python's own default (which honours SSL_CERT_FILE) names none that exists.
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)


class Client(DonationMethods):
    """A connection to one Steward server.

    Args:
        url: `http://host:port` (plaintext), `https://host:port` (TLS, verified
            against the system's trusted CAs), or `host:port`, which is
            plaintext for a loopback host (`localhost`, `127.0.0.1`, `::1`) and
            TLS otherwise, so a token is never sent in clear by accident.
        token: a Steward API token (`steward token create`), sent as
            `authorization: Bearer <token>` on every call; None calls anonymously.
        timeout: seconds one attempt of a call may take (its gRPC deadline).
        retries: how many times a call that failed with UNAVAILABLE is tried
            again; no other status is retried.
        backoff: seconds before the first retry; it doubles per retry (with
            jitter) up to `max_backoff`.
        max_backoff: the longest pause between two attempts, in seconds.
        root_certificates: PEM CA certificates to trust instead of the system's
            (e.g. a private CA); only for TLS.
        options: extra gRPC channel options, `(name, value)` pairs.

    Researchers' donation calls (`create_donation`, `list_donations`,
    `get_donation`, `donation_data`, `delete_donation`) come from
    `DonationMethods` (`_donations.py`).

    A Client is safe to share between threads. Close it with `close()` or use
    it as a context manager. Every failure raises a `steward_client.StewardError`
    subclass.
    """

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        root_certificates: Optional[bytes] = None,
        options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries!r}")
        if backoff < 0 or max_backoff < backoff:
            raise ValueError(f"need 0 <= backoff <= max_backoff, got {backoff!r} and {max_backoff!r}")
        self.url = url
        self.address, self.secure = parse_url(url)
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._metadata: Tuple[Tuple[str, str], ...] = ()
        if token is not None:
            # Tokens are often read from files or the environment with a trailing newline.
            token = token.strip()
            if not token or not token.isprintable() or " " in token:
                raise ValueError("token must be non-empty and contain no spaces or control characters")
            self._metadata = (("authorization", f"Bearer {token}"),)

        channel_options = [
            ("grpc.primary_user_agent", f"steward-client-python/{__version__}"),
            # After a failed connection gRPC waits 1 s, growing to 120 s, before it
            # connects again, and fails calls fast meanwhile. Scale its waits to a
            # third of our pauses (which never drop below half of `delay`), so each
            # retry meets a fresh connection attempt, e.g. while Steward restarts.
            # (Not grpc.min_reconnect_backoff_ms: gRPC uses it as the connect timeout.)
            ("grpc.initial_reconnect_backoff_ms", max(1, int(backoff * 1000 / 3))),
            ("grpc.max_reconnect_backoff_ms", max(1, int(max_backoff * 1000 / 3))),
            *options,
        ]
        if not any(name == "grpc.max_receive_message_length" for name, _ in options):
            # gRPC's default of 4 MiB is less than a page of 10,000 donation rows
            # (the most QueryDonationData gives, about 6 MB of JSON).
            channel_options.append(("grpc.max_receive_message_length", 64 << 20))
        if self.secure:
            roots = root_certificates if root_certificates is not None else _system_roots()
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(self.address, credentials, options=channel_options)
        else:
            if root_certificates is not None:
                raise ValueError(f"root_certificates given, but {url!r} is plaintext; use https://")
            self._channel = grpc.insecure_channel(self.address, options=channel_options)
        self._closed = False

        # One stub per service and its RPCs as methods; a new service adds two lines here.
        # AuthorizationService: who_am_i() and the DSG-compatible RPCs (get_user_cache, …).
        self._authorization = authorization_grpc.AuthorizationServiceStub(self._channel)
        self.authorization = Service(
            self, self._authorization, authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"]
        )
        # DatasetService: the admin RPCs (create_dataset, create_grant, list_audit_log, …).
        self._dataset = dataset_grpc.DatasetServiceStub(self._channel)
        self.dataset = Service(self, self._dataset, dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"])
        # DonationService: donations and their rows (create_donation(), donation_data(), … in _donations.py).
        self._donation = donation_grpc.DonationServiceStub(self._channel)
        self.donation = Service(self, self._donation, donation_pb2.DESCRIPTOR.services_by_name["DonationService"])
        # SecretShareService: one party's RPCs (submit_share, seal_batch, …); secretshare.Parties uses them all.
        self._secretshare = secretshare_grpc.SecretShareServiceStub(self._channel)
        self.secretshare = Service(
            self, self._secretshare, secretshare_pb2.DESCRIPTOR.services_by_name["SecretShareService"]
        )
        # UploadService: drop-offs and files (uploads.upload(), uploads.download(), … in uploads.py).
        self._upload = upload_grpc.UploadServiceStub(self._channel)
        self.upload = Service(self, self._upload, upload_pb2.DESCRIPTOR.services_by_name["UploadService"])

    # --- RPCs: one small method each -------------------------------------------------

    def whoami(self) -> authorization_pb2.WhoAmIResponse:
        """Returns the principal behind this client's token.

        The result is the protobuf message `WhoAmIResponse` (fields `id`,
        `email`, `name`, `admin`, `roles`, `picture_url`, `is_active`,
        `groups`, `service_account`, `description`).

        Raises:
            Unauthenticated: no token, or one that is unknown, expired or revoked.
        """
        return self._unary(self._authorization.WhoAmI, authorization_pb2.WhoAmIRequest())

    def user_cache(self, service: Optional[str] = None) -> Dict[str, Any]:
        """Returns the caller's DatasetGateway `user/cache` document, parsed.

        The dict has DSG's keys in DSG's order: `id`, `service_account`, `name`,
        `email`, `admin`, `groups`, `permissions` ({dataset: level number}),
        `permissions_v2` ({dataset: sorted level names}, terms of service
        applied), `permissions_v2_ignore_tos`, `missing_tos`, `datasets_admin`, …
        With `service` (a service name such as "celltyping") that service's
        active terms of service also filter `permissions_v2` and are listed in
        `missing_tos`.

        Raises:
            Unauthenticated: no token, or one that is unknown, expired or revoked.
        """
        request = authorization_pb2.GetUserCacheRequest(service=service or "")
        return _json(self._unary(self._authorization.GetUserCache, request))

    def check_access(
        self,
        dataset: str,
        permission: str = "view",
        version: Optional[str] = None,
        service: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Asks whether the caller may act on `dataset` at `permission` (DSG `check-access`).

        `permission` is "view", "edit", "manage" or "admin" (each includes the
        ones below it); `version` limits the question to one version's grants;
        `service` applies that service's terms of service. Returns the decision
        as a dict, e.g. `{"allowed": True, "reason": "direct_grant"}` or
        `{"allowed": False, "reason": "tos_required", "tos_id": 3, "tos_name": "…"}`.

        Raises:
            InvalidArgument: empty `dataset` or an unknown `permission`.
            NotFound: no such dataset.
            Unauthenticated: no valid token.
        """
        question: Dict[str, str] = {"dataset": dataset, "permission": permission}
        if version is not None:
            question["version"] = version
        if service is not None:
            question["service"] = service
        return self.authorization.check_access(body=question)

    # --- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection; calls made afterwards raise ValueError. Idempotent."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the token.
        state = " closed" if self._closed else ""
        return f"<steward_client.Client {self.url!r}{state}>"

    # --- the one place every unary call goes through ---------------------------------

    def _unary(self, method: Callable[..., Response], request: Any) -> Response:
        """Calls `method(request)` with the deadline and credentials, retrying UNAVAILABLE."""
        if self._closed:
            raise ValueError("this steward_client.Client is closed")
        delay = self._backoff
        attempts = 0
        while True:
            attempts += 1
            try:
                return method(request, timeout=self._timeout, metadata=self._metadata)
            except grpc.RpcError as rpc_error:
                unavailable = _code(rpc_error) is grpc.StatusCode.UNAVAILABLE
                if unavailable and attempts <= self._retries:
                    # Jitter spreads out clients that all lost the server at once.
                    time.sleep(random.uniform(delay / 2, delay))
                    delay = min(delay * 2, self._max_backoff)
                    continue
                error = error_from_rpc(rpc_error, address=self.address, attempts=attempts)
            # Raised outside the except block, so the traceback shows this error
            # alone rather than gRPC's internals "during handling" of it.
            raise error


    def _stream(self, method: Callable[..., Any], request: Any, timeout: Optional[float]) -> Iterator[Any]:
        """The messages of a server-streaming call, with the credentials and errors of `_unary`.

        `timeout` is the deadline of the whole stream (None: no deadline; a dead
        connection still ends it with UNAVAILABLE). UNAVAILABLE is retried like a
        unary call's only while no message has arrived: a stream is not resumed.
        Stopping early (leaving the loop, an exception) cancels the call.
        """
        if self._closed:
            raise ValueError("this steward_client.Client is closed")
        delay = self._backoff
        attempts = 0
        while True:
            attempts += 1
            received = False
            call = method(request, timeout=timeout, metadata=self._metadata)
            try:
                for message in call:
                    received = True
                    yield message
                return
            except grpc.RpcError as rpc_error:
                unavailable = _code(rpc_error) is grpc.StatusCode.UNAVAILABLE
                if unavailable and not received and attempts <= self._retries:
                    time.sleep(random.uniform(delay / 2, delay))
                    delay = min(delay * 2, self._max_backoff)
                    continue
                error = error_from_rpc(rpc_error, address=self.address, attempts=attempts)
            finally:
                call.cancel()  # a no-op once the stream ended; frees it when the caller stopped early
            raise error


    def _client_stream(self, method: Callable[..., Response], requests: Iterable[Any]) -> Response:
        """Sends `requests` as one client-streaming call and returns its response.

        No deadline (an upload may take long) and no retries: the requests are an
        iterator the first attempt consumes, so only the caller can send them again.
        """
        if self._closed:
            raise ValueError("this steward_client.Client is closed")
        try:
            return method(iter(requests), metadata=self._metadata)
        except grpc.RpcError as rpc_error:
            error = error_from_rpc(rpc_error, address=self.address, attempts=1)
        raise error


def parse_url(url: str) -> Tuple[str, bool]:
    """Splits a Client URL into the gRPC target `host:port` and whether to use TLS."""
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme in {url!r}: use http://, https:// or host:port")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{url!r}: give only scheme://host:port (no path, query or user)")
        secure = scheme == "https"
        default_port: Optional[int] = 443 if secure else 80
    else:
        parts = urlsplit("//" + url)
        if parts.path or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{url!r}: expected host:port")
        default_port = None
    host = parts.hostname
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"{url!r}: invalid port") from None
    if not host:
        raise ValueError(f"{url!r}: no host")
    if port is None:
        raise ValueError(f"{url!r}: no port; use host:port or a URL with a scheme")
    if "://" not in url:
        secure = not _is_loopback(host)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return target, secure


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=None)
def _system_roots() -> Optional[bytes]:
    """The system's trusted CAs as PEM, or None to let gRPC use its own default."""
    if os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
        return None  # the user chose gRPC's mechanism explicitly
    for path in (ssl.get_default_verify_paths().cafile, *_CA_BUNDLES):
        if path and os.path.isfile(path):
            with open(path, "rb") as bundle:
                return bundle.read()
    return None


def _json(body: Any) -> Any:
    """The JSON document of an HttpBody response."""
    return json.loads(body.data)


def _code(rpc_error: grpc.RpcError) -> Optional[grpc.StatusCode]:
    code = getattr(rpc_error, "code", None)
    return code() if callable(code) else None
