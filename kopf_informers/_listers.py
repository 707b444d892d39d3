"""Listers: read objects from an informer's cache by name, namespace, label selector and index.

A lister never talks to the API server: every call is served from the informer's store and its
indexes (the ``namespace`` index for namespaced lists, a full scan only for cluster-wide lists).
Objects are the cache's own, frozen: reading is free, and a caller that wants to change one
takes a mutable copy with :func:`kopf_informers.thaw` (client-go's rule, "never modify
objects from the store", enforced instead of documented).

An informer's lister refuses to read before the informer's first list is complete: every read
raises :class:`~kopf_informers.errors.CacheNotSyncedError` until then, saying whether the
informer was never started or is still listing, and how to wait. An empty cache that has not
synced would answer None and ``[]`` for objects that exist, which reads as "there is none" and
makes a reconcile create duplicates. (controller-runtime's cache raises ``ErrCacheNotStarted``
before its start and blocks reads until the sync; a synchronous read cannot block, so it
raises in both cases.) After the first sync, reads go on through relists and after a stop,
from the last known state.

Namespace arguments are checked against the resource's scope, which discovery tells when the
factory starts the informer (until then it is unknown and only the informer's own namespace is
checked), and against the namespace the informer caches: asking an informer of namespace
``a`` about namespace ``b`` is an error, not an empty answer.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
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

    ``namespaced`` says whether the resource is namespaced (None: not known yet, so namespace
    arguments are not checked against the scope); ``default_namespace`` is the namespace the
    informer is restricted to, if any (then ``namespace=`` may be left out, and another
    namespace is refused). ``check_synced`` is called before reads until it first passes, and
    raises :class:`~kopf_informers.errors.CacheNotSyncedError` while the cache cannot answer yet; an
    informer passes its own, a lister built over a store alone has none (the store's owner
    knows whether it is complete).

    Raises (every method):
        CacheNotSyncedError: the informer has not started, or not finished its first list.
        InvalidArgumentError: a namespace for a cluster-scoped resource, another namespace
            than the one the informer caches, or no namespace to get a namespaced object.
    """

    def __init__(
        self, store: Store[T], *, resource: str, namespaced: bool | None,
        default_namespace: str | None = None, check_synced: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self.resource = resource
        self.namespaced = namespaced
        self._default_namespace = default_namespace
        self._check_synced = check_synced

    def _readable(self) -> None:
        check = self._check_synced
        if check is not None:
            check()
            # Synced once, readable for good (through relists, and while a namespace that joins
            # a multi-namespace informer lists): no check left on the hot path.
            self._check_synced = None

    def _check_namespace(self, namespace: str) -> None:
        """Refuse a namespace that this lister can have no objects of."""
        if self.namespaced is False:
            raise InvalidArgumentError(
                f"{self.resource} is cluster-scoped: do not pass a namespace ({namespace!r})"
            )
        if self._default_namespace and namespace != self._default_namespace:
            raise InvalidArgumentError(
                f"this lister of {self.resource} caches namespace "
                f"{self._default_namespace!r} only, not {namespace!r}: read an informer of "
                f"that namespace, or of all namespaces"
            )

    def _namespace(self, namespace: str | None) -> str | None:
        if namespace:
            self._check_namespace(namespace)
            return namespace
        if self._default_namespace:
            return self._default_namespace
        if self.namespaced:
            raise InvalidArgumentError(
                f"{self.resource} is namespaced: pass namespace= to get one object"
            )
        return None

    def get(self, name: str, namespace: str | None = None) -> T | None:
        """The cached object with this name (in this namespace), or None if there is none."""
        self._readable()
        ns = self._namespace(namespace)
        return self._store.get(f"{ns}/{name}" if ns else name)

    def list(self, namespace: str | None = None, selector: Selector = None) -> list[T]:
        """Cached objects, optionally of one namespace and matching a label selector.

        ``selector`` is a string (``"app=web,tier in (a,b)"``), a ``matchLabels``/
        ``matchExpressions`` mapping, or a :class:`~kopf_informers.LabelSelector`.
        """
        self._readable()
        if namespace:
            self._check_namespace(namespace)
            objs = self._store.by_index(NAMESPACE_INDEX, namespace)
        else:
            objs = self._store.list()
        return _filter(objs, selector)

    def by_index(self, index: str, value: str) -> builtins.list[T]:
        """Cached objects whose index function returned ``value`` for the named index."""
        self._readable()
        return self._store.by_index(index, value)

    def index_values(self, index: str) -> builtins.list[str]:
        """Every value the named index currently holds."""
        self._readable()
        return self._store.list_index_values(index)

    def namespaced_view(self, namespace: str) -> NamespaceLister[T]:
        """A lister restricted to one namespace (client-go's ``Lister.Foos(namespace)``).

        The view is checked at each read, like the lister, so it may be made before the sync.
        """
        if self.namespaced is False:
            raise InvalidArgumentError(f"{self.resource} is cluster-scoped: it has no namespaces")
        return NamespaceLister(self, namespace)

    def __len__(self) -> int:
        """How many objects are cached (a read too: refused before the sync, not 0)."""
        self._readable()
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
