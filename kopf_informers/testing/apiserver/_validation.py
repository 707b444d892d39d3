"""Validation, pruning and defaulting of the objects the embedded API server stores.

Where it sits: the HTTP layer decodes a body and, for a custom resource, calls in this order
:func:`apply_defaults`, :func:`prune` (its pruned paths drive ``fieldValidation=Strict`` and
``Warn``), then :func:`validate_metadata` and :func:`validate_custom_object`; for a
CustomResourceDefinition it calls :func:`validate_crd`. Any :class:`Cause` fails the request
with 422 Invalid, whose message :func:`invalid_message` builds. Everything here is pure: no
I/O, and inputs are never mutated (the results are fresh containers).

The field paths, reasons and messages are those of kube-apiserver 1.35: ``field.Error`` bodies
from apimachinery, the detail texts of kube-openapi's schema validator, and apiextensions'
pruning and defaulting algorithms, quirks included (for example, errors of ``anyOf``/``oneOf``/
``allOf``/``not`` carry the field ``<nil>``, as the real server sends them). Caveats:

* ``pattern`` is matched with Python's :mod:`re`, not RE2: ``\\p{L}``-style classes fail to
  compile (reported as an invalid pattern, as the real server reports uncompilable ones).
* ``format`` checks are close approximations of go-openapi's; ``isbn*`` and ``creditcard``
  are not checked. CEL rules (``x-kubernetes-validations``), list types and ratcheting are not
  implemented; the metadata of embedded resources is not validated.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

Schema = Mapping[str, Any]  # nested schemas and values are decoded JSON: dicts and lists

# Causes' reasons (metav1.CauseType), as apimachinery's field.ErrorType spells them.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"

NO_FIELD = "<nil>"  # what the real server puts as the field of errors it cannot place
META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
ANNOTATIONS_SIZE_LIMIT = 256 * 1024

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_FLOAT32 = 3.4028234663852886e38
_MAX_JSON_INTEGER = 2.0**53


@dataclasses.dataclass(frozen=True)
class Cause:
    """One ``metav1.StatusCause``: what is wrong with one field. ``type`` is its JSON ``reason``.

    ``message`` is the body of the error without the field (``Invalid value: 3: ...``), exactly
    what the real server puts in ``details.causes[].message``; ``str(cause)`` prepends the field.
    """

    type: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}


# Constructors named after apimachinery's field.Invalid(), field.Required(), ...


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(INVALID, _body("Invalid value", value, detail), field)


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(TYPE_INVALID, _body("Invalid value", value, detail), field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause(DUPLICATE, _body("Duplicate value", value, ""), field)


def not_supported(field: str, value: Any, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(map(_go_quote, supported)) if supported else ""
    return Cause(NOT_SUPPORTED, _body("Unsupported value", value, detail), field)


def required(field: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, f"Required value: {detail}" if detail else "Required value", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, f"Forbidden: {detail}" if detail else "Forbidden", field)


def too_long(field: str, max_length: int) -> Cause:
    unit = "byte" if max_length == 1 else "bytes"
    return Cause(TOO_LONG, f"Too long: may not be more than {max_length} {unit}", field)


def too_many(field: str, actual: int, max_count: int) -> Cause:
    unit = "item" if max_count == 1 else "items"
    return Cause(TOO_MANY, f"Too many: {actual}: must have at most {max_count} {unit}", field)


def invalid_message(kind: str, name: str, causes: Sequence[Cause], *, group: str = "") -> str:
    """The top-level message of a 422: ``Kind.group "name" is invalid: <causes>``.

    Several distinct causes are bracketed and comma-separated, duplicates dropped, as the
    apimachinery error aggregate prints them. ``kind`` may come qualified (``Foo.example.com``).
    """
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified} {_go_quote(name)} is invalid: {_aggregate([str(c) for c in causes])}"


def _aggregate(messages: list[str]) -> str:
    if not messages:
        return "<nil>"
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _unplaced(detail: str) -> Cause:
    """An error kube-openapi returns without a field: the server renders it at ``<nil>``."""
    return invalid(NO_FIELD, "", detail)


def _body(label: str, value: Any, detail: str) -> str:
    text = f"{label}: {_go_value(value)}"
    return f"{text}: {detail}" if detail else text


# Rendering values as Go prints them: the messages must match byte for byte.


def _go_value(value: Any) -> str:
    """A bad value as field.Error prints it: ``%v`` for numbers, ``%q`` for strings, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_quote(value)
    return _go_json(value)


_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    '"': '\\"', "\\": "\\\\",
}


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: printable characters kept, the rest escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(map(_go_escape, text)) + '"'


def _go_escape(char: str) -> str:
    if char in _GO_ESCAPES:
        return _GO_ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_JSON_HTML_ESCAPES = str.maketrans({
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
})


def _go_json(value: Any) -> str:
    """Go's ``json.Marshal``: compact, keys sorted, HTML-escaped, Go's float notation."""
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, float):
        return _go_float(value, for_json=True)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(_JSON_HTML_ESCAPES)
    if isinstance(value, Mapping):
        pairs = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(_go_json, value)) + "]"
    return _go_json(str(value))


def _go_float(value: float, *, for_json: bool = False) -> str:
    """Go's ``%v`` of a float64 (``1e+06``), or its JSON form (``1000000``) if ``for_json``."""
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(value)
    exp = point - 1
    # %v is %g with the shortest precision; json.Marshal switches to %e only for extremes.
    json_scientific = abs(value) < 1e-6 or abs(value) >= 1e21
    scientific = json_scientific if for_json else exp < -4 or exp >= 6
    text = _e_notation(digits, exp, for_json) if scientific else _f_notation(digits, point)
    return "-" + text if value < 0 else text


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-tripping digits of ``abs(value)`` and where the point goes in them."""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)  # finite numbers only
    digits = "".join(map(str, digit_tuple))
    return digits.rstrip("0") or "0", len(digits) + exponent


def _e_notation(digits: str, exp: int, for_json: bool) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    width = 1 if for_json and exp < 0 else 2  # json.Marshal cleans e-07 up to e-7
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{width}d}"


def _f_notation(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _go_type(value: Any) -> str:
    """Go's ``%T`` of a value decoded from JSON into ``interface{}``."""
    for python_type, go_type in _GO_TYPES:
        if isinstance(value, python_type):
            return go_type
    return "<nil>" if value is None else type(value).__name__


_GO_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"),
    (list, "[]interface {}"), (Mapping, "map[string]interface {}"),
)


# Names: DNS-1123 subdomains and labels, DNS-1035 labels, label keys and values.

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(_DNS1035_LABEL_FMT)
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, regex: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


def _max_len_error(length: int, unit: str = "characters") -> str:
    return f"must be no more than {length} {unit}"


def validate_object_name(
    name: str, *, label: bool = False, path_segment: bool = False, prefix: bool = False
) -> list[str]:
    """Why ``name`` is not a valid object name; empty if it is.

    A DNS-1123 subdomain by default, a DNS-1123 label if ``label`` (namespaces, services), a
    mere path segment if ``path_segment`` (RBAC kinds). With ``prefix``, ``name`` is a
    ``generateName`` and may end with a dash.
    """
    if path_segment:
        return _path_segment(name, prefix)
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-2] + "a"  # apimachinery's maskTrailingDash(), odd as it is
    return _dns1123_label(name) if label else _dns1123_subdomain(name)


def _path_segment(name: str, prefix: bool) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{char}'" for char in "/%" if char in name]


def _dns1123_subdomain(value: str, unit: str = "characters") -> list[str]:
    errors = [_max_len_error(253, unit)] if len(value) > 253 else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def _dns1123_label(value: str) -> list[str]:
    errors = [_max_len_error(63)] if len(value) > 63 else []
    if _DNS1123_LABEL.fullmatch(value):
        pass
    elif _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append("must not contain dots")
    else:
        errors.append(
            _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
        )
    return errors


def _dns1035_label(value: str) -> list[str]:
    errors = [_max_len_error(63)] if len(value) > 63 else []
    if not _DNS1035_LABEL.fullmatch(value):
        errors.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def _label_key(key: str) -> list[str]:
    """Why ``key`` is not a qualified name (label keys, annotation keys, finalizers)."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + e for e in _dns1123_subdomain(parts[0], "bytes"))
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_len_error(63, "bytes"))
    if not _LABEL_KEY.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def _label_value(value: str) -> list[str]:
    errors = [_max_len_error(63, "bytes")] if len(value) > 63 else []
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


# Metadata, as ValidateObjectMeta checks it for every kind.

_META_SHAPES: Mapping[str, tuple[type, type | None]] = {
    "name": (str, None), "generateName": (str, None), "namespace": (str, None),
    "labels": (dict, str), "annotations": (dict, str), "finalizers": (list, str),
    "generation": (int, None),
}
_GO_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"), (list, "slice"),
    (Mapping, "map"),
)


def validate_metadata(
    obj: Mapping[str, Any],
    *,
    namespaced: bool,
    label_names: bool = False,
    path_segment_names: bool = False,
) -> list[Cause]:
    """The causes for which ``obj.metadata`` is invalid; empty if it is valid.

    Checks the shape of the known fields, ``name`` (required unless ``generateName`` is set,
    since the server generates it), ``generateName``, ``namespace`` (required if
    ``namespaced``, forbidden otherwise: the caller clears it for cluster-scoped kinds first, as
    kube-apiserver does), ``generation``, ``labels``, ``annotations`` and ``finalizers``.
    ``label_names`` makes names DNS-1123 labels instead of subdomains, ``path_segment_names``
    mere path segments (see :func:`validate_object_name`).
    """
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        detail = f"expected map[string]interface{{}}, got {_go_type(meta)}"
        return [invalid("metadata", meta, detail)]
    problem = _metadata_shape_problem(meta)
    if problem:
        return [invalid("metadata", meta, problem)]
    return [
        *_name_causes(meta, label=label_names, path_segment=path_segment_names),
        *_namespace_causes(meta.get("namespace") or "", namespaced),
        *_generation_causes(meta.get("generation")),
        *_label_causes(meta.get("labels") or {}),
        *_annotation_causes(meta.get("annotations") or {}),
        *_finalizer_causes(meta.get("finalizers") or []),
    ]


def _metadata_shape_problem(meta: Mapping[str, Any]) -> str | None:
    """What converting ``meta`` to an ObjectMeta would fail on (approximate messages)."""
    for key, (expected, element) in _META_SHAPES.items():
        value = meta.get(key)
        if value is None:
            continue
        problem = _shape_problem(value, expected)
        if problem is None and element is not None:
            values = value.values() if isinstance(value, dict) else value
            problem = next(filter(None, (_shape_problem(v, element) for v in values)), None)
        if problem is not None:
            return problem
    return None


def _shape_problem(value: Any, expected: type) -> str | None:
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return None
    actual, wanted = _go_kind(value), _go_kind(expected())
    if expected in (dict, list):
        return f"cannot restore {wanted} from {actual}"
    return f"cannot convert {actual} to {wanted}"


def _go_kind(value: Any) -> str:
    """The Go reflect.Kind of a value decoded from JSON."""
    return next((kind for type_, kind in _GO_KINDS if isinstance(value, type_)), "invalid")


def _name_causes(meta: Mapping[str, Any], *, label: bool, path_segment: bool) -> list[Cause]:
    causes: list[Cause] = []
    generate_name: str = meta.get("generateName") or ""
    name: str = meta.get("name") or ""
    check = functools.partial(validate_object_name, label=label, path_segment=path_segment)
    if generate_name:
        messages = check(generate_name, prefix=True)
        causes.extend(invalid("metadata.generateName", generate_name, m) for m in messages)
    if name:
        causes.extend(invalid("metadata.name", name, m) for m in check(name))
    elif not generate_name:
        causes.append(required("metadata.name", "name or generateName is required"))
    return causes


def _namespace_causes(namespace: str, namespaced: bool) -> list[Cause]:
    if namespaced and not namespace:
        return [required("metadata.namespace")]
    if namespaced:
        return [invalid("metadata.namespace", namespace, m) for m in _dns1123_label(namespace)]
    return [forbidden("metadata.namespace", "not allowed on this type")] if namespace else []


def _generation_causes(generation: int | None) -> list[Cause]:
    if generation is not None and generation < 0:
        return [invalid("metadata.generation", generation, "must be greater than or equal to 0")]
    return []


def _label_causes(labels: Mapping[str, str]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in labels.items():
        causes.extend(invalid("metadata.labels", key, m) for m in _label_key(key))
        causes.extend(invalid("metadata.labels", value, m) for m in _label_value(value))
    return causes


def _annotation_causes(annotations: Mapping[str, str]) -> list[Cause]:
    causes = [
        invalid("metadata.annotations", key, message)
        for key in annotations
        for message in _label_key(key.lower())
    ]
    if sum(len(k) + len(v) for k, v in annotations.items()) > ANNOTATIONS_SIZE_LIMIT:
        causes.append(too_long("metadata.annotations", ANNOTATIONS_SIZE_LIMIT))
    return causes


def _finalizer_causes(finalizers: list[str]) -> list[Cause]:
    causes = [
        invalid("metadata.finalizers", finalizer, message)
        for finalizer in finalizers
        for message in _label_key(finalizer)
    ]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        detail = "finalizer orphan and foregroundDeletion cannot be both set"
        causes.append(invalid("metadata.finalizers", finalizers, detail))
    return causes


# Custom objects against a structural schema, as kube-openapi's SchemaValidator checks them.


def validate_custom_object(obj: Mapping[str, Any], schema: Schema) -> list[Cause]:
    """The causes for which ``obj`` breaks its CRD version's ``openAPIV3Schema``.

    ``apiVersion``, ``kind`` and ``metadata`` are skipped (see :func:`validate_metadata`);
    everything else at the top level is validated. Prune first: unknown fields are not
    reported here, but they are no longer there either.
    """
    causes: list[Cause] = []
    _validate(obj, schema, "", causes, root=True)
    return list(dict.fromkeys(causes)) if len(causes) > 1 else causes


def _validate(value: Any, schema: Schema, path: str, out: list[Cause], root: bool = False) -> None:
    if value is None:
        _check_null(schema, path, out)
        _check_enum(None, schema, path, out)
        return
    kind = _JSON_KINDS.get(type(value)) or _kind(value)
    if kind == "integer" and not _INT64[0] <= value <= _INT64[1]:
        kind = "number"  # as Go decodes it
    if schema.get("type") != kind:  # the common case, a match, needs no more checks
        _check_type(value, kind, schema, path, out)
    if "anyOf" in schema or "oneOf" in schema or "allOf" in schema or "not" in schema:
        _check_combinators(value, schema, path, out, root)
    if kind == "string":
        _check_string(value, schema, path, out)
    elif kind == "integer" or kind == "number":
        _check_number(value, schema, path, out)
    elif kind == "array":
        _check_array(value, schema, path, out)
    if "enum" in schema:
        _check_enum(value, schema, path, out)
    if kind == "object":
        _check_object(value, schema, path, out, root)


_JSON_KINDS: Mapping[type, str] = {
    str: "string", bool: "boolean", int: "integer", float: "number", dict: "object",
    list: "array",
}


def _kind(value: Any) -> str:
    """The JSON type of a decoded value; integers beyond int64 decode as floats in Go."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if _INT64[0] <= value <= _INT64[1] else "number"
    if isinstance(value, float):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _field(path: str) -> str:
    return path or NO_FIELD


def _types(schema: Schema) -> tuple[str, ...]:
    if schema.get("x-kubernetes-int-or-string"):
        return ("integer", "string")
    type_ = schema.get("type")
    return (type_,) if type_ else ()


def _check_null(schema: Schema, path: str, out: list[Cause]) -> None:
    types = _types(schema)
    if types and not schema.get("nullable"):
        detail = f'{path} in body must be of type {",".join(types)}: "null"'
        out.append(type_invalid(_field(path), "null", detail))


def _check_type(value: Any, kind: str, schema: Schema, path: str, out: list[Cause]) -> None:
    types = _types(schema)
    if not types or kind in types:
        return
    if kind == "number" and "integer" in types and _is_json_integer(value):
        return  # 3.0 is an integer for kube-openapi
    if kind == "integer" and "number" in types:
        return
    detail = f'{path} in body must be of type {",".join(types)}: "{kind}"'
    out.append(type_invalid(_field(path), kind, detail))


def _is_json_integer(number: float) -> bool:
    """Whether a float is an integer, with go-openapi's tolerance for rounding errors."""
    if not isinstance(number, float) or not math.isfinite(number):
        return False  # integers beyond int64 are not integers to Go, once decoded
    if abs(number) > _MAX_JSON_INTEGER:
        return False
    nearest = round(number)
    if number == nearest:
        return True
    return abs(number - nearest) / (abs(number) + abs(nearest)) < 1e-9


def _check_combinators(
    value: Any, schema: Schema, path: str, out: list[Cause], root: bool
) -> None:
    quoted = _go_quote(path)
    if schema.get("anyOf"):
        _check_any_of(value, schema["anyOf"], path, out, root)
    if schema.get("oneOf"):
        _check_one_of(value, schema["oneOf"], path, out, root)
    if schema.get("allOf"):
        results = [_collect(value, branch, path, root) for branch in schema["allOf"]]
        for errors in results:
            out.extend(errors)
        passed = sum(1 for errors in results if not errors)
        if passed != len(results):
            none = ". None validated" if passed == 0 else ""
            out.append(_unplaced(f"{quoted} must validate all the schemas (allOf){none}"))
    if "not" in schema and not _collect(value, schema["not"], path, root):
        out.append(_unplaced(f"{quoted} must not validate the schema (not)"))


def _check_any_of(
    value: Any, branches: list[Schema], path: str, out: list[Cause], root: bool
) -> None:
    failures: list[list[Cause]] = []
    for branch in branches:
        errors = _collect(value, branch, path, root)
        if not errors:
            return
        failures.append(errors)
    out.append(_unplaced(f"{_go_quote(path)} must validate at least one schema (anyOf)"))
    best = min(failures, key=len)  # kube-openapi's "best" is by matches; fewest errors is close
    out.extend(best)


def _check_one_of(
    value: Any, branches: list[Schema], path: str, out: list[Cause], root: bool
) -> None:
    results = [_collect(value, branch, path, root) for branch in branches]
    passed = sum(1 for errors in results if not errors)
    if passed == 1:
        return
    found = "Found none valid" if passed == 0 else f"Found {passed} valid alternatives"
    detail = f"{_go_quote(path)} must validate one and only one schema (oneOf). {found}"
    out.append(_unplaced(detail))
    if passed == 0:
        best = min(results, key=len)
        out.extend(best)


def _collect(value: Any, schema: Schema, path: str, root: bool) -> list[Cause]:
    errors: list[Cause] = []
    _validate(value, schema, path, errors, root)
    return errors


def _check_string(value: str, schema: Schema, path: str, out: list[Cause]) -> None:
    # Like kube-openapi: at most one of maxLength, minLength, pattern is reported.
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(too_long(_field(path), schema["maxLength"]))
    elif "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{path} in body should be at least {schema['minLength']} chars long"
        out.append(invalid(_field(path), value, detail))
    elif "pattern" in schema and (failed := _pattern_failure(value, schema["pattern"])):
        out.append(invalid(_field(path), value, f"{path} in body should match '{failed}'"))
    if "format" in schema:
        _check_format(value, schema["format"], path, out)


def _pattern_failure(value: str, pattern: str) -> str | None:
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return f"{pattern}, but pattern is invalid: {compiled}"
    return None if compiled.search(value) else pattern


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | str:
    """The compiled pattern, or why it does not compile."""
    try:
        return re.compile(pattern)
    except re.error as e:
        return str(e)


def _check_format(value: str, format_: str, path: str, out: list[Cause]) -> None:
    check = _FORMATS.get(format_.replace("-", ""))
    if check is not None and not check(value):
        detail = f"{path} in body must be of type {format_}: {_go_quote(value)}"
        out.append(type_invalid(_field(path), value, detail))


def _check_number(value: float, schema: Schema, path: str, out: list[Cause]) -> None:
    numeric, format_ = _numeric_type(schema)
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        value = _as_float(value)  # as Go decodes it
    if numeric and not _fits(value, numeric, format_):
        with_format = f" with format {format_}" if format_ else " (default format)"
        out.append(_unplaced(f"Checked value must be of type {numeric}{with_format} in {path}"))
    if "multipleOf" in schema:
        _check_multiple_of(value, schema["multipleOf"], numeric, format_, path, out)
    for keyword in ("minimum", "maximum"):
        if keyword in schema:
            _check_bound(value, schema, keyword, (numeric, format_), path, out)


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def _numeric_type(schema: Schema) -> tuple[str, str]:
    """The type and format kube-openapi's number validator uses for range checks."""
    numeric = schema.get("type")
    if numeric not in ("integer", "number") or schema.get("x-kubernetes-int-or-string"):
        return "", ""
    format_ = schema.get("format", "")
    valid_formats = ("int32", "int64") if numeric == "integer" else ("float", "double")
    return numeric, format_ if format_ in valid_formats else ""


def _fits(number: float, numeric: str, format_: str) -> bool:
    """Whether ``number`` is representable in the type and format (kube-openapi's range check)."""
    if numeric == "integer":
        if isinstance(number, float):
            if not number.is_integer():
                return False
            number = int(number)
        low, high = _INT32 if format_ == "int32" else _INT64
        return low <= number <= high
    if numeric == "number" and format_ == "float":
        return abs(number) <= _MAX_FLOAT32
    return True


def _native_bound(value: float, bound: float, numeric: str, format_: str) -> float:
    """The bound as compared and printed: integer values compare with a truncated bound."""
    if isinstance(value, int) and _fits(float(bound), numeric, format_):
        return int(bound)
    return float(bound)


def _check_bound(
    value: float,
    schema: Schema,
    keyword: str,
    numeric_type: tuple[str, str],
    path: str,
    out: list[Cause],
) -> None:
    bound = _native_bound(value, schema[keyword], *numeric_type)
    if keyword == "maximum":
        exclusive = bool(schema.get("exclusiveMaximum"))
        failed = value >= bound if exclusive else value > bound
        phrase = "less than" if exclusive else "less than or equal to"
    else:
        exclusive = bool(schema.get("exclusiveMinimum"))
        failed = value <= bound if exclusive else value < bound
        phrase = "greater than" if exclusive else "greater than or equal to"
    if failed:
        detail = f"{path} in body should be {phrase} {_go_value(bound)}"
        out.append(invalid(_field(path), value, detail))


def _check_multiple_of(
    value: float, factor: float, numeric: str, format_: str, path: str, out: list[Cause]
) -> None:
    native = isinstance(value, int) and _fits(float(factor), numeric, format_)
    divisor: float = int(factor) if native else float(factor)
    if divisor <= 0:
        detail = f"factor MultipleOf declared for {path} must be positive: {_go_value(divisor)}"
        out.append(invalid(_field(path), divisor, detail))
        return
    if native:
        failed = value % divisor != 0
    else:  # go-openapi divides this way round to dodge rounding errors with small factors
        failed = not _is_json_integer(1 / divisor * value if divisor < 1 else value / divisor)
    if failed:
        detail = f"{path} in body should be a multiple of {_go_value(divisor)}"
        out.append(invalid(_field(path), value, detail))


def _check_array(value: list[Any], schema: Schema, path: str, out: list[Cause]) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(item, items, f"{path}[{index}]", out)
    field, size = _field(path), len(value)
    if "minItems" in schema and size < schema["minItems"]:
        detail = f"{path} in body should have at least {schema['minItems']} items"
        out.append(invalid(field, size, detail))
    if "maxItems" in schema and size > schema["maxItems"]:
        out.append(too_many(field, size, schema["maxItems"]))
    if schema.get("uniqueItems") and _has_duplicates(value):
        out.append(invalid(field, "", f"{path} in body shouldn't contain duplicates"))


def _has_duplicates(values: list[Any]) -> bool:
    return any(_deep_equal(a, b) for i, a in enumerate(values) for b in values[i + 1 :])


def _deep_equal(a: Any, b: Any) -> bool:
    """Go's reflect.DeepEqual on decoded JSON: ``1`` (int64) is not ``1.0`` (float64)."""
    if _kind_of(a) != _kind_of(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_deep_equal, a, b))
    return bool(a == b)


def _kind_of(value: Any) -> type:
    return bool if isinstance(value, bool) else type(value)


def _check_enum(value: Any, schema: Schema, path: str, out: list[Cause]) -> None:
    options = schema.get("enum")
    if not options:
        return
    if value is not None and any(_enum_equal(value, option) for option in options):
        return  # a null never matches, not even a null option: kube-openapi's quirk
    supported = [o if isinstance(o, str) else _go_json(o) for o in options]
    out.append(not_supported(_field(path), value, supported))


def _enum_equal(value: Any, option: Any) -> bool:
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(option, numbers):
        return not isinstance(value, bool) and not isinstance(option, bool) and value == option
    return _deep_equal(value, option)


def _check_object(
    value: Mapping[str, Any], schema: Schema, path: str, out: list[Cause], root: bool
) -> None:
    field, skipped = _field(path), META_FIELDS if root else frozenset()
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        detail = f"{path} in body should have at least {schema['minProperties']} properties"
        out.append(invalid(field, len(value), detail))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(too_many(field, len(value), schema["maxProperties"]))
    properties: Schema = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    if extra is False or isinstance(extra, dict):
        for key, item in value.items():
            if key in properties or key in skipped:
                continue
            if extra is False:
                detail = f"{path}.{key} in body is a forbidden property"
                out.append(invalid(field, key, detail))
            else:
                _validate(item, extra, _child(path, key), out)
    for key, subschema in properties.items():
        if key in value and key not in skipped:
            _validate(value[key], subschema, _child(path, key), out)
    for key in schema.get("required") or ():
        if key not in value and key not in skipped:
            out.append(required(_child(path, key)))
    if not root and schema.get("x-kubernetes-embedded-resource"):
        _check_embedded(value, path, out)


def _check_embedded(value: Mapping[str, Any], path: str, out: list[Cause]) -> None:
    """apiVersion and kind of an embedded object, as the CR strategy checks them."""
    for key in ("apiVersion", "kind"):
        field = _child(path, key)
        item = value.get(key)
        if key not in value:
            out.append(required(field))
        elif not isinstance(item, str):
            out.append(invalid(field, item, "must be a string"))
        elif not item:
            out.append(invalid(field, item, "must not be empty"))
        elif key == "apiVersion" and item.count("/") > 1:
            out.append(invalid(field, item, f"unexpected GroupVersion string: {item}"))
        elif key == "kind" and (errors := _dns1035_label(item.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(errors)
            out.append(invalid(field, item, detail))


# Formats: the ones kube-apiserver keeps in CRD schemas; the others are ignored, as there.


def _matches(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda value: compiled.fullmatch(value) is not None


_HOST_CHAR = "a-zA-Z0-9\u0080-\U0010ffff"  # \p{L} and \p{S}, approximated by "not ASCII"
_HOSTNAME = re.compile(
    f"[{_HOST_CHAR}]((-?[{_HOST_CHAR}]{{0,62}})?)"
    f"|([{_HOST_CHAR}](([{_HOST_CHAR}-]{{0,61}}[{_HOST_CHAR}])?)(\\.)){{1,}}"
    "([a-zA-Z\u0080-\U0010ffff]){2,63}"
)
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")
_GO_DURATION = re.compile(r"[-+]?(0|(\d*\.?\d+(ns|us|µs|μs|ms|s|m|h))+)")
_LOOSE_DURATION = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS = (
    ("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
    ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"),
)


def _is_date(value: str) -> bool:
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    try:
        return match is not None and bool(datetime.date(*map(int, match.groups())))
    except ValueError:
        return False


def _is_datetime(value: str) -> bool:
    parts = value.lower().split("t")
    if len(value) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME.fullmatch(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_ip(value: str) -> bool:
    if _IPV4.fullmatch(value):
        return all(int(part) <= 255 for part in value.split("."))
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value


def _is_cidr(value: str) -> bool:
    address, slash, bits = value.partition("/")
    if not slash or not bits.isdigit() or not _is_ip(address):
        return False
    return int(bits) <= (32 if _IPV4.fullmatch(address) else 128)


def _is_hostname(value: str) -> bool:
    parts = value.split(".")
    return bool(_HOSTNAME.fullmatch(value)) and len(value) <= 255 and max(map(len, parts)) <= 63


def _is_duration(value: str) -> bool:
    if _GO_DURATION.fullmatch(value):
        return True
    for _, unit in _LOOSE_DURATION.findall(value):
        unit = unit.lower()
        if any(unit in variants or unit.startswith(variants[-1]) for variants in _DURATION_UNITS):
            return True
    return False


_UUID = "[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_HEX2 = "[0-9a-fA-F]{2}"
_RGB_PART = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_FORMATS: Mapping[str, Callable[[str], bool]] = {
    "bsonobjectid": _matches("[0-9a-fA-F]{24}"),
    "uri": _matches(r"(/|[a-zA-Z][a-zA-Z0-9+.-]*:)\S*"),
    "email": _matches(r"([^<>]*<)?[^@\s<>]+@[^@\s<>]+>?"),
    "hostname": _is_hostname,
    "ipv4": lambda value: "." in value and _is_ip(value),
    "ipv6": lambda value: ":" in value and _is_ip(value),
    "cidr": _is_cidr,
    "mac": _matches(
        f"{_HEX2}([:-]{_HEX2}){{5}}(([:-]{_HEX2}){{2}}|([:-]{_HEX2}){{14}})?"
        r"|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}((\.[0-9a-fA-F]{4})|(\.[0-9a-fA-F]{4}){7})?"
    ),
    "uuid": _matches(_UUID % ("[0-9a-f]", "[0-9a-f]"), re.IGNORECASE),
    "uuid3": _matches(_UUID % ("3", "[0-9a-f]"), re.IGNORECASE),
    "uuid4": _matches(_UUID % ("4", "[89ab]"), re.IGNORECASE),
    "uuid5": _matches(_UUID % ("5", "[89ab]"), re.IGNORECASE),
    "ssn": _matches(r"\d{3}[- ]?\d{2}[- ]?\d{4}"),
    "hexcolor": _matches("#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"),
    "rgbcolor": _matches(f"rgb\\({_RGB_PART},{_RGB_PART},{_RGB_PART}\\)"),
    "byte": _matches(
        r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})"
    ),
    "date": _is_date,
    "duration": _is_duration,
    "datetime": _is_datetime,
    "k8sshortname": lambda value: not _dns1123_label(value),
    "k8slongname": lambda value: not _dns1123_subdomain(value),
}


# Pruning and defaulting, as apiextensions-apiserver's structural algorithms do them.


def prune(obj: Mapping[str, Any], schema: Schema) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``obj`` without the fields its structural schema does not declare.

    Kept: top-level and embedded ``apiVersion``/``kind``/``metadata``, subtrees marked
    ``x-kubernetes-preserve-unknown-fields`` (their declared fields are still pruned inside),
    and keys allowed by ``additionalProperties``; like the real server, a boolean
    ``additionalProperties`` keeps the keys but prunes the objects under them to ``{}``.
    Returns the copy and the sorted paths of the pruned fields (``spec.foo``, ``spec.a[0].b``),
    from which the server words ``unknown field "spec.foo"``.
    """
    pruned: list[str] = []
    result: dict[str, Any] = _prune(obj, schema, "", pruned, root=True)
    return result, sorted(pruned)


def _prune(
    value: Any, schema: Schema | None, path: str, pruned: list[str], root: bool = False
) -> Any:
    if schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"):
        return _prune_preserving(value, schema, path, pruned, root)
    if isinstance(value, dict):
        return _prune_object(value, schema, path, pruned, root)
    if isinstance(value, list):
        items = _subschema(schema, "items")
        return [_prune(v, items, f"{path}[{i}]", pruned) for i, v in enumerate(value)]
    return value


def _prune_object(
    value: Mapping[str, Any], schema: Schema | None, path: str, pruned: list[str], root: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if schema is None:
        pruned.extend(_child(path, key) for key in value)
        return result
    for key, item in value.items():
        kept = _prune_declared(key, item, schema, path, pruned, root)
        if kept is not _UNDECLARED:
            result[key] = kept
        else:
            pruned.append(_child(path, key))
    return result


def _prune_preserving(
    value: Any, schema: Schema | None, path: str, pruned: list[str], root: bool = False
) -> Any:
    """Prune only the declared fields of a subtree that preserves unknown ones."""
    if schema is None:
        return _copy_json(value)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            kept = _prune_declared(key, item, schema, path, pruned, root)
            result[key] = _copy_json(item) if kept is _UNDECLARED else kept
        return result
    if isinstance(value, list):
        items = _subschema(schema, "items")
        return [_prune_preserving(v, items, f"{path}[{i}]", pruned) for i, v in enumerate(value)]
    return value


_UNDECLARED = object()


def _prune_declared(
    key: str, item: Any, schema: Schema, path: str, pruned: list[str], root: bool
) -> Any:
    """The pruned ``item`` if the schema declares ``key``, else :data:`_UNDECLARED`."""
    if key in META_FIELDS and (root or schema.get("x-kubernetes-embedded-resource")):
        return _copy_json(item)
    properties = schema.get("properties") or {}
    if key in properties:
        return _prune(item, properties[key], _child(path, key), pruned)
    if schema.get("additionalProperties") is not None:
        return _prune(item, _subschema(schema, "additionalProperties"), _child(path, key), pruned)
    return _UNDECLARED


def _subschema(schema: Schema | None, keyword: str) -> Schema | None:
    found = None if schema is None else schema.get(keyword)
    return found if isinstance(found, dict) else None


def apply_defaults(obj: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """A copy of ``obj`` with the schema's ``default`` values filled in where fields are absent.

    Also where a field is null but not ``nullable``. Defaults apply recursively, inside
    defaulted values too, and inside array items and ``additionalProperties`` values.
    """
    result: dict[str, Any] = _default(obj, schema)
    return result


def _default(value: Any, schema: Schema | None) -> Any:
    if schema is None:
        return _copy_json(value)
    if isinstance(value, dict):
        return _default_object(value, schema)
    if isinstance(value, list):
        items = _subschema(schema, "items")
        return [_default(_default_if_null(item, items), items) for item in value]
    return value


def _default_object(value: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    properties: Schema = schema.get("properties") or {}
    result = dict(value)
    for key, subschema in properties.items():
        default = subschema.get("default")
        absent = key not in result or (result[key] is None and not subschema.get("nullable"))
        if default is not None and absent:
            result[key] = _copy_json(default)
    extra = _subschema(schema, "additionalProperties")
    for key, item in list(result.items()):
        if key in properties:
            result[key] = _default(item, properties[key])
        elif extra is not None:
            result[key] = _default(_default_if_null(item, extra), extra)
        else:
            result[key] = _copy_json(item)
    return result


def _default_if_null(value: Any, schema: Schema | None) -> Any:
    if value is None and schema is not None and not schema.get("nullable"):
        default = schema.get("default")
        return value if default is None else _copy_json(default)
    return value


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


# CustomResourceDefinitions (apiextensions.k8s.io/v1), the checks that matter to a test server.

_SCHEMA_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_EMPTY_TYPE_DETAILS = {
    "root": "must not be empty at the root",
    "item": "must not be empty for specified array items",
    "field": "must not be empty for specified object fields",
}


def validate_crd(crd: Mapping[str, Any]) -> list[Cause]:
    """The causes for which a v1 CRD would be rejected; empty if it is acceptable.

    Checks ``metadata.name`` (``<plural>.<group>``), ``spec.group``, ``spec.scope``,
    ``spec.versions`` (names, one storage version, a structural ``openAPIV3Schema`` each) and
    ``spec.names``. ``singular`` and ``listKind`` may be absent: the API defaults them.
    """
    spec = _mapping(crd.get("spec"))
    names = _mapping(spec.get("names"))
    return [
        *_crd_name_causes(_mapping(crd.get("metadata")), spec, names),
        *_crd_group_causes(spec.get("group") or ""),
        *_crd_scope_causes(spec.get("scope") or ""),
        *_crd_versions_causes(spec.get("versions")),
        *_crd_names_causes(names),
    ]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _crd_name_causes(
    meta: Mapping[str, Any], spec: Mapping[str, Any], names: Mapping[str, Any]
) -> list[Cause]:
    name = meta.get("name") or ""
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    messages = _dns1123_subdomain(name)
    if name != f"{names.get('plural') or ''}.{spec.get('group') or ''}":
        messages.append('must be spec.names.plural+"."+spec.group')
    return [invalid("metadata.name", name, message) for message in messages]


def _crd_group_causes(group: str) -> list[Cause]:
    if not group:
        return [required("spec.group")]
    if errors := _dns1123_subdomain(group):
        return [invalid("spec.group", group, ",".join(errors))]
    if "." not in group:
        return [invalid("spec.group", group, "should be a domain with at least one dot")]
    return []


def _crd_scope_causes(scope: str) -> list[Cause]:
    if not scope:
        return [required("spec.scope")]
    if scope not in ("Cluster", "Namespaced"):
        return [not_supported("spec.scope", scope, ["Cluster", "Namespaced"])]
    return []


def _crd_versions_causes(versions: Any) -> list[Cause]:
    items = [_mapping(v) for v in versions] if isinstance(versions, list) else []
    causes = [
        required(f"spec.versions[{i}].schema.openAPIV3Schema")
        for i, version in enumerate(items)
        if not isinstance(_mapping(version.get("schema")).get("openAPIV3Schema"), Mapping)
    ]
    for index, version in enumerate(items):
        causes.extend(_crd_version_causes(version, f"spec.versions[{index}]"))
    names = [version.get("name") for version in items]
    if len(set(map(str, names))) != len(names):
        causes.append(invalid("spec.versions", versions, "must contain unique version names"))
    if sum(1 for version in items if version.get("storage") is True) != 1:
        detail = "must have exactly one version marked as storage version"
        causes.append(invalid("spec.versions", versions, detail))
    return causes


def _crd_version_causes(version: Mapping[str, Any], path: str) -> list[Cause]:
    name = version.get("name")
    name = name if isinstance(name, str) else ""
    causes = _joined(f"{path}.name", name, _dns1035_label(name))
    schema = _mapping(version.get("schema")).get("openAPIV3Schema")
    if isinstance(schema, Mapping):
        causes.extend(_schema_causes(schema, f"{path}.schema.openAPIV3Schema", "root"))
    return causes


def _schema_causes(schema: Schema, path: str, level: str) -> list[Cause]:
    """The structural-schema rules worth enforcing in a test server: types and items."""
    causes: list[Cause] = []
    type_ = schema.get("type")
    if type_ and type_ not in _SCHEMA_TYPES:
        causes.append(not_supported(f"{path}.type", type_, _SCHEMA_TYPES))
    if type_ == "array" and not isinstance(schema.get("items"), Mapping):
        causes.append(required(f"{path}.items", "must be specified"))
    if isinstance(items := schema.get("items"), Mapping):
        causes.extend(_schema_causes(items, f"{path}.items", "item"))
    for key, subschema in _mapping(schema.get("properties")).items():
        causes.extend(_schema_causes(_mapping(subschema), f"{path}.properties[{key}]", "field"))
    if isinstance(extra := schema.get("additionalProperties"), Mapping):
        causes.extend(_schema_causes(extra, f"{path}.additionalProperties", "field"))
    if level == "root" and "additionalProperties" in schema:
        causes.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    lenient = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if not type_ and not lenient:
        causes.append(required(f"{path}.type", _EMPTY_TYPE_DETAILS[level]))
    if level == "root" and type_ and type_ != "object":
        causes.append(invalid(f"{path}.type", type_, "must be object at the root"))
    return causes


def _crd_names_causes(names: Mapping[str, Any]) -> list[Cause]:
    causes = [required(f"spec.names.{key}") for key in ("plural", "kind") if not names.get(key)]
    for key in ("plural", "singular"):
        if value := names.get(key):
            causes.extend(_joined("spec.names." + key, value, _dns1035_label(value)))
    for key in ("kind", "listKind"):
        if value := names.get(key):
            errors = _dns1035_label(value.lower())
            prefix = "may have mixed case, but should otherwise match: "
            causes.extend(_joined("spec.names." + key, value, errors, prefix))
    for key in ("shortNames", "categories"):
        for index, value in enumerate(names.get(key) or []):
            causes.extend(_joined(f"spec.names.{key}[{index}]", value, _dns1035_label(value)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        detail = "kind and listKind may not be the same"
        causes.append(invalid("spec.names.listKind", names["listKind"], detail))
    return causes


def _joined(field: str, value: str, errors: Iterable[str], prefix: str = "") -> list[Cause]:
    """One cause with all the errors joined by commas, as the CRD validation reports names."""
    text = ",".join(errors)
    return [invalid(field, value, prefix + text)] if text else []
