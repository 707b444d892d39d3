"""Event handlers that turn informer events into reconcile requests (controller-runtime's
``pkg/handler``), filtered by predicates.

Its place in the data flow::

    primary informer --EnqueueForObject-----+
    owned children ----EnqueueForOwner------+--> Request --> the controller's queue
    watched objects ---EnqueueFromMapFunc---+

Each handler is registered on one informer (:func:`connect`), asks its predicates about each
event — ``create``, ``update`` or ``delete``, called by name, never looked up by a string — and
hands the requests that pass to an :class:`Enqueue`, the controller's, which applies its
convergence guards (holds on failing or hot keys). A tombstone
(:class:`~kopf_informers.DeletedFinalStateUnknown`) is unwrapped before predicates and
mappings see it. A new way to map events to requests is a new handler here, wired in
:meth:`Controller.setup <kopf_informers.Controller.setup>`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from ._informer import HandlerRegistration, SharedIndexInformer
from ._owners import controller_of, group_of, owner_references
from ._predicates import Predicate
from ._reflector import DeletedFinalStateUnknown
from .errors import CacheNotSyncedError, InvalidArgumentError

__all__ = [
    "Enqueue",
    "EnqueueForObject",
    "EnqueueForOwner",
    "EnqueueFromMapFunc",
    "MapFn",
    "Request",
    "connect",
    "request_of",
]

# The controller's logger: a failing map function is a failure of the controller.
logger = logging.getLogger("kopf_informers.ctrl")

MapFn = Callable[[Any], Iterable[Any]]


class Request(NamedTuple):
    """What to reconcile: the namespace (None for cluster-scoped objects) and the name."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class Enqueue(Protocol):
    """Queues a request; ``urgent`` (a change of the primary itself) goes past a held key."""

    def __call__(self, request: Request, *, urgent: bool = False) -> None: ...


def meta(obj: Any) -> Mapping[str, Any]:
    """``metadata`` of an object, or an empty mapping."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    return metadata if isinstance(metadata, Mapping) else {}


def request_of(obj: Any) -> Request:
    """The request for the object itself."""
    metadata = meta(obj)
    return Request(metadata.get("namespace") or None, str(metadata.get("name")))


def as_request(value: Any) -> Request:
    """A map function's answer: a Request, a (namespace, name) pair, or "ns/name"/"name"."""
    if isinstance(value, Request):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return Request(value[0] or None, str(value[1]))
    if isinstance(value, str) and value:
        namespace, _, name = value.rpartition("/")
        return Request(namespace or None, name)
    raise InvalidArgumentError(
        f"a watch map function must return Requests, (namespace, name) pairs or 'ns/name' "
        f"strings; got {value!r}"
    )


def unwrap(obj: Any) -> Any:
    """The last known state inside a tombstone, or the object itself."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


class _Filtered:
    """Typed predicate dispatch: every predicate must pass an event (short-circuiting)."""

    def __init__(self, predicates: Sequence[Predicate]) -> None:
        self.predicates = tuple(predicates)

    def create(self, obj: Any) -> bool:
        return all(p.create(obj) for p in self.predicates)

    def update(self, old: Any, new: Any) -> bool:
        return all(p.update(old, new) for p in self.predicates)

    def delete(self, obj: Any) -> bool:
        return all(p.delete(obj) for p in self.predicates)


class EnqueueForObject(_Filtered):
    """The primary's events enqueue the object's own request, urgently but for updates that
    ``urgent_update(old, new)`` says are not (status churn, our own writes).

    ``seen(obj)`` is told of every added or updated object before the predicates, and
    ``gone(request, obj)`` of every deleted one: the controller keeps its per-key state there.
    """

    def __init__(
        self, *, enqueue: Enqueue, predicates: Sequence[Predicate] = (),
        seen: Callable[[Any], None], gone: Callable[[Request, Any], None],
        urgent_update: Callable[[Any, Any], bool],
    ) -> None:
        super().__init__(predicates)
        self._enqueue = enqueue
        self._seen = seen
        self._gone = gone
        self._urgent_update = urgent_update

    def on_add(self, obj: Any) -> None:
        self._seen(obj)
        if self.create(obj):
            self._enqueue(request_of(obj), urgent=True)

    def on_update(self, old: Any, new: Any) -> None:
        self._seen(new)
        if self.update(old, new):
            self._enqueue(request_of(new), urgent=self._urgent_update(old, new))

    def on_delete(self, obj: Any) -> None:
        obj = unwrap(obj)
        request = request_of(obj)
        self._gone(request, obj)
        if self.delete(obj):
            self._enqueue(request, urgent=True)


class EnqueueForOwner(_Filtered):
    """A child's events enqueue its controller owner of the primary's group and kind (with
    ``any_owner``, every owner of that group and kind), in the child's namespace.

    ``kind()`` is the primary's kind once discovery has told it (None until then: any kind of
    the group matches). An update enqueues the owners of the old and of the new version, so a
    child handed to another owner wakes both.
    """

    def __init__(
        self, *, enqueue: Enqueue, group: str, kind: Callable[[], str | None],
        any_owner: bool = False, predicates: Sequence[Predicate] = (),
    ) -> None:
        super().__init__(predicates)
        self._enqueue = enqueue
        self._group = group
        self._kind = kind
        self._any_owner = any_owner

    def owners(self, obj: Any) -> list[Request]:
        namespace = meta(obj).get("namespace") or None
        kind = self._kind()
        if self._any_owner:
            refs = owner_references(obj)
        else:
            ref = controller_of(obj)
            refs = [] if ref is None else [ref]
        return [Request(namespace, str(ref.get("name"))) for ref in refs
                if group_of(ref.get("apiVersion")) == self._group
                and (kind is None or ref.get("kind") == kind)]

    def on_add(self, obj: Any) -> None:
        if self.create(obj):
            for request in self.owners(obj):
                self._enqueue(request)

    def on_update(self, old: Any, new: Any) -> None:
        if self.update(old, new):
            for request in {*self.owners(old), *self.owners(new)}:
                self._enqueue(request)

    def on_delete(self, obj: Any) -> None:
        obj = unwrap(obj)
        if self.delete(obj):
            for request in self.owners(obj):
                self._enqueue(request)


class EnqueueFromMapFunc(_Filtered):
    """A watched object's events enqueue what ``map_fn(obj)`` returns (for an update, of the
    new version): Requests, ``(namespace, name)`` pairs or ``"ns/name"`` strings. A map
    function that raises, or returns something else, is logged and enqueues nothing."""

    def __init__(
        self, *, enqueue: Enqueue, map_fn: MapFn, predicates: Sequence[Predicate] = (),
        name: str = "controller",
    ) -> None:
        super().__init__(predicates)
        self._enqueue = enqueue
        self._map_fn = map_fn
        self._name = name

    def on_add(self, obj: Any) -> None:
        if self.create(obj):
            self._mapped(obj)

    def on_update(self, old: Any, new: Any) -> None:
        if self.update(old, new):
            self._mapped(new)

    def on_delete(self, obj: Any) -> None:
        obj = unwrap(obj)
        if self.delete(obj):
            self._mapped(obj)

    def _mapped(self, obj: Any) -> None:
        try:
            requests = [as_request(value) for value in self._map_fn(obj) or ()]
        except CacheNotSyncedError as e:
            # A map function that reads another informer's lister, during the startup, before
            # that informer synced: nothing is lost, since workers start only after every
            # cache synced, and every primary is queued when the primary's informer syncs.
            logger.debug("%s: the watch map function %r read a cache not synced yet: %s",
                         self._name, self._map_fn, e)
            return
        except Exception:
            logger.exception("%s: the watch map function %r failed", self._name, self._map_fn)
            return
        for request in requests:
            self._enqueue(request)


class _Handler(Protocol):
    def on_add(self, obj: Any) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


def connect(
    informer: SharedIndexInformer[Any], handler: _Handler, *,
    on_relist: Callable[[], None] | None,
) -> HandlerRegistration:
    """Register ``handler`` on ``informer``, and ``on_relist`` (if any) for its relists after
    a 410; the registration removes them."""
    return informer.add_handler(on_add=handler.on_add, on_update=handler.on_update,
                                on_delete=handler.on_delete, on_relist=on_relist)
