"""The reflector's list/watch logic, driven by scripted pages and event streams (no server).

Time is virtual (looptime): backoff sleeps take no real time, and their lengths are asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from _helpers.scripted import ScriptedSource, bookmark, cm

from kopf_informers import WatchEvent
from kopf_informers._reflector import DeletedFinalStateUnknown, ListPage, Reflector
from kopf_informers._store import store
from kopf_informers.errors import BadRequestError, GoneError, ServerError

pytestmark = pytest.mark.looptime

Obj = dict[str, Any]


class Recorder:
    """An event handler that records what it is told and what the store held at that time."""

    def __init__(self, lookup: Callable[[str], Any]) -> None:
        self.lookup = lookup
        self.events: list[tuple[str, Any]] = []
        self.seen_in_store: list[bool] = []

    def on_add(self, obj: Any) -> None:
        self.events.append(("add", obj["metadata"]["name"]))
        self.seen_in_store.append(self.lookup(f"ns/{obj['metadata']['name']}") is obj)

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append(("update", new["metadata"]["name"]))
        self.seen_in_store.append(self.lookup(f"ns/{new['metadata']['name']}") is new)

    def on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.events.append(("tombstone", obj.key))
        else:
            self.events.append(("delete", obj["metadata"]["name"]))
        self.seen_in_store.append(True)

    def on_relist(self) -> None:
        self.events.append(("relist", None))


async def run_until_idle(
    source: ScriptedSource, **kwargs: Any,
) -> tuple[Reflector[Any], Any, Recorder]:
    reader, writer = store()
    recorder = Recorder(reader.get)
    reflector: Reflector[Any] = Reflector(
        source=source, writer=writer, handler=recorder, rng=lambda: 0.0, **kwargs,
    )
    task = asyncio.create_task(reflector.run())
    try:
        await asyncio.wait_for(source.idle.wait(), timeout=600)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return reflector, reader, recorder


async def test_initial_list_pages_through_everything_with_rv_zero_then_watches_from_its_rv(
) -> None:
    source = ScriptedSource()
    source.pages.extend([
        ListPage([cm("a", 3), cm("b", 4)], "10", "token-1"),
        ListPage([cm("c", 5)], "10", None),
    ])
    reflector, reader, recorder = await run_until_idle(source)
    assert source.list_calls == [("0", 500, None), (None, 500, "token-1")]
    assert source.watch_calls[0][0] == "10"
    assert sorted(reader.keys()) == ["ns/a", "ns/b", "ns/c"]
    assert recorder.events == [("add", "a"), ("add", "b"), ("add", "c")]
    assert reflector.has_synced
    assert reflector.last_resource_version == "10"


async def test_watch_events_update_the_store_before_handlers_hear_of_them() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([cm("a", 3)], "3", None))
    source.streams.append([
        WatchEvent("ADDED", cm("b", 4)),
        WatchEvent("MODIFIED", cm("a", 5, k="v")),
        WatchEvent("DELETED", cm("b", 6)),
    ])
    _, reader, recorder = await run_until_idle(source)
    assert recorder.events == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
    assert all(recorder.seen_in_store)
    assert reader.keys() == ["ns/a"]
    assert reader.get("ns/a")["data"] == {"k": "v"}


async def test_a_watch_that_ends_resumes_from_the_last_seen_version_without_relisting() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "3", None))
    source.streams.extend([[WatchEvent("ADDED", cm("a", 4))], [WatchEvent("ADDED", cm("b", 7))]])
    reflector, _, recorder = await run_until_idle(source)
    assert len(source.list_calls) == 1
    assert [call[0] for call in source.watch_calls] == ["3", "4", "7"]
    assert recorder.events == [("add", "a"), ("add", "b")]
    assert reflector.last_resource_version == "7"


async def test_bookmarks_advance_the_resume_version_without_any_notification() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "3", None))
    source.streams.append([bookmark(40)])
    reflector, _, recorder = await run_until_idle(source)
    assert [call[0] for call in source.watch_calls] == ["3", "40"]
    assert recorder.events == []
    assert reflector.last_resource_version == "40"


async def test_relist_after_410_emits_updates_adds_and_tombstones_for_vanished_objects() -> None:
    source = ScriptedSource()
    source.pages.extend([
        ListPage([cm("same", 1), cm("changed", 2), cm("vanished", 3)], "3", None),
        ListPage([cm("same", 1), cm("changed", 8), cm("new", 9)], "9", None),
    ])
    source.streams.append([GoneError("too old", status=410, reason="Expired")])
    reflector, reader, recorder = await run_until_idle(source)
    assert source.list_calls[1][0] == "3"  # the relist asks for at least the last known state
    assert recorder.events[3:] == [("add", "new"), ("update", "changed"),
                                   ("tombstone", "ns/vanished"), ("relist", None)]
    assert sorted(reader.keys()) == ["ns/changed", "ns/new", "ns/same"]
    assert reflector.last_resource_version == "9"


async def test_a_relist_that_changes_nothing_still_says_so_and_the_first_list_does_not() -> None:
    # Objects created and deleted while the watch was down leave no trace in a diff: only the
    # relist itself tells a controller to look at everything again.
    source = ScriptedSource()
    source.pages.extend([ListPage([cm("same", 1)], "3", None),
                         ListPage([cm("same", 1)], "7", None)])
    source.streams.append([GoneError("too old", status=410, reason="Expired")])
    _, _, recorder = await run_until_idle(source)
    assert recorder.events == [("add", "same"), ("relist", None)]


async def test_a_tombstone_carries_the_last_known_state_of_the_vanished_object() -> None:
    source = ScriptedSource()
    source.pages.extend([ListPage([cm("gone", 1, k="last")], "1", None),
                         ListPage([], "5", None)])
    source.streams.append([GoneError("too old", status=410, reason="Expired")])
    deleted: list[Any] = []
    _, writer = store()

    class Handler:
        def on_add(self, obj: Any) -> None: ...
        def on_update(self, old: Any, new: Any) -> None: ...
        def on_delete(self, obj: Any) -> None:
            deleted.append(obj)
        def on_relist(self) -> None: ...

    reflector: Reflector[Any] = Reflector(source=source, writer=writer, handler=Handler())
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(source.idle.wait(), timeout=600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(deleted) == 1
    assert isinstance(deleted[0], DeletedFinalStateUnknown)
    assert deleted[0].key == "ns/gone"
    assert deleted[0].obj["data"] == {"k": "last"}


async def test_a_list_at_an_expired_version_is_retried_for_the_latest_state() -> None:
    source = ScriptedSource()
    source.pages.extend([
        ListPage([cm("a", 1)], "1", None),
        GoneError("too old", status=410, reason="Expired"),
        ListPage([cm("a", 1)], "20", None),
    ])
    source.streams.append([GoneError("too old", status=410, reason="Expired")])
    await run_until_idle(source)
    assert [call[0] for call in source.list_calls] == ["0", "1", ""]


async def test_an_expired_continue_token_restarts_the_list_from_the_latest_state() -> None:
    source = ScriptedSource()
    source.pages.extend([
        ListPage([cm("a", 1)], "5", "token"),
        GoneError("continue expired", status=410, reason="Expired"),
        ListPage([cm("a", 1), cm("b", 6)], "6", None),
    ])
    _, reader, _ = await run_until_idle(source)
    assert source.list_calls == [("0", 500, None), (None, 500, "token"), ("", 500, None)]
    assert sorted(reader.keys()) == ["ns/a", "ns/b"]


class PagedSource(ScriptedSource):
    """Logs list calls into ``log``; a request for a page past ``stuck_after`` never answers."""

    def __init__(self, log: list[tuple[str, str | None]], stuck_after: str | None = None) -> None:
        super().__init__()
        self.log = log
        self.stuck_after = stuck_after
        self.stuck = asyncio.Event()
        self.cancelled = 0

    async def list_page(self, *, resource_version: str | None, limit: int,
                        continue_token: str | None) -> ListPage:
        self.log.append(("list", continue_token))
        if continue_token is not None and continue_token == self.stuck_after:
            self.stuck.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return await super().list_page(resource_version=resource_version, limit=limit,
                                       continue_token=continue_token)


def next_page_requests() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name().endswith("next list page")]


async def test_the_next_page_is_requested_before_a_page_is_stored() -> None:
    log: list[tuple[str, str | None]] = []
    source = PagedSource(log)
    source.pages.extend([
        ListPage([cm("a", 3)], "10", "token-1"),
        ListPage([cm("b", 4)], "10", "token-2"),
        ListPage([cm("c", 5)], "10", None),
    ])

    def transform(obj: Obj) -> Obj:
        log.append(("store", obj["metadata"]["name"]))
        return obj

    reader, writer = store(transform=transform)
    reflector: Reflector[Any] = Reflector(source=source, writer=writer,
                                          handler=Recorder(reader.get), rng=lambda: 0.0)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(source.idle.wait(), timeout=600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert log == [("list", None), ("list", "token-1"), ("store", "a"),
                   ("list", "token-2"), ("store", "b"), ("store", "c")]
    assert reader.keys() == ["ns/a", "ns/b", "ns/c"]


async def test_a_list_stopped_midway_leaves_no_page_request_behind_and_the_store_empty() -> None:
    source = PagedSource([], stuck_after="token")
    source.pages.append(ListPage([cm("a", 1)], "5", "token"))
    reader, writer = store()
    reflector: Reflector[Any] = Reflector(source=source, writer=writer,
                                          handler=Recorder(reader.get), rng=lambda: 0.0)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(source.stuck.wait(), timeout=600)
    assert next_page_requests()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (source.cancelled, next_page_requests(), len(reader)) == (1, [], 0)


async def test_a_page_that_fails_to_store_cancels_the_request_for_the_next() -> None:
    def transform(obj: Obj) -> Obj:
        if obj["metadata"]["name"] == "bad":
            raise ValueError("a transform that fails")
        return obj

    source = PagedSource([], stuck_after="token")
    source.pages.extend([ListPage([cm("bad", 1)], "5", "token"), ListPage([], "6", None)])
    reader, writer = store(transform=transform)
    reflector: Reflector[Any] = Reflector(source=source, writer=writer,
                                          handler=Recorder(reader.get), rng=lambda: 0.0)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(source.idle.wait(), timeout=600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert source.log == [("list", None), ("list", "token"), ("list", None)]
    assert (source.cancelled, next_page_requests(), len(reader)) == (1, [], 0)


async def test_failures_back_off_exponentially_from_0_8_seconds(looptime: Any) -> None:
    source = ScriptedSource()
    source.pages.extend([
        ServerError("boom", status=500), ServerError("boom", status=500),
        ServerError("boom", status=500), ListPage([], "1", None),
    ])
    start = float(looptime)
    await run_until_idle(source)
    elapsed = float(looptime) - start
    assert elapsed == pytest.approx(0.8 + 1.6 + 3.2)  # jitter is 0 in these tests
    assert len(source.list_calls) == 4


async def test_a_failing_watch_resumes_from_the_last_version_after_backing_off() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "3", None))
    source.streams.extend([
        [WatchEvent("ADDED", cm("a", 4)), ServerError("stream broke", status=500)],
        [WatchEvent("ADDED", cm("b", 5))],
    ])
    _, _, recorder = await run_until_idle(source)
    assert len(source.list_calls) == 1
    assert [call[0] for call in source.watch_calls] == ["3", "4", "5"]
    assert recorder.events == [("add", "a"), ("add", "b")]


async def test_watch_timeouts_are_random_between_five_and_ten_minutes() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "3", None))
    reader, writer = store()
    values = iter([0.0, 0.999])
    reflector: Reflector[Any] = Reflector(
        source=source, writer=writer, handler=Recorder(reader.get), rng=lambda: next(values),
    )
    source.streams.append([])
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(source.idle.wait(), timeout=600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [call[1] for call in source.watch_calls] == [300, 599]


async def test_a_delete_of_an_object_never_seen_is_not_reported() -> None:
    source = ScriptedSource()
    source.pages.append(ListPage([], "3", None))
    source.streams.append([WatchEvent("DELETED", cm("ghost", 4))])
    _, _, recorder = await run_until_idle(source)
    assert recorder.events == []


async def test_watch_list_buffers_initial_events_until_the_end_bookmark() -> None:
    source = ScriptedSource()
    source.streams.append([
        WatchEvent("ADDED", cm("a", 3)), WatchEvent("ADDED", cm("b", 4)),
        bookmark(4, initial_end=True),
        WatchEvent("MODIFIED", cm("a", 5)),
    ])
    reflector, reader, recorder = await run_until_idle(source, watch_list=True)
    assert source.list_calls == []
    assert source.watch_calls[0][2] is True  # sendInitialEvents
    assert recorder.events == [("add", "a"), ("add", "b"), ("update", "a")]
    assert reflector.has_synced
    assert sorted(reader.keys()) == ["ns/a", "ns/b"]
    assert [call[2] for call in source.watch_calls[1:]] == [False]


async def test_a_server_refusing_watch_list_gets_a_regular_list_instead() -> None:
    source = ScriptedSource()
    source.streams.append([BadRequestError("sendInitialEvents unsupported", status=400)])
    source.pages.append(ListPage([cm("a", 3)], "3", None))
    _, reader, _ = await run_until_idle(source, watch_list=True)
    assert source.list_calls == [("0", 500, None)]
    assert reader.keys() == ["ns/a"]
