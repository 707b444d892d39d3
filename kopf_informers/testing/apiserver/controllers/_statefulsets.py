"""The statefulset controller, as kube-controller-manager runs it (simulated).

Each template a StatefulSet has had is a ControllerRevision named ``<statefulset>-<hash>``
(its ``data`` the template as a strategic merge patch, its ``revision`` a counter); its status
names the revision its Pods run (``currentRevision``) and the one they are moving to
(``updateRevision``). Every ordinal below ``replicas`` gets a PersistentVolumeClaim per
``volumeClaimTemplates`` entry, ``<claim>-<statefulset>-<ordinal>``, kept on scale-down and on
deletion unless ``persistentVolumeClaimRetentionPolicy`` says ``Delete`` (1.32's default:
``Retain`` both).

With pods simulated, it creates Pods ``<statefulset>-<ordinal>``: one at a time, each once the
lower ones are ready (``OrderedReady``) or all at once (``Parallel``); it removes the highest
ordinals first on scale-down, and rolls a new template out by deleting outdated Pods from the
highest ordinal down (``RollingUpdate``, honouring ``partition``; ``OnDelete`` waits). Without
pods, the status follows the spec at once and both revisions are the newest.

Differences from kube-controller-manager, on purpose: Pods below a ``partition`` are created
from the newest template too; claims are deleted directly instead of through owner references.
"""

from __future__ import annotations

from typing import Any

from ..storage._store import Obj
from ._objects import (
    CONTROLLER_REVISIONS,
    PODS,
    PVCS,
    STATEFULSETS,
    Controller,
    active,
    controller_ref,
    create,
    is_ready,
    live,
    owned,
    pod_from_template,
    replicas_of,
    semantic,
    template_hash,
    write_status,
)

REVISION_LABEL = "controller-revision-hash"
HASH_LABEL = "controller.kubernetes.io/hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class StatefulSetController(Controller):
    """Keeps a StatefulSet's revisions, claims, Pods (when simulated) and status."""

    def sync(self, namespace: str, name: str) -> None:
        sts = live(self.core, STATEFULSETS, namespace, name)
        if sts is None:
            return
        update = self._update_revision(sts)
        if update is None:
            return
        replicas = replicas_of(sts)
        self._claims(sts, replicas)
        status = sts.get("status") or {}
        if self.pods:
            counts, current = self._pods(sts, update, status.get("currentRevision") or update)
        else:
            counts = {"replicas": replicas, "readyReplicas": replicas,
                      "currentReplicas": replicas, "updatedReplicas": replicas,
                      "availableReplicas": replicas}
            current = update
        self._clean_up(sts, {current, update})
        new_status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": counts["replicas"],
            **{k: counts[k] for k in ("readyReplicas", "currentReplicas", "updatedReplicas")
               if counts[k]},
            "availableReplicas": counts["availableReplicas"],
            "currentRevision": current, "updateRevision": update,
            "collisionCount": int(status.get("collisionCount") or 0),
        }
        write_status(self.core, STATEFULSETS, sts, new_status)

    # -- revisions ------------------------------------------------------------------------------

    def _update_revision(self, sts: Obj) -> str | None:
        """The name of the ControllerRevision of the current template, made if need be."""
        template = (sts.get("spec") or {}).get("template") or {}
        data = {"spec": {"template": {**template, "$patch": "replace"}}}
        revisions = owned(self.core, sts, CONTROLLER_REVISIONS)
        latest = max((int(r.get("revision") or 0) for r in revisions), default=0)
        for revision in revisions:
            if semantic(revision.get("data")) == semantic(data):
                if int(revision.get("revision") or 0) < latest:  # an old template back
                    def bump(new: Obj) -> None:
                        new["revision"] = latest + 1

                    self.core.internal_update(CONTROLLER_REVISIONS, revision, bump)
                return str(revision["metadata"]["name"])
        meta = sts["metadata"]
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        digest = template_hash(semantic(data), collisions)
        name = f"{meta['name']}-{digest}"
        if self.core.store.resource(CONTROLLER_REVISIONS).get(meta["namespace"], name):
            def collide(new: Obj) -> None:
                new.setdefault("status", {})["collisionCount"] = collisions + 1

            self.core.internal_update(STATEFULSETS, sts, collide, subresource="status")
            return None
        selector = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        created = create(self.core, CONTROLLER_REVISIONS, meta["namespace"], {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "labels": {**selector, HASH_LABEL: digest},
                         "ownerReferences": [controller_ref(sts)]},
            "data": data, "revision": latest + 1,
        })
        return name if created is not None else None

    def _clean_up(self, sts: Obj, keep: set[str]) -> None:
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        revisions = [r for r in owned(self.core, sts, CONTROLLER_REVISIONS)
                     if r["metadata"]["name"] not in keep]
        revisions.sort(key=lambda r: int(r.get("revision") or 0))
        for revision in revisions[:max(len(revisions) - limit, 0)]:
            self.core.internal_delete(CONTROLLER_REVISIONS, revision)

    # -- claims ---------------------------------------------------------------------------------

    def _claims(self, sts: Obj, replicas: int) -> None:
        spec, meta = sts.get("spec") or {}, sts["metadata"]
        templates = [t for t in spec.get("volumeClaimTemplates") or () if isinstance(t, dict)]
        if not templates:
            return
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        claims = self.core.store.resource(PVCS)
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        for template in templates:
            tmeta = template.get("metadata") or {}
            for ordinal in range(replicas):
                name = claim_name(tmeta.get("name", ""), meta["name"], ordinal)
                if claims.get(meta["namespace"], name) is not None:
                    continue
                claim_meta: Obj = {"name": name,
                                   "labels": {**(tmeta.get("labels") or {}), **selector}}
                if tmeta.get("annotations"):
                    claim_meta["annotations"] = dict(tmeta["annotations"])
                if policy.get("whenDeleted") == "Delete":
                    claim_meta["ownerReferences"] = [controller_ref(sts)]
                create(self.core, PVCS, meta["namespace"], {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": claim_meta, "spec": template.get("spec") or {},
                })
            if policy.get("whenScaled") == "Delete":
                prefix = f"{tmeta.get('name', '')}-{meta['name']}-"
                for claim in claims.items(meta["namespace"]):
                    ordinal = claim["metadata"]["name"].removeprefix(prefix)
                    if claim["metadata"]["name"].startswith(prefix) and ordinal.isdigit() \
                            and int(ordinal) >= replicas:
                        self.core.internal_delete(PVCS, claim)

    # -- pods -----------------------------------------------------------------------------------

    def _pods(self, sts: Obj, update: str, current: str) -> tuple[dict[str, int], str]:
        spec, meta = sts.get("spec") or {}, sts["metadata"]
        replicas = replicas_of(sts)
        parallel = spec.get("podManagementPolicy") == "Parallel"
        by_ordinal = {o: p for p in active(owned(self.core, sts, PODS))
                      if (o := _ordinal(p, meta["name"])) is not None}
        # Scale down: the highest ordinals first (one at a time unless Parallel).
        for ordinal in sorted((o for o in by_ordinal if o >= replicas), reverse=True):
            self.core.internal_delete(PODS, by_ordinal.pop(ordinal))
            if not parallel:
                break
        # Scale up: the lowest missing ordinals, each once those below it are ready.
        for ordinal in range(replicas):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                created = create(self.core, PODS, meta["namespace"],
                                 self._pod(sts, ordinal, update))
                if created is not None:
                    by_ordinal[ordinal] = created
                if not parallel:
                    break
            elif not parallel and not is_ready(pod):
                break
        self._roll(sts, by_ordinal, update)
        pods = list(by_ordinal.values())
        ready = sum(1 for p in pods if is_ready(p))
        updated = sum(1 for p in pods if _revision(p) == update)
        if updated == len(pods) == replicas:
            current = update
        counts = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                  "currentReplicas": sum(1 for p in pods if _revision(p) == current),
                  "updatedReplicas": updated}
        return counts, current

    def _roll(self, sts: Obj, by_ordinal: dict[int, Obj], update: str) -> None:
        """Replace the highest outdated Pod once all are ready (``RollingUpdate``)."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete" or len(by_ordinal) < replicas_of(sts):
            return
        if not all(is_ready(p) for p in by_ordinal.values()):
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for ordinal in sorted(by_ordinal, reverse=True):
            if ordinal >= partition and _revision(by_ordinal[ordinal]) != update:
                self.core.internal_delete(PODS, by_ordinal.pop(ordinal))
                return

    def _pod(self, sts: Obj, ordinal: int, revision: str) -> Obj:
        spec, meta = sts.get("spec") or {}, sts["metadata"]
        name = f"{meta['name']}-{ordinal}"
        pod = pod_from_template(sts, spec.get("template") or {}, name=name, labels={
            REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
        })
        pod_spec = pod["spec"]
        pod_spec["hostname"] = name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        claims = [t.get("metadata", {}).get("name", "")
                  for t in spec.get("volumeClaimTemplates") or () if isinstance(t, dict)]
        volumes = [v for v in pod_spec.get("volumes") or () if v.get("name") not in claims]
        volumes += [{"name": c, "persistentVolumeClaim": {
            "claimName": claim_name(c, meta["name"], ordinal)}} for c in claims]
        if volumes:
            pod_spec["volumes"] = volumes
        return pod


def claim_name(claim: str, statefulset: str, ordinal: int) -> str:
    return f"{claim}-{statefulset}-{ordinal}"


def _ordinal(pod: Obj, statefulset: str) -> int | None:
    suffix = pod["metadata"]["name"].removeprefix(f"{statefulset}-")
    return int(suffix) if suffix.isdigit() else None


def _revision(pod: Obj) -> Any:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)
