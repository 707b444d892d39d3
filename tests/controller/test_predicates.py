"""Predicates: each ready-made one on the events it filters and lets through, and composition."""

from __future__ import annotations

from typing import Any

import pytest

from kopf_informers._predicates import (
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    labels_changed,
    predicate,
    resource_version_changed,
)
from kopf_informers._store import frozen

Obj = dict[str, Any]

READY_MADE = [
    pytest.param(generation_changed, id="generation_changed"),
    pytest.param(labels_changed, id="labels_changed"),
    pytest.param(annotations_changed, id="annotations_changed"),
    pytest.param(resource_version_changed, id="resource_version_changed"),
]


def obj(rv: str = "1", generation: int | None = 1, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    metadata: Obj = {"name": "foo", "namespace": "ns1", "resourceVersion": rv}
    if generation is not None:
        metadata["generation"] = generation
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "example.com/v1", "kind": "Foo", "metadata": metadata, "spec": spec}


class Always(Predicate):
    """Counts its calls, to prove short-circuiting."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def create(self, obj: Any) -> bool:
        self.calls += 1
        return self.answer

    def update(self, old: Any, new: Any) -> bool:
        self.calls += 1
        return self.answer

    def delete(self, obj: Any) -> bool:
        self.calls += 1
        return self.answer

    def generic(self, obj: Any) -> bool:
        self.calls += 1
        return self.answer

    def __repr__(self) -> str:
        return f"always_{self.answer}".lower()


# -- the base and the ready-made ones -------------------------------------------------------------


def test_the_base_predicate_lets_every_event_through() -> None:
    p = Predicate()
    assert p.create(obj())
    assert p.update(obj(), obj())
    assert p.delete(obj())
    assert p.generic(obj())


@pytest.mark.parametrize("p", READY_MADE)
def test_ready_made_predicates_let_creates_deletes_and_generic_events_through(p: Predicate) -> None:
    assert p.create(obj())
    assert p.delete(obj())
    assert p.generic(obj())


@pytest.mark.parametrize("p", READY_MADE)
def test_ready_made_predicates_filter_out_a_resync_of_the_same_object(p: Predicate) -> None:
    same = obj(labels={"a": "1"}, annotations={"b": "2"})
    assert not p.update(same, same)


@pytest.mark.parametrize("p", READY_MADE)
def test_ready_made_predicates_read_frozen_cached_objects(p: Predicate) -> None:
    assert not p.update(frozen(obj()), frozen(obj()))


def test_generation_changed_passes_a_spec_change() -> None:
    assert generation_changed.update(obj("1", 1, replicas=1), obj("2", 2, replicas=2))


def test_generation_changed_filters_status_and_metadata_only_updates() -> None:
    old = obj("1", 1)
    status_only = {**obj("2", 1), "status": {"ready": True}}
    labels_only = obj("3", 1, labels={"new": "label"})
    assert not generation_changed.update(old, status_only)
    assert not generation_changed.update(old, labels_only)


def test_generation_changed_passes_updates_of_kinds_without_generation() -> None:
    # ConfigMaps have no generation: controller-runtime's rule would drop every update.
    assert generation_changed.update(obj("1", None, data=1), obj("2", None, data=2))


def test_generation_changed_passes_when_a_generation_appears() -> None:
    assert generation_changed.update(obj("1", None), obj("2", 1))


def test_labels_changed_passes_only_label_changes() -> None:
    assert labels_changed.update(obj(labels={"a": "1"}), obj("2", labels={"a": "2"}))
    assert labels_changed.update(obj(), obj("2", labels={"a": "1"}))
    assert not labels_changed.update(obj(labels={"a": "1"}), obj("2", 2, labels={"a": "1"}))


def test_labels_changed_counts_no_labels_and_empty_labels_as_the_same() -> None:
    assert not labels_changed.update(obj(), obj("2", labels={}))


def test_annotations_changed_passes_only_annotation_changes() -> None:
    assert annotations_changed.update(obj(annotations={"a": "1"}), obj("2", annotations={}))
    assert not annotations_changed.update(obj(), obj("2", 2, annotations={}))


def test_resource_version_changed_passes_any_write() -> None:
    assert resource_version_changed.update(obj("1"), obj("2"))


def test_resource_version_changed_passes_when_neither_version_has_one() -> None:
    old, new = obj(), obj()
    del old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"]
    assert resource_version_changed.update(old, new)


# -- predicate(fn) --------------------------------------------------------------------------------


def test_a_function_decides_every_kind_of_event_and_sees_the_new_version_on_update() -> None:
    seen: list[Any] = []

    def is_big(o: Any) -> bool:
        seen.append(o)
        return bool(o["spec"].get("replicas", 0) > 2)

    p = predicate(is_big)
    small, big = obj(replicas=1), obj("2", replicas=5)
    assert p.create(big)
    assert not p.create(small)
    assert p.update(small, big)
    assert not p.update(big, small)
    assert p.delete(big)
    assert not p.generic(small)
    assert seen[2] is big
    assert seen[3] is small


def test_functions_per_kind_of_event_and_the_rest_pass() -> None:
    p = predicate(update=lambda old, new: old["spec"] != new["spec"])
    assert p.create(obj())
    assert p.delete(obj())
    assert p.generic(obj())
    assert not p.update(obj(), obj("2"))
    assert p.update(obj(), obj("2", replicas=1))


def test_a_function_for_one_kind_overrides_the_general_function() -> None:
    p = predicate(lambda o: False, delete=lambda o: True)
    assert p.delete(obj())
    assert not p.create(obj())
    assert not p.update(obj(), obj())


def test_predicate_works_as_a_decorator_and_takes_results_for_their_truth() -> None:
    @predicate
    def has_labels(o: Any) -> Any:
        return o["metadata"].get("labels")

    assert has_labels.create(obj(labels={"a": "1"})) is True
    assert has_labels.create(obj()) is False
    assert repr(has_labels) == "predicate(has_labels)"


def test_predicate_without_a_function_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a function"):
        predicate()


def test_predicate_of_something_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="takes functions"):
        predicate(update=42)  # type: ignore[arg-type]


# -- composition ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param(True, True, True, id="true-true"),
    pytest.param(True, False, False, id="true-false"),
    pytest.param(False, True, False, id="false-true"),
    pytest.param(False, False, False, id="false-false"),
])
def test_and_passes_when_both_pass(left: bool, right: bool, expected: bool) -> None:
    p = Always(left) & Always(right)
    assert p.create(obj()) is expected
    assert p.update(obj(), obj()) is expected
    assert p.delete(obj()) is expected
    assert p.generic(obj()) is expected


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param(True, True, True, id="true-true"),
    pytest.param(True, False, True, id="true-false"),
    pytest.param(False, True, True, id="false-true"),
    pytest.param(False, False, False, id="false-false"),
])
def test_or_passes_when_either_passes(left: bool, right: bool, expected: bool) -> None:
    p = Always(left) | Always(right)
    assert p.create(obj()) is expected
    assert p.update(obj(), obj()) is expected
    assert p.delete(obj()) is expected
    assert p.generic(obj()) is expected


def test_not_inverts_every_kind_of_event() -> None:
    p = ~Always(True)
    assert not p.create(obj())
    assert not p.update(obj(), obj())
    assert not p.delete(obj())
    assert not p.generic(obj())


def test_double_negation_is_the_predicate_itself() -> None:
    assert ~~generation_changed is generation_changed


def test_and_and_or_short_circuit_left_to_right() -> None:
    second = Always(True)
    assert not (Always(False) & second).update(obj(), obj())
    assert (Always(True) | second).update(obj(), obj())
    assert second.calls == 0


def test_a_status_only_update_passes_generation_or_labels_only_with_a_label_change() -> None:
    p = generation_changed | labels_changed
    assert not p.update(obj("1", 1), {**obj("2", 1), "status": {"x": 1}})
    assert p.update(obj("1", 1), obj("2", 1, labels={"new": "1"}))


def test_all_of_and_any_of_combine_many_and_handle_none() -> None:
    assert all_of().update(obj(), obj())
    assert not any_of().update(obj(), obj())
    assert all_of(Always(True), Always(True), Always(True)).create(obj())
    assert not all_of(Always(True), Always(False)).create(obj())
    assert any_of(Always(False), Always(False), Always(True)).create(obj())


def test_all_of_refuses_plain_functions_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"predicate\(fn\)"):
        all_of(lambda o: True)  # type: ignore[arg-type]


def test_combining_with_a_non_predicate_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        generation_changed & (lambda o: True)  # type: ignore[operator]


def test_combinations_read_back_as_written() -> None:
    p = (generation_changed | labels_changed) & ~annotations_changed
    assert repr(p) == "(generation_changed | labels_changed) & ~annotations_changed"
    assert repr(~(generation_changed & labels_changed)) == "~(generation_changed & labels_changed)"
    assert repr(generation_changed & labels_changed & resource_version_changed) == (
        "generation_changed & labels_changed & resource_version_changed"
    )
