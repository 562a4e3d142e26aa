from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from steward_client.proto.google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("id", "email", "name", "admin", "roles", "picture_url", "is_active", "groups", "service_account", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PICTURE_URL_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: int
    email: str
    name: str
    admin: bool
    roles: _containers.RepeatedScalarFieldContainer[str]
    picture_url: str
    is_active: bool
    groups: _containers.RepeatedScalarFieldContainer[str]
    service_account: bool
    description: str
    def __init__(self, id: _Optional[int] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., admin: _Optional[bool] = ..., roles: _Optional[_Iterable[str]] = ..., picture_url: _Optional[str] = ..., is_active: _Optional[bool] = ..., groups: _Optional[_Iterable[str]] = ..., service_account: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class GetUserCacheRequest(_message.Message):
    __slots__ = ("service", "dsg_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DSG_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    dsg_token: str
    def __init__(self, service: _Optional[str] = ..., dsg_token: _Optional[str] = ...) -> None: ...

class CheckAccessRequest(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class ListAccessibleDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetDatasetVersionsRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class WhoAmIJsonRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUserPermissionsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class GetUsernamesRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetUsersRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetGroupUsersRequest(_message.Message):
    __slots__ = ("group_id",)
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    def __init__(self, group_id: _Optional[int] = ...) -> None: ...

class GetGroupMembersRequest(_message.Message):
    __slots__ = ("group_name",)
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    group_name: str
    def __init__(self, group_name: _Optional[str] = ...) -> None: ...

class GetTableDatasetRequest(_message.Message):
    __slots__ = ("namespace", "table_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    table_id: str
    def __init__(self, namespace: _Optional[str] = ..., table_id: _Optional[str] = ...) -> None: ...

class GetTableHasPublicRequest(_message.Message):
    __slots__ = ("table_id",)
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    def __init__(self, table_id: _Optional[str] = ...) -> None: ...

class GetRootIsPublicRequest(_message.Message):
    __slots__ = ("table_id", "root_id")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    root_id: int
    def __init__(self, table_id: _Optional[str] = ..., root_id: _Optional[int] = ...) -> None: ...

class GetRootsArePublicRequest(_message.Message):
    __slots__ = ("table_id", "body")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    body: _httpbody_pb2.HttpBody
    def __init__(self, table_id: _Optional[str] = ..., body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetLongLivedTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateLongLivedTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUserTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
