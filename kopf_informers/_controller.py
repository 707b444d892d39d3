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

Convergence at a bounded cost (what client-go's built-in controllers get from expectations and
uid-checked owner references; here, without asking anything of the reconcile function):
  - **Nothing bypasses a failing key's backoff** but a change to the primary itself made by
    someone else (a new object, a deletion, a new generation). Child and watched events, and
    updates of the primary's status, labels or annotations, wait for the key's next retry: a
    reconcile that fails and whose failure causes events (its children being deleted, say)
    cannot loop faster than its backoff.
  - **A key whose reconciles keep writing is slowed down**: after ``HOT_LOOP_STREAK``
    consecutive reconciles of one object that each wrote to the API, events wait for a
    per-key exponential backoff (5 ms doubling, under a 10 qps bucket) until a reconcile finds
    nothing to write. A healthy reconcile converges in a few writing rounds; one whose writes
    keep being undone (a child the garbage collector removes, a fight with another writer)
    would otherwise loop as fast as the server answers.
  - **A stale primary is not acted on**: when the server contradicts the cached primary — a
    request for it answers 404 and a live read confirms it is gone, or an answer about it has
    another uid (deleted and created again under the same name) — the cache lags behind the
    server. The key is then not reconciled from that cached state again (for up to
    ``STALE_FENCE`` seconds) until the primary's informer catches up with it.
  - **A throttled key waits as long as the server asked**: a failure caused by a 429 (or
    503) with ``Retry-After`` is retried no sooner than that, even if its backoff is shorter.
  - **Relists re-queue everything**: after a watch outage that ends in 410 Gone, a relist of
    the primary or of any owned or watched resource re-queues every primary (objects created
    and deleted during the outage leave no trace to map from), and ``resync_period``
    re-queues every primary periodically (controller-runtime's ``SyncPeriod``: 10 hours,
    jittered, by default; None turns it off).

Logs and Events, as a Kopf user reads them (on the ``kopf_informers.ctrl`` logger):
  - The reconcile function's ``logger`` carries its object as Kopf's per-object loggers do
    (``[namespace/name]`` under ``kopf run``), and its records become Events as Kopf's
    handlers' do, by the operator's ``settings.posting`` (see :mod:`kopf_informers._loggers`).
  - A failed reconcile logs one line (its error, the failures so far, the next retry's delay),
    with the traceback only for an error new to the object (or at debug level), and posts a
    Warning Event whose message is the same at each identical failure, so the recorder counts
    one Event up instead of posting many (see :mod:`kopf_informers._events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from ._api import ApiClient
from ._api.resources import parse_resource
from ._api.tracking import RequestLog, watching
from ._enqueue import (
    EnqueueForObject,
    EnqueueForOwner,
    EnqueueFromMapFunc,
    MapFn,
    Request,
    connect,
    meta,
    request_of,
)
from ._events import EventRecorder, EventType, recorder_for
from ._finalizers import add_finalizer, has_finalizer, is_deletion_ongoing, remove_finalizer
from ._informer import (
    HandlerRegistration,
    InformerFactory,
    SharedIndexInformer,
    wait_for_cache_sync,
)
from ._loggers import (
    KOPF_POSTING_DEFAULTS,
    LOG_REASON,
    ObjectLogger,
    PostingSettings,
    posts_warnings,
)
from ._owners import group_of
from ._predicates import Predicate
from ._ratelimiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
)
from ._workqueue import AsyncRateLimitingQueue
from .errors import (
    ApiConnectionError,
    ApiError,
    InvalidArgumentError,
    NotFoundError,
    QueueShutDown,
)
from .metrics import ControllerMetrics, PrometheusWorkQueueMetrics, ReconcileResult

__all__ = ["DEFAULT_RESYNC_PERIOD", "Controller", "MapFn", "Request", "Result"]

# The public name, not the module's: controller-runtime's ``ctrl``, short enough for Kopf's log
# format (its logger column is 20 characters wide). Reconcile functions log on it too, through
# per-object loggers, as controller-runtime's reconcilers log on their controller's logger.
logger = logging.getLogger("kopf_informers.ctrl")

ReconcileFn = Callable[..., Awaitable[Any] | Any]

HOT_LOOP_STREAK = 10  # consecutive writing reconciles of one key before its events are slowed
STALE_FENCE = 60.0  # seconds a key is not reconciled from a cached primary the server denied
DEFAULT_RESYNC_PERIOD = 10 * 3600.0  # controller-runtime's SyncPeriod default
MAX_RETRY_AFTER = 600.0  # seconds: a server's Retry-After is honoured up to this
RESYNC_JITTER = 0.1  # each period is up to 10% longer, so that replicas and restarts spread out


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


@dataclasses.dataclass
class _KeyState:
    """What the loop guards know of one key; a key with none of it has no entry."""

    hold: float | None = None  # the loop time before which events wait (backoff, hot loop)
    streak: int = 0  # consecutive reconciles that wrote to the API
    stale_uid: str | None = None  # the cached uid the server denied, and since when
    stale_since: float = 0.0
    own_versions: frozenset[str] = frozenset()  # the primary as the last reconcile wrote it
    last_error: str | None = None  # the last failure's type and message

    def is_empty(self) -> bool:
        return (self.hold is None and not self.streak and self.stale_uid is None
                and not self.own_versions and self.last_error is None)


def _retry_after(error: BaseException) -> float:
    """How long the server asked to wait (429 or 503 with ``Retry-After``), if the error or
    what caused it says so; 0 otherwise. A throttled key waits at least that long."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ApiError) and current.retry_after is not None:
            return min(max(current.retry_after, 0.0), MAX_RETRY_AFTER)
        current = current.__cause__ or current.__context__
    return 0.0


def _changes_itself(old: Any, new: Any) -> bool:
    """Whether an update changes the object itself (a new spec, a deletion), not its status,
    labels or bookkeeping: such a change re-runs even a held key at once."""
    old_meta, new_meta = meta(old), meta(new)
    return any(old_meta.get(field) != new_meta.get(field)
               for field in ("uid", "generation", "deletionTimestamp"))


class Controller:
    """One reconcile loop over one primary resource, with owned and watched resources.

    Args:
        name: the controller's name (logs, metrics, probes).
        resource: the primary resource, ``"group/version/plural"``.
        namespace: serve this namespace only (its primaries and owned children; watched
            resources follow the informer factory's namespaces); None: the factory's
            namespaces (all, unless it was made with ``namespaces=``; under Kopf: Kopf's).
        fn: the reconcile function, called with keyword arguments ``name``, ``namespace``,
            ``body`` (the cached object), ``logger``, ``api``, ``retry`` (failures so far),
            ``cleanup`` (True when finalizing a deleted object) and ``request``; it may be
            ``async`` or not, and should accept ``**kwargs``.
        owns: child resources; their changes enqueue their controller owner of the primary kind
            (the kind, for matching owner references, is found by discovery at :meth:`start`).
        any_owner: with ``owns``, enqueue every owner of the primary kind, not only the controller.
        watches: ``{resource: map_fn}``; ``map_fn(obj)`` returns the requests to enqueue.
        finalizer: a finalizer name to manage (see the module docstring).
        max_concurrent: workers (controller-runtime's MaxConcurrentReconciles, default 1).
        rate_limiter: per-key retry policy; default ``default_controller_rate_limiter()``.
        predicates: filters for the primary's events.
        child_predicates: filters for the events of owned and watched resources (e.g.
            ``~generation_changed``-style filters to ignore status churn of children).
        metrics: a Prometheus registry to report the reconcile and workqueue metrics to (e.g.
            ``kopf_informers.metrics.DEFAULT_REGISTRY``); None: none, unless :meth:`setup`
            is given one.
        resync_period: seconds between re-queues of every primary (jittered up to 10% longer);
            None: never. Default 10 hours, controller-runtime's ``SyncPeriod``: a safety net
            for state that no watch reports, not a way to poll.
        posting: when to post Events, read at each one: Kopf's ``settings.posting`` (the Kopf
            integration passes the running operator's); default Kopf's defaults. A failed
            reconcile posts a Warning Event on its object when posting is enabled at WARNING
            or below; the ``logger``'s records are posted as Kopf posts its handlers' (see
            :class:`~kopf_informers._loggers.ObjectLogger`).
        recorder: the :class:`~kopf_informers.EventRecorder` posting them; default the API
            client's (:func:`~kopf_informers.recorder_for`), which ``post_event`` uses too.
    """

    def __init__(
        self, *, name: str, resource: str, fn: ReconcileFn, owns: Sequence[str] = (),
        any_owner: bool = False, watches: Mapping[str, MapFn] | None = None,
        finalizer: str | None = None, max_concurrent: int = 1,
        rate_limiter: RateLimiter[Request] | None = None, predicates: Sequence[Predicate] = (),
        child_predicates: Sequence[Predicate] = (),
        namespace: str | None = None, metrics: CollectorRegistry | None = None,
        resync_period: float | None = DEFAULT_RESYNC_PERIOD,
        posting: PostingSettings | None = None, recorder: EventRecorder | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise InvalidArgumentError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if resync_period is not None and not resync_period >= 1.0:
            raise InvalidArgumentError(
                f"resync_period must be at least 1 second (or None for none), got "
                f"{resync_period!r}")
        if not callable(fn):
            raise InvalidArgumentError(f"the reconcile function must be callable, got {fn!r}")
        self.name = name
        for spelled in (resource, *owns, *(watches or {})):
            parse_resource(spelled)  # a misspelled resource fails here, not at startup
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
        self.queue: AsyncRateLimitingQueue[Request] | None = None
        self.primary: SharedIndexInformer[Any] | None = None
        self._secondary: list[SharedIndexInformer[Any]] = []
        self._api: ApiClient | None = None
        self._owner_group = group_of(resource.rpartition("/")[0])
        self._owner_kind: str | None = None
        self._workers: list[asyncio.Task[None]] = []
        # Objects (by uid) whose cleanup is done and finalizer removed, until their delete event:
        # the cache may still show them with the finalizer, and cleanup runs only once.
        self._finalized: dict[Request, str] = {}
        self.resync_period = resync_period
        # The loop guards' state (see the module docstring), only for keys that need any.
        self._keys: dict[Request, _KeyState] = {}
        self._registrations: list[HandlerRegistration] = []  # on the informers, from setup()
        # Keys being reconciled, and whether an event for one arrived meanwhile (True if one
        # was urgent): queued when the reconcile ends, after the hold that reconcile sets.
        self._running: dict[Request, bool | None] = {}
        self._churn: RateLimiter[Request] | None = None  # made by setup(), on the loop's clock
        self._primary_resource = resource  # as discovery spells it, from start()
        self._resync_task: asyncio.Task[None] | None = None
        self.reconciles: dict[str, int] = {"success": 0, "error": 0, "requeue_after": 0}
        self.last_duration: float | None = None
        self._metrics_registry = metrics
        self.metrics: ControllerMetrics | None = None  # made by setup() from the registry
        self.posting: PostingSettings = posting if posting is not None else KOPF_POSTING_DEFAULTS
        self._recorder = recorder
        self.recorder: EventRecorder | None = recorder  # the client's by default, from start()

    # -- wiring ---------------------------------------------------------------------------------

    def setup(
        self, factory: InformerFactory, *, metrics: CollectorRegistry | None = None,
    ) -> None:
        """Ask the factory for this controller's informers and connect their events.

        ``metrics``: a Prometheus registry to report to, instead of the constructor's (None:
        the constructor's, if any).
        """
        self._secondary = []
        registry = metrics if metrics is not None else self._metrics_registry
        self.metrics = None if registry is None else ControllerMetrics(
            controller=self.name, registry=registry)
        queue_metrics = None if registry is None else PrometheusWorkQueueMetrics(
            name=self.name, controller=self.name, registry=registry)
        # None: the queue's default limiter, whose bucket runs on the loop's clock.
        self.queue = queue = AsyncRateLimitingQueue(self._rate_limiter, name=self.name,
                                                   metrics=queue_metrics)
        self._churn = MaxOfRateLimiter(
            ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0),
            BucketRateLimiter(qps=10.0, burst=100, clock=queue.now),
        )
        relisting: set[int] = set()  # informers whose relists re-queue everything already
        for registration in self._registrations:  # set up again (a retried startup)
            registration.remove()

        def once(informer: SharedIndexInformer[Any]) -> Callable[[], None] | None:
            # Owned and watched resources may share an informer: one re-queue per relist.
            if id(informer) in relisting:
                return None
            relisting.add(id(informer))
            return self.requeue_all

        self.primary = factory.informer(self.resource, namespace=self.namespace)
        self._registrations = [connect(self.primary, EnqueueForObject(
            enqueue=self._enqueue, predicates=self.predicates, seen=self._unfence,
            gone=self._forget, urgent_update=self._is_urgent_update,
        ), on_relist=once(self.primary))]
        for resource in self.owns:
            informer = factory.informer(resource, namespace=self.namespace)
            self._registrations.append(connect(informer, EnqueueForOwner(
                enqueue=self._enqueue, group=self._owner_group, kind=lambda: self._owner_kind,
                any_owner=self.any_owner, predicates=self.child_predicates,
            ), on_relist=once(informer)))
            self._secondary.append(informer)
        for resource, map_fn in self.watches.items():
            informer = factory.informer(resource)
            self._registrations.append(connect(informer, EnqueueFromMapFunc(
                enqueue=self._enqueue, map_fn=map_fn, predicates=self.child_predicates,
                name=self.name,
            ), on_relist=once(informer)))
            self._secondary.append(informer)

    @property
    def informers(self) -> list[SharedIndexInformer[Any]]:
        return ([self.primary] if self.primary is not None else []) + self._secondary

    @property
    def has_synced(self) -> bool:
        return all(informer.has_synced for informer in self.informers)

    def _enqueue(self, request: Request, *, urgent: bool = False) -> None:
        """Queue a key now, or when its hold (failure backoff, hot-loop backoff) ends;
        ``urgent`` (a change of the primary itself) goes past the hold."""
        queue = self.queue
        if queue is None:
            return
        if request in self._running:  # its hold is not known until its reconcile ends
            self._running[request] = bool(self._running[request]) or urgent
            return
        state = self._keys.get(request)
        if state is not None and state.hold is not None and not urgent:
            remaining = state.hold - queue.now()
            if remaining > 0:
                logger.debug("%s: an event for %s waits %.3g s for its backoff to end",
                             self.name, request, remaining)
                queue.add_after(request, remaining)
                return
        queue.add(request)

    def _state(self, request: Request) -> _KeyState:
        state = self._keys.get(request)
        if state is None:
            state = self._keys[request] = _KeyState()
        return state

    def _tidy(self, request: Request, state: _KeyState) -> None:
        """Drop a key's state once it holds nothing: the map grows only with troubled keys."""
        if state.is_empty():
            self._keys.pop(request, None)

    def requeue_all(self) -> None:
        """Queue every cached primary (after a relist; on resync), each subject to its hold."""
        if self.primary is None:
            return
        for obj in self.primary.store.list():
            self._enqueue(request_of(obj))

    def _unfence(self, obj: Any) -> None:
        """The primary's informer shows this key with another uid (or gone): it caught up."""
        if not self._keys:
            return
        request = request_of(obj)
        state = self._keys.get(request)
        if state is not None and state.stale_uid is not None \
                and meta(obj).get("uid") != state.stale_uid:
            state.stale_uid = None
            self._tidy(request, state)

    def _is_urgent_update(self, old: Any, new: Any) -> bool:
        """A change of the primary itself made by someone else goes past the key's hold."""
        if not _changes_itself(old, new):
            return False
        state = self._keys.get(request_of(new))
        return state is None or meta(new).get("resourceVersion") not in state.own_versions

    def _forget(self, request: Request, obj: Any) -> None:
        """The primary is deleted: drop every per-key state of it (whatever the cache showed
        is gone from it too)."""
        uid = meta(obj).get("uid")
        if uid is not None and self._finalized.get(request) == uid:
            del self._finalized[request]
        self._keys.pop(request, None)

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
        self.recorder = self._recorder if self._recorder is not None else recorder_for(api)
        await wait_for_cache_sync(self.informers, timeout=sync_timeout)
        info = await api.discover(self.resource)
        self._owner_kind = info.kind
        self._primary_resource = info.resource
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._worker(), name=f"worker:{self.name}:{i}")
            for i in range(self.max_concurrent)
        ]
        if self.resync_period is not None:
            self._resync_task = loop.create_task(self._resync(self.resync_period),
                                                 name=f"resync:{self.name}")

    async def _resync(self, period: float) -> None:
        while True:
            await asyncio.sleep(period * (1 + RESYNC_JITTER * random.random()))
            self.requeue_all()

    async def stop(self, drain_timeout: float | None = 10.0) -> None:
        """Stop taking new keys, let running reconciles finish (up to the timeout), then stop."""
        if self.queue is not None and self._workers:  # without workers, nothing would drain it
            with contextlib.suppress(TimeoutError):
                await self.queue.shut_down_with_drain(timeout=drain_timeout)
            self.queue.shut_down()
        tasks = [*self._workers, *([self._resync_task] if self._resync_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers = []
        self._resync_task = None
        if self.recorder is not None:  # the Events of the last reconciles
            await self.recorder.flush(timeout=drain_timeout)

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
        self._running[request] = None
        try:
            await self._reconcile_and_conclude(request)
        finally:
            arrived = self._running.pop(request, None)
            if arrived is not None:
                self._enqueue(request, urgent=arrived)

    async def _reconcile_and_conclude(self, request: Request) -> None:
        assert self.queue is not None
        queue = self.queue
        started = time.monotonic()
        log = RequestLog(self._primary_resource, request.namespace, request.name, uid=None)
        error: Exception | None = None
        result: Any = None
        try:
            with watching(log):
                result = await self._reconcile(request, log)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            error = e
        finally:
            self.last_duration = time.monotonic() - started
        state = self._state(request)
        state.own_versions = frozenset(log.own_versions)
        state.hold = None  # whatever comes next sets it again
        try:
            if await self._denies_cache(log):
                self._record("error" if error is not None else "success", started)
                logger.info("%s: the cache of %s is behind the server (it no longer has uid "
                            "%s); not reconciling it again until the cache catches up",
                            self.name, request, log.uid)
                state.stale_uid, state.stale_since = log.uid, queue.now()
                queue.forget(request)
            elif error is not None:
                self._record("error", started)
                self._retry_later(request, state, error)
            else:
                state.last_error = None
                queue.forget(request)
                self._watch_for_hot_loop(request, state, log)
                if isinstance(result, Result) and result.after is not None:
                    self._record("requeue_after", started)
                    logger.debug("%s: reconciled %s; again in %.3g s, as it asked", self.name,
                                 request, result.after)
                    queue.add_after(request, result.after)
                else:
                    self._record("success", started)
                    logger.debug("%s: reconciled %s", self.name, request)
        finally:
            self._tidy(request, state)

    def _retry_later(self, request: Request, state: _KeyState, error: Exception) -> None:
        """Queue the key after its backoff (or the server's Retry-After, if longer), hold its
        events until then, log one line (the traceback only for an error new to it, or when
        debugging) and post a Warning Event on the object."""
        assert self.queue is not None
        queue = self.queue
        delay = max(queue.rate_limiter.when(request), _retry_after(error))
        signature = f"{type(error).__qualname__}: {error}"
        repeated, state.last_error = state.last_error == signature, signature
        obj = self.primary.lister.get(request.name, request.namespace) if self.primary else None
        log: logging.Logger | ObjectLogger = logger if obj is None else ObjectLogger(
            logger, obj, extra={"controller": self.name, "request": str(request)})
        log.error("%s: reconciling %s failed (%d failures so far; next try in %.3g s): %s",
                  self.name, request, queue.num_requeues(request), delay, signature,
                  exc_info=error if not repeated or logger.isEnabledFor(logging.DEBUG) else None,
                  extra={"k8s_skip": True})  # posted below, with a message that repeats
        if obj is not None and self.recorder is not None and self._api is not None \
                and posts_warnings(self.posting):
            # Kopf's words for a failed handler, less the delay: identical failures are then
            # identical Events, counted up instead of posted anew.
            self.recorder.record(self._api, obj, type="Warning", reason=LOG_REASON,
                                 message=f"Reconciler {self.name!r} failed with an exception "
                                         f"and will try again: {signature}")
        state.hold = queue.now() + delay
        queue.add_after(request, delay)

    def _watch_for_hot_loop(self, request: Request, state: _KeyState, log: RequestLog) -> None:
        """Count consecutive writing reconciles; past the streak, hold the key's events."""
        assert self._churn is not None
        assert self.queue is not None
        if not log.writes:
            if state.streak:
                state.streak = 0
                self._churn.forget(request)
            return
        state.streak += 1
        if state.streak > HOT_LOOP_STREAK:
            state.hold = self.queue.now() + self._churn.when(request)
            if state.streak == HOT_LOOP_STREAK + 1:
                logger.warning("%s: %s has written to the API in each of its last %d "
                               "reconciles; slowing its re-queues down until one finds "
                               "nothing to change", self.name, request, state.streak)

    async def _denies_cache(self, log: RequestLog) -> bool:
        """Whether the server contradicted the cached primary this reconcile acted on."""
        if log.uid is None:
            return False
        if log.other_uid is not None:
            return True
        return log.not_found and await self._is_gone(log.name, log.namespace, log.uid)

    async def _is_gone(self, name: str, namespace: str | None, uid: str) -> bool:
        """One live read, after a 404 for the primary (which may also mean that a subresource
        is not served): is the object with this uid really gone from the server?"""
        assert self._api is not None
        try:
            live = await self._api.get(self.resource, name, namespace=namespace)
        except NotFoundError:
            return True
        except (ApiError, ApiConnectionError):
            return False  # cannot tell: treat it as any failure
        return meta(live).get("uid") != uid

    def _record(self, result: ReconcileResult, started: float) -> None:
        self.reconciles[result] += 1
        if self.metrics is not None:
            self.metrics.observe(result, time.monotonic() - started)

    async def _reconcile(self, request: Request, log: RequestLog) -> Any:
        assert self.primary is not None
        assert self._api is not None
        assert self.queue is not None
        obj = self.primary.lister.get(request.name, request.namespace)
        state = self._keys.get(request)
        if obj is None:
            if state is not None:
                state.stale_uid = None
            return None  # gone: nothing to reconcile (level-triggered)
        uid = meta(obj).get("uid")
        if state is not None and state.stale_uid is not None:
            if state.stale_uid == uid and self.queue.now() - state.stale_since < STALE_FENCE:
                return None  # the server denied this very state: wait for the informer
            state.stale_uid = None
        log.uid = uid if isinstance(uid, str) else None
        finalizer = self.finalizer
        if finalizer is not None:
            if is_deletion_ongoing(obj):
                uid = meta(obj).get("uid")
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
        log = ObjectLogger(logger, obj, extra={"controller": self.name, "request": str(request)},
                           post=self._poster(obj), posting=self.posting)
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

    def _poster(self, obj: Any) -> Callable[[EventType, str, str], None] | None:
        recorder, api = self.recorder, self._api
        if recorder is None or api is None:
            return None

        def post(type: EventType, reason: str, message: str) -> None:
            recorder.record(api, obj, type=type, reason=reason, message=message)
        return post
