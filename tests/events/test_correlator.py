"""The Event correlator alone, on a fake clock: client-go's deduplication, aggregation and spam
filter (``tools/record/events_cache.go``), with bounded memory."""

from __future__ import annotations

import dataclasses

import pytest
from _helpers.clocks import FakeClock

from kopf_informers import EventCorrelator
from kopf_informers._correlator import (
    AGGREGATE_INTERVAL,
    AGGREGATE_MAX_EVENTS,
    MAX_LRU_CACHE_ENTRIES,
    SPAM_BURST,
    SPAM_QPS,
    Correlation,
    EventIdentity,
)
from kopf_informers.errors import InvalidArgumentError

EVENT = EventIdentity(component="kopf-informers", host="", api_version="v1", kind="ConfigMap",
                      namespace="default", name="cm1", uid="u1", type="Warning",
                      reason="Failed", message="boom")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def written(correlator: EventCorrelator, event: EventIdentity, name: str = "cm1-abcde",
            ) -> Correlation:
    """Correlate, and tell the correlator the write succeeded as ``name``."""
    correlation = correlator.correlate(event)
    assert correlation is not None
    correlator.written(correlation, correlation.name or name)
    return correlation


def test_the_defaults_are_client_gos() -> None:
    assert (MAX_LRU_CACHE_ENTRIES, AGGREGATE_MAX_EVENTS, AGGREGATE_INTERVAL) == (4096, 10, 600)
    assert (SPAM_BURST, SPAM_QPS) == (25, 1 / 300)


def test_identical_events_are_counted_up_on_the_first_ones_name(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock)
    first = written(correlator, EVENT, name="cm1-x7k2q")
    assert (first.name, first.count, first.message) == (None, 1, "boom")
    for count in range(2, 13):
        again = written(correlator, EVENT)
        assert (again.name, again.count, again.message) == ("cm1-x7k2q", count, "boom")


@pytest.mark.parametrize("field", ["component", "host", "uid", "type", "reason", "message"])
def test_an_event_differing_in_any_identity_field_is_a_new_event(
        clock: FakeClock, field: str) -> None:
    correlator = EventCorrelator(clock=clock)
    written(correlator, EVENT)
    other = correlator.correlate(dataclasses.replace(EVENT, **{field: "other"}))
    assert other is not None
    assert (other.name, other.count) == (None, 1)


def test_a_tenth_similar_message_is_combined_and_later_ones_counted_on_it(
        clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock)
    for n in range(9):
        correlation = written(correlator, dataclasses.replace(EVENT, message=f"boom {n}"))
        assert (correlation.name, correlation.message) == (None, f"boom {n}")
    combined = written(correlator, dataclasses.replace(EVENT, message="boom 9"),
                       name="cm1-combined")
    assert (combined.name, combined.count) == (None, 1)
    assert combined.message == "(combined from similar events): boom 9"
    later = written(correlator, dataclasses.replace(EVENT, message="boom 10"))
    assert (later.name, later.count) == ("cm1-combined", 2)
    assert later.message == "(combined from similar events): boom 10"


def test_similar_events_further_apart_than_the_interval_start_afresh(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock, aggregate_max_events=3)
    written(correlator, dataclasses.replace(EVENT, message="a"))
    written(correlator, dataclasses.replace(EVENT, message="b"))
    clock.now += 600.5  # past the interval: the similar ones seen so far are forgotten
    fresh = written(correlator, dataclasses.replace(EVENT, message="c"))
    assert fresh.message == "c"
    clock.now += 600.0  # exactly the interval: still similar
    assert written(correlator, dataclasses.replace(EVENT, message="d")).message == "d"
    assert written(correlator, dataclasses.replace(EVENT, message="e")).message.startswith(
        "(combined from similar events): ")


def test_an_object_may_burst_25_events_then_one_every_5_minutes(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock)
    events = [dataclasses.replace(EVENT, reason=f"R{n}") for n in range(40)]
    assert all(correlator.correlate(event) is not None for event in events[:25])
    assert correlator.correlate(events[25]) is None
    assert correlator.correlate(EVENT) is None  # a count-up costs a token as well
    clock.now += 299.0
    assert correlator.correlate(events[26]) is None
    clock.now += 1.0
    assert correlator.correlate(events[27]) is not None
    assert correlator.correlate(events[28]) is None
    # Another object (or another source) has a bucket of its own.
    assert correlator.correlate(dataclasses.replace(EVENT, name="cm2", uid="u2")) is not None
    assert correlator.correlate(dataclasses.replace(EVENT, component="other")) is not None


def test_dropped_occurrences_still_count_in_the_next_written_one(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock, spam_burst=2)
    written(correlator, EVENT)
    written(correlator, EVENT)
    assert correlator.correlate(EVENT) is None
    assert correlator.correlate(EVENT) is None
    clock.now += 300.0
    assert written(correlator, EVENT).count == 5


def test_memory_is_bounded_the_least_recently_used_going_first(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock, cache_size=2)
    a, b, c = (dataclasses.replace(EVENT, name=n, uid=n) for n in "abc")
    written(correlator, a, name="a-1")
    written(correlator, b, name="b-1")
    assert written(correlator, a).name == "a-1"  # a is now the most recent
    written(correlator, c, name="c-1")  # b goes
    assert written(correlator, a).name == "a-1"
    assert written(correlator, b).name is None  # forgotten: posted anew, not counted up
    caches = (correlator._similar, correlator._seen, correlator._buckets)
    assert all(len(cache) <= 2 for cache in caches)


def test_a_name_learnt_after_a_failed_first_write_is_kept(clock: FakeClock) -> None:
    correlator = EventCorrelator(clock=clock)
    assert correlator.correlate(EVENT) is not None  # its write failed: never told
    second = written(correlator, EVENT, name="cm1-late")
    assert (second.name, second.count) == (None, 2)  # created, with the count so far
    assert written(correlator, EVENT).name == "cm1-late"


@pytest.mark.parametrize("kwargs", [
    pytest.param({"cache_size": 0}, id="cache_size"),
    pytest.param({"aggregate_max_events": 0}, id="max_events"),
    pytest.param({"aggregate_interval": 0}, id="interval"),
    pytest.param({"spam_burst": 0}, id="burst"),
    pytest.param({"spam_qps": 0}, id="qps"),
])
def test_a_limit_that_is_not_positive_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError, match="event correlator"):
        EventCorrelator(**kwargs)  # type: ignore[arg-type]
