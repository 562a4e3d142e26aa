"""gRPC-web framing and a minimal protobuf reader, so the tests can speak
gRPC-web through Envoy without generated code."""

import struct


def grpc_web_frame(message: bytes) -> bytes:
    """One gRPC-web data frame: flag 0, big-endian length, message."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def grpc_web_frames(body: bytes):
    """(flag, payload) of every frame in a gRPC-web response body."""
    frames = []
    while body:
        assert len(body) >= 5, f"truncated gRPC-web frame header: {body!r}"
        flag, length = body[0], struct.unpack(">I", body[1:5])[0]
        assert len(body) >= 5 + length, "truncated gRPC-web frame"
        frames.append((flag, body[5 : 5 + length]))
        body = body[5 + length :]
    return frames


def grpc_web_trailers(payload: bytes) -> dict:
    """The trailer frame's `name: value` lines as a dict (names lower-cased)."""
    trailers = {}
    for line in payload.decode().split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            trailers[name.strip().lower()] = value.strip()
    return trailers


def proto_fields(message: bytes) -> dict:
    """Field number → list of values of a protobuf message (varints as int,
    length-delimited as bytes): enough to read WhoAmIResponse without codegen."""
    fields, i = {}, 0

    def varint():
        nonlocal i
        shift = value = 0
        while True:
            b = message[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value

    while i < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 2:
            n = varint()
            value, i = message[i : i + n], i + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields
