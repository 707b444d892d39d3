"""``EmbeddedApiServer``: the in-process Kubernetes API server for tests and demos.

Use it as an async context manager on the current event loop, or with ``start()``/``stop()``
from synchronous code, where it runs on a background thread with a loop of its own (needed
whenever the test itself blocks: the official client, ``kubectl`` in a subprocess, Kopf's
``KopfRunner``). Either way it listens on loopback only, writes a kubeconfig that kubectl, Kopf
and the official client accept, and exposes ``faults`` and ``journal`` for tests.

It is a test double, honestly named: it stores and serves the Kubernetes API; it runs no
containers and schedules nothing; it enforces RBAC only when asked (``rbac=True``). It calls
the admission webhooks that ``Mutating``/``ValidatingWebhookConfiguration``s name
(``admission/_webhooks``). Workloads are simulated (see ``_controllers``) unless turned off:
Deployments get their ReplicaSets and every status follows its spec; Pods, and the one Node
they are bound to, only with ``simulate_pods``.

Plain HTTP with every request the administrator is the default, for speed. For permission
tests, ``tls=True`` serves HTTPS with a CA made at start and ``rbac=True`` authenticates every
request (401 for unknown credentials) and enforces RBAC; ``kubeconfig_for()`` then gives a
ServiceAccount's kubeconfig (see ``auth``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import yaml
from aiohttp import web

from ...errors import InvalidArgumentError
from .admission._builtin_schemas import definitions as builtin_definitions
from .admission._webhooks import Webhooks
from .auth._authorizer import ALWAYS_ALLOW
from .auth._rbac import BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES, RbacAuthorizer
from .auth._rbac import GROUP as RBAC_GROUP
from .auth._tls import ServerCertificates
from .auth._user import ADMIN, AUTHENTICATED, Authenticator, UserInfo
from .controllers._autoregister import APIServiceRegistration
from .controllers._controllers import Controllers
from .endpoints._faults import Faults, Journal
from .endpoints._http import HttpApi, HttpSettings
from .endpoints._listener import Listener
from .endpoints._loop import ServerLoop
from .endpoints._watch import ActiveWatches
from .registry._builtins import BUILTIN_RESOURCES, DEFAULT_NAMESPACES
from .registry._core import NAMESPACES, ApiCore
from .registry._resources import ResourceInfo
from .registry._served import ServedResources
from .storage._store import DEFAULT_HISTORY, Store

T = TypeVar("T")
MAX_PORT = 65535


def _write_private(path: Path, text: str) -> None:
    """Write a kubeconfig: whoever reads it acts as its user, so readable by its owner only,
    as kubectl writes its own, and made so before writing when an existing file is rewritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)
        file.write(text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddedApiServer:
    """A faithful, in-process Kubernetes API server (a test double: no containers run).

    Args:
        host: the address to listen on; loopback only unless ``allow_remote`` is set.
        port: the port, from 0 to 65535; 0 picks a free one.
        kubeconfig: where to write a kubeconfig for this server (mode 0600, as it gives full
            access), in a directory that exists; a temporary file if None.
        history: watch events kept per resource; resuming from older ones gets 410 Gone.
        bookmark_interval: seconds between BOOKMARK events on watches that allow them.
        watch_timeout: the server-side limit of watches that set no ``timeoutSeconds``.
        simulate_workloads: run the workload controllers: Deployments own ReplicaSets,
            StatefulSets ControllerRevisions and claims, and their status follows their spec.
        simulation_delay: seconds before a simulated status catches up with a new spec.
        simulate_pods: also let ReplicaSets, StatefulSets and Jobs create Pods, which a
            simulated kubelet on one simulated Node reports Running and Ready (nothing runs);
            needs ``simulate_workloads``.
        pod_run_time: seconds a simulated Pod that does not restart (a Job's) runs before it
            Succeeds; its annotation ``kopf-informers.dev/simulated-run-seconds`` overrides it.
        webhook_hosts: where admission webhooks configured with a ``clientConfig.service``
            listen, as no pods run here: ``{"<name>.<namespace>.svc": "host" or "host:port"}``
            (without a port, the service's). Their certificates are still verified for
            ``<name>.<namespace>.svc``. A Service of type ``ExternalName`` needs no entry: its
            ``spec.externalName`` is the host, as for kube-apiserver.
        tls: serve HTTPS only, with a CA made at start (in the kubeconfig's
            ``certificate-authority-data``); the kubeconfig's admin then authenticates with a
            client certificate (``kubernetes-admin`` in ``system:masters``).
        rbac: enforce RBAC: Roles, ClusterRoles and their bindings decide every request, as
            kube-apiserver's RBAC authorizer; the default ClusterRoles for discovery and the
            self reviews are made at start. Implies ``authentication``.
        authentication: answer 401 to unknown tokens (and, unless ``anonymous``, to requests
            without credentials). Off by default (unless ``rbac``): any request is then the
            administrator unless it shows a credential the server knows.
        anonymous: with ``authentication``, let requests without credentials in as
            ``system:anonymous`` (``--anonymous-auth``).
        max_watches_per_user: open watches one user may hold at once; more get 429.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, kubeconfig: str | Path | None = None,
        history: int = DEFAULT_HISTORY, bookmark_interval: float = 1.0,
        watch_timeout: float | None = None, simulate_workloads: bool = True,
        simulation_delay: float = 0.05, simulate_pods: bool = False, pod_run_time: float = 0.1,
        allow_remote: bool = False, webhook_hosts: Mapping[str, str] | None = None,
        tls: bool = False, rbac: bool = False,
        authentication: bool | None = None, anonymous: bool = False,
        max_watches_per_user: int = 1000,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise InvalidArgumentError(
                f"host {host!r} is not a loopback address and the server has no "
                "authentication; pass allow_remote=True (--allow-remote on the command line) "
                "to listen on it anyway"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
            raise InvalidArgumentError(
                f"port must be from 0 to {MAX_PORT} (0 picks a free one), got {port!r}"
            )
        if kubeconfig is not None and not Path(kubeconfig).parent.is_dir():
            # Refused rather than created: a mistyped path would leave directories behind.
            raise InvalidArgumentError(
                f"cannot write the kubeconfig to {kubeconfig}: the directory "
                f"{Path(kubeconfig).parent} does not exist"
            )
        if history < 1:
            raise InvalidArgumentError(f"history must be at least 1 event, got {history}")
        if bookmark_interval <= 0:
            raise InvalidArgumentError(
                f"bookmark_interval must be positive, got {bookmark_interval}"
            )
        if simulate_pods and not simulate_workloads:
            raise InvalidArgumentError(
                "simulate_pods needs simulate_workloads: Pods are created by the workload "
                "controllers"
            )
        if pod_run_time < 0:
            raise InvalidArgumentError(f"pod_run_time must not be negative, got {pod_run_time}")
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self._kubeconfig_path = Path(kubeconfig) if kubeconfig is not None else None
        self._own_kubeconfig = kubeconfig is None
        self.store = Store(history=history)
        self.tls = tls
        self.rbac = rbac
        self.certificates = ServerCertificates(host) if tls else None
        strict = rbac if authentication is None else authentication
        self.authenticator = Authenticator(strict=strict, anonymous=anonymous,
                                           uids=self._uid_of)
        self.core = ApiCore(store=self.store, registry=ServedResources(BUILTIN_RESOURCES),
                            authorizer=RbacAuthorizer(self.store) if rbac else ALWAYS_ALLOW,
                            authenticator=self.authenticator)
        self.controllers = Controllers(
            self.core, simulate_workloads=simulate_workloads, simulation_delay=simulation_delay,
            simulate_pods=simulate_pods, pod_run_time=pod_run_time,
        )
        self.apiservices = APIServiceRegistration(self.core)
        self.journal = Journal()
        self.loop = ServerLoop()
        self.watches = ActiveWatches()
        self.listener = Listener(
            host=host, port=port, watches=self.watches,
            ssl_context=self.certificates.server_context() if self.certificates else None)
        self.faults = Faults(loop=self.loop, watches=self.watches, listener=self.listener,
                             expire_history=self.expire_history)
        self.http = HttpApi(
            core=self.core, journal=self.journal, faults=self.faults, watches=self.watches,
            settings=HttpSettings(bookmark_interval=bookmark_interval,
                                  watch_timeout=watch_timeout,
                                  max_watches_per_user=max_watches_per_user),
            webhooks=Webhooks(self.store, hosts=webhook_hosts),
        )
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None
        self._bootstrap()

    def _bootstrap(self) -> None:
        info = self.core.storage_info(NAMESPACES)
        for name in DEFAULT_NAMESPACES:
            self.core.create(info, None, {"metadata": {"name": name}})
        if self.rbac:
            for plural, objs in (("clusterroles", BOOTSTRAP_CLUSTER_ROLES),
                                 ("clusterrolebindings", BOOTSTRAP_CLUSTER_ROLE_BINDINGS)):
                rbac_info = self.core.storage_info((RBAC_GROUP, plural))
                for obj in objs:
                    self.core.create(rbac_info, None, copy.deepcopy(obj))
        if self.certificates is not None:
            self.controllers.ca_pem = self.certificates.ca_pem
        self.apiservices.sync()

    def _uid_of(self, plural: str, namespace: str, name: str) -> str | None:
        obj = self.store.resource(("", plural)).get(namespace, name)
        return None if obj is None else str(obj["metadata"].get("uid", ""))

    # -- addresses ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        if self._kubeconfig_path is None:
            raise RuntimeError("the embedded API server is not started: it has no kubeconfig yet")
        return self._kubeconfig_path

    def _write_kubeconfig(self) -> None:
        if self._kubeconfig_path is None:
            fd, path = tempfile.mkstemp(prefix="embedded-apiserver-", suffix=".kubeconfig")
            os.close(fd)
            self._kubeconfig_path = Path(path)
        if self.certificates is not None:
            admin = self.certificates.issue_client(ADMIN.username, ("system:masters",))
            user: dict[str, str] = admin.kubeconfig_user()
        else:
            user = {"token": self.authenticator.admin_token}
        _write_private(self._kubeconfig_path, self._kubeconfig_text(user, "default"))

    def _kubeconfig_text(self, user: dict[str, str], namespace: str) -> str:
        cluster: dict[str, str] = {"server": self.url}
        if self.certificates is not None:
            cluster["certificate-authority-data"] = base64.b64encode(
                self.certificates.ca_pem).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "embedded", "cluster": cluster}],
            "users": [{"name": "embedded", "user": user}],
            "contexts": [{"name": "embedded", "context": {
                "cluster": "embedded", "user": "embedded", "namespace": namespace}}],
            "current-context": "embedded",
        }
        return yaml.safe_dump(config, sort_keys=False)

    def kubeconfig_for(self, namespace: str, serviceaccount: str, *,
                       path: str | Path | None = None, seconds: int = 24 * 3600) -> Path:
        """A kubeconfig (a path, mode 0600) that acts as the ServiceAccount
        ``namespace/serviceaccount``, with a token as the TokenRequest API issues one; from any
        thread, once started. The file is the caller's to remove.

        Raises:
            InvalidArgumentError: if there is no such ServiceAccount.
        """
        def issue() -> str:
            sa = self.store.resource(("", "serviceaccounts")).get(namespace, serviceaccount)
            if sa is None:
                raise InvalidArgumentError(
                    f'serviceaccounts "{serviceaccount}" not found in namespace "{namespace}"')
            token, _ = self.authenticator.issue(namespace, serviceaccount,
                                                sa["metadata"]["uid"], seconds=seconds)
            return token

        token = self.call_soon(issue) if self.loop.loop is not None else issue()
        if path is None:
            fd, name = tempfile.mkstemp(prefix=f"embedded-{namespace}-{serviceaccount}-",
                                        suffix=".kubeconfig")
            os.close(fd)
            path = name
        _write_private(Path(path), self._kubeconfig_text({"token": token}, namespace))
        return Path(path)

    def add_token(self, token: str, username: str, groups: tuple[str, ...] = (),
                  uid: str = "") -> None:
        """Accept a static bearer ``token`` as ``username`` in ``groups``
        (kube-apiserver's ``--token-auth-file``; ``system:authenticated`` is added)."""
        groups = groups if AUTHENTICATED in groups else (*groups, AUTHENTICATED)
        self.authenticator.add_token(token, UserInfo(username, uid=uid, groups=groups))

    # -- on the current loop --------------------------------------------------------------------

    async def __aenter__(self) -> EmbeddedApiServer:
        await self.astart()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    async def astart(self) -> None:
        """Start serving on the running loop."""
        if self._runner is not None:
            raise RuntimeError("the embedded API server is already running")
        self.loop.loop = asyncio.get_running_loop()
        # The built-ins' schemas, loaded once per process (some 60 ms) before the first request
        # needs them; without kubernetes-validate, this is where the server says so, once.
        builtin_definitions()
        self.controllers.start()
        self._runner = web.AppRunner(self.http.make_app(), handle_signals=False,
                                     handler_cancellation=True, access_log=None)
        await self._runner.setup()
        try:
            await self.listener.open(self._runner)
            self._write_kubeconfig()
        except BaseException:
            await self.astop()  # nothing half-started stays behind: the port, the controllers
            raise

    async def astop(self) -> None:
        """Stop serving: end every watch and connection; the state is dropped with the object."""
        if self._runner is None:
            return
        self.listener.close()
        await self.controllers.stop()
        await self._runner.cleanup()
        self.listener.detach()
        self._runner = None
        if self._own_kubeconfig and self._kubeconfig_path is not None:
            self._kubeconfig_path.unlink(missing_ok=True)

    # -- on a background thread -----------------------------------------------------------------

    def start(self) -> EmbeddedApiServer:
        """Start serving on a background thread with its own loop; returns once it listens."""
        if self._thread is not None:
            raise RuntimeError("the embedded API server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._thread_stop = asyncio.Event()
            try:
                await self.astart()
            except BaseException as e:
                failure.append(e)
                ready.set()
                raise
            ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self.astop()

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException:  # reported through `failure` when it happens at startup
                if not failure:
                    raise

        self._thread = threading.Thread(target=run, name="embedded-apiserver", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the background thread started by :meth:`start`."""
        thread, loop, stop = self._thread, self.loop.loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> EmbeddedApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop and return its result, from any thread."""
        return self.loop.call_soon(fn)

    def register(self, info: ResourceInfo) -> None:
        """Serve a built-in resource the server does not ship, from any thread.

        ``info`` says what discovery says of it; ``info.strategy`` how it behaves (defaults,
        ``kubectl get`` columns, merge keys, what DELETE answers). It is served at once, to
        clients that rediscover.

        Raises:
            ValueError: if that group, version and plural is served already.
        """
        def register() -> None:
            self.core.registry.register(info)
            self.apiservices.sync()

        self.loop.call_soon(register)

    # -- state ----------------------------------------------------------------------------------

    def expire_history(self) -> None:
        """Compact all history (on the server's loop); see ``Faults.expire_history``."""
        self.store.compact_all()
        self.core.forget_snapshots()
