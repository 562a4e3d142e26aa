import datetime

from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from steward_client.proto.google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DropOffState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DROP_OFF_STATE_UNSPECIFIED: _ClassVar[DropOffState]
    DROP_OFF_STATE_OPEN: _ClassVar[DropOffState]
    DROP_OFF_STATE_CLOSED: _ClassVar[DropOffState]
    DROP_OFF_STATE_EXPIRED: _ClassVar[DropOffState]

class FileStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_STATUS_UNSPECIFIED: _ClassVar[FileStatus]
    FILE_STATUS_UPLOADING: _ClassVar[FileStatus]
    FILE_STATUS_PROCESSING: _ClassVar[FileStatus]
    FILE_STATUS_AVAILABLE: _ClassVar[FileStatus]
    FILE_STATUS_EXTERNAL: _ClassVar[FileStatus]
    FILE_STATUS_FAILED: _ClassVar[FileStatus]
    FILE_STATUS_EXPIRED: _ClassVar[FileStatus]
    FILE_STATUS_TERMINATED: _ClassVar[FileStatus]
    FILE_STATUS_DELETED: _ClassVar[FileStatus]

class UploadProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_PROTOCOL_UNSPECIFIED: _ClassVar[UploadProtocol]
    UPLOAD_PROTOCOL_GRPC: _ClassVar[UploadProtocol]
    UPLOAD_PROTOCOL_TUS: _ClassVar[UploadProtocol]
    UPLOAD_PROTOCOL_TUSD_HOOK: _ClassVar[UploadProtocol]
DROP_OFF_STATE_UNSPECIFIED: DropOffState
DROP_OFF_STATE_OPEN: DropOffState
DROP_OFF_STATE_CLOSED: DropOffState
DROP_OFF_STATE_EXPIRED: DropOffState
FILE_STATUS_UNSPECIFIED: FileStatus
FILE_STATUS_UPLOADING: FileStatus
FILE_STATUS_PROCESSING: FileStatus
FILE_STATUS_AVAILABLE: FileStatus
FILE_STATUS_EXTERNAL: FileStatus
FILE_STATUS_FAILED: FileStatus
FILE_STATUS_EXPIRED: FileStatus
FILE_STATUS_TERMINATED: FileStatus
FILE_STATUS_DELETED: FileStatus
UPLOAD_PROTOCOL_UNSPECIFIED: UploadProtocol
UPLOAD_PROTOCOL_GRPC: UploadProtocol
UPLOAD_PROTOCOL_TUS: UploadProtocol
UPLOAD_PROTOCOL_TUSD_HOOK: UploadProtocol

class DropOff(_message.Message):
    __slots__ = ("dropoff_id", "owner", "dataset", "title", "description", "recipient_emails", "max_file_bytes", "max_total_bytes", "allowed_types", "expire_time", "recipient_public_key", "state", "upload_url", "tus_endpoint", "used_bytes", "file_count", "notification_summary", "create_time", "update_time")
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAILS_FIELD_NUMBER: _ClassVar[int]
    MAX_FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    TUS_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    owner: str
    dataset: str
    title: str
    description: str
    recipient_emails: _containers.RepeatedScalarFieldContainer[str]
    max_file_bytes: int
    max_total_bytes: int
    allowed_types: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    recipient_public_key: bytes
    state: DropOffState
    upload_url: str
    tus_endpoint: str
    used_bytes: int
    file_count: int
    notification_summary: NotificationSummary
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, dropoff_id: _Optional[str] = ..., owner: _Optional[str] = ..., dataset: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., recipient_emails: _Optional[_Iterable[str]] = ..., max_file_bytes: _Optional[int] = ..., max_total_bytes: _Optional[int] = ..., allowed_types: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recipient_public_key: _Optional[bytes] = ..., state: _Optional[_Union[DropOffState, str]] = ..., upload_url: _Optional[str] = ..., tus_endpoint: _Optional[str] = ..., used_bytes: _Optional[int] = ..., file_count: _Optional[int] = ..., notification_summary: _Optional[_Union[NotificationSummary, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NotificationSummary(_message.Message):
    __slots__ = ("pending", "sent", "failed", "last_error")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    pending: int
    sent: int
    failed: int
    last_error: str
    def __init__(self, pending: _Optional[int] = ..., sent: _Optional[int] = ..., failed: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("file_id", "dropoff_id", "name", "relative_path", "size", "offset", "content_type", "sha256", "expected_sha256", "status", "failure_reason", "metadata", "protocol", "create_time", "complete_time", "expire_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHA256_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    dropoff_id: str
    name: str
    relative_path: str
    size: int
    offset: int
    content_type: str
    sha256: str
    expected_sha256: str
    status: FileStatus
    failure_reason: str
    metadata: _containers.ScalarMap[str, str]
    protocol: UploadProtocol
    create_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, file_id: _Optional[str] = ..., dropoff_id: _Optional[str] = ..., name: _Optional[str] = ..., relative_path: _Optional[str] = ..., size: _Optional[int] = ..., offset: _Optional[int] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., expected_sha256: _Optional[str] = ..., status: _Optional[_Union[FileStatus, str]] = ..., failure_reason: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., protocol: _Optional[_Union[UploadProtocol, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDropOffRequest(_message.Message):
    __slots__ = ("dropoff",)
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ...) -> None: ...

class CreateDropOffResponse(_message.Message):
    __slots__ = ("dropoff", "upload_code")
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    upload_code: str
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ..., upload_code: _Optional[str] = ...) -> None: ...

class GetDropOffRequest(_message.Message):
    __slots__ = ("dropoff_id",)
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    def __init__(self, dropoff_id: _Optional[str] = ...) -> None: ...

class GetDropOffResponse(_message.Message):
    __slots__ = ("dropoff",)
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ...) -> None: ...

class ListDropOffsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "all")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    all: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class ListDropOffsResponse(_message.Message):
    __slots__ = ("dropoffs", "next_page_token")
    DROPOFFS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dropoffs: _containers.RepeatedCompositeFieldContainer[DropOff]
    next_page_token: str
    def __init__(self, dropoffs: _Optional[_Iterable[_Union[DropOff, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateDropOffRequest(_message.Message):
    __slots__ = ("dropoff", "update_mask", "reopen", "dropoff_id")
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REOPEN_FIELD_NUMBER: _ClassVar[int]
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    update_mask: _field_mask_pb2.FieldMask
    reopen: bool
    dropoff_id: str
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., reopen: _Optional[bool] = ..., dropoff_id: _Optional[str] = ...) -> None: ...

class UpdateDropOffResponse(_message.Message):
    __slots__ = ("dropoff",)
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ...) -> None: ...

class RotateUploadCodeRequest(_message.Message):
    __slots__ = ("dropoff_id",)
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    def __init__(self, dropoff_id: _Optional[str] = ...) -> None: ...

class RotateUploadCodeResponse(_message.Message):
    __slots__ = ("upload_code",)
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    upload_code: str
    def __init__(self, upload_code: _Optional[str] = ...) -> None: ...

class CloseDropOffRequest(_message.Message):
    __slots__ = ("dropoff_id",)
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    def __init__(self, dropoff_id: _Optional[str] = ...) -> None: ...

class CloseDropOffResponse(_message.Message):
    __slots__ = ("dropoff",)
    DROPOFF_FIELD_NUMBER: _ClassVar[int]
    dropoff: DropOff
    def __init__(self, dropoff: _Optional[_Union[DropOff, _Mapping]] = ...) -> None: ...

class DeleteDropOffRequest(_message.Message):
    __slots__ = ("dropoff_id",)
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    def __init__(self, dropoff_id: _Optional[str] = ...) -> None: ...

class DeleteDropOffResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("dropoff_id", "page_size", "page_token", "status")
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    page_size: int
    page_token: str
    status: FileStatus
    def __init__(self, dropoff_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[FileStatus, str]] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files", "next_page_token")
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[File]
    next_page_token: str
    def __init__(self, files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetFileRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class GetFileResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: File
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...

class DownloadFileRequest(_message.Message):
    __slots__ = ("file_id", "offset")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    offset: int
    def __init__(self, file_id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class DeleteFileRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class DeleteFileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OpenDropOffRequest(_message.Message):
    __slots__ = ("dropoff_id", "upload_code")
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    upload_code: str
    def __init__(self, dropoff_id: _Optional[str] = ..., upload_code: _Optional[str] = ...) -> None: ...

class OpenDropOffResponse(_message.Message):
    __slots__ = ("dropoff_id", "title", "description", "max_file_bytes", "max_total_bytes", "remaining_bytes", "allowed_types", "expire_time", "tus_endpoint", "max_chunk_bytes")
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TUS_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    title: str
    description: str
    max_file_bytes: int
    max_total_bytes: int
    remaining_bytes: int
    allowed_types: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    tus_endpoint: str
    max_chunk_bytes: int
    def __init__(self, dropoff_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., max_file_bytes: _Optional[int] = ..., max_total_bytes: _Optional[int] = ..., remaining_bytes: _Optional[int] = ..., allowed_types: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tus_endpoint: _Optional[str] = ..., max_chunk_bytes: _Optional[int] = ...) -> None: ...

class CreateUploadRequest(_message.Message):
    __slots__ = ("dropoff_id", "upload_code", "name", "size", "content_type", "metadata", "request_id", "relative_path")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DROPOFF_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_PATH_FIELD_NUMBER: _ClassVar[int]
    dropoff_id: str
    upload_code: str
    name: str
    size: int
    content_type: str
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    relative_path: str
    def __init__(self, dropoff_id: _Optional[str] = ..., upload_code: _Optional[str] = ..., name: _Optional[str] = ..., size: _Optional[int] = ..., content_type: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., relative_path: _Optional[str] = ...) -> None: ...

class CreateUploadResponse(_message.Message):
    __slots__ = ("upload_id", "offset", "max_chunk_bytes", "expire_time", "tus_url")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TUS_URL_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    offset: int
    max_chunk_bytes: int
    expire_time: _timestamp_pb2.Timestamp
    tus_url: str
    def __init__(self, upload_id: _Optional[str] = ..., offset: _Optional[int] = ..., max_chunk_bytes: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tus_url: _Optional[str] = ...) -> None: ...

class WriteChunkRequest(_message.Message):
    __slots__ = ("upload_id", "upload_code", "offset", "data")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_code: str
    offset: int
    data: bytes
    def __init__(self, upload_id: _Optional[str] = ..., upload_code: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class WriteChunkResponse(_message.Message):
    __slots__ = ("offset", "expire_time")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    offset: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, offset: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetUploadRequest(_message.Message):
    __slots__ = ("upload_id", "upload_code")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_code: str
    def __init__(self, upload_id: _Optional[str] = ..., upload_code: _Optional[str] = ...) -> None: ...

class GetUploadResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: File
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...

class FinalizeUploadRequest(_message.Message):
    __slots__ = ("upload_id", "upload_code", "sha256")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_code: str
    sha256: str
    def __init__(self, upload_id: _Optional[str] = ..., upload_code: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class FinalizeUploadResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: File
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...

class CancelUploadRequest(_message.Message):
    __slots__ = ("upload_id", "upload_code")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_code: str
    def __init__(self, upload_id: _Optional[str] = ..., upload_code: _Optional[str] = ...) -> None: ...

class CancelUploadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UploadFileRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: UploadFileHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[UploadFileHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadFileHeader(_message.Message):
    __slots__ = ("create", "resume", "sha256")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    create: CreateUploadRequest
    resume: ResumeUpload
    sha256: str
    def __init__(self, create: _Optional[_Union[CreateUploadRequest, _Mapping]] = ..., resume: _Optional[_Union[ResumeUpload, _Mapping]] = ..., sha256: _Optional[str] = ...) -> None: ...

class ResumeUpload(_message.Message):
    __slots__ = ("upload_id", "upload_code", "offset")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_CODE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_code: str
    offset: int
    def __init__(self, upload_id: _Optional[str] = ..., upload_code: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class UploadFileResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: File
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...
