"""``kopf-informers demo``: the library's main job on the embedded API server, in one command.

It starts the embedded server, applies the example CRDs, runs the example operators with
``kopf run`` (as a user would, each a subprocess), and walks through what the library is for,
one checked step at a time:

1. Foos get their Deployments (and ``status.availableReplicas``) from the Foo operator;
2. a Deployment deleted by hand is restored through owner watching;
3. a scaled Foo scales its Deployment;
4. a ConfigMirror copies a ConfigMap into the namespaces its selector matches;
5. every watch is dropped and the server's history expired (the next watch gets 410 Gone)
   while a Foo is created: the operators relist, and the caches and the cluster converge;

then prints a summary: the objects, the reconciles, the operators' API requests by verb, and how
many of those were GETs (the caches answer reads). Each step waits at most
:data:`STEP_TIMEOUT`; the command exits 0 when every step converged, 1 naming the step that did
not (with the end of the operators' logs). ``--keep`` leaves it all running afterwards and says
how to reach it with kubectl.

The example operators and their CRDs are read from ``operators/`` of a clone of the project
(``--operators`` to point elsewhere).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from ._api import ApiClient
from .errors import ApiError, KopfInformersError, NotFoundError

STEP_TIMEOUT = 30.0  # seconds for any one step to converge
FOOS = "samplecontroller.k8s.io/v1alpha1/foos"
MIRRORS = "mirror.kopf-informers.dev/v1/configmirrors"
DEPLOYMENTS = "apps/v1/deployments"
CONFIGMAPS = "v1/configmaps"
OPERATORS = ("foo", "mirror")  # operators/<name>.py with operators/<name>-crd.yaml
FOO_COUNT = 5
MIRROR_NAMESPACES = ("team-a", "team-b", "team-c")
USER_AGENT = "kopf-informers-demo"  # the demo's own requests, told apart from the operators'


class StepFailed(Exception):
    """A step that did not converge in time; the message says what was awaited."""


def default_operators_dir() -> Path:
    """``operators/`` of the clone this package runs from, else of the working directory."""
    beside = Path(__file__).resolve().parents[1] / "operators"
    return beside if beside.is_dir() else Path.cwd() / "operators"


@dataclasses.dataclass
class _Operator:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int  # Kopf's liveness endpoint (its probe results are cached for 10 s)
    metrics_port: int  # the library's Prometheus metrics: live figures

    def metrics(self) -> dict[str, float]:
        """Each metric's sum over its labels (``name`` → total), or {} while it is not up."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        totals: dict[str, float] = collections.defaultdict(float)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                totals[name.partition("{")[0]] += float(value)
        return dict(totals)

    def synced(self) -> bool:
        """Every informer synced, per the live gauges (and at least one informer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=2) as answer:
                lines = answer.read().decode().splitlines()
        except OSError:
            return False
        gauges = [line for line in lines if line.startswith("kopf_informers_informer_synced{")]
        return bool(gauges) and all(line.endswith(" 1.0") for line in gauges)

    def probe(self) -> dict[str, Any] | None:
        """The library's probe from Kopf's liveness endpoint, or None while it is not up."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                        timeout=2) as answer:
                body = json.loads(answer.read())
        except (OSError, ValueError):
            return None
        probe = body.get("kopf_informers") if isinstance(body, dict) else None
        return probe if isinstance(probe, dict) else None

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:])


class _Display:
    """One line a step: ``…`` while it runs (on a terminal), ``✓``/``✗`` and its time after."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()

    def begin(self, text: str) -> None:
        if self.live:
            self.out.write(f"  … {text}")
            self.out.flush()

    def end(self, text: str, ok: bool, seconds: float, detail: str = "") -> None:
        mark = "✓" if ok else "✗"
        line = f"  {mark} {text} ({seconds:.1f} s){': ' + detail if detail else ''}"
        self.out.write(("\r\033[K" if self.live else "") + line + "\n")
        self.out.flush()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """``await check()`` until it is truthy (NotFound counts as not yet), or fail the step."""
    deadline = time.monotonic() + STEP_TIMEOUT
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except NotFoundError:
            last = None
        if last:
            return last
        await asyncio.sleep(0.1)
    raise StepFailed(f"not within {STEP_TIMEOUT:.0f} s: {what}")


def _operators_requests(server: Any) -> list[Any]:
    """The requests of the library in the operators (not Kopf's own, not the demo's)."""
    return [e for e in server.journal if e.user_agent.startswith("kopf-informers/")]


class Demo:
    """The walk-through; :meth:`run` returns the exit status."""

    def __init__(self, *, operators: Path, keep: bool = False, out: TextIO = sys.stdout) -> None:
        self.operators_dir = operators
        self.keep = keep
        self.display = _Display(out)
        self.running: list[_Operator] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="kopf-informers-demo-"))

    def run(self) -> int:
        missing = [f for name in OPERATORS for f in (f"{name}.py", f"{name}-crd.yaml")
                   if not (self.operators_dir / f).is_file()]
        if missing:
            self.display.say(f"kopf-informers demo: no {', '.join(missing)} in "
                             f"{self.operators_dir}: run it from a clone of the project, or "
                             f"pass --operators DIR")
            return 2
        return asyncio.run(self._main())

    async def _main(self) -> int:
        from .testing import EmbeddedApiServer

        say = self.display.say
        say("kopf-informers demo: the example operators on the embedded API server\n")
        server = EmbeddedApiServer(kubeconfig=self.workdir / "kubeconfig")
        await server.astart()
        try:
            async with ApiClient.from_kubeconfig(server.kubeconfig, user_agent=USER_AGENT) as api:
                ok = await self._steps(server, api)
                if ok:
                    self._summary(server)
                if self.keep:
                    await self._stay(server)
                return 0 if ok else 1
        finally:
            self._stop_operators()
            await server.astop()

    async def _steps(self, server: Any, api: ApiClient) -> bool:
        steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            (f"embedded API server at {server.url}", self._nothing),
            ("example CRDs applied: Foo, ConfigMirror", lambda: self._crds(api)),
            ("operators started with kopf run; caches synced", lambda: self._start(server)),
            (f"{FOO_COUNT} Foos created → {FOO_COUNT} Deployments, status written back",
             lambda: self._foos(api)),
            ("a Deployment deleted by hand → restored (owner watching)",
             lambda: self._restore(api)),
            ("a Foo scaled to 3 → its Deployment follows", lambda: self._scale(api)),
            ("a ConfigMirror → its ConfigMap copied into 3 matching namespaces",
             lambda: self._mirror(api)),
            ("watches dropped, history expired (410 Gone) → relists; a Foo made meanwhile "
             "is served", lambda: self._fault(server, api)),
        ]
        for text, step in steps:
            self.display.begin(text)
            started = time.monotonic()
            try:
                detail = await step()
            except (StepFailed, KopfInformersError, OSError) as e:
                self.display.end(text, False, time.monotonic() - started, str(e))
                for operator in self.running:
                    self.display.say(f"  --- the end of the {operator.name} operator's log ---")
                    self.display.say(operator.tail())
                return False
            self.display.end(text, True, time.monotonic() - started, detail)
        return True

    async def _nothing(self) -> str:
        return ""

    async def _crds(self, api: ApiClient) -> str:
        crds = "apiextensions.k8s.io/v1/customresourcedefinitions"
        for name in OPERATORS:
            crd = yaml.safe_load((self.operators_dir / f"{name}-crd.yaml").read_text())
            await api.create(crds, crd)
        for resource in (FOOS, MIRRORS):
            await _until(functools.partial(self._served, api, resource), f"{resource} served")
        return ""

    @staticmethod
    async def _served(api: ApiClient, resource: str) -> bool:
        try:
            await api.list(resource, limit=1)
        except ApiError:
            return False
        return True

    async def _start(self, server: Any) -> str:
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        for name in OPERATORS:
            port, metrics_port = _free_port(), _free_port()
            env["KOPF_INFORMERS_METRICS_PORT"] = str(metrics_port)
            log = self.workdir / f"{name}.log"
            command = [sys.executable, "-m", "kopf", "run", "--standalone", "-A",
                       f"--liveness=http://127.0.0.1:{port}/healthz",
                       str(self.operators_dir / f"{name}.py")]
            with log.open("wb") as out:
                process = await asyncio.to_thread(
                    subprocess.Popen, command, env=dict(env), stdout=out,
                    stderr=subprocess.STDOUT)
            self.running.append(_Operator(name, process, log, port, metrics_port))
        for operator in self.running:
            async def synced(o: _Operator = operator) -> bool:
                if o.process.poll() is not None:
                    raise StepFailed(f"the {o.name} operator exited ({o.process.returncode})")
                probe = await asyncio.to_thread(o.probe)
                return bool(probe and probe.get("synced"))
            await _until(synced, f"the {operator.name} operator's caches synced")
        return ", ".join(f"{o.name} (pid {o.process.pid})" for o in self.running)

    async def _foos(self, api: ApiClient) -> str:
        for i in range(FOO_COUNT):
            await api.create(FOOS, {
                "apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo",
                "metadata": {"name": f"foo-{i}"},
                "spec": {"deploymentName": f"foo-{i}-deploy", "replicas": 1},
            }, namespace="default")

        async def all_available() -> bool:
            foos = (await api.list(FOOS, namespace="default"))["items"]
            return len(foos) == FOO_COUNT and all(
                (f.get("status") or {}).get("availableReplicas") == 1 for f in foos)
        await _until(all_available, "every Foo's status.availableReplicas = 1")
        return ""

    async def _restore(self, api: ApiClient) -> str:
        first = await api.get(DEPLOYMENTS, "foo-0-deploy", namespace="default")
        await api.delete(DEPLOYMENTS, "foo-0-deploy", namespace="default")

        async def recreated() -> bool:
            again = await api.get(DEPLOYMENTS, "foo-0-deploy", namespace="default")
            return bool(again["metadata"]["uid"] != first["metadata"]["uid"])
        await _until(recreated, "foo-0-deploy made again")
        return ""

    async def _scale(self, api: ApiClient) -> str:
        await api.patch(FOOS, "foo-1", {"spec": {"replicas": 3}}, namespace="default")

        async def scaled() -> bool:
            deployment = await api.get(DEPLOYMENTS, "foo-1-deploy", namespace="default")
            return bool((deployment.get("status") or {}).get("availableReplicas") == 3)
        await _until(scaled, "foo-1-deploy with 3 available replicas")
        return ""

    async def _mirror(self, api: ApiClient) -> str:
        await api.create("v1/namespaces", {"metadata": {"name": "shared"}})
        for name in MIRROR_NAMESPACES:
            await api.create("v1/namespaces", {"metadata": {
                "name": name, "labels": {"demo.kopf-informers.dev/team": "yes"}}})
        await api.create(CONFIGMAPS, {"metadata": {"name": "settings"},
                                      "data": {"colour": "blue"}}, namespace="shared")
        await api.create(MIRRORS, {
            "apiVersion": "mirror.kopf-informers.dev/v1", "kind": "ConfigMirror",
            "metadata": {"name": "settings"},
            "spec": {"source": {"kind": "ConfigMap", "namespace": "shared", "name": "settings"},
                     "namespaceSelector": {"matchLabels": {"demo.kopf-informers.dev/team":
                                                               "yes"}}},
        })

        async def copied() -> bool:
            copies = (await api.list(CONFIGMAPS, label_selector=(
                "mirror.kopf-informers.dev/mirror=settings")))["items"]
            return sorted(c["metadata"]["namespace"] for c in copies) == list(MIRROR_NAMESPACES)
        await _until(copied, "a copy in each of " + ", ".join(MIRROR_NAMESPACES))
        return ""

    async def _fault(self, server: Any, api: ApiClient) -> str:
        before = len(_operators_requests(server))
        server.faults.drop_watches()
        server.expire_history()
        await api.create(FOOS, {
            "apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo",
            "metadata": {"name": "after-the-fault"},
            "spec": {"deploymentName": "after-the-fault-deploy", "replicas": 1},
        }, namespace="default")
        await _until(lambda: api.get(DEPLOYMENTS, "after-the-fault-deploy",
                                     namespace="default"), "after-the-fault-deploy made")

        async def synced() -> bool:
            return all([await asyncio.to_thread(o.synced) for o in self.running])
        await _until(synced, "every operator's caches synced again")
        relists = sum(1 for e in _operators_requests(server)[before:] if e.verb == "list"
                      and e.status == 200)
        return f"{relists} relists"

    def _summary(self, server: Any) -> None:
        requests = [e for e in _operators_requests(server) if e.resource]  # not discovery
        by_verb = collections.Counter(e.verb for e in requests)
        reconciles = sum(int(o.metrics().get("controller_runtime_reconcile_total", 0))
                         for o in self.running)
        gets = by_verb.get("get", 0)
        rows = [
            ("objects", f"{FOO_COUNT + 1} Foos, {FOO_COUNT + 1} Deployments, 1 ConfigMirror, "
                        f"{len(MIRROR_NAMESPACES)} copies"),
            ("reconciles", f"{reconciles}, each reading its objects from the caches"),
            ("API requests of the operators' informers and controllers",
             ", ".join(f"{verb} {count}" for verb, count in sorted(by_verb.items()))),
            ("objects read with a GET", f"{gets} (every other read came from the caches)"),
        ]
        width = max(len(name) for name, _ in rows)
        self.display.say("\nsummary")
        for name, value in rows:
            self.display.say(f"  {name.ljust(width)}  {value}")

    async def _stay(self, server: Any) -> None:
        self.display.say(f"\nstill running (Ctrl-C to stop): kubectl --kubeconfig "
                         f"{server.kubeconfig} get foos,deployments -A")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()

    def _stop_operators(self) -> None:
        for operator in self.running:
            if operator.process.poll() is None:
                operator.process.terminate()
        for operator in self.running:
            try:
                operator.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.process.kill()
                operator.process.wait()
