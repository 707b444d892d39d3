"""Running a :class:`~kopf_informers.Controller` in a test as its Kopf integration does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kopf_informers import ApiClient, Controller, ExponentialBackoff, InformerFactory

WAIT = 20.0  # seconds: the longest wait for anything a controller should do


def quick_backoff() -> ExponentialBackoff:
    """Reflector retries in tenths of a second, so that fault tests do not wait for seconds."""
    return ExponentialBackoff(initial=0.05, cap=0.2)


@contextlib.asynccontextmanager
async def running(api: ApiClient, controller: Controller, *,
                  wait_synced: bool = True) -> AsyncIterator[InformerFactory]:
    """Run the controller as its Kopf integration does: informers, sync, then workers; stop
    everything at the end, and check that no worker or reflector task is left behind."""
    factory = InformerFactory(api, backoff=quick_backoff)
    controller.setup(factory)
    try:
        await factory.start()
        if wait_synced:
            await factory.wait_synced(timeout=WAIT)
        await controller.start(api)
        yield factory
    finally:
        await controller.stop(drain_timeout=5)
        await factory.stop()
    assert controller_tasks() == []


def controller_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks()
            if t.get_name().startswith(("worker:", "reflector:", "resync:"))]
