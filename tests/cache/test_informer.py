"""Shared index informers, their handlers and syncing, and the factory's sharing (no server).

Informers read scripted list pages and watch streams; time is virtual (looptime), so resync
periods and sync timeouts take no real time, and their lengths are asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _helpers.scripted import ScriptedSource, cm

from kopf_informers import WatchEvent
from kopf_informers._informer import (
    HandlerRegistration,
    InformerFactory,
    SharedIndexInformer,
    wait_for_cache_sync,
)
from kopf_informers._reflector import DeletedFinalStateUnknown, ListPage
from kopf_informers.errors import CacheSyncTimeoutError, GoneError, InvalidArgumentError
from kopf_informers.selectors import LabelSelector

pytestmark = pytest.mark.looptime

GONE = GoneError("too old", status=410, reason="Expired")


class GatedSource(ScriptedSource):
    """A scripted source whose lists and watches wait until the test opens their gates."""

    def __init__(self, *, list_open: bool = True, watch_open: bool = True) -> None:
        super().__init__()
        self.list_gate = asyncio.Event()
        self.watch_gate = asyncio.Event()
        if list_open:
            self.list_gate.set()
        if watch_open:
            self.watch_gate.set()

    async def list_page(self, *, resource_version: str | None, limit: int,
                        continue_token: str | None) -> ListPage:
        await self.list_gate.wait()
        return await super().list_page(resource_version=resource_version, limit=limit,
                                       continue_token=continue_token)

    async def watch(self, *, resource_version: str | None, timeout_seconds: int,
                    send_initial_events: bool = False) -> AsyncIterator[WatchEvent]:
        await self.watch_gate.wait()
        events = super().watch(resource_version=resource_version,
                               timeout_seconds=timeout_seconds,
                               send_initial_events=send_initial_events)
        async for event in events:
            yield event


def never_listing() -> GatedSource:
    """A source whose first list never returns (an unreachable or very slow server)."""
    return GatedSource(list_open=False)


def make_informer(source: ScriptedSource, **kwargs: Any) -> SharedIndexInformer[Any]:
    return SharedIndexInformer(source=source, resource="v1/configmaps", namespaced=True,
                               **kwargs)


@contextlib.asynccontextmanager
async def started(
    informer: SharedIndexInformer[Any], source: ScriptedSource | None = None,
) -> AsyncIterator[SharedIndexInformer[Any]]:
    """Start the informer, wait until the source has nothing more to send, stop it at the end."""
    informer.start()
    try:
        if source is not None:
            await asyncio.wait_for(source.idle.wait(), timeout=600)
        yield informer
    finally:
        await informer.stop()


def name_of(obj: Any) -> str:
    return str(obj["metadata"]["name"])


class Recorder:
    """Handlers that record each event, and whether the lister showed the change at the time."""

    def __init__(self, informer: SharedIndexInformer[Any], log: list[Any] | None = None,
                 label: str = "") -> None:
        self.informer = informer
        self.label = label
        self.events: list[tuple[str, ...]] = [] if log is None else log
        self.cache_had_the_change: list[bool] = []

    def _cached(self, obj: Any) -> Any:
        return self.informer.lister.get(name_of(obj), obj["metadata"]["namespace"])

    def on_add(self, obj: Any) -> None:
        self.events.append((self.label + "add", name_of(obj)))
        self.cache_had_the_change.append(self._cached(obj) is obj)

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append((self.label + "update", name_of(new), new["data"].get("k", "")))
        self.cache_had_the_change.append(self._cached(new) is new)

    def on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.events.append((self.label + "tombstone", obj.key))
            self.cache_had_the_change.append(self._cached(obj.obj) is None)
        else:
            self.events.append((self.label + "delete", name_of(obj)))
            self.cache_had_the_change.append(self._cached(obj) is None)

    def register(self) -> HandlerRegistration:
        return self.informer.add_handler(self.on_add, self.on_update, self.on_delete)


# -- handlers -------------------------------------------------------------------------------------


async def test_handlers_hear_of_adds_updates_and_deletes_in_watch_order_after_the_cache() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1), cm("b", 2)], "2", None))
    source.streams.append([
        WatchEvent("ADDED", cm("c", 3)),
        WatchEvent("MODIFIED", cm("a", 4, k="v1")),
        WatchEvent("DELETED", cm("b", 5)),
        WatchEvent("MODIFIED", cm("a", 6, k="v2")),
        WatchEvent("DELETED", cm("c", 7)),
    ])
    informer = make_informer(source)
    recorder = Recorder(informer)
    recorder.register()
    async with started(informer, source):
        assert recorder.events == [
            ("add", "a"), ("add", "b"), ("add", "c"), ("update", "a", "v1"), ("delete", "b"),
            ("update", "a", "v2"), ("delete", "c"),
        ]
        assert all(recorder.cache_had_the_change)
        assert [name_of(o) for o in informer.lister.list()] == ["a"]


async def test_several_handlers_each_hear_every_event_in_registration_order() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    source.streams.append([WatchEvent("MODIFIED", cm("a", 2, k="x")),
                           WatchEvent("DELETED", cm("a", 3))])
    informer = make_informer(source)
    log: list[Any] = []
    Recorder(informer, log, "first:").register()
    Recorder(informer, log, "second:").register()
    async with started(informer, source):
        assert log == [
            ("first:add", "a"), ("second:add", "a"),
            ("first:update", "a", "x"), ("second:update", "a", "x"),
            ("first:delete", "a"), ("second:delete", "a"),
        ]


async def test_a_delete_carries_the_final_state_from_the_watch_event() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1, k="listed")], "1", None))
    source.streams.append([WatchEvent("DELETED", cm("a", 2, k="final"))])
    informer = make_informer(source)
    deleted: list[Any] = []
    informer.add_handler(on_delete=deleted.append)
    async with started(informer, source):
        assert len(deleted) == 1
        assert deleted[0]["data"] == {"k": "final"}
        with pytest.raises(TypeError):  # handlers get frozen objects, as the cache holds them
            deleted[0]["data"]["k"] = "changed"


async def test_a_handler_that_raises_is_logged_and_neither_the_informer_nor_others_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    source.streams.append([WatchEvent("ADDED", cm("b", 2)), WatchEvent("MODIFIED", cm("a", 3))])
    informer = make_informer(source, name="configmaps-in-ns")
    attempts: list[str] = []

    def failing(obj: Any) -> None:
        attempts.append(name_of(obj))
        raise RuntimeError(f"handler bug on {name_of(obj)}")

    informer.add_handler(on_add=failing)
    recorder = Recorder(informer)
    recorder.register()
    with caplog.at_level(logging.ERROR, logger="kopf_informers.cache"):
        async with started(informer, source):
            assert attempts == ["a", "b"]  # every event was still offered to the failing one
            assert recorder.events == [("add", "a"), ("add", "b"), ("update", "a", "")]
            assert informer.is_running
            assert informer.has_synced
    failures = [r for r in caplog.records if r.name == "kopf_informers.cache"]
    assert len(failures) == 2
    for record, name in zip(failures, ["a", "b"], strict=True):
        assert record.levelno == logging.ERROR
        assert "configmaps-in-ns" in record.getMessage()
        assert "the add handler" in record.getMessage()
        assert record.exc_info is not None
        assert str(record.exc_info[1]) == f"handler bug on {name}"


async def test_a_handler_added_after_sync_first_gets_every_cached_object_then_live_events(
) -> None:
    source = GatedSource(watch_open=False)
    source.pages.append(ListPage([cm("a", 1), cm("b", 2)], "2", None))
    source.streams.append([WatchEvent("ADDED", cm("c", 3)), WatchEvent("MODIFIED", cm("a", 4))])
    informer = make_informer(source)
    async with started(informer):
        await informer.wait_synced()
        recorder = Recorder(informer)
        recorder.register()
        assert recorder.events == [("add", "a"), ("add", "b")]  # at once, before add_handler ends
        source.watch_gate.set()
        await asyncio.wait_for(source.idle.wait(), timeout=600)
        assert recorder.events == [("add", "a"), ("add", "b"), ("add", "c"), ("update", "a", "")]
        assert all(recorder.cache_had_the_change)


async def test_a_handler_added_before_sync_gets_the_first_list_only_once() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    informer = make_informer(source)
    recorder = Recorder(informer)
    recorder.register()
    async with started(informer, source):
        assert recorder.events == [("add", "a")]


async def test_a_removed_handler_hears_nothing_more() -> None:
    source = GatedSource(watch_open=False)
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    source.streams.append([WatchEvent("ADDED", cm("b", 2)), WatchEvent("DELETED", cm("a", 3))])
    informer = make_informer(source)
    removed = Recorder(informer, label="removed:")
    kept = Recorder(informer, label="kept:")
    registration = removed.register()
    kept.register()
    async with started(informer):
        await informer.wait_synced()
        registration.remove()
        registration.remove()  # a second remove is harmless
        source.watch_gate.set()
        await asyncio.wait_for(source.idle.wait(), timeout=600)
    assert removed.events == [("removed:add", "a")]
    assert kept.events == [("kept:add", "a"), ("kept:add", "b"), ("kept:delete", "a")]


async def _coroutine_handler(obj: Any) -> None: ...


class _AsyncCallable:
    async def __call__(self, obj: Any) -> None: ...


@pytest.mark.parametrize(("handler", "problem"), [
    pytest.param(_coroutine_handler, r"_coroutine_handler is a coroutine function",
                 id="coroutine-function"),
    pytest.param(functools.partial(_coroutine_handler), r"is a coroutine function",
                 id="partial-of-coroutine-function"),
    pytest.param(_AsyncCallable(), r"is a coroutine function", id="object-with-async-call"),
    pytest.param("on_add", r"must be callable, got 'on_add'", id="string"),
    pytest.param(42, r"must be callable, got 42", id="number"),
])
@pytest.mark.parametrize("slot", ["on_add", "on_update", "on_delete"])
def test_coroutine_functions_and_non_callables_are_refused_as_handlers(
    slot: str, handler: Any, problem: str,
) -> None:
    informer = make_informer(ScriptedSource())
    with pytest.raises(InvalidArgumentError, match=rf"^{slot}.*{problem}"):
        informer.add_handler(**{slot: handler})
    assert informer._handlers == []


def test_a_refused_coroutine_handler_is_told_to_enqueue_the_work_instead() -> None:
    informer = make_informer(ScriptedSource())
    with pytest.raises(InvalidArgumentError, match=r"synchronous and quick.*workqueue"):
        informer.add_handler(on_update=_coroutine_handler)


def test_add_handler_without_any_handler_is_refused() -> None:
    informer = make_informer(ScriptedSource())
    with pytest.raises(InvalidArgumentError, match=r"at least one of on_add, on_update, on_delete"):
        informer.add_handler()
    with pytest.raises(InvalidArgumentError, match=r"at least one"):
        informer.add_handler(on_add=None, on_update=None, on_delete=None)


async def test_tombstones_reach_on_delete_when_a_relist_after_410_finds_an_object_gone() -> None:
    source = ScriptedSource()
    source.pages.extend([
        ListPage([cm("kept", 1), cm("gone", 2, k="last")], "2", None),
        ListPage([cm("kept", 1)], "9", None),
    ])
    source.streams.append([GONE])
    informer = make_informer(source)
    recorder = Recorder(informer)
    recorder.register()
    tombstones: list[Any] = []
    informer.add_handler(on_delete=tombstones.append)
    async with started(informer, source):
        assert recorder.events == [("add", "kept"), ("add", "gone"), ("tombstone", "ns/gone")]
        assert all(recorder.cache_had_the_change)
        assert len(tombstones) == 1
        assert isinstance(tombstones[0], DeletedFinalStateUnknown)
        assert tombstones[0].key == "ns/gone"
        assert tombstones[0].obj["data"] == {"k": "last"}
        assert informer.last_resource_version == "9"


# -- syncing --------------------------------------------------------------------------------------


async def test_has_synced_is_false_until_the_first_list_completes() -> None:
    source = GatedSource(list_open=False)
    source.pages.extend([ListPage([cm("a", 1)], "5", "token"), ListPage([cm("b", 2)], "5", None)])
    informer = make_informer(source)
    assert not informer.has_synced
    async with started(informer):
        await asyncio.sleep(10)
        assert not informer.has_synced
        assert informer.last_resource_version is None
        source.list_gate.set()
        await asyncio.wait_for(source.idle.wait(), timeout=600)
        assert informer.has_synced
        assert len(source.list_calls) == 2  # both pages were needed before it counted as synced
        assert len(informer.lister) == 2


async def test_wait_synced_times_out_with_an_error_naming_the_informer(looptime: Any) -> None:
    informer = make_informer(never_listing(), name="slow-configmaps")
    async with started(informer):
        start = float(looptime)
        with pytest.raises(CacheSyncTimeoutError, match=r"within 5 s: slow-configmaps") as err:
            await informer.wait_synced(5)
        assert float(looptime) - start == pytest.approx(5)
        assert err.value.informers == ["slow-configmaps"]
        assert isinstance(err.value, TimeoutError)  # callers may catch the builtin
        assert informer.is_running  # a timeout gives up waiting, not the informer


async def test_wait_synced_returns_at_once_when_the_informer_has_synced(looptime: Any) -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "1", None))
    async with started(make_informer(source), source) as informer:
        start = float(looptime)
        await informer.wait_synced(0.001)
        await informer.wait_synced()
        assert float(looptime) == start


async def test_wait_for_cache_sync_names_only_the_informers_that_have_not_synced(
    looptime: Any,
) -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    synced = make_informer(source, name="synced")
    slow1 = make_informer(never_listing(), name="slow-1")
    slow2 = make_informer(never_listing(), name="slow-2")
    async with started(synced, source), started(slow1), started(slow2):
        start = float(looptime)
        with pytest.raises(CacheSyncTimeoutError) as err:
            await wait_for_cache_sync([slow1, synced, slow2], timeout=30)
        assert float(looptime) - start == pytest.approx(30)
        assert err.value.informers == ["slow-1", "slow-2"]
        assert "synced," not in str(err.value)
        assert "slow-1, slow-2" in str(err.value)


async def test_wait_for_cache_sync_waits_until_every_informer_has_synced(looptime: Any) -> None:
    fast = ScriptedSource()
    fast.pages.append(ListPage([], "1", None))
    slow = GatedSource(list_open=False)
    slow.pages.append(ListPage([], "1", None))
    informers = [make_informer(fast), make_informer(slow)]
    async with started(informers[0]), started(informers[1]):
        asyncio.get_running_loop().call_later(7, slow.list_gate.set)
        start = float(looptime)
        await wait_for_cache_sync(informers, timeout=60)
        assert float(looptime) - start == pytest.approx(7)
        assert all(i.has_synced for i in informers)


async def test_wait_for_cache_sync_of_no_informers_returns_at_once() -> None:
    await wait_for_cache_sync([], timeout=0)


# -- resync ---------------------------------------------------------------------------------------


async def test_resync_redelivers_every_object_as_an_update_of_itself_periodically(
    looptime: Any,
) -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1), cm("b", 2)], "2", None))
    informer = make_informer(source, resync_period=30)
    updates: list[tuple[float, str]] = []

    def on_update(old: Any, new: Any) -> None:
        assert old is new
        assert informer.lister.get(name_of(new), "ns") is new
        updates.append((float(looptime) - start, name_of(new)))

    informer.add_handler(on_update=on_update)
    start = float(looptime)
    async with started(informer, source):
        await asyncio.sleep(95)
    assert updates == [(30, "a"), (30, "b"), (60, "a"), (60, "b"), (90, "a"), (90, "b")]


async def test_resync_waits_for_the_first_list_before_counting(looptime: Any) -> None:
    source = GatedSource(list_open=False)
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    informer = make_informer(source, resync_period=10)
    updates: list[float] = []
    informer.add_handler(on_update=lambda old, new: updates.append(float(looptime) - start))
    start = float(looptime)
    async with started(informer):
        asyncio.get_running_loop().call_later(25, source.list_gate.set)
        await asyncio.sleep(50)
    assert updates == [35, 45]


async def test_without_a_resync_period_nothing_is_redelivered() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    informer = make_informer(source)
    updates: list[Any] = []
    informer.add_handler(on_update=lambda old, new: updates.append(new))
    async with started(informer, source):
        await asyncio.sleep(3600)
    assert updates == []


@pytest.mark.parametrize("period", [
    pytest.param(0, id="zero"),
    pytest.param(0.5, id="half-a-second"),
    pytest.param(0.999, id="just-below-one-second"),
    pytest.param(-30, id="negative"),
    pytest.param(float("nan"), id="nan"),
])
def test_resync_periods_below_one_second_are_refused(period: float) -> None:
    with pytest.raises(InvalidArgumentError, match=r"resync_period must be at least 1.0 s"):
        make_informer(ScriptedSource(), resync_period=period)


def test_a_resync_period_of_exactly_one_second_is_accepted() -> None:
    make_informer(ScriptedSource(), resync_period=1)


# -- running --------------------------------------------------------------------------------------


async def test_stop_leaves_no_pending_tasks_and_no_warnings() -> None:
    gc.collect()  # earlier tests' garbage (e.g. looptime's stray loops) is not this test's
    before = asyncio.all_tasks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = ScriptedSource()
        source.pages.append(ListPage([cm("a", 1)], "1", None))
        informer = make_informer(source, resync_period=5)
        informer.add_handler(on_update=lambda old, new: None)
        informer.start()
        await asyncio.wait_for(source.idle.wait(), timeout=600)
        await asyncio.sleep(12)  # let the resync task run and go back to sleeping
        assert len(asyncio.all_tasks()) == len(before) + 2  # the reflector and the resync
        await informer.stop()
        assert asyncio.all_tasks() == before
        assert not informer.is_running
        del informer, source
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []
    assert asyncio.all_tasks() == before


async def test_stop_while_the_first_list_is_pending_leaves_no_tasks() -> None:
    before = asyncio.all_tasks()
    informer = make_informer(never_listing(), resync_period=5)
    informer.start()
    await asyncio.sleep(1)
    await informer.stop()
    assert asyncio.all_tasks() == before


async def test_stop_of_an_informer_never_started_is_harmless() -> None:
    informer = make_informer(ScriptedSource())
    await informer.stop()
    assert not informer.is_running


async def test_starting_twice_is_harmless() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    informer = make_informer(source, name="twice")
    recorder = Recorder(informer)
    recorder.register()
    informer.start()
    informer.start()
    async with started(informer, source):  # a third start, and the one stop
        assert len(source.list_calls) == 1
        assert len(source.watch_calls) == 1
        reflectors = [t for t in asyncio.all_tasks() if t.get_name() == "reflector:twice"]
        assert len(reflectors) == 1
        assert recorder.events == [("add", "a")]


async def test_add_indexers_after_start_indexes_the_objects_already_cached() -> None:
    source = GatedSource(watch_open=False)
    source.pages.append(ListPage([cm("a", 1, k="x"), cm("b", 2, k="y"), cm("c", 3, k="x")],
                                 "3", None))
    source.streams.append([WatchEvent("ADDED", cm("d", 4, k="y")),
                           WatchEvent("MODIFIED", cm("a", 5, k="y"))])
    informer = make_informer(source, indexers={"by_name": lambda o: [name_of(o)]})
    async with started(informer):
        await informer.wait_synced()
        informer.add_indexers({"by_k": lambda o: [o["data"]["k"]]})
        lister = informer.lister
        assert sorted(name_of(o) for o in lister.by_index("by_k", "x")) == ["a", "c"]
        assert sorted(lister.index_values("by_k")) == ["x", "y"]
        assert [name_of(o) for o in lister.by_index("by_name", "b")] == ["b"]
        source.watch_gate.set()  # later events keep the new index up to date
        await asyncio.wait_for(source.idle.wait(), timeout=600)
        assert sorted(name_of(o) for o in lister.by_index("by_k", "x")) == ["c"]
        assert sorted(name_of(o) for o in lister.by_index("by_k", "y")) == ["a", "b", "d"]


@pytest.mark.parametrize("namespace", [".", "..", "a/b", "a%2Fb"])
def test_an_informer_for_a_namespace_that_cannot_be_in_a_path_is_refused(namespace: str) -> None:
    factory = InformerFactory()
    with pytest.raises(InvalidArgumentError, match=rf"namespace={namespace!r}"):
        factory.informer("v1/pods", namespace=namespace)
    assert factory.informers == []


async def test_add_indexers_with_a_taken_name_is_refused() -> None:
    informer = make_informer(ScriptedSource(), indexers={"mine": lambda o: []})
    with pytest.raises(InvalidArgumentError, match=r"'mine'"):
        informer.add_indexers({"mine": lambda o: []})
    with pytest.raises(InvalidArgumentError, match=r"'namespace'"):
        informer.add_indexers({"namespace": lambda o: []})


async def test_the_lister_reads_the_cache_and_never_calls_the_source() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    async with started(make_informer(source), source) as informer:
        calls = (list(source.list_calls), list(source.watch_calls))
        for _ in range(3):
            assert informer.lister.get("a", "ns") is informer.store.get("ns/a")
            assert len(informer.lister.list()) == 1
            assert informer.lister.get("missing", "ns") is None
        assert (source.list_calls, source.watch_calls) == calls


async def test_an_informer_restricted_to_a_namespace_lists_without_naming_it() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 1)], "1", None))
    async with started(make_informer(source, namespace="ns"), source) as informer:
        assert informer.lister.get("a") is not None


# -- the factory ----------------------------------------------------------------------------------


def test_the_factory_shares_one_informer_per_resource_namespace_and_selectors() -> None:
    factory = InformerFactory()
    first = factory.informer("v1/pods", namespace="ns", label_selector="app=web",
                             field_selector="spec.nodeName=n1")
    second = factory.informer("v1/pods", namespace="ns", label_selector="app=web",
                              field_selector="spec.nodeName=n1")
    assert second is first
    assert factory.informers == [first]


@pytest.mark.parametrize(("text", "same"), [
    pytest.param("app=web,tier=front", {"matchLabels": {"app": "web", "tier": "front"}},
                 id="match-labels"),
    pytest.param("app=web,tier in (a,b)",
                 {"matchLabels": {"app": "web"},
                  "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                 id="match-expressions"),
    pytest.param("app=web,!legacy",
                 {"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}],
                  "matchLabels": {"app": "web"}}, id="does-not-exist"),
    pytest.param("app=web,tier=front", LabelSelector.from_labels({"tier": "front", "app": "web"}),
                 id="label-selector"),
    pytest.param("app=web,tier=front", "tier=front,app=web", id="string-in-another-order"),
    pytest.param("app=web,tier=front", "app = web , tier == front", id="string-with-spaces"),
])
def test_an_equal_selector_in_another_form_shares_the_informer(text: str, same: Any) -> None:
    factory = InformerFactory()
    first = factory.informer("v1/pods", label_selector=text)
    assert factory.informer("v1/pods", label_selector=same) is first
    assert len(factory.informers) == 1


def test_no_selector_and_an_empty_selector_share_the_informer() -> None:
    factory = InformerFactory()
    first = factory.informer("v1/pods")
    assert factory.informer("v1/pods", label_selector="", field_selector="") is first
    assert factory.informer("v1/pods", label_selector={}) is first
    assert factory.informer("v1/pods", namespace="") is first


@pytest.mark.parametrize("other", [
    pytest.param({"resource": "v1/configmaps"}, id="another-resource"),
    pytest.param({"namespace": "other"}, id="another-namespace"),
    pytest.param({"namespace": None}, id="all-namespaces"),
    pytest.param({"label_selector": "app=db"}, id="another-label-selector"),
    pytest.param({"label_selector": None}, id="no-label-selector"),
    pytest.param({"field_selector": "spec.nodeName=n2"}, id="another-field-selector"),
])
def test_different_selections_get_different_informers(other: dict[str, Any]) -> None:
    base: dict[str, Any] = {"resource": "v1/pods", "namespace": "ns",
                            "label_selector": "app=web", "field_selector": "spec.nodeName=n1"}
    factory = InformerFactory()
    first = factory.informer(**base)
    second = factory.informer(**{**base, **other})
    assert second is not first
    assert factory.informers == [first, second]
    assert second.name != first.name


def test_a_second_request_with_new_indexers_adds_them_to_the_shared_informer() -> None:
    factory = InformerFactory()
    first = factory.informer("v1/pods", indexers={"by_node": lambda o: []})
    second = factory.informer("v1/pods", indexers={"by_app": lambda o: []})
    assert second is first
    assert first.store.index_names == ["by_app", "by_node", "namespace", "owner"]
    assert first.store.list_index_values("by_app") == []


def test_a_second_request_with_another_transform_is_refused() -> None:
    def strip(obj: Any) -> Any:
        return obj

    def other(obj: Any) -> Any:
        return obj

    factory = InformerFactory()
    first = factory.informer("v1/pods", transform=strip)
    with pytest.raises(InvalidArgumentError, match=r"v1/pods already exists with another"):
        factory.informer("v1/pods", transform=other)
    assert factory.informer("v1/pods", transform=strip) is first  # the same one is fine
    assert factory.informer("v1/pods") is first  # no transform asks for nothing in particular


def test_a_transform_asked_for_an_informer_made_without_one_is_refused() -> None:
    factory = InformerFactory()
    factory.informer("v1/pods")
    with pytest.raises(InvalidArgumentError, match=r"another transform"):
        factory.informer("v1/pods", transform=lambda obj: obj)


def test_the_factory_api_before_start_raises_a_clear_runtime_error() -> None:
    factory = InformerFactory()
    factory.informer("v1/pods")  # asking for informers needs no client yet
    with pytest.raises(RuntimeError, match=r"informer factory is not started.*no API client"):
        _ = factory.api


def test_the_factory_accepts_the_same_index_twice_but_not_a_rival_function() -> None:
    from kopf_informers._informer import InformerFactory
    from kopf_informers.errors import InvalidArgumentError as Invalid

    def by_app(obj: Any) -> list[str]:
        return [obj["metadata"].get("labels", {}).get("app", "")]

    factory = InformerFactory()
    first = factory.informer("v1/configmaps", indexers={"app": by_app})
    again = factory.informer("v1/configmaps", indexers={"app": by_app})
    assert again is first
    with pytest.raises(Invalid, match="'app'"):
        factory.informer("v1/configmaps", indexers={"app": lambda o: []})


async def test_a_handler_that_returns_a_coroutine_is_reported_and_the_coroutine_closed(
        caplog: pytest.LogCaptureFixture) -> None:
    from kopf_informers._informer import HandlerRegistration

    async def work(obj: Any) -> None: ...

    calls: list[Any] = []

    class Owner:
        name = "owner"

    registration = HandlerRegistration(Owner(), lambda obj: calls.append(obj) or work(obj),  # type: ignore[arg-type]
                                       None, None)
    registration._call("add", registration.on_add, {"x": 1})
    assert calls == [{"x": 1}]
    assert "returned an awaitable" in caplog.text

