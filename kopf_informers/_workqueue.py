"""The workqueue between informers and reconcile workers: de-duplicating, delaying, rate-limited.

Its place in the data flow::

    informer handlers --add(key)--> WorkQueue --get()--> worker --> reconcile(key) --> done(key)
                                       ^                                  |
                                       +--- add_after / add_rate_limited -+  (requeue, retry)

This is client-go's ``util/workqueue`` for asyncio, as three contracts that build on each other:
:class:`WorkQueue` (add, get, done, shutdown) → :class:`DelayingQueue` (``add_after``) →
:class:`RateLimitingQueue` (``add_rate_limited``, ``forget``, ``num_requeues``), and one
implementation of all three, :class:`AsyncRateLimitingQueue`.

Guarantees (client-go's ``queue.go``):
  - De-duplication: an item added any number of times before a worker takes it is handed out once.
    Items are keys (hashable, compared by ``==``), not objects: the worker reads the current state.
  - Exclusive processing: an item handed out by :meth:`~WorkQueue.get` is never handed to another
    worker before :meth:`~WorkQueue.done` is called for it. If it is added again meanwhile, it is
    queued once, at ``done()``, so the change that came during processing is not lost.
  - FIFO: items are handed out in the order they were (first) added.
  - Delays: ``add_after(item, seconds)`` adds the item once the event loop's clock
    (``loop.time()``, so virtual time under looptime works) has advanced by ``seconds``. Waiting
    items sit in a heap served by a single timer. If an item is already waiting, the earlier
    time wins. ``seconds <= 0`` adds it at once. A waiting item is not in the queue: ``add()``
    does not cancel its wait, and it may be handed out once now and once more later.
  - Shutdown: after :meth:`~WorkQueue.shut_down` or :meth:`~WorkQueue.shut_down_with_drain`,
    ``add`` and ``add_after`` are ignored and waiting (delayed) items are dropped.

Differences from client-go, on purpose:
  - ``get()`` raises :class:`~kopf_informers.errors.QueueShutDown` instead of returning a flag.
  - ``shut_down()`` is immediate: queued items are dropped and every ``get()`` raises at once
    (client-go's ``Get`` keeps handing out queued items). Items are level-triggered keys: the next
    start lists everything anew and enqueues them again. In-flight items may still call ``done()``.
  - ``shut_down_with_drain()`` hands out what is queued, including items re-added while being
    processed, and returns once every item is done; ``get()`` raises only when nothing is left.
    It takes a timeout, after which it shuts down immediately and raises ``TimeoutError``.
  - ``done()`` for an item that is not being processed raises
    :class:`~kopf_informers.errors.InvalidArgumentError`: it is a bug in the worker loop.

Everything runs in one event loop and nothing here is thread-safe, except the statistics that a
metrics exporter reads (:class:`WorkQueueStats`), which may be read from any thread.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from ._ratelimiters import RateLimiter, default_controller_rate_limiter
from .errors import InvalidArgumentError, QueueShutDown

__all__ = [
    "AsyncRateLimitingQueue",
    "DelayingQueue",
    "RateLimitingQueue",
    "WorkQueue",
    "WorkQueueMetrics",
    "WorkQueueStats",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class WorkQueue(Protocol[K]):
    """A de-duplicating FIFO of items (keys) with exclusive processing (client-go's ``Interface``).

    - ``add(item)``: queue the item unless it is already queued; if it is being processed, queue
      it once that is done. Ignored after shutdown.
    - ``await get()``: wait for the next item and mark it as being processed. Raises
      :class:`~kopf_informers.errors.QueueShutDown` once the queue is shut down and has nothing
      more to hand out.
    - ``done(item)``: the worker has finished the item (successfully or not).
    - ``depth`` and ``len(queue)``: how many items wait for a worker: those queued, plus those
      added again while being processed (queued at their ``done()``).
    - ``shut_down()``: stop now: drop queued items, make every ``get()`` raise.
    - ``await shut_down_with_drain(timeout=None)``: stop taking items, let workers finish what is
      queued and in flight, return when all is done; after ``timeout`` seconds, shut down
      immediately and raise ``TimeoutError``.
    - ``shutting_down``: whether either shutdown has begun.
    """

    def add(self, item: K) -> None: ...

    async def get(self) -> K: ...

    def done(self, item: K) -> None: ...

    def __len__(self) -> int: ...

    @property
    def depth(self) -> int: ...

    def shut_down(self) -> None: ...

    async def shut_down_with_drain(self, timeout: float | None = None) -> None: ...

    @property
    def shutting_down(self) -> bool: ...


class DelayingQueue(WorkQueue[K], Protocol[K]):
    """A :class:`WorkQueue` that can add an item later (client-go's ``DelayingInterface``).

    - ``add_after(item, seconds)``: ``add(item)`` once ``seconds`` have passed on the event loop's
      clock; ``seconds <= 0`` adds now; ``math.inf`` never. If the item already waits, the
      earlier time wins. Ignored after shutdown. Needs a running event loop.
    """

    def add_after(self, item: K, seconds: float) -> None: ...


class RateLimitingQueue(DelayingQueue[K], Protocol[K]):
    """A :class:`DelayingQueue` whose delays come from a rate limiter (client-go's
    ``RateLimitingInterface``).

    - ``add_rate_limited(item)``: ``add_after(item, rate_limiter.when(item))``: count one more
      failure of the item and add it after its backoff.
    - ``forget(item)``: the item succeeded: reset its failure count (call it, or failures are
      tracked for ever). It does not remove the item from the queue.
    - ``num_requeues(item)``: how many failures are counted for the item.
    """

    def add_rate_limited(self, item: K) -> None: ...

    def forget(self, item: K) -> None: ...

    def num_requeues(self, item: K) -> int: ...


class WorkQueueStats(Protocol):
    """What a queue tells a metrics exporter on demand (for gauges computed at scrape time).

    Safe to call from any thread (prometheus_client's HTTP server scrapes from its own): each
    reads one snapshot of the queue.

    - ``depth``: items waiting for a worker (see :class:`WorkQueue`); ``workqueue_depth``.
    - ``unfinished_work_seconds()``: the sum, over the items being processed now, of how long
      each has been processed; ``workqueue_unfinished_work_seconds``. 0.0 when none is.
    - ``longest_running_processor_seconds()``: how long the longest-running item being processed
      now has been processed; ``workqueue_longest_running_processor_seconds``. 0.0 when none is.

    Durations are in seconds of the event loop's clock (``loop.time()``).
    """

    @property
    def depth(self) -> int: ...

    def unfinished_work_seconds(self) -> float: ...

    def longest_running_processor_seconds(self) -> float: ...


class WorkQueueMetrics(Protocol[K_contra]):
    """The hook a queue calls as items move through it (client-go's ``queueMetrics``).

    Pass an implementation as ``AsyncRateLimitingQueue(metrics=...)``. The queue calls, from its
    event loop, synchronously (so keep them fast and never raise):

    - ``attach(queue)``: once, from the queue's constructor, with the queue as a
      :class:`WorkQueueStats`. Keep it to compute ``depth``, ``unfinished_work_seconds()`` and
      ``longest_running_processor_seconds()`` on demand (e.g. prometheus_client's
      ``Gauge.set_function``).
    - ``add(item)``: the item became pending: it was not queued yet (an ``add`` of an item already
      queued is collapsed and not reported). Counts ``workqueue_adds_total``. Items that a
      delayed or rate-limited add brings in are reported when their wait ends.
    - ``get(item, waited)``: a worker took the item; ``waited`` is the seconds since its ``add``
      was reported. Observes ``workqueue_queue_duration_seconds``.
    - ``done(item, worked)``: a worker finished the item; ``worked`` is the seconds since its
      ``get``. Observes ``workqueue_work_duration_seconds``.
    - ``retry()``: ``add_after`` or ``add_rate_limited`` was called (before shutdown), as
      client-go counts every ``AddAfter``. Counts ``workqueue_retries_total``.

    Durations are in seconds of the event loop's clock (``loop.time()``). The item is passed for
    implementations that want it; the Prometheus metrics ignore it (no per-key labels).
    """

    def attach(self, queue: WorkQueueStats) -> None: ...

    def add(self, item: K_contra) -> None: ...

    def get(self, item: K_contra, waited: float) -> None: ...

    def done(self, item: K_contra, worked: float) -> None: ...

    def retry(self) -> None: ...


class AsyncRateLimitingQueue(Generic[K]):
    """The workqueue: :class:`RateLimitingQueue` (and so :class:`DelayingQueue` and
    :class:`WorkQueue`) on asyncio. See the module's docstring for the guarantees.

    ``rate_limiter`` decides the delays of :meth:`add_rate_limited` (default:
    :func:`~kopf_informers.default_controller_rate_limiter` with its token bucket on
    the event loop's clock, so it follows virtual time too); ``name`` names the
    queue in messages (and, by convention, in the metrics' ``name`` label); ``metrics`` is an
    optional :class:`WorkQueueMetrics` hook.

    The queue may be created outside an event loop; it binds to the loop that first awaits
    :meth:`get` or calls :meth:`add_after` (or :meth:`add`, with metrics), and takes its clock
    from it.
    """

    def __init__(
        self, rate_limiter: RateLimiter[K] | None = None, *, name: str = "",
        metrics: WorkQueueMetrics[K] | None = None,
    ) -> None:
        self.name = name
        # The default's token bucket reads the loop's clock, so it refills in virtual time too.
        self.rate_limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None
            else default_controller_rate_limiter(clock=self._now)
        )
        self._metrics = metrics
        self._queue: deque[K] = deque()  # handed out in this order; never holds an item twice
        self._dirty: set[K] = set()  # waiting for a worker: queued, or re-added while processing
        self._processing: dict[K, float] = {}  # item -> when a worker took it
        self._added_at: dict[K, float] = {}  # item -> when it became dirty (only with metrics)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] | None = None
        # Delayed items: a heap of (ready time, tie-breaker, item), and each item's earliest time.
        # An entry whose time is no longer the item's in _waiting is stale and skipped.
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, float] = {}
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        if metrics is not None:
            metrics.attach(self)

    def __repr__(self) -> str:
        state = " shutting down" if self._shutting_down else ""
        return (
            f"<{type(self).__name__} {self.name!r} depth={len(self._dirty)} "
            f"processing={len(self._processing)} waiting={len(self._waiting)}{state}>"
        )

    # -- WorkQueue ------------------------------------------------------------------------------

    def add(self, item: K) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if self._metrics is not None:
            self._added_at[item] = self._now()
            self._metrics.add(item)
        if item in self._processing:
            return  # queued by done(): never hand an item to two workers at once
        self._queue.append(item)
        self._wake_one_getter()

    async def get(self) -> K:
        while not self._queue:
            if self._shutting_down and not self._dirty:
                raise QueueShutDown(f"workqueue {self.name!r} is shut down")
            getter = self._bind_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                # Woken, then cancelled: pass the wake-up on, or an item may wait for nobody.
                if self._queue and not getter.cancelled():
                    self._wake_one_getter()
                raise
        item = self._queue.popleft()
        self._dirty.discard(item)
        now = self._now()
        self._processing[item] = now
        if self._metrics is not None:
            self._metrics.get(item, now - self._added_at.pop(item, now))
        self._wake_if_finished()
        return item

    def done(self, item: K) -> None:
        started = self._processing.pop(item, None)
        if started is None:
            raise InvalidArgumentError(
                f"workqueue {self.name!r}: done({item!r}) for an item that is not being "
                f"processed (done() twice, or without get())"
            )
        if self._metrics is not None:
            self._metrics.done(item, self._now() - started)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one_getter()
        self._wake_if_finished()

    def __len__(self) -> int:
        return len(self._dirty)

    @property
    def depth(self) -> int:
        return len(self._dirty)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def shut_down(self) -> None:
        self._shutting_down = True
        self._drop_waiting()
        self._queue.clear()
        self._dirty.clear()
        self._added_at.clear()
        self._wake_if_finished()

    async def shut_down_with_drain(self, timeout: float | None = None) -> None:
        self._shutting_down = True
        self._drop_waiting()
        self._wake_if_finished()
        if self._is_drained():
            return
        if self._drained is None:
            self._drained = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            left = f"{len(self._processing)} in flight, {len(self._queue)} queued"
            self.shut_down()
            raise TimeoutError(
                f"workqueue {self.name!r} not drained within {timeout} s ({left}); shut down"
            ) from None

    # -- DelayingQueue --------------------------------------------------------------------------

    def add_after(self, item: K, seconds: float) -> None:
        if math.isnan(seconds):
            raise InvalidArgumentError(f"add_after needs a number of seconds, got {seconds!r}")
        if self._shutting_down:
            return
        if self._metrics is not None:
            self._metrics.retry()
        if seconds <= 0:
            self.add(item)
            return
        if math.isinf(seconds):
            return
        loop = self._bind_loop()
        ready = loop.time() + seconds
        current = self._waiting.get(item)
        if current is not None and current <= ready:
            return  # the earlier time wins
        self._waiting[item] = ready
        heapq.heappush(self._heap, (ready, next(self._sequence), item))
        self._schedule()

    # -- RateLimitingQueue ----------------------------------------------------------------------

    def add_rate_limited(self, item: K) -> None:
        if self._shutting_down:
            return
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: K) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self.rate_limiter.num_requeues(item)

    # -- WorkQueueStats -------------------------------------------------------------------------

    def unfinished_work_seconds(self) -> float:
        started = list(self._processing.values())  # one snapshot, even from another thread
        clock = self._clock
        if not started or clock is None:
            return 0.0
        now = clock()
        return sum(now - start for start in started)

    def longest_running_processor_seconds(self) -> float:
        started = list(self._processing.values())
        clock = self._clock
        if not started or clock is None:
            return 0.0
        return clock() - min(started)

    # -- internals ------------------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._clock = loop.time
        return loop

    def now(self) -> float:
        """The queue's clock: its loop's (virtual, under looptime), for delays relative to it."""
        return self._now()

    def _now(self) -> float:
        return self._bind_loop().time()

    def _wake_one_getter(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _is_drained(self) -> bool:
        return self._shutting_down and not self._dirty and not self._processing

    def _wake_if_finished(self) -> None:
        """When shut down with nothing left to hand out, wake every getter (they raise), and
        when nothing is in flight either, the drain is complete."""
        if not self._shutting_down or self._dirty:
            return
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
        if self._drained is not None and not self._processing:
            self._drained.set()

    def _schedule(self) -> None:
        """Keep one timer, set for the earliest valid waiting item."""
        heap = self._heap
        while heap and self._waiting.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # stale: the item was re-scheduled earlier, or already added
        at = heap[0][0] if heap else math.inf
        if self._timer is not None and self._timer_at <= at:
            return  # an earlier timer fires first and reschedules
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf
        if heap and self._loop is not None:
            self._timer = self._loop.call_at(at, self._fire, at)
            self._timer_at = at

    def _fire(self, deadline: float) -> None:
        self._timer = None
        self._timer_at = math.inf
        assert self._loop is not None
        # asyncio may run a timer up to its clock resolution early: the deadline counts as now.
        now = max(self._loop.time(), deadline)
        while self._heap and self._heap[0][0] <= now:
            ready, _, item = heapq.heappop(self._heap)
            if self._waiting.get(item) == ready:
                del self._waiting[item]
                self.add(item)
        self._schedule()

    def _drop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = math.inf
        self._heap.clear()
        self._waiting.clear()
