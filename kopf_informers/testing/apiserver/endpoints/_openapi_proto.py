"""The ``/openapi/v2`` document as protobuf, the only form client-go asks it in.

client-go's ``OpenAPISchema()`` sends ``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and nothing else, and decodes the
answer as gnostic's ``openapi.v2.Document`` (google/gnostic-models, ``OpenAPIv2.proto``); a
JSON answer fails to decode. :func:`encode_document` writes that message from the JSON
document, with the protobuf wire format written by hand (varints and length-delimited fields:
this needs no protobuf runtime or generated code).

Encoded: what kube-openapi and kubectl read of it — the document's paths (operations with
their parameters, ``consumes``, responses and vendor extensions such as
``x-kubernetes-group-version-kind``) and definitions (schemas with their references, types,
formats, properties, items, ``additionalProperties``, ``required``, ``allOf``, ``enum``,
defaults and vendor extensions such as ``x-kubernetes-patch-merge-key``). Values that are not
schemas (``default``, ``enum``, ``example``, vendor extensions) are gnostic ``Any``\\ s holding
their YAML text (JSON is YAML). Other Swagger fields are left out.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

# Schema: field numbers of gnostic's openapi.v2.Schema, by JSON key.
_SCHEMA_STRINGS: Final = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13,
                          "discriminator": 26}
_SCHEMA_DOUBLES: Final = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_SCHEMA_BOOLS: Final = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16,
                        "readOnly": 27}
_SCHEMA_INTS: Final = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15,
                       "maxProperties": 17, "minProperties": 18}
# PathItem, and the query and path parameters' sub-schemas.
_OPERATIONS: Final = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7,
                      "patch": 8}
_QUERY: Final = {"required": 1, "in": 2, "description": 3, "name": 4, "type": 6, "format": 7,
                 "uniqueItems": 20}
_PATH: Final = {"required": 1, "in": 2, "description": 3, "name": 4, "type": 5, "format": 6,
                "uniqueItems": 19}


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The gnostic ``openapi.v2.Document`` of a Swagger 2.0 JSON document."""
    out = bytearray()
    _string(out, 1, document.get("swagger", "2.0"))
    info = document.get("info") or {}
    _message(out, 2, _fields(info, {"title": 1, "version": 2, "description": 3}))
    paths = document.get("paths") or {}
    _message(out, 8, b"".join(
        _submessage(2, _named(name, _path_item(item))) for name, item in paths.items()))
    definitions = document.get("definitions") or {}
    _message(out, 9, b"".join(
        _submessage(1, _named(name, _schema(schema))) for name, schema in definitions.items()))
    return bytes(out)


# -- messages -------------------------------------------------------------------------------------


def _schema(schema: Mapping[str, Any]) -> bytes:
    out = bytearray()
    for key, value in schema.items():
        if key in _SCHEMA_STRINGS:
            _string(out, _SCHEMA_STRINGS[key], value)
        elif key in _SCHEMA_DOUBLES:
            _double(out, _SCHEMA_DOUBLES[key], value)
        elif key in _SCHEMA_BOOLS:
            _bool(out, _SCHEMA_BOOLS[key], value)
        elif key in _SCHEMA_INTS:
            _varint_field(out, _SCHEMA_INTS[key], value)
        elif key == "default":
            _message(out, 5, _any(value))
        elif key == "required":
            for name in value:
                _string(out, 19, name)
        elif key == "enum":
            for item in value:
                _message(out, 20, _any(item))
        elif key == "additionalProperties":
            inner = _submessage(1, _schema(value)) if isinstance(value, Mapping) else \
                _bool_bytes(2, bool(value))
            _message(out, 21, inner)
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            _message(out, 22, b"".join(_string_bytes(1, t) for t in types))
        elif key == "items":
            items = value if isinstance(value, list) else [value]
            _message(out, 23, b"".join(_submessage(1, _schema(i)) for i in items))
        elif key == "allOf":
            for sub in value:
                _message(out, 24, _schema(sub))
        elif key == "properties":
            _message(out, 25, b"".join(
                _submessage(1, _named(name, _schema(sub))) for name, sub in value.items()))
        elif key == "example":
            _message(out, 30, _any(value))
        elif key.startswith("x-"):
            _message(out, 31, _named(key, _any(value)))
    return bytes(out)


def _path_item(item: Mapping[str, Any]) -> bytes:
    out = bytearray()
    for key, value in item.items():
        if key in _OPERATIONS:
            _message(out, _OPERATIONS[key], _operation(value))
        elif key == "parameters":
            for parameter in value:
                _message(out, 9, _parameter(parameter))
    return bytes(out)


def _operation(operation: Mapping[str, Any]) -> bytes:
    out = bytearray()
    for tag in operation.get("tags", ()):
        _string(out, 1, tag)
    _string(out, 3, operation.get("description", ""))
    _string(out, 5, operation.get("operationId", ""))
    for media in operation.get("produces", ()):
        _string(out, 6, media)
    for media in operation.get("consumes", ()):
        _string(out, 7, media)
    for parameter in operation.get("parameters", ()):
        _message(out, 8, _parameter(parameter))
    responses = operation.get("responses") or {}
    _message(out, 9, b"".join(_submessage(1, _named(code, _submessage(1, _response(answer))))
                              for code, answer in responses.items()))
    for key, value in operation.items():
        if key.startswith("x-"):
            _message(out, 13, _named(key, _any(value)))
    return bytes(out)


def _parameter(parameter: Mapping[str, Any]) -> bytes:
    """A ``ParametersItem`` holding a ``Parameter``: a body one, or a query or path one."""
    if parameter.get("in") == "body":
        body = _fields(parameter, {"description": 1, "name": 2, "in": 3, "required": 4})
        body += _submessage(5, _schema(parameter.get("schema") or {}))
        inner = _submessage(1, body)
    else:
        numbers, which = (_PATH, 4) if parameter.get("in") == "path" else (_QUERY, 3)
        inner = _submessage(2, _submessage(which, _fields(parameter, numbers)))
    return _submessage(1, inner)


def _response(answer: Mapping[str, Any]) -> bytes:
    out = bytearray(_string_bytes(1, answer.get("description", "")))
    if "schema" in answer:
        _message(out, 2, _submessage(1, _schema(answer["schema"])))
    return bytes(out)


def _named(name: str, value: bytes) -> bytes:
    return _string_bytes(1, name) + _submessage(2, value)


def _any(value: Any) -> bytes:
    """gnostic's ``Any``: the value's YAML text in field 2."""
    return _string_bytes(2, json.dumps(value, separators=(",", ":")))


def _fields(values: Mapping[str, Any], numbers: Mapping[str, int]) -> bytes:
    """Strings and booleans of a flat message, by their JSON keys."""
    out = bytearray()
    for key, number in numbers.items():
        value = values.get(key)
        if isinstance(value, bool):
            _bool(out, number, value)
        elif isinstance(value, str):
            _string(out, number, value)
    return bytes(out)


# -- the wire format --------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers as two's complement, in ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _submessage(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _string_bytes(number: int, value: str) -> bytes:
    return _submessage(number, value.encode("utf-8")) if value else b""


def _bool_bytes(number: int, value: bool) -> bytes:
    return _key(number, 0) + _varint(1) if value else b""


def _appender(encode: Callable[[int, Any], bytes]) -> Callable[[bytearray, int, Any], None]:
    def append(out: bytearray, number: int, value: Any) -> None:
        out += encode(number, value)
    return append


_string = _appender(_string_bytes)
_bool = _appender(_bool_bytes)
_message = _appender(lambda number, payload: _submessage(number, payload) if payload else b"")
_double = _appender(lambda number, value: _key(number, 1) + struct.pack("<d", float(value)))
_varint_field = _appender(lambda number, value: _key(number, 0) + _varint(int(value)))
