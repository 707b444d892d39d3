"""A small protobuf encoder for tests, driven by the server's own field table.

It writes JSON objects as client-go writes them (``k8s\\x00`` + ``runtime.Unknown`` + the typed
message), so that tests can round-trip objects through the server's decoder. It is strict where
the decoder is lenient: a key the table does not know is an error here, so that a test object
with a typo (or a table missing an inlined struct) fails loudly instead of losing a field.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
from typing import Any

from kopf_informers.testing.apiserver.apimachinery._protobuf import MAGIC, message_of, table

_SIGNED_VARINTS = {"int32", "int64"}
_VARINTS = _SIGNED_VARINTS | {"uint32", "uint64", "bool"}


def encode_object(obj: dict[str, Any], *, packed: bool = False) -> bytes:
    """A JSON object (with ``apiVersion`` and ``kind``) as a protobuf request body."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = message_of(api_version, kind)
    assert name is not None, f"no message for {api_version} {kind}"
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    raw = encode_message(name, body, packed=packed)
    type_meta = encode_message("runtime.TypeMeta", {"apiVersion": api_version, "kind": kind})
    return MAGIC + field(1, type_meta) + field(2, raw)


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers: ten bytes of two's complement, as Go writes them
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def field(number: int, data: bytes) -> bytes:
    """A length-delimited field."""
    return key(number, 2) + varint(len(data)) + data


def scalar(number: int, type_: str, value: Any) -> bytes:
    if type_ in _VARINTS:
        return key(number, 0) + varint(int(value))
    if type_ == "string":
        return field(number, value.encode())
    if type_ == "bytes":
        return field(number, base64.b64decode(value))
    if type_ == "double":
        return key(number, 1) + struct.pack("<d", value)
    if type_ == "float":
        return key(number, 5) + struct.pack("<f", value)
    raise AssertionError(f"no encoder for {type_}")


def encode_message(name: str, value: Any, *, packed: bool = False) -> bytes:
    special = _SPECIAL.get(name)
    if special is not None:
        return special(value)
    fields = table().messages[name]
    known = set()
    out = bytearray()
    for number, spec in sorted(fields.items()):
        if spec.shape == "inline":
            names = {f.name for f in table().messages[spec.type].values()}
            known |= names
            part = {k: v for k, v in value.items() if k in names}
            if part:
                out += field(number, encode_message(spec.type, part, packed=packed))
            continue
        known.add(spec.name)
        if spec.name not in value:
            continue
        item = value[spec.name]
        if spec.shape == "map":
            for k, v in item.items():
                out += field(number, scalar(1, spec.type, k) + _value(2, spec.value, v, packed))
        elif spec.shape == "repeated" and packed and spec.type in _VARINTS:
            out += field(number, b"".join(varint(int(v)) for v in item))
        elif spec.shape == "repeated":
            for v in item:
                out += _value(number, spec.type, v, packed)
        else:
            out += _value(number, spec.type, item, packed)
    unknown = set(value) - known
    assert not unknown, f"{name} has no fields {sorted(unknown)}"
    return bytes(out)


def _value(number: int, type_: str, value: Any, packed: bool) -> bytes:
    if type_ in table().messages:
        return field(number, encode_message(type_, value, packed=packed))
    return scalar(number, type_, value)


def _time(value: str | None, *, micro: bool = False) -> bytes:
    if value is None:
        return b""
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    seconds = int(moment.timestamp())
    nanos = moment.microsecond * 1000 if micro else 0
    return scalar(1, "int64", seconds) + (scalar(2, "int32", nanos) if nanos else b"")


def _int_or_string(value: int | str) -> bytes:
    if isinstance(value, int):
        return scalar(1, "int64", 0) + scalar(2, "int32", value)
    return scalar(1, "int64", 1) + scalar(3, "string", value)


def _embedded(value: Any) -> bytes:
    return b"" if value is None else field(1, json.dumps(value).encode())


def _schema_or(list_field: int) -> Any:
    def encode(value: Any) -> bytes:
        if isinstance(value, list):
            type_ = "string" if value and isinstance(value[0], str) else None
            if type_:
                return b"".join(scalar(list_field, "string", v) for v in value)
            return b"".join(field(list_field, encode_message("apiextensions.v1.JSONSchemaProps",
                                                             v)) for v in value)
        return field(1, encode_message("apiextensions.v1.JSONSchemaProps", value))

    return encode


def _schema_or_bool(value: Any) -> bytes:
    if isinstance(value, bool):
        return scalar(1, "bool", value)
    # As Go's JSONSchemaPropsOrBool.UnmarshalJSON: a schema allows.
    return scalar(1, "bool", True) + field(
        2, encode_message("apiextensions.v1.JSONSchemaProps", value))


_SPECIAL: dict[str, Any] = {
    "meta.v1.Time": _time,
    "meta.v1.MicroTime": lambda value: _time(value, micro=True),
    "api.resource.Quantity": lambda value: scalar(1, "string", value),
    "util.intstr.IntOrString": _int_or_string,
    "runtime.RawExtension": _embedded,
    "meta.v1.FieldsV1": _embedded,
    "apiextensions.v1.JSON": _embedded,
    "apiextensions.v1.JSONSchemaPropsOrBool": _schema_or_bool,
    "apiextensions.v1.JSONSchemaPropsOrArray": _schema_or(2),
    "apiextensions.v1.JSONSchemaPropsOrStringArray": _schema_or(2),
}
