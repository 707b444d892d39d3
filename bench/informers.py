"""How fast do informers fill, follow and serve their caches, against the floor and against Kopf?

Usage::

    python bench/informers.py [--objects 10000] [--quick]

The embedded API server runs in a child process (``python -m kopf_informers apiserver --port 0
--no-simulation``) and is filled with N ConfigMaps of about 1 KB in 10 namespaces, created with
server-side apply so that they carry ``managedFields`` as a real server's do. Every figure is set
against a baseline measured in the same run (in turns with it where both take a while), so that
the noise of a shared machine hits both. The measurements:

1. Initial sync: ``InformerFactory(ApiClient.from_kubeconfig(path)).informer("v1/configmaps",
   indexers=...)`` with 3 indexers of our own (a label value, a data key, namespace/label) beside
   the built-in ``namespace`` and ``owner`` ones, from ``start()`` until ``wait_synced()``
   returns. The floor: a new client of the same class GETs the same pages (``limit=500``,
   following ``continue``) and only decodes them. Median of R turns, wall and CPU time.
2. The same sync and indexing by Kopf: an operator with 3 ``@kopf.index`` functions (the same
   values, as Kopf users write them: synchronous) in a child process (``--kopf-operator``), timed
   from its startup handler until all three indexes hold every object; a task that the startup
   handler starts polls them every few milliseconds. Its CPU time is its own process's. Kopf
   runs on a labelled sample (1,000 objects; 400 with ``--quick``), through a server-side label
   selector, against the informer on the same sample: Kopf 1.45's per-object cost grows with the
   count (every object's worker waits on one ``ToggleSet`` condition, and each new object
   notifies all of them), so N = 10,000 would take far longer than this whole run. The sample's
   first half is timed too, to show that growth.
3. Watch events per second: with an informer synced (one ``on_update`` handler that counts),
   a child process (``--patcher``) writes M merge patches as fast as the server takes them;
   events are counted from the first to the last delivered. The floor: a raw aiohttp watch that
   only decodes. Both depend on the server's pace, so the CPU time per event of this process is
   reported too. Then, without the server, the bytes recorded by the raw watch are replayed
   through an informer (the client's stream parser, the reflector, the store with its indexes,
   the handler) against decoding them alone: the informer's own processing rate.
4. ``lister.get`` and ``lister.by_index`` on the synced cache: best of 7 runs of 100,000 calls,
   in CPU time, against the plain dict operations they stand for.
5. Memory per cached object with ``transform=strip_managed_fields``, traced with tracemalloc
   (Python allocations still held after the sync, the API client closed: the store, its indexes
   and the objects), against the object's JSON as served (with managedFields).

The table is the only output, after one line on the machine and the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _harness import CLOCK_TICKS, STARTUP_TIMEOUT, Child, apiserver

from kopf_informers import (
    ApiClient,
    InformerFactory,
    ListPage,
    SharedIndexInformer,
    strip_managed_fields,
)
from kopf_informers._api.errors import RequestContext
from kopf_informers._api.watch import WatchEvent, WatchStreamParser, watch_event

Obj = dict[str, Any]

RESOURCE = "v1/configmaps"
NAMESPACES = 10
APP_SIZE = 10  # objects per app label value: the by_index bucket of the target
SHARDS = 100  # data-key values: buckets of N/100 objects
OBJECT_SIZE = 1024  # bytes of a ConfigMap as applied
PAGE_SIZE = 500
CONCURRENCY = 32  # requests in flight while filling and patching
FIELD_MANAGER = "bench-informers"
REPEATS = 7
RUN_TIMEOUT = 300.0
KOPF_POLL_INTERVAL = 0.005  # seconds between two looks at Kopf's indexes
WATCH_CONTEXT = RequestContext("watch", RESOURCE)

TARGET_SYNC_RATIO = 1.5
TARGET_KOPF_SPEEDUP = 10.0
TARGET_EVENTS_PER_SECOND = 20_000.0
TARGET_GET_US = 2.0
TARGET_BY_INDEX_US = 5.0
TARGET_MEMORY_RATIO = 2.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much to do: N objects, M patches, and how many turns of each measurement."""

    objects: int
    patches: int
    sync_turns: int
    watch_turns: int
    replay_turns: int
    calls: int  # lister calls per run
    sample: int  # objects labelled for Kopf (its cost per object grows with the count)

    @classmethod
    def of(cls, objects: int | None, *, quick: bool) -> Plan:
        if quick:
            n = objects or 2_000
            return cls(n, n, sync_turns=2, watch_turns=1, replay_turns=2, calls=20_000,
                       sample=min(n, 400) // 2 * 2)
        n = objects or 10_000
        return cls(n, n, sync_turns=5, watch_turns=2, replay_turns=3, calls=100_000,
                   sample=min(n, 1_000) // 2 * 2)


# -- the objects and the indexers -----------------------------------------------------------------


def namespace_of(i: int) -> str:
    return f"bench-{i % NAMESPACES}"


def name_of(i: int) -> str:
    return f"cm-{i:06d}"


def app_of(i: int) -> str:
    return f"app-{i // APP_SIZE:05d}"


def shard_of(i: int) -> str:
    return f"shard-{i % SHARDS:02d}"


def configmap(i: int, sample: int) -> bytes:
    """The ConfigMap number ``i`` as applied: OBJECT_SIZE bytes of JSON. The first ``sample``
    ones are labelled ``sample=a`` (the first half) or ``sample=b``, for Kopf."""
    labels = {"app": app_of(i), "bench": "informers"}
    if i < sample:
        labels["sample"] = "a" if i < sample // 2 else "b"
    obj: Obj = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name_of(i), "namespace": namespace_of(i), "labels": labels},
        "data": {shard_of(i): "1", "payload": ""},
    }
    obj["data"]["payload"] = "x" * max(OBJECT_SIZE - len(orjson.dumps(obj)), 0)
    return orjson.dumps(obj)


def index_by_app(obj: Obj) -> list[str]:
    app = (obj["metadata"].get("labels") or {}).get("app")
    return [app] if app else []


def index_by_shard(obj: Obj) -> list[str]:
    return [key for key in obj.get("data") or () if key.startswith("shard-")]


def index_by_namespace_app(obj: Obj) -> list[str]:
    metadata = obj["metadata"]
    app = (metadata.get("labels") or {}).get("app")
    return [f"{metadata.get('namespace')}/{app}"] if app else []


INDEXERS = {"app": index_by_app, "shard": index_by_shard, "namespace-app": index_by_namespace_app}


# -- the table ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    figure: str
    value: str
    baseline: str
    ratio: float | None
    target: str = "-"
    met: bool | None = None


def print_table(rows: Sequence[Row]) -> None:
    header = ("figure", "value", "baseline", "ratio", "target", "met?")
    cells = [header] + [
        (row.figure, row.value, row.baseline,
         "-" if row.ratio is None else f"{row.ratio:.2f}x", row.target,
         "-" if row.met is None else ("yes" if row.met else "NO"))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    for number, line in enumerate(cells):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# -- child processes ------------------------------------------------------------------------------


def this_script(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


# -- talking to the server directly ---------------------------------------------------------------


async def connection(kubeconfig: Path) -> tuple[str, dict[str, str]]:
    """The server URL and the HTTP headers of the kubeconfig's credentials."""
    async with ApiClient.from_kubeconfig(kubeconfig) as api:
        await api.discover(RESOURCE)  # logs in
        info = api.connection_info
        assert info is not None
        return info.server.rstrip("/"), info.as_http_headers()


async def run_workers(indexes: Iterable[int], request: Callable[[int], Awaitable[object]]) -> float:
    """Seconds for CONCURRENCY workers to make one request per index, each the next index."""
    pending = iter(indexes)  # shared: next() never yields to the loop, so no index repeats

    async def worker() -> None:
        for index in pending:
            await request(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def send(session: aiohttp.ClientSession, method: str, url: str, *, body: bytes,
               content_type: str, expect: tuple[int, ...] = (200, 201)) -> None:
    async with session.request(method, url, data=body,
                               headers={"Content-Type": content_type}) as response:
        raw = await response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {url}: {response.status} {raw[:300]!r}")


async def fill(server: str, headers: dict[str, str], objects: int, sample: int) -> float:
    """Create the namespaces and, by server-side apply, the N ConfigMaps; returns seconds."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(server, headers=headers, connector=connector) as session:
        for n in range(NAMESPACES):
            body = orjson.dumps({"metadata": {"name": namespace_of(n)}})
            await send(session, "POST", "/api/v1/namespaces", body=body,
                       content_type="application/json", expect=(201, 409))

        async def apply(i: int) -> None:
            url = (f"/api/v1/namespaces/{namespace_of(i)}/configmaps/{name_of(i)}"
                   f"?fieldManager={FIELD_MANAGER}&force=true")
            await send(session, "PATCH", url, body=configmap(i, sample),
                       content_type="application/apply-patch+yaml")

        return await run_workers(range(objects), apply)


async def patcher(kubeconfig: Path, objects: int, patches: int) -> None:
    """The ``--patcher`` child: for each round number read on stdin, write M merge patches as
    fast as the server takes them, and print the seconds it took."""
    server, headers = await connection(kubeconfig)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(server, headers=headers, connector=connector) as session:
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            round_ = line.strip()

            async def patch(k: int, round_: str = round_) -> None:
                i = k % objects
                url = f"/api/v1/namespaces/{namespace_of(i)}/configmaps/{name_of(i)}"
                body = orjson.dumps({"data": {"rev": f"{round_}-{k}"}})
                await send(session, "PATCH", url, body=body,
                           content_type="application/merge-patch+json")

            print(await run_workers(range(patches), patch), flush=True)


# -- 1. initial sync ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


class Stopwatch:
    """Wall and CPU time (of this process) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


def median_timing(timings: Sequence[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in timings),
                  statistics.median(t.cpu for t in timings))


async def floor_sync(kubeconfig: Path) -> tuple[Timing, list[Obj]]:
    """A new client lists every page, as the reflector does, and only decodes them."""
    items: list[Obj] = []
    watch = Stopwatch()
    async with ApiClient.from_kubeconfig(kubeconfig) as api:
        async for page in api.list_all(RESOURCE, resource_version="0", page_size=PAGE_SIZE):
            items.extend(page.get("items") or ())
        timing = watch.stop()
    return timing, items


async def informer_sync(
    kubeconfig: Path, *, transform: Callable[[Obj], Obj] | None = None,
    on_update: Callable[[Any, Any], object] | None = None, label_selector: str | None = None,
) -> tuple[Timing, InformerFactory, SharedIndexInformer[Any]]:
    """A new factory and client; the informer's sync timed from ``start()``. Stop it after."""
    factory = InformerFactory(ApiClient.from_kubeconfig(kubeconfig))
    informer = factory.informer(RESOURCE, indexers=INDEXERS, transform=transform,
                                label_selector=label_selector)
    if on_update is not None:
        informer.add_handler(on_update=on_update)
    watch = Stopwatch()
    await factory.start()
    await factory.wait_synced()
    return watch.stop(), factory, informer


async def stop(factory: InformerFactory) -> None:
    await factory.stop()
    await factory.api.close()


async def measure_sync(
    kubeconfig: Path, turns: int,
) -> tuple[Timing, Timing, list[Obj], InformerFactory, SharedIndexInformer[Any]]:
    """Floor and informer in turns (the order alternating); the last informer is kept."""
    floors: list[Timing] = []
    informers: list[Timing] = []
    items: list[Obj] = []
    kept: tuple[InformerFactory, SharedIndexInformer[Any]] | None = None
    for turn in range(turns):
        for which in ("floor", "informer") if turn % 2 == 0 else ("informer", "floor"):
            if kept is not None:
                await stop(kept[0])
                kept = None
            items = []
            gc.collect()
            if which == "floor":
                timing, items = await floor_sync(kubeconfig)
                floors.append(timing)
            else:
                timing, factory, informer = await informer_sync(kubeconfig)
                informers.append(timing)
                kept = (factory, informer)
    if kept is None:  # the last turn ended with the floor: make one more informer to keep
        _, factory, informer = await informer_sync(kubeconfig)
        kept = (factory, informer)
    if not items:
        _, items = await floor_sync(kubeconfig)
    return median_timing(floors), median_timing(informers), items, kept[0], kept[1]


# -- 2. Kopf --------------------------------------------------------------------------------------


def kopf_operator(objects: int, selector: str) -> None:
    """The ``--kopf-operator`` child: index the ConfigMaps that ``selector`` selects (server-side)
    with 3 ``@kopf.index`` functions; print ``started WALL CPU`` from the startup handler and
    ``indexed WALL CPU`` once all three indexes hold all those ``objects``."""
    import kopf  # only here: the benchmark itself does not need it

    settings = kopf.OperatorSettings()
    settings.watching.chunk_size = PAGE_SIZE  # the same pages as the informer's
    settings.watching.label_selectors["v1", "configmaps"] = selector
    background: set[asyncio.Task[None]] = set()

    @kopf.index("v1", "configmaps", id="by_app")
    def by_app(labels: Any, namespace: Any, name: Any, **_: Any) -> Any:
        return {labels["app"]: (namespace, name)} if "app" in labels else {}

    @kopf.index("v1", "configmaps", id="by_shard")
    def by_shard(body: Any, namespace: Any, name: Any, **_: Any) -> Any:
        data = body.get("data") or {}
        return {key: (namespace, name) for key in data if key.startswith("shard-")}

    @kopf.index("v1", "configmaps", id="by_namespace_app")
    def by_namespace_app(labels: Any, namespace: Any, name: Any, **_: Any) -> Any:
        return {f"{namespace}/{labels['app']}": name} if "app" in labels else {}

    def report(what: str) -> None:
        print(f"{what} {time.perf_counter()} {time.process_time()}", flush=True)

    async def poll(indexes: Sequence[Any]) -> None:
        by_namespace_app = indexes[2]
        while True:
            # len() first: cheap; then the value counts of all three (every index is written
            # per object, one after the other).
            if len(by_namespace_app) >= objects and all(
                sum(len(values) for values in index.values()) >= objects for index in indexes
            ):
                report("indexed")
                return
            await asyncio.sleep(KOPF_POLL_INTERVAL)

    @kopf.on.startup()
    async def start_polling(by_app: Any, by_shard: Any, by_namespace_app: Any, **_: Any) -> None:
        report("started")
        task = asyncio.create_task(poll([by_app, by_shard, by_namespace_app]))
        background.add(task)

    # The default registry (a fresh process) has Kopf's fallback logins, as `kopf run` has.
    kopf.run(settings=settings, standalone=True, clusterwide=True)


async def kopf_sync(kubeconfig: Path, selector: str, objects: int, workdir: Path) -> Timing:
    """Kopf's indexing of the selected objects, in its own process, from its startup handler."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    argv = this_script("--kopf-operator", "--objects", str(objects), "--selector", selector)
    async with Child(argv, workdir / "kopf.log", env) as kopf:
        started = (await kopf.line(STARTUP_TIMEOUT)).split()
        indexed = (await kopf.line(RUN_TIMEOUT)).split()
    if started[0] != "started" or indexed[0] != "indexed":
        raise RuntimeError(f"the Kopf operator said {started} and {indexed}")
    return Timing(float(indexed[1]) - float(started[1]), float(indexed[2]) - float(started[2]))


async def measure_kopf(
    kubeconfig: Path, plan: Plan, workdir: Path,
) -> tuple[Timing, Timing, Timing]:
    """Kopf on half the sample and on all of it; the informer on all of it (median of 3)."""
    half = await kopf_sync(kubeconfig, "sample=a", plan.sample // 2, workdir)
    full = await kopf_sync(kubeconfig, "sample", plan.sample, workdir)
    informers: list[Timing] = []
    for _ in range(3):
        gc.collect()
        timing, factory, informer = await informer_sync(kubeconfig, label_selector="sample")
        await stop(factory)
        if len(informer.lister) != plan.sample:
            raise RuntimeError(f"the informer holds {len(informer.lister)} objects")
        informers.append(timing)
    return half, full, median_timing(informers)


# -- 3. watch events ------------------------------------------------------------------------------


class EventCounter:
    """Counts events up to ``expected``: wall and CPU time from the first to the last."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first: tuple[float, float] = (0.0, 0.0)
        self.last: tuple[float, float] = (0.0, 0.0)
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:
            self.first = (time.perf_counter(), time.process_time())
        if self.count == self.expected:
            self.last = (time.perf_counter(), time.process_time())
            self.done.set()

    def on_update(self, old: object, new: object) -> None:
        self.tick()

    def timing(self) -> Timing:
        """For ``expected - 1`` events: those after the first."""
        return Timing(self.last[0] - self.first[0], self.last[1] - self.first[1])


@dataclasses.dataclass(frozen=True)
class Rate:
    """Events per wall second, and per CPU second of this process."""

    events: int
    timing: Timing

    @property
    def per_second(self) -> float:
        return self.events / self.timing.wall

    @property
    def per_cpu_second(self) -> float:
        return self.events / self.timing.cpu if self.timing.cpu else float("inf")


def total_rate(rates: Sequence[Rate]) -> Rate:
    return Rate(sum(r.events for r in rates), Timing(sum(r.timing.wall for r in rates),
                                                     sum(r.timing.cpu for r in rates)))


async def informer_watch(kubeconfig: Path, patches: Child, round_: int, expected: int) -> Rate:
    """A synced informer with one handler; the patcher writes; events until the last."""
    counter = EventCounter(expected)
    _, factory, _ = await informer_sync(kubeconfig, on_update=counter.on_update)
    try:
        await patches.send(str(round_))
        await asyncio.wait_for(counter.done.wait(), RUN_TIMEOUT)
        await patches.line(RUN_TIMEOUT)
    finally:
        await stop(factory)
    return Rate(expected - 1, counter.timing())


async def raw_watch(
    server: str, headers: dict[str, str], patches: Child, round_: int, expected: int,
) -> tuple[Rate, list[bytes]]:
    """The floor: a raw aiohttp watch that decodes lines and counts MODIFIED events; also
    returns the bytes received, as they came, for the replay."""
    counter = EventCounter(expected)
    chunks: list[bytes] = []
    async with aiohttp.ClientSession(server, headers=headers) as session:
        async with session.get("/api/v1/configmaps?limit=1") as response:
            rv = (await response.json(loads=orjson.loads))["metadata"]["resourceVersion"]
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=RUN_TIMEOUT)
        async with session.get("/api/v1/configmaps", params=params, timeout=timeout) as response:
            await patches.send(str(round_))
            parser = WatchStreamParser(WATCH_CONTEXT)
            while not counter.done.is_set():
                chunk = await response.content.readany()
                if not chunk:
                    raise RuntimeError(f"the watch ended after {counter.count} events")
                chunks.append(chunk)
                for raw in parser.feed(chunk):
                    if raw["type"] == "MODIFIED":
                        counter.tick()
    await patches.line(RUN_TIMEOUT)
    return Rate(expected - 1, counter.timing()), chunks


async def measure_watch(
    kubeconfig: Path, server: str, headers: dict[str, str], plan: Plan, workdir: Path,
) -> tuple[Rate, Rate, list[bytes]]:
    """Informer and raw watch in turns, each over M fresh patches."""
    argv = this_script("--patcher", "--kubeconfig", str(kubeconfig),
                       "--objects", str(plan.objects), "--patches", str(plan.patches))
    informers: list[Rate] = []
    floors: list[Rate] = []
    chunks: list[bytes] = []
    async with Child(argv, workdir / "patcher.log", stdin=True) as patches:
        if await patches.line(STARTUP_TIMEOUT) != "ready":
            raise RuntimeError("the patcher did not start")
        for turn in range(plan.watch_turns):
            gc.collect()
            informers.append(await informer_watch(kubeconfig, patches, 2 * turn, plan.patches))
            gc.collect()
            rate, chunks = await raw_watch(server, headers, patches, 2 * turn + 1, plan.patches)
            floors.append(rate)
    return total_rate(informers), total_rate(floors), chunks


class ReplaySource:
    """A ListerWatcher without a server: one page of objects, then recorded watch bytes run
    through the API client's own stream parser, layered as the informer's API source is.
    Each object is listed once and each event decoded anew, so it hands its objects over; as
    the API client's pages, the listed objects are then dropped (not kept alive, and scanned by
    the garbage collector, through the replay)."""

    hands_over_objects = True

    def __init__(self, items: list[Obj], chunks: list[bytes]) -> None:
        self.items = items
        self.chunks = chunks
        self.go = asyncio.Event()

    async def list_page(
        self, *, resource_version: str | None, limit: int, continue_token: str | None,
    ) -> ListPage:
        items, self.items = self.items, []
        return ListPage(items, "1", None)

    async def _events(self) -> AsyncIterator[WatchEvent]:  # as ApiClient.watch()
        parser = WatchStreamParser(WATCH_CONTEXT)
        for chunk in self.chunks:
            for raw in parser.feed(chunk):
                yield watch_event(raw, WATCH_CONTEXT)

    async def watch(
        self, *, resource_version: str | None, timeout_seconds: int,
        send_initial_events: bool = False,
    ) -> AsyncIterator[WatchEvent]:  # as the informer's list-watch source
        await self.go.wait()
        async for event in self._events():
            yield event
        await asyncio.Event().wait()  # the stream stays open, as a live one does


async def replay_informer(items: list[Obj], chunks: list[bytes], expected: int) -> Rate:
    """The recorded events through a synced informer, timed from the first byte's release."""
    source = ReplaySource(items, chunks)
    counter = EventCounter(expected)
    informer: SharedIndexInformer[Any] = SharedIndexInformer(
        source=source, resource=RESOURCE, namespaced=True, indexers=INDEXERS,
    )
    informer.add_handler(on_update=counter.on_update)
    informer.start()
    try:
        await informer.wait_synced()
        gc.collect()
        watch = Stopwatch()
        source.go.set()
        await asyncio.wait_for(counter.done.wait(), RUN_TIMEOUT)
        return Rate(expected, watch.stop())
    finally:
        await informer.stop()


def replay_floor(chunks: list[bytes]) -> Rate:
    """Decoding the recorded events and nothing else."""
    watch = Stopwatch()
    parser = WatchStreamParser(WATCH_CONTEXT)
    events = sum(len(parser.feed(chunk)) for chunk in chunks)
    return Rate(events, watch.stop())


async def measure_replay(items: list[Obj], chunks: list[bytes], plan: Plan) -> tuple[Rate, Rate]:
    """Best of several turns of each, taking turns."""
    informers: list[Rate] = []
    floors: list[Rate] = []
    for _ in range(plan.replay_turns):
        informers.append(await replay_informer(items, chunks, plan.patches))
        floors.append(replay_floor(chunks))
    return (max(informers, key=lambda r: r.per_second),
            max(floors, key=lambda r: r.per_second))


# -- 4. listers -----------------------------------------------------------------------------------


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """The best of REPEATS runs of ``number`` calls, in µs of CPU time per call."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - started)
    return best / number * 1e6


def measure_listers(informer: SharedIndexInformer[Any], plan: Plan) -> list[Row]:
    lister = informer.lister
    i = plan.objects // 2
    name, namespace, app, shard = name_of(i), namespace_of(i), app_of(i), shard_of(i)
    objects = {f"{obj['metadata']['namespace']}/{obj['metadata']['name']}": obj
               for obj in lister.list()}
    apps = {key: obj for key, obj in objects.items() if index_by_app(obj) == [app]}
    shards = {key: obj for key, obj in objects.items() if index_by_shard(obj) == [shard]}
    assert lister.get(name, namespace) is not None
    assert len(lister.by_index("app", app)) == len(apps) == APP_SIZE
    assert len(lister.by_index("shard", shard)) == len(shards)
    get = per_call_us(lambda: lister.get(name, namespace), plan.calls)
    get_floor = per_call_us(lambda: objects.get(f"{namespace}/{name}"), plan.calls)
    small = per_call_us(lambda: lister.by_index("app", app), plan.calls)
    small_floor = per_call_us(lambda: list(apps.values()), plan.calls)
    big = per_call_us(lambda: lister.by_index("shard", shard), plan.calls)
    big_floor = per_call_us(lambda: list(shards.values()), plan.calls)
    return [
        Row("lister.get(name, namespace)", f"{get:.3f} µs", f"{get_floor:.3f} µs dict.get",
            get / get_floor, f"<= {TARGET_GET_US:g} µs", get <= TARGET_GET_US),
        Row(f"lister.by_index, {APP_SIZE} objects", f"{small:.3f} µs",
            f"{small_floor:.3f} µs list(dict)", small / small_floor,
            f"<= {TARGET_BY_INDEX_US:g} µs", small <= TARGET_BY_INDEX_US),
        Row(f"lister.by_index, {len(shards)} objects", f"{big:.3f} µs",
            f"{big_floor:.3f} µs list(dict)", big / big_floor,
            f"<= {TARGET_BY_INDEX_US:g} µs", big <= TARGET_BY_INDEX_US),
    ]


# -- 5. memory ------------------------------------------------------------------------------------


async def memory_per_object(
    kubeconfig: Path, transform: Callable[[Obj], Obj] | None, count: int,
) -> float:
    """Bytes that a synced informer's cache holds per object (tracemalloc, client closed)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _, factory, informer = await informer_sync(kubeconfig, transform=transform)
        await stop(factory)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(informer.lister) == count
    return (after - before) / count


# -- the run --------------------------------------------------------------------------------------


def sync_rows(floor: Timing, informer: Timing, plan: Plan) -> list[Row]:
    ratio = informer.wall / floor.wall
    return [
        Row(f"initial sync of {plan.objects:,}, 3 indexers, wall", f"{informer.wall:.3f} s",
            f"{floor.wall:.3f} s floor", ratio, f"<= {TARGET_SYNC_RATIO:g}x",
            ratio <= TARGET_SYNC_RATIO),
        Row("initial sync, CPU time of this process", f"{informer.cpu:.3f} s",
            f"{floor.cpu:.3f} s floor", informer.cpu / floor.cpu),
    ]


def kopf_rows(half: Timing, full: Timing, informer: Timing, plan: Plan) -> list[Row]:
    speedup = full.wall / informer.wall
    per_object = full.cpu / plan.sample * 1e6
    return [
        Row(f"Kopf @kopf.index sync of {plan.sample:,}, wall (ratio: speed-up)",
            f"{full.wall:.3f} s", f"{informer.wall:.3f} s informer", speedup,
            f">= {TARGET_KOPF_SPEEDUP:g}x", speedup >= TARGET_KOPF_SPEEDUP),
        Row(f"Kopf CPU per object, {plan.sample:,} objects", f"{per_object:,.0f} µs",
            f"{informer.cpu / plan.sample * 1e6:,.1f} µs informer", full.cpu / informer.cpu),
        Row(f"Kopf CPU per object, {plan.sample // 2:,} objects (ratio: growth to "
            f"{plan.sample:,})", f"{half.cpu / (plan.sample // 2) * 1e6:,.0f} µs",
            f"{per_object:,.0f} µs", per_object / (half.cpu / (plan.sample // 2) * 1e6)),
    ]


def watch_rows(live: Rate, live_floor: Rate, replay: Rate, replay_floor: Rate) -> list[Row]:
    target = f">= {TARGET_EVENTS_PER_SECOND:,.0f}/s"
    return [
        Row("watch, live: events/s to on_update (server-bound)", f"{live.per_second:,.0f}/s",
            f"{live_floor.per_second:,.0f}/s raw watch", live.per_second / live_floor.per_second),
        Row("watch, live: events per CPU second, this process",
            f"{live.per_cpu_second:,.0f}/s", f"{live_floor.per_cpu_second:,.0f}/s raw watch",
            live.per_cpu_second / live_floor.per_cpu_second),
        Row("watch, replayed: informer's own events/s", f"{replay.per_second:,.0f}/s",
            f"{replay_floor.per_second:,.0f}/s decode only",
            replay.per_second / replay_floor.per_second, target,
            replay.per_second >= TARGET_EVENTS_PER_SECOND),
    ]


def memory_rows(stripped: float, unstripped: float, json_size: float) -> list[Row]:
    return [
        Row("memory per object, strip_managed_fields (tracemalloc)", f"{stripped:,.0f} B",
            f"{json_size:,.0f} B JSON as served", stripped / json_size,
            f"<= {TARGET_MEMORY_RATIO:g}x", stripped / json_size <= TARGET_MEMORY_RATIO),
        Row("memory per object, no transform (tracemalloc)", f"{unstripped:,.0f} B",
            f"{json_size:,.0f} B JSON as served", unstripped / json_size),
    ]


async def bench_sync(plan: Plan, workdir: Path) -> None:
    """``--sync-only``: the sync, the listers and memory, without Kopf and watches (the scale
    curve), and the server's CPU time during the syncs."""
    kubeconfig = workdir / "kubeconfig"
    load_before = load_average()
    async with apiserver(kubeconfig, workdir / "apiserver.log", "--no-simulation") as server_proc:
        server, headers = await connection(kubeconfig)
        fill_seconds = await fill(server, headers, plan.objects, plan.sample)
        server_cpu = cpu_seconds(server_proc)
        floor, informer, items, factory, kept = await measure_sync(kubeconfig, plan.sync_turns)
        server_cpu = cpu_seconds(server_proc) - server_cpu
        lister_rows = measure_listers(kept, plan)
        await stop(factory)
        del factory, kept
        json_size = statistics.fmean(len(orjson.dumps(obj)) for obj in items)
        del items
        stripped = await memory_per_object(kubeconfig, strip_managed_fields, plan.objects)
        unstripped = await memory_per_object(kubeconfig, None, plan.objects)
    turns = 2 * plan.sync_turns + (plan.sync_turns % 2)  # floors and informers (and the extra)
    print(f"# informers --sync-only: N={plan.objects:,} ConfigMaps (~{OBJECT_SIZE} B applied; "
          f"filled in {fill_seconds:.1f} s); {os.cpu_count()} CPUs; load average {load_before} "
          f"before, {load_average()} after; server CPU {server_cpu / turns:.3f} s per list "
          f"(pages of {PAGE_SIZE}); Python {sys.version.split()[0]}")
    print_table([
        *sync_rows(floor, informer, plan),
        Row("sync per object, wall / CPU", f"{informer.wall / plan.objects * 1e6:.1f} µs",
            f"{informer.cpu / plan.objects * 1e6:.1f} µs CPU", None),
        *lister_rows,
        *memory_rows(stripped, unstripped, json_size),
    ])


def cpu_seconds(child: Any) -> float:
    """User + system CPU time of a child process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{child.proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def bench(plan: Plan, workdir: Path) -> None:
    kubeconfig = workdir / "kubeconfig"
    load_before = load_average()
    async with apiserver(kubeconfig, workdir / "apiserver.log", "--no-simulation"):
        server, headers = await connection(kubeconfig)
        fill_seconds = await fill(server, headers, plan.objects, plan.sample)

        floor, informer, items, factory, kept = await measure_sync(kubeconfig, plan.sync_turns)
        bench_items = [obj for obj in items if index_by_app(obj)]
        if len(bench_items) != plan.objects:
            raise RuntimeError(f"listed {len(bench_items)} bench objects, not {plan.objects}")
        lister_rows = measure_listers(kept, plan)
        await stop(factory)
        del factory, kept

        kopf_half, kopf, kopf_informer = await measure_kopf(kubeconfig, plan, workdir)
        live, live_floor, chunks = await measure_watch(kubeconfig, server, headers, plan, workdir)
        replay, replayed_floor = await measure_replay(items, chunks, plan)
        del chunks

        json_size = statistics.fmean(len(orjson.dumps(obj)) for obj in bench_items)
        stripped = await memory_per_object(kubeconfig, strip_managed_fields, len(items))
        unstripped = await memory_per_object(kubeconfig, None, len(items))

    print(f"# informers: N={plan.objects:,} ConfigMaps (~{OBJECT_SIZE} B applied; filled in "
          f"{fill_seconds:.1f} s), M={plan.patches:,} patches; {os.cpu_count()} CPUs; "
          f"load average {load_before} before, {load_average()} after; "
          f"Python {sys.version.split()[0]}")
    print_table([
        *sync_rows(floor, informer, plan),
        *kopf_rows(kopf_half, kopf, kopf_informer, plan),
        *watch_rows(live, live_floor, replay, replayed_floor),
        *lister_rows,
        *memory_rows(stripped, unstripped, json_size),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=None,
                        help="ConfigMaps to cache (default 10,000; 2,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer objects and turns (< 30 s)")
    parser.add_argument("--sync-only", action="store_true",
                        help="only the sync, listers and memory (for the scale curve)")
    parser.add_argument("--sync-turns", type=int, default=None, help="floor/informer pairs")
    parser.add_argument("--kopf-operator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--patcher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--patches", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--selector", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kopf_operator:
        kopf_operator(args.objects, args.selector)
    elif args.patcher:
        asyncio.run(patcher(args.kubeconfig, args.objects, args.patches))
    else:
        if args.objects is not None and args.objects < 100:
            parser.error("--objects must be at least 100")
        plan = Plan.of(args.objects, quick=args.quick)
        if args.sync_turns:
            plan = dataclasses.replace(plan, sync_turns=args.sync_turns)
        with tempfile.TemporaryDirectory(prefix="bench-informers-") as workdir:
            asyncio.run((bench_sync if args.sync_only else bench)(plan, Path(workdir)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
