"""The PATCH bodies the embedded API server accepts, as pure functions.

The server's PATCH handler picks one of these functions by the request's content type from
:data:`PATCH_TYPES` (the one table of patch content types: a new one is a row there), negotiated
as create and update bodies are (``apimachinery/_negotiation``: a media type not there, or not
for the resource, is kube-apiserver's 415), decodes the body, and stores what it returns::

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
merged by a key, merged as a set of values, or replaced whole: that table is ``_merge_keys``.

This module holds the two RFC patches and re-exports the rest::

    _patch_errors   PatchError, PatchTestFailedError, ApplyConflictError
    _strategic      strategic_merge_patch()
    _apply          apply_patch(), fields_v1(), decode_apply_body()
    _merge_keys     the list table shared by the two above
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import jsonpatch
import jsonpointer
import orjson

from ..apimachinery._json import copy_json, dumps, json_type
from ..apimachinery._limits import MAX_JSON_PATCH_COPY_BYTES, MAX_JSON_PATCH_OPERATIONS
from ._apply import apply_patch, decode_apply_body, fields_v1
from ._merge_keys import Schema
from ._patch_errors import ApplyConflictError, PatchError, PatchTestFailedError
from ._strategic import strategic_merge_patch

__all__ = [
    "APPLY",
    "PATCH_TYPES",
    "ApplyConflictError",
    "PatchError",
    "PatchFunction",
    "PatchTarget",
    "PatchTestFailedError",
    "PatchType",
    "apply_patch",
    "decode_apply_body",
    "fields_v1",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]


# --------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)
# --------------------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any, *, share: bool = False) -> Any:
    """Apply an RFC 7386 merge patch: ``null`` deletes, objects merge, all else replaces.

    A patch that is not an object is a 400, as on the real server (RFC 7386 would let it
    replace the whole document, which is never a valid Kubernetes object).

    The result aliases neither argument, unless ``share``: then it is new only where the patch
    changes it (each object on the patch's paths is a new dict) and shares the rest of
    ``target``, which is cheaper for a caller that copies it before keeping it (the core
    copies every object it stores) and changes nothing of it in place before that but the
    objects the patch made new.
    """
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, not {json_type(patch)}")
    if share:
        return _merged(target if isinstance(target, dict) else {}, copy_json(patch))
    base = copy_json(target) if isinstance(target, dict) else {}
    return _merge_in_place(base, copy_json(patch))


def _merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``_merge_in_place`` on a copy of ``target``'s objects on the patch's paths only."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merged(current if isinstance(current, dict) else {}, value)
        else:
            result[key] = value
    return result



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

    Bounded as kube-apiserver bounds it (``_limits``): more than 10,000 operations are a 413
    :class:`PatchError`, before any is applied; ``copy`` operations that copy more than 3 MiB in
    all (as JSON) are a 422 :class:`PatchError`, raised before the copy that would cross it.
    """
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be a list of operations, not {json_type(ops)}")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}", status=413,
        )
    for index, op in enumerate(ops):
        _validate_json_patch_op(index, op)
    doc = copy_json(target)
    copied = 0
    for op in copy_json(ops):
        doc, copied = _apply_json_patch_op(doc, op, copied)
    return doc


def _validate_json_patch_op(index: int, op: Any) -> None:
    where = f"JSON patch operation #{index}"
    if not isinstance(op, dict):
        raise PatchError(f"{where} must be an object, not {json_type(op)}")
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


def _apply_json_patch_op(doc: Any, op: dict[str, Any], copied: int) -> tuple[Any, int]:
    """Apply one operation; ``copied`` counts the bytes that ``copy`` operations copied so far."""
    name, path = op["op"], op["path"]
    missing = _missing_path(doc, op)
    if missing is not None:
        message = f"jsonpatch {name} operation does not apply: doc is missing path: {missing}"
        raise PatchTestFailedError(message) if name == "test" else PatchError(message, status=422)
    if name == "copy":
        # A copy is an add of the value copied (RFC 6902), copied here through JSON: measured in
        # passing, and at C speed rather than by jsonpatch's copy.deepcopy.
        try:
            encoded = orjson.dumps(_resolve(doc, op["from"]))
        except orjson.JSONEncodeError as e:
            raise PatchError(f"jsonpatch copy operation does not apply: {path}: {e}",
                             status=422) from e
        copied += len(encoded)
        if copied > MAX_JSON_PATCH_COPY_BYTES:
            raise PatchError(
                f"Unable to complete the copy, the accumulated size increase of copy is "
                f"{copied}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}", status=422,
            )
        op = {"op": "add", "path": path, "value": orjson.loads(encoded)}
    try:
        return jsonpatch.JsonPatch([op]).apply(doc, in_place=True), copied
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchTestFailedError(
            f"testing value {path} failed: test failed:"
            f" expected {dumps(op['value'])}, found {dumps(_resolve(doc, path))}"
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
# The patch content types
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PatchTarget:
    """What a patch needs of the patched object's kind: its name and its merge keys (from its
    strategy; None for the generic ones)."""

    kind: str
    group: str
    schema: Schema | None = None


# (target, body, of) -> the patched object, which the target's owner copies before keeping it:
# it may share the values of the target that the patch leaves as they are (a merge patch's do).
PatchFunction = Callable[[dict[str, Any], Any, PatchTarget], Any]


@dataclasses.dataclass(frozen=True)
class PatchType:
    """One PATCH content type.

    ``patch(target, body, of)`` returns the patched copy of ``target``; None for server-side
    apply, which the core runs itself (it creates, and tracks field managers). ``for_custom``:
    custom resources accept it (strategic merge needs a Go type's patch tags: built-ins only).
    ``object_body``: a body that is not a JSON object is a 400 naming ``name``.
    """

    media_type: str
    name: str
    patch: PatchFunction | None
    for_custom: bool = True
    object_body: bool = False


def _strategic(target: dict[str, Any], body: Any, of: PatchTarget) -> Any:
    return strategic_merge_patch(target, body, of.kind, of.group, schema=of.schema)


APPLY: Final = "application/apply-patch+yaml"
PATCH_TYPES: Final[Mapping[str, PatchType]] = {t.media_type: t for t in (
    PatchType("application/json-patch+json", "json patch",
              lambda target, body, of: json_patch(target, body)),
    PatchType("application/merge-patch+json", "merge patch",
              lambda target, body, of: merge_patch(target, body, share=True)),
    PatchType("application/strategic-merge-patch+json", "strategic merge patch", _strategic,
              for_custom=False, object_body=True),
    PatchType(APPLY, "apply patch", None),
)}
