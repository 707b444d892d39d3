"""The PATCH bodies the embedded API server accepts, as pure functions.

The server's PATCH handler decodes the body, picks one of these functions by the request's
content type, and stores what it returns::

    application/json-patch+json            json_patch()              RFC 6902
    application/merge-patch+json           merge_patch()             RFC 7386
    application/strategic-merge-patch+json strategic_merge_patch()   built-in kinds only
    application/apply-patch+yaml           decode_apply_body() + apply_patch()

Guarantees: the functions do no I/O, never change their arguments, and return objects that
share no mutable state with them (the target is deep-copied once, then changed in place).
Every failure is a :class:`PatchError`, which the server turns into a ``Status`` response:

    PatchError                 400 BadRequest: the body is undecodable or structurally wrong
     +-- PatchTestFailedError  422 Invalid: a JSON-patch ``test`` operation did not hold
     +-- ApplyConflictError    409 Conflict: an apply would change fields others manage

A well-formed patch that does not apply (an operation on a missing path, content that
contradicts ``$retainKeys``) is a ``PatchError`` with status 422 and reason ``Invalid``.

Strategic merge patch and server-side apply need to know, per list field, whether the list is
merged by a key, merged as a set of values, or replaced whole. That knowledge is a table keyed by
field paths relative to the kind's root, with list items transparent in the paths
(``spec.containers.env`` is the ``env`` of every container). It is composed of one table per
embedded type (``_OBJECT_META``, ``_POD_SPEC``, ``_CONTAINER``, ...) mounted where each kind
embeds that type (``_KIND_LISTS``: a Deployment's pod template at ``spec.template``, a CronJob's
at ``spec.jobTemplate.spec.template``); every built-in kind also gets ``metadata`` and merges any
list named ``conditions`` by ``type``. The entries copy the ``patchMergeKey``/``patchStrategy``
tags of the Kubernetes API types; lists not named are atomic and replaced whole, as are lists the
real API leaves untagged (``tolerations``, ``args``, ``envFrom``, ...).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import jsonpatch
import jsonpointer
import yaml

__all__ = [
    "ApplyConflictError",
    "PatchError",
    "PatchTestFailedError",
    "apply_patch",
    "decode_apply_body",
    "fields_v1",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]

_REASONS: Final[Mapping[int, str]] = {400: "BadRequest", 409: "Conflict", 422: "Invalid"}


class PatchError(Exception):
    """A patch that cannot be applied; ``status`` and ``reason`` go into the server's Status."""

    status: int
    reason: str
    message: str
    causes: tuple[Mapping[str, Any], ...] = ()  # the Status's ``details.causes``

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = _REASONS.get(status, "BadRequest")


class PatchTestFailedError(PatchError):
    """A JSON-patch ``test`` operation found another value, or no value, at its path (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=422)


class ApplyConflictError(PatchError):
    """A server-side apply would change fields owned by other managers (409 Conflict).

    ``conflicts`` are (manager, field) pairs, both as the real server prints them:
    ``"other"`` (or ``"other" using v1 at <time>`` for an update) and ``.data.a``.
    """

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        super().__init__(_conflict_message(conflicts), status=409)
        self.causes = tuple(
            {"reason": "FieldManagerConflict", "message": f"conflict with {manager}",
             "field": field}
            for manager, field in conflicts
        )


def _conflict_message(conflicts: list[tuple[str, str]]) -> str:
    if len(conflicts) == 1:
        manager, field = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager}: {field}"
    fields: dict[str, list[str]] = {}
    for manager, field in conflicts:
        fields.setdefault(manager, []).append(field)
    lines = []
    for manager in sorted(fields):
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {field}" for field in fields[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# --------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)
# --------------------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: ``null`` deletes, objects merge, all else replaces.

    A patch that is not an object is a 400, as on the real server (RFC 7386 would let it
    replace the whole document, which is never a valid Kubernetes object).
    """
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, not {_json_type(patch)}")
    base = _copy_json(target) if isinstance(target, dict) else {}
    return _merge_in_place(base, _copy_json(patch))


def _copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON: several times faster than ``copy.deepcopy``, whose memo
    bookkeeping JSON trees do not need (it was a tenth of a merge-patch request's CPU)."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _merge_in_place(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_in_place(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = value
    return target


# --------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)
# --------------------------------------------------------------------------------------------

_JSON_PATCH_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "add": ("value",), "remove": (), "replace": ("value",),
    "move": ("from",), "copy": ("from",), "test": ("value",),
}
_MISSING: Final = object()


def json_patch(target: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch, one operation after another.

    Raises a 400 :class:`PatchError` for a body that is not a list of well-formed operations
    (unknown ``op``, missing members, a malformed JSON pointer); a 422 :class:`PatchError` for an
    operation on a path that does not exist; a :class:`PatchTestFailedError` for a failed
    ``test``, e.g. Kopf's optimistic ``test`` of ``/metadata/resourceVersion``.
    """
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be a list of operations, not {_json_type(ops)}")
    for index, op in enumerate(ops):
        _validate_json_patch_op(index, op)
    doc = copy.deepcopy(target)
    for op in copy.deepcopy(ops):
        doc = _apply_json_patch_op(doc, op)
    return doc


def _validate_json_patch_op(index: int, op: Any) -> None:
    where = f"JSON patch operation #{index}"
    if not isinstance(op, dict):
        raise PatchError(f"{where} must be an object, not {_json_type(op)}")
    name = op.get("op")
    if not isinstance(name, str) or name not in _JSON_PATCH_MEMBERS:
        raise PatchError(f"{where} has an unknown op {name!r}")
    for member in ("path", *_JSON_PATCH_MEMBERS[name]):
        if member not in op:
            raise PatchError(f"{where} ({name}) lacks the {member!r} member")
    for member in ("path", "from"):
        if member in op and not _is_json_pointer(op[member]):
            raise PatchError(f"{where} ({name}) has a malformed {member!r}: {op[member]!r}")


def _is_json_pointer(pointer: Any) -> bool:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        return False
    unescaped = pointer.replace("~0", "").replace("~1", "")
    return "~" not in unescaped


def _apply_json_patch_op(doc: Any, op: dict[str, Any]) -> Any:
    name, path = op["op"], op["path"]
    missing = _missing_path(doc, op)
    if missing is not None:
        message = f"jsonpatch {name} operation does not apply: doc is missing path: {missing}"
        raise PatchTestFailedError(message) if name == "test" else PatchError(message, status=422)
    try:
        return jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchTestFailedError(
            f"testing value {path} failed: test failed:"
            f" expected {_dumps(op['value'])}, found {_dumps(_resolve(doc, path))}"
        ) from e
    except jsonpatch.InvalidJsonPatch as e:
        raise PatchError(f"invalid JSON patch operation {name} {path}: {e}") from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException,
            LookupError, TypeError) as e:  # the last two for values of unexpected types
        raise PatchError(f"jsonpatch {name} operation does not apply: {path}: {e}",
                         status=422) from e


def _missing_path(doc: Any, op: dict[str, Any]) -> str | None:
    """The quoted pointer an operation needs but the document lacks, if any."""
    if op["op"] in ("move", "copy"):
        needed = op["from"]
    elif op["op"] == "add":
        needed = op["path"].rpartition("/")[0]  # the container to add into
    else:
        needed = op["path"]
    return None if _resolve(doc, needed) is not _MISSING else json.dumps(needed)


def _resolve(doc: Any, pointer: str) -> Any:
    try:
        return jsonpointer.resolve_pointer(doc, pointer, _MISSING)
    except jsonpointer.JsonPointerException:
        return _MISSING


# --------------------------------------------------------------------------------------------
# The list table shared by strategic merge patch and server-side apply
# --------------------------------------------------------------------------------------------

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _ListRule:
    """A list merged by a key field of its items, or (``merge_key=None``) as a set of values."""

    merge_key: str | None = None


def _key(field: str) -> _ListRule:
    return _ListRule(merge_key=field)


_SET: Final = _ListRule()
_BY_TYPE: Final = _key("type")

_OBJECT_META: Final[Mapping[Path, _ListRule]] = {
    ("finalizers",): _SET,
    ("ownerReferences",): _key("uid"),
}
_CONTAINER: Final[Mapping[Path, _ListRule]] = {
    ("env",): _key("name"),
    ("ports",): _key("containerPort"),
    ("volumeMounts",): _key("mountPath"),
    ("volumeDevices",): _key("devicePath"),
}
_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
_POD_SPEC: Final[Mapping[Path, _ListRule]] = {
    ("volumes",): _key("name"),
    ("imagePullSecrets",): _key("name"),
    ("hostAliases",): _key("ip"),
    ("topologySpreadConstraints",): _key("topologyKey"),
    ("schedulingGates",): _key("name"),
    ("resourceClaims",): _key("name"),
    **{(field,): _key("name") for field in _CONTAINER_LISTS},
    **{(field, *sub): rule for field in _CONTAINER_LISTS for sub, rule in _CONTAINER.items()},
}
_POD_STATUS: Final[Mapping[Path, _ListRule]] = {
    ("podIPs",): _key("ip"),
    ("hostIPs",): _key("ip"),
}


def _mount(prefix: Path, table: Mapping[Path, _ListRule]) -> dict[Path, _ListRule]:
    """Place a type's table at the path where that type is embedded in a kind."""
    return {prefix + path: rule for path, rule in table.items()}


def _pod_template_at(*prefix: str) -> dict[Path, _ListRule]:
    return {**_mount((*prefix, "metadata"), _OBJECT_META), **_mount((*prefix, "spec"), _POD_SPEC)}


# Per (group, kind): the lists beyond ``metadata`` and ``conditions`` (both apply to all kinds).
_KIND_LISTS: Final[Mapping[tuple[str, str], Mapping[Path, _ListRule]]] = {
    ("", "Pod"): {**_mount(("spec",), _POD_SPEC), **_mount(("status",), _POD_STATUS)},
    ("", "PodTemplate"): _pod_template_at("template"),
    ("", "ReplicationController"): _pod_template_at("spec", "template"),
    ("", "Service"): {("spec", "ports"): _key("port")},
    ("", "ServiceAccount"): {("secrets",): _key("name")},
    ("", "Node"): {("spec", "podCIDRs"): _SET, ("status", "addresses"): _key("type")},
    ("apps", "Deployment"): _pod_template_at("spec", "template"),
    ("apps", "ReplicaSet"): _pod_template_at("spec", "template"),
    ("apps", "StatefulSet"): _pod_template_at("spec", "template"),
    ("apps", "DaemonSet"): _pod_template_at("spec", "template"),
    ("batch", "Job"): _pod_template_at("spec", "template"),
    ("batch", "CronJob"): _pod_template_at("spec", "jobTemplate", "spec", "template"),
}

# Groups served by kube-apiserver itself; kinds elsewhere are custom resources.
_BUILTIN_GROUPS: Final = frozenset({
    "", "apps", "batch", "autoscaling", "policy",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
})


@dataclasses.dataclass(frozen=True)
class _Schema:
    """What the merge needs of a kind: how each list field merges (absent: replaced whole)."""

    lists: Mapping[Path, _ListRule]
    conditions_by_type: bool = False  # any list field named ``conditions`` merges by ``type``

    def rule(self, path: Path) -> _ListRule | None:
        rule = self.lists.get(path)
        if rule is None and self.conditions_by_type and path[-1:] == ("conditions",):
            return _BY_TYPE
        return rule


_MERGE_PATCH_SCHEMA: Final = _Schema(lists={})
_CUSTOM_RESOURCE_SCHEMA: Final = _Schema(lists=_mount(("metadata",), _OBJECT_META))


@functools.cache
def _builtin_schema(kind: str, group: str) -> _Schema | None:
    if group not in _BUILTIN_GROUPS:
        return None
    lists = {**_mount(("metadata",), _OBJECT_META), **_KIND_LISTS.get((group, kind), {})}
    return _Schema(lists=lists, conditions_by_type=True)


# --------------------------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------------------------

_PATCH: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder/"
_DELETE_FROM: Final = "$deleteFromPrimitiveList/"


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], kind: str, group: str = "",
) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of a built-in kind.

    Maps merge recursively and ``null`` deletes a key. Lists named in the table merge by their
    key (new items are appended) or, for primitives such as ``metadata.finalizers``, as an
    ordered set union; all other lists are replaced. The directives are obeyed and never
    stored: ``$patch: replace|delete|merge`` in a map or a keyed list's item,
    ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>`` (the
    named items first, in that order; the others after them, in their merged order).

    A kind outside the built-in groups gets merge-patch semantics, directives still obeyed.
    Raises :class:`PatchError`: 400 for malformed patches and directives, 422 for content
    outside ``$retainKeys``.
    """
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, not {_json_type(patch)}")
    schema = _builtin_schema(kind, group) or _MERGE_PATCH_SCHEMA
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    result = _smp_map(base, copy.deepcopy(patch), schema, ())
    return {} if result is None else result


def _smp_map(
    original: dict[str, Any], patch: dict[str, Any], schema: _Schema, path: Path,
) -> dict[str, Any] | None:
    """Merge a patch map into an original map (both owned); ``None`` means: delete this map."""
    directive = patch.pop(_PATCH, None)
    if directive == "delete":
        return None
    if directive == "replace":
        original = {}
    elif directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r} at {_where(path)}")
    if _RETAIN_KEYS in patch:
        _retain_keys(original, patch, patch.pop(_RETAIN_KEYS), path)
    orders = _pop_prefixed(patch, _SET_ORDER)
    for field, values in _pop_prefixed(patch, _DELETE_FROM).items():
        _delete_from_primitive_list(original, field, values, path)
    for key, value in patch.items():
        _smp_field(original, key, value, schema, (*path, key))
    for field, order in orders.items():
        _set_element_order(original, field, order, schema, (*path, field))
    return original


def _smp_field(original: dict[str, Any], key: str, value: Any, schema: _Schema, path: Path) -> None:
    current = original.get(key)
    if value is None:
        original.pop(key, None)
    elif isinstance(value, dict):
        merged = _smp_map(current if isinstance(current, dict) else {}, value, schema, path)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    elif isinstance(value, list):
        base = current if isinstance(current, list) else []
        original[key] = _smp_list(base, value, schema, path)
    else:
        original[key] = value


def _smp_list(original: list[Any], patch: list[Any], schema: _Schema, path: Path) -> list[Any]:
    rule = schema.rule(path)
    if rule is None:
        return _strip_list(patch, schema, path)
    if rule.merge_key is None:
        return _merge_primitive_set(original, patch, path)
    return _merge_keyed_list(original, patch, rule.merge_key, schema, path)


def _strip_list(items: list[Any], schema: _Schema, path: Path) -> list[Any]:
    """An atomic list as sent, with directives obeyed in and stripped from its maps."""
    result = []
    for item in items:
        if isinstance(item, dict):
            if item and all(_is_directive(key) for key in item):
                continue  # a bare marker such as {"$patch": "replace"}: atomic lists replace anyway
            item = _smp_map({}, item, schema, path)
        elif isinstance(item, list):
            item = _strip_list(item, schema, path)
        if item is not None:
            result.append(item)
    return result


def _merge_primitive_set(original: list[Any], patch: list[Any], path: Path) -> list[Any]:
    if any(isinstance(item, dict | list) for item in patch):
        raise PatchError(f"the list at {_where(path)} holds only primitive values")
    return _without_duplicates([*original, *patch])


def _merge_keyed_list(
    original: list[Any], patch: list[Any], key: str, schema: _Schema, path: Path,
) -> list[Any]:
    if not all(isinstance(item, dict) for item in patch):
        raise PatchError(f"the list at {_where(path)} merges by {key!r}: items must be objects")
    if any(item.get(_PATCH) == "replace" for item in patch):
        original = []
        patch = [item for item in patch if item.get(_PATCH) != "replace"]
    result = list(original)
    for item in patch:
        if key not in item:
            raise PatchError(f"an item at {_where(path)} lacks its merge key {key!r}: {item}")
        matches = [i for i, old in enumerate(result) if _has_key(old, key, item[key])]
        if item.get(_PATCH) == "delete":
            result = [old for i, old in enumerate(result) if i not in matches]
            continue
        base = result[matches[0]] if matches else {}
        merged = _smp_map(base if isinstance(base, dict) else {}, item, schema, path) or {}
        if matches:
            result[matches[0]] = merged
        else:
            result.append(merged)
    return result


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], keys: Any, path: Path) -> None:
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise PatchError(f"$retainKeys at {_where(path)} must be a list of strings: {keys!r}")
    stray = sorted(key for key in patch if not _is_directive(key) and key not in keys)
    if stray:
        raise PatchError(
            f"the patch at {_where(path)} sets {stray} outside its $retainKeys {keys}",
            status=422,
        )
    for key in [key for key in original if key not in keys]:
        del original[key]


def _delete_from_primitive_list(
    original: dict[str, Any], field: str, values: Any, path: Path,
) -> None:
    if not isinstance(values, list):
        raise PatchError(f"$deleteFromPrimitiveList/{field} at {_where(path)} must be a list")
    current = original.get(field)
    if isinstance(current, list):
        doomed = {_dumps(value) for value in values}
        original[field] = [item for item in current if _dumps(item) not in doomed]


def _set_element_order(
    original: dict[str, Any], field: str, order: Any, schema: _Schema, path: Path,
) -> None:
    if not isinstance(order, list):
        raise PatchError(f"$setElementOrder/{field} at {_where(path[:-1])} must be a list")
    current, rule = original.get(field), schema.rule(path)
    if not isinstance(current, list) or rule is None:
        return  # nothing to order, or an atomic list, which is stored in the order sent
    identify = _identity(rule)
    wanted = {identify(item): rank for rank, item in enumerate(order)}
    named = [item for item in current if identify(item) in wanted]
    named.sort(key=lambda item: wanted[identify(item)])
    original[field] = named + [item for item in current if identify(item) not in wanted]


def _identity(rule: _ListRule) -> Callable[[Any], str]:
    """How list items are told apart: by the merge key's value, or by their own value."""
    key = rule.merge_key
    if key is None:
        return _dumps
    return lambda item: _dumps(item.get(key) if isinstance(item, dict) else item)


# --------------------------------------------------------------------------------------------
# Server-side apply
# --------------------------------------------------------------------------------------------

# Paths never recorded as owned, as in kube-apiserver's field manager.
_UNOWNED: Final[frozenset[Path]] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", f"f:{field}") for field in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion",
    )),
})


def apply_patch(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    kind: str,
    group: str,
    now: str,
    force: bool = False,
) -> dict[str, Any]:
    """Server-side apply of a configuration by a field manager: a documented subset.

    What is implemented:

    * With no ``live`` object, the result is ``applied`` itself.
    * Otherwise ``applied`` is merged into ``live``: maps recursively, lists by the same table
      as strategic merge patch (by key, or as sets of values), other lists replaced whole.
      For kinds outside the built-in groups only ``metadata`` lists are merged (as a CRD
      without ``x-kubernetes-list-type`` annotations would behave).
    * ``null`` in ``applied`` removes the field and does not own it.
    * Fields that ``manager`` owned by its previous apply, but no longer names, are removed
      unless another manager's entry owns them too.
    * ``metadata.managedFields`` gets one ``Apply`` entry for ``manager`` holding exactly the
      fields ``applied`` names (see :func:`fields_v1`); it replaces that manager's previous
      ``Apply`` entry and is dropped if empty.
    * Conflicts: a field that ``applied`` sets to another value than the live one, while another
      manager's entry owns it, is a conflict. Without ``force`` that raises
      :class:`ApplyConflictError` (409); with it, the field moves to ``manager`` and leaves the
      other entries (an entry left empty goes). Fields set to the live value become shared.
      Other entries are otherwise kept untouched.

    What is not: multi-field list keys (``ports`` are keyed by the port number alone),
    schema-driven list types of custom resources, defaulting and validation (the server's job).
    Only ``Apply`` entries are recorded, so conflicts arise between appliers only.

    Raises a 400 :class:`PatchError` for a non-object body, keyed items without their key,
    or a non-empty ``metadata.managedFields`` in ``applied``; :class:`ApplyConflictError`.
    """
    if not isinstance(applied, dict):
        raise PatchError(f"an apply configuration must be an object, not {_json_type(applied)}")
    if (applied.get("metadata") or {}).get("managedFields"):
        raise PatchError("metadata.managedFields must be nil in an apply configuration")
    schema = _builtin_schema(kind, group) or _CUSTOM_RESOURCE_SCHEMA
    owned = _owned_paths(applied, schema)
    base = copy.deepcopy(live) if isinstance(live, dict) else {}
    previous, others = _split_entries(_managed_fields(base), manager)
    others = _take_over(base, applied, owned, others, force=force)
    result = _smp_map(base, copy.deepcopy(applied), schema, ()) or {}
    released = _entry_paths(previous) - owned
    for entry in others:
        released -= _entry_paths(entry)
    for path in sorted(released, key=len):  # items before their fields: keys still match
        _remove_path(result, path)
    entries = list(others)
    if owned:
        api_version = applied.get("apiVersion") or base.get("apiVersion", "")
        entries.append({
            "manager": manager, "operation": "Apply", "apiVersion": api_version,
            "time": now, "fieldsType": "FieldsV1", "fieldsV1": _paths_to_fields_v1(owned),
        })
    metadata = result.setdefault("metadata", {})
    if entries:
        metadata["managedFields"] = entries
    else:
        metadata.pop("managedFields", None)
    return result


def _take_over(
    live: Any, applied: Mapping[str, Any], owned: set[Path], others: list[dict[str, Any]], *,
    force: bool,
) -> list[dict[str, Any]]:
    """Check the fields an apply changes against other managers; the entries left to them."""
    conflicts: list[tuple[str, str]] = []
    taken: dict[int, set[Path]] = {}
    for index, entry in enumerate(others):
        for path in sorted(_entry_paths(entry) & owned):
            if path[-1].startswith("f:") and _value_at(live, path) != _value_at(applied, path):
                conflicts.append((_manager_text(entry), _path_text(path)))
                taken.setdefault(index, set()).add(path)
    if conflicts and not force:
        raise ApplyConflictError(conflicts)
    kept = []
    for index, entry in enumerate(others):
        if index in taken:
            paths = _entry_paths(entry) - taken[index]
            if not paths:
                continue
            entry = {**entry, "fieldsV1": _paths_to_fields_v1(paths)}
        kept.append(entry)
    return kept


_ABSENT: Final = object()


def _value_at(node: Any, path: Path) -> Any:
    """The value at a field-set path, or ``_ABSENT``."""
    for element in path:
        kind, _, text = element.partition(":")
        if kind == "f" and isinstance(node, dict) and text in node:
            node = node[text]
        elif isinstance(node, list) and (index := _find_item(node, kind, text)) is not None:
            node = node[index]
        else:
            return _ABSENT
    return node


def _manager_text(entry: Mapping[str, Any]) -> str:
    """A managedFields entry as the real server names it in conflicts."""
    text = json.dumps(str(entry.get("manager", "")))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(str(entry['subresource']))}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
        if entry.get("time"):
            text += f" at {entry['time']}"
    return text


def _path_text(path: Path) -> str:
    """A field-set path as the real server prints it: ``.spec.containers[name="app"].image``."""
    parts = []
    for element in path:
        kind, _, text = element.partition(":")
        if kind == "f":
            parts.append(f".{text}")
        elif kind == "k":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_dumps(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def fields_v1(obj: Mapping[str, Any], kind: str, group: str = "") -> dict[str, Any]:
    """The fields ``obj`` names, as a ``fieldsV1`` set of a ``managedFields`` entry.

    Maps nest as ``{"f:metadata": {"f:labels": {"f:app": {}}}}``; items of keyed lists as
    ``k:{"name":"c"}`` holding ``".": {}`` (the item itself) besides their fields; values of
    set-like lists as ``v:"x"``; atomic lists are one leaf. Null values and the identity
    fields (``apiVersion``, ``kind``, ``metadata.name``, ...) are not part of the set.
    """
    schema = _builtin_schema(kind, group) or _CUSTOM_RESOURCE_SCHEMA
    return _paths_to_fields_v1(_owned_paths(obj, schema))


def _owned_paths(obj: Mapping[str, Any], schema: _Schema) -> set[Path]:
    paths: set[Path] = set()
    _collect_paths(obj, schema, (), (), paths)
    return paths - _UNOWNED


def _collect_paths(value: Any, schema: _Schema, path: Path, fpath: Path, out: set[Path]) -> None:
    """Walk ``value`` with its schema ``path`` (names only) and its field-set path ``fpath``."""
    rule = schema.rule(path) if isinstance(value, list) else None
    if isinstance(value, Mapping):
        for key, child in value.items():
            if child is not None and not _is_directive(key):
                _collect_paths(child, schema, (*path, key), (*fpath, f"f:{key}"), out)
    elif rule is not None:
        for item in value:
            element = _item_element(item, rule, path)
            out.add((*fpath, element))
            if rule.merge_key is not None:
                _collect_paths(item, schema, path, (*fpath, element), out)
    else:
        out.add(fpath)


def _item_element(item: Any, rule: _ListRule, path: Path) -> str:
    if rule.merge_key is None:
        return f"v:{_dumps(item)}"
    if not isinstance(item, dict) or rule.merge_key not in item:
        raise PatchError(f"an item at {_where(path)} lacks its merge key {rule.merge_key!r}")
    return "k:" + _dumps({rule.merge_key: item[rule.merge_key]})


def _paths_to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    members = sorted(paths)
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:  # a member with children of its own is marked with "."
        node = functools.reduce(lambda node, element: node[element], path, tree)
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted_tree(tree[key]) for key in sorted(tree)}


def _fields_v1_to_paths(tree: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(tree, dict):
        return paths
    for element, child in tree.items():
        if element == ".":
            paths.add(prefix)
        elif isinstance(child, dict) and child:
            paths |= _fields_v1_to_paths(child, (*prefix, element))
        else:
            paths.add((*prefix, element))
    return paths


def _managed_fields(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [entry for entry in entries if isinstance(entry, dict)]


def _split_entries(
    entries: list[dict[str, Any]], manager: str,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The manager's own ``Apply`` entry (if any), and all other entries in their order."""
    def is_own(entry: dict[str, Any]) -> bool:
        return (entry.get("manager") == manager and entry.get("operation") == "Apply"
                and not entry.get("subresource"))
    own = next((entry for entry in entries if is_own(entry)), None)
    return own, [entry for entry in entries if not is_own(entry)]


def _entry_paths(entry: Mapping[str, Any] | None) -> set[Path]:
    return _fields_v1_to_paths(entry.get("fieldsV1")) if entry else set()


def _remove_path(node: Any, path: Path) -> None:
    """Remove the field or list item at a field-set path, pruning what that leaves empty.

    A path already gone is fine. Emptied maps and lists go, as the real field manager drops
    them (it leaves them null, and null fields are not stored).
    """
    if not path:
        return
    kind, _, text = path[0].partition(":")
    if kind == "f" and isinstance(node, dict) and text in node:
        where: Any = text
    elif isinstance(node, list) and (index := _find_item(node, kind, text)) is not None:
        where = index
    else:
        return
    if len(path) > 1:
        child = node[where]
        _remove_path(child, path[1:])
        if not isinstance(child, dict | list) or child:
            return
    del node[where]


def _find_item(items: list[Any], kind: str, text: str) -> int | None:
    try:
        wanted = json.loads(text) if kind in ("k", "v") else int(text)
    except ValueError:
        return None
    for index, item in enumerate(items):
        if kind == "k" and isinstance(item, dict) and isinstance(wanted, dict):
            if all(item.get(key) == value for key, value in wanted.items()):
                return index
        elif kind == "v" and _dumps(item) == _dumps(wanted):
            return index
    if kind == "i" and isinstance(wanted, int) and 0 <= wanted < len(items):
        return wanted
    return None


# --------------------------------------------------------------------------------------------
# Apply bodies
# --------------------------------------------------------------------------------------------

class _ApplyLoader(yaml.SafeLoader):
    """Safe YAML, but timestamps stay strings, as JSON has no timestamps to turn them into."""


_ApplyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_apply_body(raw: bytes) -> dict[str, Any]:
    """Decode an ``application/apply-patch+yaml`` body: one YAML (or JSON) object.

    Timestamps stay strings and non-string keys become strings (``1``, ``true``), as when
    kube-apiserver turns YAML into JSON. Raises a 400 :class:`PatchError` for undecodable
    bytes, several documents, or a document that is not an object.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        try:
            body = yaml.load(raw, Loader=_ApplyLoader)  # a SafeLoader: no arbitrary objects
        except yaml.YAMLError as e:
            raise PatchError(f"error decoding the apply body as YAML: {e}") from e
    if not isinstance(body, dict):
        raise PatchError(f"an apply body must be an object, not {_json_type(body)}")
    result: dict[str, Any] = _with_string_keys(body)
    return result


def _with_string_keys(value: Any) -> Any:
    """YAML allows keys such as ``1`` or ``true``; JSON, and so Kubernetes, has only strings."""
    if isinstance(value, dict):
        return {_dumps(key) if not isinstance(key, str) else key: _with_string_keys(child)
                for key, child in value.items()}
    if isinstance(value, list):
        return [_with_string_keys(child) for child in value]
    return value


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _is_directive(key: str) -> bool:
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith((_SET_ORDER, _DELETE_FROM))


def _pop_prefixed(patch: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Remove the directive keys ``<prefix><field>`` from a patch; return them by field."""
    keys = [key for key in patch if key.startswith(prefix)]
    return {key[len(prefix):]: patch.pop(key) for key in keys}


def _has_key(item: Any, key: str, value: Any) -> bool:
    return isinstance(item, dict) and key in item and _dumps(item[key]) == _dumps(value)


def _without_duplicates(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    result = []
    for item in items:
        if (identity := _dumps(item)) not in seen:
            seen.add(identity)
            result.append(item)
    return result


def _dumps(value: Any) -> str:
    """Compact JSON, as in ``k:``/``v:`` field-set elements; also an identity for values."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _where(path: Path) -> str:
    return ".".join(path) or "the root"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")
