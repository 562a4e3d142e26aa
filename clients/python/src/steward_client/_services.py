"""Every RPC of a Steward service as a Python method, built from the generated stubs.

`client.dataset` (DatasetService), `client.authorization`
(AuthorizationService), `client.donation` (DonationService), `client.secretshare`
(SecretShareService) and `client.upload` (UploadService) are `Service`
objects with one method per RPC, named in snake_case (`CreateDataset` -> `create_dataset`, `WhoAmI` -> `who_am_i`).
A server-streaming RPC's method returns an iterator over the response messages
(no deadline, as a stream may run long); a client-streaming RPC's method takes
an iterable of request messages and returns the response.
They are derived at run time from the descriptors the generated `_pb2` modules
carry, so a new RPC needs no code here, and every call goes through
`Client._unary` (deadline, credentials, retries on UNAVAILABLE, errors as
`StewardError` subclasses) like the hand-written methods.

A method takes the request's fields as keyword arguments (or one ready-made
request message) and returns the response message. The DSG-compatible RPCs
that speak `google.api.HttpBody` are made to feel like the REST routes they
serve: an HttpBody request field takes any JSON-serialisable value, and a JSON
HttpBody response comes back decoded (dict, list, str, bool).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List

from google.protobuf import message as _message
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from .proto.google.api import httpbody_pb2

if TYPE_CHECKING:
    from ._client import Client

_HTTP_BODY = "google.api.HttpBody"


def snake(name: str) -> str:
    """`WhoAmI` -> `who_am_i`, `GetHTTPThing` -> `get_http_thing` (the R client's rule too)."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Rpc:
    """One RPC: `rpc(**fields)` or `rpc(request)` -> the response (an iterator of
    them for a server stream); a client stream's `rpc(requests)` -> the response."""

    def __init__(self, client: Client, stub_method: Callable[..., Any], method: MethodDescriptor) -> None:
        self._client = client
        self._stub_method = stub_method
        self._input = method.input_type
        self._request_class = message_factory.GetMessageClass(method.input_type)
        self._client_streaming = method.client_streaming
        self._server_streaming = method.server_streaming
        # A stream of HttpBody chunks (DownloadFile) stays bytes: only unary JSON bodies are decoded.
        self._decode_json = method.output_type.full_name == _HTTP_BODY and not method.server_streaming
        self.__name__ = snake(method.name)
        self.full_name = f"/{method.containing_service.full_name}/{method.name}"
        fields = ", ".join(f.name for f in method.input_type.fields) or "no fields"
        if method.client_streaming:
            takes = f"Takes an iterable of {method.input_type.name} messages ({fields}), sent as one stream"
        else:
            takes = f"Keyword arguments are the fields of {method.input_type.name} ({fields})"
        if method.server_streaming:
            returns = f"an iterator over {method.output_type.name} messages"
        else:
            returns = "the decoded JSON body" if self._decode_json else method.output_type.name
        self.__doc__ = (
            f"Calls {self.full_name}.\n\n"
            f"{takes}; returns {returns}. Failures raise steward_client.StewardError subclasses."
        )

    def __call__(self, request: Any = None, /, **fields: Any) -> Any:
        if self._client_streaming:
            if fields or request is None or isinstance(request, (_message.Message, str, bytes)):
                raise TypeError(f"{self.__name__}() takes an iterable of {self._input.full_name} messages")
            return self._client._client_stream(self._stub_method, request)
        if request is not None and fields:
            raise TypeError(f"{self.__name__}() takes a request message or keyword fields, not both")
        if request is None:
            request = self._request(fields)
        elif not isinstance(request, self._request_class):
            raise TypeError(f"{self.__name__}() wants a {self._input.full_name}, got {type(request).__name__}")
        if self._server_streaming:
            return self._client._stream(self._stub_method, request, None)
        response = self._client._unary(self._stub_method, request)
        if self._decode_json and response.content_type.split(";")[0].strip() == "application/json":
            return json.loads(response.data) if response.data else None
        return response

    def _request(self, fields: Dict[str, Any]) -> Any:
        values = {}
        for name, value in fields.items():
            field = self._input.fields_by_name.get(name)
            if field is None:
                known = ", ".join(f.name for f in self._input.fields) or "none"
                raise TypeError(f"{self.__name__}() got an unexpected field {name!r} (fields: {known})")
            if value is None:
                continue  # None leaves the field unset, as in the R client.
            wants_body = field.message_type is not None and field.message_type.full_name == _HTTP_BODY
            if wants_body and not isinstance(value, _message.Message):
                value = httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(value).encode())
            values[name] = value
        return self._request_class(**values)

    def __repr__(self) -> str:
        return f"<steward_client rpc {self.full_name}>"


class Service:
    """The RPCs of one service as methods; `dir(service)` lists them."""

    def __init__(self, client: Client, stub: Any, descriptor: ServiceDescriptor) -> None:
        self.full_name = descriptor.full_name
        self._names: List[str] = []
        for method in descriptor.methods:
            rpc = Rpc(client, getattr(stub, method.name), method)
            setattr(self, rpc.__name__, rpc)
            self._names.append(rpc.__name__)

    @property
    def rpcs(self) -> List[str]:
        """The method names, in the order the proto declares them."""
        return list(self._names)

    def __repr__(self) -> str:
        return f"<steward_client service {self.full_name}: {len(self._names)} RPCs>"
