"""Rate limiters: how long a workqueue item waits before it is retried.

Their place in the data flow::

    reconcile() raises   --> queue.add_rate_limited(key) --> limiter.when(key) --> add_after(key, d)
    reconcile() succeeds --> queue.forget(key)           --> limiter.forget(key)

These are client-go's ``util/workqueue/default_rate_limiters.go``, in Python: a
:class:`RateLimiter` answers "how long should this item wait?" (:meth:`~RateLimiter.when`, which
also records a failure), stops tracking an item (:meth:`~RateLimiter.forget`), and says how many
failures it has recorded (:meth:`~RateLimiter.num_requeues`).

They are pure state machines: no sleeping, no event loop. The only time-dependent limiter, the
token bucket, reads an injectable ``clock`` (``time.monotonic`` by default), so tests step a fake
clock instead of sleeping. They are not thread-safe; a workqueue calls them from its event loop.

The default (:func:`default_controller_rate_limiter`) is client-go's
``DefaultControllerRateLimiter``: the larger of a per-item exponential backoff (5 ms * 2^failures,
capped at 1000 s) and an overall token bucket (10 qps, burst 100), which only matters when many
items fail at once. (controller-runtime with its priority queue, the default since v0.23, uses the
exponential part alone: ``ItemExponentialFailureRateLimiter()``.)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from .errors import InvalidArgumentError

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "JitteredRateLimiter",
    "MaxOfRateLimiter",
    "MaxWaitRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# 2.0 ** 1024 overflows a float; no realistic delay needs more doublings than this anyway.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol[K_contra]):
    """The contract of every rate limiter (client-go's ``TypedRateLimiter``).

    - ``when(item)`` records one more failure of ``item`` and returns how many seconds it should
      wait before it is retried (``>= 0``).
    - ``forget(item)`` stops tracking ``item``: its failure count starts again from zero. Call it
      when the item succeeds, or failures are remembered for ever (client-go: "Remember to call
      Forget! If you don't, you may end up tracking failures forever").
    - ``num_requeues(item)`` is how many failures are recorded for ``item`` (0 for limiters that
      do not count per item, such as the token bucket).
    """

    def when(self, item: K_contra) -> float: ...

    def forget(self, item: K_contra) -> None: ...

    def num_requeues(self, item: K_contra) -> int: ...


class ItemExponentialFailureRateLimiter(Generic[K]):
    """Per-item exponential backoff: ``base * 2**failures`` seconds, capped at ``cap``.

    The n-th call of ``when(item)`` since the last ``forget(item)`` (counting from 0) returns
    exactly ``base * 2**n``, or ``cap`` once that exceeds it; with the defaults 0.005, 0.01, 0.02,
    ... reaching the 1000 s cap at the 18th failure (client-go's
    ``ItemExponentialFailureRateLimiter(5*time.Millisecond, 1000*time.Second)``). Each item counts
    its own failures. Raises :class:`InvalidArgumentError` unless ``0 <= base <= cap``.
    """

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        if not 0 <= base <= cap:
            raise InvalidArgumentError(
                f"exponential rate limiter needs 0 <= base <= cap, got base={base}, cap={cap}"
            )
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, item: K) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        if exponent > _MAX_EXPONENT:
            return self.cap
        return min(self.base * 2.0 ** exponent, self.cap)

    def forget(self, item: K) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: K) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter(Generic[K]):
    """An overall token bucket: ``burst`` items at once, then ``qps`` per second, for all items.

    ``when(item)`` reserves the next token and returns the delay until it is available, as
    ``golang.org/x/time/rate``'s ``Limiter.Reserve().Delay()`` does (client-go's
    ``BucketRateLimiter``): the bucket starts full; it refills at ``qps`` tokens per second up to
    ``burst``; each call takes one token, going into debt when none is left, so with the defaults
    the first 100 calls at one moment return 0 and the next ones 0.1 s, 0.2 s, 0.3 s, ...
    The item is not looked at: ``forget`` does nothing and ``num_requeues`` is always 0.

    ``clock`` returns seconds; a workqueue under virtual time (looptime) may pass its loop's
    ``loop.time``. ``qps`` may be ``math.inf`` (no limit). Raises :class:`InvalidArgumentError`
    unless ``qps > 0`` and ``burst >= 1`` (an empty bucket could never hand out a token).
    """

    def __init__(
        self, *, qps: float = 10.0, burst: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not qps > 0 or burst < 1:
            raise InvalidArgumentError(
                f"token bucket needs qps > 0 and burst >= 1, got qps={qps}, burst={burst}"
            )
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: K) -> float:
        if math.isinf(self.qps):
            return 0.0
        now = self._clock()
        # A clock that steps back (a fake one, or another loop's) refills nothing; never negative.
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._last = now
        return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, item: K) -> None:
        pass

    def num_requeues(self, item: K) -> int:
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The largest delay of several limiters (client-go's ``MaxOfRateLimiter``).

    ``when`` asks every limiter (so each records the failure) and returns the largest answer;
    ``num_requeues`` is the largest count; ``forget`` forgets in every limiter.
    Raises :class:`InvalidArgumentError` when given no limiter.
    """

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise InvalidArgumentError("MaxOfRateLimiter needs at least one rate limiter")
        self.limiters = limiters

    def when(self, item: K) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: K) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


class ItemFastSlowRateLimiter(Generic[K]):
    """``fast`` seconds for the first ``max_fast_attempts`` failures of an item, then ``slow``.

    client-go's ``ItemFastSlowRateLimiter``: quick retries for a hiccup, then a slow steady pace.
    Raises :class:`InvalidArgumentError` for negative delays or attempts.
    """

    def __init__(self, *, fast: float, slow: float, max_fast_attempts: int) -> None:
        if not (fast >= 0 and slow >= 0 and max_fast_attempts >= 0):
            raise InvalidArgumentError(
                f"fast-slow rate limiter needs fast >= 0, slow >= 0, max_fast_attempts >= 0; "
                f"got fast={fast}, slow={slow}, max_fast_attempts={max_fast_attempts}"
            )
        self.fast = fast
        self.slow = slow
        self.max_fast_attempts = max_fast_attempts
        self._attempts: dict[K, int] = {}

    def when(self, item: K) -> float:
        attempts = self._attempts.get(item, 0) + 1
        self._attempts[item] = attempts
        return self.fast if attempts <= self.max_fast_attempts else self.slow

    def forget(self, item: K) -> None:
        self._attempts.pop(item, None)

    def num_requeues(self, item: K) -> int:
        return self._attempts.get(item, 0)


class MaxWaitRateLimiter(Generic[K]):
    """Another limiter's delays, but never more than ``max_wait`` seconds.

    client-go's ``WithMaxWaitRateLimiter``. Raises :class:`InvalidArgumentError` if
    ``max_wait < 0``.
    """

    def __init__(self, limiter: RateLimiter[K], *, max_wait: float) -> None:
        if not max_wait >= 0:
            raise InvalidArgumentError(f"max_wait must be >= 0, got {max_wait}")
        self.limiter = limiter
        self.max_wait = max_wait

    def when(self, item: K) -> float:
        return min(self.limiter.when(item), self.max_wait)

    def forget(self, item: K) -> None:
        self.limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self.limiter.num_requeues(item)


class JitteredRateLimiter(Generic[K]):
    """Another limiter's delays, each lengthened by a random fraction of up to ``jitter``.

    A delay ``d`` becomes ``d * (1 + jitter * rng())``, so it lies in ``[d, d * (1 + jitter)]``
    (client-go's ``wait.Jitter``; the convention of :class:`~kopf_informers.ExponentialBackoff`).
    Jitter spreads apart the retries of many items that failed together (say, when the API
    server was down). The default 0.1 keeps an exponential schedule recognisable: with any
    ``jitter <= 1`` a doubled delay is never shorter than the jittered one before it.
    ``rng`` returns floats in ``[0, 1)``; tests pass a constant. Raises
    :class:`InvalidArgumentError` if ``jitter < 0``.
    """

    def __init__(
        self, limiter: RateLimiter[K], *, jitter: float = 0.1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not jitter >= 0:
            raise InvalidArgumentError(f"jitter must be >= 0, got {jitter}")
        self.limiter = limiter
        self.jitter = jitter
        self._rng = rng

    def when(self, item: K) -> float:
        return self.limiter.when(item) * (1.0 + self.jitter * self._rng())

    def forget(self, item: K) -> None:
        self.limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self.limiter.num_requeues(item)


def default_controller_rate_limiter(
    *, clock: Callable[[], float] = time.monotonic,
) -> MaxOfRateLimiter[K]:
    """client-go's ``DefaultControllerRateLimiter``: the larger of a per-item exponential backoff
    (5 ms * 2^failures, capped at 1000 s) and an overall token bucket (10 qps, burst 100).

    "This is only for retry speed and its only the overall factor (not per item)" (client-go):
    the bucket only slows retries down when more than 100 fail within moments. ``clock`` is the
    bucket's.
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
