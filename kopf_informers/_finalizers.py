"""Named finalizers: add, remove and check them safely among other writers.

Where it sits: a reconciler that must clean up something outside the cluster (a cloud
resource, a DNS record) puts its finalizer on the object before creating that something, and
removes it only once the cleanup succeeded; the API server keeps the object (with a
``deletionTimestamp``) until every finalizer is gone. The controller's finalizer flow
(``reconcile(..., finalizer=...)``) is built on these helpers, and they work as well from plain
Kopf handlers with a :class:`~kopf_informers.ApiClient`.

Unlike controller-runtime's ``controllerutil.AddFinalizer``, which only edits an object in
memory for a later Update, :func:`add_finalizer` and :func:`remove_finalizer` write to the API
server, as kube-rs' ``finalizer()`` does: with a JSON patch whose ``test`` operations pin the
``resourceVersion`` and the finalizers list that the change was computed from.

Guarantees:
  - Idempotent: adding a finalizer that is there, or removing one that is not, sends no write
    and returns False. Each returns True only when its own patch changed the object.
  - No lost updates: a patch applies only to the exact state it was computed from. If anyone
    wrote in between (Kopf adding or removing its own ``kopf.zalando.org/KopfFinalizerMarker``,
    another controller's finalizer, a status update), the server refuses it (422 on the failed
    ``test``); the helper then reads the object afresh with a GET and tries again, at most
    ``attempts`` times in all (5, as client-go's ``retry.DefaultRetry``). A 409 is retried the
    same way. Other finalizers, Kopf's included, are never removed or reordered.
  - Removing the last finalizer of an object being deleted lets the server delete it; an object
    that is already gone (404) counts as nothing to remove (False).
  - Only the object passed in is changed: if a re-read finds another object of that name (the
    original was deleted and re-created, another ``uid``), it counts as gone — a namesake's
    finalizers are its own business (its cleanup may still be pending).
  - Adding a finalizer to an object being deleted is refused before any write
    (:class:`~kopf_informers.errors.DeletionOngoingError`), as the server would refuse it.

Caveats:
  - The object passed in is only the starting point: it may be stale (from the cache); a stale
    one costs a failed patch and a GET. One without ``metadata.resourceVersion`` (built locally)
    is read first.
  - After ``attempts`` failed patches the last :class:`~kopf_informers.errors.ConflictError`
    or :class:`~kopf_informers.errors.InvalidError` is raised; a busy object needs a retry by
    the caller (a reconcile error backs off and retries).
  - Connection errors and timeouts are not retried. A patch whose answer was lost may have been
    applied: calling again is safe, and then returns False.
  - Finalizer names must be domain-qualified (``example.com/cleanup``): a name without a
    prefix would clash with other writers' (the server warns about it, and ``kubernetes``,
    ``orphan`` and ``foregroundDeletion`` are its own). :func:`has_finalizer` accepts any name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._api.segments import check_segment
from .errors import (
    ConflictError,
    DeletionOngoingError,
    InvalidArgumentError,
    InvalidError,
    NotFoundError,
)

if TYPE_CHECKING:
    from ._api import ApiClient

__all__ = [
    "add_finalizer",
    "has_finalizer",
    "is_deletion_ongoing",
    "remove_finalizer",
]

DEFAULT_ATTEMPTS: Final = 5  # patches per call; client-go's retry.DefaultRetry has 5 steps

# k8s.io/apimachinery/pkg/util/validation: IsQualifiedName with a DNS-1123 subdomain prefix.
_PREFIX: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME: Final = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX_MAX: Final = 253
_NAME_MAX: Final = 63

logger = logging.getLogger("kopf_informers.ctrl")  # controller-runtime's controllerutil

Obj = Mapping[str, Any]


def has_finalizer(obj: Obj, name: str) -> bool:
    """Whether ``obj`` has the finalizer ``name`` in ``metadata.finalizers``."""
    return name in ((obj.get("metadata") or {}).get("finalizers") or ())


def is_deletion_ongoing(obj: Obj) -> bool:
    """Whether ``obj`` is being deleted: it has a ``metadata.deletionTimestamp`` (and the server
    keeps it only until its last finalizer is removed)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


async def add_finalizer(
    api: ApiClient, resource: str, obj: Obj, name: str, *, attempts: int = DEFAULT_ATTEMPTS,
) -> bool:
    """Add the finalizer ``name`` to the object on the server; True if this call added it.

    ``resource`` is ``"group/version/plural"``; ``obj`` is the object as last seen (its name,
    namespace and resourceVersion are used). See the module for the guarantees.

    Raises:
        InvalidArgumentError: ``name`` is not a domain-qualified finalizer name (see the
            module), ``obj`` has no ``metadata.name`` (or one, or a namespace, that cannot be
            in an API path: ``.``, ``..``, with ``/`` or ``%``), or ``attempts`` is below 1.
        DeletionOngoingError: the object is being deleted and lacks the finalizer.
        NotFoundError: the object does not exist (any more: a namesake with another uid
            does not count).
        ConflictError, InvalidError: still refused after ``attempts`` patches.
    """
    _check_name(name, qualified=True)
    return await _change(api, resource, obj, name, attempts=attempts, adding=True)


async def remove_finalizer(
    api: ApiClient, resource: str, obj: Obj, name: str, *, attempts: int = DEFAULT_ATTEMPTS,
) -> bool:
    """Remove the finalizer ``name`` (every occurrence) from the object on the server; True if
    this call removed it. An object that is gone (404) needs nothing: False.

    Removing the last finalizer of an object being deleted lets the server delete it. Names
    without a domain prefix are accepted here, so that a legacy finalizer can still be removed.

    Raises:
        InvalidArgumentError: ``name`` is not a valid finalizer name (a qualified name, as for
            label keys), ``obj`` has no ``metadata.name`` (or one, or a namespace, that cannot
            be in an API path), or ``attempts`` is below 1.
        ConflictError, InvalidError: still refused after ``attempts`` patches.
    """
    _check_name(name, qualified=False)
    return await _change(api, resource, obj, name, attempts=attempts, adding=False)


# -- the plumbing ---------------------------------------------------------------------------------


def _check_name(name: object, *, qualified: bool) -> None:
    """Refuse a finalizer name that the server would refuse (not a qualified name, as label
    keys are) or, if ``qualified``, that has no domain prefix (``example.com/cleanup``)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"a finalizer name is a string, got {name!r}")
    prefix, slash, short = name.rpartition("/")
    problems = []
    if not slash:
        if qualified:
            problems.append("it has no domain prefix: use a domain you own, e.g. "
                            f"'example.com/{name}', so that it cannot clash with other writers' "
                            "finalizers")
    elif not prefix or len(prefix) > _PREFIX_MAX or not _PREFIX.match(prefix):
        problems.append(f"the prefix {prefix!r} is not a DNS subdomain: lowercase letters, "
                        f"digits, '-' and '.', at most {_PREFIX_MAX} characters")
    if not short or len(short) > _NAME_MAX or not _NAME.match(short):
        problems.append(f"the name part {short!r} must be at most {_NAME_MAX} letters, digits, "
                        "'-', '_' or '.', and begin and end with a letter or digit")
    if problems:
        raise InvalidArgumentError(f"invalid finalizer name {name!r}: {'; '.join(problems)}")


async def _change(
    api: ApiClient, resource: str, obj: Obj, finalizer: str, *, attempts: int, adding: bool,
) -> bool:
    verb = "add_finalizer" if adding else "remove_finalizer"
    if not isinstance(attempts, int) or attempts < 1:
        raise InvalidArgumentError(f"{verb}: attempts must be 1 or more, got {attempts!r}")
    metadata = obj.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace") or None
    if not name:
        raise InvalidArgumentError(f"{verb} {resource}: the object has no metadata.name")
    # Even when nothing is to be written: no object can have such a name or namespace.
    check_segment(name, "metadata.name", request=f"{verb} {resource}")
    if namespace is not None:
        check_segment(namespace, "metadata.namespace", request=f"{verb} {resource}")

    uid = metadata.get("uid")

    async def read() -> Obj | None:
        try:
            fresh = await api.get(resource, name, namespace=namespace)
            fresh_uid = (fresh.get("metadata") or {}).get("uid")
            if uid and fresh_uid != uid:
                # A namesake: the object was deleted and re-created. Its finalizers are not
                # ours to change on this object's behalf (its own cleanup may be pending).
                raise NotFoundError(
                    f"the object (uid {uid}) is gone; {name} is now another object "
                    f"(uid {fresh_uid})", status=404, reason="NotFound", verb="get",
                    resource=resource, namespace=namespace, name=name,
                )
        except NotFoundError:
            if adding:
                raise
            return None  # gone: nothing to remove
        return fresh

    state: Obj | None = obj if metadata.get("resourceVersion") else await read()
    error: ConflictError | InvalidError | None = None
    for attempt in range(1, attempts + 1):
        if state is None:
            return False
        patch = _adding(state, finalizer) if adding else _removing(state, finalizer)
        if patch is None:
            return False
        try:
            await api.patch(resource, name, patch, namespace=namespace, type="json")
        except NotFoundError:
            if adding:
                raise
            return False
        except (ConflictError, InvalidError) as e:
            # Someone wrote since that state was read (a failed test is a 422): read it again.
            error = e
            logger.debug("%s %r on %s %s: attempt %d of %d refused (%s); re-reading",
                         verb, finalizer, resource, name, attempt, attempts, e.status)
        else:
            return True
        if attempt < attempts:
            state = await read()
    assert error is not None  # every path above either returned or failed a patch
    error.add_note(f"{verb} {finalizer!r}: gave up after {attempts} refused patches")
    raise error


def _pinned(metadata: Mapping[str, Any], finalizers: list[str]) -> list[dict[str, Any]]:
    """The ``test`` operations that pin a patch to the state it was computed from."""
    tests: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": metadata["resourceVersion"]},
    ]
    if finalizers:
        tests.append({"op": "test", "path": "/metadata/finalizers", "value": finalizers})
    return tests


def _adding(obj: Obj, finalizer: str) -> list[dict[str, Any]] | None:
    """The JSON patch that adds the finalizer, or None if it is there."""
    metadata = obj.get("metadata") or {}
    finalizers = [str(f) for f in metadata.get("finalizers") or ()]
    if finalizer in finalizers:
        return None
    if is_deletion_ongoing(obj):
        raise DeletionOngoingError(
            f"cannot add the finalizer {finalizer!r} to {obj.get('kind') or 'the object'} "
            f"{_describe(metadata)}: it is being deleted (deletionTimestamp "
            f"{metadata.get('deletionTimestamp')}), and the server forbids new finalizers then"
        )
    change: dict[str, Any]
    if finalizers:  # "/-" appends to the list that the tests have pinned
        change = {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}
    else:
        change = {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}
    return [*_pinned(metadata, finalizers), change]


def _removing(obj: Obj, finalizer: str) -> list[dict[str, Any]] | None:
    """The JSON patch that removes every occurrence of the finalizer, or None if it is absent."""
    metadata = obj.get("metadata") or {}
    finalizers = [str(f) for f in metadata.get("finalizers") or ()]
    if finalizer not in finalizers:
        return None
    kept = [f for f in finalizers if f != finalizer]
    change: dict[str, Any] = (
        {"op": "replace", "path": "/metadata/finalizers", "value": kept} if kept
        else {"op": "remove", "path": "/metadata/finalizers"}
    )
    return [*_pinned(metadata, finalizers), change]


def _describe(metadata: Mapping[str, Any]) -> str:
    name, namespace = metadata.get("name"), metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)
