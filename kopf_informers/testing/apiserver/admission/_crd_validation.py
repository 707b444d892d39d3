"""CustomResourceDefinitions (apiextensions.k8s.io/v1): the checks that matter to a test server.

Where it sits: the server calls :func:`validate_crd` on every create and update of a CRD, besides
the metadata checks; its causes fail the request with 422 Invalid, so a CRD that the real server
would reject never defines resources here. Structural-schema rules are checked only as far as
types and items go; CEL rules, list types and ratcheting are not implemented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..apimachinery._field_errors import Cause, forbidden, invalid, not_supported, required
from ..apimachinery._names import dns1035_label, dns1123_subdomain
from ._schema_validation import Schema

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
    messages = dns1123_subdomain(name)
    if name != f"{names.get('plural') or ''}.{spec.get('group') or ''}":
        messages.append('must be spec.names.plural+"."+spec.group')
    return [invalid("metadata.name", name, message) for message in messages]


def _crd_group_causes(group: str) -> list[Cause]:
    if not group:
        return [required("spec.group")]
    if errors := dns1123_subdomain(group):
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
    causes = _joined(f"{path}.name", name, dns1035_label(name))
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
            causes.extend(_joined("spec.names." + key, value, dns1035_label(value)))
    for key in ("kind", "listKind"):
        if value := names.get(key):
            errors = dns1035_label(value.lower())
            prefix = "may have mixed case, but should otherwise match: "
            causes.extend(_joined("spec.names." + key, value, errors, prefix))
    for key in ("shortNames", "categories"):
        for index, value in enumerate(names.get(key) or []):
            causes.extend(_joined(f"spec.names.{key}[{index}]", value, dns1035_label(value)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        detail = "kind and listKind may not be the same"
        causes.append(invalid("spec.names.listKind", names["listKind"], detail))
    return causes


def _joined(field: str, value: str, errors: Iterable[str], prefix: str = "") -> list[Cause]:
    """One cause with all the errors joined by commas, as the CRD validation reports names."""
    text = ",".join(errors)
    return [invalid(field, value, prefix + text)] if text else []
