"""Watch streams that lag behind the store (``faults.delay_watches``), observed by a raw client.

The server runs on the test's own loop and the client reads the watch's JSON lines with aiohttp,
timing each on the loop's clock. Delays are asserted from below (the server must not send
early); from above only within generous bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kopf_informers.testing.apiserver import EmbeddedApiServer

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.1)

TIMEOUT = 10.0  # seconds: the longest wait for any line of a watch
CMS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"


@pytest.fixture
async def session(server: EmbeddedApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=server.url, timeout=timeout) as session:
        yield session


@pytest.fixture
async def watches() -> AsyncIterator[contextlib.AsyncExitStack]:
    """Where the test's watches are opened; each is closed at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:
        yield stack


class Watch:
    """One open watch: its lines, each with the loop time it arrived."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = TIMEOUT) -> tuple[float, dict[str, Any]]:
        line = await asyncio.wait_for(self.response.content.readline(), timeout)
        assert line, "the watch ended"
        return asyncio.get_running_loop().time(), orjson.loads(line)

    async def until(self, name: str) -> tuple[float, list[dict[str, Any]]]:
        """Lines up to the first event of object ``name``: its arrival and every line so far."""
        lines = []
        while True:
            arrived, line = await self.next()
            lines.append(line)
            if line["type"] != "BOOKMARK" and line["object"]["metadata"]["name"] == name:
                return arrived, lines


async def open_watch(watches: contextlib.AsyncExitStack, session: aiohttp.ClientSession,
                     path: str, rv: str) -> Watch:
    params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
              "timeoutSeconds": "60"}
    response = await watches.enter_async_context(session.get(path, params=params))
    assert response.status == 200
    return Watch(response)


async def create(session: aiohttp.ClientSession, path: str, name: str) -> int:
    async with session.post(path, json={"metadata": {"name": name}}) as response:
        assert response.status == 201
        return int((await response.json())["metadata"]["resourceVersion"])


async def current_rv(session: aiohttp.ClientSession) -> str:
    async with session.get(CMS) as response:
        return str((await response.json())["metadata"]["resourceVersion"])


def rv_of(line: dict[str, Any]) -> int:
    return int(line["object"]["metadata"]["resourceVersion"])


async def test_a_delayed_watch_delivers_each_event_and_bookmark_that_late_in_order(
    server: EmbeddedApiServer, session: aiohttp.ClientSession,
    watches: contextlib.AsyncExitStack,
) -> None:
    server.faults.delay_watches(1.0, "configmaps")
    rv = await current_rv(session)
    cms = await open_watch(watches, session, CMS, rv)
    secrets = await open_watch(watches, session, SECRETS, rv)
    loop = asyncio.get_running_loop()
    before = loop.time()
    rv_a = await create(session, CMS, "a")
    await create(session, SECRETS, "s")
    rv_b = await create(session, CMS, "b")

    arrived_s, _ = await secrets.until("s")  # another resource: not delayed
    arrived_a, lines_a = await cms.until("a")
    arrived_b, lines_b = await cms.until("b")
    assert arrived_s - before < 1.0
    assert arrived_a - before >= 1.0
    assert arrived_b - before >= 1.0
    lines = lines_a + lines_b
    assert [(line["type"], line["object"]["metadata"].get("name")) for line in lines
            if line["type"] != "BOOKMARK"] == [("ADDED", "a"), ("ADDED", "b")]
    # No bookmark tells of a resourceVersion before the events up to it have arrived.
    rvs = [rv_of(line) for line in lines]
    assert rvs == sorted(rvs)
    assert all(rv_of(line) < rv_a for line in lines_a[:-1])
    assert all(rv_of(line) < rv_b for line in lines_b[:-1])
    arrived_bookmark, bookmark = await cms.next()  # bookmarks go on, as late as the events
    assert bookmark["type"] == "BOOKMARK"
    assert rv_of(bookmark) >= rv_b
    assert arrived_bookmark - before >= 1.0


async def test_a_resumed_watch_replays_its_missed_events_late_too(
    server: EmbeddedApiServer, session: aiohttp.ClientSession,
    watches: contextlib.AsyncExitStack,
) -> None:
    rv = await current_rv(session)
    await create(session, CMS, "missed")
    server.faults.delay_watches(1.0)  # every resource
    started = asyncio.get_running_loop().time()
    watch = await open_watch(watches, session, CMS, rv)
    arrived, _ = await watch.until("missed")
    assert arrived - started >= 1.0


@pytest.mark.parametrize("how", ["zero", "clear", "http-zero", "http-clear"])
async def test_ending_a_watch_delay_sends_what_was_held_back_at_once(
    server: EmbeddedApiServer, session: aiohttp.ClientSession,
    watches: contextlib.AsyncExitStack, how: str,
) -> None:
    async def end_delay() -> None:
        if how == "zero":
            server.faults.delay_watches(0, "configmaps")
        elif how == "clear":
            server.faults.clear()
        else:
            body = {"seconds": 0, "resource": "configmaps"} if how == "http-zero" else {}
            action = "delay-watches" if how == "http-zero" else "clear"
            async with session.post(f"/_embedded/faults/{action}", json=body) as response:
                assert response.status == 200

    async with session.post("/_embedded/faults/delay-watches",
                            json={"seconds": 300, "resource": "configmaps"}) as response:
        assert response.status == 200
    watch = await open_watch(watches, session, CMS, await current_rv(session))
    await create(session, CMS, "held")
    with pytest.raises(TimeoutError):
        await watch.next(timeout=0.3)  # held back: not even a bookmark comes
    await end_delay()
    started = asyncio.get_running_loop().time()
    arrived, _ = await watch.until("held")
    assert arrived - started < 5.0  # at once, not after 300 s
