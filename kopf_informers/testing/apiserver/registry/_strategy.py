"""Per-kind behaviour of a served resource, as kube-apiserver's REST strategies hold it.

kube-apiserver gives every resource a strategy (``RESTCreateStrategy``, ``RESTUpdateStrategy``,
``RESTDeleteStrategy``, a ``TableConvertor``), a status strategy for its ``/status`` and a scale
conversion for its ``/scale``, which its generic registry calls; the generic code knows no kind
by name. A :class:`ResourceStrategy` is the same here, one per served resource
(``ResourceInfo.strategy``):

=======================  =========================================  ===========================
here                     what it does                               kube-apiserver
=======================  =========================================  ===========================
``defaulter``            fills defaults on create and update        the type's defaulters
``label_names``          names must be DNS-1123 labels              ``ValidateObjectMeta``
``printer``              ``kubectl get`` columns and their cells    ``TableConvertor``
``merge_schema``         list keys of strategic merge and apply     the type's patch tags
``returns_deleted``      DELETE answers the object, not a Status    ``ReturnDeletedObject``
``simulated``            the workload simulation writes its status  (kwok, not the server)
``status_is_spec``       a status change bumps the generation       ``PrepareForUpdate``
``status_subresource``   has ``/status``: the main resource keeps   ``PrepareForCreate/Update``
                         its status, ``/status`` changes only that  of the main and status ones
``scale_subresource``    has ``/scale``, reading these paths        the scale subresource
``reviewer``             create answers it and stores nothing       a review's ``Create``-only
                         (``_reviews``)                             REST storage
``allocator``            per-server allocation (a Service's IP and  the service REST's
                         node ports), made once per server          allocators
``connect_subresources`` ``/exec``, ``/log``...: a container's,      the Connecters (exec,
                         answered at once: none runs here           attach, portforward, log)
``decode()``             schema defaulting and pruning, as decoded  the CR decoder; a
                         (custom resources); unknown fields and     built-in's Go type and
                         wrong types (built-ins: ``definition``)    its JSON decoder
``validate()``           the kind's own validation causes           ``Validate``
=======================  =========================================  ===========================

Discovery and routing ask ``ResourceInfo.subresources``, which reads the strategy: the strategy
is the one place that says whether a resource has ``/status`` and ``/scale``. The generic core
calls :meth:`ResourceStrategy.prepare_for_create` and :meth:`ResourceStrategy.prepare_for_update`
before anything else of a write, and :meth:`ResourceStrategy.scale_of` and
:meth:`ResourceStrategy.scaled` for ``/scale``. A built-in's strategy is written in
``_builtins``; a custom resource version's is a ``CustomResourceStrategy`` made from its CRD
(``_crd_strategy``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ....selectors import LabelSelector
from ..admission._typed_decoding import decode_typed
from ..admission._validation import Cause
from ..apimachinery._json import copy_json
from ..apimachinery._status import ApiStatusError
from ._merge_keys import Schema
from ._printers import Printer
from ._reviews import Reviewer

Obj = dict[str, Any]
Defaulter = Callable[[Obj, bool], None]  # (object, creating) -> None; changes it in place
Columns = Sequence[Mapping[str, Any]]
Validator = Callable[[Obj], list[Cause]]


class Allocator(Protocol):
    """What a kind allocates from cluster-wide ranges on writes (one per server)."""

    def allocate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Fill what ``obj`` (replacing ``old``; None: created) is given, in place; the causes
        of a 422 if what it asks for cannot be had."""
        ...


AllocatorFactory = Callable[[Any], Allocator]  # (the server's Store) -> its Allocator
# A Connecter subresource: its kind and verbs, as discovery lists them.
ConnectSubresource = tuple[str, tuple[str, ...]]

@dataclasses.dataclass(frozen=True)
class ScaleInfo:
    """Where the scale subresource reads and writes its numbers (JSON paths with a leading dot).

    Without a ``label_selector_path``, the selector is the object's ``spec.selector``, as for
    the built-in workloads: a ``LabelSelector``, or with ``selector_is_map`` a plain map of
    labels (a ReplicationController's, which its Scale writes as ``k=v,...``).
    """

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None
    selector_is_map: bool = False


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
    status_subresource: bool = False  # has /status
    scale_subresource: ScaleInfo | None = None  # has /scale, with its paths
    reviewer: Reviewer | None = None  # create-only: create answers this, nothing is stored
    allocator: AllocatorFactory | None = None  # per-server allocation, e.g. a Service's IP
    # Subresources that would reach a container (exec, attach, portforward, log): served only
    # to say at once that none runs, rather than leave a client waiting for a stream.
    connect_subresources: Mapping[str, ConnectSubresource] = dataclasses.field(
        default_factory=dict)
    # The OpenAPI definition of a built-in's type, which decoding checks objects against.
    definition: str | None = None

    @property
    def subresources(self) -> tuple[str, ...]:
        """The subresources served besides the resource itself, as discovery lists them."""
        return (("status",) if self.status_subresource else ()) + (
            ("scale",) if self.scale_subresource is not None else ())

    def connect(self, subresource: str) -> ApiStatusError:
        """What a request for a connect subresource gets: a 400, as a real server answers for
        a Pod whose containers do not run, saying why."""
        return ApiStatusError(
            400, f"the embedded API server runs no containers: {subresource} is not available",
        )

    # -- writes ---------------------------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Drop from ``obj`` (a private copy) what a create may not set: its status, when
        ``/status`` is the only way to write it."""
        if self.status_subresource:
            obj.pop("status", None)

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str | None) -> Obj:
        """What an update of ``subresource`` (None: the resource itself) may change of ``old``.

        Through ``/status``: ``old`` with ``new``'s status, and none of ``new``'s metadata.
        Otherwise ``new`` (changed in place), with ``old``'s status when ``/status`` is the only
        way to write it. The metadata the server owns is the generic core's business.
        """
        if subresource == "status":
            status = new.get("status")
            new = {k: v for k, v in old.items() if k != "status"}
            if status is not None:
                new["status"] = status
            new["metadata"] = dict(old["metadata"])
        elif self.status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = old["status"]
        return new

    def decode(self, obj: Obj) -> tuple[Obj, list[str]]:
        """``obj`` as the decoder leaves it, and the paths of the unknown fields it dropped.

        A built-in is decoded into its ``definition``: unknown fields are dropped, and a value
        of the wrong type raises ``TypeMismatch`` (see ``admission/_typed_decoding``).
        """
        if self.definition is not None:
            return decode_typed(obj, self.definition)
        return obj, []

    def default(self, obj: Obj, *, creating: bool) -> None:
        """Fill the real server's defaults into ``obj`` (a private copy) in place."""
        if self.defaulter is not None:
            self.defaulter(obj, creating)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Why ``obj`` (replacing ``old``, or created when it is ``None``) may not be stored."""
        return self.validator(obj) if self.validator is not None else []

    # -- /scale ---------------------------------------------------------------------------------

    def scale_of(self, obj: Obj) -> Obj:
        """The ``autoscaling/v1`` Scale of ``obj``. Only for a resource with ``/scale``."""
        paths = self._scale()
        meta = obj["metadata"]
        selector: str | None
        if paths.label_selector_path:
            value = _get_path(obj, paths.label_selector_path)
            selector = value if isinstance(value, str) else None
        else:
            match = (obj.get("spec") or {}).get("selector")
            if not isinstance(match, dict):
                selector = None
            elif paths.selector_is_map:
                selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
            else:
                selector = str(LabelSelector.from_dict(match))
        status: Obj = {"replicas": _get_path(obj, paths.status_replicas_path) or 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": _get_path(obj, paths.spec_replicas_path) or 0},
            "status": status,
        }

    def scaled(self, obj: Obj, replicas: int) -> Obj:
        """A copy of ``obj`` that asks for ``replicas``. Only for a resource with ``/scale``."""
        new: Obj = copy_json(obj)
        _set_path(new, self._scale().spec_replicas_path, replicas)
        return new

    def _scale(self) -> ScaleInfo:
        if self.scale_subresource is None:  # routing serves /scale only where there is one
            raise LookupError("the resource has no scale subresource")
        return self.scale_subresource


DEFAULT_STRATEGY = ResourceStrategy()


def _get_path(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    target = obj
    for part in parts[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[parts[-1]] = value
