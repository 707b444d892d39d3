"""The OpenAPI v3 documents of the embedded server, one per group-version, as kubectl reads them.

kubectl 1.32 reads ``GET /openapi/v3`` (the index made by :func:`openapi_v3_index`) and then,
per group-version, ``GET /openapi/v3/apis/<group>/<version>?hash=…`` (a document made by
:func:`openapi_v3_document`). It uses that document for three things:

* **Choosing validation.** kubectl looks for the PATCH operation tagged with the object's
  group-version-kind and checks that it takes a ``fieldValidation`` query parameter. If it does,
  kubectl skips client-side schema validation and sends ``fieldValidation=Strict``: the server
  validates (built-ins by decoding them into their types, custom resources by their schemas).
  Client-side validation reads OpenAPI v2 only (``_openapi_v2``), for kinds no v3 document names.
* **Computing the apply patch.** For a PATCH operation that accepts
  ``application/strategic-merge-patch+json``, kubectl builds the strategic merge patch from the
  schemas in this document: their ``x-kubernetes-patch-merge-key`` and
  ``x-kubernetes-patch-strategy``. Built-ins carry their real schemas (``_openapi_schemas``), so
  their PATCH operations take it, as on kube-apiserver; custom resources take JSON merge patches.
  Without ``kubernetes-validate`` the built-ins' schemas are permissive objects with no merge
  keys, and their PATCH operations do not list strategic merge: kubectl then falls back to its
  compiled-in types.
* **``kubectl explain``.** It reads ``components.schemas``: the real ones for built-ins, the
  CRD's schema for custom resources.

The index carries a hash of each document. kubectl caches documents by their URL, so the hash
changes whenever a document changes: when a CRD adds, changes or drops a version. Like
kube-apiserver, the hash is the upper-case hex SHA-512 of the document's JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..admission._builtin_schemas import definition_name
from ..registry._resources import ResourceInfo
from ._openapi_schemas import builtin_schemas

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_OBJECT_META = f"{_META}.ObjectMeta"
_LIST_META = f"{_META}.ListMeta"
_PATCH = f"{_META}.Patch"
_DELETE_OPTIONS = f"{_META}.DeleteOptions"
_STATUS = f"{_META}.Status"

# Strategic merge patches only for built-ins with their real schemas: see the module docstring.
_PATCH_MEDIA_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
_STRATEGIC = "application/strategic-merge-patch+json"
_RESPONSE_MEDIA_TYPES = ("application/json", "application/yaml")

_SHARED_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    _OBJECT_META: {
        "description": "Standard object metadata.",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "generateName": {"type": "string"},
            "namespace": {"type": "string"},
            "uid": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"}},
            "ownerReferences": {"type": "array", "items": {"type": "object"}},
            "managedFields": {"type": "array", "items": {"type": "object"}},
        },
    },
    _LIST_META: {
        "description": "Standard list metadata.",
        "type": "object",
        "properties": {
            "resourceVersion": {"type": "string"},
            "continue": {"type": "string"},
            "remainingItemCount": {"type": "integer", "format": "int64"},
        },
    },
    _PATCH: {"description": "The body of a PATCH request.", "type": "object"},
    _DELETE_OPTIONS: {"description": "Options for a deletion.", "type": "object"},
    _STATUS: {"description": "The outcome of an operation.", "type": "object"},
}


def group_version_path(group: str, version: str) -> str:
    """The index key and URL tail of a group-version: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document_hash(document: Mapping[str, Any]) -> str:
    """The cache-busting hash of a document, as kube-apiserver makes it: upper-case SHA-512 hex."""
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha512(encoded.encode("utf-8")).hexdigest().upper()


def openapi_v3_index(resources: Iterable[ResourceInfo]) -> dict[str, Any]:
    """The ``GET /openapi/v3`` answer: one entry per served group-version, with its hash."""
    resources = list(resources)
    group_versions = sorted({(resource.group, resource.version) for resource in resources})
    paths = {}
    for group, version in group_versions:
        document = openapi_v3_document(group, version, resources)
        tail = group_version_path(group, version)
        url = f"/openapi/v3/{tail}?hash={document_hash(document)}"
        paths[tail] = {"serverRelativeURL": url}
    return {"paths": paths}


def openapi_v3_document(
    group: str,
    version: str,
    resources: Iterable[ResourceInfo],
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version, made from the resources served in it.

    Resources of other group-versions are ignored, so the whole served set can be passed. A
    group-version with no resources gives a document with no paths. The server should answer
    404 for it instead.
    """
    selected = sorted(
        (r for r in resources if r.group == group and r.version == version),
        key=lambda r: r.plural,
    )
    builtins = [r for r in selected if not r.custom]
    real = builtin_schemas([*_SHARED_SCHEMAS, *(
        schema_name(r, list_kind=list_kind) for r in builtins for list_kind in (False, True))])
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {name: _plain(schema) for name, schema in _SHARED_SCHEMAS.items()}
    schemas.update(_plain(real or {}))
    for resource in selected:
        strategic = not resource.custom and real is not None
        paths.update(_resource_paths(resource, strategic=strategic))
        if schema_name(resource) not in schemas:
            schemas[schema_name(resource)] = _object_schema(resource)
        if schema_name(resource, list_kind=True) not in schemas:
            schemas[schema_name(resource, list_kind=True)] = _list_schema(resource)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def schema_name(resource: ResourceInfo, *, list_kind: bool = False) -> str:
    """The component name kube-apiserver gives a kind's schema.

    Built-ins: ``io.k8s.api.<package>.<version>.<Kind>``, e.g. ``io.k8s.api.core.v1.ConfigMap``.
    Custom resources: the group reversed, e.g. ``io.k8s.samplecontroller.v1alpha1.Foo``.
    """
    kind = resource.list_kind if list_kind else resource.kind
    if resource.custom:
        reversed_group = ".".join(reversed(resource.group.split(".")))
        return f"{reversed_group}.{resource.version}.{kind}"
    return definition_name(resource.group, resource.version, kind)


def _gvk(resource: ResourceInfo, *, list_kind: bool = False) -> dict[str, str]:
    kind = resource.list_kind if list_kind else resource.kind
    return {"group": resource.group, "version": resource.version, "kind": kind}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object_schema(resource: ResourceInfo) -> dict[str, Any]:
    """The kind's schema: the CRD's own for custom resources, a permissive one for built-ins
    without their real schemas."""
    schema: dict[str, Any]
    if resource.schema is not None:
        schema = _plain(resource.schema)
    else:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema.setdefault("type", "object")
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": "The versioned schema."}
    properties["kind"] = {"type": "string", "description": "The kind of the object."}
    properties["metadata"] = {"allOf": [_ref(_OBJECT_META)], "default": {}}
    schema.setdefault("description", f"{resource.kind} ({resource.api_version}).")
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource)]
    return schema


def _list_schema(resource: ResourceInfo) -> dict[str, Any]:
    return {
        "description": f"A list of {resource.kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [_ref(_LIST_META)], "default": {}},
            "items": {"type": "array", "items": _ref(schema_name(resource))},
        },
        "x-kubernetes-group-version-kind": [_gvk(resource, list_kind=True)],
    }


def _resource_paths(resource: ResourceInfo, *, strategic: bool) -> dict[str, Any]:
    """The collection and item paths of a resource, with one operation per supported verb;
    ``strategic``: its PATCH takes strategic merge patches (built from its schema)."""
    root = f"/{group_version_path(resource.group, resource.version)}"
    scope = f"{root}/namespaces/{{namespace}}" if resource.namespaced else root
    collection_path = f"{scope}/{resource.plural}"
    item_path = f"{collection_path}/{{name}}"
    namespace_param = _path_param("namespace", "object name and auth scope, such as for teams")
    scope_params = [namespace_param] if resource.namespaced else []
    name_param = _path_param("name", f"name of the {resource.kind}")

    verbs = set(resource.verbs)
    collection: dict[str, Any] = {"parameters": scope_params}
    item: dict[str, Any] = {"parameters": [name_param, *scope_params]}
    if "list" in verbs:
        list_schema = _ref(schema_name(resource, list_kind=True))
        collection["get"] = _operation(resource, "list", list_schema)
    if "create" in verbs:
        collection["post"] = _operation(resource, "post", _ref(schema_name(resource)))
    if "deletecollection" in verbs:
        collection["delete"] = _operation(resource, "deletecollection", _ref(_STATUS))
    if "get" in verbs:
        item["get"] = _operation(resource, "get", _ref(schema_name(resource)))
    if "update" in verbs:
        item["put"] = _operation(resource, "put", _ref(schema_name(resource)))
    if "patch" in verbs:
        item["patch"] = _operation(resource, "patch", _ref(schema_name(resource)),
                                   strategic=strategic)
    if "delete" in verbs:
        item["delete"] = _operation(resource, "delete", _ref(_STATUS))
    return {collection_path: collection, item_path: item}


_QUERY_PARAMS: Mapping[str, tuple[str, ...]] = {
    "post": ("dryRun", "fieldManager", "fieldValidation"),
    "put": ("dryRun", "fieldManager", "fieldValidation"),
    "patch": ("dryRun", "fieldManager", "fieldValidation", "force"),
    "delete": ("dryRun", "gracePeriodSeconds", "propagationPolicy"),
    "deletecollection": ("dryRun", "labelSelector", "fieldSelector", "propagationPolicy"),
    "list": ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"),
    "get": (),
}
_BOOLEAN_PARAMS = frozenset({"force", "watch"})
_INTEGER_PARAMS = frozenset({"gracePeriodSeconds", "limit"})
_OPERATION_VERBS: Mapping[str, str] = {
    "list": "list", "post": "create", "deletecollection": "deleteCollection", "get": "read",
    "put": "replace", "patch": "patch", "delete": "delete",
}


def _operation(resource: ResourceInfo, action: str, response: Mapping[str, Any], *,
               strategic: bool = False) -> dict[str, Any]:
    media = {media_type: {"schema": dict(response)} for media_type in _RESPONSE_MEDIA_TYPES}
    operation: dict[str, Any] = {
        "tags": [_tag(resource)],
        "description": f"{action} {resource.kind}",
        "operationId": _operation_id(resource, action),
        "parameters": [_query_param(name) for name in _QUERY_PARAMS[action]],
        "responses": {
            "200": {"description": "OK", "content": media},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
    }
    if action == "patch":
        media_types = (*_PATCH_MEDIA_TYPES, _STRATEGIC) if strategic else _PATCH_MEDIA_TYPES
        content = {media_type: {"schema": _ref(_PATCH)} for media_type in media_types}
        operation["requestBody"] = {"content": content, "required": True}
    elif action in ("post", "put"):
        content = {"*/*": {"schema": _ref(schema_name(resource))}}
        operation["requestBody"] = {"content": content, "required": True}
    elif action in ("delete", "deletecollection"):
        operation["requestBody"] = {"content": {"*/*": {"schema": _ref(_DELETE_OPTIONS)}}}
    if action in ("post", "put", "patch"):
        operation["responses"]["201"] = {"description": "Created", "content": media}
    return operation


def _path_param(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "uniqueItems": True}
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": schema}


def _query_param(name: str) -> dict[str, Any]:
    kind = "boolean" if name in _BOOLEAN_PARAMS else "integer" if name in _INTEGER_PARAMS else None
    schema = {"type": kind or "string", "uniqueItems": True}
    return {"name": name, "in": "query", "schema": schema}


def _camel_group(resource: ResourceInfo) -> str:
    if not resource.group:
        return "core"
    group = resource.group if resource.custom else resource.group.removesuffix(".k8s.io")
    words = group.replace("-", ".").split(".")
    return words[0] + "".join(word.capitalize() for word in words[1:])


def _tag(resource: ResourceInfo) -> str:
    return f"{_camel_group(resource)}_{resource.version}"


def _operation_id(resource: ResourceInfo, action: str) -> str:
    group = _camel_group(resource)
    scope = "Namespaced" if resource.namespaced else ""
    prefix = f"{_OPERATION_VERBS[action]}{group[0].upper()}{group[1:]}"
    return f"{prefix}{resource.version.capitalize()}{scope}{resource.kind}"


def _plain(value: Any) -> Any:
    """A deep copy as plain JSON types, so that documents can be hashed, encoded and mutated."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # e.g. a date that YAML parsed from an unquoted default
