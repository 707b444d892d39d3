"""The Kopf integration's registration rules (no operator is run here)."""

from __future__ import annotations

from typing import Any

import kopf
import pytest


def test_two_controllers_cannot_share_an_id_across_resources() -> None:
    from kopf_informers import _kopf
    from kopf_informers.errors import InvalidArgumentError as Invalid

    saved = _kopf._runtime
    _kopf._runtime = _kopf._Runtime()
    try:
        registry = kopf.OperatorRegistry()

        async def fn(**_: Any) -> None: ...

        _kopf.reconcile("v1/configmaps", id="same", registry=registry)(fn)
        _kopf.reconcile("v1/configmaps", id="same", registry=registry)(fn)  # a re-import
        with pytest.raises(Invalid, match="'same' already reconciles v1/configmaps"):
            _kopf.reconcile("v1/secrets", id="same", registry=registry)(fn)
    finally:
        _kopf._runtime = saved


def _deployment(generation: int, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns", "generation": generation,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                              "name": "owner", "uid": "u1",
                                              "controller": True}]},
            "status": {"replicas": replicas}}


async def test_child_predicates_filter_the_events_of_owned_resources() -> None:
    from kopf_informers import generation_changed
    from kopf_informers._controller import Controller, Request
    from kopf_informers._informer import InformerFactory

    async def fn(**_: Any) -> None: ...

    controller = Controller(name="c", resource="v1/configmaps", fn=fn,
                            owns=["apps/v1/deployments"], child_predicates=[generation_changed])
    factory = InformerFactory()
    controller.setup(factory)
    assert controller.queue is not None
    deployments = factory.informer("apps/v1/deployments")._fan_out  # as its reflector calls it
    deployments.on_update(_deployment(1, 1), _deployment(1, 3))  # status only: filtered
    assert len(controller.queue) == 0
    deployments.on_update(_deployment(1, 1), _deployment(2, 1))  # a spec change: enqueued
    assert len(controller.queue) == 1
    assert await controller.queue.get() == Request("ns", "owner")


async def test_a_failed_startup_stops_what_it_started_and_a_retry_starts_it_once(
        server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kopf runs no cleanup handler after a failed startup and may run the startup again: the
    first try leaves no informer running and no client open, the second sets up once."""
    import logging

    from kopf_informers import _kopf
    from kopf_informers.testing import EmbeddedApiServer

    assert isinstance(server, EmbeddedApiServer)
    monkeypatch.setattr(_kopf, "_runtime", _kopf._Runtime())
    monkeypatch.setattr(_kopf, "CACHE_SYNC_TIMEOUT", 1.0)
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
    registry = kopf.OperatorRegistry()

    async def fn(**_: Any) -> None: ...

    _kopf.reconcile("v1/configmaps", owns=["v1/secrets"], registry=registry)(fn)
    settings = kopf.OperatorSettings()
    settings.peering.clusterwide = True
    logger = logging.getLogger("test")
    server.faults.fail("list", "secrets", 503, percent=100)  # the sync times out
    with pytest.raises(kopf.TemporaryError, match="caches not synced within"):
        await _kopf._startup(logger=logger, settings=settings)
    factory = _kopf._runtime.factory
    assert factory is not None
    assert not any(informer.is_running for informer in factory.informers)
    assert factory._api is None  # the client it made is closed

    server.faults.clear()
    await _kopf._startup(logger=logger, settings=settings)
    try:
        assert [len(i._handlers) for i in factory.informers] == [1, 1]
        assert all(informer.has_synced for informer in factory.informers)
    finally:
        await _kopf._cleanup(logger=logger)
