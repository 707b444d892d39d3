"""How each list field of a kind merges: by a key, as a set of values, or replaced whole.

Where it sits: strategic merge patch (``_strategic``) and server-side apply (``_apply``) look
list fields up here, by their path relative to the kind's root, with list items transparent in
the paths (``spec.containers.env`` is the ``env`` of every container). The table is composed of
one table per embedded type (``_OBJECT_META``, ``_POD_SPEC``, ``_CONTAINER``, ...) mounted where
each kind embeds that type (``_KIND_LISTS``: a Deployment's pod template at ``spec.template``, a
CronJob's at ``spec.jobTemplate.spec.template``); every built-in kind also gets ``metadata`` and
merges any list named ``conditions`` by ``type``. The entries copy the ``patchMergeKey``/
``patchStrategy`` tags of the Kubernetes API types; lists not named are atomic and replaced
whole, as are lists the real API leaves untagged (``tolerations``, ``args``, ``envFrom``, ...).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Final

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ListRule:
    """A list merged by a key field of its items, or (``merge_key=None``) as a set of values."""

    merge_key: str | None = None


def _key(field: str) -> ListRule:
    return ListRule(merge_key=field)


_SET: Final = ListRule()
_BY_TYPE: Final = _key("type")

_OBJECT_META: Final[Mapping[Path, ListRule]] = {
    ("finalizers",): _SET,
    ("ownerReferences",): _key("uid"),
}
_CONTAINER: Final[Mapping[Path, ListRule]] = {
    ("env",): _key("name"),
    ("ports",): _key("containerPort"),
    ("volumeMounts",): _key("mountPath"),
    ("volumeDevices",): _key("devicePath"),
}
_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
_POD_SPEC: Final[Mapping[Path, ListRule]] = {
    ("volumes",): _key("name"),
    ("imagePullSecrets",): _key("name"),
    ("hostAliases",): _key("ip"),
    ("topologySpreadConstraints",): _key("topologyKey"),
    ("schedulingGates",): _key("name"),
    ("resourceClaims",): _key("name"),
    **{(field,): _key("name") for field in _CONTAINER_LISTS},
    **{(field, *sub): rule for field in _CONTAINER_LISTS for sub, rule in _CONTAINER.items()},
}
_POD_STATUS: Final[Mapping[Path, ListRule]] = {
    ("podIPs",): _key("ip"),
    ("hostIPs",): _key("ip"),
}


def _mount(prefix: Path, table: Mapping[Path, ListRule]) -> dict[Path, ListRule]:
    """Place a type's table at the path where that type is embedded in a kind."""
    return {prefix + path: rule for path, rule in table.items()}


def _pod_template_at(*prefix: str) -> dict[Path, ListRule]:
    return {**_mount((*prefix, "metadata"), _OBJECT_META), **_mount((*prefix, "spec"), _POD_SPEC)}


# Per (group, kind): the lists beyond ``metadata`` and ``conditions`` (both apply to all kinds).
_KIND_LISTS: Final[Mapping[tuple[str, str], Mapping[Path, ListRule]]] = {
    ("", "Pod"): {**_mount(("spec",), _POD_SPEC), **_mount(("status",), _POD_STATUS)},
    ("", "PodTemplate"): _pod_template_at("template"),
    ("", "ReplicationController"): _pod_template_at("spec", "template"),
    ("", "Service"): {("spec", "ports"): _key("port")},
    ("", "ServiceAccount"): {("secrets",): _key("name")},
    ("", "Node"): {("spec", "podCIDRs"): _SET, ("status", "addresses"): _key("type")},
    ("apps", "Deployment"): _pod_template_at("spec", "template"),
    ("apps", "ReplicaSet"): _pod_template_at("spec", "template"),
    ("apps", "StatefulSet"): _pod_template_at("spec", "template"),
    ("apps", "DaemonSet"): _pod_template_at("spec", "template"),
    ("batch", "Job"): _pod_template_at("spec", "template"),
    ("batch", "CronJob"): _pod_template_at("spec", "jobTemplate", "spec", "template"),
}

# Groups served by kube-apiserver itself; kinds elsewhere are custom resources.
_BUILTIN_GROUPS: Final = frozenset({
    "", "apps", "batch", "autoscaling", "policy",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
})


@dataclasses.dataclass(frozen=True)
class Schema:
    """What the merge needs of a kind: how each list field merges (absent: replaced whole)."""

    lists: Mapping[Path, ListRule]
    conditions_by_type: bool = False  # any list field named ``conditions`` merges by ``type``

    def rule(self, path: Path) -> ListRule | None:
        rule = self.lists.get(path)
        if rule is None and self.conditions_by_type and path[-1:] == ("conditions",):
            return _BY_TYPE
        return rule


MERGE_PATCH_SCHEMA: Final = Schema(lists={})
CUSTOM_RESOURCE_SCHEMA: Final = Schema(lists=_mount(("metadata",), _OBJECT_META))


@functools.cache
def builtin_schema(kind: str, group: str) -> Schema | None:
    if group not in _BUILTIN_GROUPS:
        return None
    lists = {**_mount(("metadata",), _OBJECT_META), **_KIND_LISTS.get((group, kind), {})}
    return Schema(lists=lists, conditions_by_type=True)


def where(path: Path) -> str:
    return ".".join(path) or "the root"
