"""The event loop the embedded server runs on, reachable from any thread.

Tests call the server from their own thread while it serves on a background one; whatever
touches its state (faults, the store) goes through :meth:`ServerLoop.call_soon`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ServerLoop:
    """The loop of one server once it runs (None before): calls onto it from any thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop and return its result, from any thread."""
        loop = self.loop
        if loop is None or not loop.is_running():
            return fn()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        assert self.loop is not None
        self.loop.call_later(delay, fn)
