"""The embedded server's store: one global resourceVersion, bounded history, watcher fan-out."""

from __future__ import annotations

from typing import Any

import pytest

from kopf_informers.testing.apiserver.storage._store import Store

CM = ("", "configmaps")
SECRETS = ("", "secrets")


def _write(store: Store, key: tuple[str, str], name: str, old: dict[str, Any] | None = None,
           **data: Any) -> dict[str, Any]:
    obj = {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                        "resourceVersion": str(store.next_rv())}, "data": data}
    store.put(key, obj, old)
    return obj


def test_resource_versions_are_global_and_strictly_increasing_across_resources() -> None:
    store = Store()
    a = _write(store, CM, "a")
    b = _write(store, SECRETS, "b")
    c = _write(store, CM, "c")
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, b, c)]
    assert rvs == [1, 2, 3]


def test_events_since_returns_exactly_the_later_events_of_that_resource_in_order() -> None:
    store = Store()
    a = _write(store, CM, "a")
    _write(store, SECRETS, "s")
    _write(store, CM, "a", old=a, x="1")
    _write(store, CM, "b")
    events = store.resource(CM).events_since(1)
    assert events is not None
    assert [(e.type, e.obj["metadata"]["name"], e.rv) for e in events] == [
        ("MODIFIED", "a", 3), ("ADDED", "b", 4),
    ]


def test_events_since_the_newest_version_is_empty_not_gone() -> None:
    store = Store()
    _write(store, CM, "a")
    assert store.resource(CM).events_since(store.rv) == []


def test_history_overflow_makes_older_resumes_gone_but_keeps_recent_ones() -> None:
    store = Store(history=3)
    for i in range(6):
        _write(store, CM, f"o{i}")
    rs = store.resource(CM)
    assert rs.events_since(1) is None
    assert rs.events_since(2) is None
    recent = rs.events_since(3)
    assert recent is not None
    assert [e.rv for e in recent] == [4, 5, 6]


def test_compaction_makes_every_older_resume_gone() -> None:
    store = Store()
    _write(store, CM, "a")
    _write(store, CM, "b")
    store.compact_all()
    rs = store.resource(CM)
    assert rs.events_since(1) is None
    assert rs.events_since(store.rv) == []


def test_a_resource_first_seen_late_can_still_be_resumed_from_older_versions() -> None:
    store = Store()
    _write(store, SECRETS, "s")
    _write(store, CM, "a")
    assert [e.rv for e in store.resource(CM).events_since(1) or []] == [2]


def test_removal_emits_deleted_with_the_last_state_and_the_previous_object() -> None:
    store = Store()
    a = _write(store, CM, "a")
    last = {**a, "metadata": {**a["metadata"], "resourceVersion": str(store.next_rv())}}
    event = store.remove(CM, last)
    assert event.type == "DELETED"
    assert event.obj["metadata"]["resourceVersion"] == "2"
    assert event.old is a
    assert store.resource(CM).get("ns", "a") is None
    assert store.resource(CM).count == 0


def test_watchers_receive_every_event_synchronously_with_the_write() -> None:
    store = Store()
    rs = store.resource(CM)
    from kopf_informers.testing.apiserver.storage._store import Watcher

    watcher = Watcher(rs)
    rs.watchers.add(watcher)
    _write(store, CM, "a")
    _write(store, SECRETS, "s")
    assert [e.obj["metadata"]["name"] for e in watcher.queue] == ["a"]
    watcher.close()
    _write(store, CM, "b")
    assert len(watcher.queue) == 1


def test_a_watcher_too_far_behind_is_closed_rather_than_growing_forever(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kopf_informers.testing.apiserver.storage import _store

    monkeypatch.setattr(_store, "WATCHER_BUFFER", 2)
    store = Store()
    rs = store.resource(CM)
    watcher = _store.Watcher(rs)
    rs.watchers.add(watcher)
    for i in range(3):
        _write(store, CM, f"o{i}")
    assert watcher.closed
    assert watcher.overflowed
    assert watcher not in rs.watchers


def test_owner_index_follows_owner_references_through_updates_and_removal() -> None:
    store = Store()
    child = {"metadata": {"name": "c", "namespace": "ns", "uid": "c1", "resourceVersion": "1",
                          "ownerReferences": [{"uid": "owner-1"}]}}
    store.rv = 1
    store.put(CM, child, None)
    assert [o["metadata"]["name"] for _, o in store.iter_dependents("owner-1")] == ["c"]
    moved = {"metadata": {**child["metadata"], "resourceVersion": "2",
                          "ownerReferences": [{"uid": "owner-2"}]}}
    store.rv = 2
    store.put(CM, moved, child)
    assert list(store.iter_dependents("owner-1")) == []
    assert [o["metadata"]["uid"] for _, o in store.iter_dependents("owner-2")] == ["c1"]
    assert store.lookup_uid("c1") is moved
    gone = {"metadata": {**moved["metadata"], "resourceVersion": "3"}}
    store.remove(CM, gone)
    assert list(store.iter_dependents("owner-2")) == []
    assert store.lookup_uid("c1") is None


def test_keys_are_in_etcd_order_namespace_then_name() -> None:
    store = Store()
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        obj = {"metadata": {"name": name, "namespace": ns, "uid": f"{ns}{name}",
                            "resourceVersion": str(store.next_rv())}}
        store.put(CM, obj, None)
    assert store.resource(CM).keys() == [("a", "y"), ("a", "z"), ("b", "x")]
    assert store.resource(CM).keys("a") == [("a", "y"), ("a", "z")]
