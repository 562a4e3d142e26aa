from steward_client.proto.google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

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
