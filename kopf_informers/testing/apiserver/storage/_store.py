"""The embedded API server's storage: objects, one global resourceVersion, and event history.

It plays etcd's part. Every write gets the next value of one cluster-global, strictly increasing
resourceVersion (like an etcd revision), is stored, appended to its resource's event history and
handed to that resource's watchers in the same synchronous step, so no watcher can miss or reorder
an event. The history is bounded: a watch that resumes from a resourceVersion older than what the
history still covers is answered with 410 Gone, as after an etcd compaction.

Stored objects are never mutated in place: a write stores a new dict. That lets list snapshots and
events share references to objects instead of copying them.

Everything here runs on the server's event loop; nothing is thread-safe on its own.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

Obj = dict[str, Any]
ResourceKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)

DEFAULT_HISTORY = 10_000  # events kept per resource for watch resumption
WATCHER_BUFFER = 100_000  # a watcher further behind than this is closed (the client resumes)


class Event(NamedTuple):
    """One change of one object. ``old`` is the previous state (None for ADDED)."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None


class Watcher:
    """A subscription to one resource's events, fed synchronously by the store."""

    def __init__(self, store: ResourceStore) -> None:
        self._store = store
        self.queue: collections.deque[Event] = collections.deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.overflowed = False

    def push(self, event: Event) -> None:
        if len(self.queue) >= WATCHER_BUFFER:
            self.overflowed = True
            self.close()
            return
        self.queue.append(event)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()
        self._store.watchers.discard(self)


class ResourceStore:
    """All objects of one (group, plural), with their recent events and current watchers."""

    def __init__(self, key: ResourceKey, history: int) -> None:
        self.key = key
        self.namespaces: dict[str, dict[str, Obj]] = {}  # namespace ("" if cluster) -> name -> obj
        self.history: collections.deque[Event] = collections.deque(maxlen=history)
        self.compacted_rv = 0  # events with rv <= this may be gone from the history
        self.watchers: set[Watcher] = set()
        self._sorted: list[ObjectKey] | None = None
        self.count = 0

    def get(self, namespace: str, name: str) -> Obj | None:
        objs = self.namespaces.get(namespace)
        return None if objs is None else objs.get(name)

    def keys(self, namespace: str | None = None) -> list[ObjectKey]:
        """Keys in etcd order (namespace, then name); cached until an object comes or goes."""
        if self._sorted is None:
            self._sorted = sorted(
                (ns, name) for ns, objs in self.namespaces.items() for name in objs
            )
        if namespace is None:
            return self._sorted
        return [(namespace, name) for name in sorted(self.namespaces.get(namespace, ()))]

    def items(self, namespace: str | None = None) -> list[Obj]:
        nss = self.namespaces
        return [nss[ns][name] for ns, name in self.keys(namespace)]

    def _record(self, event: Event) -> None:
        history = self.history
        if history.maxlen is not None and len(history) == history.maxlen:
            self.compacted_rv = history[0].rv
        history.append(event)
        if self.watchers:
            for watcher in list(self.watchers):  # a watcher that overflows leaves the set
                watcher.push(event)

    def events_since(self, rv: int) -> list[Event] | None:
        """Every event after ``rv``, or None if the history no longer covers it (410 Gone)."""
        if rv < self.compacted_rv:
            return None
        history = self.history
        if not history or history[-1].rv <= rv:
            return []
        # Events are in rv order: walk back from the newest, as resumes are mostly recent.
        result = []
        for event in reversed(history):
            if event.rv <= rv:
                break
            result.append(event)
        result.reverse()
        return result

    def compact(self, rv: int) -> None:
        self.history.clear()
        self.compacted_rv = rv


class Store:
    """Every resource's objects, the global resourceVersion, and the uid/owner indexes."""

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        self.rv = 0
        self.history_size = history
        self.resources: dict[ResourceKey, ResourceStore] = {}
        self.uids: dict[str, tuple[ResourceKey, str, str]] = {}
        self.dependents: dict[str, set[tuple[ResourceKey, str, str]]] = {}
        self.listeners: list[Callable[[ResourceKey, Event], None]] = []

    def resource(self, key: ResourceKey) -> ResourceStore:
        store = self.resources.get(key)
        if store is None:
            store = self.resources[key] = ResourceStore(key, self.history_size)
        return store

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: ResourceKey, obj: Obj, old: Obj | None) -> Event:
        """Store a new or changed object; ``obj`` already carries its new resourceVersion."""
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        rs = self.resource(key)
        objs = rs.namespaces.setdefault(namespace, {})
        if name not in objs:
            rs._sorted = None
            rs.count += 1
        objs[name] = obj
        self._index(key, namespace, name, obj, old)
        event = Event(int(meta["resourceVersion"]), "MODIFIED" if old else "ADDED", obj, old)
        self._emit(rs, event)
        return event

    def remove(self, key: ResourceKey, obj: Obj) -> Event:
        """Remove an object; ``obj`` is its last state, already carrying the deletion's RV."""
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        rs = self.resource(key)
        objs = rs.namespaces.get(namespace, {})
        old = objs.pop(name, None)
        if not objs:
            rs.namespaces.pop(namespace, None)
        rs._sorted = None
        rs.count -= 1
        self._index(key, namespace, name, None, old)
        event = Event(int(meta["resourceVersion"]), "DELETED", obj, old)
        self._emit(rs, event)
        return event

    def _emit(self, rs: ResourceStore, event: Event) -> None:
        rs._record(event)
        for listener in self.listeners:
            listener(rs.key, event)

    def _index(
        self, key: ResourceKey, ns: str, name: str, new: Obj | None, old: Obj | None,
    ) -> None:
        ref = (key, ns, name)
        if old is not None:
            self.uids.pop(old["metadata"].get("uid", ""), None)
            for uid in owner_uids(old):
                deps = self.dependents.get(uid)
                if deps is not None:
                    deps.discard(ref)
                    if not deps:
                        del self.dependents[uid]
        if new is not None:
            self.uids[new["metadata"]["uid"]] = ref
            for uid in owner_uids(new):
                self.dependents.setdefault(uid, set()).add(ref)

    def lookup_uid(self, uid: str) -> Obj | None:
        ref = self.uids.get(uid)
        if ref is None:
            return None
        return self.resource(ref[0]).get(ref[1], ref[2])

    def iter_dependents(self, uid: str) -> Iterator[tuple[ResourceKey, Obj]]:
        for key, ns, name in list(self.dependents.get(uid, ())):
            obj = self.resource(key).get(ns, name)
            if obj is not None:
                yield key, obj

    def compact_all(self) -> None:
        """Forget all history: any resume from a resourceVersion older than now gets 410."""
        for rs in self.resources.values():
            rs.compact(self.rv)


def owner_uids(obj: Mapping[str, Any]) -> list[str]:
    refs = obj.get("metadata", {}).get("ownerReferences") or ()
    return [ref["uid"] for ref in refs if isinstance(ref, dict) and "uid" in ref]
