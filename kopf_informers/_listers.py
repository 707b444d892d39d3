"""Listers: read objects from an informer's cache by name, namespace, label selector and index.

A lister never talks to the API server: every call is served from the informer's store and its
indexes (the ``namespace`` index for namespaced lists, a full scan only for cluster-wide lists).
Objects are the cache's own, frozen: reading is free, and a caller that wants to change one
takes a mutable copy with :func:`kopf_informers.thaw` (client-go's rule, "never modify
objects from the store", enforced instead of documented).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ._store import NAMESPACE_INDEX, Store
from .errors import InvalidArgumentError
from .selectors import LabelSelector, parse_label_selector

__all__ = ["Lister", "NamespaceLister"]

T = TypeVar("T", bound=Mapping[str, Any])
Selector = str | Mapping[str, Any] | LabelSelector | None


def _labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _filter(objs: list[T], selector: Selector) -> list[T]:
    parsed = parse_label_selector(selector)
    if parsed.is_empty:
        return objs
    return [obj for obj in objs if parsed.matches(_labels_of(obj))]


class Lister(Generic[T]):
    """Reads one informer's cache.

    ``namespaced`` says whether the resource is namespaced; ``default_namespace`` is the
    namespace the informer is restricted to, if any (then ``namespace=`` may be left out).
    """

    def __init__(
        self, store: Store[T], *, resource: str, namespaced: bool,
        default_namespace: str | None = None,
    ) -> None:
        self._store = store
        self.resource = resource
        self.namespaced = namespaced
        self._default_namespace = default_namespace

    def _namespace(self, namespace: str | None) -> str | None:
        if not self.namespaced:
            if namespace:
                raise InvalidArgumentError(
                    f"{self.resource} is cluster-scoped: do not pass a namespace ({namespace!r})"
                )
            return None
        namespace = namespace or self._default_namespace
        if not namespace:
            raise InvalidArgumentError(
                f"{self.resource} is namespaced: pass namespace= to get one object"
            )
        return namespace

    def get(self, name: str, namespace: str | None = None) -> T | None:
        """The cached object with this name (in this namespace), or None if there is none."""
        ns = self._namespace(namespace)
        return self._store.get(f"{ns}/{name}" if ns else name)

    def list(self, namespace: str | None = None, selector: Selector = None) -> list[T]:
        """Cached objects, optionally of one namespace and matching a label selector.

        ``selector`` is a string (``"app=web,tier in (a,b)"``), a ``matchLabels``/
        ``matchExpressions`` mapping, or a :class:`~kopf_informers.LabelSelector`.
        """
        if namespace:
            if not self.namespaced:
                raise InvalidArgumentError(
                    f"{self.resource} is cluster-scoped: do not pass a namespace ({namespace!r})"
                )
            objs = self._store.by_index(NAMESPACE_INDEX, namespace)
        else:
            objs = self._store.list()
        return _filter(objs, selector)

    def by_index(self, index: str, value: str) -> builtins.list[T]:
        """Cached objects whose index function returned ``value`` for the named index."""
        return self._store.by_index(index, value)

    def index_values(self, index: str) -> builtins.list[str]:
        """Every value the named index currently holds."""
        return self._store.list_index_values(index)

    def namespaced_view(self, namespace: str) -> NamespaceLister[T]:
        """A lister restricted to one namespace (client-go's ``Lister.Foos(namespace)``)."""
        if not self.namespaced:
            raise InvalidArgumentError(f"{self.resource} is cluster-scoped: it has no namespaces")
        return NamespaceLister(self, namespace)

    def __len__(self) -> int:
        return len(self._store)


class NamespaceLister(Generic[T]):
    """A lister's view of one namespace."""

    def __init__(self, lister: Lister[T], namespace: str) -> None:
        self._lister = lister
        self.namespace = namespace

    def get(self, name: str) -> T | None:
        return self._lister.get(name, self.namespace)

    def list(self, selector: Selector = None) -> list[T]:
        return self._lister.list(self.namespace, selector)
