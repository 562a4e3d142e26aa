import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DonationSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DONATION_SOURCE_UNSPECIFIED: _ClassVar[DonationSource]
    DONATION_SOURCE_GOOGLE_PORTABILITY: _ClassVar[DonationSource]
    DONATION_SOURCE_TIKTOK_PORTABILITY: _ClassVar[DonationSource]

class RowFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_FORMAT_UNSPECIFIED: _ClassVar[RowFormat]
    ROW_FORMAT_STRUCT: _ClassVar[RowFormat]
    ROW_FORMAT_JSON: _ClassVar[RowFormat]

class DonationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DONATION_STATUS_UNSPECIFIED: _ClassVar[DonationStatus]
    DONATION_STATUS_PENDING: _ClassVar[DonationStatus]
    DONATION_STATUS_AUTHORIZED: _ClassVar[DonationStatus]
    DONATION_STATUS_PROCESSING: _ClassVar[DonationStatus]
    DONATION_STATUS_PROCESSED: _ClassVar[DonationStatus]
    DONATION_STATUS_ERROR: _ClassVar[DonationStatus]

class DonationStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DONATION_STAGE_UNSPECIFIED: _ClassVar[DonationStage]
    DONATION_STAGE_CREATED: _ClassVar[DonationStage]
    DONATION_STAGE_LINK_OPENED: _ClassVar[DonationStage]
    DONATION_STAGE_TERMS_ACCEPTED: _ClassVar[DonationStage]
    DONATION_STAGE_AUTHORIZED: _ClassVar[DonationStage]
    DONATION_STAGE_EXPORT_REQUESTED: _ClassVar[DonationStage]
    DONATION_STAGE_WAITING_FOR_PROVIDER: _ClassVar[DonationStage]
    DONATION_STAGE_DOWNLOADING: _ClassVar[DonationStage]
    DONATION_STAGE_PARSING: _ClassVar[DonationStage]
    DONATION_STAGE_DONE: _ClassVar[DonationStage]
    DONATION_STAGE_FAILED: _ClassVar[DonationStage]

class DataTypeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_STATE_UNSPECIFIED: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_REQUESTED: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_EXPORTING: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_DOWNLOADING: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_PARSING: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_AVAILABLE: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_DECLINED: _ClassVar[DataTypeState]
    DATA_TYPE_STATE_FAILED: _ClassVar[DataTypeState]
DONATION_SOURCE_UNSPECIFIED: DonationSource
DONATION_SOURCE_GOOGLE_PORTABILITY: DonationSource
DONATION_SOURCE_TIKTOK_PORTABILITY: DonationSource
ROW_FORMAT_UNSPECIFIED: RowFormat
ROW_FORMAT_STRUCT: RowFormat
ROW_FORMAT_JSON: RowFormat
DONATION_STATUS_UNSPECIFIED: DonationStatus
DONATION_STATUS_PENDING: DonationStatus
DONATION_STATUS_AUTHORIZED: DonationStatus
DONATION_STATUS_PROCESSING: DonationStatus
DONATION_STATUS_PROCESSED: DonationStatus
DONATION_STATUS_ERROR: DonationStatus
DONATION_STAGE_UNSPECIFIED: DonationStage
DONATION_STAGE_CREATED: DonationStage
DONATION_STAGE_LINK_OPENED: DonationStage
DONATION_STAGE_TERMS_ACCEPTED: DonationStage
DONATION_STAGE_AUTHORIZED: DonationStage
DONATION_STAGE_EXPORT_REQUESTED: DonationStage
DONATION_STAGE_WAITING_FOR_PROVIDER: DonationStage
DONATION_STAGE_DOWNLOADING: DonationStage
DONATION_STAGE_PARSING: DonationStage
DONATION_STAGE_DONE: DonationStage
DONATION_STAGE_FAILED: DonationStage
DATA_TYPE_STATE_UNSPECIFIED: DataTypeState
DATA_TYPE_STATE_REQUESTED: DataTypeState
DATA_TYPE_STATE_EXPORTING: DataTypeState
DATA_TYPE_STATE_DOWNLOADING: DataTypeState
DATA_TYPE_STATE_PARSING: DataTypeState
DATA_TYPE_STATE_AVAILABLE: DataTypeState
DATA_TYPE_STATE_DECLINED: DataTypeState
DATA_TYPE_STATE_FAILED: DataTypeState

class Donation(_message.Message):
    __slots__ = ("id", "source", "status", "stage", "create_time", "update_time", "data_start_date", "data_end_date", "requested_data_types", "data_types", "dataset", "description", "error", "terms_accept_time", "authorize_time", "process_time")
    class DataTypesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: DataTypeStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[DataTypeStatus, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_START_DATE_FIELD_NUMBER: _ClassVar[int]
    DATA_END_DATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TERMS_ACCEPT_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    source: DonationSource
    status: DonationStatus
    stage: DonationStage
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    data_start_date: str
    data_end_date: str
    requested_data_types: _containers.RepeatedScalarFieldContainer[str]
    data_types: _containers.MessageMap[str, DataTypeStatus]
    dataset: str
    description: str
    error: DonationError
    terms_accept_time: _timestamp_pb2.Timestamp
    authorize_time: _timestamp_pb2.Timestamp
    process_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., source: _Optional[_Union[DonationSource, str]] = ..., status: _Optional[_Union[DonationStatus, str]] = ..., stage: _Optional[_Union[DonationStage, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_start_date: _Optional[str] = ..., data_end_date: _Optional[str] = ..., requested_data_types: _Optional[_Iterable[str]] = ..., data_types: _Optional[_Mapping[str, DataTypeStatus]] = ..., dataset: _Optional[str] = ..., description: _Optional[str] = ..., error: _Optional[_Union[DonationError, _Mapping]] = ..., terms_accept_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., authorize_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., process_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DataTypeStatus(_message.Message):
    __slots__ = ("state", "rows", "skipped_records", "reason_code")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    state: DataTypeState
    rows: int
    skipped_records: int
    reason_code: str
    def __init__(self, state: _Optional[_Union[DataTypeState, str]] = ..., rows: _Optional[int] = ..., skipped_records: _Optional[int] = ..., reason_code: _Optional[str] = ...) -> None: ...

class DonationError(_message.Message):
    __slots__ = ("code", "message", "participant_can_fix", "researcher_can_retry")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_CAN_FIX_FIELD_NUMBER: _ClassVar[int]
    RESEARCHER_CAN_RETRY_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    participant_can_fix: bool
    researcher_can_retry: bool
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., participant_can_fix: _Optional[bool] = ..., researcher_can_retry: _Optional[bool] = ...) -> None: ...

class DonationEvent(_message.Message):
    __slots__ = ("id", "kind", "create_time", "data_type", "details")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    create_time: _timestamp_pb2.Timestamp
    data_type: str
    details: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_type: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DataSource(_message.Message):
    __slots__ = ("source", "source_type", "provider_name", "enabled", "data_types")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    source: DonationSource
    source_type: str
    provider_name: str
    enabled: bool
    data_types: _containers.RepeatedCompositeFieldContainer[DataTypeInfo]
    def __init__(self, source: _Optional[_Union[DonationSource, str]] = ..., source_type: _Optional[str] = ..., provider_name: _Optional[str] = ..., enabled: _Optional[bool] = ..., data_types: _Optional[_Iterable[_Union[DataTypeInfo, _Mapping]]] = ...) -> None: ...

class DataTypeInfo(_message.Message):
    __slots__ = ("name", "display_name", "description", "resources", "scopes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    resources: _containers.RepeatedScalarFieldContainer[str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., resources: _Optional[_Iterable[str]] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...
