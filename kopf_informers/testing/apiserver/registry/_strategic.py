"""Strategic merge patch (``application/strategic-merge-patch+json``) and its directives.

Where it sits: the server's PATCH handler calls :func:`strategic_merge_patch` for built-in
kinds (``_patching`` re-exports it); server-side apply (``_apply``) merges an apply
configuration into the live object with the same :func:`smp_map`. Lists merge as the table in
``_merge_keys`` says. Raises only ``PatchError`` (``_patch_errors``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

from ..apimachinery._json import dumps, json_type
from ._builtins import builtin_schema
from ._merge_keys import MERGE_PATCH_SCHEMA, ListRule, Path, Schema, where
from ._patch_errors import PatchError

_PATCH: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder/"
_DELETE_FROM: Final = "$deleteFromPrimitiveList/"


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], kind: str, group: str = "", *,
    schema: Schema | None = None,
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
        raise PatchError(f"a strategic merge patch must be a JSON object, not {json_type(patch)}")
    schema = schema or builtin_schema(kind, group) or MERGE_PATCH_SCHEMA
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    result = smp_map(base, copy.deepcopy(patch), schema, ())
    return {} if result is None else result


def smp_map(
    original: dict[str, Any], patch: dict[str, Any], schema: Schema, path: Path,
) -> dict[str, Any] | None:
    """Merge a patch map into an original map (both owned); ``None`` means: delete this map."""
    directive = patch.pop(_PATCH, None)
    if directive == "delete":
        return None
    if directive == "replace":
        original = {}
    elif directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r} at {where(path)}")
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


def _smp_field(original: dict[str, Any], key: str, value: Any, schema: Schema, path: Path) -> None:
    current = original.get(key)
    if value is None:
        original.pop(key, None)
    elif isinstance(value, dict):
        merged = smp_map(current if isinstance(current, dict) else {}, value, schema, path)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    elif isinstance(value, list):
        base = current if isinstance(current, list) else []
        original[key] = _smp_list(base, value, schema, path)
    else:
        original[key] = value


def _smp_list(original: list[Any], patch: list[Any], schema: Schema, path: Path) -> list[Any]:
    rule = schema.rule(path)
    if rule is None:
        return _strip_list(patch, schema, path)
    if rule.merge_key is None:
        return _merge_primitive_set(original, patch, path)
    return _merge_keyed_list(original, patch, rule.merge_key, schema, path)


def _strip_list(items: list[Any], schema: Schema, path: Path) -> list[Any]:
    """An atomic list as sent, with directives obeyed in and stripped from its maps."""
    result = []
    for item in items:
        if isinstance(item, dict):
            if item and all(is_directive(key) for key in item):
                continue  # a bare marker such as {"$patch": "replace"}: atomic lists replace anyway
            item = smp_map({}, item, schema, path)
        elif isinstance(item, list):
            item = _strip_list(item, schema, path)
        if item is not None:
            result.append(item)
    return result


def _merge_primitive_set(original: list[Any], patch: list[Any], path: Path) -> list[Any]:
    if any(isinstance(item, dict | list) for item in patch):
        raise PatchError(f"the list at {where(path)} holds only primitive values")
    return _without_duplicates([*original, *patch])


def _merge_keyed_list(
    original: list[Any], patch: list[Any], key: str, schema: Schema, path: Path,
) -> list[Any]:
    if not all(isinstance(item, dict) for item in patch):
        raise PatchError(f"the list at {where(path)} merges by {key!r}: items must be objects")
    if any(item.get(_PATCH) == "replace" for item in patch):
        original = []
        patch = [item for item in patch if item.get(_PATCH) != "replace"]
    result = list(original)
    for item in patch:
        if key not in item:
            raise PatchError(f"an item at {where(path)} lacks its merge key {key!r}: {item}")
        matches = [i for i, old in enumerate(result) if _has_key(old, key, item[key])]
        if item.get(_PATCH) == "delete":
            result = [old for i, old in enumerate(result) if i not in matches]
            continue
        base = result[matches[0]] if matches else {}
        merged = smp_map(base if isinstance(base, dict) else {}, item, schema, path) or {}
        if matches:
            result[matches[0]] = merged
        else:
            result.append(merged)
    return result


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], keys: Any, path: Path) -> None:
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise PatchError(f"$retainKeys at {where(path)} must be a list of strings: {keys!r}")
    stray = sorted(key for key in patch if not is_directive(key) and key not in keys)
    if stray:
        raise PatchError(
            f"the patch at {where(path)} sets {stray} outside its $retainKeys {keys}",
            status=422,
        )
    for key in [key for key in original if key not in keys]:
        del original[key]


def _delete_from_primitive_list(
    original: dict[str, Any], field: str, values: Any, path: Path,
) -> None:
    if not isinstance(values, list):
        raise PatchError(f"$deleteFromPrimitiveList/{field} at {where(path)} must be a list")
    current = original.get(field)
    if isinstance(current, list):
        doomed = {dumps(value) for value in values}
        original[field] = [item for item in current if dumps(item) not in doomed]


def _set_element_order(
    original: dict[str, Any], field: str, order: Any, schema: Schema, path: Path,
) -> None:
    if not isinstance(order, list):
        raise PatchError(f"$setElementOrder/{field} at {where(path[:-1])} must be a list")
    current, rule = original.get(field), schema.rule(path)
    if not isinstance(current, list) or rule is None:
        return  # nothing to order, or an atomic list, which is stored in the order sent
    identify = _identity(rule)
    wanted = {identify(item): rank for rank, item in enumerate(order)}
    named = [item for item in current if identify(item) in wanted]
    named.sort(key=lambda item: wanted[identify(item)])
    original[field] = named + [item for item in current if identify(item) not in wanted]


def _identity(rule: ListRule) -> Callable[[Any], str]:
    """How list items are told apart: by the merge key's value, or by their own value."""
    key = rule.merge_key
    if key is None:
        return dumps
    return lambda item: dumps(item.get(key) if isinstance(item, dict) else item)


def is_directive(key: str) -> bool:
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith((_SET_ORDER, _DELETE_FROM))


def _pop_prefixed(patch: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Remove the directive keys ``<prefix><field>`` from a patch; return them by field."""
    keys = [key for key in patch if key.startswith(prefix)]
    return {key[len(prefix):]: patch.pop(key) for key in keys}


def _has_key(item: Any, key: str, value: Any) -> bool:
    return isinstance(item, dict) and key in item and dumps(item[key]) == dumps(value)


def _without_duplicates(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    result = []
    for item in items:
        if (identity := dumps(item)) not in seen:
            seen.add(identity)
            result.append(item)
    return result
