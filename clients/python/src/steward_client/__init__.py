"""steward_client: call Steward from Python.

    import steward_client

    with steward_client.Client("http://127.0.0.1:8080", token) as client:
        me = client.whoami()          # a WhoAmIResponse protobuf message
        print(me.email, list(me.roles))

`Client` wraps the generated gRPC stubs (in `steward_client.proto`, importable
for direct use) with credentials, timeouts, retries on UNAVAILABLE and errors
raised as `StewardError` subclasses (`steward_client.errors`).

`steward_client.uploads` sends files into Steward's drop-offs, resumably
(`upload`), and fetches them for their owners (`download`, `list_files`).

`steward_client.secretshare` splits values into additive secret shares for
Steward's secret-share parties and adds sealed batches back up (`Parties`).

TUTORIAL.md in the client's source walks through all three, step by step.
"""

from . import secretshare, uploads
from ._client import Client
from ._version import __version__
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    StewardError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from .secretshare import (
    AggregateResult,
    EncodingError,
    IncompleteSubmission,
    Parties,
    SealError,
    SecretShareError,
)
from .uploads import ChecksumMismatch, FileChanged, TransferError, UploadFailed

__all__ = [
    "Client",
    "__version__",
    "secretshare",
    "uploads",
    "TransferError",
    "UploadFailed",
    "FileChanged",
    "ChecksumMismatch",
    "Parties",
    "AggregateResult",
    "SecretShareError",
    "EncodingError",
    "IncompleteSubmission",
    "SealError",
    "StewardError",
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
]
