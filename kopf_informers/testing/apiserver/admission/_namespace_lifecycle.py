"""The NamespaceLifecycle admission plugin: no new content in a missing or terminating namespace.

kube-apiserver's ``plugin/pkg/admission/namespace/lifecycle`` refuses a create in a namespace
that does not exist (404 NotFound of the namespace) or is being deleted (403 Forbidden, worded
with the object's name or its ``generateName`` prefix, with a ``NamespaceTerminating`` cause).
The registry runs every create through :func:`admit` (``Attributes``) in one place, before it
stamps anything, as the real server runs its admission chain.
"""

from __future__ import annotations

import dataclasses

from ..apimachinery._status import ApiStatusError, not_found, qualified_resource
from ..storage._store import ResourceKey, Store

NAMESPACES: ResourceKey = ("", "namespaces")


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What admission is told of a request: the verb, the resource, where and what."""

    operation: str  # "CREATE"
    group: str
    plural: str
    namespaced: bool
    namespace: str
    name: str  # the object's name, or its generateName prefix, or "Unknown"


def namespace_lifecycle(store: Store, attributes: Attributes) -> None:
    """Refuse to create content in a namespace that is missing or being terminated."""
    if attributes.operation != "CREATE" or not attributes.namespaced:
        return
    namespace, name = attributes.namespace, attributes.name
    ns = store.resource(NAMESPACES).get("", namespace)
    if ns is None:
        raise not_found("", "namespaces", namespace)
    if ns["metadata"].get("deletionTimestamp"):
        group, plural = attributes.group, attributes.plural
        raise ApiStatusError(
            403,
            f'{qualified_resource(group, plural)} "{name}" is forbidden: unable to '
            f"create new content in namespace {namespace} because it is being terminated",
            reason="Forbidden", name=name, kind=plural, group=group or None,
            causes=[{
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }],
        )


def admit(store: Store, attributes: Attributes) -> None:
    """Run the admission chain (only NamespaceLifecycle so far); raises to refuse."""
    namespace_lifecycle(store, attributes)
