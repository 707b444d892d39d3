"""``metadata`` of every object, checked as apimachinery's ``ValidateObjectMeta`` checks it.

Where it sits: the server calls :func:`validate_metadata` on every create and update, of
built-in kinds and custom resources alike; its causes, with those of the schema and CRD checks,
fail the request with 422 Invalid. Names are checked by ``_names``; the metadata of resources
embedded in custom objects is not validated.

It runs on every write, so the common case is kept cheap: well-typed metadata is recognised by
exact types before the general shape check, and the verdicts on label keys and values,
annotation keys, finalizers and namespaces, which repeat from object to object, are memoized
(the checks are pure functions of the string).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..apimachinery._field_errors import Cause, forbidden, invalid, required, too_long
from ..apimachinery._gofmt import go_kind, go_type
from ..apimachinery._names import dns1123_label, label_key, label_value, validate_object_name

ANNOTATIONS_SIZE_LIMIT = 256 * 1024


_META_SHAPES: Mapping[str, tuple[type, type | None]] = {
    "name": (str, None), "generateName": (str, None), "namespace": (str, None),
    "labels": (dict, str), "annotations": (dict, str), "finalizers": (list, str),
    "generation": (int, None),
}


def validate_metadata(
    obj: Mapping[str, Any],
    *,
    namespaced: bool,
    label_names: bool = False,
    path_segment_names: bool = False,
) -> list[Cause]:
    """The causes for which ``obj.metadata`` is invalid; empty if it is valid.

    Checks the shape of the known fields, ``name`` (required unless ``generateName`` is set,
    since the server generates it), ``generateName``, ``namespace`` (required if
    ``namespaced``, forbidden otherwise: the caller clears it for cluster-scoped kinds first, as
    kube-apiserver does), ``generation``, ``labels``, ``annotations`` and ``finalizers``.
    ``label_names`` makes names DNS-1123 labels instead of subdomains, ``path_segment_names``
    mere path segments (see :func:`validate_object_name`).
    """
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        detail = f"expected map[string]interface{{}}, got {go_type(meta)}"
        return [invalid("metadata", meta, detail)]
    problem = _metadata_shape_problem(meta)
    if problem:
        return [invalid("metadata", meta, problem)]
    causes = _name_causes(meta, label=label_names, path_segment=path_segment_names)
    namespace = meta.get("namespace") or ""
    if namespace or namespaced:
        causes.extend(_namespace_causes(namespace, namespaced))
    generation = meta.get("generation")
    if generation is not None:
        causes.extend(_generation_causes(generation))
    # Empty ones have nothing to say: no keys, no values, no size.
    if labels := meta.get("labels"):
        causes.extend(_label_causes(labels))
    if annotations := meta.get("annotations"):
        causes.extend(_annotation_causes(annotations))
    if finalizers := meta.get("finalizers"):
        causes.extend(_finalizer_causes(finalizers))
    return causes


def _metadata_shape_problem(meta: Mapping[str, Any]) -> str | None:
    """What converting ``meta`` to an ObjectMeta would fail on (approximate messages)."""
    for key, (expected, element) in _META_SHAPES.items():
        value = meta.get(key)
        if value is None:
            continue
        if type(value) is expected and (element is None or _exactly_of(value, element)):
            continue  # exactly the types decoded JSON has: nothing to convert
        problem = _shape_problem(value, expected)
        if problem is None and element is not None:
            values = value.values() if isinstance(value, dict) else value
            problem = next(filter(None, (_shape_problem(v, element) for v in values)), None)
        if problem is not None:
            return problem
    return None


def _exactly_of(container: Any, element: type) -> bool:
    items = container.values() if isinstance(container, dict) else container
    return all(type(item) is element for item in items)


def _shape_problem(value: Any, expected: type) -> str | None:
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return None
    actual, wanted = go_kind(value), go_kind(expected())
    if expected in (dict, list):
        return f"cannot restore {wanted} from {actual}"
    return f"cannot convert {actual} to {wanted}"


def _name_causes(meta: Mapping[str, Any], *, label: bool, path_segment: bool) -> list[Cause]:
    causes: list[Cause] = []
    generate_name: str = meta.get("generateName") or ""
    name: str = meta.get("name") or ""
    if generate_name:
        messages = validate_object_name(generate_name, label=label, path_segment=path_segment,
                                        prefix=True)
        causes.extend(invalid("metadata.generateName", generate_name, m) for m in messages)
    if name:
        messages = validate_object_name(name, label=label, path_segment=path_segment)
        causes.extend(invalid("metadata.name", name, m) for m in messages)
    elif not generate_name:
        causes.append(required("metadata.name", "name or generateName is required"))
    return causes


def _namespace_causes(namespace: str, namespaced: bool) -> list[Cause]:
    if namespaced and not namespace:
        return [required("metadata.namespace")]
    if namespaced:
        return [invalid("metadata.namespace", namespace, m) for m in _label_problems(namespace)]
    return [forbidden("metadata.namespace", "not allowed on this type")] if namespace else []


def _generation_causes(generation: int | None) -> list[Cause]:
    if generation is not None and generation < 0:
        return [invalid("metadata.generation", generation, "must be greater than or equal to 0")]
    return []


def _label_causes(labels: Mapping[str, str]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in labels.items():
        causes.extend(invalid("metadata.labels", key, m) for m in _key_problems(key))
        causes.extend(invalid("metadata.labels", value, m) for m in _value_problems(value))
    return causes


def _annotation_causes(annotations: Mapping[str, str]) -> list[Cause]:
    causes = [
        invalid("metadata.annotations", key, message)
        for key in annotations
        for message in _key_problems(key.lower())
    ]
    if sum(len(k) + len(v) for k, v in annotations.items()) > ANNOTATIONS_SIZE_LIMIT:
        causes.append(too_long("metadata.annotations", ANNOTATIONS_SIZE_LIMIT))
    return causes


def _finalizer_causes(finalizers: list[str]) -> list[Cause]:
    causes = [
        invalid("metadata.finalizers", finalizer, message)
        for finalizer in finalizers
        for message in _key_problems(finalizer)
    ]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        detail = "finalizer orphan and foregroundDeletion cannot be both set"
        causes.append(invalid("metadata.finalizers", finalizers, detail))
    return causes


# The verdicts on strings that repeat across objects (label keys and values, annotation keys,
# finalizers, namespaces), memoized; bounded, as label values may be unique to each object.
_MEMOIZED = 4096


@functools.lru_cache(maxsize=_MEMOIZED)
def _key_problems(key: str) -> tuple[str, ...]:
    return tuple(label_key(key))


@functools.lru_cache(maxsize=_MEMOIZED)
def _value_problems(value: str) -> tuple[str, ...]:
    return tuple(label_value(value))


@functools.lru_cache(maxsize=_MEMOIZED)
def _label_problems(name: str) -> tuple[str, ...]:
    return tuple(dns1123_label(name))
