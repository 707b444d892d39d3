"""The real schemas of the built-in kinds, as kube-apiserver of the version the server claims
publishes them, from the optional ``kubernetes-validate`` package.

Where it sits: a built-in's strategy names its type's definition (:func:`definition_name`);
decoding a built-in object (``_typed_decoding``) walks the definition that :func:`compiled`
makes of it, and the OpenAPI endpoint serves :func:`definitions` as ``/openapi/v3`` and
``/openapi/v2`` documents. Everything is loaded once, on first use, and cached.

``kubernetes-validate`` ships the JSON schemas of every Kubernetes version, some 108 MB: it is
not a dependency of the library, only of its ``testing`` (and ``test``) extra. Without it,
:func:`definitions` is ``None``: built-in objects are stored as they come, without unknown
fields refused or dropped and without type checks, and the OpenAPI documents carry permissive
schemas for built-ins. :func:`definitions` logs that once.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

# The Kubernetes version whose schemas are used: the minor the server claims in /version.
KUBERNETES_MINOR: Final = 32
SCHEMA_SET: Final = f"v1.{KUBERNETES_MINOR}.0-local"
MISSING_MESSAGE: Final = (
    "kubernetes-validate is not installed: the embedded API server stores built-in objects "
    "without their schemas (unknown fields are kept, wrong types are not refused) and serves "
    "permissive OpenAPI schemas for them; pip install 'kopf-informers[testing]' to validate "
    "them as kube-apiserver does"
)

_REF_PREFIX: Final = "#/$defs/"
_APIEXTENSIONS: Final = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
_APIREGISTRATION: Final = "io.k8s.kube-aggregator.pkg.apis.apiregistration"

logger = logging.getLogger("kopf_informers.srv")  # the embedded server; fits Kopf's log format

Definitions = Mapping[str, Mapping[str, Any]]


def definition_name(group: str, version: str, kind: str) -> str:
    """The name kube-apiserver's OpenAPI gives a built-in kind's type:
    ``io.k8s.api.<group's first word>.<version>.<Kind>`` (``core`` for the core group), but
    the apiextensions-apiserver's and kube-aggregator's own for their kinds."""
    if group == "apiextensions.k8s.io":
        return f"{_APIEXTENSIONS}.{version}.{kind}"
    if group == "apiregistration.k8s.io":
        return f"{_APIREGISTRATION}.{version}.{kind}"
    package = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{package}.{version}.{kind}"


@functools.cache
def definitions() -> Definitions | None:
    """Every definition of the Kubernetes version's OpenAPI, by name; ``None`` (logged once)
    when ``kubernetes-validate`` is not installed."""
    found = _load()
    if found is None:
        logger.warning(MISSING_MESSAGE)
    return found


def _load() -> Definitions | None:
    try:
        package = importlib.resources.files("kubernetes_validate")
    except ModuleNotFoundError:
        return None
    source = package / "kubernetes-json-schema" / SCHEMA_SET / "_definitions.json"
    found: Definitions = json.loads(source.read_bytes())["$defs"]
    return found


def ref_name(schema: Mapping[str, Any]) -> str | None:
    """The definition a schema refers to with ``$ref``, if it does."""
    ref = schema.get("$ref")
    return ref[len(_REF_PREFIX):] if isinstance(ref, str) and ref.startswith(_REF_PREFIX) else None


def types_of(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The JSON types a schema allows, ``null`` left out (every field of a built-in may be
    null: the decoder then leaves it unset)."""
    kind = schema.get("type")
    listed = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    return tuple(t for t in listed if t != "null")


# -- the compiled form that decoding walks -----------------------------------------------------


@dataclasses.dataclass(eq=False)
class TypeNode:
    """One Go type of a built-in, as the JSON decoder sees it.

    ``shape``: ``struct`` (declared ``fields``; any other key is an unknown field), ``map``
    (string keys, ``items`` values), ``slice`` (``items``), ``scalar`` (one of ``accepts``),
    or ``any`` (free-form: runtime.RawExtension, apiextensions JSON). ``go`` is the Go type's
    name as Go prints it in a decoding error (``int32``, ``v1.PodSpec``, ``[]v1.Container``);
    ``struct`` the bare name of a struct type (``PodSpec``), which Go names a field's
    struct with.
    """

    shape: str
    go: str
    struct: str = ""
    fields: dict[str, TypeNode] = dataclasses.field(default_factory=dict)
    items: TypeNode | None = None
    accepts: tuple[str, ...] = ()  # scalars: "string", "integer", "number", "boolean"
    bits: int = 0  # integers: 32 or 64, the range Go checks
    python: frozenset[type] = frozenset()  # scalars: the Python types of ``accepts``

    def __post_init__(self) -> None:
        self.python = frozenset(t for kind in self.accepts for t in _PYTHON_TYPES[kind])


_PYTHON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
}
ANY: Final = TypeNode("any", "interface {}")


def compiled(name: str) -> TypeNode | None:
    """The compiled type of definition ``name``; ``None`` without schemas or for an unknown
    name. Compiled once per name, referenced definitions included (recursive ones too)."""
    defs = definitions()
    if defs is None or name not in defs:
        return None
    return _Compiler(defs).definition(name)


class _Compiler:
    """Compiles definitions into shared :class:`TypeNode`\\ s; the cache spans all compilers."""

    _done: dict[str, TypeNode] = {}

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs

    def definition(self, name: str) -> TypeNode:
        done = self._done.get(name)
        if done is not None:
            return done
        schema = self.defs.get(name, {})
        short = name.rsplit(".", 1)[-1]
        package = name.rsplit(".", 2)[-2]
        go = f"{package}.{short}"
        if "oneOf" in schema:  # IntOrString, Quantity: a string or a number
            accepts = tuple(t for one in schema["oneOf"] for t in types_of(one))
            node = TypeNode("scalar", go, accepts=accepts)
        elif "properties" in schema:
            node = TypeNode("struct", go, struct=short)
            self._done[name] = node  # before its fields: definitions may refer to themselves
            node.fields = {key: self.node(sub) for key, sub in schema["properties"].items()}
        elif "object" in types_of(schema) or not types_of(schema):
            node = ANY  # free-form objects (RawExtension, FieldsV1) and untyped JSON
        else:
            node = self.node(schema)
        self._done[name] = node
        return node

    def node(self, schema: Mapping[str, Any]) -> TypeNode:
        name = ref_name(schema)
        if name is not None:
            return self.definition(name)
        types = types_of(schema)
        if "array" in types:
            items = self.node(schema.get("items") or {})
            return TypeNode("slice", f"[]{items.go}", items=items)
        if "object" in types:
            extra = schema.get("additionalProperties")
            if not isinstance(extra, dict):
                return ANY
            values = self.node(extra)
            return TypeNode("map", f"map[string]{values.go}", items=values)
        if len(types) == 1:
            return _scalar(types[0], schema.get("format"))
        return ANY


_GO_SCALARS: Final[Mapping[tuple[str, str | None], str]] = {
    ("integer", "int32"): "int32",
    ("integer", "int64"): "int64",
    ("integer", None): "int",
    ("number", "double"): "float64",
    ("number", None): "float64",
    ("boolean", None): "bool",
    ("string", "byte"): "[]uint8",
}


def _scalar(kind: str, fmt: str | None) -> TypeNode:
    go = _GO_SCALARS.get((kind, fmt)) or _GO_SCALARS.get((kind, None)) or "string"
    bits = 32 if go == "int32" else 64 if kind == "integer" else 0
    return TypeNode("scalar", go, accepts=(kind,), bits=bits)
