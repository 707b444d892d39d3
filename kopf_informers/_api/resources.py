"""Resource names and API discovery: from ``"apps/v1/deployments"`` to kind, scope and URLs.

The library names resources the way the API paths do: ``"group/version/plural"``, and
``"version/plural"`` for the core group (``"v1/configmaps"``). Parsing such a string needs no
server; everything else about a resource (its kind, whether it is namespaced, its verbs and
subresources) comes from discovery, one ``APIResourceList`` per group version, which the API
client fetches once and caches (see :meth:`ApiClient.discover`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ..errors import InvalidArgumentError, UnknownResourceError
from .segments import check_segment

_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Where the common built-in kinds are served (GA, the same in every supported release): the
# hints for a plural given without its group and version. Others are found by discovery.
_BUILT_IN_GROUP_VERSIONS = {
    plural: group_version
    for group_version, plurals in {
        "v1": "configmaps endpoints events limitranges namespaces nodes persistentvolumeclaims "
              "persistentvolumes pods podtemplates replicationcontrollers resourcequotas "
              "secrets serviceaccounts services",
        "apps/v1": "controllerrevisions daemonsets deployments replicasets statefulsets",
        "batch/v1": "cronjobs jobs",
        "autoscaling/v2": "horizontalpodautoscalers",
        "coordination.k8s.io/v1": "leases",
        "networking.k8s.io/v1": "ingressclasses ingresses networkpolicies",
        "policy/v1": "poddisruptionbudgets",
        "rbac.authorization.k8s.io/v1": "clusterrolebindings clusterroles rolebindings roles",
        "apiextensions.k8s.io/v1": "customresourcedefinitions",
        "admissionregistration.k8s.io/v1": "mutatingwebhookconfigurations "
                                           "validatingwebhookconfigurations",
        "storage.k8s.io/v1": "storageclasses",
    }.items()
    for plural in plurals.split()
}


def _spelling_hint(parts: list[str], resource: str) -> str:
    """A hint for a resource given without its group or version: the built-in's right name,
    or how to find it (never a guess that may be wrong)."""
    plural = parts[-1].partition(".")[0]
    group = parts[0] if len(parts) == 2 else resource.partition(".")[2]
    known = _BUILT_IN_GROUP_VERSIONS.get(plural)
    if known is not None and (not group or known.split("/")[0] in (group, "v1")):
        return f" (did you mean '{known}/{plural}'?)"
    if group:
        return (f" (did you mean '{group}/<version>/{plural}'? 'kubectl api-resources "
                f"--api-group={group}' shows its version)")
    return (f" (give its group and version, e.g. 'example.com/v1/{plural}'; 'kubectl "
            f"api-resources' lists them)")


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """A parsed resource name: group ("" for the core group), version and plural."""

    group: str
    version: str
    plural: str

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.group_version}/{self.plural}"


def parse_resource(resource: str) -> ResourceRef:
    """Parse ``"apps/v1/deployments"`` or ``"v1/configmaps"``.

    Raises:
        InvalidArgumentError: anything else, with a hint at the expected spelling.
    """
    if not isinstance(resource, str):
        raise InvalidArgumentError(
            f"a resource is a string 'group/version/plural' ('v1/configmaps' for the core "
            f"group), got {resource!r}"
        )
    parts = resource.split("/")
    if len(parts) == 2 and _VERSION.match(parts[0]):
        group, version, plural = "", parts[0], parts[1]
    elif len(parts) == 3:
        group, version, plural = parts
    else:
        hint = _spelling_hint(parts, resource) if len(parts) in (1, 2) and all(parts) else ""
        raise InvalidArgumentError(
            f"resource {resource!r} is not 'group/version/plural' ('apps/v1/deployments'), "
            f"nor 'version/plural' for the core group ('v1/configmaps'){hint}"
        )
    group_ok = _GROUP.match(group) if len(parts) == 3 else True
    if not group_ok or not _LABEL.match(version) or not _LABEL.match(plural):
        raise InvalidArgumentError(
            f"resource {resource!r} has a malformed group, version or plural: each must be "
            "lowercase letters, digits and dashes (and dots in the group)"
        )
    if group == "core":
        group = ""  # "core/v1/pods" is a common spelling of "v1/pods"
    return ResourceRef(group, version, plural)


@dataclasses.dataclass(frozen=True)
class ApiResource:
    """What discovery says about one resource of one group version.

    ``subresources`` are the names after the slash (``status``, ``scale``, ``log``, ...).
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    singular: str = ""
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of its objects: ``apps/v1``, or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The library's name for it: ``apps/v1/deployments``, ``v1/configmaps``."""
        return f"{self.api_version}/{self.plural}"

    def __str__(self) -> str:
        return self.resource

    def path(
        self, *, namespace: str | None = None, name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The URL path of a collection (no name) or of one object (and its subresource).

        Raises:
            InvalidArgumentError: a namespace, name or subresource that cannot be a path
                segment (see :mod:`~kopf_informers._api.segments`); the client checks them
                earlier, this is the last line.
        """
        request = f"the path of {self.resource}"

        def segment(value: str, parameter: str) -> str:
            return quote(check_segment(value, parameter, request=request), safe="")

        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            base += f"/namespaces/{segment(namespace, 'namespace')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{segment(name, 'name')}"
            if subresource is not None:
                base += f"/{segment(subresource, 'subresource')}"
        elif subresource is not None:
            raise InvalidArgumentError(f"{request}: a subresource ({subresource!r}) needs a name")
        return base


def group_version_path(ref: ResourceRef) -> str:
    """Where discovery lists a group version's resources."""
    return f"/apis/{ref.group}/{ref.version}" if ref.group else f"/api/{ref.version}"


def parse_resource_list(ref: ResourceRef, body: Mapping[str, Any]) -> dict[str, ApiResource]:
    """An ``APIResourceList`` as ``{plural: ApiResource}``, subresources attached to their
    parents."""
    entries = [e for e in body.get("resources") or () if isinstance(e, Mapping)]
    subresources: dict[str, set[str]] = {}
    for entry in entries:
        parent, slash, sub = str(entry.get("name", "")).partition("/")
        if slash:
            subresources.setdefault(parent, set()).add(sub)
    result: dict[str, ApiResource] = {}
    for entry in entries:
        plural = str(entry.get("name", ""))
        if not plural or "/" in plural:
            continue
        result[plural] = ApiResource(
            group=ref.group, version=ref.version, plural=plural,
            kind=str(entry.get("kind", "")), namespaced=bool(entry.get("namespaced")),
            verbs=tuple(entry.get("verbs") or ()),
            subresources=frozenset(subresources.get(plural, ())),
            singular=str(entry.get("singularName") or ""),
            short_names=tuple(entry.get("shortNames") or ()),
        )
    return result


def unknown_plural(
    ref: ResourceRef, served: Iterable[str], elsewhere: Sequence[str] = (),
) -> UnknownResourceError:
    names = ", ".join(sorted(served)) or "nothing"
    return UnknownResourceError(
        f"the API server serves no resource {str(ref)!r}{_did_you_mean(elsewhere)}: "
        f"{ref.group_version} serves {names}"
    )


def unknown_group_version(
    ref: ResourceRef, served: Iterable[str], elsewhere: Sequence[str] = (),
) -> UnknownResourceError:
    names = ", ".join(sorted(served)) or "nothing"
    return UnknownResourceError(
        f"the API server serves no resource {str(ref)!r}{_did_you_mean(elsewhere)}: it serves "
        f"no group version {ref.group_version!r} (is its CRD installed?); it serves {names}"
    )


def _did_you_mean(elsewhere: Sequence[str]) -> str:
    return f" (did you mean {' or '.join(repr(r) for r in elsewhere)}?)" if elsewhere else ""


def served_group_versions(core: Mapping[str, Any], groups: Mapping[str, Any]) -> list[str]:
    """Group versions from ``/api`` (``APIVersions``) and ``/apis`` (``APIGroupList``)."""
    served = [str(v) for v in core.get("versions") or ()]
    for group in groups.get("groups") or ():
        if isinstance(group, Mapping):
            for version in group.get("versions") or ():
                if isinstance(version, Mapping) and version.get("groupVersion"):
                    served.append(str(version["groupVersion"]))
    return served
