"""The pytest plugin of kopf-informers (registered through the ``pytest11`` entry point).

Markers:
  ``kubectl``  the test drives kubectl; skipped with a reason when kubectl is not on PATH.
  ``kind``     the test needs a kind cluster; skipped with a reason when kind or docker is missing.

  ``embedded_apiserver(**options)``  the options of the test's embedded server (keyword
               arguments of :class:`EmbeddedApiServer`), for either fixture below; on a module
               (``pytestmark``), a class or a test, the closest one wins.

Fixtures:
  ``embedded_apiserver``        a fresh :class:`EmbeddedApiServer` on a background thread.
  ``embedded_apiserver_async``  a fresh :class:`EmbeddedApiServer` on the test's event loop, for
                                async tests (``async with``: started before, stopped after).
  ``kubectl``                   a :class:`Kubectl` for ``embedded_apiserver`` (with a discovery
                                cache of its own); skips the test where kubectl is missing.
                                ``kubectl("get", "cm")`` returns the
                                ``subprocess.CompletedProcess[str]`` and raises AssertionError
                                (with stdout and stderr) if kubectl fails, unless
                                ``check=False``; ``kubectl.json("get", "cm", "x")`` adds
                                ``-o json`` and returns the parsed output.

Helpers (in :mod:`kopf_informers.testing`): ``eventually`` and ``wait_until``, bounded polls.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .apiserver import EmbeddedApiServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kubectl: drives kubectl; skipped when kubectl is not installed")
    config.addinivalue_line(
        "markers", "kind: needs a kind cluster; skipped when kind or docker is missing")
    config.addinivalue_line(
        "markers", "embedded_apiserver(**options): EmbeddedApiServer options for the test's server")


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kubectl") and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (on PATH): this test drives kubectl")
    if item.get_closest_marker("kind"):
        if shutil.which("kind") is None:
            pytest.skip("kind is not installed: this test needs a kind cluster")
        if not _docker_works():
            pytest.skip("no Docker engine answers `docker info`: kind cannot run here")


def _embedded_apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> EmbeddedApiServer:
    """A server with its kubeconfig in tmp_path, frequent bookmarks, and the options of the
    closest ``embedded_apiserver`` marker over these."""
    options: dict[str, Any] = {"kubeconfig": tmp_path / "kubeconfig", "bookmark_interval": 0.5}
    marker = request.node.get_closest_marker("embedded_apiserver")
    if marker is not None:
        if marker.args:
            raise TypeError("@pytest.mark.embedded_apiserver takes keyword arguments only")
        options.update(marker.kwargs)
    return EmbeddedApiServer(**options)


@pytest.fixture
def embedded_apiserver(
    request: pytest.FixtureRequest, tmp_path: Path,
) -> Iterator[EmbeddedApiServer]:
    """A fresh embedded API server on a background thread, with its kubeconfig in tmp_path."""
    with _embedded_apiserver(request, tmp_path) as server:
        yield server


@pytest.fixture
async def embedded_apiserver_async(
    request: pytest.FixtureRequest, tmp_path: Path,
) -> AsyncIterator[EmbeddedApiServer]:
    """A fresh embedded API server on the test's event loop, with its kubeconfig in tmp_path:
    for async tests, which talk to it from that same loop."""
    async with _embedded_apiserver(request, tmp_path) as server:
        yield server


class Kubectl:
    """Runs kubectl against one server, with a discovery cache of its own.

    Calling it runs ``kubectl --kubeconfig=... --cache-dir=... *args`` and returns the
    ``subprocess.CompletedProcess[str]`` (text ``stdout``, ``stderr``, ``returncode``);
    ``input`` is fed to stdin, ``timeout`` (seconds) bounds the run. With ``check`` (the
    default), a non-zero exit raises ``AssertionError`` showing the command, stdout and
    stderr. :meth:`json` runs ``*args -o json`` and returns the parsed output.
    ``kubeconfig`` and ``cache_dir`` are the paths it passes.
    """

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        command = ["kubectl", f"--kubeconfig={self.kubeconfig}",
                   f"--cache-dir={self.cache_dir}", *args]
        result = subprocess.run(command, input=input, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        """The parsed output of ``kubectl *args -o json`` (raises as a failed call does)."""
        import json

        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def kubectl(embedded_apiserver: EmbeddedApiServer, tmp_path: Path) -> Kubectl:
    """kubectl against the ``embedded_apiserver``; skips the test when kubectl is missing."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (on PATH): this test drives kubectl")
    return Kubectl(embedded_apiserver.kubeconfig, tmp_path / "kubectl-cache")
