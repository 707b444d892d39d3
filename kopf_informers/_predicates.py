"""Predicates: which watch events of a source are worth a reconcile (controller-runtime's
``pkg/predicate``).

Where it sits: an informer's handler gets every add, update and delete of its resource; a
controller asks its predicates before it enqueues the key, so that, say, a status-only update
that the controller wrote itself does not wake it up again::

    informer events --> predicates (create / update / delete / generic) --> workqueue

A :class:`Predicate` answers four questions, one per kind of event: :meth:`~Predicate.create`
(an object appeared, including the initial list), :meth:`~Predicate.update` (old and new
versions), :meth:`~Predicate.delete` (the last known version) and :meth:`~Predicate.generic`
(any other trigger, e.g. a watched object mapped to this one). Each returns True to let the
event through. The base class lets everything through; the ready-made ones filter updates only.

Predicates compose with ``&`` (both), ``|`` (either) and ``~`` (not), evaluated left to right
with short-circuiting::

    generation_changed | labels_changed
    resource_version_changed & ~predicate(lambda obj: obj["metadata"].get("deletionTimestamp"))

They are pure and stateless: objects in, a bool out; no I/O, no clock, no cache of what was
seen (kube-rs' ``predicate_filter`` keeps one; here the informer hands over the old version).
Objects are read, never changed (cached objects are frozen).

Filtering is an optimisation with a price: a reconcile that a predicate drops does not happen.
A level-triggered controller catches up on the next event that passes, so choose predicates
whose drops are harmless for the reconcile at hand, and read each one's caveats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

__all__ = [
    "Predicate",
    "all_of",
    "annotations_changed",
    "any_of",
    "generation_changed",
    "labels_changed",
    "predicate",
    "resource_version_changed",
]

Obj = Mapping[str, Any]


class Predicate:
    """Filters a source's events; this base lets every event through.

    Subclass it and override the methods that filter, or make one from functions with
    :func:`predicate`. Combine predicates with ``&``, ``|`` and ``~``.
    """

    def create(self, obj: Obj) -> bool:
        """An object was added (created, or seen for the first time in a list)."""
        return True

    def update(self, old: Obj, new: Obj) -> bool:
        """An object changed from ``old`` to ``new`` (or was re-listed unchanged)."""
        return True

    def delete(self, obj: Obj) -> bool:
        """An object was deleted; ``obj`` is its last known version (the controller unwraps
        a tombstone, ``DeletedFinalStateUnknown``, before asking)."""
        return True

    def generic(self, obj: Obj) -> bool:
        """Any other trigger for the object, e.g. a mapped event from a watched resource."""
        return True

    def __and__(self, other: Predicate) -> Predicate:
        if not isinstance(other, Predicate):
            return NotImplemented
        return _AllOf((self, other))

    def __or__(self, other: Predicate) -> Predicate:
        if not isinstance(other, Predicate):
            return NotImplemented
        return _AnyOf((self, other))

    def __invert__(self) -> Predicate:
        return _Not(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def all_of(*predicates: Predicate) -> Predicate:
    """A predicate that passes an event when every one of ``predicates`` does (``And``).

    With none, every event passes.
    """
    return _AllOf(_checked(predicates))


def any_of(*predicates: Predicate) -> Predicate:
    """A predicate that passes an event when at least one of ``predicates`` does (``Or``).

    With none, no event passes.
    """
    return _AnyOf(_checked(predicates))


def predicate(
    fn: Callable[[Obj], object] | None = None, /, *,
    create: Callable[[Obj], object] | None = None,
    update: Callable[[Obj, Obj], object] | None = None,
    delete: Callable[[Obj], object] | None = None,
    generic: Callable[[Obj], object] | None = None,
    name: str | None = None,
) -> Predicate:
    """A predicate from functions (controller-runtime's ``NewPredicateFuncs`` and ``Funcs``).

    ``fn(obj)`` decides every kind of event that has no function of its own; for an update it
    is given the new version. ``create``, ``update(old, new)``, ``delete`` and ``generic``
    decide their kind of event. Events left without a function pass. The results are taken
    for their truth. ``name`` is what ``repr()`` shows (the function's name by default).

    It also works as a decorator: ``@predicate`` over ``def is_managed(obj): ...``.
    """
    checks = (fn, create, update, delete, generic)
    for check in checks:
        if check is not None and not callable(check):
            raise TypeError(f"predicate() takes functions, got {check!r}")
    if all(check is None for check in checks):
        raise TypeError("predicate() needs a function: fn, create, update, delete or generic")
    if name is None:
        named = next(check for check in checks if check is not None)
        name = getattr(named, "__name__", None) or repr(named)
    return _Functions(fn, create=create, update=update, delete=delete, generic=generic,
                      name=name)


# -- the ready-made predicates --------------------------------------------------------------------


class _FieldChanged(Predicate):
    """Updates pass when a metadata field differs between the old and new versions; creates,
    deletes and generic events pass. A field absent from both versions lets the update pass
    when ``absent`` is None (nothing tells them apart), else counts as ``absent``."""

    field: str
    name: str
    absent: Any = None

    def _value(self, obj: Obj) -> Any:
        return (obj.get("metadata") or {}).get(self.field) or self.absent

    def update(self, old: Obj, new: Obj) -> bool:
        old_value, new_value = self._value(old), self._value(new)
        if old_value is None and new_value is None:
            return True
        return bool(old_value != new_value)

    def __repr__(self) -> str:
        return self.name


class _GenerationChanged(_FieldChanged):
    """Updates pass only when ``metadata.generation`` changed (``GenerationChangedPredicate``);
    creates, deletes and generic events pass.

    The API server bumps the generation when the spec changes, so this skips updates of status
    only (the controller's own status writes among them) and of metadata only (labels,
    annotations, finalizers, owner references). Caveats:

    - Not every kind bumps it on spec changes only. A Deployment's generation also changes
      with its annotations; a custom resource without the ``status`` subresource bumps it on
      every change but of metadata, status included. Check the kind before relying on it.
    - Status changes are invisible: if someone else overwrites or wipes the status, the
      controller does not restore it until the spec changes (or another source triggers it).
    - Kinds without a generation (ConfigMaps, Secrets, Services, ...) would pass no update at
      all under controller-runtime's rule (0 == 0); here an update where neither version has a
      generation passes, since nothing tells it apart.
    - The start of a graceful deletion (``deletionTimestamp`` set while finalizers remain)
      bumps the generation, so it passes: a finalizer's cleanup is not filtered out.
    - Informer resyncs (old and new the same) are filtered out.
    """

    field = "generation"
    name = "generation_changed"


class _LabelsChanged(_FieldChanged):
    """Updates pass only when ``metadata.labels`` changed (``LabelChangedPredicate``); creates,
    deletes and generic events pass.

    No labels and an empty ``labels`` map are the same. Caveat: every other change (spec,
    status, annotations) is filtered out; combine it with ``|`` when the reconcile reads more
    than labels.
    """

    field = "labels"
    name = "labels_changed"
    absent: Any = {}


class _AnnotationsChanged(_FieldChanged):
    """Updates pass only when ``metadata.annotations`` changed (``AnnotationChangedPredicate``);
    creates, deletes and generic events pass.

    No annotations and an empty map are the same. Caveats: annotations rewritten on every write
    make it pass often (``kubectl.kubernetes.io/last-applied-configuration`` on each ``kubectl
    apply`` that changes anything); Kopf keeps its state in annotations
    (``kopf.zalando.org/last-handled-configuration``), so on objects that Kopf handles too it
    passes after Kopf's handling. Every other change is filtered out.
    """

    field = "annotations"
    name = "annotations_changed"
    absent: Any = {}


class _ResourceVersionChanged(_FieldChanged):
    """Updates pass only when ``metadata.resourceVersion`` changed
    (``ResourceVersionChangedPredicate``); creates, deletes and generic events pass.

    Every write changes the resourceVersion, so this drops only updates that change nothing:
    informer resyncs and re-lists that redeliver an object as it was. Caveat: a controller that
    counts on resyncs to retry periodically stops retrying; return ``Result.requeue_after(...)``
    instead. An update where neither version has a resourceVersion passes.
    """

    field = "resourceVersion"
    name = "resource_version_changed"


generation_changed: Final[Predicate] = _GenerationChanged()
labels_changed: Final[Predicate] = _LabelsChanged()
annotations_changed: Final[Predicate] = _AnnotationsChanged()
resource_version_changed: Final[Predicate] = _ResourceVersionChanged()


# -- the combinators ------------------------------------------------------------------------------


def _checked(predicates: Iterable[object]) -> tuple[Predicate, ...]:
    result: list[Predicate] = []
    for item in predicates:
        if not isinstance(item, Predicate):
            raise TypeError(f"expected predicates, got {item!r}; wrap a function with "
                            "predicate(fn)")
        result.append(item)
    return tuple(result)


class _Combination(Predicate):
    """Predicates combined; nested combinations of the same type are flattened, for a shallow
    stack and a readable repr: ``(a & b) & c`` is all of ``a``, ``b`` and ``c``."""

    parts: tuple[Predicate, ...]

    def __init__(self, parts: tuple[Predicate, ...]) -> None:
        flat: list[Predicate] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, _Combination) and type(part) is type(self)
                        else (part,))
        self.parts = tuple(flat)


class _AllOf(_Combination):
    def create(self, obj: Obj) -> bool:
        return all(p.create(obj) for p in self.parts)

    def update(self, old: Obj, new: Obj) -> bool:
        return all(p.update(old, new) for p in self.parts)

    def delete(self, obj: Obj) -> bool:
        return all(p.delete(obj) for p in self.parts)

    def generic(self, obj: Obj) -> bool:
        return all(p.generic(obj) for p in self.parts)

    def __repr__(self) -> str:
        if not self.parts:
            return "all_of()"
        return " & ".join(_operand(p, _AnyOf) for p in self.parts)


class _AnyOf(_Combination):
    def create(self, obj: Obj) -> bool:
        return any(p.create(obj) for p in self.parts)

    def update(self, old: Obj, new: Obj) -> bool:
        return any(p.update(old, new) for p in self.parts)

    def delete(self, obj: Obj) -> bool:
        return any(p.delete(obj) for p in self.parts)

    def generic(self, obj: Obj) -> bool:
        return any(p.generic(obj) for p in self.parts)

    def __repr__(self) -> str:
        if not self.parts:
            return "any_of()"
        return " | ".join(_operand(p, _AllOf) for p in self.parts)


class _Not(Predicate):
    def __init__(self, part: Predicate) -> None:
        self.part = part

    def create(self, obj: Obj) -> bool:
        return not self.part.create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return not self.part.update(old, new)

    def delete(self, obj: Obj) -> bool:
        return not self.part.delete(obj)

    def generic(self, obj: Obj) -> bool:
        return not self.part.generic(obj)

    def __invert__(self) -> Predicate:
        return self.part

    def __repr__(self) -> str:
        return f"~{_operand(self.part, _AllOf, _AnyOf)}"


def _operand(part: Predicate, *grouped: type[Predicate]) -> str:
    """``repr(part)``, in parentheses where a combination of these types would read wrongly."""
    text = repr(part)
    return f"({text})" if isinstance(part, _Combination) and isinstance(part, grouped) else text


class _Functions(Predicate):
    def __init__(
        self, fn: Callable[[Obj], object] | None, *,
        create: Callable[[Obj], object] | None, update: Callable[[Obj, Obj], object] | None,
        delete: Callable[[Obj], object] | None, generic: Callable[[Obj], object] | None,
        name: str,
    ) -> None:
        self._fn = fn
        self._create = create or fn
        self._update = update
        self._delete = delete or fn
        self._generic = generic or fn
        self._name = name

    def create(self, obj: Obj) -> bool:
        return True if self._create is None else bool(self._create(obj))

    def update(self, old: Obj, new: Obj) -> bool:
        if self._update is not None:
            return bool(self._update(old, new))
        return True if self._fn is None else bool(self._fn(new))

    def delete(self, obj: Obj) -> bool:
        return True if self._delete is None else bool(self._delete(obj))

    def generic(self, obj: Obj) -> bool:
        return True if self._generic is None else bool(self._generic(obj))

    def __repr__(self) -> str:
        return f"predicate({self._name})"
