"""Scripted list pages and watch streams: a ListerWatcher for tests with no server."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

from kopf_informers import WatchEvent
from kopf_informers._reflector import ListPage

Obj = dict[str, Any]


def cm(name: str, rv: int, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


def bookmark(rv: int, *, initial_end: bool = False) -> WatchEvent:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return WatchEvent("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta})


Step = ListPage | Exception
WatchStep = WatchEvent | Exception


class ScriptedSource:
    """Answers list pages and watch streams from scripts; records every call."""

    def __init__(self) -> None:
        self.pages: collections.deque[Step] = collections.deque()
        self.streams: collections.deque[list[WatchStep]] = collections.deque()
        self.list_calls: list[tuple[str | None, int, str | None]] = []
        self.watch_calls: list[tuple[str | None, int, bool]] = []
        self.idle = asyncio.Event()  # set when a watch waits with nothing left to send

    async def list_page(self, *, resource_version: str | None, limit: int,
                        continue_token: str | None) -> ListPage:
        self.list_calls.append((resource_version, limit, continue_token))
        step = self.pages.popleft()
        if isinstance(step, Exception):
            raise step
        return step

    async def watch(self, *, resource_version: str | None, timeout_seconds: int,
                    send_initial_events: bool = False) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append((resource_version, timeout_seconds, send_initial_events))
        if not self.streams:
            self.idle.set()
            await asyncio.Event().wait()  # a quiet watch, until the test cancels it
        for step in self.streams.popleft():
            if isinstance(step, Exception):
                raise step
            yield step
