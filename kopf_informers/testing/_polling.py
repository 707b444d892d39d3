"""Bounded polls for tests: wait until a condition holds, or fail saying what did not happen.

A test of an operator cannot know when the operator will have acted; it can only look again
until it sees the result. These helpers look again every ``interval`` seconds, return the first
truthy result, and after ``timeout`` seconds raise an :class:`AssertionError` naming what was
awaited, for how long, and what was seen last (unless that was only ``None`` or ``False``), so
a failed wait reads as a failed assertion. Never a bare sleep.

- :func:`eventually` (async) and :func:`wait_until` (blocking) poll a condition;
- :func:`wait_for` (blocking) polls a getter — a read of an object, say — and a predicate of
  what it got, where "not found" (a 404 of any client) only means "not yet".
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import NotFoundError

T = TypeVar("T")
LAST_SEEN_LIMIT = 600  # characters of the last result shown in a failure


def _timed_out(condition: Callable[..., Any], what: str | None, timeout: float,
               last: Any = None) -> AssertionError:
    name = what or getattr(condition, "__qualname__", None) or repr(condition)
    message = f"not within {timeout} s: {name}"
    if last is not None and last is not False:
        seen = repr(last) if not isinstance(last, _NotYet) else str(last)
        if len(seen) > LAST_SEEN_LIMIT:
            seen = seen[:LAST_SEEN_LIMIT] + "..."
        message += f"; last seen: {seen}"
    return AssertionError(message)


async def eventually(
    condition: Callable[[], Awaitable[T] | T], what: str | None = None, *,
    timeout: float = 20.0, interval: float = 0.02,
) -> T:
    """Call ``condition`` (a function or a coroutine function) until it returns something
    truthy, and return that; raise ``AssertionError("not within {timeout} s: {what}")`` (with
    the last falsy result, unless ``None`` or ``False``) when ``timeout`` seconds of the running
    loop's clock have passed (``what`` defaults to the condition's name). The wait is
    asynchronous: the code under test runs meanwhile.

    ``await eventually(lambda: lister.get("web") is not None, "web is in the cache")``
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise _timed_out(condition, what, timeout, result)
        await asyncio.sleep(interval)


def wait_until(
    condition: Callable[[], T], what: str | None = None, *,
    timeout: float = 10.0, interval: float = 0.02,
) -> T:
    """The blocking twin of :func:`eventually`, for synchronous tests (an operator in a
    subprocess, kubectl, the official client): sleeps between calls of ``condition``.

    ``wait_until(lambda: kubectl.json("get", "deploy", "web")["status"].get("readyReplicas"),
    "web is ready")``
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(condition, what, timeout, result)
        time.sleep(interval)


class _NotYet:
    """What :func:`wait_for` saw when the getter raised "not found"."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __str__(self) -> str:
        return f"not found ({self.error.__class__.__name__}: {str(self.error).strip()[:200]})"


def is_not_found(error: BaseException) -> bool:
    """Whether an exception of any client means 404 Not Found: kopf-informers'
    :class:`~kopf_informers.errors.NotFoundError`, or an exception with ``status == 404``
    (the official client's ``ApiException``, Kopf's ``APINotFoundError``)."""
    return isinstance(error, NotFoundError) or getattr(error, "status", None) == 404


def wait_for(
    get: Callable[[], T], condition: Callable[[T], Any] | None = None,
    what: str | None = None, *, timeout: float = 30.0, interval: float = 0.1,
) -> T:
    """Call ``get`` until ``condition(result)`` is truthy (by default: until the result is),
    and return the result; "not found" (see :func:`is_not_found`) counts as "not yet", any
    other exception propagates. After ``timeout`` seconds, raise an ``AssertionError`` naming
    ``what`` and the last result (or "not found").

    ``wait_for(lambda: apps.read_namespaced_deployment("web", ns), lambda d: d.spec.replicas
    == 3, "web scaled to 3")``
    """
    check = condition if condition is not None else bool
    deadline = time.monotonic() + timeout
    while True:
        try:
            result: T | _NotYet = get()
        except Exception as e:
            if not is_not_found(e):
                raise
            result = _NotYet(e)
        if not isinstance(result, _NotYet) and check(result):
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(condition or get, what, timeout, result)
        time.sleep(interval)
