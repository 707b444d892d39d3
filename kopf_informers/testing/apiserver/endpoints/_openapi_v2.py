"""``GET /openapi/v2``: the Swagger 2.0 document of everything served, for the clients that
still read it.

kubectl 1.32 reads OpenAPI v3 first (see ``_openapi``), and v2 where v3 leaves it without an
answer: to validate on the client an object whose kind no v3 document names (a custom
resource whose CRD comes in the same ``kubectl apply -f`` file, not created yet: kubectl then
skips the kind, which v2 does not name either), and for ``kubectl explain
--output=plaintext-openapiv2``. Without a v2 document, kubectl fails the whole apply with "the
server could not find the requested resource".

It is made from the v3 documents, as kube-apiserver's are made from the same definitions:
``#/definitions/`` references, parameters with their types inline, request bodies as ``body``
parameters and ``consumes``, and nothing of JSON Schema that Swagger 2.0 lacks (``oneOf``,
``anyOf``, ``not``, ``nullable``: ``IntOrString`` is a string of format ``int-or-string``, as
kube-apiserver writes it). kubectl asks for it as protobuf only (``_openapi_proto`` encodes it);
other clients get JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..registry._resources import ResourceInfo
from ._openapi import openapi_v3_document
from ._openapi_schemas import V3_REF

V2_REF: Final = "#/definitions/"
# What kube-openapi answers with; client-go asks for the older "...spec.v2@v1.0+protobuf",
# which Go's mime parser refuses in a Content-Type.
PROTOBUF: Final = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_DROPPED: Final = frozenset({"oneOf", "anyOf", "not", "nullable"})


def openapi_v2_document(resources: Iterable[ResourceInfo]) -> dict[str, Any]:
    """The ``/openapi/v2`` document: every served group-version's paths and schemas."""
    resources = list(resources)
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for group, version in sorted({(r.group, r.version) for r in resources}):
        v3 = openapi_v3_document(group, version, resources)
        for name, schema in v3["components"]["schemas"].items():
            definitions[name] = _schema(schema)
        for path, item in v3["paths"].items():
            paths[path] = _path_item(item)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
    }


def _schema(schema: Any) -> Any:
    """A v3 schema as Swagger 2.0 writes it."""
    if isinstance(schema, list):
        return [_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    if schema.get("x-kubernetes-int-or-string"):
        rest = {k: v for k, v in schema.items()
                if k not in _DROPPED and k not in ("type", "x-kubernetes-int-or-string")}
        return {**_schema(rest), "type": "string", "format": "int-or-string"}
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED and isinstance(value, list | bool):
            if key == "oneOf" and "type" not in schema:
                result["type"] = "string"  # Quantity: a string or a number; v2 says string
            continue
        if key == "$ref" and isinstance(value, str):
            result[key] = value.replace(V3_REF, V2_REF)
        elif key in ("properties", "patternProperties") and isinstance(value, Mapping):
            result[key] = {name: _schema(sub) for name, sub in value.items()}
        elif key in ("default", "example", "enum") or key.startswith("x-"):
            result[key] = value  # values, not schemas
        else:
            result[key] = _schema(value)
    all_of = result.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        del result["allOf"]  # kube-openapi wraps references in v3 only
        result = {"$ref": all_of[0]["$ref"], **result}
    return result


def _path_item(item: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in item.items():
        if key == "parameters":
            result[key] = [_parameter(p) for p in value]
        else:
            result[key] = _operation(value)
    return result


def _parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    schema = parameter.get("schema") or {}
    result = {k: v for k, v in parameter.items() if k != "schema"}
    result.update({k: v for k, v in schema.items() if k in ("type", "format", "uniqueItems")})
    return result


def _operation(operation: Mapping[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in operation.items()
              if k not in ("requestBody", "responses", "parameters")}
    parameters = [_parameter(p) for p in operation.get("parameters", ())]
    body = operation.get("requestBody")
    if body is not None:
        content = body["content"]
        result["consumes"] = list(content)
        schema = next(iter(content.values()))["schema"]
        parameters.insert(0, {"name": "body", "in": "body", "required": bool(body.get("required")),
                              "schema": _schema(schema)})
    result["parameters"] = parameters
    result["produces"] = ["application/json", "application/yaml"]
    responses: dict[str, Any] = {}
    for code, response in operation.get("responses", {}).items():
        answer: dict[str, Any] = {"description": response.get("description", "")}
        for media in (response.get("content") or {}).values():
            answer["schema"] = _schema(media["schema"])
            break
        responses[code] = answer
    result["responses"] = responses
    return result
