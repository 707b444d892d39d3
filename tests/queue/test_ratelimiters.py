"""Rate limiters as pure state machines: exact schedules, the token bucket on a fake clock."""

from __future__ import annotations

import math
from typing import Any

import pytest
from _helpers.clocks import FakeClock

from kopf_informers._ratelimiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    JitteredRateLimiter,
    MaxOfRateLimiter,
    MaxWaitRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from kopf_informers.errors import InvalidArgumentError


class Constant:
    """A limiter that always answers the same delay and counts its calls."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.counts: dict[str, int] = {}

    def when(self, item: str) -> float:
        self.counts[item] = self.counts.get(item, 0) + 1
        return self.delay

    def forget(self, item: str) -> None:
        self.counts.pop(item, None)

    def num_requeues(self, item: str) -> int:
        return self.counts.get(item, 0)


# -- exponential ---------------------------------------------------------------------------------

def test_exponential_follows_5ms_times_2_to_the_n_exactly_and_counts_requeues() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    for n in range(18):
        assert limiter.num_requeues("a") == n
        assert limiter.when("a") == 0.005 * 2**n
    assert 0.005 * 2**17 < 1000.0 < 0.005 * 2**18


def test_exponential_is_capped_at_1000_seconds_for_ever_after() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(2000)]  # far past a float's exponent range
    assert delays[17] == 0.005 * 2**17
    assert set(delays[18:]) == {1000.0}
    assert limiter.num_requeues("a") == 2000


def test_exponential_counts_each_item_on_its_own() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    assert limiter.when("b") == 0.005
    assert (limiter.num_requeues("a"), limiter.num_requeues("b")) == (3, 1)


def test_exponential_forget_resets_the_count_to_zero() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        base=1.0, cap=60.0,
    )
    assert [limiter.when("a") for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    limiter.forget("a")
    limiter.forget("never-seen")
    assert limiter.num_requeues("a") == 0
    assert [limiter.when("a") for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]


@pytest.mark.parametrize(("base", "cap"), [
    pytest.param(-0.1, 1.0, id="negative-base"),
    pytest.param(2.0, 1.0, id="cap-below-base"),
    pytest.param(math.nan, 1.0, id="nan-base"),
    pytest.param(0.1, math.nan, id="nan-cap"),
])
def test_exponential_rejects_bad_arguments(base: float, cap: float) -> None:
    with pytest.raises(InvalidArgumentError, match="base"):
        ItemExponentialFailureRateLimiter(base=base, cap=cap)


# -- token bucket --------------------------------------------------------------------------------

def test_bucket_allows_a_burst_of_100_then_10_per_second() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(clock=clock)
    assert [limiter.when(f"k{i}") for i in range(100)] == [0.0] * 100
    delays = [limiter.when(f"x{i}") for i in range(5)]
    assert delays == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_bucket_refills_at_qps_while_time_passes() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=10, burst=100, clock=clock)
    for i in range(100):
        limiter.when(str(i))
    clock.step(1.0)  # 10 tokens back
    assert [limiter.when("a") for _ in range(10)] == [0.0] * 10
    assert limiter.when("a") == pytest.approx(0.1)
    clock.step(60.0)  # refills to the burst, never beyond
    assert [limiter.when("a") for _ in range(100)] == [0.0] * 100
    assert limiter.when("a") == pytest.approx(0.1)


def test_bucket_reserves_tokens_so_delays_queue_up_and_pay_down_with_time() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=2, burst=1, clock=clock)
    assert limiter.when("a") == 0.0
    assert limiter.when("a") == pytest.approx(0.5)
    assert limiter.when("a") == pytest.approx(1.0)
    clock.step(1.0)  # the two reserved tokens are now paid
    assert limiter.when("a") == pytest.approx(0.5)


def test_bucket_ignores_a_clock_that_steps_back() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=1, burst=1, clock=clock)
    assert limiter.when("a") == 0.0
    clock.step(-10.0)
    assert limiter.when("a") == pytest.approx(1.0)


def test_bucket_neither_counts_nor_forgets_items() -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(clock=FakeClock())
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_bucket_with_infinite_qps_never_delays() -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=math.inf, burst=1, clock=FakeClock())
    assert {limiter.when("a") for _ in range(1000)} == {0.0}


@pytest.mark.parametrize(("qps", "burst"), [
    pytest.param(0.0, 100, id="zero-qps"),
    pytest.param(-1.0, 100, id="negative-qps"),
    pytest.param(math.nan, 100, id="nan-qps"),
    pytest.param(10.0, 0, id="zero-burst"),
])
def test_bucket_rejects_bad_arguments(qps: float, burst: int) -> None:
    with pytest.raises(InvalidArgumentError, match="qps"):
        BucketRateLimiter(qps=qps, burst=burst)


# -- combinators ---------------------------------------------------------------------------------

def test_max_of_picks_the_larger_delay_and_asks_every_limiter() -> None:
    short, long = Constant(1.0), Constant(5.0)
    limiter: MaxOfRateLimiter[str] = MaxOfRateLimiter(short, long)
    assert limiter.when("a") == 5.0
    long.delay = 0.5
    assert limiter.when("a") == 1.0
    assert short.counts == long.counts == {"a": 2}


def test_max_of_reports_the_largest_count_and_forgets_everywhere() -> None:
    first, second = Constant(0.0), Constant(0.0)
    limiter: MaxOfRateLimiter[str] = MaxOfRateLimiter(first, second)
    limiter.when("a")
    second.when("a")
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert first.counts == second.counts == {}
    assert limiter.num_requeues("a") == 0


def test_max_of_needs_at_least_one_limiter() -> None:
    with pytest.raises(InvalidArgumentError, match="at least one"):
        MaxOfRateLimiter()


def test_fast_slow_switches_to_slow_after_max_fast_attempts() -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(
        fast=0.5, slow=10.0, max_fast_attempts=3,
    )
    assert [limiter.when("a") for _ in range(5)] == [0.5, 0.5, 0.5, 10.0, 10.0]
    assert limiter.when("b") == 0.5
    assert limiter.num_requeues("a") == 5
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.5


def test_fast_slow_with_zero_fast_attempts_is_always_slow() -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(
        fast=0.5, slow=10.0, max_fast_attempts=0,
    )
    assert limiter.when("a") == 10.0


@pytest.mark.parametrize("kwargs", [
    pytest.param({"fast": -1.0, "slow": 1.0, "max_fast_attempts": 1}, id="negative-fast"),
    pytest.param({"fast": 1.0, "slow": -1.0, "max_fast_attempts": 1}, id="negative-slow"),
    pytest.param({"fast": 1.0, "slow": 1.0, "max_fast_attempts": -1}, id="negative-attempts"),
])
def test_fast_slow_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="fast-slow"):
        ItemFastSlowRateLimiter(**kwargs)


def test_max_wait_caps_another_limiters_delays_and_forwards_the_rest() -> None:
    inner: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        base=1.0, cap=100.0,
    )
    limiter: MaxWaitRateLimiter[str] = MaxWaitRateLimiter(inner, max_wait=3.0)
    assert [limiter.when("a") for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]
    assert limiter.num_requeues("a") == 4
    limiter.forget("a")
    assert inner.num_requeues("a") == 0
    with pytest.raises(InvalidArgumentError, match="max_wait"):
        MaxWaitRateLimiter(inner, max_wait=-1.0)


@pytest.mark.parametrize(("random", "expected"), [
    pytest.param(0.0, 4.0, id="lowest"),
    pytest.param(0.5, 5.0, id="middle"),
    pytest.param(0.999999, 5.999996, id="highest"),
])
def test_jitter_adds_up_to_the_given_fraction(random: float, expected: float) -> None:
    limiter: JitteredRateLimiter[str] = JitteredRateLimiter(
        Constant(4.0), jitter=0.5, rng=lambda: random,
    )
    assert limiter.when("a") == pytest.approx(expected)


def test_jitter_stays_within_its_bounds_with_a_real_random_source() -> None:
    inner: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    limiter: JitteredRateLimiter[str] = JitteredRateLimiter(inner)  # jitter 0.1
    for n in range(30):
        nominal = min(0.005 * 2**n, 1000.0)
        assert nominal <= limiter.when("a") < nominal * 1.1
    assert limiter.num_requeues("a") == 30
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_jitter_rejects_a_negative_fraction() -> None:
    with pytest.raises(InvalidArgumentError, match="jitter"):
        JitteredRateLimiter(Constant(1.0), jitter=-0.1)


# -- the default ---------------------------------------------------------------------------------

def test_default_controller_limiter_is_the_max_of_exponential_and_bucket() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter(clock=clock)
    exponential, bucket = limiter.limiters
    assert isinstance(exponential, ItemExponentialFailureRateLimiter)
    assert (exponential.base, exponential.cap) == (0.005, 1000.0)
    assert isinstance(bucket, BucketRateLimiter)
    assert (bucket.qps, bucket.burst) == (10.0, 100)


def test_default_controller_limiter_is_exponential_per_item_until_the_bucket_runs_dry() -> None:
    clock = FakeClock()
    limiter: RateLimiter[str] = default_controller_rate_limiter(clock=clock)
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    assert [limiter.when(f"k{i}") for i in range(97)] == [0.005] * 97  # 100 tokens spent
    assert limiter.when("b") == pytest.approx(0.1)  # the bucket's delay beats 5 ms
    assert limiter.when("a") == pytest.approx(0.2)  # and 40 ms for "a"'s 4th failure
    assert limiter.num_requeues("a") == 4
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
