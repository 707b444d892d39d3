"""The pytest plugin of kopf-informers (registered through the ``pytest11`` entry point).

Options (each also from an environment variable, the option winning):
  ``--cluster=embedded|kind|kubeconfig``  (``KOPF_INFORMERS_TEST_CLUSTER``; default ``embedded``)
               the backend of the ``cluster`` fixture: this project's embedded API server, a
               kind cluster (pytest-kind-ng; ``kind`` and ``docker`` from PATH; skipped with
               the reason where missing), or any cluster a kubeconfig points to.
  ``--cluster-scope=test|session``  (``KOPF_INFORMERS_TEST_CLUSTER_SCOPE``; default ``test``)
               an embedded server fresh for each test, or one for the session; kind and
               kubeconfig clusters are always one for the session (isolate with ``namespace``).
  ``--kubeconfig=PATH``  the kubeconfig of ``--cluster=kubeconfig`` (default: ``KUBECONFIG``,
               then ``~/.kube/config``). Where pytest-kind-ng is installed, this is its option
               (for ``--cluster=kind``: where kind writes the cluster's kubeconfig).
  ``--operator-mode=subprocess|in_process|in_cluster``
               (``KOPF_INFORMERS_TEST_OPERATOR_MODE``; default ``subprocess``) how ``operator``
               runs operators: see :mod:`kopf_informers.testing._operator`.

Markers:
  ``kubectl``  the test drives kubectl; skipped with a reason when kubectl is not on PATH.
  ``kind``     the test needs a kind cluster; skipped with a reason when kind or docker is missing.
  ``real_cluster``  the test needs a real cluster (pods that run, a kubelet, real controllers);
               skipped on the embedded server.
  ``embedded``  the test needs the embedded server (its journal or faults: ``cluster.embedded``);
               skipped on other backends.
  ``cluster(scope="test"|"session")``  the embedded ``cluster``'s scope for a test, class or
               module, over ``--cluster-scope``.
  ``embedded_apiserver(**options)``  the options of the test's embedded server (keyword
               arguments of :class:`EmbeddedApiServer`), for the fixtures below and for an
               embedded ``cluster`` (which is then fresh for the test); the closest one wins.

Fixtures:
  ``cluster``     a :class:`Cluster` (``.kubeconfig``, ``.apply()``, ``.delete()``,
                  ``.kubectl()``, ``.api()``, ``.api_client()``, ``.embedded``, ``.timeout``);
                  ``KUBECONFIG`` points at it while the test runs. Sync and async tests alike.
  ``namespace``   a fresh namespace (a random suffix) in ``cluster``, deleted afterwards
                  (its deletion waited for, at most ``cluster.timeout``).
  ``operator``    a factory: ``operator("operators/foo.py", namespaces=[namespace], env={},
                  args=[], mode=None)`` starts the file with ``kopf run --standalone`` against
                  ``cluster``, waits until its caches synced, and returns an :class:`Operator`
                  (``.kill()``, ``.start()``, ``.stop()``, ``.log()``); stopped at teardown, its
                  log shown with a failed test's report.
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

Helpers (in :mod:`kopf_informers.testing`): ``eventually``, ``wait_until`` and ``wait_for``,
bounded polls.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._cluster import (
    BACKENDS,
    EMBEDDED_TIMEOUT,
    Cluster,
    ClusterUnavailable,
    Kubectl,
    default_kubeconfig,
    embedded_cluster,
    kind_cluster,
    kubeconfig_cluster,
    namespace_name,
    why_kind_cannot_run,
)
from ._operator import MODES, Operator
from .apiserver import EmbeddedApiServer

CLUSTER_ENV = "KOPF_INFORMERS_TEST_CLUSTER"
SCOPE_ENV = "KOPF_INFORMERS_TEST_CLUSTER_SCOPE"
MODE_ENV = "KOPF_INFORMERS_TEST_OPERATOR_MODE"
SCOPES = ("test", "session")
OPERATORS = pytest.StashKey[list[Operator]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kopf-informers", "kopf-informers test clusters and operators")
    group.addoption("--cluster", choices=BACKENDS, default=None,
                    help=f"the backend of the `cluster` fixture (default: ${CLUSTER_ENV} or "
                         "embedded)")
    group.addoption("--cluster-scope", choices=SCOPES, default=None,
                    help=f"an embedded cluster per test or per session (default: ${SCOPE_ENV} "
                         "or test)")
    group.addoption("--operator-mode", choices=MODES, default=None,
                    help=f"how the `operator` fixture runs operators (default: ${MODE_ENV} or "
                         "subprocess)")
    # pytest-kind-ng declares --kubeconfig too; declaring it twice is an error, whoever is first.
    if importlib.util.find_spec("pytest_kind") is None:
        group.addoption("--kubeconfig", default=None,
                        help="the kubeconfig of --cluster=kubeconfig (default: $KUBECONFIG, "
                             "then ~/.kube/config)")


def _choice(config: pytest.Config, option: str, env: str, choices: Sequence[str],
            default: str) -> str:
    value = config.getoption(option) or os.environ.get(env) or default
    if value not in choices:
        raise pytest.UsageError(f"${env}={value!r}: choose one of {', '.join(choices)}")
    return str(value)


def pytest_configure(config: pytest.Config) -> None:
    for line in [
        "kubectl: drives kubectl; skipped when kubectl is not installed",
        "kind: needs a kind cluster; skipped when kind or docker is missing",
        "real_cluster: needs a real cluster (pods run); skipped on the embedded server",
        "embedded: needs the embedded server (journal, faults); skipped on other backends",
        "cluster(scope): 'test' or 'session': the embedded cluster's scope",
        "embedded_apiserver(**options): EmbeddedApiServer options for the test's server",
    ]:
        config.addinivalue_line("markers", line)
    # Checked now, so that a typo in the environment fails the run, not every test.
    _choice(config, "cluster", CLUSTER_ENV, BACKENDS, "embedded")
    _choice(config, "cluster_scope", SCOPE_ENV, SCOPES, "test")
    _choice(config, "operator_mode", MODE_ENV, MODES, "subprocess")


def _backend(config: pytest.Config) -> str:
    return _choice(config, "cluster", CLUSTER_ENV, BACKENDS, "embedded")


def pytest_report_header(config: pytest.Config) -> str:
    return (f"kopf-informers: cluster={_backend(config)}, "
            f"operator-mode={_choice(config, 'operator_mode', MODE_ENV, MODES, 'subprocess')}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kubectl") and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (on PATH): this test drives kubectl")
    if item.get_closest_marker("kind"):
        missing = why_kind_cannot_run()
        if missing:
            pytest.skip(f"{missing} (this test needs a kind cluster)")
    backend = _backend(item.config)
    if item.get_closest_marker("real_cluster") and backend == "embedded":
        pytest.skip("needs a real cluster (pods that run): use --cluster=kind or kubeconfig")
    if item.get_closest_marker("embedded") and backend != "embedded":
        pytest.skip(f"needs the embedded server (its journal or faults), not {backend}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Show the log of every operator the test ran with its failure."""
    report = yield
    if report.failed:
        for operator in item.stash.get(OPERATORS, []):
            report.sections.append((f"operator log: {operator.name} ({operator.mode})",
                                    operator.log_tail()))
    return report


# -- the embedded server ----------------------------------------------------------------------


def _server_options(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    marker = request.node.get_closest_marker("embedded_apiserver")
    if marker is None:
        return None
    if marker.args:
        raise TypeError("@pytest.mark.embedded_apiserver takes keyword arguments only")
    return dict(marker.kwargs)


def _embedded_apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> EmbeddedApiServer:
    """A server with its kubeconfig in tmp_path, frequent bookmarks, and the options of the
    closest ``embedded_apiserver`` marker over these."""
    options: dict[str, Any] = {"kubeconfig": tmp_path / "kubeconfig", "bookmark_interval": 0.5}
    options.update(_server_options(request) or {})
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


@pytest.fixture
def kubectl(embedded_apiserver: EmbeddedApiServer, tmp_path: Path) -> Kubectl:
    """kubectl against the ``embedded_apiserver``; skips the test when kubectl is missing."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (on PATH): this test drives kubectl")
    return Kubectl(embedded_apiserver.kubeconfig, tmp_path / "kubectl-cache")


# -- clusters, namespaces, operators ----------------------------------------------------------


@pytest.fixture(scope="session")
def _kopf_informers_session_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """The session's cluster: kind, kubeconfig, or an embedded server shared by tests."""
    config = request.config
    backend = _backend(config)
    workdir = tmp_path_factory.mktemp(f"cluster-{backend}")
    try:
        if backend == "kind":
            manager = kind_cluster(
                workdir, name=config.getoption("cluster_name", None) or "kopf-informers",
                keep=bool(config.getoption("keep_cluster", False)),
                image=config.getoption("kind_image", None))
        elif backend == "kubeconfig":
            manager = kubeconfig_cluster(
                workdir, default_kubeconfig(config.getoption("kubeconfig", None)))
        else:
            manager = embedded_cluster(workdir)
        with manager as cluster:
            yield cluster
    except ClusterUnavailable as e:
        if backend == "kubeconfig":  # asked for explicitly: a missing one is an error
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))


def _export(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """``KUBECONFIG`` (and the official client's default location) for the code under test."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not the CI pod's cluster
    if "kubernetes" in sys.modules:
        from kubernetes.config import kube_config

        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """The test's cluster (see ``--cluster``), with ``KUBECONFIG`` pointing at it."""
    options = _server_options(request)
    marker = request.node.get_closest_marker("cluster")
    scope = (marker.kwargs.get("scope") if marker is not None else None) or _choice(
        request.config, "cluster_scope", SCOPE_ENV, SCOPES, "test")
    if _backend(request.config) == "embedded" and (scope == "test" or options is not None):
        # The test's own server: the same as its `embedded_apiserver` (and `kubectl`), if any.
        server: EmbeddedApiServer = request.getfixturevalue("embedded_apiserver")
        with Cluster(backend="embedded", kubeconfig=server.kubeconfig, workdir=tmp_path,
                     timeout=EMBEDDED_TIMEOUT, embedded=server) as fresh:
            _export(fresh, monkeypatch)
            yield fresh
        return
    shared: Cluster = request.getfixturevalue("_kopf_informers_session_cluster")
    _export(shared, monkeypatch)
    yield shared


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, named after the test with a random suffix; deleted afterwards."""
    name = cluster.create_namespace(namespace_name(request.node.originalname or "test"))
    yield name
    cluster.delete_namespace(name)


@pytest.fixture
def operator(cluster: Cluster, request: pytest.FixtureRequest,
             tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    """``operator(path, namespaces=None, env=None, args=(), mode=None, wait=True)``: run an
    operator file against ``cluster`` until the test ends (None namespaces: all of them)."""
    started = request.node.stash.setdefault(OPERATORS, [])
    default_mode = _choice(request.config, "operator_mode", MODE_ENV, MODES, "subprocess")

    def run(path: str | Path, *, namespaces: Sequence[str] | None = None,
            env: dict[str, str] | None = None, args: Sequence[str] = (),
            mode: str | None = None, wait: bool = True, name: str | None = None) -> Operator:
        path = Path(path)
        if not path.is_absolute() and not path.exists():
            path = Path(str(request.config.rootpath)) / path  # relative to the project
        stem = name or path.stem
        if any(o.name == stem for o in started):
            stem = f"{stem}-{len(started)}"
        operator = Operator(path, cluster=cluster, workdir=tmp_path, mode=mode or default_mode,
                            namespaces=namespaces, env=env, args=args, name=stem)
        started.append(operator)
        return operator.start(wait=wait)

    yield run
    for operator in reversed(started):
        operator.stop()
