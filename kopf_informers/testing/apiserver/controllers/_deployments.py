"""The deployment and replicaset controllers, as kube-controller-manager runs them (simulated).

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``, one per template it
has had: the one whose template is the Deployment's is the new one and gets all the replicas,
the others are scaled to 0 and kept up to ``revisionHistoryLimit``. Each carries its revision
(``deployment.kubernetes.io/revision``), as the Deployment carries its new one's: so
``kubectl rollout status``, ``rollout history`` and ``rollout undo`` (which copies an old
ReplicaSet's template back into the Deployment) work. The Deployment's status is summed from
its ReplicaSets' statuses.

A ReplicaSet's status comes from its Pods when pods are simulated (it creates and deletes them
to match its replicas); otherwise it follows its spec at once, as the workload simulation always
did: every replica counts as ready and available.

Differences from kube-controller-manager, on purpose: a rollout is one step (the new ReplicaSet
is scaled up and the old ones down together; ``maxSurge``/``maxUnavailable`` shape only the
annotations and the ``Available`` condition); orphaned ReplicaSets matching a selector are not
adopted; ``minReadySeconds`` does not delay availability; ``progressDeadlineSeconds`` never
expires.
"""

from __future__ import annotations

from ..registry._core import ApiCore
from ..storage._store import Obj
from ._objects import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    Controller,
    active,
    condition,
    controller_ref,
    create,
    int_or_percent,
    is_ready,
    live,
    owned,
    pod_from_template,
    replicas_of,
    semantic,
    set_condition,
    template_hash,
    without_zeros,
    write_status,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations a Deployment does not pass on to its ReplicaSets (the rest it does).
_NOT_COPIED = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to",
})


class ReplicaSetController(Controller):
    """Keeps a ReplicaSet's Pods (when simulated) and its status in line with its spec."""

    def sync(self, namespace: str, name: str) -> None:
        rs = live(self.core, REPLICASETS, namespace, name)
        if rs is None:
            return
        replicas = replicas_of(rs)
        if not self.pods:
            counts = {"fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                      "availableReplicas": replicas}
            self._write_status(rs, replicas, counts)
            return
        pods = active(owned(self.core, rs, PODS))
        if len(pods) < replicas:
            template = (rs.get("spec") or {}).get("template") or {}
            for _ in range(replicas - len(pods)):
                # Named as the real controller names them: generateName "<replicaset>-".
                pod = pod_from_template(rs, template, generate_name=f"{name}-")
                create(self.core, PODS, namespace, pod)
        elif len(pods) > replicas:
            # Not-ready pods go first, then the newest, as the real controller ranks them.
            pods.sort(key=lambda p: (is_ready(p), p["metadata"]["creationTimestamp"]))
            for pod in pods[:len(pods) - replicas]:
                self.core.internal_delete(PODS, pod)
        pods = active(owned(self.core, rs, PODS))
        ready = sum(1 for p in pods if is_ready(p))
        counts = {"fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready}
        self._write_status(rs, len(pods), counts)

    def _write_status(self, rs: Obj, replicas: int, counts: dict[str, int]) -> None:
        status = {"replicas": replicas, **without_zeros(counts),
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        write_status(self.core, REPLICASETS, rs, status)


class DeploymentController:
    """Rolls a Deployment out to its ReplicaSets and sums their status into its own."""

    def __init__(self, core: ApiCore, replicasets: ReplicaSetController) -> None:
        self.core = core
        self.replicasets = replicasets

    def sync(self, namespace: str, name: str) -> None:
        deploy = live(self.core, DEPLOYMENTS, namespace, name)
        if deploy is None:
            return
        spec = deploy.get("spec") or {}
        all_rss = owned(self.core, deploy, REPLICASETS)
        new_rs = _find_new(deploy, all_rss)
        olds = [rs for rs in all_rss if rs is not new_rs]
        if not spec.get("paused"):
            new_rs = self._roll_out(deploy, new_rs, olds)
            for rs in olds:
                self._scale(rs, 0)
            self._clean_up(deploy, olds)
        if new_rs is not None:
            self._set_revision(deploy, _revision(new_rs))
        self._sync_status(namespace, name)

    # -- the new ReplicaSet ---------------------------------------------------------------------

    def _roll_out(self, deploy: Obj, new_rs: Obj | None, olds: list[Obj]) -> Obj | None:
        spec = deploy.get("spec") or {}
        max_old = max((_revision(rs) for rs in olds), default=0)
        replicas = replicas_of(deploy)
        annotations = {
            k: v for k, v in (deploy["metadata"].get("annotations") or {}).items()
            if k not in _NOT_COPIED
        }
        annotations[DESIRED_REPLICAS] = str(replicas)
        annotations[MAX_REPLICAS] = str(replicas + _max_surge(deploy))
        if new_rs is None:
            return self._create_new(deploy, annotations, max_old + 1)
        current = new_rs["metadata"].get("annotations") or {}
        revision = _revision(new_rs)
        if revision <= max_old:  # an old template back (a rollback): it becomes the newest
            history = [h for h in current.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(revision)])
            revision = max_old + 1
        elif REVISION_HISTORY in current:
            annotations[REVISION_HISTORY] = current[REVISION_HISTORY]
        annotations[REVISION] = str(revision)
        min_ready = spec.get("minReadySeconds")

        def mutate(rs: Obj) -> None:
            rs["metadata"]["annotations"] = annotations
            rs["spec"]["replicas"] = replicas
            if min_ready is not None:
                rs["spec"]["minReadySeconds"] = min_ready

        updated = self.core.internal_update(REPLICASETS, new_rs, mutate) or new_rs
        self.replicasets.sync(updated["metadata"]["namespace"], updated["metadata"]["name"])
        return updated

    def _create_new(self, deploy: Obj, annotations: dict[str, str], revision: int) -> Obj | None:
        meta, spec = deploy["metadata"], deploy.get("spec") or {}
        status = deploy.get("status") or {}
        template = spec.get("template") or {}
        pod_hash = template_hash(_without_hash(template), status.get("collisionCount"))
        name = f"{meta['name']}-{pod_hash}"
        namespace = meta["namespace"]
        taken = self.core.store.resource(REPLICASETS).get(namespace, name)
        if taken is not None:
            # Another template (or someone else's ReplicaSet) has the name: count a collision,
            # which changes the hash, and try again on the next sync, as the real controller.
            self._bump_collisions(deploy)
            return None
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: pod_hash}
        selector = dict(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        rs_template = {**template, "metadata": {**(template.get("metadata") or {}),
                                                "labels": labels}}
        rs_spec: Obj = {"replicas": replicas_of(deploy), "selector": selector,
                        "template": rs_template}
        if spec.get("minReadySeconds") is not None:
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        body = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {**annotations, REVISION: str(revision)},
                         "ownerReferences": [controller_ref(deploy)]},
            "spec": rs_spec,
        }
        created = create(self.core, REPLICASETS, namespace, body)
        if created is not None:
            self.replicasets.sync(namespace, name)
        return created

    def _bump_collisions(self, deploy: Obj) -> None:
        def mutate(new: Obj) -> None:
            status = new.setdefault("status", {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1

        self.core.internal_update(DEPLOYMENTS, deploy, mutate, subresource="status")

    # -- old ReplicaSets ------------------------------------------------------------------------

    def _scale(self, rs: Obj, replicas: int) -> None:
        if replicas_of(rs) != replicas:
            def mutate(new: Obj) -> None:
                new["spec"]["replicas"] = replicas
                new["metadata"].setdefault("annotations", {})[DESIRED_REPLICAS] = str(replicas)

            self.core.internal_update(REPLICASETS, rs, mutate)
        self.replicasets.sync(rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _clean_up(self, deploy: Obj, olds: list[Obj]) -> None:
        """Delete the oldest scaled-down ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (deploy.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        store = self.core.store.resource(REPLICASETS)
        current = [store.get(rs["metadata"]["namespace"], rs["metadata"]["name"]) for rs in olds]
        idle = [rs for rs in current if rs is not None and _is_idle(rs)]
        idle.sort(key=_revision)
        for rs in idle[:max(len(idle) - limit, 0)]:
            self.core.internal_delete(REPLICASETS, rs)

    # -- the Deployment -------------------------------------------------------------------------

    def _set_revision(self, deploy: Obj, revision: int) -> None:
        if (deploy["metadata"].get("annotations") or {}).get(REVISION) == str(revision):
            return

        def mutate(new: Obj) -> None:
            new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)

        self.core.internal_update(DEPLOYMENTS, deploy, mutate)

    def _sync_status(self, namespace: str, name: str) -> None:
        deploy = self.core.store.resource(DEPLOYMENTS).get(namespace, name)
        if deploy is None:
            return
        rss = owned(self.core, deploy, REPLICASETS)
        write_status(self.core, DEPLOYMENTS, deploy,
                     _deployment_status(deploy, rss, _find_new(deploy, rss)))


def _deployment_status(deploy: Obj, rss: list[Obj], new_rs: Obj | None) -> Obj:
    def total(field: str, of: list[Obj] = rss) -> int:
        return sum(int((rs.get("status") or {}).get(field) or 0) for rs in of)

    replicas = replicas_of(deploy)
    old_status = deploy.get("status") or {}
    current, available = total("replicas"), total("availableReplicas")
    updated = total("replicas", [new_rs]) if new_rs is not None else 0
    counts = {"replicas": current, "updatedReplicas": updated,
              "readyReplicas": total("readyReplicas"), "availableReplicas": available,
              "unavailableReplicas": max(replicas - available, 0)}
    status: Obj = {"observedGeneration": deploy["metadata"].get("generation", 1),
                   **without_zeros(counts)}
    conditions = list(old_status.get("conditions") or ())
    min_available = replicas - _max_unavailable(deploy)
    if available >= min_available:
        conditions = set_condition(conditions, condition(
            "Available", "True", "MinimumReplicasAvailable",
            "Deployment has minimum availability.", update_time=True))
    else:
        conditions = set_condition(conditions, condition(
            "Available", "False", "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.", update_time=True))
    conditions = set_condition(conditions, _progressing(deploy, new_rs, counts, replicas))
    status["conditions"] = conditions
    if old_status.get("collisionCount"):
        status["collisionCount"] = old_status["collisionCount"]
    return status


def _progressing(deploy: Obj, new_rs: Obj | None, counts: dict[str, int], replicas: int) -> Obj:
    if (deploy.get("spec") or {}).get("paused"):
        return condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                         update_time=True)
    if new_rs is None:
        return condition("Progressing", "True", "ReplicaSetUpdated",
                         f'Deployment "{deploy["metadata"]["name"]}" is progressing.',
                         update_time=True)
    rs_name = new_rs["metadata"]["name"]
    if counts["updatedReplicas"] == counts["replicas"] == counts["availableReplicas"] == replicas:
        return condition("Progressing", "True", "NewReplicaSetAvailable",
                         f'ReplicaSet "{rs_name}" has successfully progressed.',
                         update_time=True)
    return condition("Progressing", "True", "ReplicaSetUpdated",
                     f'ReplicaSet "{rs_name}" is progressing.', update_time=True)


def _max_surge(deploy: Obj) -> int:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    return int_or_percent(rolling.get("maxSurge", "25%"), replicas_of(deploy), round_up=True)


def _max_unavailable(deploy: Obj) -> int:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    replicas = replicas_of(deploy)
    if strategy.get("type") == "Recreate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if unavailable == 0 and _max_surge(deploy) == 0:
        unavailable = 1  # both zero cannot roll: the real controller allows one unavailable
    return min(unavailable, replicas)


def _find_new(deploy: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's (the oldest, should there be two)."""
    template = _without_hash((deploy.get("spec") or {}).get("template") or {})
    return next((rs for rs in sorted(rss, key=_created)
                 if _without_hash((rs.get("spec") or {}).get("template") or {}) == template),
                None)


def _without_hash(template: Obj) -> Obj:
    """A pod template without the ``pod-template-hash`` label and Go's zero values (how
    templates are compared)."""
    template = semantic(template)
    labels = (template.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict) or HASH_LABEL not in labels:
        return template
    rest = {k: v for k, v in labels.items() if k != HASH_LABEL}
    meta = {**template["metadata"], "labels": rest}
    if not rest:
        del meta["labels"]
    return {**template, "metadata": meta}


def _revision(rs: Obj) -> int:
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _created(rs: Obj) -> tuple[str, str]:
    return rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]


def _is_idle(rs: Obj) -> bool:
    status = rs.get("status") or {}
    return (not rs["metadata"].get("deletionTimestamp") and replicas_of(rs) == 0
            and not status.get("replicas")
            and rs["metadata"].get("generation", 1) <= status.get("observedGeneration", 0))

