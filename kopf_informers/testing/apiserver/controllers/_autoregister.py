"""APIServices for the server's own group versions, as kube-apiserver's autoregistration makes them.

A real cluster's aggregator lists every group version the server serves as a *Local* APIService
(``kubectl get apiservices``): kube-apiserver's ``apiServicesToRegister`` registers the built-in
ones at startup (labelled ``kube-aggregator.kubernetes.io/automanaged: onstart``), the
``crdregistration`` controller those of CRDs while they are served (``automanaged: "true"``,
group priority 1000, version priority 100), and the availability controller marks each
``Available``: ``Local APIServices are always available``. The aggregator's own
``apiregistration.k8s.io`` gets none, there as here.

:meth:`APIServiceRegistration.sync` makes the stored APIServices match what the registry serves:
at startup, and again after every CRD change and :meth:`EmbeddedApiServer.register`. APIServices
that someone else created (without the label) are left alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..registry._core import CRDS, ApiCore, now_rfc3339
from ..storage._store import Event, Obj, ResourceKey

APISERVICES: ResourceKey = ("apiregistration.k8s.io", "apiservices")
AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"

# kube-apiserver's apiVersionPriorities (pkg/controlplane/apiserver/aggregator.go): the group's
# and the version's priority of each built-in group version it registers.
BUILTIN_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
}
CRD_PRIORITY = (1000, 100)  # crdregistration: CRDs rank below every built-in group
# A group registered from outside (EmbeddedApiServer.register) and not in the table: ranked as
# kube-apiserver's table advises for a new group, below the others.
OTHER_PRIORITY = (16000, 9)


class APIServiceRegistration:
    """Keeps one Local APIService per served group version (see the module docstring)."""

    def __init__(self, core: ApiCore) -> None:
        self.core = core
        self._pending = False
        core.store.listeners.append(self._on_event)

    def _on_event(self, key: ResourceKey, event: Event) -> None:
        if key != CRDS or self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a write before the server runs: its start syncs anyway
            return
        self._pending = True
        loop.call_soon(self.sync)  # after the write: listeners may not write themselves

    def sync(self) -> None:
        """Create the missing APIServices, delete the automanaged ones no longer served."""
        self._pending = False
        registry = self.core.registry
        info = self.core.storage_info(APISERVICES)
        wanted: dict[str, Obj] = {}
        for group, versions in registry.groups().items():
            if group == APISERVICES[0]:
                continue
            builtin = registry.is_builtin_group(group)
            for version in versions:
                wanted[f"{version}.{group}"] = _apiservice(group, version, builtin=builtin)
        existing = {o["metadata"]["name"]: o for o in self.core.store.resource(APISERVICES).items()}
        for name, body in wanted.items():
            if name not in existing:
                created = self.core.create(info, None, body)
                self.core.internal_update(APISERVICES, created, _available, subresource="status")
        for name, obj in existing.items():
            labels = obj["metadata"].get("labels") or {}
            if name not in wanted and labels.get(AUTOMANAGED) == "true":
                self.core.internal_delete(APISERVICES, obj)


def _apiservice(group: str, version: str, *, builtin: bool) -> Obj:
    priority = (BUILTIN_PRIORITIES.get((group, version), OTHER_PRIORITY) if builtin
                else CRD_PRIORITY)
    spec: dict[str, Any] = {"group": group, "version": version} if group else {"version": version}
    spec["groupPriorityMinimum"], spec["versionPriority"] = priority
    return {
        "metadata": {"name": f"{version}.{group}",
                     "labels": {AUTOMANAGED: "onstart" if builtin else "true"}},
        "spec": spec,
    }


def _available(obj: Obj) -> None:
    obj["status"] = {"conditions": [{
        "type": "Available", "status": "True", "lastTransitionTime": now_rfc3339(),
        "reason": "Local", "message": "Local APIServices are always available",
    }]}
