"""Server-side apply (``application/apply-patch+yaml``) and the ``fieldsV1`` sets of fields.

Where it sits: the server's PATCH handler decodes an apply body with :func:`decode_apply_body`
and merges it into the live object with :func:`apply_patch`, which also keeps
``metadata.managedFields`` and detects conflicts between field managers; :func:`fields_v1`
gives the set of fields an object names. Lists merge as the table in ``_merge_keys`` says, maps
as in strategic merge patch (``_strategic``). Raises only the errors of ``_patch_errors``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml

from ..apimachinery._decoding import DecodeError, LimitedSafeLoader, load_json, load_yaml
from ..apimachinery._json import dumps, json_type
from ._builtins import builtin_schema
from ._merge_keys import CUSTOM_RESOURCE_SCHEMA, ListRule, Path, Schema, where
from ._patch_errors import ApplyConflictError, PatchError
from ._strategic import is_directive, smp_map

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
    schema: Schema | None = None,
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
        raise PatchError(f"an apply configuration must be an object, not {json_type(applied)}")
    if (applied.get("metadata") or {}).get("managedFields"):
        raise PatchError("metadata.managedFields must be nil in an apply configuration")
    schema = schema or builtin_schema(kind, group) or CUSTOM_RESOURCE_SCHEMA
    owned = _owned_paths(applied, schema)
    base = copy.deepcopy(live) if isinstance(live, dict) else {}
    previous, others = _split_entries(_managed_fields(base), manager)
    others = _take_over(base, applied, owned, others, force=force)
    result = smp_map(base, copy.deepcopy(applied), schema, ()) or {}
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
            parts.append("[" + ",".join(f"{k}={dumps(v)}" for k, v in keys.items()) + "]")
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
    schema = builtin_schema(kind, group) or CUSTOM_RESOURCE_SCHEMA
    return _paths_to_fields_v1(_owned_paths(obj, schema))


def _owned_paths(obj: Mapping[str, Any], schema: Schema) -> set[Path]:
    paths: set[Path] = set()
    _collect_paths(obj, schema, (), (), paths)
    return paths - _UNOWNED


def _collect_paths(value: Any, schema: Schema, path: Path, fpath: Path, out: set[Path]) -> None:
    """Walk ``value`` with its schema ``path`` (names only) and its field-set path ``fpath``."""
    rule = schema.rule(path) if isinstance(value, list) else None
    if isinstance(value, Mapping):
        for key, child in value.items():
            if child is not None and not is_directive(key):
                _collect_paths(child, schema, (*path, key), (*fpath, f"f:{key}"), out)
    elif rule is not None:
        for item in value:
            element = _item_element(item, rule, path)
            out.add((*fpath, element))
            if rule.merge_key is not None:
                _collect_paths(item, schema, path, (*fpath, element), out)
    else:
        out.add(fpath)


def _item_element(item: Any, rule: ListRule, path: Path) -> str:
    if rule.merge_key is None:
        return f"v:{dumps(item)}"
    if not isinstance(item, dict) or rule.merge_key not in item:
        raise PatchError(f"an item at {where(path)} lacks its merge key {rule.merge_key!r}")
    return "k:" + dumps({rule.merge_key: item[rule.merge_key]})


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
        elif kind == "v" and dumps(item) == dumps(wanted):
            return index
    if kind == "i" and isinstance(wanted, int) and 0 <= wanted < len(items):
        return wanted
    return None


class _ApplyLoader(LimitedSafeLoader):
    """Safe YAML, but timestamps stay strings, as JSON has no timestamps to turn them into."""


_ApplyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_apply_body(raw: bytes) -> dict[str, Any]:
    """Decode an ``application/apply-patch+yaml`` body: one YAML (or JSON) object.

    Timestamps stay strings and non-string keys become strings (``1``, ``true``), as when
    kube-apiserver turns YAML into JSON. Raises a 400 :class:`PatchError` for undecodable
    bytes, several documents, a document that is not an object, and what kube-apiserver's YAML
    decoder refuses (``_decoding``): nesting too deep, aliases expanding too far.
    """
    try:
        body = load_json(raw)
    except DecodeError:  # not JSON, or JSON too deep: the YAML decoder tells which, in its words
        try:
            body = load_yaml(raw, _ApplyLoader)
        except DecodeError as e:
            raise PatchError(f"error decoding YAML: {e}") from e
    if not isinstance(body, dict):
        raise PatchError(f"an apply body must be an object, not {json_type(body)}")
    result: dict[str, Any] = _with_string_keys(body)
    return result


def _with_string_keys(value: Any) -> Any:
    """YAML allows keys such as ``1`` or ``true``; JSON, and so Kubernetes, has only strings."""
    if isinstance(value, dict):
        return {dumps(key) if not isinstance(key, str) else key: _with_string_keys(child)
                for key, child in value.items()}
    if isinstance(value, list):
        return [_with_string_keys(child) for child in value]
    return value
