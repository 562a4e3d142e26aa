from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from steward_client.proto.google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from steward_client.proto.steward.donation.v1 import donation_pb2 as _donation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateDonationRequest(_message.Message):
    __slots__ = ("source", "data_start_date", "data_end_date", "requested_data_types", "dataset", "description", "request_id")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATA_START_DATE_FIELD_NUMBER: _ClassVar[int]
    DATA_END_DATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    source: _donation_pb2.DonationSource
    data_start_date: str
    data_end_date: str
    requested_data_types: _containers.RepeatedScalarFieldContainer[str]
    dataset: str
    description: str
    request_id: str
    def __init__(self, source: _Optional[_Union[_donation_pb2.DonationSource, str]] = ..., data_start_date: _Optional[str] = ..., data_end_date: _Optional[str] = ..., requested_data_types: _Optional[_Iterable[str]] = ..., dataset: _Optional[str] = ..., description: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateDonationResponse(_message.Message):
    __slots__ = ("donation", "token", "donation_url")
    DONATION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DONATION_URL_FIELD_NUMBER: _ClassVar[int]
    donation: _donation_pb2.Donation
    token: str
    donation_url: str
    def __init__(self, donation: _Optional[_Union[_donation_pb2.Donation, _Mapping]] = ..., token: _Optional[str] = ..., donation_url: _Optional[str] = ...) -> None: ...

class ListDonationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "dataset")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    dataset: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., dataset: _Optional[str] = ...) -> None: ...

class ListDonationsResponse(_message.Message):
    __slots__ = ("donations", "next_page_token")
    DONATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    donations: _containers.RepeatedCompositeFieldContainer[_donation_pb2.Donation]
    next_page_token: str
    def __init__(self, donations: _Optional[_Iterable[_Union[_donation_pb2.Donation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class GetDonationResponse(_message.Message):
    __slots__ = ("donation",)
    DONATION_FIELD_NUMBER: _ClassVar[int]
    donation: _donation_pb2.Donation
    def __init__(self, donation: _Optional[_Union[_donation_pb2.Donation, _Mapping]] = ...) -> None: ...

class DeleteDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class DeleteDonationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDonationDataTypesRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class ListDonationDataTypesResponse(_message.Message):
    __slots__ = ("data_types",)
    DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    data_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, data_types: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryDonationDataRequest(_message.Message):
    __slots__ = ("donation_id", "data_type", "start_date", "end_date", "page_size", "page_token", "row_format")
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROW_FORMAT_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    data_type: str
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    row_format: _donation_pb2.RowFormat
    def __init__(self, donation_id: _Optional[int] = ..., data_type: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., row_format: _Optional[_Union[_donation_pb2.RowFormat, str]] = ...) -> None: ...

class QueryDonationDataResponse(_message.Message):
    __slots__ = ("rows", "total_count", "next_page_token", "json_rows")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    JSON_ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    total_count: int
    next_page_token: str
    json_rows: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rows: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., total_count: _Optional[int] = ..., next_page_token: _Optional[str] = ..., json_rows: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDonationEventsRequest(_message.Message):
    __slots__ = ("donation_id", "page_size", "page_token")
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    page_size: int
    page_token: str
    def __init__(self, donation_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDonationEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_donation_pb2.DonationEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_donation_pb2.DonationEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportDonationDataRequest(_message.Message):
    __slots__ = ("donation_id", "data_type", "start_date", "end_date", "row_format", "json_lines")
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    ROW_FORMAT_FIELD_NUMBER: _ClassVar[int]
    JSON_LINES_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    data_type: str
    start_date: str
    end_date: str
    row_format: _donation_pb2.RowFormat
    json_lines: bool
    def __init__(self, donation_id: _Optional[int] = ..., data_type: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., row_format: _Optional[_Union[_donation_pb2.RowFormat, str]] = ..., json_lines: _Optional[bool] = ...) -> None: ...

class ExportDonationDataResponse(_message.Message):
    __slots__ = ("data_type", "rows", "json_rows", "json_lines")
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    JSON_ROWS_FIELD_NUMBER: _ClassVar[int]
    JSON_LINES_FIELD_NUMBER: _ClassVar[int]
    data_type: str
    rows: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    json_rows: _containers.RepeatedScalarFieldContainer[str]
    json_lines: bytes
    def __init__(self, data_type: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., json_rows: _Optional[_Iterable[str]] = ..., json_lines: _Optional[bytes] = ...) -> None: ...

class RetryDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class RetryDonationResponse(_message.Message):
    __slots__ = ("donation",)
    DONATION_FIELD_NUMBER: _ClassVar[int]
    donation: _donation_pb2.Donation
    def __init__(self, donation: _Optional[_Union[_donation_pb2.Donation, _Mapping]] = ...) -> None: ...

class GetMyDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class GetMyDonationResponse(_message.Message):
    __slots__ = ("donation",)
    DONATION_FIELD_NUMBER: _ClassVar[int]
    donation: _donation_pb2.Donation
    def __init__(self, donation: _Optional[_Union[_donation_pb2.Donation, _Mapping]] = ...) -> None: ...

class ListMyDonationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMyDonationsResponse(_message.Message):
    __slots__ = ("donations",)
    DONATIONS_FIELD_NUMBER: _ClassVar[int]
    donations: _containers.RepeatedCompositeFieldContainer[_donation_pb2.Donation]
    def __init__(self, donations: _Optional[_Iterable[_Union[_donation_pb2.Donation, _Mapping]]] = ...) -> None: ...

class WatchMyDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class WatchMyDonationResponse(_message.Message):
    __slots__ = ("donation",)
    DONATION_FIELD_NUMBER: _ClassVar[int]
    donation: _donation_pb2.Donation
    def __init__(self, donation: _Optional[_Union[_donation_pb2.Donation, _Mapping]] = ...) -> None: ...

class QueryMyDonationDataRequest(_message.Message):
    __slots__ = ("donation_id", "data_type", "start_date", "end_date", "page_size", "page_token")
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    data_type: str
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    def __init__(self, donation_id: _Optional[int] = ..., data_type: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class QueryMyDonationDataResponse(_message.Message):
    __slots__ = ("rows", "total_count", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    total_count: int
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., total_count: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteMyDonationRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class DeleteMyDonationResponse(_message.Message):
    __slots__ = ("provider_access",)
    PROVIDER_ACCESS_FIELD_NUMBER: _ClassVar[int]
    provider_access: str
    def __init__(self, provider_access: _Optional[str] = ...) -> None: ...

class CreateParticipantLinkRequest(_message.Message):
    __slots__ = ("donation_id",)
    DONATION_ID_FIELD_NUMBER: _ClassVar[int]
    donation_id: int
    def __init__(self, donation_id: _Optional[int] = ...) -> None: ...

class CreateParticipantLinkResponse(_message.Message):
    __slots__ = ("participant_url",)
    PARTICIPANT_URL_FIELD_NUMBER: _ClassVar[int]
    participant_url: str
    def __init__(self, participant_url: _Optional[str] = ...) -> None: ...

class ListDataSourcesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDataSourcesResponse(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[_donation_pb2.DataSource]
    def __init__(self, sources: _Optional[_Iterable[_Union[_donation_pb2.DataSource, _Mapping]]] = ...) -> None: ...

class LegacyCreateDonationRequest(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class LegacyCreateDonationResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class LegacyListDonationsRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class LegacyListDonationsResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class LegacyGetDonationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LegacyGetDonationResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class LegacyDeleteDonationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LegacyDeleteDonationResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class LegacyQueryDonationDataRequest(_message.Message):
    __slots__ = ("id", "data_type", "start_date", "end_date", "limit", "offset")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    id: str
    data_type: str
    start_date: str
    end_date: str
    limit: str
    offset: str
    def __init__(self, id: _Optional[str] = ..., data_type: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., limit: _Optional[str] = ..., offset: _Optional[str] = ...) -> None: ...

class LegacyQueryDonationDataResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...
