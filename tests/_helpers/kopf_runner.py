"""Helpers for tests that run the real Kopf in this process (``kopf.testing.KopfRunner``)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import kopf
import kubernetes
import pytest


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
def isolated_kopf(monkeypatch: pytest.MonkeyPatch,
                  kubeconfig: str) -> Iterator[kopf.OperatorRegistry]:
    """A fresh Kopf registry (with the login handler a fresh one lacks) and a fresh
    kopf-informers runtime, for ``KopfRunner(..., registry=...)`` against ``kubeconfig``;
    everything process-wide that ``kopf run`` changes is put back afterwards."""
    import kopf_informers._kopf

    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # kopf-informers' own client reads it
    # Kopf's login_via_client reads the official client's default location, computed when
    # `kubernetes` was imported, and installs a process-wide default configuration.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    monkeypatch.setattr(sys, "path", [*sys.path])  # `kopf run` prepends the operator's folder
    monkeypatch.setattr(kopf_informers._kopf, "_runtime", kopf_informers._kopf._Runtime())
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
