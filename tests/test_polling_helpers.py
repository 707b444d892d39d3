"""The plugin's bounded polls, ``kopf_informers.testing.eventually`` and ``wait_until``.

Virtual time (looptime) for the async one; the blocking one is driven with a zero timeout, so
that no test sleeps.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from kopf_informers.testing import eventually, wait_until


@pytest.mark.looptime
async def test_eventually_returns_the_first_truthy_result_of_a_sync_or_async_condition() -> None:
    calls = itertools.count(1)
    assert await eventually(lambda: next(calls) >= 3 and "third") == "third"

    async def ready() -> int:
        return 7

    assert await eventually(ready) == 7


@pytest.mark.looptime
async def test_eventually_fails_naming_what_it_waited_for_and_how_long() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match=r"^not within 5 s: the cache is synced$"):
        await eventually(lambda: False, "the cache is synced", timeout=5)
    assert 5 <= loop.time() - started < 5.1


@pytest.mark.looptime
async def test_eventually_names_the_condition_when_not_told_what() -> None:
    def web_is_ready() -> bool:
        return False

    with pytest.raises(AssertionError, match="web_is_ready"):
        await eventually(web_is_ready, timeout=1)


def test_wait_until_returns_at_once_when_the_condition_holds() -> None:
    assert wait_until(lambda: ["x"], "a list", timeout=0) == ["x"]


def test_wait_until_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"^not within 0 s: the deployment is ready$"):
        wait_until(lambda: None, "the deployment is ready", timeout=0)
