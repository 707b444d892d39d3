"""``meta.k8s.io/v1`` Tables: what ``kubectl get`` shows for the objects the embedded server holds.

kubectl asks for a list or an object with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``
and prints the ``columnDefinitions`` and the rows' ``cells`` as they come. The columns are chosen
here, per resource, the way kube-apiserver 1.32 chooses them:

* Custom resources: ``Name``, then the CRD version's ``additionalPrinterColumns``. Only when a
  version declares no columns does it get the default ``Age`` column (a ``date`` read from
  ``.metadata.creationTimestamp``). Cells are read with a JSONPath subset (see
  :func:`evaluate_jsonpath`) and typed as the real server types them. A path that finds nothing
  gives ``None``; only the first match is shown.
* A few built-ins get their real columns: pods, deployments, replicasets, statefulsets,
  namespaces, configmaps, secrets, services, leases and both kinds of events. The server always
  fills the wide (priority 1) columns too; ``kubectl get -o wide`` shows them.
* Other built-ins get ``Name`` and ``Age``.

Ages are rendered with the rules of apimachinery's ``duration.HumanDuration`` against the given
``now``, so tests control the clock. Rendering reads objects and never changes them.

The columns of built-ins and of custom resources are in ``_printers`` (a resource's strategy
holds them), the JSONPath subset in ``_jsonpath``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from ..apimachinery._jsonpath import evaluate_jsonpath
from ..registry._printers import (
    AGE_COLUMN,
    NAME_COLUMN,
    Cells,
    Printer,
    age,
    get,
    human_duration,
)
from ..registry._resources import ResourceInfo

__all__ = [
    "Cells",
    "evaluate_jsonpath",
    "human_duration",
    "render_table",
    "table_for_list",
    "table_for_object",
]


def render_table(
    resource: ResourceInfo,
    objects: Sequence[Mapping[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime.datetime,
    list_meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Table of the objects, one row each, in the given order.

    ``include_object`` is the ``includeObject`` query parameter: ``Metadata`` (the default) puts
    a ``PartialObjectMetadata`` in each row, ``Object`` the whole object, ``None`` nothing.
    ``list_meta`` becomes the Table's ``metadata`` (``resourceVersion``, ``continue``).
    Raises :class:`ValueError` for any other ``include_object``.
    """
    if include_object not in ("Metadata", "Object", "None"):
        raise ValueError(f"includeObject must be Metadata, Object or None: {include_object!r}")
    columns, printer = _columns_and_printer(resource)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer(obj, now)}
        if include_object == "Metadata":
            metadata = dict(obj.get("metadata") or {})
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            }
        elif include_object == "Object":
            row["object"] = dict(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta or {}),
        "columnDefinitions": [dict(column) for column in columns],
        "rows": rows,
    }


table_for_list = render_table


def table_for_object(
    resource: ResourceInfo,
    obj: Mapping[str, Any],
    *,
    include_object: str = "Metadata",
    now: datetime.datetime,
) -> dict[str, Any]:
    """A one-row Table, as a GET of one object (or one watch event) answers with."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    list_meta = {"resourceVersion": version} if version else {}
    return render_table(resource, [obj], include_object=include_object, now=now,
                        list_meta=list_meta)



def _columns_and_printer(resource: ResourceInfo) -> tuple[Sequence[Mapping[str, Any]], Printer]:
    if resource.strategy.printer is not None:
        return resource.strategy.printer
    return (NAME_COLUMN, AGE_COLUMN), lambda obj, now: [get(obj, "metadata", "name"),
                                                        age(obj, now)]
