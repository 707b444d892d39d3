"""What the embedded API server knows about each resource it serves.

A :class:`ResourceInfo` is one served group/version/plural: enough to answer discovery, route
requests, stamp metadata and validate bodies. Built-in resources come from ``_builtins``; custom
resources are made from CRD objects by :func:`resources_from_crd`, each version with its
:class:`~._crd_strategy.CustomResourceStrategy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._crd_strategy import crd_strategy
from ._strategy import DEFAULT_STRATEGY, ResourceStrategy

ALL_VERBS: tuple[str, ...] = (
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
)


@dataclasses.dataclass(frozen=True)
class ScaleInfo:
    """Where the scale subresource reads and writes its numbers (JSON paths with a leading dot)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclasses.dataclass(frozen=True)
class ResourceInfo:
    """One served resource: a group, a version and a plural, with what discovery says of it."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False  # has a status subresource
    scale: ScaleInfo | None = None  # has a scale subresource
    has_generation: bool = False  # metadata.generation is stamped and bumped on spec changes
    schema: Mapping[str, Any] | None = None  # structural openAPIV3Schema (custom resources)
    printer_columns: tuple[Mapping[str, Any], ...] = ()
    field_selectors: tuple[str, ...] = ()  # per-kind field selector keys beyond metadata.*
    storage_version: bool = True  # the version objects are stored in (custom resources)
    custom: bool = False  # made from a CRD
    # Per-kind behaviour (defaults, printer, merge keys, DELETE's answer); not part of equality.
    strategy: ResourceStrategy = dataclasses.field(default=DEFAULT_STRATEGY, compare=False)

    def __post_init__(self) -> None:
        if self.strategy is DEFAULT_STRATEGY and (self.custom or self.schema is not None):
            # Described by hand, without a strategy: the one its CRD version would make.
            object.__setattr__(self, "strategy", crd_strategy(
                self.schema, self.printer_columns if self.custom else None,
                status_subresource=self.status or not self.custom,
            ))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """The storage key: one store per group and plural, whatever the version."""
        return (self.group, self.plural)

    @property
    def subresources(self) -> tuple[str, ...]:
        subs = []
        if self.status:
            subs.append("status")
        if self.scale is not None:
            subs.append("scale")
        return tuple(subs)

    @property
    def name(self) -> str:
        """``group/version/plural``, the way this project writes resources."""
        return f"{self.api_version}/{self.plural}"


def _scale_from_crd(subresources: Mapping[str, Any]) -> ScaleInfo | None:
    scale = subresources.get("scale")
    if scale is None:
        return None
    return ScaleInfo(
        spec_replicas_path=scale.get("specReplicasPath", ".spec.replicas"),
        status_replicas_path=scale.get("statusReplicasPath", ".status.replicas"),
        label_selector_path=scale.get("labelSelectorPath"),
    )


def resources_from_crd(crd: Mapping[str, Any]) -> list[ResourceInfo]:
    """Every served version of a CustomResourceDefinition, as resources to serve."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group = spec["group"]
    plural = names["plural"]
    kind = names["kind"]
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        columns = tuple(version.get("additionalPrinterColumns") or ())
        result.append(ResourceInfo(
            group=group,
            version=version["name"],
            plural=plural,
            kind=kind,
            singular=names.get("singular") or kind.lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            status="status" in subresources,
            scale=_scale_from_crd(subresources),
            has_generation=True,
            schema=schema,
            printer_columns=columns,
            storage_version=bool(version.get("storage", False)),
            custom=True,
            strategy=crd_strategy(schema, columns, status_subresource="status" in subresources),
        ))
    return result
