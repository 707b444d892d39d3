"""How each list field of a kind merges: by a key, as a set of values, or replaced whole.

Where it sits: strategic merge patch (``_strategic``) and server-side apply (``_apply``) look
list fields up here, by their path relative to the kind's root, with list items transparent in
the paths (``spec.containers.env`` is the ``env`` of every container). A kind's table is
composed of one table per embedded type (``_OBJECT_META``, ``POD_SPEC``, ``_CONTAINER``, ...)
mounted where the kind embeds that type (:func:`mount`, :func:`pod_template_at`: a Deployment's
pod template at ``spec.template``, a CronJob's at ``spec.jobTemplate.spec.template``). Each
built-in kind's entry in ``_builtins`` names its own lists; :func:`builtin_kind_schema` adds
``metadata`` and merges any list named ``conditions`` by ``type``. The entries copy the
``patchMergeKey``/``patchStrategy`` tags of the Kubernetes API types; lists not named are atomic
and replaced whole, as are lists the real API leaves untagged (``tolerations``, ``args``,
``envFrom``, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ListRule:
    """A list merged by a key field of its items, or (``merge_key=None``) as a set of values."""

    merge_key: str | None = None


def by_key(field: str) -> ListRule:
    return ListRule(merge_key=field)


AS_SET: Final = ListRule()
_BY_TYPE: Final = by_key("type")

_OBJECT_META: Final[Mapping[Path, ListRule]] = {
    ("finalizers",): AS_SET,
    ("ownerReferences",): by_key("uid"),
}
_CONTAINER: Final[Mapping[Path, ListRule]] = {
    ("env",): by_key("name"),
    ("ports",): by_key("containerPort"),
    ("volumeMounts",): by_key("mountPath"),
    ("volumeDevices",): by_key("devicePath"),
}
_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
POD_SPEC: Final[Mapping[Path, ListRule]] = {
    ("volumes",): by_key("name"),
    ("imagePullSecrets",): by_key("name"),
    ("hostAliases",): by_key("ip"),
    ("topologySpreadConstraints",): by_key("topologyKey"),
    ("schedulingGates",): by_key("name"),
    ("resourceClaims",): by_key("name"),
    **{(field,): by_key("name") for field in _CONTAINER_LISTS},
    **{(field, *sub): rule for field in _CONTAINER_LISTS for sub, rule in _CONTAINER.items()},
}
POD_STATUS: Final[Mapping[Path, ListRule]] = {
    ("podIPs",): by_key("ip"),
    ("hostIPs",): by_key("ip"),
}


def mount(prefix: Path, table: Mapping[Path, ListRule]) -> dict[Path, ListRule]:
    """Place a type's table at the path where that type is embedded in a kind."""
    return {prefix + path: rule for path, rule in table.items()}


def pod_template_at(*prefix: str) -> dict[Path, ListRule]:
    """The lists of a pod template embedded at ``prefix``."""
    return {**mount((*prefix, "metadata"), _OBJECT_META), **mount((*prefix, "spec"), POD_SPEC)}


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
CUSTOM_RESOURCE_SCHEMA: Final = Schema(lists=mount(("metadata",), _OBJECT_META))


def builtin_kind_schema(group: str, lists: Mapping[Path, ListRule]) -> Schema | None:
    """The schema of a built-in kind of ``group`` with these ``lists`` beyond ``metadata``.

    ``None`` outside the groups kube-apiserver serves itself: their kinds are custom resources.
    """
    if group not in _BUILTIN_GROUPS:
        return None
    return Schema(lists={**mount(("metadata",), _OBJECT_META), **lists}, conditions_by_type=True)


def where(path: Path) -> str:
    return ".".join(path) or "the root"
