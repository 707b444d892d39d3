"""Watch streams of the embedded server: replay, live events, bookmarks, timeouts.

One :class:`WatchStream` serves one watch connection: the events a subscription replays, then
live events as the store hands them over, with selector transitions (an object that starts
matching arrives as ADDED, one that stops as DELETED), periodic BOOKMARKs carrying the newest
resourceVersion, and a clean end at ``timeoutSeconds``. Events are JSON lines, batched into one
write when several are pending.

A watch delay (``faults.delay_watches``) holds events and bookmarks back, in order, and sends
each once it is that many seconds old; the delay is asked anew at every turn, so a change
applies to open streams (the server wakes them).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..apimachinery._json import encode
from ..registry._reads import Selection, present
from ..registry._resources import ResourceInfo
from ..storage._store import WATCHER_BUFFER, Event, Obj, Watcher
from . import _tables


class ActiveWatches:
    """The open watch connections of one server, so that faults and the listener can end them."""

    def __init__(self) -> None:
        self._requests: dict[Watcher, web.Request] = {}

    def add(self, watcher: Watcher, request: web.Request) -> None:
        self._requests[watcher] = request

    def discard(self, watcher: Watcher) -> None:
        self._requests.pop(watcher, None)

    def __len__(self) -> int:
        return len(self._requests)

    def end(self, *, abrupt: bool = False) -> int:
        """End every open watch: cleanly (the stream ends) or abruptly (the connection closes)."""
        watches = list(self._requests.items())
        for watcher, request in watches:
            watcher.close()
            if abrupt and request.transport is not None:
                request.transport.close()
        return len(watches)

    def wake(self) -> None:
        """Have every open watch look at its events again (e.g. after a watch delay changed)."""
        for watcher in self._requests:
            watcher.wakeup.set()


class WatchStream:
    """One watch connection: replays, then streams events, bookmarks and the timeout."""

    def __init__(self, res: ResourceInfo, selection: Selection, watcher: Watcher,
                 response: web.StreamResponse, bookmarks: bool, *,
                 newest_rv: Callable[[], int], bookmark_interval: float,
                 include_object: str | None = None,
                 delay: Callable[[], float] = lambda: 0.0) -> None:
        self.newest_rv = newest_rv  # what a BOOKMARK carries
        self.delay = delay  # seconds events are held back now (a fault: a lagging watch)
        self.held: collections.deque[tuple[float, list[Event] | bytes]] = collections.deque()
        self.held_events = 0
        self.include_object = include_object
        self.res = res
        self.selection = selection
        self.watcher = watcher
        self.response = response
        self.bookmarks = bookmarks
        self.interval = bookmark_interval

    async def run(self, initial: list[Event], *, end_marker: bool, duration: float | None,
                  ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        await self._emit(initial)
        if end_marker:
            await self._emit(self._bookmark({"k8s.io/initial-events-end": "true"}))
        next_bookmark = loop.time() + self.interval
        watcher = self.watcher
        while not watcher.closed:
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            waits = [deadline - now] if deadline is not None else []
            if self.bookmarks:
                waits.append(next_bookmark - now)
            if self.held:
                waits.append(self.held[0][0] + self.delay() - now)
            if not watcher.queue:
                watcher.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.wakeup.wait(), min(waits, default=None))
            events = list(watcher.queue)
            watcher.queue.clear()
            if events:
                await self._emit(events)
            if self.bookmarks and loop.time() >= next_bookmark and not watcher.closed:
                await self._emit(self._bookmark())
                next_bookmark = loop.time() + self.interval
            await self._release()

    async def _emit(self, item: list[Event] | bytes) -> None:
        """Send events or a bookmark now, or hold them back while the watch is delayed."""
        if not self.held and self.delay() <= 0:
            await self._send(item)
            return
        self.held.append((asyncio.get_running_loop().time(), item))
        self.held_events += len(item) if isinstance(item, list) else 1
        if self.held_events > WATCHER_BUFFER:  # as a watcher too far behind: the client resumes
            self.watcher.overflowed = True
            self.watcher.close()

    async def _release(self) -> None:
        """Send what has been held back for the watch delay (all of it once there is none)."""
        now, delay = asyncio.get_running_loop().time(), self.delay()
        while self.held and self.held[0][0] + delay <= now:
            _, item = self.held.popleft()
            self.held_events -= len(item) if isinstance(item, list) else 1
            await self._send(item)

    def _bookmark(self, annotations: dict[str, str] | None = None) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self.newest_rv())}
        if annotations:
            meta["annotations"] = annotations
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version, "metadata": meta}
        return encode({"type": "BOOKMARK", "object": obj})

    async def _send(self, item: list[Event] | bytes) -> None:
        if isinstance(item, bytes):
            await self._write(item)
            return
        events, chunks = item, []
        res, selection = self.res, self.selection
        for event in events:
            converted = watch_event(event, selection)
            if converted is not None:
                kind, obj = converted
                out = present(res, obj)
                if self.include_object is not None:
                    out = _tables.table_for_object(res, out, include_object=self.include_object,
                                                   now=datetime.datetime.now(datetime.UTC))
                chunks.append(encode({"type": kind, "object": out}))
        if chunks:
            await self._write(b"".join(chunks))

    async def _write(self, data: bytes) -> None:
        await self.response.write(data)


def watch_event(event: Event, selection: Selection) -> tuple[str, Obj] | None:
    """What a watcher with this selection sees of an event, with selector transitions."""
    if event.type == "ADDED":
        return ("ADDED", event.obj) if selection.matches(event.obj) else None
    old_ok = event.old is not None and selection.matches(event.old)
    if event.type == "DELETED":
        return ("DELETED", event.obj) if old_ok else None
    new_ok = selection.matches(event.obj)
    if new_ok:
        return ("MODIFIED" if old_ok else "ADDED", event.obj)
    if old_ok and event.old is not None:
        # It stopped matching: a DELETED with its previous state at the new resourceVersion.
        rv = event.obj["metadata"]["resourceVersion"]
        meta = {**event.old["metadata"], "resourceVersion": rv}
        return ("DELETED", {**event.old, "metadata": meta})
    return None
