"""Owner references: who owns an object, and making an object owned (controller-runtime's
``controllerutil``).

Where it sits: a reconciler builds or edits a child (a Deployment for a Foo), sets the owner
reference with :func:`set_controller_reference` before writing it, and the API server's garbage
collector then deletes the child with its owner. Owner watching reads the same references back
(:func:`controller_of`) to map a child's events to its owner's key. Everything here is pure: no
I/O, no clock; the caller writes the result with :class:`~kopf_informers.ApiClient`.

Inputs are never changed. Objects from the cache are frozen (:mod:`kopf_informers._store`), and
even a plain dict is left as it was: the setters return a new, mutable deep copy of the object
with the reference in place, so **use the return value**::

    child = set_controller_reference(foo, child)
    await api.create("apps/v1/deployments", child)

An owner reference is written in full: ``apiVersion``, ``kind``, ``name``, ``uid``,
``controller`` and ``blockOwnerDeletion``. The owner must come from the API server (the cache,
a Kopf ``body``, a GET): its ``uid`` is what the garbage collector follows, and an owner built
locally has none.

Identity: a reference points at an owner by ``uid``, as the garbage collector and
``metav1.IsControlledBy`` see it. A reference with the owner's group, kind and name but another
uid points at a deleted namesake of the owner (deleted and re-created): the setters replace it,
as controller-runtime does, so the new owner takes over its predecessor's children.

Scope rules (controller-runtime's ``validateOwner``; the garbage collector of a real cluster
ignores such references, and since 1.20 reports them with an ``OwnerRefInvalidNamespace``
event): a namespaced owner cannot own an object in another namespace, nor a cluster-scoped
object. A cluster-scoped owner can own anything. Whether each object is namespaced is read from
``metadata.namespace``: present and non-empty means namespaced. So a namespaced child being
built must have its ``metadata.namespace`` set before it is given an owner (typically the
owner's namespace); leaving it to the client's default namespace is refused, because the
rule could not be checked.

Unlike ``kopf.adopt()``, nothing else is touched: no labels are copied from the owner, no name
or namespace is set, and :func:`set_owner_reference` does not make the owner a controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import AlreadyOwnedError, InvalidArgumentError

__all__ = [
    "controller_of",
    "is_owned_by",
    "owner_references",
    "remove_owner_reference",
    "set_controller_reference",
    "set_owner_reference",
]

OwnerReference = dict[str, Any]


def set_controller_reference(
    owner: Mapping[str, Any], obj: Mapping[str, Any], *, block_owner_deletion: bool = True,
) -> dict[str, Any]:
    """A copy of ``obj`` controlled by ``owner``: its owner reference with ``controller: true``.

    ``blockOwnerDeletion`` is true unless told otherwise: a foreground deletion of the owner then
    waits for this object. (Setting it needs permission to update the owner's ``finalizers``
    subresource where the API server runs the ``OwnerReferencesPermissionEnforcement``
    admission plugin, as OpenShift does.)

    An existing reference to the same owner is replaced in the copy (and so made the
    controller); other owners' non-controller references are kept. Calling it again is harmless.

    Raises:
        AlreadyOwnedError: another owner is the object's controller; ``.controller`` is its
            reference. The object is not taken over.
        InvalidArgumentError: the owner lacks ``apiVersion``, ``kind``, ``metadata.name`` or
            ``metadata.uid``; or the scope rules forbid this ownership (see the module).
    """
    reference = _owner_reference(owner, controller=True, block=block_owner_deletion)
    _check_scope(owner, obj)
    existing = controller_of(obj)
    if existing is not None and not _same_owner(existing, reference):
        raise AlreadyOwnedError(
            f"{_describe(obj)} is already controlled by {existing.get('kind')} "
            f"{existing.get('name')} (uid {existing.get('uid')}), not by "
            f"{reference['kind']} {reference['name']} (uid {reference['uid']}); "
            "leave it alone, or remove that reference first",
            controller=existing, obj=_describe(obj),
        )
    return _upsert(obj, reference)


def set_owner_reference(
    owner: Mapping[str, Any], obj: Mapping[str, Any], *, block_owner_deletion: bool = False,
) -> dict[str, Any]:
    """A copy of ``obj`` with ``owner`` among its owners, as a non-controller reference.

    The reference has ``controller: false`` and, unless told otherwise, ``blockOwnerDeletion:
    false`` (controller-runtime's ``SetOwnerReference`` sets neither). If the object already
    has a reference to this owner with ``controller: true``, that stays true: demoting a
    controller is done with :func:`remove_owner_reference` first, never by accident.

    Raises:
        InvalidArgumentError: as :func:`set_controller_reference`.
    """
    reference = _owner_reference(owner, controller=False, block=block_owner_deletion)
    _check_scope(owner, obj)
    return _upsert(obj, reference, keep_controller=True)


def remove_owner_reference(owner: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without any reference to ``owner`` (by uid); unchanged if it had none.

    ``metadata.ownerReferences`` is dropped when it becomes empty.

    Raises:
        InvalidArgumentError: the owner lacks ``metadata.uid`` (or the other owner fields).
    """
    uid = _owner_reference(owner, controller=False, block=False)["uid"]
    result: dict[str, Any] = _copy(obj)
    metadata = result.get("metadata")
    if not isinstance(metadata, dict):
        return result
    kept = [ref for ref in metadata.get("ownerReferences") or ()
            if not _is_mapping_with(ref, uid=uid)]
    if kept:
        metadata["ownerReferences"] = kept
    else:
        metadata.pop("ownerReferences", None)
    return result


def is_owned_by(
    obj: Mapping[str, Any], owner: Mapping[str, Any], *, controller: bool = False,
) -> bool:
    """Whether ``obj`` has an owner reference to ``owner`` (matched by uid).

    With ``controller=True``, only the controller reference counts (``metav1.IsControlledBy``):
    use it to decide whether an existing child is yours to update (sample-controller's
    ``ErrResourceExists`` check).

    Raises:
        InvalidArgumentError: the owner has no ``metadata.uid``.
    """
    uid = _owner_uid(owner)
    return any(
        ref.get("uid") == uid and (not controller or ref.get("controller") is True)
        for ref in owner_references(obj)
    )


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference with ``controller: true`` (``metav1.GetControllerOf``), or None.

    The API server allows at most one such reference. The reference is returned as found on
    the object (frozen if the object is): thaw it before editing.
    """
    for ref in owner_references(obj):
        if ref.get("controller") is True:
            return ref
    return None


def owner_references(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every owner reference of ``obj``, controller or not, as found (entries that are not
    mappings are skipped)."""
    metadata = obj.get("metadata") or {}
    refs = metadata.get("ownerReferences") or ()
    return [ref for ref in refs if isinstance(ref, Mapping)]


def group_of(api_version: object) -> str:
    """The API group of an ``apiVersion``: ``apps`` of ``apps/v1``; ``""`` of ``v1`` (core)."""
    text = str(api_version or "")
    return text.rpartition("/")[0]


# -- the plumbing ---------------------------------------------------------------------------------


def _owner_uid(owner: Mapping[str, Any]) -> str:
    uid = (owner.get("metadata") or {}).get("uid")
    if not uid or not isinstance(uid, str):
        raise InvalidArgumentError(
            f"the owner {_describe(owner)} has no metadata.uid: an owner must be read from the "
            "API server (the cache, a Kopf body, a GET), where it gets its uid"
        )
    return uid


def _owner_reference(owner: Mapping[str, Any], *, controller: bool, block: bool) -> OwnerReference:
    uid = _owner_uid(owner)
    api_version = owner.get("apiVersion")
    kind = owner.get("kind")
    name = (owner.get("metadata") or {}).get("name")
    missing = [field for field, value in (("apiVersion", api_version), ("kind", kind),
                                          ("metadata.name", name))
               if not value or not isinstance(value, str)]
    if missing:
        raise InvalidArgumentError(
            f"the owner {_describe(owner)} has no {', '.join(missing)}: an owner reference "
            "needs apiVersion, kind, name and uid"
        )
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": controller, "blockOwnerDeletion": block}


def _check_scope(owner: Mapping[str, Any], obj: Mapping[str, Any]) -> None:
    owner_ns = (owner.get("metadata") or {}).get("namespace")
    if not owner_ns:
        return  # a cluster-scoped owner may own anything
    obj_ns = (obj.get("metadata") or {}).get("namespace")
    if not obj_ns:
        raise InvalidArgumentError(
            f"{_describe(owner)} is namespaced and cannot own {_describe(obj)}, which has no "
            "metadata.namespace and so counts as cluster-scoped: a cluster-scoped object cannot "
            f"have a namespaced owner (if it is namespaced, set its metadata.namespace, e.g. to "
            f"{owner_ns!r})"
        )
    if obj_ns != owner_ns:
        raise InvalidArgumentError(
            f"{_describe(owner)} cannot own {_describe(obj)}: cross-namespace owner references "
            "are disallowed (the garbage collector ignores them)"
        )


def _same_owner(ref: Mapping[str, Any], reference: OwnerReference) -> bool:
    """The same uid; or the same group, kind and name (a deleted namesake: replaced)."""
    if ref.get("uid") == reference["uid"]:
        return True
    return (group_of(ref.get("apiVersion")) == group_of(reference["apiVersion"])
            and ref.get("kind") == reference["kind"] and ref.get("name") == reference["name"])


def _upsert(
    obj: Mapping[str, Any], reference: OwnerReference, *, keep_controller: bool = False,
) -> dict[str, Any]:
    """A copy of ``obj`` with ``reference`` replacing its reference to the same owner, if any
    (the owner's own, by uid, before a deleted namesake's), else appended."""
    result: dict[str, Any] = _copy(obj)
    metadata = result.get("metadata")
    if not isinstance(metadata, dict):
        metadata = result["metadata"] = {}
    refs: list[Any] = metadata.get("ownerReferences") or []
    index = next((i for i, ref in enumerate(refs) if _is_mapping_with(ref, uid=reference["uid"])),
                 None)
    if index is None:
        index = next((i for i, ref in enumerate(refs)
                      if isinstance(ref, Mapping) and _same_owner(ref, reference)), None)
    if index is None:
        refs.append(reference)
    else:
        if keep_controller and refs[index].get("controller") is True:
            reference["controller"] = True
        refs[index] = reference
        # A deleted namesake may be referenced twice (as controller and not): keep one.
        refs = [ref for i, ref in enumerate(refs)
                if i == index or not (isinstance(ref, Mapping) and _same_owner(ref, reference))]
    metadata["ownerReferences"] = refs
    return result


def _is_mapping_with(ref: object, *, uid: str) -> bool:
    return isinstance(ref, Mapping) and ref.get("uid") == uid


def _copy(value: Any) -> Any:
    """A mutable deep copy of decoded JSON: any mapping becomes a dict, any list or tuple a list
    (frozen cached objects and Kopf's body views alike)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _describe(obj: Mapping[str, Any]) -> str:
    """``Deployment default/web``, for messages."""
    metadata = obj.get("metadata") or {}
    kind = obj.get("kind") or "object"
    name = metadata.get("name") or (f"{metadata['generateName']}*"
                                    if metadata.get("generateName") else "<unnamed>")
    namespace = metadata.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
