"""The Event recorder against the embedded API server, over real HTTP: what client-go's
recorder writes for repeated, similar and too many Events, and ``post_event`` through it.

Time in the correlator is a fake clock that the tests move; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from _helpers.clocks import FakeClock

from kopf_informers import ApiClient, EventCorrelator, EventRecorder, post_event, recorder_for
from kopf_informers.testing import EmbeddedApiServer

Obj = dict[str, Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder(clock: FakeClock) -> EventRecorder:
    return EventRecorder(reporting_component="test-ctl", clock=clock)


async def make_cm(api: ApiClient, name: str = "cm1") -> Obj:
    return await api.create("v1/configmaps", {"metadata": {"name": name, "namespace": "default"}})


async def events_of(api: ApiClient, obj: Obj) -> list[Obj]:
    found = await api.list("v1/events", namespace="default",
                           field_selector=f"involvedObject.uid={obj['metadata']['uid']}")
    items: list[Obj] = found["items"]
    return items


def writes(server: EmbeddedApiServer) -> list[str]:
    return [e.verb for e in server.journal.filter(resource="events")
            if e.verb in ("create", "patch")]


async def test_an_identical_event_is_counted_up_with_one_patch(
        api: ApiClient, server: EmbeddedApiServer, recorder: EventRecorder,
        clock: FakeClock) -> None:
    cm = await make_cm(api)
    first = await recorder.post(api, cm, type="Warning", reason="Failed", message="boom")
    clock.now += 5
    for _ in range(11):
        last = await recorder.post(api, cm, type="Warning", reason="Failed", message="boom")
    assert first is not None
    assert last is not None
    [stored] = await events_of(api, cm)
    assert stored["metadata"]["name"] == first["metadata"]["name"] == last["metadata"]["name"]
    assert stored["count"] == 12
    assert stored["message"] == "boom"
    assert stored["firstTimestamp"] == first["firstTimestamp"]
    assert stored["lastTimestamp"] >= stored["firstTimestamp"]
    assert writes(server) == ["create"] + ["patch"] * 11


async def test_post_event_counts_up_through_the_clients_recorder(
        api: ApiClient, server: EmbeddedApiServer) -> None:
    cm = await make_cm(api)
    assert recorder_for(api) is recorder_for(api)
    await post_event(api, cm, reason="Synced", message="ok")
    event = await post_event(api, cm, reason="Synced", message="ok")
    assert event is not None
    assert event["count"] == 2
    await post_event(api, cm, reason="Synced", message="ok", reporting_component="other")
    assert sorted(e["count"] for e in await events_of(api, cm)) == [1, 2]


async def test_similar_events_past_ten_are_combined_into_one(
        api: ApiClient, recorder: EventRecorder) -> None:
    cm = await make_cm(api)
    for n in range(14):
        await recorder.post(api, cm, type="Warning", reason="Failed", message=f"boom {n}")
    events = await events_of(api, cm)
    combined = [e for e in events if e["message"].startswith("(combined from similar events)")]
    assert len(events) == 10
    assert [(e["message"], e["count"]) for e in combined] == [
        ("(combined from similar events): boom 13", 5)]


async def test_too_many_events_about_an_object_are_dropped_until_the_bucket_refills(
        api: ApiClient, server: EmbeddedApiServer, recorder: EventRecorder,
        clock: FakeClock) -> None:
    cm, other = await make_cm(api), await make_cm(api, "cm2")
    results = [await recorder.post(api, cm, reason=f"R{n}", message="m") for n in range(27)]
    assert [r is None for r in results] == [False] * 25 + [True] * 2
    assert await recorder.post(api, other, reason="R", message="m") is not None
    clock.now += 300
    assert await recorder.post(api, cm, reason="Late", message="m") is not None
    assert len(await events_of(api, cm)) == 26


async def test_an_event_deleted_meanwhile_is_posted_anew_with_its_count(
        api: ApiClient, recorder: EventRecorder) -> None:
    cm = await make_cm(api)
    first = await recorder.post(api, cm, reason="Synced", message="ok")
    assert first is not None
    await api.delete("v1/events", first["metadata"]["name"], namespace="default")
    again = await recorder.post(api, cm, reason="Synced", message="ok")
    assert again is not None
    assert again["metadata"]["name"] != first["metadata"]["name"]
    assert again["count"] == 2
    third = await recorder.post(api, cm, reason="Synced", message="ok")
    assert third is not None
    assert third["metadata"]["name"] == again["metadata"]["name"]


async def test_events_of_one_object_written_at_once_are_counted_in_order(
        api: ApiClient, server: EmbeddedApiServer, recorder: EventRecorder) -> None:
    cm = await make_cm(api)
    await asyncio.gather(*(recorder.post(api, cm, reason="Synced", message="ok")
                           for _ in range(5)))
    [stored] = await events_of(api, cm)
    assert stored["count"] == 5
    assert writes(server) == ["create"] + ["patch"] * 4
    assert recorder._locks == {}  # a lock only while an object's Events are written


async def test_recorded_events_are_posted_in_the_background_in_order(
        api: ApiClient, recorder: EventRecorder) -> None:
    cm = await make_cm(api)
    for n in range(3):
        recorder.record(api, cm, type="Normal", reason="Step", message=f"step {n}")
    # From another thread: handed over to the loop (before the executor's own answer is).
    await asyncio.get_running_loop().run_in_executor(None, functools.partial(
        recorder.record, api, cm, type="Warning", reason="Step", message="from a thread"))
    await recorder.flush()
    events = await events_of(api, cm)
    assert {e["message"] for e in events} == {"step 0", "step 1", "step 2", "from a thread"}


async def test_a_background_failure_is_logged_not_raised(
        api: ApiClient, server: EmbeddedApiServer, recorder: EventRecorder,
        caplog: pytest.LogCaptureFixture) -> None:
    cm = await make_cm(api)
    server.faults.fail("create", "events", 403)
    recorder.record(api, cm, type="Warning", reason="Failed", message="boom")
    await recorder.flush()
    assert "failed to post an Event (Warning Failed: boom)" in caplog.text
    assert [r.name for r in caplog.records] == ["kopf_informers.event"]


async def test_a_custom_correlator_sets_the_limits(api: ApiClient, clock: FakeClock) -> None:
    recorder = EventRecorder(correlator=EventCorrelator(clock=clock, spam_burst=1))
    cm = await make_cm(api)
    assert await recorder.post(api, cm, reason="A", message="m") is not None
    assert await recorder.post(api, cm, reason="B", message="m") is None
