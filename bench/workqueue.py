"""The workqueue: add -> get -> done cycles per second, and reconciles per second fed by events.

```sh
python bench/workqueue.py                 # 100,000 items, 5 turns
python bench/workqueue.py --items 20000
```

In-process, one event loop, CPU time of this process (the figures are for one core). Each row
takes turns with its floor, medians of the turns:

- **queued**: N distinct items added, then one worker takes each (``await get()``, ``done()``):
  the queue's own bookkeeping, the worker never waits. Floor: ``asyncio.Queue``
  (``put_nowait``, ``await get()``, ``task_done()``) the same way.
- **ping-pong**: a producer adds one item at a time and yields; the worker is woken for each:
  the bookkeeping plus one wake-up per item. Floor: the same on ``asyncio.Queue``.
- **end to end**: N MODIFIED watch events replayed (as in ``bench/cache.py``) through a synced
  :class:`~kopf_informers.SharedIndexInformer` whose handler enqueues each object's key, and one
  worker that reads the object from the lister and returns (a no-op reconcile, rate limiter and
  ``done`` included). Floor: the same informer with a handler that only counts (no queue).
- **controller**: the same events through a :class:`~kopf_informers.Controller` (one worker)
  whose reconcile function only counts: the controller's own per-reconcile machinery on top
  (predicates, the loop guards' bookkeeping, the request log, the object's logger, result
  handling). Floor: the same informer with a handler that only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

from cache import configmaps, decode_pages, pages, watch_chunks
from informers import INDEXERS, RESOURCE, ReplaySource, load_average

from kopf_informers import AsyncRateLimitingQueue, Controller, SharedIndexInformer


async def queued(n: int) -> None:
    queue: AsyncRateLimitingQueue[int] = AsyncRateLimitingQueue(name="bench")
    for i in range(n):
        queue.add(i)
    for _ in range(n):
        item = await queue.get()
        queue.done(item)


async def queued_floor(n: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    for _ in range(n):
        await queue.get()
        queue.task_done()


async def ping_pong(n: int) -> None:
    queue: AsyncRateLimitingQueue[int] = AsyncRateLimitingQueue(name="bench")

    async def worker() -> None:
        for _ in range(n):
            item = await queue.get()
            queue.done(item)

    task = asyncio.create_task(worker())
    for i in range(n):
        queue.add(i)
        await asyncio.sleep(0)
    await task


async def ping_pong_floor(n: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def worker() -> None:
        for _ in range(n):
            await queue.get()
            queue.task_done()

    task = asyncio.create_task(worker())
    for i in range(n):
        queue.put_nowait(i)
        await asyncio.sleep(0)
    await task


async def end_to_end(n: int, raw_pages: list[bytes], chunks: list[bytes], *, queue: bool) -> None:
    """Replayed events through an informer; with ``queue``, each enqueues a no-op reconcile."""
    source = ReplaySource(decode_pages(raw_pages), chunks)
    informer: SharedIndexInformer[Any] = SharedIndexInformer(
        source=source, resource=RESOURCE, namespaced=True, indexers=INDEXERS,
    )
    lister = informer.lister
    work: AsyncRateLimitingQueue[tuple[str, str]] = AsyncRateLimitingQueue(name="bench")
    done = asyncio.Event()
    count = 0

    def counted() -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    def enqueue(old: Any, new: Any) -> None:
        metadata = new["metadata"]
        work.add((metadata["namespace"], metadata["name"]))

    async def worker() -> None:
        while True:
            namespace, name = request = await work.get()
            try:
                lister.get(name, namespace)  # the no-op reconcile reads its object
                work.forget(request)
            finally:
                work.done(request)
            counted()

    informer.add_handler(on_update=enqueue if queue else (lambda old, new: counted()))
    informer.start()
    task = asyncio.create_task(worker()) if queue else None
    try:
        await informer.wait_synced()
        source.go.set()
        await asyncio.wait_for(done.wait(), 300)
    finally:
        if task is not None:
            task.cancel()
        await informer.stop()


class _Factory:
    """What :meth:`Controller.setup` asks of an informer factory: the one replayed informer."""

    def __init__(self, informer: SharedIndexInformer[Any]) -> None:
        self._informer = informer

    def informer(self, resource: str, *, namespace: str | None = None,
                 ) -> SharedIndexInformer[Any]:
        return self._informer


class _Api:
    """What :meth:`Controller.start` asks of an API client with a no-op reconcile: discovery."""

    async def discover(self, resource: str) -> Any:
        return types.SimpleNamespace(kind="ConfigMap", resource=resource)


async def through_controller(n: int, raw_pages: list[bytes], chunks: list[bytes]) -> None:
    """Replayed events through an informer into a Controller whose reconcile only counts."""
    source = ReplaySource(decode_pages(raw_pages), chunks)
    informer: SharedIndexInformer[Any] = SharedIndexInformer(
        source=source, resource=RESOURCE, namespaced=True, indexers=INDEXERS,
    )
    done = asyncio.Event()
    count = 0

    def reconcile(**_: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    controller = Controller(name="bench", resource=RESOURCE, fn=reconcile, resync_period=None)
    controller.setup(_Factory(informer))  # type: ignore[arg-type]
    informer.start()
    try:
        await controller.start(_Api())  # type: ignore[arg-type]
        count = 0  # the initial list's reconciles are not the events'
        source.go.set()
        await asyncio.wait_for(done.wait(), 300)
    finally:
        await controller.stop()
        await informer.stop()


def cpu_of(run: Callable[[], Awaitable[None]]) -> float:
    gc.collect()
    started = time.process_time()
    asyncio.run(run())  # type: ignore[arg-type]
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    n, e = args.items, args.events
    objects = configmaps(e)
    raw_pages, chunks = pages(objects), watch_chunks(objects)
    del objects
    rows: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
        ("queued: add, get, done", lambda: queued(n), lambda: queued_floor(n), n),
        ("ping-pong: add, wake, get, done", lambda: ping_pong(n), lambda: ping_pong_floor(n), n),
        ("end to end: events -> queue -> no-op reconcile",
         lambda: end_to_end(e, raw_pages, chunks, queue=True),
         lambda: end_to_end(e, raw_pages, chunks, queue=False), e),
        ("controller: events -> Controller -> no-op reconcile",
         lambda: through_controller(e, raw_pages, chunks),
         lambda: end_to_end(e, raw_pages, chunks, queue=False), e),
    ]
    load_before = load_average()
    results = []
    for name, run, floor, count in rows:
        runs, floors = [], []
        for turn in range(args.turns):
            pair = [(runs, run), (floors, floor)]
            for into, what in pair if turn % 2 == 0 else reversed(pair):
                into.append(cpu_of(what))
        ratios = [r / f for r, f in zip(runs, floors, strict=True)]
        results.append((name, count / statistics.median(runs), count / statistics.median(floors),
                        statistics.median(ratios), min(ratios), max(ratios)))
    print(f"# workqueue: {n:,} items, {e:,} events, {args.turns} turns; {os.cpu_count()} CPUs; "
          f"load average {load_before} before, {load_average()} after; "
          f"Python {sys.version.split()[0]}; per CPU second of this process")
    print(f"{'figure':<48} | {'per CPU s':>11} | {'floor':>11} | cost (spread)")
    for name, rate, floor_rate, ratio, low, high in results:
        print(f"{name:<48} | {rate:>11,.0f} | {floor_rate:>11,.0f} | "
              f"{ratio:.2f}x ({low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
