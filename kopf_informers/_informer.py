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
from ._api.segments import check_segment
from ._backoff import ExponentialBackoff
from ._listers import Lister
from ._listwatch import ApiListWatch
from ._redaction import redact
from ._reflector import DeletedFinalStateUnknown, ListerWatcher, Reflector
from ._store import IndexFunc, RawObject, Store, StoreWriter, store
from .errors import (
    ApiConnectionError,
    CacheSyncTimeoutError,
    InvalidArgumentError,
    ServerError,
    TooManyRequestsError,
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

logger = logging.getLogger("kopf_informers.informer")  # the public name, not the module's
MINIMUM_RESYNC_PERIOD = 1.0  # seconds, as client-go
DEFAULT_SYNC_TIMEOUT = 120.0  # seconds, controller-runtime's CacheSyncTimeout
# Failures that pass by themselves: no answer (refused, reset, timed out), 5xx, 429.
TRANSIENT_ERRORS = (ApiConnectionError, ServerError, TooManyRequestsError)


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


class SharedIndexInformer(Generic[T]):
    """One cache of one resource, fed by a reflector, read through :attr:`lister`."""

    def __init__(
        self, *, source: ListerWatcher, resource: str, namespaced: bool,
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
        pair = store(indexers=cast(Any, indexers), transform=cast(Any, transform))
        self._store, self._writer = cast(tuple[Store[T], StoreWriter[T]], pair)
        self.lister: Lister[T] = Lister(
            self._store, resource=resource, namespaced=namespaced, default_namespace=namespace,
        )
        self._handlers: list[HandlerRegistration] = []
        self._fan_out: _FanOut[T] = _FanOut(self._handlers)
        self._reflector: Reflector[T] = Reflector(
            source=source, writer=self._writer, handler=self._fan_out, name=self.name,
            watch_list=watch_list, backoff=backoff() if backoff is not None else None,
        )
        self._resync_period = resync_period
        self._tasks: list[asyncio.Task[None]] = []

    # -- state ----------------------------------------------------------------------------------

    @property
    def store(self) -> Store[T]:
        """The read-only cache (the lister reads the same)."""
        return self._store

    @property
    def has_synced(self) -> bool:
        """True once the cache holds a complete first list of the resource."""
        return self._reflector.has_synced

    @property
    def last_resource_version(self) -> str | None:
        return self._reflector.last_resource_version

    @property
    def is_running(self) -> bool:
        return bool(self._tasks)

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until synced; raises :class:`CacheSyncTimeoutError` naming it on timeout."""
        await wait_for_cache_sync([self], timeout=timeout)

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        """Add named indexes; existing objects are indexed at once."""
        self._writer.add_indexers(cast(Any, indexers))

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

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start listing and watching on the running loop (idempotent)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._reflector.run(), name=f"reflector:{self.name}"))
        if self._resync_period is not None:
            self._tasks.append(loop.create_task(self._resync(), name=f"resync:{self.name}"))

    async def stop(self) -> None:
        """Stop; returns once nothing of this informer runs any more."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _bind(self, *, namespaced: bool) -> None:
        """Learn the resource's scope from discovery (the factory does this before starting)."""
        self.lister.namespaced = namespaced

    async def _resync(self) -> None:
        assert self._resync_period is not None
        await self._reflector.wait_synced()
        while True:
            await asyncio.sleep(self._resync_period)
            for obj in self._store.list():
                self._fan_out.on_update(obj, obj)


async def wait_for_cache_sync(
    informers: Iterable[SharedIndexInformer[Any]], *, timeout: float | None = None,
) -> None:
    """Wait until every informer has synced; on timeout, name those that have not."""
    informers = list(informers)
    waiters = [i._reflector.wait_synced() for i in informers if not i.has_synced]
    if not waiters:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*waiters), timeout)
    except TimeoutError:
        pending = [i.name for i in informers if not i.has_synced]
        raise CacheSyncTimeoutError(
            f"caches not synced within {timeout} s: {', '.join(pending)}", informers=pending,
        ) from None


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
    ``user_agent`` is the User-Agent of the client it autodetects (None: the library's).
    """

    user_agent: str | None = None

    def __init__(
        self, api: ApiClient | None = None, *, resync_period: float | None = None,
        watch_list: bool = False, backoff: Callable[[], ExponentialBackoff] | None = None,
    ) -> None:
        self._api = api
        self._owns_api = api is None
        self._resync_period = resync_period
        self._watch_list = watch_list
        self._backoff = backoff
        self._informers: dict[tuple[str, str | None, str, str], SharedIndexInformer[Any]] = {}
        self._transforms: dict[tuple[str, str | None, str, str], object] = {}
        self._indexers: dict[tuple[str, str | None, str, str], dict[str, object]] = {}
        self._started: set[tuple[str, str | None, str, str]] = set()

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
        ``namespace`` None or ``""`` means all namespaces.

        Raises:
            InvalidArgumentError: a namespace that cannot be a segment of an API path (``.``,
                ``..``, with ``/`` or ``%``), a malformed selector, or another transform or
                index function than the shared informer's.
        """
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
                source=source, resource=resource, namespaced=namespace is not None,
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
        for key, informer in pending:
            informer._bind(namespaced=scopes[key])
            informer.start()
            self._started.add(key)

    async def wait_synced(self, timeout: float | None = DEFAULT_SYNC_TIMEOUT) -> None:
        """Wait until every informer has synced (default: controller-runtime's 2 minutes).

        Raises:
            CacheSyncTimeoutError: naming the informers that have not synced.
        """
        await wait_for_cache_sync(self._informers.values(), timeout=timeout)

    async def stop(self) -> None:
        """Stop every informer; close the API client if the factory made it."""
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
        self._started.clear()
        if self._owns_api and self._api is not None:
            await self._api.close()
            self._api = None

    async def __aenter__(self) -> InformerFactory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
