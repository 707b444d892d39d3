"""Fan-out: how fast do N Foos converge under the Foo operator, against plain Kopf?

Usage::

    python bench/fanout.py [--foos 1000] [--quick] [--pairs 3] [--restart] [--no-steady]
                           [--json PATH]
    python bench/fanout.py --summarize run1.json run2.json ...

For each of two operators, on a fresh embedded API server each time (``python -m kopf_informers
apiserver --port 0 --kubeconfig PATH``, a child process, with its workload simulation on: a
Deployment's status follows its spec after 50 ms, so that ``availableReplicas`` has a value):

1. apply ``operators/foo-crd.yaml`` and start the operator as ``kopf run --standalone -A`` in a
   child process (``KUBECONFIG`` set); it is ready when it watches Foos and Deployments (and,
   for kopf-informers, once it logs that its caches have synced);
2. **fan-out**: create N Foos at once (aiohttp, 32 connections), each with ``replicas`` 1 to 3, and
   time until every Deployment exists, owned by its Foo, and every Foo's
   ``status.availableReplicas`` equals its ``spec.replicas``. This script follows Foos and
   Deployments with one watch each (a list, then a watch from its resourceVersion), so that it
   sees the moment of convergence without polling the server;
3. **steady state**: once the operator is quiet (no watch event for 1 s), touch every Foo once
   (a label, by merge patch) and wait until the operator has handled every touch: for
   kopf-informers, until its Kopf probe counts N more reconciles (Kopf caches probe results for
   10 s, so this phase lasts about 10 s); for plain Kopf, until every Foo's
   ``kopf.zalando.org/last-handled-configuration`` annotation holds the label. The server's
   journal (``GET /_embedded/journal``) then gives the operator's requests in that window, by
   its User-Agent (``kopf-informers/…``, Kopf's ``kopf/…``, the official client's
   ``OpenAPI-Generator/…``): the GETs of Foos and Deployments per reconcile;
4. stop the operator (SIGTERM); with ``--restart``, start it again on the N converged Foos
   and time until it watches Foos and Deployments (kopf-informers: and logged that its caches
   synced) and until it is idle (its CPU time, read every 0.1 s, rose by no more than 0.02 s in
   any reading for 2 s: the time is that of its last busy reading), with its CPU seconds and,
   from the journal, its requests until then: lists, watches, discovery, GETs of objects and
   writes;
5. stop the operator and the server.

Each pair runs kopf-informers, then plain Kopf (``--pairs``, default 3, in turn: ours, plain,
ours, plain, ...); the ratios (plain Kopf's figure over ours) are taken pair by pair and
reported as their median with their spread, each run with the 1-minute load average at its
start. ``--summarize`` merges the pairs of several ``--json`` files (one 10,000-Foo pair per
command keeps each under the bench lock's ten minutes).

The operators:

- **kopf-informers**: ``operators/foo.py`` as it is (``@kopf_informers.reconcile``, 8 workers,
  owner watching of Deployments, reads from informer caches);
- **plain Kopf**: ``bench/plain_kopf_foo.py``, the same job the way Kopf's documentation shows
  (``on.create``/``on.update``/``on.resume``, ``kopf.adopt``, the official client's GET, create
  and PATCH, an ``on.event`` handler on Deployments writing the owner's status), with Kopf's
  default settings; see its docstring.

Both run the same way, one after the other, on the same 2 shared cores, so the ratio of their
times is the figure; CPU seconds of the operator and of the server during the fan-out are read
from ``/proc`` to show where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from _harness import STARTUP_TIMEOUT, STOP_TIMEOUT, Child, apiserver

Obj = dict[str, Any]

HERE = Path(__file__).resolve().parent
CRD_FILE = HERE.parent / "operators" / "foo-crd.yaml"
NAMESPACE = "default"
FOOS = f"/apis/samplecontroller.k8s.io/v1alpha1/namespaces/{NAMESPACE}/foos"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
BENCH_AGENT = "fanout-bench/1"  # this script's requests, told apart in the journal
OPERATOR_AGENTS = ("kopf-informers/", "kopf/", "OpenAPI-Generator/")
TOUCH_LABEL = "bench.kopf-informers.dev/touched"
LAST_HANDLED = "kopf.zalando.org/last-handled-configuration"
CONCURRENCY = 32
PAGE_SIZE = 500
QUIET = 1.0  # seconds without a watch event: the operator is done for now
PROBE_INTERVAL = 1.0
STEADY_TIMEOUT = 60.0
TARGET_SPEEDUP = 4.0  # wall time to convergence, plain Kopf's over ours (issue 15)
TARGET_CPU = 5.0  # the operator's CPU seconds during the fan-out, plain Kopf's over ours
IDLE_SAMPLE = 0.1  # seconds between CPU readings of a restarted operator
IDLE_BUSY = 0.02  # CPU seconds within one sample: the operator was working then
IDLE_WINDOW = 2.0  # seconds without a busy sample (once synced): the operator is idle
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def converge_timeout(foos: int) -> float:
    """A bound on each fan-out: ten times what plain Kopf takes here (about 10 ms per Foo)."""
    return max(60.0, 0.1 * foos)


def foo_name(i: int) -> str:
    return f"foo-{i:05d}"


def deployment_name(foo: str) -> str:
    return f"{foo}-app"


def replicas_of(i: int) -> int:
    return i % 3 + 1


# -- child processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class Profiler:
    """py-spy sampling a process (``--profile``): raw collapsed stacks, written when stopped."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid, self.output = pid, output
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Profiler:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.proc = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(self.pid), "--rate", "250", "--nonblocking",
            "--format", "raw", "--output", str(self.output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- the server -----------------------------------------------------------------------------------


def session_for(kubeconfig: Path) -> aiohttp.ClientSession:
    """A session with the kubeconfig's server and token (the embedded server's own kubeconfig)."""
    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}",
               "User-Agent": BENCH_AGENT}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    return aiohttp.ClientSession(server, headers=headers, connector=connector)


async def request(session: aiohttp.ClientSession, method: str, url: str, *,
                  body: Any = None, content_type: str = "application/json",
                  expect: tuple[int, ...] = (200, 201), params: dict[str, str] | None = None,
                  ) -> Any:
    data = None if body is None else orjson.dumps(body)
    headers = {"Content-Type": content_type} if data is not None else None
    async with session.request(method, url, data=data, headers=headers,
                               params=params) as response:
        raw = await response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {url}: {response.status} {raw[:300]!r}")
        return orjson.loads(raw) if raw else None


async def apply_crd(session: aiohttp.ClientSession) -> None:
    await request(session, "POST", CRDS, body=yaml.safe_load(CRD_FILE.read_text()))
    await wait_for(lambda: served(session), STARTUP_TIMEOUT, "the Foo CRD to be served")


async def served(session: aiohttp.ClientSession) -> bool:
    async with session.get(FOOS, params={"limit": "1"}) as response:
        return response.status == 200


async def journal(session: aiohttp.ClientSession, since: int = 0) -> list[Obj]:
    """The server's journal: the requests after the one numbered ``since`` (0: all kept)."""
    entries: list[Obj] = (await request(session, "GET", "/_embedded/journal",
                                        params={"since": str(since)}))["entries"]
    return entries


async def journal_total(session: aiohttp.ClientSession) -> int:
    """The number of the server's latest request: read the journal after it with ``since``."""
    answer = await request(session, "GET", "/_embedded/journal", params={"since": str(2**62)})
    total: int = answer["total"]
    return total


def is_operators(entry: Obj) -> bool:
    return str(entry.get("user_agent", "")).startswith(OPERATOR_AGENTS)


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float, what: str,
                   interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


# -- following the Foos and Deployments -----------------------------------------------------------


class Follower:
    """One resource in the namespace, kept current by a paginated list and then a watch."""

    def __init__(self, session: aiohttp.ClientSession, path: str,
                 on_change: Callable[[str, Obj | None], None]) -> None:
        self.session, self.path, self.on_change = session, path, on_change
        self.last_event = time.monotonic()
        self.known: set[str] = set()
        self.listed = asyncio.Event()  # the first list is in (the watch replays from there)

    async def run(self) -> None:
        while True:
            resource_version: str | None = await self._relist()
            while resource_version is not None:
                resource_version = await self._watch(resource_version)

    async def _relist(self) -> str:
        seen: set[str] = set()
        params = {"limit": str(PAGE_SIZE)}
        while True:
            page = await request(self.session, "GET", self.path, params=params)
            for obj in page.get("items") or ():
                seen.add(obj["metadata"]["name"])
                self.on_change(obj["metadata"]["name"], obj)
            if not page["metadata"].get("continue"):
                break
            params = {"limit": str(PAGE_SIZE), "continue": page["metadata"]["continue"]}
        for name in self.known - seen:
            self.on_change(name, None)
        self.known = seen
        self.listed.set()
        resource_version: str = page["metadata"]["resourceVersion"]
        return resource_version

    async def _watch(self, resource_version: str) -> str | None:
        """Follow the watch until it ends: its last resourceVersion, or None to relist."""
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(self.path, params=params, timeout=timeout) as response:
            if response.status != 200:
                return None
            async for line in response.content:
                event = orjson.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    return None  # 410 Gone and the like: start over
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                deleted = event["type"] == "DELETED"
                (self.known.discard if deleted else self.known.add)(name)
                self.on_change(name, None if deleted else obj)
                self.last_event = time.monotonic()
        return resource_version


@dataclasses.dataclass
class Fleet:
    """What the N Foos and their Deployments look like now, as this script's watches say."""

    foos: int
    wanted: dict[str, int] = dataclasses.field(init=False)  # Foo name -> its replicas
    unconverged: set[str] = dataclasses.field(init=False)  # Foos whose status is not right
    missing: set[str] = dataclasses.field(init=False)  # Foos without their Deployment
    unhandled: set[str] = dataclasses.field(default_factory=set)  # touched, not handled (Kopf)
    touch: str | None = None
    started: float = 0.0
    deployed_at: float | None = None  # seconds after `started`
    converged_at: float | None = None
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.wanted = {foo_name(i): replicas_of(i) for i in range(self.foos)}
        self.unconverged, self.missing = set(self.wanted), set(self.wanted)

    def on_foo(self, name: str, obj: Obj | None) -> None:
        if name not in self.wanted:
            return
        available = ((obj or {}).get("status") or {}).get("availableReplicas")
        if obj is not None and available == self.wanted[name]:
            self.unconverged.discard(name)
        else:
            self.unconverged.add(name)
        if self.touch is not None and obj is not None and handled(obj, self.touch):
            self.unhandled.discard(name)
        self._update()

    def on_deployment(self, name: str, obj: Obj | None) -> None:
        owners = [ref.get("name") for ref in ((obj or {}).get("metadata") or {})
                  .get("ownerReferences") or () if ref.get("kind") == "Foo"]
        for owner in owners or [name.removesuffix("-app")]:
            if owner in self.wanted and deployment_name(owner) == name:
                (self.missing.discard if obj is not None else self.missing.add)(owner)
        self._update()

    def _update(self) -> None:
        now = time.perf_counter() - self.started
        if not self.missing and self.deployed_at is None:
            self.deployed_at = now
        if not self.missing and not self.unconverged and self.converged_at is None:
            self.converged_at = now
        self.changed.set()

    async def wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether the condition came true within the timeout."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
        return True


def handled(foo: Obj, touch: str) -> bool:
    """Whether Kopf has recorded handling this Foo with the touch label."""
    raw = ((foo.get("metadata") or {}).get("annotations") or {}).get(LAST_HANDLED)
    if not raw:
        return False
    labels = (json.loads(raw).get("metadata") or {}).get("labels") or {}
    return bool(labels.get(TOUCH_LABEL) == touch)


async def quiet(followers: Sequence[Follower], timeout: float) -> None:
    """Until no watch event came for QUIET seconds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        idle = time.monotonic() - max(f.last_event for f in followers)
        if idle >= QUIET:
            return
        await asyncio.sleep(QUIET - idle + 0.05)


# -- the operators --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operator:
    name: str
    script: Path
    ready_log: str | None  # a line the operator logs once ready, if any
    probe: bool  # counts reconciles through Kopf's probe (kopf-informers)


OPERATORS = (
    Operator("kopf-informers", HERE.parent / "operators" / "foo.py",
             ready_log="caches synced", probe=True),
    Operator("plain Kopf", HERE / "plain_kopf_foo.py", ready_log=None, probe=False),
)


async def ready(session: aiohttp.ClientSession, operator: Operator, child: Child,
                since: int = 0) -> bool:
    """Whether the operator watches Foos and Deployments (in requests after the journal's
    ``since``) and, if it says so in its log, its caches are synced."""
    child.check_running()
    watched = {e["resource"] for e in await journal(session, since)
               if is_operators(e) and e["verb"] == "watch"}
    if not {"foos", "deployments"} <= watched:
        return False
    return operator.ready_log is None or operator.ready_log in child.log.read_text(errors="replace")


async def reconciles(session: aiohttp.ClientSession, liveness: str) -> tuple[int, int]:
    """kopf-informers' reconciles so far and its queue depth, from Kopf's probe endpoint."""
    async with session.get(liveness) as response:
        probe = await response.json(loads=orjson.loads)
    controllers = probe["kopf_informers"]["controllers"].values()
    return (sum(sum(c["reconciles"].values()) for c in controllers),
            sum(c["depth"] for c in controllers))


# -- one run --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    operator: str
    foos: int
    created: float = 0.0  # seconds to send the N creates
    deployed: float | None = None  # seconds until every Deployment existed
    converged: float | None = None  # ... and every status was right (None: timed out)
    unconverged_at_timeout: int = 0
    operator_cpu: float = 0.0  # CPU seconds during the fan-out
    server_cpu: float = 0.0
    # The operator's requests, "verb resource client" -> count (see ``count_requests``).
    fanout_requests: dict[str, int] = dataclasses.field(default_factory=dict)
    fanout_reconciles: int | None = None  # reconciles until converged (kopf-informers' probe)
    steady_reconciles: int = 0
    steady_requests: dict[str, int] = dataclasses.field(default_factory=dict)
    log_errors: int = 0
    load: float = 0.0  # the 1-minute load average as this run started
    # --restart: the operator started again on the N converged Foos.
    restart_synced: float | None = None  # seconds from its start until it watches (and synced)
    restart_idle: float | None = None  # ... until its last busy moment before going idle
    restart_cpu: float = 0.0  # its CPU seconds until idle
    restart_reconciles: int | None = None  # its reconciles until idle (kopf-informers' probe)
    restart_requests: dict[str, int] = dataclasses.field(default_factory=dict)


def count_requests(entries: Sequence[Obj], since: float, until: float) -> dict[str, int]:
    """The operator's requests in a window of the journal, by verb, resource and client:
    ``{"get deployments OpenAPI-Generator": 1000, ...}``."""
    return dict(Counter(
        f"{e['verb']} {e['resource'] or e['path']} {e['user_agent'].split('/')[0]}"
        for e in entries if is_operators(e) and since <= e["time"] <= until
    ))


def total(requests: dict[str, int]) -> int:
    return sum(requests.values())


def writes(requests: dict[str, int]) -> int:
    """Requests that change something (create, update, patch, delete)."""
    return sum(n for key, n in requests.items() if key.split()[0] in WRITE_VERBS)


def by_verb(requests: dict[str, int], *verbs: str) -> int:
    return sum(n for key, n in requests.items() if key.split()[0] in verbs)


def discovery(requests: dict[str, int]) -> int:
    """GETs of API groups and versions (discovery: the key names a path, not a resource)."""
    return sum(n for key, n in requests.items()
               if key.split()[0] == "get" and key.split()[1].startswith("/"))


def gets(requests: dict[str, int]) -> int:
    """GETs of Foos and Deployments (and their subresources) among the requests."""
    return sum(n for key, n in requests.items()
               if key.split()[0] == "get" and key.split()[1].split("/")[0] in ("foos",
                                                                               "deployments"))


async def create_foos(session: aiohttp.ClientSession, foos: int) -> None:
    async def create(i: int) -> None:
        name = foo_name(i)
        await request(session, "POST", FOOS, body={
            "apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo",
            "metadata": {"name": name},
            "spec": {"deploymentName": deployment_name(name), "replicas": replicas_of(i)},
        })

    await asyncio.gather(*(create(i) for i in range(foos)))


async def touch_foos(session: aiohttp.ClientSession, foos: int, value: str) -> None:
    async def touch(i: int) -> None:
        await request(session, "PATCH", f"{FOOS}/{foo_name(i)}",
                      body={"metadata": {"labels": {TOUCH_LABEL: value}}},
                      content_type="application/merge-patch+json")

    await asyncio.gather(*(touch(i) for i in range(foos)))


async def fan_out(session: aiohttp.ClientSession, fleet: Fleet, result: Result,
                  server: Child, child: Child) -> None:
    cpu_before = child.cpu_seconds(), server.cpu_seconds()
    seq = await journal_total(session)
    since = time.time()
    fleet.started = time.perf_counter()
    await create_foos(session, fleet.foos)
    result.created = time.perf_counter() - fleet.started
    converged = await fleet.wait(lambda: fleet.converged_at is not None,
                                 converge_timeout(fleet.foos))
    until = time.time()
    result.operator_cpu = child.cpu_seconds() - cpu_before[0]
    result.server_cpu = server.cpu_seconds() - cpu_before[1]
    result.deployed, result.converged = fleet.deployed_at, fleet.converged_at
    if not converged:
        result.unconverged_at_timeout = len(fleet.unconverged | fleet.missing)
        return
    result.fanout_requests = count_requests(await journal(session, seq), since, until)


async def steady_state(session: aiohttp.ClientSession, fleet: Fleet, result: Result,
                       operator: Operator, liveness: str, followers: Sequence[Follower]) -> None:
    await quiet(followers, STEADY_TIMEOUT)
    before = (await reconciles(session, liveness))[0] if operator.probe else 0
    seq = await journal_total(session)
    since = time.time()
    fleet.touch, fleet.unhandled = "1", set(fleet.wanted)
    await touch_foos(session, fleet.foos, fleet.touch)
    if operator.probe:
        async def all_reconciled() -> bool:
            done, depth = await reconciles(session, liveness)
            return done - before >= fleet.foos and depth == 0
        await wait_for(all_reconciled, STEADY_TIMEOUT, "the touched Foos' reconciles",
                       interval=PROBE_INTERVAL)
        result.steady_reconciles = (await reconciles(session, liveness))[0] - before
    else:
        if not await fleet.wait(lambda: not fleet.unhandled, STEADY_TIMEOUT):
            raise TimeoutError(f"{len(fleet.unhandled)} touched Foos were not handled")
        result.steady_reconciles = fleet.foos  # each Foo's update handler ran (Kopf says so)
    await quiet(followers, STEADY_TIMEOUT)
    result.steady_requests = count_requests(await journal(session, seq), since, time.time())


def operator_child(operator: Operator, kubeconfig: Path, liveness: str, log: Path) -> Child:
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "-A",
            f"--liveness={liveness}", str(operator.script)]
    return Child(argv, log, {**os.environ, "KUBECONFIG": str(kubeconfig)})


@contextlib.asynccontextmanager
async def started_operator(operator: Operator, kubeconfig: Path, liveness: str, log: Path,
                           session: aiohttp.ClientSession) -> AsyncIterator[Child]:
    seq = await journal_total(session)
    async with operator_child(operator, kubeconfig, liveness, log) as child:
        await wait_for(lambda: ready(session, operator, child, seq), STARTUP_TIMEOUT,
                       f"{operator.name} to be ready")
        yield child


def restart_timeout(foos: int) -> float:
    """A bound on a restart until idle: plain Kopf resumes each Foo (10-50 ms each here)."""
    return max(60.0, 0.1 * foos)


async def restarted(session: aiohttp.ClientSession, result: Result, operator: Operator,
                    kubeconfig: Path, liveness: str, log: Path, server: Child,
                    profile: Path | None, tag: str) -> None:
    """The operator started again on the N converged Foos: the seconds until it watches (and,
    for kopf-informers, its caches synced), until it went idle (no CPU sample over IDLE_BUSY
    for IDLE_WINDOW seconds), its CPU seconds and its requests until then."""
    seq = await journal_total(session)
    since = time.time()
    async with operator_child(operator, kubeconfig, liveness, log) as child:
        started = last_busy = time.perf_counter()
        previous, synced = child.cpu_seconds(), None
        async with profiled(profile, f"{tag}-restart", child, server):
            while True:
                await asyncio.sleep(IDLE_SAMPLE)
                now, cpu = time.perf_counter(), child.cpu_seconds()
                if cpu - previous >= IDLE_BUSY:
                    last_busy = now
                previous = cpu
                if synced is None and await ready(session, operator, child, seq):
                    synced = now - started
                if synced is not None and now - last_busy >= IDLE_WINDOW:
                    break
                if now - started > (bound := restart_timeout(result.foos)):
                    raise TimeoutError(f"{operator.name} was not idle {bound} s after its "
                                       "restart")
        result.restart_synced = synced
        result.restart_idle = max(last_busy - started, synced or 0.0)
        result.restart_cpu = child.cpu_seconds()
        if operator.probe:
            result.restart_reconciles = (await reconciles(session, liveness))[0]
        result.restart_requests = count_requests(await journal(session, seq), since, time.time())


@contextlib.asynccontextmanager
async def followed(session: aiohttp.ClientSession, fleet: Fleet) -> AsyncIterator[list[Follower]]:
    """This script's watches of Foos and Deployments, running (their first lists done)."""
    followers = [Follower(session, FOOS, fleet.on_foo),
                 Follower(session, DEPLOYMENTS, fleet.on_deployment)]
    tasks = [asyncio.create_task(f.run()) for f in followers]
    try:
        await asyncio.wait_for(asyncio.gather(*(f.listed.wait() for f in followers)),
                               STARTUP_TIMEOUT)
        yield followers
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if not isinstance(outcome, asyncio.CancelledError):
                raise RuntimeError("this script's watch failed") from outcome


@contextlib.asynccontextmanager
async def profiled(directory: Path | None, tag: str, *children: Child) -> AsyncIterator[None]:
    """py-spy on each child (operator, server) while the block runs, if asked to."""
    async with contextlib.AsyncExitStack() as stack:
        for role, child in zip(("operator", "server"), children, strict=True):
            if directory is not None and child.proc is not None:
                output = directory / f"{tag}-{role}.txt"
                await stack.enter_async_context(Profiler(child.proc.pid, output))
        yield


@dataclasses.dataclass(frozen=True)
class Phases:
    steady: bool = True  # the steady state after the fan-out
    restart: bool = False  # then the operator stopped and started again


async def run(operator: Operator, foos: int, workdir: Path, profile: Path | None,
              phases: Phases, turn: int = 0) -> Result:
    """One operator on a fresh server: ready, fan-out, steady state, stop (and restart)."""
    kubeconfig = workdir / "kubeconfig"
    tag = f"{operator.name.replace(' ', '-')}-{turn}"
    result = Result(operator.name, foos, load=float(load_average().split()[0]))
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    async with (apiserver(kubeconfig, workdir / f"apiserver-{tag}.log") as server,
                session_for(kubeconfig) as session):
        await apply_crd(session)
        log = workdir / f"operator-{tag}.log"
        fleet = Fleet(foos)
        async with followed(session, fleet) as followers:
            async with started_operator(operator, kubeconfig, liveness, log, session) as child:
                async with profiled(profile, tag, child, server):
                    await fan_out(session, fleet, result, server, child)
                if result.converged is not None and operator.probe:
                    # Once quiet, the probe's first answer (Kopf caches it for 10 s): the
                    # reconciles of the fan-out, to its last no-op one.
                    await quiet(followers, STEADY_TIMEOUT)
                    result.fanout_reconciles = (await reconciles(session, liveness))[0]
                if result.converged is not None and phases.steady:
                    await steady_state(session, fleet, result, operator, liveness, followers)
                if result.converged is not None and phases.restart:
                    await quiet(followers, STEADY_TIMEOUT)
            result.log_errors = count_errors(log)
            if result.converged is not None and phases.restart:
                restart_log = workdir / f"operator-{tag}-restart.log"
                await restarted(session, result, operator, kubeconfig, liveness, restart_log,
                                server, profile, tag)
                result.log_errors += count_errors(restart_log)
    return result


def count_errors(log: Path) -> int:
    """Lines the operator logged at ERROR level (failed reconciles, handlers, requests)."""
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if "[ERROR" in line or " ERROR " in line)


# -- the report -----------------------------------------------------------------------------------


def seconds(value: float | None, timeout: float) -> str:
    return f"{value:.2f} s" if value is not None else f"> {timeout:.0f} s"


def per(count: int, n: int) -> str:
    return f"{count / n:.2f}" if n else "-"


def speedup(ours: float | None, theirs: float | None, timeout: float,
            target: float = TARGET_SPEEDUP) -> tuple[str, str]:
    """Their figure over ours ("x less"), and whether it meets the target ("-" if unknown)."""
    if not ours:
        return "-", "-"
    ratio = (theirs or timeout) / ours
    shown = f"{ratio:.2f}x" if theirs else f">= {ratio:.2f}x"  # they timed out: a lower bound
    return shown, "yes" if ratio >= target else "NO"


def rows(ours: Result, theirs: Result, timeout: float) -> list[tuple[str, ...]]:
    """The table: a figure for each operator; the ratio is plain Kopf's over kopf-informers'."""
    n = ours.foos

    def row(figure: str, value: Callable[[Result], str], *rest: str) -> tuple[str, ...]:
        return (figure, value(ours), value(theirs), *rest, *("",) * (3 - len(rest)))

    converged, met = speedup(ours.converged, theirs.converged, timeout)
    cpu, cpu_met = speedup(ours.operator_cpu, theirs.operator_cpu, timeout, TARGET_CPU)
    no_gets = "yes" if ours.steady_reconciles and gets(ours.steady_requests) == 0 else "NO"
    table = [
        ("figure", "kopf-informers", "plain Kopf", "ratio", "target", "met?"),
        row("1-minute load average at the start", lambda r: f"{r.load:.2f}"),
        row(f"{n:,} Foos created (POSTs sent)", lambda r: f"{r.created:.2f} s"),
        row("every Deployment exists", lambda r: seconds(r.deployed, timeout)),
        row("converged: every status.availableReplicas",
            lambda r: seconds(r.converged, timeout), converged, f">= {TARGET_SPEEDUP:g}x", met),
        row("operator CPU during the fan-out", lambda r: f"{r.operator_cpu:.1f} s", cpu,
            f">= {TARGET_CPU:g}x", cpu_met),
        row("server CPU during the fan-out", lambda r: f"{r.server_cpu:.1f} s"),
        row("operator's API requests per Foo, fan-out",
            lambda r: per(total(r.fanout_requests), n)),
        row("  of which GETs of foos/deployments", lambda r: per(gets(r.fanout_requests), n)),
        row("reconciles per Foo, fan-out (kopf-informers' probe)",
            lambda r: "-" if r.fanout_reconciles is None else per(r.fanout_reconciles, n)),
    ]
    if ours.steady_reconciles or theirs.steady_reconciles:
        table += [
            row("steady state: reconciles of N touched Foos",
                lambda r: f"{r.steady_reconciles:,}"),
            row("steady state: GETs per reconcile",
                lambda r: per(gets(r.steady_requests), r.steady_reconciles), "", "0 (ours)",
                no_gets),
            row("steady state: all requests per reconcile",
                lambda r: per(total(r.steady_requests), r.steady_reconciles)),
        ]
    if ours.restart_idle is not None or theirs.restart_idle is not None:
        idle, _ = speedup(ours.restart_idle, theirs.restart_idle, timeout, 0.0)
        quiet_restart = "yes" if ours.restart_idle is not None and not writes(
            ours.restart_requests) and not object_gets(ours) else "NO"
        table += [
            row("restart: watching (and caches synced)",
                lambda r: seconds(r.restart_synced, restart_timeout(n))),
            row("restart: synced and idle",
                lambda r: seconds(r.restart_idle, restart_timeout(n)), idle),
            row("restart: operator CPU until idle", lambda r: f"{r.restart_cpu:.1f} s"),
            row("restart: reconciles (kopf-informers' probe)",
                lambda r: "-" if r.restart_reconciles is None else f"{r.restart_reconciles:,}"),
            row("restart: lists, watches",
                lambda r: f"{by_verb(r.restart_requests, 'list')}, "
                          f"{by_verb(r.restart_requests, 'watch')}"),
            row("restart: discovery GETs", lambda r: str(discovery(r.restart_requests))),
            row("restart: GETs of objects, writes",
                lambda r: f"{object_gets(r)}, {writes(r.restart_requests)}",
                "", "0, 0 (ours)", quiet_restart),
        ]
    table.append(row("ERROR lines in the operator's log", lambda r: str(r.log_errors)))
    return table


def object_gets(result: Result) -> int:
    return by_verb(result.restart_requests, "get") - discovery(result.restart_requests)


def print_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for number, row in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def spread(ratios: Sequence[float]) -> str:
    if not ratios:
        return "-"
    return (f"{statistics.median(ratios):.2f}x (spread {min(ratios):.2f}-{max(ratios):.2f}x, "
            f"{len(ratios)} pairs)")


def summarize(pairs: Sequence[tuple[Result, Result]]) -> None:
    """The paired ratios (plain Kopf's figure over ours, pair by pair): medians and spread."""
    print(f"# {len(pairs)} pairs, each kopf-informers then plain Kopf on fresh servers")
    print("pair | load ours, Kopf | converged ours / Kopf | ratio | operator CPU ours / Kopf "
          "| ratio | server CPU ours / Kopf")
    wall, cpu, idle = [], [], []
    for number, (ours, theirs) in enumerate(pairs, 1):
        w = theirs.converged / ours.converged if ours.converged and theirs.converged else None
        c = theirs.operator_cpu / ours.operator_cpu if ours.operator_cpu else None
        wall += [w] if w is not None else []
        cpu += [c] if c is not None else []
        if ours.restart_idle and theirs.restart_idle:
            idle.append(theirs.restart_idle / ours.restart_idle)
        print(f"{number} | {ours.load:.2f}, {theirs.load:.2f} | {ours.converged or 0:.2f} / "
              f"{theirs.converged or 0:.2f} s | {w or 0:.2f}x | {ours.operator_cpu:.1f} / "
              f"{theirs.operator_cpu:.1f} s | {c or 0:.2f}x | {ours.server_cpu:.1f} / "
              f"{theirs.server_cpu:.1f} s")
    met = "yes" if wall and statistics.median(wall) >= TARGET_SPEEDUP else "NO"
    print(f"wall time to convergence, Kopf's / ours: {spread(wall)}; "
          f"target >= {TARGET_SPEEDUP:g}x: {met}")
    met = "yes" if cpu and statistics.median(cpu) >= TARGET_CPU else "NO"
    print(f"operator CPU during the fan-out, Kopf's / ours: {spread(cpu)}; "
          f"target >= {TARGET_CPU:g}x: {met}")
    if idle:
        print(f"restart until synced and idle, Kopf's / ours: {spread(idle)}")


def print_requests(result: Result) -> None:
    for phase, requests in (("fan-out", result.fanout_requests),
                            ("steady state", result.steady_requests),
                            ("restart", result.restart_requests)):
        listed = ", ".join(f"{key} {n}" for key, n in sorted(requests.items()))
        if listed or phase == "fan-out":
            print(f"# {result.operator}, {phase}: {listed or 'no requests'}")


async def bench(foos: int, operators: Sequence[Operator], workdir: Path, profile: Path | None,
                pairs: int, phases: Phases) -> dict[str, Any]:
    """Both operators in turn, ``pairs`` times (or one of them, as many times); prints the
    tables and returns the figures."""
    load_before, started = load_average(), time.perf_counter()
    results: list[list[Result]] = []
    for turn in range(pairs):
        results.append([await run(operator, foos, workdir, profile, phases, turn)
                        for operator in operators])
        print(f"# fanout: N={foos:,} Foos, turn {turn + 1} of {pairs}; {os.cpu_count()} CPUs; "
              f"load average {load_before} before, {load_average()} now; "
              f"{time.perf_counter() - started:.0f} s so far; Python {platform.python_version()}")
        if len(operators) == 2:
            print_table(rows(results[-1][0], results[-1][1], converge_timeout(foos)))
        else:  # one operator: its column only
            print_table([row[:2] for row in rows(results[-1][0], results[-1][0],
                                                  converge_timeout(foos))])
        for result in results[-1]:
            print_requests(result)
        print(flush=True)
    if len(operators) == 2:
        summarize([(ours, theirs) for ours, theirs in results])
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "load_average": [load_before, load_average()],
        "python": platform.python_version(), "foos": foos,
        "runs": [[dataclasses.asdict(r) for r in turn] for turn in results],
    }


def summarize_files(paths: Sequence[Path]) -> None:
    """The paired ratios of several runs' ``--json`` files together: pairs as they ran, and
    runs of one operator each (``--only``) paired in the order given."""
    pairs: list[tuple[Result, Result]] = []
    alone: dict[str, list[Result]] = {"kopf-informers": [], "plain Kopf": []}
    for path in paths:
        report = json.loads(path.read_text())
        print(f"# {path}: {report['date']}, N={report['foos']:,}, load average "
              f"{report['load_average'][0]} before, {report['load_average'][1]} after")
        for turn in report["runs"]:
            results = [Result(**result) for result in turn]
            if len(results) == 2:
                pairs.append((results[0], results[1]))
            else:
                alone[results[0].operator].append(results[0])
    pairs += zip(alone["kopf-informers"], alone["plain Kopf"], strict=False)
    summarize(pairs)
    for ours, theirs in pairs:
        if ours.restart_idle is not None or theirs.restart_idle is not None:
            table = rows(ours, theirs, converge_timeout(ours.foos))
            print_table([table[0], *(row for row in table if row[0].startswith("restart"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--foos", type=int, default=None,
                        help="Foos to create at once (default 1,000; 100 with --quick)")
    parser.add_argument("--quick", action="store_true", help="100 Foos (under a minute)")
    parser.add_argument("--pairs", type=int, default=3,
                        help="run kopf-informers then plain Kopf this many times, alternating "
                        "(default 3); the ratios are reported pair by pair, with their median")
    parser.add_argument("--only", choices=("ours", "plain"), default=None,
                        help="run one operator only (--summarize pairs such runs in order)")
    parser.add_argument("--no-steady", action="store_true",
                        help="skip the steady-state phase (touching every Foo once)")
    parser.add_argument("--restart", action="store_true",
                        help="after the fan-out, stop the operator and start it again on the "
                        "converged Foos: time until synced and idle, and its requests")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--summarize", type=Path, nargs="+", default=None, metavar="JSON",
                        help="run nothing: the paired ratios of these --json files together")
    parser.add_argument("--operator", type=Path, default=None,
                        help="run this variant of operators/foo.py as the kopf-informers one")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample operator and server with py-spy during the fan-out (and "
                        "the restart) into this directory (raw collapsed stacks; figures then "
                        "less representative)")
    parser.add_argument("--keep-logs", type=Path, default=None,
                        help="keep the server and operator logs in this directory")
    args = parser.parse_args()
    if args.summarize:
        summarize_files(args.summarize)
        return
    foos = args.foos or (100 if args.quick else 1_000)
    ours, theirs = OPERATORS
    if args.operator is not None:
        ours = dataclasses.replace(ours, script=args.operator.resolve())
    operators = {None: (ours, theirs), "ours": (ours,), "plain": (theirs,)}[args.only]
    if foos < 1:
        parser.error("--foos must be at least 1")
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    phases = Phases(steady=not args.no_steady, restart=args.restart)
    with contextlib.ExitStack() as stack:
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            workdir = args.keep_logs
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fanout-")))
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(bench(foos, operators, workdir, args.profile, args.pairs, phases))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
