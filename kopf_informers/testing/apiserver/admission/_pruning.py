"""Pruning and defaulting of custom objects, as apiextensions-apiserver's structural algorithms
do them.

Where it sits: for a custom resource, the server first fills in defaults
(:func:`apply_defaults`), then drops the fields the schema does not declare (:func:`prune`);
the pruned paths drive ``fieldValidation=Strict`` and ``Warn``. Both return fresh containers
and never change their inputs. Then the schema validates what is left (``_schema_validation``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..apimachinery._json import copy_json
from ._schema_validation import META_FIELDS, Schema, child_path


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
        pruned.extend(child_path(path, key) for key in value)
        return result
    for key, item in value.items():
        kept = _prune_declared(key, item, schema, path, pruned, root)
        if kept is not _UNDECLARED:
            result[key] = kept
        else:
            pruned.append(child_path(path, key))
    return result


def _prune_preserving(
    value: Any, schema: Schema | None, path: str, pruned: list[str], root: bool = False
) -> Any:
    """Prune only the declared fields of a subtree that preserves unknown ones."""
    if schema is None:
        return copy_json(value)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            kept = _prune_declared(key, item, schema, path, pruned, root)
            result[key] = copy_json(item) if kept is _UNDECLARED else kept
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
        return copy_json(item)
    properties = schema.get("properties") or {}
    if key in properties:
        return _prune(item, properties[key], child_path(path, key), pruned)
    if schema.get("additionalProperties") is not None:
        extra = _subschema(schema, "additionalProperties")
        return _prune(item, extra, child_path(path, key), pruned)
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
        return copy_json(value)
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
            result[key] = copy_json(default)
    extra = _subschema(schema, "additionalProperties")
    for key, item in list(result.items()):
        if key in properties:
            result[key] = _default(item, properties[key])
        elif extra is not None:
            result[key] = _default(_default_if_null(item, extra), extra)
        else:
            result[key] = copy_json(item)
    return result


def _default_if_null(value: Any, schema: Schema | None) -> Any:
    if value is None and schema is not None and not schema.get("nullable"):
        default = schema.get("default")
        return value if default is None else copy_json(default)
    return value
