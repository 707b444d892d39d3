"""Decoding a built-in object into its Go type, as kube-apiserver's JSON decoder does it.

Where it sits: a built-in's strategy decodes every object it is about to store with
:func:`decode_typed` (after a patch is applied, for patches), with the type that
``_builtin_schemas`` compiled from the real schemas. The real server decodes a body into its Go
struct with sigs.k8s.io/json, which

* drops the fields the struct does not declare, and reports them as strict decoding errors
  with their paths (``unknown field "spec.template.spec.containers[0].bogus"``), which
  ``fieldValidation`` turns into a 400 (Strict), a warning (Warn) or nothing (Ignore), as for
  the pruned fields of custom resources;
* refuses a value of the wrong JSON type as encoding/json words it, whatever ``fieldValidation``
  says: ``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
  int32`` (the struct is the innermost one around the field; the path names struct fields only,
  no indices or map keys). That is a 400 for a create or an update, a 422 on ``patch`` for a
  patch: the registry words it (:class:`TypeMismatch` carries the Go text).

Differences on purpose: named Go types of strings and numbers (``v1.Protocol``) are named by
their JSON type (``string``); times, quantities and base64 are not parsed, only typed; a null
is left where it is (Go would leave the field unset: it is omitted when the object is read back
by a real server).
"""

from __future__ import annotations

from typing import Any

from ._builtin_schemas import TypeNode, compiled

Obj = dict[str, Any]


class TypeMismatch(ValueError):  # as Go's UnmarshalTypeError
    """A value of the wrong JSON type for its field; ``str()`` is Go's message."""


def decode_typed(obj: Obj, definition: str) -> tuple[Obj, list[str]]:
    """Drop from ``obj`` (a private copy, changed in place) the fields its kind's type does not
    declare; returns it and the sorted paths of the dropped fields. Raises
    :class:`TypeMismatch` for a value of the wrong type. Without the schemas (see
    ``_builtin_schemas``), or for a definition they lack, ``obj`` is returned unchecked."""
    node = compiled(definition)
    if node is None or node.shape != "struct":
        return obj, []
    unknown: list[str] = []
    _struct(obj, node, None, unknown)
    return obj, sorted(unknown)


# Where a value sits, built only when an error needs it: (parent, segment, struct field?).
Trail = tuple[Any, str, bool] | None


def _decode(value: Any, node: TypeNode, trail: Trail, struct: str, unknown: list[str]) -> None:
    """Check ``value`` (at ``trail``, a field of the Go struct ``struct``) against ``node``."""
    shape = node.shape
    if shape == "scalar":
        if not _fits(value, node):
            raise _mismatch(value, node, trail, struct)
    elif shape == "struct":
        if not isinstance(value, dict):
            raise _mismatch(value, node, trail, struct)
        _struct(value, node, trail, unknown)
    elif shape == "slice":
        if not isinstance(value, list):
            if isinstance(value, str) and node.go == "[]uint8":
                return
            raise _mismatch(value, node, trail, struct)
        items = node.items
        assert items is not None
        if items.shape != "any":
            for index, item in enumerate(value):
                if item is not None:
                    _decode(item, items, (trail, f"[{index}]", False), struct, unknown)
    elif shape == "map":
        if not isinstance(value, dict):
            raise _mismatch(value, node, trail, struct)
        values = node.items
        assert values is not None
        if values.shape == "scalar":  # labels, annotations, data: the most common by far
            python, bits = values.python, values.bits
            if not bits and set(map(type, value.values())) <= python:
                return  # all of one accepted type: checked in C, not item by item
            for key, item in value.items():
                if item is not None and (
                        type(item) not in python or (bits and not _fits(item, values))):
                    raise _mismatch(item, values, (trail, key, False), struct)
        elif values.shape != "any":
            for key, item in value.items():
                if item is not None:
                    _decode(item, values, (trail, key, False), struct, unknown)


def _struct(value: Obj, node: TypeNode, trail: Trail, unknown: list[str]) -> None:
    fields = node.fields
    dropped = None
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            unknown.append(_path((trail, key, True)))
            dropped = [key] if dropped is None else [*dropped, key]
        elif item is None or field.shape == "any":
            continue
        elif field.shape == "scalar":
            if type(item) not in field.python or (field.bits and not _fits(item, field)):
                raise _mismatch(item, field, (trail, key, True), node.struct)
        else:
            _decode(item, field, (trail, key, True), node.struct, unknown)
    if dropped:
        for key in dropped:
            del value[key]


def _path(trail: Trail, *, go: bool = False) -> str:
    """The path of a trail: ``spec.containers[0].name``; or, as Go's decoding errors name it,
    its struct fields only: ``spec.containers.name``."""
    parts: list[str] = []
    while trail is not None:
        trail, segment, field = trail
        if field or not go:
            parts.append(segment)
    path = ""
    for segment in reversed(parts):
        path = segment if not path else path + segment if segment[0] == "[" else \
            f"{path}.{segment}"
    return path


def _fits(value: Any, node: TypeNode) -> bool:
    kind = type(value)
    if kind not in node.python:
        return False
    if kind is int and node.bits:
        return bool(-(1 << (node.bits - 1)) <= value < (1 << (node.bits - 1)))
    return True


def _mismatch(value: Any, node: TypeNode, trail: Trail, struct: str) -> TypeMismatch:
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int | float):
        # Go names the number itself where a number does not fit a number type.
        integer = "integer" in node.accepts or "number" in node.accepts
        kind = f"number {_go_number(value)}" if integer else "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    else:
        kind = "object"
    if not struct:
        return TypeMismatch(f"json: cannot unmarshal {kind} into Go value of type {node.go}")
    return TypeMismatch(
        f"json: cannot unmarshal {kind} into Go struct field {struct}.{_path(trail, go=True)} "
        f"of type {node.go}"
    )


def _go_number(value: int | float) -> str:
    return repr(value) if isinstance(value, float) else str(value)
