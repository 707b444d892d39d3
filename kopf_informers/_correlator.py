"""Which Events to write, and how: client-go's ``EventCorrelator``, without I/O.

Where it sits: the :class:`~kopf_informers.EventRecorder` asks it, for each Event about to be
written, whether to create a new Event, to count up one already written (a PATCH of its
``count``, ``lastTimestamp`` and ``message``), or to write nothing. It keeps only what those
answers need, in LRU caches of bounded size, and reads time from an injectable clock.

The rules and defaults are client-go's (``k8s.io/client-go/tools/record/events_cache.go``,
``NewEventCorrelator``):

- **Deduplication** (``eventLogger``): an Event identical to one written before — same source
  (component, host), involved object (kind, namespace, name, uid, apiVersion), type, reason and
  message — is not written again: the earlier one's ``count`` goes up.
- **Aggregation** (``EventAggregator``): once ``aggregate_max_events`` (10) Events of one
  source, object, type and reason with *different* messages are seen within
  ``aggregate_interval`` (600 s) of each other, the next ones are written as one Event whose
  message is ``(combined from similar events): <the latest message>``, counted up from then on.
  As in client-go, the set of messages is kept one short of the threshold once it is reached,
  so a message seen before may still be counted on its own Event.
- **Spam filter** (``EventSourceObjectSpamFilter``): each source and object has a token bucket
  of ``spam_burst`` (25) Events refilled at ``spam_qps`` (1 every 300 s); an Event finding it
  empty is dropped. It is asked after deduplication, so counting up an Event costs a token too;
  a dropped occurrence still counts, and the next Event written carries the total.
- **Bounded memory**: each of the three caches holds at most ``cache_size`` (4096,
  ``maxLruCacheEntries``) keys, the least recently used going first; a forgotten key only means
  that its next Event is created rather than counted up.

Differences from client-go, on purpose: the name of an Event is the server's (``generateName``),
so it is remembered after the write (:meth:`EventCorrelator.written`) rather than made up front;
an aggregated Event is therefore counted up under the key it was correlated with.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

from .errors import InvalidArgumentError

__all__ = ["EventCorrelator"]

MAX_LRU_CACHE_ENTRIES: Final = 4096  # maxLruCacheEntries
AGGREGATE_MAX_EVENTS: Final = 10  # defaultAggregateMaxEvents
AGGREGATE_INTERVAL: Final = 600.0  # seconds; defaultAggregateIntervalInSeconds
SPAM_BURST: Final = 25  # defaultSpamBurst
SPAM_QPS: Final = 1.0 / 300.0  # defaultSpamQPS: one Event every 5 minutes, once the burst is spent
COMBINED_PREFIX: Final = "(combined from similar events): "  # EventAggregatorByReasonMessageFunc

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A mapping of at most ``size`` keys; reading or writing a key makes it the most recent."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class _TokenBucket:
    """``flowcontrol``'s token bucket, asked with ``TryAccept``: full at first, refilled at
    ``qps`` up to ``burst``; taking a token from an empty bucket fails and takes nothing."""

    def __init__(self, *, qps: float, burst: int, now: float) -> None:
        self._qps, self._burst = qps, burst
        self._tokens, self._last = float(burst), now

    def try_accept(self, now: float) -> bool:
        elapsed = max(0.0, now - self._last)  # a clock stepping back refills nothing
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclasses.dataclass(frozen=True)
class EventIdentity:
    """What the correlator compares of an Event: its source, object, type, reason, message."""

    component: str
    host: str
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    type: str
    reason: str
    message: str

    @property
    def source_and_object(self) -> tuple[str, ...]:
        return (self.component, self.host, self.api_version, self.kind, self.namespace,
                self.name, self.uid)


@dataclasses.dataclass(frozen=True)
class Correlation:
    """What to write for one Event: ``name`` is None to create it, else the Event to count up
    (to ``count``, with ``message``); ``key`` goes back to :meth:`EventCorrelator.written`."""

    key: Hashable
    message: str
    count: int
    name: str | None


@dataclasses.dataclass
class _Similar:
    messages: set[str]
    last: float


@dataclasses.dataclass(frozen=True)
class _Seen:
    count: int
    name: str | None


class EventCorrelator:
    """Deduplicates, aggregates and rate-limits Events (see the module for the rules).

    ``clock`` returns seconds (``time.monotonic``; a test passes a fake one). Raises
    :class:`InvalidArgumentError` for a size, threshold, interval, burst or rate that is not
    positive.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic,
        cache_size: int = MAX_LRU_CACHE_ENTRIES, aggregate_max_events: int = AGGREGATE_MAX_EVENTS,
        aggregate_interval: float = AGGREGATE_INTERVAL, spam_burst: int = SPAM_BURST,
        spam_qps: float = SPAM_QPS,
    ) -> None:
        if (cache_size < 1 or aggregate_max_events < 1 or not aggregate_interval > 0
                or spam_burst < 1 or not spam_qps > 0):
            raise InvalidArgumentError(
                f"an event correlator needs cache_size, aggregate_max_events and spam_burst of "
                f"at least 1 and a positive interval and qps; got cache_size={cache_size}, "
                f"aggregate_max_events={aggregate_max_events}, "
                f"aggregate_interval={aggregate_interval}, spam_burst={spam_burst}, "
                f"spam_qps={spam_qps}")
        self._clock = clock
        self._max_events = aggregate_max_events
        self._interval = aggregate_interval
        self._burst, self._qps = spam_burst, spam_qps
        self._similar: _LRU[Hashable, _Similar] = _LRU(cache_size)
        self._seen: _LRU[Hashable, _Seen] = _LRU(cache_size)
        self._buckets: _LRU[Hashable, _TokenBucket] = _LRU(cache_size)

    def correlate(self, event: EventIdentity) -> Correlation | None:
        """What to write for ``event``; None when the spam filter drops it."""
        now = self._clock()
        key, message = self._aggregate(event, now)
        seen = self._seen.get(key)
        count = seen.count + 1 if seen is not None else 1
        name = seen.name if seen is not None else None
        self._seen.put(key, _Seen(count, name))
        if not self._accepts(event, now):
            return None
        return Correlation(key=key, message=message, count=count, name=name)

    def written(self, correlation: Correlation, name: str) -> None:
        """The Event of ``correlation`` is on the server as ``name``: count it up from now on."""
        seen = self._seen.get(correlation.key)
        count = max(seen.count if seen is not None else 0, correlation.count)
        self._seen.put(correlation.key, _Seen(count, name))

    def _aggregate(self, event: EventIdentity, now: float) -> tuple[Hashable, str]:
        """The key to count the Event under, and its message (combined past the threshold)."""
        group = ("similar", *event.source_and_object, event.type, event.reason)
        similar = self._similar.get(group)
        if similar is None or now - similar.last > self._interval:
            similar = _Similar(messages=set(), last=now)
        similar.messages.add(event.message)
        similar.last = now
        self._similar.put(group, similar)
        if len(similar.messages) < self._max_events:
            # The fields as they are (all strings): astuple would deep-copy each one.
            return ("identical", *event.source_and_object, event.type, event.reason,
                    event.message), event.message
        similar.messages.pop()  # the set never grows past the threshold
        return group, COMBINED_PREFIX + event.message

    def _accepts(self, event: EventIdentity, now: float) -> bool:
        key = event.source_and_object
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _TokenBucket(qps=self._qps, burst=self._burst, now=now)
        self._buckets.put(key, bucket)
        return bucket.try_accept(now)
