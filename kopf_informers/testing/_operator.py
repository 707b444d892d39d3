"""Operators run by tests: ``kopf run --standalone`` against a test cluster, until the test ends.

The plugin's ``operator`` fixture makes an :class:`Operator` per call and stops it at teardown.
Three modes, one interface (``start``, ``wait_synced``, ``kill``, ``stop``, ``log``):

- ``subprocess`` (default): ``python -m kopf run --standalone --liveness=... FILE`` with
  ``KUBECONFIG`` set to the cluster's; its output goes to a log file. Any backend.
- ``in_process``: ``kopf.testing.KopfRunner`` on a thread of the test's process, with a fresh
  registry whose login handler is ``kopf.login_via_client`` pointed at the cluster (see
  ``isolated_kopf``): for debuggers and coverage. It cannot be killed, only stopped; its log
  is pytest's captured log.
- ``in_cluster`` (kind only): the repository's ``Dockerfile`` built (``docker build``), loaded
  into kind (``kind load docker-image``), and the operator's chart (``charts/<name>-operator``)
  installed with ``helm install --wait``; killing it force-deletes its pod, which its
  Deployment replaces. Skipped with the reason where docker, helm, the Dockerfile or the chart
  is missing.

Readiness: the operator serves Kopf's liveness endpoint on a free port, which Kopf opens only
after every startup handler succeeded — kopf-informers' among them, which waits until every
informer cache synced. :meth:`Operator.wait_synced` waits until that endpoint answers and the
``kopf_informers`` probe (where the operator uses the library) says ``synced``; an operator
that exits meanwhile fails the wait at once, with the end of its log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ._cluster import Cluster
from ._polling import wait_until

MODES = ("subprocess", "in_process", "in_cluster")
STOP_TIMEOUT = 20.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 20_000  # characters of an operator's log shown with a failed test
PROBE_PATH = "/healthz"


class OperatorExited(AssertionError):
    """The operator ended while it was expected to run (a failed start, say)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def namespace_options(namespaces: Sequence[str] | None) -> list[str]:
    """Kopf's options for the namespaces to serve: ``-A`` for all (None), else ``-n`` each."""
    if namespaces is None:
        return ["-A"]
    if isinstance(namespaces, str):
        raise TypeError("namespaces must be a list of names (or None for all), not a string")
    return [option for ns in namespaces for option in ("-n", ns)]


class _Runner(Protocol):
    def start(self, operator: Operator) -> None: ...
    def exit_code(self) -> int | None: ...  # None while it runs
    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def log(self) -> str: ...
    def ready(self, operator: Operator) -> dict[str, Any] | None: ...


class Operator:
    """One operator file run against a test cluster (see the module's docstring for modes).

    ``path`` is the operator's file, ``namespaces`` those it serves (None: all), ``env`` extra
    environment variables, ``args`` extra ``kopf run`` options. :meth:`start` (called by the
    fixture) starts it and, with ``wait``, waits until it has synced; :meth:`kill` is
    ``kill -9`` (or a pod's forced deletion); :meth:`stop` is SIGTERM, then SIGKILL after
    20 s. A stopped or killed operator may be started again (its log goes on).
    """

    def __init__(
        self, path: str | Path, *, cluster: Cluster, workdir: Path, mode: str = "subprocess",
        namespaces: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
        args: Sequence[str] = (), name: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"no operator file {path}")
        self.cluster = cluster
        self.mode = mode
        self.namespaces = list(namespaces) if namespaces is not None else None
        self.env = dict(env or {})
        self.args = list(args)
        self.name = name or self.path.stem
        self.workdir = workdir
        self.log_path = workdir / f"operator-{self.name}.log"
        self.liveness_port = 0
        self.starts = 0
        self._runner: _Runner = _RUNNERS[mode]()

    def __repr__(self) -> str:
        return f"<Operator {self.name} {self.mode} on {self.cluster.backend}>"

    def command(self) -> list[str]:
        """``kopf run``'s arguments (after ``kopf``) for this operator, with a fresh port."""
        self.liveness_port = free_port()
        return ["run", "--standalone",
                f"--liveness=http://127.0.0.1:{self.liveness_port}{PROBE_PATH}",
                *namespace_options(self.namespaces), *self.args, str(self.path)]

    def start(self, *, wait: bool = True, timeout: float | None = None) -> Operator:
        if self.running:
            raise RuntimeError(f"{self!r} is running already")
        self.starts += 1
        self._runner.start(self)
        if wait:
            self.wait_synced(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.starts > 0 and self._runner.exit_code() is None

    @property
    def exit_code(self) -> int | None:
        """The exit status of the last run, None while it runs (or if never started)."""
        return self._runner.exit_code() if self.starts > 0 else None

    def wait_synced(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the operator serves its probes with every informer cache synced (or
        until a plain Kopf operator has started); return the probes' answer."""
        runner = self._runner

        def synced() -> dict[str, Any] | None:
            code = runner.exit_code()
            if code is not None:
                raise OperatorExited(
                    f"{self.name} exited with status {code} before it synced; "
                    f"its log ends:\n{self.log_tail(4000)}")
            return runner.ready(self)

        waited = wait_until(synced, f"{self.name} started and its caches synced",
                            timeout=timeout or self.cluster.timeout, interval=0.1)
        assert waited is not None  # wait_until returns a truthy result
        return waited

    def wait_exited(self, timeout: float | None = None) -> int:
        """Wait until the operator ends on its own (a failed start, say); its exit status."""
        code = wait_until(lambda: self.exit_code is not None or None,
                          f"{self.name} to exit", timeout=timeout or self.cluster.timeout,
                          interval=0.05)
        assert code
        assert self.exit_code is not None
        return self.exit_code

    def probe(self) -> dict[str, Any] | None:
        """Kopf's liveness answer (every probe's result, ``kopf_informers`` included), or None
        while nothing answers. Kopf caches it for 10 s."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.liveness_port}{PROBE_PATH}", timeout=5) as answer:
                result: dict[str, Any] = json.loads(answer.read())
                return result
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def kill(self) -> None:
        """``kill -9``: no cleanup handlers run, nothing is drained (a crash, an OOM kill)."""
        if self.starts > 0:
            self._runner.kill()

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), or kill it if it has not ended within 20 s."""
        if self.starts > 0:
            self._runner.stop()

    def log(self) -> str:
        """Everything the operator logged so far, every run of it."""
        return self._runner.log() if self.starts > 0 else ""

    def log_tail(self, size: int = LOG_TAIL) -> str:
        text = self.log()
        return text if len(text) <= size else "...\n" + text[-size:]


def _synced(probes: dict[str, Any] | None) -> dict[str, Any] | None:
    if probes is None:
        return None
    ours = probes.get("kopf_informers")
    if isinstance(ours, dict) and not ours.get("synced"):
        return None
    return probes


class _Subprocess:
    """``python -m kopf run`` in a subprocess of its own session, its output in a file."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self, operator: Operator) -> None:
        env = {**os.environ, "KUBECONFIG": str(operator.cluster.kubeconfig)}
        env.pop("KUBERNETES_SERVICE_HOST", None)  # the test's cluster, not the CI pod's
        env.pop("KOPF_INFORMERS_NAMESPACES", None)
        env.update(operator.env)
        self.log_path = operator.log_path
        with self.log_path.open("ab") as log:
            if operator.starts > 1:
                log.write(f"\n---- started again (start {operator.starts}) ----\n".encode())
                log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kopf", *operator.command()], env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=operator.workdir)

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def ready(self, operator: Operator) -> dict[str, Any] | None:
        return _synced(operator.probe())

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


class _InProcess:
    """``kopf.testing.KopfRunner`` on a thread, Kopf isolated from the rest of the process."""

    def __init__(self) -> None:
        self.runner: Any = None
        self.isolation: Any = None
        self.output = ""

    def start(self, operator: Operator) -> None:
        import kopf.testing
        import pytest

        from ._kopf_isolation import isolated_kopf

        self.monkeypatch = pytest.MonkeyPatch()
        for key, value in operator.env.items():
            self.monkeypatch.setenv(key, value)
        self.isolation = isolated_kopf(operator.cluster.kubeconfig, self.monkeypatch)
        registry = self.isolation.__enter__()
        self.output = ""
        self.runner = kopf.testing.KopfRunner(operator.command(), registry=registry,
                                              timeout=operator.cluster.timeout)
        self.runner.__enter__()

    def exit_code(self) -> int | None:
        if self.runner is None or not self.runner.future.done():
            return None
        code: int = self.runner.exit_code
        return code

    def ready(self, operator: Operator) -> dict[str, Any] | None:
        return _synced(operator.probe())

    def kill(self) -> None:
        raise NotImplementedError(
            "an in-process operator cannot be killed (kill -9 would end the test run): "
            "stop() it, or run it with mode='subprocess'")

    def stop(self) -> None:
        if self.isolation is None:
            return
        try:
            self.runner.__exit__(None, None, None)
            self.output = self.runner.output
        finally:
            isolation, self.isolation = self.isolation, None
            isolation.__exit__(None, None, None)
            self.monkeypatch.undo()

    def log(self) -> str:
        return self.output or "(an in-process operator logs into pytest's captured log)"


class _InCluster:
    """The operator's image built and loaded into kind, and its chart installed with helm."""

    NAMESPACE = "kopf-informers-e2e"

    def __init__(self) -> None:
        self.release = ""
        self.cluster: Cluster | None = None
        self.installed = False
        self.killed = False

    def start(self, operator: Operator) -> None:
        cluster = self.cluster = operator.cluster
        if self.installed:  # started again after a kill: its Deployment makes a new pod
            self.killed = False
            self._wait_pod_ready()
            return
        import pytest

        if operator.env:
            raise ValueError("env= cannot be passed to mode='in_cluster': the chart sets the "
                             "operator's environment")

        if cluster.kind is None:
            pytest.skip("mode='in_cluster' needs --cluster=kind (it loads an image into kind)")
        root = _repository_root(operator.path)
        chart = root / "charts" / f"{operator.path.stem}-operator"
        for needed, why in [(root / "Dockerfile", "the operator's image is built from it"),
                            (chart, "the operator is installed from it")]:
            if not needed.exists():
                pytest.skip(f"{needed} does not exist: {why} (mode='in_cluster')")
        for tool in ("docker", "helm"):
            if subprocess.run(["which", tool], capture_output=True).returncode != 0:
                pytest.skip(f"{tool} is not installed (on PATH): mode='in_cluster' needs it")
        image = self._image(cluster, root)
        repository, tag = image.rsplit(":", 1)
        self.release = re.sub(r"[^a-z0-9-]", "-", f"{operator.name}-{os.getpid()}")[:40]
        scope = ["--set", "watch.scope=all"] if operator.namespaces is None else [
            "--set", "watch.scope=namespaces",
            "--set", "watch.namespaces={" + ",".join(operator.namespaces) + "}"]
        extra = [f"--set=operator.extraArgs[{i}]={arg}" for i, arg in enumerate(operator.args)]
        _run(["helm", "install", self.release, str(chart), "--namespace", self.NAMESPACE,
              "--create-namespace", f"--kubeconfig={cluster.kubeconfig}",
              "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
              "--set", "image.pullPolicy=Never", "--set", "replicaCount=1",
              "--set", "leaderElection.enabled=false",
              "--set", f"operator.file=/app/operators/{operator.path.name}",
              *scope, *extra, "--wait", f"--timeout={int(cluster.timeout)}s"])
        self.installed = True

    @staticmethod
    def _image(cluster: Cluster, root: Path) -> str:
        """Build the image once per cluster and load it into kind."""
        key = str(root)
        if key not in cluster.images:
            image = f"kopf-informers-e2e:{int(time.time())}"
            _run(["docker", "build", "-t", image, str(root)], timeout=1200)
            cluster.kind.load_docker_image(image)
            cluster.images[key] = image
        return cluster.images[key]

    def _selector(self) -> list[str]:
        return ["-n", self.NAMESPACE, "-l", f"app.kubernetes.io/instance={self.release}"]

    def _wait_pod_ready(self) -> None:
        assert self.cluster is not None
        cluster = self.cluster
        wait_until(lambda: cluster.kubectl("get", "pods", *self._selector(), "-o", "name",
                                           check=False).stdout.strip(),
                   f"a pod of {self.release}", timeout=cluster.timeout, interval=1)
        cluster.kubectl("wait", "--for=condition=Ready", "pod", *self._selector(),
                        f"--timeout={int(cluster.timeout)}s", timeout=cluster.timeout + 10)

    def exit_code(self) -> int | None:
        if self.killed:
            return -signal.SIGKILL
        return None if self.installed else 0

    def ready(self, operator: Operator) -> dict[str, Any] | None:
        return {"in_cluster": True}  # helm --wait and the chart's probes did the waiting

    def kill(self) -> None:
        assert self.cluster is not None
        self.cluster.kubectl("delete", "pod", *self._selector(), "--grace-period=0", "--force",
                             "--wait=false")
        self.killed = True

    def stop(self) -> None:
        if self.installed and self.cluster is not None:
            _run(["helm", "uninstall", self.release, "--namespace", self.NAMESPACE,
                  f"--kubeconfig={self.cluster.kubeconfig}", "--wait"])
            self.installed = False

    def log(self) -> str:
        if self.cluster is None or not self.release:
            return ""
        return self.cluster.kubectl("logs", *self._selector(), "--tail=-1", "--prefix",
                                    "--all-containers", check=False).stdout


def _repository_root(path: Path) -> Path:
    for folder in path.parents:
        if (folder / "Dockerfile").exists() or (folder / "pyproject.toml").exists():
            return folder
    return path.parent


def _run(command: list[str], timeout: float = 600) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n"
                             f"stdout: {result.stdout[-4000:]}\nstderr: {result.stderr[-4000:]}")


_RUNNERS: dict[str, type[_Runner]] = {
    "subprocess": _Subprocess, "in_process": _InProcess, "in_cluster": _InCluster,
}
