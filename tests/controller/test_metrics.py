"""Prometheus metrics: controller-runtime's names, driven by a real queue, controller, informers.

Each test reports to a fresh ``CollectorRegistry``. Time is virtual (looptime), so the durations
that the queue observes are exact.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import prometheus_client
import pytest
from _helpers.scripted import ScriptedSource, cm
from prometheus_client import CollectorRegistry, Counter, generate_latest

from kopf_informers import _kopf
from kopf_informers._controller import Controller, Result
from kopf_informers._informer import InformerFactory, SharedIndexInformer
from kopf_informers._ratelimiters import ItemExponentialFailureRateLimiter
from kopf_informers._reflector import ListPage
from kopf_informers._workqueue import AsyncRateLimitingQueue, WorkQueueMetrics
from kopf_informers.errors import InvalidArgumentError
from kopf_informers.metrics import (
    DEFAULT_REGISTRY,
    RECONCILE_RESULTS,
    WORKQUEUE_BUCKETS,
    ControllerMetrics,
    PrometheusWorkQueueMetrics,
    register_informers,
    start_metrics_server,
    unregister_informers,
)

pytestmark = pytest.mark.looptime


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def sample(registry: CollectorRegistry, metric: str, /, **labels: str) -> float | None:
    return registry.get_sample_value(metric, labels)


def queue_with_metrics(registry: CollectorRegistry, name: str = "q") -> AsyncRateLimitingQueue[str]:
    metrics: WorkQueueMetrics[str] = PrometheusWorkQueueMetrics(name=name, registry=registry)
    return AsyncRateLimitingQueue(ItemExponentialFailureRateLimiter(), name=name, metrics=metrics)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def make_informer(source: ScriptedSource, name: str | None = None) -> SharedIndexInformer[Any]:
    return SharedIndexInformer(source=source, resource="v1/configmaps", namespaced=True,
                               name=name)


# -- names, types, labels ------------------------------------------------------------------------

QUEUE = {"name", "controller"}


@pytest.mark.parametrize(("name", "kind", "labels"), [
    pytest.param("workqueue_depth", "gauge", QUEUE, id="depth"),
    pytest.param("workqueue_adds_total", "counter", QUEUE, id="adds"),
    pytest.param("workqueue_retries_total", "counter", QUEUE, id="retries"),
    pytest.param("workqueue_queue_duration_seconds", "histogram", QUEUE, id="queue-duration"),
    pytest.param("workqueue_work_duration_seconds", "histogram", QUEUE, id="work-duration"),
    pytest.param("workqueue_unfinished_work_seconds", "gauge", QUEUE, id="unfinished"),
    pytest.param("workqueue_longest_running_processor_seconds", "gauge", QUEUE, id="longest"),
    pytest.param("controller_runtime_reconcile_total", "counter", {"controller", "result"},
                 id="reconcile-total"),
    pytest.param("controller_runtime_reconcile_errors_total", "counter", {"controller"},
                 id="reconcile-errors"),
    pytest.param("controller_runtime_reconcile_time_seconds", "histogram", {"controller"},
                 id="reconcile-time"),
    pytest.param("kopf_informers_informer_synced", "gauge", {"informer"}, id="informer-synced"),
    pytest.param("kopf_informers_informer_objects", "gauge", {"informer"}, id="informer-objects"),
])
def test_every_metric_is_exposed_with_its_controller_runtime_name_type_and_labels(
    registry: CollectorRegistry, name: str, kind: str, labels: set[str],
) -> None:
    PrometheusWorkQueueMetrics(name="q", registry=registry)
    ControllerMetrics(controller="c", registry=registry)
    register_informers(make_informer(ScriptedSource()), registry=registry)
    exposition = generate_latest(registry).decode()
    assert f"# TYPE {name} {kind}\n" in exposition
    family = next(f for f in registry.collect() if name in (f.name, f"{f.name}_total"))
    assert family.type == kind
    series = [s for s in family.samples if not s.name.endswith("_created")]
    assert series
    assert all(set(s.labels) - {"le"} == labels for s in series)


def test_the_workqueue_histograms_have_client_go_buckets_and_reconcile_time_controller_runtimes(
    registry: CollectorRegistry,
) -> None:
    PrometheusWorkQueueMetrics(name="q", registry=registry)
    ControllerMetrics(controller="c", registry=registry)
    families = {f.name: f for f in registry.collect()}

    def bounds(family: str) -> list[str]:
        return [s.labels["le"] for s in families[family].samples if s.name.endswith("_bucket")]

    assert list(WORKQUEUE_BUCKETS) == pytest.approx([10e-9 * 10.0**i for i in range(12)])
    assert bounds("workqueue_queue_duration_seconds") == [
        "1e-08", "1e-07", "1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1.0", "10.0",
        "100.0", "1000.0", "+Inf",
    ]
    assert bounds("workqueue_work_duration_seconds") == bounds("workqueue_queue_duration_seconds")
    reconcile = bounds("controller_runtime_reconcile_time_seconds")
    assert (reconcile[0], reconcile[-2], reconcile[-1], len(reconcile)) == ("0.005", "60.0",
                                                                            "+Inf", 41)


def test_every_reconcile_result_is_exposed_at_zero_from_the_start(
    registry: CollectorRegistry,
) -> None:
    ControllerMetrics(controller="c", registry=registry)
    assert RECONCILE_RESULTS == ("success", "error", "requeue_after", "requeue")
    for result in RECONCILE_RESULTS:
        assert sample(registry, "controller_runtime_reconcile_total",
                      controller="c", result=result) == 0
    assert sample(registry, "controller_runtime_reconcile_errors_total", controller="c") == 0


# -- registries ----------------------------------------------------------------------------------

def test_queues_and_controllers_share_one_registration_per_registry(
    registry: CollectorRegistry,
) -> None:
    PrometheusWorkQueueMetrics(name="a", registry=registry)
    PrometheusWorkQueueMetrics(name="b", controller="ctl", registry=registry)
    ControllerMetrics(controller="a", registry=registry)
    ControllerMetrics(controller="a", registry=registry)  # the same series, not a clash
    assert sample(registry, "workqueue_adds_total", name="a", controller="a") == 0
    assert sample(registry, "workqueue_adds_total", name="b", controller="ctl") == 0
    other = CollectorRegistry()
    PrometheusWorkQueueMetrics(name="a", registry=other)
    assert sample(other, "workqueue_adds_total", name="b", controller="ctl") is None


def test_the_default_registry_is_kopf_informers_own_not_the_global_one() -> None:
    assert DEFAULT_REGISTRY is not prometheus_client.REGISTRY
    PrometheusWorkQueueMetrics(name="default-registry-test")
    assert sample(DEFAULT_REGISTRY, "workqueue_depth", name="default-registry-test",
                  controller="default-registry-test") == 0
    assert sample(prometheus_client.REGISTRY, "workqueue_depth", name="default-registry-test",
                  controller="default-registry-test") is None


def test_a_registry_with_a_clashing_metric_is_refused_and_left_as_it_was(
    registry: CollectorRegistry,
) -> None:
    Counter("controller_runtime_reconcile_total", "someone else's", registry=registry)
    with pytest.raises(InvalidArgumentError, match="already has a metric"):
        PrometheusWorkQueueMetrics(name="q", registry=registry)
    assert {f.name for f in registry.collect()} == {"controller_runtime_reconcile"}


# -- the workqueue -------------------------------------------------------------------------------

async def test_adds_gets_dones_and_retries_drive_the_counters_and_histograms(
    registry: CollectorRegistry,
) -> None:
    queue = queue_with_metrics(registry)
    queue.add("a")
    queue.add("a")  # collapsed: not an add
    await asyncio.sleep(2)
    assert await queue.get() == "a"
    await asyncio.sleep(3)
    queue.done("a")
    queue.add_rate_limited("b")  # a retry; added 5 ms later
    queue.add_after("c", 60)  # a retry; still waiting at the end
    await asyncio.sleep(1)
    labels = {"name": "q", "controller": "q"}
    assert sample(registry, "workqueue_adds_total", **labels) == 2  # a, then b
    assert sample(registry, "workqueue_retries_total", **labels) == 2
    waited = "workqueue_queue_duration_seconds"
    assert sample(registry, f"{waited}_count", **labels) == 1
    assert sample(registry, f"{waited}_sum", **labels) == pytest.approx(2.0)
    assert sample(registry, f"{waited}_bucket", le="1.0", **labels) == 0
    assert sample(registry, f"{waited}_bucket", le="10.0", **labels) == 1
    worked = "workqueue_work_duration_seconds"
    assert sample(registry, f"{worked}_count", **labels) == 1
    assert sample(registry, f"{worked}_sum", **labels) == pytest.approx(3.0)
    queue.shut_down()


async def test_the_gauges_read_the_queues_depth_and_unfinished_work_when_scraped(
    registry: CollectorRegistry,
) -> None:
    queue = queue_with_metrics(registry)
    labels = {"name": "q", "controller": "q"}

    def gauges() -> tuple[float | None, ...]:
        return tuple(sample(registry, f"workqueue_{name}", **labels) for name in (
            "depth", "unfinished_work_seconds", "longest_running_processor_seconds"))

    assert gauges() == (0, 0, 0)
    for item in "abc":
        queue.add(item)
    assert gauges() == (3, 0, 0)
    await queue.get()
    await asyncio.sleep(4)
    await queue.get()
    await asyncio.sleep(1)
    depth, unfinished, longest = gauges()
    assert (depth, unfinished, longest) == (1, 5.0 + 1.0, 5.0)
    queue.done("a")
    queue.done("b")
    assert gauges() == (1, 0, 0)
    queue.shut_down()


async def test_the_gauges_are_safe_to_scrape_from_another_thread(
    registry: CollectorRegistry,
) -> None:
    queue = queue_with_metrics(registry)
    queue.add("a")
    queue.add("b")
    await queue.get()
    await asyncio.sleep(7)
    exposition = (await asyncio.to_thread(generate_latest, registry)).decode()
    assert 'workqueue_depth{controller="q",name="q"} 1.0' in exposition
    assert 'workqueue_longest_running_processor_seconds{controller="q",name="q"} 7.0' in exposition
    queue.shut_down()


def test_a_queue_attached_later_to_the_same_labels_takes_over_the_gauges(
    registry: CollectorRegistry,
) -> None:
    first: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue(
        name="q", metrics=PrometheusWorkQueueMetrics(name="q", registry=registry))
    first.shut_down()
    second: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue(
        name="q", metrics=PrometheusWorkQueueMetrics(name="q", registry=registry))
    second._dirty.update({"x", "y"})  # as if queued: the gauge reads the second queue
    assert sample(registry, "workqueue_depth", name="q", controller="q") == 2


# -- the controller ------------------------------------------------------------------------------

class OneInformerFactory:
    """Hands the controller one scripted informer, whatever it asks for."""

    def __init__(self, informer: SharedIndexInformer[Any]) -> None:
        self._informer = informer

    def informer(self, resource: str, *, namespace: str | None = None) -> Any:
        return self._informer


class FakeApi:
    async def discover(self, resource: str) -> Any:
        return type("Info", (), {"kind": "ConfigMap", "namespaced": True,
                                   "resource": resource})()


@pytest.fixture
async def scripted_informer() -> AsyncIterator[SharedIndexInformer[Any]]:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("ok", 1), cm("later", 2), cm("flaky", 3)], "3", None))
    informer = make_informer(source)
    yield informer
    await informer.stop()


async def test_the_controller_counts_reconciles_by_result_and_times_them(
    registry: CollectorRegistry, scripted_informer: SharedIndexInformer[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def reconcile(name: str, **_: Any) -> Result | None:
        calls.append(name)
        if name == "later":
            return Result.requeue_after(30)
        if name == "flaky" and calls.count("flaky") == 1:
            raise RuntimeError("first time unlucky")
        return None

    controller = Controller(name="ctl", resource="v1/configmaps", fn=reconcile, metrics=registry)
    controller.setup(cast(Any, OneInformerFactory(scripted_informer)))
    scripted_informer.start()
    await scripted_informer.wait_synced()
    with caplog.at_level(logging.CRITICAL, logger="kopf_informers.ctrl"):
        await controller.start(cast(Any, FakeApi()))
        await asyncio.sleep(1)  # the flaky one is retried after 5 ms; the later one waits 30 s
        await controller.stop()
    assert sorted(calls) == ["flaky", "flaky", "later", "ok"]
    assert controller.reconciles == {"success": 2, "error": 1, "requeue_after": 1}
    for result, count in [("success", 2), ("error", 1), ("requeue_after", 1), ("requeue", 0)]:
        assert sample(registry, "controller_runtime_reconcile_total",
                      controller="ctl", result=result) == count
    assert sample(registry, "controller_runtime_reconcile_errors_total", controller="ctl") == 1
    assert sample(registry, "controller_runtime_reconcile_time_seconds_count",
                  controller="ctl") == 4
    labels = {"name": "ctl", "controller": "ctl"}
    assert sample(registry, "workqueue_adds_total", **labels) == 4  # 3 listed + 1 retry
    assert sample(registry, "workqueue_retries_total", **labels) == 2  # the retry, the requeue
    assert sample(registry, "workqueue_work_duration_seconds_count", **labels) == 4


def test_a_controller_without_a_registry_reports_nothing(
    scripted_informer: SharedIndexInformer[Any],
) -> None:
    controller = Controller(name="quiet", resource="v1/configmaps", fn=lambda **_: None)
    controller.setup(cast(Any, OneInformerFactory(scripted_informer)))
    assert controller.metrics is None
    assert controller.queue is not None
    assert controller.queue._metrics is None


# -- informers -----------------------------------------------------------------------------------

async def test_informer_sync_state_and_cache_size_are_read_when_scraped(
    registry: CollectorRegistry,
) -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1), cm("b", 2)], "2", None))
    informer = make_informer(source, name="cms")
    register_informers(informer, registry=registry)
    register_informers(informer, registry=registry)  # once is enough
    assert sample(registry, "kopf_informers_informer_synced", informer="cms") == 0
    assert sample(registry, "kopf_informers_informer_objects", informer="cms") == 0
    informer.start()
    await informer.wait_synced()
    assert sample(registry, "kopf_informers_informer_synced", informer="cms") == 1
    assert sample(registry, "kopf_informers_informer_objects", informer="cms") == 2
    await informer.stop()
    unregister_informers(informer, registry=registry)
    assert sample(registry, "kopf_informers_informer_synced", informer="cms") is None


def test_a_factorys_informers_are_reported_including_those_it_creates_later(
    registry: CollectorRegistry,
) -> None:
    factory = InformerFactory()
    factory.informer("v1/configmaps")
    register_informers(factory, registry=registry)
    factory.informer("v1/secrets", namespace="ns")
    assert sample(registry, "kopf_informers_informer_synced", informer="v1/configmaps") == 0
    assert sample(registry, "kopf_informers_informer_synced", informer="v1/secrets in ns") == 0


def test_informers_of_one_name_are_reported_once(registry: CollectorRegistry) -> None:
    register_informers(make_informer(ScriptedSource(), name="same"),
                       make_informer(ScriptedSource(), name="same"), registry=registry)
    exposition = generate_latest(registry).decode()
    assert exposition.count('kopf_informers_informer_synced{informer="same"}') == 1


# -- the endpoint --------------------------------------------------------------------------------

def test_the_endpoint_serves_the_exposition_format_on_localhost_and_stops(
    registry: CollectorRegistry,
) -> None:
    ControllerMetrics(controller="c", registry=registry).observe("success", 0.25)
    with start_metrics_server(0, registry=registry) as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(server.url, timeout=10) as response:
            content_type = response.headers["Content-Type"]
            body = response.read().decode()
        assert content_type.startswith("text/plain; version=0.0.4")
        assert "# TYPE controller_runtime_reconcile_total counter" in body
        assert 'controller_runtime_reconcile_total{controller="c",result="success"} 1.0' in body
        assert "running" in repr(server)
    assert "stopped" in repr(server)
    with pytest.raises(urllib.error.URLError), urllib.request.urlopen(server.url, timeout=10):
        pass
    server.stop()  # twice: harmless


def test_the_endpoint_releases_its_port_when_stopped(registry: CollectorRegistry) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start_metrics_server(port, registry=registry).stop()
    start_metrics_server(port, registry=registry).stop()


@pytest.mark.parametrize("port", [-1, 65536, 1.5, True])
def test_the_endpoint_refuses_a_port_out_of_range(port: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="port"):
        start_metrics_server(port)


# -- the Kopf opt-in -----------------------------------------------------------------------------

@pytest.fixture
def kopf_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(_kopf.METRICS_PORT_ENV, raising=False)
    monkeypatch.delenv(_kopf.METRICS_HOST_ENV, raising=False)
    yield
    _kopf.configure()  # back to the defaults: metrics off


@pytest.mark.usefixtures("kopf_settings")
def test_kopf_metrics_are_off_unless_configured() -> None:
    assert _kopf._metrics_settings() == (None, "127.0.0.1", None)


@pytest.mark.usefixtures("kopf_settings")
def test_kopf_metrics_port_and_host_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_kopf.METRICS_PORT_ENV, "9100")
    monkeypatch.setenv(_kopf.METRICS_HOST_ENV, "0.0.0.0")
    assert _kopf._metrics_settings() == (9100, "0.0.0.0", DEFAULT_REGISTRY)


@pytest.mark.usefixtures("kopf_settings")
def test_kopf_configure_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, registry: CollectorRegistry,
) -> None:
    monkeypatch.setenv(_kopf.METRICS_PORT_ENV, "9100")
    _kopf.configure(metrics_port=8080, metrics_registry=registry)
    assert _kopf._metrics_settings() == (8080, "127.0.0.1", registry)
    _kopf.configure(metrics_registry=registry)  # metrics without a server of ours
    monkeypatch.delenv(_kopf.METRICS_PORT_ENV)
    assert _kopf._metrics_settings() == (None, "127.0.0.1", registry)


@pytest.mark.usefixtures("kopf_settings")
@pytest.mark.parametrize("value", ["http", "-1", "65536", "80.5"])
def test_kopf_refuses_a_bad_port_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    monkeypatch.setenv(_kopf.METRICS_PORT_ENV, value)
    with pytest.raises(InvalidArgumentError, match=_kopf.METRICS_PORT_ENV):
        _kopf._metrics_settings()


@pytest.mark.usefixtures("kopf_settings")
def test_kopf_configure_refuses_a_port_out_of_range() -> None:
    with pytest.raises(InvalidArgumentError, match="metrics_port"):
        _kopf.configure(metrics_port=70000)


@pytest.mark.usefixtures("kopf_settings")
async def test_kopf_startup_reports_the_informers_and_serves_them_until_cleanup(
    registry: CollectorRegistry,
) -> None:
    _kopf.configure(metrics_port=0, metrics_registry=registry)
    factory = InformerFactory()
    factory.informer("v1/configmaps")
    assert _kopf._start_metrics(factory, logging.getLogger(__name__)) is registry
    server = _kopf._runtime.metrics_server
    assert server is not None
    assert _kopf._start_metrics(factory, logging.getLogger(__name__)) is registry
    assert _kopf._runtime.metrics_server is server  # a startup retry: the same server
    body = await asyncio.to_thread(fetch, server.url)
    assert 'kopf_informers_informer_synced{informer="v1/configmaps"} 0.0' in body
    await _kopf._stop_metrics()
    assert "stopped" in repr(server)
    assert not _kopf._runtime.metrics_server
    unregister_informers(factory, registry=registry)
