"""Test affordances of the embedded API server: a request journal and fault injection.

The journal records every request (method, path, query, content type, verb, resource, status,
time), bounded in size, so tests can assert what a client did — e.g. that a reconcile made no GET.
Faults make the server misbehave on purpose, the ways real clusters do: watches dropped, history
compacted (410 Gone on resume), failing requests (409, 429 with Retry-After, 500, 503), added
latency, a paused listener (connections refused), and a restart that keeps all state.

Both are usable from Python (``server.journal``, ``server.faults``; safe to call from the test's
thread while the server runs on its own) and over HTTP under ``/_embedded/`` for out-of-process
use: ``GET /_embedded/journal``, ``POST /_embedded/faults/<action>`` with a JSON body.
"""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ._status import ApiStatusError

if TYPE_CHECKING:
    from ._http import RequestInfo
    from ._server import EmbeddedApiServer

JOURNAL_SIZE = 100_000
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*")


@dataclasses.dataclass
class JournalEntry:
    """One request as the server saw it. ``status`` is None while a watch is still streaming."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    user_agent: str
    verb: str
    resource: str  # plural (with "/subresource"), or "" for discovery and other paths
    group: str
    namespace: str | None
    name: str | None
    time: float  # wall clock, seconds since the epoch
    started: float  # monotonic
    status: int | None = None
    duration: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "started"}


class Journal:
    """The most recent requests, oldest first (bounded: the oldest fall off)."""

    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._entries: collections.deque[JournalEntry] = collections.deque(maxlen=size)
        self.total = 0  # requests ever recorded, including those that fell off

    def record(self, request: web.Request, info: RequestInfo) -> JournalEntry:
        entry = JournalEntry(
            method=request.method, path=request.path, query=dict(request.query),
            content_type=request.headers.get("Content-Type", ""),
            user_agent=request.headers.get("User-Agent", ""),
            verb=info.verb, resource=info.resource, group=info.group,
            namespace=info.namespace, name=info.name,
            time=time.time(), started=time.monotonic(),
        )
        self._entries.append(entry)
        self.total += 1
        return entry

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def filter(
        self, *, verb: str | None = None, resource: str | None = None,
        method: str | None = None, name: str | None = None, namespace: str | None = None,
    ) -> list[JournalEntry]:
        """Entries matching every given criterion (``resource`` is a plural, globs allowed)."""
        return [
            e for e in self
            if (verb is None or e.verb == verb)
            and (resource is None or fnmatch.fnmatchcase(e.resource, resource))
            and (method is None or e.method == method.upper())
            and (name is None or e.name == name)
            and (namespace is None or e.namespace == namespace)
        ]


@dataclasses.dataclass
class _Failure:
    verb: str
    resource: str
    status: int
    remaining: int
    retry_after: int | None
    message: str | None


@dataclasses.dataclass
class _Latency:
    seconds: float
    verb: str
    resource: str


def _matches(verb: str, resource: str, info: RequestInfo) -> bool:
    if verb != "*" and verb != info.verb:
        return False
    if resource == "*":
        return True
    names = {info.plural, info.resource, f"{info.group}/{info.version}/{info.plural}"
             if info.group else f"{info.version}/{info.plural}"}
    if info.group:
        names.add(f"{info.plural}.{info.group}")
    return resource in names


class Faults:
    """Fault injection for one embedded server. Every method is safe from any thread."""

    def __init__(self, server: EmbeddedApiServer) -> None:
        self._server = server
        self._failures: list[_Failure] = []
        self._latencies: list[_Latency] = []

    # -- requests -------------------------------------------------------------------------------

    def fail(
        self, verb: str, resource: str, status: int, count: int = 1, *,
        retry_after: int | None = None, message: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests of this verb on this resource with ``status``.

        ``verb`` is a Kubernetes verb (get, list, watch, create, update, patch, delete,
        deletecollection) or ``*``; ``resource`` is a plural (``configmaps``), ``plural.group``,
        ``group/version/plural`` (``v1/configmaps`` for the core group), or ``*``. A 429 gets a
        ``Retry-After`` header (``retry_after`` seconds, 1 by default).
        """
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r}: expected one of {', '.join(VERBS)}")
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP error status (400-599)")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.append(_Failure(verb, resource, status, count, retry_after, message))

    def add_latency(self, seconds: float, *, verb: str = "*", resource: str = "*") -> None:
        """Delay every matching request by ``seconds`` before it is served."""
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        self._latencies.append(_Latency(seconds, verb, resource))

    def clear(self) -> None:
        """Forget all pending failures and latencies."""
        self._failures.clear()
        self._latencies.clear()

    def take_failure(self, info: RequestInfo) -> ApiStatusError | None:
        for failure in self._failures:
            if failure.remaining > 0 and _matches(failure.verb, failure.resource, info):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                message = failure.message or (
                    f"injected failure: {info.verb} {info.resource} answered {failure.status}"
                )
                return ApiStatusError(failure.status, message, retry_after=failure.retry_after)
        return None

    def latency_for(self, info: RequestInfo) -> float:
        return sum(x.seconds for x in self._latencies if _matches(x.verb, x.resource, info))

    # -- connections and history ----------------------------------------------------------------

    def drop_watches(self, *, abrupt: bool = False) -> int:
        """End every open watch now (cleanly, or by closing the connection); returns how many."""
        return self._server.call_soon(lambda: self._server.end_watches(abrupt=abrupt))

    def expire_history(self) -> None:
        """Compact all history: a watch resuming from any older resourceVersion gets 410 Gone,
        and continue tokens of paginated lists expire."""
        self._server.call_soon(self._server.expire_history)

    def pause(self) -> None:
        """Stop listening and drop every connection: clients get 'connection refused'."""
        self._server.call_soon(self._server.stop_listening)

    def resume(self) -> None:
        """Listen again on the same port, after :meth:`pause`."""
        self._server.call_soon(self._server.start_listening)

    def restart(self) -> None:
        """Drop every connection and watch and listen again on the same port; state is kept."""
        def restart() -> None:
            self._server.stop_listening()
            self._server.start_listening()
        self._server.call_soon(restart)

    # -- over HTTP ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_embedded/journal", self._http_journal)
        app.router.add_post("/_embedded/faults/{action}", self._http_fault)

    async def _http_journal(self, request: web.Request) -> web.Response:
        entries = [e.to_json() for e in self._server.journal]
        return web.Response(body=orjson.dumps({"entries": entries}),
                            content_type="application/json")

    async def _http_fault(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        raw = await request.read()
        args: dict[str, Any] = orjson.loads(raw) if raw else {}
        result: Any = None
        try:
            if action == "fail":
                self.fail(args["verb"], args["resource"], int(args["status"]),
                          int(args.get("count", 1)), retry_after=args.get("retryAfter"),
                          message=args.get("message"))
            elif action == "latency":
                self.add_latency(float(args["seconds"]), verb=args.get("verb", "*"),
                                 resource=args.get("resource", "*"))
            elif action == "drop-watches":
                result = self._server.end_watches(abrupt=bool(args.get("abrupt")))
            elif action == "expire-history":
                self._server.expire_history()
            elif action == "clear":
                self.clear()
            elif action == "restart":
                self._server.loop_later(0.05, self.restart)
            elif action == "pause":
                seconds = float(args.get("seconds", 1.0))
                self._server.loop_later(0.05, self._server.stop_listening)
                self._server.loop_later(0.05 + seconds, self._server.start_listening)
            else:
                raise ApiStatusError(404, f"unknown fault action {action!r}")
        except (KeyError, ValueError, TypeError) as e:
            raise ApiStatusError(400, f"bad fault request: {e!r}") from e
        return web.Response(body=orjson.dumps({"ok": True, "result": result}),
                            content_type="application/json")
