"""Exponential backoff with jitter and a reset after a healthy spell.

The reflector uses it between failed list/watch attempts with client-go's reflector defaults
(0.8 s doubling to 30 s, full jitter, reset after 2 minutes without a failure; kube-rs'
``DefaultBackoff`` uses the same numbers). It is a pure state machine: the caller passes the
current time, so tests need no clock and no sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .errors import InvalidArgumentError

__all__ = ["ExponentialBackoff"]


class ExponentialBackoff:
    """Delays that grow ``initial * factor**n`` up to ``cap``, with optional jitter.

    ``jitter`` is the fraction of the delay that may be added at random (client-go's 1.0 adds up
    to 100 %, spreading reconnecting clients apart). ``reset_after``: when the previous failure
    is older than this, the next delay starts again from ``initial``.
    """

    def __init__(
        self, *, initial: float = 0.8, cap: float = 30.0, factor: float = 2.0,
        jitter: float = 1.0, reset_after: float = 120.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise InvalidArgumentError(
                f"backoff needs 0 < initial <= cap, got initial={initial}, cap={cap}"
            )
        if factor < 1 or jitter < 0 or reset_after < 0:
            raise InvalidArgumentError(
                f"backoff needs factor >= 1, jitter >= 0, reset_after >= 0; got "
                f"factor={factor}, jitter={jitter}, reset_after={reset_after}"
            )
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._rng = rng
        self._current = 0.0
        self._last_failure: float | None = None

    def next_delay(self, now: float) -> float:
        """Record a failure at ``now`` and return how long to wait before trying again."""
        healthy = self._last_failure is not None and now - self._last_failure >= self.reset_after
        if self._current == 0 or healthy:
            self._current = self.initial
        else:
            self._current = min(self._current * self.factor, self.cap)
        self._last_failure = now
        return self._current * (1 + self.jitter * self._rng())

    def reset(self) -> None:
        """Forget past failures: the next delay starts from ``initial``."""
        self._current = 0.0
        self._last_failure = None
