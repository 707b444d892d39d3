"""Custom objects against their CRD version's structural schema, as kube-openapi checks them.

Where it sits: the server calls :func:`validate_custom_object` after defaulting and pruning
(``_pruning``), besides the metadata checks (``_objectmeta``). The detail texts are those of
kube-openapi's ``SchemaValidator``, quirks included (errors of ``anyOf``/``oneOf``/``allOf``/
``not`` carry the field ``<nil>``). ``pattern`` is matched with Python's :mod:`re`, not RE2;
``format`` checks are delegated to ``_formats``. :data:`Schema` and :data:`META_FIELDS` are
shared with the pruning and CRD modules.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from ..apimachinery._field_errors import (
    NO_FIELD,
    Cause,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
    unplaced,
)
from ..apimachinery._formats import FORMATS
from ..apimachinery._gofmt import go_json, go_quote, go_value
from ..apimachinery._names import dns1035_label

Schema = Mapping[str, Any]  # nested schemas and values are decoded JSON: dicts and lists

META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_FLOAT32 = 3.4028234663852886e38
_MAX_JSON_INTEGER = 2.0**53


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


def child_path(path: str, key: str) -> str:
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
    quoted = go_quote(path)
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
            out.append(unplaced(f"{quoted} must validate all the schemas (allOf){none}"))
    if "not" in schema and not _collect(value, schema["not"], path, root):
        out.append(unplaced(f"{quoted} must not validate the schema (not)"))


def _check_any_of(
    value: Any, branches: list[Schema], path: str, out: list[Cause], root: bool
) -> None:
    failures: list[list[Cause]] = []
    for branch in branches:
        errors = _collect(value, branch, path, root)
        if not errors:
            return
        failures.append(errors)
    out.append(unplaced(f"{go_quote(path)} must validate at least one schema (anyOf)"))
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
    detail = f"{go_quote(path)} must validate one and only one schema (oneOf). {found}"
    out.append(unplaced(detail))
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
    check = FORMATS.get(format_.replace("-", ""))
    if check is not None and not check(value):
        detail = f"{path} in body must be of type {format_}: {go_quote(value)}"
        out.append(type_invalid(_field(path), value, detail))


def _check_number(value: float, schema: Schema, path: str, out: list[Cause]) -> None:
    numeric, format_ = _numeric_type(schema)
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        value = _as_float(value)  # as Go decodes it
    if numeric and not _fits(value, numeric, format_):
        with_format = f" with format {format_}" if format_ else " (default format)"
        out.append(unplaced(f"Checked value must be of type {numeric}{with_format} in {path}"))
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
        detail = f"{path} in body should be {phrase} {go_value(bound)}"
        out.append(invalid(_field(path), value, detail))


def _check_multiple_of(
    value: float, factor: float, numeric: str, format_: str, path: str, out: list[Cause]
) -> None:
    native = isinstance(value, int) and _fits(float(factor), numeric, format_)
    divisor: float = int(factor) if native else float(factor)
    if divisor <= 0:
        detail = f"factor MultipleOf declared for {path} must be positive: {go_value(divisor)}"
        out.append(invalid(_field(path), divisor, detail))
        return
    if native:
        failed = value % divisor != 0
    else:  # go-openapi divides this way round to dodge rounding errors with small factors
        failed = not _is_json_integer(1 / divisor * value if divisor < 1 else value / divisor)
    if failed:
        detail = f"{path} in body should be a multiple of {go_value(divisor)}"
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
    supported = [o if isinstance(o, str) else go_json(o) for o in options]
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
                _validate(item, extra, child_path(path, key), out)
    for key, subschema in properties.items():
        if key in value and key not in skipped:
            _validate(value[key], subschema, child_path(path, key), out)
    for key in schema.get("required") or ():
        if key not in value and key not in skipped:
            out.append(required(child_path(path, key)))
    if not root and schema.get("x-kubernetes-embedded-resource"):
        _check_embedded(value, path, out)


def _check_embedded(value: Mapping[str, Any], path: str, out: list[Cause]) -> None:
    """apiVersion and kind of an embedded object, as the CR strategy checks them."""
    for key in ("apiVersion", "kind"):
        field = child_path(path, key)
        item = value.get(key)
        if key not in value:
            out.append(required(field))
        elif not isinstance(item, str):
            out.append(invalid(field, item, "must be a string"))
        elif not item:
            out.append(invalid(field, item, "must not be empty"))
        elif key == "apiVersion" and item.count("/") > 1:
            out.append(invalid(field, item, f"unexpected GroupVersion string: {item}"))
        elif key == "kind" and (errors := dns1035_label(item.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(errors)
            out.append(invalid(field, item, detail))
