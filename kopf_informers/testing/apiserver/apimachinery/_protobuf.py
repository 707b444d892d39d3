"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``), decoded into JSON objects.

Where it sits: client-go sends built-in kinds as protobuf (``kubectl create configmap``, Helm's
release Secrets, every Go client); the content-type table (``_negotiation.BODY_TYPES``) decodes
their create and update bodies with :func:`decode_object`, DELETE bodies with it too, and hands
on the same JSON-shaped dicts a JSON body would have given. Custom resources have no protobuf
form: negotiation refuses it for them (415) before anything here runs.

The format, as kube-apiserver's ``runtime/serializer/protobuf`` writes it::

    "k8s\\x00"  runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}
                                                          └─ the typed message, e.g. core.v1.Secret

A generic wire decoder (varints, fixed 64/32-bit, length-delimited fields; packed or unpacked
repeated scalars; maps as repeated key/value entries) is driven by a field table derived from
the upstream ``generated.proto`` files by ``tools/proto_table.py`` and checked in beside this
module (``_protobuf_table.json``: the source commits are in it). The types with a JSON form of
their own are mapped to it, as their Go JSON marshalers write it::

    meta.v1.Time, MicroTime      RFC 3339 string, in seconds / microseconds (zero time: null)
    meta.v1.Duration             Go duration string ("1h0m0s")
    api.resource.Quantity        its string
    util.intstr.IntOrString      an int or a string, as its type says
    runtime.RawExtension, FieldsV1, apiextensions JSON     the embedded JSON
    apiextensions JSONSchemaPropsOr{Bool,Array,StringArray} a bool / array, or the schema
    bytes (Secret.data)          base64, as encoding/json writes []byte

Embedded Go structs (``Volume``'s ``VolumeSource``...) are merged into their parent, as JSON
inlines them.

Protobuf cannot tell a field left unset from one set to its zero value: Go writes every
non-pointer field, zero or not. The table marks the scalar fields whose zero value JSON leaves
out (non-pointer Go fields tagged ``omitempty``: ``hostPort: 0``, ``namespace: ""``), and those
zeros are dropped; other zeros are kept (``replicas: 0`` is a pointer's, and means something).
Unknown field numbers are skipped, as the generated Go unmarshalers skip them.

Errors are :class:`~._decoding.DecodeError` (a 400 ``error decoding protobuf: ...``).
"""

from __future__ import annotations

import base64
import datetime
import functools
import importlib.resources
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NamedTuple

import orjson

from ._decoding import DecodeError, load_json
from ._limits import DEPTH_EXCEEDED, MAX_DEPTH

MAGIC: Final = b"k8s\x00"
_ENVELOPE: Final = "runtime.Unknown"
_DELETE_OPTIONS: Final = "meta.v1.DeleteOptions"

# Wire types.
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_VARINT_SCALARS: Final = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64",
                                    "bool"})
_FIXED64_SCALARS: Final = frozenset({"double", "fixed64", "sfixed64"})
_FIXED32_SCALARS: Final = frozenset({"float", "fixed32", "sfixed32"})
_SCALARS: Final = _VARINT_SCALARS | _FIXED64_SCALARS | _FIXED32_SCALARS | {"string", "bytes"}


class Field(NamedTuple):
    """One field of a message: its JSON name, its type (a scalar or a message), its shape
    (``""``, ``"repeated"``, ``"map"``, ``"inline"``, or ``"omitempty"``: a scalar whose zero
    value JSON leaves out), and a map's value type."""

    name: str
    type: str
    shape: str = ""
    value: str = ""


class Table(NamedTuple):
    kinds: Mapping[str, str]  # "apps/v1/Deployment": "apps.v1.Deployment"
    messages: Mapping[str, Mapping[int, Field]]


@functools.cache
def table() -> Table:
    """The field table, read once from ``_protobuf_table.json``."""
    data = orjson.loads(
        importlib.resources.files(__package__).joinpath("_protobuf_table.json").read_bytes())
    messages = {}
    for name, fields in data["messages"].items():
        parsed = {}
        for number, spec in fields.items():
            if len(spec) == 4:  # [name, "map", key type, value type]
                parsed[int(number)] = Field(spec[0], spec[2], "map", spec[3])
            else:
                parsed[int(number)] = Field(spec[0], spec[1], spec[2] if len(spec) > 2 else "")
        messages[name] = parsed
    return Table(data["kinds"], messages)


def message_of(api_version: str, kind: str) -> str | None:
    """The message a kind is encoded as, or None for a kind with no protobuf form here.
    ``DeleteOptions`` is one message whatever group version it is sent in."""
    if kind == "DeleteOptions":
        return _DELETE_OPTIONS
    return table().kinds.get(f"{api_version}/{kind}")


def decode_object(raw: bytes) -> dict[str, Any]:
    """A protobuf-encoded object, as the JSON object of the same content; with ``apiVersion``
    and ``kind`` from its envelope. Raises :class:`DecodeError`."""
    return _decode_object(raw, 0)


def _decode_object(raw: bytes, depth: int) -> dict[str, Any]:
    if not raw.startswith(MAGIC):
        raise DecodeError("provided data does not appear to be a protobuf message, expected "
                          "prefix [107 56 115 0]")  # as runtime/serializer/protobuf words it
    envelope = _message(_ENVELOPE, raw[len(MAGIC):], depth, keep_bytes=True)
    type_meta = envelope.get("typeMeta") or {}
    api_version = type_meta.get("apiVersion", "")
    kind = type_meta.get("kind", "")
    if envelope.get("contentEncoding"):
        raise DecodeError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    body: bytes = envelope.get("raw", b"")
    content_type = envelope.get("contentType", "")
    if content_type == "application/json":  # an envelope may carry JSON
        obj = load_json(body)
        if not isinstance(obj, dict):
            raise DecodeError("the embedded JSON is not an object")
        return obj
    if content_type not in ("", "application/vnd.kubernetes.protobuf"):
        raise DecodeError(f"unsupported content type {content_type!r} in the envelope")
    name = message_of(api_version, kind)
    if name is None:
        raise DecodeError(f'no kind "{kind}" is registered for version "{api_version}"')
    obj = {"apiVersion": api_version, "kind": kind} if api_version or kind else {}
    obj.update(_message(name, body, depth + 1))
    return obj


# -- the wire -------------------------------------------------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data):
            raise DecodeError("unexpected EOF")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
        if shift >= 70:
            raise DecodeError("integer overflow")


def _wire(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """The fields of a message as ``(number, wire type, value)``: an int for varints and fixed
    widths, bytes for length-delimited values."""
    i, end = 0, len(data)
    value: Any
    while i < end:
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("illegal tag 0")
        if wire == _VARINT:
            value, i = _varint(data, i)
        elif wire == _BYTES:
            length, i = _varint(data, i)
            if i + length > end:
                raise DecodeError("unexpected EOF")
            value, i = data[i:i + length], i + length
        elif wire == _FIXED64:
            if i + 8 > end:
                raise DecodeError("unexpected EOF")
            value, i = int.from_bytes(data[i:i + 8], "little"), i + 8
        elif wire == _FIXED32:
            if i + 4 > end:
                raise DecodeError("unexpected EOF")
            value, i = int.from_bytes(data[i:i + 4], "little"), i + 4
        else:  # groups (3, 4) are proto1; Kubernetes never writes them
            raise DecodeError(f"illegal wire type {wire} for field {number}")
        yield number, wire, value


def _scalar(type_: str, wire: int, value: Any, keep_bytes: bool = False) -> Any:
    if type_ in _VARINT_SCALARS:
        _expect(wire, _VARINT, type_)
        if type_ == "bool":
            return value != 0
        if type_ in ("sint32", "sint64"):
            return (value >> 1) ^ -(value & 1)
        if type_ in ("int32", "int64"):
            return value - (1 << 64) if value >= 1 << 63 else value
        return value
    if type_ == "string":
        _expect(wire, _BYTES, type_)
        try:
            return value.decode()
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 in a string: {e}") from None
    if type_ == "bytes":
        _expect(wire, _BYTES, type_)
        return value if keep_bytes else base64.b64encode(value).decode()
    if type_ in _FIXED64_SCALARS:
        _expect(wire, _FIXED64, type_)
        if type_ == "double":
            return _number(struct.unpack("<d", value.to_bytes(8, "little"))[0])
        return value - (1 << 64) if type_ == "sfixed64" and value >= 1 << 63 else value
    _expect(wire, _FIXED32, type_)
    if type_ == "float":
        return _number(struct.unpack("<f", value.to_bytes(4, "little"))[0])
    return value - (1 << 32) if type_ == "sfixed32" and value >= 1 << 31 else value


def _number(value: float) -> float | int:
    """A float as encoding/json writes a float64: ``5``, not ``5.0``."""
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _expect(wire: int, expected: int, type_: str) -> None:
    if wire != expected:
        raise DecodeError(f"wrong wire type {wire} for a field of type {type_}")


def _packed(type_: str, data: bytes) -> list[Any]:
    """A packed repeated scalar field: the values back to back, without keys."""
    values: list[Any] = []
    i = 0
    while i < len(data):
        if type_ in _VARINT_SCALARS:
            value, i = _varint(data, i)
            values.append(_scalar(type_, _VARINT, value))
        else:
            width, wire = (8, _FIXED64) if type_ in _FIXED64_SCALARS else (4, _FIXED32)
            if i + width > len(data):
                raise DecodeError("unexpected EOF")
            value = int.from_bytes(data[i:i + width], "little")
            values.append(_scalar(type_, wire, value))
            i += width
    return values


# -- messages -------------------------------------------------------------------------------------


def _message(name: str, data: bytes, depth: int, keep_bytes: bool = False) -> Any:
    """A message as its JSON value: an object, or the special form of a special type."""
    if depth > MAX_DEPTH:
        raise DecodeError(DEPTH_EXCEEDED)
    special = _SPECIAL.get(name)
    fields = table().messages[name]
    out: dict[str, Any] = {}
    for number, wire, value in _wire(data):
        field = fields.get(number)
        if field is None:
            continue
        if field.shape == "map":
            key, item = _map_entry(field, value, wire, depth)
            out.setdefault(field.name, {})[key] = item
        elif field.shape == "repeated":
            items = out.setdefault(field.name, [])
            if field.type not in _SCALARS:
                _expect(wire, _BYTES, field.type)
                items.append(_message(field.type, value, depth + 1))
            elif wire == _BYTES and field.type not in ("string", "bytes"):
                items.extend(_packed(field.type, value))
            else:
                items.append(_scalar(field.type, wire, value))
        elif field.type in _SCALARS:
            scalar = _scalar(field.type, wire, value, keep_bytes or special is not None)
            if field.shape == "omitempty" and not scalar:
                out.pop(field.name, None)  # a zero that JSON leaves out
            else:
                out[field.name] = scalar
        else:
            _expect(wire, _BYTES, field.type)
            decoded = _message(field.type, value, depth + 1)
            if field.shape == "inline":
                out.update(decoded)
            else:
                out[field.name] = decoded
    return out if special is None else special(out, depth)


def _map_entry(field: Field, entry: Any, wire: int, depth: int) -> tuple[str, Any]:
    """A map entry: a message of key (1) and value (2), either of which may be absent."""
    _expect(wire, _BYTES, "map")
    key: Any = ""
    value: Any = None
    for number, item_wire, item in _wire(entry):
        if number == 1:
            key = _scalar(field.type, item_wire, item)
        elif number == 2:
            if field.value in _SCALARS:
                value = _scalar(field.value, item_wire, item)
            else:
                _expect(item_wire, _BYTES, field.value)
                value = _message(field.value, item, depth + 1)
    if value is None:  # the zero value
        value = _ZERO.get(field.value, {})
        if field.value in _SPECIAL:
            value = _SPECIAL[field.value]({}, depth)
    return str(key), value


_ZERO: Final[Mapping[str, Any]] = {
    **dict.fromkeys(_VARINT_SCALARS | _FIXED64_SCALARS | _FIXED32_SCALARS, 0),
    "bool": False, "string": "", "bytes": "",
}


# -- the types with a JSON form of their own --------------------------------------------------


def _time(fields: dict[str, Any], depth: int) -> str | None:
    # As metav1.Time: nanoseconds are dropped on decoding; the zero time is sent as nothing.
    if not fields:
        return None
    return _utc(fields.get("seconds", 0)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(fields: dict[str, Any], depth: int) -> str | None:
    if not fields:
        return None
    moment = _utc(fields.get("seconds", 0))
    micros = fields.get("nanos", 0) // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{micros:06d}Z"


def _utc(seconds: int) -> datetime.datetime:
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(f"a time out of range: {seconds} seconds") from None


def _duration(fields: dict[str, Any], depth: int) -> str:
    return go_duration(fields.get("duration", 0))


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``: ``1h0m0s``, ``1.5s``, ``300ms``, ``0s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if n < scale * 1000:
                return sign + _fraction(n, scale) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return sign + text + _fraction(rest, 1_000_000_000) + "s"


def _fraction(value: int, scale: int) -> str:
    whole, part = divmod(value, scale)
    if not part:
        return str(whole)
    digits = str(part).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def _quantity(fields: dict[str, Any], depth: int) -> str:
    return str(fields.get("string") or "0")


def _int_or_string(fields: dict[str, Any], depth: int) -> int | str:
    if fields.get("type", 0) == 1:
        return str(fields.get("strVal", ""))
    return int(fields.get("intVal", 0))


def _embedded(key: str) -> Callable[[dict[str, Any], int], Any]:
    def embedded(fields: dict[str, Any], depth: int) -> Any:
        raw: bytes = fields.get(key, b"")
        if not raw:
            return None
        if raw.startswith(MAGIC):  # an object embedded in protobuf, not in JSON
            return _decode_object(raw, depth + 1)
        return load_json(raw)

    return embedded


def _schema_or(key: str, alternative: Callable[[Any], Any]) -> Callable[[dict[str, Any], int],
                                                                          Any]:
    def schema_or(fields: dict[str, Any], depth: int) -> Any:
        if key in fields and fields[key] not in ([], None):
            return alternative(fields[key])
        return fields.get("schema", {})

    return schema_or


def _schema_or_bool(fields: dict[str, Any], depth: int) -> Any:
    # As JSONSchemaPropsOrBool.MarshalJSON: the schema if there is one, else the bool.
    if "schema" in fields:
        return fields["schema"]
    return bool(fields.get("allows", False))


_SPECIAL: Final[Mapping[str, Callable[[dict[str, Any], int], Any]]] = {
    "meta.v1.Time": _time,
    "meta.v1.MicroTime": _micro_time,
    "meta.v1.Duration": _duration,
    "api.resource.Quantity": _quantity,
    "util.intstr.IntOrString": _int_or_string,
    "runtime.RawExtension": _embedded("raw"),
    "meta.v1.FieldsV1": _embedded("Raw"),
    "apiextensions.v1.JSON": _embedded("raw"),
    "apiextensions.v1.JSONSchemaPropsOrBool": _schema_or_bool,
    "apiextensions.v1.JSONSchemaPropsOrArray": _schema_or("jSONSchemas", list),
    "apiextensions.v1.JSONSchemaPropsOrStringArray": _schema_or("property", list),
}
