"""The workqueue: de-duplication, exclusive processing, delays, rate limits, shutdown, metrics.

Time is virtual (looptime): delays take no real time, and the loop's clock says exactly when an
item came out of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kopf_informers._ratelimiters import (
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    default_controller_rate_limiter,
)
from kopf_informers._workqueue import (
    AsyncRateLimitingQueue,
    DelayingQueue,
    RateLimitingQueue,
    WorkQueue,
    WorkQueueMetrics,
    WorkQueueStats,
)
from kopf_informers.errors import InvalidArgumentError, KopfInformersError, QueueShutDown

pytestmark = pytest.mark.looptime

Queue = AsyncRateLimitingQueue[str]


def now() -> float:
    return asyncio.get_running_loop().time()


def exponential_queue(**kwargs: Any) -> Queue:
    return AsyncRateLimitingQueue(ItemExponentialFailureRateLimiter(), **kwargs)


async def take_all(queue: Queue) -> list[str]:
    """Take (and finish) every item that is ready now, without waiting for more."""
    taken: list[str] = []
    while queue._queue:
        item = await queue.get()
        queue.done(item)
        taken.append(item)
    return taken


async def get_at(queue: Queue) -> tuple[str, float]:
    item = await queue.get()
    return item, now()


async def blocks(queue: Queue) -> bool:
    """Whether ``get()`` waits now (checked with a getter that is then cancelled)."""
    getter = asyncio.create_task(queue.get())
    for _ in range(3):
        await asyncio.sleep(0)
    waiting = not getter.done()
    getter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await getter
    return waiting


# -- the contracts -------------------------------------------------------------------------------

def test_the_implementation_fulfils_every_contract() -> None:
    queue: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue()
    as_work: WorkQueue[str] = queue
    as_delaying: DelayingQueue[str] = queue
    as_rate_limiting: RateLimitingQueue[str] = queue
    as_stats: WorkQueueStats = queue
    views: tuple[object, ...] = (as_work, as_delaying, as_rate_limiting, as_stats)
    assert all(view is queue for view in views)
    assert isinstance(queue.rate_limiter, type(default_controller_rate_limiter()))
    assert "depth=0" in repr(queue)


def test_queue_shut_down_is_a_library_error() -> None:
    assert issubclass(QueueShutDown, KopfInformersError)


# -- de-duplication, order, exclusive processing ------------------------------------------------

async def test_an_item_added_twice_before_a_worker_takes_it_is_handed_out_once() -> None:
    queue = exponential_queue()
    for item in ["a", "b", "a", "a", "b"]:
        queue.add(item)
    assert len(queue) == queue.depth == 2
    assert await take_all(queue) == ["a", "b"]
    assert len(queue) == 0


async def test_items_are_handed_out_in_the_order_they_were_first_added() -> None:
    queue = exponential_queue()
    for item in ["c", "a", "b", "a", "d", "c"]:
        queue.add(item)
    assert await take_all(queue) == ["c", "a", "b", "d"]


async def test_an_item_added_while_being_processed_is_queued_once_at_done() -> None:
    queue = exponential_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert queue.depth == 1  # pending: it waits for its current run to finish
    assert await blocks(queue)  # not handed to a second worker meanwhile
    queue.done("a")
    assert await queue.get() == "a"
    queue.done("a")
    assert await blocks(queue)
    assert queue.depth == 0


async def test_a_readded_item_goes_to_the_back_of_the_queue_at_done() -> None:
    queue = exponential_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("b")
    queue.done("a")
    assert await take_all(queue) == ["b", "a"]


async def test_concurrent_workers_never_process_an_item_in_parallel_and_lose_no_readd() -> None:
    queue = exponential_queue()
    runs: list[tuple[str, float, float]] = []

    async def worker() -> None:
        while True:
            try:
                item = await queue.get()
            except QueueShutDown:
                return
            started = now()
            await asyncio.sleep(1.0)
            runs.append((item, started, now()))
            queue.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for item in ["a", "b", "c"]:
        queue.add(item)
    await asyncio.sleep(0.5)  # all three are being processed now, by three workers
    queue.add("a")
    queue.add("b")
    queue.add("a")
    await asyncio.sleep(0.1)
    assert queue.depth == 2
    await queue.shut_down_with_drain(timeout=10)
    await asyncio.gather(*workers)

    assert sorted(item for item, _, _ in runs) == ["a", "a", "b", "b", "c"]
    for item in "abc":
        intervals = sorted((start, end) for name, start, end in runs if name == item)
        for (_, previous_end), (next_start, _) in itertools.pairwise(intervals):
            assert next_start >= previous_end  # never two runs of one item at once
    assert [(i, s) for i, s, _ in runs if s >= 1.0] == [("a", 1.0), ("b", 1.0)]


async def test_get_waits_until_an_item_is_added() -> None:
    queue = exponential_queue()
    getter = asyncio.create_task(get_at(queue))
    await asyncio.sleep(7)
    assert not getter.done()
    queue.add("a")
    assert await getter == ("a", 7.0)


async def test_one_add_wakes_one_of_several_waiting_getters() -> None:
    queue = exponential_queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.add("a")
    await asyncio.sleep(1)
    assert [g.result() for g in getters if g.done()] == ["a"]
    queue.add("b")
    queue.add("c")
    assert sorted(await asyncio.gather(*[g for g in getters if not g.done()])) == ["b", "c"]


async def test_a_cancelled_getter_loses_no_item() -> None:
    queue = exponential_queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    assert await second == "a"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_done_for_an_item_not_being_processed_is_an_error() -> None:
    queue = exponential_queue(name="q")
    queue.add("a")
    with pytest.raises(InvalidArgumentError, match="not being processed"):
        queue.done("a")
    assert await queue.get() == "a"
    queue.done("a")
    with pytest.raises(InvalidArgumentError, match="'q'"):
        queue.done("a")


# -- add_after -----------------------------------------------------------------------------------

async def test_add_after_hands_items_out_when_their_delays_end_in_time_order() -> None:
    queue = exponential_queue()
    queue.add_after("slow", 30)
    queue.add_after("fast", 10)
    queue.add_after("middle", 20)
    assert len(queue) == 0
    assert [await get_at(queue) for _ in range(3)] == [
        ("fast", 10.0), ("middle", 20.0), ("slow", 30.0),
    ]


async def test_add_after_of_a_waiting_item_keeps_the_earlier_time() -> None:
    queue = exponential_queue()
    queue.add_after("a", 10)
    queue.add_after("a", 20)  # later: ignored
    queue.add_after("b", 30)
    queue.add_after("b", 5)  # earlier: wins, and re-arms the timer
    assert await get_at(queue) == ("b", 5.0)
    queue.done("b")
    assert await get_at(queue) == ("a", 10.0)
    queue.done("a")
    assert await blocks(queue)
    await asyncio.sleep(100)  # the superseded times bring nothing more
    assert len(queue) == 0


@pytest.mark.parametrize("seconds", [
    pytest.param(0, id="zero"), pytest.param(-5.0, id="negative"),
])
async def test_add_after_with_no_delay_adds_at_once(seconds: float) -> None:
    queue = exponential_queue()
    queue.add_after("a", seconds)
    assert len(queue) == 1
    assert await get_at(queue) == ("a", 0.0)


async def test_add_after_forever_never_adds() -> None:
    queue = exponential_queue()
    queue.add_after("a", float("inf"))
    await asyncio.sleep(10**6)
    assert len(queue) == 0


async def test_add_after_rejects_nan() -> None:
    queue = exponential_queue()
    with pytest.raises(InvalidArgumentError, match="seconds"):
        queue.add_after("a", float("nan"))


async def test_add_after_of_a_queued_item_dedups_when_it_arrives_and_queues_after_done() -> None:
    queue = exponential_queue()
    queue.add("a")
    queue.add_after("a", 5)
    await asyncio.sleep(6)
    assert len(queue) == 1  # arrived while still queued: collapsed
    assert await take_all(queue) == ["a"]
    queue.add_after("a", 5)
    queue.add("a")  # an add does not cancel the wait: handed out now and once more later
    assert await get_at(queue) == ("a", 6.0)
    queue.done("a")
    assert await get_at(queue) == ("a", 11.0)


async def test_many_delays_are_served_in_order_by_one_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def spy(when: float, callback: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        timers.append(call_at(when, callback, *args))
        return timers[-1]

    monkeypatch.setattr(loop, "call_at", spy)
    queue = exponential_queue()
    delays = {f"k{i}": float((i * 37) % 101 + 1) for i in range(101)}
    for item, delay in delays.items():
        queue.add_after(item, delay)
    assert len([timer for timer in timers if not timer.cancelled()]) == 1
    out = [await get_at(queue) for _ in delays]
    assert out == sorted(delays.items(), key=lambda pair: pair[1])


# -- rate limiting -------------------------------------------------------------------------------

async def test_add_rate_limited_follows_the_exact_exponential_schedule_up_to_the_cap() -> None:
    queue = exponential_queue()
    intervals = []
    for n in range(20):
        assert queue.num_requeues("a") == n
        started = now()
        queue.add_rate_limited("a")
        assert await queue.get() == "a"
        intervals.append(now() - started)
        queue.done("a")
    expected = [min(0.005 * 2**n, 1000.0) for n in range(20)]
    assert intervals == pytest.approx(expected, abs=1e-6)


async def test_forget_resets_the_failure_count_so_the_next_retry_is_quick_again() -> None:
    queue = exponential_queue()
    for _ in range(5):
        queue.add_rate_limited("a")
        assert await queue.get() == "a"
        queue.done("a")
    assert queue.num_requeues("a") == 5
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    started = now()
    queue.add_rate_limited("a")
    assert await queue.get() == "a"
    assert now() - started == pytest.approx(0.005, abs=1e-6)


async def test_the_rate_limiter_is_pluggable() -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(
        fast=1.0, slow=60.0, max_fast_attempts=2,
    )
    queue: Queue = AsyncRateLimitingQueue(limiter)
    times = []
    for _ in range(3):
        started = now()
        queue.add_rate_limited("a")
        await queue.get()
        queue.done("a")
        times.append(now() - started)
    assert times == pytest.approx([1.0, 1.0, 60.0], abs=1e-6)


async def test_the_default_limiter_retries_on_the_exponential_schedule() -> None:
    queue: Queue = AsyncRateLimitingQueue()  # the bucket is far from empty here
    started = now()
    queue.add_rate_limited("a")
    queue.add_rate_limited("b")
    queue.add_rate_limited("a")  # 10 ms: the earlier 5 ms wins
    assert await get_at(queue) == pytest.approx(("a", started + 0.005))
    assert await get_at(queue) == pytest.approx(("b", started + 0.005))
    assert queue.num_requeues("a") == 2


async def test_the_default_limiters_bucket_runs_on_the_loops_clock() -> None:
    queue: Queue = AsyncRateLimitingQueue()
    for i in range(100):
        queue.add_rate_limited(f"k{i}")  # the burst: 5 ms each
    started = now()
    queue.add_rate_limited("late")  # the bucket is empty: 0.1 s
    taken = [await queue.get() for _ in range(101)]
    assert taken[-1] == "late"
    assert now() - started == pytest.approx(0.1, abs=1e-6)
    await asyncio.sleep(10)  # virtual time refills the bucket
    started = now()
    queue.add_rate_limited("fresh")
    assert await queue.get() == "fresh"
    assert now() - started == pytest.approx(0.005, abs=1e-6)


# -- shutdown ------------------------------------------------------------------------------------

async def test_shut_down_wakes_waiting_getters_and_they_raise() -> None:
    queue = exponential_queue(name="q")
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(1)
    queue.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(result, QueueShutDown) for result in results)
    assert "'q'" in str(results[0])
    assert queue.shutting_down


async def test_shut_down_drops_queued_and_waiting_items_and_ignores_new_ones() -> None:
    queue = exponential_queue()
    queue.add("a")
    queue.add_after("b", 5)
    queue.shut_down()
    queue.add("c")
    queue.add_after("d", 1)
    queue.add_rate_limited("e")
    await asyncio.sleep(10)
    assert len(queue) == 0
    assert queue.num_requeues("e") == 0
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shut_down_lets_in_flight_items_call_done_without_requeueing_them() -> None:
    queue = exponential_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.shut_down()
    queue.done("a")
    assert len(queue) == 0
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_drain_hands_out_what_is_queued_then_get_raises() -> None:
    queue = exponential_queue()
    for item in "abc":
        queue.add(item)
    drain = asyncio.create_task(queue.shut_down_with_drain())
    await asyncio.sleep(0)
    assert queue.shutting_down
    queue.add("late")  # ignored
    assert await take_all(queue) == ["a", "b", "c"]
    with pytest.raises(QueueShutDown):
        await queue.get()
    await drain


async def test_drain_waits_for_in_flight_items_to_be_done() -> None:
    queue = exponential_queue()
    queue.add("a")
    queue.add("b")
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    drain = asyncio.create_task(queue.shut_down_with_drain(timeout=60))
    await asyncio.sleep(3)
    queue.done("a")
    await asyncio.sleep(4)
    assert not drain.done()
    queue.done("b")
    await drain
    assert now() == pytest.approx(7.0)


async def test_drain_processes_an_item_readded_during_its_run_before_finishing() -> None:
    queue = exponential_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    drain = asyncio.create_task(queue.shut_down_with_drain())
    getter = asyncio.create_task(queue.get())  # waits: "a" comes back at done()
    await asyncio.sleep(1)
    assert not getter.done()
    queue.done("a")
    assert await getter == "a"
    assert not drain.done()
    queue.done("a")
    await drain
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_drain_of_an_idle_queue_returns_at_once_and_wakes_getters() -> None:
    queue = exponential_queue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(1)
    await queue.shut_down_with_drain(timeout=5)
    assert now() == 1.0
    with pytest.raises(QueueShutDown):
        await getter


async def test_drain_times_out_then_shuts_down_immediately() -> None:
    queue = exponential_queue(name="q")
    queue.add("a")
    queue.add("b")
    assert await queue.get() == "a"
    with pytest.raises(TimeoutError, match=r"'q' not drained within 5 s \(1 in flight, 1 queued"):
        await queue.shut_down_with_drain(timeout=5)
    assert now() == pytest.approx(5.0)
    assert len(queue) == 0  # "b" dropped
    with pytest.raises(QueueShutDown):
        await queue.get()
    queue.done("a")  # the stuck worker may still finish


async def test_several_drains_all_return_when_the_last_item_is_done() -> None:
    queue = exponential_queue()
    queue.add("a")
    assert await queue.get() == "a"
    drains = [asyncio.create_task(queue.shut_down_with_drain()) for _ in range(2)]
    await asyncio.sleep(2)
    queue.done("a")
    await asyncio.gather(*drains)
    assert now() == pytest.approx(2.0)


# -- metrics -------------------------------------------------------------------------------------

class RecordingMetrics:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stats: WorkQueueStats | None = None

    def attach(self, queue: WorkQueueStats) -> None:
        self.stats = queue

    def add(self, item: object) -> None:
        self.calls.append(("add", item))

    def get(self, item: object, waited: float) -> None:
        self.calls.append(("get", item, round(waited, 6)))

    def done(self, item: object, worked: float) -> None:
        self.calls.append(("done", item, round(worked, 6)))

    def retry(self) -> None:
        self.calls.append(("retry",))


async def test_metrics_hook_hears_adds_gets_dones_and_retries_with_durations() -> None:
    metrics = RecordingMetrics()
    hook: WorkQueueMetrics[str] = metrics
    queue = exponential_queue(metrics=hook)
    assert metrics.stats is queue
    queue.add("a")
    queue.add("a")  # collapsed: not an add
    await asyncio.sleep(2)
    assert await queue.get() == "a"
    await asyncio.sleep(3)
    queue.add("a")  # pending while processed: an add
    queue.done("a")
    assert await queue.get() == "a"
    queue.done("a")
    queue.add_rate_limited("b")
    queue.add_after("c", 0)
    await asyncio.sleep(1)
    assert metrics.calls == [
        ("add", "a"), ("get", "a", 2.0), ("add", "a"), ("done", "a", 3.0), ("get", "a", 0.0),
        ("done", "a", 0.0), ("retry",), ("retry",), ("add", "c"), ("add", "b"),
    ]


async def test_metrics_can_compute_depth_and_unfinished_work_on_demand() -> None:
    metrics = RecordingMetrics()
    queue = exponential_queue(metrics=metrics)
    stats = metrics.stats
    assert stats is not None
    assert (stats.unfinished_work_seconds(), stats.longest_running_processor_seconds()) == (0, 0)
    for item in "abc":
        queue.add(item)
    assert stats.depth == 3
    await queue.get()
    await asyncio.sleep(4)
    await queue.get()
    await asyncio.sleep(1)
    assert stats.depth == 1
    assert stats.unfinished_work_seconds() == pytest.approx(5.0 + 1.0)
    assert stats.longest_running_processor_seconds() == pytest.approx(5.0)
    queue.done("a")
    assert stats.longest_running_processor_seconds() == pytest.approx(1.0)
    queue.done("b")
    assert stats.unfinished_work_seconds() == 0.0


# -- any interleaving keeps the invariants ------------------------------------------------------

Op = tuple[str, str]
ops_strategy = st.lists(
    st.tuples(st.sampled_from(["add", "get", "done"]), st.sampled_from("abcd")), max_size=60,
)


def check_invariants(queue: Queue) -> None:
    queued = list(queue._queue)
    assert len(queued) == len(set(queued))  # never queued twice
    assert set(queued) <= queue._dirty
    assert not set(queued) & set(queue._processing)  # never queued while being processed
    assert queue._dirty - set(queued) <= set(queue._processing)  # pending ones are in flight
    assert len(queue) == len(queue._dirty)


async def run_against_a_model(ops: list[Op]) -> None:
    queue = exponential_queue()
    queued: list[str] = []
    dirty: set[str] = set()
    processing: set[str] = set()
    for op, item in ops:
        if op == "add":
            queue.add(item)
            if item not in dirty:
                dirty.add(item)
                if item not in processing:
                    queued.append(item)
        elif op == "get":
            if not queued:
                assert await blocks(queue)
            else:
                expected = queued.pop(0)
                assert await queue.get() == expected
                dirty.discard(expected)
                processing.add(expected)
        elif item in processing:
            queue.done(item)
            processing.discard(item)
            if item in dirty:
                queued.append(item)
        else:
            with pytest.raises(InvalidArgumentError):
                queue.done(item)
        check_invariants(queue)
        assert list(queue._queue) == queued
        assert set(queue._processing) == processing

    # Then drain: everything pending is handed out exactly once more, and the drain completes.
    drain = asyncio.create_task(queue.shut_down_with_drain(timeout=1))
    for item in sorted(processing):
        queue.done(item)
    drained: list[str] = []
    with contextlib.suppress(QueueShutDown):
        while True:
            drained.append(await queue.get())
            queue.done(drained[-1])
    await drain
    assert sorted(drained) == sorted(dirty)


@settings(deadline=None, max_examples=200)
@given(ops=ops_strategy)
def test_any_interleaving_of_add_get_and_done_keeps_the_invariants(ops: list[Op]) -> None:
    asyncio.run(run_against_a_model(ops))
