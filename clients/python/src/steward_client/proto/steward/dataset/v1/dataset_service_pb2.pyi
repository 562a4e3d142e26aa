import datetime

from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccessMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_MODE_UNSPECIFIED: _ClassVar[AccessMode]
    ACCESS_MODE_CLOSED: _ClassVar[AccessMode]
    ACCESS_MODE_PUBLIC: _ClassVar[AccessMode]

class AccessLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_LEVEL_UNSPECIFIED: _ClassVar[AccessLevel]
    ACCESS_LEVEL_VIEW: _ClassVar[AccessLevel]
    ACCESS_LEVEL_EDIT: _ClassVar[AccessLevel]
    ACCESS_LEVEL_MANAGE: _ClassVar[AccessLevel]
    ACCESS_LEVEL_ADMIN: _ClassVar[AccessLevel]

class GrantSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_SOURCE_UNSPECIFIED: _ClassVar[GrantSource]
    GRANT_SOURCE_MANUAL: _ClassVar[GrantSource]
    GRANT_SOURCE_SELF_SERVICE: _ClassVar[GrantSource]
    GRANT_SOURCE_IMPORT: _ClassVar[GrantSource]
ACCESS_MODE_UNSPECIFIED: AccessMode
ACCESS_MODE_CLOSED: AccessMode
ACCESS_MODE_PUBLIC: AccessMode
ACCESS_LEVEL_UNSPECIFIED: AccessLevel
ACCESS_LEVEL_VIEW: AccessLevel
ACCESS_LEVEL_EDIT: AccessLevel
ACCESS_LEVEL_MANAGE: AccessLevel
ACCESS_LEVEL_ADMIN: AccessLevel
GRANT_SOURCE_UNSPECIFIED: GrantSource
GRANT_SOURCE_MANUAL: GrantSource
GRANT_SOURCE_SELF_SERVICE: GrantSource
GRANT_SOURCE_IMPORT: GrantSource

class Dataset(_message.Message):
    __slots__ = ("id", "name", "description", "access_mode", "tos_document_id", "buckets", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MODE_FIELD_NUMBER: _ClassVar[int]
    TOS_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    description: str
    access_mode: AccessMode
    tos_document_id: int
    buckets: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., access_mode: _Optional[_Union[AccessMode, str]] = ..., tos_document_id: _Optional[int] = ..., buckets: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("id", "dataset", "version", "prefix", "is_public", "buckets")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    id: int
    dataset: str
    version: str
    prefix: str
    is_public: bool
    buckets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., dataset: _Optional[str] = ..., version: _Optional[str] = ..., prefix: _Optional[str] = ..., is_public: _Optional[bool] = ..., buckets: _Optional[_Iterable[str]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("id", "dataset", "version", "level", "user_email", "group", "service_account", "team_group", "source", "granted_by", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TEAM_GROUP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    dataset: str
    version: str
    level: AccessLevel
    user_email: str
    group: str
    service_account: str
    team_group: str
    source: GrantSource
    granted_by: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., dataset: _Optional[str] = ..., version: _Optional[str] = ..., level: _Optional[_Union[AccessLevel, str]] = ..., user_email: _Optional[str] = ..., group: _Optional[str] = ..., service_account: _Optional[str] = ..., team_group: _Optional[str] = ..., source: _Optional[_Union[GrantSource, str]] = ..., granted_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("id", "name", "member_count", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    member_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., member_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GroupMember(_message.Message):
    __slots__ = ("user_id", "email", "is_admin")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    email: str
    is_admin: bool
    def __init__(self, user_id: _Optional[int] = ..., email: _Optional[str] = ..., is_admin: _Optional[bool] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
    __slots__ = ("name", "description", "access_mode", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    access_mode: AccessMode
    request_id: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., access_mode: _Optional[_Union[AccessMode, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateDatasetRequest(_message.Message):
    __slots__ = ("name", "description", "access_mode", "tos_document_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MODE_FIELD_NUMBER: _ClassVar[int]
    TOS_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    access_mode: AccessMode
    tos_document_id: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., access_mode: _Optional[_Union[AccessMode, str]] = ..., tos_document_id: _Optional[int] = ...) -> None: ...

class UpdateDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset", "version", "prefix", "is_public", "buckets", "request_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    prefix: str
    is_public: bool
    buckets: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., prefix: _Optional[str] = ..., is_public: _Optional[bool] = ..., buckets: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateDatasetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class ListDatasetVersionsRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ...) -> None: ...

class BucketSet(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset", "version", "prefix", "is_public", "buckets")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    prefix: str
    is_public: bool
    buckets: BucketSet
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., prefix: _Optional[str] = ..., is_public: _Optional[bool] = ..., buckets: _Optional[_Union[BucketSet, _Mapping]] = ...) -> None: ...

class UpdateDatasetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class DeleteDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class DeleteDatasetVersionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddDatasetBucketRequest(_message.Message):
    __slots__ = ("dataset", "bucket")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    bucket: str
    def __init__(self, dataset: _Optional[str] = ..., bucket: _Optional[str] = ...) -> None: ...

class AddDatasetBucketResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class RemoveDatasetBucketRequest(_message.Message):
    __slots__ = ("dataset", "bucket")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    bucket: str
    def __init__(self, dataset: _Optional[str] = ..., bucket: _Optional[str] = ...) -> None: ...

class RemoveDatasetBucketResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class CreateGrantRequest(_message.Message):
    __slots__ = ("dataset", "user_email", "group", "service_account", "level", "version", "request_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    user_email: str
    group: str
    service_account: str
    level: AccessLevel
    version: str
    request_id: str
    def __init__(self, dataset: _Optional[str] = ..., user_email: _Optional[str] = ..., group: _Optional[str] = ..., service_account: _Optional[str] = ..., level: _Optional[_Union[AccessLevel, str]] = ..., version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateGrantResponse(_message.Message):
    __slots__ = ("grant", "created")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    created: bool
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class DeleteGrantRequest(_message.Message):
    __slots__ = ("dataset", "grant_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    grant_id: int
    def __init__(self, dataset: _Optional[str] = ..., grant_id: _Optional[int] = ...) -> None: ...

class DeleteGrantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("dataset", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddDatasetAdminRequest(_message.Message):
    __slots__ = ("dataset", "user_email")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    user_email: str
    def __init__(self, dataset: _Optional[str] = ..., user_email: _Optional[str] = ...) -> None: ...

class AddDatasetAdminResponse(_message.Message):
    __slots__ = ("grant", "created")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    created: bool
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class RemoveDatasetAdminRequest(_message.Message):
    __slots__ = ("dataset", "user_email")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    user_email: str
    def __init__(self, dataset: _Optional[str] = ..., user_email: _Optional[str] = ...) -> None: ...

class RemoveDatasetAdminResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatasetAdminsRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class ListDatasetAdminsResponse(_message.Message):
    __slots__ = ("user_emails",)
    USER_EMAILS_FIELD_NUMBER: _ClassVar[int]
    user_emails: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_emails: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGroupRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    next_page_token: str
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateGroupRequest(_message.Message):
    __slots__ = ("name", "new_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    new_name: str
    def __init__(self, name: _Optional[str] = ..., new_name: _Optional[str] = ...) -> None: ...

class UpdateGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class DeleteGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddGroupMemberRequest(_message.Message):
    __slots__ = ("group", "user_email")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    group: str
    user_email: str
    def __init__(self, group: _Optional[str] = ..., user_email: _Optional[str] = ...) -> None: ...

class AddGroupMemberResponse(_message.Message):
    __slots__ = ("member", "created")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    member: GroupMember
    created: bool
    def __init__(self, member: _Optional[_Union[GroupMember, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class RemoveGroupMemberRequest(_message.Message):
    __slots__ = ("group", "user_email")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    group: str
    user_email: str
    def __init__(self, group: _Optional[str] = ..., user_email: _Optional[str] = ...) -> None: ...

class RemoveGroupMemberResponse(_message.Message):
    __slots__ = ("revoked_team_grants",)
    REVOKED_TEAM_GRANTS_FIELD_NUMBER: _ClassVar[int]
    revoked_team_grants: int
    def __init__(self, revoked_team_grants: _Optional[int] = ...) -> None: ...

class ListGroupMembersRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class ListGroupMembersResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[GroupMember]
    def __init__(self, members: _Optional[_Iterable[_Union[GroupMember, _Mapping]]] = ...) -> None: ...

class SetGroupAdminRequest(_message.Message):
    __slots__ = ("group", "user_email", "is_admin")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    group: str
    user_email: str
    is_admin: bool
    def __init__(self, group: _Optional[str] = ..., user_email: _Optional[str] = ..., is_admin: _Optional[bool] = ...) -> None: ...

class SetGroupAdminResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: GroupMember
    def __init__(self, member: _Optional[_Union[GroupMember, _Mapping]] = ...) -> None: ...

class CreateTeamGrantRequest(_message.Message):
    __slots__ = ("group", "user_email", "dataset", "level", "request_id")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    group: str
    user_email: str
    dataset: str
    level: AccessLevel
    request_id: str
    def __init__(self, group: _Optional[str] = ..., user_email: _Optional[str] = ..., dataset: _Optional[str] = ..., level: _Optional[_Union[AccessLevel, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTeamGrantResponse(_message.Message):
    __slots__ = ("grant", "created")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    created: bool
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class DeleteTeamGrantRequest(_message.Message):
    __slots__ = ("group", "grant_id")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    group: str
    grant_id: int
    def __init__(self, group: _Optional[str] = ..., grant_id: _Optional[int] = ...) -> None: ...

class DeleteTeamGrantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTeamGrantsRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class ListTeamGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class ServiceAccount(_message.Message):
    __slots__ = ("id", "name", "email", "description", "is_active", "token_count", "grant_count", "created_by", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    GRANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    email: str
    description: str
    is_active: bool
    token_count: int
    grant_count: int
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., description: _Optional[str] = ..., is_active: _Optional[bool] = ..., token_count: _Optional[int] = ..., grant_count: _Optional[int] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ServiceAccountToken(_message.Message):
    __slots__ = ("id", "description", "create_time", "last_used_time", "expire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    description: str
    create_time: _timestamp_pb2.Timestamp
    last_used_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateServiceAccountRequest(_message.Message):
    __slots__ = ("name", "description", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateServiceAccountResponse(_message.Message):
    __slots__ = ("service_account",)
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    service_account: ServiceAccount
    def __init__(self, service_account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class GetServiceAccountRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetServiceAccountResponse(_message.Message):
    __slots__ = ("service_account",)
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    service_account: ServiceAccount
    def __init__(self, service_account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class ListServiceAccountsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServiceAccountsResponse(_message.Message):
    __slots__ = ("service_accounts", "next_page_token")
    SERVICE_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service_accounts: _containers.RepeatedCompositeFieldContainer[ServiceAccount]
    next_page_token: str
    def __init__(self, service_accounts: _Optional[_Iterable[_Union[ServiceAccount, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateServiceAccountRequest(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateServiceAccountResponse(_message.Message):
    __slots__ = ("service_account",)
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    service_account: ServiceAccount
    def __init__(self, service_account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class SetServiceAccountActiveRequest(_message.Message):
    __slots__ = ("name", "is_active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    is_active: bool
    def __init__(self, name: _Optional[str] = ..., is_active: _Optional[bool] = ...) -> None: ...

class SetServiceAccountActiveResponse(_message.Message):
    __slots__ = ("service_account",)
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    service_account: ServiceAccount
    def __init__(self, service_account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class DeleteServiceAccountRequest(_message.Message):
    __slots__ = ("name", "confirm_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    confirm_name: str
    def __init__(self, name: _Optional[str] = ..., confirm_name: _Optional[str] = ...) -> None: ...

class DeleteServiceAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateServiceAccountTokenRequest(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreateServiceAccountTokenResponse(_message.Message):
    __slots__ = ("token_info", "token")
    TOKEN_INFO_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token_info: ServiceAccountToken
    token: str
    def __init__(self, token_info: _Optional[_Union[ServiceAccountToken, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListServiceAccountTokensRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListServiceAccountTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[ServiceAccountToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[ServiceAccountToken, _Mapping]]] = ...) -> None: ...

class RevokeServiceAccountTokenRequest(_message.Message):
    __slots__ = ("name", "token_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    token_id: int
    def __init__(self, name: _Optional[str] = ..., token_id: _Optional[int] = ...) -> None: ...

class RevokeServiceAccountTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TosDocument(_message.Message):
    __slots__ = ("id", "name", "text", "text_sha256", "dataset", "version", "service", "invite_token", "effective_time", "retire_time", "is_current", "acceptance_count", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RETIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_CURRENT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    text: str
    text_sha256: str
    dataset: str
    version: str
    service: str
    invite_token: str
    effective_time: _timestamp_pb2.Timestamp
    retire_time: _timestamp_pb2.Timestamp
    is_current: bool
    acceptance_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., text: _Optional[str] = ..., text_sha256: _Optional[str] = ..., dataset: _Optional[str] = ..., version: _Optional[str] = ..., service: _Optional[str] = ..., invite_token: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_current: _Optional[bool] = ..., acceptance_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TosAcceptance(_message.Message):
    __slots__ = ("user_email", "accept_time", "text_sha256", "user_agent")
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_TIME_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    user_email: str
    accept_time: _timestamp_pb2.Timestamp
    text_sha256: str
    user_agent: str
    def __init__(self, user_email: _Optional[str] = ..., accept_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text_sha256: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class CreateTosDocumentRequest(_message.Message):
    __slots__ = ("name", "text", "dataset", "version", "service", "effective_time", "retire_time", "make_current", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RETIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAKE_CURRENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    text: str
    dataset: str
    version: str
    service: str
    effective_time: _timestamp_pb2.Timestamp
    retire_time: _timestamp_pb2.Timestamp
    make_current: bool
    request_id: str
    def __init__(self, name: _Optional[str] = ..., text: _Optional[str] = ..., dataset: _Optional[str] = ..., version: _Optional[str] = ..., service: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., make_current: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTosDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: TosDocument
    def __init__(self, document: _Optional[_Union[TosDocument, _Mapping]] = ...) -> None: ...

class GetTosDocumentRequest(_message.Message):
    __slots__ = ("id", "invite_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    invite_token: str
    def __init__(self, id: _Optional[int] = ..., invite_token: _Optional[str] = ...) -> None: ...

class GetTosDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: TosDocument
    def __init__(self, document: _Optional[_Union[TosDocument, _Mapping]] = ...) -> None: ...

class ListTosDocumentsRequest(_message.Message):
    __slots__ = ("dataset", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTosDocumentsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[TosDocument]
    next_page_token: str
    def __init__(self, documents: _Optional[_Iterable[_Union[TosDocument, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTosDocumentRequest(_message.Message):
    __slots__ = ("id", "name", "text", "effective_time", "retire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RETIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    text: str
    effective_time: _timestamp_pb2.Timestamp
    retire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., text: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateTosDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: TosDocument
    def __init__(self, document: _Optional[_Union[TosDocument, _Mapping]] = ...) -> None: ...

class RotateTosInviteTokenRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RotateTosInviteTokenResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: TosDocument
    def __init__(self, document: _Optional[_Union[TosDocument, _Mapping]] = ...) -> None: ...

class AcceptTosRequest(_message.Message):
    __slots__ = ("id", "invite_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    invite_token: str
    def __init__(self, id: _Optional[int] = ..., invite_token: _Optional[str] = ...) -> None: ...

class AcceptTosResponse(_message.Message):
    __slots__ = ("document", "newly_accepted", "view_granted")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    NEWLY_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    VIEW_GRANTED_FIELD_NUMBER: _ClassVar[int]
    document: TosDocument
    newly_accepted: bool
    view_granted: bool
    def __init__(self, document: _Optional[_Union[TosDocument, _Mapping]] = ..., newly_accepted: _Optional[bool] = ..., view_granted: _Optional[bool] = ...) -> None: ...

class ListTosAcceptancesRequest(_message.Message):
    __slots__ = ("id", "page_size", "page_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    page_size: int
    page_token: str
    def __init__(self, id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTosAcceptancesResponse(_message.Message):
    __slots__ = ("acceptances", "next_page_token")
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    acceptances: _containers.RepeatedCompositeFieldContainer[TosAcceptance]
    next_page_token: str
    def __init__(self, acceptances: _Optional[_Iterable[_Union[TosAcceptance, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListPendingTosRequest(_message.Message):
    __slots__ = ("dataset", "service", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service: str
    version: str
    def __init__(self, dataset: _Optional[str] = ..., service: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ListPendingTosResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[TosDocument]
    def __init__(self, documents: _Optional[_Iterable[_Union[TosDocument, _Mapping]]] = ...) -> None: ...

class ServiceTable(_message.Message):
    __slots__ = ("id", "dataset", "service_name", "table_name", "public_root_count", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_ROOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    dataset: str
    service_name: str
    table_name: str
    public_root_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., dataset: _Optional[str] = ..., service_name: _Optional[str] = ..., table_name: _Optional[str] = ..., public_root_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddServiceTableRequest(_message.Message):
    __slots__ = ("dataset", "service_name", "table_name")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service_name: str
    table_name: str
    def __init__(self, dataset: _Optional[str] = ..., service_name: _Optional[str] = ..., table_name: _Optional[str] = ...) -> None: ...

class AddServiceTableResponse(_message.Message):
    __slots__ = ("service_table",)
    SERVICE_TABLE_FIELD_NUMBER: _ClassVar[int]
    service_table: ServiceTable
    def __init__(self, service_table: _Optional[_Union[ServiceTable, _Mapping]] = ...) -> None: ...

class RemoveServiceTableRequest(_message.Message):
    __slots__ = ("dataset", "service_table_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service_table_id: int
    def __init__(self, dataset: _Optional[str] = ..., service_table_id: _Optional[int] = ...) -> None: ...

class RemoveServiceTableResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServiceTablesRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class ListServiceTablesResponse(_message.Message):
    __slots__ = ("service_tables",)
    SERVICE_TABLES_FIELD_NUMBER: _ClassVar[int]
    service_tables: _containers.RepeatedCompositeFieldContainer[ServiceTable]
    def __init__(self, service_tables: _Optional[_Iterable[_Union[ServiceTable, _Mapping]]] = ...) -> None: ...

class AddPublicRootRequest(_message.Message):
    __slots__ = ("dataset", "service_table_id", "root_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service_table_id: int
    root_id: int
    def __init__(self, dataset: _Optional[str] = ..., service_table_id: _Optional[int] = ..., root_id: _Optional[int] = ...) -> None: ...

class AddPublicRootResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class RemovePublicRootRequest(_message.Message):
    __slots__ = ("dataset", "service_table_id", "root_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service_table_id: int
    root_id: int
    def __init__(self, dataset: _Optional[str] = ..., service_table_id: _Optional[int] = ..., root_id: _Optional[int] = ...) -> None: ...

class RemovePublicRootResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPublicRootsRequest(_message.Message):
    __slots__ = ("dataset", "service_table_id", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    service_table_id: int
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., service_table_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPublicRootsResponse(_message.Message):
    __slots__ = ("root_ids", "next_page_token")
    ROOT_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    root_ids: _containers.RepeatedScalarFieldContainer[int]
    next_page_token: str
    def __init__(self, root_ids: _Optional[_Iterable[int]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "create_time", "actor", "action", "target_type", "target_id", "before_state", "after_state", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_STATE_FIELD_NUMBER: _ClassVar[int]
    AFTER_STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    create_time: _timestamp_pb2.Timestamp
    actor: str
    action: str
    target_type: str
    target_id: str
    before_state: _struct_pb2.Struct
    after_state: _struct_pb2.Struct
    request_id: str
    def __init__(self, id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target_type: _Optional[str] = ..., target_id: _Optional[str] = ..., before_state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after_state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListAuditLogRequest(_message.Message):
    __slots__ = ("actor", "action", "target_type", "target_id", "since", "until", "page_size", "page_token")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actor: str
    action: str
    target_type: str
    target_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, actor: _Optional[str] = ..., action: _Optional[str] = ..., target_type: _Optional[str] = ..., target_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditLogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "name", "display_name", "base_url", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    display_name: str
    base_url: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., base_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateServiceRequest(_message.Message):
    __slots__ = ("name", "display_name", "base_url", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    base_url: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., base_url: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: Service
    def __init__(self, service: _Optional[_Union[Service, _Mapping]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    def __init__(self, services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("name", "display_name", "base_url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    base_url: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., base_url: _Optional[str] = ...) -> None: ...

class UpdateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: Service
    def __init__(self, service: _Optional[_Union[Service, _Mapping]] = ...) -> None: ...

class DeleteServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MiddleauthApp(_message.Message):
    __slots__ = ("id", "name", "url", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    url: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMiddleauthAppRequest(_message.Message):
    __slots__ = ("name", "url", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    url: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., url: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMiddleauthAppResponse(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: MiddleauthApp
    def __init__(self, app: _Optional[_Union[MiddleauthApp, _Mapping]] = ...) -> None: ...

class ListMiddleauthAppsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMiddleauthAppsResponse(_message.Message):
    __slots__ = ("apps", "next_page_token")
    APPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[MiddleauthApp]
    next_page_token: str
    def __init__(self, apps: _Optional[_Iterable[_Union[MiddleauthApp, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteMiddleauthAppRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class DeleteMiddleauthAppResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
