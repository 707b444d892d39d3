"""Per-kind behaviour of a served resource, as kube-apiserver's REST strategies hold it.

kube-apiserver gives every resource a strategy (``RESTCreateStrategy``, ``RESTUpdateStrategy``,
``RESTDeleteStrategy``, a ``TableConvertor``) that its generic registry calls; the generic code
knows no kind by name. A :class:`ResourceStrategy` is the same here, one per served resource
(``ResourceInfo.strategy``):

=====================  ===========================================  =========================
here                   what it does                                 kube-apiserver
=====================  ===========================================  =========================
``defaulter``          fills defaults on create and update          ``PrepareForCreate/Update``
``label_names``        names must be DNS-1123 labels                ``ValidateObjectMeta``
``printer``            ``kubectl get`` columns and their cells      ``TableConvertor``
``merge_schema``       list keys of strategic merge and apply       the type's patch tags
``returns_deleted``    DELETE answers the object, not a Status      ``ReturnDeletedObject``
``simulated``          the workload simulation writes its status    (kwok, not the server)
``status_is_spec``     a status change bumps the generation         ``PrepareForUpdate``
``decode()``           schema defaulting and pruning, as decoded   the CR decoder
``validate()``         the kind's own validation causes             ``Validate``
=====================  ===========================================  =========================

Whether a resource has ``/status`` and ``/scale`` (and where scale reads its numbers) is part of
its ``ResourceInfo``, as discovery says. A built-in's strategy is written in ``_builtins``; a
custom resource version's is a ``CustomResourceStrategy`` made from its CRD (``_crd_strategy``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..admission._validation import Cause
from ._merge_keys import Schema
from ._printers import Printer

Obj = dict[str, Any]
Defaulter = Callable[[Obj, bool], None]  # (object, creating) -> None; changes it in place
Columns = Sequence[Mapping[str, Any]]
Validator = Callable[[Obj], list[Cause]]


@dataclasses.dataclass(frozen=True)
class ResourceStrategy:
    """What the generic registry asks of one kind; the defaults fit a plain resource."""

    defaulter: Defaulter | None = None
    label_names: bool = False
    printer: tuple[Columns, Printer] | None = None
    merge_schema: Schema | None = None  # None: the generic one (custom resources, unknown kinds)
    returns_deleted: bool = False
    simulated: bool = False
    status_is_spec: bool = False  # no status subresource: status changes bump the generation
    validator: Validator | None = None  # the kind's own validation, after the metadata's

    def decode(self, obj: Obj) -> tuple[Obj, list[str]]:
        """``obj`` as the decoder leaves it, and the paths of the unknown fields it dropped."""
        return obj, []

    def prepare(self, obj: Obj, *, creating: bool) -> None:
        """Fill the real server's defaults into ``obj`` (a private copy) in place."""
        if self.defaulter is not None:
            self.defaulter(obj, creating)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Why ``obj`` (replacing ``old``, or created when it is ``None``) may not be stored."""
        return self.validator(obj) if self.validator is not None else []


DEFAULT_STRATEGY = ResourceStrategy()
