"""What the embedded API server knows about each resource it serves.

A :class:`ResourceInfo` is one served group/version/plural: enough to answer discovery, route
requests, stamp metadata and validate bodies. Built-in resources come from ``_builtins``; custom
resources are made from CRD objects by :func:`resources_from_crd`, each version with its
:class:`~._crd_strategy.CustomResourceStrategy`. Which subresources it has is its strategy's to
say (``ResourceStrategy.status_subresource``, ``.scale_subresource``); ``status``, ``scale``
and ``subresources`` here only read them, for discovery and routing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._crd_strategy import crd_strategy
from ._strategy import DEFAULT_STRATEGY, ResourceStrategy, ScaleInfo

__all__ = ["ALL_VERBS", "ResourceInfo", "ScaleInfo", "resources_from_crd"]

ALL_VERBS: tuple[str, ...] = (
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
)


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
    has_generation: bool = False  # metadata.generation is stamped and bumped on spec changes
    schema: Mapping[str, Any] | None = None  # structural openAPIV3Schema (custom resources)
    printer_columns: tuple[Mapping[str, Any], ...] = ()
    field_selectors: tuple[str, ...] = ()  # per-kind field selector keys beyond metadata.*
    storage_version: bool = True  # the version objects are stored in (custom resources)
    custom: bool = False  # made from a CRD
    # Per-kind behaviour (defaults, printer, merge keys, DELETE's answer, subresources); not
    # part of equality or the hash (it holds functions and unhashable printer columns).
    strategy: ResourceStrategy = dataclasses.field(default=DEFAULT_STRATEGY, compare=False)

    def __post_init__(self) -> None:
        if self.strategy is DEFAULT_STRATEGY and (self.custom or self.schema is not None):
            # Described by hand, without a strategy: the one its CRD version would make (one
            # described as a built-in, with a schema, counts its status apart from its spec).
            object.__setattr__(self, "strategy", crd_strategy(
                self.schema, self.printer_columns if self.custom else None,
                status_is_spec=self.custom,
            ))

    @property
    def status(self) -> bool:
        """Whether it has a status subresource (its strategy says)."""
        return self.strategy.status_subresource

    @property
    def scale(self) -> ScaleInfo | None:
        """Its scale subresource's paths, if it has one (its strategy says)."""
        return self.strategy.scale_subresource

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
        return self.strategy.subresources

    @property
    def name(self) -> str:
        """``group/version/plural``, the way this project writes resources."""
        return f"{self.api_version}/{self.plural}"


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
            has_generation=True,
            schema=schema,
            printer_columns=columns,
            storage_version=bool(version.get("storage", False)),
            custom=True,
            strategy=crd_strategy(schema, columns, version.get("subresources") or {}),
        ))
    return result
