"""Exceptions raised by steward_client: StewardError and one subclass per gRPC status.

Catch `StewardError` for any failed call, or a subclass (`Unauthenticated`,
`NotFound`, …) for one outcome. Every instance carries the gRPC status
(`.code`), the explanation (`.message`), the address called, how many attempts
were made and, when the server answered, its request id.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import grpc

from .proto.google.rpc import error_details_pb2, status_pb2

__all__ = [
    "StewardError",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
]


class StewardError(Exception):
    """A call to Steward failed.

    Attributes:
        code: the `grpc.StatusCode` of the failure.
        message: what went wrong, as the server (or gRPC, when the server was
            never reached) explained it.
        address: the `host:port` that was called.
        attempts: how many times the call was tried (more than 1 only after
            UNAVAILABLE answers, which are retried).
        request_id: the server's `x-request-id` for the call, to quote when
            reporting a problem; None when no server answered.
        reason: the machine-readable reason the server gave
            (`google.rpc.ErrorInfo`), e.g. "BATCH_OVERLAP"; None when it gave none.
        field_violations: `(field, description)` pairs of the server's
            `google.rpc.BadRequest` detail: which fields (or ids) were refused.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        address: str = "",
        attempts: int = 1,
        request_id: Optional[str] = None,
        reason: Optional[str] = None,
        field_violations: Optional[List[Tuple[str, str]]] = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.address = address
        self.attempts = attempts
        self.request_id = request_id
        self.reason = reason
        self.field_violations = list(field_violations or [])

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, address={self.address!r}, attempts={self.attempts})"


class Cancelled(StewardError):
    """The call was cancelled, usually by the caller."""

    code = grpc.StatusCode.CANCELLED


class Unknown(StewardError):
    """The server failed in a way it could not classify."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(StewardError):
    """The request is malformed or a field is invalid; the message names it."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(StewardError):
    """No answer arrived within the client's timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(StewardError):
    """The requested resource does not exist (or is not visible to the caller)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(StewardError):
    """The resource to create exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(StewardError):
    """The caller is known but may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(StewardError):
    """A limit or quota was hit (rate, size, count)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(StewardError):
    """The resource is not in a state that allows this operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(StewardError):
    """The operation conflicted with a concurrent one; retrying the whole operation may succeed."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(StewardError):
    """A value is past the valid range (e.g. reading past the end)."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(StewardError):
    """This server does not implement the RPC (an older Steward?)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(StewardError):
    """The server hit an internal error; quote `request_id` when reporting it."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(StewardError):
    """Steward could not be reached or is not serving, even after the client's retries."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(StewardError):
    """Unrecoverable data loss or corruption."""

    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(StewardError):
    """No valid credential was presented: the token is missing, unknown, expired or revoked."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_from_rpc(error: grpc.RpcError, *, address: str, attempts: int) -> StewardError:
    """Turns a failed gRPC call into the StewardError subclass for its status."""
    code = _call_attr(error, "code") or grpc.StatusCode.UNKNOWN
    details = _call_attr(error, "details") or ""
    request_id = None
    reason: Optional[str] = None
    violations: List[Tuple[str, str]] = []
    for metadata in (_call_attr(error, "initial_metadata"), _call_attr(error, "trailing_metadata")):
        for key, value in metadata or ():
            if key == "x-request-id" and isinstance(value, str):
                request_id = value
            elif key == "grpc-status-details-bin" and isinstance(value, bytes):
                reason, violations = _details(value)
    cls = _BY_CODE.get(code, StewardError)
    if code is grpc.StatusCode.UNAVAILABLE:
        tries = "attempt" if attempts == 1 else "attempts"
        message = f"Steward at {address} is unavailable after {attempts} {tries}: {details or 'no reason given'}"
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED and request_id is None:
        message = f"no answer from Steward at {address} in time: {details or 'deadline exceeded'}"
    else:
        message = details or code.name
    return cls(
        message,
        code=code,
        address=address,
        attempts=attempts,
        request_id=request_id,
        reason=reason,
        field_violations=violations,
    )


def _details(encoded: bytes) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The ErrorInfo reason and BadRequest violations of an encoded `google.rpc.Status`."""
    reason: Optional[str] = None
    violations: List[Tuple[str, str]] = []
    try:
        status = status_pb2.Status.FromString(encoded)
    except Exception:  # a malformed detail must not hide the error itself
        return None, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason or None
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend((v.field, v.description) for v in bad.field_violations)
    return reason, violations


def _call_attr(error: grpc.RpcError, name: str) -> Any:
    # A grpc.RpcError raised by a call is also a grpc.Call; guard anyway, since
    # RpcError itself promises none of these accessors.
    accessor = getattr(error, name, None)
    return accessor() if callable(accessor) else None
