"""The reflector: keeps a store equal to the API server's state through list and watch.

Its place in the data flow::

    API server --list/watch--> Reflector --StoreWriter--> Store + indexes --> listers
                                   |
                                   +--> EventHandler (the informer's fan-out to its handlers)

It is the only writer of its store. It lists (in pages of 500), replaces the store's contents,
then watches from the list's resourceVersion with bookmarks, resuming from the last
resourceVersion seen after a disconnect. On 410 Gone (an in-stream ERROR or an HTTP 410) it
re-lists and diffs against the store: objects that changed are reported as updates and objects
that vanished while it was not watching are reported as deletes carrying a
:class:`DeletedFinalStateUnknown` tombstone with their last known state — the case Kopf's own
re-list misses. The new contents are built aside page by page, each page transformed, frozen
and indexed while the request for the next one is out (that work is most of a sync's CPU, and
it then overlaps the server's), and swapped in once the list is complete.

Guarantees:
  - Handlers are notified after the store and its indexes are updated, in watch order.
  - A relist reports only objects that were added, changed (another resourceVersion) or removed.
  - Errors never end :meth:`Reflector.run`: it backs off (0.8 s doubling to 30 s, jittered,
    reset after two healthy minutes, as client-go's reflector) and tries again; only
    cancellation stops it.

The reflector does no I/O of its own: it consumes a :class:`ListerWatcher`, so its logic is tested
with scripted pages and event streams and no server. Events are the API client's
:class:`~kopf_informers.WatchEvent`, end to end: the type a watch stream yields is the type a
reflector consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from ._api.watch import WatchEvent
from ._backoff import ExponentialBackoff
from ._redaction import redact
from ._store import Replacement, StoreWriter
from .errors import ApiConnectionError, ApiError, GoneError

__all__ = [
    "DeletedFinalStateUnknown",
    "EventHandler",
    "ListPage",
    "ListerWatcher",
    "Reflector",
]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
Obj = dict[str, Any]

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
DEFAULT_PAGE_SIZE = 500
DEFAULT_MIN_WATCH_TIMEOUT = 300.0  # seconds; each watch asks for a random 5-10 minutes

logger = logging.getLogger("kopf_informers.cache")  # client-go's tools/cache


class ListPage(NamedTuple):
    """One page of a list: its objects, the list's resourceVersion and the continue token."""

    items: list[Obj]
    resource_version: str
    continue_token: str | None


class ListerWatcher(Protocol):
    """Where a reflector gets its objects from: one resource, namespace and selector set.

    A source whose objects are decoded anew for every answer, and held by nobody else, may say
    so with a true class attribute ``hands_over_objects`` (the API client's source does): the
    store then adopts them, freezing them lazily instead of copying them (see
    :meth:`StoreWriter.apply`). Without it, the store keeps frozen deep copies.
    """

    async def list_page(
        self, *, resource_version: str | None, limit: int, continue_token: str | None,
    ) -> ListPage: ...

    def watch(
        self, *, resource_version: str | None, timeout_seconds: int,
        send_initial_events: bool = False,
    ) -> AsyncIterator[WatchEvent]: ...


@dataclasses.dataclass(frozen=True)
class DeletedFinalStateUnknown(Generic[T]):
    """A delete found by a relist: the object vanished while the watch was not looking.

    ``obj`` is the last state the cache knew; its final state before deletion is unknown.
    """

    key: str
    obj: T


class EventHandler(Protocol[T_contra]):
    """What a reflector notifies (client-go's ``ResourceEventHandler``); the informer's
    implementation fans each call out to the handlers registered with ``add_handler``."""

    def on_add(self, obj: T_contra) -> None: ...

    def on_update(self, old: T_contra, new: T_contra) -> None: ...

    def on_delete(self, obj: T_contra | DeletedFinalStateUnknown[T_contra]) -> None: ...

    def on_relist(self) -> None:
        """A relist (not the first list) has been applied and its diff delivered: after a
        watch outage that ended in 410 Gone."""


class Reflector(Generic[T]):
    """Lists and watches one source into one store, and notifies one handler of changes."""

    def __init__(
        self, *, source: ListerWatcher, writer: StoreWriter[T], handler: EventHandler[T],
        name: str = "reflector", page_size: int = DEFAULT_PAGE_SIZE,
        backoff: ExponentialBackoff | None = None,
        min_watch_timeout: float = DEFAULT_MIN_WATCH_TIMEOUT, watch_list: bool = False,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self._source = source
        self._adopt = bool(getattr(source, "hands_over_objects", False))
        self._writer = writer
        self._handler = handler
        self._page_size = page_size
        self._backoff = backoff or ExponentialBackoff(rng=rng)
        self._min_watch_timeout = min_watch_timeout
        self._watch_list = watch_list
        self._rng = rng
        self._rv: str | None = None  # the last resourceVersion seen: list, event or bookmark
        self._listed_once = False
        self._rv_unavailable = False  # a list at our RV got 410: the next list asks for the latest
        self._need_list = True
        self._synced = asyncio.Event()
        self._refusal: ApiError | None = None  # a 401/403 before the first sync
        self._refused = asyncio.Event()

    @property
    def last_resource_version(self) -> str | None:
        return self._rv

    @property
    def has_synced(self) -> bool:
        """True once the store holds a complete list (it stays true through relists)."""
        return self._synced.is_set()

    async def wait_synced(self, *, fail_fast: bool = False) -> None:
        """Wait for the first complete list.

        ``fail_fast``: raise the error of a list or watch refused with 401 or 403 before that
        (credentials or RBAC that retrying will not fix until someone changes them); the
        reflector itself goes on retrying.
        """
        if not fail_fast or self._synced.is_set():
            await self._synced.wait()
            return
        waiters = [asyncio.ensure_future(self._synced.wait()),
                   asyncio.ensure_future(self._refused.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not self._synced.is_set() and self._refusal is not None:
            raise self._refusal

    async def run(self) -> None:
        """List and watch until cancelled; never returns on its own, never raises but that."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._list_and_watch()
            except (ApiError, ApiConnectionError) as e:
                if isinstance(e, ApiError) and e.status in (401, 403) and not self.has_synced:
                    self._refusal = e
                    self._refused.set()
                delay = self._backoff.next_delay(loop.time())
                # Errors of any ListerWatcher, not only the API client's: redacted here too.
                logger.warning("%s: %s; retrying in %.1f s", self.name, redact(str(e)), delay)
            except Exception:
                delay = self._backoff.next_delay(loop.time())
                logger.exception("%s: unexpected failure; retrying in %.1f s", self.name, delay)
            else:
                continue
            await asyncio.sleep(delay)

    # -- list -----------------------------------------------------------------------------------

    async def _list_and_watch(self) -> None:
        while True:
            if self._need_list:
                if self._watch_list:
                    if await self._try_watch_list():
                        continue
                else:
                    await self._list()
            try:
                await self._watch()
            except GoneError:
                logger.debug("%s: watch from %s is too old (410); relisting", self.name, self._rv)
                self._need_list = True

    def _list_resource_version(self) -> str:
        """client-go's rule: "0" first (any cached state), then our last RV, "" after a 410."""
        if self._rv_unavailable:
            return ""
        if not self._listed_once or self._rv is None:
            return "0"
        return self._rv

    async def _list(self) -> None:
        resource_version = self._list_resource_version()
        try:
            replacement, list_rv = await self._list_all(resource_version)
        except GoneError:
            if resource_version == "":
                raise
            logger.debug("%s: list at %r is gone (410); listing the latest", self.name,
                         resource_version)
            self._rv_unavailable = True
            replacement, list_rv = await self._list_all("")
        self._rv_unavailable = False
        self._replace(replacement, list_rv)

    async def _list_all(self, resource_version: str) -> tuple[Replacement[T], str]:
        """Every page of a list, added to a replacement of the store's contents as it comes.

        The next page is asked for before a page is added (transformed, frozen, indexed), so
        that this CPU-bound work runs while the server prepares the next page.
        """
        replacement = self._writer.replacement()
        page = await self._list_page(resource_version, None)
        while page.continue_token:
            next_page = asyncio.create_task(self._list_page(None, page.continue_token),
                                            name=f"{self.name}: next list page")
            try:
                await asyncio.sleep(0)  # the request goes out before the work below
                self._add_page(replacement, page)
                del page  # its raw objects are garbage now, before the next page is decoded
                page = await next_page
            except GoneError:
                # The continue token expired mid-list: start over from the latest state.
                replacement = self._writer.replacement()
                page = await self._list_page("", None)
            finally:
                await _settled(next_page)
        self._add_page(replacement, page)
        return replacement, page.resource_version

    async def _list_page(self, resource_version: str | None, token: str | None) -> ListPage:
        return await self._source.list_page(resource_version=resource_version,
                                            limit=self._page_size, continue_token=token)

    def _add_page(self, replacement: Replacement[T], page: ListPage) -> None:
        with _collector_paused():
            replacement.add(page.items, adopt=self._adopt)

    def _replace(self, replacement: Replacement[T], resource_version: str) -> None:
        added, updated, deleted = replacement.commit()
        relisted = self._listed_once
        logger.debug("%s: %s at resourceVersion %s: %d added, %d updated, %d deleted",
                     self.name, "relisted" if relisted else "listed", resource_version,
                     len(added), len(updated), len(deleted))
        self._rv = resource_version
        self._listed_once = True
        self._need_list = False
        self._synced.set()
        handler = self._handler
        for obj in added:
            handler.on_add(obj)
        for old, new in updated:
            handler.on_update(old, new)
        for key, last in deleted:
            handler.on_delete(DeletedFinalStateUnknown(key, last))
        if relisted:
            # Objects created and deleted while the watch was down left no trace in the diff:
            # whoever derives state from this resource must look at everything again.
            handler.on_relist()

    async def _try_watch_list(self) -> bool:
        """A WatchList stream instead of a list; False if the server does not support it."""
        try:
            await self._watch(initial=True)
        except GoneError:
            self._need_list = True
            return True
        except ApiError as e:
            if e.status is None or not 400 <= e.status < 500:
                raise
            logger.info("%s: the server refused a streaming list (%s); falling back to a "
                        "regular list", self.name, e)
            self._watch_list = False
            return True
        return True

    # -- watch ----------------------------------------------------------------------------------

    async def _watch(self, *, initial: bool = False) -> None:
        """One watch connection, until the server ends it. Raises GoneError on 410."""
        timeout = int(self._min_watch_timeout * (1 + self._rng()))
        buffered: list[Obj] | None = [] if initial else None
        logger.debug("%s: watching from resourceVersion %s (%d s)", self.name,
                     self._rv if not initial else "the latest, streaming the list", timeout)
        events = self._source.watch(
            resource_version=self._rv if not initial else (self._rv or ""),
            timeout_seconds=timeout, send_initial_events=initial,
        )
        async for event in events:
            obj = event.object
            rv = _resource_version(obj)
            if buffered is not None:  # the initial state of a WatchList stream
                if event.type == "BOOKMARK" and _ends_initial_events(obj):
                    replacement = self._writer.replacement()
                    with _collector_paused():
                        replacement.add(buffered, adopt=self._adopt)
                    self._replace(replacement, rv or self._rv or "")
                    buffered = None
                elif event.type != "BOOKMARK":
                    buffered.append(obj)
                continue
            if event.type == "BOOKMARK":
                pass
            elif event.type in ("ADDED", "MODIFIED"):
                self._apply(obj)
            elif event.type == "DELETED":
                self._delete(obj)
            else:
                logger.warning("%s: ignoring a watch event of unknown type %r",
                               self.name, event.type)
            if rv:
                self._rv = rv

    def _apply(self, obj: Obj) -> None:
        old, new = self._writer.apply(obj, adopt=self._adopt)
        if old is None:
            self._handler.on_add(new)
        else:
            self._handler.on_update(old, new)

    def _delete(self, obj: Obj) -> None:
        old = self._writer.delete(obj)
        if old is not None:  # a delete of something never seen is no news
            self._handler.on_delete(self._writer.transformed(obj, adopt=self._adopt))


async def _settled(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` unless it is done, and wait until it is: a page asked for in advance
    never outlives its list, and its failure, if nobody awaited it, is not reported as lost."""
    if not task.done():
        task.cancel()
        await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a relist builds the cache (synchronously).

    A relist creates ~10 tracked containers per object, which triggers full collections that
    scan the whole growing cache: half the CPU of a 10,000-object sync (bench/informers.py).
    The objects built are acyclic trees, so pausing loses nothing; it is brief (one page, with
    no await inside) and resumed even on errors, and only if it was enabled before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    if type(meta) is dict or isinstance(meta, Mapping):  # decoded JSON: the exact type first
        rv = meta.get("resourceVersion")
        return str(rv) if rv else None
    return None


def _ends_initial_events(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true"
