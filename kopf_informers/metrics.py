"""Prometheus metrics with controller-runtime's names, so that its dashboards work unchanged.

Their place in the data flow::

    informers --(sync state, cache size, at scrape time)------------------+
    WorkQueue --(WorkQueueMetrics hook: add, get, done, retry)-----------+--> CollectorRegistry
    Controller._process --(ControllerMetrics.observe: result, duration)--+        |
                                                             start_metrics_server: GET /metrics

The metrics, by family (``name`` is the queue's name, ``controller`` the controller's; a
controller's queue is named after the controller, as in controller-runtime):

=================================================  =========  ==========================
``workqueue_depth``                                gauge      ``name``, ``controller``
``workqueue_adds_total``                           counter    ``name``, ``controller``
``workqueue_retries_total``                        counter    ``name``, ``controller``
``workqueue_queue_duration_seconds``               histogram  ``name``, ``controller``
``workqueue_work_duration_seconds``                histogram  ``name``, ``controller``
``workqueue_unfinished_work_seconds``              gauge      ``name``, ``controller``
``workqueue_longest_running_processor_seconds``    gauge      ``name``, ``controller``
``controller_runtime_reconcile_total``             counter    ``controller``, ``result``
``controller_runtime_reconcile_errors_total``      counter    ``controller``
``controller_runtime_reconcile_time_seconds``      histogram  ``controller``
``kopf_informers_informer_synced``                 gauge      ``informer`` (1 synced, 0 not)
``kopf_informers_informer_objects``                gauge      ``informer`` (objects cached)
``leader_election_master_status``                  gauge      ``name`` (1 leading, 0 not)
=================================================  =========  ==========================

The workqueue histograms have client-go's buckets (``ExponentialBuckets(10e-9, 10, 12)``: 10 ns
to 1000 s), the reconcile time controller-runtime's (5 ms to 60 s). Durations are in seconds of
the event loop's clock for the queue, of the monotonic clock for reconciles.

Registries: every family is registered once per ``CollectorRegistry``, on first use, and shared
by all the queues, controllers and informers that report to it. By default that is
:data:`DEFAULT_REGISTRY`, kopf-informers' own, not prometheus_client's global ``REGISTRY``: two
libraries (or two operators) in one process never collide, and tests use a fresh registry each.
Pass ``registry=prometheus_client.REGISTRY`` to report alongside the process's other metrics
(it also has the process and Python collectors, which :data:`DEFAULT_REGISTRY` has not).

Thread safety: gauges are computed when scraped, from the scrape thread: the queue's
:class:`~kopf_informers.WorkQueueStats` and the informers' sync state and sizes are
documented as safe to read from any thread. Everything else is called from the event loop.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Literal, get_args
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._informer import InformerFactory, SharedIndexInformer
from ._workqueue import WorkQueueStats
from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_REGISTRY",
    "RECONCILE_RESULTS",
    "RECONCILE_TIME_BUCKETS",
    "WORKQUEUE_BUCKETS",
    "ControllerMetrics",
    "LeaderElectionMetrics",
    "MetricsServer",
    "PrometheusWorkQueueMetrics",
    "ReconcileResult",
    "register_informers",
    "start_metrics_server",
    "unregister_informers",
]

DEFAULT_REGISTRY = CollectorRegistry()
"""kopf-informers' own registry: where metrics go unless a ``registry=`` says otherwise."""

ReconcileResult = Literal["success", "error", "requeue_after", "requeue"]
"""The ``result`` label of ``controller_runtime_reconcile_total``, as controller-runtime's."""
RECONCILE_RESULTS: tuple[ReconcileResult, ...] = get_args(ReconcileResult)

# client_golang's ExponentialBuckets(10e-9, 10, 12), written out so that the `le` labels are
# exact decimals rather than the float noise of repeated multiplication.
WORKQUEUE_BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
RECONCILE_TIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0,
    20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)

InformerSource = InformerFactory | SharedIndexInformer[Any]


class _InformerCollector(Collector):
    """Sync state and cache size of the registered informers, read when scraped.

    A factory is read anew at every scrape, so informers it creates later are included. Two
    informers with one name (e.g. two factories watching the same resource) are reported once,
    the first registered winning: Prometheus refuses duplicate series.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: list[InformerSource] = []

    def add(self, source: InformerSource) -> None:
        with self._lock:
            if not any(s is source for s in self._sources):
                self._sources.append(source)

    def remove(self, source: InformerSource) -> None:
        with self._lock:
            self._sources = [s for s in self._sources if s is not source]

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        synced, objects = self._families()
        seen: set[str] = set()
        for informer in self._informers():
            if informer.name in seen:
                continue
            seen.add(informer.name)
            synced.add_metric([informer.name], 1.0 if informer.has_synced else 0.0)
            objects.add_metric([informer.name], float(len(informer.store)))
        return (synced, objects)

    def _informers(self) -> Iterator[SharedIndexInformer[Any]]:
        with self._lock:
            sources = tuple(self._sources)
        for source in sources:
            if isinstance(source, InformerFactory):
                yield from source.informers
            else:
                yield source

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("kopf_informers_informer_synced",
                              "Whether the informer's cache holds a complete list (1) or not (0)",
                              labels=["informer"]),
            GaugeMetricFamily("kopf_informers_informer_objects",
                              "How many objects the informer's cache holds",
                              labels=["informer"]),
        )


@dataclasses.dataclass(frozen=True)
class _Families:
    """Every metric family, registered on one registry."""

    depth: Gauge
    adds: Counter
    retries: Counter
    queue_duration: Histogram
    work_duration: Histogram
    unfinished: Gauge
    longest: Gauge
    reconcile_total: Counter
    reconcile_errors: Counter
    reconcile_time: Histogram
    leader: Gauge
    informers: _InformerCollector

    @classmethod
    def create(cls) -> _Families:
        queue = ("name", "controller")
        return cls(
            depth=Gauge("workqueue_depth", "Current depth of the workqueue", queue,
                        registry=None),
            adds=Counter("workqueue_adds_total", "Total number of adds handled by the workqueue",
                         queue, registry=None),
            retries=Counter("workqueue_retries_total",
                            "Total number of retries handled by the workqueue", queue,
                            registry=None),
            queue_duration=Histogram(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in the workqueue before being requested",
                queue, buckets=WORKQUEUE_BUCKETS, registry=None),
            work_duration=Histogram(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from the workqueue takes",
                queue, buckets=WORKQUEUE_BUCKETS, registry=None),
            unfinished=Gauge(
                "workqueue_unfinished_work_seconds",
                "Seconds of work in progress, not yet observed by work_duration; a steady rise "
                "means stuck workers", queue, registry=None),
            longest=Gauge(
                "workqueue_longest_running_processor_seconds",
                "How many seconds the longest-running item of the workqueue has been processed",
                queue, registry=None),
            reconcile_total=Counter(
                "controller_runtime_reconcile_total",
                "Total number of reconciliations per controller", ("controller", "result"),
                registry=None),
            reconcile_errors=Counter(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller", ("controller",),
                registry=None),
            reconcile_time=Histogram(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller", ("controller",),
                buckets=RECONCILE_TIME_BUCKETS, registry=None),
            leader=Gauge(
                "leader_election_master_status",
                "Whether this process holds the leader election's Lease (1) or stands by (0); "
                "name is the Lease's name",
                ("name",), registry=None),
            informers=_InformerCollector(),
        )

    def register(self, registry: CollectorRegistry) -> None:
        """Register every family, or none: on a clash, undo what was done and raise."""
        done: list[Collector] = []
        try:
            for field in dataclasses.fields(self):
                collector: Collector = getattr(self, field.name)
                registry.register(collector)
                done.append(collector)
        except ValueError as e:  # prometheus_client's DuplicateTimeseries
            for collector in done:
                registry.unregister(collector)
            raise InvalidArgumentError(
                f"the registry already has a metric of kopf-informers' names, registered by "
                f"something else: {e}"
            ) from e


_registered: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = (
    weakref.WeakKeyDictionary()
)
_registered_lock = threading.Lock()


def _families(registry: CollectorRegistry | None) -> _Families:
    """The families on the registry (default: :data:`DEFAULT_REGISTRY`), registered once."""
    registry = DEFAULT_REGISTRY if registry is None else registry
    with _registered_lock:
        families = _registered.get(registry)
        if families is None:
            families = _Families.create()
            families.register(registry)
            _registered[registry] = families
        return families


class PrometheusWorkQueueMetrics:
    """The ``workqueue_*`` metrics of one queue: a
    :class:`~kopf_informers.WorkQueueMetrics` for any item type.

    Pass it as ``AsyncRateLimitingQueue(metrics=...)``. ``name`` and ``controller`` are the label
    values (``controller`` defaults to ``name``, as controller-runtime labels a controller's
    queue). Counters and histograms are updated as the queue calls the hook; ``workqueue_depth``,
    ``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``
    are read from the attached queue when scraped (0 until a queue is attached). A queue attached
    later to the same labels takes over the gauges; a stopped queue keeps reporting its last
    state (nothing queued, nothing in flight).

    Raises:
        InvalidArgumentError: the registry has metrics of these names from another library.
    """

    def __init__(
        self, *, name: str, controller: str | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        families = _families(registry)
        labels = (name, name if controller is None else controller)
        self.name, self.controller = labels
        self._adds = families.adds.labels(*labels)
        self._retries = families.retries.labels(*labels)
        self._queue_duration = families.queue_duration.labels(*labels)
        self._work_duration = families.work_duration.labels(*labels)
        self._depth = families.depth.labels(*labels)
        self._unfinished = families.unfinished.labels(*labels)
        self._longest = families.longest.labels(*labels)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} controller={self.controller!r}>"

    def attach(self, queue: WorkQueueStats) -> None:
        self._depth.set_function(lambda: queue.depth)
        self._unfinished.set_function(queue.unfinished_work_seconds)
        self._longest.set_function(queue.longest_running_processor_seconds)

    def add(self, item: object) -> None:
        self._adds.inc()

    def get(self, item: object, waited: float) -> None:
        self._queue_duration.observe(waited)

    def done(self, item: object, worked: float) -> None:
        self._work_duration.observe(worked)

    def retry(self) -> None:
        self._retries.inc()


class ControllerMetrics:
    """The ``controller_runtime_reconcile_*`` metrics of one controller.

    Every result's counter exists (at 0) from the start, as in controller-runtime, so that
    ``rate()`` sees the first reconcile of each kind.

    Raises:
        InvalidArgumentError: the registry has metrics of these names from another library.
    """

    def __init__(self, *, controller: str, registry: CollectorRegistry | None = None) -> None:
        families = _families(registry)
        self.controller = controller
        self._total = {r: families.reconcile_total.labels(controller, r) for r in RECONCILE_RESULTS}
        self._errors = families.reconcile_errors.labels(controller)
        self._time = families.reconcile_time.labels(controller)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} controller={self.controller!r}>"

    def observe(self, result: ReconcileResult, seconds: float) -> None:
        """One reconcile ended with ``result`` after ``seconds``; an ``"error"`` also counts
        in ``controller_runtime_reconcile_errors_total``."""
        self._total[result].inc()
        if result == "error":
            self._errors.inc()
        self._time.observe(seconds)


class LeaderElectionMetrics:
    """``leader_election_master_status{name}`` of one election, as client-go reports it
    through controller-runtime: 1 while this process leads, 0 while it stands by or after it
    lost. ``name`` is the Lease's name.

    Raises:
        InvalidArgumentError: the registry has metrics of these names from another library.
    """

    def __init__(self, *, name: str, registry: CollectorRegistry | None = None) -> None:
        self.name = name
        self._status = _families(registry).leader.labels(name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"

    def set_leading(self, leading: bool) -> None:
        self._status.set(1.0 if leading else 0.0)


def register_informers(
    *sources: InformerSource, registry: CollectorRegistry | None = None,
) -> None:
    """Report the sync state and cache size of informers (``kopf_informers_informer_*``).

    A source is an :class:`~kopf_informers.InformerFactory` (all its informers, including those
    it creates later) or one :class:`~kopf_informers.SharedIndexInformer`. Registering a source
    twice reports it once. Sources are held until :func:`unregister_informers`.
    """
    collector = _families(registry).informers
    for source in sources:
        collector.add(source)


def unregister_informers(
    *sources: InformerSource, registry: CollectorRegistry | None = None,
) -> None:
    """Stop reporting informers registered with :func:`register_informers` (unknown: ignored)."""
    collector = _families(registry).informers
    for source in sources:
        collector.remove(source)


class MetricsServer:
    """A running metrics endpoint (from :func:`start_metrics_server`); :meth:`stop` it.

    Also a context manager that stops it on exit.
    """

    def __init__(self, server: WSGIServer, thread: threading.Thread, *, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port  # the bound one, also when asked for port 0

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and release the port; returns once the server thread has ended.

        Blocks for up to half a second (the server's poll interval): from a coroutine, call
        ``await asyncio.to_thread(server.stop)``. Stopping twice is harmless.
        """
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_metrics_server(
    port: int, *, host: str = "127.0.0.1", registry: CollectorRegistry | None = None,
) -> MetricsServer:
    """Serve the registry (default :data:`DEFAULT_REGISTRY`) in Prometheus' exposition format
    on ``http://host:port/metrics`` (OpenMetrics when the scraper asks for it); port 0 picks a
    free port (see :attr:`MetricsServer.port`).

    This is prometheus_client's own threaded HTTP server, not a handler on the event loop, on
    purpose: scrapes are answered even while the loop is blocked, which is when
    ``workqueue_longest_running_processor_seconds`` matters most (a synchronous reconcile
    function that hangs). The default host serves only this machine; in a pod, bind
    ``0.0.0.0`` so that Prometheus can reach it.

    Raises:
        InvalidArgumentError: the port is not in 0..65535.
        OSError: the address cannot be bound (e.g. the port is in use).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgumentError(f"the metrics port must be an integer 0..65535, got {port!r}")
    registry = DEFAULT_REGISTRY if registry is None else registry
    server, thread = start_http_server(port, addr=host, registry=registry)
    thread.name = f"metrics:{host}:{server.server_port}"
    return MetricsServer(server, thread, host=host)
