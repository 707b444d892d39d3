"""The level-triggered reconcile loop: informers → keys → a rate-limited workqueue → reconcile.

Its place in the data flow::

    primary informer ----------------------------+
    owned children --(controller owner)--------->+--> WorkQueue --> workers --> reconcile(...)
    watched objects --(map function)------------+     (dedup,        (max_concurrent)    |
                                                       backoff)                           |
                      done → forget;  Result.requeue_after(s) → add_after;  raise → retry-+

Guarantees (controller-runtime's and kube-rs' semantics):
  - One key is never reconciled by two workers at once; events arriving meanwhile collapse into
    one more reconcile afterwards.
  - The reconcile function reads the current state from the caches (``body`` is the cached,
    frozen object), so it is level-triggered: whatever happened, it sees the latest state.
  - An exception retries the key with per-key exponential backoff (5 ms doubling to 1000 s) under
    an overall 10 qps bucket; success resets the key's backoff.
  - With ``finalizer=``, the finalizer is added before the first reconcile; once the object is
    being deleted, the function is called with ``cleanup=True`` and the finalizer is removed only
    after it returns without error (cleanup errors back off like any error). A deleted object
    without our finalizer is not reconciled.
  - Workers start only after every informer of the controller has synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from ._api import ApiClient
from .errors import InvalidArgumentError, QueueShutDown
from .finalizers import add_finalizer, has_finalizer, remove_finalizer
from .informer import InformerFactory, SharedIndexInformer, wait_for_cache_sync
from .metrics import ControllerMetrics, PrometheusWorkQueueMetrics, ReconcileResult
from .predicates import Predicate
from .ratelimiters import RateLimiter
from .reflector import DeletedFinalStateUnknown
from .workqueue import RateLimitingWorkQueue

__all__ = ["Controller", "Request", "Result"]

logger = logging.getLogger(__name__)

ReconcileFn = Callable[..., Awaitable[Any] | Any]
MapFn = Callable[[Any], Iterable[Any]]


class Request(NamedTuple):
    """What to reconcile: the namespace (None for cluster-scoped objects) and the name."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclasses.dataclass(frozen=True)
class Result:
    """What a reconcile asks for next. Returning None means done (forget the key's backoff)."""

    after: float | None = None

    @classmethod
    def requeue_after(cls, seconds: float) -> Result:
        """Reconcile this object again after ``seconds`` (its error backoff is reset)."""
        if not seconds >= 0:
            raise InvalidArgumentError(f"requeue_after needs seconds >= 0, got {seconds!r}")
        return cls(after=float(seconds))

    @classmethod
    def done(cls) -> Result:
        return cls()


def _as_request(value: Any) -> Request:
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


def _unwrap(obj: Any) -> Any:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _request_of(obj: Any) -> Request:
    meta = _meta(obj)
    return Request(meta.get("namespace") or None, str(meta.get("name")))


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class Controller:
    """One reconcile loop over one primary resource, with owned and watched resources.

    Args:
        name: the controller's name (logs, metrics, probes).
        resource: the primary resource, ``"group/version/plural"``.
        fn: the reconcile function, called with keyword arguments ``name``, ``namespace``,
            ``body`` (the cached object), ``logger``, ``api``, ``retry`` (failures so far),
            ``cleanup`` (True when finalizing a deleted object) and ``request``; it may be
            ``async`` or not, and should accept ``**kwargs``.
        owns: child resources; their changes enqueue their controller owner of the primary kind.
        owner_kind: the primary's kind (for matching owner references); found by discovery.
        any_owner: with ``owns``, enqueue every owner of the primary kind, not only the controller.
        watches: ``{resource: map_fn}``; ``map_fn(obj)`` returns the requests to enqueue.
        finalizer: a finalizer name to manage (see the module docstring).
        max_concurrent: workers (controller-runtime's MaxConcurrentReconciles, default 1).
        rate_limiter: per-key retry policy; default ``default_controller_rate_limiter()``.
        predicates: filters for the primary's events.
        child_predicates: filters for the events of owned and watched resources (e.g.
            ``~generation_changed``-style filters to ignore status churn of children).
        metrics: a Prometheus registry to report the reconcile and workqueue metrics to (e.g.
            ``kopf_informers.metrics.DEFAULT_REGISTRY``); None: none. Read by :meth:`setup`.
    """

    def __init__(
        self, *, name: str, resource: str, fn: ReconcileFn, owns: Sequence[str] = (),
        any_owner: bool = False, watches: Mapping[str, MapFn] | None = None,
        finalizer: str | None = None, max_concurrent: int = 1,
        rate_limiter: RateLimiter[Request] | None = None, predicates: Sequence[Predicate] = (),
        child_predicates: Sequence[Predicate] = (),
        namespace: str | None = None, metrics: CollectorRegistry | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise InvalidArgumentError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if not callable(fn):
            raise InvalidArgumentError(f"the reconcile function must be callable, got {fn!r}")
        self.name = name
        self.resource = resource
        self.fn = fn
        self.owns = tuple(owns)
        self.any_owner = any_owner
        self.watches = dict(watches or {})
        self.finalizer = finalizer
        self.max_concurrent = max_concurrent
        self.predicates = tuple(predicates)
        self.child_predicates = tuple(child_predicates)
        self.namespace = namespace
        self._rate_limiter = rate_limiter
        self.queue: RateLimitingWorkQueue[Request] | None = None
        self.primary: SharedIndexInformer[Any] | None = None
        self._secondary: list[SharedIndexInformer[Any]] = []
        self._api: ApiClient | None = None
        self._owner_group = _group_of(resource.rpartition("/")[0])
        self._owner_kind: str | None = None
        self._workers: list[asyncio.Task[None]] = []
        # Objects (by uid) whose cleanup is done and finalizer removed, until their delete event:
        # the cache may still show them with the finalizer, and cleanup runs only once.
        self._finalized: dict[Request, str] = {}
        self.reconciles: dict[str, int] = {"success": 0, "error": 0, "requeue_after": 0}
        self.last_duration: float | None = None
        self.metrics_registry = metrics
        self.metrics: ControllerMetrics | None = None  # made by setup() from metrics_registry

    # -- wiring ---------------------------------------------------------------------------------

    def setup(self, factory: InformerFactory) -> None:
        """Ask the factory for this controller's informers and connect their events."""
        self._secondary = []
        # None: the queue's default limiter, whose bucket runs on the loop's clock.
        registry = self.metrics_registry
        self.metrics = None if registry is None else ControllerMetrics(
            controller=self.name, registry=registry)
        queue_metrics = None if registry is None else PrometheusWorkQueueMetrics(
            name=self.name, controller=self.name, registry=registry)
        self.queue = RateLimitingWorkQueue(self._rate_limiter, name=self.name,
                                           metrics=queue_metrics)
        self.primary = factory.informer(self.resource, namespace=self.namespace)
        self.primary.add_handler(on_add=self._primary_added, on_update=self._primary_updated,
                                 on_delete=self._primary_deleted)
        for resource in self.owns:
            informer = factory.informer(resource, namespace=self.namespace)
            informer.add_handler(on_add=self._child_added, on_delete=self._child_deleted,
                                 on_update=self._child_updated)
            self._secondary.append(informer)
        for resource, map_fn in self.watches.items():
            informer = factory.informer(resource)
            informer.add_handler(
                on_add=functools.partial(self._mapped_added, map_fn),
                on_update=functools.partial(self._mapped_update, map_fn),
                on_delete=functools.partial(self._mapped_delete, map_fn),
            )
            self._secondary.append(informer)

    @property
    def informers(self) -> list[SharedIndexInformer[Any]]:
        return ([self.primary] if self.primary is not None else []) + self._secondary

    @property
    def has_synced(self) -> bool:
        return all(informer.has_synced for informer in self.informers)

    def _enqueue(self, request: Request) -> None:
        if self.queue is not None:
            self.queue.add(request)

    def _passes(self, event: str, *objs: Any) -> bool:
        return all(getattr(p, event)(*objs) for p in self.predicates)

    def _child_passes(self, event: str, *objs: Any) -> bool:
        return all(getattr(p, event)(*objs) for p in self.child_predicates)

    def _primary_added(self, obj: Any) -> None:
        if self._passes("create", obj):
            self._enqueue(_request_of(obj))

    def _primary_updated(self, old: Any, new: Any) -> None:
        if self._passes("update", old, new):
            self._enqueue(_request_of(new))

    def _primary_deleted(self, obj: Any) -> None:
        request, uid = _request_of(_unwrap(obj)), _meta(_unwrap(obj)).get("uid")
        if uid is not None and self._finalized.get(request) == uid:
            del self._finalized[request]
        if self._passes("delete", _unwrap(obj)):
            self._enqueue(_request_of(_unwrap(obj)))

    def _owners(self, obj: Any) -> list[Request]:
        namespace = _meta(obj).get("namespace") or None
        requests = []
        for ref in _meta(obj).get("ownerReferences") or ():
            if not (self.any_owner or ref.get("controller")):
                continue
            if _group_of(str(ref.get("apiVersion", ""))) != self._owner_group:
                continue
            if self._owner_kind is not None and ref.get("kind") != self._owner_kind:
                continue
            requests.append(Request(namespace, str(ref.get("name"))))
        return requests

    def _child_added(self, obj: Any) -> None:
        if self._child_passes("create", obj):
            for request in self._owners(obj):
                self._enqueue(request)

    def _child_deleted(self, obj: Any) -> None:
        if self._child_passes("delete", _unwrap(obj)):
            for request in self._owners(_unwrap(obj)):
                self._enqueue(request)

    def _child_updated(self, old: Any, new: Any) -> None:
        if self._child_passes("update", old, new):
            for request in {*self._owners(old), *self._owners(new)}:
                self._enqueue(request)

    def _mapped_added(self, map_fn: MapFn, obj: Any) -> None:
        if self._child_passes("create", obj):
            self._mapped(map_fn, obj)

    def _mapped_update(self, map_fn: MapFn, old: Any, new: Any) -> None:
        if self._child_passes("update", old, new):
            self._mapped(map_fn, new)

    def _mapped_delete(self, map_fn: MapFn, obj: Any) -> None:
        if self._child_passes("delete", _unwrap(obj)):
            self._mapped(map_fn, _unwrap(obj))

    def _mapped(self, map_fn: MapFn, obj: Any) -> None:
        try:
            requests = [_as_request(value) for value in map_fn(obj) or ()]
        except Exception:
            logger.exception("%s: the watch map function %r failed", self.name, map_fn)
            return
        for request in requests:
            self._enqueue(request)

    # -- running --------------------------------------------------------------------------------

    async def start(self, api: ApiClient, *, sync_timeout: float | None = 120.0) -> None:
        """Start the workers once every informer of the controller has synced.

        The caller starts the informers (``factory.start()``); this waits for their caches, as
        controller-runtime's ``CacheSyncTimeout`` (2 minutes), so that no reconcile ever reads
        a cache that is still filling.

        Raises:
            CacheSyncTimeoutError: naming the informers not synced within ``sync_timeout``.
        """
        if self.queue is None or self.primary is None:
            raise RuntimeError(f"controller {self.name} is not set up: call setup(factory)")
        self._api = api
        await wait_for_cache_sync(self.informers, timeout=sync_timeout)
        info = await api.discover(self.resource)
        self._owner_kind = info.kind
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._worker(), name=f"worker:{self.name}:{i}")
            for i in range(self.max_concurrent)
        ]

    async def stop(self, drain_timeout: float | None = 10.0) -> None:
        """Stop taking new keys, let running reconciles finish (up to the timeout), then stop."""
        if self.queue is not None:
            with contextlib.suppress(TimeoutError):
                await self.queue.shut_down_with_drain(timeout=drain_timeout)
            self.queue.shut_down()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _worker(self) -> None:
        assert self.queue is not None
        while True:
            try:
                request = await self.queue.get()
            except QueueShutDown:
                return
            try:
                await self._process(request)
            finally:
                self.queue.done(request)

    async def _process(self, request: Request) -> None:
        assert self.queue is not None
        queue = self.queue
        started = time.monotonic()
        try:
            result = await self._reconcile(request)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._record("error", started)
            failures = queue.num_requeues(request) + 1
            logger.error("%s: reconciling %s failed (%d failures so far): %s",
                         self.name, request, failures, e, exc_info=True)
            queue.add_rate_limited(request)
            return
        finally:
            self.last_duration = time.monotonic() - started
        queue.forget(request)
        if isinstance(result, Result) and result.after is not None:
            self._record("requeue_after", started)
            queue.add_after(request, result.after)
        else:
            self._record("success", started)

    def _record(self, result: ReconcileResult, started: float) -> None:
        self.reconciles[result] += 1
        if self.metrics is not None:
            self.metrics.observe(result, time.monotonic() - started)

    async def _reconcile(self, request: Request) -> Any:
        assert self.primary is not None
        assert self._api is not None
        obj = self.primary.lister.get(request.name, request.namespace)
        if obj is None:
            return None  # gone: nothing to reconcile (level-triggered)
        finalizer = self.finalizer
        deleting = bool(_meta(obj).get("deletionTimestamp"))
        if finalizer is not None:
            if deleting:
                uid = _meta(obj).get("uid")
                if not has_finalizer(obj, finalizer) or (
                        uid is not None and self._finalized.get(request) == uid):
                    return None  # not ours, or cleaned up already and the cache lags behind
                await self._call(request, obj, cleanup=True)
                await remove_finalizer(self._api, self.resource, obj, finalizer)
                if uid is not None:
                    self._finalized[request] = uid
                return None
            if not has_finalizer(obj, finalizer):
                # The change comes back as a watch event and reconciles the object again.
                await add_finalizer(self._api, self.resource, obj, finalizer)
                return None
        return await self._call(request, obj, cleanup=False)

    async def _call(self, request: Request, obj: Any, *, cleanup: bool) -> Any:
        assert self.queue is not None
        log = logging.LoggerAdapter(logger, {"controller": self.name, "request": str(request)})
        result = self.fn(
            name=request.name, namespace=request.namespace, body=obj, logger=log,
            api=self._api, retry=self.queue.num_requeues(request), cleanup=cleanup,
            request=request,
        )
        if inspect.isawaitable(result):
            result = await result
        if result is not None and not isinstance(result, Result):
            raise InvalidArgumentError(
                f"reconcile function {getattr(self.fn, '__qualname__', self.fn)!r} returned "
                f"{result!r}: return None (done) or kopf_informers.Result.requeue_after(seconds)"
            )
        return result
