"""The strategy of a custom resource version, built from its CRD when the CRD is served.

apiextensions-apiserver gives each served CRD version its own ``customResourceStrategy``: the
structural schema's defaulting and pruning (done while decoding, so pruned fields are unknown
fields to ``fieldValidation``), the schema's validation with its field paths, the
``additionalPrinterColumns`` as the Table convertor, and its ``subresources``: whether
``/status`` splits status from spec, and where ``/scale`` reads its numbers. :func:`crd_strategy`
makes the same from a version of a CRD; the generic registry calls it as it calls any other
strategy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..admission import _validation
from ._printers import custom_printer
from ._strategy import Obj, ResourceStrategy, ScaleInfo


@dataclasses.dataclass(frozen=True)
class CustomResourceStrategy(ResourceStrategy):
    """A custom resource version's strategy: its structural schema does the per-kind work."""

    schema: Mapping[str, Any] | None = None  # the version's structural openAPIV3Schema

    def decode(self, obj: Obj) -> tuple[Obj, list[str]]:
        if self.schema is None:
            return obj, []
        obj = _validation.apply_defaults(obj, self.schema)
        return _validation.prune(obj, self.schema)

    def validate(self, obj: Obj, old: Obj | None) -> list[_validation.Cause]:
        if self.schema is None:
            return []
        return _validation.validate_custom_object(obj, self.schema)


def crd_strategy(
    schema: Mapping[str, Any] | None,
    printer_columns: tuple[Mapping[str, Any], ...] | None,
    subresources: Mapping[str, Any] | None = None,
    *,
    status_is_spec: bool | None = None,
) -> CustomResourceStrategy:
    """The strategy of one CRD version: its schema, its printer columns and subresources.

    ``printer_columns`` is the version's ``additionalPrinterColumns`` (empty: the default
    ``Age``); ``None`` keeps the generic printer. ``subresources`` is the version's
    ``subresources``. Without a status subresource, a change of status is a change of spec,
    which bumps ``metadata.generation`` (``status_is_spec`` overrides that).
    """
    subresources = subresources or {}
    status = "status" in subresources
    return CustomResourceStrategy(
        schema=schema,
        printer=None if printer_columns is None else custom_printer(printer_columns),
        status_is_spec=not status if status_is_spec is None else status_is_spec,
        status_subresource=status,
        scale_subresource=_scale_from_crd(subresources.get("scale")),
    )


def _scale_from_crd(scale: Mapping[str, Any] | None) -> ScaleInfo | None:
    if scale is None:
        return None
    return ScaleInfo(
        spec_replicas_path=scale.get("specReplicasPath", ".spec.replicas"),
        status_replicas_path=scale.get("statusReplicasPath", ".status.replicas"),
        label_selector_path=scale.get("labelSelectorPath"),
    )
