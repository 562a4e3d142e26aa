import datetime

from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from steward_client.proto.google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Field(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_UNSPECIFIED: _ClassVar[Field]
    FIELD_FIELD64: _ClassVar[Field]

class ValueEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_ENCODING_UNSPECIFIED: _ClassVar[ValueEncoding]
    VALUE_ENCODING_INTEGER: _ClassVar[ValueEncoding]
    VALUE_ENCODING_FIXED_POINT: _ClassVar[ValueEncoding]

class EndpointState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENDPOINT_STATE_UNSPECIFIED: _ClassVar[EndpointState]
    ENDPOINT_STATE_ACTIVE: _ClassVar[EndpointState]
    ENDPOINT_STATE_ARCHIVED: _ClassVar[EndpointState]
FIELD_UNSPECIFIED: Field
FIELD_FIELD64: Field
VALUE_ENCODING_UNSPECIFIED: ValueEncoding
VALUE_ENCODING_INTEGER: ValueEncoding
VALUE_ENCODING_FIXED_POINT: ValueEncoding
ENDPOINT_STATE_UNSPECIFIED: EndpointState
ENDPOINT_STATE_ACTIVE: EndpointState
ENDPOINT_STATE_ARCHIVED: EndpointState

class Endpoint(_message.Message):
    __slots__ = ("name", "description", "vector_length", "field", "encoding", "decimal_scale", "min_value", "max_value", "min_batch_size", "max_submissions_per_contributor", "dataset", "config_digest", "state", "max_decodable_batch_size", "create_time", "creator")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DECIMAL_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SUBMISSIONS_PER_CONTRIBUTOR_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MAX_DECODABLE_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    vector_length: int
    field: Field
    encoding: ValueEncoding
    decimal_scale: int
    min_value: int
    max_value: int
    min_batch_size: int
    max_submissions_per_contributor: int
    dataset: str
    config_digest: str
    state: EndpointState
    max_decodable_batch_size: int
    create_time: _timestamp_pb2.Timestamp
    creator: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., vector_length: _Optional[int] = ..., field: _Optional[_Union[Field, str]] = ..., encoding: _Optional[_Union[ValueEncoding, str]] = ..., decimal_scale: _Optional[int] = ..., min_value: _Optional[int] = ..., max_value: _Optional[int] = ..., min_batch_size: _Optional[int] = ..., max_submissions_per_contributor: _Optional[int] = ..., dataset: _Optional[str] = ..., config_digest: _Optional[str] = ..., state: _Optional[_Union[EndpointState, str]] = ..., max_decodable_batch_size: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., creator: _Optional[str] = ...) -> None: ...

class GetPartyInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPartyInfoResponse(_message.Message):
    __slots__ = ("party_index", "party_count", "party_name", "protocol", "field", "modulus", "max_vector_length", "max_batch_size", "party_urls")
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTY_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARTY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MODULUS_FIELD_NUMBER: _ClassVar[int]
    MAX_VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PARTY_URLS_FIELD_NUMBER: _ClassVar[int]
    party_index: int
    party_count: int
    party_name: str
    protocol: str
    field: Field
    modulus: str
    max_vector_length: int
    max_batch_size: int
    party_urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, party_index: _Optional[int] = ..., party_count: _Optional[int] = ..., party_name: _Optional[str] = ..., protocol: _Optional[str] = ..., field: _Optional[_Union[Field, str]] = ..., modulus: _Optional[str] = ..., max_vector_length: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., party_urls: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateEndpointRequest(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: Endpoint
    def __init__(self, endpoint: _Optional[_Union[Endpoint, _Mapping]] = ...) -> None: ...

class CreateEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: Endpoint
    def __init__(self, endpoint: _Optional[_Union[Endpoint, _Mapping]] = ...) -> None: ...

class GetEndpointRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "party_index")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    endpoint: Endpoint
    party_index: int
    def __init__(self, endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., party_index: _Optional[int] = ...) -> None: ...

class ListEndpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "include_archived")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    include_archived: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_archived: _Optional[bool] = ...) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ArchiveEndpointRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ArchiveEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: Endpoint
    def __init__(self, endpoint: _Optional[_Union[Endpoint, _Mapping]] = ...) -> None: ...

class SubmitShareRequest(_message.Message):
    __slots__ = ("endpoint", "submission_id", "party_index", "config_digest", "share")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    submission_id: str
    party_index: int
    config_digest: str
    share: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, endpoint: _Optional[str] = ..., submission_id: _Optional[str] = ..., party_index: _Optional[int] = ..., config_digest: _Optional[str] = ..., share: _Optional[_Iterable[int]] = ...) -> None: ...

class SubmitShareResponse(_message.Message):
    __slots__ = ("submission_id", "receive_time", "duplicate")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    receive_time: _timestamp_pb2.Timestamp
    duplicate: bool
    def __init__(self, submission_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class DeleteSubmissionRequest(_message.Message):
    __slots__ = ("endpoint", "submission_id")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    submission_id: str
    def __init__(self, endpoint: _Optional[str] = ..., submission_id: _Optional[str] = ...) -> None: ...

class DeleteSubmissionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPendingSubmissionsRequest(_message.Message):
    __slots__ = ("endpoint", "page_size", "page_token", "received_before")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    page_size: int
    page_token: str
    received_before: _timestamp_pb2.Timestamp
    def __init__(self, endpoint: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., received_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPendingSubmissionsResponse(_message.Message):
    __slots__ = ("submission_ids", "next_page_token", "total_pending")
    SUBMISSION_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PENDING_FIELD_NUMBER: _ClassVar[int]
    submission_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    total_pending: int
    def __init__(self, submission_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., total_pending: _Optional[int] = ...) -> None: ...

class SealBatchRequest(_message.Message):
    __slots__ = ("endpoint", "submission_ids", "config_digest", "expected_batch_digest")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_IDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BATCH_DIGEST_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    submission_ids: _containers.RepeatedScalarFieldContainer[str]
    config_digest: str
    expected_batch_digest: str
    def __init__(self, endpoint: _Optional[str] = ..., submission_ids: _Optional[_Iterable[str]] = ..., config_digest: _Optional[str] = ..., expected_batch_digest: _Optional[str] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("endpoint", "batch_digest", "submission_count", "contributor_count", "party_index", "party_count", "config_digest", "aggregate_share", "seal_time", "sealed_by")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    BATCH_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTY_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_SHARE_FIELD_NUMBER: _ClassVar[int]
    SEAL_TIME_FIELD_NUMBER: _ClassVar[int]
    SEALED_BY_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    batch_digest: str
    submission_count: int
    contributor_count: int
    party_index: int
    party_count: int
    config_digest: str
    aggregate_share: _containers.RepeatedScalarFieldContainer[int]
    seal_time: _timestamp_pb2.Timestamp
    sealed_by: str
    def __init__(self, endpoint: _Optional[str] = ..., batch_digest: _Optional[str] = ..., submission_count: _Optional[int] = ..., contributor_count: _Optional[int] = ..., party_index: _Optional[int] = ..., party_count: _Optional[int] = ..., config_digest: _Optional[str] = ..., aggregate_share: _Optional[_Iterable[int]] = ..., seal_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sealed_by: _Optional[str] = ...) -> None: ...

class SealBatchResponse(_message.Message):
    __slots__ = ("batch", "already_sealed")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SEALED_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    already_sealed: bool
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., already_sealed: _Optional[bool] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("endpoint", "batch_digest")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    BATCH_DIGEST_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    batch_digest: str
    def __init__(self, endpoint: _Optional[str] = ..., batch_digest: _Optional[str] = ...) -> None: ...

class GetBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
    __slots__ = ("endpoint", "page_size", "page_token")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    page_size: int
    page_token: str
    def __init__(self, endpoint: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches", "next_page_token")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    next_page_token: str
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPermissionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPermissionsResponse(_message.Message):
    __slots__ = ("message", "permissions", "status")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    message: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    status: int
    def __init__(self, message: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., status: _Optional[int] = ...) -> None: ...

class CreateLegacyEndpointRequest(_message.Message):
    __slots__ = ("endpoint", "task")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    task: str
    def __init__(self, endpoint: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class SubmitLegacyShareRequest(_message.Message):
    __slots__ = ("endpoint", "data", "submission_id", "client_id", "party_index", "config_digest")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    data: _containers.RepeatedScalarFieldContainer[int]
    submission_id: str
    client_id: str
    party_index: int
    config_digest: str
    def __init__(self, endpoint: _Optional[str] = ..., data: _Optional[_Iterable[int]] = ..., submission_id: _Optional[str] = ..., client_id: _Optional[str] = ..., party_index: _Optional[int] = ..., config_digest: _Optional[str] = ...) -> None: ...

class SubmitLegacyShareResponse(_message.Message):
    __slots__ = ("message", "submission_id", "duplicate")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    message: str
    submission_id: str
    duplicate: bool
    def __init__(self, message: _Optional[str] = ..., submission_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...
