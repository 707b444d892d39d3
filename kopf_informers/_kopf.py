"""The Kopf integration: ``@reconcile`` controllers and module-level informers inside Kopf.

Decorating a function registers three Kopf activity handlers (once per Kopf registry, whatever
the number of controllers or re-imports):

- **startup**: resolve credentials (in-cluster, ``KUBECONFIG``, ``~/.kube/config``), start every
  informer, wait until every cache has synced (2 minutes at most, as controller-runtime), then
  start the controllers' workers. Kopf runs its own handlers only after startup handlers
  finish, so plain Kopf handlers also see synced listers. An API server that is unreachable
  (or answers 5xx or 429) is retried within those 2 minutes with the reflector's backoff
  (0.8 s doubling to 30 s), one log line per retry: a few seconds of outage cost a few
  seconds, not Kopf's 60 s before it re-runs a failed handler. Failures that retrying cannot
  fix (an unknown resource, 401, 403, bad credentials) fail the handler at once.
- **cleanup**: stop the workers (letting running reconciles finish), stop the informers.
- **probe** ``kopf_informers``: sync state, cache sizes, queue depths and reconcile counts.

With leader election on (:func:`configure`, ``KOPF_INFORMERS_LEADER_ELECTION=true``), the
startup handler returns only once this replica holds the Lease, so a standby runs no Kopf handler
and no worker; losing the Lease exits the process, cleanup releases it (see :mod:`._ha`).

Namespaces: the library serves the namespaces Kopf serves. ``kopf run -A`` (or neither ``-A``
nor ``-n``) is cluster-wide; ``kopf run -n a -n 'team-*'`` makes every informer of a
namespaced resource list and watch ``a`` and the ``team-*`` namespaces only (following those
created and deleted later), never the whole cluster, so a namespaced Role is enough. They are
read from ``kopf run``'s command line (also under ``KopfRunner``); an operator started with
``kopf.operator()`` is read from Kopf's settings and its namespace observer (private to
Kopf: checked by a test). :func:`configure` (``namespaces=``) or ``KOPF_INFORMERS_NAMESPACES``
set them explicitly; if those disagree with Kopf's, startup says so in one line. Per
controller, ``reconcile(..., namespace=...)`` restricts one controller to one namespace.

Errors at startup: those that retrying cannot fix (no credentials, an unknown resource, 401 or
403 on discovery or on an informer's first list) stop the operator at once, exit status 1,
with one line that names the cause and the fix (for a 403: the verb, resource and namespace
the operator's account lacks). Transient ones are retried as said above.

Events follow the operator's ``settings.posting`` (the ``settings`` Kopf passes to startup
handlers, read at each Event): a failed reconcile posts a Warning Event when posting is enabled
at WARNING or below, and the records of a reconcile's ``logger`` are posted as those of Kopf's
handlers are (``settings.posting.loggers``, off by default).

Prometheus metrics (:mod:`kopf_informers.metrics`) are opt-in, with :func:`configure` or the
``KOPF_INFORMERS_METRICS_PORT`` and ``KOPF_INFORMERS_METRICS_HOST`` environment variables, read
at each startup; the endpoint starts before the caches sync and stops at cleanup.

Kopf's own login and handlers are untouched: nothing here registers a login handler.

Plain Kopf handlers read the listers of :func:`shared_informer` freely (reading one at import
time, before the startup handler, raises :class:`~kopf_informers.errors.CacheNotSyncedError`).
They are not given the library's :class:`~kopf_informers.ApiClient`, as reconcile functions are
(``api=``): open one in a startup handler and keep it in Kopf's operator-wide ``memo``, which
Kopf copies into every object's handlers::

    @kopf.on.startup()
    async def open_api(memo: kopf.Memo, **_):
        memo.api = await kopf_informers.ApiClient.autodetect()

    @kopf.on.cleanup()
    async def close_api(memo: kopf.Memo, **_):
        await memo.api.close()
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.metadata
import inspect
import os
import random
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
import kopf
from prometheus_client import CollectorRegistry

from . import _ha
from ._api import ApiClient
from ._controller import DEFAULT_RESYNC_PERIOD, Controller, MapFn, Request
from ._informer import InformerFactory, SharedIndexInformer
from ._namespaces import NamespaceScope
from ._predicates import Predicate
from ._ratelimiters import RateLimiter
from ._store import IndexFunc, RawObject
from .errors import (
    CacheSyncTimeoutError,
    CredentialsError,
    InvalidArgumentError,
    KopfInformersError,
    UnauthorizedError,
)
from .metrics import (
    DEFAULT_REGISTRY,
    MetricsServer,
    register_informers,
    start_metrics_server,
    unregister_informers,
)

__all__ = ["backoff", "configure", "reconcile", "shared_informer"]

F = TypeVar("F", bound=Callable[..., Any])
CACHE_SYNC_TIMEOUT = 120.0  # seconds, controller-runtime's default
DRAIN_TIMEOUT = 10.0
HANDLER_ID = "kopf_informers"
METRICS_PORT_ENV = "KOPF_INFORMERS_METRICS_PORT"
METRICS_HOST_ENV = "KOPF_INFORMERS_METRICS_HOST"
NAMESPACES_ENV = "KOPF_INFORMERS_NAMESPACES"
STARTUP_RETRY_DELAY = 10.0  # seconds before Kopf runs a startup that timed out again
EXIT_STATUS = 1  # a startup error that retrying cannot fix: as plain Kopf's failed start
_UNSET: Any = object()


@dataclasses.dataclass
class _Runtime:
    """What the plugin runs inside one operator process."""

    controllers: dict[str, Controller] = dataclasses.field(default_factory=dict)
    factory: InformerFactory | None = None
    api: ApiClient | None = None
    registries: weakref.WeakSet[kopf.OperatorRegistry] = dataclasses.field(
        default_factory=weakref.WeakSet,
    )
    # Metrics, as configure() set them (None: from the environment at startup), and in use.
    metrics_port: int | None = None
    metrics_host: str | None = None
    metrics_registry: CollectorRegistry | None = None
    metrics_server: MetricsServer | None = None
    reporting_to: CollectorRegistry | None = None
    # Leader election, as configure() set it, and the running one (None: off).
    leader_election: _ha.Options = dataclasses.field(default_factory=_ha.Options)
    election: _ha.Election | None = None
    namespaces: NamespaceScope | None = None  # as configure() set them; None: Kopf's

    def the_factory(self) -> InformerFactory:
        if self.factory is None:
            self.factory = InformerFactory()
        return self.factory


_runtime = _Runtime()


def _register_activities(registry: kopf.OperatorRegistry | None) -> None:
    registry = registry if registry is not None else kopf.get_default_registry()
    if registry in _runtime.registries:
        return
    _runtime.registries.add(registry)
    kopf.on.startup(id=f"{HANDLER_ID}/startup", registry=registry)(_startup)
    kopf.on.cleanup(id=f"{HANDLER_ID}/cleanup", registry=registry)(_cleanup)
    kopf.on.probe(id=HANDLER_ID, registry=registry)(_probe)


async def _startup(logger: Any, settings: kopf.OperatorSettings, **_: Any) -> None:
    try:
        await _start(logger, settings)
    except BaseException as e:
        # Whatever started is stopped (the client closed, the Lease given up: a replica that
        # cannot work must not keep it from the others): Kopf runs no cleanup handler after a
        # failed startup, and a retry starts everything again.
        await _stop_everything()
        if isinstance(e, CacheSyncTimeoutError):  # still failing at the deadline: Kopf retries
            raise kopf.TemporaryError(f"kopf-informers: {e}", delay=STARTUP_RETRY_DELAY) from e
        if isinstance(e, KopfInformersError | StartupError):
            _stop_the_operator(logger, _explain(e))
        raise


async def _start(logger: Any, settings: kopf.OperatorSettings) -> None:
    loop = asyncio.get_running_loop()
    factory = _runtime.the_factory()
    factory.scope = _served_namespaces(settings, logger)
    registry = _start_metrics(factory, logger)
    if _runtime.election is None:  # once per process, whatever the startup retries
        _runtime.election = await _start_election(factory, registry)
    election = _runtime.election
    if election is not None and not election.warm_standby:
        await _stand_by(election, logger)  # a cold standby starts no informer
    deadline = loop.time() + CACHE_SYNC_TIMEOUT  # for discovery and the sync, together
    for controller in _runtime.controllers.values():
        controller.setup(factory, metrics=registry)
        # The operator's own: Events are posted (or not) as its Kopf handlers' are.
        controller.posting = settings.posting
    # Discovery is retried (with the reflector's backoff) while the server is unreachable.
    await factory.start(timeout=max(0.0, deadline - loop.time()))
    logger.info("kopf-informers: waiting for %d caches to sync (%s)", len(factory.informers),
                factory.scope)
    await factory.wait_synced(timeout=max(0.0, deadline - loop.time()), fail_fast=True)
    if election is not None:
        await _stand_by(election, logger)  # a warm standby waits with synced caches
    for controller in _runtime.controllers.values():
        # Its discovery of its resource is answered from the client's cache: the factory's.
        await controller.start(factory.api)
    logger.info("kopf-informers: caches synced; %d controllers started",
                len(_runtime.controllers))


async def _start_election(
    factory: InformerFactory, registry: CollectorRegistry | None,
) -> _ha.Election | None:
    """Start campaigning if leader election is on; the library's clients then name the
    replica in their User-Agent."""
    # A setting that is wrong stops the operator (InvalidArgumentError): see _startup.
    settings = _ha.resolve(_runtime.leader_election, controllers=list(_runtime.controllers))
    if settings is None:
        return None

    async def stop_acting() -> None:
        await asyncio.gather(*(c.stop(drain_timeout=0) for c in _runtime.controllers.values()))

    async def answer() -> dict[str, Any]:
        return {HANDLER_ID: await _probe()}

    factory.user_agent = _ha.user_agent(settings.config.identity)
    return await _ha.Election.start(settings, stop_acting=stop_acting, answer=answer,
                                    metrics_registry=registry)


async def _withdraw() -> None:
    """Stop campaigning, releasing the Lease if held (nothing guarded by it runs any more)."""
    election, _runtime.election = _runtime.election, None
    if election is not None:
        await election.stop()


async def _stand_by(election: _ha.Election, logger: Any) -> None:
    # Stopped while standing by, Kopf runs no cleanup, and would wait 5 s for the informers'
    # tasks to end: _startup stops them on the way out.
    await election.wait_leading()


class StartupError(Exception):
    """What stops the operator at startup when it cannot serve as configured."""


def _explain(error: BaseException) -> str:
    """One line: what is wrong, and what fixes it."""
    if isinstance(error, CredentialsError):
        return (f"no usable Kubernetes credentials: {error}; run in a pod with a service "
                f"account, or set KUBECONFIG (or ~/.kube/config) to a working kubeconfig")
    if isinstance(error, UnauthorizedError):
        return f"the API server refused the credentials: {error}; renew them or fix the kubeconfig"
    if isinstance(error, KopfInformersError) and getattr(error, "status", None) == 403:
        verb, resource = getattr(error, "verb", ""), getattr(error, "resource", "")
        namespace = getattr(error, "namespace", None)
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        return (f"forbidden: {error}; grant the operator's account {verb!r} (and 'watch') on "
                f"{resource} {where} with a Role/ClusterRole and its binding")
    return str(error)


def _stop_the_operator(logger: Any, line: str) -> None:
    """Log one line and end the process with :data:`EXIT_STATUS` (under ``kopf run``), or fail
    Kopf's startup permanently (``kopf.operator()`` raises it to its caller)."""
    logger.error("kopf-informers cannot start: %s", line)
    if click.get_current_context(silent=True) is not None:
        raise SystemExit(EXIT_STATUS)
    raise kopf.PermanentError(f"kopf-informers cannot start: {line}")


def _served_namespaces(settings: kopf.OperatorSettings, logger: Any) -> NamespaceScope:
    """The namespaces to serve: the configured ones, else Kopf's; one line if they differ."""
    configured = _runtime.namespaces
    raw = os.environ.get(NAMESPACES_ENV, "").strip()
    if configured is None and raw:
        configured = NamespaceScope.parse(raw)
    kopfs = kopf_namespaces(settings)
    if configured is not None:
        if kopfs is not None and kopfs != configured:
            logger.warning("kopf-informers serves %s as configured, but Kopf serves %s",
                           configured, kopfs)
        return configured
    if kopfs is None:
        raise StartupError(
            "cannot tell which namespaces Kopf serves (it was started neither by 'kopf run' nor "
            "by kopf.operator() of a known Kopf version); pass them to "
            "kopf_informers.configure(namespaces=[...]) or set " + NAMESPACES_ENV
        )
    return kopfs


def kopf_namespaces(settings: kopf.OperatorSettings) -> NamespaceScope | None:
    """The namespaces the running Kopf operator serves, or None if they cannot be told.

    ``kopf run`` (also under ``KopfRunner``) says it on its command line, read through click's
    context, as Kopf reads it: ``-A``, ``-n`` (repeated), the legacy ``KOPF_RUN_NAMESPACE``.
    ``kopf.operator()`` passes them to its namespace observer only (:func:`_observed_scope`).
    """
    context = click.get_current_context(silent=True)
    while context is not None:
        params = context.params
        if "clusterwide" in params and "namespaces" in params:
            patterns = list(params["namespaces"] or ())
            legacy = os.environ.get("KOPF_RUN_NAMESPACE")
            if legacy:
                patterns.append(legacy)
            return NamespaceScope() if params["clusterwide"] or not patterns \
                else NamespaceScope.of(patterns)
        context = context.parent
    if settings.peering.clusterwide:  # public: set from clusterwide= by kopf.operator()
        return NamespaceScope()
    return _observed_scope()


KOPF_VERSIONS_READ = ((1, 40), (1, 46))  # Kopf versions whose namespace observer is read


def _observed_scope() -> NamespaceScope | None:
    """The patterns given to ``kopf.operator(namespaces=...)``, from the arguments of Kopf's
    "namespace observer" task (private to Kopf, read only from the versions checked here;
    ``tests/kopf/test_namespaces.py`` fails when a new Kopf moves them)."""
    release = importlib.metadata.version("kopf").split(".")[:2]
    version = tuple(int(part) for part in release if part.isdigit())
    if not KOPF_VERSIONS_READ[0] <= version < KOPF_VERSIONS_READ[1]:
        return None
    for task in asyncio.all_tasks():
        if task.get_name() != "namespace observer":
            continue
        guard = task.get_coro()
        frame = getattr(guard, "cr_frame", None)
        inner = frame.f_locals.get("coro") if frame is not None else None
        arguments = getattr(getattr(inner, "cr_frame", None), "f_locals", None) or {}
        if "namespaces" in arguments and "clusterwide" in arguments:
            if arguments["clusterwide"] or not arguments["namespaces"]:
                return NamespaceScope()
            patterns = [p for p in arguments["namespaces"] if isinstance(p, str)]
            return NamespaceScope.of(patterns) if patterns else None
    return None


async def _cleanup(logger: Any, **_: Any) -> None:
    await _stop_everything()
    _runtime.factory = None
    logger.info("kopf-informers: controllers and informers stopped")


async def _stop_everything() -> None:
    """Stop the workers (letting running reconciles finish), the informers (closing the client
    the factory made) and the metrics; the factory keeps its informers, to start them again."""
    await asyncio.gather(*(c.stop(drain_timeout=DRAIN_TIMEOUT)
                           for c in _runtime.controllers.values()))
    await _withdraw()
    if _runtime.factory is not None:
        await _runtime.factory.stop()
        if _runtime.reporting_to is not None:
            unregister_informers(_runtime.factory, registry=_runtime.reporting_to)
            _runtime.reporting_to = None
    await _stop_metrics()


def configure(
    *, metrics_port: int | None = None, metrics_host: str | None = None,
    metrics_registry: CollectorRegistry | None = None,
    leader_election: bool | None = None, leader_election_id: str | None = None,
    leader_election_namespace: str | None = None, lease_duration: float | None = None,
    renew_deadline: float | None = None, retry_period: float | None = None,
    warm_standby: bool | None = None,
    namespaces: Iterable[str] | None = None,
) -> None:
    """Configure the Kopf integration; read when the operator starts (call it at import).

    Leader election (off by default) runs one active replica of the operator: the others
    stand by until its Lease (``coordination.k8s.io/v1``, named ``leader_election_id`` in
    ``leader_election_namespace``) is free. Durations are client-go's (``lease_duration``
    15 s, ``renew_deadline`` 10 s, ``retry_period`` 2 s); ``warm_standby`` (default True) keeps
    the standbys' informer caches synced. A setting left None comes from the environment
    (``KOPF_INFORMERS_LEADER_ELECTION=true``, ``KOPF_INFORMERS_LEADER_ELECTION_ID``,
    ``KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE``, ...; see the README).

    Metrics are off unless a port or a registry is given. Then controllers, their workqueues
    and the informers report to ``metrics_registry`` (default: kopf-informers' own
    :data:`~kopf_informers.metrics.DEFAULT_REGISTRY`; ``prometheus_client.REGISTRY`` to report
    with the process's other metrics), and with a port, ``http://{host}:{port}/metrics`` serves
    it. A setting left None comes from the environment: ``KOPF_INFORMERS_METRICS_PORT``, and
    ``KOPF_INFORMERS_METRICS_HOST`` (default ``127.0.0.1``: in a pod, ``0.0.0.0``, or
    Prometheus cannot reach it). ``namespaces`` are the namespaces to serve, as Kopf's ``-n``
    patterns (``["default"]``, ``["team-*", "!team-tmp"]``; an empty list: all namespaces);
    None (the default) serves Kopf's own, or those of ``KOPF_INFORMERS_NAMESPACES``
    (comma-separated: ``"a,b"``, ``"team-*,!team-tmp"``). Each call replaces every setting.

    Raises:
        InvalidArgumentError: the port is not in 0..65535; a namespace pattern that is not a
            non-empty string, or a bare string instead of a list.
    """
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise InvalidArgumentError(f"metrics_port must be in 0..65535, got {metrics_port!r}")
    _runtime.namespaces = None if namespaces is None else NamespaceScope.of(namespaces)
    _runtime.metrics_port = metrics_port
    _runtime.metrics_host = metrics_host
    _runtime.metrics_registry = metrics_registry
    _runtime.leader_election = _ha.Options(
        enabled=leader_election, id=leader_election_id, namespace=leader_election_namespace,
        lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period,
        warm_standby=warm_standby)


def _metrics_settings() -> tuple[int | None, str, CollectorRegistry | None]:
    """The port (None: no server), host and registry (None: no metrics) to use now."""
    port = _runtime.metrics_port
    raw = os.environ.get(METRICS_PORT_ENV, "").strip()
    if port is None and raw:
        port = int(raw) if raw.isascii() and raw.isdigit() else -1
        if not 0 <= port <= 65535:
            raise InvalidArgumentError(f"{METRICS_PORT_ENV}={raw!r} is not a port (0..65535)")
    host = _runtime.metrics_host or os.environ.get(METRICS_HOST_ENV, "").strip() or "127.0.0.1"
    registry = _runtime.metrics_registry
    if registry is None and port is not None:
        registry = DEFAULT_REGISTRY
    return port, host, registry


def _start_metrics(factory: InformerFactory, logger: Any) -> CollectorRegistry | None:
    """Report the informers and serve the metrics, if configured; the registry, or None."""
    port, host, registry = _metrics_settings()
    _runtime.reporting_to = registry
    if registry is None:
        return None
    register_informers(factory, registry=registry)
    if port is not None and _runtime.metrics_server is None:  # None: not a startup retry
        _runtime.metrics_server = start_metrics_server(port, host=host, registry=registry)
        logger.info("kopf-informers: serving metrics on %s", _runtime.metrics_server.url)
    return registry


async def _stop_metrics() -> None:
    server, _runtime.metrics_server = _runtime.metrics_server, None
    if server is not None:
        await asyncio.to_thread(server.stop)  # blocks up to the server's poll interval


async def _probe(**_: Any) -> dict[str, Any]:
    factory = _runtime.factory
    informers = factory.informers if factory is not None else []
    return {
        "synced": all(i.has_synced for i in informers),
        "informers": {i.name: {"synced": i.has_synced, "objects": len(i.store)}
                      for i in informers},
        "controllers": {
            name: {"depth": len(c.queue) if c.queue is not None else 0,
                   "reconciles": dict(c.reconciles)}
            for name, c in _runtime.controllers.items()
        },
        **({"leader_election": _runtime.election.report()} if _runtime.election else {}),
    }


def reconcile(
    resource: str, *, owns: Sequence[str] = (), watches: Mapping[str, MapFn] | None = None,
    finalizer: str | None = None, max_concurrent: int = 1,
    rate_limiter: RateLimiter[Request] | None = None, predicates: Sequence[Predicate] = (),
    child_predicates: Sequence[Predicate] = (), any_owner: bool = False, id: str | None = None,
    resync_period: float | None = DEFAULT_RESYNC_PERIOD, namespace: str | None = None,
    registry: kopf.OperatorRegistry | None = None,
) -> Callable[[F], F]:
    """Register a level-triggered reconcile function for ``resource`` with Kopf.

    The function is called Kopf-style with keyword arguments (``name``, ``namespace``,
    ``body``, ``logger``, ``api``, ``retry``, ``cleanup``, ``request``) and returns None (done)
    or :meth:`kopf_informers.Result.requeue_after`; an exception retries it with backoff.
    See :class:`kopf_informers.Controller` for the arguments. Registering the same ``id``
    (default: the function's module and qualified name), or the same function imported again,
    replaces the function and registers nothing twice.
    """

    def decorator(fn: F) -> F:
        cid = id or _default_id(fn)
        existing = _runtime.controllers.get(cid)
        if existing is None and id is None:  # the module imported again, under another name
            existing = next((c for c in _runtime.controllers.values()
                             if _same_source(c.fn, fn)), None)
        if existing is not None and existing.resource != resource:
            raise InvalidArgumentError(
                f"a controller with id {existing.name!r} already reconciles "
                f"{existing.resource}; give the one for {resource} another id="
            )
        if existing is not None:
            existing.fn = fn  # a re-import: same controller, the newest function
        else:
            _runtime.controllers[cid] = Controller(
                name=cid, resource=resource, fn=fn, owns=owns, watches=watches,
                finalizer=finalizer, max_concurrent=max_concurrent, rate_limiter=rate_limiter,
                predicates=predicates, child_predicates=child_predicates, any_owner=any_owner,
                resync_period=resync_period, namespace=namespace,
            )
        _register_activities(registry)
        return fn

    return decorator


def _default_id(fn: Callable[..., Any]) -> str:
    """The function's module and qualified name. For a file run by ``kopf run`` (its module is
    ``__kopf_script_<n>__<path>``, numbered by the file's place on the command line) or as
    ``__main__``, the file's name stands for the module: the id stays the same however the file
    is loaded, and no machine path ends up in logs, probes and metrics."""
    module = fn.__module__
    if module == "__main__" or module.startswith("__kopf_script_"):
        module = os.path.splitext(os.path.basename(fn.__code__.co_filename))[0]
    return f"{module}.{fn.__qualname__}"


def _same_source(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether two functions come from the same source: each import of a module (under two
    names, or by ``kopf run`` as well as ``import``) makes new function objects."""
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return (code_a is not None and code_b is not None
            and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
            and os.path.realpath(code_a.co_filename) == os.path.realpath(code_b.co_filename))


def shared_informer(
    resource: str, *, namespace: str | None = None,
    label_selector: str | Mapping[str, Any] | None = None, field_selector: str | None = None,
    indexers: Mapping[str, IndexFunc[Any]] | None = None,
    transform: Callable[[RawObject], Any] | None = None,
    registry: kopf.OperatorRegistry | None = None,
) -> SharedIndexInformer[Any]:
    """A module-level informer, started and synced before any Kopf handler runs.

    Its ``.lister`` is usable from plain Kopf handlers: reads from the cache, no API call.
    """
    _register_activities(registry)
    return _runtime.the_factory().informer(
        resource, namespace=namespace, label_selector=label_selector,
        field_selector=field_selector, indexers=indexers, transform=transform,
    )


def backoff(
    base: float = 1.0, cap: float = 300.0, jitter: float = 0.1,
    rng: Callable[[], float] = random.random,
) -> Callable[[F], F]:
    """Exponential backoff for plain Kopf handlers, instead of Kopf's fixed 60 s retry delay.

    Decorate a handler (below ``@kopf.on...``): an exception other than Kopf's own becomes
    ``kopf.TemporaryError(delay=min(cap, base * 2**retry) * (1 + jitter * random))``, using the
    ``retry`` count Kopf passes. ``kopf.PermanentError`` and ``kopf.TemporaryError`` pass through.
    """
    if not (base > 0 and cap >= base and jitter >= 0):
        raise InvalidArgumentError(
            f"backoff needs base > 0, cap >= base, jitter >= 0; got base={base}, cap={cap}, "
            f"jitter={jitter}"
        )

    def delay(retry: int) -> float:
        exponential: float = base * 2.0 ** max(0, retry)
        return min(cap, exponential) * (1 + jitter * rng())

    def convert(error: Exception, kwargs: Mapping[str, Any]) -> kopf.TemporaryError:
        seconds = delay(int(kwargs.get("retry", 0) or 0))
        return kopf.TemporaryError(f"{type(error).__name__}: {error}", delay=seconds)

    def decorator(fn: F) -> F:
        passthrough = (kopf.PermanentError, kopf.TemporaryError)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except passthrough:
                    raise
                except Exception as e:
                    raise convert(e, kwargs) from e
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except passthrough:
                raise
            except Exception as e:
                raise convert(e, kwargs) from e
        return wrapper  # type: ignore[return-value]

    return decorator
