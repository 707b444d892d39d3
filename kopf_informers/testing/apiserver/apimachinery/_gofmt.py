"""Values as Go prints them, for messages that must match kube-apiserver's byte for byte.

Where it sits: below the validation modules (``_field_errors``, ``_objectmeta``,
``_schema_validation``), which word their causes with these renderings: ``%v`` and ``%q`` of
values decoded from JSON, Go's ``json.Marshal`` of them, and Go's names of their types and kinds.
Pure functions of decoded JSON (dicts, lists, strings, numbers, booleans, ``None``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def go_value(value: Any) -> str:
    """A bad value as field.Error prints it: ``%v`` for numbers, ``%q`` for strings, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    '"': '\\"', "\\": "\\\\",
}


def go_quote(text: str) -> str:
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


def go_json(value: Any) -> str:
    """Go's ``json.Marshal``: compact, keys sorted, HTML-escaped, Go's float notation."""
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, float):
        return go_float(value, for_json=True)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(_JSON_HTML_ESCAPES)
    if isinstance(value, Mapping):
        pairs = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(go_json, value)) + "]"
    return go_json(str(value))


def go_float(value: float, *, for_json: bool = False) -> str:
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


def go_type(value: Any) -> str:
    """Go's ``%T`` of a value decoded from JSON into ``interface{}``."""
    for python_type, go_name in _GO_TYPES:
        if isinstance(value, python_type):
            return go_name
    return "<nil>" if value is None else type(value).__name__


_GO_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"),
    (list, "[]interface {}"), (Mapping, "map[string]interface {}"),
)
_GO_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"), (list, "slice"),
    (Mapping, "map"),
)


def go_kind(value: Any) -> str:
    """The Go reflect.Kind of a value decoded from JSON."""
    return next((kind for type_, kind in _GO_KINDS if isinstance(value, type_)), "invalid")
