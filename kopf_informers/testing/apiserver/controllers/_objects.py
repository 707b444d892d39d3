"""What the workload controllers build and read, as kube-controller-manager's helpers do.

Owner references, template hashes, conditions, counted pods and pods stamped from templates:
the parts ``_deployments``, ``_statefulsets``, ``_jobs`` and ``_kubelet`` share. Nothing here
writes; the controllers write through ``ApiCore``.

Differences from kube-controller-manager, on purpose: a template hash is FNV-1a over the
template's canonical JSON, not over Go's printed struct, so the names (``<deployment>-<hash>``)
have the real shape and stability but not the real letters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..apimachinery._status import ApiStatusError
from ..registry._core import ApiCore, now_rfc3339
from ..storage._store import Obj, ResourceKey

PODS: ResourceKey = ("", "pods")
REPLICASETS: ResourceKey = ("apps", "replicasets")
DEPLOYMENTS: ResourceKey = ("apps", "deployments")
STATEFULSETS: ResourceKey = ("apps", "statefulsets")
CONTROLLER_REVISIONS: ResourceKey = ("apps", "controllerrevisions")
PVCS: ResourceKey = ("", "persistentvolumeclaims")
JOBS: ResourceKey = ("batch", "jobs")
NODES: ResourceKey = ("", "nodes")

# rand.SafeEncodeString's alphabet: no vowels, no 0/1/3, so no words and no look-alikes.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193
_PERCENT = re.compile(r"^(\d+)%$")


class Controller:
    """A workload controller: reads the store and writes through ``core``; ``pods``: whether
    it makes Pods (pod simulation) or counts its replicas ready without them."""

    def __init__(self, core: ApiCore, *, pods: bool = False) -> None:
        self.core = core
        self.pods = pods


def template_hash(template: Any, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` (and ControllerRevision hash) of ``template``: a 32-bit FNV-1a
    hash, with the collision count mixed in, written in the safe alphabet as the real one is."""
    value = _FNV_OFFSET
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(value))


def semantic(value: Any) -> Any:
    """``value`` without nulls and empty objects or lists, for comparing templates as
    ``apiequality.Semantic.DeepEqual`` compares typed ones: a template sent back with
    ``creationTimestamp: null`` and ``resources: {}`` (as Go clients serialize zero values) is
    the same template."""
    if isinstance(value, dict):
        items = ((k, semantic(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def controller_ref(owner: Obj) -> Obj:
    """The controller ownerReference a controller puts on what it creates for ``owner``."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: Obj, owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid and ref.get("controller")
               for ref in obj["metadata"].get("ownerReferences") or ())


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference that marks ``obj``'s controller, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def owned(core: ApiCore, owner: Obj, key: ResourceKey) -> list[Obj]:
    """The objects of ``key`` that ``owner`` controls (through the store's owner index)."""
    uid = owner["metadata"]["uid"]
    return [obj for k, obj in core.store.iter_dependents(uid)
            if k == key and is_controlled_by(obj, uid)]


def active(pods: Iterable[Obj]) -> list[Obj]:
    """Pods neither being deleted nor finished: those a controller counts as its replicas."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def replicas_of(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else 1


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """An ``IntOrString`` such as ``maxSurge: 25%`` resolved against ``total``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _PERCENT.match(str(value))
    if match is None:
        return 0
    exact = int(match.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def condition(type_: str, status: str, reason: str, message: str, *,
              update_time: bool = False) -> Obj:
    now = now_rfc3339()
    cond = {"type": type_, "status": status}
    if update_time:
        cond["lastUpdateTime"] = now
    cond.update({"lastTransitionTime": now, "reason": reason, "message": message})
    return cond


def set_condition(conditions: list[Obj], new: Obj) -> list[Obj]:
    """``conditions`` with ``new`` in its type's place. An existing condition of the same status
    and reason stays as it is, timestamps and all, as the real controllers keep it: so a sync
    that changes nothing writes nothing."""
    result = []
    placed = False
    for cond in conditions:
        if cond.get("type") != new["type"]:
            result.append(cond)
            continue
        placed = True
        if (cond.get("status"), cond.get("reason")) == (new["status"], new["reason"]):
            result.append(cond)
        elif cond.get("status") == new["status"]:
            result.append({**new, "lastTransitionTime": cond.get("lastTransitionTime",
                                                                  new["lastTransitionTime"])})
        else:
            result.append(new)
    if not placed:
        result.append(new)
    return result


def without_zeros(counts: Mapping[str, int]) -> Obj:
    """Status counters as the real types serialize them: zeros are omitted (``omitempty``)."""
    return {k: v for k, v in counts.items() if v}


def live(core: ApiCore, key: ResourceKey, namespace: str, name: str) -> Obj | None:
    """The object a sync is about, unless it is gone or going (then there is nothing to do)."""
    obj = core.store.resource(key).get(namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    return obj


def write_status(core: ApiCore, key: ResourceKey, obj: Obj, status: Obj) -> None:
    """Write ``status`` through ``/status`` if it differs from ``obj``'s."""
    if obj.get("status") == status:
        return

    def mutate(new: Obj) -> None:
        new["status"] = status

    core.internal_update(key, obj, mutate, subresource="status")


def create(core: ApiCore, key: ResourceKey, namespace: str, body: Obj) -> Obj | None:
    """Create as a controller does: a refusal (namespace terminating, name taken) is no error,
    the next sync sees the world as it is."""
    try:
        return core.create(core.storage_info(key), namespace, body, field_validation="Ignore")
    except ApiStatusError:
        return None


def pod_from_template(owner: Obj, template: Obj, *, name: str | None = None,
                      generate_name: str | None = None, labels: Mapping[str, str] = {},
                      ) -> Obj:
    """A Pod for ``owner`` from its pod template, owned by it, as ``GetPodFromTemplate``."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"labels": {**(tmeta.get("labels") or {}), **labels},
                 "ownerReferences": [controller_ref(owner)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if name is not None:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": orjson.loads(orjson.dumps(template.get("spec") or {}))}
