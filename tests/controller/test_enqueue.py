"""The controller's event handlers: informer events in, filtered reconcile requests out."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from _helpers.scripted import ScriptedSource

from kopf_informers import DeletedFinalStateUnknown, Predicate, Request, predicate
from kopf_informers._enqueue import EnqueueForOwner, EnqueueFromMapFunc
from kopf_informers._informer import SharedIndexInformer


class Recorded:
    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, request: Request, *, urgent: bool = False) -> None:
        self.requests.append(request)


def child(*refs: dict[str, Any], name: str = "child") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "ownerReferences": list(refs)}}


def ref(name: str, *, controller: bool, kind: str = "Foo",
        api_version: str = "example.com/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{name}",
            "controller": controller}


@pytest.mark.parametrize(("any_owner", "expected"), [
    pytest.param(False, [Request("ns", "boss")], id="controller-only"),
    pytest.param(True, [Request("ns", "boss"), Request("ns", "other")], id="any-owner"),
])
def test_a_child_enqueues_its_owners_of_the_primary_group_and_kind(
        any_owner: bool, expected: list[Request]) -> None:
    enqueue = Recorded()
    handler = EnqueueForOwner(enqueue=enqueue, group="example.com", kind=lambda: "Foo",
                              any_owner=any_owner)
    handler.on_add(child(ref("boss", controller=True), ref("other", controller=False),
                         ref("bar", controller=False, kind="Bar"),
                         ref("apps", controller=False, api_version="apps/v1")))
    assert enqueue.requests == expected


def test_a_tombstone_is_unwrapped_before_predicates_and_owners_see_it() -> None:
    enqueue = Recorded()
    seen: list[Any] = []
    handler = EnqueueForOwner(enqueue=enqueue, group="example.com", kind=lambda: None,
                              predicates=[predicate(delete=lambda obj: seen.append(obj) or True)])
    last = child(ref("boss", controller=True))
    handler.on_delete(DeletedFinalStateUnknown("ns/child", last))
    assert seen == [last]
    assert enqueue.requests == [Request("ns", "boss")]


def test_each_kind_of_event_asks_its_own_question_of_the_predicates() -> None:
    class OnlyUpdates(Predicate):
        def create(self, obj: Any) -> bool:
            return False

        def delete(self, obj: Any) -> bool:
            return False

    enqueue = Recorded()
    handler = EnqueueFromMapFunc(enqueue=enqueue, map_fn=lambda obj: ["ns/target"],
                                 predicates=[OnlyUpdates()])
    handler.on_add(child())
    handler.on_delete(child())
    handler.on_update(child(), child())
    assert enqueue.requests == [Request("ns", "target")]


def test_a_failing_map_function_is_logged_by_the_controller_and_enqueues_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    enqueue = Recorded()
    handler = EnqueueFromMapFunc(enqueue=enqueue, map_fn=lambda obj: [42], name="ctl")
    with caplog.at_level(logging.ERROR, logger="kopf_informers.ctrl"):
        handler.on_add(child())
    assert enqueue.requests == []
    assert "ctl: the watch map function" in caplog.text


def test_a_map_function_reading_a_cache_not_synced_yet_is_skipped_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    # During the startup, a watched informer may sync before the cache its map function reads;
    # workers start only after every cache synced, so the event is not needed: no traceback.
    unsynced = SharedIndexInformer(source=ScriptedSource(), resource="v1/configmaps",
                                   namespaced=True)
    enqueue = Recorded()
    handler = EnqueueFromMapFunc(enqueue=enqueue, name="ctl",
                                 map_fn=lambda obj: unsynced.lister.by_index("namespace", "ns"))
    with caplog.at_level(logging.DEBUG, logger="kopf_informers.ctrl"):
        handler.on_add(child())
    assert enqueue.requests == []
    assert [record.levelno for record in caplog.records] == [logging.DEBUG]
    assert "not synced" in caplog.text
