"""The cluster-side controllers of the embedded API server.

A real cluster runs controllers beside the API server; an operator's tests notice when they are
missing. These react to store events and write back through ``ApiCore``, asynchronously, as the
real ones do:

- **CRDs**: serve a CRD's resources the moment it is stored (synchronously, so discovery is
  current when the create returns), then set ``NamesAccepted``/``Established``; on deletion,
  delete every custom object and then release the CRD.
- **Namespaces**: a deleted namespace becomes ``Terminating``, its contents are deleted, and it
  goes once nothing is left in it.
- **Garbage collector**: background cascade (dependents whose owners are all gone are deleted;
  dangling owner references are removed), foreground deletion (``foregroundDeletion`` finalizer,
  waiting for dependents with ``blockOwnerDeletion``), and orphaning (``orphan`` finalizer).
- **Workloads** (``_deployments``, ``_statefulsets``, ``_jobs``; on unless
  ``simulate_workloads=False``): Deployments own ReplicaSets per template with revisions,
  StatefulSets own ControllerRevisions and claims, and their statuses follow, after a short
  delay, as kube-controller-manager's would. Without pod simulation there are no Pods and every
  replica counts as ready: a simulation like kwok's, clearly not a scheduler.
- **Service-account tokens**: a ``kubernetes.io/service-account-token`` Secret naming a
  ServiceAccount gets its token (see ``auth._user``), the CA and the namespace, as
  kube-controller-manager's token controller fills it.
- **Pods** (``_kubelet``; only with ``simulate_pods=True``): ReplicaSets, StatefulSets and Jobs
  create their Pods, which a simulated kubelet on one simulated Node reports Running and Ready
  (and Succeeded, for those that do not restart). Nothing runs.

Each controller's sync is level-triggered and idempotent: it reads the store, writes what
differs and nothing else (a write that changes nothing makes no event), so syncs settle. A sync
is queued at most once per object at a time, a short delay after the event that asked for it,
and creates at most as many objects as the workload's replicas.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import functools
from collections.abc import Callable
from typing import Any

from ..auth._rbac import aggregated_rules, has_aggregation_rule
from ..registry._core import CRDS, NAMESPACES, ApiCore, has_finalizers, now_rfc3339
from ..registry._defaults import CRD_FINALIZER
from ..registry._resources import resources_from_crd
from ..storage._store import Event, Obj, ResourceKey, owner_uids
from ._deployments import DeploymentController, ReplicaSetController
from ._jobs import JobController
from ._kubelet import Kubelet
from ._objects import DEPLOYMENTS, JOBS, PODS, REPLICASETS, STATEFULSETS, controller_of
from ._statefulsets import StatefulSetController

SECRETS: ResourceKey = ("", "secrets")
CLUSTERROLES: ResourceKey = ("rbac.authorization.k8s.io", "clusterroles")
SERVICEACCOUNTS: ResourceKey = ("", "serviceaccounts")
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"

Sync = Callable[[str, str], None]  # (namespace, name) -> None


class Controllers:
    """Runs the cluster's controllers on the server's loop, one job at a time."""

    def __init__(
        self, core: ApiCore, *, simulate_workloads: bool = True, simulation_delay: float = 0.05,
        simulate_pods: bool = False, pod_run_time: float = 0.1,
    ) -> None:
        self.core = core
        self.ca_pem = b""  # the server's CA, for service-account token Secrets (TLS only)
        self.simulate_workloads = simulate_workloads
        self.simulation_delay = simulation_delay
        self.simulate_pods = simulate_pods
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._simulated_keys: set[ResourceKey] = set()
        self._simulated_generation = -1
        self._queued: set[tuple[Sync, str, str]] = set()
        self._aggregation_queued = False
        self.replicasets = ReplicaSetController(core, pods=simulate_pods)
        self.deployments = DeploymentController(core, self.replicasets)
        self.statefulsets = StatefulSetController(core, pods=simulate_pods)
        self.jobs = JobController(core)
        self.kubelet = Kubelet(core, run_time=pod_run_time, schedule=self._kubelet_later)
        # What syncs on an event of each kind, and on an event of what each kind controls.
        self._syncs: dict[ResourceKey, Sync] = {
            DEPLOYMENTS: self.deployments.sync, REPLICASETS: self.replicasets.sync,
            STATEFULSETS: self.statefulsets.sync,
        }
        self._owner_syncs: dict[str, Sync] = {
            "apps/Deployment": self.deployments.sync, "apps/ReplicaSet": self.replicasets.sync,
            "apps/StatefulSet": self.statefulsets.sync,
        }
        if simulate_pods:
            self._syncs[JOBS] = self.jobs.sync
            self._owner_syncs["batch/Job"] = self.jobs.sync
        core.store.listeners.append(self._on_event)

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        if self.simulate_pods:
            self.kubelet.ensure_node()
        self._wakeup = asyncio.Event()
        if self._jobs:
            self._wakeup.set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._jobs:
                job = self._jobs.popleft()
                job()
                await asyncio.sleep(0)  # let requests interleave, as real controllers would

    def _enqueue(self, job: Callable[[], None]) -> None:
        self._jobs.append(job)
        if self._wakeup is not None:
            self._wakeup.set()

    # -- event routing --------------------------------------------------------------------------

    def _on_event(self, key: ResourceKey, event: Event) -> None:
        obj, meta = event.obj, event.obj["metadata"]
        if key == CRDS:
            self._crd_event(event)
        if key == CLUSTERROLES and not self._aggregation_queued:
            self._aggregation_queued = True
            self._enqueue(self._aggregate_cluster_roles)
        if key == SECRETS and event.type != "DELETED" and _wants_token(obj):
            self._enqueue(functools.partial(self._fill_token, meta.get("namespace", ""),
                                            meta["name"]))
        if event.type == "DELETED":
            uid: str = meta["uid"]
            self._enqueue(functools.partial(self._owner_gone, uid))
            for owner in owner_uids(obj):
                self._enqueue(functools.partial(self._owner_deleting, owner))
            self._content_gone(key, meta.get("namespace"))
            return
        if meta.get("deletionTimestamp"):
            self._deleting(key, obj)
        owners = owner_uids(obj)
        if owners:  # most objects have none: nothing to compare
            old_owners = set(owner_uids(event.old)) if event.old is not None else set()
            for owner in set(owners) - old_owners:
                self._enqueue(functools.partial(self._verify_owner, owner))
        if self.simulate_workloads:
            self._workload_event(key, event)

    def _workload_event(self, key: ResourceKey, event: Event) -> None:
        obj, meta = event.obj, event.obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        owner = controller_of(obj)
        if owner is not None:
            group = str(owner.get("apiVersion", "")).rpartition("/")[0]
            sync = self._owner_syncs.get(f"{group}/{owner.get('kind')}")
            if sync is not None:
                self._sync_later(sync, ns, str(owner.get("name", "")))
        if key == PODS and self.simulate_pods:
            if event.type == "DELETED":
                self.kubelet.forget(obj)
            else:
                self._sync_later(self.kubelet.sync, ns, name)
        if event.type == "DELETED":
            return
        sync = self._syncs.get(key)
        if sync is not None:
            self._sync_later(sync, ns, name)
        elif self._simulated(key) and _needs_status(obj):
            self._sync_later(functools.partial(self._simulate, key), ns, name)

    def _sync_later(self, sync: Sync, namespace: str, name: str,
                    delay: float | None = None) -> None:
        """Run ``sync`` for an object after ``delay`` (the simulation's), unless one is queued."""
        token = (sync, namespace, name)
        if token in self._queued:
            return
        self._queued.add(token)

        def run() -> None:
            self._queued.discard(token)
            sync(namespace, name)

        loop = asyncio.get_running_loop()
        loop.call_later(self.simulation_delay if delay is None else delay, self._enqueue, run)

    def _kubelet_later(self, delay: float, namespace: str, name: str) -> None:
        self._sync_later(self.kubelet.sync, namespace, name, delay)

    def _simulated(self, key: ResourceKey) -> bool:
        """Whether the strategy of ``key`` asks for simulation (cached: asked on every event)."""
        registry = self.core.registry
        if self._simulated_generation != registry.generation:
            self._simulated_keys = {
                info.key for info in registry.all() if info.strategy.simulated
            }
            self._simulated_generation = registry.generation
        return key in self._simulated_keys

    def _deleting(self, key: ResourceKey, obj: Obj) -> None:
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or ()
        if "foregroundDeletion" in finalizers or "orphan" in finalizers:
            uid = meta["uid"]
            self._enqueue(lambda: self._owner_deleting(uid))
        if key == NAMESPACES:
            name = meta["name"]
            self._enqueue(lambda: self._namespace_terminating(name))
        if key == CRDS and CRD_FINALIZER in finalizers:
            name = meta["name"]
            self._enqueue(lambda: self._crd_terminating(name))

    def _content_gone(self, key: ResourceKey, namespace: str | None) -> None:
        """An object went: a terminating namespace or CRD may now be empty."""
        store = self.core.store
        if namespace:
            ns = store.resource(NAMESPACES).get("", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._enqueue(lambda: self._namespace_terminating(namespace))
        crd_name = f"{key[1]}.{key[0]}"
        crd = store.resource(CRDS).get("", crd_name)
        if crd is not None and crd["metadata"].get("deletionTimestamp"):
            self._enqueue(lambda: self._crd_terminating(crd_name))

    # -- CRDs -----------------------------------------------------------------------------------

    def _crd_event(self, event: Event) -> None:
        name = event.obj["metadata"]["name"]
        registry = self.core.registry
        if event.type == "DELETED":
            infos = registry.versions_of(*_crd_key(event.obj))
            registry.remove_crd(name)
            for info in infos:
                for watcher in list(self.core.store.resource(info.key).watchers):
                    watcher.close()
            return
        registry.set_crd(name, resources_from_crd(event.obj))
        if not _is_established(event.obj):
            self._enqueue(lambda: self._crd_establish(name))

    def _crd_establish(self, name: str) -> None:
        crd = self.core.store.resource(CRDS).get("", name)
        if crd is None or _is_established(crd):
            return

        def mutate(obj: Obj) -> None:
            spec = obj["spec"]
            status = obj.setdefault("status", {})
            now = now_rfc3339()
            status["conditions"] = [
                _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now),
                _condition("Established", "True", "InitialNamesAccepted",
                           "the initial names have been accepted", now),
            ]
            status["acceptedNames"] = spec.get("names", {})
            status["storedVersions"] = [
                v["name"] for v in spec.get("versions", []) if v.get("storage")
            ]

        self.core.internal_update(CRDS, crd, mutate, subresource="status")

    def _crd_terminating(self, name: str) -> None:
        store = self.core.store
        crd = store.resource(CRDS).get("", name)
        if crd is None:
            return
        key = _crd_key(crd)
        remaining = store.resource(key).items()
        for obj in remaining:
            if not obj["metadata"].get("deletionTimestamp"):
                self.core.internal_delete(key, obj)
        if store.resource(key).count == 0:
            self.core.internal_update(CRDS, crd, _drop_finalizer(CRD_FINALIZER))

    # -- namespaces -----------------------------------------------------------------------------

    def _namespace_terminating(self, name: str) -> None:
        core = self.core
        ns = core.store.resource(NAMESPACES).get("", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for key, rs in list(core.store.resources.items()):
            info = core.registry.storage_info(*key)
            if info is None or not info.namespaced:
                continue
            for obj in rs.items(name):
                if not obj["metadata"].get("deletionTimestamp"):
                    core.internal_delete(key, obj)
        if not any(name in rs.namespaces for rs in core.store.resources.values()):
            core.internal_update(NAMESPACES, ns, _finalize_namespace)

    # -- garbage collection ---------------------------------------------------------------------

    def _verify_owner(self, uid: str) -> None:
        """A new owner reference: if that owner does not exist, treat it as deleted."""
        if self.core.store.lookup_uid(uid) is None:
            self._owner_gone(uid)

    def _owner_gone(self, uid: str) -> None:
        store = self.core.store
        if store.lookup_uid(uid) is not None:
            return
        for key, dependent in list(store.iter_dependents(uid)):
            refs = dependent["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != uid and store.lookup_uid(r.get("uid", ""))]
            if alive:
                self.core.internal_update(key, dependent, _drop_owner(uid))
            elif not dependent["metadata"].get("deletionTimestamp"):
                self.core.internal_delete(key, dependent)

    def _owner_deleting(self, uid: str) -> None:
        core = self.core
        owner = core.store.lookup_uid(uid)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        owner_key = core.store.uids[uid][0]
        finalizers = owner["metadata"].get("finalizers") or ()
        dependents = list(core.store.iter_dependents(uid))
        if "orphan" in finalizers:
            for key, dependent in dependents:
                core.internal_update(key, dependent, _drop_owner(uid))
            core.internal_update(owner_key, owner, _drop_finalizer("orphan"))
        elif "foregroundDeletion" in finalizers:
            blocking = 0
            for key, dependent in dependents:
                if _blocks(dependent, uid):
                    blocking += 1
                if not dependent["metadata"].get("deletionTimestamp"):
                    core.internal_delete(key, dependent, policy="Foreground")
            if blocking == 0:
                core.internal_update(owner_key, owner, _drop_finalizer("foregroundDeletion"))

    # -- service-account tokens -----------------------------------------------------------------

    def _fill_token(self, namespace: str, name: str) -> None:
        """The token controller: a ``kubernetes.io/service-account-token`` Secret gets its
        ServiceAccount's token, ``ca.crt`` and ``namespace``, once the ServiceAccount exists."""
        secret = self.core.store.resource(SECRETS).get(namespace, name)
        if secret is None or not _wants_token(secret):
            return
        annotations = secret["metadata"].get("annotations") or {}
        sa_name = annotations.get(SA_NAME_ANNOTATION, "")
        sa = self.core.store.resource(SERVICEACCOUNTS).get(namespace, sa_name)
        if sa is None:
            return
        token, _ = self.core.authenticator.issue(
            namespace, sa_name, sa["metadata"]["uid"],
            secret=(name, secret["metadata"]["uid"]))

        def mutate(new: Obj) -> None:
            data = new.setdefault("data", {}) or {}
            new["data"] = data
            data["token"] = base64.b64encode(token.encode()).decode()
            data["namespace"] = base64.b64encode(namespace.encode()).decode()
            data["ca.crt"] = base64.b64encode(self.ca_pem).decode()
            new["metadata"].setdefault("annotations", {})[SA_UID_ANNOTATION] = \
                sa["metadata"]["uid"]

        self.core.internal_update(SECRETS, secret, mutate)

    # -- ClusterRole aggregation ----------------------------------------------------------------

    def _aggregate_cluster_roles(self) -> None:
        """The clusterrole-aggregation controller: after any ClusterRole event, every
        ClusterRole with an ``aggregationRule`` gets the rules of those it selects, if they
        differ (its own write is an event too, so nested aggregation settles in turn)."""
        self._aggregation_queued = False
        roles = self.core.store.resource(CLUSTERROLES).items(None)
        for role in roles:
            if not has_aggregation_rule(role):
                continue
            rules = aggregated_rules(role, roles)
            if rules == list(role.get("rules") or ()):
                continue

            def mutate(new: Obj, rules: list[Any] = rules) -> None:
                new["rules"] = copy.deepcopy(rules)

            self.core.internal_update(CLUSTERROLES, role, mutate)

    # -- workload simulation --------------------------------------------------------------------

    def _simulate(self, key: ResourceKey, namespace: str, name: str) -> None:
        """A registered kind marked ``simulated``: its status follows its spec."""
        obj = self.core.store.resource(key).get(namespace, name)
        if obj is None or not _needs_status(obj):
            return

        def mutate(new: Obj) -> None:
            new["status"] = _simulated_status(new)

        self.core.internal_update(key, obj, mutate, subresource="status")


def _wants_token(secret: Obj) -> bool:
    annotations = secret["metadata"].get("annotations") or {}
    return (secret.get("type") == SA_TOKEN_TYPE and bool(annotations.get(SA_NAME_ANNOTATION))
            and not (secret.get("data") or {}).get("token")
            and not secret["metadata"].get("deletionTimestamp"))


def _crd_key(crd: Obj) -> ResourceKey:
    spec = crd.get("spec", {})
    return (spec.get("group", ""), spec.get("names", {}).get("plural", ""))


def _is_established(crd: Obj) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or ()
    accepted = (crd.get("status") or {}).get("acceptedNames")
    return accepted == crd.get("spec", {}).get("names") and any(
        c.get("type") == "Established" and c.get("status") == "True" for c in conditions
    )


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now}


def _drop_finalizer(finalizer: str) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        meta = obj["metadata"]
        meta["finalizers"] = [f for f in meta.get("finalizers") or () if f != finalizer]
        if not meta["finalizers"]:
            del meta["finalizers"]
    return mutate


def _drop_owner(uid: str) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        meta = obj["metadata"]
        meta["ownerReferences"] = [
            r for r in meta.get("ownerReferences") or () if r.get("uid") != uid
        ]
        if not meta["ownerReferences"]:
            del meta["ownerReferences"]
    return mutate


def _finalize_namespace(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec["finalizers"] = [f for f in spec.get("finalizers") or () if f != "kubernetes"]
    if not spec["finalizers"]:
        del spec["finalizers"]


def _blocks(dependent: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("blockOwnerDeletion")
        for r in dependent["metadata"].get("ownerReferences") or ()
    )


def _needs_status(obj: Obj) -> bool:
    if obj["metadata"].get("deletionTimestamp"):
        return False
    return (obj.get("status") or {}) != _simulated_status(obj)


def _simulated_status(obj: Obj) -> dict[str, Any]:
    """The status of a registered ``simulated`` kind: all its replicas ready, as the
    StatefulSet's used to be simulated."""
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    replicas = replicas if isinstance(replicas, int) else 1
    status: dict[str, Any] = {
        "observedGeneration": obj["metadata"].get("generation", 1), "replicas": replicas,
    }
    counts = {"readyReplicas": replicas, "availableReplicas": replicas,
              "currentReplicas": replicas, "updatedReplicas": replicas}
    status.update({k: v for k, v in counts.items() if v})  # zeros are omitted, as real ones
    return status


__all__ = ["Controllers", "has_finalizers"]
