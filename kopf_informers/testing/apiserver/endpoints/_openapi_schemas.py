"""The real schemas of built-in kinds, as the OpenAPI documents of kube-apiserver carry them.

Where it sits: ``_openapi`` puts them in each group-version's ``/openapi/v3`` document, and
``_openapi_v2`` in ``/openapi/v2``. They come from ``admission/_builtin_schemas`` (JSON Schema,
as ``kubernetes-validate`` ships them: nullable types, ``$defs`` references), and are written
here as kube-apiserver writes them: one type per schema, ``#/components/schemas/`` references
(wrapped in ``allOf`` where the property says more than the reference, as kube-openapi does),
``IntOrString`` and ``Quantity`` as ``oneOf`` their JSON types, and the patch strategies, merge
keys, list types and group-version-kinds that kubectl reads (``kubectl explain``, strategic
merge patches of ``kubectl apply``). Without ``kubernetes-validate``, there are none:
:func:`builtin_schemas` returns ``None``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..admission import _builtin_schemas

V3_REF: Final = "#/components/schemas/"
_INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
# openapi2jsonschema adds these enums; kube-apiserver's documents have none there.
_ENVELOPE: Final = ("apiVersion", "kind")


def builtin_schemas(names: Iterable[str]) -> dict[str, Any] | None:
    """The v3 schemas of the definitions ``names`` and of all they refer to, by name; ``None``
    without ``kubernetes-validate``. Unknown names are left out."""
    if _builtin_schemas.definitions() is None:
        return None
    return dict(_closure(tuple(sorted(set(names)))))


@functools.cache
def _closure(names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """Cached per set of names: the documents are remade whenever a CRD changes, the built-in
    part of them never does. Callers copy what they change (``_openapi`` does, with _plain)."""
    defs = _builtin_schemas.definitions() or {}
    found: dict[str, Any] = {}
    pending = [name for name in names if name in defs]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = _v3(defs[name], name)
        pending.extend(ref for ref in _refs(defs[name]) if ref in defs and ref not in found)
    return tuple(sorted(found.items()))


def _refs(schema: Any) -> Iterable[str]:
    if isinstance(schema, Mapping):
        ref = _builtin_schemas.ref_name(schema)
        if ref is not None:
            yield ref
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)


def _v3(schema: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    ref = _builtin_schemas.ref_name(schema)
    for key, value in schema.items():
        if key in ("$ref", "type", "$schema", "$id"):
            continue
        if key == "properties":
            result[key] = {
                prop: _v3(sub) if prop not in _ENVELOPE else
                {k: v for k, v in _v3(sub).items() if k != "enum"}
                for prop, sub in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            result[key] = _v3(value)
        elif key == "oneOf":
            result[key] = [{"type": t} for one in value for t in _builtin_schemas.types_of(one)]
        else:
            result[key] = value
    types = _builtin_schemas.types_of(schema)
    if len(types) == 1:
        result["type"] = types[0]
    if name == _INT_OR_STRING:
        result["x-kubernetes-int-or-string"] = True
    if ref is not None:
        target = {"$ref": V3_REF + ref}
        return {"allOf": [target], **result} if result else target
    return result
