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

The columns of built-ins are in ``_printers``, the JSONPath subset in ``_jsonpath``.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..apimachinery._jsonpath import evaluate_jsonpath
from ..registry._printers import (
    AGE_COLUMN,
    NAME_COLUMN,
    Cells,
    Printer,
    age,
    column_def,
    get,
    human_duration,
    parse_time,
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



# --------------------------------------------------------------------------------------------------
# Columns of custom resources.

_DEFAULT_CUSTOM_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
     "description": "How long ago the object was created."},
)


def _custom_columns(resource: ResourceInfo) -> tuple[list[dict[str, Any]], Printer]:
    declared = resource.printer_columns or _DEFAULT_CUSTOM_COLUMNS
    columns = [NAME_COLUMN]
    for column in declared:
        description = column.get("description") or (
            f"Custom resource definition column (in JSONPath format): {column['jsonPath']}")
        columns.append(column_def(column["name"], column.get("type", "string"), description,
                                  priority=int(column.get("priority", 0)),
                                  format_=column.get("format", "")))

    def printer(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
        cells: Cells = [get(obj, "metadata", "name")]
        for column in declared:
            cells.append(_custom_cell(obj, column, now))
        return cells

    return columns, printer


def _custom_cell(obj: Mapping[str, Any], column: Mapping[str, Any], now: datetime.datetime) -> Any:
    try:
        found = evaluate_jsonpath(obj, column["jsonPath"])
    except ValueError:
        return None
    if not found or found[0] is None:
        return None
    value = found[0]
    type_ = column.get("type", "string")
    if type_ == "string":
        return _as_text(value)
    if type_ == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        timestamp = parse_time(value)
        return "<invalid>" if timestamp is None else human_duration(now - timestamp)
    return None


def _as_text(value: Any) -> str:
    """A value as Go's JSONPath printer writes it: JSON for maps and lists, ``%v`` for scalars."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits, in exponent form from 1e6 or below 1e-4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    decimal_exponent = len(digits) + exponent - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        text = f"{mantissa[0]}{fraction}e{decimal_exponent:+03d}"
    else:
        text = format(Decimal(repr(value)).normalize(), "f")
    return f"-{text}" if sign and not text.startswith("-") else text



def _columns_and_printer(resource: ResourceInfo) -> tuple[Sequence[Mapping[str, Any]], Printer]:
    if resource.custom:
        return _custom_columns(resource)
    if resource.strategy.printer is not None:
        return resource.strategy.printer
    return (NAME_COLUMN, AGE_COLUMN), lambda obj, now: [get(obj, "metadata", "name"),
                                                        age(obj, now)]
