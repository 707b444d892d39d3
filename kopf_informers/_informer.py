"""Shared index informers: a reflector, its store, a lister, and event handlers.

An informer keeps one cache of one resource (in one namespace, with one set of selectors) and
tells its handlers what changed::

    Reflector --> Store + indexes --> Lister (reads, no API calls)
        |
        +--> handlers: on_add(obj), on_update(old, new), on_delete(obj or tombstone)

Contract (client-go's ``SharedInformer``):
  - Handlers hear of a change after the cache and its indexes have it, in watch order.
  - ``on_delete`` gets the object's final state, or a :class:`DeletedFinalStateUnknown`
    tombstone with its last known state when a relist found it gone.
  - A handler added after the informer synced first gets an ``on_add`` for every cached object.
  - A handler that raises is logged and skipped; the informer and the other handlers go on.
  - Handlers are synchronous and must be quick (they run on the informer's loop, between
    events): hand longer work to a workqueue, as client-go advises. Coroutine functions are
    refused with a clear error.
  - With a resync period, every cached object is re-delivered as ``on_update(obj, obj)``.
  - After a relist that follows a 410 (not after the first list), ``on_relist()`` is called
    once the relist's differences have been delivered.

Starting (:meth:`InformerFactory.start`) resolves each resource by discovery first. Failures
that pass (connection refused or reset, timeouts, 5xx, 429) are retried there with the
reflector's backoff until a deadline, so that an API server down for a few seconds when an
operator starts costs those seconds, not a failed start; the others (an unknown resource,
401, 403, bad credentials) are raised at once, unchanged: retrying would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

from ._api import ApiClient, ApiResource
from ._api.resources import parse_resource
from ._api.segments import check_segment
from ._backoff import ExponentialBackoff
from ._listers import Lister
from ._listwatch import ApiListWatch
from ._namespaces import NamespaceScope
from ._redaction import redact
from ._reflector import DeletedFinalStateUnknown, ListerWatcher, Reflector
from ._store import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    IndexFunc,
    RawObject,
    ShardedStore,
    Store,
    StoreWriter,
    store,
)
from .errors import (
    ApiConnectionError,
    CacheNotSyncedError,
    CacheSyncTimeoutError,
    ForbiddenError,
    InvalidArgumentError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from .selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector

__all__ = [
    "DEFAULT_SYNC_TIMEOUT",
    "HandlerRegistration",
    "InformerFactory",
    "SharedIndexInformer",
    "discover",
    "wait_for_cache_sync",
]

T = TypeVar("T", bound=Mapping[str, Any])
OnAdd = Callable[[Any], object]
OnUpdate = Callable[[Any, Any], object]
OnDelete = Callable[[Any], object]
OnRelist = Callable[[], object]

logger = logging.getLogger("kopf_informers.cache")  # client-go's tools/cache
MINIMUM_RESYNC_PERIOD = 1.0  # seconds, as client-go
DEFAULT_SYNC_TIMEOUT = 120.0  # seconds, controller-runtime's CacheSyncTimeout
# Failures that pass by themselves: no answer (refused, reset, timed out), 5xx, 429.
TRANSIENT_ERRORS = (ApiConnectionError, ServerError, TooManyRequestsError)
NAMESPACES = "v1/namespaces"


def meta_name(obj: Mapping[str, Any]) -> str | None:
    name = (obj.get("metadata") or {}).get("name")
    return name if isinstance(name, str) else None


def _check_handler(name: str, fn: Callable[..., object] | None) -> None:
    if fn is None:
        return
    if not callable(fn):
        raise InvalidArgumentError(f"{name} must be callable, got {fn!r}")
    # A partial of a coroutine function has no __qualname__; an object whose __call__ is a
    # coroutine function is not one itself, yet calling it only makes a coroutine nobody awaits.
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
        label = getattr(fn, "__qualname__", None) or repr(fn)
        raise InvalidArgumentError(
            f"{name}={label} is a coroutine function: informer handlers are "
            f"synchronous and quick; enqueue the work (e.g. to a workqueue) instead"
        )


class HandlerRegistration:
    """One set of handlers on one informer; :meth:`remove` unregisters them."""

    def __init__(
        self, informer: SharedIndexInformer[Any], on_add: OnAdd | None,
        on_update: OnUpdate | None, on_delete: OnDelete | None,
        on_relist: OnRelist | None = None,
    ) -> None:
        self._informer = informer
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.on_relist = on_relist

    def remove(self) -> None:
        self._informer._remove(self)

    def _call(self, kind: str, fn: Callable[..., object] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            result = fn(*args)
        except Exception:
            logger.exception("%s: the %s handler %r failed; the informer goes on",
                             self._informer.name, kind, fn)
            return
        if result is not None and inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: close it rather than leak a warning
            logger.error("%s: the %s handler %r returned an awaitable, which is not awaited: "
                         "informer handlers are synchronous; enqueue async work instead",
                         self._informer.name, kind, fn)


class _FanOut(Generic[T]):
    """The reflector's :class:`~kopf_informers.EventHandler` for an informer: tells
    every registration, in the order they were added, each under the name it registered with.
    Private, so that an informer's only ``on_*`` names are the handlers given to ``add_handler``.
    """

    def __init__(self, registrations: list[HandlerRegistration]) -> None:
        self._registrations = registrations  # the informer's list: registrations come and go

    def on_add(self, obj: T) -> None:
        for registration in tuple(self._registrations):
            registration._call("add", registration.on_add, obj)

    def on_update(self, old: T, new: T) -> None:
        for registration in tuple(self._registrations):
            registration._call("update", registration.on_update, old, new)

    def on_delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        for registration in tuple(self._registrations):
            registration._call("delete", registration.on_delete, obj)

    def on_relist(self) -> None:
        for registration in tuple(self._registrations):
            registration._call("relist", registration.on_relist)


class _Shard(Generic[T]):
    """One list+watch of an informer: of all its namespaces, or of one of them."""

    def __init__(self, reflector: Reflector[T], store: Store[T], writer: StoreWriter[T]) -> None:
        self.reflector = reflector
        self.store = store
        self.writer = writer
        self.task: asyncio.Task[None] | None = None


class SharedIndexInformer(Generic[T]):
    """One cache of one resource, fed by a reflector, read through :attr:`lister`.

    ``namespaced`` is the resource's scope (None: unknown until the factory's discovery binds
    it); ``namespace`` restricts the cache to one namespace. The lister refuses to read until
    the first list is complete (:class:`~kopf_informers.errors.CacheNotSyncedError`).

    An informer that its factory restricts to several namespaces (see
    :class:`~kopf_informers._namespaces.NamespaceScope`) runs one reflector per namespace, each
    into a store of its own, behind one :attr:`store` view, one lister and one set of handlers:
    controller-runtime's multi-namespace cache. Namespaces that join later are listed and
    watched from then on (their objects arrive as adds); namespaces that leave are dropped
    (their cached objects are delivered as deletes, with tombstones).
    """

    def __init__(
        self, *, source: ListerWatcher, resource: str, namespaced: bool | None,
        namespace: str | None = None, indexers: Mapping[str, IndexFunc[T]] | None = None,
        transform: Callable[[RawObject], Any] | None = None,
        resync_period: float | None = None, watch_list: bool = False, name: str | None = None,
        backoff: Callable[[], ExponentialBackoff] | None = None,
    ) -> None:
        # Written as "not >=" so that NaN, which compares false to everything, is refused too.
        if resync_period is not None and not resync_period >= MINIMUM_RESYNC_PERIOD:
            raise InvalidArgumentError(
                f"resync_period must be at least {MINIMUM_RESYNC_PERIOD} s (or None for no "
                f"resync), got {resync_period}"
            )
        self.name = name or resource
        self.resource = resource
        self._indexers: dict[str, IndexFunc[T]] = dict(indexers or {})
        self._transform = transform
        self._watch_list = watch_list
        self._backoff = backoff
        self._handlers: list[HandlerRegistration] = []
        self._fan_out: _FanOut[T] = _FanOut(self._handlers)
        self._single: _Shard[T] | None = self._shard(source, self.name)
        # Restricted to several namespaces: a shard per namespace, read through one view.
        self._shards: dict[str, _Shard[T]] = {}
        self._shard_stores: dict[str, Store[T]] = {}
        self._source_for: Callable[[str], ListerWatcher] | None = None
        self._sharded = ShardedStore(self._shard_stores, self._index_names)
        self._store: Store[T] = self._single.store
        self.lister: Lister[T] = Lister(
            self._store, resource=resource, namespaced=namespaced, default_namespace=namespace,
            check_synced=self._check_synced,
        )
        self._resync_period = resync_period
        self._resync_task: asyncio.Task[None] | None = None
        self._running = False
        self._ever_started = False

    def _shard(self, source: ListerWatcher, name: str) -> _Shard[T]:
        pair = store(indexers=cast(Any, self._indexers), transform=cast(Any, self._transform))
        shard_store, writer = cast(tuple[Store[T], StoreWriter[T]], pair)
        reflector: Reflector[T] = Reflector(
            source=source, writer=writer, handler=self._fan_out, name=name,
            watch_list=self._watch_list,
            backoff=self._backoff() if self._backoff is not None else None,
        )
        return _Shard(reflector, shard_store, writer)

    def _index_names(self) -> list[str]:
        return sorted({NAMESPACE_INDEX, OWNER_INDEX, *self._indexers})

    def _all_shards(self) -> list[_Shard[T]]:
        return [self._single] if self._single is not None else list(self._shards.values())

    # -- state ----------------------------------------------------------------------------------

    @property
    def store(self) -> Store[T]:
        """The read-only cache (the lister reads the same)."""
        return self._store

    @property
    def has_synced(self) -> bool:
        """True once the cache holds a complete first list of the resource (of each of its
        namespaces, if restricted to several)."""
        return all(shard.reflector.has_synced for shard in self._all_shards())

    @property
    def last_resource_version(self) -> str | None:
        """The last resourceVersion seen (None when the informer watches several namespaces:
        each has its own)."""
        return None if self._single is None else self._single.reflector.last_resource_version

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces watched one by one, or None for one list+watch (all namespaces, one
        namespace, or a cluster-scoped resource)."""
        return None if self._single is not None else sorted(self._shards)

    @property
    def is_running(self) -> bool:
        return self._running

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until synced; raises :class:`CacheSyncTimeoutError` naming it on timeout."""
        await wait_for_cache_sync([self], timeout=timeout)

    async def _wait_synced(self, *, fail_fast: bool = False) -> None:
        await asyncio.gather(*(shard.reflector.wait_synced(fail_fast=fail_fast)
                               for shard in self._all_shards()))

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        """Add named indexes; existing objects are indexed at once."""
        for shard in self._all_shards():
            shard.writer.add_indexers(cast(Any, indexers))
        self._indexers.update(indexers)

    # -- handlers -------------------------------------------------------------------------------

    def add_handler(
        self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None, *, on_relist: OnRelist | None = None,
    ) -> HandlerRegistration:
        """Register handlers; if the cache is synced, ``on_add`` first gets every object.

        ``on_relist()`` is called after a relist that followed a watch outage ending in 410
        Gone, once its differences have been delivered as adds, updates and tombstones. Objects
        created and deleted during the outage left no trace in them: a handler that derives
        state from this resource (e.g. a controller whose children these are) should look at
        everything again.
        """
        handlers = (("on_add", on_add), ("on_update", on_update), ("on_delete", on_delete),
                    ("on_relist", on_relist))
        for name, fn in handlers:
            _check_handler(name, fn)
        if all(fn is None for _, fn in handlers):
            raise InvalidArgumentError("add_handler() needs at least one of on_add, on_update, "
                                       "on_delete, on_relist")
        registration = HandlerRegistration(self, on_add, on_update, on_delete, on_relist)
        if self.has_synced:
            for obj in self._store.list():
                registration._call("add", on_add, obj)
        self._handlers.append(registration)
        return registration

    def _remove(self, registration: HandlerRegistration) -> None:
        with contextlib.suppress(ValueError):
            self._handlers.remove(registration)

    # -- namespaces -----------------------------------------------------------------------------

    def _use_namespaces(
        self, namespaces: Iterable[str], source_for: Callable[[str], ListerWatcher],
    ) -> None:
        """Watch these namespaces one by one (before :meth:`start`); see :meth:`_set_namespaces`
        for later changes. ``source_for`` makes the list-watch source of one namespace."""
        if self._running:
            raise RuntimeError(f"{self.name}: the namespaces are chosen before it starts")
        self._single = None
        self._source_for = source_for
        self._store = self.lister._store = self._sharded
        self._set_namespaces(namespaces)

    def _set_namespaces(self, namespaces: Iterable[str]) -> None:
        """Start watching the namespaces new to the set, drop those that left it."""
        assert self._source_for is not None, "_use_namespaces() first"
        wanted = set(namespaces)
        for namespace in sorted(wanted - self._shards.keys()):
            shard = self._shard(self._source_for(namespace), f"{self.name} in {namespace}")
            self._shards[namespace] = shard
            self._shard_stores[namespace] = shard.store
            if self._running:
                self._start_shard(shard)
            logger.debug("%s: watching namespace %s", self.name, namespace)
        for namespace in sorted(self._shards.keys() - wanted):
            shard = self._shards.pop(namespace)
            del self._shard_stores[namespace]
            if shard.task is not None:
                shard.task.cancel()
            for key, obj in zip(shard.store.keys(), shard.store.list(), strict=True):
                self._fan_out.on_delete(DeletedFinalStateUnknown(key, obj))
            logger.debug("%s: no longer watching namespace %s", self.name, namespace)

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start listing and watching on the running loop (idempotent)."""
        if self._running:
            return
        self._running = True
        self._ever_started = True
        for shard in self._all_shards():
            self._start_shard(shard)
        if self._resync_period is not None:
            self._resync_task = asyncio.get_running_loop().create_task(
                self._resync(), name=f"resync:{self.name}")

    def _start_shard(self, shard: _Shard[T]) -> None:
        shard.task = asyncio.get_running_loop().create_task(
            shard.reflector.run(), name=f"reflector:{shard.reflector.name}")

    async def stop(self) -> None:
        """Stop; returns once nothing of this informer runs any more."""
        self._running = False
        tasks = [shard.task for shard in self._all_shards() if shard.task is not None]
        if self._resync_task is not None:
            tasks.append(self._resync_task)
        for shard in self._all_shards():
            shard.task = None
        self._resync_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _check_synced(self) -> None:
        """Raise :class:`CacheNotSyncedError` saying why, unless the cache holds a full list."""
        if self.has_synced:
            return
        if not self._ever_started:
            state = "is not started, so its cache is empty"
            how = ("start it and wait for its sync: await factory.start() then await "
                   "factory.wait_synced() (or informer.start() then await informer.wait_synced())")
        elif not self.is_running:
            state = "was stopped before its first list completed, so its cache is incomplete"
            how = "start it again and await factory.wait_synced() (or informer.wait_synced())"
        else:
            state = ("has started but not synced yet: its first list is not complete (if it "
                     "takes long, the logs say why)")
            how = "await informer.wait_synced() (or factory.wait_synced()) before reading"
        raise CacheNotSyncedError(
            f"cannot read the lister of {self.name}: the informer {state}; {how}. In a Kopf "
            f"operator, read listers from handlers (or reconcile functions): Kopf runs them "
            f"only after kopf-informers' startup handler has synced every cache",
            informer=self.name, started=self._ever_started,
        )

    def _bind(self, *, namespaced: bool) -> None:
        """Learn the resource's scope from discovery (the factory does this before starting)."""
        self.lister.namespaced = namespaced

    async def _resync(self) -> None:
        assert self._resync_period is not None
        await self._wait_synced()
        while True:
            await asyncio.sleep(self._resync_period)
            for obj in self._store.list():
                self._fan_out.on_update(obj, obj)


async def wait_for_cache_sync(
    informers: Iterable[SharedIndexInformer[Any]], *, timeout: float | None = None,
    fail_fast: bool = False,
) -> None:
    """Wait until every informer has synced; on timeout, name those that have not.

    ``fail_fast``: raise at once the :class:`~kopf_informers.errors.ForbiddenError` (or
    ``UnauthorizedError``) of an informer whose list or watch was refused before its first
    sync, instead of waiting out the timeout while it retries (a missing RBAC rule or bad
    credentials stay so until someone fixes them). The informers go on retrying either way.
    """
    informers = list(informers)
    tasks = [asyncio.ensure_future(i._wait_synced(fail_fast=fail_fast))
             for i in informers if not i.has_synced]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout,
                                     return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise cast(BaseException, task.exception())
    if len(done) < len(tasks):
        pending = [i.name for i in informers if not i.has_synced]
        raise CacheSyncTimeoutError(
            f"caches not synced within {timeout} s: {', '.join(pending)}", informers=pending,
        )


async def discover(
    api: ApiClient, resource: str, *, timeout: float | None = None,
    backoff: ExponentialBackoff | None = None,
) -> ApiResource:
    """``api.discover(resource)``, retrying transient failures until ``timeout`` passes.

    Transient are connection failures and timeouts (:class:`ApiConnectionError`), 5xx and 429
    (waiting at least its ``retry_after``); they are retried after ``backoff``'s delays
    (default: the reflector's, client-go's 0.8 s doubling to 30 s, jittered), each logged as
    one warning that says when the next try is. The last try is at the deadline, not later.

    Raises:
        ApiConnectionError, ServerError, TooManyRequestsError: the last failure, when
            ``timeout`` (None: never) has passed.
        UnknownResourceError, UnauthorizedError, ForbiddenError, CredentialsError, ...: any
            other failure, at once and unchanged.
    """
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    return await _discover(api, resource, deadline=deadline,
                           backoff=backoff or ExponentialBackoff())


async def _discover(
    api: ApiClient, resource: str, *, deadline: float | None, backoff: ExponentialBackoff,
) -> ApiResource:
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await api.discover(resource)
        except TRANSIENT_ERRORS as e:
            now = loop.time()
            if deadline is not None and now >= deadline:
                raise
            delay = backoff.next_delay(now)
            if isinstance(e, TooManyRequestsError) and e.retry_after:
                delay = max(delay, e.retry_after)
            until = ""
            if deadline is not None:
                delay = min(delay, deadline - now)
                until = f" (giving up in {deadline - now:.0f} s)"
            logger.warning("discovery of %s failed: %s; retrying in %.1f s%s",
                           resource, redact(str(e)), delay, until)
        await asyncio.sleep(delay)


class InformerFactory:
    """Shared informers: one list+watch per (resource, namespace, label and field selector).

    ``api`` is the client to use; None autodetects credentials at :meth:`start` (in-cluster,
    then ``KUBECONFIG``, then ``~/.kube/config``) and closes that client at :meth:`stop`.
    Create informers with :meth:`informer`, then ``await start()`` and ``await wait_synced()``;
    informers asked for after a start are started by the next :meth:`start`.

    ``backoff`` makes the retry policy of each informer (default: client-go's reflector
    backoff, 0.8 s doubling to 30 s); ``watch_list`` streams the initial state with
    ``sendInitialEvents`` instead of listing, falling back to a list if the server refuses.

    ``namespaces`` are the namespaces served (Kopf's patterns, see
    :class:`~kopf_informers._namespaces.NamespaceScope`; None: all). An informer asked for
    without a ``namespace`` of a namespaced resource then lists and watches each served
    namespace, never the whole cluster; with globs, the factory watches Namespaces to follow
    those created and deleted later (if it may not list them, it serves the patterns that are
    plain names, as Kopf does). Cluster-scoped resources are served cluster-wide.
    ``user_agent`` is the User-Agent of the client it autodetects (None: the library's).
    """

    user_agent: str | None = None

    def __init__(
        self, api: ApiClient | None = None, *, resync_period: float | None = None,
        watch_list: bool = False, backoff: Callable[[], ExponentialBackoff] | None = None,
        namespaces: NamespaceScope | Iterable[str] | None = None,
    ) -> None:
        self.scope = namespaces if isinstance(namespaces, NamespaceScope) \
            else NamespaceScope.of(namespaces)
        self._api = api
        self._owns_api = api is None
        self._resync_period = resync_period
        self._watch_list = watch_list
        self._backoff = backoff
        self._informers: dict[tuple[str, str | None, str, str], SharedIndexInformer[Any]] = {}
        self._transforms: dict[tuple[str, str | None, str, str], object] = {}
        self._indexers: dict[tuple[str, str | None, str, str], dict[str, object]] = {}
        self._started: set[tuple[str, str | None, str, str]] = set()
        # Informers watching the served namespaces one by one, and what follows the globs.
        self._scoped: list[SharedIndexInformer[Any]] = []
        self._namespace_informer: SharedIndexInformer[Any] | None = None
        self._served: set[str] | None = None  # the namespaces served now; None: not known yet

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            raise RuntimeError("the informer factory is not started: it has no API client yet")
        return self._api

    @property
    def informers(self) -> list[SharedIndexInformer[Any]]:
        return list(self._informers.values())

    def informer(
        self, resource: str, *, namespace: str | None = None,
        label_selector: str | Mapping[str, Any] | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        indexers: Mapping[str, IndexFunc[Any]] | None = None,
        transform: Callable[[RawObject], Any] | None = None,
    ) -> SharedIndexInformer[Any]:
        """The shared informer for this resource and selection, created on first request.

        A second request with new ``indexers`` adds them to the shared informer; asking for
        another ``transform`` than the first request's is an error, since the cache is shared.
        ``namespace`` None or ``""`` means the factory's namespaces (all, unless it was made
        with ``namespaces=``).

        Raises:
            InvalidArgumentError: a namespace that cannot be a segment of an API path (``.``,
                ``..``, with ``/`` or ``%``), a malformed selector, or another transform or
                index function than the shared informer's.
        """
        parse_resource(resource)
        if namespace:
            check_segment(namespace, "namespace", request=f"informer {resource}")
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        key = (resource, namespace or None, str(labels), str(fields))
        informer = self._informers.get(key)
        if informer is None:
            source = ApiListWatch(api=lambda: self.api, resource=resource,
                                  namespace=namespace or None, label_selector=labels,
                                  field_selector=fields)
            name = resource + "".join(
                f" {part}" for part in (
                    f"in {namespace}" if namespace else "",
                    f"labels {labels}" if not labels.is_empty else "",
                    f"fields {fields}" if not fields.is_empty else "",
                ) if part
            )
            informer = SharedIndexInformer(
                # The scope is known after discovery: start() binds it.
                source=source, resource=resource, namespaced=None,
                namespace=namespace or None, indexers=indexers, transform=transform,
                resync_period=self._resync_period, watch_list=self._watch_list, name=name,
                backoff=self._backoff,
            )
            self._informers[key] = informer
            self._transforms[key] = transform
            self._indexers[key] = dict(indexers or {})
            return informer
        if transform is not None and self._transforms[key] is not transform:
            raise InvalidArgumentError(
                f"the informer for {informer.name} already exists with another transform; "
                f"a shared cache has one transform"
            )
        if indexers:
            known = self._indexers.setdefault(key, {})
            new = {}
            for name, fn in indexers.items():
                if name not in known:
                    new[name] = fn
                elif known[name] is not fn:
                    raise InvalidArgumentError(
                        f"the informer for {informer.name} already has an index {name!r} "
                        f"with another function"
                    )
            informer.add_indexers(new)
            known.update(new)
        return informer

    async def start(self, *, timeout: float | None = DEFAULT_SYNC_TIMEOUT) -> None:
        """Resolve every new informer's resource through discovery, then start it.

        Transient failures of discovery (connection refused or reset, timeouts, 5xx, 429) are
        retried with the informers' backoff, each logged once with the delay until the next
        try, for up to ``timeout`` seconds in all (default: the cache-sync timeout, 2 minutes;
        None: until cancelled). See :func:`discover`.

        Raises:
            UnknownResourceError: a resource the server does not serve (nothing is started).
            InvalidArgumentError: a namespace given for a cluster-scoped resource.
            UnauthorizedError, ForbiddenError, CredentialsError: at once, unchanged.
            CacheSyncTimeoutError: discovery still failed at the deadline (nothing is started);
                chained from the last failure.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if self._api is None:
            self._api = await ApiClient.autodetect(user_agent=self.user_agent)
        pending = [(k, i) for k, i in self._informers.items() if k not in self._started]
        backoff = self._backoff() if self._backoff is not None else ExponentialBackoff()
        scopes = {}
        for key, _ in pending:
            try:
                info = await _discover(self._api, key[0], deadline=deadline, backoff=backoff)
            except TRANSIENT_ERRORS as e:
                names = [informer.name for _, informer in pending]
                raise CacheSyncTimeoutError(
                    f"caches not synced within {timeout} s: the discovery of {key[0]} still "
                    f"fails: {redact(str(e))}", informers=names,
                ) from e
            if key[1] is not None and not info.namespaced:
                raise InvalidArgumentError(
                    f"{key[0]} is cluster-scoped: an informer for it cannot be restricted to "
                    f"namespace {key[1]!r}"
                )
            scopes[key] = info.namespaced
        if any(scopes[key] and key[1] is None for key, _ in pending) \
                and not self.scope.clusterwide and self._served is None:
            self._served = await self._serve_namespaces(deadline)
        for key, informer in pending:
            informer._bind(namespaced=scopes[key])
            if scopes[key] and key[1] is None and self._served is not None:
                informer._use_namespaces(self._served, self._source_maker(key))
                self._scoped.append(informer)
            informer.start()
            self._started.add(key)

    def _source_maker(self, key: tuple[str, str | None, str, str]) -> Callable[[str], ApiListWatch]:
        resource, _, labels, fields = key

        def source_for(namespace: str) -> ApiListWatch:
            return ApiListWatch(api=lambda: self.api, resource=resource, namespace=namespace,
                                label_selector=parse_label_selector(labels or None),
                                field_selector=parse_field_selector(fields or None))
        return source_for

    async def _serve_namespaces(self, deadline: float | None) -> set[str]:
        """The namespaces to serve now: the exact names, or with globs, the namespaces that
        exist and match (watched from then on, to follow those that come and go)."""
        if not self.scope.needs_watch:
            return set(self.scope.exact)
        informer: SharedIndexInformer[Any] = SharedIndexInformer(
            source=ApiListWatch(api=lambda: self.api, resource=NAMESPACES,
                                namespace=None, label_selector=LabelSelector(),
                                field_selector=FieldSelector()),
            resource=NAMESPACES, namespaced=False, name=f"{NAMESPACES} (served namespaces)",
            backoff=self._backoff,
        )
        informer.start()
        loop = asyncio.get_running_loop()
        try:
            await wait_for_cache_sync([informer], fail_fast=True, timeout=None if deadline is None
                                      else max(0.0, deadline - loop.time()))
        except (UnauthorizedError, ForbiddenError) as e:
            await informer.stop()
            logger.warning("cannot list namespaces (%s): serving only the namespaces named "
                           "exactly (%s), not those matching the globs of %s",
                           redact(str(e)), ", ".join(sorted(self.scope.exact)) or "none",
                           self.scope)
            return set(self.scope.exact)
        except BaseException:
            await informer.stop()
            raise
        self._namespace_informer = informer
        self._served = self._matching_namespaces()
        informer.add_handler(on_add=self._namespaces_changed, on_delete=self._namespaces_changed)
        return self._served

    def _matching_namespaces(self) -> set[str]:
        assert self._namespace_informer is not None
        names = (meta_name(obj) for obj in self._namespace_informer.store.list())
        return {name for name in names if name and self.scope.matches(name)} | self.scope.exact

    def _namespaces_changed(self, _: object) -> None:
        served = self._matching_namespaces()
        if served == self._served:
            return
        logger.info("serving namespaces %s (were %s)", ", ".join(sorted(served)) or "none",
                    ", ".join(sorted(self._served or ())) or "none")
        self._served = served
        for informer in self._scoped:
            informer._set_namespaces(served)

    async def wait_synced(
        self, timeout: float | None = DEFAULT_SYNC_TIMEOUT, *, fail_fast: bool = False,
    ) -> None:
        """Wait until every informer has synced (default: controller-runtime's 2 minutes).

        ``fail_fast``: raise an informer's 401 or 403 at once (see :func:`wait_for_cache_sync`).

        Raises:
            CacheSyncTimeoutError: naming the informers that have not synced.
        """
        await wait_for_cache_sync(self._informers.values(), timeout=timeout, fail_fast=fail_fast)

    async def stop(self) -> None:
        """Stop every informer; close the API client if the factory made it."""
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
        if self._namespace_informer is not None:
            await self._namespace_informer.stop()
            self._namespace_informer = None
        self._started.clear()
        self._scoped.clear()
        self._served = None
        if self._owns_api and self._api is not None:
            await self._api.close()
            self._api = None

    async def __aenter__(self) -> InformerFactory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
