"""Bounded polls for tests: wait until a condition holds, or fail saying what did not happen.

A test of an operator cannot know when the operator will have acted; it can only look again
until it sees the result. These helpers look again every ``interval`` seconds, return the first
truthy result, and after ``timeout`` seconds raise an :class:`AssertionError` naming what was
awaited and for how long, so a failed wait reads as a failed assertion. Never a bare sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _timed_out(condition: Callable[[], Any], what: str | None, timeout: float) -> AssertionError:
    name = what or getattr(condition, "__qualname__", None) or repr(condition)
    return AssertionError(f"not within {timeout} s: {name}")


async def eventually(
    condition: Callable[[], Awaitable[T] | T], what: str | None = None, *,
    timeout: float = 20.0, interval: float = 0.02,
) -> T:
    """Call ``condition`` (a function or a coroutine function) until it returns something
    truthy, and return that; raise ``AssertionError("not within {timeout} s: {what}")`` when
    ``timeout`` seconds of the running loop's clock have passed (``what`` defaults to the
    condition's name). The wait is asynchronous: the code under test runs meanwhile.

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
            raise _timed_out(condition, what, timeout)
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
            raise _timed_out(condition, what, timeout)
        time.sleep(interval)
