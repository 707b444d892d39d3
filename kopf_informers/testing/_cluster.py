"""A Kubernetes cluster for tests, whatever runs it: the embedded server, kind, or any cluster.

The pytest plugin's ``cluster`` fixture is a :class:`Cluster`; the backends below make one:

- ``embedded``: this project's :class:`EmbeddedApiServer`, on a background thread — no
  containers run (Deployment status is simulated), but list/watch, CRDs, finalizers and garbage
  collection behave as kube-apiserver's; ``.embedded`` gives its journal and faults;
- ``kind``: a kind cluster made with pytest-kind-ng's ``KindCluster`` (``kind`` and ``docker``
  from PATH, never downloaded), deleted at the end unless kept;
- ``kubeconfig``: whatever cluster a kubeconfig points to; nothing is created or deleted there
  but what the tests themselves make (namespaces, the CRDs they apply).

Writes go through the official ``kubernetes`` client (a test dependency, imported only when
used): :meth:`Cluster.apply` creates each object of a manifest or merge-patches the existing
one, as ``kubectl apply`` would for the fields it names (no three-way merge: a field dropped
from the manifest stays on the object).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .._api import ApiClient
from ._polling import is_not_found, wait_for
from .apiserver import EmbeddedApiServer

Manifest = str | Path | Mapping[str, Any] | Iterable[Mapping[str, Any]]
BACKENDS = ("embedded", "kind", "kubeconfig")
EMBEDDED_TIMEOUT = 30.0  # seconds: the longest wait for an operator to act on the embedded server
REAL_TIMEOUT = 180.0  # seconds: ... on a real cluster (images pulled, pods scheduled)


class ClusterUnavailable(Exception):
    """The chosen backend cannot run here; the message says what is missing."""


class Kubectl:
    """Runs kubectl against one cluster, with a discovery cache of its own.

    Calling it runs ``kubectl --kubeconfig=... --cache-dir=... *args`` and returns the
    ``subprocess.CompletedProcess[str]`` (text ``stdout``, ``stderr``, ``returncode``);
    ``input`` is fed to stdin, ``timeout`` (seconds) bounds the run. With ``check`` (the
    default), a non-zero exit raises ``AssertionError`` showing the command, stdout and
    stderr. :meth:`json` runs ``*args -o json`` and returns the parsed output. Where kubectl is
    not installed, a call skips the test (``pytest.skip``) saying so.
    ``kubeconfig`` and ``cache_dir`` are the paths it passes; ``binary`` is the kubectl it runs
    (a name on PATH, or a path: for tests of another kubectl release).
    """

    def __init__(self, kubeconfig: Path, cache_dir: Path, binary: str | Path = "kubectl",
                 ) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir
        self.binary = str(binary)

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        if shutil.which(self.binary) is None:
            import pytest

            pytest.skip(f"{self.binary} is not installed (on PATH): this test drives kubectl")
        command = [self.binary, f"--kubeconfig={self.kubeconfig}",
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
        return json.loads(self(*args, "-o", "json").stdout)


def load_manifests(manifest: Manifest) -> list[dict[str, Any]]:
    """The objects of a manifest: a path to a YAML file (multi-document), YAML text, one object,
    or objects; ``List`` kinds are flattened, empty documents skipped."""
    if isinstance(manifest, Path) or (isinstance(manifest, str) and "\n" not in manifest
                                      and manifest.endswith((".yaml", ".yml", ".json"))):
        documents: Iterable[Any] = yaml.safe_load_all(Path(manifest).read_text())
    elif isinstance(manifest, str):
        documents = yaml.safe_load_all(manifest)
    elif isinstance(manifest, Mapping):
        documents = [manifest]
    else:
        documents = manifest
    objects: list[dict[str, Any]] = []
    for document in documents:
        if not document:
            continue
        if not isinstance(document, Mapping) or "kind" not in document:
            raise ValueError(f"not a Kubernetes object (no kind): {document!r:.200}")
        if str(document["kind"]).endswith("List") and "items" in document:
            objects.extend(load_manifests(document["items"]))
        else:
            objects.append(dict(document))
    return objects


def namespace_name(hint: str = "test") -> str:
    """A fresh namespace name: ``hint`` cut to a DNS label's alphabet, and a random suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:40].strip("-") or "test"
    return f"{base}-{secrets.token_hex(3)}"


class Cluster:
    """A Kubernetes cluster for a test: its ``kubeconfig`` (a path), clients of it, and helpers.

    - ``backend``: ``"embedded"``, ``"kind"`` or ``"kubeconfig"``; ``embedded``: the
      :class:`EmbeddedApiServer` (journal, faults) on the embedded backend, else None;
      ``kind``: pytest-kind-ng's ``KindCluster`` on the kind backend, else None;
    - ``timeout``: the longest a test should wait for an operator to act here (seconds);
    - ``kubectl(...)``: a :class:`Kubectl`; ``api_client()``/``dynamic()``: the official
      client's (sync); ``api()``: a kopf-informers :class:`~kopf_informers.ApiClient` (async:
      ``async with cluster.api() as api``);
    - ``apply(manifest)``/``delete(manifest)`` and their ``_async`` twins (the sync ones run in
      a thread, so that an async test's loop goes on meanwhile);
    - ``create_namespace()``/``delete_namespace()``.

    Usable from sync and async tests alike: nothing here runs on the test's event loop.
    """

    def __init__(
        self, *, backend: str, kubeconfig: Path, workdir: Path, timeout: float,
        embedded: EmbeddedApiServer | None = None, kind: Any = None,
    ) -> None:
        self.backend = backend
        self.kubeconfig = Path(kubeconfig)
        self.workdir = workdir
        self.timeout = timeout
        self.embedded = embedded
        self.kind = kind
        self.kubectl = Kubectl(self.kubeconfig, workdir / "kubectl-cache")
        self.images: dict[str, str] = {}  # built and loaded operator images, by build context
        self._lock = threading.Lock()
        self._api_client: Any = None
        self._dynamic: Any = None

    def __repr__(self) -> str:
        return f"<Cluster {self.backend} {self.kubeconfig}>"

    # -- clients --------------------------------------------------------------------------------

    def api_client(self) -> Any:
        """The official client's ``kubernetes.client.ApiClient`` for this cluster (one, kept
        until the cluster is closed)."""
        with self._lock:
            if self._api_client is None:
                kubernetes = _kubernetes()
                self._api_client = kubernetes.config.new_client_from_config(
                    config_file=str(self.kubeconfig))
            return self._api_client

    def dynamic(self) -> Any:
        """The official client's ``DynamicClient``, with a discovery cache of its own."""
        api_client = self.api_client()
        with self._lock:
            if self._dynamic is None:
                from kubernetes import dynamic

                cache = self.workdir / "dynamic-discovery.json"
                make: Any = dynamic.DynamicClient  # untyped
                self._dynamic = make(api_client, cache_file=str(cache))
            return self._dynamic

    def api(self) -> ApiClient:
        """A new kopf-informers :class:`~kopf_informers.ApiClient` (async) for this cluster;
        close it, or use it as ``async with cluster.api() as api``."""
        return ApiClient.from_kubeconfig(self.kubeconfig)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the clients it opened (the cluster itself is its backend's to end)."""
        with self._lock:
            client, self._api_client, self._dynamic = self._api_client, None, None
        if client is not None:
            client.close()

    # -- objects --------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        """The object as a dict, or None if there is none."""
        resource = self._resource(api_version, kind)
        try:
            found = resource.get(name=name, namespace=namespace if resource.namespaced else None)
        except Exception as e:
            if is_not_found(e):
                return None
            raise
        result: dict[str, Any] = found.to_dict()
        return result

    def apply(self, manifest: Manifest, *, namespace: str | None = None) -> list[dict[str, Any]]:
        """Create every object of the manifest, or merge-patch it where it exists; return them
        as the server answered. Namespaced objects without a namespace go to ``namespace``
        (default: ``default``). A CRD is waited for until it is established, so that the next
        documents may be its objects."""
        return [self._apply_one(obj, namespace) for obj in load_manifests(manifest)]

    def delete(self, manifest: Manifest, *, namespace: str | None = None,
               wait: bool = True) -> None:
        """Delete every object of the manifest (in reverse order; missing ones are fine) and,
        with ``wait``, wait until they are gone (finalizers done), at most ``timeout``."""
        objects = load_manifests(manifest)
        for obj in reversed(objects):
            resource, name, ns = self._locate(obj, namespace)
            try:
                resource.delete(name=name, namespace=ns)
            except Exception as e:
                if not is_not_found(e):
                    raise
        if wait:
            for obj in objects:
                self._wait_gone(*self._locate(obj, namespace), kind=obj["kind"])

    async def apply_async(self, manifest: Manifest, *,
                          namespace: str | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.apply, manifest, namespace=namespace)

    async def delete_async(self, manifest: Manifest, *, namespace: str | None = None,
                           wait: bool = True) -> None:
        await asyncio.to_thread(self.delete, manifest, namespace=namespace, wait=wait)

    def create_namespace(self, name: str | None = None, *, hint: str = "test") -> str:
        """Create a namespace (by default a fresh name from ``hint``) and return its name."""
        name = name or namespace_name(hint)
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a namespace and wait until it is gone (its contents deleted), bounded."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        resource, _, _ = self._locate(body, None)
        try:
            resource.delete(name=name)
        except Exception as e:
            if not is_not_found(e):
                raise
        self._wait_gone(resource, name, None, kind="Namespace", timeout=timeout)

    def _wait_gone(self, resource: Any, name: str, namespace: str | None, *, kind: str,
                   timeout: float | None = None) -> None:
        wait_for(lambda: self._gone(resource, name, namespace), None, f"{kind} {name} deleted",
                 timeout=self.timeout if timeout is None else timeout, interval=0.2)

    def _apply_one(self, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        resource, name, ns = self._locate(obj, namespace)
        body = dict(obj, metadata=dict(obj.get("metadata") or {}))
        if ns is not None:
            body["metadata"]["namespace"] = ns
        try:
            result = resource.create(body=body, namespace=ns)
        except Exception as e:
            if getattr(e, "status", None) != 409:
                raise
            result = resource.patch(body=body, name=name, namespace=ns,
                                    content_type="application/merge-patch+json")
        applied: dict[str, Any] = result.to_dict()
        if obj.get("kind") == "CustomResourceDefinition":
            self._wait_established(name)
        return applied

    def _wait_established(self, name: str) -> None:
        crds = self._resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")

        def established() -> bool:
            conditions = (crds.get(name=name).to_dict().get("status") or {}).get("conditions")
            return any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in conditions or ())

        wait_for(established, None, f"the CRD {name} established", timeout=self.timeout,
                 interval=0.1)
        self.dynamic().resources.invalidate_cache()  # its kinds are served from now on

    def _locate(self, obj: Mapping[str, Any],
                namespace: str | None) -> tuple[Any, str, str | None]:
        resource = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise ValueError(f"{obj['kind']} without metadata.name: cannot apply or delete it")
        ns = (meta.get("namespace") or namespace or "default") if resource.namespaced else None
        return resource, name, ns

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        dynamic = self.dynamic()
        try:
            return dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            dynamic.resources.invalidate_cache()  # a CRD created since discovery was cached
            return dynamic.resources.get(api_version=api_version, kind=kind)

    @staticmethod
    def _gone(resource: Any, name: str, namespace: str | None) -> bool:
        try:
            resource.get(name=name, namespace=namespace)
        except Exception as e:
            if is_not_found(e):
                return True
            raise
        return False


def _kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError as e:  # the harness's writes need the official client
        raise ClusterUnavailable(
            "the official `kubernetes` client is not installed: "
            "pip install 'kopf-informers[test]' (or kubernetes)"
        ) from e
    return kubernetes


# -- backends -------------------------------------------------------------------------------------


@contextlib.contextmanager
def embedded_cluster(workdir: Path, **options: Any) -> Iterator[Cluster]:
    """An :class:`EmbeddedApiServer` on a background thread (``options`` are its keyword
    arguments), with its kubeconfig in ``workdir``."""
    options = {"kubeconfig": workdir / "kubeconfig", "bookmark_interval": 0.5, **options}
    with (EmbeddedApiServer(**options) as server,
          Cluster(backend="embedded", kubeconfig=server.kubeconfig, workdir=workdir,
                  timeout=EMBEDDED_TIMEOUT, embedded=server) as cluster):
        yield cluster


def why_kind_cannot_run() -> str | None:
    """What is missing for a kind cluster here, or None."""
    if shutil.which("kind") is None:
        return "kind is not installed (on PATH): the kind backend needs it"
    if shutil.which("docker") is None:
        return "docker is not installed (on PATH): kind runs its nodes in Docker"
    try:
        answer = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "`docker info` did not answer: kind cannot run here"
    if answer.returncode != 0:
        return "no Docker engine answers `docker info`: kind cannot run here"
    return None


@contextlib.contextmanager
def kind_cluster(workdir: Path, *, name: str, keep: bool = False,
                 image: str | None = None) -> Iterator[Cluster]:
    """A kind cluster through pytest-kind-ng's ``KindCluster`` (created, or reused if one of
    that name exists; deleted afterwards unless ``keep``), with ``kind`` and ``kubectl`` from
    PATH. Raises :class:`ClusterUnavailable` where kind, Docker or pytest-kind-ng is missing."""
    missing = why_kind_cannot_run()
    if missing:
        raise ClusterUnavailable(missing)
    try:
        from pytest_kind import KindCluster
    except ImportError as e:
        raise ClusterUnavailable(
            "pytest-kind-ng is not installed: pip install 'kopf-informers[kind]'") from e
    kubectl = shutil.which("kubectl")
    kind = KindCluster(name, workdir / "kubeconfig", image=image,
                       kind_path=Path(shutil.which("kind") or "kind"),
                       kubectl_path=Path(kubectl) if kubectl else None)
    kind.create()
    try:
        with Cluster(backend="kind", kubeconfig=kind.kubeconfig_path, workdir=workdir,
                     timeout=REAL_TIMEOUT, kind=kind) as cluster:
            yield cluster
    finally:
        if not keep:
            kind.delete()


def default_kubeconfig(explicit: str | None = None) -> Path | None:
    """The kubeconfig of the ``kubeconfig`` backend: ``explicit`` (``--kubeconfig``), else the
    first file of ``KUBECONFIG``, else ``~/.kube/config``; None if that file does not exist."""
    if explicit:
        return Path(explicit).expanduser()
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    path = Path(first).expanduser() if first else Path.home() / ".kube" / "config"
    return path if path.is_file() else None


@contextlib.contextmanager
def kubeconfig_cluster(workdir: Path, kubeconfig: Path | None) -> Iterator[Cluster]:
    """Any existing cluster, as a kubeconfig describes it; nothing is created or deleted."""
    if kubeconfig is None or not kubeconfig.is_file():
        raise ClusterUnavailable(
            "--cluster=kubeconfig needs a kubeconfig: pass --kubeconfig=PATH or set KUBECONFIG "
            f"(looked at {kubeconfig or '$KUBECONFIG and ~/.kube/config'})")
    with Cluster(backend="kubeconfig", kubeconfig=kubeconfig, workdir=workdir,
                 timeout=REAL_TIMEOUT) as cluster:
        yield cluster
