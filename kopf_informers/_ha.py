"""High availability of a Kopf operator: one active replica, elected on a Lease.

Its place in the Kopf integration's startup (``_kopf._startup``)::

    settings (configure() / environment) --> Election --> LeaderElector.run (a task)
    startup: informers start and sync (warm standby) --> wait_leading() --> workers start
                                    standby liveness served meanwhile --^   (Kopf's handlers
    lost the Lease --> stop the workers --> exit the process (non-zero)      run after startup)
    cleanup: workers stopped --> release the Lease (the next replica takes over at once)

**The whole operator is gated.** Kopf runs no resource handler (on.create, on.event, daemons,
timers, indexes of resources) before every startup handler has finished; the library's startup
handler returns only once this replica leads. A standby therefore runs neither Kopf's handlers
nor the reconcile workers; its informers start and sync (a *warm* standby, as
controller-runtime's caches, which start whatever the election), so a new leader reconciles at
once. ``warm_standby=False`` starts the informers only after winning: standbys then cost the API
server nothing but the Lease reads, and a failover costs a list of every resource.

**Liveness of a standby.** Kopf serves its ``--liveness`` endpoint only after the startup
handlers finished (``kopf/_core/reactor/running.py``: the health reporter waits for the
``started_flag``), so a standby would fail its liveness probe and be restarted for ever.
While standing by, this module serves the same endpoint itself (from ``kopf run -L URL`` or
``KOPF_RUN_LIVENESS``), answering the library's probe as Kopf would (``{"kopf_informers":
{...}}``), and frees it just before Kopf takes it over. The probe tells who leads.

**Losing the Lease** (not renewed within the renew deadline, or taken by another replica):
the workers are cancelled at once, without draining, and the process exits with status 1 —
controller-runtime's behaviour (its manager returns "leader election lost" and skips the
graceful shutdown). Kopf's own handlers stop with the process. The replica restarts (its pod
does) as a standby. **A graceful stop** (SIGTERM → Kopf's cleanup) drains the workers, then
releases the Lease (empty holder, ``leaseDurationSeconds: 1``).

**Kopf peering is something else.** Kopf's peering (``kopf.dev`` ``KopfPeering`` objects)
pauses operators of lower priority and lets operators of the same priority pause each other; it
does not gate startup and elects nobody. With leader election, run ``kopf run --standalone``:
only the leader gets past startup, so peering would have nothing to arbitrate.

Settings (``configure()`` arguments win over the environment variables):

- ``KOPF_INFORMERS_LEADER_ELECTION``: ``true`` turns it on (default off);
- ``KOPF_INFORMERS_LEADER_ELECTION_ID``: the Lease's name (1);
- ``KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE``: the Lease's namespace (2);
- ``KOPF_INFORMERS_LEADER_ELECTION_LEASE_DURATION``, ``..._RENEW_DEADLINE``,
  ``..._RETRY_PERIOD``: seconds (default 15, 10, 2);
- ``KOPF_INFORMERS_LEADER_ELECTION_WARM_STANDBY``: ``false`` starts no informer in standbys.

(1) ``kopf-informers-`` and the sorted ids of the operator's controllers (``@reconcile(id=)``,
default the function's module and name), made a DNS name: the same for every replica of one
operator, different between operators; an operator without controllers must name its Lease.
(2) the pod's own namespace (``/var/run/secrets/kubernetes.io/serviceaccount/namespace``);
outside a pod it must be given: startup fails with a message saying so.

The identity is the pod's name (``POD_NAME`` from the downward API, else ``HOSTNAME``, which
Kubernetes sets to the pod's name) and ``_`` and a random UUID, as controller-runtime's, so
that a restarted pod never mistakes the Lease its previous incarnation held for its own. The
library's API clients carry it in their User-Agent (``kopf-informers/VERSION (IDENTITY)``): API
audit logs (and the embedded server's journal) tell which replica wrote what.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import socket
import sys
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from prometheus_client import CollectorRegistry

from ._api import ApiClient
from ._api.session import default_user_agent
from ._leaderelection import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    ApiLeaseLock,
    LeaderElectionConfig,
    LeaderElector,
)
from .errors import InvalidArgumentError
from .metrics import LeaderElectionMetrics

__all__ = ["Election", "Options", "Settings", "default_id", "make_identity", "resolve"]

logger = logging.getLogger("kopf_informers.lease")  # fits Kopf's log format

ENV = "KOPF_INFORMERS_LEADER_ELECTION"
ENV_ID = f"{ENV}_ID"
ENV_NAMESPACE = f"{ENV}_NAMESPACE"
ENV_LEASE_DURATION = f"{ENV}_LEASE_DURATION"
ENV_RENEW_DEADLINE = f"{ENV}_RENEW_DEADLINE"
ENV_RETRY_PERIOD = f"{ENV}_RETRY_PERIOD"
ENV_WARM_STANDBY = f"{ENV}_WARM_STANDBY"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LOST_EXIT_CODE = 1
MAX_NAME = 63  # a Lease's name may be a DNS subdomain (253), but it shows in label values too
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


@dataclasses.dataclass(frozen=True)
class Options:
    """Leader election as :func:`kopf_informers.configure` set it; None: from the environment."""

    enabled: bool | None = None
    id: str | None = None
    namespace: str | None = None
    lease_duration: float | None = None
    renew_deadline: float | None = None
    retry_period: float | None = None
    warm_standby: bool | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Leader election as it runs: resolved from :class:`Options` and the environment."""

    config: LeaderElectionConfig
    warm_standby: bool = True


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word not in _TRUE | _FALSE:
        raise InvalidArgumentError(f"{name}={raw!r} is neither true nor false")
    return word in _TRUE


def _seconds(environ: Mapping[str, str], name: str, given: float | None, default: float) -> float:
    if given is not None:
        return float(given)
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidArgumentError(f"{name}={raw!r} is not a number of seconds") from None


def _dns_label(text: str) -> str:
    """Lower case, runs of anything but letters, digits and dots as one ``-``, trimmed."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")


def default_id(controllers: Sequence[str]) -> str:
    """The Lease's default name: ``kopf-informers-`` and the controllers' sorted ids, made a
    DNS name; shortened with a hash of them if longer than 63 characters.

    Raises:
        InvalidArgumentError: there is no controller to name it after.
    """
    if not controllers:
        raise InvalidArgumentError(
            f"leader election needs a Lease name: the operator has no @reconcile controller to "
            f"name it after; set {ENV_ID} or configure(leader_election_id=...)")
    joined = "-".join(sorted(_dns_label(c) for c in controllers))
    name = f"kopf-informers-{joined}"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256("\n".join(sorted(controllers)).encode()).hexdigest()[:8]
        name = f"{name[:MAX_NAME - 9].rstrip('-.')}-{digest}"
    return name


def make_identity(environ: Mapping[str, str] = os.environ) -> str:
    """The pod's name (``POD_NAME``, else ``HOSTNAME``, else the host's name), ``_``, a UUID."""
    pod = environ.get("POD_NAME") or environ.get("HOSTNAME") or socket.gethostname()
    return f"{pod}_{uuid.uuid4()}"


def _namespace(given: str | None, environ: Mapping[str, str], sa_namespace: Path) -> str:
    namespace = given or environ.get(ENV_NAMESPACE, "").strip()
    if namespace:
        return namespace
    with contextlib.suppress(OSError):
        namespace = sa_namespace.read_text().strip()
    if namespace:
        return namespace
    raise InvalidArgumentError(
        f"leader election needs the Lease's namespace: not in a pod ({sa_namespace} is not "
        f"there), so set {ENV_NAMESPACE} or configure(leader_election_namespace=...)")


def resolve(
    options: Options, *, controllers: Sequence[str], environ: Mapping[str, str] = os.environ,
    sa_namespace: Path = SERVICE_ACCOUNT_NAMESPACE, identity: str | None = None,
) -> Settings | None:
    """The settings to run with, or None when leader election is off.

    Raises:
        InvalidArgumentError: naming the setting that is missing or wrong.
    """
    enabled = options.enabled if options.enabled is not None else _flag(environ, ENV, False)
    if not enabled:
        return None
    name = options.id or environ.get(ENV_ID, "").strip() or default_id(controllers)
    config = LeaderElectionConfig(
        name=name, namespace=_namespace(options.namespace, environ, sa_namespace),
        identity=identity or make_identity(environ),
        lease_duration=_seconds(environ, ENV_LEASE_DURATION, options.lease_duration,
                                DEFAULT_LEASE_DURATION),
        renew_deadline=_seconds(environ, ENV_RENEW_DEADLINE, options.renew_deadline,
                                DEFAULT_RENEW_DEADLINE),
        retry_period=_seconds(environ, ENV_RETRY_PERIOD, options.retry_period,
                              DEFAULT_RETRY_PERIOD),
    )
    warm = (options.warm_standby if options.warm_standby is not None
            else _flag(environ, ENV_WARM_STANDBY, True))
    return Settings(config=config, warm_standby=warm)


def kopf_liveness_endpoint() -> str | None:
    """The ``-L``/``--liveness`` URL of the running ``kopf run`` (or ``KOPF_RUN_LIVENESS``,
    which click folds into it), or None: not given, or Kopf not run from its CLI."""
    context = click.get_current_context(silent=True)
    while context is not None:
        endpoint = context.params.get("liveness_endpoint")
        if isinstance(endpoint, str) and endpoint:
            return endpoint
        context = context.parent
    return None


async def serve_liveness(
    endpoint: str, answer: Callable[[], Awaitable[Mapping[str, Any]]],
) -> web.AppRunner:
    """Serve ``answer()`` as JSON on ``endpoint`` (``http://host:port/path``, read as Kopf
    reads it: host ``localhost`` and port 80 unless given)."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme != "http":
        raise InvalidArgumentError(f"the liveness endpoint must be http://, got {endpoint!r}")

    async def get(request: web.Request) -> web.Response:
        return web.json_response(dict(await answer()))

    app = web.Application()
    app.router.add_get(parts.path or "/", get)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname or "localhost", parts.port or 80).start()
    return runner


def exit_process(code: int) -> None:
    """End the process now: no cleanup handler, no Lease release (it is not ours any more)."""
    logging.shutdown()  # flush what was logged
    sys.stderr.flush()
    os._exit(code)


class Election:
    """One operator process's candidacy: the elector's task, the standby's liveness endpoint,
    and the exit when the Lease is lost.

    ``stop_acting`` stops whatever the Lease guards (the reconcile workers); it gets
    ``lease_duration - renew_deadline`` halved to finish before the process exits anyway.
    ``answer`` is what the standby's liveness endpoint serves.
    """

    exit = staticmethod(exit_process)  # replaced in tests

    def __init__(
        self, settings: Settings, *, api: ApiClient,
        stop_acting: Callable[[], Awaitable[None]],
        answer: Callable[[], Awaitable[Mapping[str, Any]]],
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        config = settings.config
        self.settings, self.api = settings, api
        metrics = (LeaderElectionMetrics(name=config.name, registry=metrics_registry)
                   if metrics_registry is not None else None)
        lock = ApiLeaseLock(api, name=config.name, namespace=config.namespace)
        self.elector = LeaderElector(lock=lock, config=config, metrics=metrics)
        self._stop_acting, self._answer = stop_acting, answer
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, settings: Settings, *, stop_acting: Callable[[], Awaitable[None]],
        answer: Callable[[], Awaitable[Mapping[str, Any]]],
        metrics_registry: CollectorRegistry | None = None,
    ) -> Election:
        """Autodetect credentials (an API client of its own, so that renewals never queue
        behind the informers' requests) and start campaigning."""
        config = settings.config
        api = await ApiClient.autodetect(user_agent=user_agent(config.identity),
                                         request_timeout=config.renew_deadline)
        election = cls(settings, api=api, stop_acting=stop_acting, answer=answer,
                       metrics_registry=metrics_registry)
        election._task = asyncio.get_running_loop().create_task(
            election._campaign(), name=f"leader election {config.description}")
        return election

    @property
    def warm_standby(self) -> bool:
        return self.settings.warm_standby

    async def _campaign(self) -> None:
        config = self.settings.config
        try:
            await self.elector.run()  # returns only when the lead is lost
        except Exception:  # a bug: nobody renews the Lease any more, so act as if lost
            logger.exception("leader election %s failed", config.description)
        logger.critical("leader election %s lost by %s: stopping the workers and exiting",
                        config.description, config.identity)
        try:
            async with asyncio.timeout((config.lease_duration - config.renew_deadline) / 2):
                await self._stop_acting()
        finally:
            self.exit(LOST_EXIT_CODE)

    async def wait_leading(self) -> None:
        """Return once this replica leads; meanwhile serve Kopf's liveness endpoint, if any."""
        if self.elector.leading.is_set():
            return
        endpoint = kopf_liveness_endpoint()
        runner: web.AppRunner | None = None
        if endpoint is not None:
            try:
                runner = await serve_liveness(endpoint, self._answer)
            except OSError as e:
                logger.warning("a standby cannot serve the liveness endpoint %s: %s", endpoint, e)
        config = self.settings.config
        logger.info("leader election %s: standing by as %s until this replica leads",
                    config.description, config.identity)
        try:
            await self.elector.leading.wait()
        finally:
            if runner is not None:
                await runner.cleanup()  # Kopf's health reporter binds it once startup is done

    async def stop(self) -> None:
        """Stop campaigning and release the Lease if held (call it once the workers stopped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.elector.release()
        await self.api.close()

    def report(self) -> dict[str, Any]:
        """For the probe: the Lease, this replica's identity, who leads, whether it is us."""
        config = self.settings.config
        return {"lease": config.description, "identity": config.identity,
                "leader": self.elector.leader, "leading": self.elector.leading.is_set()}


def user_agent(identity: str) -> str:
    """The library's User-Agent with this replica's identity: ``kopf-informers/V (ID)``."""
    return f"{default_user_agent()} ({identity})"
