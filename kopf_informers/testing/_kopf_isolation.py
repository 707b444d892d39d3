"""Running the real Kopf in a test's process (``kopf.testing.KopfRunner``) against a test cluster.

Two things make a ``KopfRunner`` fail with ``LoginError`` in a test process: a fresh
``kopf.OperatorRegistry()`` (which a runner needs, or handlers pile up across runs) has no login
handler, and Kopf's ``login_via_client`` reads the official client's default kubeconfig
location, computed from ``KUBECONFIG`` when ``kubernetes`` was first imported — long before a
fixture exported the test cluster's. :func:`isolated_kopf` gives a fresh registry with
``kopf.login_via_client`` registered, points both Kopf and kopf-informers at the kubeconfig,
and puts back afterwards what ``kopf run`` changes process-wide: the default registry, the
operator module in ``sys.modules``, ``sys.path``, logging, and kopf-informers' runtime.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf

from .. import _kopf


@contextlib.contextmanager
def kopf_logging_undone() -> Iterator[None]:
    """Undo what ``kopf run`` does to logging process-wide: a root handler writing into the
    runner's captured output, the DEBUG level, and a silenced ``asyncio`` logger; later tests in
    this process would otherwise log into a closed stream and miss asyncio's errors."""
    root, aio = logging.getLogger(), logging.getLogger("asyncio")
    handlers, level = set(root.handlers), root.level
    aio_handlers, aio_propagate = list(aio.handlers), aio.propagate
    try:
        yield
    finally:
        for handler in set(root.handlers) - handlers:
            root.removeHandler(handler)
        root.setLevel(level)
        aio.handlers[:] = aio_handlers
        aio.propagate = aio_propagate


@contextlib.contextmanager
def isolated_kopf(kubeconfig: str | Path, monkeypatch: Any = None,
                  ) -> Iterator[kopf.OperatorRegistry]:
    """A fresh Kopf registry (with ``kopf.login_via_client`` as its login handler) and a fresh
    kopf-informers runtime, for ``KopfRunner(..., registry=registry)`` against ``kubeconfig``;
    everything process-wide that ``kopf run`` changes is put back afterwards. ``monkeypatch``
    (pytest's) undoes the environment at its own teardown; by default, at the end of this."""
    import pytest

    with contextlib.ExitStack() as stack:
        if monkeypatch is None:
            monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        _point_at(monkeypatch, str(kubeconfig))
        monkeypatch.setattr(sys, "path", [*sys.path])  # `kopf run` prepends the operator's folder
        monkeypatch.setattr(_kopf, "_runtime", _kopf._Runtime())
        registry = kopf.OperatorRegistry()
        kopf.on.login(registry=registry)(kopf.login_via_client)
        default_registry, modules = kopf.get_default_registry(), set(sys.modules)
        try:
            with kopf_logging_undone():
                yield registry
        finally:
            kopf.set_default_registry(default_registry)  # `kopf run` made the runner's the default
            for name in set(sys.modules) - modules:
                if name.startswith("__kopf_script_"):  # the operator file, as `kopf run` loaded it
                    del sys.modules[name]


def _point_at(monkeypatch: Any, kubeconfig: str) -> None:
    """Point kopf-informers' and the official client's default credentials at ``kubeconfig``."""
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # kopf-informers' own client reads it
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # no in-cluster detection
    try:
        import kubernetes
    except ImportError:
        return
    # Kopf's login_via_client reads the official client's default location, computed when
    # `kubernetes` was imported, and installs a process-wide default configuration.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
