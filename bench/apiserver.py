"""Is the embedded API server fast enough not to be the bottleneck of a test suite?

Usage::

    python bench/apiserver.py [--objects N] [--concurrency C] [--runs R] [--json PATH]

The server runs as a separate process, started through its CLI (``python -m kopf_informers
apiserver --port 0 --no-simulation``), so the client and the server do not share one GIL. The
client is aiohttp with a keep-alive connection pool and C concurrent workers. It measures:

- ``create``: N creates of ~1 KB ConfigMaps, in writes/s;
- ``merge-patch``: one JSON merge patch of each of those N objects, in writes/s;
- ``list``: one unpaginated list of all N objects, in seconds (median of R runs);
- ``list, limit=500``: the same list in pages of 500, in seconds for all pages (median of R);
- ``watch fan-out``: events/s delivered to one watcher while C workers patch the N objects
  again, counted from the first write until the watcher has received the last event.

Every figure is set against a baseline measured in the same run, taking turns with it (R turns
over slices of N/R writes or events; R list runs each), so that the noise of a shared machine
cancels out: a trivial aiohttp server, also in a separate process, doing the least the same HTTP
exchange needs. The columns:

- ``cost``: server wall time per operation over the baseline's: 1.0x means "as fast as a trivial
  aiohttp server", 3.0x "three times slower than that";
- ``CPU cost``: the same in CPU time of the server process over the baseline server's (read from
  ``/proc``, in clock ticks), which a busy machine disturbs far less than wall time;
- ``CPU-bound``: the server's figure if its own CPU time were all it took (a core to itself and
  an infinitely fast client): operations per CPU second, or CPU seconds per list.

The baselines:

- writes: the same client POSTs the same ~1 KB ConfigMap bodies to an echo server that answers
  201 with the request body; the client decodes each answer in both cases;
- lists: the client GETs a static file (aiohttp's file handler) holding the very bytes the API
  server answered, and decodes it; for the paginated list, one file per page, fetched in turn;
- watch: the same echo writes, while the echo server also streams each body as one JSON line to
  one watcher connection (batching queued lines into one write, as the API server does).

Targets (for the default N = 10,000): at least 5,000 writes/s and a full list under 0.5 s. The
table is the only output, unless ``--json PATH`` asks for the figures as JSON as well.
``--profile PATH`` runs the server under cProfile and saves its stats there (the figures are
then not representative); ``--phases`` limits the run to some measurements, e.g. for profiling.
``--in-process`` measures something else instead: the server's write path without HTTP (body
decoding, the admitted write, the answer's encoding) in this process, CPU µs per create and per
merge patch (best of R), with and without the built-in schemas and the duplicate-key check
(what the strict checks cost); and whole requests, aiohttp's parsing and writing included, fed
to the server's and the echo baseline's applications without a socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import gc
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _harness import Server, apiserver
from aiohttp import web

NAMESPACE = "bench"
PAGE_SIZE = 500
OBJECT_SIZE = 1024  # bytes of a ConfigMap as the client sends it
TARGET_WRITES_PER_SECOND = 5_000.0
TARGET_LIST_SECONDS = 0.5
TARGET_LIST_OBJECTS = 10_000
WATCH_TIMEOUT = 300.0
PHASES = ("create", "patch", "list", "paginate", "watch")
JSON_HEADERS = {"Content-Type": "application/json"}
PATCH_HEADERS = {"Content-Type": "application/merge-patch+json"}


@dataclasses.dataclass
class Figure:
    """One row of the table: the server's figure, its baseline's, and the cost ratio."""

    name: str
    unit: str  # "writes/s", "events/s" (higher is better) or "s" (lower is better)
    server: float
    baseline: float
    operations: int  # per run: writes, events, or lists
    server_cpu: float  # CPU seconds of the server process over those operations
    baseline_cpu: float  # and of the baseline server's
    target: str = ""
    met: bool | None = None

    @property
    def cost(self) -> float:
        """Server time per operation over baseline time per operation (1.0 = as fast)."""
        if self.unit == "s":
            return self.server / self.baseline
        return self.baseline / self.server

    @property
    def cpu_cost(self) -> float:
        """Server CPU per operation over the baseline server's (steadier than wall time)."""
        return self.server_cpu / self.baseline_cpu if self.baseline_cpu else float("nan")

    @property
    def cpu_bound(self) -> float:
        """The figure if the server's CPU time were all it took (a core of its own, an
        infinitely fast client): operations per CPU second, or CPU seconds per list."""
        if self.unit == "s":
            return self.server_cpu / self.operations
        return self.operations / self.server_cpu if self.server_cpu else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "cost": round(self.cost, 3),
                "cpu_cost": round(self.cpu_cost, 3), "cpu_bound": round(self.cpu_bound, 4)}


# -- child processes ------------------------------------------------------------------------------


def baseline_argv(workdir: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-baseline",
            str(workdir / "static")]


# -- the baseline server (runs in its own process) -------------------------------------------


def baseline_app(static: Path) -> web.Application:
    """Echo POSTs (also to the open streams) and serve static files: nothing more."""
    streams: list[tuple[list[bytes], asyncio.Event]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        for lines, wakeup in streams:
            lines.append(body)
            wakeup.set()
        return web.Response(body=body, status=201, content_type="application/json")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=JSON_HEADERS)
        response.enable_chunked_encoding()
        lines: list[bytes] = []
        wakeup = asyncio.Event()
        streams.append((lines, wakeup))
        try:
            await response.prepare(request)
            while True:
                await wakeup.wait()
                wakeup.clear()
                batch = b"\n".join(lines) + b"\n"
                lines.clear()
                await response.write(batch)
        finally:
            streams.remove((lines, wakeup))

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/echo", echo)
    app.router.add_get("/stream", stream)
    app.router.add_static("/static", static)
    return app


async def serve_baseline(static: Path) -> None:
    # As the API server's runner: no access log; a handler is cancelled when its client leaves.
    runner = web.AppRunner(baseline_app(static), handle_signals=False, access_log=None,
                           handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"http://127.0.0.1:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


# -- client helpers -------------------------------------------------------------------------------


async def run_workers(indexes: Iterable[int], concurrency: int,
                      request: Callable[[int], Awaitable[object]]) -> float:
    """Seconds for C workers to make one request per index, each taking the next index."""
    pending = iter(indexes)  # shared: next() never yields to the loop, so no index repeats

    async def worker() -> None:
        for index in pending:
            await request(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def fetch(session: aiohttp.ClientSession, method: str, url: str, *,
                expect: int = 200, **kwargs: Any) -> tuple[bytes, Any]:
    """One request: its raw body and the decoded JSON; an unexpected status is an error."""
    async with session.request(method, url, **kwargs) as response:
        raw = await response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {url}: {response.status} {raw[:300]!r}")
    return raw, orjson.loads(raw)


def configmap(index: int) -> bytes:
    """A ConfigMap of OBJECT_SIZE bytes as JSON, named after its index."""
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:06d}", "labels": {"app": "bench"}},
        "data": {"payload": ""},
    }
    padding = OBJECT_SIZE - len(orjson.dumps(obj))
    obj["data"]["payload"] = "x" * max(padding, 0)
    return orjson.dumps(obj)


def merge_patch(round_: int) -> bytes:
    return orjson.dumps({"metadata": {"labels": {"round": str(round_)}}})


def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


# -- the measurements -----------------------------------------------------------------------------


class Bench:
    """The measurements, each next to its baseline, over one client session."""

    def __init__(self, session: aiohttp.ClientSession, api: Server, base: Server,
                 static: Path, *, objects: int, concurrency: int, runs: int) -> None:
        self.session = session
        self.api = api
        self.base = base
        self.static = static
        self.objects = objects
        self.concurrency = concurrency
        self.runs = runs
        self.bodies = [configmap(i) for i in range(objects)]
        self.collection = f"{api.url}/api/v1/namespaces/{NAMESPACE}/configmaps"
        self.patch_round = 0

    async def prepare(self) -> None:
        namespace = orjson.dumps({"metadata": {"name": NAMESPACE}})
        await fetch(self.session, "POST", f"{self.api.url}/api/v1/namespaces", expect=201,
                    data=namespace, headers=JSON_HEADERS)
        # Warm both servers and the connection pool up; the warm-up objects are deleted.
        warmup = [configmap(i).replace(b'"cm-', b'"warmup-') for i in range(200)]
        await run_workers(range(200), self.concurrency, lambda i: self._echo(warmup[i]))
        await run_workers(range(200), self.concurrency, lambda i: fetch(
            self.session, "POST", self.collection, expect=201, data=warmup[i],
            headers=JSON_HEADERS))
        await fetch(self.session, "DELETE", f"{self.collection}?labelSelector=app%3Dbench")

    async def _echo(self, body: bytes) -> None:
        await fetch(self.session, "POST", f"{self.base.url}/echo", expect=201, data=body,
                    headers=JSON_HEADERS)

    def _slices(self) -> list[range]:
        """The objects in R slices, for the server and its baseline to take turns over."""
        step = -(-self.objects // self.runs)
        return [range(i, min(i + step, self.objects)) for i in range(0, self.objects, step)]

    async def _in_turns(self, name: str, unit: str,
                        server: Callable[[range], Awaitable[float]],
                        baseline: Callable[[range], Awaitable[float]]) -> Figure:
        """Operations/s of the server and of its baseline, taking turns slice by slice (so
        that both see the same noise), with each one's CPU time."""
        seconds, cpu = [0.0, 0.0], [0.0, 0.0]
        for objects in self._slices():
            for i, (process, work) in enumerate(((self.api, server), (self.base, baseline))):
                before = process.cpu_seconds()
                seconds[i] += await work(objects)
                cpu[i] += process.cpu_seconds() - before
        return Figure(name, unit, self.objects / seconds[0], self.objects / seconds[1],
                      self.objects, cpu[0], cpu[1])

    def _writes(self, write: Callable[[int], Awaitable[object]],
                ) -> Callable[[range], Awaitable[float]]:
        return lambda objects: run_workers(objects, self.concurrency, write)

    async def _echo_config_map(self, index: int) -> None:
        await self._echo(self.bodies[index])

    async def _create(self, index: int) -> None:
        await fetch(self.session, "POST", self.collection, expect=201, data=self.bodies[index],
                    headers=JSON_HEADERS)

    async def _patch(self, index: int) -> None:
        await fetch(self.session, "PATCH", f"{self.collection}/cm-{index:06d}",
                    data=merge_patch(self.patch_round), headers=PATCH_HEADERS)

    async def creates(self) -> Figure:
        figure = await self._in_turns("create (~1 KB ConfigMap)", "writes/s",
                                      self._writes(self._create),
                                      self._writes(self._echo_config_map))
        return _with_write_target(figure)

    async def patches(self) -> Figure:
        self.patch_round += 1
        figure = await self._in_turns("merge-patch", "writes/s", self._writes(self._patch),
                                      self._writes(self._echo_config_map))
        return _with_write_target(figure)

    async def _timed_list(self, limit: int | None) -> tuple[float, list[bytes]]:
        """Seconds to list every object (page by page if limited), and each page's bytes."""
        pages: list[bytes] = []
        count, token = 0, ""
        started = time.perf_counter()
        while True:
            params = {"limit": str(limit)} if limit else {}
            if token:
                params["continue"] = token
            raw, data = await fetch(self.session, "GET", self.collection, params=params)
            pages.append(raw)
            count += len(data["items"])
            token = data["metadata"].get("continue", "")
            if not token:
                break
        seconds = time.perf_counter() - started
        if count != self.objects:
            raise RuntimeError(f"listed {count} objects, expected {self.objects}")
        return seconds, pages

    async def _timed_static(self, names: list[str]) -> float:
        started = time.perf_counter()
        for name in names:
            await fetch(self.session, "GET", f"{self.base.url}/static/{name}")
        return time.perf_counter() - started

    async def lists(self, limit: int | None) -> Figure:
        _, pages = await self._timed_list(limit)  # a warm-up, and the bytes for the baseline
        names = [f"list-{limit or 'all'}-{i}.json" for i in range(len(pages))]
        for name, raw in zip(names, pages, strict=True):
            (self.static / name).write_bytes(raw)
        await self._timed_static(names)
        server, baseline = [], []
        server_cpu, baseline_cpu = self.api.cpu_seconds(), self.base.cpu_seconds()
        for _ in range(self.runs):  # interleaved, so both see the same noise
            server.append((await self._timed_list(limit))[0])
            baseline.append(await self._timed_static(names))
        server_cpu = (self.api.cpu_seconds() - server_cpu) / self.runs
        baseline_cpu = (self.base.cpu_seconds() - baseline_cpu) / self.runs
        size = sum(len(p) for p in pages) / 1e6
        if limit:
            name = f"list, limit={limit} ({len(pages)} pages, {size:.1f} MB)"
        else:
            name = f"list ({self.objects} objects, {size:.1f} MB)"
        figure = Figure(name, "s", median_of(server), median_of(baseline), 1, server_cpu,
                        baseline_cpu)
        if not limit and self.objects == TARGET_LIST_OBJECTS:
            figure.target = f"< {TARGET_LIST_SECONDS} s"
            figure.met = figure.server < TARGET_LIST_SECONDS
        return figure

    def _watched(self, stream: aiohttp.ClientResponse,
                       write: Callable[[int], Awaitable[object]],
                       ) -> Callable[[range], Awaitable[float]]:
        async def work(objects: range) -> float:
            """Seconds from the first write until the stream has delivered every event."""
            started = time.perf_counter()
            writing = asyncio.ensure_future(run_workers(objects, self.concurrency, write))
            try:
                async with asyncio.timeout(WATCH_TIMEOUT):
                    for received in range(len(objects)):
                        line = await stream.content.readline()
                        if not line:
                            raise RuntimeError(f"a watch ended after {received} events")
                        orjson.loads(line)
                elapsed = time.perf_counter() - started
                await writing
            finally:
                writing.cancel()
            return elapsed

        return work

    async def watch(self) -> Figure:
        _, listing = await fetch(self.session, "GET", self.collection, params={"limit": "1"})
        rv = listing["metadata"]["resourceVersion"]
        watch_url = f"{self.collection}?watch=true&resourceVersion={rv}"
        self.patch_round += 1
        endless = aiohttp.ClientTimeout(total=None)
        async with (
            self.session.get(watch_url, timeout=endless) as server,
            self.session.get(f"{self.base.url}/stream", timeout=endless) as baseline,
        ):
            if server.status != 200 or baseline.status != 200:
                raise RuntimeError(f"watches answered {server.status} and {baseline.status}")
            return await self._in_turns(
                "watch fan-out (1 watcher, while patching)", "events/s",
                self._watched(server, self._patch),
                self._watched(baseline, self._echo_config_map),
            )


def _with_write_target(figure: Figure) -> Figure:
    figure.target = f">= {TARGET_WRITES_PER_SECOND:,.0f}"
    figure.met = figure.server >= TARGET_WRITES_PER_SECOND
    return figure


async def measure(args: argparse.Namespace, workdir: Path) -> list[Figure]:
    static = workdir / "static"
    static.mkdir()
    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)  # + the watcher, the lists
    async with (
        apiserver(workdir / "kubeconfig", workdir / "apiserver.log", "--no-simulation",
                  profile=args.profile) as api,
        Server(baseline_argv(workdir), workdir / "baseline.log") as base,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        bench = Bench(session, api, base, static, objects=args.objects,
                      concurrency=args.concurrency, runs=args.runs)
        await bench.prepare()
        phases = set(args.phases)
        figures = [await bench.creates()]  # always: the other phases need the objects
        if "patch" in phases:
            figures.append(await bench.patches())
        if "list" in phases:
            figures.append(await bench.lists(None))
        if "paginate" in phases:
            figures.append(await bench.lists(PAGE_SIZE))
        if "watch" in phases:
            figures.append(await bench.watch())
    return figures


# -- in process: the cost of the strict checks ---------------------------------------------------

# (label, with the built-in schemas, with the duplicate-key check)
IN_PROCESS_VARIANTS = (
    ("schemas and duplicate-key check (as served)", True, True),
    ("without the built-in schemas", False, True),
    ("without the duplicate-key check", True, False),
    ("without either", False, False),
)


@contextlib.contextmanager
def _built_in_schemas(enabled: bool) -> Iterator[None]:
    """Decode built-ins as if ``kubernetes-validate`` were missing, when not ``enabled``."""
    from kopf_informers.testing.apiserver.admission import _typed_decoding
    compiled = _typed_decoding.compiled
    if not enabled:
        _typed_decoding.compiled = lambda name: None
    try:
        yield
    finally:
        _typed_decoding.compiled = compiled


async def in_process_round(objects: int, schemas: bool, duplicates: bool) -> tuple[float, float]:
    """CPU seconds per create and per merge patch of the server's write path without HTTP:
    decoding the JSON body, the duplicate-key check, the admitted write (admission, validation,
    typed decoding, storage, events) and encoding the answer, over a fresh server's core."""
    from kopf_informers.testing.apiserver import EmbeddedApiServer
    from kopf_informers.testing.apiserver.apimachinery._decoding import (
        duplicate_fields,
        load_json,
    )
    from kopf_informers.testing.apiserver.apimachinery._json import encode
    from kopf_informers.testing.apiserver.auth._user import ADMIN
    from kopf_informers.testing.apiserver.endpoints._admitted import WriteOptions
    from kopf_informers.testing.apiserver.registry._core import present
    from kopf_informers.testing.apiserver.registry._patching import PATCH_TYPES

    server = EmbeddedApiServer(simulate_workloads=False)
    core, writes = server.core, server.http.writes
    core.create(core.storage_info(("", "namespaces")), None, {"metadata": {"name": NAMESPACE}})
    res = core.registry.get("", "v1", "configmaps")
    assert res is not None
    options = WriteOptions(user=ADMIN, field_validation="Warn")  # unset: Warn, as served
    merge = PATCH_TYPES["application/merge-patch+json"]
    bodies, patch = [configmap(i) for i in range(objects)], merge_patch(1)
    with _built_in_schemas(schemas):
        gc.collect()
        started = time.process_time()
        for raw in bodies:
            body = load_json(raw)
            warnings = duplicate_fields(raw, body) if duplicates else []
            encode(await writes.create(res, NAMESPACE, body, options=options,
                                       warnings=warnings))
        created = time.process_time()
        for i in range(objects):
            warnings = duplicate_fields(patch) if duplicates else []
            obj, _ = await writes.patch(res, NAMESPACE, f"cm-{i:06d}", merge, patch,
                                        subresource=None, force=False, options=options,
                                        warnings=warnings)
            encode(present(res, obj))
        patched = time.process_time()
    return (created - started) / objects, (patched - created) / objects


class _Transport(asyncio.Transport):
    """A connection that goes nowhere: what the server writes is kept, and its waiter woken."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def writelines(self, list_of_data: Iterable[Any]) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def _request(method: str, path: str, body: bytes, content_type: str) -> bytes:
    """A request as the benchmark's aiohttp client sends it."""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n"
            f"Accept-Encoding: gzip, deflate\r\nUser-Agent: Python/3 aiohttp/{aiohttp.__version__}"
            f"\r\nContent-Length: {len(body)}\r\nContent-Type: {content_type}\r\n\r\n"
            ).encode() + body


async def _served(app: web.Application, requests: list[bytes], status: bytes) -> float:
    """CPU seconds per request of ``app`` answering ``requests`` in turn on one connection that
    is fed bytes directly: aiohttp's parsing, routing and writing included, no socket."""
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True,
                           access_log=None)
    await runner.setup()
    assert runner.server is not None
    protocol = runner.server()
    transport = _Transport()
    protocol.connection_made(transport)
    loop = asyncio.get_running_loop()
    gc.collect()
    started = time.process_time()
    for raw in requests:
        transport.waiter = loop.create_future()
        protocol.data_received(raw)
        await transport.waiter
        if not transport.written[-1].startswith(b"HTTP/1.1 " + status):
            raise RuntimeError(transport.written[-1][:300].decode(errors="replace"))
        transport.written.clear()
    elapsed = time.process_time() - started
    await runner.cleanup()
    return elapsed / len(requests)


async def over_http_round(objects: int) -> tuple[float, float, float]:
    """CPU seconds per create, per merge patch and per echo, through aiohttp without a socket."""
    from kopf_informers.testing.apiserver import EmbeddedApiServer

    server = EmbeddedApiServer(simulate_workloads=False)
    core = server.core
    core.create(core.storage_info(("", "namespaces")), None, {"metadata": {"name": NAMESPACE}})
    app = server.http.make_app()
    collection = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    json_type, merge_type = JSON_HEADERS["Content-Type"], PATCH_HEADERS["Content-Type"]
    creates = [_request("POST", collection, configmap(i), json_type) for i in range(objects)]
    patches = [_request("PATCH", f"{collection}/cm-{i:06d}", merge_patch(1), merge_type)
               for i in range(objects)]
    create = await _served(app, creates, b"201")
    patch = await _served(app, patches, b"200")
    with tempfile.TemporaryDirectory() as static:
        echoes = [_request("POST", "/echo", configmap(i), json_type) for i in range(objects)]
        echo = await _served(baseline_app(Path(static)), echoes, b"201")
    return create, patch, echo


async def in_process(args: argparse.Namespace) -> str:
    """The variants in turns, R times; the best of each, in µs per write."""
    best: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for label, schemas, duplicates in IN_PROCESS_VARIANTS:
            times = await in_process_round(args.objects, schemas, duplicates)
            best[label] = [min(pair) for pair in zip(best.get(label, times), times,
                                                     strict=True)]
    http: list[float] = []
    for _ in range(args.runs):
        times = await over_http_round(args.objects)
        http = [min(pair) for pair in zip(http or times, times, strict=True)]
    full = best[IN_PROCESS_VARIANTS[0][0]]
    lines = [f"the write path in process, without HTTP: {args.objects} ConfigMaps, CPU µs per "
             f"write, best of {args.runs}; cost: the time it adds to the served path's",
             f"{'variant':48}  {'create':>8}  {'merge-patch':>11}"]
    for label, *_ in IN_PROCESS_VARIANTS:
        create, patch = best[label]
        lines.append(f"{label:48}  {create * 1e6:8.1f}  {patch * 1e6:11.1f}")
    for label, *_ in IN_PROCESS_VARIANTS[1:]:
        create, patch = best[label]
        lines.append(f"{'cost, ' + label[len('without '):]:48}  "
                     f"{(full[0] - create) * 1e6:8.1f}  {(full[1] - patch) * 1e6:11.1f}")
    lines.append(f"{'whole requests through aiohttp, no socket':48}  {http[0] * 1e6:8.1f}  "
                 f"{http[1] * 1e6:11.1f}")
    lines.append(f"{'the echo baseline the same way':48}  {http[2] * 1e6:8.1f}")
    return "\n".join(lines)


# -- output ---------------------------------------------------------------------------------------


def render(figures: list[Figure], args: argparse.Namespace) -> str:
    def number(value: float, unit: str) -> str:
        return f"{value:.3f} s" if unit == "s" else f"{value:,.0f} {unit}"

    header = ("measurement", "server", "baseline", "cost", "CPU cost", "CPU-bound", "target",
              "met")
    rows = [header] + [
        (f.name, number(f.server, f.unit), number(f.baseline, f.unit), f"{f.cost:.2f}x",
         # Under one clock tick of CPU (tiny runs, or no /proc) there is nothing to show.
         f"{f.cpu_cost:.2f}x" if f.server_cpu and f.baseline_cpu else "-",
         number(f.cpu_bound, f.unit) if f.server_cpu else "-", f.target or "-",
         "-" if f.met is None else ("yes" if f.met else "NO"))
        for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        f"embedded API server: {args.objects} objects, concurrency {args.concurrency}, "
        f"{args.runs} list runs, {os.cpu_count()} CPUs. cost: server time per operation over "
        f"the baseline's; CPU cost: the same in server CPU time; CPU-bound: the server's figure "
        f"if its CPU time were all it took.",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def report(figures: list[Figure], args: argparse.Namespace, load: tuple[float, float],
           ) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "aiohttp": aiohttp.__version__,
                    "load_average_1min": {"before": load[0], "after": load[1]}},
        "objects": args.objects, "concurrency": args.concurrency, "runs": args.runs,
        "figures": [f.to_json() for f in figures],
    }


def load_average() -> float:
    """The 1-minute load average: how busy the machine was with other work (-1 if unknown)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return -1.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=TARGET_LIST_OBJECTS,
                        help="objects to create, patch, list and watch (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent client workers for writes (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5,
                        help="runs of each list (the median is reported), and turns the server "
                        "and its baseline take over the writes (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    parser.add_argument("--profile", metavar="PATH",
                        help="run the server under cProfile and save its stats here")
    parser.add_argument("--phases", type=lambda s: s.split(","), default=list(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)} (create always runs)")
    parser.add_argument("--in-process", action="store_true",
                        help="instead, time the write path without HTTP in this process, with "
                        "and without the built-in schemas and the duplicate-key check")
    parser.add_argument("--serve-baseline", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.objects < 1 or args.concurrency < 1 or args.runs < 1:
        parser.error("--objects, --concurrency and --runs must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        static = Path(args.serve_baseline)
        static.mkdir(parents=True, exist_ok=True)
        asyncio.run(serve_baseline(static))
        return 0
    if args.in_process:
        print(asyncio.run(in_process(args)))
        return 0
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-apiserver-") as workdir:
        figures = asyncio.run(measure(args, Path(workdir)))
    print(render(figures, args))
    if args.json:
        data = report(figures, args, (load_before, load_average()))
        Path(args.json).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
