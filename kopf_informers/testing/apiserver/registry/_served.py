"""Which resources the embedded API server serves right now: built-ins plus those of CRDs.

Discovery, routing and the OpenAPI documents all read from one :class:`ServedResources`. Creating,
changing or deleting a CRD changes the registry in the same step, so a new resource is served the
moment its CRD is stored, as the real server's CRD controller makes it within milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._resources import ResourceInfo

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order: GA > beta > alpha, then higher numbers; others last by name."""
    match = _VERSION.match(version)
    if match is None:
        return (0, 0, 0, version)
    major, level, minor = match.groups()
    rank = {None: 3, "beta": 2, "alpha": 1}[level]
    return (rank, int(major), int(minor or 0), "")


class ServedResources:
    """Served resources by (group, version, plural), with discovery-friendly views."""

    def __init__(self, builtins: Iterable[ResourceInfo]) -> None:
        self._builtins = tuple(builtins)
        self._served: dict[tuple[str, str, str], ResourceInfo] = {}
        self._crds: dict[str, list[ResourceInfo]] = {}
        self.generation = 0  # bumped on every change; caches of derived documents key on it
        for info in self._builtins:
            self._served[(info.group, info.version, info.plural)] = info

    def register(self, info: ResourceInfo) -> None:
        """Serve ``info`` as a built-in from now on: discovery, routing, OpenAPI, its strategy.

        Raises:
            ValueError: if that group, version and plural is served already.
        """
        if (info.group, info.version, info.plural) in self._served:
            raise ValueError(f"{info.name} is served already")
        self._builtins = (*self._builtins, info)
        self._served[(info.group, info.version, info.plural)] = info
        self.generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._served.get((group, version, plural))

    def all(self) -> list[ResourceInfo]:
        return list(self._served.values())

    def versions_of(self, group: str, plural: str) -> list[ResourceInfo]:
        return [i for i in self._served.values() if i.group == group and i.plural == plural]

    def storage_info(self, group: str, plural: str) -> ResourceInfo | None:
        """The version an object of this resource is stored in (for internal writes)."""
        infos = self.versions_of(group, plural)
        for info in infos:
            if info.storage_version:
                return info
        return infos[0] if infos else None

    def by_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, _, version = api_version.rpartition("/")
        for info in self._served.values():
            if info.group == group and info.version == version and info.kind == kind:
                return info
        return None

    def groups(self) -> dict[str, list[str]]:
        """Group name → served versions, preferred first. The core group is under ""."""
        result: dict[str, set[str]] = {}
        for info in self._served.values():
            result.setdefault(info.group, set()).add(info.version)
        return {
            group: sorted(versions, key=version_priority, reverse=True)
            for group, versions in sorted(result.items())
        }

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [i for i in self._served.values() if i.group == group and i.version == version]

    def is_builtin_group(self, group: str) -> bool:
        return any(info.group == group for info in self._builtins)

    def set_crd(self, name: str, infos: list[ResourceInfo]) -> None:
        self.remove_crd(name)
        self._crds[name] = infos
        for info in infos:
            self._served[(info.group, info.version, info.plural)] = info
        self.generation += 1

    def remove_crd(self, name: str) -> None:
        for info in self._crds.pop(name, []):
            self._served.pop((info.group, info.version, info.plural), None)
        self.generation += 1

    def crd_names(self) -> list[str]:
        return list(self._crds)
