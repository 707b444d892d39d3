"""The chaos soak's harness: child processes, this script's requests, the server's journal.

See ``chaos_soak.py`` (and ``_harness.py`` for the child processes). Nothing here knows about
Foos: a :class:`Supervisor` keeps the operator running and samples its RSS, an :class:`Api` is
this script's HTTP client (retrying, boundedly, what the faults break), and :class:`Traffic`
reads the server's journal in turns to count the operator's requests.
"""

from __future__ import annotations

import array
import asyncio
import collections
import dataclasses
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from _harness import Child

Obj = dict[str, Any]

AGENT = "chaos-soak/1"  # this script's requests, told apart from the operator's in the journal
OPERATOR_AGENTS = ("kopf-informers/", "kopf/")  # its API client's, and Kopf's own
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
JSON = "application/json"
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0
ATTEMPTS = 8  # per request of this script, over 429s, 5xx and refused connections (~15 s)
CONNECTIONS = 40
SAMPLE_INTERVAL = 1.0  # journal reads and RSS samples
WARM_UP = 10.0  # seconds after a start before the operator's RSS counts (it is still loading)


# -- this script's requests -----------------------------------------------------------------------


class Unavailable(Exception):
    """The server did not answer usefully within this script's attempts."""


class Api:
    """This script's requests: retried over 429s, 5xx and refused connections, a bounded number
    of times (the faults hit this script too); other answers are returned as they are."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.retries = 0

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str = JSON, params: dict[str, str] | None = None,
                   attempts: int = ATTEMPTS) -> tuple[int, Any]:
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        pause = 0.1
        for _ in range(attempts):
            try:
                async with self.session.request(method, path, data=data, headers=headers,
                                                params=params) as response:
                    raw = await response.read()
                    if response.status != 429 and response.status < 500:
                        return response.status, orjson.loads(raw) if raw else None
                    pause = max(pause, float(response.headers.get("Retry-After", 0)))
            except (aiohttp.ClientError, TimeoutError, ConnectionError, orjson.JSONDecodeError):
                pass
            self.retries += 1
            await asyncio.sleep(min(pause, 2.0))
            pause = min(pause * 2, 2.0)
        raise Unavailable(f"{method} {path}: no useful answer in {attempts} attempts")

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, answer = await self.call(method, path, body, **kwargs)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {str(answer)[:300]}")
        return answer

    async def fault(self, action: str, body: Obj | None = None) -> Any:
        return (await self.ok("POST", f"/_embedded/faults/{action}", body or {}))["result"]


def session_for(kubeconfig: Path) -> aiohttp.ClientSession:
    """A session with the kubeconfig's server and token, and this script's User-Agent."""
    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}",
               "User-Agent": AGENT}
    return aiohttp.ClientSession(
        server, headers=headers, connector=aiohttp.TCPConnector(limit=CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


# -- the journal, read in turns -------------------------------------------------------------------


@dataclasses.dataclass
class Traffic:
    """The operator's requests as the server's journal tells them, read every second."""

    api: Api
    seq: int = 0
    lost: int = 0  # entries that fell off the journal before this script read them
    write_times: array.array[float] = dataclasses.field(
        default_factory=lambda: array.array("d"))
    requests: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    others: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    watching: set[str] = dataclasses.field(default_factory=set)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    async def read(self) -> None:
        async with self.lock:  # one reader at a time, or entries would count twice
            await self._read()

    async def _read(self) -> None:
        try:
            page = await self.api.ok("GET", "/_embedded/journal", params={"since": str(self.seq)},
                                     attempts=1)
        except (Unavailable, RuntimeError):
            return  # paused or restarting: the next read catches up
        entries = page["entries"]
        if entries and entries[0]["seq"] > self.seq + 1 and self.seq:
            self.lost += entries[0]["seq"] - self.seq - 1
        for entry in entries:
            agent = entry["user_agent"]
            if agent.startswith(OPERATOR_AGENTS):
                verb, resource = entry["verb"], entry["resource"] or entry["path"]
                self.requests[f"{verb} {resource}"] += 1
                if verb in WRITES:
                    self.write_times.append(entry["time"])
                if verb == "watch":
                    self.watching.add(resource)
            elif agent != AGENT:
                self.others[agent.split("/")[0] or "(none)"] += 1
        if entries:
            self.seq = entries[-1]["seq"]

    async def follow(self) -> None:
        while True:
            await self.read()
            await asyncio.sleep(SAMPLE_INTERVAL)

    def writes_between(self, since: float, until: float = float("inf")) -> int:
        return sum(1 for t in self.write_times if since <= t < until)

    def peak(self, since: float, until: float) -> tuple[int, float | None]:
        """The most writes in one whole second (1 s buckets) of the window, and when."""
        buckets = collections.Counter(int(t) for t in self.write_times if since <= t < until)
        if not buckets:
            return 0, None
        second, count = buckets.most_common(1)[0]
        return count, float(second)


class Supervisor:
    """Keeps one operator process running: restarts it after a kill -9 or an unexpected exit,
    and samples its RSS every second."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.kills = 0
        self.unexpected_exits: list[int | None] = []
        self.rss: list[tuple[float, int]] = []  # (wall time, KiB), once warmed up
        self._lock = asyncio.Lock()

    async def kill_and_restart(self) -> None:
        async with self._lock:
            await self.child.kill()
            self.kills += 1
            await self.child.start()

    async def watch(self) -> None:
        while True:
            async with self._lock:
                if not self.child.running:
                    assert self.child.proc is not None
                    self.unexpected_exits.append(self.child.proc.returncode)
                    await self.child.start()
                rss = self.child.rss_kib()
                if rss is not None and time.monotonic() - self.child.started >= WARM_UP:
                    self.rss.append((time.time(), rss))
            await asyncio.sleep(SAMPLE_INTERVAL)
